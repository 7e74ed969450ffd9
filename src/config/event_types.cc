#include "config/event_types.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <string>

#include "config/values.h"

namespace podvisor::config {
namespace {

struct TypeRow {
  EventType type;
  std::string_view name;
  EventType parent;
};

using T = EventType;
constexpr auto kTypes = std::to_array<TypeRow>({
    {T::kEvent, "EVENT", T::kEvent},
    {T::kProcessState, "PROCESS_STATE", T::kEvent},
    {T::kProcessStateStopped, "PROCESS_STATE_STOPPED", T::kProcessState},
    {T::kProcessStateExited, "PROCESS_STATE_EXITED", T::kProcessState},
    {T::kProcessStateStarting, "PROCESS_STATE_STARTING", T::kProcessState},
    {T::kProcessStateStopping, "PROCESS_STATE_STOPPING", T::kProcessState},
    {T::kProcessStateBackoff, "PROCESS_STATE_BACKOFF", T::kProcessState},
    {T::kProcessStateFatal, "PROCESS_STATE_FATAL", T::kProcessState},
    {T::kProcessStateRunning, "PROCESS_STATE_RUNNING", T::kProcessState},
    {T::kProcessStateUnknown, "PROCESS_STATE_UNKNOWN", T::kProcessState},
    {T::kRemoteCommunication, "REMOTE_COMMUNICATION", T::kEvent},
    {T::kProcessLog, "PROCESS_LOG", T::kEvent},
    {T::kProcessLogStdout, "PROCESS_LOG_STDOUT", T::kProcessLog},
    {T::kProcessLogStderr, "PROCESS_LOG_STDERR", T::kProcessLog},
    {T::kProcessCommunication, "PROCESS_COMMUNICATION", T::kEvent},
    {T::kProcessCommunicationStdout, "PROCESS_COMMUNICATION_STDOUT", T::kProcessCommunication},
    {T::kProcessCommunicationStderr, "PROCESS_COMMUNICATION_STDERR", T::kProcessCommunication},
    {T::kSupervisorStateChange, "SUPERVISOR_STATE_CHANGE", T::kEvent},
    {T::kSupervisorStateChangeRunning, "SUPERVISOR_STATE_CHANGE_RUNNING",
     T::kSupervisorStateChange},
    {T::kSupervisorStateChangeStopping, "SUPERVISOR_STATE_CHANGE_STOPPING",
     T::kSupervisorStateChange},
    {T::kTick, "TICK", T::kEvent},
    {T::kTick5, "TICK_5", T::kTick},
    {T::kTick60, "TICK_60", T::kTick},
    {T::kTick3600, "TICK_3600", T::kTick},
    {T::kProcessGroup, "PROCESS_GROUP", T::kEvent},
    {T::kProcessGroupAdded, "PROCESS_GROUP_ADDED", T::kProcessGroup},
    {T::kProcessGroupRemoved, "PROCESS_GROUP_REMOVED", T::kProcessGroup},
});

const TypeRow& row(EventType type) { return kTypes[static_cast<size_t>(type)]; }

}  // namespace

std::string_view event_name(EventType type) { return row(type).name; }

std::optional<EventType> find_event_type(std::string_view name) {
  std::string upper(name);
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const auto& r : kTypes) {
    if (r.name == upper) return r.type;
  }
  return std::nullopt;
}

bool is_a(EventType type, EventType ancestor) {
  for (;;) {
    if (type == ancestor) return true;
    if (type == EventType::kEvent) return false;
    type = row(type).parent;
  }
}

std::vector<EventType> parse_event_types(std::string_view text) {
  std::vector<EventType> out;
  size_t start = 0;
  for (;;) {
    const auto comma = text.find(',', start);
    const auto item =
        trim(text.substr(start, comma == std::string_view::npos ? text.npos : comma - start));
    const auto type = find_event_type(item);
    if (!type) throw ValueError(fmt::format("Unknown event type {}", item));
    if (std::find(out.begin(), out.end(), *type) == out.end()) out.push_back(*type);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace podvisor::config
