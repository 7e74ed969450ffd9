// The [program] gate* keys (the request gate, docs/gate.md): their names, how each value is
// parsed into ProgramSpec, and the health presets' defaults from the environment. keys.cc
// turns each name into a row of the one table.
#pragma once

#include <array>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "config/keys.h"
#include "config/spec.h"

namespace podvisor::config {

inline constexpr std::array<std::string_view, 7> kGateKeyNames = {
    "gate",        "gate_upstream",    "gate_hold_timeout",  "gate_max_held",
    "gate_health", "gate_health_port", "gate_abort_on_close"};

// Sets key `name` (one of kGateKeyNames) from `value`; throws ValueError.
void set_gate_key(ProgramSpec& p, std::string_view name, std::string_view value);
// check --print's text of key `name`; nullopt when the program has no gate.
std::optional<std::string> print_gate_key(const ProgramSpec& p, std::string_view name);

// After a section's keys: a preset fills `gate` (and runpod's health port) from the
// environment when they are not given: runpod 0.0.0.0:${PORT:-80} with /ping on
// ${PORT_HEALTH} when it differs, sagemaker 0.0.0.0:${SAGEMAKER_BIND_TO_PORT:-8080}. Throws
// ValueError when gate and gate_upstream are not both there, or a gate_* key has no gate.
void finish_gate_keys(ProgramSpec& p);
// The hold timeout in effect: gate_hold_timeout, else 300 s (sagemaker: 50 s, under its 60 s).
std::chrono::milliseconds gate_hold_timeout(const ProgramSpec& p);

// Their rows in the one table of keys: per program, supervisord.conf only (single-command
// mode warns that they have no effect there).
template <size_t I>
constexpr Key gate_row() {
  Key k{.section = "program", .name = kGateKeyNames[I]};
  k.program = [](ProgramSpec& p, std::string_view v) { set_gate_key(p, kGateKeyNames[I], v); };
  k.print = [](const ProgramSpec& p) { return print_gate_key(p, kGateKeyNames[I]); };
  return k;
}
constexpr std::array<Key, kGateKeyNames.size()> gate_rows() {
  return {gate_row<0>(), gate_row<1>(), gate_row<2>(), gate_row<3>(),
          gate_row<4>(), gate_row<5>(), gate_row<6>()};
}

}  // namespace podvisor::config
