#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "os/users.h"

namespace podvisor::os {
namespace {

class Users : public testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/podvisor-users-XXXXXX";
    root_ = mkdtemp(tmpl);
    std::filesystem::create_directories(root_ + "/etc");
    std::ofstream(root_ + "/etc/passwd") << "root:x:0:0:root:/root:/bin/bash\n"
                                            "# comment\n"
                                            "broken line\n"
                                            "ml:x:1000:1000:ML user:/home/ml:/bin/sh\n";
    std::ofstream(root_ + "/etc/group") << "root:x:0:\n"
                                           "ml:x:1000:\n"
                                           "video:x:44:ml,other\n"
                                           "render:x:109:other\n"
                                           "docker:x:998:ml\n";
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  std::string root() const { return root_ + "/"; }
  std::string root_;
};

TEST_F(Users, ByNameWithSupplementaryGroups) {
  const auto u = find_user("ml", root());
  ASSERT_TRUE(u);
  EXPECT_EQ(u->uid, 1000u);
  EXPECT_EQ(u->gid, 1000u);
  EXPECT_EQ(u->home, "/home/ml");
  EXPECT_EQ(u->groups, (std::vector<gid_t>{1000, 44, 998}));
}

TEST_F(Users, ByNumber) {
  const auto u = find_user("0", root());
  ASSERT_TRUE(u);
  EXPECT_EQ(u->name, "root");
}

TEST_F(Users, Unknown) {
  EXPECT_FALSE(find_user("nobody-here", root()));
  EXPECT_FALSE(find_user("4242", root()));
}

}  // namespace
}  // namespace podvisor::os
