#include "core/requests.h"

#include <algorithm>
#include <map>

namespace podvisor::core {

RequestOutcome start_outcome(State s, bool wait) {
  switch (s) {
    case State::kRunning:
      return RequestOutcome::kDone;
    case State::kStarting:
      return wait ? RequestOutcome::kPending : RequestOutcome::kDone;
    case State::kBackoff:
    case State::kFatal:
      return RequestOutcome::kSpawnError;
    default:
      return RequestOutcome::kAbnormalTermination;
  }
}

RequestOutcome stop_outcome(State s) {
  return is_stopped_state(s) ? RequestOutcome::kDone : RequestOutcome::kPending;
}

namespace {

std::map<std::string, std::vector<const config::ProgramSpec*>> groups_of(
    const config::SupervisorSpec& s) {
  std::map<std::string, std::vector<const config::ProgramSpec*>> groups;
  for (const auto& p : s.programs) groups[p.group].push_back(&p);
  return groups;
}

}  // namespace

GroupDiff diff_groups(const config::SupervisorSpec& now_spec,
                      const config::SupervisorSpec& next_spec) {
  const auto now = groups_of(now_spec), next = groups_of(next_spec);
  GroupDiff diff;
  for (const auto& [group, programs] : next) {
    const auto it = now.find(group);
    if (it == now.end()) {
      diff.added.push_back(group);
    } else if (!std::equal(programs.begin(), programs.end(), it->second.begin(), it->second.end(),
                           [](auto* a, auto* b) { return *a == *b; })) {
      diff.changed.push_back(group);
    }
  }
  for (const auto& [group, programs] : now) {
    if (!next.count(group)) diff.removed.push_back(group);
  }
  return diff;
}

}  // namespace podvisor::core
