#include "control/server/rpc.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <ctime>
#include <map>
#include <utility>

#include "config/keys.h"
#include "config/values.h"

namespace podvisor::control {

using xmlrpc::Array;
using xmlrpc::Fault;
using xmlrpc::Struct;
using xmlrpc::Value;

// ---------------------------------------------------------------------------------------------
// Logs: supervisord's readFile and tailFile, over a file or over the bytes kept in memory.

namespace {

// A log seen as bytes [begin, size): a file holds them all, a ring only the newest.
class LogBytes {
 public:
  // FAILED (or NO_FILE for a missing file) when the log cannot be opened.
  static std::variant<LogBytes, Fault> open(const LogSource& log) {
    LogBytes b;
    if (log.path.empty()) {
      b.size_ = static_cast<int64_t>(log.recent_end);
      b.memory_ = &log.recent;
      return b;
    }
    b.fd_ = ::open(log.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (b.fd_ < 0) {
      return errno == ENOENT ? make_fault(FaultCode::kNoFile, log.path)
                             : make_fault(FaultCode::kFailed);
    }
    struct stat st {};
    if (fstat(b.fd_, &st) != 0) return make_fault(FaultCode::kFailed);
    b.size_ = st.st_size;
    return b;
  }
  LogBytes() = default;
  LogBytes(LogBytes&& o) noexcept
      : fd_(std::exchange(o.fd_, -1)), size_(o.size_), memory_(o.memory_) {}
  LogBytes& operator=(LogBytes&&) = delete;
  ~LogBytes() {
    if (fd_ >= 0) ::close(fd_);
  }

  int64_t size() const { return size_; }

  // Bytes [offset, offset+length) that are still there; nullopt on a read error.
  std::optional<std::string> read(int64_t offset, int64_t length) const {
    offset = std::max<int64_t>(offset, 0);
    const int64_t end = std::min(size_, offset + std::max<int64_t>(length, 0));
    if (end <= offset) return std::string();
    if (memory_) {
      const int64_t begin = size_ - static_cast<int64_t>(memory_->size());
      const int64_t from = std::max(offset, begin);
      if (end <= from) return std::string();
      return memory_->substr(static_cast<size_t>(from - begin), static_cast<size_t>(end - from));
    }
    std::string out(static_cast<size_t>(end - offset), '\0');
    size_t got = 0;
    while (got < out.size()) {
      const ssize_t n = ::pread(fd_, out.data() + got, out.size() - got,
                                static_cast<off_t>(offset + static_cast<int64_t>(got)));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return std::nullopt;
      if (n == 0) break;  // truncated meanwhile
      got += static_cast<size_t>(n);
    }
    out.resize(got);
    return out;
  }

 private:
  int fd_ = -1;
  int64_t size_ = 0;
  const std::string* memory_ = nullptr;
};

}  // namespace

std::variant<std::string, Fault> read_log(const LogSource& log, int64_t offset, int64_t length) {
  // Argument errors come first, as readFile raises them before reading.
  if ((offset < 0 && length != 0) || (offset >= 0 && length < 0)) {
    return make_fault(FaultCode::kBadArguments);
  }
  auto opened = LogBytes::open(log);
  if (auto* f = std::get_if<Fault>(&opened)) return *f;
  const auto& bytes = std::get<LogBytes>(opened);
  std::optional<std::string> data;
  if (offset < 0) {
    const int64_t back = offset == INT64_MIN ? INT64_MAX : -offset;
    data = bytes.read(std::max<int64_t>(bytes.size() - back, 0), back);
  } else {
    data = bytes.read(offset, length == 0 ? bytes.size() : length);
  }
  if (!data) return make_fault(FaultCode::kFailed);
  return std::move(*data);
}

Tail tail_log(const LogSource& log, int64_t offset, int64_t length) {
  auto opened = LogBytes::open(log);
  if (std::holds_alternative<Fault>(opened)) return Tail{"", offset, false};
  const auto& bytes = std::get<LogBytes>(opened);
  // tailFile, step by step (Python integers do not overflow; clamp so that we do not either).
  offset = std::clamp<int64_t>(offset, INT64_MIN / 4, INT64_MAX / 4);
  length = std::clamp<int64_t>(length, INT64_MIN / 4, INT64_MAX / 4);
  const int64_t sz = bytes.size();
  bool overflow = false;
  if (sz > offset + length) {
    overflow = true;
    offset = sz - 1;
  }
  if (offset + length > sz) {
    if (offset > sz - 1) length = 0;
    offset = sz - length;
  }
  if (offset < 0) offset = 0;
  if (length < 0) length = 0;
  std::string data;
  if (length != 0) {
    auto read = bytes.read(offset, length);
    if (!read) return Tail{"", offset, false};
    data = std::move(*read);
  }
  return Tail{std::move(data), sz, overflow};
}

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

// ---------------------------------------------------------------------------------------------
// The dispatcher

namespace {

using Reply = Rpc::Reply;
using Handler = void (*)(Backend&, const Array&, Reply&);

struct MethodEntry {
  std::string_view name;
  size_t min_params;
  size_t max_params;
  std::string_view doc;  // methodHelp; its @param/@return tags make methodSignature
  Handler handler;       // null: system.* methods the dispatcher serves itself
};

Value ok_result(bool b = true) { return Value(b); }

// --- parameters, converted as the Python originals convert them

std::optional<std::string> as_string(const Value& v) {
  if (const auto* s = std::get_if<std::string>(&v.v)) return *s;
  return std::nullopt;
}

// int(x): ints, booleans, doubles (truncated) and decimal strings.
std::optional<int64_t> as_int(const Value& v) {
  if (const auto* i = std::get_if<int64_t>(&v.v)) return *i;
  if (const auto* b = std::get_if<bool>(&v.v)) return *b ? 1 : 0;
  if (const auto* d = std::get_if<double>(&v.v)) {
    if (!std::isfinite(*d) || std::fabs(*d) > 9e18) return std::nullopt;
    return static_cast<int64_t>(*d);
  }
  if (const auto* s = std::get_if<std::string>(&v.v)) {
    const auto t = config::trim(*s);
    std::string_view digits = t;
    if (!digits.empty() && digits[0] == '+') digits.remove_prefix(1);
    int64_t out = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), out);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size()) {
      return std::nullopt;
    }
    return out;
  }
  return std::nullopt;
}

// Python truthiness, for `wait`.
bool truthy(const Value& v) {
  return std::visit(
      [](const auto& x) -> bool {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, xmlrpc::Nil>) {
          return false;
        } else if constexpr (std::is_same_v<T, bool>) {
          return x;
        } else if constexpr (std::is_same_v<T, int64_t> || std::is_same_v<T, double>) {
          return x != 0;
        } else {
          return !x.empty();
        }
      },
      v.v);
}

// str(x) for the few faults that quote a parameter.
std::string python_str(const Value& v) {
  if (const auto* s = std::get_if<std::string>(&v.v)) return *s;
  if (const auto* i = std::get_if<int64_t>(&v.v)) return std::to_string(*i);
  if (const auto* b = std::get_if<bool>(&v.v)) return *b ? "True" : "False";
  if (const auto* d = std::get_if<double>(&v.v)) return fmt::format("{}", *d);
  if (std::holds_alternative<xmlrpc::Nil>(v.v)) return "None";
  return "?";
}

Fault incorrect_parameters() { return make_fault(FaultCode::kIncorrectParameters); }

bool wait_param(const Array& p, size_t index) { return p.size() <= index || truthy(p[index]); }

// --- names: split_namespec and _getGroupAndProcess

std::vector<ProcessInfo> group_members(const std::vector<ProcessInfo>& all,
                                       const std::string& group) {
  std::vector<ProcessInfo> out;
  for (const auto& p : all) {
    if (p.group == group) out.push_back(p);
  }
  return out;
}

// The fault for a backend outcome on the process the client named `spelled`.
std::optional<Fault> outcome_fault(const Outcome& o, const std::string& spelled) {
  if (o.ok()) return std::nullopt;
  switch (o.code) {
    case FaultCode::kNoFile:
    case FaultCode::kNotExecutable:
    case FaultCode::kFailed:
      return make_fault(o.code, o.detail.empty() ? spelled : o.detail);
    default:
      return make_fault(o.code, spelled);
  }
}

Value fault_struct(const Fault& f) {
  return Struct{{"faultCode", Value(f.code)}, {"faultString", Value(f.message)}};
}

// One entry of the arrays that group operations return.
Value status_struct(const ProcessInfo& p, const std::optional<Fault>& fault) {
  return Struct{
      {"name", Value(p.name)},
      {"group", Value(p.group)},
      {"status", Value(fault ? fault->code : static_cast<int>(FaultCode::kSuccess))},
      {"description", Value(fault ? fault->message : std::string("OK"))},
  };
}

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

// make_allfunc: runs `op` on every process of `targets`, collects one status struct each.
// Results that are known at once come first, then the others as they complete.
using AsyncOp = std::function<void(const ProcessInfo&, const std::string& spelled, FaultDone done)>;

void for_each_process(const std::vector<ProcessInfo>& targets, const AsyncOp& op, Reply reply) {
  struct Batch {
    Array immediate;
    Array deferred;
    size_t waiting = 0;
    bool launched = false;
    Reply reply;
    void finish_if_done() {
      if (!launched || waiting != 0 || !reply) return;
      for (auto& v : deferred) immediate.push_back(std::move(v));
      auto r = std::move(reply);
      reply = nullptr;
      r(Value(std::move(immediate)));
    }
  };
  auto batch = std::make_shared<Batch>();
  batch->reply = std::move(reply);
  for (const auto& p : targets) {
    auto inside = std::make_shared<bool>(true);
    ++batch->waiting;
    op(p, make_namespec(p.group, p.name), [batch, inside, p](std::optional<Fault> fault) {
      (*inside ? batch->immediate : batch->deferred).push_back(status_struct(p, fault));
      --batch->waiting;
      batch->finish_if_done();
    });
    *inside = false;
  }
  batch->launched = true;
  batch->finish_if_done();
}

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

void read_main_log(Backend& b, const Array& p, Reply& reply) {
  const auto offset = as_int(p[0]);
  const auto length = as_int(p[1]);
  if (!offset || !length) return reply(incorrect_parameters());
  const auto log = b.main_log();
  if (!log) return reply(make_fault(FaultCode::kNoFile));
  auto r = read_log(*log, *offset, *length);
  if (auto* f = std::get_if<Fault>(&r)) return reply(*f);
  reply(Value(std::move(std::get<std::string>(r))));
}

void clear_main_log(Backend& b, const Array&, Reply& reply) {
  const auto o = b.clear_main_log();
  if (o.ok()) return reply(ok_result());
  reply(make_fault(o.code,
                   o.detail.empty() ? std::nullopt : std::optional<std::string_view>(o.detail)));
}

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

void start_process_group_named(Backend& b, const std::string& group, bool wait, Reply& reply) {
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
void one_or_group(Backend& b, const Array& p, Reply& reply, OneAction one, GroupAction group) {
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

void start_process(Backend& b, const Array& p, Reply& reply) {
  one_or_group(b, p, reply, start_one, start_process_group_named);
}

void start_process_group(Backend& b, const Array& p, Reply& reply) {
  const auto name = as_string(p[0]);
  if (!name) return reply(incorrect_parameters());
  start_process_group_named(b, *name, wait_param(p, 1), reply);
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

// Stops are issued in reverse start order (dependents before what they depend on); results
// come as they complete.
void stop_processes(Backend& b, std::vector<ProcessInfo> targets, bool wait, Reply& reply) {
  std::erase_if(targets, [](const ProcessInfo& i) { return !core::is_running_state(i.state); });
  std::reverse(targets.begin(), targets.end());
  for_each_process(
      targets,
      [&b, wait](const ProcessInfo& i, const std::string& spelled, FaultDone done) {
        stop_one(b, i, spelled, wait, std::move(done));
      },
      std::move(reply));
}

void stop_process_group_named(Backend& b, const std::string& group, bool wait, Reply& reply) {
  auto members = group_members(b.processes(), group);
  if (members.empty()) return reply(make_fault(FaultCode::kBadName, group));
  stop_processes(b, std::move(members), wait, reply);
}

void stop_process(Backend& b, const Array& p, Reply& reply) {
  one_or_group(b, p, reply, stop_one, stop_process_group_named);
}

void stop_process_group(Backend& b, const Array& p, Reply& reply) {
  const auto name = as_string(p[0]);
  if (!name) return reply(incorrect_parameters());
  stop_process_group_named(b, *name, wait_param(p, 1), reply);
}

void stop_all_processes(Backend& b, const Array& p, Reply& reply) {
  stop_processes(b, b.processes(), wait_param(p, 0), reply);
}

void signal_processes(Backend& b, std::vector<ProcessInfo> targets, const Value& signal,
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

// getAllConfigInfo: the keys the table reports, and the program's place in its group.
void get_all_config_info(Backend& b, const Array&, Reply& reply) {
  auto infos = b.config_info();
  std::stable_sort(infos.begin(), infos.end(), [](const ConfigInfo& x, const ConfigInfo& y) {
    return x.spec.name < y.spec.name;
  });
  auto encode = [](config::InfoValue v) {
    return std::visit(
        [](auto& x) {
          if constexpr (std::is_same_v<std::decay_t<decltype(x)>, std::vector<int>>) {
            return Value(Array(x.begin(), x.end()));
          } else {
            return Value(std::move(x));
          }
        },
        v);
  };
  Array out;
  for (const auto& c : infos) {
    Struct info{
        {"name", Value(c.spec.name)},
        {"group", Value(c.spec.group)},
        {"group_prio", Value(c.group_priority)},
        {"inuse", Value(c.in_use)},
    };
    for (const auto& key : config::all_keys()) {
      if (key.info) info.emplace(key.info_name, encode(key.info(c.spec)));
    }
    out.emplace_back(std::move(info));
  }
  reply(Value(std::move(out)));
}

Value process_info_struct(const ProcessInfo& p, int64_t now) {
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

// The process a name denotes, for the methods that refuse "group:*".
std::variant<ProcessInfo, Fault> find_process(Backend& b, const std::string& name) {
  auto target = find_target(b.processes(), name);
  if (auto* f = std::get_if<Fault>(&target)) return *f;
  auto& t = std::get<Target>(target);
  if (!t.process) return make_fault(FaultCode::kBadName, name);
  return std::move(*t.process);
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

void read_process_log(Backend& b, const Array& p, Reply& reply, Stream stream) {
  const auto name = as_string(p[0]);
  const auto offset = as_int(p[1]);
  const auto length = as_int(p[2]);
  if (!name || !offset || !length) return reply(incorrect_parameters());
  auto found = find_process(b, *name);
  if (auto* f = std::get_if<Fault>(&found)) return reply(*f);
  const auto& info = std::get<ProcessInfo>(found);
  const auto log = b.process_log(info.group, info.name, stream);
  if (!log) return reply(make_fault(FaultCode::kNoFile));
  auto r = read_log(*log, *offset, *length);
  if (auto* f = std::get_if<Fault>(&r)) return reply(*f);
  reply(Value(std::move(std::get<std::string>(r))));
}

void read_stdout(Backend& b, const Array& p, Reply& r) {
  read_process_log(b, p, r, Stream::kStdout);
}
void read_stderr(Backend& b, const Array& p, Reply& r) {
  read_process_log(b, p, r, Stream::kStderr);
}

void tail_process_log(Backend& b, const Array& p, Reply& reply, Stream stream) {
  const auto name = as_string(p[0]);
  const auto offset = as_int(p[1]);
  const auto length = as_int(p[2]);
  if (!name || !offset || !length) return reply(incorrect_parameters());
  auto found = find_process(b, *name);
  if (auto* f = std::get_if<Fault>(&found)) return reply(*f);
  const auto& info = std::get<ProcessInfo>(found);
  const auto log = b.process_log(info.group, info.name, stream);
  if (!log) return reply(Value(Array{Value(""), Value(0), Value(false)}));
  auto t = tail_log(*log, *offset, *length);
  reply(Value(Array{Value(std::move(t.bytes)), Value(t.offset), Value(t.overflow)}));
}

void tail_stdout(Backend& b, const Array& p, Reply& r) {
  tail_process_log(b, p, r, Stream::kStdout);
}
void tail_stderr(Backend& b, const Array& p, Reply& r) {
  tail_process_log(b, p, r, Stream::kStderr);
}

void clear_process_logs(Backend& b, const Array& p, Reply& reply) {
  const auto name = as_string(p[0]);
  if (!name) return reply(incorrect_parameters());
  auto found = find_process(b, *name);
  if (auto* f = std::get_if<Fault>(&found)) return reply(*f);
  const auto& info = std::get<ProcessInfo>(found);
  if (!b.clear_process_logs(info.group, info.name)) {
    return reply(make_fault(FaultCode::kFailed, *name));
  }
  reply(ok_result());
}

void clear_all_process_logs(Backend& b, const Array&, Reply& reply) {
  Array results;
  for (const auto& p : b.processes()) {
    std::optional<Fault> fault;
    if (!b.clear_process_logs(p.group, p.name)) {
      fault = make_fault(FaultCode::kFailed, make_namespec(p.group, p.name));
    }
    results.push_back(status_struct(p, fault));
  }
  reply(Value(std::move(results)));
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

constexpr std::string_view kStartDoc =
    "Start a process\n\n"
    "@param string name Process name (or ``group:name``, or ``group:*``)\n"
    "@param boolean wait Wait for process to be fully started\n"
    "@return boolean result     Always true unless error\n";
constexpr std::string_view kReadStdoutDoc =
    "Read length bytes from name's stdout log starting at offset\n\n"
    "@param string name        the name of the process (or 'group:name')\n"
    "@param int offset         offset to start reading from.\n"
    "@param int length         number of bytes to read from the log.\n"
    "@return string result     Bytes of log\n";
constexpr std::string_view kTailStdoutDoc =
    "Return up to length bytes from the end of name's stdout log, starting no earlier than "
    "offset; overflow is true when bytes were skipped. The offset returned is the log's size, "
    "where the next call starts.\n\n"
    "@param string name         the name of the process (or 'group:name')\n"
    "@param int offset          offset to start reading from\n"
    "@param int length          maximum number of bytes to return\n"
    "@return array result       [string bytes, int offset, bool overflow]\n";
constexpr std::string_view kClearProcessDoc =
    "Clear the stdout and stderr logs for the named process and reopen them.\n\n"
    "@param string name   The name of the process (or 'group:name')\n"
    "@return boolean result      Always True unless error\n";
constexpr std::string_view kReadMainDoc =
    "Read length bytes from the main log starting at offset\n\n"
    "@param int offset         offset to start reading from.\n"
    "@param int length         number of bytes to read from the log.\n"
    "@return string result     Bytes of log\n";
constexpr std::string_view kVersionDoc =
    "Return the version of the RPC API used by supervisord\n\n@return string version id\n";

// Every published method, sorted by name (the aliases supervisord keeps included).
const std::vector<MethodEntry>& methods() {
  static const std::vector<MethodEntry> table = {
      {"supervisor.addProcessGroup", 1, 1,
       "Activate a process group of the configuration read last.\n\n"
       "@param string name         name of process group to add\n"
       "@return boolean result     true if successful\n",
       add_process_group},
      {"supervisor.clearAllProcessLogs", 0, 0,
       "Clear all process log files\n\n"
       "@return array result   An array of process status info structs\n",
       clear_all_process_logs},
      {"supervisor.clearLog", 0, 0,
       "Clear the main log.\n\n@return boolean result always returns True unless error\n",
       clear_main_log},
      {"supervisor.clearProcessLog", 1, 1, kClearProcessDoc, clear_process_logs},
      {"supervisor.clearProcessLogs", 1, 1, kClearProcessDoc, clear_process_logs},
      {"supervisor.getAPIVersion", 0, 0, kVersionDoc, get_api_version},
      {"supervisor.getAllConfigInfo", 0, 0,
       "Get info about all available process configurations. Each struct represents a single "
       "process (i.e. groups get flattened).\n\n"
       "@return array result  An array of process config info structs\n",
       get_all_config_info},
      {"supervisor.getAllProcessInfo", 0, 0,
       "Get info about all processes\n\n"
       "@return array result  An array of process status results\n",
       get_all_process_info},
      {"supervisor.getIdentification", 0, 0,
       "Return identifying string of supervisord\n\n"
       "@return string identifier identifying string\n",
       get_identification},
      {"supervisor.getPID", 0, 0, "Return the PID of supervisord\n\n@return int PID\n", get_pid},
      {"supervisor.getProcessInfo", 1, 1,
       "Get info about a process named name\n\n"
       "@param string name The name of the process (or 'group:name')\n"
       "@return struct result     A structure containing data about the process\n",
       get_process_info},
      {"supervisor.getState", 0, 0,
       "Return current state of supervisord as a struct\n\n"
       "@return struct A struct with keys int statecode, string statename\n",
       get_state},
      {"supervisor.getSupervisorVersion", 0, 0,
       "Return the version of podvisor, which answers in supervisord's place\n\n"
       "@return string version id\n",
       get_supervisor_version},
      {"supervisor.getVersion", 0, 0, kVersionDoc, get_api_version},
      {"supervisor.readLog", 2, 2, kReadMainDoc, read_main_log},
      {"supervisor.readMainLog", 2, 2, kReadMainDoc, read_main_log},
      {"supervisor.readProcessLog", 3, 3, kReadStdoutDoc, read_stdout},
      {"supervisor.readProcessStderrLog", 3, 3,
       "Read length bytes from name's stderr log starting at offset\n\n"
       "@param string name        the name of the process (or 'group:name')\n"
       "@param int offset         offset to start reading from.\n"
       "@param int length         number of bytes to read from the log.\n"
       "@return string result     Bytes of log\n",
       read_stderr},
      {"supervisor.readProcessStdoutLog", 3, 3, kReadStdoutDoc, read_stdout},
      {"supervisor.reloadConfig", 0, 0,
       "Reload the configuration: the names of the process groups added, changed and removed "
       "since the running configuration was read.\n\n"
       "@return array result  [[added, changed, removed]]\n",
       reload_config},
      {"supervisor.removeProcessGroup", 1, 1,
       "Remove a stopped process group from the active configuration.\n\n"
       "@param string name         name of process group to remove\n"
       "@return boolean result     Indicates whether the removal was successful\n",
       remove_process_group},
      {"supervisor.restart", 0, 0,
       "Restart the supervisor process\n\n"
       "@return boolean result  always return True unless error\n",
       restart},
      {"supervisor.sendProcessStdin", 2, 2,
       "Send a string of chars to the stdin of the process name.\n\n"
       "@param string name        The process name to send to (or 'group:name')\n"
       "@param string chars       The character data to send to the process\n"
       "@return boolean result    Always return True unless error\n",
       send_process_stdin},
      {"supervisor.sendRemoteCommEvent", 2, 2,
       "Send an event to event listener subprocesses (podvisor has none).\n\n"
       "@param  string  type  String for the \"type\" key in the event header\n"
       "@param  string  data  Data for the event body\n"
       "@return boolean       Always return True unless error\n",
       send_remote_comm_event},
      {"supervisor.shutdown", 0, 0,
       "Shut down the supervisor process\n\n"
       "@return boolean result always returns True unless error\n",
       shutdown},
      {"supervisor.signalAllProcesses", 1, 1,
       "Send a signal to all processes in the process list\n\n"
       "@param string signal  Signal to send, as name ('HUP') or number ('1')\n"
       "@return array         An array of process status info structs\n",
       signal_all_processes},
      {"supervisor.signalProcess", 2, 2,
       "Send an arbitrary UNIX signal to the process named by name\n\n"
       "@param string name    Name of the process to signal (or 'group:name')\n"
       "@param string signal  Signal to send, as name ('HUP') or number ('1')\n"
       "@return boolean\n",
       signal_process},
      {"supervisor.signalProcessGroup", 2, 2,
       "Send a signal to all processes in the group named 'name'\n\n"
       "@param string name    The group name\n"
       "@param string signal  Signal to send, as name ('HUP') or number ('1')\n"
       "@return array\n",
       signal_process_group},
      {"supervisor.startAllProcesses", 0, 1,
       "Start all processes listed in the configuration file\n\n"
       "@param boolean wait    Wait for each process to be fully started\n"
       "@return array result   An array of process status info structs\n",
       start_all_processes},
      {"supervisor.startProcess", 1, 2, kStartDoc, start_process},
      {"supervisor.startProcessGroup", 1, 2,
       "Start all processes in the group named 'name'\n\n"
       "@param string name     The group name\n"
       "@param boolean wait    Wait for each process to be fully started\n"
       "@return array result   An array of process status info structs\n",
       start_process_group},
      {"supervisor.stopAllProcesses", 0, 1,
       "Stop all processes in the process list\n\n"
       "@param  boolean wait   Wait for each process to be fully stopped\n"
       "@return array result   An array of process status info structs\n",
       stop_all_processes},
      {"supervisor.stopProcess", 1, 2,
       "Stop a process named by name\n\n"
       "@param string name  The name of the process to stop (or 'group:name')\n"
       "@param boolean wait        Wait for the process to be fully stopped\n"
       "@return boolean result     Always return True unless error\n",
       stop_process},
      {"supervisor.stopProcessGroup", 1, 2,
       "Stop all processes in the process group named 'name'\n\n"
       "@param string name     The group name\n"
       "@param boolean wait    Wait for each process to be fully stopped\n"
       "@return array result   An array of process status info structs\n",
       stop_process_group},
      {"supervisor.tailProcessLog", 3, 3, kTailStdoutDoc, tail_stdout},
      {"supervisor.tailProcessStderrLog", 3, 3,
       "Return up to length bytes from the end of name's stderr log, starting no earlier than "
       "offset; overflow is true when bytes were skipped. The offset returned is the log's "
       "size, where the next call starts.\n\n"
       "@param string name         the name of the process (or 'group:name')\n"
       "@param int offset          offset to start reading from\n"
       "@param int length          maximum number of bytes to return\n"
       "@return array result       [string bytes, int offset, bool overflow]\n",
       tail_stderr},
      {"supervisor.tailProcessStdoutLog", 3, 3, kTailStdoutDoc, tail_stdout},
      {"system.listMethods", 0, 0,
       "Return an array listing the available method names\n\n"
       "@return array result  An array of method names available (strings).\n",
       nullptr},
      {"system.methodHelp", 1, 1,
       "Return a string showing the method's documentation\n\n"
       "@param string name   The name of the method.\n"
       "@return string result The documentation for the method name.\n",
       nullptr},
      {"system.methodSignature", 1, 1,
       "Return an array describing the method signature in the form [rtype, ptype, ptype...] "
       "where rtype is the return data type of the method, and ptypes are the parameter data "
       "types that the method accepts in method argument order.\n\n"
       "@param string name  The name of the method.\n"
       "@return array result  The result.\n",
       nullptr},
      {"system.multicall", 1, 1,
       "Process an array of calls, and return an array of results. Calls should be structs of "
       "the form {'methodName': string, 'params': array}. Each result will either be a "
       "single-item array containing the result value, or a struct of the form {'faultCode': "
       "int, 'faultString': string}. This is useful when you need to make lots of small calls "
       "without lots of round trips.\n\n"
       "@param array calls  An array of call requests\n"
       "@return array result  An array of results\n",
       nullptr},
  };
  return table;
}

const MethodEntry* find_method(std::string_view name) {
  for (const auto& m : methods()) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

// gettags: the datatypes of the @return and @param lines, [rtype, ptypes...].
std::optional<Array> signature(std::string_view doc) {
  std::optional<std::string> rtype;
  Array ptypes;
  size_t pos = 0;
  while (pos <= doc.size()) {
    auto end = doc.find('\n', pos);
    if (end == std::string_view::npos) end = doc.size();
    const auto line = config::trim(doc.substr(pos, end - pos));
    pos = end + 1;
    if (!line.starts_with('@')) continue;
    std::vector<std::string> words;
    size_t i = 0;
    while (i < line.size() && words.size() < 2) {
      while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
      const auto start = i;
      while (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i]))) ++i;
      if (i > start) words.push_back(line.substr(start, i - start));
    }
    const std::string type = words.size() > 1 ? words[1] : "";
    if (words[0] == "@return") rtype = type;
    if (words[0] == "@param") ptypes.emplace_back(type);
  }
  if (!rtype) return std::nullopt;
  Array out{Value(*rtype)};
  for (auto& p : ptypes) out.push_back(std::move(p));
  return out;
}

}  // namespace

std::variant<Target, Fault> find_target(const std::vector<ProcessInfo>& all,
                                        const std::string& namespec) {
  std::string group = namespec;
  std::optional<std::string> name = namespec;
  if (const auto colon = namespec.find(':'); colon != std::string::npos) {
    group = namespec.substr(0, colon);
    name = namespec.substr(colon + 1);
    if (name->empty() || *name == "*") name.reset();
  }
  const bool group_exists =
      std::any_of(all.begin(), all.end(), [&](const ProcessInfo& p) { return p.group == group; });
  if (!group_exists) return make_fault(FaultCode::kBadName, namespec);
  Target t{group, std::nullopt};
  if (!name) return t;
  for (const auto& p : all) {
    if (p.group == group && p.name == *name) {
      t.process = p;
      return t;
    }
  }
  return make_fault(FaultCode::kBadName, namespec);
}

Rpc::Rpc(Backend& backend) : backend_(backend), self_(std::make_shared<Rpc*>(this)) {}

Rpc::~Rpc() = default;

std::vector<std::string> Rpc::method_names() {
  std::vector<std::string> out;
  for (const auto& m : methods()) out.emplace_back(m.name);
  std::sort(out.begin(), out.end());
  return out;
}

void Rpc::call(const xmlrpc::Call& call, Reply reply) {
  // Completions that arrive once we are gone are dropped with the reply.
  Reply guarded = [alive = std::weak_ptr<Rpc*>(self_), reply = std::move(reply)](RpcResult r) {
    if (alive.lock()) reply(std::move(r));
  };
  dispatch(call.method, call.params, std::move(guarded));
}

void Rpc::dispatch(const std::string& method, const Array& params, Reply reply) {
  // supervisord's traverse(): exactly "namespace.method", no private names.
  const auto dot = method.find('.');
  if (dot == std::string::npos || method.find('.', dot + 1) != std::string::npos ||
      method.compare(dot + 1, 1, "_") == 0) {
    return reply(make_fault(FaultCode::kUnknownMethod));
  }
  const auto* m = find_method(method);
  if (!m) return reply(make_fault(FaultCode::kUnknownMethod));
  if (params.size() < m->min_params || params.size() > m->max_params) {
    return reply(incorrect_parameters());
  }
  if (method == "system.multicall") return multicall(params, std::move(reply));
  if (method == "system.listMethods") {
    Array names;
    for (auto& n : method_names()) names.emplace_back(std::move(n));
    return reply(Value(std::move(names)));
  }
  if (method == "system.methodHelp" || method == "system.methodSignature") {
    const auto name = as_string(params[0]);
    const auto* target = name ? find_method(*name) : nullptr;
    if (!target) return reply(make_fault(FaultCode::kSignatureUnsupported));
    if (method == "system.methodHelp") return reply(Value(std::string(target->doc)));
    auto sig = signature(target->doc);
    if (!sig) return reply(make_fault(FaultCode::kSignatureUnsupported));
    return reply(Value(std::move(*sig)));
  }
  // supervisord refuses supervisor.* calls once it is shutting down or restarting
  // (sendRemoteCommEvent excepted: it never checks).
  if (method != "supervisor.sendRemoteCommEvent" &&
      static_cast<int>(backend_.state()) < static_cast<int>(SupervisorState::kRunning)) {
    return reply(make_fault(FaultCode::kShutdownState));
  }
  m->handler(backend_, params, reply);
}

// system.multicall: the calls one after the other. A call that answers later resumes the
// loop from its completion; calls that answer at once do not nest.
struct Rpc::MultiCall : std::enable_shared_from_this<Rpc::MultiCall> {
  Rpc* rpc = nullptr;
  std::weak_ptr<Rpc*> alive;
  Array calls;
  size_t next = 0;
  Array results;
  Reply reply;
  bool inside = false;    // in dispatch() of the current call
  bool answered = false;  // the current call has answered

  void resume() {
    while (next < calls.size()) {
      const auto& entry = calls[next++];
      const auto* call = std::get_if<Struct>(&entry.v);
      std::optional<Fault> refused;
      std::string name;
      Array args;
      if (!call) {
        refused = incorrect_parameters();
      } else if (auto it = call->find("methodName"); it == call->end()) {
        refused = make_fault(FaultCode::kIncorrectParameters, "No methodName");
      } else if (const auto* s = std::get_if<std::string>(&it->second.v); !s) {
        refused = incorrect_parameters();
      } else if (*s == "system.multicall") {
        refused =
            make_fault(FaultCode::kIncorrectParameters, "Recursive system.multicall forbidden");
      } else {
        name = *s;
        if (auto p = call->find("params"); p != call->end()) {
          if (const auto* a = std::get_if<Array>(&p->second.v)) {
            args = *a;
          } else {
            refused = incorrect_parameters();
          }
        }
      }
      if (refused) {
        results.push_back(fault_struct(*refused));
        continue;
      }
      inside = true;
      answered = false;
      rpc->dispatch(name, args, [self = shared_from_this()](RpcResult r) {
        if (auto* f = std::get_if<Fault>(&r)) {
          self->results.push_back(fault_struct(*f));
        } else {
          self->results.push_back(std::move(std::get<Value>(r)));
        }
        self->answered = true;
        if (!self->inside && self->alive.lock()) self->resume();
      });
      inside = false;
      if (!answered) return;  // resumed by the completion
    }
    if (auto r = std::exchange(reply, nullptr)) r(Value(std::move(results)));
  }
};

void Rpc::multicall(const Array& params, Reply reply) {
  const auto* calls = std::get_if<Array>(&params[0].v);
  if (!calls) return reply(incorrect_parameters());
  auto m = std::make_shared<MultiCall>();
  m->rpc = this;
  m->alive = self_;
  m->calls = *calls;
  m->reply = std::move(reply);
  m->resume();
}

}  // namespace podvisor::control
