// `podvisor wait TARGET...`: the readiness probes for shell entrypoints, in place of a
// polling loop: exit 0 once every target is ready, 1 on timeout with the last error of each.
#pragma once

namespace podvisor::modes {

int wait_main(int argc, char** argv);

}  // namespace podvisor::modes
