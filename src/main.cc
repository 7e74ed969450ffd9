// podvisor: PID 1 and process supervisor for GPU model-serving containers. This file only
// picks the mode: by the name podvisor was called as (argv[0]), then by the first word.
#include <fmt/format.h>

#include <string>
#include <string_view>

#include "ctl/ctl.h"
#include "modes/config_mode.h"
#include "modes/single.h"
#include "modes/wait.h"
#include "pod/ssh_setup.h"

namespace {

std::string_view program_name(std::string_view path) {
  const auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace podvisor;
  const auto name = program_name(argc > 0 ? argv[0] : "podvisor");
  if (name == "standard-supervisor") return modes::standard_supervisor_main(argc, argv);
  if (name == "supervisord") return modes::supervisord_main(argc, argv);
  if (name == "supervisorctl") return ctl::ctl_main(argc - 1, argv + 1, argv[0]);
  const std::string_view first = argc > 1 ? argv[1] : "";
  if (first == "ctl") return ctl::ctl_main(argc - 2, argv + 2, fmt::format("{} ctl", argv[0]));
  if (first == "check") return modes::check_main(argc - 1, argv + 1);
  if (first == "wait") return modes::wait_main(argc - 1, argv + 1);
  // Hidden: the command of the program 'sshd' that SSH at boot adds (docs/pods.md).
  if (first == "ssh-setup") return pod::ssh_setup_main(argc - 1, argv + 1);
  return modes::podvisor_main(argc, argv);
}
