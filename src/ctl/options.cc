#include "ctl/options.h"

#include <fmt/format.h>
#include <limits.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string_view>

#include "config/ini.h"
#include "config/interpolate.h"
#include "config/loader.h"
#include "ctl/format.h"

extern char** environ;

namespace podvisor::ctl {
namespace {

constexpr const char* kHelpText = R"(%s -- control podvisor (or supervisord) from the command line.

Usage: %s [options] [action [arguments]]

Options:
-c/--configuration FILENAME -- configuration file path (searches if not given)
-h/--help -- print usage message and exit
-i/--interactive -- start an interactive shell after executing commands
-s/--serverurl URL -- URL on which the server is listening: unix:///path/to.sock or
     http://host:port with a numeric host or localhost
-u/--username USERNAME -- username to use for authentication with server
-p/--password PASSWORD -- password to use for authentication with server
-r/--history_file FILE -- accepted for compatibility; no history is kept

action [arguments] -- see below

Actions are commands like "tail" or "stop".  If no action is specified on the command
line, a "shell" interpreting actions typed interactively is started.  Use the action
"help" to find out about available actions.

The server URL comes from -s, else from the [supervisorctl] section of the configuration
file (-c, else the first of ../etc/supervisord.conf and ../supervisord.conf beside the
binary, supervisord.conf, etc/supervisord.conf, /etc/supervisord.conf and
/etc/supervisor/supervisord.conf), whose default is http://localhost:9001. When that
file was found by the search, -s is not given, and its unix socket does not answer,
single-command mode's socket ($SUPERVISOR_UNIX_HTTP_SERVER_FILE, else
/tmp/podvisor.sock) is used if it answers. Without any configuration file: that socket or
unix:///tmp/supervisor.sock if it exists, else http://localhost:9001.

Actions are supervisorctl's (add avail clear exit fg maintail open pid quit reload remove
reread restart shutdown signal start status stop tail update version), with its output
and exit statuses (status: 3 when a program is not running, 4 when the server cannot be
reached), plus:
  health      GET /health and print the answer; exit 0 when it is 200, else 1
)";

// Python's urlparse-based `url` check of -s: a scheme, and something after it.
bool looks_like_url(std::string_view value) {
  const auto colon = value.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  const auto scheme = value.substr(0, colon);
  if (!std::isalpha(static_cast<unsigned char>(scheme[0]))) return false;
  for (char c : scheme) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') {
      return false;
    }
  }
  auto rest = value.substr(colon + 1);
  if (rest.starts_with("//")) rest.remove_prefix(2);
  return !rest.empty();
}

std::string binary_dir() {
  char path[PATH_MAX];
  const auto n = readlink("/proc/self/exe", path, sizeof path - 1);
  if (n <= 0) return ".";
  std::string exe(path, static_cast<size_t>(n));
  const auto slash = exe.rfind('/');
  return slash == std::string::npos ? "." : exe.substr(0, slash);
}

}  // namespace

std::string help_text(const std::string& progname) {
  std::string help = kHelpText;
  for (auto pos = help.find("%s"); pos != std::string::npos; pos = help.find("%s", pos)) {
    help.replace(pos, 2, progname);
    pos += progname.size();
  }
  return help;
}

void parse_command_line(int argc, char** argv, Options& o) {
  struct Spec {
    char short_name;
    std::string_view long_name;
    bool takes_value;
  };
  static constexpr Spec kSpecs[] = {
      {'h', "help", false},         {'?', "", false},
      {'c', "configuration", true}, {'i', "interactive", false},
      {'s', "serverurl", true},     {'u', "username", true},
      {'p', "password", true},      {'r', "history_file", true},
  };
  std::vector<std::pair<std::string, std::string>> given;  // ("-s" or "--serverurl", value)
  std::vector<std::string> args(argv, argv + argc);
  size_t i = 0;
  while (i < args.size() && args[i].starts_with('-') && args[i] != "-") {
    const std::string arg = args[i++];
    if (arg == "--") break;
    if (arg.starts_with("--")) {
      auto name = arg.substr(2);
      std::optional<std::string> value;
      if (const auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      }
      std::vector<const Spec*> matches;
      for (const auto& s : kSpecs) {
        if (s.long_name.empty()) continue;
        if (s.long_name == name) {
          matches = {&s};
          break;
        }
        if (s.long_name.starts_with(name)) matches.push_back(&s);
      }
      if (matches.empty()) throw UsageError(fmt::format("option --{} not recognized", name));
      if (matches.size() > 1)
        throw UsageError(fmt::format("option --{} not a unique prefix", name));
      const Spec& s = *matches.front();
      if (s.takes_value && !value) {
        if (i >= args.size())
          throw UsageError(fmt::format("option --{} requires argument", s.long_name));
        value = args[i++];
      } else if (!s.takes_value && value) {
        throw UsageError(fmt::format("option --{} must not have an argument", s.long_name));
      }
      given.emplace_back(fmt::format("--{}", s.long_name), value.value_or(""));
      continue;
    }
    for (size_t j = 1; j < arg.size(); ++j) {
      const auto it = std::find_if(std::begin(kSpecs), std::end(kSpecs),
                                   [&](const Spec& s) { return s.short_name == arg[j]; });
      if (it == std::end(kSpecs))
        throw UsageError(fmt::format("option -{} not recognized", arg[j]));
      if (!it->takes_value) {
        given.emplace_back(fmt::format("-{}", arg[j]), "");
        continue;
      }
      std::string value = arg.substr(j + 1);
      if (value.empty()) {
        if (i >= args.size()) throw UsageError(fmt::format("option -{} requires argument", arg[j]));
        value = args[i++];
      }
      given.emplace_back(fmt::format("-{}", arg[j]), value);
      break;
    }
  }
  o.args.assign(args.begin() + static_cast<std::ptrdiff_t>(i), args.end());

  std::set<std::string> seen;
  for (const auto& [opt, value] : given) {
    std::string name = opt.substr(opt.starts_with("--") ? 2 : 1);
    if (name == "h" || name == "?" || name == "help") {
      o.help = true;
      return;
    }
    static const std::map<std::string, std::string> kAttribute = {
        {"c", "configfile"},  {"configuration", "configfile"},
        {"i", "interactive"}, {"interactive", "interactive"},
        {"s", "serverurl"},   {"serverurl", "serverurl"},
        {"u", "username"},    {"username", "username"},
        {"p", "password"},    {"password", "password"},
        {"r", "history"},     {"history_file", "history"}};
    const auto& attribute = kAttribute.at(name);
    if (!seen.insert(attribute).second) {
      throw UsageError(fmt::format("conflicting command line option {}", python_repr(opt)));
    }
    if (attribute == "configfile") o.configfile = value;
    if (attribute == "interactive") o.interactive = true;
    if (attribute == "serverurl") {
      if (!looks_like_url(value)) {
        throw UsageError(fmt::format("invalid value for {} {}: value {} is not a URL", opt,
                                     python_repr(value), python_repr(value)));
      }
      o.serverurl = value;
    }
    if (attribute == "username") o.username = value;
    if (attribute == "password") o.password = value;
    if (attribute == "history") o.history_file = value;
  }
}

std::string normalize_path(std::string path) {
  if (path == "~" || path.starts_with("~/")) {
    const char* home = std::getenv("HOME");
    if (home != nullptr) path = std::string(home) + path.substr(1);
  }
  if (!path.starts_with('/')) {
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof cwd) != nullptr) path = std::string(cwd) + "/" + path;
  }
  std::vector<std::string> parts;
  std::stringstream in(path);
  std::string part;
  while (std::getline(in, part, '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.push_back(part);
  }
  std::string out;
  for (const auto& p : parts) out += "/" + p;
  return out.empty() ? "/" : out;
}

void read_config(const std::string& file, Options& o) {
  struct stat st {};
  if (stat(file.c_str(), &st) != 0)
    throw UsageError(fmt::format("could not find config file {}", file));
  std::ifstream in(file);
  if (!in) throw UsageError(fmt::format("could not read config file {}", file));
  std::stringstream text;
  text << in.rdbuf();
  config::IniDocument doc;
  try {
    config::parse_ini(text.str(), file, doc);
  } catch (const config::ConfigError& e) {
    throw UsageError(e.what());
  }
  const auto* section = doc.find("supervisorctl");
  if (section == nullptr) throw UsageError(".ini file does not include supervisorctl section");
  config::Expansions env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const auto eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    env[fmt::format("ENV_{}", entry.substr(0, eq))] = std::string(entry.substr(eq + 1));
  }
  auto with_here = env;
  const auto slash = normalize_path(file).rfind('/');
  with_here["here"] = normalize_path(file).substr(0, std::max<size_t>(slash, 1));
  auto get = [&](const std::string& key, std::optional<std::string> fallback,
                 const config::Expansions& names) -> std::optional<std::string> {
    std::optional<std::string> raw = std::move(fallback);
    if (auto it = section->values.find(key); it != section->values.end()) {
      raw = it->second.text;
    } else if (auto d = doc.defaults.values.find(key); d != doc.defaults.values.end()) {
      raw = d->second.text;
    }
    if (!raw) return std::nullopt;
    try {
      return config::expand(*raw, names, fmt::format("supervisorctl.{}", key));
    } catch (const std::exception& e) {
      throw UsageError(e.what());
    }
  };
  // Command-line values win over the file's.
  auto serverurl = *get("serverurl", "http://localhost:9001", with_here);
  if (serverurl.starts_with("unix://")) {
    serverurl = fmt::format("unix://{}", normalize_path(serverurl.substr(7)));
  }
  if (!o.serverurl) o.serverurl = serverurl;
  o.prompt = *get("prompt", o.prompt, env);
  if (!o.username) o.username = get("username", std::nullopt, env);
  if (!o.password) o.password = get("password", std::nullopt, env);
  if (!o.history_file) o.history_file = get("history_file", std::nullopt, with_here);
}

void find_server(Options& o) {
  const bool searched = !o.configfile;
  const bool given_url = o.serverurl.has_value();
  if (!o.configfile) o.configfile = config::find_default_config(binary_dir());
  const auto single = single_command_socket();
  if (o.configfile) {
    read_config(*o.configfile, o);
    // In single-command mode, a file found by the search (Debian's supervisor package puts one
    // in /etc/supervisor) names a socket nobody serves: podvisor's own answers instead.
    if (searched && !given_url && o.serverurl->starts_with("unix://") &&
        !unix_socket_answers(o.serverurl->substr(7)) && unix_socket_answers(single)) {
      o.serverurl = fmt::format("unix://{}", single);
    }
  } else if (!o.serverurl) {
    // No configuration at all: single-command podvisor's socket, or the one supervisord's
    // sample configuration uses, when there; else supervisorctl's default.
    o.serverurl = "http://localhost:9001";
    for (const auto path : {std::string_view(single), std::string_view("/tmp/supervisor.sock")}) {
      struct stat st {};
      if (stat(std::string(path).c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) {
        o.serverurl = fmt::format("unix://{}", path);
        break;
      }
    }
  }
}

std::string single_command_socket() {
  // The variable single-command mode reads: set in an image, a `docker exec` shell has it too.
  const char* file = std::getenv("SUPERVISOR_UNIX_HTTP_SERVER_FILE");
  if (file == nullptr || *file == '\0' || std::string_view(file) == "none") {
    return std::string(config::kDefaultSocket);
  }
  return file;
}

bool unix_socket_answers(const std::string& path) {
  sockaddr_un address{};
  if (path.empty() || path.size() >= sizeof address.sun_path) return false;
  address.sun_family = AF_UNIX;
  path.copy(address.sun_path, path.size());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const bool answers =
      ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);  // a probe's descriptor: nothing was sent, so its close cannot lose anything
  return answers;
}

}  // namespace podvisor::ctl
