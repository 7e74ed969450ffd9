// Running a supervisord.conf: `podvisor -c FILE`, `podvisor check`, and podvisor called as
// `supervisord` with supervisord's own flags.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "output/log.h"
#include "pod/ssh_program.h"

namespace podvisor::modes {

// Command-line values that win over the [supervisord] section (supervisord's flags).
struct SupervisordFlags {
  std::optional<std::string> logfile, loglevel, user, directory, identifier, childlogdir;
  std::optional<bool> nocleanup, strip_ansi;
  bool hold_on_fatal = false;  // podvisor -c FILE --hold-on-fatal
  std::optional<std::string> minfds, pidfile;
  bool nodaemon = false;  // -n: stay in the foreground whatever [supervisord] nodaemon says
  bool ssh = false;       // --ssh: SSH at boot whatever the ssh key says
};

// Runs FILE, or the file supervisord would find when path is empty. Exit status 2 for a
// bad or missing file. Without -n or nodaemon=true it daemonizes as supervisord does, unless
// that would end the container (podvisor is PID 1, say): then it says why and stays.
int run_config_file(std::string path, const SupervisordFlags& flags, const char* argv0);
int check_main(int argc, char** argv);
int supervisord_main(int argc, char** argv);

std::vector<std::string> environment_strings();

// Logs what SSH at boot said (pod::add_ssh_program): warnings, then what it does.
void log_ssh(const pod::SshMessages& messages, output::Logger& log);

}  // namespace podvisor::modes
