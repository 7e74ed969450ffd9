#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "os/spawn.h"
#include "output/relay.h"
#include "runtime/shutdown.h"
#include "runtime_harness.h"

namespace podvisor::runtime {
namespace {

// Starts `script` and waits until it printed its first line (its traps are set by then).
pid_t start_leftover(const std::string& script) {
  const auto pipe = output::make_pipe();
  os::SpawnRequest request;
  request.argv = {"/bin/sh", "-c", script};
  request.stdout_fd = pipe.write;
  const auto result = os::spawn(request);
  ::close(pipe.write);
  char c = 0;
  while (::read(pipe.read, &c, 1) == 1 && c != '\n') {
  }
  ::close(pipe.read);
  EXPECT_GT(result.pid, 0) << result.message;
  return result.pid;
}

TEST(Shutdown, LeftoversGetSigtermThenSigkill) {
  Loop loop;
  const pid_t polite = start_leftover("echo up; exec sleep 30");
  // SIG_IGN survives exec: this one ignores SIGTERM and needs SIGKILL.
  const pid_t stubborn = start_leftover("trap '' TERM; echo up; exec sleep 30");
  output::Logger log{STDERR_FILENO, config::LogLevel::kDebug};
  std::vector<std::string> lines;
  log.set_writer([&](std::string_view line) { lines.emplace_back(line); });
  int drains = 0;
  end_leftovers(
      loop, log, [&] { ++drains; }, {}, std::chrono::milliseconds(200));
  log.set_writer(nullptr);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_TRUE(lines[0].ends_with("INFO sending SIGTERM to 2 leftover process(es)\n")) << lines[0];
  EXPECT_TRUE(lines[1].ends_with("WARN sending SIGKILL to 1 leftover process(es)\n")) << lines[1];
  EXPECT_GT(drains, 1);
  for (const pid_t pid : {polite, stubborn}) {
    EXPECT_NE(::kill(pid, 0), 0) << pid << " still exists";  // reaped, not a zombie
  }
}

TEST(Shutdown, NoLeftoversNoWords) {
  Loop loop;
  output::Logger log{STDERR_FILENO, config::LogLevel::kDebug};
  std::vector<std::string> lines;
  log.set_writer([&](std::string_view line) { lines.emplace_back(line); });
  end_leftovers(loop, log, [] {});
  log.set_writer(nullptr);
  EXPECT_TRUE(lines.empty());
}

TEST(Shutdown, TheCrashReportNamesTheReasonAndTheLastLines) {
  auto program = testing::sh_program("echo starting; echo boom >&2; exit 3");
  program.autorestart = config::Autorestart::kTrue;
  program.startretries = 1;
  testing::Harness h({program});
  h.run();
  ASSERT_NE(h.outcome->failed, nullptr);
  const auto report = crash_report(*h.outcome->failed, h.programs.find(h.program()));
  EXPECT_NE(report.find("podvisor: ---- app failed ----\n"), std::string::npos) << report;
  EXPECT_NE(report.find("podvisor: reason:   exit status 3\n"), std::string::npos) << report;
  EXPECT_NE(report.find("podvisor: restarts: 1\n"), std::string::npos) << report;
  EXPECT_NE(report.find("  | starting\n  | boom\n"), std::string::npos) << report;
  EXPECT_NE(report.find("podvisor: ---- end of report ----\n"), std::string::npos) << report;
}

}  // namespace
}  // namespace podvisor::runtime
