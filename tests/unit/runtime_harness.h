// The runtime's parts wired as runtime.cc wires them, on a real loop, for one configuration of
// fake programs (/bin/sh scripts); captures podvisor's log and its stdout/stderr.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/steady_timer.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/supervisor.h"
#include "output/destination.h"
#include "output/log.h"
#include "runtime/driver.h"
#include "runtime/loop.h"
#include "runtime/program_io.h"

namespace podvisor::runtime::testing {

struct Capture final : output::Destination {
  void write(std::string_view data) override { text += data; }
  std::string text;
};

// A program that runs `script` with /bin/sh, once, as single-command mode's main program.
inline config::ProgramSpec sh_program(const std::string& script) {
  config::ProgramSpec p;
  p.name = p.group = p.program = "app";
  p.argv = {"/bin/sh", "-c", script};
  p.main = true;
  p.count_every_exit = true;
  p.autorestart = config::Autorestart::kFalse;
  p.startsecs = std::chrono::seconds(0);
  p.stdout_log.target = config::LogTarget::kStdout;
  p.stderr_log.target = config::LogTarget::kStderr;
  return p;
}

struct Harness {
  explicit Harness(std::vector<config::ProgramSpec> specs)
      : spec([&] {
          config::SupervisorSpec s;
          s.programs = std::move(specs);
          return s;
        }()) {
    log.set_writer([this](std::string_view line) {
      lines.emplace_back(line);
      if (on_line) on_line(lines.back());
    });
    driver.route_exits_to(supervisor);
  }
  ~Harness() { log.set_writer(nullptr); }

  // Runs until the Supervisor decides podvisor's outcome, for at most 10 s.
  void run() {
    boost::asio::steady_timer guard(loop.io(), std::chrono::seconds(10));
    guard.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) loop.stop();
    });
    loop.start();
    supervisor.start_all();
    if (!outcome) loop.run();
    ASSERT_TRUE(outcome) << "no outcome within 10 s";
  }
  core::Process& program(size_t i = 0) { return *supervisor.programs().at(i); }
  bool logged(std::string_view text) const {
    for (const auto& l : lines) {
      if (l.find(text) != std::string::npos) return true;
    }
    return false;
  }

  Loop loop;
  config::SupervisorSpec spec;
  output::Logger log{STDERR_FILENO, config::LogLevel::kDebug};
  std::vector<std::string> lines;
  std::function<void(const std::string&)> on_line;
  Capture out, err;
  ProgramIoTable programs{loop.io(), spec, out, err, log};
  Driver driver{loop, programs, spec, false, log};
  std::optional<core::Supervisor::Outcome> outcome;
  core::Supervisor supervisor{spec, driver, [this](const core::Supervisor::Outcome& o) {
                                outcome = o;
                                loop.stop();
                              }};
};

}  // namespace podvisor::runtime::testing
