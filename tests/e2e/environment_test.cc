// standard-supervisor's environment (SPEC §2): a bad value exits 1 before anything starts,
// naming the variable; an unknown SUPERVISOR_* variable is a warning, not silence.
#include <gtest/gtest.h>

#include "harness.h"

namespace e2e {
namespace {

struct BadSetting {
  std::string label;     // test name
  std::string variable;  // the name the message must hold
  std::string value;     // set as an environment variable (unless a flag)
  std::vector<std::string> flags{};

  // Test names in ctest show this, not the bytes of the struct.
  void PrintTo(const BadSetting& c, std::ostream* os) { *os << c.label; }
  // podvisor options instead of a variable
};

class BadValue : public testing::TestWithParam<BadSetting> {};

TEST_P(BadValue, Exits1NamingItBeforeAnythingStarts) {
  const auto& c = GetParam();
  TempDir dir;
  const auto marker = dir / "command-ran";
  std::vector<std::string> args = c.flags;
  args.insert(args.end(), {"--", "sh", "-c", "touch " + shell_quote(marker)});
  std::map<std::string, std::optional<std::string>> env{{"PROCESS_AUTO_RECOVERY", "false"}};
  if (c.flags.empty()) env[c.variable] = c.value;
  const auto r = run(podvisor(args, env));
  ASSERT_EQ(r.code, 1) << r.describe();
  EXPECT_FALSE(exists(marker)) << "the command ran despite the bad value\n" << r.describe();
  EXPECT_NE(r.err.find(c.variable), std::string::npos) << r.describe();
  EXPECT_EQ(r.err.find("spawned:"), std::string::npos) << r.describe();
  EXPECT_EQ(r.out, "") << r.describe();
}

INSTANTIATE_TEST_SUITE_P(
    Settings, BadValue,
    testing::Values(
        BadSetting{"RecoveryMaybe", "PROCESS_AUTO_RECOVERY", "maybe"},
        BadSetting{"Retries101", "PROCESS_MAX_START_RETRIES", "101"},
        BadSetting{"RetriesNegative", "PROCESS_MAX_START_RETRIES", "-1"},
        BadSetting{"RetriesAbc", "PROCESS_MAX_START_RETRIES", "abc"},
        BadSetting{"RetriesFraction", "PROCESS_MAX_START_RETRIES", "2.5"},
        BadSetting{"LogLevelLoud", "LOG_LEVEL", "loud"},
        BadSetting{"Startsecs", "SUPERVISOR_PROGRAM__APP_STARTSECS", "x"},
        BadSetting{"Startretries", "SUPERVISOR_PROGRAM__APP_STARTRETRIES", "1000"},
        BadSetting{"Stopsignal", "SUPERVISOR_PROGRAM__APP_STOPSIGNAL", "NOPE"},
        BadSetting{"Stopwaitsecs", "SUPERVISOR_PROGRAM__APP_STOPWAITSECS", "-5"},
        BadSetting{"Exitcodes", "SUPERVISOR_PROGRAM__APP_EXITCODES", "0,abc"},
        BadSetting{"Autorestart", "SUPERVISOR_PROGRAM__APP_AUTORESTART", "sometimes"},
        BadSetting{"Stopasgroup", "SUPERVISOR_PROGRAM__APP_STOPASGROUP", "maybe"},
        BadSetting{"Killasgroup", "SUPERVISOR_PROGRAM__APP_KILLASGROUP", "maybe"},
        BadSetting{"Environment", "SUPERVISOR_PROGRAM__APP_ENVIRONMENT", "A=\"unclosed"},
        BadSetting{"RestartReset", "SUPERVISOR_PROGRAM__APP_RESTART_RESET", "soon"},
        BadSetting{"BackoffMax", "SUPERVISOR_PROGRAM__APP_BACKOFF_MAX", "1e3"},
        BadSetting{"SupervisordLoglevel", "SUPERVISOR_SUPERVISORD_LOGLEVEL", "x"},
        BadSetting{"SupervisordEnvironment", "SUPERVISOR_SUPERVISORD_ENVIRONMENT", "=1"},
        BadSetting{"MaxRetriesFlag", "--max-retries", "", {"--max-retries", "101"}},
        BadSetting{"LogLevelFlag", "--log-level", "", {"--log-level", "loud"}}),
    [](const testing::TestParamInfo<BadSetting>& param_info) { return param_info.param.label; });

// The message also says what would be accepted.
TEST(Environment, BadValueIsReportedWithTheAcceptedValues) {
  const auto r = run(podvisor({"--", "true"}, {{"PROCESS_MAX_START_RETRIES", "101"}}));
  ASSERT_EQ(r.code, 1) << r.describe();
  EXPECT_NE(r.err.find("PROCESS_MAX_START_RETRIES"), std::string::npos) << r.describe();
  EXPECT_NE(r.err.find("0 to 100"), std::string::npos) << r.describe();
}

struct UnknownSetting {
  std::string label;
  std::string variable;
};

// Test names in ctest show this, not the bytes of the struct.
void PrintTo(const UnknownSetting& c, std::ostream* os) { *os << c.label; }

class UnknownVariable : public testing::TestWithParam<UnknownSetting> {};

TEST_P(UnknownVariable, IsAWarningAndTheCommandRuns) {
  TempDir dir;
  const auto marker = dir / "command-ran";
  const auto r = run(podvisor({"--", "sh", "-c", "touch " + shell_quote(marker)},
                              {{"PROCESS_AUTO_RECOVERY", "false"}, {GetParam().variable, "1"}}));
  ASSERT_EQ(r.code, 0) << r.describe();
  EXPECT_TRUE(exists(marker)) << r.describe();
  bool warned = false;
  for (const auto& line : lines(r.err)) {
    warned |= line.find(" WARN ") != std::string::npos &&
              line.find(GetParam().variable) != std::string::npos;
  }
  EXPECT_TRUE(warned) << "no WARN line naming " << GetParam().variable << "\n" << r.describe();
}

INSTANTIATE_TEST_SUITE_P(
    Variables, UnknownVariable,
    testing::Values(UnknownSetting{"NoSuchSection", "SUPERVISOR_FOO_BAR"},
                    UnknownSetting{"OtherProgram", "SUPERVISOR_PROGRAM__OTHER_STARTSECS"},
                    UnknownSetting{"KeyUnusedHere", "SUPERVISOR_PROGRAM__APP_USER"}),
    [](const testing::TestParamInfo<UnknownSetting>& param_info) {
      return param_info.param.label;
    });

// Known key names are matched from the end (SPEC §2): ..._APP_STDOUT_LOGFILE is [program:app]
// stdout_logfile (not used in this mode: a warning), not a program named 'app_stdout'.
TEST(Environment, KeysWithUnderscoresAreMatchedFromTheEnd) {
  const auto r = run(podvisor({"--", "true"}, {{"PROCESS_AUTO_RECOVERY", "false"},
                                               {"SUPERVISOR_PROGRAM__APP_STDOUT_LOGFILE", "x"}}));
  ASSERT_EQ(r.code, 0) << r.describe();
  EXPECT_NE(r.err.find("SUPERVISOR_PROGRAM__APP_STDOUT_LOGFILE: [program:app] stdout_logfile"),
            std::string::npos)
      << r.describe();
  EXPECT_EQ(r.err.find("app_stdout"), std::string::npos) << r.describe();
}

// Settings that are used do reach the command.
TEST(Environment, ProgramEnvironmentAndDirectoryApply) {
  TempDir dir;
  const auto r = run(podvisor({"--", "sh", "-c", "echo \"$FOO|$BAR|$BASE|$(pwd)\""},
                              {{"PROCESS_AUTO_RECOVERY", "false"},
                               {"SUPERVISOR_PROGRAM__APP_ENVIRONMENT", "FOO=\"a, b\",BAR=2"},
                               {"SUPERVISOR_SUPERVISORD_ENVIRONMENT", "BASE=3"},
                               {"SUPERVISOR_PROGRAM__APP_DIRECTORY", dir.path()}}));
  ASSERT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out, "a, b|2|3|" + dir.path() + "\n") << r.describe();
}

// A SUPERVISOR_* setting is the most specific one: it wins over PROCESS_AUTO_RECOVERY.
TEST(Environment, AutorestartSettingWinsOverRecovery) {
  const auto r = run(podvisor(
      {"--", "sh", "-c", "exit 4"},
      {{"PROCESS_AUTO_RECOVERY", "true"}, {"SUPERVISOR_PROGRAM__APP_AUTORESTART", "false"}}));
  ASSERT_EQ(r.code, 4) << r.describe();
  EXPECT_EQ(count(r.err, "spawned:"), 1u) << r.describe();
}

}  // namespace
}  // namespace e2e
