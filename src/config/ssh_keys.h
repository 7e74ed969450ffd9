// The [supervisord] ssh* keys (SSH at boot, docs/pods.md): their names and how each value is
// parsed into SshSpec. keys.cc turns each name into a row of the one table.
#pragma once

#include <array>
#include <string_view>

#include "config/spec.h"

namespace podvisor::config {

inline constexpr std::array<std::string_view, 10> kSshKeyNames = {"ssh",
                                                                  "ssh_user",
                                                                  "ssh_host_key_dir",
                                                                  "ssh_env_exclude",
                                                                  "ssh_port",
                                                                  "ssh_options",
                                                                  "ssh_authorized_keys",
                                                                  "ssh_env_file",
                                                                  "ssh_profile_file",
                                                                  "ssh_sshd"};

// Sets key `name` (one of kSshKeyNames) from `value`; throws ValueError.
void set_ssh_key(SshSpec& ssh, std::string_view name, std::string_view value);

// "auto" (unset), or a boolean.
std::optional<bool> parse_ssh_switch(std::string_view value);

}  // namespace podvisor::config
