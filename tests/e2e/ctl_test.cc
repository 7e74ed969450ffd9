// `podvisor ctl` and podvisor called as `supervisorctl`, side by side with Debian's real
// supervisorctl against a real supervisord (SPEC §6; issue 5): the same output and the same
// exit status for every command, the errors included. Skipped where supervisord is missing.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <regex>

#include "harness.h"

namespace e2e {
namespace {

std::optional<std::string> which(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    const auto end = std::min(dirs.find(':', start), dirs.size());
    const auto candidate = dirs.substr(start, end - start) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return std::nullopt;
}

// A TCP port nobody listens on right now.
int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// What differs between the two clients and says nothing about the server: supervisorctl's
// Python source locations in its error lines, the program name in usage hints, and uptimes,
// which tick between the two runs.
std::string normalize(std::string text) {
  text = std::regex_replace(text, std::regex(R"(: file: \S+ line: \d+)"), "");
  text = std::regex_replace(text, std::regex(R"(For help, use .+ -h)"), "For help, use PROG -h");
  text = std::regex_replace(text, std::regex(R"(uptime \d+:\d\d:\d\d)"), "uptime T");
  return text;
}

class CtlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    supervisord_ = which("supervisord");
    supervisorctl_ = which("supervisorctl");
    if (!supervisord_ || !supervisorctl_) {
      GTEST_SKIP() << "Debian's supervisor package (supervisord, supervisorctl) is not "
                      "installed: nothing to compare with";
    }
    port_ = free_port();
    conf_ = write_config(dir_, R"([unix_http_server]
file=@DIR@/supervisor.sock

[inet_http_server]
port=127.0.0.1:@PORT@
username=admin
password=secret

[supervisord]
logfile=@DIR@/supervisord.log
pidfile=@DIR@/supervisord.pid
childlogdir=@DIR@
identifier=ctltest

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://@DIR@/supervisor.sock

[program:web]
command=sh -c 'echo web says hello; echo web complains >&2; exec sleep 1000'
startsecs=0

[program:once]
command=sh -c 'echo done; exit 3'
startsecs=0
autorestart=false

[program:idle]
command=sleep 1000
autostart=false

[group:grp]
programs=a,b

[program:a]
command=sleep 1000
startsecs=0

[program:b]
command=/nonexistent/podvisor-test-binary
autostart=false
)");
    auto text = read_file(conf_);
    text = std::regex_replace(text, std::regex("@PORT@"), std::to_string(port_));
    write_file(conf_, text);
    Options o;
    o.argv = {*supervisord_, "-n", "-c", conf_};
    o.exe = *supervisord_;
    supervisord_child_ = std::make_unique<Child>(o);
    // Up once its socket answers and every autostart program has left STARTING.
    ASSERT_TRUE(supervisord_child_->wait_for(
        [&] {
          if (!exists(dir_ / "supervisor.sock")) return false;
          const auto r = real({"status"});
          return r.code && (*r.code == 0 || *r.code == 3) &&
                 r.out.find("STARTING") == std::string::npos &&
                 r.out.find("EXITED") != std::string::npos;
        },
        kTimeout, 100ms))
        << supervisord_child_->describe();
  }

  void TearDown() override {
    if (supervisord_child_ && !supervisord_child_->exited()) {
      supervisord_child_->signal(SIGTERM);
      supervisord_child_->wait_exit();
    }
  }

  // Debian's supervisorctl with the test's config.
  Result real(std::vector<std::string> args, bool with_config = true) {
    Options o;
    o.exe = *supervisorctl_;
    o.argv = {*supervisorctl_};
    if (with_config) o.argv.insert(o.argv.end(), {"-c", conf_});
    o.argv.insert(o.argv.end(), args.begin(), args.end());
    return run(o);
  }
  // podvisor ctl with the same arguments.
  Result ours(std::vector<std::string> args, bool with_config = true) {
    std::vector<std::string> full{"ctl"};
    if (with_config) full.insert(full.end(), {"-c", conf_});
    full.insert(full.end(), args.begin(), args.end());
    return run(podvisor(full));
  }

  // Both clients, same arguments: the same output and exit status.
  void expect_same(const std::vector<std::string>& args, bool with_config = true) {
    std::string shown;
    for (const auto& a : args) shown += " " + a;
    const auto a = real(args, with_config);
    const auto b = ours(args, with_config);
    ASSERT_TRUE(a.code.has_value()) << "supervorctl" << shown << " hung";
    ASSERT_TRUE(b.code.has_value()) << "podvisor ctl" << shown << " hung";
    EXPECT_EQ(*a.code, *b.code) << shown << "\nsupervisorctl:\n"
                                << a.describe() << "\npodvisor ctl:\n"
                                << b.describe();
    EXPECT_EQ(normalize(a.out), normalize(b.out)) << shown;
    EXPECT_EQ(normalize(a.err), normalize(b.err)) << shown;
  }

  TempDir dir_;
  std::optional<std::string> supervisord_, supervisorctl_;
  int port_ = 0;
  std::string conf_;
  std::unique_ptr<Child> supervisord_child_;
};

TEST_F(CtlTest, ReadOnlyCommandsPrintWhatSupervisorctlPrints) {
  const std::vector<std::vector<std::string>> commands = {
      {"status"},
      {"status", "web"},
      {"status", "grp:*"},
      {"status", "grp:a", "once"},
      {"status", "nope", "grp:zz", "foo:*"},
      {"status", "all"},
      {"pid"},
      {"pid", "all"},
      {"pid", "web", "idle", "nope"},
      {"avail"},
      {"reread"},
      {"version"},
      {"tail", "web"},
      {"tail", "web", "stderr"},
      {"tail", "-8", "web"},
      {"tail", "-0", "once"},
      {"tail", "nope"},
      {"tail", "web", "sideways"},
      {"tail"},
      {"tail", "-x", "web"},
      {"tail", "a", "b", "c", "d"},
      {"maintail", "-30"},
      {"maintail", "x"},
      {"help", "status"},
      {"help", "tail"},
      {"help", "nope"},
      {"nope"},
      {""},
      {"start"},
      {"stop"},
      {"restart"},
      {"signal"},
      {"clear"},
      {"shutdown", "now"},
      {"reload", "now"},
      {"version", "x"},
      {"avail", "x"},
      {"reread", "x"},
      {"start", "web", "grp:a"},
      {"stop", "idle"},
      {"signal", "HUP", "idle"},
      {"signal", "BOGUS", "web"},
      {"start", "nope", "nope:*"},
      {"stop", "nope", "nope:*"},
      {"signal", "HUP", "nope", "nope:*"},
      {"clear", "nope", "grp:*"},
      {"fg"},
      {"fg", "a", "b"},
      {"fg", "nope"},
      {"fg", "idle"},
      {"open", "ftp://x"},
      {"add", "nope"},
      {"add", "web"},
      {"remove", "nope"},
      {"remove", "web"},
      {"update", "nope"},
  };
  for (const auto& c : commands) expect_same(c);
}

TEST_F(CtlTest, CommandsThatChangeStateGiveTheSameAnswers) {
  // One client acts, the other then finds the state the first left: each answer must be the
  // one the other client gives in the same situation.
  auto both = [&](const std::vector<std::string>& args, const std::string& expected, int code) {
    for (bool podvisor_first : {true, false}) {
      const auto r = podvisor_first ? ours(args) : real(args);
      EXPECT_EQ(r.code, code) << r.describe();
      EXPECT_EQ(r.out, expected) << (podvisor_first ? "podvisor ctl" : "supervisorctl");
    }
  };
  const auto a = ours({"stop", "web"});
  EXPECT_EQ(a.code, 0) << a.describe();
  EXPECT_EQ(a.out, "web: stopped\n");
  both({"stop", "web"}, "web: ERROR (not running)\n", 0);
  expect_same({"status", "web"});
  expect_same({"status"});
  const auto b = ours({"start", "web"});
  EXPECT_EQ(b.code, 0) << b.describe();
  EXPECT_EQ(b.out, "web: started\n");
  both({"start", "web"}, "web: ERROR (already started)\n", 0);
  both({"start", "grp:b"}, "grp:b: ERROR (no such file)\n", 1);
  const auto c = ours({"restart", "grp:*"});
  EXPECT_EQ(c.code, 1) << c.describe();
  EXPECT_EQ(c.out, "grp:a: stopped\ngrp:a: started\ngrp:b: ERROR (no such file)\n");
  const auto d = ours({"signal", "USR1", "grp:*"});
  EXPECT_EQ(d.out, "grp:a: signalled\n") << d.describe();
  // supervisord itself races here: `once` exits at once, and whether its startProcess sees
  // the exit (SPAWN_ERROR) or the RUNNING of startsecs=0 first depends on the machine's load.
  const auto e = ours({"start", "once"});
  EXPECT_TRUE(e.out == "once: started\n" || e.out == "once: ERROR (spawn error)\n")
      << e.describe();
  const auto f = ours({"clear", "once", "web"});
  EXPECT_EQ(f.code, 0) << f.describe();
  EXPECT_EQ(f.out, "once: cleared\nweb: cleared\n");
  expect_same({"tail", "once"});
  // A new program in the file: reread, then update adds it.
  write_file(conf_, read_file(conf_) + "\n[program:late]\ncommand=sleep 1000\nstartsecs=0\n");
  expect_same({"reread"});
  const auto g = ours({"update"});
  EXPECT_EQ(g.code, 0) << g.describe();
  EXPECT_EQ(g.out, "late: added process group\n");
  expect_same({"avail"});
  const auto h = ours({"stop", "late"});
  EXPECT_EQ(h.out, "late: stopped\n") << h.describe();
  const auto i = ours({"remove", "late"});
  EXPECT_EQ(i.out, "late: removed process group\n") << i.describe();
  const auto j = ours({"add", "late"});
  EXPECT_EQ(j.out, "late: added process group\n") << j.describe();
  expect_same({"status"});
}

TEST_F(CtlTest, ConnectionAndAuthenticationErrors) {
  const auto url = "http://127.0.0.1:" + std::to_string(port_);
  expect_same({"-s", url, "status"}, false);
  expect_same({"-s", url, "-u", "admin", "-p", "wrong", "avail"}, false);
  expect_same({"-s", url, "-u", "admin", "-p", "secret", "status"}, false);
  expect_same(
      {"-s", "http://localhost:" + std::to_string(port_), "-u", "admin", "-p", "secret", "pid"},
      false);
  const auto missing = "unix://" + (dir_ / "missing.sock");
  for (const char* command : {"status", "avail", "shutdown", "tail", "version", "pid"}) {
    expect_same({"-s", missing, command}, false);
  }
  const auto refused = "http://127.0.0.1:" + std::to_string(free_port());
  for (const char* command : {"status", "avail", "shutdown"}) {
    expect_same({"-s", refused, command}, false);
  }
  expect_same({"-s", "foo://x", "status"}, false);
  expect_same({"-s", "notaurl", "status"}, false);
  expect_same({"-x"}, false);
  expect_same({"--bogus"}, false);
  expect_same({"-c"}, false);
  expect_same({"-c", dir_ / "nonexistent.conf", "status"}, false);
  expect_same({"-s", "unix:///a", "-s", "unix:///b", "status"}, false);
  write_file(dir_ / "no-ctl-section.conf", "[supervisord]\n");
  expect_same({"-c", dir_ / "no-ctl-section.conf", "status"}, false);
}

TEST_F(CtlTest, InteractiveShellReadsCommandsFromStdin) {
  // No command: supervisorctl's shell, here fed by a file instead of a terminal.
  const auto script = dir_ / "commands";
  write_file(script, "status web\nversion\nbogus\nhelp pid\n");
  auto shell = [&](const std::string& client) {
    Options o;
    o.exe = "/bin/sh";
    o.argv = {"/bin/sh", "-c", client + " -c " + shell_quote(conf_) + " < " + shell_quote(script)};
    return run(o);
  };
  const auto a = shell(shell_quote(*supervisorctl_));
  const auto b = shell(shell_quote(podvisor_binary()) + " ctl");
  EXPECT_EQ(a.code, b.code);
  EXPECT_EQ(normalize(a.out), normalize(b.out));
}

TEST_F(CtlTest, TailFollowsUntilCtrlC) {
  Child tail(podvisor({"ctl", "-c", conf_, "tail", "-f", "web"}));
  ASSERT_TRUE(tail.wait_stdout("==> Press Ctrl-C to exit <==\n")) << tail.describe();
  ASSERT_TRUE(tail.wait_stdout("web says hello")) << tail.describe();
  // New output arrives as the program writes it.
  const auto r = ours({"restart", "web"});
  ASSERT_EQ(r.code, 0) << r.describe();
  ASSERT_TRUE(tail.wait_for([&] { return count(tail.out(), "web says hello") >= 2; }))
      << tail.describe();
  tail.signal(SIGINT);
  EXPECT_EQ(tail.wait_exit(), 0) << tail.describe();

  Child main_log(podvisor({"ctl", "-c", conf_, "maintail", "-f"}));
  ASSERT_TRUE(main_log.wait_stdout("==> Press Ctrl-C to exit <==\n")) << main_log.describe();
  ASSERT_EQ(ours({"stop", "web"}).code, 0);
  ASSERT_TRUE(main_log.wait_stdout("stopped: web")) << main_log.describe();
  main_log.signal(SIGINT);
  EXPECT_EQ(main_log.wait_exit(), 0) << main_log.describe();

  // An unknown name: the server's 404 on stderr, as supervisorctl reports it.
  const auto bad = ours({"tail", "-f", "nope"});
  EXPECT_EQ(bad.code, 0) << bad.describe();
  EXPECT_NE(bad.err.find("/logtail/nope/stdout Cannot read, status code 404"), std::string::npos)
      << bad.describe();
}

TEST_F(CtlTest, CalledAsSupervisorctl) {
  TempDir bin;
  const auto link = bin / "supervisorctl";
  ASSERT_EQ(symlink(podvisor_binary().c_str(), link.c_str()), 0);
  Options o;
  o.exe = link;
  o.argv = {link, "-c", conf_, "status"};
  const auto as_supervisorctl = run(o);
  const auto reference = real({"status"});
  EXPECT_EQ(as_supervisorctl.code, reference.code) << as_supervisorctl.describe();
  EXPECT_EQ(normalize(as_supervisorctl.out), normalize(reference.out));
  o.argv = {link, "-x"};
  const auto usage = run(o);
  EXPECT_EQ(usage.code, 2);
  EXPECT_EQ(usage.err, "Error: option -x not recognized\nFor help, use " + link + " -h\n");
}

TEST_F(CtlTest, HelpTellsTheTruth) {
  const auto r = ours({"--help"}, false);
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("ctl [options] [action [arguments]]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("health"), std::string::npos) << r.out;
  const auto topics = ours({"help"});
  for (const char* command :
       {"add",   "avail",  "clear",  "exit",   "fg",     "health",  "maintail", "open",
        "pid",   "quit",   "reload", "remove", "reread", "restart", "shutdown", "signal",
        "start", "status", "stop",   "tail",   "update", "version"}) {
    EXPECT_NE(topics.out.find(command), std::string::npos) << command;
  }
}

TEST_F(CtlTest, HealthNeedsAServerThatHasIt) {
  // supervisord has no /health: podvisor ctl health says so and fails.
  const auto r = ours({"health"});
  EXPECT_EQ(r.code, 1) << r.describe();
  const auto missing = ours({"-s", "unix://" + (dir_ / "missing.sock"), "health"}, false);
  EXPECT_EQ(missing.code, 1);
  EXPECT_EQ(missing.out, "unix://" + (dir_ / "missing.sock") + " no such file\n");
}

TEST_F(CtlTest, ShutdownAndReload) {
  expect_same({"reload", "x"});
  const auto r = ours({"reload"});
  EXPECT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out, "Restarted supervisord\n");
  // Back once the socket answers again.
  ASSERT_TRUE(supervisord_child_->wait_for(
      [&] {
        const auto s = ours({"pid"});
        return s.code == 0;
      },
      kTimeout, 100ms));
  const auto s = ours({"shutdown"});
  EXPECT_EQ(s.code, 0) << s.describe();
  EXPECT_EQ(s.out, "Shut down\n");
  EXPECT_TRUE(supervisord_child_->wait_exit().has_value());
  expect_same({"shutdown"});
}

}  // namespace
}  // namespace e2e
