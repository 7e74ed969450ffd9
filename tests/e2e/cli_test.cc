// The command line: podvisor's options, and `standard-supervisor CMD` through argv[0].
#include <gtest/gtest.h>
#include <unistd.h>

#include "harness.h"

namespace e2e {
namespace {

Options standard_supervisor(const TempDir& dir, std::vector<std::string> args,
                            std::map<std::string, std::optional<std::string>> env = {}) {
  const auto link = dir / "standard-supervisor";
  if (!exists(link) && ::symlink(podvisor_binary().c_str(), link.c_str()) != 0) {
    ADD_FAILURE() << "symlink " << link;
  }
  Options o;
  o.exe = link;
  o.argv = {link};
  o.argv.insert(o.argv.end(), args.begin(), args.end());
  o.env = std::move(env);
  // The generated supervisord.conf stays in the test's directory, not /tmp.
  o.env.emplace("SUPERVISOR_CONFIG_PATH", dir / "supervisord.conf");
  return o;
}

TEST(StandardSupervisor, RunsTheCommandAndPassesItsStatus) {
  TempDir dir;
  const auto r = run(standard_supervisor(dir, {"sh", "-c", "echo via symlink; exit 5"},
                                         {{"PROCESS_AUTO_RECOVERY", "false"}}));
  ASSERT_EQ(r.code, 5) << r.describe();
  EXPECT_EQ(r.out, "via symlink\n") << r.describe();
  EXPECT_NE(r.err.find("spawned: 'app' with pid"), std::string::npos) << r.describe();
}

// Options of the command are the command's, not standard-supervisor's.
TEST(StandardSupervisor, CommandArgumentsAreNotParsed) {
  TempDir dir;
  const auto r = run(standard_supervisor(dir, {"sh", "-c", "echo \"$0 $1\"", "--help", "--version"},
                                         {{"PROCESS_AUTO_RECOVERY", "false"}}));
  ASSERT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out, "--help --version\n") << r.describe();
}

TEST(StandardSupervisor, RetriesThenExits1) {
  TempDir dir;
  const auto r =
      run(standard_supervisor(dir, {"sh", "-c", "exit 3"}, {{"PROCESS_MAX_START_RETRIES", "0"}}));
  ASSERT_EQ(r.code, 1) << r.describe();
  EXPECT_NE(r.err.find("gave up: app entered FATAL state"), std::string::npos) << r.describe();
}

TEST(StandardSupervisor, NoCommandIsAnError) {
  TempDir dir;
  const auto r = run(standard_supervisor(dir, {}));
  ASSERT_TRUE(r.code.has_value()) << r.describe();
  EXPECT_EQ(*r.code, 1) << r.describe();  // MHCS's status and words
  EXPECT_NE(r.err.find("ERROR: No launch command provided"), std::string::npos) << r.describe();
}

TEST(StandardSupervisor, Help) {
  TempDir dir;
  const auto r = run(standard_supervisor(dir, {"--help"}));
  ASSERT_EQ(r.code, 0) << r.describe();
  EXPECT_NE(r.out.find("PROCESS_MAX_START_RETRIES"), std::string::npos) << r.describe();
}

TEST(Podvisor, Help) {
  const auto r = run(podvisor({"--help"}));
  ASSERT_EQ(r.code, 0) << r.describe();
  for (const auto* word : {"PROCESS_AUTO_RECOVERY", "PROCESS_MAX_START_RETRIES", "LOG_LEVEL",
                           "SUPERVISOR_", "--no-restart", "--max-retries", "--log-level"}) {
    EXPECT_NE(r.out.find(word), std::string::npos) << word << "\n" << r.describe();
  }
}

TEST(Podvisor, Version) {
  const auto r = run(podvisor({"--version"}));
  ASSERT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out, "podvisor 0.1.0\n") << r.describe();
}

// A mistyped option before the command is a usage error (2, SPEC §5 "podvisor's own errors"),
// not an attempt to run "--max-retry" as the command (127, "spawn error: --max-retry: ...").
TEST(Podvisor, UnknownOptionIsAUsageError) {
  const auto r = run(podvisor({"--max-retry", "3", "--", "sh", "-c", "echo ran"}));
  ASSERT_EQ(r.code, 2) << r.describe();
  EXPECT_NE(r.err.find("--max-retry"), std::string::npos) << r.describe();
  EXPECT_EQ(r.out, "") << r.describe();
}

// The command's own options after the command name belong to it.
TEST(Podvisor, CommandOptionsBelongToTheCommand) {
  const auto r = run(podvisor({"--no-restart", "sh", "-c", "echo \"$0\"", "--max-retries"}));
  ASSERT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out, "--max-retries\n") << r.describe();
}

}  // namespace
}  // namespace e2e
