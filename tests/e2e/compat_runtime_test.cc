// supervisord's runtime conventions that real images lean on: the pidfile (docker-selenium
// stops its container with kill `cat $PIDFILE`), daemon mode without -n, supervisord's words
// for a failed spawn, and supervisorctl finding single-command mode's podvisor.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <regex>
#include <thread>

#include "harness.h"

namespace e2e {
namespace {

using namespace std::chrono_literals;

// Polls `pred` (no output announces these states) until it holds or 10 s pass.
bool eventually(const std::function<bool()>& pred) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

Options command(std::vector<std::string> argv) {
  Options o;
  o.argv = std::move(argv);
  return o;
}

bool installed(const std::string& name) {
  return run(command({"sh", "-c", "command -v " + name})).code == 0;
}

bool alive(pid_t pid) {
  const auto state = process_state(pid);
  return state && *state != 'Z';
}

// ---- point 3: [supervisord] pidfile ----

constexpr std::string_view kPidfileConf = R"([supervisord]
nodaemon=true
pidfile=@DIR@/supervisord.pid

[program:s]
command=sleep 1000
startsecs=0
)";

TEST(CompatPidfile, WrittenAtStartRemovedAtExitKillSigintFromItStops) {
  TempDir dir;
  const auto conf = write_config(dir, kPidfileConf);
  const auto pidfile = dir / "supervisord.pid";
  Child c(podvisor_config(conf));
  ASSERT_TRUE(c.wait_stderr("supervisord started with pid")) << c.describe();
  EXPECT_EQ(read_file(pidfile), std::to_string(c.pid()) + "\n");
  // docker-selenium's way to stop its container.
  const auto r = run(command({"bash", "-c", "kill -s SIGINT `cat " + pidfile + "`"}));
  ASSERT_EQ(r.code, 0) << r.describe();
  const auto status = c.wait_exit();
  ASSERT_TRUE(status) << c.describe();
  EXPECT_EQ(*status, 0) << c.describe();  // as SIGINT gives today: the programs stopped as asked
  EXPECT_NE(c.err().find("received SIGINT indicating exit request"), std::string::npos);
  EXPECT_FALSE(exists(pidfile)) << c.describe();
}

TEST(CompatPidfile, MissingDirectoryRefusedAtStart) {
  TempDir dir;
  const auto conf = write_config(dir,
                                 "[supervisord]\nnodaemon=true\npidfile=@DIR@/no/sv.pid\n"
                                 "[program:s]\ncommand=sleep 1\n");
  const auto r = run(podvisor_config(conf));
  ASSERT_EQ(r.code, 2) << r.describe();
  EXPECT_NE(r.err.find("The directory named as part of the path " + dir.path() +
                       "/no/sv.pid does not exist"),
            std::string::npos)
      << r.describe();
}

TEST(CompatPidfile, UnwritableIsLoggedAndPodvisorGoesOn) {
  TempDir dir;
  ASSERT_EQ(::mkdir((dir / "taken").c_str(), 0755), 0);  // a directory cannot be opened to write
  const auto conf = write_config(dir,
                                 "[supervisord]\nnodaemon=true\npidfile=@DIR@/taken\n"
                                 "[program:s]\ncommand=sleep 1000\nstartsecs=0\n");
  Child c(podvisor_config(conf));
  ASSERT_TRUE(c.wait_stderr("CRIT could not write pidfile " + dir.path() + "/taken"))
      << c.describe();
  ASSERT_TRUE(c.wait_stderr("success: s entered RUNNING state")) << c.describe();
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
  EXPECT_TRUE(exists(dir / "taken")) << "not podvisor's to remove";
}

// ---- point 10: daemon mode ----

constexpr std::string_view kDaemonConf = R"([supervisord]
logfile=@DIR@/supervisord.log
pidfile=@DIR@/supervisord.pid
directory=@DIR@/wd

[unix_http_server]
file=@DIR@/supervisor.sock

[supervisorctl]
serverurl=unix://@DIR@/supervisor.sock

[program:s]
command=sleep 1000
startsecs=0
)";

// The harness makes the test process a subreaper and kills every child of it that no Child
// owns when a Child ends; a daemon must go to init instead, as it would in a shell. Kills the
// daemon named by the pidfile when a test fails half-way.
class DaemonScope {
 public:
  explicit DaemonScope(std::string pidfile) : pidfile_(std::move(pidfile)) {
    (void)run(command({"true"}));  // the harness has set the subreaper flag by now
    EXPECT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
  }
  ~DaemonScope() {
    if (exists(pidfile_)) {
      const pid_t pid = std::atoi(read_file(pidfile_).c_str());
      if (pid > 1) ::kill(pid, SIGKILL);
    }
    EXPECT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  }

 private:
  std::string pidfile_;
};

TEST(CompatDaemon, WithoutNodaemonItDaemonizesAndSigtermToThePidfileStopsIt) {
  TempDir dir;
  ASSERT_EQ(::mkdir((dir / "wd").c_str(), 0755), 0);
  const auto conf = write_config(dir, kDaemonConf);
  DaemonScope scope(dir / "supervisord.pid");
  auto options = podvisor_config(conf);
  options.daemon = true;
  const auto r = run(options);  // returns once the daemon listens and wrote its pidfile
  ASSERT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out + r.err, "") << "a daemon's log goes to its logfile only";
  const auto text = read_file(dir / "supervisord.pid");
  const pid_t daemon = std::atoi(text.c_str());
  ASSERT_GT(daemon, 1) << text;
  EXPECT_TRUE(alive(daemon));
  EXPECT_EQ(getsid(daemon), daemon) << "leads a session of its own";
  char cwd[4096] = {};
  const auto proc_cwd = "/proc/" + std::to_string(daemon) + "/cwd";
  ASSERT_GT(::readlink(proc_cwd.c_str(), cwd, sizeof cwd - 1), 0);
  EXPECT_EQ(std::string(cwd), dir / "wd");

  std::string status;
  ASSERT_TRUE(eventually([&] {
    status = run(podvisor({"ctl", "-c", conf, "status"})).out;
    return status.find("RUNNING") != std::string::npos;
  })) << status;
  const auto log = read_file(dir / "supervisord.log");
  EXPECT_NE(log.find("INFO daemonizing the supervisord process"), std::string::npos) << log;
  const auto program = spawned_pid(log, "s");
  ASSERT_TRUE(program) << log;

  ASSERT_EQ(::kill(daemon, SIGTERM), 0);
  EXPECT_TRUE(eventually([&] { return !alive(daemon); })) << read_file(dir / "supervisord.log");
  EXPECT_TRUE(eventually([&] { return !exists(dir / "supervisord.pid"); }));
  EXPECT_FALSE(alive(*program)) << "its program went with it";
  EXPECT_NE(read_file(dir / "supervisord.log").find("podvisor exiting with status 0"),
            std::string::npos);
}

TEST(CompatDaemon, AsPid1ItStaysInTheForegroundAndSaysWhy) {
  if (const auto why = unshare_unavailable()) GTEST_SKIP() << *why;
  TempDir dir;
  std::string text(kPidfileConf);
  text.erase(text.find("nodaemon=true\n"), 14);
  const auto conf = write_config(dir, text);
  Child c(command({"unshare", "--pid", "--fork", "--mount-proc", podvisor_binary(), "-c", conf}));
  ASSERT_TRUE(c.wait_stderr("not daemonizing: podvisor is PID 1")) << c.describe();
  ASSERT_TRUE(c.wait_stderr("success: s entered RUNNING state")) << c.describe();
  EXPECT_EQ(read_file(dir / "supervisord.pid"), "1\n");
  const auto inner = children(c.pid());  // unshare does not forward signals: podvisor itself
  ASSERT_EQ(inner.size(), 1u) << c.describe();
  ASSERT_EQ(::kill(inner[0], SIGTERM), 0);
  ASSERT_TRUE(c.wait_exit()) << c.describe();
  EXPECT_FALSE(exists(dir / "supervisord.pid"));
}

TEST(CompatDaemon, HelpTellsAboutNodaemon) {
  const auto r = run(podvisor({"--help"}));
  ASSERT_EQ(r.code, 0) << r.describe();
  EXPECT_NE(r.out.find("-n,--nodaemon"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("daemonizes"), std::string::npos) << r.out;
}

// ---- point 7: supervisord's words for a failed spawn ----

constexpr std::string_view kSpawnFailures = R"([supervisord]
nodaemon=true
logfile=@DIR@/supervisord.log
pidfile=@DIR@/supervisord.pid

[program:nodir]
command=sleep 100
directory=/nonexistent/podvisor-nodir
startretries=1
startsecs=5

[program:nocmd]
command=/nonexistent/podvisor-nocmd
startretries=1
)";

// supervisord-style lines about `name`, pids and times left out, in order.
std::vector<std::string> supervisord_lines(const std::string& log, const std::string& name) {
  static const std::regex kLine(
      R"((spawned: '([^']+)' with pid)|(exited: (\S+) \(.*\))|(spawnerr: .*)|(gave up: (\S+) .*))");
  std::vector<std::string> out;
  for (const auto& line : lines(log)) {
    std::smatch m;
    if (!std::regex_search(line, m, kLine) || line.find(name) == std::string::npos) continue;
    out.push_back(m[1].matched ? "spawned: '" + name + "'" : m.str(0));
  }
  return out;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += x + "\n";
  return s;
}

bool both_gave_up(const std::string& log) {
  return log.find("gave up: nodir") != std::string::npos &&
         log.find("gave up: nocmd") != std::string::npos;
}

TEST(CompatWording, SpawnFailuresInSupervisordsWordsAndPodvisorsDetail) {
  TempDir dir;
  const auto conf = write_config(dir, kSpawnFailures);
  Child c(podvisor_config(conf));
  ASSERT_TRUE(c.wait_for([&] { return both_gave_up(c.err()); })) << c.describe();
  const auto log = c.err();
  const std::vector<std::string> nodir = {
      "spawned: 'nodir'",
      "exited: nodir (exit status 127; not expected)",
      "spawned: 'nodir'",
      "exited: nodir (exit status 127; not expected)",
      "gave up: nodir entered FATAL state, too many start retries too quickly",
  };
  const std::vector<std::string> nocmd = {
      "spawnerr: can't find command '/nonexistent/podvisor-nocmd'",
      "spawnerr: can't find command '/nonexistent/podvisor-nocmd'",
      "gave up: nocmd entered FATAL state, too many start retries too quickly",
  };
  EXPECT_EQ(joined(supervisord_lines(log, "nodir")), joined(nodir)) << log;
  EXPECT_EQ(joined(supervisord_lines(log, "nocmd")), joined(nocmd)) << log;
  // podvisor's clearer detail stays, with the program's name.
  EXPECT_EQ(count(log,
                  "spawn error: nodir: couldn't chdir to /nonexistent/podvisor-nodir: "
                  "No such file or directory"),
            2u)
      << log;
  c.signal(SIGTERM);
  ASSERT_TRUE(c.wait_exit()) << c.describe();

  // The same file under Debian's supervisord gives the same supervisord-style lines.
  if (!installed("supervisord")) GTEST_SKIP() << "supervisord is not installed: compared with none";
  Child s(command({"supervisord", "-n", "-c", conf}));
  // supervisord -n logs to stdout (and the logfile); podvisor to stderr (and the logfile).
  ASSERT_TRUE(s.wait_for([&] { return both_gave_up(s.out()); })) << s.describe();
  const auto reference = s.out();
  s.signal(SIGTERM);
  ASSERT_TRUE(s.wait_exit()) << s.describe();
  EXPECT_EQ(joined(supervisord_lines(log, "nodir")), joined(supervisord_lines(reference, "nodir")))
      << reference;
  EXPECT_EQ(joined(supervisord_lines(log, "nocmd")), joined(supervisord_lines(reference, "nocmd")))
      << reference;
}

TEST(CompatWording, NotExecutableAndDirectory) {
  TempDir dir;
  write_file(dir / "noexec.sh", "#!/bin/sh\n", 0644);
  const auto conf = write_config(dir,
                                 "[supervisord]\nnodaemon=true\n"
                                 "[program:noexec]\ncommand=@DIR@/noexec.sh\nstartretries=0\n"
                                 "[program:isdir]\ncommand=@DIR@\nstartretries=0\n");
  Child c(podvisor_config(conf));
  ASSERT_TRUE(c.wait_for([&] {
    return c.err().find("gave up: noexec") != std::string::npos &&
           c.err().find("gave up: isdir") != std::string::npos;
  })) << c.describe();
  EXPECT_NE(c.err().find("spawnerr: command at '" + dir.path() + "/noexec.sh' is not executable"),
            std::string::npos)
      << c.describe();
  EXPECT_NE(c.err().find("spawnerr: command at '" + dir.path() + "' is a directory"),
            std::string::npos)
      << c.describe();
  c.signal(SIGTERM);
  ASSERT_TRUE(c.wait_exit()) << c.describe();
}

// ---- point 11: ctl with no options reaches single-command mode's podvisor ----

// The image's supervisord.conf (Debian's names /var/run/supervisor.sock), in the shell's
// working directory, where the search finds it first; the test cannot write /etc.
std::string image_config(const TempDir& dir, const std::string& socket) {
  return write_config(dir, "[unix_http_server]\nfile=" + socket +
                               "\n[supervisorctl]\nserverurl=unix://" + socket + "\n");
}

// ctl status typed in the container's shell (cwd `dir`, the same environment as podvisor's),
// until it reports the program RUNNING.
std::string ctl_status_in(const TempDir& dir,
                          std::map<std::string, std::optional<std::string>> env) {
  auto ctl = podvisor({"ctl", "status"}, std::move(env));
  ctl.cwd = dir.path();
  std::string out;
  eventually([&] {
    out = run(ctl).out;
    return out.find("RUNNING") != std::string::npos;
  });
  return out;
}

TEST(CompatCtl, AConfigSocketNobodyServesGivesWayToSingleCommandModes) {
  TempDir dir;
  // A socket file left behind by a supervisor killed with SIGKILL: nothing answers there.
  const auto stale = dir / "supervisor.sock";
  {
    Child killed(podvisor({"--", "sleep", "1000"}, {{"SUPERVISOR_UNIX_HTTP_SERVER_FILE", stale}}));
    ASSERT_TRUE(killed.wait_stderr("control server listening on")) << killed.describe();
    killed.signal(SIGKILL);
    ASSERT_TRUE(killed.wait_exit()) << killed.describe();
  }
  ASSERT_TRUE(exists(stale));
  image_config(dir, stale);
  auto options = podvisor({"--", "sleep", "1000"});
  options.cwd = dir.path();
  Child c(options);
  ASSERT_TRUE(c.wait_stderr("control server listening on")) << c.describe();
  // The harness gives podvisor and this shell the same SUPERVISOR_UNIX_HTTP_SERVER_FILE
  // (cwd/podvisor.sock), as an image's ENV would.
  const auto out = ctl_status_in(dir, {});
  EXPECT_TRUE(out.starts_with("app ") && out.find("RUNNING") != std::string::npos) << out;
  c.signal(SIGTERM);
  ASSERT_TRUE(c.wait_exit()) << c.describe();
  // With podvisor gone, the file's socket is what ctl reports it cannot reach.
  auto ctl = podvisor({"ctl", "status"});
  ctl.cwd = dir.path();
  const auto r = run(ctl);
  EXPECT_EQ(r.code, 4) << r.describe();
}

TEST(CompatCtl, AMissingConfigSocketGivesWayToo) {
  TempDir dir;
  image_config(dir, dir / "missing/supervisor.sock");
  auto options = podvisor({"--", "sleep", "1000"});
  options.cwd = dir.path();
  Child c(options);
  ASSERT_TRUE(c.wait_stderr("control server listening on")) << c.describe();
  const auto out = ctl_status_in(dir, {});
  EXPECT_NE(out.find("RUNNING"), std::string::npos) << out;
  c.signal(SIGTERM);
  ASSERT_TRUE(c.wait_exit()) << c.describe();
}

// What docs/ctl.md tells an image that keeps Debian's supervisorctl: point single-command mode
// at the file's socket, and both clients reach it with no options.
TEST(CompatCtl, SingleCommandModeOnTheConfigsSocketServesBothClients) {
  TempDir dir;
  const auto socket = dir / "supervisor.sock";
  const auto conf = image_config(dir, socket);
  auto options = podvisor({"--", "sleep", "1000"}, {{"SUPERVISOR_UNIX_HTTP_SERVER_FILE", socket}});
  options.cwd = dir.path();
  Child c(options);
  ASSERT_TRUE(c.wait_stderr("control server listening on " + socket)) << c.describe();
  const auto out = ctl_status_in(dir, {{"SUPERVISOR_UNIX_HTTP_SERVER_FILE", socket}});
  EXPECT_NE(out.find("RUNNING"), std::string::npos) << out;
  if (installed("supervisorctl")) {  // Debian's reads the file (here -c; /etc in an image)
    const auto r = run(command({"supervisorctl", "-c", conf, "status"}));
    EXPECT_NE(r.out.find("RUNNING"), std::string::npos) << r.describe();
  }
  c.signal(SIGTERM);
  ASSERT_TRUE(c.wait_exit()) << c.describe();
}

}  // namespace
}  // namespace e2e
