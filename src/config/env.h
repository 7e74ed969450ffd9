// Builds the single-command mode's configuration from the environment: the
// standard-supervisor variables (PROCESS_*, LOG_LEVEL) and SUPERVISOR_{SECTION}_{KEY}.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "config/spec.h"

namespace podvisor::config {

// A bad value: the message names the variable and the accepted values.
struct EnvError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// SUPERVISOR_PROGRAM__APP_STDOUT_LOGFILE → {"program:app", "stdout_logfile"}. Known key
// names are matched from the end, so keys holding '_' stay addressable. PODVISOR_{KEY} of
// podvisor's own keys (PODVISOR_HOLD_ON_FATAL) → {"podvisor", "hold_on_fatal"}.
struct EnvOverride {
  std::string variable;
  std::string section;  // "" when no known key matches
  std::string key;
  std::string value;
};
std::optional<EnvOverride> parse_override(std::string_view variable, std::string_view value);

// PROCESS_AUTO_RECOVERY: unset is on; empty is off (standard-supervisor then launches the
// command once, unsupervised); otherwise a boolean. Throws EnvError for another value.
bool auto_recovery(const std::vector<std::string>& environ);

struct CommandLine {
  std::vector<std::string> argv;
  std::optional<std::string> log_level;
  std::optional<std::string> max_retries;
  std::optional<bool> recovery;
  bool hold_on_fatal = false;  // --hold-on-fatal
};

// environ-style "KEY=VALUE" strings in, validated spec out (throws EnvError); every
// variable that has no effect is reported through warnings.
SupervisorSpec single_command_spec(const CommandLine& cli, const std::vector<std::string>& environ,
                                   std::vector<std::string>& warnings);

}  // namespace podvisor::config
