// Reads a supervisord.conf (with its [include] files and the SUPERVISOR_* overrides of the
// environment) into a validated SupervisorSpec, exactly as supervisord reads it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/ini.h"
#include "config/spec.h"

namespace podvisor::config {

// Throws ConfigError ("file:line: message") on the first error. Warnings: unknown
// sections and keys, settings that have no effect.
SupervisorSpec load_config(const std::string& path, const std::vector<std::string>& environ,
                           std::vector<std::string>& warnings);

// The first file supervisord would use when none is given, relative to the directory of
// the running binary for the first two candidates.
std::optional<std::string> find_default_config(const std::string& binary_dir);

}  // namespace podvisor::config
