// Reads a supervisord.conf (with its [include] files and the overrides of supervisord's
// flags) into a validated SupervisorSpec, exactly as supervisord reads it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/ini.h"
#include "config/spec.h"

namespace podvisor::config {

// Throws ConfigError ("file:line: message") on the first error. Warnings: unknown
// sections and keys, settings that have no effect. `environ` serves %(ENV_x)s only: as
// supervisord, the file is never changed by SUPERVISOR_* variables (Laravel Sail sets
// SUPERVISOR_PHP_COMMAND for itself). `overrides` ("SUPERVISOR_{SECTION}_{KEY}=VALUE",
// supervisord's command-line flags) win over the file.
SupervisorSpec load_config(const std::string& path, const std::vector<std::string>& environ,
                           std::vector<std::string>& warnings,
                           const std::vector<std::string>& overrides = {});

// The first file supervisord would use when none is given, relative to the directory of
// the running binary for the first two candidates.
std::optional<std::string> find_default_config(const std::string& binary_dir);

}  // namespace podvisor::config
