// Output relay: every byte the command writes reaches podvisor's stdout/stderr unchanged
// (binary, NULs, partial last line), also when the command dies at once (seed 001).
#include <gtest/gtest.h>

#include <csignal>
#include <optional>
#include <random>

#include "harness.h"

namespace e2e {
namespace {

const std::map<std::string, std::optional<std::string>> kQuietRecoveryOff{
    {"PROCESS_AUTO_RECOVERY", "false"}, {"LOG_LEVEL", "critical"}};

// 4 MiB of random bytes with NULs and newlines here and there, and no newline at the end.
std::string random_payload() {
  std::mt19937_64 gen(20261125);
  std::string data(4 << 20, '\0');
  for (size_t i = 0; i < data.size(); i += 8) {
    const auto word = gen();
    for (size_t b = 0; b < 8; ++b) data[i + b] = static_cast<char>((word >> (8 * b)) & 0xff);
  }
  for (size_t i = 0; i < data.size(); i += 4099) data[i] = '\0';
  data[data.size() / 2] = '\n';
  data.back() = 'x';
  return data;
}

// Byte-exact comparison with a short message (gtest would print 4 MiB).
::testing::AssertionResult same_bytes(const std::string& actual, const std::string& expected) {
  if (actual == expected) return ::testing::AssertionSuccess();
  size_t i = 0;
  while (i < actual.size() && i < expected.size() && actual[i] == expected[i]) ++i;
  return ::testing::AssertionFailure() << "got " << actual.size() << " bytes, expected "
                                       << expected.size() << "; first difference at byte " << i;
}

TEST(Output, FourMiBOfBinaryOnStdoutArriveUnchanged) {
  TempDir dir;
  const auto payload = random_payload();
  write_file(dir / "payload", payload);
  const auto r = run(podvisor({"--", "cat", dir / "payload"}, kQuietRecoveryOff), 30s);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(same_bytes(r.out, payload));
  EXPECT_EQ(r.err, "") << "nothing but the command's output at LOG_LEVEL=critical";
}

TEST(Output, FourMiBOfBinaryOnStderrArriveUnchanged) {
  TempDir dir;
  const auto payload = random_payload();
  write_file(dir / "payload", payload);
  const auto r = run(podvisor({"--", "sh", "-c", "cat " + shell_quote(dir / "payload") + " >&2"},
                              kQuietRecoveryOff),
                     30s);
  ASSERT_EQ(r.code, 0) << r.out;
  // Exit 0: no report, no log line; stderr is exactly the command's.
  EXPECT_TRUE(same_bytes(r.err, payload));
  EXPECT_EQ(r.out, "");
}

TEST(Output, PartialLinesAreKept) {
  const auto r = run(podvisor({"--", "sh", "-c", "printf 'no newline'; printf 'err part' >&2"},
                              kQuietRecoveryOff));
  ASSERT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out, "no newline");
  EXPECT_EQ(r.err, "err part");
}

TEST(Output, CommandDyingAtOnceHasAllItsOutputDelivered) {
  const auto r = run(
      podvisor({"--", "sh", "-c", "seq 1 20000; exit 1"}, {{"PROCESS_AUTO_RECOVERY", "false"}}));
  ASSERT_EQ(r.code, 1) << r.describe();
  std::string expected;
  for (int i = 1; i <= 20000; ++i) expected += std::to_string(i) + "\n";
  EXPECT_TRUE(same_bytes(r.out, expected));
  // The report repeats the last 20 lines.
  EXPECT_NE(r.err.find("podvisor: last 20 lines of output:\n"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("  | 19981\n"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("  | 20000\n"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("  | 19980\n"), std::string::npos) << r.err;
}

// Killed by SIGKILL right after printing: the line is there, the reason names the signal.
TEST(Output, CommandKilledRightAfterPrintingHasItsOutputDelivered) {
  const auto r =
      run(podvisor({"--", "sh", "-c", "echo last words; echo on stderr >&2; kill -KILL $$"},
                   {{"PROCESS_AUTO_RECOVERY", "false"}}));
  ASSERT_EQ(r.code, 137) << r.describe();
  EXPECT_EQ(r.out, "last words\n") << r.describe();
  EXPECT_NE(r.err.find("podvisor: reason:   killed by SIGKILL (out of memory?)"), std::string::npos)
      << r.describe();
  EXPECT_NE(r.err.find("  | last words\n"), std::string::npos) << r.describe();
  EXPECT_NE(r.err.find("  | on stderr\n"), std::string::npos) << r.describe();
}

// Supervisord's log line format: "YYYY-MM-DD HH:MM:SS,mmm LEVEL message". Returns the
// message when `line` has that shape with `level`.
std::optional<std::string> log_message(std::string_view line, std::string_view level) {
  constexpr std::string_view kShape = "dddd-dd-dd dd:dd:dd,ddd ";
  if (line.size() < kShape.size() + level.size() + 1) return std::nullopt;
  for (size_t i = 0; i < kShape.size(); ++i) {
    const bool digit = line[i] >= '0' && line[i] <= '9';
    if (kShape[i] == 'd' ? !digit : line[i] != kShape[i]) return std::nullopt;
  }
  line.remove_prefix(kShape.size());
  if (!line.starts_with(level) || line[level.size()] != ' ') return std::nullopt;
  return std::string(line.substr(level.size() + 1));
}

TEST(Output, LogLinesUseSupervisordFormat) {
  const auto r = run(podvisor({"--", "sh", "-c", "exit 3"}, {{"PROCESS_AUTO_RECOVERY", "false"}}));
  ASSERT_EQ(r.code, 3) << r.describe();
  bool spawned = false, exited = false;
  for (const auto& line : lines(r.err)) {
    if (const auto m = log_message(line, "INFO"); m && m->starts_with("spawned: 'app' with pid ")) {
      const auto pid = m->substr(std::string_view("spawned: 'app' with pid ").size());
      spawned = !pid.empty() && pid.find_first_not_of("0123456789") == std::string::npos;
    }
    if (const auto m = log_message(line, "WARN")) {
      exited |= *m == "exited: app (exit status 3; not expected)";
    }
  }
  EXPECT_TRUE(spawned) << r.describe();
  EXPECT_TRUE(exited) << r.describe();
}

TEST(Output, LogLevelFiltersPodvisorLines) {
  const auto r = run(podvisor({"--", "sh", "-c", "echo out; exit 0"},
                              {{"PROCESS_AUTO_RECOVERY", "false"}, {"LOG_LEVEL", "error"}}));
  ASSERT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "") << "info lines hidden at LOG_LEVEL=error";
  const auto flag = run(podvisor({"--log-level", "error", "--", "sh", "-c", "exit 0"},
                                 {{"PROCESS_AUTO_RECOVERY", "false"}, {"LOG_LEVEL", "debug"}}));
  ASSERT_EQ(flag.code, 0) << flag.describe();
  EXPECT_EQ(flag.err, "") << "--log-level wins over LOG_LEVEL";
}

// What the command wrote to stderr comes before podvisor's line about its exit.
TEST(Output, CommandStderrPrecedesTheExitLine) {
  const auto r = run(podvisor({"--", "sh", "-c", "echo last-words >&2; exit 3"},
                              {{"PROCESS_AUTO_RECOVERY", "false"}}));
  ASSERT_EQ(r.code, 3) << r.describe();
  const auto words = r.err.find("last-words\n");
  ASSERT_NE(words, std::string::npos) << r.describe();
  EXPECT_LT(words, r.err.find("exited: app")) << r.describe();
}

// A stalled reader of podvisor's stdout slows the command down but does not freeze
// supervision: SIGTERM is still handled, and nothing is lost once the reader goes on.
TEST(Output, StalledStdoutReaderDoesNotFreezeSupervision) {
  Child c(podvisor({"--", "sh", "-c", "echo flooding >&2; exec yes podvisor"}));
  c.read_stdout(false);
  ASSERT_TRUE(c.wait_stderr("flooding\n")) << c.describe();
  // No output announces it: look every 10 ms until podvisor's stdout pipe is full.
  ASSERT_TRUE(c.wait_for([&] { return c.stdout_pipe_full(); }, kTimeout, 10ms)) << c.describe();
  c.signal(SIGTERM);
  ASSERT_TRUE(c.wait_stderr("stopped: app (terminated by SIGTERM)")) << c.describe();
  EXPECT_FALSE(c.exited());
  c.read_stdout(true);
  ASSERT_EQ(c.wait_exit(30s), 143) << c.describe();
  // Whole lines of "podvisor": no byte lost or mangled in between.
  const auto& out = c.out();
  ASSERT_GT(out.size(), 1u << 16) << c.err();
  const auto whole = out.substr(0, out.rfind('\n') + 1);
  EXPECT_EQ(count(whole, "podvisor\n") * 9, whole.size()) << c.err();
}

// The same with podvisor's stderr, where its own log lines go too: a stalled reader must not
// freeze podvisor either (it would neither stop the command nor reap anything).
TEST(Output, StalledStderrReaderDoesNotFreezeSupervision) {
  Child c(podvisor({"--", "sh", "-c", "echo flooding; exec yes podvisor >&2"}));
  c.read_stderr(false);
  ASSERT_TRUE(c.wait_stdout("flooding\n")) << c.describe();
  ASSERT_TRUE(c.wait_for([&] { return c.stderr_pipe_full(); }, kTimeout, 10ms)) << c.describe();
  const auto command = children(c.pid());
  ASSERT_EQ(command.size(), 1u);
  c.signal(SIGTERM);
  // No output can announce it while stderr is stalled: look every 10 ms.
  const bool stopped = c.wait_for(
      [&] {
        const auto state = process_state(command[0]);
        return !state || *state == 'Z';
      },
      10s, 10ms);
  EXPECT_TRUE(stopped) << "the command was not stopped while podvisor's stderr was stalled";
  c.read_stderr(true);
  ASSERT_EQ(c.wait_exit(30s), 143) << c.out();
  EXPECT_NE(c.err().find("stopped: app (terminated by SIGTERM)"), std::string::npos) << c.out();
}

}  // namespace
}  // namespace e2e
