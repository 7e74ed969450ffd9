#include <gtest/gtest.h>

#include <cerrno>

#include "ctl/format.h"

namespace podvisor::ctl {
namespace {

using control::xmlrpc::Array;
using control::xmlrpc::Nil;
using control::xmlrpc::Struct;
using control::xmlrpc::Value;

TEST(CtlFormat, SplitAndStripAsPython) {
  EXPECT_EQ(split("  a \t b\nc  "), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(split(" \t ").empty());
  EXPECT_EQ(strip("\t x y \r\n"), "x y");
  EXPECT_EQ(strip("   "), "");
}

TEST(CtlFormat, SplitNamespec) {
  EXPECT_EQ(split_namespec("web"),
            (std::pair<std::string, std::optional<std::string>>{"web", "web"}));
  EXPECT_EQ(split_namespec("g:p").second, "p");
  EXPECT_EQ(split_namespec("g:p").first, "g");
  EXPECT_FALSE(split_namespec("g:").second);
  EXPECT_FALSE(split_namespec("g:*").second);
  EXPECT_EQ(split_namespec("g:*").first, "g");
}

TEST(CtlFormat, PythonInt) {
  EXPECT_EQ(python_int("100"), 100);
  EXPECT_EQ(python_int(" -42 "), -42);
  EXPECT_EQ(python_int("+7"), 7);
  EXPECT_EQ(python_int("1_000"), 1000);
  EXPECT_EQ(python_int("0"), 0);
  for (const char* bad :
       {"", "-", "f", "1.5", "_1", "1_", "1__0", "0x10", "1 2", "99999999999999999999"}) {
    EXPECT_FALSE(python_int(bad)) << bad;
  }
}

TEST(CtlFormat, ReprPicksQuotesAndEscapesAsPython) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"abc", "'abc'"},
      {"it's", "\"it's\""},
      {"both ' and \"", "'both \\' and \"'"},
      {"a\\b", "'a\\\\b'"},
      {"\n\r\t\x01\x7f", "'\\n\\r\\t\\x01\\x7f'"},
      {"caf\xc3\xa9", "'caf\xc3\xa9'"},  // printable non-ASCII stays as it is
  };
  for (const auto& [in, repr] : cases) EXPECT_EQ(python_repr(in), repr) << in;
}

TEST(CtlFormat, LjustCountsCharactersNotBytes) {
  EXPECT_EQ(ljust("ab", 4), "ab  ");
  EXPECT_EQ(ljust("abcdef", 4), "abcdef");
  EXPECT_EQ(display_length("caf\xc3\xa9"), 4u);
  EXPECT_EQ(ljust("caf\xc3\xa9", 6), "caf\xc3\xa9  ");
}

TEST(CtlFormat, ExceptionClassesByErrno) {
  EXPECT_EQ(python_exception_class(ENOENT), "FileNotFoundError");
  EXPECT_EQ(python_exception_class(ECONNREFUSED), "ConnectionRefusedError");
  EXPECT_EQ(python_exception_class(ECONNRESET), "ConnectionResetError");
  EXPECT_EQ(python_exception_class(ECONNABORTED), "ConnectionAbortedError");
  EXPECT_EQ(python_exception_class(EPIPE), "BrokenPipeError");
  EXPECT_EQ(python_exception_class(EACCES), "PermissionError");
  EXPECT_EQ(python_exception_class(EPERM), "PermissionError");
  EXPECT_EQ(python_exception_class(ETIMEDOUT), "TimeoutError");
  EXPECT_EQ(python_exception_class(EHOSTUNREACH), "OSError");
}

TEST(CtlFormat, ColumnizeAsCmdPrintTopics) {
  // supervisorctl 4.2.5's `help` list, 79 wide: the layout Debian's supervisorctl prints.
  const std::vector<std::string> names = {
      "add",   "avail",  "clear",  "exit",   "fg",     "health",  "maintail", "open",
      "pid",   "quit",   "reload", "remove", "reread", "restart", "shutdown", "signal",
      "start", "status", "stop",   "tail",   "update", "version"};
  const auto lines = columnize(names, 79);
  ASSERT_EQ(lines.size(), 3u);
  // What Python 3's cmd.Cmd().columnize(names, 79) prints for them.
  EXPECT_EQ(lines[0], "add    exit    maintail  quit    reread    signal  stop    version");
  EXPECT_EQ(lines[1], "avail  fg      open      reload  restart   start   tail  ");
  EXPECT_EQ(lines[2], "clear  health  pid       remove  shutdown  status  update");
  EXPECT_EQ(columnize({"one"}, 79), std::vector<std::string>{"one"});
  EXPECT_EQ(columnize({"aaaa", "bbbb"}, 5), (std::vector<std::string>{"aaaa", "bbbb"}));
}

TEST(CtlFormat, XmlRpcValuesAsTheCommandsReadThem) {
  EXPECT_EQ(text(Value("x")), "x");
  EXPECT_EQ(text(Value(int64_t{-3})), "-3");
  EXPECT_EQ(text(Value(true)), "True");
  EXPECT_EQ(text(Value(Nil{})), "None");
  EXPECT_EQ(number(Value(int64_t{7})), 7);
  EXPECT_EQ(number(Value(false)), 0);
  EXPECT_THROW(number(Value("7")), BadAnswer);
  EXPECT_TRUE(truth(Value("x")));
  EXPECT_FALSE(truth(Value("")));
  EXPECT_FALSE(truth(Value(int64_t{0})));
  const Value info(Struct{{"pid", Value(int64_t{12})}});
  EXPECT_EQ(number(field(info, "pid")), 12);
  EXPECT_THROW(field(info, "name"), BadAnswer);
  EXPECT_THROW(as_array(info), BadAnswer);
  EXPECT_THROW(as_struct(Value(Array{})), BadAnswer);
  EXPECT_THROW(text(Value(Array{})), BadAnswer);
}

}  // namespace
}  // namespace podvisor::ctl
