// driver and program_io on a real loop: spawning, output relayed to rings, files and
// podvisor's streams, exits routed to the Supervisor after the pipes are drained.
#include <gtest/gtest.h>

#include <boost/asio/post.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "runtime/driver.h"
#include "runtime_harness.h"

namespace podvisor::runtime {
namespace {

using testing::Harness;
using testing::sh_program;

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(Driver, OutputReachesRingsFilesAndStreamsBeforeTheExitIsReported) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("podvisor-driver-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  auto program = sh_program("echo one; echo two >&2; echo three; exit 3");
  program.stdout_log.target = config::LogTarget::kFile;
  program.stdout_log.path = (dir / "out.log").string();
  Harness h({program});
  std::string at_exit;  // what the ring held when the exit was logged
  h.on_line = [&](const std::string& line) {
    if (line.find("exited: app") != std::string::npos) {
      at_exit = h.programs.of(h.program()).combined.contents();
    }
  };
  h.run();
  EXPECT_EQ(h.outcome->exit_code, 3);
  const auto* io = h.programs.find(h.program());
  ASSERT_NE(io, nullptr);
  EXPECT_EQ(io->out.contents(), "one\nthree\n");
  EXPECT_EQ(io->err.contents(), "two\n");
  EXPECT_EQ(at_exit.size(), io->combined.contents().size()) << at_exit;
  EXPECT_EQ(h.err.text, "two\n");
  EXPECT_EQ(h.out.text, "");  // stdout went to its file
  EXPECT_EQ(read_file(program.stdout_log.path), "one\nthree\n");
  EXPECT_EQ(h.programs.log_path(h.program(), 0), program.stdout_log.path);
  EXPECT_TRUE(h.logged("spawned: 'app' with pid"));
  EXPECT_TRUE(h.logged("app: STARTING -> RUNNING"));
  std::filesystem::remove_all(dir);
}

TEST(Driver, ALogProbeFedFromTheOutputMakesItReadyAndAStopEndsIt) {
  auto program = sh_program("echo booting; echo listening on 8000; exec sleep 30");
  program.ready = config::parse_probe("log:listening on \\d+");
  Harness h({program});
  h.supervisor.set_listener([&](const core::Process& p, core::State) {
    if (p.state() != core::State::kRunning) return;
    boost::asio::post(h.loop.io(), [&] { h.supervisor.request_shutdown(); });
  });
  h.run();
  EXPECT_TRUE(h.logged("ready after"));
  EXPECT_TRUE(h.logged("matched \"listening on 8000\""));
  EXPECT_TRUE(h.logged("stopped: app (terminated by SIGTERM)"));
  EXPECT_EQ(h.outcome->exit_code, 128 + SIGTERM);
  EXPECT_EQ(h.out.text, "booting\nlistening on 8000\n");
}

TEST(Driver, AMissingCommandIsASpawnError) {
  auto program = sh_program("");
  program.argv = {"/nonexistent/podvisor-test-command"};
  Harness h({program});
  h.run();
  EXPECT_EQ(h.outcome->exit_code, 127);
  EXPECT_TRUE(h.logged("spawn error:"));
}

}  // namespace
}  // namespace podvisor::runtime
