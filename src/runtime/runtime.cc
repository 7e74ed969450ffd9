#include "runtime/runtime.h"

#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <ctime>
#include <fstream>
#include <list>
#include <map>
#include <memory>
#include <optional>

#include "config/ini.h"
#include "control/server/backend.h"
#include "control/server/http_server.h"
#include "control/server/routes.h"
#include "core/process.h"
#include "core/report.h"
#include "core/supervisor.h"
#include "os/descendants.h"
#include "os/signals.h"
#include "os/spawn.h"
#include "output/relay.h"
#include "output/sink.h"
#include "probe/log_match.h"
#include "probe/notify.h"
#include "probe/watch.h"

namespace podvisor::runtime {
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
  // stdout_logfile / stderr_logfile when they name a file, opened at the first start.
  std::unique_ptr<output::LogFile> files[2];
  // Pipes of earlier runs stay until end of file: a grandchild may still write to them.
  std::list<output::PipeRelay> relays;
  std::shared_ptr<probe::ReadinessWatch> readiness;
  std::shared_ptr<probe::LivenessWatch> liveness;
  std::optional<probe::LogMatcher> log_matcher;  // ready=log:…, while STARTING
  std::unique_ptr<probe::NotifySocket> notify;   // ready=notify
  std::string notify_status;                     // the last STATUS= it sent
  // Followers of stdout and stderr (/logtail): called after output is appended.
  std::list<std::weak_ptr<std::function<void()>>> log_watchers[2];
};

// Calls every live watcher, forgetting released ones.
void notify_watchers(std::list<std::weak_ptr<std::function<void()>>>& watchers) {
  for (auto it = watchers.begin(); it != watchers.end();) {
    if (auto fn = it->lock()) {
      (*fn)();
      ++it;
    } else {
      it = watchers.erase(it);
    }
  }
}

// Where a steady-clock instant falls on the wall clock, in seconds (display only).
int64_t wall_seconds(Clock::time_point t) {
  const auto ago = Clock::now() - t;
  return std::chrono::duration_cast<std::chrono::seconds>(
             (std::chrono::system_clock::now() - ago).time_since_epoch())
      .count();
}

class Runtime final : public core::ProcessDriver,
                      public probe::ChildWatcher,
                      public control::Backend {
 public:
  Runtime(const config::SupervisorSpec& spec, const RuntimeOptions& options, output::Logger& log)
      : spec_(spec),
        options_(options),
        log_(log),
        signal_stream_(io_, signals_.fd()),
        buffer_(kReadBuffer),
        supervisor_(spec, *this, [this](const core::Supervisor::Outcome& o) { finish(o); }) {
    count_shared_streams();
    // podvisor's own lines go through the same sink as relayed output, so they never
    // split a relayed line.
    auto* log_sink = spec.logfile == "/dev/stdout" ? &stdout_sink_ : &stderr_sink_;
    if (!spec.logfile.empty() && !spec.logfile.starts_with("/dev/")) {
      try {
        logfile_ = std::make_unique<output::LogFile>(spec.logfile, spec.logfile_maxbytes,
                                                     spec.logfile_backups);
      } catch (const std::system_error& e) {
        log_.log(LogLevel::kError, fmt::format("cannot open logfile: {}", e.what()));
      }
    }
    log_.set_writer([this, log_sink](std::string_view line) {
      log_sink->write(line);
      if (logfile_) logfile_->write(line);
      main_ring_.append(line);
      if (!main_watchers_.empty()) notify_watchers(main_watchers_);
    });
  }

  ~Runtime() override {
    // The stream must not close the fd SignalFd owns.
    signal_stream_.release();
    log_.set_writer(nullptr);
  }

  int run() {
    os::become_subreaper();
    log(LogLevel::kInfo,
        fmt::format("podvisor {} started with pid {}", PODVISOR_VERSION, getpid()));
    wait_signals();
    if (!open_control_servers()) {
      stdout_sink_.flush(kFlushLimit);
      stderr_sink_.flush(kFlushLimit);
      return 2;
    }
    supervisor_.start_all();
    if (!outcome_) io_.run();
    for (auto& server : servers_) server->close();
    end_leftovers();
    for (auto& [p, io] : programs_) {
      for (auto& relay : io->relays) relay.drain();
    }
    report();
    const int status = outcome_ ? outcome_->exit_code : 2;
    log(LogLevel::kInfo, fmt::format("podvisor exiting with status {}", status));
    // Last: the report and the final line go through the sinks too, behind relayed output.
    stdout_sink_.flush(kFlushLimit);
    stderr_sink_.flush(kFlushLimit);
    if (restart_requested_) reexec();
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
                                                {"SUPERVISOR_GROUP_NAME", p.spec().group}};
    if (!server_url_.empty()) identity["SUPERVISOR_SERVER_URL"] = server_url_;
    auto merged = os::build_environment({spec_.environment, p.spec().environment, identity});
    // PYTHONUNBUFFERED=1 only where nobody set it (seed 001's lost logs).
    bool has_unbuffered = false;
    for (const auto& e : merged) has_unbuffered |= e.starts_with("PYTHONUNBUFFERED=");
    if (!has_unbuffered) merged.push_back("PYTHONUNBUFFERED=1");
    if (p.spec().ready && p.spec().ready->kind == config::ProbeSpec::Kind::kNotify) {
      if (!io.notify) {
        try {
          io.notify = std::make_unique<probe::NotifySocket>(
              io_, p.name(), [this, &p](const auto& m) { on_notify(p, m); });
        } catch (const std::system_error& e) {
          return {-1, e.code().value(), fmt::format("notify socket: {}", e.what()), false};
        }
      }
      std::erase_if(merged, [](const auto& e) { return e.starts_with("NOTIFY_SOCKET="); });
      merged.push_back(fmt::format("NOTIFY_SOCKET={}", io.notify->address()));
    }
    request.env = std::move(merged);

    request.umask = p.spec().umask;
    if (!p.spec().user.empty()) {
      if (geteuid() != 0 && geteuid() != p.spec().uid) {
        return {-1, EPERM,
                fmt::format("cannot run as user {}: podvisor is not root", p.spec().user), false};
      }
      request.uid = p.spec().uid;
      request.gid = p.spec().gid;
      request.groups = p.spec().groups;
    }

    std::optional<output::Pipe> out, err;
    if (!options_.terminal) {
      out = output::make_pipe();
      request.stdout_fd = out->write;
      if (p.spec().redirect_stderr) {
        request.stderr_fd = out->write;
      } else {
        err = output::make_pipe();
        request.stderr_fd = err->write;
      }
    }
    const auto result = os::spawn(request);
    for (auto* pipe : {out ? &*out : nullptr, err ? &*err : nullptr}) {
      if (!pipe) continue;
      ::close(pipe->write);
      if (result.pid <= 0) ::close(pipe->read);
    }
    if (result.pid > 0 && out) {
      relay(p, io, out->read, 0);
      if (err) relay(p, io, err->read, 1);
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

  void kill_group(pid_t pgid, int signo) override {
    if (pgid > 0 && ::kill(-pgid, signo) == 0) {
      log(LogLevel::kWarn, fmt::format("sent {} to the processes left in process group {}",
                                       config::signal_name(signo), pgid));
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

  void start_readiness(core::Process& p) override {
    auto& io = program_io(p);
    const auto& spec = *p.spec().ready;
    using Kind = config::ProbeSpec::Kind;
    probe::ReadinessOptions o;
    o.name = p.name();
    o.interval = p.spec().ready_interval;
    o.timeout = p.spec().ready_timeout;
    if (spec.kind == Kind::kLog) o.waiting_for = "no matching line yet";
    if (spec.kind == Kind::kNotify) o.waiting_for = "no READY=1 yet";
    o.progress = [this](std::string line) { log(LogLevel::kInfo, std::move(line)); };
    o.on_ready = [&p](std::chrono::milliseconds elapsed, const std::string& detail) {
      p.on_ready(elapsed, detail);
    };
    o.on_timeout = [&p](const std::string& reason) { p.on_not_ready(reason); };
    io.log_matcher.reset();
    if (spec.kind == Kind::kLog) io.log_matcher.emplace(spec.pattern);
    io.readiness = std::make_shared<probe::ReadinessWatch>(
        io_, probe::make_probe(spec, io_, *this, p.spec().ready_status), std::move(o));
    io.readiness->start();
  }

  void start_liveness(core::Process& p) override {
    auto& io = program_io(p);
    probe::LivenessOptions o;
    o.interval = p.spec().live_interval;
    o.failures = p.spec().live_failures;
    o.on_failed = [&p](const std::string& last) { p.on_live_failed(last); };
    io.liveness = std::make_shared<probe::LivenessWatch>(
        io_, probe::make_probe(*p.spec().live, io_, *this), std::move(o));
    io.liveness->start();
  }

  void stop_probes(core::Process& p) override {
    auto& io = program_io(p);
    if (io.readiness) io.readiness->stop();
    if (io.liveness) io.liveness->stop();
    io.readiness.reset();
    io.liveness.reset();
    io.log_matcher.reset();
  }

  // probe::ChildWatcher
  void watch(pid_t pid, std::function<void(int)> on_exit) override {
    probe_children_[pid] = std::move(on_exit);
  }

  void state_changed(core::Process& p, core::State from) override {
    log(LogLevel::kDebug,
        fmt::format("{}: {} -> {}", p.name(), core::to_string(from), core::to_string(p.state())));
    settle_waiters(p);
    supervisor_.on_state_changed(p, from);
  }

 private:
  // Starts relaying one of a program's pipes (stream 0: stdout, 1: stderr) to where its
  // spec sends it, through a LineFormatter when lines get a prefix or become JSON.
  void relay(const core::Process& p, ProgramIo& io, int read_fd, int stream) {
    const auto& log = stream == 0 ? p.spec().stdout_log : p.spec().stderr_log;
    const char* stream_name = stream == 0 ? "stdout" : "stderr";
    std::vector<output::RingBuffer*> rings{stream == 0 ? &io.out : &io.err, &io.combined};
    output::Destination* destination = nullptr;
    std::unique_ptr<output::Destination> formatter;
    switch (log.target) {
      case config::LogTarget::kNone:
        break;
      case config::LogTarget::kStdout:
      case config::LogTarget::kStderr:
        destination = log.target == config::LogTarget::kStdout ? &stdout_sink_ : &stderr_sink_;
        if (spec_.log_format == config::LogFormat::kJson) {
          formatter = std::make_unique<output::LineFormatter>(
              *destination, output::LineFormatter::Format::kJson, p.name(), stream_name);
        } else if (wants_prefix(p.spec())) {
          formatter = std::make_unique<output::LineFormatter>(
              *destination, output::LineFormatter::Format::kPrefix, p.name(), stream_name);
        }
        break;
      case config::LogTarget::kFile:
      case config::LogTarget::kAuto:
        destination = log_file(p, io, log, stream);
        break;
    }
    io.relays.emplace_back(io_, read_fd, destination, std::move(rings), buffer_,
                           std::move(formatter));
    io.relays.back().observe(
        [this, &p, stream](std::string_view chunk) { on_output(p, stream, chunk); });
    io.relays.back().start();
  }

  // Output while a program is not ready yet: a log probe may match, and any output makes the
  // next attempt come early (servers print as they start listening).
  void on_output(const core::Process& p, int stream, std::string_view chunk) {
    auto& io = program_io(p);
    if (!io.log_watchers[stream].empty()) notify_watchers(io.log_watchers[stream]);
    if (!io.readiness || io.readiness->done()) return;
    io.readiness->nudge();
    if (!io.log_matcher) return;
    if (auto line = io.log_matcher->feed(chunk)) {
      constexpr size_t kShown = 120;
      if (line->size() > kShown) *line = fmt::format("{}…", line->substr(0, kShown));
      // Later: this runs inside the relay's read, where state changes must not happen.
      asio::post(io_, [watch = std::weak_ptr(io.readiness), line = std::move(*line)] {
        if (auto w = watch.lock()) w->passive_ready(fmt::format("matched \"{}\"", line));
      });
    }
  }

  void on_notify(const core::Process& p, const probe::NotifySocket::Message& m) {
    auto& io = program_io(p);
    if (!m.status.empty()) {
      io.notify_status = m.status;
      log(LogLevel::kDebug, fmt::format("{}: STATUS={}", p.name(), m.status));
    }
    if (m.ready && io.readiness) io.readiness->passive_ready("READY=1");
  }

  bool wants_prefix(const config::ProgramSpec& p) const {
    if (p.log_prefix) return *p.log_prefix;
    if (spec_.log_prefix) return *spec_.log_prefix;
    return programs_on_podvisor_streams_ > 1;
  }

  output::Destination* log_file(const core::Process& p, ProgramIo& io, const config::LogSpec& log,
                                int stream) {
    auto& file = io.files[stream];
    if (file) return file.get();
    auto path = log.path;
    if (log.target == config::LogTarget::kAuto) {
      // supervisord's AUTO name: NAME-STREAM---IDENTIFIER-RANDOM.log in childlogdir.
      auto pattern = fmt::format("{}/{}-{}---{}-XXXXXX.log", spec_.childlogdir, p.name(),
                                 stream == 0 ? "stdout" : "stderr", spec_.identifier);
      const int fd = mkstemps(pattern.data(), 4);
      if (fd < 0) {
        log_.log(LogLevel::kError, fmt::format("{}: cannot create AUTO log in {}: {}", p.name(),
                                               spec_.childlogdir, std::strerror(errno)));
        return nullptr;
      }
      ::close(fd);
      path = pattern;
    }
    try {
      file = std::make_unique<output::LogFile>(path, log.maxbytes, log.backups);
    } catch (const std::system_error& e) {
      log_.log(LogLevel::kError, fmt::format("{}: cannot open log file: {}", p.name(), e.what()));
      return nullptr;
    }
    return file.get();
  }

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
      case SIGHUP:
        if (options_.reload) {
          reload();
          break;
        }
        [[fallthrough]];
      default:
        log(LogLevel::kDebug, fmt::format("forwarding {}", config::signal_name(sig)));
        supervisor_.forward_signal(sig);
        break;
    }
  }

  void reload() {
    log(LogLevel::kWarn, "received SIGHUP indicating restart request");
    std::optional<config::SupervisorSpec> next;
    try {
      next = options_.reload();
    } catch (const config::ConfigError& e) {
      log(LogLevel::kError, e.what());
      log(LogLevel::kError, "reload failed: the file is invalid; carrying on with the old one");
      return;
    }
    pending_.reset();
    spec_ = std::move(*next);
    log_.set_level(spec_.loglevel);
    count_shared_streams();
    supervisor_.update(spec_);
    forget_removed_programs();
  }

  // Programs that went away take their output state with them.
  void forget_removed_programs() {
    std::erase_if(programs_, [this](const auto& entry) {
      const auto& live = supervisor_.programs();
      return std::none_of(live.begin(), live.end(),
                          [&](const auto& p) { return p.get() == entry.first; });
    });
  }

  void count_shared_streams() {
    programs_on_podvisor_streams_ = 0;
    for (const auto& p : spec_.programs) {
      const auto on_streams = [](const config::LogSpec& l) {
        return l.target == config::LogTarget::kStdout || l.target == config::LogTarget::kStderr;
      };
      if (on_streams(p.stdout_log) || on_streams(p.stderr_log)) ++programs_on_podvisor_streams_;
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
      if (auto it = probe_children_.find(pid); it != probe_children_.end()) {
        auto on_exit = std::move(it->second);
        probe_children_.erase(it);
        on_exit(status);
        return;
      }
      if (!supervisor_.on_child_exit(pid, status)) {
        log(LogLevel::kDebug, fmt::format("reaped orphan pid {}", pid));
      }
    });
  }

  // --- the control plane (control::Backend)

  // Opens [unix_http_server] and [inet_http_server]. A socket that cannot be opened stops
  // a config-mode start (exit 2), as in supervisord; single-command mode goes on without it.
  bool open_control_servers() {
    routes_ = std::make_unique<control::Routes>(*this);
    for (const bool inet : {false, true}) {
      const auto& server = inet ? spec_.inet_server : spec_.unix_server;
      if (!server) continue;
      control::ServerOptions o;
      if (!server->username.empty())
        o.auth = control::BasicAuth{server->username, server->password};
      if (!server->health_auth) o.public_paths = {"/health", "/ready", "/ping", "/metrics"};
      o.log = [this](LogLevel level, std::string_view line) { log(level, std::string(line)); };
      auto http = std::make_unique<control::HttpServer>(
          io_,
          [this](const control::Request& r, std::shared_ptr<control::Responder> responder) {
            routes_->handle(r, std::move(responder));
          },
          std::move(o));
      try {
        if (inet) {
          const auto port = http->listen_tcp(server->host, server->port);
          const auto host = server->host.empty() ? "127.0.0.1" : server->host;
          if (server_url_.empty()) server_url_ = fmt::format("http://{}:{}", host, port);
          log(LogLevel::kInfo, fmt::format("control server listening on {}:{}",
                                           server->host.empty() ? "*" : server->host, port));
        } else {
          http->listen_unix(server->file, server->chmod, server->uid, server->gid);
          server_url_ = fmt::format("unix://{}", server->file);
          log(LogLevel::kInfo, fmt::format("control server listening on {}", server->file));
        }
      } catch (const std::system_error& e) {
        if (!options_.reload) {
          log(LogLevel::kWarn, fmt::format("no control socket: {}", e.what()));
          continue;
        }
        log(LogLevel::kCritical, fmt::format("cannot open the control server: {}", e.what()));
        return false;
      }
      servers_.push_back(std::move(http));
    }
    return true;
  }

  core::Process* find_process(const std::string& group, const std::string& name) const {
    for (const auto& p : supervisor_.programs()) {
      if (p->spec().group == group && p->name() == name) return p.get();
    }
    return nullptr;
  }

  // A completion waiting for a program's state: `settled` returns true once it is done.
  struct Waiter {
    const core::Process* process;
    std::function<bool(const core::Process&)> settled;
  };

  void settle_waiters(const core::Process& p) {
    std::vector<std::function<bool(const core::Process&)>> ready;
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      if (it->process == &p) {
        ready.push_back(std::move(it->settled));
        it = waiters_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto& settled : ready) {
      if (!settled(p)) waiters_.push_back({&p, std::move(settled)});
    }
  }

  control::SupervisorState state() const override {
    return supervisor_.shutting_down() ? control::SupervisorState::kShutdown
                                       : control::SupervisorState::kRunning;
  }
  pid_t pid() const override { return getpid(); }
  std::string identification() const override { return spec_.identifier; }
  int64_t wall_now() const override { return static_cast<int64_t>(std::time(nullptr)); }

  void shutdown() override {
    asio::post(io_, [this] {
      log(LogLevel::kWarn, "received a shutdown request through the control server");
      supervisor_.request_shutdown();
    });
  }

  void restart() override {
    asio::post(io_, [this] {
      log(LogLevel::kWarn, "received a restart request through the control server");
      restart_requested_ = true;
      supervisor_.request_shutdown();
    });
  }

  // supervisord's restart: everything stopped, podvisor runs again from the start (as the same
  // pid: still PID 1 in a container), reading its configuration anew.
  [[noreturn]] void reexec() {
    std::ifstream in("/proc/self/cmdline", std::ios::binary);
    std::vector<std::string> args;
    for (std::string arg; std::getline(in, arg, '\0');) args.push_back(arg);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    os::reset_signals_in_child();
    ::execv("/proc/self/exe", argv.data());
    log_.log(LogLevel::kCritical, fmt::format("restart failed: exec: {}", std::strerror(errno)));
    std::_Exit(2);
  }

  std::vector<control::ProcessInfo> processes() const override {
    std::vector<control::ProcessInfo> out;
    for (const auto& p : supervisor_.programs()) {
      control::ProcessInfo info;
      info.name = p->name();
      info.group = p->spec().group;
      info.state = p->state();
      if (p->first_started_at() != Clock::time_point{}) info.start = wall_seconds(p->started_at());
      if (p->last_exit()) {
        info.stop = wall_seconds(p->exited_at());
        info.exitstatus = p->last_exit()->signaled ? -1 : p->last_exit()->code;
        info.last_exit_status = p->last_exit()->status();
      }
      info.pid = p->pid() > 0 ? p->pid() : 0;
      if (p->state() == core::State::kBackoff || p->state() == core::State::kFatal) {
        info.spawnerr = p->spawnerr();
      }
      const auto it = programs_.find(p.get());
      const ProgramIo* io = it == programs_.end() ? nullptr : it->second.get();
      info.stdout_logfile = log_path(*p, io, 0);
      info.stderr_logfile = log_path(*p, io, 1);
      info.note = supervisor_.held_back(*p);
      if (io && io->readiness && p->state() == core::State::kStarting) {
        info.note = fmt::format("waiting to be ready ({}, last: {})", p->spec().ready->text,
                                io->readiness->last());
      }
      if (io && !io->notify_status.empty() && info.note.empty()) info.note = io->notify_status;
      info.autostart = p->spec().autostart;
      info.has_ready_probe = p->spec().ready.has_value();
      info.oneshot = p->spec().oneshot;
      info.done = p->done();
      info.restarts = p->restarts();
      if (p->spec().ready && p->ready_after()) {
        info.ready_seconds = static_cast<double>(p->ready_after()->count()) / 1000.0;
      }
      if (io) {
        const auto latency = io->liveness    ? io->liveness->last_latency()
                             : io->readiness ? io->readiness->last_latency()
                                             : std::chrono::milliseconds(0);
        if (latency.count() > 0) {
          info.probe_latency_seconds = static_cast<double>(latency.count()) / 1000.0;
        }
      }
      out.push_back(std::move(info));
    }
    return out;
  }

  // The file a stream is logged to: the one open, else the configured path ("" for none).
  static std::string log_path(const core::Process& p, const ProgramIo* io, int stream) {
    if (io && io->files[stream]) return io->files[stream]->path();
    const auto& log = stream == 0 ? p.spec().stdout_log : p.spec().stderr_log;
    return log.target == config::LogTarget::kFile ? log.path : "";
  }

  void start(const std::string& group, const std::string& name, bool wait,
             control::Backend::Done done) override {
    auto* p = find_process(group, name);
    if (!p) return done({control::FaultCode::kBadName, ""});
    int error = 0;
    const auto& argv0 = p->spec().argv.empty() ? std::string() : p->spec().argv[0];
    const char* path = std::getenv("PATH");
    if (!argv0.empty() && !os::find_executable(argv0, path ? path : "", error)) {
      const auto code =
          error == ENOENT ? control::FaultCode::kNoFile : control::FaultCode::kNotExecutable;
      return done({code, error == ENOENT
                             ? fmt::format("can't find command '{}'", argv0)
                             : fmt::format("command at '{}' is not executable", argv0)});
    }
    supervisor_.start_process(*p);
    const auto verdict = [wait](const core::Process& q) -> std::optional<control::Outcome> {
      switch (q.state()) {
        case core::State::kRunning:
          return control::Outcome{};
        case core::State::kStarting:
          if (!wait) return control::Outcome{};
          return std::nullopt;
        case core::State::kBackoff:
        case core::State::kFatal:
          return control::Outcome{control::FaultCode::kSpawnError, ""};
        default:
          return control::Outcome{control::FaultCode::kAbnormalTermination, ""};
      }
    };
    if (auto now = verdict(*p)) return done(*now);
    waiters_.push_back({p, [this, verdict, done](const core::Process& q) {
                          auto v = verdict(q);
                          if (!v) return false;
                          asio::post(io_, [done, outcome = *v] { done(outcome); });
                          return true;
                        }});
  }

  void stop(const std::string& group, const std::string& name,
            control::Backend::Done done) override {
    auto* p = find_process(group, name);
    if (!p) return done({control::FaultCode::kBadName, ""});
    supervisor_.stop_process(*p);
    const auto stopped = [](const core::Process& q) {
      return core::is_stopped_state(q.state());
    };
    if (stopped(*p)) return done({});
    waiters_.push_back({p, [this, stopped, done](const core::Process& q) {
                          if (!stopped(q)) return false;
                          asio::post(io_, [done] { done({}); });
                          return true;
                        }});
  }

  control::Outcome signal(const std::string& group, const std::string& name, int signo) override {
    auto* p = find_process(group, name);
    if (!p) return {control::FaultCode::kBadName, ""};
    if (p->pid() <= 0) return {control::FaultCode::kNotRunning, ""};
    if (::kill(p->pid(), signo) != 0) return {control::FaultCode::kFailed, std::strerror(errno)};
    return {};
  }

  control::Outcome send_stdin(const std::string&, const std::string&, const std::string&) override {
    // Programs read /dev/null (or the terminal): podvisor keeps no stdin pipe.
    return {control::FaultCode::kNoFile, "Process has no stdin channel"};
  }

  std::optional<control::LogSource> process_log(const std::string& group, const std::string& name,
                                                control::Stream stream) const override {
    const auto* p = find_process(group, name);
    if (!p) return std::nullopt;
    const int s = stream == control::Stream::kStderr ? 1 : 0;
    const auto it = programs_.find(p);
    const ProgramIo* io = it == programs_.end() ? nullptr : it->second.get();
    control::LogSource source;
    source.path = log_path(*p, io, s);
    if (!source.path.empty()) return source;
    if (s == 1 && p->spec().redirect_stderr) return std::nullopt;
    if (!io) return source;
    const auto& ring = s == 0 ? io->out : io->err;
    source.recent = ring.contents();
    source.recent_end = ring.total();
    return source;
  }

  bool clear_process_logs(const std::string& group, const std::string& name) override {
    auto* p = find_process(group, name);
    if (!p) return false;
    auto& io = program_io(*p);
    bool ok = true;
    for (int s : {0, 1}) {
      try {
        if (io.files[s]) {
          io.files[s]->clear();
        } else if (const auto path = log_path(*p, &io, s); !path.empty()) {
          if (::truncate(path.c_str(), 0) != 0 && errno != ENOENT) ok = false;
        }
      } catch (const std::system_error&) {
        ok = false;
      }
      notify_watchers(io.log_watchers[s]);
    }
    io.out.clear();
    io.err.clear();
    io.combined.clear();
    return ok;
  }

  std::optional<control::LogSource> main_log() const override {
    control::LogSource source;
    if (logfile_) {
      source.path = logfile_->path();
      return source;
    }
    source.recent = main_ring_.contents();
    source.recent_end = main_ring_.total();
    return source;
  }

  control::Outcome clear_main_log() override {
    if (!logfile_) return {control::FaultCode::kNoFile, ""};
    try {
      logfile_->clear();
    } catch (const std::system_error& e) {
      return {control::FaultCode::kFailed, e.what()};
    }
    main_ring_.clear();
    notify_watchers(main_watchers_);
    return {};
  }

  std::shared_ptr<void> watch_log(const std::string& group, const std::string& name,
                                  control::Stream stream, std::function<void()> changed) override {
    auto handle = std::make_shared<std::function<void()>>(std::move(changed));
    if (name.empty()) {
      main_watchers_.push_back(handle);
    } else if (auto* p = find_process(group, name)) {
      program_io(*p).log_watchers[stream == control::Stream::kStderr ? 1 : 0].push_back(handle);
    }
    return handle;
  }

  std::variant<control::ConfigDiff, std::string> reread() override {
    if (!options_.reload) return std::string("podvisor runs one command: there is no file to read");
    try {
      pending_ = options_.reload();
    } catch (const config::ConfigError& e) {
      return std::string(e.what());
    }
    const auto groups_of = [](const config::SupervisorSpec& s) {
      std::map<std::string, std::vector<const config::ProgramSpec*>> groups;
      for (const auto& p : s.programs) groups[p.group].push_back(&p);
      return groups;
    };
    const auto now = groups_of(spec_), next = groups_of(*pending_);
    control::ConfigDiff diff;
    for (const auto& [group, programs] : next) {
      const auto it = now.find(group);
      if (it == now.end()) {
        diff.added.push_back(group);
      } else if (!std::equal(programs.begin(), programs.end(), it->second.begin(), it->second.end(),
                             [](auto* a, auto* b) { return *a == *b; })) {
        diff.changed.push_back(group);
      }
    }
    for (const auto& [group, programs] : now) {
      if (!next.count(group)) diff.removed.push_back(group);
    }
    return diff;
  }

  control::Outcome add_group(const std::string& group) override {
    const auto& source = pending_ ? *pending_ : spec_;
    std::vector<config::ProgramSpec> specs;
    for (const auto& p : source.programs) {
      if (p.group == group) specs.push_back(p);
    }
    if (specs.empty()) return {control::FaultCode::kBadName, ""};
    for (const auto& p : supervisor_.programs()) {
      if (p->spec().group == group) return {control::FaultCode::kAlreadyAdded, ""};
    }
    for (const auto& p : specs) spec_.programs.push_back(p);
    count_shared_streams();
    supervisor_.add_programs(specs);
    return {};
  }

  control::Outcome remove_group(const std::string& group) override {
    const auto& live = supervisor_.programs();
    if (std::none_of(live.begin(), live.end(),
                     [&](const auto& p) { return p->spec().group == group; })) {
      return {control::FaultCode::kBadName, ""};
    }
    if (!supervisor_.remove_group(group)) return {control::FaultCode::kStillRunning, ""};
    std::erase_if(spec_.programs, [&](const auto& p) { return p.group == group; });
    forget_removed_programs();
    count_shared_streams();
    return {};
  }

  std::vector<control::ConfigInfo> config_info() const override {
    std::vector<control::ConfigInfo> out;
    for (const auto& p : (pending_ ? *pending_ : spec_).programs) {
      control::ConfigInfo info;
      info.spec = p;
      info.group_priority = p.priority;
      const auto& live = supervisor_.programs();
      info.in_use = std::any_of(live.begin(), live.end(),
                                [&](const auto& q) { return q->spec().group == p.group; });
      if (const auto* q = find_process(p.group, p.name)) {
        const auto it = programs_.find(q);
        const ProgramIo* io = it == programs_.end() ? nullptr : it->second.get();
        for (int s : {0, 1}) {
          const auto path = log_path(*q, io, s);
          auto& log = s == 0 ? info.spec.stdout_log : info.spec.stderr_log;
          if (!path.empty()) log.path = path;
        }
      }
      out.push_back(std::move(info));
    }
    return out;
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
    stderr_sink_.write(core::format_report(r));
  }

  config::SupervisorSpec spec_;
  RuntimeOptions options_;
  output::Logger& log_;
  asio::io_context io_;
  output::OutputSink stdout_sink_{io_, STDOUT_FILENO};
  output::OutputSink stderr_sink_{io_, STDERR_FILENO};
  std::unique_ptr<output::LogFile> logfile_;  // [supervisord] logfile when it is a file
  os::SignalFd signals_;
  asio::posix::stream_descriptor signal_stream_;
  std::vector<char> buffer_;
  std::map<const core::Process*, std::unique_ptr<ProgramIo>> programs_;
  std::map<pid_t, std::function<void(int)>> probe_children_;  // exec probes running
  output::RingBuffer main_ring_;  // podvisor's own recent lines, without a log file
  std::list<std::weak_ptr<std::function<void()>>> main_watchers_;
  std::list<Waiter> waiters_;
  std::optional<config::SupervisorSpec> pending_;  // read by reread, not applied yet
  std::unique_ptr<control::Routes> routes_;
  std::vector<std::unique_ptr<control::HttpServer>> servers_;
  std::string server_url_;  // SUPERVISOR_SERVER_URL for the programs
  bool restart_requested_ = false;
  int programs_on_podvisor_streams_ = 0;
  core::Supervisor supervisor_;
  std::optional<core::Supervisor::Outcome> outcome_;
};

}  // namespace

int run_supervisor(const config::SupervisorSpec& spec, const RuntimeOptions& options,
                   output::Logger& log) {
  Runtime runtime(spec, options, log);
  return runtime.run();
}

}  // namespace podvisor::runtime
