// Pure policy of the control plane's requests, as supervisord's rpcinterface decides it: what
// a start or stop has come to for a process's state, and what a reread found.
#pragma once

#include <chrono>
#include <optional>
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

// The order in which a request on many processes (start all, stop all, a group's) lists its
// results. supervisord's make_allfunc looks at the pending ones every 50 ms and appends those
// it finds settled in request order; so results settled close together come in request
// order, and one settled clearly later comes later. Here: those settled while the request was
// made (nullopt) first, in request order; then the others by settle time, where each one
// settled less than kResultPass after the one before joins its pass, each pass in request
// order. `settled_after[i]`: when the i-th process (request order) settled, from the request.
// Returns indexes. No fixed pass boundaries: a burst (stop all) stays one pass however long
// reaping takes on a loaded machine, as long as no gap reaches 50 ms.
inline constexpr std::chrono::milliseconds kResultPass{50};
std::vector<size_t> result_order(
    const std::vector<std::optional<std::chrono::milliseconds>>& settled_after);

// supervisord's reread, by group: groups that are new, whose programs differ, or that went.
struct GroupDiff {
  std::vector<std::string> added, changed, removed;
};
GroupDiff diff_groups(const config::SupervisorSpec& now, const config::SupervisorSpec& next);

}  // namespace podvisor::core
