// supervisord's event types (events.py EventTypes): their names, which abstract type each
// belongs to, and the `events=` list of an [eventlistener:x] section.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace podvisor::config {

enum class EventType : uint8_t {
  kEvent,
  kProcessState,
  kProcessStateStopped,
  kProcessStateExited,
  kProcessStateStarting,
  kProcessStateStopping,
  kProcessStateBackoff,
  kProcessStateFatal,
  kProcessStateRunning,
  kProcessStateUnknown,
  kRemoteCommunication,
  kProcessLog,
  kProcessLogStdout,
  kProcessLogStderr,
  kProcessCommunication,
  kProcessCommunicationStdout,
  kProcessCommunicationStderr,
  kSupervisorStateChange,
  kSupervisorStateChangeRunning,
  kSupervisorStateChangeStopping,
  kTick,
  kTick5,
  kTick60,
  kTick3600,
  kProcessGroup,
  kProcessGroupAdded,
  kProcessGroupRemoved,
};

// "PROCESS_STATE_RUNNING", as in the envelope's eventname.
std::string_view event_name(EventType type);
// The name as written in events= (any case), or nullopt for an unknown one.
std::optional<EventType> find_event_type(std::string_view name);
// `type` is `ancestor` or one of its subtypes (EVENT is everyone's ancestor).
bool is_a(EventType type, EventType ancestor);
// supervisord's list_of_strings: split on ',', each stripped and upper-cased; duplicates
// dropped. Throws ValueError("Unknown event type FOO") for a name it does not know.
std::vector<EventType> parse_event_types(std::string_view text);

}  // namespace podvisor::config
