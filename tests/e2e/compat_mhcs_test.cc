// standard-supervisor as MHCS (aws/model-hosting-container-standards) ships it: the dependency
// install before launch (a stand-in `uv` on PATH records how it is called), the generated
// supervisord.conf that supervisorctl reads, MHCS's values; and SUPERVISOR_* variables read
// only in single-command mode, never from a supervisord.conf run (issue 10, points 9, 12-14).
// tests/python/test_standard_supervisor.py drives the same binary through MHCS's own scenarios.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

namespace e2e {
namespace {

// standard-supervisor ARGS... (podvisor with that argv[0]), its files (config, socket,
// model) in `dir`.
Options standard_supervisor(const TempDir& dir, std::vector<std::string> args,
                            std::map<std::string, std::optional<std::string>> env = {}) {
  Options o;
  o.exe = podvisor_binary();
  o.argv = {"standard-supervisor"};
  o.argv.insert(o.argv.end(), args.begin(), args.end());
  o.env = std::move(env);
  o.env.emplace("SUPERVISOR_CONFIG_PATH", dir / "supervisord.conf");
  o.env.emplace("SUPERVISOR_UNIX_HTTP_SERVER_FILE", dir / "pv.sock");
  o.env.emplace("SAGEMAKER_MODEL_PATH", dir / "model");
  o.cwd = dir.path();
  return o;
}

// A model with a requirements.txt, and a stand-in `uv` first on PATH that writes its argv to
// dir/uv.args (once it would say so on SIGTERM) and then runs `behaviour` (sh).
std::map<std::string, std::optional<std::string>> fake_uv(const TempDir& dir,
                                                          std::string_view behaviour) {
  ::mkdir((dir / "model").c_str(), 0755);
  ::mkdir((dir / "model/requirements").c_str(), 0755);
  ::mkdir((dir / "bin").c_str(), 0755);
  write_file(dir / "model/requirements.txt", "somepackage==1.0\n");
  write_file(dir / "bin/uv",
             "#!/bin/sh\ntrap 'echo installer got TERM; exit 1' TERM\nprintf '%s\\n' \"$@\" > " +
                 shell_quote(dir / "uv.args.tmp") + "\nmv " + shell_quote(dir / "uv.args.tmp") +
                 " " + shell_quote(dir / "uv.args") + "\n" + std::string(behaviour) + "\n",
             0755);
  const char* path = getenv("PATH");
  return {{"PATH", dir / "bin:" + std::string(path ? path : "/usr/bin:/bin")}};
}

TEST(MhcsInstall, UsesUvWithThePythonOfTheLaunchCommandAndFindLinks) {
  TempDir dir;
  auto env = fake_uv(dir, "echo installer says hi; exit 0");
  env["PROCESS_AUTO_RECOVERY"] = "false";
  const auto r = run(standard_supervisor(dir, {"python3", "-c", "print('app ran')"}, env));
  ASSERT_EQ(r.code, 0) << r.describe();
  // The installer's output is passed through, before the app's.
  EXPECT_EQ(r.out, "installer says hi\napp ran\n") << r.describe();
  const auto args = lines(read_file(dir / "uv.args"));
  ASSERT_GE(args.size(), 8u) << read_file(dir / "uv.args");
  EXPECT_EQ(args[0], "pip");
  EXPECT_EQ(args[1], "install");
  EXPECT_EQ(args[2], "--python");
  EXPECT_EQ(args[3].substr(0, 1), "/") << "python3 resolved on PATH: " << args[3];
  EXPECT_TRUE(args[3].ends_with("/python3")) << args[3];
  EXPECT_EQ(args[4], "-r");
  EXPECT_EQ(args[5], dir / "model/requirements.txt");
  EXPECT_EQ(args[6], "--find-links");
  EXPECT_EQ(args[7], dir / "model/requirements");
}

TEST(MhcsInstall, ExplicitPipArgsReplaceDiscovery) {
  TempDir dir;
  auto env = fake_uv(dir, "exit 0");
  env["STANDARD_PIP_ARGS"] = "-r '/srv/my reqs.txt' --index-url http://127.0.0.1:1/simple";
  env["PROCESS_AUTO_RECOVERY"] = "false";
  const auto r = run(standard_supervisor(dir, {"sleep", "0"}, env));
  ASSERT_EQ(r.code, 0) << r.describe();
  const auto args = lines(read_file(dir / "uv.args"));
  ASSERT_EQ(args.size(), 8u) << read_file(dir / "uv.args");
  EXPECT_EQ(args[4], "-r");
  EXPECT_EQ(args[5], "/srv/my reqs.txt");
  EXPECT_EQ(args[6], "--index-url");
}

// A failed install ends the start with exit 1 in both recovery modes: the app never runs and
// no supervisord.conf is written.
TEST(MhcsInstall, FailureEndsTheStartWithExit1) {
  for (const char* recovery : {"true", "false"}) {
    TempDir dir;
    auto env = fake_uv(dir, "echo 'ERROR: No matching distribution' >&2; exit 3");
    env["PROCESS_AUTO_RECOVERY"] = recovery;
    const auto r = run(standard_supervisor(dir, {"sh", "-c", "echo app ran"}, env));
    ASSERT_EQ(r.code, 1) << recovery << r.describe();
    EXPECT_NE(r.err.find("ERROR: No matching distribution"), std::string::npos) << r.describe();
    EXPECT_NE(r.err.find("Dependency installation failed (exit 3)"), std::string::npos)
        << r.describe();
    EXPECT_EQ(r.out.find("app ran"), std::string::npos) << r.describe();
    EXPECT_EQ(r.err.find("spawned:"), std::string::npos) << r.describe();
    EXPECT_FALSE(exists(dir / "supervisord.conf")) << recovery;
  }
}

TEST(MhcsInstall, DisabledOrNothingToInstall) {
  TempDir dir;
  auto env = fake_uv(dir, "exit 3");
  env["PROCESS_AUTO_RECOVERY"] = "false";
  env["STANDARD_AUTO_INSTALL_REQ"] = "off";
  auto r = run(standard_supervisor(dir, {"sh", "-c", "echo app ran"}, env));
  ASSERT_EQ(r.code, 0) << r.describe();
  EXPECT_FALSE(exists(dir / "uv.args"));
  env.erase("STANDARD_AUTO_INSTALL_REQ");
  ::unlink((dir / "model/requirements.txt").c_str());
  r = run(standard_supervisor(dir, {"sh", "-c", "echo app ran"}, env));
  ASSERT_EQ(r.code, 0) << r.describe();
  EXPECT_FALSE(exists(dir / "uv.args"));
}

// `docker stop` during a long install: the installer gets the signal, the app never starts,
// and podvisor exits at once with 128+N instead of waiting for the kill.
TEST(MhcsInstall, SignalDuringInstallStopsIt) {
  TempDir dir;
  auto env = fake_uv(dir, "sleep 60 & wait");
  Child c(standard_supervisor(dir, {"sh", "-c", "echo app ran"}, env));
  ASSERT_TRUE(c.wait_file(dir / "uv.args", "install")) << c.describe();
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 143) << c.describe();
  EXPECT_NE(c.out().find("installer got TERM"), std::string::npos) << c.describe();
  EXPECT_EQ(c.out().find("app ran"), std::string::npos) << c.describe();
  EXPECT_TRUE(descendants(c.pid()).empty());
}

// The generated file names podvisor's socket: podvisor's own ctl, given only that file,
// reaches the running standard-supervisor (Debian's supervisorctl: tests/python).
TEST(MhcsConfig, CtlReachesPodvisorThroughTheGeneratedFile) {
  TempDir dir;
  Child c(standard_supervisor(dir, {"sleep", "60"}, {{"SUPERVISOR_PROGRAM__APP_STARTSECS", "0"}}));
  ASSERT_TRUE(c.wait_stderr("success: app entered RUNNING state")) << c.describe();
  const auto conf = read_file(dir / "supervisord.conf");
  EXPECT_NE(conf.find("serverurl = unix://" + dir / "pv.sock"), std::string::npos) << conf;
  const auto status = run(podvisor({"ctl", "-c", dir / "supervisord.conf", "status"}));
  EXPECT_EQ(status.code, 0) << status.describe();
  EXPECT_NE(status.out.find("RUNNING"), std::string::npos) << status.describe();
  c.signal(SIGTERM);
  EXPECT_EQ(c.wait_exit(), 143) << c.describe();
  EXPECT_TRUE(exists(dir / "supervisord.conf")) << "a chosen SUPERVISOR_CONFIG_PATH is kept";
}

// PROCESS_AUTO_RECOVERY= (empty): MHCS launches once, unsupervised; so does podvisor.
TEST(MhcsValues, EmptyAutoRecoveryRunsOnce) {
  TempDir dir;
  const auto r = run(
      standard_supervisor(dir, {"sh", "-c", "echo once; exit 5"}, {{"PROCESS_AUTO_RECOVERY", ""}}));
  ASSERT_EQ(r.code, 5) << r.describe();
  EXPECT_EQ(r.out, "once\n") << r.describe();
  EXPECT_FALSE(exists(dir / "supervisord.conf"));
}

// Laravel Sail sets SUPERVISOR_PHP_COMMAND for its own supervisord.conf: a config-mode run
// reads it only through %(ENV_...)s, never as an override, and warns about nothing.
TEST(ConfigModeEnvironment, SupervisorVariablesAreNotOverrides) {
  TempDir dir;
  const auto conf = write_config(dir, R"([supervisord]
logfile=/dev/null

[program:php]
command=%(ENV_SUPERVISOR_PHP_COMMAND)s
startsecs=0
autorestart=false
stdout_logfile=/dev/stdout
)");
  Child c(podvisor_config(conf, {{"SUPERVISOR_PHP_COMMAND", "echo from-sail"},
                                 {"SUPERVISOR_PROGRAM__PHP_COMMAND", "echo from-override"},
                                 {"SUPERVISOR_PROGRAM__PHP_STARTSECS", "soon"}}));
  ASSERT_TRUE(c.wait_stderr("exited: php (exit status 0; expected)")) << c.describe();
  const auto start = c.err();  // before podvisor logs the SIGTERM below
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
  EXPECT_EQ(c.out(), "from-sail\n") << c.describe();
  EXPECT_EQ(start.find("WARN"), std::string::npos) << c.describe();
  EXPECT_EQ(start.find("SUPERVISOR_"), std::string::npos) << c.describe();
}

}  // namespace
}  // namespace e2e
