#include "core/order.h"

#include <algorithm>
#include <string>
#include <tuple>

namespace podvisor::core {

namespace {

using Name = const std::string&;

int group_priority(const config::ProgramSpec& p) { return p.group_priority.value_or(p.priority); }

std::tuple<int, Name, int, Name> start_key(const config::ProgramSpec& p) {
  return {group_priority(p), p.group, p.group_position, p.name};
}

std::tuple<int, Name, int, int, Name> request_key(const config::ProgramSpec& p) {
  return {group_priority(p), p.group, p.priority, p.group_position, p.name};
}

}  // namespace

bool starts_before(const config::ProgramSpec& a, const config::ProgramSpec& b) {
  return start_key(a) < start_key(b);
}

bool listed_before(const config::ProgramSpec& a, const config::ProgramSpec& b) {
  return request_key(a) < request_key(b);
}

std::vector<size_t> next_to_stop(const std::vector<const config::ProgramSpec*>& stoppable) {
  if (stoppable.empty()) return {};
  int level = group_priority(*stoppable.front());
  for (const auto* p : stoppable) level = std::max(level, group_priority(*p));
  std::vector<size_t> members;
  for (size_t i = 0; i < stoppable.size(); ++i) {
    if (group_priority(*stoppable[i]) == level) members.push_back(i);
  }
  // Descending request order: the groups by name from the last, each one's members reversed.
  std::sort(members.begin(), members.end(),
            [&](size_t a, size_t b) { return listed_before(*stoppable[b], *stoppable[a]); });
  return members;
}

}  // namespace podvisor::core
