// Runs a probe over time. ReadinessWatch: attempts until one passes (adaptive pace, early
// attempts when the program prints, a progress line every 10 s, an overall deadline).
// LivenessWatch: attempts at a fixed pace and reports N failures in a row.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "probe/probe.h"

namespace podvisor::probe {

using std::chrono::milliseconds;

struct ReadinessOptions {
  std::string name;                      // who is waited for, in progress lines
  std::optional<milliseconds> interval;  // fixed pace; unset: adaptive
  milliseconds timeout{0};               // give up after this long; 0: never
  // For event probes (log, notify): what "not yet" means, e.g. "no matching line yet".
  std::string waiting_for = "no attempt yet";
  std::function<void(std::string line)> progress;
  std::function<void(milliseconds elapsed, const std::string& detail)> on_ready;
  std::function<void(const std::string& reason)>
      on_timeout;  // "not ready after 2 s: last attempt: …"
};

class ReadinessWatch : public std::enable_shared_from_this<ReadinessWatch> {
 public:
  // A null probe waits only for passive_ready() (log and notify probes).
  ReadinessWatch(boost::asio::io_context& io, std::shared_ptr<Probe> probe,
                 ReadinessOptions options);
  void start();
  // The program printed something: a server often prints as it starts listening, so the next
  // attempt comes early (adaptive pace only).
  void nudge();
  // An event probe passed (a log line matched, READY=1 arrived).
  void passive_ready(const std::string& detail);
  void stop();
  bool done() const { return done_; }
  const std::string& last() const { return last_; }
  // Duration of the last completed attempt.
  milliseconds last_latency() const { return last_latency_; }

 private:
  void schedule(milliseconds after);
  void attempt();
  void finish_ready(const std::string& detail);
  void arm_progress();

  std::shared_ptr<Probe> probe_;
  ReadinessOptions options_;
  boost::asio::steady_timer attempt_timer_, progress_timer_, deadline_timer_;
  std::chrono::steady_clock::time_point started_{}, next_at_{}, attempt_started_{};
  milliseconds pace_{};
  milliseconds last_latency_{};
  std::string last_;
  bool in_flight_ = false, nudged_ = false, done_ = false;
};

struct LivenessOptions {
  milliseconds interval{10000};
  int failures = 3;
  // `failures` attempts failed in a row; the watch stops itself.
  std::function<void(const std::string& last)> on_failed;
};

class LivenessWatch : public std::enable_shared_from_this<LivenessWatch> {
 public:
  LivenessWatch(boost::asio::io_context& io, std::shared_ptr<Probe> probe, LivenessOptions options);
  void start();
  void stop();
  milliseconds last_latency() const { return last_latency_; }

 private:
  void schedule();

  std::shared_ptr<Probe> probe_;
  LivenessOptions options_;
  boost::asio::steady_timer timer_;
  int failed_in_a_row_ = 0;
  bool stopped_ = false;
  milliseconds last_latency_{};
};

// The adaptive pace (ready_interval unset). `pace` is the gap the next slow attempt would
// use; returns the delay before the next attempt and grows `pace`. A refused connection
// (nothing listens yet) keeps a fast, fixed pace: a silent server is seen within tens of
// milliseconds of listening. A server that accepts but is not ready slows the pace from
// 20 ms to one a second; output from the program (`nudged`) starts it fast again.
milliseconds next_attempt_delay(milliseconds& pace, const Result& result, bool nudged);

// "2 s", "2.5 s": seconds as written in config files.
std::string format_seconds(milliseconds d);

}  // namespace podvisor::probe
