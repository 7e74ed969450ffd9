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

// Waits until the recording listener has written an event named `name` (with `in_payload`).
bool wait_event(Child& pv, const std::string& file, std::string_view name,
                std::string_view in_payload = "") {
  return pv.wait_for([&] { return find_event(records(file), name, in_payload) != nullptr; },
                     kTimeout, 20ms);
}

constexpr std::string_view kRecorder = R"(
[eventlistener:rec]
command=python3 -u @DATA@/listener_record.py
environment=EVFILE="@DIR@/events.txt"
stdout_logfile=NONE
)";

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

TEST(EventListener, CrashMailListenerGetsSupervisordsPayloads) {
  TempDir dir;
  const auto conf = write_config(dir, R"([supervisord]
logfile=/dev/null
identifier=myident

[program:crashy]
command=sh -c 'sleep 1.5; exit 3'
autorestart=false
)" + std::string(kRecorder) + "events=PROCESS_STATE,SUPERVISOR_STATE_CHANGE\n");
  const auto file = dir / "events.txt";
  Child pv(podvisor_config(conf));
  ASSERT_TRUE(wait_event(pv, file, "PROCESS_STATE_EXITED", "processname:crashy"))
      << pv.describe() << read_file(file);
  const auto pid = spawned_pid(pv.err(), "crashy");
  ASSERT_TRUE(pid);
  const auto rs = records(file);
  const auto* exited = find_event(rs, "PROCESS_STATE_EXITED", "processname:crashy");
  EXPECT_EQ(exited->payload,
            "processname:crashy groupname:crashy from_state:RUNNING expected:0 "
            "pid:" +
                std::to_string(*pid));
  const auto* running = find_event(rs, "PROCESS_STATE_RUNNING", "processname:crashy");
  ASSERT_TRUE(running);
  EXPECT_EQ(running->payload,
            "processname:crashy groupname:crashy from_state:STARTING pid:" + std::to_string(*pid));
  const auto* starting = find_event(rs, "PROCESS_STATE_STARTING", "processname:crashy");
  ASSERT_TRUE(starting);
  EXPECT_EQ(starting->payload, "processname:crashy groupname:crashy from_state:STOPPED tries:0");
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
  pv.signal(SIGTERM);
  EXPECT_TRUE(pv.wait_exit()) << pv.describe();
}

TEST(EventListener, FailedEventIsSentAgain) {
  TempDir dir;
  const auto conf =
      write_config(dir, R"([supervisord]
logfile=/dev/null

[program:a]
command=sleep 1000
)" + std::string(kRecorder) +
                            "events=PROCESS_GROUP\nenvironment=EVFILE=\"@DIR@/events.txt\","
                            "FAIL_FIRST=1\n");
  const auto file = dir / "events.txt";
  Child pv(podvisor_config(conf));
  ASSERT_TRUE(wait_event(pv, file, "PROCESS_GROUP_ADDED", "groupname:a\n"))
      << pv.describe() << read_file(file);
  const auto rs = records(file);
  ASSERT_GE(rs.size(), 3u);
  // rec's own group first (pools are added first), FAILed, then the same event again.
  EXPECT_EQ(rs[0].payload, "groupname:rec\n");
  EXPECT_EQ(rs[1].payload, "groupname:rec\n");
  EXPECT_EQ(rs[0].header, rs[1].header);
  EXPECT_EQ(rs[2].payload, "groupname:a\n");
  EXPECT_EQ(rs[2].header.at("serial"), "1");
  EXPECT_NE(pv.err().find("rec: event was rejected"), std::string::npos) << pv.describe();
  pv.signal(SIGTERM);
  EXPECT_TRUE(pv.wait_exit()) << pv.describe();
}

TEST(EventListener, ProcessLogOnlyWithEventsEnabled) {
  TempDir dir;
  const auto conf = write_config(dir, R"([supervisord]
logfile=/dev/null

[program:talker]
command=sh -c 'sleep 1.5; echo hello; echo oops >&2; exec sleep 1000'
stdout_events_enabled=true
stdout_logfile=NONE
)" + std::string(kRecorder) + "events=PROCESS_LOG\n");
  const auto file = dir / "events.txt";
  Child pv(podvisor_config(conf));
  ASSERT_TRUE(wait_event(pv, file, "PROCESS_LOG_STDOUT")) << pv.describe() << read_file(file);
  const auto pid = spawned_pid(pv.err(), "talker");
  ASSERT_TRUE(pid);
  const auto rs = records(file);
  EXPECT_EQ(rs[0].payload, "processname:talker groupname:talker pid:" + std::to_string(*pid) +
                               " channel:stdout\nhello\n");
  pv.signal(SIGTERM);
  EXPECT_TRUE(pv.wait_exit()) << pv.describe();
  // stderr_events_enabled is off: no PROCESS_LOG_STDERR.
  EXPECT_EQ(names(records(file)), std::vector<std::string>{"PROCESS_LOG_STDOUT"});
}

TEST(EventListener, TicksOnlyWhenSubscribed) {
  TempDir dir;
  const auto conf = write_config(dir, R"([supervisord]
logfile=/dev/null
)" + std::string(kRecorder) + "events=TICK_5\n");
  const auto file = dir / "events.txt";
  Child pv(podvisor_config(conf));
  ASSERT_TRUE(wait_event(pv, file, "TICK_5")) << pv.describe();
  const auto rs = records(file);
  ASSERT_EQ(rs[0].payload.rfind("when:", 0), 0u);
  EXPECT_EQ(std::stol(rs[0].payload.substr(5)) % 5, 0);
  pv.signal(SIGTERM);
  EXPECT_TRUE(pv.wait_exit()) << pv.describe();
}

// A listener without TICK events: no timer stays armed (the idle podvisor wakes 0 times).
TEST(EventListener, NoTickSubscriberArmsNoTimer) {
  TempDir dir;
  const auto conf = write_config(dir, R"([supervisord]
logfile=/dev/null
)" + std::string(kRecorder) + "events=PROCESS_STATE\n");
  const auto file = dir / "events.txt";
  Child pv(podvisor_config(conf));
  ASSERT_TRUE(wait_event(pv, file, "PROCESS_STATE_RUNNING", "processname:rec")) << pv.describe();
  std::string armed;
  EXPECT_TRUE(pv.wait_for(
      [&] {
        armed.clear();
        const auto proc = "/proc/" + std::to_string(pv.pid());
        std::error_code ec;
        for (const auto& entry : std::filesystem::directory_iterator(proc + "/fd", ec)) {
          std::error_code link_ec;
          if (std::filesystem::read_symlink(entry.path(), link_ec) != "anon_inode:[timerfd]") {
            continue;
          }
          for (const auto& line :
               lines(read_file(proc + "/fdinfo/" + entry.path().filename().string()))) {
            if (line.starts_with("it_value:") && line != "it_value: (0, 0)") armed += line;
          }
        }
        return !ec && armed.empty();
      },
      kTimeout, 50ms))
      << armed;
  pv.signal(SIGTERM);
  EXPECT_TRUE(pv.wait_exit()) << pv.describe();
}

TEST(EventListener, GroupsAddedAtStartAndRemovedByUpdate) {
  TempDir dir;
  const std::string head = R"([supervisord]
logfile=/dev/null

[unix_http_server]
file=@DIR@/s.sock

[supervisorctl]
serverurl=unix://@DIR@/s.sock

[program:svc]
command=sleep 1000
)";
  const std::string listener = std::string(kRecorder) + "events=PROCESS_GROUP\n";
  const auto conf = write_config(dir, head + "[program:extra]\ncommand=sleep 1000\n" + listener);
  const auto file = dir / "events.txt";
  Child pv(podvisor_config(conf));
  ASSERT_TRUE(wait_event(pv, file, "PROCESS_GROUP_ADDED", "groupname:svc\n")) << pv.describe();
  // The pool first (priority -1), then the programs by priority and name.
  std::vector<std::string> payloads;
  for (const auto& r : records(file)) payloads.push_back(r.payload);
  EXPECT_EQ(payloads,
            (std::vector<std::string>{"groupname:rec\n", "groupname:extra\n", "groupname:svc\n"}));
  write_config(dir, head + listener);
  const auto update = run(podvisor({"ctl", "-c", conf, "update"}));
  EXPECT_EQ(update.code, 0) << update.describe();
  ASSERT_TRUE(wait_event(pv, file, "PROCESS_GROUP_REMOVED", "groupname:extra\n")) << pv.describe();
  pv.signal(SIGTERM);
  EXPECT_TRUE(pv.wait_exit()) << pv.describe();
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
