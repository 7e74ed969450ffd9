#include <gtest/gtest.h>

#include "config/env.h"

namespace podvisor::config {
namespace {

using namespace std::chrono_literals;

struct OverrideCase {
  const char* variable;
  const char* section;
  const char* key;
};

class ParseOverride : public testing::TestWithParam<OverrideCase> {};

TEST_P(ParseOverride, MatchesKnownKeysFromTheEnd) {
  const auto& c = GetParam();
  const auto o = parse_override(c.variable, "v");
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->section, c.section);
  EXPECT_EQ(o->key, c.key);
  EXPECT_EQ(o->value, "v");
}

INSTANTIATE_TEST_SUITE_P(
    Table, ParseOverride,
    testing::Values(
        OverrideCase{"SUPERVISOR_PROGRAM__APP_STARTSECS", "program:app", "startsecs"},
        OverrideCase{"SUPERVISOR_PROGRAM__APP_STOPWAITSECS", "program:app", "stopwaitsecs"},
        // Keys that hold '_' stay addressable (the original maps these to program:app_stdout).
        OverrideCase{"SUPERVISOR_PROGRAM__APP_STDOUT_LOGFILE", "program:app", "stdout_logfile"},
        OverrideCase{"SUPERVISOR_PROGRAM__APP_STDOUT_LOGFILE_MAXBYTES", "program:app",
                     "stdout_logfile_maxbytes"},
        OverrideCase{"SUPERVISOR_PROGRAM__MY_APP_RESTART_RESET", "program:my_app", "restart_reset"},
        OverrideCase{"SUPERVISOR_SUPERVISORD_LOGLEVEL", "supervisord", "loglevel"},
        OverrideCase{"SUPERVISOR_SUPERVISORD_LOGFILE_MAXBYTES", "supervisord", "logfile_maxbytes"},
        OverrideCase{"SUPERVISOR_UNIX_HTTP_SERVER_FILE", "unix_http_server", "file"},
        OverrideCase{"SUPERVISOR_INET_HTTP_SERVER_PORT", "inet_http_server", "port"},
        OverrideCase{"SUPERVISOR_FOO_BAR", "", ""},
        OverrideCase{"SUPERVISOR_PROGRAM__APP_NOSUCHKEY", "", ""}));

TEST(ParseOverride, PodvisorsOwnVariables) {
  const auto o = parse_override("PODVISOR_HOLD_ON_FATAL", "1");
  ASSERT_TRUE(o);
  EXPECT_EQ(o->section, "podvisor");
  EXPECT_EQ(o->key, "hold_on_fatal");
  EXPECT_EQ(parse_override("PODVISOR_HOLD_LOG_INTERVAL", "5")->key, "hold_log_interval");
  EXPECT_EQ(parse_override("SUPERVISOR_PODVISOR_HOLD_ON_FATAL", "1")->section, "podvisor");
  // podvisor's other variables are not settings: no override, no warning.
  EXPECT_FALSE(parse_override("PODVISOR_DAEMONIZED", "1"));
  EXPECT_FALSE(parse_override("PODVISOR_LOGLEVEL", "debug"));
}

TEST(ParseOverride, IgnoresOtherVariablesAndTheOnesPodvisorSets) {
  EXPECT_FALSE(parse_override("PATH", "/bin"));
  EXPECT_FALSE(parse_override("SUPERVISOR_ENABLED", "1"));
  EXPECT_FALSE(parse_override("SUPERVISOR_PROCESS_NAME", "app"));
  // standard-supervisor's file path, not a setting (MHCS skips it too).
  EXPECT_FALSE(parse_override("SUPERVISOR_CONFIG_PATH", "/tmp/x.conf"));
}

SupervisorSpec spec_for(std::vector<std::string> env, std::vector<std::string>* warnings = nullptr,
                        CommandLine cli = {}) {
  std::vector<std::string> ignored;
  if (cli.argv.empty()) cli.argv = {"vllm", "serve"};
  return single_command_spec(cli, env, warnings ? *warnings : ignored);
}

TEST(SingleCommandSpec, Defaults) {
  const auto spec = spec_for({});
  ASSERT_EQ(spec.programs.size(), 1u);
  const auto& p = spec.programs[0];
  EXPECT_EQ(p.name, "app");
  EXPECT_EQ(p.argv, (std::vector<std::string>{"vllm", "serve"}));
  EXPECT_EQ(p.autorestart, Autorestart::kTrue);
  EXPECT_EQ(p.startretries, 3);
  EXPECT_EQ(p.startsecs, 1s);
  EXPECT_EQ(p.stopwaitsecs, 10s);
  EXPECT_TRUE(p.stopasgroup);
  EXPECT_TRUE(p.killasgroup);
  EXPECT_TRUE(p.count_every_exit);
  EXPECT_TRUE(p.main);
  EXPECT_EQ(p.restart_reset, 300s);
  EXPECT_EQ(p.backoff_max, 30s);
  EXPECT_TRUE(spec.exit_on_fatal);
  EXPECT_EQ(spec.loglevel, LogLevel::kInfo);
  // MHCS's generated program: an exit 0 (vLLM's engine died) is not "expected".
  EXPECT_EQ(p.exitcodes, (std::vector<int>{255}));
}

// MHCS: unset is on, empty launches once unsupervised; podvisor keeps its booleans otherwise.
TEST(SingleCommandSpec, AutoRecovery) {
  EXPECT_TRUE(auto_recovery({}));
  EXPECT_FALSE(auto_recovery({"PROCESS_AUTO_RECOVERY="}));
  EXPECT_TRUE(auto_recovery({"PROCESS_AUTO_RECOVERY=1"}));
  EXPECT_TRUE(auto_recovery({"PROCESS_AUTO_RECOVERY=yes"}));
  EXPECT_FALSE(auto_recovery({"PROCESS_AUTO_RECOVERY=0"}));
  EXPECT_THROW(auto_recovery({"PROCESS_AUTO_RECOVERY=maybe"}), EnvError);
  EXPECT_EQ(spec_for({"PROCESS_AUTO_RECOVERY="}).programs[0].autorestart, Autorestart::kFalse);
}

// SUPERVISOR_SUPERVISORD_LOGFILE writes the main log to a file, as under MHCS.
TEST(SingleCommandSpec, SupervisordLogfile) {
  std::vector<std::string> warnings;
  const auto spec = spec_for(
      {"SUPERVISOR_SUPERVISORD_LOGFILE=/var/log/pv.log",
       "SUPERVISOR_SUPERVISORD_LOGFILE_MAXBYTES=1MB", "SUPERVISOR_CONFIG_PATH=/tmp/x.conf"},
      &warnings);
  EXPECT_EQ(spec.logfile, "/var/log/pv.log");
  EXPECT_EQ(spec.logfile_maxbytes, 1024u * 1024u);
  EXPECT_TRUE(warnings.empty()) << warnings.front();
}

TEST(SingleCommandSpec, StandardSupervisorVariables) {
  auto spec =
      spec_for({"PROCESS_AUTO_RECOVERY=FALSE", "PROCESS_MAX_START_RETRIES=7", "LOG_LEVEL=debug"});
  EXPECT_EQ(spec.programs[0].autorestart, Autorestart::kFalse);
  EXPECT_EQ(spec.programs[0].startretries, 7);
  EXPECT_EQ(spec.loglevel, LogLevel::kDebug);
  spec = spec_for({"PROCESS_AUTO_RECOVERY=On"});
  EXPECT_EQ(spec.programs[0].autorestart, Autorestart::kTrue);
}

TEST(SingleCommandSpec, SupervisorOverridesWinOverProcessVariables) {
  const auto spec = spec_for({
      "PROCESS_MAX_START_RETRIES=5",
      "SUPERVISOR_PROGRAM__APP_STARTRETRIES=9",
      "SUPERVISOR_PROGRAM__APP_STARTSECS=30",
      "SUPERVISOR_PROGRAM__APP_STOPSIGNAL=INT",
      "SUPERVISOR_PROGRAM__APP_STOPWAITSECS=45",
      "SUPERVISOR_PROGRAM__APP_EXITCODES=0,2",
      "SUPERVISOR_PROGRAM__APP_AUTORESTART=unexpected",
      "SUPERVISOR_PROGRAM__APP_ENVIRONMENT=A=1,B=\"x,y\"",
      "SUPERVISOR_PROGRAM__APP_DIRECTORY=/srv",
      "SUPERVISOR_PROGRAM__APP_RESTART_RESET=60",
      "SUPERVISOR_PROGRAM__APP_BACKOFF_MAX=8",
      "SUPERVISOR_SUPERVISORD_LOGLEVEL=error",
      "SUPERVISOR_SUPERVISORD_ENVIRONMENT=HF_HOME=/cache",
  });
  const auto& p = spec.programs[0];
  EXPECT_EQ(p.startretries, 9);
  EXPECT_EQ(p.startsecs, 30s);
  EXPECT_EQ(p.stopsignal, SIGINT);
  EXPECT_EQ(p.stopwaitsecs, 45s);
  EXPECT_EQ(p.exitcodes, (std::vector<int>{0, 2}));
  EXPECT_EQ(p.autorestart, Autorestart::kUnexpected);
  EXPECT_EQ(p.environment, (std::map<std::string, std::string>{{"A", "1"}, {"B", "x,y"}}));
  EXPECT_EQ(p.directory, "/srv");
  EXPECT_EQ(p.restart_reset, 60s);
  EXPECT_EQ(p.backoff_max, 8s);
  EXPECT_EQ(spec.loglevel, LogLevel::kError);
  EXPECT_EQ(spec.environment.at("HF_HOME"), "/cache");
}

TEST(SingleCommandSpec, CommandLineWinsOverEnvironment) {
  CommandLine cli;
  cli.argv = {"x"};
  cli.recovery = false;
  cli.max_retries = "1";
  cli.log_level = "warn";
  const auto spec =
      spec_for({"PROCESS_AUTO_RECOVERY=true", "PROCESS_MAX_START_RETRIES=5", "LOG_LEVEL=debug"},
               nullptr, cli);
  EXPECT_EQ(spec.programs[0].autorestart, Autorestart::kFalse);
  EXPECT_EQ(spec.programs[0].startretries, 1);
  EXPECT_EQ(spec.loglevel, LogLevel::kWarn);
}

TEST(SingleCommandSpec, HoldOnFatalFromTheVariableOrTheOption) {
  EXPECT_FALSE(spec_for({}).hold_on_fatal);
  std::vector<std::string> warnings;
  const auto spec =
      spec_for({"PODVISOR_HOLD_ON_FATAL=1", "PODVISOR_HOLD_LOG_INTERVAL=2"}, &warnings);
  EXPECT_TRUE(spec.hold_on_fatal);
  EXPECT_EQ(spec.hold_log_interval, 2s);
  EXPECT_TRUE(warnings.empty());
  CommandLine cli;
  cli.hold_on_fatal = true;
  EXPECT_TRUE(spec_for({"PODVISOR_HOLD_ON_FATAL=0"}, nullptr, cli).hold_on_fatal);
  EXPECT_TRUE(spec_for({"SUPERVISOR_SUPERVISORD_HOLD_ON_FATAL=true"}).hold_on_fatal);
}

class BadValue : public testing::TestWithParam<std::string> {};

TEST_P(BadValue, FailsNamingTheVariable) {
  const auto entry = GetParam();
  const auto name = entry.substr(0, entry.find('='));
  try {
    spec_for({entry});
    FAIL() << "accepted " << entry;
  } catch (const EnvError& e) {
    EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, BadValue,
    testing::Values(
        "PROCESS_AUTO_RECOVERY=maybe", "PROCESS_MAX_START_RETRIES=101",
        "PROCESS_MAX_START_RETRIES=-1", "PROCESS_MAX_START_RETRIES=abc", "LOG_LEVEL=loud",
        "SUPERVISOR_PROGRAM__APP_STARTSECS=x", "SUPERVISOR_PROGRAM__APP_STARTRETRIES=1000",
        "SUPERVISOR_PROGRAM__APP_STOPSIGNAL=NOPE", "SUPERVISOR_PROGRAM__APP_STOPWAITSECS=-5",
        "SUPERVISOR_PROGRAM__APP_EXITCODES=0,abc", "SUPERVISOR_PROGRAM__APP_AUTORESTART=sometimes",
        "SUPERVISOR_PROGRAM__APP_STOPASGROUP=maybe", "SUPERVISOR_PROGRAM__APP_KILLASGROUP=false",
        "SUPERVISOR_PROGRAM__APP_ENVIRONMENT=A=\"unclosed",
        "SUPERVISOR_PROGRAM__APP_RESTART_RESET=soon", "SUPERVISOR_PROGRAM__APP_BACKOFF_MAX=1.5",
        "SUPERVISOR_SUPERVISORD_LOGLEVEL=x", "PODVISOR_HOLD_ON_FATAL=sure",
        "PODVISOR_HOLD_LOG_INTERVAL=0"));

TEST(SingleCommandSpec, UnusedAndUnknownVariablesWarn) {
  std::vector<std::string> warnings;
  spec_for({"SUPERVISOR_FOO_BAR=1", "SUPERVISOR_PROGRAM__OTHER_STARTSECS=3",
            "SUPERVISOR_RPCINTERFACE__SUPERVISOR_X=1", "SUPERVISOR_ENABLED=1"},
           &warnings);
  ASSERT_EQ(warnings.size(), 3u);
  EXPECT_NE(warnings[0].find("SUPERVISOR_FOO_BAR"), std::string::npos);
  EXPECT_NE(warnings[1].find("SUPERVISOR_PROGRAM__OTHER_STARTSECS"), std::string::npos);
  EXPECT_NE(warnings[1].find("'other'"), std::string::npos);
  EXPECT_NE(warnings[2].find("SUPERVISOR_RPCINTERFACE__SUPERVISOR_X"), std::string::npos);
}

TEST(SingleCommandSpec, ControlSocketDefaultsAndOverrides) {
  EXPECT_EQ(spec_for({}).unix_server->file, kDefaultSocket);
  const auto moved =
      spec_for({"SUPERVISOR_UNIX_HTTP_SERVER_FILE=/run/p.sock",
                "SUPERVISOR_UNIX_HTTP_SERVER_CHMOD=0770", "SUPERVISOR_INET_HTTP_SERVER_PORT=9001"});
  EXPECT_EQ(moved.unix_server->file, "/run/p.sock");
  EXPECT_EQ(moved.unix_server->chmod, 0770u);
  ASSERT_TRUE(moved.inet_server);
  EXPECT_EQ(moved.inet_server->host, "127.0.0.1");  // a bare port stays local
  EXPECT_EQ(moved.inet_server->port, 9001);
  EXPECT_FALSE(spec_for({"SUPERVISOR_UNIX_HTTP_SERVER_FILE=none"}).unix_server);
  EXPECT_THROW(spec_for({"SUPERVISOR_INET_HTTP_SERVER_PORT=x"}), EnvError);
}

TEST(SingleCommandSpec, StopasgroupOffWithKillasgroupOffIsFine) {
  const auto spec = spec_for(
      {"SUPERVISOR_PROGRAM__APP_STOPASGROUP=false", "SUPERVISOR_PROGRAM__APP_KILLASGROUP=false"});
  EXPECT_FALSE(spec.programs[0].stopasgroup);
  EXPECT_FALSE(spec.programs[0].killasgroup);
}

}  // namespace
}  // namespace podvisor::config
