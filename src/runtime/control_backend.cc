#include "runtime/control_backend.h"

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "config/ini.h"
#include "core/order.h"
#include "os/spawn.h"

namespace podvisor::runtime {
namespace {

namespace asio = boost::asio;
using config::LogLevel;
using core::Clock;

// Where a steady-clock instant falls on the wall clock, in seconds (display only).
int64_t wall_seconds(Clock::time_point t) {
  const auto ago = Clock::now() - t;
  return std::chrono::duration_cast<std::chrono::seconds>(
             (std::chrono::system_clock::now() - ago).time_since_epoch())
      .count();
}

control::Outcome to_fault(core::RequestOutcome o) {
  switch (o) {
    case core::RequestOutcome::kSpawnError:
      return {control::FaultCode::kSpawnError, ""};
    case core::RequestOutcome::kAbnormalTermination:
      return {control::FaultCode::kAbnormalTermination, ""};
    default:
      return {};
  }
}

}  // namespace

ControlBackend::ControlBackend(Loop& loop, core::Supervisor& supervisor, ProgramIoTable& programs,
                               MainLog& main_log, config::SupervisorSpec& spec,
                               std::function<config::SupervisorSpec()> reload, output::Logger& log)
    : loop_(loop),
      supervisor_(supervisor),
      programs_(programs),
      main_log_(main_log),
      spec_(spec),
      reload_(std::move(reload)),
      log_(log) {
  supervisor_.set_listener([this](const core::Process& p, core::State) { settle_waiters(p); });
}

void ControlBackend::reload() {
  log_.log(LogLevel::kWarn, "received SIGHUP indicating restart request");
  std::optional<config::SupervisorSpec> next;
  try {
    next = reload_();
  } catch (const config::ConfigError& e) {
    log_.log(LogLevel::kError, e.what());
    log_.log(LogLevel::kError, "reload failed: the file is invalid; carrying on with the old one");
    return;
  }
  pending_.reset();
  spec_ = std::move(*next);
  log_.set_level(spec_.loglevel);
  programs_.count_shared_streams();
  supervisor_.update(spec_);
  programs_.forget_all_but(supervisor_.programs());
}

control::SupervisorState ControlBackend::state() const {
  return supervisor_.shutting_down() ? control::SupervisorState::kShutdown
                                     : control::SupervisorState::kRunning;
}

pid_t ControlBackend::pid() const { return getpid(); }

int64_t ControlBackend::wall_now() const { return static_cast<int64_t>(std::time(nullptr)); }

void ControlBackend::shutdown() {
  asio::post(loop_.io(), [this] {
    log_.log(LogLevel::kWarn, "received a shutdown request through the control server");
    supervisor_.request_shutdown();
  });
}

void ControlBackend::restart() {
  asio::post(loop_.io(), [this] {
    log_.log(LogLevel::kWarn, "received a restart request through the control server");
    restart_requested_ = true;
    supervisor_.request_shutdown();
  });
}

core::Process* ControlBackend::find_process(const std::string& group,
                                            const std::string& name) const {
  for (const auto& p : supervisor_.programs()) {
    if (p->spec().group == group && p->name() == name) return p.get();
  }
  return nullptr;
}

void ControlBackend::settle_waiters(const core::Process& p) {
  if (waiters_.empty()) return;
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

void ControlBackend::complete_when(
    const core::Process& p, std::function<core::RequestOutcome(const core::Process&)> outcome,
    Done done) {
  if (const auto now = outcome(p); now != core::RequestOutcome::kPending) {
    return done(to_fault(now));
  }
  waiters_.push_back({&p, [this, outcome, done](const core::Process& q) {
                        const auto v = outcome(q);
                        if (v == core::RequestOutcome::kPending) return false;
                        asio::post(loop_.io(), [done, fault = to_fault(v)] { done(fault); });
                        return true;
                      }});
}

std::vector<control::ProcessInfo> ControlBackend::processes() const {
  std::vector<control::ProcessInfo> out;
  std::vector<const core::Process*> listed;
  for (const auto& p : supervisor_.programs()) listed.push_back(p.get());
  std::stable_sort(listed.begin(), listed.end(), [](const auto* a, const auto* b) {
    return core::listed_before(a->spec(), b->spec());
  });
  for (const auto* p : listed) {
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
    const ProgramIo* io = programs_.find(*p);
    info.stdout_logfile = programs_.log_path(*p, 0);
    info.stderr_logfile = programs_.log_path(*p, 1);
    for (int s : {0, 1}) {
      if (io && io->files[s]) info.log_dropped_bytes[s] = io->files[s]->dropped_bytes();
    }
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

void ControlBackend::start(const std::string& group, const std::string& name, bool wait,
                           Done done) {
  auto* p = find_process(group, name);
  if (!p) return done({control::FaultCode::kBadName, ""});
  int error = 0;
  const auto& argv0 = p->spec().argv.empty() ? std::string() : p->spec().argv[0];
  const char* path = std::getenv("PATH");
  if (!argv0.empty() && !os::find_executable(argv0, path ? path : "", error)) {
    const auto code =
        error == ENOENT ? control::FaultCode::kNoFile : control::FaultCode::kNotExecutable;
    return done({code, error == ENOENT ? fmt::format("can't find command '{}'", argv0)
                                       : fmt::format("command at '{}' is not executable", argv0)});
  }
  supervisor_.start_process(*p);
  complete_when(
      *p, [wait](const core::Process& q) { return core::start_outcome(q.state(), wait); },
      std::move(done));
}

void ControlBackend::stop(const std::string& group, const std::string& name, Done done) {
  auto* p = find_process(group, name);
  if (!p) return done({control::FaultCode::kBadName, ""});
  supervisor_.stop_process(*p);
  complete_when(
      *p, [](const core::Process& q) { return core::stop_outcome(q.state()); }, std::move(done));
}

control::Outcome ControlBackend::signal(const std::string& group, const std::string& name,
                                        int signo) {
  auto* p = find_process(group, name);
  if (!p) return {control::FaultCode::kBadName, ""};
  if (p->pid() <= 0) return {control::FaultCode::kNotRunning, ""};
  if (::kill(p->pid(), signo) != 0) return {control::FaultCode::kFailed, std::strerror(errno)};
  return {};
}

control::Outcome ControlBackend::send_stdin(const std::string&, const std::string&,
                                            const std::string&) {
  // Programs read /dev/null (or the terminal): podvisor keeps no stdin pipe.
  return {control::FaultCode::kNoFile, "Process has no stdin channel"};
}

std::optional<control::LogSource> ControlBackend::process_log(const std::string& group,
                                                              const std::string& name,
                                                              control::Stream stream) const {
  const auto* p = find_process(group, name);
  if (!p) return std::nullopt;
  const int s = stream == control::Stream::kStderr ? 1 : 0;
  control::LogSource source;
  source.path = programs_.log_path(*p, s);
  if (!source.path.empty()) return source;
  if (s == 1 && p->spec().redirect_stderr) return std::nullopt;
  const ProgramIo* io = programs_.find(*p);
  if (!io) return source;
  const auto& ring = s == 0 ? io->out : io->err;
  source.recent = ring.contents();
  source.recent_end = ring.total();
  return source;
}

bool ControlBackend::clear_process_logs(const std::string& group, const std::string& name) {
  auto* p = find_process(group, name);
  return p && programs_.clear(*p);
}

std::optional<control::LogSource> ControlBackend::main_log() const {
  control::LogSource source;
  if (main_log_.file) {
    source.path = main_log_.file->path();
    return source;
  }
  source.recent = main_log_.ring.contents();
  source.recent_end = main_log_.ring.total();
  return source;
}

control::Outcome ControlBackend::clear_main_log() {
  if (!main_log_.file) return {control::FaultCode::kNoFile, ""};
  try {
    main_log_.file->clear();
  } catch (const std::system_error& e) {
    return {control::FaultCode::kFailed, e.what()};
  }
  main_log_.ring.clear();
  notify_watchers(main_log_.watchers);
  return {};
}

std::shared_ptr<void> ControlBackend::watch_log(const std::string& group, const std::string& name,
                                                control::Stream stream,
                                                std::function<void()> changed) {
  auto handle = std::make_shared<std::function<void()>>(std::move(changed));
  if (name.empty()) {
    main_log_.watchers.push_back(handle);
  } else if (auto* p = find_process(group, name)) {
    programs_.of(*p).log_watchers[stream == control::Stream::kStderr ? 1 : 0].push_back(handle);
  }
  return handle;
}

std::variant<control::ConfigDiff, std::string> ControlBackend::reread() {
  if (!reload_) return std::string("podvisor runs one command: there is no file to read");
  try {
    pending_ = reload_();
  } catch (const config::ConfigError& e) {
    return std::string(e.what());
  }
  auto diff = core::diff_groups(spec_, *pending_);
  return control::ConfigDiff{std::move(diff.added), std::move(diff.changed),
                             std::move(diff.removed)};
}

control::Outcome ControlBackend::add_group(const std::string& group) {
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
  programs_.count_shared_streams();
  supervisor_.add_programs(specs);
  return {};
}

control::Outcome ControlBackend::remove_group(const std::string& group) {
  const auto& live = supervisor_.programs();
  if (std::none_of(live.begin(), live.end(),
                   [&](const auto& p) { return p->spec().group == group; })) {
    return {control::FaultCode::kBadName, ""};
  }
  if (!supervisor_.remove_group(group)) return {control::FaultCode::kStillRunning, ""};
  std::erase_if(spec_.programs, [&](const auto& p) { return p.group == group; });
  programs_.forget_all_but(supervisor_.programs());
  programs_.count_shared_streams();
  return {};
}

std::vector<control::ConfigInfo> ControlBackend::config_info() const {
  std::vector<control::ConfigInfo> out;
  for (const auto& p : (pending_ ? *pending_ : spec_).programs) {
    control::ConfigInfo info;
    info.spec = p;
    info.group_priority = p.group_priority.value_or(p.priority);
    const auto& live = supervisor_.programs();
    info.in_use = std::any_of(live.begin(), live.end(),
                              [&](const auto& q) { return q->spec().group == p.group; });
    if (const auto* q = find_process(p.group, p.name)) {
      for (int s : {0, 1}) {
        const auto path = programs_.log_path(*q, s);
        auto& log = s == 0 ? info.spec.stdout_log : info.spec.stderr_log;
        if (!path.empty()) log.path = path;
      }
    }
    out.push_back(std::move(info));
  }
  return out;
}

void ControlBackend::refresh_gpus(std::chrono::milliseconds deadline, std::function<void()> done) {
  if (!gpu_) return done();
  gpu_->refresh(deadline, std::move(done));
}

std::vector<gpu::ProgramGpu> ControlBackend::gpu_programs() const {
  if (!gpu_ || !gpu_->status().wanted || !gpu_programs_) return {};
  return gpu_programs_();
}

std::string ControlBackend::gpu_metrics() const {
  if (!gpu_) return {};
  return gpu::render_gpu_metrics(gpu_->status()) +
         gpu::render_program_gpu_metrics(gpu_programs(), [this](const std::string& name) {
           for (const auto& p : supervisor_.programs()) {
             if (p->name() == name) return p->spec().group;
           }
           return name;
         });
}

std::string ControlBackend::gpu_json() const {
  return gpu::render_gpu_json(gpu_ ? gpu_->status() : gpu::GpuStatus{}, gpu_programs());
}

std::optional<std::string> ControlBackend::gpu_unhealthy() const {
  return gpu_ ? gpu::gpu_unhealthy(gpu_->status()) : std::nullopt;
}

}  // namespace podvisor::runtime
