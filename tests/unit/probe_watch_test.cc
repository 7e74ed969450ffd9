// probe::ReadinessWatch's pace: fast and fixed while connections are refused, slowing only
// once the server accepts but is not ready; and the tcp/http probes saying "refused".
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <memory>
#include <optional>

#include "config/values.h"
#include "probe/probe.h"
#include "probe/watch.h"

namespace podvisor::probe {
namespace {

using namespace std::chrono_literals;

const Result kRefused{false, "connection refused", true};
const Result kNotReady{false, "HTTP 503"};

TEST(ReadinessPace, StaysFastWhileConnectionsAreRefused) {
  milliseconds pace = 20ms;
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(next_attempt_delay(pace, kRefused, false), 40ms) << i;
  // About 40 attempts in a second of refusals, never slowed to one a second.
}

TEST(ReadinessPace, SlowsToOneASecondOnceTheServerAccepts) {
  milliseconds pace = 20ms;
  std::vector<milliseconds> delays;
  for (int i = 0; i < 12; ++i) delays.push_back(next_attempt_delay(pace, kNotReady, false));
  EXPECT_EQ(delays.front(), 20ms);
  for (size_t i = 1; i < delays.size(); ++i) EXPECT_GE(delays[i], delays[i - 1]);
  EXPECT_EQ(delays.back(), 1000ms);
  // Output from the program starts it fast again; so does a refusal (the server restarted).
  EXPECT_EQ(next_attempt_delay(pace, kNotReady, true), 20ms);
  for (int i = 0; i < 12; ++i) next_attempt_delay(pace, kNotReady, false);
  EXPECT_EQ(next_attempt_delay(pace, kRefused, false), 40ms);
  EXPECT_EQ(next_attempt_delay(pace, kNotReady, false), 20ms);
}

// Counts attempts; refuses `refusals` times, then passes.
class CountingProbe final : public Probe {
 public:
  CountingProbe(boost::asio::io_context& io, int refusals) : io_(io), refusals_(refusals) {}
  void attempt(std::chrono::milliseconds, Done done) override {
    const Result r = ++attempts < refusals_ ? kRefused : Result{true, "connected"};
    boost::asio::post(io_, [done = std::move(done), r] { done(r); });
  }
  void cancel() override {}
  int attempts = 0;

 private:
  boost::asio::io_context& io_;
  int refusals_;
};

// 30 refusals take 30 × 40 ms; at the old pace (20 ms growing to 1 s) they took ~25 s, past
// the bound of this run.
TEST(ReadinessPace, AWatchThroughRefusalsBecomesReadyAtTheFastPace) {
  boost::asio::io_context io;
  auto probe = std::make_shared<CountingProbe>(io, 30);
  std::optional<std::string> ready;
  ReadinessOptions options;
  options.name = "server";
  options.on_ready = [&](milliseconds, const std::string& detail) { ready = detail; };
  auto watch = std::make_shared<ReadinessWatch>(io, probe, options);
  watch->start();
  io.run_for(10s);  // returns early: nothing is left once the watch is ready
  EXPECT_EQ(ready, "connected");
  EXPECT_EQ(probe->attempts, 30);
}

// A loopback port nobody listens on: the tcp and http probes both say "refused".
TEST(ReadinessPace, TcpAndHttpProbesReportRefusal) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  ASSERT_EQ(::close(fd), 0);  // bound, never listened: the port refuses
  const auto port = std::to_string(ntohs(addr.sin_port));
  for (const auto& target : {"tcp://127.0.0.1:" + port, "http://127.0.0.1:" + port + "/"}) {
    boost::asio::io_context io;
    struct NoChildren : ChildWatcher {
      void watch(pid_t, std::function<void(int)>) override {}
    } children;
    auto probe = make_probe(config::parse_probe(target), io, children);
    std::optional<Result> result;
    probe->attempt(2s, [&](Result r) { result = r; });
    io.run_for(5s);
    ASSERT_TRUE(result) << target;
    EXPECT_FALSE(result->ok) << target;
    EXPECT_TRUE(result->refused) << target << ": " << result->detail;
  }
}

}  // namespace
}  // namespace podvisor::probe
