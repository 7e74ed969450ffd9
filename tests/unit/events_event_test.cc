#include "events/event.h"

#include <gtest/gtest.h>

namespace podvisor::events {
namespace {

using core::State;

TEST(Envelope, SupervisordsHeaderThenThePayload) {
  const Event e{EventType::kProcessStateRunning,
                "processname:prog groupname:prog from_state:STARTING pid:16486"};
  EXPECT_EQ(envelope("myident", 4, "listen", 4, e),
            "ver:3.0 server:myident serial:4 pool:listen poolserial:4 "
            "eventname:PROCESS_STATE_RUNNING len:61\n"
            "processname:prog groupname:prog from_state:STARTING pid:16486");
  EXPECT_EQ(envelope("supervisor", 0, "p", 0, {EventType::kSupervisorStateChangeRunning, ""}),
            "ver:3.0 server:supervisor serial:0 pool:p poolserial:0 "
            "eventname:SUPERVISOR_STATE_CHANGE_RUNNING len:0\n");
}

TEST(Envelope, LenCountsBytes) {
  const auto text = envelope("s", 1, "p", 1, log_event(0, "x", "x", 7, "\xc3\xa9\n"));
  EXPECT_NE(text.find("len:50\n"), std::string::npos) << text;
}

TEST(Payloads, GroupLogAndTick) {
  EXPECT_EQ(group_event(EventType::kProcessGroupAdded, "extra").payload, "groupname:extra\n");
  EXPECT_EQ(log_event(1, "talker", "talker", 17117, "err\n").payload,
            "processname:talker groupname:talker pid:17117 channel:stderr\nerr\n");
  EXPECT_EQ(log_event(0, "t", "g", 1, "x").type, EventType::kProcessLogStdout);
  EXPECT_EQ(tick_event(EventType::kTick5, 1795977697).payload, "when:1795977695");
  EXPECT_EQ(tick_event(EventType::kTick60, 1795977697).payload, "when:1795977660");
  EXPECT_EQ(tick_event(EventType::kTick3600, 1795977697).payload, "when:1795975200");
}

// Replays transitions as podvisor's Process makes them; returns "NAME payload" lines.
class StateEventTransitions : public testing::Test {
 protected:
  void change(State from, State to, pid_t pid, int tries = 0, bool expected = false) {
    for (const auto& e : states_.on_change({"prog", "grp", pid, tries, expected}, from, to)) {
      seen_.push_back(std::string(config::event_name(e.type)) + " " + e.payload);
    }
  }
  StateEvents states_;
  std::vector<std::string> seen_;
};

TEST_F(StateEventTransitions, ACrashAfterRunningIsExitedThenStarting) {
  // Reference capture 1: EXITED(expected:0) -> STARTING(from_state:EXITED tries:0) -> RUNNING.
  change(State::kStopped, State::kStarting, 100);
  change(State::kStarting, State::kRunning, 100);
  change(State::kRunning, State::kStarting, 200);  // podvisor's shortcut
  change(State::kStarting, State::kRunning, 200);
  change(State::kRunning, State::kStopping, 200);
  change(State::kStopping, State::kStopped, -1);
  EXPECT_EQ(seen_, (std::vector<std::string>{
                       "PROCESS_STATE_STARTING processname:prog groupname:grp from_state:STOPPED "
                       "tries:0",
                       "PROCESS_STATE_RUNNING processname:prog groupname:grp from_state:STARTING "
                       "pid:100",
                       "PROCESS_STATE_EXITED processname:prog groupname:grp from_state:RUNNING "
                       "expected:0 pid:100",
                       "PROCESS_STATE_STARTING processname:prog groupname:grp from_state:EXITED "
                       "tries:0",
                       "PROCESS_STATE_RUNNING processname:prog groupname:grp from_state:STARTING "
                       "pid:200",
                       "PROCESS_STATE_STOPPING processname:prog groupname:grp from_state:RUNNING "
                       "pid:200",
                       "PROCESS_STATE_STOPPED processname:prog groupname:grp from_state:STOPPING "
                       "pid:200",
                   }));
}

TEST_F(StateEventTransitions, FailedStartsBackOffThenGiveUpFromBackoff) {
  // Reference capture 2 (startretries=1): BACKOFF tries:1, STARTING tries:1, BACKOFF tries:2,
  // FATAL from BACKOFF with no extras.
  change(State::kStopped, State::kStarting, 100);
  change(State::kStarting, State::kBackoff, -1, 1);
  change(State::kBackoff, State::kStarting, 101, 1);
  change(State::kStarting, State::kFatal, -1, 2);  // podvisor's shortcut
  EXPECT_EQ(seen_, (std::vector<std::string>{
                       "PROCESS_STATE_STARTING processname:prog groupname:grp from_state:STOPPED "
                       "tries:0",
                       "PROCESS_STATE_BACKOFF processname:prog groupname:grp from_state:STARTING "
                       "tries:1",
                       "PROCESS_STATE_STARTING processname:prog groupname:grp from_state:BACKOFF "
                       "tries:1",
                       "PROCESS_STATE_BACKOFF processname:prog groupname:grp from_state:STARTING "
                       "tries:2",
                       "PROCESS_STATE_FATAL processname:prog groupname:grp from_state:BACKOFF",
                   }));
}

TEST_F(StateEventTransitions, ExitedCarriesTheDeadPidAndWhetherExpected) {
  change(State::kStopped, State::kStarting, 100);
  change(State::kStarting, State::kRunning, 100);
  change(State::kRunning, State::kExited, -1, 0, true);
  change(State::kStopped, State::kBackoff, -1, 1);  // a failed spawn: STARTING first
  change(State::kBackoff, State::kStopped, -1, 1);  // stopped in BACKOFF: pid:0
  ASSERT_EQ(seen_.size(), 6u);
  EXPECT_EQ(seen_[2],
            "PROCESS_STATE_EXITED processname:prog groupname:grp from_state:RUNNING expected:1 "
            "pid:100");
  EXPECT_EQ(seen_[3],
            "PROCESS_STATE_STARTING processname:prog groupname:grp from_state:STOPPED tries:0");
  EXPECT_EQ(seen_[5],
            "PROCESS_STATE_STOPPED processname:prog groupname:grp from_state:BACKOFF pid:0");
}

}  // namespace
}  // namespace podvisor::events
