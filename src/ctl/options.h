// supervisorctl's command line (Python getopt with its options) and the [supervisorctl]
// section of its configuration file: where the server is, who we are, what to run.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace podvisor::ctl {

struct Options {
  std::string progname;  // how messages name the program: "supervisorctl", "podvisor ctl"
  std::optional<std::string> configfile;
  std::optional<std::string> serverurl;
  std::optional<std::string> username;
  std::optional<std::string> password;
  std::optional<std::string> history_file;
  bool interactive = false;
  bool help = false;  // -h: print help_text() and exit 0
  std::string prompt = "supervisor";
  std::vector<std::string> args;  // the action and its arguments
};

// A wrong command line or configuration file: supervisorctl prints "Error: <what>" and a hint
// at -h, and exits 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Python's getopt with supervisorctl's options: options end at the first argument that is
// not one; long options may be abbreviated to a unique prefix. Stops at -h (o.help). Throws
// UsageError.
void parse_command_line(int argc, char** argv, Options& o);
// The -h text, naming the program as o.progname.
std::string help_text(const std::string& progname);
// ClientOptions.read_config: the [supervisorctl] section of `file`, expanded as supervisorctl
// does (%(here)s, %(ENV_X)s); values already given on the command line win. Throws
// UsageError.
void read_config(const std::string& file, Options& o);
// The configuration file (-c, else the first default one) and the server URL it or, without
// one, the sockets that exist give. Throws UsageError.
// A file the search found whose unix socket does not answer gives way to single-command
// mode's socket when that one answers (an image with Debian's supervisor installed).
void find_server(Options& o);
// Single-command mode's socket: $SUPERVISOR_UNIX_HTTP_SERVER_FILE, else /tmp/podvisor.sock.
std::string single_command_socket();
// Whether something accepts connections on the unix socket at `path`.
bool unix_socket_answers(const std::string& path);
// os.path.normpath(os.path.abspath(os.path.expanduser(path))).
std::string normalize_path(std::string path);

}  // namespace podvisor::ctl
