// core::last_python_traceback and the crash report's traceback section (seed 001): the point
// of the crash is shown even when shutdown warnings pushed it out of the last lines.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/report.h"

namespace podvisor::core {
namespace {

const std::string kTraceback =
    "Traceback (most recent call last):\n"
    "  File \"/app/worker.py\", line 9, in <module>\n"
    "    load()\n"
    "  File \"/app/worker.py\", line 5, in load\n"
    "    raise RuntimeError(\"CUDA out of memory\")\n"
    "RuntimeError: CUDA out of memory\n";

TEST(PythonTraceback, FromItsHeaderToTheExceptionLine) {
  const auto lines = last_python_traceback("loading\n" + kTraceback + "warning: a\nwarning: b\n");
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(lines.front(), "Traceback (most recent call last):");
  EXPECT_EQ(lines.back(), "RuntimeError: CUDA out of memory");
}

TEST(PythonTraceback, TheLastOneWins) {
  const auto text =
      "Traceback (most recent call last):\n  File \"a\", line 1\nValueError: first\n"
      "During handling of the above exception, another exception occurred:\n\n" +
      kTraceback;
  EXPECT_EQ(last_python_traceback(text).back(), "RuntimeError: CUDA out of memory");
}

TEST(PythonTraceback, NoneOrUnfinished) {
  EXPECT_TRUE(last_python_traceback("all good\n").empty());
  const auto cut = last_python_traceback("Traceback (most recent call last):\n  File \"a\"\n");
  EXPECT_EQ(cut, (std::vector<std::string>{"Traceback (most recent call last):", "  File \"a\""}));
}

TEST(PythonTraceback, ALongOneKeepsItsHeadAndItsEnd) {
  std::string text = "Traceback (most recent call last):\n";
  for (int i = 0; i < 500; ++i) text += "  File \"r.py\", line 2, in f\n";
  text += "RecursionError: maximum recursion depth exceeded\n";
  const auto lines = last_python_traceback(text, 60);
  ASSERT_EQ(lines.size(), 60u);
  EXPECT_EQ(lines[0], "Traceback (most recent call last):");
  EXPECT_EQ(lines[1], "  ... (443 lines left out)");
  EXPECT_EQ(lines.back(), "RecursionError: maximum recursion depth exceeded");
}

TEST(CrashReport, ShowsTheTracebackWhenTheLastLinesMissIt) {
  Report r;
  r.program = "worker";
  r.reason = "exit status 1";
  r.traceback = last_python_traceback(kTraceback);
  for (int i = 0; i < 20; ++i) r.last_lines.push_back("warning: shutdown " + std::to_string(i));
  const auto text = format_report(r);
  EXPECT_NE(text.find("podvisor: last Python traceback (6 lines):\n"
                      "  | Traceback (most recent call last):\n"),
            std::string::npos)
      << text;
  EXPECT_LT(text.find("  | RuntimeError: CUDA out of memory\n"), text.find("last 20 lines"))
      << text;
}

TEST(CrashReport, DoesNotRepeatATracebackAmongTheLastLines) {
  Report r;
  r.program = "worker";
  r.traceback = last_python_traceback(kTraceback);
  r.last_lines = {"loading"};
  r.last_lines.insert(r.last_lines.end(), r.traceback.begin(), r.traceback.end());
  const auto text = format_report(r);
  EXPECT_EQ(text.find("last Python traceback"), std::string::npos) << text;
  EXPECT_NE(text.find("  | RuntimeError: CUDA out of memory\n"), std::string::npos) << text;
}

// A program that printed nothing (and so no traceback) gets no traceback heading.
TEST(CrashReport, NoOutputNoTracebackHeading) {
  Report r;
  r.program = "worker";
  r.reason = "exit status 1";
  const auto text = format_report(r);
  EXPECT_EQ(text.find("traceback"), std::string::npos) << text;
}

}  // namespace
}  // namespace podvisor::core
