#include "config/gate_keys.h"

#include <fmt/format.h>

#include "config/values.h"
#include "os/address.h"

namespace podvisor::config {

void set_gate_key(ProgramSpec& p, std::string_view name, std::string_view value) {
  const auto text = trim(value);
  const auto endpoint = os::parse_endpoint(text);
  if (!endpoint) {
    throw ValueError(fmt::format(
        "{}: '{}' is not [HOST:]PORT with a numeric host or localhost and a port 1-65535", name,
        text));
  }
  if (name == "gate_upstream" && endpoint->address().is_unspecified()) {
    throw ValueError(fmt::format("gate_upstream: '{}' names no host to connect to", text));
  }
  auto& field = name == "gate" ? p.gate : p.gate_upstream;
  // As it is used: "[::1]:8000", "0.0.0.0:8000".
  const auto host = endpoint->address().to_string();
  field = endpoint->address().is_v6() ? fmt::format("[{}]:{}", host, endpoint->port())
                                      : fmt::format("{}:{}", host, endpoint->port());
}

std::optional<std::string> print_gate_key(const ProgramSpec& p, std::string_view name) {
  const auto& field = name == "gate" ? p.gate : p.gate_upstream;
  if (field.empty()) return std::nullopt;
  return field;
}

}  // namespace podvisor::config
