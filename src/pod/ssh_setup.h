// `podvisor ssh-setup ...`: the command of program 'sshd'. It runs in the child, so PID 1's
// loop never waits on ssh-keygen: keys into authorized_keys, host keys, the session
// environment, `sshd -t`, then exec sshd -D -e. Idempotent: it runs at every (re)start.
#pragma once

namespace podvisor::pod {

// argv[0] is "ssh-setup". Returns only on failure (1: setup or sshd -t failed, 2: usage).
int ssh_setup_main(int argc, char** argv);

}  // namespace podvisor::pod
