// Output of many programs (issue 3): /dev/stdout and /dev/stderr with `[name] ` prefixes
// that never split a line, JSON lines, log files with rotation that loses no byte,
// redirect_stderr, AUTO and NONE.
#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <csignal>
#include <cstdio>
#include <map>

#include "harness.h"

namespace e2e {
namespace {

// Byte-exact comparison with a short message (gtest would print megabytes).
::testing::AssertionResult same_bytes(const std::string& actual, const std::string& expected) {
  if (actual == expected) return ::testing::AssertionSuccess();
  size_t i = 0;
  while (i < actual.size() && i < expected.size() && actual[i] == expected[i]) ++i;
  return ::testing::AssertionFailure() << "got " << actual.size() << " bytes, expected "
                                       << expected.size() << "; first difference at byte " << i;
}

// Line i of `lines.sh NAME COUNT WIDTH`, without its newline.
std::string generated_line(const std::string& name, int i, size_t width = 100) {
  char number[16];
  std::snprintf(number, sizeof number, "%06d", i);
  std::string line = name + "-" + number + "-";
  line.append(width > line.size() ? width - line.size() : 0, 'x');
  return line;
}

// What `seq 1 N` prints.
std::string seq_output(int n) {
  std::string out;
  out.reserve(static_cast<size_t>(n) * 9);
  for (int i = 1; i <= n; ++i) {
    out += std::to_string(i);
    out += '\n';
  }
  return out;
}

// PATH.N ... PATH.1, PATH concatenated: everything a rotated log holds, oldest first.
std::string rotated_contents(const std::string& path, int* backups = nullptr) {
  int n = 0;
  while (exists(path + "." + std::to_string(n + 1))) ++n;
  if (backups) *backups = n;
  std::string all;
  for (int i = n; i >= 1; --i) all += read_file(path + "." + std::to_string(i));
  return all + read_file(path);
}

std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = opendir(dir.c_str())) {
    while (const dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    closedir(d);
  }
  return names;
}

// Runs a config whose programs all end by themselves (autorestart=false), waits for each
// `exited: NAME` line, then stops podvisor; returns it for inspection.
void run_until_exited(Child& c, const std::vector<std::string>& names,
                      std::chrono::milliseconds timeout = kTimeout) {
  for (const auto& name : names) {
    ASSERT_TRUE(c.wait_stderr("exited: " + name + " (", timeout)) << c.describe();
  }
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
}

constexpr std::string_view kTwoOnStdout = R"(
[program:a]
command=sh -c 'echo hello from a; echo err from a >&2'
stdout_logfile=/dev/stdout
stdout_logfile_maxbytes=0
stderr_logfile=/dev/stderr
stderr_logfile_maxbytes=0
autorestart=false
startsecs=0

[program:b]
command=sh -c 'echo hello from b'
stdout_logfile=/dev/stdout
stdout_logfile_maxbytes=0
autorestart=false
startsecs=0
)";

TEST(ConfigOutput, SeveralProgramsOnStdoutArePrefixed) {
  TempDir dir;
  const auto conf =
      write_config(dir, "[supervisord]\nlogfile=/dev/null\n" + std::string(kTwoOnStdout));
  Child c(podvisor_config(conf));
  run_until_exited(c, {"a", "b"});
  EXPECT_NE(c.out().find("[a] hello from a\n"), std::string::npos) << c.describe();
  EXPECT_NE(c.out().find("[b] hello from b\n"), std::string::npos) << c.describe();
  EXPECT_EQ(c.out().size(), std::string("[a] hello from a\n[b] hello from b\n").size())
      << c.describe();
  EXPECT_NE(c.err().find("[a] err from a\n"), std::string::npos) << c.describe();
}

TEST(ConfigOutput, LogPrefixFalseInSupervisordTurnsPrefixesOff) {
  TempDir dir;
  const auto conf = write_config(
      dir, "[supervisord]\nlogfile=/dev/null\nlog_prefix=false\n" + std::string(kTwoOnStdout));
  Child c(podvisor_config(conf));
  run_until_exited(c, {"a", "b"});
  EXPECT_NE(c.out().find("hello from a\n"), std::string::npos) << c.describe();
  EXPECT_NE(c.out().find("hello from b\n"), std::string::npos) << c.describe();
  EXPECT_EQ(c.out().find('['), std::string::npos) << c.describe();
  EXPECT_EQ(c.err().find("[a] "), std::string::npos) << c.describe();
}

TEST(ConfigOutput, LogPrefixFalseInOneProgramTurnsOnlyItsPrefixOff) {
  TempDir dir;
  const auto conf = write_config(dir, R"([supervisord]
logfile=/dev/null

[program:a]
command=sh -c 'echo hello from a'
stdout_logfile=/dev/stdout
log_prefix=false
autorestart=false
startsecs=0

[program:b]
command=sh -c 'echo hello from b'
stdout_logfile=/dev/stdout
autorestart=false
startsecs=0
)");
  Child c(podvisor_config(conf));
  run_until_exited(c, {"a", "b"});
  const auto out_lines = lines(c.out());
  EXPECT_NE(std::find(out_lines.begin(), out_lines.end(), "hello from a"), out_lines.end())
      << c.describe();
  EXPECT_NE(std::find(out_lines.begin(), out_lines.end(), "[b] hello from b"), out_lines.end())
      << c.describe();
}

TEST(ConfigOutput, SingleProgramOnStdoutHasNoPrefix) {
  TempDir dir;
  const auto conf = write_config(dir, R"([supervisord]
logfile=/dev/null

[program:a]
command=sh -c 'echo hello from a'
stdout_logfile=/dev/stdout
autorestart=false
startsecs=0

[program:quiet]
command=sh -c 'echo to a file'
stdout_logfile=@DIR@/quiet.log
autorestart=false
startsecs=0
)");
  Child c(podvisor_config(conf));
  run_until_exited(c, {"a", "quiet"});
  EXPECT_EQ(c.out(), "hello from a\n") << c.describe();
  EXPECT_EQ(read_file(dir / "quiet.log"), "to a file\n") << c.describe();
}

TEST(ConfigOutput, LogPrefixTrueOnASingleProgram) {
  TempDir dir;
  const auto conf = write_config(dir, R"([supervisord]
logfile=/dev/null

[program:a]
command=sh -c 'echo hello from a'
stdout_logfile=/dev/stdout
log_prefix=true
autorestart=false
startsecs=0
)");
  Child c(podvisor_config(conf));
  run_until_exited(c, {"a"});
  EXPECT_EQ(c.out(), "[a] hello from a\n") << c.describe();
}

// Two programs writing 20000 lines of 100 characters each as fast as they can: every line
// on podvisor's stdout is exactly one of theirs, whole, prefixed, in each program's order.
TEST(ConfigOutput, PrefixedLinesOfTwoFastProgramsNeverInterleave) {
  constexpr int kLines = 20000;
  TempDir dir;
  const auto conf = write_config(dir, R"([supervisord]
logfile=/dev/null

[program:a]
command=sh @DATA@/lines.sh a 20000
stdout_logfile=/dev/stdout
stdout_logfile_maxbytes=0
autorestart=false
startsecs=0

[program:b]
command=sh @DATA@/lines.sh b 20000
stdout_logfile=/dev/stdout
stdout_logfile_maxbytes=0
autorestart=false
startsecs=0
)");
  Child c(podvisor_config(conf));
  run_until_exited(c, {"a", "b"}, 60s);
  std::map<std::string, int> next{{"a", 0}, {"b", 0}};
  size_t bad = 0;
  std::string first_bad;
  for (const auto& line : lines(c.out())) {
    const std::string name = line.size() > 4 ? line.substr(1, 1) : "";
    const bool ok = line.size() > 4 && (name == "a" || name == "b") && line[0] == '[' &&
                    line.substr(2, 2) == "] " && line.substr(4) == generated_line(name, next[name]);
    if (ok) {
      ++next[name];
    } else if (bad++ == 0) {
      first_bad = line.substr(0, 300);
    }
  }
  EXPECT_EQ(bad, 0u) << "first bad line: " << first_bad;
  EXPECT_EQ(next["a"], kLines);
  EXPECT_EQ(next["b"], kLines);
  EXPECT_EQ(c.out().size(), 2u * kLines * 105) << "nothing else on stdout";
}

// A line longer than 64 KiB is split into pieces of at most 64 KiB, each prefixed; no byte
// is dropped.
TEST(ConfigOutput, OverlongLineIsSplitNotDropped) {
  constexpr size_t kWidth = 200000;
  TempDir dir;
  const auto conf = write_config(dir, R"([supervisord]
logfile=/dev/null

[program:a]
command=sh @DATA@/lines.sh a 1 200000
stdout_logfile=/dev/stdout
autorestart=false
startsecs=0

[program:b]
command=sh -c 'echo short'
stdout_logfile=/dev/stdout
autorestart=false
startsecs=0
)");
  Child c(podvisor_config(conf));
  run_until_exited(c, {"a", "b"});
  std::string joined;
  size_t pieces = 0;
  for (const auto& line : lines(c.out())) {
    if (line == "[b] short") continue;
    ASSERT_TRUE(line.starts_with("[a] ")) << line.substr(0, 100);
    EXPECT_LE(line.size() - 4, 64u * 1024) << "piece " << pieces;
    joined += line.substr(4);
    ++pieces;
  }
  EXPECT_GE(pieces, 4u);
  EXPECT_TRUE(same_bytes(joined, generated_line("a", 0, kWidth)));
  EXPECT_NE(c.out().find("[b] short\n"), std::string::npos) << c.err();
}

// log_format=json: one JSON object a line, with time, program, stream and line.
TEST(ConfigOutput, JsonLines) {
  TempDir dir;
  const auto conf = write_config(dir, R"([supervisord]
logfile=/dev/null
log_format=json

[program:a]
command=sh -c 'echo hello; echo say \"hi\"'
stdout_logfile=/dev/stdout
autorestart=false
startsecs=0

[program:b]
command=sh -c 'echo oops >&2'
stderr_logfile=/dev/stderr
autorestart=false
startsecs=0
)");
  Child c(podvisor_config(conf));
  run_until_exited(c, {"a", "b"});
  const auto out_lines = lines(c.out());
  ASSERT_EQ(out_lines.size(), 2u) << c.describe();
  for (const auto& line : out_lines) {
    EXPECT_TRUE(line.starts_with("{") && line.ends_with("}")) << line;
    EXPECT_NE(line.find("\"program\":\"a\""), std::string::npos) << line;
    EXPECT_NE(line.find("\"stream\":\"stdout\""), std::string::npos) << line;
    EXPECT_NE(line.find("\"time\":"), std::string::npos) << line;
  }
  EXPECT_NE(out_lines[0].find("\"line\":\"hello\""), std::string::npos) << out_lines[0];
  EXPECT_NE(out_lines[1].find(R"("line":"say \"hi\"")"), std::string::npos) << out_lines[1];
  bool found = false;
  for (const auto& line : lines(c.err())) {
    if (!line.starts_with("{")) continue;
    found = true;
    EXPECT_TRUE(line.ends_with("}")) << line;
    EXPECT_NE(line.find("\"program\":\"b\""), std::string::npos) << line;
    EXPECT_NE(line.find("\"stream\":\"stderr\""), std::string::npos) << line;
    EXPECT_NE(line.find("\"line\":\"oops\""), std::string::npos) << line;
  }
  EXPECT_TRUE(found) << c.describe();
}

// About 100 MB through a log file rotated every 1 MB: every byte is in PATH.N ... PATH.1,
// PATH, in that order.
TEST(ConfigOutput, RotationUnder100MBKeepsEveryByte) {
  constexpr int kCount = 12500000;  // seq 1 12500000: 101.4 MB
  TempDir dir;
  const auto conf = write_config(dir, R"([supervisord]
logfile=/dev/null

[program:w]
command=seq 1 12500000
stdout_logfile=@DIR@/w.log
stdout_logfile_maxbytes=1MB
stdout_logfile_backups=200
autorestart=false
startsecs=0
)");
  Child c(podvisor_config(conf));
  run_until_exited(c, {"w"}, 100s);
  EXPECT_NE(c.err().find("exited: w (exit status 0; expected)"), std::string::npos) << c.describe();
  int backups = 0;
  const auto all = rotated_contents(dir / "w.log", &backups);
  EXPECT_TRUE(same_bytes(all, seq_output(kCount)));
  EXPECT_GE(backups, 96) << "101.4 MB in files of 1 MiB";
  EXPECT_LE(backups, 200);
  for (int i = 1; i <= backups; ++i) {
    const auto size = read_file(dir / ("w.log." + std::to_string(i))).size();
    EXPECT_GT(size, 0u) << i;
    EXPECT_LE(size, (1u << 20) + (128u << 10)) << "w.log." << i << " is far past maxbytes";
  }
}

// stdout_logfile_backups bounds how many files are kept: the oldest go, the rest is the
// latest output without a gap.
TEST(ConfigOutput, RotationKeepsOnlyBackupsFiles) {
  TempDir dir;
  const auto conf = write_config(dir, R"([supervisord]
logfile=/dev/null

[program:w]
command=seq 1 5000
stdout_logfile=@DIR@/w.log
stdout_logfile_maxbytes=1KB
stdout_logfile_backups=2
autorestart=false
startsecs=0
)");
  Child c(podvisor_config(conf));
  run_until_exited(c, {"w"});
  EXPECT_TRUE(exists(dir / "w.log.2")) << c.describe();
  EXPECT_FALSE(exists(dir / "w.log.3")) << c.describe();
  const auto kept = rotated_contents(dir / "w.log");
  const auto data = seq_output(5000);
  EXPECT_GE(kept.size(), 2048u);
  EXPECT_LE(kept.size(), 3u * 1024 + 1024);
  EXPECT_TRUE(data.ends_with(kept)) << "the kept files are not the latest output, in order";
}

// maxbytes=0: never rotated.
TEST(ConfigOutput, MaxbytesZeroMeansNoRotation) {
  TempDir dir;
  const auto conf = write_config(dir, R"([supervisord]
logfile=/dev/null

[program:w]
command=seq 1 300000
stdout_logfile=@DIR@/w.log
stdout_logfile_maxbytes=0
stdout_logfile_backups=3
autorestart=false
startsecs=0
)");
  Child c(podvisor_config(conf));
  run_until_exited(c, {"w"});
  EXPECT_FALSE(exists(dir / "w.log.1")) << c.describe();
  EXPECT_TRUE(same_bytes(read_file(dir / "w.log"), seq_output(300000)));
}

TEST(ConfigOutput, StdoutAndStderrLogFiles) {
  TempDir dir;
  const auto conf = write_config(dir, R"([supervisord]
logfile=/dev/null

[program:split]
command=sh -c 'echo out-line; echo err-line >&2'
stdout_logfile=@DIR@/split.out
stderr_logfile=@DIR@/split.err
autorestart=false
startsecs=0

[program:joined]
command=sh -c 'echo out-line; echo err-line >&2; echo out-again'
stdout_logfile=@DIR@/joined.out
stderr_logfile=@DIR@/joined.err
redirect_stderr=true
autorestart=false
startsecs=0
)");
  Child c(podvisor_config(conf));
  run_until_exited(c, {"split", "joined"});
  EXPECT_EQ(read_file(dir / "split.out"), "out-line\n");
  EXPECT_EQ(read_file(dir / "split.err"), "err-line\n");
  EXPECT_EQ(read_file(dir / "joined.out"), "out-line\nerr-line\nout-again\n");
  EXPECT_FALSE(exists(dir / "joined.err")) << "redirect_stderr: stderr_logfile is not used";
  EXPECT_EQ(c.out(), "") << c.describe();
  EXPECT_EQ(c.err().find("-line"), std::string::npos) << c.describe();
}

// AUTO: a file in childlogdir named as supervisord names it.
TEST(ConfigOutput, AutoLogFilesInChildlogdir) {
  TempDir dir;
  ASSERT_EQ(::mkdir((dir / "logs").c_str(), 0755), 0);
  const auto conf = write_config(dir, R"([supervisord]
logfile=/dev/null
childlogdir=@DIR@/logs

[program:a]
command=sh -c 'echo auto-out; echo auto-err >&2'
stdout_logfile=AUTO
autorestart=false
startsecs=0
)");
  Child c(podvisor_config(conf));
  ASSERT_TRUE(c.wait_stderr("exited: a (")) << c.describe();
  std::string out_file, err_file;
  for (const auto& name : files_in(dir / "logs")) {
    if (name.starts_with("a-stdout---supervisor-") && name.ends_with(".log")) out_file = name;
    if (name.starts_with("a-stderr---supervisor-") && name.ends_with(".log")) err_file = name;
  }
  ASSERT_FALSE(out_file.empty()) << c.describe();
  ASSERT_FALSE(err_file.empty()) << c.describe();  // stderr_logfile's default is AUTO too
  EXPECT_EQ(read_file(dir / ("logs/" + out_file)), "auto-out\n");
  EXPECT_EQ(read_file(dir / ("logs/" + err_file)), "auto-err\n");
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
  EXPECT_EQ(c.out(), "") << c.describe();
}

TEST(ConfigOutput, NoneWritesNothing) {
  TempDir dir;
  ASSERT_EQ(::mkdir((dir / "logs").c_str(), 0755), 0);
  const auto conf = write_config(dir, R"([supervisord]
logfile=/dev/null
childlogdir=@DIR@/logs

[program:a]
command=sh -c 'echo secret-out; echo secret-err >&2'
stdout_logfile=NONE
stderr_logfile=NONE
autorestart=false
startsecs=0
)");
  Child c(podvisor_config(conf));
  run_until_exited(c, {"a"});
  EXPECT_EQ(c.out(), "") << c.describe();
  EXPECT_EQ(c.err().find("secret"), std::string::npos) << c.describe();
  EXPECT_TRUE(files_in(dir / "logs").empty()) << files_in(dir / "logs")[0];
  const auto here = files_in(dir.path());
  EXPECT_EQ(here.size(), 2u) << "only supervisord.conf and logs/";
}

// [supervisord] logfile=/dev/stdout: podvisor's own lines go to stdout.
TEST(ConfigOutput, SupervisordLogfileOnStdout) {
  TempDir dir;
  const auto conf = write_config(dir, R"([supervisord]
logfile=/dev/stdout

[program:a]
command=sh -c 'exit 0'
autorestart=false
startsecs=0
)");
  Child c(podvisor_config(conf));
  ASSERT_TRUE(c.wait_stdout("exited: a (exit status 0; expected)")) << c.describe();
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
  EXPECT_NE(c.out().find("spawned: 'a' with pid"), std::string::npos) << c.describe();
  EXPECT_EQ(c.err().find("spawned: 'a' with pid"), std::string::npos) << c.describe();
}

// [supervisord] logfile=PATH: podvisor's own lines are written there.
TEST(ConfigOutput, SupervisordLogfileIsWritten) {
  TempDir dir;
  const auto conf = write_config(dir, R"([supervisord]
logfile=@DIR@/supervisord.log

[program:a]
command=sh -c 'exit 0'
autorestart=false
startsecs=0
)");
  Child c(podvisor_config(conf));
  ASSERT_TRUE(c.wait_stderr("exited: a (exit status 0; expected)")) << c.describe();
  c.signal(SIGTERM);
  ASSERT_EQ(c.wait_exit(), 0) << c.describe();
  const auto log = read_file(dir / "supervisord.log");
  EXPECT_NE(log.find("spawned: 'a' with pid"), std::string::npos) << log;
  EXPECT_NE(log.find("exited: a (exit status 0; expected)"), std::string::npos) << log;
}

}  // namespace
}  // namespace e2e
