// The [supervisord] ssh* keys: accepted spellings and the errors `check` reports.
#include <gtest/gtest.h>

#include "config/ssh_keys.h"
#include "config/values.h"

namespace podvisor::config {
namespace {

TEST(SshKeys, ValuesAndTheirErrors) {
  SshSpec s;
  set_ssh_key(s, "ssh", "auto");
  EXPECT_FALSE(s.enabled);
  set_ssh_key(s, "ssh", "TRUE");
  EXPECT_EQ(s.enabled, true);
  EXPECT_THROW(set_ssh_key(s, "ssh", "maybe"), ValueError);
  set_ssh_key(s, "ssh_port", "2222");
  EXPECT_EQ(s.port, 2222);
  EXPECT_THROW(set_ssh_key(s, "ssh_port", "70000"), ValueError);
  set_ssh_key(s, "ssh_env_exclude", "AWS_*, WANDB_API_KEY");
  EXPECT_EQ(s.env_exclude, (std::vector<std::string>{"AWS_*", "WANDB_API_KEY"}));
  set_ssh_key(s, "ssh_options", "StrictModes=no 'Banner=/etc/my banner'");
  EXPECT_EQ(s.options, (std::vector<std::string>{"StrictModes=no", "Banner=/etc/my banner"}));
  EXPECT_THROW(set_ssh_key(s, "ssh_options", "StrictModes"), ValueError);
  set_ssh_key(s, "ssh_host_key_dir", "/workspace/ssh");
  EXPECT_EQ(s.host_key_dir, "/workspace/ssh");
  EXPECT_THROW(set_ssh_key(s, "ssh_host_key_dir", "relative/dir"), ValueError);
  set_ssh_key(s, "ssh_profile_file", "none");
  EXPECT_EQ(s.profile_file, "");
  set_ssh_key(s, "ssh_user", "root");
  EXPECT_THROW(set_ssh_key(s, "ssh_user", "no-such-user-here"), ValueError);
}

}  // namespace
}  // namespace podvisor::config
