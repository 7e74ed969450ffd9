#include <gtest/gtest.h>

#include <algorithm>

#include "core/order.h"

namespace podvisor::core {
namespace {

// A program as the loader makes it: in [group:x] at `position` of its programs=, or alone.
config::ProgramSpec program(std::string name, int priority, std::string group = "",
                            std::optional<int> group_priority = std::nullopt, int position = 0) {
  config::ProgramSpec p;
  p.name = p.program = name;
  p.group = group.empty() ? name : group;
  p.priority = priority;
  p.group_priority = group_priority;
  p.group_position = position;
  return p;
}

// The layout and research §4's: nginx 950, zeta and alpha 999, [group:grp]
// priority=999 with comfyui (900) and comfyui_integration (1000).
std::vector<config::ProgramSpec> comfy(bool integration_listed_first) {
  const int a = integration_listed_first ? 1 : 0;
  return {program("zeta", 999), program("comfyui_integration", 1000, "grp", 999, 1 - a),
          program("nginx", 950), program("comfyui", 900, "grp", 999, a), program("alpha", 999)};
}

std::vector<std::string> names(std::vector<config::ProgramSpec> v,
                               bool (*before)(const config::ProgramSpec&,
                                              const config::ProgramSpec&)) {
  std::stable_sort(v.begin(), v.end(), before);
  std::vector<std::string> out;
  for (const auto& p : v) out.push_back(p.name);
  return out;
}

using Names = std::vector<std::string>;

TEST(StartOrder, GroupsByTheirPriorityThenNameMembersInProgramsOrder) {
  EXPECT_EQ(names(comfy(false), starts_before),
            (Names{"nginx", "alpha", "comfyui", "comfyui_integration", "zeta"}));
  EXPECT_EQ(names(comfy(true), starts_before),
            (Names{"nginx", "alpha", "comfyui_integration", "comfyui", "zeta"}));
}

TEST(StartOrder, AGroupPriorityPlacesTheWholeGroup) {
  // The case: the group at 999 starts after nginx at 950 although comfyui is at 900.
  const std::vector v = {program("nginx", 950), program("comfyui", 900, "comfy", 999, 0),
                         program("comfyui_integration", 1000, "comfy", 999, 1)};
  EXPECT_EQ(names(v, starts_before), (Names{"nginx", "comfyui", "comfyui_integration"}));
  // Two groups and programs outside them; equal priorities by group name.
  const std::vector w = {program("b1", 1, "b", 10, 0),  program("solo", 10),
                         program("a2", 5, "a", 10, 1),  program("a1", 50, "a", 10, 0),
                         program("first", 9),           program("z", 11),
                         program("b0", 100, "b", 10, 1)};
  EXPECT_EQ(names(w, starts_before), (Names{"first", "a1", "a2", "b1", "b0", "solo", "z"}));
}

TEST(StartOrder, NumprocsByNameAsPython) {
  const std::vector v = {program("w_2", 999, "w"), program("w_10", 999, "w"),
                         program("w_1", 999, "w")};
  EXPECT_EQ(names(v, starts_before), (Names{"w_1", "w_10", "w_2"}));
}

TEST(RequestOrder, GroupsAsStartedMembersByTheirOwnPriority) {
  EXPECT_EQ(names(comfy(false), listed_before),
            (Names{"nginx", "alpha", "comfyui", "comfyui_integration", "zeta"}));
  EXPECT_EQ(names(comfy(true), listed_before),
            (Names{"nginx", "alpha", "comfyui", "comfyui_integration", "zeta"}));
  // Equal member priorities keep the programs= order.
  const std::vector v = {program("y", 5, "g", 1, 0), program("x", 5, "g", 1, 1),
                         program("w", 4, "g", 1, 2)};
  EXPECT_EQ(names(v, listed_before), (Names{"w", "y", "x"}));
}

std::vector<std::string> next(const std::vector<config::ProgramSpec>& v) {
  std::vector<const config::ProgramSpec*> stoppable;
  for (const auto& p : v) stoppable.push_back(&p);
  std::vector<std::string> out;
  for (const auto i : next_to_stop(stoppable, std::vector<bool>(v.size(), false))) {
    out.push_back(v[i].name);
  }
  return out;
}

TEST(NextToStop, TheHighestGroupPriorityInSupervisordsSignalOrder) {
  auto v = comfy(false);
  // zeta, grp and alpha share 999: signalled together, as supervisord signals them one group
  // at a time (zeta, then grp's members by descending priority, then alpha).
  EXPECT_EQ(next(v), (Names{"zeta", "comfyui_integration", "comfyui", "alpha"}));
  std::erase_if(v, [](const auto& p) { return p.name != "nginx"; });
  EXPECT_EQ(next(v), Names{"nginx"});
  EXPECT_TRUE(next({}).empty());
  // A group's priority, not its members', places it: comfyui (900) goes with its group (999).
  const std::vector w = {program("nginx", 950), program("comfyui", 900, "comfy", 999, 0),
                         program("comfyui_integration", 1000, "comfy", 999, 1)};
  EXPECT_EQ(next(w), (Names{"comfyui_integration", "comfyui"}));
  // Those already stopping are not signalled again, and hold their level back.
  const std::vector<const config::ProgramSpec*> level = {&w[0], &w[1], &w[2]};
  EXPECT_EQ(next_to_stop(level, {false, true, false}), (std::vector<size_t>{2}));
  EXPECT_TRUE(next_to_stop(level, {false, true, true}).empty());
  // Equal member priorities: the programs= order reversed.
  const std::vector x = {program("y", 5, "g", 1, 0), program("x", 5, "g", 1, 1)};
  EXPECT_EQ(next(x), (Names{"x", "y"}));
}

}  // namespace
}  // namespace podvisor::core
