// supervisord's events as podvisor emits them: the payload of each type, byte for byte, the
// envelope a listener reads, and the PROCESS_STATE_* events of a process's state change.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/event_types.h"
#include "core/process.h"

namespace podvisor::events {

using config::EventType;

struct Event {
  EventType type = EventType::kEvent;
  std::string payload;
  bool operator==(const Event&) const = default;
};

// `ver:3.0 server:ID serial:N pool:P poolserial:N eventname:NAME len:N\n` and the payload;
// len counts bytes.
std::string envelope(std::string_view server, uint64_t serial, std::string_view pool,
                     uint64_t poolserial, const Event& event);

Event group_event(EventType type, std::string_view group);  // PROCESS_GROUP_ADDED/REMOVED
Event log_event(int stream, std::string_view process, std::string_view group, pid_t pid,
                std::string_view data);                   // PROCESS_LOG_STDOUT/STDERR
Event tick_event(EventType type, int64_t epoch_seconds);  // TICK_5/60/3600
int64_t tick_period(EventType type);                      // 5, 60, 3600

// What a PROCESS_STATE payload says of the process, read when the state changes.
struct ProcessFacts {
  std::string name;
  std::string group;
  pid_t pid = -1;              // the current process, or -1 when there is none
  int tries = 0;               // failed starts so far (supervisord's backoff count)
  bool exit_expected = false;  // the last exit's status is in exitcodes
};

// Turns podvisor's transitions into the PROCESS_STATE_* events supervisord would send for the
// same run. podvisor's state machine takes two shortcuts supervisord does not, and they are
// spelled out here: a crash after RUNNING goes straight to STARTING or BACKOFF (supervisord:
// EXITED first), and a start that fails its last retry goes STARTING -> FATAL (supervisord:
// BACKOFF, then FATAL). A failed spawn goes to BACKOFF without STARTING.
class StateEvents {
 public:
  std::vector<Event> on_change(const ProcessFacts& p, core::State from, core::State to);
  void forget(const std::string& name) { last_pid_.erase(name); }

 private:
  Event make(const ProcessFacts& p, core::State from, core::State to, pid_t pid) const;
  // The pid of the process's last run: EXITED and STOPPED still name it (0 when none ran).
  std::map<std::string, pid_t> last_pid_;
};

}  // namespace podvisor::events
