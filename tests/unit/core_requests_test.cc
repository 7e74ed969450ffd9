#include <gtest/gtest.h>

#include "core/requests.h"

namespace podvisor::core {
namespace {

TEST(StartOutcome, FollowsSupervisordsRules) {
  EXPECT_EQ(start_outcome(State::kRunning, true), RequestOutcome::kDone);
  EXPECT_EQ(start_outcome(State::kStarting, true), RequestOutcome::kPending);
  EXPECT_EQ(start_outcome(State::kStarting, false), RequestOutcome::kDone);
  EXPECT_EQ(start_outcome(State::kBackoff, true), RequestOutcome::kSpawnError);
  EXPECT_EQ(start_outcome(State::kFatal, false), RequestOutcome::kSpawnError);
  for (auto s : {State::kStopped, State::kStopping, State::kExited, State::kUnknown}) {
    EXPECT_EQ(start_outcome(s, true), RequestOutcome::kAbnormalTermination) << to_string(s);
  }
}

TEST(StopOutcome, DoneOnceStopped) {
  for (auto s : {State::kStopped, State::kExited, State::kFatal, State::kUnknown}) {
    EXPECT_EQ(stop_outcome(s), RequestOutcome::kDone) << to_string(s);
  }
  for (auto s : {State::kStarting, State::kRunning, State::kBackoff, State::kStopping}) {
    EXPECT_EQ(stop_outcome(s), RequestOutcome::kPending) << to_string(s);
  }
}

TEST(ResultOrder, BySettleTimeResultsCloseTogetherInRequestOrder) {
  using std::chrono::milliseconds;
  using Settled = std::vector<std::optional<milliseconds>>;
  EXPECT_EQ(result_order({}), std::vector<size_t>{});
  // Stopped together: one pass, in request order whatever the reaping order.
  EXPECT_EQ(result_order(Settled{milliseconds(7), milliseconds(3), milliseconds(5)}),
            (std::vector<size_t>{0, 1, 2}));
  // Answered at once first; a slow one after quick ones (1.5 s, then 1 s).
  EXPECT_EQ(result_order(Settled{milliseconds(1500), milliseconds(2), milliseconds(1040),
                                 milliseconds(1010), std::nullopt}),
            (std::vector<size_t>{4, 1, 2, 3, 0}));
  // A gap of kResultPass starts a new pass; a burst with smaller gaps stays one, however long.
  EXPECT_EQ(result_order(Settled{milliseconds(0), milliseconds(100), milliseconds(50)}),
            (std::vector<size_t>{0, 2, 1}));
  EXPECT_EQ(
      result_order(Settled{milliseconds(120), milliseconds(80), milliseconds(40), milliseconds(0)}),
      (std::vector<size_t>{0, 1, 2, 3}));
}

config::ProgramSpec program(std::string group, std::string name) {
  config::ProgramSpec p;
  p.group = std::move(group);
  p.name = p.program = std::move(name);
  p.argv = {"/bin/true"};
  return p;
}

TEST(DiffGroups, FindsAddedChangedAndRemovedGroups) {
  config::SupervisorSpec now, next;
  now.programs = {program("web", "web"), program("workers", "w0"), program("workers", "w1"),
                  program("old", "old"), program("same", "same")};
  next.programs = {program("web", "web"), program("workers", "w0"), program("new", "new"),
                   program("same", "same")};
  next.programs[0].argv = {"/bin/true", "--new"};
  const auto diff = diff_groups(now, next);
  EXPECT_EQ(diff.added, std::vector<std::string>{"new"});
  EXPECT_EQ(diff.changed, (std::vector<std::string>{"web", "workers"}));  // workers lost w1
  EXPECT_EQ(diff.removed, std::vector<std::string>{"old"});
  const auto none = diff_groups(now, now);
  EXPECT_TRUE(none.added.empty() && none.changed.empty() && none.removed.empty());
}

}  // namespace
}  // namespace podvisor::core
