// strip_ansi's scanner against supervisord's stripEscapes: what it removes and what it leaves.
#include <gtest/gtest.h>

#include <string>

#include "output/ansi.h"

namespace podvisor::output {
namespace {

std::string stripped(std::string_view chunk) {
  std::string out;
  strip_escapes(chunk, out);
  return out;
}

// The input of the research's check against Debian's supervisord 4.2.5, and what its log held.
TEST(StripEscapes, AsSupervisordLoggedIt) {
  EXPECT_EQ(stripped("a\x1b[31mRED\x1b[0mb \x1b[?25lx\x1b[1;2Hy \x1b]0;title\az \x1b[5Xq\n"),
            "aREDb xy \x1b]0;title\az ");
}

TEST(StripEscapes, EveryTerminatorEndsASequence) {
  for (char t : std::string("HfABCDRsuJKhlpm")) {
    EXPECT_EQ(stripped(std::string("<\x1b[12;3") + t + ">"), "<>") << t;
  }
}

TEST(StripEscapes, OnlyCsiIsRecognised) {
  EXPECT_EQ(stripped("plain text\n"), "plain text\n");
  EXPECT_EQ(stripped("\x1b(Bx"), "\x1b(Bx");
  EXPECT_EQ(stripped("lone \x1b x"), "lone \x1b x");
  EXPECT_EQ(stripped("\x1b]8;;http://x\a"), "\x1b]8;;http://x\a");
  EXPECT_EQ(stripped(""), "");
}

// Bytes between ESC [ and the terminator go whatever they are, newlines included.
TEST(StripEscapes, AnythingBeforeTheTerminatorGoes) {
  EXPECT_EQ(stripped("a\x1b[1X\nxyz\nZm rest"), "a rest");
  EXPECT_EQ(stripped("a\x1b[\x1b[31mb"), "ab");
}

// Each chunk stands alone, as supervisord scans each read: an open sequence takes the rest.
TEST(StripEscapes, AnOpenSequenceTakesTheRestOfTheChunk) {
  EXPECT_EQ(stripped("ok\x1b[31"), "ok");
  EXPECT_EQ(stripped("ok\x1b["), "ok");
  EXPECT_EQ(stripped("mRED"), "mRED");
}

TEST(StripEscapes, Appends) {
  std::string out = "kept:";
  strip_escapes("\x1b[1mbold\x1b[0m", out);
  EXPECT_EQ(out, "kept:bold");
}

}  // namespace
}  // namespace podvisor::output
