#include "events/event.h"

#include <fmt/format.h>

#include <algorithm>

namespace podvisor::events {
namespace {

using core::State;

std::optional<EventType> state_type(State s) {
  switch (s) {
    case State::kStopped:
      return EventType::kProcessStateStopped;
    case State::kStarting:
      return EventType::kProcessStateStarting;
    case State::kRunning:
      return EventType::kProcessStateRunning;
    case State::kBackoff:
      return EventType::kProcessStateBackoff;
    case State::kStopping:
      return EventType::kProcessStateStopping;
    case State::kExited:
      return EventType::kProcessStateExited;
    case State::kFatal:
      return EventType::kProcessStateFatal;
    case State::kUnknown:
      return EventType::kProcessStateUnknown;
  }
  return std::nullopt;
}

}  // namespace

std::string envelope(std::string_view server, uint64_t serial, std::string_view pool,
                     uint64_t poolserial, const Event& event) {
  return fmt::format("ver:3.0 server:{} serial:{} pool:{} poolserial:{} eventname:{} len:{}\n{}",
                     server, serial, pool, poolserial, config::event_name(event.type),
                     event.payload.size(), event.payload);
}

Event group_event(EventType type, std::string_view group) {
  return {type, fmt::format("groupname:{}\n", group)};
}

Event log_event(int stream, std::string_view process, std::string_view group, pid_t pid,
                std::string_view data) {
  return {stream == 0 ? EventType::kProcessLogStdout : EventType::kProcessLogStderr,
          fmt::format("processname:{} groupname:{} pid:{} channel:{}\n{}", process, group, pid,
                      stream == 0 ? "stdout" : "stderr", data)};
}

int64_t tick_period(EventType type) {
  return type == EventType::kTick5 ? 5 : type == EventType::kTick60 ? 60 : 3600;
}

Event tick_event(EventType type, int64_t epoch_seconds) {
  const auto period = tick_period(type);
  return {type, fmt::format("when:{}", epoch_seconds - epoch_seconds % period)};
}

Event StateEvents::make(const ProcessFacts& p, State from, State to, pid_t pid) const {
  auto payload = fmt::format("processname:{} groupname:{} from_state:{}", p.name, p.group,
                             core::to_string(from));
  switch (to) {
    case State::kStopped:
    case State::kStopping:
    case State::kRunning:
      payload += fmt::format(" pid:{}", pid);
      break;
    case State::kExited:
      payload += fmt::format(" expected:{} pid:{}", p.exit_expected ? 1 : 0, pid);
      break;
    case State::kStarting:
      // The count before this attempt; BACKOFF's after it (supervisord's backoff counter).
      payload += fmt::format(" tries:{}", std::max(0, from == State::kBackoff ? p.tries : 0));
      break;
    case State::kBackoff:
      payload += fmt::format(" tries:{}", p.tries);
      break;
    case State::kFatal:
    case State::kUnknown:
      break;
  }
  return {*state_type(to), std::move(payload)};
}

std::vector<Event> StateEvents::on_change(const ProcessFacts& p, State from, State to) {
  auto& last = last_pid_[p.name];
  const pid_t before = last;
  if (p.pid > 0) last = p.pid;
  const pid_t pid = to == State::kStarting || to == State::kRunning ? last : before;
  std::vector<Event> out;
  if (from == State::kRunning && (to == State::kStarting || to == State::kBackoff)) {
    out.push_back(make(p, State::kRunning, State::kExited, before));
    from = State::kExited;
  } else if (from == State::kStarting && to == State::kFatal) {
    out.push_back(make(p, State::kStarting, State::kBackoff, 0));
    from = State::kBackoff;
  } else if (to == State::kBackoff && from != State::kStarting && from != State::kRunning) {
    ProcessFacts before_attempt = p;
    before_attempt.tries = std::max(0, p.tries - 1);
    out.push_back(make(before_attempt, from, State::kStarting, 0));
    from = State::kStarting;
  }
  out.push_back(make(p, from, to, pid));
  if (to != State::kStarting && to != State::kRunning && to != State::kStopping) last = 0;
  return out;
}

}  // namespace podvisor::events
