#include "core/order.h"

#include <algorithm>

namespace podvisor::core {

std::vector<size_t> next_to_stop(const std::vector<const config::ProgramSpec*>& stoppable,
                                 const std::vector<bool>& stopping) {
  if (stoppable.empty()) return {};
  int level = config::group_priority(*stoppable.front());
  for (const auto* p : stoppable) level = std::max(level, config::group_priority(*p));
  std::vector<size_t> members;
  for (size_t i = 0; i < stoppable.size(); ++i) {
    if (config::group_priority(*stoppable[i]) == level && !stopping[i]) members.push_back(i);
  }
  // Descending request order: the groups by name from the last, each one's members reversed.
  // Called at every state change of a shutdown: only what is left to signal is sorted.
  std::sort(members.begin(), members.end(),
            [&](size_t a, size_t b) { return listed_before(*stoppable[b], *stoppable[a]); });
  return members;
}

}  // namespace podvisor::core
