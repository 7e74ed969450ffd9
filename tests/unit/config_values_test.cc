#include <gtest/gtest.h>

#include <csignal>

#include "config/values.h"

namespace podvisor::config {
namespace {

TEST(ParseBool, AcceptsEverySpellingInAnyCase) {
  for (const char* t : {"true", "TRUE", "True", "1", "yes", "YES", "on", "On", " true "}) {
    EXPECT_TRUE(parse_bool(t)) << t;
  }
  for (const char* f : {"false", "FALSE", "0", "no", "No", "off", "OFF"}) {
    EXPECT_FALSE(parse_bool(f)) << f;
  }
}

TEST(ParseBool, RejectsOthersNamingAcceptedValues) {
  for (const char* bad : {"", "maybe", "2", "y", "tru"}) {
    try {
      parse_bool(bad);
      FAIL() << bad;
    } catch (const ValueError& e) {
      EXPECT_NE(std::string(e.what()).find("true/1/yes/on"), std::string::npos);
    }
  }
}

TEST(ParseInt, RangeAndSyntax) {
  EXPECT_EQ(parse_int("0", 0, 100), 0);
  EXPECT_EQ(parse_int("100", 0, 100), 100);
  EXPECT_EQ(parse_int(" 42 ", 0, 100), 42);
  for (const char* bad : {"101", "-1", "abc", "", "4x", "1.5"}) {
    EXPECT_THROW(parse_int(bad, 0, 100), ValueError) << bad;
  }
}

TEST(ParseSignal, NamesWithAndWithoutSigAndNumbers) {
  EXPECT_EQ(parse_signal("TERM"), SIGTERM);
  EXPECT_EQ(parse_signal("SIGTERM"), SIGTERM);
  EXPECT_EQ(parse_signal("sigint"), SIGINT);
  EXPECT_EQ(parse_signal("hup"), SIGHUP);
  EXPECT_EQ(parse_signal("QUIT"), SIGQUIT);
  EXPECT_EQ(parse_signal("KILL"), SIGKILL);
  EXPECT_EQ(parse_signal("USR1"), SIGUSR1);
  EXPECT_EQ(parse_signal("usr2"), SIGUSR2);
  EXPECT_EQ(parse_signal("15"), SIGTERM);
  for (const char* bad : {"NOPE", "SIG", "", "0", "999"}) {
    EXPECT_THROW(parse_signal(bad), ValueError) << bad;
  }
}

TEST(SignalName, KnownAndUnknown) {
  EXPECT_EQ(signal_name(SIGKILL), "SIGKILL");
  EXPECT_EQ(signal_name(SIGSEGV), "SIGSEGV");
  EXPECT_EQ(signal_name(40), "SIG40");
}

TEST(ParseExitcodes, Lists) {
  EXPECT_EQ(parse_exitcodes("0"), (std::vector<int>{0}));
  EXPECT_EQ(parse_exitcodes("0,2"), (std::vector<int>{0, 2}));
  EXPECT_EQ(parse_exitcodes(" 0 , 2 ,255"), (std::vector<int>{0, 2, 255}));
  for (const char* bad : {"", "0,abc", "256", "0,", "-1"}) {
    EXPECT_THROW(parse_exitcodes(bad), ValueError) << bad;
  }
}

TEST(ParseAutorestart, ThreeValues) {
  EXPECT_EQ(parse_autorestart("true"), Autorestart::kTrue);
  EXPECT_EQ(parse_autorestart("False"), Autorestart::kFalse);
  EXPECT_EQ(parse_autorestart("UNEXPECTED"), Autorestart::kUnexpected);
  EXPECT_THROW(parse_autorestart("sometimes"), ValueError);
}

TEST(ParseLoglevel, SupervisordAndStandardSupervisorNames) {
  EXPECT_EQ(parse_loglevel("debug"), LogLevel::kDebug);
  EXPECT_EQ(parse_loglevel("trace"), LogLevel::kDebug);
  EXPECT_EQ(parse_loglevel("blather"), LogLevel::kDebug);
  EXPECT_EQ(parse_loglevel("INFO"), LogLevel::kInfo);
  EXPECT_EQ(parse_loglevel("warn"), LogLevel::kWarn);
  EXPECT_EQ(parse_loglevel("warning"), LogLevel::kWarn);
  EXPECT_EQ(parse_loglevel("error"), LogLevel::kError);
  EXPECT_EQ(parse_loglevel("critical"), LogLevel::kCritical);
  EXPECT_THROW(parse_loglevel("loud"), ValueError);
}

TEST(ParseEnvironment, PairsQuotesAndErrors) {
  using Env = std::map<std::string, std::string>;
  EXPECT_EQ(parse_environment("A=1"), (Env{{"A", "1"}}));
  EXPECT_EQ(parse_environment("A=1,B=two"), (Env{{"A", "1"}, {"B", "two"}}));
  EXPECT_EQ(parse_environment("A=\"x,y\", B='z'"), (Env{{"A", "x,y"}, {"B", "z"}}));
  // As in supervisord: '?' ends the word and is skipped, so "a=b" becomes a pair.
  EXPECT_EQ(parse_environment("URL=http://h:1/?a=b"), (Env{{"URL", "http://h:1/"}, {"a", "b"}}));
  EXPECT_EQ(parse_environment("URL=\"http://h:1/?a=b\""), (Env{{"URL", "http://h:1/?a=b"}}));
  EXPECT_EQ(parse_environment(""), Env{});
  for (const char* bad : {"A", "A=\"unclosed", "=1", "A=\"x\" B=2", "A=, B=2"}) {
    EXPECT_THROW(parse_environment(bad), ValueError) << bad;
  }
}

}  // namespace
}  // namespace podvisor::config

namespace podvisor::config {
namespace {

TEST(ParseByteSize, SuffixesInAnyCase) {
  EXPECT_EQ(parse_byte_size("0"), 0u);
  EXPECT_EQ(parse_byte_size("1024"), 1024u);
  EXPECT_EQ(parse_byte_size("1KB"), 1024u);
  EXPECT_EQ(parse_byte_size("50MB"), 50u * 1024 * 1024);
  EXPECT_EQ(parse_byte_size("2gb"), 2ULL * 1024 * 1024 * 1024);
  for (const char* bad : {"", "MB", "1TB", "x", "-1KB", "1.5MB"}) {
    EXPECT_THROW(parse_byte_size(bad), ValueError) << bad;
  }
}

TEST(ParseByteSize, ASizePastTheRangeIsAnErrorNotAWrap) {
  EXPECT_EQ(parse_byte_size("1048576GB"), 1ULL << 50);
  for (const char* big :
       {"17179869185GB", "1048577GB", "1125899906842625", "18014398509481984KB"}) {
    try {
      parse_byte_size(big);
      ADD_FAILURE() << big << " was accepted";
    } catch (const ValueError& e) {
      EXPECT_NE(std::string(e.what()).find("out of range"), std::string::npos) << e.what();
    }
  }
}

TEST(ParseOctal, Umasks) {
  EXPECT_EQ(parse_octal("022"), 022u);
  EXPECT_EQ(parse_octal("0"), 0u);
  EXPECT_EQ(parse_octal("777"), 0777u);
  for (const char* bad : {"", "8", "1000", "abc"})
    EXPECT_THROW(parse_octal(bad), ValueError) << bad;
}

TEST(ParseName, RejectsSpaceColonSlash) {
  EXPECT_EQ(parse_name(" web "), "web");
  for (const char* bad : {"", "a b", "a:b", "a/b"})
    EXPECT_THROW(parse_name(bad), ValueError) << bad;
}

}  // namespace
}  // namespace podvisor::config
