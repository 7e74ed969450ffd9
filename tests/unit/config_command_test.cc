#include <gtest/gtest.h>

#include "config/command.h"
#include "config/values.h"

namespace podvisor::config {
namespace {

using Argv = std::vector<std::string>;

TEST(SplitCommand, AsShlex) {
  EXPECT_EQ(split_command("vllm serve model --port 8000"),
            (Argv{"vllm", "serve", "model", "--port", "8000"}));
  EXPECT_EQ(split_command("  sh  -c 'echo a b; exit 3'  "), (Argv{"sh", "-c", "echo a b; exit 3"}));
  EXPECT_EQ(split_command(R"(echo "a \"q\" \\ \$x")"), (Argv{"echo", R"(a "q" \ \$x)"}));
  EXPECT_EQ(split_command(R"(echo a\ b)"), (Argv{"echo", "a b"}));
  EXPECT_EQ(split_command("echo ''"), (Argv{"echo", ""}));
  EXPECT_EQ(split_command("a'b'\"c\"d"), (Argv{"abcd"}));
  EXPECT_EQ(split_command("python\n  -m http.server"), (Argv{"python", "-m", "http.server"}));
}

TEST(SplitCommand, Errors) {
  EXPECT_THROW(split_command("echo 'open"), ValueError);
  EXPECT_THROW(split_command("echo \"open"), ValueError);
  EXPECT_THROW(split_command("   "), ValueError);
  EXPECT_THROW(split_command("echo \\"), ValueError);
}

}  // namespace
}  // namespace podvisor::config
