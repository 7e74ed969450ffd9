#include "runtime/hold.h"

#include <fmt/format.h>

#include <ctime>

#include "control/wire/faults.h"
#include "core/report.h"

namespace podvisor::runtime {

using config::LogLevel;

HoldReporter::HoldReporter(boost::asio::io_context& io, const config::SupervisorSpec& spec,
                           const core::Supervisor& supervisor, output::Logger& log,
                           std::function<void(const core::Process&)> report)
    : timer_(io), spec_(spec), supervisor_(supervisor), log_(log), report_(std::move(report)) {}

std::string HoldReporter::ctl() const {
  return spec_.config_file.empty() ? "podvisor ctl"
                                   : fmt::format("podvisor ctl -c {}", spec_.config_file);
}

std::string HoldReporter::retry_command() const {
  return fmt::format("{} start {}", ctl(), program_);
}

std::string HoldReporter::leave_text() const {
  const auto& hold = supervisor_.hold();
  return fmt::format("leave: SIGTERM or {} shutdown (exit status {})", ctl(),
                     hold ? hold->outcome.exit_code : 0);
}

void HoldReporter::changed(const core::Supervisor::Hold* hold) {
  const auto now = std::chrono::steady_clock::now();
  if (!hold) {
    timer_.cancel();
    log_.log(LogLevel::kInfo,
             fmt::format("hold cleared after {}: {} is {} (held on: {}); a failure from now on "
                         "holds again",
                         core::format_duration(
                             std::chrono::duration_cast<std::chrono::milliseconds>(now - since_)),
                         program_, held_ ? core::to_string(held_->state()) : "gone", reason_));
    reason_.clear();
    held_ = nullptr;
    return;
  }
  const auto* p = hold->outcome.failed;
  if (p) report_(*p);
  if (reason_.empty()) {  // a new hold, not a retry that failed again
    since_ = now;
    since_wall_ = static_cast<int64_t>(std::time(nullptr));
  }
  reason_ = hold->reason;
  held_ = p;
  program_ = p ? control::make_namespec(p->spec().group, p->name()) : "";
  log_.log(LogLevel::kError,
           fmt::format("holding: {}; podvisor stays up for a look (hold_on_fatal), /health "
                       "answers 503; retry: {}; {}",
                       reason_, retry_command(), leave_text()));
  arm();
}

void HoldReporter::arm() {
  timer_.expires_after(spec_.hold_log_interval);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || !supervisor_.hold() || supervisor_.shutting_down()) return;
    log_.log(
        LogLevel::kWarn,
        fmt::format("still holding after {}: {}; retry: {}; {}",
                    core::format_duration(std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - since_)),
                    reason_, retry_command(), leave_text()));
    arm();
  });
}

std::optional<control::HoldInfo> HoldReporter::info() const {
  const auto& hold = supervisor_.hold();
  if (!hold || supervisor_.shutting_down()) return std::nullopt;
  control::HoldInfo info;
  if (const auto* p = hold->outcome.failed) {
    info.group = p->spec().group;
    info.name = p->name();
  }
  info.reason = hold->reason;
  info.exit_code = hold->outcome.exit_code;
  info.since = since_wall_;
  info.retry = retry_command();
  return info;
}

}  // namespace podvisor::runtime
