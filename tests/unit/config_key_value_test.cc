// supervisord's environment= reader, row by row against supervisord 4.2.5's own
// dict_of_key_value_pairs (the expected values were produced by running it on each input).
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "config/key_value.h"
#include "config/values.h"

namespace podvisor::config {
namespace {

using Env = std::map<std::string, std::string>;

struct Row {
  const char* input;
  Env expected;
  const char* error;  // "" when supervisord accepts the input
  size_t notes;       // skipped tokens other than ','
};

const Row kRows[] = {
    {"A=1,B=2", Env{{"A", "1"}, {"B", "2"}}, "", 0},
    {"A=\"x\".B=2", Env{}, "Unexpected end of key/value pairs", 0},
    {"A=\"x\".\nB=2", Env{{"A", "x"}, {"B", "2"}}, "", 1},
    {"A=1.B=2", Env{}, "Unexpected end of key/value pairs", 0},
    {"A=\"1\".B=2", Env{}, "Unexpected end of key/value pairs", 0},
    {"A=1,,B=2", Env{}, "Unexpected end of key/value pairs", 0},
    {"A='a b',B=\"c,d\"", Env{{"A", "a b"}, {"B", "c,d"}}, "", 0},
    {"A=1,", Env{{"A", "1"}}, "", 0},
    {"A=1,B=2,", Env{{"A", "1"}, {"B", "2"}}, "", 0},
    {"A=\"x\",\n", Env{{"A", "x"}}, "", 0},
    {"A=", Env{}, "Unexpected end of key/value pairs", 0},
    {"A=,B=2", Env{}, "Unexpected end of key/value pairs", 0},
    {"A=\"\"", Env{{"A", ""}}, "", 0},
    {"A=''", Env{{"A", ""}}, "", 0},
    {"A=\"\",B=\"\"", Env{{"A", ""}, {"B", ""}}, "", 0},
    {"A=1 B=2", Env{}, "Unexpected end of key/value pairs", 0},
    {"A=1\nB=2", Env{}, "Unexpected end of key/value pairs", 0},
    {"A=1,\nB=2", Env{{"A", "1"}, {"B", "2"}}, "", 0},
    {"A=1;B=2", Env{{"A", "1"}, {"B", "2"}}, "", 1},
    {"A=1|B=2", Env{{"A", "1"}, {"B", "2"}}, "", 1},
    {"A=1 ,B=2", Env{{"A", "1"}, {"B", "2"}}, "", 0},
    {"A = 1 , B = 2", Env{{"A", "1"}, {"B", "2"}}, "", 0},
    {"A=\"x\";B=\"y\"", Env{{"A", "x"}, {"B", "y"}}, "", 1},
    {"A=\"x\" , B=\"y\"", Env{{"A", "x"}, {"B", "y"}}, "", 0},
    {"A=a b", Env{{"A", "a"}}, "", 1},
    {"A=1 B C=2", Env{{"A", "1"}, {"C", "2"}}, "", 1},
    {"A=1 =B=2", Env{{"A", "1"}, {"B", "2"}}, "", 1},
    {"A=x y,B=2", Env{}, "Unexpected end of key/value pairs", 0},
    {"A=1 B=2,C=3", Env{}, "Unexpected end of key/value pairs", 0},
    {"A=\"x\" B=2", Env{}, "Unexpected end of key/value pairs", 0},
    {"A=\"x\"B=2", Env{}, "Unexpected end of key/value pairs", 0},
    {"A=a,b", Env{}, "Unexpected end of key/value pairs", 0},
    {"A=1,B", Env{}, "Unexpected end of key/value pairs", 0},
    {"A=1,B=2,C", Env{}, "Unexpected end of key/value pairs", 0},
    {"A", Env{}, "Unexpected end of key/value pairs", 0},
    {"=1", Env{}, "Unexpected end of key/value pairs", 0},
    {"A=x=y", Env{}, "Unexpected end of key/value pairs", 0},
    {"A=/usr/bin:/bin", Env{{"A", "/usr/bin:/bin"}}, "", 0},
    {"A=1.5", Env{{"A", "1.5"}}, "", 0},
    {"A=-x", Env{{"A", "-x"}}, "", 0},
    {"A=C.UTF-8", Env{{"A", "C.UTF-8"}}, "", 0},
    {"a.b=1", Env{{"a.b", "1"}}, "", 0},
    {"A-B=1", Env{{"A-B", "1"}}, "", 0},
    {"A:B=1", Env{{"A:B", "1"}}, "", 0},
    {"A=a_b", Env{{"A", "a_b"}}, "", 0},
    {"PATH=\"/a:/b\",LANG=C.UTF-8", Env{{"PATH", "/a:/b"}, {"LANG", "C.UTF-8"}}, "", 0},
    {"A=$HOME", Env{{"A", "$"}}, "", 1},
    {"A=~x", Env{{"A", "~"}}, "", 1},
    {"A=*", Env{{"A", "*"}}, "", 0},
    {"A=@", Env{{"A", "@"}}, "", 0},
    {"A=a@b", Env{}, "Unexpected end of key/value pairs", 0},
    {"A=a%b", Env{}, "Unexpected end of key/value pairs", 0},
    {"A=a&b", Env{}, "Unexpected end of key/value pairs", 0},
    {"A=a!b", Env{}, "Unexpected end of key/value pairs", 0},
    {"A=a?b", Env{}, "Unexpected end of key/value pairs", 0},
    {"A=[1]", Env{}, "Unexpected end of key/value pairs", 0},
    {"A={x}", Env{}, "Unexpected end of key/value pairs", 0},
    {"A=x\\,y", Env{}, "Unexpected end of key/value pairs", 0},
    {"A=x€y", Env{}, "Unexpected end of key/value pairs", 0},
    {"A=é", Env{{"A", "é"}}, "", 0},
    {"A=éa", Env{{"A", "é"}}, "", 1},
    {"A=aé", Env{{"A", "a"}}, "", 1},
    {"A=a#b,B=2", Env{{"A", "a"}}, "", 0},
    {"A=\"a#b\",B=2", Env{{"A", "a#b"}, {"B", "2"}}, "", 0},
    {"A=a#b\nc,B=2", Env{{"A", "ac"}, {"B", "2"}}, "", 0},
    {"A=1,#c\nB=2", Env{{"A", "1"}, {"B", "2"}}, "", 0},
    {"A=1 # comment", Env{{"A", "1"}}, "", 0},
    {"A=a\"b c\"", Env{{"A", "a\"b"}}, "", 1},
    {"A=\"a\"b,C=1", Env{}, "Unexpected end of key/value pairs", 0},
    {"A=\"x\"x", Env{{"A", "x"}}, "", 1},
    {"A=\"\"x", Env{{"A", ""}}, "", 1},
    {"A=\"a\"\"b\"", Env{{"A", "a"}}, "", 1},
    {"A=\"it's\"", Env{{"A", "it's"}}, "", 0},
    {"A='say \"hi\"'", Env{{"A", "say \"hi"}}, "", 0},
    {"A=\"\\\"x\\\"\"", Env{}, "Unexpected end of key/value pairs", 0},
    {"A=\"unterminated", Env{}, "No closing quotation", 0},
    {"A='\"mixed'\"", Env{}, "No closing quotation", 0},
    {"A=a\tb", Env{{"A", "a"}}, "", 1},
    {"A=\"  spaced  \"", Env{{"A", "  spaced  "}}, "", 0},
    {"A=\"q\"", Env{{"A", "q"}}, "", 0},
    {"A=1,A=2", Env{{"A", "2"}}, "", 0},
    {"", Env{}, "", 0},
    {" ", Env{}, "", 0},
    {"PROC_NAME=\"vast\".\nOTHER=\"b c\";\nTHIRD=x",
     Env{{"PROC_NAME", "vast"}, {"OTHER", "b c"}, {"THIRD", "x"}}, "", 2},
    {"\"A\"=1", Env{{"\"A\"", "1"}}, "", 0},
};

TEST(KeyValuePairs, EveryRowAsSupervisordReadsIt) {
  for (const auto& row : kRows) {
    SCOPED_TRACE(row.input);
    if (*row.error) {
      try {
        parse_key_value_pairs(row.input);
        ADD_FAILURE() << "accepted";
      } catch (const ValueError& e) {
        EXPECT_NE(std::string(e.what()).find(row.error), std::string::npos) << e.what();
      }
      continue;
    }
    const auto parsed = parse_key_value_pairs(row.input);
    EXPECT_EQ(parsed.values, row.expected);
    EXPECT_EQ(parsed.notes.size(), row.notes);
    EXPECT_EQ(parse_environment(row.input), row.expected);
  }
}

TEST(KeyValuePairs, ErrorQuotesTheValueAsSupervisordDoes) {
  try {
    parse_key_value_pairs("A=1 B=2");
    FAIL();
  } catch (const ValueError& e) {
    EXPECT_STREQ(e.what(), "Unexpected end of key/value pairs in value 'A=1 B=2'");
  }
  EXPECT_THROW(
      {
        try {
          parse_key_value_pairs("A=\"x");
        } catch (const ValueError& e) {
          EXPECT_STREQ(e.what(), "No closing quotation");
          throw;
        }
      },
      ValueError);
}

TEST(KeyValuePairs, NoteNamesTheSkippedTokenAndThePair) {
  const auto parsed = parse_key_value_pairs("PROC_NAME=\"vast\".\nOTHER=b");
  ASSERT_EQ(parsed.notes.size(), 1u);
  EXPECT_NE(parsed.notes[0].find("'.' after PROC_NAME=\"vast\""), std::string::npos)
      << parsed.notes[0];
}

TEST(KeyValuePairs, TokensKeepQuotesAndSplitOtherCharacters) {
  EXPECT_EQ(supervisord_env_tokens("A=\"x\"y,b#c\nd é"),
            (std::vector<std::string>{"A", "=", "\"x\"", "y", ",", "bd", "é"}));
}

// check --print writes environment= so that supervisord reads the same values back.
TEST(KeyValuePairs, QuotedValuesReadBack) {
  const Env env = {
      {"A", "plain"}, {"B", "/usr/bin:/bin"},  {"C", "a b, c"},  {"D", ""},      {"E", "$HOME"},
      {"F", "it's"},  {"G", "say \"hi\" now"}, {"H", "C.UTF-8"}, {"I", "x=y;z"}, {"J", "é"}};
  std::string text;
  for (const auto& [k, v] : env) text += k + "=" + quote_env_value(v) + ",";
  const auto parsed = parse_key_value_pairs(text);
  EXPECT_EQ(parsed.values, env) << text;
  EXPECT_TRUE(parsed.notes.empty()) << text;
  EXPECT_EQ(quote_env_value("plain"), "plain");
  EXPECT_EQ(quote_env_value("a b"), "\"a b\"");
}

}  // namespace
}  // namespace podvisor::config
