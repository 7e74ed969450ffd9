// The [supervisord] ssh* keys (SSH at boot, docs/pods.md): their names and how each value is
// parsed into SshSpec. keys.cc turns each name into a row of the one table.
#pragma once

#include <array>
#include <string_view>
#include <utility>

#include "config/keys.h"
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

// Their rows in the one table of keys: [supervisord] keys, also set in single-command mode
// (SUPERVISOR_SUPERVISORD_SSH_*).
template <size_t I>
constexpr Key ssh_row() {
  Key k{.section = "supervisord", .name = kSshKeyNames[I], .single_command = true};
  k.supervisord = [](SupervisorSpec& s, std::string_view v) {
    set_ssh_key(s.ssh, kSshKeyNames[I], v);
  };
  return k;
}
template <size_t... I>
constexpr std::array<Key, sizeof...(I)> ssh_rows(std::index_sequence<I...>) {
  return {ssh_row<I>()...};
}
constexpr auto ssh_rows() { return ssh_rows(std::make_index_sequence<kSshKeyNames.size()>()); }

}  // namespace podvisor::config
