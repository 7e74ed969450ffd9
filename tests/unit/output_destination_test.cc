#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "output/destination.h"
#include "output/log_file.h"

namespace podvisor::output {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class Collect : public Destination {
 public:
  void write(std::string_view data) override {
    text += data;
    ++writes;
  }
  std::string text;
  int writes = 0;
};

class LogFiles : public testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/podvisor-logfile-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(LogFiles, RotatesWithoutLosingAByte) {
  const auto path = dir_ + "/out.log";
  std::string all;
  {
    LogFile file(path, 10, 5);
    for (int i = 0; i < 7; ++i) {
      const std::string chunk = std::string(7, static_cast<char>('a' + i));
      file.write(chunk);
      all += chunk;
    }
  }
  // 49 bytes at 10 a file: out.log.4 (oldest) … out.log.1, out.log.
  std::string joined;
  for (int i = 4; i >= 1; --i) {
    const auto part = slurp(path + "." + std::to_string(i));
    EXPECT_EQ(part.size(), 10u) << i;
    joined += part;
  }
  joined += slurp(path);
  EXPECT_EQ(joined, all);
  EXPECT_FALSE(std::filesystem::exists(path + ".5"));
}

TEST_F(LogFiles, KeepsOnlyBackupsFiles) {
  const auto path = dir_ + "/out.log";
  {
    LogFile file(path, 4, 2);
    file.write("aaaabbbbccccdddd");
  }
  EXPECT_EQ(slurp(path + ".2"), "bbbb");
  EXPECT_EQ(slurp(path + ".1"), "cccc");
  EXPECT_EQ(slurp(path), "dddd");
  EXPECT_FALSE(std::filesystem::exists(path + ".3"));
}

TEST_F(LogFiles, ZeroMaxbytesNeverRotatesAndAppends) {
  const auto path = dir_ + "/out.log";
  { LogFile(path, 0, 3).write("first\n"); }
  { LogFile(path, 0, 3).write("second\n"); }
  EXPECT_EQ(slurp(path), "first\nsecond\n");
  EXPECT_FALSE(std::filesystem::exists(path + ".1"));
}

// What a LogFile reports, one entry per call.
struct Reports {
  std::vector<std::string> lines;
  LogFile::Options options() {
    return {nullptr, [this](config::LogLevel, std::string_view m) { lines.emplace_back(m); }};
  }
};

TEST_F(LogFiles, AWriteErrorDropsCountsAndIsReportedOncePerEpisode) {
  Reports reports;
  LogFile full("/dev/full", 0, 0, reports.options());  // every write: ENOSPC
  full.write("one\n");
  full.write("two\n");
  EXPECT_EQ(full.dropped_bytes(), 8u);
  ASSERT_EQ(reports.lines.size(), 1u);
  EXPECT_NE(reports.lines[0].find("No space left on device"), std::string::npos);
}

TEST_F(LogFiles, AFifoWithoutAReaderNeitherBlocksNorThrows) {
  const auto path = dir_ + "/fifo";
  ASSERT_EQ(::mkfifo(path.c_str(), 0644), 0);
  Reports reports;
  LogFile fifo(path, 0, 0, reports.options());
  fifo.write("lost\n");
  EXPECT_EQ(fifo.dropped_bytes(), 5u);
  ASSERT_EQ(reports.lines.size(), 1u);
  EXPECT_NE(reports.lines[0].find("has no reader"), std::string::npos);
}

TEST_F(LogFiles, ADeviceIsWrittenWithoutSeeking) {
  Reports reports;
  LogFile null("/dev/null", 0, 0, reports.options());
  null.write("gone\n");
  EXPECT_EQ(null.dropped_bytes(), 0u);
  EXPECT_TRUE(reports.lines.empty());
}

TEST(LineFormatter, PrefixesWholeLinesAndHoldsPartialOnes) {
  Collect out;
  LineFormatter f(out, LineFormatter::Format::kPrefix, "web", "stdout");
  f.write("one\ntw");
  EXPECT_EQ(out.text, "[web] one\n");
  f.write("o\nthree");
  EXPECT_EQ(out.text, "[web] one\n[web] two\n");
  f.end();
  EXPECT_EQ(out.text, "[web] one\n[web] two\n[web] three\n");
  EXPECT_EQ(out.writes, 3);  // one write per batch: lines never split across writes
}

TEST(LineFormatter, SplitsLinesLongerThanTheLimit) {
  Collect out;
  LineFormatter f(out, LineFormatter::Format::kPrefix, "p", "stdout");
  const std::string longline(LineFormatter::kMaxLine * 2 + 5, 'x');
  f.write(longline + "\n");
  const std::string piece(LineFormatter::kMaxLine, 'x');
  // EXPECT_TRUE: a failure must not print 128 KiB of x.
  EXPECT_TRUE(out.text == "[p] " + piece + "\n[p] " + piece + "\n[p] xxxxx\n")
      << out.text.size() << " bytes";
  out.text.clear();
  f.write(longline);  // no newline yet: full pieces go out at once, the rest waits
  EXPECT_TRUE(out.text == "[p] " + piece + "\n[p] " + piece + "\n") << out.text.size();
  f.end();
  EXPECT_TRUE(out.text.ends_with("\n[p] xxxxx\n")) << out.text.size();
}

TEST(LineFormatter, JsonLines) {
  Collect out;
  LineFormatter f(out, LineFormatter::Format::kJson, "web", "stderr");
  f.write("say \"hi\"\x1b\n");
  EXPECT_NE(out.text.find("\"program\":\"web\""), std::string::npos) << out.text;
  EXPECT_NE(out.text.find("\"stream\":\"stderr\""), std::string::npos) << out.text;
  EXPECT_NE(out.text.find("\"line\":\"say \\\"hi\\\"\\u001b\""), std::string::npos) << out.text;
  EXPECT_NE(out.text.find("\"time\":\""), std::string::npos) << out.text;
  EXPECT_EQ(out.text.back(), '\n');
}

}  // namespace
}  // namespace podvisor::output
