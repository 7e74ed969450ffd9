// Single-command mode: `podvisor [OPTIONS] -- CMD` and `standard-supervisor CMD`, which run
// one command as program 'app'. `podvisor -c FILE` (no command) hands over to config mode.
#pragma once

namespace podvisor::modes {

int podvisor_main(int argc, char** argv);
int standard_supervisor_main(int argc, char** argv);

}  // namespace podvisor::modes
