#include "runtime/driver.h"

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <system_error>

#include "os/spawn.h"

namespace podvisor::runtime {

using config::LogLevel;

Driver::Driver(Loop& loop, ProgramIoTable& programs, const config::SupervisorSpec& spec,
               bool terminal, output::Logger& log)
    : loop_(loop),
      programs_(programs),
      spec_(spec),
      terminal_(terminal),
      log_(log),
      gpu_(loop.io(), log) {
  gpu_.set_running([this] {
    std::vector<gpu::Leader> out;
    if (!supervisor_) return out;
    for (const auto& p : supervisor_->programs()) {
      if (p->pid() > 0) out.push_back({p->name(), p->pid()});
    }
    return out;
  });
}

// The program's environment: podvisor's, [supervisord] environment, the program's, and
// supervisord's identity variables; NOTIFY_SOCKET for ready=notify. Throws std::system_error
// when the notify socket cannot be opened.
std::vector<std::string> Driver::environment(core::Process& p, ProgramIo& io) {
  std::map<std::string, std::string> identity{{"SUPERVISOR_ENABLED", "1"},
                                              {"SUPERVISOR_PROCESS_NAME", p.name()},
                                              {"SUPERVISOR_GROUP_NAME", p.spec().group}};
  if (!server_url_.empty()) identity["SUPERVISOR_SERVER_URL"] = server_url_;
  auto merged = os::build_environment({spec_.environment, p.spec().environment, identity});
  // PYTHONUNBUFFERED=1 (seed 001's lost logs) and PYTHONFAULTHANDLER=1 (a native crash
  // prints the Python stack), each only where nobody set it.
  for (const std::string python : {"PYTHONUNBUFFERED=", "PYTHONFAULTHANDLER="}) {
    bool set = false;
    for (const auto& e : merged) set |= e.starts_with(python);
    if (!set) merged.push_back(python + "1");
  }
  if (p.spec().ready && p.spec().ready->kind == config::ProbeSpec::Kind::kNotify) {
    if (!io.notify) {
      io.notify = std::make_unique<probe::NotifySocket>(
          loop_.io(), p.name(), [this, &p](const auto& m) { programs_.on_notify(p, m); },
          [&p] { return p.pid(); },
          [this](const std::string& line) { log(LogLevel::kWarn, line); });
    }
    std::erase_if(merged, [](const auto& e) { return e.starts_with("NOTIFY_SOCKET="); });
    merged.push_back(fmt::format("NOTIFY_SOCKET={}", io.notify->address()));
  }
  return merged;
}

core::ProcessDriver::Spawned Driver::spawn(core::Process& p) {
  auto& io = programs_.of(p);
  os::SpawnRequest request;
  request.argv = p.spec().argv;
  request.directory = p.spec().directory;
  request.take_terminal = terminal_;
  try {
    request.env = environment(p, io);
  } catch (const std::system_error& e) {
    return {-1, e.code().value(), fmt::format("notify socket: {}", e.what()), false};
  }
  request.umask = p.spec().umask;
  if (!p.spec().user.empty()) {
    if (geteuid() != 0 && geteuid() != p.spec().uid) {
      return {-1, EPERM, fmt::format("cannot run as user {}: podvisor is not root", p.spec().user),
              false};
    }
    request.uid = p.spec().uid;
    request.gid = p.spec().gid;
    request.groups = p.spec().groups;
  }
  ProgramIoTable::Pipes pipes;
  try {
    if (!terminal_) programs_.open_pipes(p, request, pipes);
  } catch (const std::system_error& e) {
    // Out of descriptors (EMFILE, ENFILE) or memory: a failed spawn, retried after a delay.
    programs_.attach(p, pipes, false);
    return {-1, e.code().value(), fmt::format("cannot open the output pipes: {}", e.what()), false};
  }
  // Without a Supervisor to route the exit to, nobody would settle a pending exec.
  auto result = os::spawn(request, /*wait_exec=*/supervisor_ == nullptr);
  programs_.attach(p, pipes, result.pid > 0);
  if (result.pid <= 0) {
    return {result.pid, result.error,    result.message,     result.command_unusable,
            false,      result.spawnerr, result.failed_child};
  }
  bool pending = false;
  if (result.exec_report >= 0) pending = watch_exec(p, io, result.exec_report);
  if (supervisor_) {
    // One lookup routes the exit: the loop finds the pid, the driver settles the exec report
    // and hands the exit to the Supervisor. Two pointers: small enough for std::function to
    // keep without an allocation.
    loop_.watch(result.pid,
                [this, process = &p](int wait_status) { on_child_exit(*process, wait_status); });
  }
  return {result.pid, 0, "", false, pending};
}

bool Driver::watch_exec(core::Process& p, ProgramIo& io, int report_fd) {
  try {
    io.exec = std::make_unique<PendingExec>(loop_.io(), report_fd);
  } catch (const std::exception& e) {
    // The loop cannot watch the pipe: wait for the exec here, as a lone spawn would.
    ::close(report_fd);
    log(LogLevel::kWarn, fmt::format("{}: exec report not watched: {}", p.name(), e.what()));
    return false;
  }
  arm_exec_report(p, io);
  return true;
}

void Driver::arm_exec_report(core::Process& p, ProgramIo& io) {
  io.exec->report.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                             [this, &p](const boost::system::error_code& ec) {
                               if (!ec) on_exec_report(p);
                             });
}

void Driver::on_exec_report(core::Process& p) {
  auto& io = programs_.of(p);
  if (!io.exec) return;
  os::ExecFailure failure;
  switch (os::read_exec_report(io.exec->report.native_handle(), failure)) {
    case os::ExecReport::kPending:
      arm_exec_report(p, io);
      return;
    case os::ExecReport::kFailed:
      // Acted on at the child's exit, which follows: its status must not count as a run.
      io.exec->failure = failure;
      io.exec->report.close();
      return;
    case os::ExecReport::kExecuted:
      io.exec.reset();
      p.on_exec();
      return;
  }
}

void Driver::on_child_exit(core::Process& p, int wait_status) {
  auto& io = programs_.of(p);
  if (auto exec = std::move(io.exec)) {
    auto failure = exec->failure;
    os::ExecFailure read{};
    if (!failure && exec->report.is_open() &&
        os::read_exec_report(exec->report.native_handle(), read) == os::ExecReport::kFailed) {
      failure = read;
    }
    if (failure) {
      const auto r = os::failed_spawn(*failure, p.spec().argv.front(), p.spec().directory);
      supervisor_->on_exec_failed(p, {-1, r.error, r.message, r.command_unusable});
      return;
    }
    p.on_exec();  // it ran, however briefly: the exit is a run's
  }
  supervisor_->on_child_exit(p, wait_status);
}

void Driver::kill(pid_t pid, int signo, bool group) {
  if (pid <= 0) return;
  if (group && ::kill(-pid, signo) == 0) return;
  if (::kill(pid, signo) != 0 && errno != ESRCH) {
    log(LogLevel::kWarn,
        fmt::format("kill({}, {}): {}", pid, config::signal_name(signo), std::strerror(errno)));
  }
}

void Driver::kill_group(pid_t pgid, int signo) {
  if (pgid <= 0) return;
  if (::kill(-pgid, signo) == 0) {
    log(LogLevel::kWarn, fmt::format("sent {} to the processes left in process group {}",
                                     config::signal_name(signo), pgid));
  } else if (errno != ESRCH) {  // ESRCH: nothing was left, the usual case
    log(LogLevel::kWarn,
        fmt::format("kill(-{}, {}): {}", pgid, config::signal_name(signo), std::strerror(errno)));
  }
}

void Driver::arm_timer(core::Process& p, core::Clock::duration after) {
  auto& timer = programs_.of(p).timer;
  timer.expires_after(after);
  timer.async_wait([&p](const boost::system::error_code& ec) {
    if (!ec) p.on_timer();
  });
}

void Driver::cancel_timer(core::Process& p) { programs_.of(p).timer.cancel(); }

void Driver::start_readiness(core::Process& p) {
  auto& io = programs_.of(p);
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
      loop_.io(), probe::make_probe(spec, loop_.io(), loop_, p.spec().ready_status), std::move(o));
  io.readiness->start();
}

void Driver::start_liveness(core::Process& p) {
  auto& io = programs_.of(p);
  probe::LivenessOptions o;
  o.interval = p.spec().live_interval;
  o.failures = p.spec().live_failures;
  o.on_failed = [&p](const std::string& last) { p.on_live_failed(last); };
  io.liveness = std::make_shared<probe::LivenessWatch>(
      loop_.io(), probe::make_probe(*p.spec().live, loop_.io(), loop_), std::move(o));
  io.liveness->start();
}

void Driver::stop_probes(core::Process& p) {
  auto& io = programs_.of(p);
  if (io.readiness) io.readiness->stop();
  if (io.liveness) io.liveness->stop();
  io.readiness.reset();
  io.liveness.reset();
  io.log_matcher.reset();
}

}  // namespace podvisor::runtime
