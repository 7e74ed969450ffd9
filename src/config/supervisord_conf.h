// The effective configuration of single-command mode as a supervisord.conf, the file
// standard-supervisor leaves for users' scripts (`supervisorctl -c /tmp/supervisord.conf`).
#pragma once

#include <string>
#include <vector>

#include "config/spec.h"

namespace podvisor::config {

// supervisord.conf text that Debian's supervisord reads as `spec` (its [program:x] keys;
// podvisor's own keys are kept, supervisord ignores them) and that sends supervisorctl to
// podvisor's control server.
std::string supervisord_conf(const SupervisorSpec& spec);

// argv as a `command=` value: supervisord's shlex.split gives argv back, with `%` doubled
// (supervisord expands it) and no whitespace before `;` or `#` (its INI reader would cut an
// inline comment there).
std::string supervisord_command(const std::vector<std::string>& argv);

}  // namespace podvisor::config
