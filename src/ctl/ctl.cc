#include "ctl/ctl.h"

#include <iostream>

#include "ctl/controller.h"
#include "ctl/options.h"

namespace podvisor::ctl {

int ctl_main(int argc, char** args, const std::string& progname) {
  Options o;
  o.progname = progname;
  try {
    parse_command_line(argc, args, o);
    if (o.help) {
      std::cout << help_text(progname) << "\n";
      std::cout.flush();
      return 0;
    }
    find_server(o);
  } catch (const UsageError& e) {
    std::cerr << "Error: " << e.what() << "\nFor help, use " << progname << " -h\n";
    std::cout.flush();
    return 2;
  }
  if (o.args.empty()) o.interactive = true;
  Controller controller(o);
  if (!o.args.empty()) {
    std::string line;
    for (const auto& a : o.args) {
      if (!line.empty()) line += ' ';
      line += a;
    }
    controller.onecmd(line);
    std::cout.flush();
    return controller.exitstatus;
  }
  controller.cmdloop();
  std::cout.flush();
  return 0;  // the shell always exits 0, as supervisorctl's does
}

}  // namespace podvisor::ctl
