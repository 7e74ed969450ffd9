// hold_on_fatal on the event loop: the crash report and a line when podvisor begins to hold on
// a failure, a reminder every hold_log_interval while it holds, a line when a retry clears it.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "control/server/backend.h"
#include "core/supervisor.h"
#include "output/log.h"

namespace podvisor::runtime {

class HoldReporter {
 public:
  // `spec` is the live configuration (hold_log_interval, and the config file for the retry
  // command it suggests); `report` prints the crash report of the program held on.
  HoldReporter(boost::asio::io_context& io, const config::SupervisorSpec& spec,
               const core::Supervisor& supervisor, output::Logger& log,
               std::function<void(const core::Process&)> report);

  // The Supervisor's hold listener: a hold began or moved on (hold), or cleared (nullptr).
  void changed(const core::Supervisor::Hold* hold);
  // What /health and /api/v1/hold show; nullopt when podvisor is not holding.
  std::optional<control::HoldInfo> info() const;

 private:
  void arm();
  std::string retry_command() const;
  std::string leave_text() const;
  std::string ctl() const;  // "podvisor ctl", with -c FILE in config mode

  boost::asio::steady_timer timer_;  // armed only while holding: no wake-up otherwise
  const config::SupervisorSpec& spec_;
  const core::Supervisor& supervisor_;
  output::Logger& log_;
  std::function<void(const core::Process&)> report_;
  std::string reason_;   // the last hold's, for the line that says it cleared
  std::string program_;  // its namespec
  // The program held on: alive until the next reload even when a reload removed it.
  const core::Process* held_ = nullptr;
  std::chrono::steady_clock::time_point since_;
  int64_t since_wall_ = 0;
};

}  // namespace podvisor::runtime
