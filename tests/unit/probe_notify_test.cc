// probe::NotifySocket hears only the program's own processes (SCM_CREDENTIALS), and
// in_process_tree follows parents in /proc.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstring>
#include <vector>

#include "probe/notify.h"

namespace podvisor::probe {
namespace {

using namespace std::chrono_literals;

// A child that sleeps until killed, reaped on destruction.
struct SleepingChild {
  SleepingChild() {
    pid = ::fork();
    if (pid == 0) {
      ::pause();
      ::_exit(0);
    }
  }
  ~SleepingChild() {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
  pid_t pid;
};

TEST(NotifyAccess, ProcessTree) {
  SleepingChild child;
  ASSERT_GT(child.pid, 0);
  EXPECT_TRUE(in_process_tree(getpid(), getpid()));
  EXPECT_TRUE(in_process_tree(child.pid, getpid()));
  EXPECT_FALSE(in_process_tree(getpid(), child.pid));  // a parent is not below its child
  EXPECT_FALSE(in_process_tree(getppid(), getpid()));
  EXPECT_FALSE(in_process_tree(getpid(), 0));  // no program running
  EXPECT_FALSE(in_process_tree(0, getpid()));
}

void send_to(const std::string& address, std::string_view message) {
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path + 1, address.data() + 1, address.size() - 1);  // '@': abstract
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size());
  ASSERT_EQ(::sendto(fd, message.data(), message.size(), 0,
                     reinterpret_cast<const sockaddr*>(&addr), len),
            static_cast<ssize_t>(message.size()));
  ::close(fd);
}

// Runs the loop until pred() holds or 5 s pass.
template <typename Pred>
void run_until(boost::asio::io_context& io, Pred pred) {
  const auto end = std::chrono::steady_clock::now() + 5s;
  while (!pred() && std::chrono::steady_clock::now() < end) io.run_one_for(50ms);
}

// This process plays the sender; the "program" is either this process or a child of it.
TEST(NotifyAccess, OnlyTheProgramsTreeIsHeard) {
  SleepingChild child;
  boost::asio::io_context io;
  pid_t program = child.pid;  // the sender (this test) is the program's parent: a stranger
  std::vector<NotifySocket::Message> heard;
  std::vector<std::string> refused;
  NotifySocket socket(
      io, "engine", [&](const NotifySocket::Message& m) { heard.push_back(m); },
      [&] { return program; }, [&](const std::string& line) { refused.push_back(line); });
  send_to(socket.address(), "READY=1");
  send_to(socket.address(), "READY=1\nSTATUS=spoofed");
  run_until(io, [&] { return !refused.empty(); });  // both are read in one wake-up
  EXPECT_TRUE(heard.empty());
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_NE(
      refused[0].find("ignored a notify message for engine from pid " + std::to_string(getpid())),
      std::string::npos)
      << refused[0];
  program = getpid();
  send_to(socket.address(), "READY=1\nSTATUS=serving");
  run_until(io, [&] { return !heard.empty(); });
  ASSERT_EQ(heard.size(), 1u);
  EXPECT_TRUE(heard[0].ready);
  EXPECT_EQ(heard[0].status, "serving");
  EXPECT_EQ(refused.size(), 1u);
}

}  // namespace
}  // namespace podvisor::probe
