#include "cli/runtime.h"

#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <list>
#include <map>
#include <memory>
#include <optional>

#include "core/process.h"
#include "core/report.h"
#include "core/supervisor.h"
#include "os/descendants.h"
#include "os/signals.h"
#include "os/spawn.h"
#include "output/relay.h"

namespace podvisor::cli {
namespace {

namespace asio = boost::asio;
using config::LogLevel;
using core::Clock;

constexpr size_t kReadBuffer = 128 * 1024;
constexpr size_t kReportLines = 20;
// After the programs are gone, leftover descendants get SIGTERM, this long, then SIGKILL.
constexpr auto kLeftoverGrace = std::chrono::milliseconds(1500);
// At exit, how long podvisor waits for a slow reader to take the output still queued.
constexpr auto kFlushLimit = std::chrono::seconds(30);

struct ProgramIo {
  explicit ProgramIo(asio::io_context& io) : timer(io) {}
  asio::steady_timer timer;
  output::RingBuffer out, err, combined;
  // Pipes of earlier runs stay until end of file: a grandchild may still write to them.
  std::list<output::PipeRelay> relays;
};

class Runtime final : public core::ProcessDriver {
 public:
  Runtime(const config::SupervisorSpec& spec, const RuntimeOptions& options, core::Logger& log)
      : spec_(spec),
        options_(options),
        log_(log),
        signal_stream_(io_, signals_.fd()),
        buffer_(kReadBuffer),
        supervisor_(spec, *this, [this](const core::Supervisor::Outcome& o) { finish(o); }) {}

  ~Runtime() override {
    // The stream must not close the fd SignalFd owns.
    signal_stream_.release();
  }

  int run() {
    os::become_subreaper();
    log(LogLevel::kInfo,
        fmt::format("podvisor {} started with pid {}", PODVISOR_VERSION, getpid()));
    wait_signals();
    supervisor_.start_all();
    if (!outcome_) io_.run();
    end_leftovers();
    for (auto& [p, io] : programs_) {
      for (auto& relay : io->relays) relay.drain();
    }
    stdout_sink_.flush(kFlushLimit);
    stderr_sink_.flush(kFlushLimit);
    report();
    const int status = outcome_ ? outcome_->exit_code : 2;
    log(LogLevel::kInfo, fmt::format("podvisor exiting with status {}", status));
    return status;
  }

  // ProcessDriver
  Clock::time_point now() const override { return Clock::now(); }

  Spawned spawn(core::Process& p) override {
    auto& io = program_io(p);
    io.relays.remove_if([](const output::PipeRelay& r) { return !r.open(); });
    os::SpawnRequest request;
    request.argv = p.spec().argv;
    request.directory = p.spec().directory;
    request.take_terminal = options_.terminal;
    std::map<std::string, std::string> identity{{"SUPERVISOR_ENABLED", "1"},
                                                {"SUPERVISOR_PROCESS_NAME", p.name()},
                                                {"SUPERVISOR_GROUP_NAME", p.name()}};
    auto merged = os::build_environment({spec_.environment, p.spec().environment, identity});
    // PYTHONUNBUFFERED=1 only where nobody set it (seed 001's lost logs).
    bool has_unbuffered = false;
    for (const auto& e : merged) has_unbuffered |= e.starts_with("PYTHONUNBUFFERED=");
    if (!has_unbuffered) merged.push_back("PYTHONUNBUFFERED=1");
    request.env = std::move(merged);

    std::optional<output::Pipe> out, err;
    if (!options_.terminal) {
      out = output::make_pipe();
      err = output::make_pipe();
      request.stdout_fd = out->write;
      request.stderr_fd = err->write;
    }
    const auto result = os::spawn(request);
    if (out) {
      ::close(out->write);
      ::close(err->write);
      if (result.pid > 0) {
        io.relays.emplace_back(io_, out->read, &stdout_sink_,
                               std::vector<output::RingBuffer*>{&io.out, &io.combined}, buffer_);
        io.relays.back().start();
        io.relays.emplace_back(io_, err->read, &stderr_sink_,
                               std::vector<output::RingBuffer*>{&io.err, &io.combined}, buffer_);
        io.relays.back().start();
      } else {
        ::close(out->read);
        ::close(err->read);
      }
    }
    return {result.pid, result.error, result.message, result.command_unusable};
  }

  void kill(pid_t pid, int signo, bool group) override {
    if (pid <= 0) return;
    if (group && ::kill(-pid, signo) == 0) return;
    if (::kill(pid, signo) != 0 && errno != ESRCH) {
      log(LogLevel::kWarn,
          fmt::format("kill({}, {}): {}", pid, config::signal_name(signo), std::strerror(errno)));
    }
  }

  void arm_timer(core::Process& p, Clock::duration after) override {
    auto& timer = program_io(p).timer;
    timer.expires_after(after);
    timer.async_wait([this, &p](const boost::system::error_code& ec) {
      if (!ec) p.on_timer();
    });
  }

  void cancel_timer(core::Process& p) override { program_io(p).timer.cancel(); }

  void log(LogLevel level, std::string line) override { log_.log(level, line); }

  void state_changed(core::Process& p, core::State from) override {
    log(LogLevel::kDebug,
        fmt::format("{}: {} -> {}", p.name(), core::to_string(from), core::to_string(p.state())));
    supervisor_.on_state_changed(p, from);
  }

 private:
  ProgramIo& program_io(const core::Process& p) {
    auto& slot = programs_[&p];
    if (!slot) slot = std::make_unique<ProgramIo>(io_);
    return *slot;
  }

  void wait_signals() {
    signal_stream_.async_wait(asio::posix::stream_descriptor::wait_read,
                              [this](const boost::system::error_code& ec) {
                                if (ec) return;
                                while (auto info = signals_.read()) on_signal(info->ssi_signo);
                                if (!outcome_) wait_signals();
                              });
  }

  void on_signal(unsigned signo) {
    const int sig = static_cast<int>(signo);
    switch (sig) {
      case SIGCHLD:
        reap();
        break;
      case SIGTERM:
      case SIGINT:
      case SIGQUIT:
        log(LogLevel::kWarn,
            fmt::format("received {} indicating exit request", config::signal_name(sig)));
        supervisor_.request_shutdown();
        break;
      default:
        log(LogLevel::kDebug, fmt::format("forwarding {}", config::signal_name(sig)));
        supervisor_.forward_signal(sig);
        break;
    }
  }

  void reap() {
    os::reap_children([this](pid_t pid, int status) {
      // Everything the child wrote is in its pipes now: relay it before reporting the exit.
      for (const auto& p : supervisor_.programs()) {
        if (p->pid() == pid) {
          for (auto& relay : program_io(*p).relays) relay.drain();
        }
      }
      if (!supervisor_.on_child_exit(pid, status)) {
        log(LogLevel::kDebug, fmt::format("reaped orphan pid {}", pid));
      }
    });
  }

  void finish(const core::Supervisor::Outcome& outcome) {
    outcome_ = outcome;
    io_.stop();
  }

  // Nothing outlives podvisor: leftover descendants get SIGTERM, a grace, then SIGKILL.
  // This runs after the loop, when only waiting remains, so it may poll.
  void end_leftovers() {
    reap_quietly();
    if (!os::has_children()) return;  // the common case, without reading all of /proc
    const auto self = getpid();
    auto signalled = os::signal_descendants(self, SIGTERM);
    if (signalled == 0) {
      reap_quietly();
      return;
    }
    log(LogLevel::kInfo, fmt::format("sending SIGTERM to {} leftover process(es)", signalled));
    bool killed = false;
    const auto deadline = Clock::now() + kLeftoverGrace;
    const auto hard_deadline = deadline + std::chrono::seconds(5);
    while (true) {
      reap_quietly();
      if (os::descendants(self).empty()) return;
      if (!killed && (Clock::now() >= deadline || escalation_requested())) {
        killed = true;
        log(LogLevel::kWarn, fmt::format("sending SIGKILL to {} leftover process(es)",
                                         os::signal_descendants(self, SIGKILL)));
      }
      if (Clock::now() >= hard_deadline) {
        log(LogLevel::kError, "leftover processes survived SIGKILL; giving up waiting");
        return;
      }
      pollfd pfd{signals_.fd(), POLLIN, 0};
      ::poll(&pfd, 1, 10);
    }
  }

  // A second SIGTERM/SIGINT while leftovers are ending: stop waiting for them.
  bool escalation_requested() {
    bool escalate = false;
    while (auto info = signals_.read()) {
      const int sig = static_cast<int>(info->ssi_signo);
      escalate |= sig == SIGTERM || sig == SIGINT || sig == SIGQUIT;
    }
    return escalate;
  }

  void reap_quietly() {
    for (auto& [p, io] : programs_) {
      for (auto& relay : io->relays) relay.drain();
    }
    os::reap_children([](pid_t, int) {});
  }

  void report() {
    if (!outcome_ || !outcome_->failed) return;
    const auto& p = *outcome_->failed;
    core::Report r;
    r.program = p.name();
    r.reason = p.state() == core::State::kFatal ? p.fatal_reason()
               : p.last_exit()                  ? core::describe_exit(*p.last_exit())
                                                : "unknown";
    if (p.started_at() != Clock::time_point{} && p.exited_at() >= p.started_at()) {
      r.uptime =
          std::chrono::duration_cast<std::chrono::milliseconds>(p.exited_at() - p.started_at());
    }
    r.restarts = p.restarts();
    if (auto it = programs_.find(&p); it != programs_.end()) {
      r.last_lines = it->second->combined.last_lines(kReportLines);
    }
    core::write_all(STDERR_FILENO, core::format_report(r));
  }

  const config::SupervisorSpec& spec_;
  RuntimeOptions options_;
  core::Logger& log_;
  asio::io_context io_;
  output::OutputSink stdout_sink_{io_, STDOUT_FILENO};
  output::OutputSink stderr_sink_{io_, STDERR_FILENO};
  os::SignalFd signals_;
  asio::posix::stream_descriptor signal_stream_;
  std::vector<char> buffer_;
  std::map<const core::Process*, std::unique_ptr<ProgramIo>> programs_;
  core::Supervisor supervisor_;
  std::optional<core::Supervisor::Outcome> outcome_;
};

}  // namespace

int run_supervisor(const config::SupervisorSpec& spec, const RuntimeOptions& options,
                   core::Logger& log) {
  Runtime runtime(spec, options, log);
  return runtime.run();
}

}  // namespace podvisor::cli
