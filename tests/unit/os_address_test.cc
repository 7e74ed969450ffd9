// os::parse_endpoint: the gate's "[HOST:]PORT" addresses, with parse_host's hosts.
#include <gtest/gtest.h>

#include "os/address.h"

namespace podvisor::os {
namespace {

std::string shown(std::string_view text) {
  const auto e = parse_endpoint(text);
  if (!e) return "none";
  return e->address().to_string() + " " + std::to_string(e->port());
}

TEST(ParseEndpoint, ReadsHostAndPort) {
  const std::pair<const char*, const char*> cases[] = {{"8000", "0.0.0.0 8000"},
                                                       {":8000", "0.0.0.0 8000"},
                                                       {"127.0.0.1:8001", "127.0.0.1 8001"},
                                                       {"localhost:65535", "127.0.0.1 65535"},
                                                       {"[::1]:8000", "::1 8000"},
                                                       {"0.0.0.0:1", "0.0.0.0 1"}};
  for (const auto& [text, want] : cases) EXPECT_EQ(shown(text), want) << text;
}

TEST(ParseEndpoint, RefusesWhatIsNotOne) {
  for (const auto* bad : {"", "0", "65536", "80a", "-1", "example.com:80", "127.0.0.1:",
                          "127.0.0.1", "[::1]", "::1", "1.2.3.4:80:90", "127.0.0.1: 80"}) {
    EXPECT_EQ(shown(bad), "none") << bad;
  }
}

}  // namespace
}  // namespace podvisor::os
