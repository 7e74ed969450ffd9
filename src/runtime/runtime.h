// Runs a SupervisorSpec on the event loop: spawns, reaps, relays output, handles signals,
// and on the way out ends every leftover descendant and prints the crash report.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

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
  // Called once the control servers listen and the pidfile is written, before any program
  // starts: a daemon's parent exits then, so `kill $(cat pidfile)` right after works.
  std::function<void()> ready;
  // INFO lines logged right after podvisor's start line (how daemon mode went), so they
  // reach the log file.
  std::vector<std::string> notes;
  // A re-exec (supervisorctl restart) keeps the daemon: it must not fork again.
  bool daemonized = false;
};

// Set across a daemon's re-exec, read (and removed) by the config mode.
inline constexpr const char* kDaemonizedVariable = "PODVISOR_DAEMONIZED";

// Returns podvisor's exit status. Takes the spec by value: moved in, it is not kept twice.
int run_supervisor(config::SupervisorSpec spec, const RuntimeOptions& options, output::Logger& log);

}  // namespace podvisor::runtime
