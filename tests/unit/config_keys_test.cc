// The key table: every key once per section, the same bound from the file and from the
// environment, and what check --print and getAllConfigInfo read from it.
#include <gtest/gtest.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>

#include "config/env.h"
#include "config/keys.h"
#include "config/loader.h"

namespace podvisor::config {
namespace {

using namespace std::chrono_literals;

TEST(Keys, EachKeyOnceInItsSection) {
  std::set<std::pair<std::string_view, std::string_view>> seen;
  for (const auto& k : all_keys()) {
    EXPECT_TRUE(seen.insert({k.section, k.name}).second) << k.section << " " << k.name;
    // A key applies into one kind of spec at most.
    EXPECT_LE(int(k.program != nullptr) + int(k.supervisord != nullptr) + int(k.server != nullptr),
              1)
        << k.name;
    EXPECT_EQ(k.info == nullptr, k.info_name.empty()) << k.name;
  }
}

TEST(Keys, FindAndKnownKeysBySectionType) {
  ASSERT_NE(find_key("program:web", "startsecs"), nullptr);
  EXPECT_EQ(find_key("program:web", "startsecs")->section, "program");
  EXPECT_NE(find_key("eventlistener:x", "command"), nullptr);  // [program]'s keys
  EXPECT_NE(find_key("unix_http_server", "chown"), nullptr);
  EXPECT_EQ(find_key("inet_http_server", "chown"), nullptr);
  EXPECT_EQ(find_key("program:web", "startsec"), nullptr);
  EXPECT_EQ(find_key("nosuch", "x"), nullptr);
  EXPECT_TRUE(known_keys("nosuch").empty());
  const auto& group = known_keys("group:g");
  EXPECT_EQ(group, (std::vector<std::string_view>{"programs", "priority"}));
  EXPECT_FALSE(find_key("program:x", "gpu_free_memory")->not_yet);
  EXPECT_FALSE(find_key("supervisord", "require_gpu")->not_yet);
  // [podvisor] takes [supervisord]'s keys.
  EXPECT_EQ(find_key("podvisor", "hold_on_fatal"), find_key("supervisord", "hold_on_fatal"));
  EXPECT_EQ(known_keys("podvisor"), known_keys("supervisord"));
}

// Single-command mode applies exactly the keys it documents (README, "SUPERVISOR_*").
TEST(Keys, SingleCommandKeys) {
  std::set<std::string_view> single;
  for (const auto& k : all_keys()) {
    if (k.single_command) single.insert(k.name);
  }
  EXPECT_EQ(
      single,
      (std::set<std::string_view>{
          "startsecs", "startretries", "stopsignal", "stopwaitsecs", "stopasgroup", "killasgroup",
          "exitcodes", "autorestart", "environment", "directory", "restart_reset", "backoff_max",
          "ready", "ready_timeout", "ready_interval", "hold_on_fatal", "hold_log_interval",
          "ready_status", "live", "live_interval", "live_failures", "loglevel",
          // SSH at boot (docs/pods.md)
          "ssh", "ssh_user", "ssh_host_key_dir", "ssh_env_exclude", "ssh_port", "ssh_options",
          "ssh_authorized_keys", "ssh_env_file", "ssh_profile_file", "ssh_sshd",
          // GPU (docs/gpu.md)
          "gpu_fence", "gpu_fence_timeout", "require_gpu"}));
}

class KeyBounds : public testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/podvisor-keys-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  ProgramSpec from_file(const std::string& key, const std::string& value) {
    const auto path = dir_ + "/supervisord.conf";
    std::ofstream(path) << "[program:app]\ncommand=/bin/true\n" << key << "=" << value << "\n";
    std::vector<std::string> warnings;
    return load_config(path, {}, warnings).programs.at(0);
  }
  static ProgramSpec from_environment(const std::string& key, const std::string& value) {
    std::vector<std::string> warnings;
    CommandLine cli;
    cli.argv = {"/bin/true"};
    auto upper = key;
    for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return single_command_spec(cli, {"SUPERVISOR_PROGRAM__APP_" + upper + "=" + value}, warnings)
        .programs.at(0);
  }
  std::string dir_;
};

// startsecs, stopwaitsecs and restart_reset had lower caps from the environment (1 day, 1
// day, 1 year) than from the file (2^31 s); the table gives both the file's.
TEST_F(KeyBounds, DurationsHaveOneBoundFromFileAndEnvironment) {
  for (const std::string key : {"startsecs", "stopwaitsecs", "restart_reset"}) {
    EXPECT_NO_THROW(from_file(key, "2147483648")) << key;
    EXPECT_NO_THROW(from_environment(key, "2147483648")) << key;
    EXPECT_THROW(from_file(key, "2147483649"), ConfigError) << key;
    EXPECT_THROW(from_environment(key, "2147483649"), EnvError) << key;
  }
  EXPECT_EQ(from_environment("startsecs", "86401").startsecs, 86401s);
  EXPECT_EQ(from_file("backoff_max", "86400").backoff_max, 86400s);
  EXPECT_THROW(from_file("backoff_max", "86401"), ConfigError);
  EXPECT_THROW(from_environment("backoff_max", "86401"), EnvError);
}

// standard-supervisor's retry limit stays 0-100 in single-command mode, however given.
TEST_F(KeyBounds, SingleCommandRetriesStayWithinStandardSupervisorsLimit) {
  EXPECT_EQ(from_file("startretries", "1000").startretries, 1000);
  EXPECT_EQ(from_environment("startretries", "100").startretries, 100);
  EXPECT_THROW(from_environment("startretries", "101"), EnvError);
}

std::string printed(const ProgramSpec& p, std::string_view name) {
  for (const auto& k : all_keys()) {
    if (k.name == name && k.print) return k.print(p).value_or("(not printed)");
  }
  return "(no such key)";
}

TEST(Keys, PrintTexts) {
  ProgramSpec p;
  p.argv = {"sh", "-c", "exit 0"};
  p.exitcodes = {0, 2};
  p.stopsignal = SIGINT;
  p.stdout_log.target = LogTarget::kStdout;
  p.stderr_log.target = LogTarget::kFile;
  p.stderr_log.path = "/var/log/x.log";
  p.umask = 022;
  EXPECT_EQ(printed(p, "command"), "sh -c 'exit 0'");
  EXPECT_EQ(printed(p, "exitcodes"), "0,2");
  EXPECT_EQ(printed(p, "stopsignal"), "SIGINT");
  EXPECT_EQ(printed(p, "startsecs"), "1");
  EXPECT_EQ(printed(p, "stdout_logfile"), "/dev/stdout");
  EXPECT_EQ(printed(p, "stderr_logfile"), "/var/log/x.log");
  EXPECT_EQ(printed(p, "umask"), "022");
  EXPECT_EQ(printed(p, "autorestart"), "unexpected");
  // The probe lines only with a probe.
  EXPECT_EQ(printed(p, "ready_interval"), "(not printed)");
  p.ready = ProbeSpec{};
  EXPECT_EQ(printed(p, "ready_interval"), "(adaptive)");
  EXPECT_EQ(printed(p, "ready_status"), "(2xx)");
  p.ready_interval = 250ms;
  EXPECT_EQ(printed(p, "ready_interval"), "0.25");
  // Keys supervisord has and podvisor ignores are not printed.
  EXPECT_EQ(printed(p, "stdout_syslog"), "(no such key)");
}

}  // namespace
}  // namespace podvisor::config
