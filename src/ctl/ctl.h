// `podvisor ctl` and podvisor called as `supervisorctl`: supervisorctl 4.2.5's command line,
// commands, output and exit statuses, spoken to podvisor's (or supervisord's) control socket,
// plus `health`.
#pragma once

#include <string>

namespace podvisor::ctl {

// args: what follows `ctl` (or argv[0] for supervisorctl). progname: how usage messages name
// the program ("supervisorctl", "podvisor ctl").
int ctl_main(int argc, char** args, const std::string& progname);

}  // namespace podvisor::ctl
