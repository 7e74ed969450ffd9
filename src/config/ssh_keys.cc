#include "config/ssh_keys.h"

#include <fmt/format.h>

#include "config/command.h"
#include "config/values.h"
#include "os/users.h"

namespace podvisor::config {
namespace {

std::string absolute_path(std::string_view name, std::string_view value) {
  auto path = trim(value);
  if (!path.empty() && path.front() != '/') {
    throw ValueError(fmt::format("{} must be an absolute path, not '{}'", name, path));
  }
  return path;
}

// "none" or "" turns a file off.
std::string optional_path(std::string_view name, std::string_view value) {
  const auto lower = to_lower(trim(value));
  return lower == "none" || lower.empty() ? std::string() : absolute_path(name, value);
}

}  // namespace

std::optional<bool> parse_ssh_switch(std::string_view value) {
  if (to_lower(trim(value)) == "auto") return std::nullopt;
  try {
    return parse_bool(value);
  } catch (const ValueError&) {
    throw ValueError(fmt::format("'{}' is not auto, true or false", value));
  }
}

void set_ssh_key(SshSpec& ssh, std::string_view name, std::string_view value) {
  if (name == "ssh") {
    ssh.enabled = parse_ssh_switch(value);
  } else if (name == "ssh_user") {
    ssh.user = trim(value);
    if (!os::find_user(ssh.user)) {
      throw ValueError(fmt::format("no such user '{}' in /etc/passwd", ssh.user));
    }
  } else if (name == "ssh_host_key_dir") {
    ssh.host_key_dir = optional_path(name, value);
  } else if (name == "ssh_env_exclude") {
    ssh.env_exclude = trim(value).empty() ? std::vector<std::string>{} : split_list(value);
  } else if (name == "ssh_port") {
    ssh.port = static_cast<uint16_t>(parse_int(value, 0, 65535));
  } else if (name == "ssh_options") {
    ssh.options = trim(value).empty() ? std::vector<std::string>{} : split_command(value);
    for (const auto& o : ssh.options) {
      if (o.find('=') == std::string::npos || o.front() == '=') {
        throw ValueError(fmt::format("ssh_options: '{}' is not KEY=VALUE", o));
      }
    }
  } else if (name == "ssh_authorized_keys") {
    ssh.authorized_keys = optional_path(name, value);
  } else if (name == "ssh_env_file") {
    ssh.env_file = optional_path(name, value);
  } else if (name == "ssh_profile_file") {
    ssh.profile_file = optional_path(name, value);
  } else if (name == "ssh_sshd") {
    ssh.sshd = optional_path(name, value);
  }
}

}  // namespace podvisor::config
