#include <gtest/gtest.h>

#include "config/interpolate.h"

namespace podvisor::config {
namespace {

const Expansions kNames = {{"program_name", "p"},
                           {"process_num", "5"},
                           {"here", "/etc/sv"},
                           {"ENV_HOME", "/root"},
                           {"numprocs", "2"}};

struct Case {
  const char* in;
  const char* out;
};

class Expand : public testing::TestWithParam<Case> {};

TEST_P(Expand, AsPythonFormats) {
  EXPECT_EQ(expand(GetParam().in, kNames, "program:p.command"), GetParam().out);
}

INSTANTIATE_TEST_SUITE_P(
    Table, Expand,
    testing::Values(Case{"plain", "plain"}, Case{"%(program_name)s-%(process_num)d", "p-5"},
                    Case{"%(here)s/err_%(process_num)02d.log", "/etc/sv/err_05.log"},
                    Case{"%(process_num)3d|", "  5|"}, Case{"%(process_num)-3d|", "5  |"},
                    Case{"100%%", "100%"}, Case{"%(ENV_HOME)s/.cache", "/root/.cache"},
                    Case{"%(numprocs)s", "2"}, Case{"", ""}));

TEST(Expand, Errors) {
  EXPECT_THROW(expand("%(nope)s", kNames, "x"), ValueError);
  EXPECT_THROW(expand("50%", kNames, "x"), ValueError);
  EXPECT_THROW(expand("%(here", kNames, "x"), ValueError);
  EXPECT_THROW(expand("%(here)", kNames, "x"), ValueError);
  EXPECT_THROW(expand("%(here)d", kNames, "x"), ValueError);
  EXPECT_THROW(expand("%(here)q", kNames, "x"), ValueError);
  try {
    expand("%(nope)s", kNames, "program:p.command");
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("'nope'"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("program:p.command"), std::string::npos);
  }
}

}  // namespace
}  // namespace podvisor::config
