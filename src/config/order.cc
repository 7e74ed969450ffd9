#include "config/order.h"

#include <string>
#include <tuple>

namespace podvisor::config {

namespace {

using Name = const std::string&;

std::tuple<int, Name, int, Name> start_key(const ProgramSpec& p) {
  return {group_priority(p), p.group, p.group_position, p.name};
}

std::tuple<int, Name, int, int, Name> request_key(const ProgramSpec& p) {
  return {group_priority(p), p.group, p.priority, p.group_position, p.name};
}

}  // namespace

bool starts_before(const ProgramSpec& a, const ProgramSpec& b) {
  return start_key(a) < start_key(b);
}

bool listed_before(const ProgramSpec& a, const ProgramSpec& b) {
  return request_key(a) < request_key(b);
}

}  // namespace podvisor::config
