// The one table of configuration keys: for each, its section, its name, how its value is
// parsed (with its bounds) and applied into the spec, and how `check --print` and
// getAllConfigInfo show it. The loader, the SUPERVISOR_* overrides, check and the RPC read it.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "config/spec.h"

namespace podvisor::config {

// When the loader applies a [program] key.
enum class Stage : uint8_t {
  kSection,      // once per section, before its processes
  kEnvironment,  // once per process, first: its ENV_* names serve the keys after it
  kProcess,      // once per process, where %(process_num)d is known
  kLoader,       // read by the loader itself (numprocs, numprocs_start, process_name)
  kNone,         // accepted and has no effect
};

// What getAllConfigInfo reports for a key, before XML-RPC encoding.
using InfoValue = std::variant<bool, int64_t, std::string, std::vector<int>>;

struct Key {
  std::string_view section;  // the section's type: "program", "supervisord", "group", ...
  std::string_view name;
  Stage stage = Stage::kSection;
  bool single_command = false;  // single-command mode applies it too
  bool not_yet = false;         // podvisor's own, served by a later version: warned about
  // Parse `value` (expanded) and set the key; each throws ValueError. Null: not applied.
  void (*program)(ProgramSpec&, std::string_view value) = nullptr;
  void (*supervisord)(SupervisorSpec&, std::string_view value) = nullptr;
  void (*server)(HttpServerSpec&, std::string_view value) = nullptr;
  // check --print's text; nullopt leaves the line out. Null: never printed.
  std::optional<std::string> (*print)(const ProgramSpec&) = nullptr;
  std::string_view info_name = {};  // getAllConfigInfo's member ("" when not reported)
  InfoValue (*info)(const ProgramSpec&) = nullptr;
};

// Every key, [program] keys in check --print's order.
std::span<const Key> all_keys();
// The key `name` of a section ("program:x" or "program"), or null when it is unknown.
const Key* find_key(std::string_view section, std::string_view name);
// The names of a section's keys, or empty for an unknown section type.
const std::vector<std::string_view>& known_keys(std::string_view section);

// Why the TCP control server must not start as configured: it would take commands from the
// network without credentials (a non-loopback host, no username, no allow_unauthenticated);
// nullopt when it may. exposed_without_credentials(): whether it is open to the network.
std::optional<std::string> refuse_unauthenticated(const HttpServerSpec& inet);
bool exposed_without_credentials(const HttpServerSpec& inet);

// The loader's own [program] keys.
long parse_numprocs(std::string_view value);
long parse_numprocs_start(std::string_view value);

}  // namespace podvisor::config
