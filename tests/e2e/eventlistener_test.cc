// [eventlistener:x] on the real binary (issue 10, point 2): listeners written the way images
// write them speak supervisord's protocol with podvisor (READY, the envelope, RESULT OK/FAIL),
// receive PROCESS_STATE, PROCESS_LOG, PROCESS_GROUP, SUPERVISOR_STATE_CHANGE and TICK events
// in supervisord's formats, and a quit-on-failure listener stops the container.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <map>
#include <sstream>

#include "harness.h"

namespace e2e {
namespace {

// One delivered event as the recording listener wrote it.
struct Record {
  std::map<std::string, std::string> header;
  std::string payload;
};

std::vector<Record> records(const std::string& path) {
  std::vector<Record> out;
  const auto text = exists(path) ? read_file(path) : std::string();
  size_t at = 0;
  while (at < text.size()) {
    const auto nl = text.find('\n', at);
    if (nl == std::string::npos) break;
    Record r;
    const std::string line = text.substr(at, nl - at);
    std::istringstream fields(line);
    for (std::string field; fields >> field;) {
      const auto colon = field.find(':');
      r.header[field.substr(0, colon)] = field.substr(colon + 1);
    }
    const auto len = std::stoul(r.header["len"]);
    r.payload = text.substr(nl + 1, len);
    at = nl + 1 + len + 5;  // "\n---\n"
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<std::string> names(const std::vector<Record>& rs) {
  std::vector<std::string> out;
  for (const auto& r : rs) out.push_back(r.header.at("eventname"));
  return out;
}

const Record* find_event(const std::vector<Record>& rs, std::string_view name,
                         std::string_view in_payload = "") {
  for (const auto& r : rs) {
    if (r.header.at("eventname") == name && r.payload.find(in_payload) != std::string::npos) {
      return &r;
    }
  }
  return nullptr;
}

// The recording listener `rec` (tests/e2e/data/listener_record.py); its section ends with
// what the test adds (events=, environment=).
constexpr std::string_view kRecorder = R"(
[eventlistener:rec]
command=python3 -u @DATA@/listener_record.py
environment=EVFILE="@DIR@/events.txt"
stdout_logfile=NONE
)";

// podvisor with some programs and the recording listener.
class EventListenerRecorded : public testing::Test {
 protected:
  void start(const std::string& programs, const std::string& listener) {
    conf_ = write_config(
        dir_, "[supervisord]\nlogfile=/dev/null\n" + programs + std::string(kRecorder) + listener);
    pv_ = std::make_unique<Child>(podvisor_config(conf_));
  }
  std::string file() const { return dir_ / "events.txt"; }
  std::vector<Record> got() const { return records(file()); }
  // Until the listener has written an event named `name` (with `in_payload`).
  bool wait(std::string_view name, std::string_view in_payload = "") {
    return pv_->wait_for([&] { return find_event(got(), name, in_payload) != nullptr; }, kTimeout,
                         20ms);
  }
  std::string pid_of(std::string_view name) const {
    const auto pid = spawned_pid(pv_->err(), name);
    return pid ? std::to_string(*pid) : "none";
  }
  void stop() {
    pv_->signal(SIGTERM);
    EXPECT_TRUE(pv_->wait_exit()) << pv_->describe();
  }
  TempDir dir_;
  std::string conf_;
  std::unique_ptr<Child> pv_;
};

TEST(EventListener, QuitOnFailureListenerStopsTheContainer) {
  TempDir dir;
  const auto conf = write_config(dir, R"([supervisord]
logfile=/dev/null

[program:nginx]
command=sh -c 'sleep 1.2; exit 3'
autorestart=false

[program:app]
command=sleep 1000

[eventlistener:quit_on_failure]
command=bash @DATA@/listener_quit.sh nginx
events=PROCESS_STATE_EXITED,PROCESS_STATE_FATAL
stdout_logfile=NONE
stderr_logfile=/dev/stderr
)");
  Child pv(podvisor_config(conf));
  const auto status = pv.wait_exit();
  ASSERT_TRUE(status) << "the listener did not stop podvisor\n" << pv.describe();
  EXPECT_NE(pv.err().find("Processing Event: ver:3.0 server:supervisor serial:"), std::string::npos)
      << pv.describe();
  EXPECT_NE(pv.err().find("eventname:PROCESS_STATE_EXITED"), std::string::npos) << pv.describe();
  EXPECT_NE(pv.err().find("received SIGQUIT indicating exit request"), std::string::npos)
      << pv.describe();
}

TEST_F(EventListenerRecorded, CrashMailListenerGetsSupervisordsPayloads) {
  start(
      "identifier=myident\n[program:crashy]\ncommand=sh -c 'sleep 1.5; exit 3'\n"
      "autorestart=false\n",
      "events=PROCESS_STATE,SUPERVISOR_STATE_CHANGE\n");
  ASSERT_TRUE(wait("PROCESS_STATE_EXITED", "processname:crashy")) << pv_->describe();
  const auto rs = got();
  const auto payload = [&](std::string_view name) {
    const auto* r = find_event(rs, name, "processname:crashy");
    return r ? r->payload : "(none)";
  };
  const auto pid = pid_of("crashy");
  EXPECT_EQ(payload("PROCESS_STATE_STARTING"),
            "processname:crashy groupname:crashy from_state:STOPPED tries:0");
  EXPECT_EQ(payload("PROCESS_STATE_RUNNING"),
            "processname:crashy groupname:crashy from_state:STARTING pid:" + pid);
  EXPECT_EQ(payload("PROCESS_STATE_EXITED"),
            "processname:crashy groupname:crashy from_state:RUNNING expected:0 pid:" + pid);
  // The first event: supervisord says it is running before any spawn; serials count up.
  ASSERT_FALSE(rs.empty());
  EXPECT_EQ(rs[0].header.at("eventname"), "SUPERVISOR_STATE_CHANGE_RUNNING");
  EXPECT_EQ(rs[0].payload, "");
  for (size_t i = 0; i < rs.size(); ++i) {
    EXPECT_EQ(rs[i].header.at("ver"), "3.0");
    EXPECT_EQ(rs[i].header.at("server"), "myident");
    EXPECT_EQ(rs[i].header.at("pool"), "rec");
    EXPECT_EQ(rs[i].header.at("serial"), std::to_string(i));
    EXPECT_EQ(rs[i].header.at("poolserial"), std::to_string(i));
  }
  stop();
}

TEST_F(EventListenerRecorded, ASlowListenerGetsTheShutdownsEventsBeforeItStops) {
  // Each answer 0.3 s late: before the pools drained at shutdown, the listener was stopped
  // with STOPPING and the program's last events still in its buffer.
  start("[program:a]\ncommand=sleep 1000\n",
        "events=PROCESS_STATE,SUPERVISOR_STATE_CHANGE\n"
        "environment=EVFILE=\"@DIR@/events.txt\",DELAY=\"0.3\"\n");
  ASSERT_TRUE(wait("PROCESS_STATE_RUNNING", "processname:a ")) << pv_->describe();
  pv_->signal(SIGTERM);
  EXPECT_EQ(pv_->wait_exit(), 0) << pv_->describe();
  const auto rs = got();
  EXPECT_NE(find_event(rs, "SUPERVISOR_STATE_CHANGE_STOPPING"), nullptr) << pv_->describe();
  EXPECT_NE(find_event(rs, "PROCESS_STATE_STOPPING", "processname:a "), nullptr);
  EXPECT_NE(find_event(rs, "PROCESS_STATE_STOPPED", "processname:a "), nullptr);
}

TEST_F(EventListenerRecorded, AStuckListenerDelaysTheShutdownOnlyByItsStopwaitsecs) {
  start("[program:a]\ncommand=sleep 1000\n",
        "events=PROCESS_STATE\nstopwaitsecs=1\n"
        "environment=EVFILE=\"@DIR@/events.txt\",DELAY=\"1000\"\n");
  // The first event (rec's own STARTING) is taken and never answered.
  ASSERT_TRUE(wait("PROCESS_STATE_STARTING")) << pv_->describe();
  pv_->signal(SIGTERM);
  EXPECT_EQ(pv_->wait_exit(), 0) << pv_->describe();
  EXPECT_NE(pv_->err().find("event listener pool rec: stopping with"), std::string::npos)
      << pv_->describe();
}

TEST_F(EventListenerRecorded, FailedEventIsSentAgain) {
  start("[program:a]\ncommand=sleep 1000\n",
        "events=PROCESS_GROUP\nenvironment=EVFILE=\"@DIR@/events.txt\",FAIL_FIRST=1\n");
  ASSERT_TRUE(wait("PROCESS_GROUP_ADDED", "groupname:a\n")) << pv_->describe();
  const auto rs = got();
  ASSERT_GE(rs.size(), 3u);
  // rec's own group first (pools are added first), FAILed, then the same event again.
  EXPECT_EQ(rs[0].payload, "groupname:rec\n");
  EXPECT_EQ(rs[1].payload, "groupname:rec\n");
  EXPECT_EQ(rs[0].header, rs[1].header);
  EXPECT_EQ(rs[2].payload, "groupname:a\n");
  EXPECT_EQ(rs[2].header.at("serial"), "1");
  EXPECT_NE(pv_->err().find("rec: event was rejected"), std::string::npos) << pv_->describe();
  stop();
}

TEST_F(EventListenerRecorded, ProcessLogOnlyWithEventsEnabled) {
  start(
      "[program:talker]\n"
      "command=sh -c 'sleep 1.5; echo hello; echo oops >&2; exec sleep 1000'\n"
      "stdout_events_enabled=true\nstdout_logfile=NONE\n",
      "events=PROCESS_LOG\n");
  ASSERT_TRUE(wait("PROCESS_LOG_STDOUT")) << pv_->describe();
  EXPECT_EQ(got()[0].payload, "processname:talker groupname:talker pid:" + pid_of("talker") +
                                  " channel:stdout\nhello\n");
  stop();
  // stderr_events_enabled is off: no PROCESS_LOG_STDERR.
  EXPECT_EQ(names(got()), std::vector<std::string>{"PROCESS_LOG_STDOUT"});
}

TEST_F(EventListenerRecorded, TicksOnlyWhenSubscribed) {
  start("", "events=TICK_5\n");
  ASSERT_TRUE(wait("TICK_5")) << pv_->describe();
  const auto when = got()[0].payload;
  ASSERT_EQ(when.rfind("when:", 0), 0u);
  EXPECT_EQ(std::stol(when.substr(5)) % 5, 0);
  stop();
}

// A listener without TICK events: no timer stays armed (the idle podvisor wakes 0 times).
TEST_F(EventListenerRecorded, NoTickSubscriberArmsNoTimer) {
  start("", "events=PROCESS_STATE\n");
  ASSERT_TRUE(wait("PROCESS_STATE_RUNNING", "processname:rec")) << pv_->describe();
  const auto proc = "/proc/" + std::to_string(pv_->pid());
  std::string armed;
  EXPECT_TRUE(pv_->wait_for(
      [&] {
        armed.clear();
        std::error_code ec;
        for (const auto& fd : std::filesystem::directory_iterator(proc + "/fd", ec)) {
          std::error_code link_ec;
          if (std::filesystem::read_symlink(fd.path(), link_ec) != "anon_inode:[timerfd]") continue;
          for (const auto& line :
               lines(read_file(proc + "/fdinfo/" + fd.path().filename().string()))) {
            if (line.starts_with("it_value:") && line != "it_value: (0, 0)") armed += line;
          }
        }
        return !ec && armed.empty();
      },
      kTimeout, 50ms))
      << armed;
  stop();
}

TEST_F(EventListenerRecorded, GroupsAddedAtStartAndRemovedByUpdate) {
  const std::string head =
      "[unix_http_server]\nfile=@DIR@/s.sock\n[supervisorctl]\nserverurl=unix://@DIR@/s.sock\n"
      "[program:svc]\ncommand=sleep 1000\n";
  start(head + "[program:extra]\ncommand=sleep 1000\n", "events=PROCESS_GROUP\n");
  ASSERT_TRUE(wait("PROCESS_GROUP_ADDED", "groupname:svc\n")) << pv_->describe();
  // The pool first (priority -1), then the programs by priority and name.
  std::vector<std::string> payloads;
  for (const auto& r : got()) payloads.push_back(r.payload);
  EXPECT_EQ(payloads,
            (std::vector<std::string>{"groupname:rec\n", "groupname:extra\n", "groupname:svc\n"}));
  write_config(dir_, "[supervisord]\nlogfile=/dev/null\n" + head + std::string(kRecorder) +
                         "events=PROCESS_GROUP\n");
  const auto update = run(podvisor({"ctl", "-c", conf_, "update"}));
  EXPECT_EQ(update.code, 0) << update.describe();
  ASSERT_TRUE(wait("PROCESS_GROUP_REMOVED", "groupname:extra\n")) << pv_->describe();
  stop();
}

TEST(EventListener, ConfigErrorsAsSupervisord) {
  TempDir dir;
  const auto conf = write_config(dir, R"([supervisord]
[eventlistener:x]
command=cat
events=PROCESS_STATE TICK_5
)");
  const auto r = run(podvisor({"check", "-c", conf}));
  EXPECT_EQ(r.code, 2) << r.describe();
  EXPECT_NE(r.err.find("Unknown event type PROCESS_STATE TICK_5 in [eventlistener:x] events"),
            std::string::npos)
      << r.describe();
}

}  // namespace
}  // namespace e2e
