#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <deque>
#include <fstream>
#include <map>
#include <set>

#include "control/server/rpc.h"

namespace podvisor::control {
namespace {

using core::State;
using xmlrpc::Array;
using xmlrpc::Fault;
using xmlrpc::Struct;
using xmlrpc::Value;

// Processes, logs and scripted outcomes; every request is recorded. Completions of start and
// stop are held back when `hold` is set, for the tests of methods that wait.
class FakeBackend : public Backend {
 public:
  SupervisorState mood = SupervisorState::kRunning;
  std::vector<ProcessInfo> procs;  // in start order
  int64_t clock = 1'700'000'000;
  std::map<std::string, Outcome> outcomes;  // "group:name" -> result of start/stop/signal/stdin
  bool hold = false;
  std::set<std::string> answer_at_once;  // answered before returning even with `hold`
  std::deque<std::pair<std::string, Done>> held;
  std::vector<std::string> requests;
  std::map<std::string, LogSource> logs;  // "group:name:stdout"
  std::optional<LogSource> mainlog;
  std::set<std::string> clear_fails;
  Outcome clear_main = {};
  std::variant<ConfigDiff, std::string> reread_result = ConfigDiff{};
  std::map<std::string, Outcome> group_outcomes;  // add/remove
  std::vector<ConfigInfo> configs;
  int shutdowns = 0, restarts = 0;

  SupervisorState state() const override { return mood; }
  pid_t pid() const override { return 4242; }
  std::string identification() const override { return "podvisor-test"; }
  int64_t wall_now() const override { return clock; }
  void shutdown() override { ++shutdowns; }
  void restart() override { ++restarts; }
  std::vector<ProcessInfo> processes() const override { return procs; }

  Outcome outcome(const std::string& group, const std::string& name) {
    auto it = outcomes.find(group + ":" + name);
    return it == outcomes.end() ? Outcome{} : it->second;
  }
  void finish(const std::string& key, Done done) {
    auto o = outcomes.count(key) ? outcomes[key] : Outcome{};
    if (hold && !answer_at_once.count(key)) {
      held.emplace_back(key, std::move(done));
    } else {
      done(o);
    }
  }
  // Completes the oldest held request with its scripted outcome.
  void release() {
    auto [key, done] = std::move(held.front());
    held.pop_front();
    done(outcomes.count(key) ? outcomes[key] : Outcome{});
  }

  void start(const std::string& group, const std::string& name, bool wait, Done done) override {
    requests.push_back(fmt::format("start {}:{}{}", group, name, wait ? "" : " nowait"));
    finish(group + ":" + name, std::move(done));
  }
  void stop(const std::string& group, const std::string& name, Done done) override {
    requests.push_back(fmt::format("stop {}:{}", group, name));
    finish(group + ":" + name, std::move(done));
  }
  Outcome signal(const std::string& group, const std::string& name, int signo) override {
    requests.push_back(fmt::format("signal {}:{} {}", group, name, signo));
    return outcome(group, name);
  }
  Outcome send_stdin(const std::string& group, const std::string& name,
                     const std::string& data) override {
    requests.push_back(fmt::format("stdin {}:{} {}", group, name, data));
    return outcome(group, name);
  }
  std::optional<LogSource> process_log(const std::string& group, const std::string& name,
                                       Stream stream) const override {
    auto it = logs.find(
        fmt::format("{}:{}:{}", group, name, stream == Stream::kStdout ? "stdout" : "stderr"));
    if (it == logs.end()) return std::nullopt;
    return it->second;
  }
  bool clear_process_logs(const std::string& group, const std::string& name) override {
    requests.push_back(fmt::format("clear {}:{}", group, name));
    return !clear_fails.count(group + ":" + name);
  }
  std::optional<LogSource> main_log() const override { return mainlog; }
  Outcome clear_main_log() override {
    requests.push_back("clear main");
    return clear_main;
  }
  std::shared_ptr<void> watch_log(const std::string&, const std::string&, Stream,
                                  std::function<void()>) override {
    return nullptr;
  }
  std::variant<ConfigDiff, std::string> reread() override {
    requests.push_back("reread");
    return reread_result;
  }
  Outcome add_group(const std::string& group) override {
    requests.push_back("add " + group);
    return group_outcomes.count("add " + group) ? group_outcomes["add " + group] : Outcome{};
  }
  Outcome remove_group(const std::string& group) override {
    requests.push_back("remove " + group);
    return group_outcomes.count("remove " + group) ? group_outcomes["remove " + group] : Outcome{};
  }
  std::vector<ConfigInfo> config_info() const override { return configs; }

  ProcessInfo& proc(const std::string& group, const std::string& name) {
    for (auto& p : procs) {
      if (p.group == group && p.name == name) return p;
    }
    throw std::logic_error("no such process in the fake");
  }
};

ProcessInfo process(std::string group, std::string name, State state, pid_t pid = 0) {
  ProcessInfo p;
  p.group = std::move(group);
  p.name = std::move(name);
  p.state = state;
  p.pid = pid;
  return p;
}

class RpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Stop times are shown in local time: pin the zone.
    setenv("TZ", "UTC", 1);
    tzset();
    b.procs = {
        process("web", "web", State::kRunning, 101),
        process("grp", "a", State::kRunning, 102),
        process("grp", "b", State::kStopped),
        process("idle", "idle", State::kStopped),
    };
    b.proc("web", "web").start = b.clock - 100;
  }

  // The result of a call that answers at once (the test fails if it does not).
  RpcResult call(const std::string& method, Array params = {}) {
    auto r = start_call(method, std::move(params));
    EXPECT_TRUE(r->has_value()) << method << " did not answer at once";
    if (!r->has_value()) return make_fault(FaultCode::kFailed, "no answer");
    return std::move(**r);
  }
  // A call whose answer may come later: the slot fills when it does.
  std::shared_ptr<std::optional<RpcResult>> start_call(const std::string& method,
                                                       Array params = {}) {
    auto slot = std::make_shared<std::optional<RpcResult>>();
    auto replies = std::make_shared<int>(0);
    rpc.call(xmlrpc::Call{method, std::move(params)}, [slot, replies](RpcResult r) {
      ++*replies;
      EXPECT_EQ(*replies, 1) << "replied twice";
      *slot = std::move(r);
    });
    return slot;
  }
  Value value(const std::string& method, Array params = {}) {
    auto r = call(method, std::move(params));
    if (auto* f = std::get_if<Fault>(&r)) {
      ADD_FAILURE() << method << " failed: " << f->code << " " << f->message;
      return {};
    }
    return std::get<Value>(r);
  }
  Fault fault(const std::string& method, Array params = {}) {
    auto r = call(method, std::move(params));
    if (auto* f = std::get_if<Fault>(&r)) return *f;
    ADD_FAILURE() << method << " did not fail";
    return {};
  }

  FakeBackend b;
  Rpc rpc{b};
};

::testing::AssertionResult is_fault(const Fault& f, FaultCode code, const std::string& text) {
  if (f.code == static_cast<int>(code) && f.message == text) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "fault " << f.code << " \"" << f.message << "\", expected " << static_cast<int>(code)
         << " \"" << text << "\"";
}
#define EXPECT_FAULT(f, code, text) EXPECT_TRUE(is_fault((f), (code), (text)))

Value status(const std::string& group, const std::string& name, FaultCode code,
             const std::string& description) {
  return Struct{{"name", Value(name)},
                {"group", Value(group)},
                {"status", Value(static_cast<int>(code))},
                {"description", Value(description)}};
}
Value ok_status(const std::string& group, const std::string& name) {
  return status(group, name, FaultCode::kSuccess, "OK");
}

const Value& member(const Value& v, const std::string& key) {
  return std::get<Struct>(v.v).at(key);
}

// --- faults and names

TEST(Faults, SupervisordCodesAndText) {
  EXPECT_EQ(make_fault(FaultCode::kBadName, "x").message, "BAD_NAME: x");
  EXPECT_EQ(make_fault(FaultCode::kBadName, "x").code, 10);
  EXPECT_EQ(make_fault(FaultCode::kNoFile).message, "NO_FILE");
  EXPECT_EQ(make_fault(FaultCode::kIncorrectParameters, "").message, "INCORRECT_PARAMETERS: ");
  const std::map<FaultCode, std::pair<int, std::string>> expected = {
      {FaultCode::kUnknownMethod, {1, "UNKNOWN_METHOD"}},
      {FaultCode::kIncorrectParameters, {2, "INCORRECT_PARAMETERS"}},
      {FaultCode::kBadArguments, {3, "BAD_ARGUMENTS"}},
      {FaultCode::kSignatureUnsupported, {4, "SIGNATURE_UNSUPPORTED"}},
      {FaultCode::kShutdownState, {6, "SHUTDOWN_STATE"}},
      {FaultCode::kBadName, {10, "BAD_NAME"}},
      {FaultCode::kBadSignal, {11, "BAD_SIGNAL"}},
      {FaultCode::kNoFile, {20, "NO_FILE"}},
      {FaultCode::kNotExecutable, {21, "NOT_EXECUTABLE"}},
      {FaultCode::kFailed, {30, "FAILED"}},
      {FaultCode::kAbnormalTermination, {40, "ABNORMAL_TERMINATION"}},
      {FaultCode::kSpawnError, {50, "SPAWN_ERROR"}},
      {FaultCode::kAlreadyStarted, {60, "ALREADY_STARTED"}},
      {FaultCode::kNotRunning, {70, "NOT_RUNNING"}},
      {FaultCode::kSuccess, {80, "SUCCESS"}},
      {FaultCode::kAlreadyAdded, {90, "ALREADY_ADDED"}},
      {FaultCode::kStillRunning, {91, "STILL_RUNNING"}},
      {FaultCode::kCantReread, {92, "CANT_REREAD"}},
  };
  for (const auto& [code, want] : expected) {
    EXPECT_EQ(static_cast<int>(code), want.first);
    EXPECT_EQ(fault_name(code), want.second);
  }
}

TEST(Namespec, AsSupervisordMakesIt) {
  EXPECT_EQ(make_namespec("web", "web"), "web");
  EXPECT_EQ(make_namespec("grp", "a"), "grp:a");
}

TEST_F(RpcTest, MethodNamesMustBeNamespaceDotMethod) {
  for (const char* m : {"supervisor", "a.b.c", "supervisor._update", "supervisor.nope",
                        "nope.getPID", "", ".", "supervisor.", "system._listMethods"}) {
    EXPECT_FAULT(fault(m), FaultCode::kUnknownMethod, "UNKNOWN_METHOD") << m;
  }
}

TEST_F(RpcTest, WrongArgumentCountIsIncorrectParameters) {
  EXPECT_FAULT(fault("supervisor.getAPIVersion", {Value(1)}), FaultCode::kIncorrectParameters,
               "INCORRECT_PARAMETERS");
  EXPECT_FAULT(fault("supervisor.startProcess"), FaultCode::kIncorrectParameters,
               "INCORRECT_PARAMETERS");
  EXPECT_FAULT(fault("supervisor.startProcess", {Value("web"), Value(true), Value(2)}),
               FaultCode::kIncorrectParameters, "INCORRECT_PARAMETERS");
  EXPECT_FAULT(fault("supervisor.readLog", {Value(0)}), FaultCode::kIncorrectParameters,
               "INCORRECT_PARAMETERS");
  EXPECT_FAULT(fault("system.methodHelp"), FaultCode::kIncorrectParameters, "INCORRECT_PARAMETERS");
}

TEST_F(RpcTest, WrongArgumentTypesAreIncorrectParameters) {
  EXPECT_FAULT(fault("supervisor.getProcessInfo", {Value(3)}), FaultCode::kIncorrectParameters,
               "INCORRECT_PARAMETERS");
  EXPECT_FAULT(fault("supervisor.readLog", {Value("x"), Value(0)}), FaultCode::kIncorrectParameters,
               "INCORRECT_PARAMETERS");
  EXPECT_FAULT(fault("supervisor.startProcess", {Value(Array{})}), FaultCode::kIncorrectParameters,
               "INCORRECT_PARAMETERS");
  EXPECT_TRUE(b.requests.empty());
}

// --- podvisor itself

TEST_F(RpcTest, Versions) {
  EXPECT_EQ(value("supervisor.getAPIVersion"), Value("3.0"));
  EXPECT_EQ(value("supervisor.getVersion"), Value("3.0"));
  EXPECT_EQ(value("supervisor.getSupervisorVersion"), Value(PODVISOR_VERSION));
  EXPECT_EQ(value("supervisor.getIdentification"), Value("podvisor-test"));
  EXPECT_EQ(value("supervisor.getPID"), Value(4242));
}

TEST_F(RpcTest, GetState) {
  EXPECT_EQ(value("supervisor.getState"),
            Value(Struct{{"statecode", Value(1)}, {"statename", Value("RUNNING")}}));
  b.mood = SupervisorState::kFatal;
  EXPECT_EQ(value("supervisor.getState"),
            Value(Struct{{"statecode", Value(2)}, {"statename", Value("FATAL")}}));
}

TEST_F(RpcTest, ShuttingDownRefusesSupervisorMethods) {
  for (auto mood : {SupervisorState::kShutdown, SupervisorState::kRestarting}) {
    b.mood = mood;
    EXPECT_FAULT(fault("supervisor.getPID"), FaultCode::kShutdownState, "SHUTDOWN_STATE");
    EXPECT_FAULT(fault("supervisor.getState"), FaultCode::kShutdownState, "SHUTDOWN_STATE");
    EXPECT_FAULT(fault("supervisor.stopProcess", {Value("web")}), FaultCode::kShutdownState,
                 "SHUTDOWN_STATE");
    // The arguments are checked first, as Python calls the method before it checks the mood.
    EXPECT_FAULT(fault("supervisor.getPID", {Value(1)}), FaultCode::kIncorrectParameters,
                 "INCORRECT_PARAMETERS");
    EXPECT_EQ(value("supervisor.sendRemoteCommEvent", {Value("t"), Value("d")}), Value(true));
    EXPECT_NO_FATAL_FAILURE(value("system.listMethods"));
  }
  EXPECT_TRUE(b.requests.empty());
}

TEST_F(RpcTest, ShutdownAndRestart) {
  EXPECT_EQ(value("supervisor.shutdown"), Value(true));
  EXPECT_EQ(b.shutdowns, 1);
  EXPECT_EQ(value("supervisor.restart"), Value(true));
  EXPECT_EQ(b.restarts, 1);
}

// --- introspection

TEST_F(RpcTest, ListMethodsIsSupervisordsList) {
  const std::vector<std::string> supervisord = {"supervisor.addProcessGroup",
                                                "supervisor.clearAllProcessLogs",
                                                "supervisor.clearLog",
                                                "supervisor.clearProcessLog",
                                                "supervisor.clearProcessLogs",
                                                "supervisor.getAPIVersion",
                                                "supervisor.getAllConfigInfo",
                                                "supervisor.getAllProcessInfo",
                                                "supervisor.getIdentification",
                                                "supervisor.getPID",
                                                "supervisor.getProcessInfo",
                                                "supervisor.getState",
                                                "supervisor.getSupervisorVersion",
                                                "supervisor.getVersion",
                                                "supervisor.readLog",
                                                "supervisor.readMainLog",
                                                "supervisor.readProcessLog",
                                                "supervisor.readProcessStderrLog",
                                                "supervisor.readProcessStdoutLog",
                                                "supervisor.reloadConfig",
                                                "supervisor.removeProcessGroup",
                                                "supervisor.restart",
                                                "supervisor.sendProcessStdin",
                                                "supervisor.sendRemoteCommEvent",
                                                "supervisor.shutdown",
                                                "supervisor.signalAllProcesses",
                                                "supervisor.signalProcess",
                                                "supervisor.signalProcessGroup",
                                                "supervisor.startAllProcesses",
                                                "supervisor.startProcess",
                                                "supervisor.startProcessGroup",
                                                "supervisor.stopAllProcesses",
                                                "supervisor.stopProcess",
                                                "supervisor.stopProcessGroup",
                                                "supervisor.tailProcessLog",
                                                "supervisor.tailProcessStderrLog",
                                                "supervisor.tailProcessStdoutLog",
                                                "system.listMethods",
                                                "system.methodHelp",
                                                "system.methodSignature",
                                                "system.multicall"};
  EXPECT_EQ(Rpc::method_names(), supervisord);
  Array names;
  for (const auto& n : supervisord) names.emplace_back(n);
  EXPECT_EQ(value("system.listMethods"), Value(names));
}

TEST_F(RpcTest, MethodSignaturesAreSupervisords) {
  // As Debian's supervisord 4.2.5 answers.
  const std::map<std::string, std::vector<std::string>> expected = {
      {"supervisor.addProcessGroup", {"boolean", "string"}},
      {"supervisor.clearAllProcessLogs", {"array"}},
      {"supervisor.clearLog", {"boolean"}},
      {"supervisor.clearProcessLog", {"boolean", "string"}},
      {"supervisor.clearProcessLogs", {"boolean", "string"}},
      {"supervisor.getAPIVersion", {"string"}},
      {"supervisor.getAllConfigInfo", {"array"}},
      {"supervisor.getAllProcessInfo", {"array"}},
      {"supervisor.getIdentification", {"string"}},
      {"supervisor.getPID", {"int"}},
      {"supervisor.getProcessInfo", {"struct", "string"}},
      {"supervisor.getState", {"struct"}},
      {"supervisor.getSupervisorVersion", {"string"}},
      {"supervisor.getVersion", {"string"}},
      {"supervisor.readLog", {"string", "int", "int"}},
      {"supervisor.readMainLog", {"string", "int", "int"}},
      {"supervisor.readProcessLog", {"string", "string", "int", "int"}},
      {"supervisor.readProcessStderrLog", {"string", "string", "int", "int"}},
      {"supervisor.readProcessStdoutLog", {"string", "string", "int", "int"}},
      {"supervisor.reloadConfig", {"array"}},
      {"supervisor.removeProcessGroup", {"boolean", "string"}},
      {"supervisor.restart", {"boolean"}},
      {"supervisor.sendProcessStdin", {"boolean", "string", "string"}},
      {"supervisor.sendRemoteCommEvent", {"boolean", "string", "string"}},
      {"supervisor.shutdown", {"boolean"}},
      {"supervisor.signalAllProcesses", {"array", "string"}},
      {"supervisor.signalProcess", {"boolean", "string", "string"}},
      {"supervisor.signalProcessGroup", {"array", "string", "string"}},
      {"supervisor.startAllProcesses", {"array", "boolean"}},
      {"supervisor.startProcess", {"boolean", "string", "boolean"}},
      {"supervisor.startProcessGroup", {"array", "string", "boolean"}},
      {"supervisor.stopAllProcesses", {"array", "boolean"}},
      {"supervisor.stopProcess", {"boolean", "string", "boolean"}},
      {"supervisor.stopProcessGroup", {"array", "string", "boolean"}},
      {"supervisor.tailProcessLog", {"array", "string", "int", "int"}},
      {"supervisor.tailProcessStderrLog", {"array", "string", "int", "int"}},
      {"supervisor.tailProcessStdoutLog", {"array", "string", "int", "int"}},
      {"system.listMethods", {"array"}},
      {"system.methodHelp", {"string", "string"}},
      {"system.methodSignature", {"array", "string"}},
      {"system.multicall", {"array", "array"}},
  };
  ASSERT_EQ(expected.size(), Rpc::method_names().size());
  for (const auto& [method, types] : expected) {
    Array want;
    for (const auto& t : types) want.emplace_back(t);
    EXPECT_EQ(value("system.methodSignature", {Value(method)}), Value(want)) << method;
  }
  EXPECT_FAULT(fault("system.methodSignature", {Value("nope")}), FaultCode::kSignatureUnsupported,
               "SIGNATURE_UNSUPPORTED");
}

TEST_F(RpcTest, MethodHelp) {
  const auto help =
      std::get<std::string>(value("system.methodHelp", {Value("supervisor.getState")}).v);
  EXPECT_NE(help.find("@return struct"), std::string::npos);
  EXPECT_FAULT(fault("system.methodHelp", {Value("nope")}), FaultCode::kSignatureUnsupported,
               "SIGNATURE_UNSUPPORTED");
  EXPECT_FAULT(fault("system.methodHelp", {Value(1)}), FaultCode::kSignatureUnsupported,
               "SIGNATURE_UNSUPPORTED");
}

// --- process info

TEST_F(RpcTest, GetProcessInfoFields) {
  auto& web = b.proc("web", "web");
  web.stdout_logfile = "/var/log/web.out";
  web.stderr_logfile = "/var/log/web.err";
  EXPECT_EQ(value("supervisor.getProcessInfo", {Value("web")}),
            Value(Struct{
                {"name", Value("web")},
                {"group", Value("web")},
                {"start", Value(b.clock - 100)},
                {"stop", Value(0)},
                {"now", Value(b.clock)},
                {"state", Value(20)},
                {"statename", Value("RUNNING")},
                {"spawnerr", Value("")},
                {"exitstatus", Value(0)},
                {"logfile", Value("/var/log/web.out")},
                {"stdout_logfile", Value("/var/log/web.out")},
                {"stderr_logfile", Value("/var/log/web.err")},
                {"pid", Value(101)},
                {"description", Value("pid 101, uptime 0:01:40")},
            }));
}

TEST_F(RpcTest, NamesAsSupervisordResolvesThem) {
  EXPECT_EQ(member(value("supervisor.getProcessInfo", {Value("grp:a")}), "name"), Value("a"));
  EXPECT_FAULT(fault("supervisor.getProcessInfo", {Value("grp")}), FaultCode::kBadName,
               "BAD_NAME: grp");
  EXPECT_FAULT(fault("supervisor.getProcessInfo", {Value("grp:*")}), FaultCode::kBadName,
               "BAD_NAME: grp:*");
  EXPECT_FAULT(fault("supervisor.getProcessInfo", {Value("grp:zz")}), FaultCode::kBadName,
               "BAD_NAME: grp:zz");
  EXPECT_FAULT(fault("supervisor.getProcessInfo", {Value("a")}), FaultCode::kBadName,
               "BAD_NAME: a");
  EXPECT_FAULT(fault("supervisor.getProcessInfo", {Value("nope")}), FaultCode::kBadName,
               "BAD_NAME: nope");
  EXPECT_EQ(member(value("supervisor.getProcessInfo", {Value("web:web")}), "name"), Value("web"));
}

TEST_F(RpcTest, GetAllProcessInfoInLexicalOrder) {
  const auto all = std::get<Array>(value("supervisor.getAllProcessInfo").v);
  std::vector<std::string> names;
  for (const auto& i : all) {
    names.push_back(make_namespec(std::get<std::string>(member(i, "group").v),
                                  std::get<std::string>(member(i, "name").v)));
  }
  EXPECT_EQ(names, (std::vector<std::string>{"grp:a", "grp:b", "idle", "web"}));
}

TEST(Describe, AsSupervisordDescribesStates) {
  setenv("TZ", "UTC", 1);
  tzset();
  const int64_t now = 1'700'000'000;  // Tue Nov 14 22:13:20 2023 UTC
  auto p = process("g", "app", State::kRunning, 42);
  p.start = now - 100;
  EXPECT_EQ(describe(p, now), "pid 42, uptime 0:01:40");
  p.start = now - 86400 - 3723;
  EXPECT_EQ(describe(p, now), "pid 42, uptime 1 day, 1:02:03");
  p.start = now - 3 * 86400;
  EXPECT_EQ(describe(p, now), "pid 42, uptime 3 days, 0:00:00");
  p.start = now + 50;  // the clock was set back
  EXPECT_EQ(describe(p, now), "pid 42, uptime 0:00:00");

  p = process("g", "app", State::kStopped);
  EXPECT_EQ(describe(p, now), "Not started");
  p.note = "waiting for db (ready)";
  EXPECT_EQ(describe(p, now), "waiting for db (ready)");
  p.start = now - 10;
  p.stop = now;
  EXPECT_EQ(describe(p, now), "Nov 14 10:13 PM");
  p.state = State::kExited;
  EXPECT_EQ(describe(p, now), "Nov 14 10:13 PM");
  p = process("g", "app", State::kExited);
  p.note = "waiting";
  EXPECT_EQ(describe(p, now), "Not started");

  p = process("g", "app", State::kFatal);
  p.spawnerr = "Exited too quickly (process log may have details)";
  EXPECT_EQ(describe(p, now), "Exited too quickly (process log may have details)");
  p.spawnerr.clear();
  EXPECT_EQ(describe(p, now), "unknown error (try \"tail app\")");
  p.state = State::kBackoff;
  EXPECT_EQ(describe(p, now), "unknown error (try \"tail app\")");

  p = process("g", "app", State::kStarting, 42);
  EXPECT_EQ(describe(p, now), "");
  p.note = "probe http://127.0.0.1:8000/health: 503";
  EXPECT_EQ(describe(p, now), "probe http://127.0.0.1:8000/health: 503");
  EXPECT_EQ(describe(process("g", "app", State::kStopping, 42), now), "");
  EXPECT_EQ(describe(process("g", "app", State::kUnknown), now), "");
}

// --- start

TEST_F(RpcTest, StartProcess) {
  EXPECT_EQ(value("supervisor.startProcess", {Value("grp:b")}), Value(true));
  EXPECT_EQ(value("supervisor.startProcess", {Value("idle"), Value(false)}), Value(true));
  EXPECT_EQ(b.requests, (std::vector<std::string>{"start grp:b", "start idle:idle nowait"}));
}

TEST_F(RpcTest, StartProcessRefusals) {
  EXPECT_FAULT(fault("supervisor.startProcess", {Value("web")}), FaultCode::kAlreadyStarted,
               "ALREADY_STARTED: web");
  b.proc("grp", "b").state = State::kBackoff;
  EXPECT_FAULT(fault("supervisor.startProcess", {Value("grp:b")}), FaultCode::kAlreadyStarted,
               "ALREADY_STARTED: grp:b");
  b.proc("idle", "idle").state = State::kUnknown;
  EXPECT_FAULT(fault("supervisor.startProcess", {Value("idle")}), FaultCode::kFailed,
               "FAILED: idle is in an unknown process state");
  EXPECT_FAULT(fault("supervisor.startProcess", {Value("nope")}), FaultCode::kBadName,
               "BAD_NAME: nope");
  EXPECT_TRUE(b.requests.empty());
}

TEST_F(RpcTest, StartProcessFaultsFromTheBackend) {
  b.outcomes["grp:b"] = {FaultCode::kNoFile, "can't find command '/nonexistent/bin'"};
  EXPECT_FAULT(fault("supervisor.startProcess", {Value("grp:b")}), FaultCode::kNoFile,
               "NO_FILE: can't find command '/nonexistent/bin'");
  b.outcomes["grp:b"] = {FaultCode::kNotExecutable, "command at '/etc' is a directory"};
  EXPECT_FAULT(fault("supervisor.startProcess", {Value("grp:b")}), FaultCode::kNotExecutable,
               "NOT_EXECUTABLE: command at '/etc' is a directory");
  b.outcomes["idle:idle"] = {FaultCode::kSpawnError, "ignored"};
  // Named as the client spelled it.
  EXPECT_FAULT(fault("supervisor.startProcess", {Value("idle:idle")}), FaultCode::kSpawnError,
               "SPAWN_ERROR: idle:idle");
  b.outcomes["idle:idle"] = {FaultCode::kAbnormalTermination, ""};
  EXPECT_FAULT(fault("supervisor.startProcess", {Value("idle")}), FaultCode::kAbnormalTermination,
               "ABNORMAL_TERMINATION: idle");
}

TEST_F(RpcTest, StartProcessWaitsForTheBackend) {
  b.hold = true;
  auto r = start_call("supervisor.startProcess", {Value("idle")});
  EXPECT_FALSE(r->has_value());
  b.release();
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ(std::get<Value>(**r), Value(true));

  b.outcomes["idle:idle"] = {FaultCode::kSpawnError, ""};
  r = start_call("supervisor.startProcess", {Value("idle")});
  EXPECT_FALSE(r->has_value());
  b.release();
  ASSERT_TRUE(r->has_value());
  EXPECT_FAULT(std::get<Fault>(**r), FaultCode::kSpawnError, "SPAWN_ERROR: idle");
}

TEST_F(RpcTest, StartGroupSkipsRunningProcesses) {
  b.procs.push_back(process("grp", "c", State::kExited));
  const auto r = value("supervisor.startProcess", {Value("grp:*")});
  EXPECT_EQ(r, Value(Array{ok_status("grp", "b"), ok_status("grp", "c")}));
  EXPECT_EQ(b.requests, (std::vector<std::string>{"start grp:b", "start grp:c"}));
  EXPECT_EQ(value("supervisor.startProcessGroup", {Value("grp"), Value(false)}),
            Value(Array{ok_status("grp", "b"), ok_status("grp", "c")}));
  EXPECT_FAULT(fault("supervisor.startProcessGroup", {Value("nope")}), FaultCode::kBadName,
               "BAD_NAME: nope");
  // Not split: supervisord looks the whole name up as a group.
  EXPECT_FAULT(fault("supervisor.startProcessGroup", {Value("grp:*")}), FaultCode::kBadName,
               "BAD_NAME: grp:*");
}

TEST_F(RpcTest, StartAllReportsImmediateResultsFirst) {
  b.procs.push_back(process("crash", "crash", State::kStopped));
  b.procs.push_back(process("missing", "missing", State::kFatal));
  b.hold = true;
  b.outcomes["crash:crash"] = {FaultCode::kSpawnError, ""};
  b.outcomes["missing:missing"] = {FaultCode::kNoFile, "can't find command 'x'"};
  b.answer_at_once.insert("missing:missing");
  auto r = start_call("supervisor.startAllProcesses");
  EXPECT_EQ(b.requests, (std::vector<std::string>{"start grp:b", "start idle:idle",
                                                  "start crash:crash", "start missing:missing"}));
  EXPECT_FALSE(r->has_value());
  b.release();  // grp:b
  std::swap(b.held[0], b.held[1]);
  b.release();  // crash, before idle
  EXPECT_FALSE(r->has_value());
  b.release();  // idle
  ASSERT_TRUE(r->has_value());
  // Settled within one of supervisord's passes (50 ms): in request order, not as they came.
  EXPECT_EQ(std::get<Value>(**r),
            Value(Array{
                status("missing", "missing", FaultCode::kNoFile, "NO_FILE: can't find command 'x'"),
                ok_status("grp", "b"), ok_status("idle", "idle"),
                status("crash", "crash", FaultCode::kSpawnError, "SPAWN_ERROR: crash")}));
}

TEST_F(RpcTest, StartAllAnsweredAtOnceInStartOrder) {
  b.outcomes["idle:idle"] = {FaultCode::kNoFile, "can't find command 'x'"};
  EXPECT_EQ(value("supervisor.startAllProcesses", {Value(true)}),
            Value(Array{ok_status("grp", "b"), status("idle", "idle", FaultCode::kNoFile,
                                                      "NO_FILE: can't find command 'x'")}));
  b.procs = {};
  EXPECT_EQ(value("supervisor.startAllProcesses"), Value(Array{})) << "nothing to start";
}

// --- stop

TEST_F(RpcTest, StopProcess) {
  EXPECT_EQ(value("supervisor.stopProcess", {Value("web")}), Value(true));
  EXPECT_FAULT(fault("supervisor.stopProcess", {Value("idle")}), FaultCode::kNotRunning,
               "NOT_RUNNING: idle");
  b.proc("idle", "idle").state = State::kStopping;
  EXPECT_FAULT(fault("supervisor.stopProcess", {Value("idle")}), FaultCode::kNotRunning,
               "NOT_RUNNING: idle");
  EXPECT_FAULT(fault("supervisor.stopProcess", {Value("grp:zz")}), FaultCode::kBadName,
               "BAD_NAME: grp:zz");
  b.outcomes["grp:a"] = {FaultCode::kFailed, "kill: Operation not permitted"};
  EXPECT_FAULT(fault("supervisor.stopProcess", {Value("grp:a")}), FaultCode::kFailed,
               "FAILED: kill: Operation not permitted");
  EXPECT_EQ(b.requests, (std::vector<std::string>{"stop web:web", "stop grp:a"}));
}

TEST_F(RpcTest, StopProcessWaitsUnlessToldNot) {
  b.hold = true;
  auto r = start_call("supervisor.stopProcess", {Value("web")});
  EXPECT_FALSE(r->has_value());
  b.release();
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ(std::get<Value>(**r), Value(true));

  r = start_call("supervisor.stopProcess", {Value("web"), Value(false)});
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ(std::get<Value>(**r), Value(true));
  b.release();  // the late completion is ignored (no second reply)
}

TEST_F(RpcTest, StopGroupsAndAllInRequestOrderAsSupervisord) {
  b.proc("grp", "b").state = State::kStarting;
  EXPECT_EQ(value("supervisor.stopProcess", {Value("grp:*")}),
            Value(Array{ok_status("grp", "a"), ok_status("grp", "b")}));
  EXPECT_EQ(b.requests, (std::vector<std::string>{"stop grp:a", "stop grp:b"}));
  b.requests.clear();
  EXPECT_EQ(value("supervisor.stopProcessGroup", {Value("web"), Value(false)}),
            Value(Array{ok_status("web", "web")}));
  EXPECT_FAULT(fault("supervisor.stopProcessGroup", {Value("nope")}), FaultCode::kBadName,
               "BAD_NAME: nope");
  b.requests.clear();
  b.outcomes["grp:a"] = {FaultCode::kFailed, "no permission"};
  EXPECT_EQ(value("supervisor.stopAllProcesses"),
            Value(Array{ok_status("web", "web"),
                        status("grp", "a", FaultCode::kFailed, "FAILED: no permission"),
                        ok_status("grp", "b")}));
  EXPECT_EQ(b.requests, (std::vector<std::string>{"stop web:web", "stop grp:a", "stop grp:b"}));
}

// --- signals

TEST_F(RpcTest, SignalProcess) {
  EXPECT_EQ(value("supervisor.signalProcess", {Value("web"), Value("HUP")}), Value(true));
  EXPECT_EQ(value("supervisor.signalProcess", {Value("web"), Value("sigusr1")}), Value(true));
  EXPECT_EQ(value("supervisor.signalProcess", {Value("web"), Value("9")}), Value(true));
  EXPECT_EQ(value("supervisor.signalProcess", {Value("web"), Value(15)}), Value(true));
  b.proc("grp", "a").state = State::kStopping;
  EXPECT_EQ(value("supervisor.signalProcess", {Value("grp:a"), Value("KILL")}), Value(true));
  EXPECT_EQ(b.requests,
            (std::vector<std::string>{"signal web:web 1", "signal web:web 10", "signal web:web 9",
                                      "signal web:web 15", "signal grp:a 9"}));
}

TEST_F(RpcTest, SignalProcessFaults) {
  // The signal is checked before the state, as supervisord does.
  EXPECT_FAULT(fault("supervisor.signalProcess", {Value("idle"), Value("FOO")}),
               FaultCode::kBadSignal, "BAD_SIGNAL: FOO");
  EXPECT_FAULT(fault("supervisor.signalProcess", {Value("web"), Value(99)}), FaultCode::kBadSignal,
               "BAD_SIGNAL: 99");
  EXPECT_FAULT(fault("supervisor.signalProcess", {Value("idle"), Value("HUP")}),
               FaultCode::kNotRunning, "NOT_RUNNING: idle");
  EXPECT_FAULT(fault("supervisor.signalProcess", {Value("nope"), Value("HUP")}),
               FaultCode::kBadName, "BAD_NAME: nope");
  b.outcomes["web:web"] = {FaultCode::kFailed, "kill: No such process"};
  EXPECT_FAULT(fault("supervisor.signalProcess", {Value("web"), Value("HUP")}), FaultCode::kFailed,
               "FAILED: kill: No such process");
}

TEST_F(RpcTest, SignalGroupsAndAll) {
  EXPECT_EQ(value("supervisor.signalProcess", {Value("grp:*"), Value("HUP")}),
            Value(Array{ok_status("grp", "a")}));
  EXPECT_EQ(value("supervisor.signalProcessGroup", {Value("grp"), Value("FOO")}),
            Value(Array{status("grp", "a", FaultCode::kBadSignal, "BAD_SIGNAL: FOO")}));
  EXPECT_FAULT(fault("supervisor.signalProcessGroup", {Value("nope"), Value("HUP")}),
               FaultCode::kBadName, "BAD_NAME: nope");
  EXPECT_EQ(value("supervisor.signalAllProcesses", {Value("USR2")}),
            Value(Array{ok_status("web", "web"), ok_status("grp", "a")}));
  EXPECT_EQ(value("supervisor.signalAllProcesses", {Value("FOO")}),
            Value(Array{status("web", "web", FaultCode::kBadSignal, "BAD_SIGNAL: FOO"),
                        status("grp", "a", FaultCode::kBadSignal, "BAD_SIGNAL: FOO")}));
  EXPECT_EQ(b.requests,
            (std::vector<std::string>{"signal grp:a 1", "signal web:web 12", "signal grp:a 12"}));
}

// --- logs

class TempFile {
 public:
  explicit TempFile(const std::string& contents) {
    char name[] = "/tmp/podvisor-rpc-test-XXXXXX";
    const int fd = mkstemp(name);
    path_ = name;
    if (fd >= 0) {
      EXPECT_EQ(write(fd, contents.data(), contents.size()), static_cast<ssize_t>(contents.size()));
      close(fd);
    }
  }
  ~TempFile() { unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string read_ok(const LogSource& log, int64_t offset, int64_t length) {
  auto r = read_log(log, offset, length);
  if (auto* f = std::get_if<Fault>(&r)) {
    ADD_FAILURE() << f->message;
    return {};
  }
  return std::get<std::string>(r);
}

TEST(ReadLog, AsReadFileReadsAFile) {
  TempFile file("0123456789");
  const LogSource log{file.path(), "", 0};
  EXPECT_EQ(read_ok(log, 0, 0), "0123456789");
  EXPECT_EQ(read_ok(log, 3, 0), "3456789");
  EXPECT_EQ(read_ok(log, 3, 2), "34");
  EXPECT_EQ(read_ok(log, 8, 5), "89");
  EXPECT_EQ(read_ok(log, 100, 0), "");
  EXPECT_EQ(read_ok(log, -4, 0), "6789");
  EXPECT_EQ(read_ok(log, -100, 0), "0123456789");
  EXPECT_FAULT(std::get<Fault>(read_log(log, -2, 1)), FaultCode::kBadArguments, "BAD_ARGUMENTS");
  EXPECT_FAULT(std::get<Fault>(read_log(log, 1, -1)), FaultCode::kBadArguments, "BAD_ARGUMENTS");
  const LogSource gone{"/nonexistent/podvisor.log", "", 0};
  EXPECT_FAULT(std::get<Fault>(read_log(gone, 0, 0)), FaultCode::kNoFile,
               "NO_FILE: /nonexistent/podvisor.log");
  const LogSource directory{"/", "", 0};
  EXPECT_EQ(std::get<Fault>(read_log(directory, 0, 0)).code, static_cast<int>(FaultCode::kFailed));
}

TEST(ReadLog, ReadsTheRingWithTheSameOffsets) {
  // 20 bytes captured, the last 10 kept.
  const LogSource ring{"", "abcdefghij", 20};
  EXPECT_EQ(read_ok(ring, 0, 0), "abcdefghij");
  EXPECT_EQ(read_ok(ring, 15, 0), "fghij");
  EXPECT_EQ(read_ok(ring, 5, 8), "abc");  // bytes 5..12, of which 10..12 are still there
  EXPECT_EQ(read_ok(ring, 2, 3), "");     // long gone
  EXPECT_EQ(read_ok(ring, -3, 0), "hij");
  EXPECT_EQ(read_ok(ring, -50, 0), "abcdefghij");
  EXPECT_EQ(read_ok(ring, 20, 0), "");
}

TEST(TailLog, AsTailFile) {
  TempFile file("0123456789");
  const LogSource log{file.path(), "", 0};
  // Expected values from supervisord's tailFile on the same ten bytes.
  struct Case {
    int64_t offset, length;
    std::string bytes;
    bool overflow;
  };
  for (const auto& c : std::vector<Case>{{0, 2, "89", true},
                                         {0, 100, "0123456789", false},
                                         {8, 2, "89", false},
                                         {8, 5, "56789", false},
                                         {10, 5, "", false},
                                         {12, 5, "", false},
                                         {5, 0, "", true},
                                         {0, 0, "", true},
                                         {-5, 3, "789", true},
                                         {3, -2, "", true},
                                         {9, 1, "9", false}}) {
    const auto t = tail_log(log, c.offset, c.length);
    EXPECT_EQ(t.bytes, c.bytes) << c.offset << "," << c.length;
    EXPECT_EQ(t.offset, 10) << c.offset << "," << c.length;
    EXPECT_EQ(t.overflow, c.overflow) << c.offset << "," << c.length;
  }
  const auto gone = tail_log(LogSource{"/nonexistent/x.log", "", 0}, 7, 100);
  EXPECT_EQ(gone.bytes, "");
  EXPECT_EQ(gone.offset, 7);
  EXPECT_FALSE(gone.overflow);
  const auto ring = tail_log(LogSource{"", "abcdefghij", 20}, 0, 3);
  EXPECT_EQ(ring.bytes, "hij");
  EXPECT_EQ(ring.offset, 20);
  EXPECT_TRUE(ring.overflow);
}

TEST_F(RpcTest, ReadProcessLogs) {
  TempFile out("hello\n");
  b.logs["web:web:stdout"] = LogSource{out.path(), "", 0};
  b.logs["web:web:stderr"] = LogSource{"", "oops\n", 5};
  EXPECT_EQ(value("supervisor.readProcessStdoutLog", {Value("web"), Value(0), Value(0)}),
            Value("hello\n"));
  EXPECT_EQ(value("supervisor.readProcessLog", {Value("web"), Value(-3), Value(0)}), Value("lo\n"));
  EXPECT_EQ(value("supervisor.readProcessStderrLog", {Value("web"), Value(0), Value(0)}),
            Value("oops\n"));
  EXPECT_FAULT(fault("supervisor.readProcessStdoutLog", {Value("web"), Value(-3), Value(1)}),
               FaultCode::kBadArguments, "BAD_ARGUMENTS");
  EXPECT_FAULT(fault("supervisor.readProcessStdoutLog", {Value("idle"), Value(0), Value(0)}),
               FaultCode::kNoFile, "NO_FILE");
  EXPECT_FAULT(fault("supervisor.readProcessStdoutLog", {Value("grp:*"), Value(0), Value(0)}),
               FaultCode::kBadName, "BAD_NAME: grp:*");
  EXPECT_FAULT(fault("supervisor.readProcessStderrLog", {Value("nope"), Value(0), Value(0)}),
               FaultCode::kBadName, "BAD_NAME: nope");
  // Integers may come as strings, as Python's int() takes them.
  EXPECT_EQ(value("supervisor.readProcessStdoutLog", {Value("web"), Value("1"), Value("2")}),
            Value("el"));
}

TEST_F(RpcTest, TailProcessLogs) {
  TempFile out("0123456789");
  b.logs["web:web:stdout"] = LogSource{out.path(), "", 0};
  EXPECT_EQ(value("supervisor.tailProcessStdoutLog", {Value("web"), Value(0), Value(2)}),
            Value(Array{Value("89"), Value(10), Value(true)}));
  EXPECT_EQ(value("supervisor.tailProcessLog", {Value("web"), Value(8), Value(5)}),
            Value(Array{Value("56789"), Value(10), Value(false)}));
  EXPECT_EQ(value("supervisor.tailProcessStderrLog", {Value("web"), Value(0), Value(2)}),
            Value(Array{Value(""), Value(0), Value(false)}));
  EXPECT_FAULT(fault("supervisor.tailProcessStdoutLog", {Value("nope"), Value(0), Value(2)}),
               FaultCode::kBadName, "BAD_NAME: nope");
}

TEST_F(RpcTest, MainLog) {
  EXPECT_FAULT(fault("supervisor.readLog", {Value(0), Value(0)}), FaultCode::kNoFile, "NO_FILE");
  TempFile log("2023-11-14 INFO spawned\n");
  b.mainlog = LogSource{log.path(), "", 0};
  EXPECT_EQ(value("supervisor.readLog", {Value(-8), Value(0)}), Value("spawned\n"));
  EXPECT_EQ(value("supervisor.readMainLog", {Value(0), Value(4)}), Value("2023"));
  EXPECT_FAULT(fault("supervisor.readLog", {Value(-8), Value(2)}), FaultCode::kBadArguments,
               "BAD_ARGUMENTS");
  EXPECT_EQ(value("supervisor.clearLog"), Value(true));
  b.clear_main = {FaultCode::kNoFile, ""};
  EXPECT_FAULT(fault("supervisor.clearLog"), FaultCode::kNoFile, "NO_FILE");
  b.clear_main = {FaultCode::kFailed, ""};
  EXPECT_FAULT(fault("supervisor.clearLog"), FaultCode::kFailed, "FAILED");
}

TEST_F(RpcTest, ClearProcessLogs) {
  EXPECT_EQ(value("supervisor.clearProcessLogs", {Value("grp:a")}), Value(true));
  EXPECT_EQ(value("supervisor.clearProcessLog", {Value("web")}), Value(true));
  b.clear_fails.insert("grp:b");
  EXPECT_FAULT(fault("supervisor.clearProcessLogs", {Value("grp:b")}), FaultCode::kFailed,
               "FAILED: grp:b");
  EXPECT_FAULT(fault("supervisor.clearProcessLogs", {Value("nope")}), FaultCode::kBadName,
               "BAD_NAME: nope");
  EXPECT_FAULT(fault("supervisor.clearProcessLogs", {Value("grp:*")}), FaultCode::kBadName,
               "BAD_NAME: grp:*");
  EXPECT_EQ(value("supervisor.clearAllProcessLogs"),
            Value(Array{ok_status("web", "web"), ok_status("grp", "a"),
                        status("grp", "b", FaultCode::kFailed, "FAILED: grp:b"),
                        ok_status("idle", "idle")}));
}

// --- stdin, events

TEST_F(RpcTest, SendProcessStdin) {
  EXPECT_EQ(value("supervisor.sendProcessStdin", {Value("web"), Value("hi\n")}), Value(true));
  EXPECT_EQ(b.requests, (std::vector<std::string>{"stdin web:web hi\n"}));
  EXPECT_FAULT(fault("supervisor.sendProcessStdin", {Value("web"), Value(1)}),
               FaultCode::kIncorrectParameters, "INCORRECT_PARAMETERS: 1");
  EXPECT_FAULT(fault("supervisor.sendProcessStdin", {Value("nope"), Value("x")}),
               FaultCode::kBadName, "BAD_NAME: nope");
  EXPECT_FAULT(fault("supervisor.sendProcessStdin", {Value("idle"), Value("x")}),
               FaultCode::kNotRunning, "NOT_RUNNING: idle");
  b.proc("grp", "a").state = State::kStopping;
  EXPECT_FAULT(fault("supervisor.sendProcessStdin", {Value("grp:a"), Value("x")}),
               FaultCode::kNotRunning, "NOT_RUNNING: grp:a");
  b.outcomes["web:web"] = {FaultCode::kNoFile, ""};
  EXPECT_FAULT(fault("supervisor.sendProcessStdin", {Value("web"), Value("x")}), FaultCode::kNoFile,
               "NO_FILE: web");
}

TEST_F(RpcTest, SendRemoteCommEvent) {
  EXPECT_EQ(value("supervisor.sendRemoteCommEvent", {Value("type"), Value("data")}), Value(true));
}

// --- configuration

TEST_F(RpcTest, ReloadConfig) {
  b.reread_result = ConfigDiff{{"new"}, {"web", "grp"}, {}};
  EXPECT_EQ(value("supervisor.reloadConfig"),
            Value(Array{Value(Array{Value(Array{Value("new")}),
                                    Value(Array{Value("web"), Value("grp")}), Value(Array{})})}));
  b.reread_result = std::string("/etc/supervisord.conf:3: bad value");
  EXPECT_FAULT(fault("supervisor.reloadConfig"), FaultCode::kCantReread,
               "CANT_REREAD: /etc/supervisord.conf:3: bad value");
}

TEST_F(RpcTest, AddAndRemoveProcessGroup) {
  EXPECT_EQ(value("supervisor.addProcessGroup", {Value("new")}), Value(true));
  b.group_outcomes["add web"] = {FaultCode::kAlreadyAdded, ""};
  EXPECT_FAULT(fault("supervisor.addProcessGroup", {Value("web")}), FaultCode::kAlreadyAdded,
               "ALREADY_ADDED: web");
  b.group_outcomes["add nope"] = {FaultCode::kBadName, ""};
  EXPECT_FAULT(fault("supervisor.addProcessGroup", {Value("nope")}), FaultCode::kBadName,
               "BAD_NAME: nope");
  EXPECT_EQ(value("supervisor.removeProcessGroup", {Value("idle")}), Value(true));
  b.group_outcomes["remove grp"] = {FaultCode::kStillRunning, ""};
  EXPECT_FAULT(fault("supervisor.removeProcessGroup", {Value("grp")}), FaultCode::kStillRunning,
               "STILL_RUNNING: grp");
  EXPECT_EQ(b.requests, (std::vector<std::string>{"add new", "add web", "add nope", "remove idle",
                                                  "remove grp"}));
}

TEST_F(RpcTest, GetAllConfigInfo) {
  ConfigInfo web;
  web.spec.name = "web";
  web.spec.group = "web";
  web.spec.argv = {"python", "-m", "http.server", "a b", "it's"};
  web.spec.stdout_log.target = config::LogTarget::kAuto;
  web.spec.stdout_log.path = "/tmp/web-stdout---supervisor-x.log";
  web.spec.stderr_log.target = config::LogTarget::kNone;
  web.spec.startsecs = std::chrono::milliseconds(1500);
  web.in_use = true;
  ConfigInfo a;
  a.spec.name = "a";
  a.spec.group = "grp";
  a.spec.argv = {"sleep", "1"};
  a.spec.user = "nobody";
  a.spec.uid = 65534;
  a.spec.directory = "/srv";
  a.spec.exitcodes = {0, 2};
  a.spec.stdout_log.target = config::LogTarget::kStdout;
  a.spec.priority = 5;
  a.group_priority = 7;
  b.configs = {web, a};
  const auto all = std::get<Array>(value("supervisor.getAllConfigInfo").v);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0], Value(Struct{
                        {"autostart", Value(true)},
                        {"directory", Value("/srv")},
                        {"uid", Value(65534)},
                        {"command", Value("sleep 1")},
                        {"exitcodes", Value(Array{Value(0), Value(2)})},
                        {"group", Value("grp")},
                        {"group_prio", Value(7)},
                        {"inuse", Value(false)},
                        {"killasgroup", Value(false)},
                        {"name", Value("a")},
                        {"process_prio", Value(5)},
                        {"redirect_stderr", Value(false)},
                        {"startretries", Value(3)},
                        {"startsecs", Value(1)},
                        {"stdout_capture_maxbytes", Value(0)},
                        {"stdout_events_enabled", Value(false)},
                        {"stdout_logfile", Value("/dev/stdout")},
                        {"stdout_logfile_backups", Value(10)},
                        {"stdout_logfile_maxbytes", Value(int64_t{52428800})},
                        {"stdout_syslog", Value(false)},
                        {"stopsignal", Value(15)},
                        {"stopwaitsecs", Value(10)},
                        {"stderr_capture_maxbytes", Value(0)},
                        {"stderr_events_enabled", Value(false)},
                        {"stderr_logfile", Value("auto")},
                        {"stderr_logfile_backups", Value(10)},
                        {"stderr_logfile_maxbytes", Value(int64_t{52428800})},
                        {"stderr_syslog", Value(false)},
                        {"serverurl", Value("none")},
                    }));
  EXPECT_EQ(member(all[1], "command"), Value("python -m http.server 'a b' 'it'\"'\"'s'"));
  EXPECT_EQ(member(all[1], "directory"), Value("none"));
  EXPECT_EQ(member(all[1], "uid"), Value("none"));
  EXPECT_EQ(member(all[1], "inuse"), Value(true));
  EXPECT_EQ(member(all[1], "startsecs"), Value(1));
  EXPECT_EQ(member(all[1], "stdout_logfile"), Value("/tmp/web-stdout---supervisor-x.log"));
  EXPECT_EQ(member(all[1], "stderr_logfile"), Value("none"));
}

// --- multicall

Value call_struct(const std::string& method, std::optional<Array> params = std::nullopt) {
  Struct s{{"methodName", Value(method)}};
  if (params) s["params"] = Value(*params);
  return s;
}

Value fault_value(int code, const std::string& text) {
  return Struct{{"faultCode", Value(code)}, {"faultString", Value(text)}};
}

TEST_F(RpcTest, MulticallAsSupervisord) {
  const Array calls{call_struct("supervisor.getPID"),
                    call_struct("system.multicall", Array{}),
                    Value(Struct{{"params", Value(Array{})}}),
                    call_struct("x.y"),
                    call_struct("supervisor.getAPIVersion", Array{Value(1)}),
                    Value("not a struct"),
                    call_struct("supervisor.getProcessInfo", Array{Value("nope")})};
  EXPECT_EQ(
      value("system.multicall", {Value(calls)}),
      Value(Array{Value(4242),
                  fault_value(2, "INCORRECT_PARAMETERS: Recursive system.multicall forbidden"),
                  fault_value(2, "INCORRECT_PARAMETERS: No methodName"),
                  fault_value(1, "UNKNOWN_METHOD"), fault_value(2, "INCORRECT_PARAMETERS"),
                  fault_value(2, "INCORRECT_PARAMETERS"), fault_value(10, "BAD_NAME: nope")}));
  EXPECT_FAULT(fault("system.multicall", {Value("x")}), FaultCode::kIncorrectParameters,
               "INCORRECT_PARAMETERS");
  EXPECT_EQ(value("system.multicall", {Value(Array{})}), Value(Array{}));
}

TEST_F(RpcTest, MulticallWaitsForEachCallInTurn) {
  b.hold = true;
  const Array calls{call_struct("supervisor.stopProcess", Array{Value("web")}),
                    call_struct("supervisor.startProcess", Array{Value("web")}),
                    call_struct("supervisor.getPID")};
  auto r = start_call("system.multicall", {Value(calls)});
  EXPECT_EQ(b.requests, (std::vector<std::string>{"stop web:web"}));
  b.proc("web", "web").state = State::kStopped;  // what the stop did
  b.release();
  EXPECT_EQ(b.requests, (std::vector<std::string>{"stop web:web", "start web:web"}));
  EXPECT_FALSE(r->has_value());
  b.release();
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ(std::get<Value>(**r), Value(Array{Value(true), Value(true), Value(4242)}));
}

TEST_F(RpcTest, ManySynchronousCallsDoNotNest) {
  Array calls(20000, call_struct("supervisor.getPID"));
  const auto r = std::get<Array>(value("system.multicall", {Value(calls)}).v);
  EXPECT_EQ(r.size(), 20000u);
}

TEST(RpcLifetime, CompletionsAfterDestructionAreDropped) {
  FakeBackend b;
  b.procs = {process("idle", "idle", State::kStopped)};
  b.hold = true;
  bool replied = false;
  {
    Rpc rpc(b);
    rpc.call({"supervisor.startProcess", {Value("idle")}}, [&](RpcResult) { replied = true; });
    rpc.call({"system.multicall",
              {Value(Array{call_struct("supervisor.startProcess", Array{Value("idle")}),
                           call_struct("supervisor.getPID")})}},
             [&](RpcResult) { replied = true; });
  }
  b.release();
  b.release();
  EXPECT_FALSE(replied);
}

}  // namespace
}  // namespace podvisor::control
