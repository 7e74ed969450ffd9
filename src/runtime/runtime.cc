#include "runtime/runtime.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "control/server/http_server.h"
#include "control/server/routes.h"
#include "core/supervisor.h"
#include "os/descendants.h"
#include "os/io.h"
#include "output/sink.h"
#include "runtime/control_backend.h"
#include "runtime/driver.h"
#include "runtime/event_listeners.h"
#include "runtime/gates.h"
#include "runtime/gpu_companion.h"
#include "runtime/hold.h"
#include "runtime/loop.h"
#include "runtime/program_io.h"
#include "runtime/shutdown.h"

namespace podvisor::runtime {
namespace {

using config::LogLevel;

// At exit, how long podvisor waits for a slow reader to take the output still queued.
constexpr auto kFlushLimit = std::chrono::seconds(30);
// podvisor could not set itself up (no descriptor for its event loop, say): as a failed start.
constexpr int kCannotStart = 1;

// Wires the parts together: the loop's signals to the Supervisor, the driver and program io
// under it, the control servers over the backend; then runs and ends.
class Runtime {
 public:
  Runtime(config::SupervisorSpec spec, const RuntimeOptions& options, output::Logger& log)
      : spec_(std::move(spec)),
        options_(options),
        log_(log),
        programs_(loop_.io(), spec_, stdout_sink_, stderr_sink_, log),
        driver_(loop_, programs_, spec_, options.terminal, log),
        supervisor_(spec_, driver_, [this](const core::Supervisor::Outcome& o) { finish(o); }),
        backend_(loop_, supervisor_, programs_, main_log_, spec_, options.reload, log) {
    driver_.route_exits_to(supervisor_);
    supervisor_.set_hold_listener([this](const core::Supervisor::Hold* h) { hold_.changed(h); });
    backend_.set_hold_source([this] { return hold_.info(); });
    backend_.set_gate_source([this] { return gates_.info(); });
    backend_.set_gpu_source(&gpu_);
    driver_.gpu().set_companion(&gpu_, &spec_);
    backend_.set_gpu_programs([this] { return driver_.gpu().programs(); });
    programs_.set_event_hooks(
        [this](const core::Process& p, int stream, std::string_view chunk) {
          listeners_.output(p, stream, chunk);
        },
        [this](const core::Process& p, int fd) { listeners_.stdin_opened(p, fd); },
        [this] { listeners_.sync_groups(); });
    supervisor_.set_stop_gate([this](const core::Process& p) { return listeners_.may_stop(p); });
    listeners_.on_drain_progress([this] { supervisor_.stop_gate_opened(); });
    supervisor_.set_event_listener([this](const core::Process& p, core::State from) {
      // Every way to shut down (a signal, `ctl shutdown`, exit_on_fatal) first stops a
      // program: SUPERVISOR_STATE_CHANGE_STOPPING goes out once, before that change.
      // The gates stop accepting then too (held connections get their 503).
      if (supervisor_.shutting_down()) {
        listeners_.stopping();
        gates_.stop_accepting();
      }
      listeners_.state_changed(p, from);
      gates_.state_changed(p);
    });
    // podvisor's own lines go through the same sink as relayed output, so they never
    // split a relayed line.
    auto* log_sink = spec_.logfile == "/dev/stdout" ? &stdout_sink_ : &stderr_sink_;
    if (!spec_.logfile.empty() && !spec_.logfile.starts_with("/dev/")) {
      try {
        main_log_.file = std::make_unique<output::LogFile>(spec_.logfile, spec_.logfile_maxbytes,
                                                           spec_.logfile_backups);
      } catch (const std::system_error& e) {
        log_.log(LogLevel::kError, fmt::format("cannot open logfile: {}", e.what()));
      }
    }
    log_.set_writer([this, log_sink](std::string_view line) {
      log_sink->write(line);
      if (main_log_.file) main_log_.file->write(line);
      main_log_.ring.append(line);
      if (!main_log_.watchers.empty()) notify_watchers(main_log_.watchers);
    });
    loop_.on_signal([this](int sig) { on_signal(sig); });
    loop_.on_orphan([this](pid_t pid, int) {
      log_.log(LogLevel::kDebug, fmt::format("reaped orphan pid {}", pid));
      std::erase(inherited_, pid);  // its pid may now go to another process
      driver_.orphan_reaped();
    });
    loop_.on_error([this](const std::string& error) { log_.log(LogLevel::kCritical, error); });
  }

  ~Runtime() { log_.set_writer(nullptr); }

  const std::vector<pid_t>& inherited() const { return inherited_; }

  int run() {
    if (const int error = os::become_subreaper(); error != 0) {
      log_.log(LogLevel::kWarn, fmt::format("cannot become a subreaper: {}; orphans go to pid 1",
                                            std::strerror(error)));
    }
    log_.log(LogLevel::kInfo,
             fmt::format("podvisor {} started with pid {}", PODVISOR_VERSION, getpid()));
    for (const auto& note : options_.notes) log_.log(LogLevel::kInfo, note);
    // Children from before podvisor (bash's `exec > >(tee log)` reader) are nobody's
    // leftovers: reaped when they end, never signalled, waited for at exit.
    inherited_ = os::own_children();
    if (!inherited_.empty()) {
      log_.log(LogLevel::kDebug, fmt::format("{} process(es) were children of podvisor before "
                                             "it started: left alone",
                                             inherited_.size()));
    }
    loop_.start();
    if (const auto missing = missing_gpus(driver_.gpu().paths(), spec_.require_gpu)) {
      log_.log(LogLevel::kCritical, *missing);  // require_gpu: a start-up error, as a bad config
      return 2;
    }
    // The gates accept from the first moment, before any program starts.
    if (!open_control_servers() || !gates_.open(spec_)) {
      stdout_sink_.flush(kFlushLimit);
      stderr_sink_.flush(kFlushLimit);
      return 2;
    }
    write_pidfile();
    if (options_.ready) options_.ready();
    guarded("starting the GPU companion", [this] { gpu_.start(); });
    guarded("starting the programs", [this] {
      listeners_.start();
      supervisor_.start_all();
    });
    // Loading and expanding the configuration (numprocs) left freed heap behind: give it
    // back, so idle RSS is what the programs' bookkeeping needs.
    (void)malloc_trim(0);
    while (!outcome_ && !loop_.stopped()) {
      if (guarded("in the event loop", [this] { loop_.run(); })) break;
    }
    for (auto& server : servers_) server->close();
    gates_.drain();  // relayed answers finish, up to stopwaitsecs
    gates_.close();
    guarded("stopping the GPU companion", [this] { gpu_.stop(); });
    if (!guarded("ending leftover processes", [this] {
          end_leftovers(
              loop_, log_, [this] { programs_.drain_all(); }, inherited_);
        })) {
      // Nothing may outlive podvisor, even when the orderly way failed.
      os::signal_descendants(getpid(), SIGKILL, inherited_);
    }
    programs_.drain_all();
    if (outcome_ && outcome_->failed && !outcome_->reported) {
      stderr_sink_.write(crash_report(*outcome_->failed, programs_.find(*outcome_->failed),
                                      gpu_snapshot_ ? &*gpu_snapshot_ : nullptr));
    }
    const int status = outcome_ ? outcome_->exit_code : 2;
    // A re-exec writes it again, with the same pid: a `kill $(cat pidfile)` meanwhile works.
    if (!backend_.restart_requested()) remove_pidfile();
    log_.log(LogLevel::kInfo, fmt::format("podvisor exiting with status {}", status));
    // Last: the report and the final line go through the sinks too, behind relayed output.
    stdout_sink_.flush(kFlushLimit);
    stderr_sink_.flush(kFlushLimit);
    if (backend_.restart_requested()) {
      if (options_.daemonized && ::setenv(kDaemonizedVariable, "1", 1) != 0) {
        log_.log(LogLevel::kWarn, fmt::format("restart: {}", std::strerror(errno)));
      }
      reexec(log_);
    }
    return status;
  }

 private:
  // No exception may end PID 1 and orphan its programs: one that escapes a step is logged
  // and podvisor carries on (the event loop runs again). Returns whether `step` completed.
  template <typename Step>
  bool guarded(std::string_view what, Step&& step) {
    try {
      step();
      return true;
    } catch (const std::exception& e) {
      log_.log(LogLevel::kCritical, fmt::format("error {}: {}; carrying on", what, e.what()));
    } catch (...) {
      log_.log(LogLevel::kCritical, fmt::format("unknown error {}; carrying on", what));
    }
    return false;
  }

  void on_signal(int sig) {
    switch (sig) {
      case SIGTERM:
      case SIGINT:
      case SIGQUIT:
        log_.log(LogLevel::kWarn,
                 fmt::format("received {} indicating exit request", config::signal_name(sig)));
        supervisor_.request_shutdown();
        break;
      case SIGHUP:
        if (options_.reload) {
          backend_.reload();
          break;
        }
        [[fallthrough]];
      default:
        log_.log(LogLevel::kDebug, fmt::format("forwarding {}", config::signal_name(sig)));
        supervisor_.forward_signal(sig);
        break;
    }
  }

  // supervisord's write_pidfile: "<pid>\n", over whatever was there; a failure is logged
  // and podvisor goes on, as supervisord does.
  void write_pidfile() {
    pidfile_ = spec_.pidfile;  // a reload does not move it, as in supervisord
    if (pidfile_.empty()) return;
    const int fd = ::open(pidfile_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int error = errno;
    bool written = false;
    if (fd >= 0) {
      written = os::write_all(fd, fmt::format("{}\n", getpid()));
      error = errno;
      if (::close(fd) != 0 && written) {
        written = false;
        error = errno;
      }
    }
    if (!written) {
      log_.log(LogLevel::kCritical,
               fmt::format("could not write pidfile {}: {}", pidfile_, std::strerror(error)));
      pidfile_.clear();
      return;
    }
    log_.log(LogLevel::kInfo, fmt::format("supervisord started with pid {}", getpid()));
  }

  void remove_pidfile() {
    if (!pidfile_.empty() && ::unlink(pidfile_.c_str()) != 0 && errno != ENOENT) {
      log_.log(LogLevel::kWarn,
               fmt::format("cannot remove pidfile {}: {}", pidfile_, std::strerror(errno)));
    }
  }

  void finish(const core::Supervisor::Outcome& outcome) {
    outcome_ = outcome;
    if (!outcome.failed || outcome.reported) return loop_.stop();
    // Now, while the failed program's leftovers still live (the exit ends them), with a fresh
    // NVML sample where there is a companion (at most 250 ms; at once without one).
    gpu_.refresh(std::chrono::milliseconds(250), [this] {
      if (gpu_snapshot_) return;
      gpu_snapshot_ = driver_.gpu().snapshot();
      loop_.stop();
    });
  }

  // Opens [unix_http_server] and [inet_http_server]. A socket that cannot be opened stops
  // a config-mode start (exit 2), as in supervisord; single-command mode goes on without it.
  bool open_control_servers() {
    routes_ = std::make_unique<control::Routes>(backend_, spec_.ssh.connect);
    for (const bool inet : {false, true}) {
      const auto& server = inet ? spec_.inet_server : spec_.unix_server;
      if (!server) continue;
      control::ServerOptions o;
      if (!server->username.empty())
        o.auth = control::BasicAuth{server->username, server->password};
      if (!server->health_auth) o.public_paths = {"/health", "/ready", "/ping", "/metrics"};
      o.log = [this](LogLevel level, std::string_view line) { log_.log(level, line); };
      auto http = std::make_unique<control::HttpServer>(
          loop_.io(),
          [this](const control::Request& r, std::shared_ptr<control::Responder> responder) {
            routes_->handle(r, std::move(responder));
          },
          std::move(o));
      try {
        if (inet) {
          const auto port = http->listen_tcp(server->host, server->port);
          const auto host = server->host.empty() ? "127.0.0.1" : server->host;
          if (server_url_.empty()) server_url_ = fmt::format("http://{}:{}", host, port);
          log_.log(LogLevel::kInfo, fmt::format("control server listening on {}:{}",
                                                server->host.empty() ? "*" : server->host, port));
        } else {
          http->listen_unix(server->file, server->chmod, server->uid, server->gid);
          server_url_ = fmt::format("unix://{}", server->file);
          log_.log(LogLevel::kInfo, fmt::format("control server listening on {}", server->file));
        }
      } catch (const std::system_error& e) {
        if (!options_.reload) {
          log_.log(LogLevel::kWarn, fmt::format("no control socket: {}", e.what()));
          continue;
        }
        log_.log(LogLevel::kCritical, fmt::format("cannot open the control server: {}", e.what()));
        return false;
      }
      servers_.push_back(std::move(http));
    }
    driver_.set_server_url(server_url_);
    return true;
  }

  config::SupervisorSpec spec_;  // the live configuration: reloads replace it in place
  RuntimeOptions options_;
  output::Logger& log_;
  Loop loop_;
  output::OutputSink stdout_sink_{loop_.io(), STDOUT_FILENO};
  output::OutputSink stderr_sink_{loop_.io(), STDERR_FILENO};
  MainLog main_log_;
  ProgramIoTable programs_;
  Driver driver_;
  EventListeners listeners_{loop_.io(), spec_, log_};
  GpuCompanion gpu_{loop_, log_, gpu_companion_options()};
  core::Supervisor supervisor_;
  ControlBackend backend_;
  HoldReporter hold_{loop_.io(), spec_, supervisor_, log_, [this](const core::Process& p) {
                       const auto gpu = driver_.gpu().snapshot();
                       stderr_sink_.write(crash_report(p, programs_.find(p), &gpu));
                     }};
  GateTable gates_{loop_.io(), log_};
  std::unique_ptr<control::Routes> routes_;
  std::vector<std::unique_ptr<control::HttpServer>> servers_;
  std::string server_url_;  // SUPERVISOR_SERVER_URL for the programs
  std::optional<core::Supervisor::Outcome> outcome_;
  std::optional<gpu::Snapshot> gpu_snapshot_;  // taken when podvisor gave up on a program
  std::vector<pid_t> inherited_;  // children from before podvisor started, still running
  std::string pidfile_;           // the one this podvisor wrote, removed at exit
};

}  // namespace

int run_supervisor(config::SupervisorSpec spec, const RuntimeOptions& options,
                   output::Logger& log) {
  std::optional<Runtime> runtime;
  try {
    runtime.emplace(std::move(spec), options, log);
  } catch (const std::exception& e) {
    // Nothing runs yet (out of descriptors for the loop itself, say): no program to orphan.
    log.log(LogLevel::kCritical, fmt::format("cannot start: {}", e.what()));
    return kCannotStart;
  }
  const int status = runtime->run();
  const auto readers = runtime->inherited();
  runtime.reset();  // closes the sinks' descriptors for stdout and stderr
  let_readers_finish(readers);
  return status;
}

}  // namespace podvisor::runtime
