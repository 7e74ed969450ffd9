// Readiness and liveness probes (SPEC §3): one bounded attempt at a time on the event loop;
// none blocks it, whatever the target does (a server that accepts and never answers is a
// failed attempt once the timeout passes).
#pragma once

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "config/spec.h"

namespace podvisor::probe {

struct Result {
  bool ok = false;
  std::string detail;  // "HTTP 503", "connection refused", "timed out", "exit status 1"
  // Nothing listens yet (ECONNREFUSED): an attempt costs microseconds, so the pace stays fast.
  bool refused = false;
};
using Done = std::function<void(Result)>;

// Exec probes run children; whoever owns waitpid (the runtime's reaper) routes their exits.
class ChildWatcher {
 public:
  virtual ~ChildWatcher() = default;
  virtual void watch(pid_t pid, std::function<void(int wait_status)> on_exit) = 0;
};

class Probe {
 public:
  virtual ~Probe() = default;
  // One attempt. `done` runs exactly once, later (never inside attempt), unless cancel()
  // comes first.
  virtual void attempt(std::chrono::milliseconds timeout, Done done) = 0;
  virtual void cancel() = 0;
  // How long one attempt may take when nobody says otherwise.
  virtual std::chrono::milliseconds default_timeout() const { return std::chrono::seconds(2); }
};

// A probe whose attempt ends in finish(): it hands the result to the attempt's `done` once,
// after reset() has let go of what the attempt held (socket, timer, child).
class AttemptProbe : public Probe {
 public:
  void attempt(std::chrono::milliseconds timeout, Done done) final {
    done_ = std::move(done);
    begin(timeout);
  }
  void cancel() final {
    done_ = nullptr;
    reset();
  }

 protected:
  virtual void begin(std::chrono::milliseconds timeout) = 0;
  virtual void reset() = 0;
  bool pending() const { return static_cast<bool>(done_); }
  void finish(Result r) {
    reset();
    if (auto done = std::exchange(done_, nullptr)) done(std::move(r));
  }

 private:
  Done done_;
};

// http, tcp, exec and file probes; log and notify are events, not attempts (nullptr).
// `ok_status`: HTTP codes that mean ready; empty means any 2xx.
std::shared_ptr<Probe> make_probe(const config::ProbeSpec& spec, boost::asio::io_context& io,
                                  ChildWatcher& children, std::vector<int> ok_status = {});

// Defined in http.cc, the one translation unit that includes Beast.
std::shared_ptr<Probe> make_http_probe(const config::ProbeSpec& spec, boost::asio::io_context& io,
                                       std::vector<int> ok_status);

// "Connection refused" → "connection refused": details read as part of a sentence.
std::string lower_first(std::string text);

}  // namespace podvisor::probe
