#include <gtest/gtest.h>
#include <sys/wait.h>

#include <boost/asio/steady_timer.hpp>
#include <map>

#include "os/spawn.h"
#include "runtime/loop.h"

namespace podvisor::runtime {
namespace {

pid_t run_sh(const std::string& script) {
  os::SpawnRequest request;
  request.argv = {"/bin/sh", "-c", script};
  const auto result = os::spawn(request);
  EXPECT_GT(result.pid, 0) << result.message;
  return result.pid;
}

TEST(Loop, RoutesEachExitToItsOwnerAndReapsOrphans) {
  Loop loop;  // signals blocked from here: no SIGCHLD is lost before the loop runs
  const pid_t first = run_sh("exit 3"), second = run_sh("exit 4"), orphan = run_sh("exit 5");
  std::map<pid_t, int> owned;
  std::map<pid_t, int> orphans;
  const auto check_done = [&] {
    if (owned.size() == 2 && orphans.count(orphan)) loop.stop();
  };
  for (const pid_t pid : {first, second}) {
    loop.watch(pid, [&, pid](int status) {
      EXPECT_FALSE(owned.count(pid)) << "routed twice";
      owned[pid] = status;
      check_done();
    });
  }
  loop.on_orphan([&](pid_t pid, int status) {
    orphans[pid] = status;
    check_done();
  });
  std::vector<std::string> errors;
  loop.on_error([&](const std::string& e) { errors.push_back(e); });
  boost::asio::steady_timer guard(loop.io(), std::chrono::seconds(10));
  guard.async_wait([&](const boost::system::error_code& ec) {
    if (!ec) loop.stop();
  });
  loop.start();
  loop.run();
  ASSERT_EQ(owned.size(), 2u);
  EXPECT_EQ(WEXITSTATUS(owned[first]), 3);
  EXPECT_EQ(WEXITSTATUS(owned[second]), 4);
  ASSERT_TRUE(orphans.count(orphan));
  EXPECT_EQ(WEXITSTATUS(orphans[orphan]), 5);
  EXPECT_TRUE(errors.empty());
  EXPECT_TRUE(loop.stopped());
}

TEST(Loop, OtherSignalsGoToTheHandler) {
  Loop loop;
  std::optional<int> got;
  loop.on_signal([&](int sig) {
    got = sig;
    loop.stop();
  });
  boost::asio::steady_timer guard(loop.io(), std::chrono::seconds(10));
  guard.async_wait([&](const boost::system::error_code& ec) {
    if (!ec) loop.stop();
  });
  loop.start();
  ASSERT_EQ(::kill(getpid(), SIGUSR1), 0);
  loop.run();
  EXPECT_EQ(got, SIGUSR1);
}

}  // namespace
}  // namespace podvisor::runtime
