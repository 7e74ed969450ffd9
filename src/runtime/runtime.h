// Runs a SupervisorSpec on the event loop: spawns, reaps, relays output, handles signals,
// and on the way out ends every leftover descendant and prints the crash report.
#pragma once

#include <functional>
#include <optional>

#include "config/spec.h"
#include "output/log.h"

namespace podvisor::runtime {

struct RuntimeOptions {
  // stdin is a terminal: the program inherits it and becomes its foreground process group
  // instead of writing through pipes.
  bool terminal = false;
  // Config mode: re-reads the file (SIGHUP, supervisorctl reread); throws config::ConfigError
  // when it is now invalid. Unset in single-command mode, where SIGHUP is forwarded.
  std::function<config::SupervisorSpec()> reload;
};

// Returns podvisor's exit status. Takes the spec by value: moved in, it is not kept twice.
int run_supervisor(config::SupervisorSpec spec, const RuntimeOptions& options, output::Logger& log);

}  // namespace podvisor::runtime
