// Pure policy of the control plane's requests, as supervisord's rpcinterface decides it: what
// a start or stop has come to for a process's state, and what a reread found.
#pragma once

#include <string>
#include <vector>

#include "config/spec.h"
#include "core/process.h"

namespace podvisor::core {

// Where a start or stop request stands; the control backend maps it to a fault code.
enum class RequestOutcome {
  kPending,              // not settled: wait for the next state change
  kDone,                 // success
  kSpawnError,           // the start failed (BACKOFF, FATAL)
  kAbnormalTermination,  // it left STARTING some other way (stopped, exited)
};

// supervisorctl start: with `wait`, done once RUNNING; without, once spawned.
RequestOutcome start_outcome(State s, bool wait);
// supervisorctl stop: done once the process is in a stopped state.
RequestOutcome stop_outcome(State s);

// supervisord's reread, by group: groups that are new, whose programs differ, or that went.
struct GroupDiff {
  std::vector<std::string> added, changed, removed;
};
GroupDiff diff_groups(const config::SupervisorSpec& now, const config::SupervisorSpec& next);

}  // namespace podvisor::core
