#include <gtest/gtest.h>

#include "config/ini.h"

namespace podvisor::config {
namespace {

IniDocument parse(std::string_view text) {
  IniDocument doc;
  parse_ini(text, "test.conf", doc);
  return doc;
}

std::string value(const IniDocument& doc, std::string_view section, const std::string& key) {
  const auto* s = doc.find(section);
  if (!s) return "<no section>";
  const auto it = s->values.find(key);
  return it == s->values.end() ? "<no key>" : it->second.text;
}

TEST(Ini, SectionsKeysAndLineNumbers) {
  const auto doc = parse(
      "; header comment\n[program:web]\ncommand = /bin/web --port 80\n\n"
      "[supervisord]\nLogLevel=debug\n");
  ASSERT_EQ(doc.sections.size(), 2u);
  EXPECT_EQ(doc.sections[0].name, "program:web");
  EXPECT_EQ(doc.sections[0].where.line, 2);
  EXPECT_EQ(value(doc, "program:web", "command"), "/bin/web --port 80");
  EXPECT_EQ(doc.sections[0].values.at("command").where.line, 3);
  EXPECT_EQ(value(doc, "supervisord", "loglevel"), "debug");  // keys are case-insensitive
}

TEST(Ini, InlineCommentsOnlyAfterWhitespace) {
  const auto doc = parse("[p]\na=/bin/true;x\nb=/bin/true ;x\nc=x#y\nd=x #y\ne=x\t;y\n");
  EXPECT_EQ(value(doc, "p", "a"), "/bin/true;x");
  EXPECT_EQ(value(doc, "p", "b"), "/bin/true");
  EXPECT_EQ(value(doc, "p", "c"), "x#y");
  EXPECT_EQ(value(doc, "p", "d"), "x");
  EXPECT_EQ(value(doc, "p", "e"), "x");
}

TEST(Ini, FullLineCommentsEvenIndented) {
  const auto doc = parse("[p]\n# one\n  ; two\na=1\n");
  EXPECT_EQ(value(doc, "p", "a"), "1");
  EXPECT_EQ(doc.find("p")->values.size(), 1u);
}

TEST(Ini, ContinuationLinesAndEmptyLinesInValues) {
  const auto doc = parse("[p]\nfiles = a.conf\n  b.conf\n\n  c.conf\n\nnext = 1\nempty =\n  x\n");
  EXPECT_EQ(value(doc, "p", "files"), "a.conf\nb.conf\n\nc.conf");
  EXPECT_EQ(value(doc, "p", "next"), "1");
  EXPECT_EQ(value(doc, "p", "empty"), "\nx");
}

TEST(Ini, ColonIsADelimiterToo) {
  const auto doc = parse("[p]\nurl: http://x:1/a=b\nenv=A=\"x:y\"\n");
  EXPECT_EQ(value(doc, "p", "url"), "http://x:1/a=b");
  EXPECT_EQ(value(doc, "p", "env"), "A=\"x:y\"");
}

TEST(Ini, DuplicateKeysLastWinsAndSectionsMerge) {
  const auto doc = parse("[p]\na=1\nb=2\n[q]\nz=0\n[p]\na=3\n");
  ASSERT_EQ(doc.sections.size(), 2u);
  EXPECT_EQ(value(doc, "p", "a"), "3");
  EXPECT_EQ(value(doc, "p", "b"), "2");
}

TEST(Ini, DefaultSectionIsKeptApart) {
  const auto doc = parse("[DEFAULT]\nautostart=false\n[p]\na=1\n");
  EXPECT_EQ(doc.sections.size(), 1u);
  EXPECT_EQ(doc.defaults.values.at("autostart").text, "false");
}

TEST(Ini, SectionNamesKeepTheirCase) {
  const auto doc = parse("[program:Web]\na=1\n");
  EXPECT_NE(doc.find("program:Web"), nullptr);
  EXPECT_EQ(doc.find("program:web"), nullptr);
}

TEST(Ini, CrLfLineEnds) {
  const auto doc = parse("[p]\r\na=1\r\n");
  EXPECT_EQ(value(doc, "p", "a"), "1");
}

struct ErrorCase {
  const char* text;
  int line;
  const char* message;
};

class IniError : public testing::TestWithParam<ErrorCase> {};

TEST_P(IniError, NamesFileAndLine) {
  const auto& c = GetParam();
  try {
    parse(c.text);
    FAIL() << "accepted: " << c.text;
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.where.line, c.line);
    EXPECT_EQ(e.where.file, "test.conf");
    EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).rfind("test.conf:" + std::to_string(c.line) + ": ", 0), 0u)
        << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Table, IniError,
                         testing::Values(ErrorCase{"a=1\n", 1, "no section headers"},
                                         ErrorCase{"[p]\na=1\njunk\n", 3, "expected key = value"},
                                         ErrorCase{"[p]\n\n=value\n", 3, "expected key = value"}));

}  // namespace
}  // namespace podvisor::config
