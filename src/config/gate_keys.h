// The [program] gate* keys (the request gate, docs/gate.md): their names and how each value is
// parsed into ProgramSpec. keys.cc turns each name into a row of the one table.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "config/keys.h"
#include "config/spec.h"

namespace podvisor::config {

inline constexpr std::array<std::string_view, 2> kGateKeyNames = {"gate", "gate_upstream"};

// Sets key `name` (one of kGateKeyNames) from `value`; throws ValueError.
void set_gate_key(ProgramSpec& p, std::string_view name, std::string_view value);
// check --print's text of key `name`; nullopt when the program has no gate.
std::optional<std::string> print_gate_key(const ProgramSpec& p, std::string_view name);

// Their rows in the one table of keys: per program, supervisord.conf only in this first slice
// (single-command mode warns that they have no effect there).
template <size_t I>
constexpr Key gate_row() {
  Key k{.section = "program", .name = kGateKeyNames[I]};
  k.program = [](ProgramSpec& p, std::string_view v) { set_gate_key(p, kGateKeyNames[I], v); };
  k.print = [](const ProgramSpec& p) { return print_gate_key(p, kGateKeyNames[I]); };
  return k;
}
constexpr std::array<Key, kGateKeyNames.size()> gate_rows() {
  return {gate_row<0>(), gate_row<1>()};
}

}  // namespace podvisor::config
