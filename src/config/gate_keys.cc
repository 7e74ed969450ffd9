#include "config/gate_keys.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>

#include "config/values.h"
#include "os/address.h"

namespace podvisor::config {
namespace {

using namespace std::chrono_literals;

constexpr std::array<std::string_view, 3> kPresets = {"runpod", "sagemaker", "kubernetes"};

std::string endpoint_text(std::string_view name, std::string_view text) {
  if (name == "gate_upstream" && text.starts_with("unix:")) {
    // A unix socket's path must fit sockaddr_un (107 bytes and its NUL).
    const auto path = text.substr(5);
    if (!path.starts_with('/') || path.size() > 107) {
      throw ValueError(
          fmt::format("gate_upstream: '{}' is not unix:/ABSOLUTE/PATH of at most 107 bytes", text));
    }
    return std::string(text);
  }
  const auto endpoint = os::parse_endpoint(text);
  if (!endpoint) {
    throw ValueError(fmt::format(
        "{}: '{}' is not [HOST:]PORT with a numeric host or localhost and a port 1-65535", name,
        text));
  }
  if (name == "gate_upstream" && endpoint->address().is_unspecified()) {
    throw ValueError(fmt::format("gate_upstream: '{}' names no host to connect to", text));
  }
  // As it is used: "[::1]:8000", "0.0.0.0:8000".
  const auto host = endpoint->address().to_string();
  return endpoint->address().is_v6() ? fmt::format("[{}]:{}", host, endpoint->port())
                                     : fmt::format("{}:{}", host, endpoint->port());
}

// An environment variable's port, or `fallback` when it is unset or empty.
uint16_t env_port(const char* variable, uint16_t fallback) {
  const char* value = std::getenv(variable);
  if (value == nullptr || *value == '\0') return fallback;
  try {
    return static_cast<uint16_t>(parse_int(value, 1, 65535));
  } catch (const ValueError&) {
    throw ValueError(fmt::format("gate_health: ${} is '{}', not a port 1-65535", variable, value));
  }
}

}  // namespace

void set_gate_key(ProgramSpec& p, std::string_view name, std::string_view value) {
  const auto text = trim(value);
  if (name == "gate" || name == "gate_upstream") {
    (name == "gate" ? p.gate : p.gate_upstream) = endpoint_text(name, text);
  } else if (name == "gate_hold_timeout") {
    p.gate_hold_timeout = parse_fractional_seconds(text, 365L * 24 * 3600);
  } else if (name == "gate_max_held") {
    p.gate_max_held = parse_int(text, 1, 1000000);
  } else if (name == "gate_abort_on_close") {
    p.gate_abort_on_close = parse_bool(text);
  } else if (name == "gate_health") {
    if (std::find(kPresets.begin(), kPresets.end(), text) == kPresets.end()) {
      throw ValueError(
          fmt::format("gate_health: '{}' is not a preset: runpod, sagemaker or kubernetes", text));
    }
    p.gate_health = text;
  } else {
    try {
      p.gate_health_port = static_cast<uint16_t>(parse_int(text, 1, 65535));
    } catch (const ValueError&) {
      throw ValueError(fmt::format("gate_health_port: '{}' is not a port 1-65535", text));
    }
  }
}

std::optional<std::string> print_gate_key(const ProgramSpec& p, std::string_view name) {
  if (p.gate.empty()) return std::nullopt;
  if (name == "gate") return p.gate;
  if (name == "gate_upstream") return p.gate_upstream;
  if (name == "gate_hold_timeout") {
    return fmt::format("{}", std::chrono::duration<double>(gate_hold_timeout(p)).count());
  }
  if (name == "gate_max_held") {
    return p.gate_max_held ? std::to_string(p.gate_max_held) : "(from the descriptor limit)";
  }
  if (name == "gate_abort_on_close") return p.gate_abort_on_close ? "true" : "false";
  if (name == "gate_health") return p.gate_health.empty() ? "none" : p.gate_health;
  return p.gate_health_port ? std::to_string(p.gate_health_port) : "(the gate's port)";
}

void finish_gate_keys(ProgramSpec& p) {
  if (p.gate.empty() && p.gate_health == "runpod") {
    p.gate = fmt::format("0.0.0.0:{}", env_port("PORT", 80));
  } else if (p.gate.empty() && p.gate_health == "sagemaker") {
    p.gate = fmt::format("0.0.0.0:{}", env_port("SAGEMAKER_BIND_TO_PORT", 8080));
  }
  if (p.gate_health == "runpod" && p.gate_health_port == 0 && !p.gate.empty()) {
    const auto gate_port = os::parse_endpoint(p.gate)->port();
    const auto health = env_port("PORT_HEALTH", gate_port);
    if (health != gate_port) p.gate_health_port = health;
  }
  if (p.gate.empty() != p.gate_upstream.empty()) {
    throw ValueError("gate and gate_upstream go together");
  }
  if (p.gate.empty() && (p.gate_hold_timeout || p.gate_max_held || !p.gate_health.empty() ||
                         p.gate_health_port || p.gate_abort_on_close)) {
    throw ValueError("the gate_* keys need gate and gate_upstream");
  }
  if (p.gate_health_port && p.gate_health.empty()) {
    throw ValueError("gate_health_port needs gate_health (which paths to answer)");
  }
}

std::chrono::milliseconds gate_hold_timeout(const ProgramSpec& p) {
  if (p.gate_hold_timeout) return *p.gate_hold_timeout;
  return p.gate_health == "sagemaker" ? 50s : 300s;
}

}  // namespace podvisor::config
