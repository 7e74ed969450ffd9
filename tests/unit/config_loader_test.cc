#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "config/loader.h"

namespace podvisor::config {
namespace {

using namespace std::chrono_literals;

class Loader : public testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/podvisor-loader-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    const auto path = dir_ + "/" + name;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path) << text;
    return path;
  }
  SupervisorSpec load(const std::string& text, std::vector<std::string> env = {},
                      std::vector<std::string> overrides = {}) {
    warnings_.clear();
    return load_config(write("supervisord.conf", text), env, warnings_, overrides);
  }
  const ProgramSpec& program(const SupervisorSpec& spec, const std::string& name) {
    for (const auto& p : spec.programs) {
      if (p.name == name) return p;
    }
    throw std::runtime_error("no program " + name);
  }
  bool warned(const std::string& text) const {
    for (const auto& w : warnings_) {
      if (w.find(text) != std::string::npos) return true;
    }
    return false;
  }

  std::string dir_;
  std::vector<std::string> warnings_;
};

TEST_F(Loader, SupervisordDefaults) {
  const auto spec = load("[supervisord]\n[program:web]\ncommand=/bin/web --port 80\n");
  ASSERT_EQ(spec.programs.size(), 1u);
  const auto& p = spec.programs[0];
  EXPECT_EQ(p.name, "web");
  EXPECT_EQ(p.group, "web");
  EXPECT_EQ(p.argv, (std::vector<std::string>{"/bin/web", "--port", "80"}));
  EXPECT_EQ(p.priority, 999);
  EXPECT_TRUE(p.autostart);
  EXPECT_EQ(p.autorestart, Autorestart::kUnexpected);
  EXPECT_EQ(p.startsecs, 1s);
  EXPECT_EQ(p.startretries, 3);
  EXPECT_EQ(p.stopsignal, SIGTERM);
  EXPECT_EQ(p.stopwaitsecs, 10s);
  EXPECT_FALSE(p.stopasgroup);
  EXPECT_FALSE(p.killasgroup);
  EXPECT_FALSE(p.count_every_exit);
  EXPECT_FALSE(p.main);
  EXPECT_EQ(p.stdout_log.target, LogTarget::kAuto);
  EXPECT_EQ(p.stdout_log.maxbytes, 50u * 1024 * 1024);
  EXPECT_EQ(p.stdout_log.backups, 10);
  EXPECT_FALSE(spec.exit_on_fatal);
  EXPECT_EQ(spec.logfile, "supervisord.log");
  EXPECT_EQ(spec.umask, 022);
}

TEST_F(Loader, EveryProgramKey) {
  const auto spec = load(R"([supervisord]
[program:x]
command = sh -c "exit 0"
priority = 5
autostart = false
autorestart = true
startsecs = 0
startretries = 7
stopsignal = INT
stopwaitsecs = 30
stopasgroup = true
exitcodes = 0,2
redirect_stderr = true
stdout_logfile = /dev/stdout
stdout_logfile_maxbytes = 0
stdout_logfile_backups = 0
environment = A="1",B=two
directory = /tmp
umask = 002
user = root
restart_reset = 60
backoff_max = 5
main = true
log_prefix = false
)");
  const auto& p = program(spec, "x");
  EXPECT_EQ(p.argv, (std::vector<std::string>{"sh", "-c", "exit 0"}));
  EXPECT_EQ(p.priority, 5);
  EXPECT_FALSE(p.autostart);
  EXPECT_EQ(p.autorestart, Autorestart::kTrue);
  EXPECT_EQ(p.startsecs, 0s);
  EXPECT_EQ(p.startretries, 7);
  EXPECT_EQ(p.stopsignal, SIGINT);
  EXPECT_EQ(p.stopwaitsecs, 30s);
  EXPECT_TRUE(p.stopasgroup);
  EXPECT_TRUE(p.killasgroup);  // follows stopasgroup by default
  EXPECT_EQ(p.exitcodes, (std::vector<int>{0, 2}));
  EXPECT_TRUE(p.redirect_stderr);
  EXPECT_EQ(p.stdout_log.target, LogTarget::kStdout);
  EXPECT_EQ(p.stdout_log.maxbytes, 0u);
  EXPECT_EQ(p.stderr_log.target, LogTarget::kNone);  // redirected
  EXPECT_EQ(p.environment, (std::map<std::string, std::string>{{"A", "1"}, {"B", "two"}}));
  EXPECT_EQ(p.directory, "/tmp");
  EXPECT_EQ(p.umask, 002);
  EXPECT_EQ(p.user, "root");
  EXPECT_EQ(p.uid, 0u);
  EXPECT_EQ(p.restart_reset, 60s);
  EXPECT_EQ(p.backoff_max, 5s);
  EXPECT_TRUE(p.main);
  EXPECT_EQ(p.log_prefix, std::optional<bool>(false));
}

TEST_F(Loader, NumprocsAndProcessNames) {
  const auto spec = load(R"([supervisord]
[program:p]
command=/bin/worker --id %(process_num)d
numprocs=2
numprocs_start=5
process_name=%(program_name)s-%(process_num)d
stdout_logfile=%(here)s/err_%(process_num)02d.log
)");
  ASSERT_EQ(spec.programs.size(), 2u);
  EXPECT_EQ(spec.programs[0].name, "p-5");
  EXPECT_EQ(spec.programs[1].name, "p-6");
  EXPECT_EQ(spec.programs[0].argv.back(), "5");
  EXPECT_EQ(spec.programs[1].stdout_log.path, dir_ + "/err_06.log");
  EXPECT_EQ(spec.programs[0].group, "p");
}

TEST_F(Loader, InterpolationOfEnvHereGroupAndHost) {
  const auto spec = load(R"([supervisord]
environment=MODEL_DIR="/models"
[group:serving]
programs=api
[program:api]
command=/bin/api --models %(ENV_MODEL_DIR)s --home %(ENV_HOME)s --group %(group_name)s --conf %(here)s --pct 100%%
)",
                         {"HOME=/root"});
  const auto& p = program(spec, "api");
  EXPECT_EQ(p.group, "serving");
  EXPECT_EQ(p.argv,
            (std::vector<std::string>{"/bin/api", "--models", "/models", "--home", "/root",
                                      "--group", "serving", "--conf", dir_, "--pct", "100%"}));
}

TEST_F(Loader, DefaultSectionAndPriorityOrder) {
  const auto spec = load(R"([DEFAULT]
startsecs=0
[supervisord]
[program:b]
command=/bin/b
[program:a]
command=/bin/a
[program:first]
command=/bin/first
priority=1
)");
  ASSERT_EQ(spec.programs.size(), 3u);
  EXPECT_EQ(spec.programs[0].name, "first");
  EXPECT_EQ(spec.programs[1].name, "a");
  EXPECT_EQ(spec.programs[2].name, "b");
  EXPECT_EQ(spec.programs[2].startsecs, 0s);
}

TEST_F(Loader, GroupPriorityAndProgramsOrder) {
  const auto spec = load(R"([supervisord]
[program:comfyui]
priority=900
command=/bin/c
[group:comfy]
programs=comfyui_integration , comfyui
priority=-5
[program:comfyui_integration]
priority=1000
command=/bin/ci
[group:plain]
programs=x
[program:x]
command=/bin/x
[program:alone]
priority=7
command=/bin/alone
)");
  EXPECT_EQ(program(spec, "comfyui").group_priority, -5);
  EXPECT_EQ(program(spec, "comfyui").group_position, 1);
  EXPECT_EQ(program(spec, "comfyui").priority, 900);
  EXPECT_EQ(program(spec, "comfyui_integration").group_position, 0);
  EXPECT_EQ(program(spec, "x").group_priority, 999);
  EXPECT_EQ(program(spec, "alone").group_priority, std::nullopt);  // its own priority
  // In start order: the group at -5 (its programs= order), alone at 7, plain at 999.
  std::vector<std::string> names;
  for (const auto& p : spec.programs) names.push_back(p.name);
  EXPECT_EQ(names, (std::vector<std::string>{"comfyui_integration", "comfyui", "alone", "x"}));
  EXPECT_THROW(load("[supervisord]\n[group:g]\nprograms=a\npriority=high\n[program:a]\n"
                    "command=/x\n"),
               ConfigError);
}

TEST_F(Loader, IncludeGlobsRelativeToTheFileSorted) {
  write("conf.d/20-b.conf", "[program:b]\ncommand=/bin/b\nstdout_logfile=%(here)s/b.log\n");
  write("conf.d/10-a.conf", "[program:a]\ncommand=/bin/a\n");
  write("conf.d/ignored.txt", "[program:c]\ncommand=/bin/c\n");
  const auto spec = load("[supervisord]\n[include]\nfiles = conf.d/*.conf\n");
  ASSERT_EQ(spec.programs.size(), 2u);
  EXPECT_EQ(spec.programs[0].name, "a");
  EXPECT_EQ(program(spec, "b").stdout_log.path, dir_ + "/conf.d/b.log");
}

// supervisord's flags reach the file as overrides, through the same table as the file.
TEST_F(Loader, OverridesAnySectionAndKey) {
  const auto spec = load(
      "[supervisord]\n[program:web]\ncommand=/bin/web\n", {},
      {"SUPERVISOR_PROGRAM__WEB_STARTSECS=9", "SUPERVISOR_PROGRAM__WEB_STDOUT_LOGFILE=/dev/stdout",
       "SUPERVISOR_SUPERVISORD_EXIT_ON_FATAL=true",
       "SUPERVISOR_UNIX_HTTP_SERVER_FILE=/tmp/pv.sock"});
  EXPECT_EQ(program(spec, "web").startsecs, 9s);
  EXPECT_EQ(program(spec, "web").stdout_log.target, LogTarget::kStdout);
  EXPECT_TRUE(spec.exit_on_fatal);
  EXPECT_EQ(spec.other_sections.at("unix_http_server").at("file"), "/tmp/pv.sock");
}

// As supervisord: the environment's SUPERVISOR_* variables (Laravel Sail's
// SUPERVISOR_PHP_COMMAND) neither change the file nor draw a warning; they serve %(ENV_x)s.
TEST_F(Loader, EnvironmentSupervisorVariablesAreNotOverrides) {
  const auto spec =
      load("[supervisord]\n[program:web]\ncommand=/bin/web %(ENV_SUPERVISOR_PHP_COMMAND)s\n",
           {"SUPERVISOR_PROGRAM__WEB_STARTSECS=9", "SUPERVISOR_PHP_COMMAND=php"});
  EXPECT_EQ(program(spec, "web").startsecs, 1s);
  EXPECT_EQ(program(spec, "web").argv, (std::vector<std::string>{"/bin/web", "php"}));
  EXPECT_TRUE(warnings_.empty()) << warnings_.front();
}

TEST_F(Loader, WarnsAboutUnknownKeysAndSections) {
  load(
      "[supervisord]\nfoo=1\n[program:web]\ncommand=/bin/web\nstartsec=3\n"
      "[weird]\na=1\n");
  EXPECT_TRUE(warned("unknown key 'foo'"));
  EXPECT_TRUE(warned(":5: [program:web] unknown key 'startsec'"));
  EXPECT_TRUE(warned("unknown section [weird]"));
}

struct ErrorCase {
  const char* text;
  int line;
  const char* message;
};

class LoaderError : public Loader, public testing::WithParamInterface<ErrorCase> {};

TEST_P(LoaderError, NamesFileLineAndProblem) {
  const auto& c = GetParam();
  try {
    load(c.text);
    FAIL() << "accepted:\n" << c.text;
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.where.line, c.line) << e.what();
    EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("supervisord.conf:" + std::to_string(c.line) + ": "),
              std::string::npos)
        << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, LoaderError,
    testing::Values(
        ErrorCase{"[supervisord]\n[program:a]\nautostart=false\n", 2, "does not specify a command"},
        ErrorCase{"[supervisord]\n[program:a]\ncommand=/x\nautostart=maybe\n", 4, "autostart"},
        ErrorCase{"[supervisord]\n[program:a]\ncommand=/x\nstartsecs=soon\n", 4, "startsecs"},
        ErrorCase{"[supervisord]\n[program:a]\ncommand=/x\nstopsignal=NOPE\n", 4, "signal"},
        ErrorCase{"[supervisord]\n[program:a]\ncommand=/x\nexitcodes=0,x\n", 4, "exit codes"},
        ErrorCase{"[supervisord]\n[program:a]\ncommand=/x\nautorestart=sometimes\n", 4,
                  "unexpected"},
        ErrorCase{"[supervisord]\n[program:a]\ncommand=/x\nstdout_logfile_maxbytes=5TB\n", 4,
                  "byte size"},
        ErrorCase{"[supervisord]\n[program:a]\ncommand=/x\numask=999\n", 4, "octal"},
        ErrorCase{"[supervisord]\n[program:a]\ncommand=/x\nnumprocs=2\n", 4,
                  "%(process_num) must be present"},
        ErrorCase{"[supervisord]\n[program:a]\ncommand=/x\nstopasgroup=true\nkillasgroup=false\n",
                  5, "stopasgroup=true and killasgroup=false"},
        ErrorCase{"[supervisord]\n[program:a]\ncommand=/x %(nope)s\n", 3, "'nope'"},
        ErrorCase{"[supervisord]\n[program:a]\ncommand=echo 'open\n", 3, "closing quotation"},
        ErrorCase{"[supervisord]\n[program:a]\ncommand=/x\nuser=no-such-user-here\n", 4,
                  "no such user"},
        ErrorCase{"[supervisord]\n[program:a b]\ncommand=/x\n", 2, "invalid name"},
        ErrorCase{"[supervisord]\n[group:g]\nprograms=a,zz\n[program:a]\ncommand=/x\n", 3,
                  "unknown program zz"},
        ErrorCase{"[supervisord]\nloglevel=loud\n", 2, "log level"},
        ErrorCase{"[supervisord]\n[include]\nnofiles=1\n", 2, "no files setting"},
        ErrorCase{"[supervisord]\n[program:a]\ncommand=/x\nnumprocs=0\n", 4, "numprocs"},
        ErrorCase{"[supervisord]\nlog_format=xml\n", 2, "log format"},
        ErrorCase{"[supervisord]\n[podvisor]\n\nhold_on_fatal=maybe\n", 4,
                  "[podvisor] hold_on_fatal: 'maybe' is not a boolean"},
        ErrorCase{"[podvisor]\nhold_log_interval=0\n", 2, "hold_log_interval"},
        ErrorCase{"junk before any section\n", 1, "no section headers"},
        ErrorCase{"[program:a]\ncommand=/x\nready=tcp://db.internal:5432\n", 3,
                  "numeric address or localhost"},
        ErrorCase{"[program:a]\ncommand=/x\nready=smtp://x\n", 3, "is not a probe"},
        ErrorCase{"[inet_http_server]\nport=db:9001\n", 2, "numeric address"},
        ErrorCase{"[inet_http_server]\nusername=u\n", 1, "needs a port"},
        ErrorCase{"[unix_http_server]\nfile=/s\nchown=nobody-here\n", 3, "no such user"},
        ErrorCase{"[unix_http_server]\nfile=/s\nusername=u\n", 3, "go together"},
        ErrorCase{"[program:a]\ncommand=/x\nready=http://127.0.0.1/x\n", 3, "has no port"},
        ErrorCase{"[program:a]\ncommand=/x\nready=log:(unclosed\n", 3,
                  "invalid regular expression"},
        ErrorCase{"[program:a]\ncommand=/x\nlive=notify\n", 3, "cannot check liveness"},
        ErrorCase{"[program:a]\ncommand=/x\nready_status=200,9000\n", 3, "HTTP status codes"},
        ErrorCase{"[program:a]\ncommand=/x\nready_interval=0\n", 3, "more than 0"},
        ErrorCase{"[program:a]\ncommand=/x\nready_timeout=1.2345\n", 3, "number of seconds"},
        ErrorCase{"[program:a]\ncommand=/x\n\ndepends_on=b\n", 4,
                  "a depends on unknown program 'b'"},
        ErrorCase{"[program:a]\ncommand=/x\ndepends_on=a\n", 3, "a depends on itself"},
        ErrorCase{"[program:a]\ncommand=/x\ndepends_on=b:soon\n[program:b]\ncommand=/x\n", 3,
                  "started, ready or done"},
        ErrorCase{"[program:a]\ncommand=/x\ndepends_on=b:done\n[program:b]\ncommand=/x\n", 3,
                  "needs b to be a oneshot"},
        ErrorCase{"[program:a]\ncommand=/x\ndepends_on=b\n[program:b]\ncommand=/x\n"
                  "depends_on=c\n[program:c]\ncommand=/x\ndepends_on=a\n",
                  9, "dependency cycle: a -> b -> c -> a"}));

// podvisor's own keys may go in [podvisor], which supervisord ignores; it wins over
// [supervisord] where both set a key, and an override wins over both.
TEST_F(Loader, PodvisorSectionTakesSupervisordKeysAndWins) {
  const auto spec = load(
      "[supervisord]\nexit_on_fatal=true\nhold_on_fatal=false\nloglevel=warn\n"
      "[podvisor]\nhold_on_fatal=true\nhold_log_interval=30\nloglevel=debug\n"
      "[program:a]\ncommand=/x\n");
  EXPECT_TRUE(spec.exit_on_fatal);
  EXPECT_TRUE(spec.hold_on_fatal);
  EXPECT_EQ(spec.hold_log_interval, 30s);
  EXPECT_EQ(spec.loglevel, LogLevel::kDebug);
  EXPECT_EQ(spec.logfile, "supervisord.log");  // [supervisord]'s default still applies
  EXPECT_FALSE(spec.other_sections.count("podvisor"));
  EXPECT_TRUE(warnings_.empty()) << warnings_.front();

  const auto defaults = load("[supervisord]\n[program:a]\ncommand=/x\n");
  EXPECT_FALSE(defaults.hold_on_fatal);
  EXPECT_EQ(defaults.hold_log_interval, 300s);

  const auto overridden =
      load("[supervisord]\n[podvisor]\nhold_on_fatal=true\n", {}, {"PODVISOR_HOLD_ON_FATAL=false"});
  EXPECT_FALSE(overridden.hold_on_fatal);
  const auto flag = load("[supervisord]\nhold_on_fatal=false\n", {},
                         {"PODVISOR_HOLD_ON_FATAL=0", "SUPERVISOR_PODVISOR_HOLD_ON_FATAL=true"});
  EXPECT_TRUE(flag.hold_on_fatal);
}

TEST_F(Loader, PodvisorSectionAloneAndItsUnknownKeys) {
  const auto spec = load("[podvisor]\nhold_on_fatal=yes\nsshd=1\n[program:a]\ncommand=/x\n");
  EXPECT_TRUE(spec.hold_on_fatal);
  EXPECT_TRUE(warned("no [supervisord] section"));
  EXPECT_TRUE(warned("supervisord.conf:3: [podvisor] unknown key 'sshd'"));
  EXPECT_FALSE(warned("unknown section"));
}

TEST_F(Loader, ReadsTheControlServers) {
  const auto spec = load(
      "[unix_http_server]\nfile=%(here)s/s.sock\nchmod=0770\nchown=root:root\n"
      "[inet_http_server]\nport=*:9001\nusername=u\npassword={SHA}abc\nhealth_auth=true\n");
  ASSERT_TRUE(spec.unix_server);
  EXPECT_EQ(spec.unix_server->file, dir_ + "/s.sock");
  EXPECT_EQ(spec.unix_server->chmod, 0770u);
  EXPECT_EQ(spec.unix_server->uid, 0u);
  ASSERT_TRUE(spec.inet_server);
  EXPECT_EQ(spec.inet_server->host, "");
  EXPECT_EQ(spec.inet_server->port, 9001);
  EXPECT_EQ(spec.inet_server->password, "{SHA}abc");
  EXPECT_TRUE(spec.inet_server->health_auth);
}

TEST_F(Loader, ReadsProbesAndDependencies) {
  const auto spec = load(
      "[program:server]\ncommand=/x\nready=http://localhost:8188/system_stats\n"
      "ready_timeout=120\nready_interval=0.25\nready_status=200,503\nlive=tcp://[::1]:9\n"
      "live_interval=5\nlive_failures=2\n"
      "[program:fetch]\ncommand=/x\noneshot=true\n"
      "[program:worker]\ncommand=/x\nprocess_name=%(program_name)s_%(process_num)d\n"
      "numprocs=2\n"
      "[program:handler]\ncommand=/x\ndepends_on=server, fetch:done, worker:started\n");
  const auto& server = spec.programs[2];
  ASSERT_EQ(server.name, "server");
  ASSERT_TRUE(server.ready);
  EXPECT_EQ(server.ready->kind, ProbeSpec::Kind::kHttp);
  EXPECT_EQ(server.ready->host, "127.0.0.1");
  EXPECT_EQ(server.ready->port, 8188);
  EXPECT_EQ(server.ready->path, "/system_stats");
  EXPECT_EQ(server.ready_timeout, std::chrono::seconds(120));
  EXPECT_EQ(server.ready_interval, std::chrono::milliseconds(250));
  EXPECT_EQ(server.ready_status, (std::vector<int>{200, 503}));
  ASSERT_TRUE(server.live);
  EXPECT_EQ(server.live->host, "::1");
  EXPECT_EQ(server.live_interval, std::chrono::seconds(5));
  EXPECT_EQ(server.live_failures, 2);
  EXPECT_TRUE(spec.programs[0].oneshot);
  const auto& handler = spec.programs[1];
  ASSERT_EQ(handler.name, "handler");
  using C = Dependency::Condition;
  EXPECT_EQ(handler.depends_on, (std::vector<Dependency>{{"server", C::kReady},
                                                         {"fetch", C::kDone},
                                                         {"worker_0", C::kStarted},
                                                         {"worker_1", C::kStarted}}));
}

TEST_F(Loader, MissingFileIsAnError) {
  std::vector<std::string> w;
  EXPECT_THROW(load_config(dir_ + "/nope.conf", {}, w), ConfigError);
}

}  // namespace
}  // namespace podvisor::config

namespace podvisor::config {
namespace {

TEST_F(Loader, ASectionThatOnlyMovedIsTheSameProgram) {
  const auto before = load("[program:first]\ncommand=/x\n[program:stay]\ncommand=/y\n");
  const auto after = load("[program:stay]\ncommand=/y\n");
  ASSERT_NE(static_cast<const std::string&>(before.programs[1].where),
            static_cast<const std::string&>(after.programs[0].where));
  EXPECT_EQ(before.programs[1], after.programs[0]);
}

}  // namespace
}  // namespace podvisor::config
