// standard-supervisor's dependency install before launch, as MHCS does it: the model's
// requirements.txt (or STANDARD_PIP_ARGS) with uv or pip, into the launch command's python.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "output/log.h"

namespace podvisor::modes {

// The installer command for this launch command and environment ("KEY=VALUE" strings), or
// nullopt when there is nothing to install. Throws std::runtime_error for a value that makes
// the install impossible (STANDARD_PIP_ARGS with an open quote, no python to install into).
std::optional<std::vector<std::string>> install_command(const std::vector<std::string>& launch,
                                                        const std::vector<std::string>& env,
                                                        const output::Logger& log);

// Runs the install with its output passed through. Returns 0 when it succeeded or there was
// nothing to do, else podvisor's exit status: 1 for a failed install, 128+N when signal N
// stopped podvisor meanwhile (forwarded to the installer first).
int install_requirements(const std::vector<std::string>& launch,
                         const std::vector<std::string>& env, const output::Logger& log);

}  // namespace podvisor::modes
