#include "core/order.h"

#include <algorithm>
#include <string>
#include <tuple>

namespace podvisor::core {

namespace {

using Name = const std::string&;

std::tuple<int, Name> group_key(const config::ProgramSpec& p) {
  return {p.group_priority.value_or(p.priority), p.group};
}

std::tuple<int, Name, int, Name> start_key(const config::ProgramSpec& p) {
  return {p.group_priority.value_or(p.priority), p.group, p.group_position, p.name};
}

std::tuple<int, Name, int, int, Name> request_key(const config::ProgramSpec& p) {
  return {p.group_priority.value_or(p.priority), p.group, p.priority, p.group_position, p.name};
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
  const auto last =
      std::max_element(stoppable.begin(), stoppable.end(),
                       [](const auto* a, const auto* b) { return group_key(*a) < group_key(*b); });
  std::vector<size_t> members;
  for (size_t i = 0; i < stoppable.size(); ++i) {
    if (group_key(*stoppable[i]) == group_key(**last)) members.push_back(i);
  }
  std::sort(members.begin(), members.end(),
            [&](size_t a, size_t b) { return listed_before(*stoppable[b], *stoppable[a]); });
  return members;
}

}  // namespace podvisor::core
