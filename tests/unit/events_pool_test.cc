#include <gtest/gtest.h>

#include <memory>

#include "events/pool.h"

namespace podvisor::events {
namespace {

// Records what the pool writes and logs.
class RecordingIo : public PoolIo {
 public:
  void send(const std::string& process, std::string bytes) override {
    sent.push_back(process + "|" + bytes);
  }
  void log(config::LogLevel, std::string line) override { logged.push_back(std::move(line)); }
  bool logged_line(const std::string& text) const {
    for (const auto& l : logged) {
      if (l == text) return true;
    }
    return false;
  }
  std::vector<std::string> sent;
  std::vector<std::string> logged;
};

class ListenerPoolTest : public testing::Test {
 protected:
  ListenerPoolTest() {
    pool_ = &bus_.add_pool(std::make_unique<ListenerPool>(
        "listen", std::vector{EventType::kProcessState}, 3, "myident", io_));
    pool_->add_process("listen");
  }
  void running_and_ready() {
    pool_->process_started("listen");
    pool_->set_running("listen", true);
    pool_->on_output("listen", "READY\n");
  }
  void publish(const std::string& name) {
    bus_.publish({EventType::kProcessStateRunning, name});
    bus_.dispatch();
  }
  static std::string header(int serial, int poolserial, const std::string& payload) {
    return "listen|" + envelope("myident", serial, "listen", poolserial,
                                {EventType::kProcessStateRunning, payload});
  }
  RecordingIo io_;
  EventBus bus_;
  ListenerPool* pool_;
};

TEST_F(ListenerPoolTest, OneEventPerReadyAndOkAcknowledges) {
  publish("a");
  EXPECT_TRUE(io_.sent.empty());  // not RUNNING yet: the event waits
  running_and_ready();
  bus_.dispatch();
  ASSERT_EQ(io_.sent, std::vector<std::string>{header(0, 0, "a")});
  EXPECT_EQ(pool_->state("listen"), ListenerState::kBusy);
  publish("b");
  EXPECT_EQ(io_.sent.size(), 1u);  // busy
  pool_->on_output("listen", "RESULT 2\nOK");
  EXPECT_EQ(pool_->state("listen"), ListenerState::kAcknowledged);
  EXPECT_TRUE(io_.logged_line("listen: event was processed"));
  pool_->on_output("listen", "READY\n");
  bus_.dispatch();
  EXPECT_EQ(io_.sent.back(), header(1, 1, "b"));
}

TEST_F(ListenerPoolTest, SettledOnceNothingIsBufferedOrHeldOrNobodyRuns) {
  EXPECT_TRUE(pool_->settled());
  publish("a");
  EXPECT_TRUE(pool_->settled());  // buffered, but nobody RUNNING could take it
  running_and_ready();
  EXPECT_FALSE(pool_->settled());  // buffered, and a listener to deliver it to
  bus_.dispatch();
  EXPECT_FALSE(pool_->settled());  // held by the busy listener
  pool_->on_output("listen", "RESULT 2\nOK");
  EXPECT_TRUE(pool_->settled());
  publish("b");
  EXPECT_FALSE(pool_->settled());
  pool_->set_running("listen", false);  // stopping: it will take no more
  EXPECT_TRUE(pool_->settled());
}

TEST_F(ListenerPoolTest, ResultAndReadyInOneWrite) {
  running_and_ready();
  publish("a");
  publish("b");
  pool_->on_output("listen", "RESULT 2\nOKREADY\n");
  bus_.dispatch();
  EXPECT_EQ(io_.sent.back(), header(1, 1, "b"));
}

TEST_F(ListenerPoolTest, FailResendsTheSameEventWithTheSameSerials) {
  running_and_ready();
  publish("a");
  publish("b");
  pool_->on_output("listen", "RESULT 4\nFAILREADY\n");
  EXPECT_TRUE(io_.logged_line("listen: event was rejected"));
  EXPECT_TRUE(io_.logged_line("rebuffering event 0 for pool listen (buf size=1, max=3)"));
  bus_.dispatch();
  ASSERT_EQ(io_.sent.size(), 2u);
  EXPECT_EQ(io_.sent[1], header(0, 0, "a"));
}

TEST_F(ListenerPoolTest, OverflowDropsTheOldest) {
  for (const auto* name : {"a", "b", "c", "d"}) publish(name);
  EXPECT_TRUE(io_.logged_line("pool listen event buffer overflowed, discarding event 0"));
  running_and_ready();
  bus_.dispatch();
  EXPECT_EQ(io_.sent.back(), header(1, 1, "b"));
}

TEST_F(ListenerPoolTest, ProtocolViolationsAreTerminal) {
  pool_->process_started("listen");
  pool_->set_running("listen", true);
  pool_->on_output("listen", "hello there\n");
  EXPECT_EQ(pool_->state("listen"), ListenerState::kUnknown);
  EXPECT_TRUE(io_.logged_line(
      "listen: has entered the UNKNOWN state and will no longer receive events, this usually "
      "indicates the process violated the eventlistener protocol"));
  pool_->on_output("listen", "READY\n");
  publish("a");
  EXPECT_TRUE(io_.sent.empty());
  running_and_ready();  // a new run starts over
  bus_.dispatch();
  EXPECT_EQ(io_.sent.size(), 1u);
}

TEST_F(ListenerPoolTest, BadResultLineRebuffers) {
  running_and_ready();
  publish("a");
  pool_->on_output("listen", "RESULT x\n");
  EXPECT_TRUE(io_.logged_line("listen: bad result line: 'RESULT x'"));
  EXPECT_EQ(pool_->state("listen"), ListenerState::kUnknown);
  EXPECT_EQ(pool_->buffered(), 1u);
}

TEST_F(ListenerPoolTest, ADeadListenersEventGoesToTheNextRun) {
  running_and_ready();
  publish("a");
  pool_->process_ended("listen");
  EXPECT_EQ(pool_->buffered(), 1u);
  running_and_ready();
  bus_.dispatch();
  EXPECT_EQ(io_.sent.back(), header(0, 0, "a"));
}

TEST_F(ListenerPoolTest, SpuriousDataWhileReadyIsAViolation) {
  running_and_ready();
  pool_->on_output("listen", "x");
  EXPECT_EQ(pool_->state("listen"), ListenerState::kUnknown);
}

TEST(EventBus, OnlySubscribedEventsTakeASerial) {
  RecordingIo io;
  EventBus bus;
  auto& pool =
      bus.add_pool(std::make_unique<ListenerPool>("p", std::vector{EventType::kTick}, 10, "s", io));
  pool.add_process("p");
  EXPECT_FALSE(bus.publish({EventType::kProcessStateRunning, "x"}));
  EXPECT_TRUE(bus.wants(EventType::kTick60));
  EXPECT_FALSE(bus.wants(EventType::kProcessGroupAdded));
  EXPECT_TRUE(bus.publish(tick_event(EventType::kTick5, 10)));
  pool.process_started("p");
  pool.set_running("p", true);
  pool.on_output("p", "READY\n");
  bus.dispatch();
  ASSERT_EQ(io.sent.size(), 1u);
  EXPECT_EQ(io.sent[0],
            "p|ver:3.0 server:s serial:0 pool:p poolserial:0 eventname:TICK_5 "
            "len:7\nwhen:10");
}

}  // namespace
}  // namespace podvisor::events
