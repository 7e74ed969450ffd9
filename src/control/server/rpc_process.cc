// supervisord's process and supervisor methods: state, start, stop, signal, info, stdin,
// groups; single-process operations alone and over a group (make_allfunc).
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <ctime>
#include <memory>
#include <tuple>
#include <utility>

#include "config/values.h"
#include "control/server/rpc_methods.h"
#include "core/requests.h"

namespace podvisor::control {

// ---------------------------------------------------------------------------------------------
// Descriptions

namespace {

// Python's str(timedelta) for whole seconds: "0:01:40", "1 day, 2:03:04", "3 days, 0:00:00".
std::string format_uptime(int64_t seconds) {
  const int64_t days = seconds / 86400;
  const int64_t rest = seconds % 86400;
  auto clock = fmt::format("{}:{:02}:{:02}", rest / 3600, rest / 60 % 60, rest % 60);
  if (days == 0) return clock;
  return fmt::format("{} day{}, {}", days, days == 1 ? "" : "s", clock);
}

std::string format_stop_time(int64_t when) {
  const time_t t = static_cast<time_t>(when);
  struct tm local {};
  if (localtime_r(&t, &local) == nullptr) return {};
  char buf[64];
  const size_t n = strftime(buf, sizeof buf, "%b %d %I:%M %p", &local);
  return std::string(buf, n);
}

}  // namespace

std::string describe(const ProcessInfo& info, int64_t now) {
  switch (info.state) {
    case core::State::kRunning:
      return fmt::format("pid {}, uptime {}", info.pid,
                         format_uptime(std::max<int64_t>(now - info.start, 0)));
    case core::State::kFatal:
    case core::State::kBackoff:
      if (!info.spawnerr.empty()) return info.spawnerr;
      return fmt::format("unknown error (try \"tail {}\")", info.name);
    case core::State::kStopped:
    case core::State::kExited:
      if (info.start != 0) return format_stop_time(info.stop);
      if (info.state == core::State::kStopped && !info.note.empty()) return info.note;
      return "Not started";
    case core::State::kStarting:
      return info.note;
    default:
      return "";
  }
}

namespace rpc_methods {

namespace {

// --- asynchronous single-process operations, used alone and by the group operations

using FaultDone = std::function<void(std::optional<Fault>)>;

void start_one(Backend& backend, const ProcessInfo& p, const std::string& spelled, bool wait,
               FaultDone done) {
  if (core::is_running_state(p.state)) return done(make_fault(FaultCode::kAlreadyStarted, spelled));
  if (p.state == core::State::kUnknown) {
    return done(
        make_fault(FaultCode::kFailed, fmt::format("{} is in an unknown process state", spelled)));
  }
  backend.start(p.group, p.name, wait,
                [done = std::move(done), spelled](Outcome o) { done(outcome_fault(o, spelled)); });
}

// Without wait, the answer comes as soon as the stop is under way, unless it failed at once.
void stop_one(Backend& backend, const ProcessInfo& p, const std::string& spelled, bool wait,
              FaultDone done) {
  if (!core::is_running_state(p.state)) return done(make_fault(FaultCode::kNotRunning, spelled));
  auto answered = std::make_shared<bool>(false);
  auto shared_done = std::make_shared<FaultDone>(std::move(done));
  backend.stop(p.group, p.name, [answered, shared_done, spelled](Outcome o) {
    if (std::exchange(*answered, true)) return;
    (*shared_done)(outcome_fault(o, spelled));
  });
  if (!wait && !std::exchange(*answered, true)) (*shared_done)(std::nullopt);
}

std::optional<Fault> signal_one(Backend& backend, const ProcessInfo& p, const std::string& spelled,
                                const Value& signal) {
  int signo = 0;
  try {
    if (const auto n = as_int(signal); n && !std::holds_alternative<std::string>(signal.v)) {
      signo = static_cast<int>(config::parse_int(std::to_string(*n), 1, SIGRTMAX));
    } else if (const auto s = as_string(signal)) {
      signo = config::parse_signal(*s);
    } else {
      throw config::ValueError("not a signal");
    }
  } catch (const config::ValueError&) {
    return make_fault(FaultCode::kBadSignal, python_str(signal));
  }
  if (!core::is_signallable_state(p.state)) return make_fault(FaultCode::kNotRunning, spelled);
  return outcome_fault(backend.signal(p.group, p.name, signo), spelled);
}

// make_allfunc: runs `op` on every process of `targets` (in request order), collects one
// status struct each, and lists them as supervisord would (core::result_order).
using AsyncOp = std::function<void(const ProcessInfo&, const std::string& spelled, FaultDone done)>;

void for_each_process(const std::vector<ProcessInfo>& targets, const AsyncOp& op, Reply reply) {
  using Clock = std::chrono::steady_clock;
  struct Batch {
    Clock::time_point asked = Clock::now();
    std::vector<std::optional<Value>> results;
    std::vector<std::optional<std::chrono::milliseconds>> settled_after;
    size_t waiting = 0;
    bool launched = false;
    Reply reply;
    void finish_if_done() {
      if (!launched || waiting != 0 || !reply) return;
      Array out;
      for (const auto i : core::result_order(settled_after)) out.push_back(std::move(*results[i]));
      auto r = std::move(reply);
      reply = nullptr;
      r(Value(std::move(out)));
    }
  };
  auto batch = std::make_shared<Batch>();
  batch->reply = std::move(reply);
  batch->results.resize(targets.size());
  batch->settled_after.resize(targets.size());
  for (size_t i = 0; i < targets.size(); ++i) {
    const auto& p = targets[i];
    auto inside = std::make_shared<bool>(true);
    ++batch->waiting;
    op(p, make_namespec(p.group, p.name), [batch, inside, p, i](std::optional<Fault> fault) {
      batch->results[i] = status_struct(p, fault);
      if (!*inside) {
        batch->settled_after[i] =
            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - batch->asked);
      }
      --batch->waiting;
      batch->finish_if_done();
    });
    *inside = false;
  }
  batch->launched = true;
  batch->finish_if_done();
}

}  // namespace

// --- handlers

void get_api_version(Backend&, const Array&, Reply& reply) { reply(Value("3.0")); }

void get_supervisor_version(Backend&, const Array&, Reply& reply) {
  reply(Value(PODVISOR_VERSION));
}

void get_identification(Backend& b, const Array&, Reply& reply) {
  reply(Value(b.identification()));
}

void get_state(Backend& b, const Array&, Reply& reply) {
  const auto state = b.state();
  std::string_view name = "UNKNOWN";
  switch (state) {
    case SupervisorState::kFatal:
      name = "FATAL";
      break;
    case SupervisorState::kRunning:
      name = "RUNNING";
      break;
    case SupervisorState::kRestarting:
      name = "RESTARTING";
      break;
    case SupervisorState::kShutdown:
      name = "SHUTDOWN";
      break;
  }
  reply(Value(Struct{{"statecode", Value(static_cast<int>(state))},
                     {"statename", Value(std::string(name))}}));
}

void get_pid(Backend& b, const Array&, Reply& reply) { reply(Value(static_cast<int>(b.pid()))); }

void shutdown(Backend& b, const Array&, Reply& reply) {
  b.shutdown();
  reply(ok_result());
}

void restart(Backend& b, const Array&, Reply& reply) {
  b.restart();
  reply(ok_result());
}

void reload_config(Backend& b, const Array&, Reply& reply) {
  auto r = b.reread();
  if (auto* error = std::get_if<std::string>(&r)) {
    return reply(make_fault(FaultCode::kCantReread, *error));
  }
  const auto& diff = std::get<ConfigDiff>(r);
  auto names = [](const std::vector<std::string>& v) {
    Array a;
    for (const auto& n : v) a.emplace_back(n);
    return Value(std::move(a));
  };
  reply(Value(Array{Value(Array{names(diff.added), names(diff.changed), names(diff.removed)})}));
}

void add_process_group(Backend& b, const Array& p, Reply& reply) {
  const auto name = as_string(p[0]);
  if (!name) return reply(incorrect_parameters());
  const auto o = b.add_group(*name);
  if (o.ok()) return reply(ok_result());
  reply(make_fault(o.code, *name));
}

void remove_process_group(Backend& b, const Array& p, Reply& reply) {
  const auto name = as_string(p[0]);
  if (!name) return reply(incorrect_parameters());
  const auto o = b.remove_group(*name);
  if (o.ok()) return reply(ok_result());
  reply(make_fault(o.code, *name));
}

static void start_process_group_named(Backend& b, const std::string& group, bool wait,
                                      Reply& reply) {
  const auto all = b.processes();
  auto members = group_members(all, group);
  if (members.empty()) return reply(make_fault(FaultCode::kBadName, group));
  std::erase_if(members, [](const ProcessInfo& p) { return core::is_running_state(p.state); });
  for_each_process(
      members,
      [&b, wait](const ProcessInfo& p, const std::string& spelled, FaultDone done) {
        start_one(b, p, spelled, wait, std::move(done));
      },
      std::move(reply));
}

// startProcess and stopProcess: the one process named, or every process of "group:*".
using OneAction = void (*)(Backend&, const ProcessInfo&, const std::string&, bool, FaultDone);
using GroupAction = void (*)(Backend&, const std::string&, bool, Reply&);
static void one_or_group(Backend& b, const Array& p, Reply& reply, OneAction one,
                         GroupAction group) {
  const auto name = as_string(p[0]);
  if (!name) return reply(incorrect_parameters());
  const bool wait = wait_param(p, 1);
  auto target = find_target(b.processes(), *name);
  if (auto* f = std::get_if<Fault>(&target)) return reply(*f);
  auto& t = std::get<Target>(target);
  if (!t.process) return group(b, t.group, wait, reply);
  one(b, *t.process, *name, wait, [reply = std::move(reply)](std::optional<Fault> f) {
    if (f) return reply(*f);
    reply(ok_result());
  });
}

// startProcessGroup and stopProcessGroup: (name, wait=True) to a group operation.
using GroupOperation = void (*)(Backend&, const std::string&, bool, Reply&);
static void with_group_name(Backend& b, const Array& p, Reply& reply, GroupOperation op) {
  const auto name = as_string(p[0]);
  if (!name) return reply(incorrect_parameters());
  op(b, *name, wait_param(p, 1), reply);
}

void start_process(Backend& b, const Array& p, Reply& reply) {
  one_or_group(b, p, reply, start_one, start_process_group_named);
}

void start_process_group(Backend& b, const Array& p, Reply& reply) {
  with_group_name(b, p, reply, start_process_group_named);
}

void start_all_processes(Backend& b, const Array& p, Reply& reply) {
  auto all = b.processes();
  std::erase_if(all, [](const ProcessInfo& i) { return core::is_running_state(i.state); });
  const bool wait = wait_param(p, 0);
  for_each_process(
      all,
      [&b, wait](const ProcessInfo& i, const std::string& spelled, FaultDone done) {
        start_one(b, i, spelled, wait, std::move(done));
      },
      std::move(reply));
}

// Stops are issued in request order, as supervisord does (not reversed: the order of a
// shutdown is the supervisor's own, not this request's).
static void stop_processes(Backend& b, std::vector<ProcessInfo> targets, bool wait, Reply& reply) {
  std::erase_if(targets, [](const ProcessInfo& i) { return !core::is_running_state(i.state); });
  for_each_process(
      targets,
      [&b, wait](const ProcessInfo& i, const std::string& spelled, FaultDone done) {
        stop_one(b, i, spelled, wait, std::move(done));
      },
      std::move(reply));
}

static void stop_process_group_named(Backend& b, const std::string& group, bool wait,
                                     Reply& reply) {
  auto members = group_members(b.processes(), group);
  if (members.empty()) return reply(make_fault(FaultCode::kBadName, group));
  stop_processes(b, std::move(members), wait, reply);
}

void stop_process(Backend& b, const Array& p, Reply& reply) {
  one_or_group(b, p, reply, stop_one, stop_process_group_named);
}

void stop_process_group(Backend& b, const Array& p, Reply& reply) {
  with_group_name(b, p, reply, stop_process_group_named);
}

void stop_all_processes(Backend& b, const Array& p, Reply& reply) {
  stop_processes(b, b.processes(), wait_param(p, 0), reply);
}

static void signal_processes(Backend& b, std::vector<ProcessInfo> targets, const Value& signal,
                             Reply& reply) {
  std::erase_if(targets, [](const ProcessInfo& i) { return !core::is_signallable_state(i.state); });
  Array results;
  for (const auto& t : targets) {
    results.push_back(status_struct(t, signal_one(b, t, make_namespec(t.group, t.name), signal)));
  }
  reply(Value(std::move(results)));
}

void signal_process(Backend& b, const Array& p, Reply& reply) {
  const auto name = as_string(p[0]);
  if (!name) return reply(incorrect_parameters());
  const auto all = b.processes();
  auto target = find_target(all, *name);
  if (auto* f = std::get_if<Fault>(&target)) return reply(*f);
  auto& t = std::get<Target>(target);
  if (!t.process) return signal_processes(b, group_members(all, t.group), p[1], reply);
  if (auto f = signal_one(b, *t.process, *name, p[1])) return reply(*f);
  reply(ok_result());
}

void signal_process_group(Backend& b, const Array& p, Reply& reply) {
  const auto name = as_string(p[0]);
  if (!name) return reply(incorrect_parameters());
  auto members = group_members(b.processes(), *name);
  if (members.empty()) return reply(make_fault(FaultCode::kBadName, *name));
  signal_processes(b, std::move(members), p[1], reply);
}

void signal_all_processes(Backend& b, const Array& p, Reply& reply) {
  signal_processes(b, b.processes(), p[0], reply);
}

static Value process_info_struct(const ProcessInfo& p, int64_t now) {
  return Struct{
      {"name", Value(p.name)},
      {"group", Value(p.group)},
      {"start", Value(p.start)},
      {"stop", Value(p.stop)},
      {"now", Value(now)},
      {"state", Value(static_cast<int>(p.state))},
      {"statename", Value(std::string(core::to_string(p.state)))},
      {"spawnerr", Value(p.spawnerr)},
      {"exitstatus", Value(p.exitstatus)},
      {"logfile", Value(p.stdout_logfile)},
      {"stdout_logfile", Value(p.stdout_logfile)},
      {"stderr_logfile", Value(p.stderr_logfile)},
      {"pid", Value(static_cast<int>(p.pid))},
      {"description", Value(describe(p, now))},
  };
}

void get_process_info(Backend& b, const Array& p, Reply& reply) {
  const auto name = as_string(p[0]);
  if (!name) return reply(incorrect_parameters());
  auto found = find_process(b, *name);
  if (auto* f = std::get_if<Fault>(&found)) return reply(*f);
  reply(process_info_struct(std::get<ProcessInfo>(found), b.wall_now()));
}

void get_all_process_info(Backend& b, const Array&, Reply& reply) {
  auto all = b.processes();
  std::stable_sort(all.begin(), all.end(), [](const ProcessInfo& x, const ProcessInfo& y) {
    return std::tie(x.group, x.name) < std::tie(y.group, y.name);
  });
  const auto now = b.wall_now();
  Array out;
  for (const auto& i : all) out.push_back(process_info_struct(i, now));
  reply(Value(std::move(out)));
}

void send_process_stdin(Backend& b, const Array& p, Reply& reply) {
  const auto name = as_string(p[0]);
  if (!name) return reply(incorrect_parameters());
  const auto chars = as_string(p[1]);
  if (!chars) return reply(make_fault(FaultCode::kIncorrectParameters, python_str(p[1])));
  auto found = find_process(b, *name);
  if (auto* f = std::get_if<Fault>(&found)) return reply(*f);
  const auto& info = std::get<ProcessInfo>(found);
  if (info.pid == 0 || info.state == core::State::kStopping) {
    return reply(make_fault(FaultCode::kNotRunning, *name));
  }
  if (auto f = outcome_fault(b.send_stdin(info.group, info.name, *chars), *name)) {
    return reply(*f);
  }
  reply(ok_result());
}

// podvisor has no event listeners: the event goes nowhere, as it does in a supervisord
// without subscribers.
void send_remote_comm_event(Backend&, const Array&, Reply& reply) { reply(ok_result()); }

}  // namespace rpc_methods

}  // namespace podvisor::control
