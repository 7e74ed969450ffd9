// config::LinePattern: the ECMAScript patterns users write, matched with RE2 in linear time;
// what needs backtracking is refused when the pattern is compiled.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "config/pattern.h"

namespace podvisor::config {
namespace {

TEST(LinePattern, SearchesAnywhereInTheLine) {
  const LinePattern p(R"(Uvicorn running on http://[0-9.]+:\d+)");
  EXPECT_TRUE(p.search("INFO: Uvicorn running on http://0.0.0.0:8000 (Press CTRL+C to quit)"));
  EXPECT_FALSE(p.search("INFO: Uvicorn not yet running"));
}

TEST(LinePattern, KeepsTheEcmascriptSyntaxUsersWrite) {
  EXPECT_TRUE(LinePattern(R"(^ready$)").search("ready"));
  EXPECT_FALSE(LinePattern(R"(^ready$)").search("not ready"));
  EXPECT_TRUE(LinePattern(R"(\bport\s+\d{2,5}\b)").search("listening on port 8080"));
  EXPECT_TRUE(LinePattern(R"((?:GUI|API) go to:)").search("To see the GUI go to: x"));
  EXPECT_TRUE(LinePattern(R"([[:digit:]]+ workers)").search("started 4 workers"));
  EXPECT_TRUE(LinePattern(R"(\w+\.py:\d+)").search("at handler.py:12"));
  EXPECT_TRUE(LinePattern(R"(a\/b\-c)").search("a/b-c"));
  EXPECT_TRUE(LinePattern(R"(\u0041\u00e9)").search("xAé"));  // \uXXXX → \x{XXXX}
  EXPECT_TRUE(LinePattern(R"(a\0b)").search(std::string("a\0b", 3)));
  EXPECT_TRUE(LinePattern(R"(v[\d.]+ on \S+)").search("vllm v0.6.3 on cuda:0"));
}

TEST(LinePattern, RefusesWhatNeedsBacktracking) {
  const auto message = [](const std::string& pattern) {
    try {
      LinePattern p(pattern);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(message(R"((a)\1)").find("backreferences (\\1) are not supported"), std::string::npos);
  EXPECT_NE(
      message(R"(foo(?=bar))").find("lookahead and lookbehind are not supported ('(?=' here)"),
      std::string::npos);
  EXPECT_NE(message(R"(foo(?!bar))").find("not supported"), std::string::npos);
  EXPECT_NE(message(R"((?<=a)b)").find("not supported"), std::string::npos);
  EXPECT_NE(message("(unclosed").find("missing )"), std::string::npos);
  EXPECT_EQ(message(R"(\(?=x\))"), "accepted");  // an escaped paren is no lookahead
  // Its cost per byte grows with its size: a bound keeps one search short.
  EXPECT_NE(message("(a|aa|aaa|b|bb){120}z").find("too large: it compiles to"), std::string::npos);
  EXPECT_EQ(message("[0-9a-f]{64}"), "accepted");
}

// A piece of a longer line is searched with its neighbours: anchors and word boundaries hold
// only where they would in the whole line.
TEST(LinePattern, APieceOfALineIsNotALine) {
  const LinePattern anchored("^(a+)+$");
  EXPECT_TRUE(anchored.search_piece("aaaa", std::nullopt, std::nullopt));
  EXPECT_FALSE(anchored.search_piece("aaaa", std::nullopt, 'a'));
  EXPECT_FALSE(anchored.search_piece("aaaa", 'a', std::nullopt));
  const LinePattern word(R"(\bready\b)");
  EXPECT_FALSE(word.search_piece("ready", 'x', std::nullopt));
  EXPECT_TRUE(word.search_piece("ready", ' ', ' '));
  EXPECT_TRUE(LinePattern("ready").search_piece("already", 'x', 'y'));
}

// The inputs that froze or crashed a backtracking engine: each returns, without a deep stack.
TEST(LinePattern, IsLinearInTheLine) {
  const std::string attack = std::string(100000, 'a') + "b";
  EXPECT_FALSE(LinePattern("^(a+)+$").search(attack));
  EXPECT_TRUE(LinePattern("^(a+)+b$").search(attack));
  const std::string wide(60 * 1024, 'x');
  EXPECT_FALSE(LinePattern("(x|y)*z").search(wide));
  EXPECT_TRUE(LinePattern("(.)*x$").search(wide));
}

}  // namespace
}  // namespace podvisor::config
