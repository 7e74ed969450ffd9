#include "os/users.h"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace podvisor::os {
namespace {

std::vector<std::string> split_fields(const std::string& line) {
  std::vector<std::string> out;
  std::string field;
  std::istringstream in(line);
  while (std::getline(in, field, ':')) out.push_back(field);
  if (!line.empty() && line.back() == ':') out.emplace_back();
  return out;
}

bool parse_number(const std::string& text, unsigned long& out) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) return false;
  out = std::stoul(text);
  return true;
}

}  // namespace

std::optional<UserInfo> find_user(const std::string& name_or_uid, const std::string& root) {
  unsigned long wanted_uid = 0;
  const bool by_number = parse_number(name_or_uid, wanted_uid);
  std::ifstream passwd(root + "etc/passwd");
  std::optional<UserInfo> user;
  for (std::string line; std::getline(passwd, line);) {
    const auto f = split_fields(line);
    unsigned long uid = 0, gid = 0;
    if (f.size() < 7 || !parse_number(f[2], uid) || !parse_number(f[3], gid)) continue;
    if (by_number ? uid == wanted_uid : f[0] == name_or_uid) {
      user = UserInfo{f[0], static_cast<uid_t>(uid), static_cast<gid_t>(gid), f[5], {}};
      break;
    }
  }
  if (!user) return std::nullopt;
  user->groups.push_back(user->gid);
  std::ifstream group(root + "etc/group");
  for (std::string line; std::getline(group, line);) {
    const auto f = split_fields(line);
    unsigned long gid = 0;
    if (f.size() < 4 || !parse_number(f[2], gid)) continue;
    std::istringstream members(f[3]);
    for (std::string m; std::getline(members, m, ',');) {
      if (m == user->name &&
          std::find(user->groups.begin(), user->groups.end(), gid) == user->groups.end()) {
        user->groups.push_back(static_cast<gid_t>(gid));
      }
    }
  }
  return user;
}

std::optional<gid_t> find_group(const std::string& name_or_gid, const std::string& root) {
  unsigned long wanted = 0;
  const bool by_number = parse_number(name_or_gid, wanted);
  std::ifstream group(root + "etc/group");
  for (std::string line; std::getline(group, line);) {
    const auto f = split_fields(line);
    unsigned long gid = 0;
    if (f.size() < 3 || !parse_number(f[2], gid)) continue;
    if (by_number ? gid == wanted : f[0] == name_or_gid) return static_cast<gid_t>(gid);
  }
  return std::nullopt;
}

}  // namespace podvisor::os
