// Output under faults (issue 14): a full disk, a log FIFO nobody reads, the zero-copy relay's
// exactness, and the small input checks (byte sizes, `--`, an include of a device, a socket
// turned off by SUPERVISOR_UNIX_HTTP_SERVER_FILE=none).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <random>
#include <regex>

#include "harness.h"

namespace e2e {
namespace {

// /metrics over the unix socket, through tests/e2e/data/control_http.py; "" on failure.
std::string metrics(const std::string& socket) {
  Options o;
  o.argv = {"python3", data_path("control_http.py"), "unix://" + socket, "GET", "/metrics"};
  const auto r = run(o);
  return r.code == 0 ? r.out : "";
}

// The value of one sample line of /metrics, -1 when it is not there.
long long sample(const std::string& text, const std::string& name_and_labels) {
  for (const auto& line : lines(text)) {
    if (line.starts_with(name_and_labels + " ")) return std::stoll(line.substr(line.rfind(' ')));
  }
  return -1;
}

std::string sha256(const std::string& path) {
  Options o;
  o.argv = {"sha256sum", path};
  const auto r = run(o, 60s);
  return r.code == 0 ? r.out.substr(0, 64) : "error: " + r.describe();
}

// Random bytes, every value, no line structure: a relay that parses or drops shows up.
void write_random(const std::string& path, size_t size) {
  std::mt19937_64 random(20261129);
  std::string data(size, '\0');
  for (size_t i = 0; i + 8 <= size; i += 8) {
    const uint64_t v = random();
    std::memcpy(&data[i], &v, 8);
  }
  write_file(path, data);
}

// A 1 MiB tmpfs of its own, filled up; unmounted (lazily, should a process still hold it) at
// the end. Needs root: the test is skipped without.
class FullDisk : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root";
    disk_ = dir_ / "disk";
    ASSERT_EQ(::mkdir(disk_.c_str(), 0755), 0);
    if (::mount("podvisor-test", disk_.c_str(), "tmpfs", 0, "size=1m") != 0) {
      GTEST_SKIP() << "cannot mount a tmpfs: " << std::strerror(errno);
    }
    mounted_ = true;
    const int fd = ::open((disk_ + "/filler").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    const std::string block(4096, 'f');
    while (::write(fd, block.data(), block.size()) > 0) {
    }
    const int error = errno;
    ::close(fd);
    ASSERT_EQ(error, ENOSPC) << std::strerror(error);
  }
  void TearDown() override {
    if (mounted_) ::umount2(disk_.c_str(), MNT_DETACH);
  }
  TempDir dir_;
  std::string disk_;
  bool mounted_ = false;
};

TEST_F(FullDisk, DropsAreReportedOnceCountedAndWritingResumesWhenSpaceIsBack) {
  const auto conf = write_config(dir_, R"(
[supervisord]
logfile=/dev/null
[unix_http_server]
file=@DIR@/s.sock
[program:talker]
command=sh -c 'i=0; while :; do i=$((i+1)); echo "line $i of a program whose disk is full"; if [ -e @DIR@/freed ]; then echo "after the space came back $i"; fi; sleep 0.005; done'
stdout_logfile=@DIR@/disk/talker.log
stdout_logfile_maxbytes=0
startsecs=0
)");
  Child pv(podvisor_config(conf));
  ASSERT_TRUE(pv.wait_stderr("cannot write log " + disk_ + "/talker.log: No space left on device"))
      << pv.describe();
  long long dropped = -1;
  ASSERT_TRUE(pv.wait_for(
      [&] {
        dropped = sample(
            metrics(dir_ / "s.sock"),
            R"(podvisor_log_dropped_bytes_total{group="talker",program="talker",stream="stdout"})");
        return dropped > 0;
      },
      kTimeout, 50ms))
      << "dropped: " << dropped << "\n"
      << pv.describe();
  ASSERT_EQ(::unlink((disk_ + "/filler").c_str()), 0);
  write_file(dir_ / "freed", "");
  ASSERT_TRUE(pv.wait_file(disk_ + "/talker.log", "after the space came back")) << pv.describe();
  ASSERT_TRUE(pv.wait_stderr("writing log " + disk_ + "/talker.log again")) << pv.describe();
  EXPECT_EQ(count(pv.err(), "No space left on device"), 1u) << pv.describe();
  pv.signal(SIGTERM);
  EXPECT_EQ(pv.wait_exit(), 0) << pv.describe();
}

// A FIFO as stdout_logfile: podvisor must not sit in open() waiting for a reader.
class LogFifo : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::mkfifo((dir_ / "fifo").c_str(), 0644), 0) << std::strerror(errno);
    conf_ = write_config(dir_, R"(
[supervisord]
logfile=/dev/null
[program:writer]
command=sh -c 'i=0; while :; do i=$((i+1)); echo "through the fifo $i"; sleep 0.02; done'
stdout_logfile=@DIR@/fifo
startsecs=0
[program:other]
command=sh -c 'echo other is up; exec sleep 1000'
stdout_logfile=/dev/stdout
startsecs=0
)");
  }
  TempDir dir_;
  std::string conf_;
};

TEST_F(LogFifo, WithoutAReaderOtherProgramsRunAndSigtermEndsPodvisor) {
  Child pv(podvisor_config(conf_));
  ASSERT_TRUE(pv.wait_stdout("other is up")) << pv.describe();
  EXPECT_NE(pv.err().find("log FIFO " + (dir_ / "fifo") + " has no reader"), std::string::npos)
      << pv.describe();
  pv.signal(SIGTERM);
  EXPECT_EQ(pv.wait_exit(), 0) << pv.describe();
}

TEST_F(LogFifo, AReaderThatComesLaterGetsTheOutput) {
  Child pv(podvisor_config(conf_));
  ASSERT_TRUE(pv.wait_stdout("other is up")) << pv.describe();
  const int reader = ::open((dir_ / "fifo").c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(reader, 0) << std::strerror(errno);
  std::string got;
  const auto deadline = Clock::now() + kTimeout;
  while (got.find("through the fifo") == std::string::npos && Clock::now() < deadline) {
    pollfd pfd{reader, POLLIN, 0};
    ::poll(&pfd, 1, 100);
    char buf[4096];
    const auto n = ::read(reader, buf, sizeof buf);
    if (n > 0) got.append(buf, static_cast<size_t>(n));
    pv.wait_for([] { return false; }, 1ms, 1ms);  // keep podvisor's own pipes drained
  }
  ::close(reader);
  EXPECT_NE(got.find("through the fifo"), std::string::npos) << pv.describe();
  pv.signal(SIGTERM);
  EXPECT_EQ(pv.wait_exit(), 0) << pv.describe();
}

// Unchanged output goes by splice(): every byte must still arrive, in order, rotation exact.
constexpr size_t kRelayBytes = 48 << 20;

TEST(ZeroCopyRelay, RandomBytesToARotatedFileAreExact) {
  TempDir dir;
  write_random(dir / "source", kRelayBytes);
  const auto conf = write_config(dir, R"(
[supervisord]
logfile=/dev/null
[program:bulk]
command=sh -c 'cat @DIR@/source; touch @DIR@/sent; exec sleep 1000'
stdout_logfile=@DIR@/bulk.log
stdout_logfile_maxbytes=5MB
stdout_logfile_backups=20
startsecs=0
)");
  Child pv(podvisor_config(conf));
  ASSERT_TRUE(pv.wait_for([&] { return exists(dir / "sent"); }, 120s, 20ms)) << pv.describe();
  std::string all;
  const auto rotated = [&] {
    all.clear();
    int n = 0;
    while (exists(dir / ("bulk.log." + std::to_string(n + 1)))) ++n;
    for (int i = n; i >= 1; --i) all += read_file(dir / ("bulk.log." + std::to_string(i)));
    all += read_file(dir / "bulk.log");
    return all.size() >= kRelayBytes;
  };
  ASSERT_TRUE(pv.wait_for(rotated, 60s, 20ms)) << all.size() << " bytes\n" << pv.describe();
  for (int i = 1; exists(dir / ("bulk.log." + std::to_string(i))); ++i) {
    struct stat st {};
    ASSERT_EQ(::stat((dir / ("bulk.log." + std::to_string(i))).c_str(), &st), 0);
    EXPECT_EQ(st.st_size, 5 << 20) << "backup " << i << " is not exactly maxbytes";
  }
  write_file(dir / "relayed", all);
  EXPECT_EQ(sha256(dir / "relayed"), sha256(dir / "source"));
  pv.signal(SIGTERM);
  EXPECT_EQ(pv.wait_exit(), 0) << pv.describe();
}

TEST(ZeroCopyRelay, RandomBytesToPodvisorsStdoutPipeAreExact) {
  TempDir dir;
  write_random(dir / "source", kRelayBytes);
  const auto r = run(podvisor({"--no-restart", "--", "cat", dir / "source"}), 120s);
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_EQ(r.out.size(), kRelayBytes) << r.err;
  write_file(dir / "relayed", r.out);
  EXPECT_EQ(sha256(dir / "relayed"), sha256(dir / "source"));
}

// --- small ones ---

TEST(InputChecks, AByteSizePastTheRangeIsAnErrorAtItsLine) {
  TempDir dir;
  const auto conf = write_config(dir,
                                 "[supervisord]\nlogfile=/dev/null\n[program:a]\ncommand=true\n"
                                 "stdout_logfile_maxbytes=17179869185GB\n");
  for (const auto& options : {podvisor_config(conf), podvisor({"check", "-c", conf})}) {
    const auto r = run(options);
    EXPECT_EQ(r.code, 2) << r.describe();
    EXPECT_NE(r.err.find(conf + ":5: "), std::string::npos) << r.describe();
    EXPECT_NE(r.err.find("out of range"), std::string::npos) << r.describe();
  }
}

TEST(InputChecks, NothingAfterDashDashIsAUsageError) {
  const auto r = run(podvisor({"--"}));
  EXPECT_EQ(r.code, 2) << r.describe();
  EXPECT_NE(r.err.find("no command after --"), std::string::npos) << r.describe();
}

TEST(InputChecks, AnIncludedDeviceIsRefused) {
  TempDir dir;
  const auto conf = write_config(
      dir,
      "[supervisord]\nlogfile=/dev/null\n[include]\nfiles=/dev/zero\n[program:a]\ncommand=true\n");
  for (const auto& options : {podvisor_config(conf), podvisor({"check", "-c", conf})}) {
    const auto r = run(options);
    EXPECT_EQ(r.code, 2) << r.describe();
    EXPECT_NE(r.err.find("/dev/zero is not a regular file"), std::string::npos) << r.describe();
  }
}

TEST(InputChecks, UnixServerFileNoneFromTheEnvironmentMeansNoSocket) {
  TempDir dir;
  const auto conf = write_config(dir, R"(
[supervisord]
logfile=/dev/null
[program:a]
command=sh -c 'echo a is up; exec sleep 1000'
stdout_logfile=/dev/stdout
startsecs=0
)");
  auto options = podvisor_config(conf, {{"SUPERVISOR_UNIX_HTTP_SERVER_FILE", "none"}});
  options.cwd = dir.path();
  Child pv(options);
  ASSERT_TRUE(pv.wait_stdout("a is up")) << pv.describe();
  EXPECT_FALSE(exists(dir / "none"));
  pv.signal(SIGTERM);
  EXPECT_EQ(pv.wait_exit(), 0) << pv.describe();
}

}  // namespace
}  // namespace e2e
