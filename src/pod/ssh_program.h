// SSH at boot, the supervisor's side: whether SSH is on, and the program 'sshd' that runs
// podvisor's ssh-setup mode (keys, host keys, session environment, then exec sshd).
#pragma once

#include <string>
#include <vector>

#include "config/spec.h"

namespace podvisor::pod {

// What podvisor says about SSH at start.
struct SshMessages {
  std::vector<std::string> info;
  std::vector<std::string> warnings;
};

// Whether SSH is asked for: --ssh (forced) over PODVISOR_SSH=1|0 over the ssh key, else on
// when a key variable is set non-empty.
bool ssh_wanted(const config::SshSpec& ssh, const std::vector<std::string>& environ, bool forced);

// Adds program 'sshd' to `spec` when SSH is wanted and sshd is installed; fills
// spec.ssh.connect. `self` is podvisor's own binary (the program runs `self ssh-setup ...`).
SshMessages add_ssh_program(config::SupervisorSpec& spec, const std::vector<std::string>& environ,
                            bool forced, const std::string& self);

// podvisor's own binary, from /proc/self/exe.
std::string self_executable();

}  // namespace podvisor::pod
