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

std::vector<size_t> result_order(
    const std::vector<std::optional<std::chrono::milliseconds>>& settled_after) {
  std::vector<size_t> order(settled_after.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  // nullopt sorts first: at once.
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return settled_after[a] < settled_after[b]; });
  std::vector<size_t> pass(settled_after.size(), 0);
  for (size_t k = 1; k < order.size(); ++k) {
    const auto &now = settled_after[order[k]], &before = settled_after[order[k - 1]];
    const bool next = now && (!before || *now - *before >= kResultPass);
    pass[order[k]] = pass[order[k - 1]] + (next ? 1 : 0);
  }
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return pass[a] != pass[b] ? pass[a] < pass[b] : a < b;
  });
  return order;
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
