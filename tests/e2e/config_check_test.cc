// Reading a supervisord.conf: every error is `file:line: message` and exit 2 before any
// program starts; `podvisor check -c FILE`; podvisor answering as `supervisord` (SPEC §1, §3).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>

#include "harness.h"

namespace e2e {
namespace {

// A file whose line 8 (and on) is the case's; program `good` would leave a marker if it ran.
//   1 [supervisord]
//   2 logfile=/dev/null
//   3 [program:good]
//   4 command=touch @DIR@/good-ran
//   5 startsecs=0
//   6 [program:bad]
//   7 <command line, or what the case puts there>
//   8 <the case's lines>
struct BadConfig {
  std::string label;
  std::string line7;
  std::string rest;
  int line;              // the line the message names
  std::string fragment;  // a word the message must hold
};

void PrintTo(const BadConfig& c, std::ostream* os) { *os << c.label; }

std::string bad_config_text(const BadConfig& c) {
  return "[supervisord]\nlogfile=/dev/null\n[program:good]\ncommand=touch @DIR@/good-ran\n"
         "startsecs=0\n[program:bad]\n" +
         c.line7 + "\n" + c.rest;
}

const BadConfig kBadConfigs[] = {
    {"StartsecsNotANumber", "command=sleep 1", "startsecs=soon\n", 8, "soon"},
    {"MissingCommand", "startsecs=1", "", 6, "command"},
    {"NumprocsWithoutProcessNum", "command=sleep 1", "numprocs=2\n", 8, "process_num"},
    {"StopasgroupWithoutKillasgroup", "command=sleep 1", "stopasgroup=true\nkillasgroup=false\n", 9,
     "killasgroup"},
    {"AutorestartNotAChoice", "command=sleep 1", "autorestart=maybe\n", 8, "maybe"},
    {"BadExitcodes", "command=sleep 1", "exitcodes=0,x\n", 8, "0,x"},
    {"UnknownSignal", "command=sleep 1", "stopsignal=NOPE\n", 8, "NOPE"},
    {"NotABoolean", "command=sleep 1", "autostart=perhaps\n", 8, "perhaps"},
    {"NotAByteSize", "command=sleep 1", "stdout_logfile_maxbytes=lots\n", 8, "lots"},
    {"PriorityNotANumber", "command=sleep 1", "priority=high\n", 8, "high"},
    {"UnknownUser", "command=sleep 1", "user=no-such-user-e2e\n", 8, "no-such-user-e2e"},
    {"UnknownInterpolation", "command=sleep %(ENV_PODVISOR_E2E_UNSET)s", "", 7,
     "ENV_PODVISOR_E2E_UNSET"},
    {"LineWithoutEquals", "command=sleep 1", "this is not a setting\n", 8, "this is not"},
};

class ConfigBadFile : public testing::TestWithParam<BadConfig> {};

TEST_P(ConfigBadFile, Exits2NamingFileAndLineBeforeAnythingStarts) {
  const auto& c = GetParam();
  TempDir dir;
  const auto conf = write_config(dir, bad_config_text(c));
  const auto r = run(podvisor_config(conf));
  ASSERT_EQ(r.code, 2) << r.describe();
  const auto where = "podvisor: " + conf + ":" + std::to_string(c.line) + ": ";
  EXPECT_NE(r.err.find(where), std::string::npos) << "expected " << where << "\n" << r.describe();
  EXPECT_NE(r.err.find(c.fragment), std::string::npos) << r.describe();
  EXPECT_EQ(r.err.find("spawned:"), std::string::npos) << r.describe();
  EXPECT_FALSE(exists(dir / "good-ran")) << "a program ran despite the bad file";
  EXPECT_EQ(r.out, "") << r.describe();
}

// `podvisor check` reports the same error the same way.
TEST_P(ConfigBadFile, CheckExits2NamingFileAndLine) {
  const auto& c = GetParam();
  TempDir dir;
  const auto conf = write_config(dir, bad_config_text(c));
  const auto r = run(podvisor({"check", "-c", conf}));
  ASSERT_EQ(r.code, 2) << r.describe();
  const auto where = conf + ":" + std::to_string(c.line) + ": ";
  EXPECT_NE(r.err.find(where), std::string::npos) << "expected " << where << "\n" << r.describe();
  EXPECT_NE(r.err.find(c.fragment), std::string::npos) << r.describe();
  EXPECT_FALSE(exists(dir / "good-ran"));
}

INSTANTIATE_TEST_SUITE_P(Cases, ConfigBadFile, testing::ValuesIn(kBadConfigs),
                         [](const auto& param_info) { return param_info.param.label; });

TEST(ConfigErrors, ErrorInAnIncludedFileNamesThatFile) {
  TempDir dir;
  ASSERT_EQ(::mkdir((dir / "conf.d").c_str(), 0755), 0);
  const auto included =
      write_config(dir, "[program:inc]\ncommand=sleep 1\nstartsecs=soon\n", "conf.d/inc.conf");
  const auto conf =
      write_config(dir,
                   "[supervisord]\nlogfile=/dev/null\n[include]\nfiles=conf.d/*.conf\n"
                   "[program:good]\ncommand=touch @DIR@/good-ran\n");
  const auto r = run(podvisor_config(conf));
  ASSERT_EQ(r.code, 2) << r.describe();
  EXPECT_NE(r.err.find("podvisor: " + included + ":3: "), std::string::npos) << r.describe();
  EXPECT_FALSE(exists(dir / "good-ran"));
}

TEST(ConfigErrors, MissingFileExits2) {
  TempDir dir;
  const auto missing = dir / "nope.conf";
  const auto r = run(podvisor_config(missing));
  ASSERT_EQ(r.code, 2) << r.describe();
  EXPECT_NE(r.err.find(missing), std::string::npos) << r.describe();
  EXPECT_EQ(r.err.find("spawned:"), std::string::npos) << r.describe();
  const auto check = run(podvisor({"check", "-c", missing}));
  ASSERT_EQ(check.code, 2) << check.describe();
  EXPECT_NE(check.err.find(missing), std::string::npos) << check.describe();
}

// A bad value of a supervisord flag is an error too, naming the flag's key.
TEST(ConfigErrors, BadFlagValueIsAnError) {
  TempDir dir;
  const auto conf =
      write_config(dir, "[supervisord]\nlogfile=/dev/null\n[program:x]\ncommand=sleep 1\n");
  auto options = podvisor_config(conf);
  options.exe = podvisor_binary();
  options.argv = {"supervisord", "-n", "-c", conf, "--minfds", "many"};
  const auto r = run(options);
  ASSERT_EQ(r.code, 2) << r.describe();
  EXPECT_NE(r.err.find("minfds"), std::string::npos) << r.describe();
  EXPECT_EQ(r.err.find("spawned:"), std::string::npos) << r.describe();
}

// ---- podvisor check ----

TEST(ConfigCheck, ValidFileIsOk) {
  TempDir dir;
  const auto conf = write_config(dir, R"([supervisord]
logfile=/dev/null

[program:a]
command=touch @DIR@/ran

[program:p]
command=touch @DIR@/ran
process_name=%(program_name)s-%(process_num)d
numprocs=2
)");
  const auto r = run(podvisor({"check", "-c", conf}));
  ASSERT_EQ(r.code, 0) << r.describe();
  EXPECT_NE(r.err.find("ok, 3 program(s)"), std::string::npos) << r.describe();
  EXPECT_EQ(r.err.find("warning:"), std::string::npos) << r.describe();
  EXPECT_FALSE(exists(dir / "ran")) << "check ran a program";
}

// supervisord ignores unknown keys and sections silently; check warns with file:line, and
// running the file still works.
TEST(ConfigCheck, WarnsAboutUnknownKeysAndSections) {
  TempDir dir;
  const auto conf = write_config(dir, R"([supervisord]
logfile=/dev/null

[program:x]
command=sh -c 'echo ran'
foo=bar
autorestart=false
startsecs=0
stdout_logfile=/dev/stdout

[bogus]
key=value
)");
  const auto r = run(podvisor({"check", "-c", conf}));
  ASSERT_EQ(r.code, 0) << r.describe();
  EXPECT_NE(r.err.find("warning: " + conf + ":6: [program:x] unknown key 'foo'"), std::string::npos)
      << r.describe();
  EXPECT_NE(r.err.find("warning: " + conf + ":11: unknown section [bogus]"), std::string::npos)
      << r.describe();
  EXPECT_NE(r.err.find("ok, 1 program(s)"), std::string::npos) << r.describe();

  Child c(podvisor_config(conf));
  ASSERT_TRUE(c.wait_stderr("exited: x (exit status 0; expected)")) << c.describe();
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
  EXPECT_EQ(c.out(), "ran\n") << c.describe();
}

// --print shows the effective programs: after %(...)s interpolation and numprocs expansion;
// SUPERVISOR_* variables do not change the file (supervisord never reads them).
TEST(ConfigCheck, PrintShowsEffectivePrograms) {
  TempDir dir;
  const auto conf = write_config(dir, R"([supervisord]
logfile=/dev/null

[program:x]
command=%(ENV_E2E_TOOL)s/bin/tool --port %(ENV_E2E_PORT)s
startsecs=3

[program:p]
command=sleep 1
process_name=%(program_name)s-%(process_num)d
numprocs=2
numprocs_start=5
stderr_logfile=%(here)s/err_%(process_num)02d.log
)");
  const auto r = run(podvisor(
      {"check", "--print", "-c", conf},
      {{"E2E_TOOL", "/opt/e2e"}, {"E2E_PORT", "8080"}, {"SUPERVISOR_PROGRAM__X_STARTSECS", "7"}}));
  ASSERT_EQ(r.code, 0) << r.describe();
  EXPECT_NE(r.out.find("[program:x]"), std::string::npos) << r.describe();
  EXPECT_NE(r.out.find("[program:p-5]"), std::string::npos) << r.describe();
  EXPECT_NE(r.out.find("[program:p-6]"), std::string::npos) << r.describe();
  EXPECT_NE(r.out.find("/opt/e2e/bin/tool"), std::string::npos) << r.describe();
  EXPECT_NE(r.out.find("8080"), std::string::npos) << r.describe();
  EXPECT_EQ(r.out.find("%(ENV_"), std::string::npos) << r.describe();
  EXPECT_NE(r.out.find(dir / "err_05.log"), std::string::npos) << r.describe();
  EXPECT_NE(r.out.find(dir / "err_06.log"), std::string::npos) << r.describe();
  // x's block says startsecs 3 (the file), not 7 (the variable).
  const auto x = r.out.find("[program:x]");
  ASSERT_NE(x, std::string::npos);
  const auto x_block = r.out.substr(x, r.out.find("[program:", x + 1) - x);
  EXPECT_NE(x_block.find("startsecs = 3"), std::string::npos) << x_block;
  EXPECT_NE(r.err.find("ok, 3 program(s)"), std::string::npos) << r.describe();
}

// ---- called as supervisord ----

Options supervisord(const TempDir& dir, std::vector<std::string> args) {
  const auto link = dir / "supervisord";
  if (!exists(link) && ::symlink(podvisor_binary().c_str(), link.c_str()) != 0) {
    ADD_FAILURE() << "symlink " << link;
  }
  Options o;
  o.exe = link;
  o.argv = {link};
  o.argv.insert(o.argv.end(), args.begin(), args.end());
  return o;
}

constexpr std::string_view kEcho = R"([supervisord]
logfile=/dev/null

[program:hello]
command=sh -c 'echo hello'
autorestart=false
startsecs=0
stdout_logfile=/dev/stdout
)";

TEST(ConfigSupervisord, RunsTheFileWithNodaemon) {
  TempDir dir;
  const auto conf = write_config(dir, kEcho);
  Child c(supervisord(dir, {"-n", "-c", conf}));
  ASSERT_TRUE(c.wait_stderr("exited: hello (exit status 0; expected)")) << c.describe();
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
  EXPECT_EQ(c.out(), "hello\n") << c.describe();
  EXPECT_EQ(c.err().find("DEBG"), std::string::npos) << c.describe();
}

TEST(ConfigSupervisord, LoglevelFlag) {
  TempDir dir;
  const auto conf = write_config(dir, kEcho);
  Child c(supervisord(dir, {"-c", conf, "-e", "debug"}));
  ASSERT_TRUE(c.wait_stderr("exited: hello (exit status 0; expected)")) << c.describe();
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
  EXPECT_NE(c.err().find(" DEBG "), std::string::npos) << c.describe();
}

TEST(ConfigSupervisord, Version) {
  TempDir dir;
  const auto r = run(supervisord(dir, {"-v"}));
  ASSERT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out, "4.2.5\n") << r.describe();
}

TEST(ConfigSupervisord, BadFileExits2) {
  TempDir dir;
  const auto conf = write_config(
      dir, "[supervisord]\nlogfile=/dev/null\n[program:x]\ncommand=sleep 1\nstartsecs=soon\n");
  const auto r = run(supervisord(dir, {"-n", "-c", conf}));
  ASSERT_EQ(r.code, 2) << r.describe();
  EXPECT_NE(r.err.find(conf + ":5: "), std::string::npos) << r.describe();
}

}  // namespace
}  // namespace e2e
