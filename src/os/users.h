// User and group lookup from /etc/passwd and /etc/group read directly: a static binary
// cannot use NSS.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace podvisor::os {

struct UserInfo {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string home;
  std::vector<gid_t> groups;  // supplementary groups that list the user, plus gid
};

// By name, or by number for "1000"; nullopt when unknown. `root` is the prefix holding etc/
// (tests point it elsewhere).
std::optional<UserInfo> find_user(const std::string& name_or_uid, const std::string& root = "/");
// A group id from /etc/group, by name or number.
std::optional<gid_t> find_group(const std::string& name_or_gid, const std::string& root = "/");

}  // namespace podvisor::os
