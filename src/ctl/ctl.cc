#include "ctl/ctl.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "config/ini.h"
#include "config/interpolate.h"
#include "config/loader.h"
#include "control/client/http_client.h"
#include "control/wire/faults.h"
#include "control/wire/xmlrpc.h"
#include "core/process.h"

extern char** environ;

namespace podvisor::ctl {
namespace {

using control::FaultCode;
using control::xmlrpc::Array;
using control::xmlrpc::Struct;
using control::xmlrpc::Value;

// supervisorctl's LSBInitExitStatuses and LSBStatusExitStatuses.
constexpr int kSuccess = 0;
constexpr int kGeneric = 1;
constexpr int kInvalidArgs = 2;
constexpr int kUnimplementedFeature = 3;
constexpr int kInsufficientPrivileges = 4;
constexpr int kNotInstalled = 5;
constexpr int kNotRunning = 7;
constexpr int kStatusNotRunning = 3;
constexpr int kStatusUnknown = 4;

constexpr std::string_view kApiVersion = "3.0";

constexpr int code(FaultCode c) { return static_cast<int>(c); }

// --- Python-isms the output depends on

std::vector<std::string> split(std::string_view text) {  // str.split()
  std::vector<std::string> out;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    const size_t start = i;
    while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i > start) out.emplace_back(text.substr(start, i - start));
  }
  return out;
}

std::string strip(std::string_view text) {
  const auto words = text.find_first_not_of(" \t\n\r\f\v");
  if (words == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t\n\r\f\v");
  return std::string(text.substr(words, last - words + 1));
}

// split_namespec: (group, process); no process for "group:" and "group:*".
std::pair<std::string, std::optional<std::string>> split_namespec(const std::string& spec) {
  const auto colon = spec.find(':');
  if (colon == std::string::npos) return {spec, spec};
  std::string process = spec.substr(colon + 1);
  if (process.empty() || process == "*") return {spec.substr(0, colon), std::nullopt};
  return {spec.substr(0, colon), process};
}

// int() of a decimal string.
std::optional<int64_t> python_int(std::string_view text) {
  const auto t = strip(text);
  std::string_view s = t;
  bool negative = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.empty()) return std::nullopt;
  int64_t value = 0;
  bool last_underscore = true;  // no leading underscore
  for (char c : s) {
    if (c == '_') {
      if (last_underscore) return std::nullopt;
      last_underscore = true;
      continue;
    }
    if (c < '0' || c > '9') return std::nullopt;
    if (value > (INT64_MAX - 9) / 10) return std::nullopt;
    value = value * 10 + (c - '0');
    last_underscore = false;
  }
  if (last_underscore) return std::nullopt;
  return negative ? -value : value;
}

// repr() of a str.
std::string python_repr(std::string_view s) {
  const bool has_single = s.find('\'') != std::string_view::npos;
  const bool has_double = s.find('"') != std::string_view::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (unsigned char c : s) {
    if (c == '\\' || c == static_cast<unsigned char>(quote)) {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  out += quote;
  return out;
}

// The width Python's %-Ns pads to counts characters, not bytes.
size_t display_length(std::string_view s) {
  return static_cast<size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}
std::string ljust(std::string_view s, size_t width) {
  std::string out(s);
  const auto len = display_length(s);
  if (len < width) out.append(width - len, ' ');
  return out;
}

std::string python_exception_class(int error) {
  switch (error) {
    case ENOENT:
      return "FileNotFoundError";
    case ECONNREFUSED:
      return "ConnectionRefusedError";
    case ECONNRESET:
      return "ConnectionResetError";
    case ECONNABORTED:
      return "ConnectionAbortedError";
    case EPIPE:
      return "BrokenPipeError";
    case EACCES:
    case EPERM:
      return "PermissionError";
    case ETIMEDOUT:
      return "TimeoutError";
    default:
      return "OSError";
  }
}

// --- XML-RPC values as the commands read them

class BadAnswer : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

const Struct& as_struct(const Value& v) {
  if (const auto* s = std::get_if<Struct>(&v.v)) return *s;
  throw BadAnswer("the server answered something other than a struct");
}
const Array& as_array(const Value& v) {
  if (const auto* a = std::get_if<Array>(&v.v)) return *a;
  throw BadAnswer("the server answered something other than an array");
}
const Value& field(const Value& v, const std::string& key) {
  const auto& s = as_struct(v);
  const auto it = s.find(key);
  if (it == s.end()) throw BadAnswer(fmt::format("the server's answer lacks '{}'", key));
  return it->second;
}
// str(value), as the commands print what they get.
std::string text(const Value& v) {
  if (const auto* s = std::get_if<std::string>(&v.v)) return *s;
  if (const auto* i = std::get_if<int64_t>(&v.v)) return std::to_string(*i);
  if (const auto* b = std::get_if<bool>(&v.v)) return *b ? "True" : "False";
  if (const auto* d = std::get_if<double>(&v.v)) return fmt::format("{}", *d);
  if (std::holds_alternative<control::xmlrpc::Nil>(v.v)) return "None";
  throw BadAnswer("the server answered a value where text was expected");
}
int64_t number(const Value& v) {
  if (const auto* i = std::get_if<int64_t>(&v.v)) return *i;
  if (const auto* b = std::get_if<bool>(&v.v)) return *b ? 1 : 0;
  throw BadAnswer("the server answered something other than a number");
}
bool truth(const Value& v) {
  if (const auto* b = std::get_if<bool>(&v.v)) return *b;
  if (const auto* i = std::get_if<int64_t>(&v.v)) return *i != 0;
  if (const auto* s = std::get_if<std::string>(&v.v)) return !s->empty();
  return false;
}

// The serverurl is neither http:// nor unix:// (supervisorctl's transport refuses it).
class UnknownProtocol : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// --- Ctrl-C during tail -f and fg

volatile sig_atomic_t interrupted = 0;
void on_sigint(int) { interrupted = 1; }

// SIGINT stays blocked except inside wait(), so that a Ctrl-C between two waits is not lost.
class InterruptScope {
 public:
  InterruptScope() {
    interrupted = 0;
    struct sigaction sa {};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_action_);
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &old_mask_);
    waiting_mask_ = old_mask_;
    sigdelset(&waiting_mask_, SIGINT);
  }
  ~InterruptScope() {
    sigprocmask(SIG_SETMASK, &old_mask_, nullptr);
    sigaction(SIGINT, &old_action_, nullptr);
  }
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;

  // poll() that a Ctrl-C ends: false once interrupted.
  bool wait(pollfd* fds, size_t n) {
    while (!interrupted) {
      if (ppoll(fds, n, nullptr, &waiting_mask_) >= 0) return !interrupted;
      if (errno != EINTR) return !interrupted;
    }
    return false;
  }

 private:
  struct sigaction old_action_ {};
  sigset_t old_mask_{};
  sigset_t waiting_mask_{};
};

// --- options

struct Options {
  std::string progname;
  std::optional<std::string> configfile;
  std::optional<std::string> serverurl;
  std::optional<std::string> username;
  std::optional<std::string> password;
  std::optional<std::string> history_file;
  bool interactive = false;
  std::string prompt = "supervisor";
  std::vector<std::string> args;
};

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
/etc/supervisor/supervisord.conf), whose default is http://localhost:9001. Without any
configuration file: unix:///tmp/podvisor.sock (single-command mode's) or
unix:///tmp/supervisor.sock if that socket exists, else
http://localhost:9001.

Actions are supervisorctl's (add avail clear exit fg maintail open pid quit reload remove
reread restart shutdown signal start status stop tail update version), with its output
and exit statuses (status: 3 when a program is not running, 4 when the server cannot be
reached), plus:
  health      GET /health and print the answer; exit 0 when it is 200, else 1
)";

[[noreturn]] void usage(const Options& o, const std::string& message) {
  std::cerr << "Error: " << message << "\nFor help, use " << o.progname << " -h\n";
  std::cout.flush();
  std::exit(2);
}

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

// Python's getopt with supervisorctl's options: options end at the first argument that is
// not one; long options may be abbreviated to a unique prefix.
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
      if (matches.empty()) usage(o, fmt::format("option --{} not recognized", name));
      if (matches.size() > 1) usage(o, fmt::format("option --{} not a unique prefix", name));
      const Spec& s = *matches.front();
      if (s.takes_value && !value) {
        if (i >= args.size()) usage(o, fmt::format("option --{} requires argument", s.long_name));
        value = args[i++];
      } else if (!s.takes_value && value) {
        usage(o, fmt::format("option --{} must not have an argument", s.long_name));
      }
      given.emplace_back(fmt::format("--{}", s.long_name), value.value_or(""));
      continue;
    }
    for (size_t j = 1; j < arg.size(); ++j) {
      const auto it = std::find_if(std::begin(kSpecs), std::end(kSpecs),
                                   [&](const Spec& s) { return s.short_name == arg[j]; });
      if (it == std::end(kSpecs)) usage(o, fmt::format("option -{} not recognized", arg[j]));
      if (!it->takes_value) {
        given.emplace_back(fmt::format("-{}", arg[j]), "");
        continue;
      }
      std::string value = arg.substr(j + 1);
      if (value.empty()) {
        if (i >= args.size()) usage(o, fmt::format("option -{} requires argument", arg[j]));
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
      std::string help = kHelpText;
      for (auto pos = help.find("%s"); pos != std::string::npos; pos = help.find("%s", pos)) {
        help.replace(pos, 2, o.progname);
        pos += o.progname.size();
      }
      std::cout << help << "\n";
      std::exit(0);
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
      usage(o, fmt::format("conflicting command line option {}", python_repr(opt)));
    }
    if (attribute == "configfile") o.configfile = value;
    if (attribute == "interactive") o.interactive = true;
    if (attribute == "serverurl") {
      if (!looks_like_url(value)) {
        usage(o, fmt::format("invalid value for {} {}: value {} is not a URL", opt,
                             python_repr(value), python_repr(value)));
      }
      o.serverurl = value;
    }
    if (attribute == "username") o.username = value;
    if (attribute == "password") o.password = value;
    if (attribute == "history") o.history_file = value;
  }
}

std::string binary_dir() {
  char path[PATH_MAX];
  const auto n = readlink("/proc/self/exe", path, sizeof path - 1);
  if (n <= 0) return ".";
  std::string exe(path, static_cast<size_t>(n));
  const auto slash = exe.rfind('/');
  return slash == std::string::npos ? "." : exe.substr(0, slash);
}

// os.path.normpath(os.path.abspath(os.path.expanduser(path)))
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

// ClientOptions.read_config: the [supervisorctl] section, expanded as supervisorctl does.
void read_config(const std::string& file, Options& o) {
  struct stat st {};
  if (stat(file.c_str(), &st) != 0) usage(o, fmt::format("could not find config file {}", file));
  std::ifstream in(file);
  if (!in) usage(o, fmt::format("could not read config file {}", file));
  std::stringstream text;
  text << in.rdbuf();
  config::IniDocument doc;
  try {
    config::parse_ini(text.str(), file, doc);
  } catch (const config::ConfigError& e) {
    usage(o, e.what());
  }
  const auto* section = doc.find("supervisorctl");
  if (section == nullptr) usage(o, ".ini file does not include supervisorctl section");
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
      usage(o, e.what());
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

// --- the controller: supervisorctl's Controller and DefaultControllerPlugin in one

class Controller {
 public:
  explicit Controller(Options& options) : o_(options) {}

  int exitstatus = kSuccess;

  // One command line; true when the shell should end (quit, exit, EOF).
  bool onecmd(const std::string& raw_line);
  void cmdloop();

 private:
  using Command = void (Controller::*)(const std::string&);
  struct Entry {
    Command run;
    std::string_view help;  // "" : none (not listed)
  };
  static const std::map<std::string, Entry, std::less<>>& commands();

  void output(std::string_view message) {
    std::cout << message << '\n';
    std::cout.flush();
  }
  void help_for(std::string_view command) {
    const auto& table = commands();
    const auto it = table.find(command);
    if (it != table.end()) output(it->second.help);
  }
  std::optional<std::string> raw_input(std::string_view prompt) {
    std::cout << prompt;
    std::cout.flush();
    std::string line;
    if (!std::getline(std::cin, line)) return std::nullopt;
    return line;
  }
  std::optional<std::string> get_password(std::string_view prompt);

  control::HttpClient& http();
  Value call(const std::string& method, Array params = {}) {
    return control::RpcClient(http()).call(method, std::move(params));
  }
  bool upcheck();
  void set_exitstatus_from_fault(int faultcode, std::optional<int> ignored = std::nullopt);
  void print_error(std::exception_ptr error);
  void tailf(const std::string& path);

  std::string start_result(const Value& result);
  std::string signal_result(const Value& result, std::string_view success = "signalled");
  std::string clear_result(const Value& result);
  void show_statuses(const Array& infos);

  void do_help(const std::string& arg);
  void do_eof(const std::string& arg);
  void do_quit(const std::string& arg) { do_eof(arg); }
  void do_tail(const std::string& arg);
  void do_maintail(const std::string& arg);
  void do_status(const std::string& arg);
  void do_pid(const std::string& arg);
  void do_start(const std::string& arg);
  void do_stop(const std::string& arg);
  void do_signal(const std::string& arg);
  void do_restart(const std::string& arg);
  void do_shutdown(const std::string& arg);
  void do_reload(const std::string& arg);
  void do_avail(const std::string& arg);
  void do_reread(const std::string& arg);
  void do_add(const std::string& arg);
  void do_remove(const std::string& arg);
  void do_update(const std::string& arg);
  void do_clear(const std::string& arg);
  void do_open(const std::string& arg);
  void do_version(const std::string& arg);
  void do_fg(const std::string& arg);
  void do_health(const std::string& arg);

  Options& o_;
  std::unique_ptr<control::HttpClient> http_;
  std::string http_key_;  // url and credentials http_ was made for
  bool stop_ = false;
};

const std::map<std::string, Controller::Entry, std::less<>>& Controller::commands() {
  static const std::map<std::string, Entry, std::less<>> table = {
      {"EOF", {&Controller::do_eof, "To quit, type ^D or use the quit command"}},
      {"add",
       {&Controller::do_add,
        "add <name> [...]\tActivates any updates in config for process/group"}},
      {"avail", {&Controller::do_avail, "avail\t\t\tDisplay all configured processes"}},
      {"clear",
       {&Controller::do_clear,
        "clear <name>\t\tClear a process' log files.\n"
        "clear <name> <name>\tClear multiple process' log files\n"
        "clear all\t\tClear all process' log files"}},
      {"exit", {&Controller::do_quit, "exit\tExit the supervisor shell."}},
      {"fg",
       {&Controller::do_fg,
        "fg <process>\tConnect to a process in foreground mode\n\t\tCtrl-C to exit"}},
      {"health",
       {&Controller::do_health,
        "health\t\t\tGet the server's /health: print it, exit 0 when it is 200, else 1"}},
      {"help",
       {&Controller::do_help,
        "help\t\tPrint a list of available actions\nhelp <action>\tPrint help for <action>"}},
      {"maintail",
       {&Controller::do_maintail,
        "maintail -f \tContinuous tail of supervisor main log file (Ctrl-C to exit)\n"
        "maintail -100\tlast 100 *bytes* of supervisord main log file\n"
        "maintail\tlast 1600 *bytes* of supervisor main log file\n"}},
      {"open",
       {&Controller::do_open,
        "open <url>\tConnect to a remote supervisord process.\n"
        "\t\t(for UNIX domain socket, use unix:///socket/path)"}},
      {"pid",
       {&Controller::do_pid,
        "pid\t\t\tGet the PID of supervisord.\n"
        "pid <name>\t\tGet the PID of a single child process by name.\n"
        "pid all\t\t\tGet the PID of every child process, one per line."}},
      {"quit", {&Controller::do_quit, "quit\tExit the supervisor shell."}},
      {"reload", {&Controller::do_reload, "reload \t\tRestart the remote supervisord."}},
      {"remove",
       {&Controller::do_remove, "remove <name> [...]\tRemoves process/group from active config"}},
      {"reread",
       {&Controller::do_reread,
        "reread \t\t\tReload the daemon's configuration files without add/remove"}},
      {"restart",
       {&Controller::do_restart,
        "restart <name>\t\tRestart a process\n"
        "restart <gname>:*\tRestart all processes in a group\n"
        "restart <name> <name>\tRestart multiple processes or groups\n"
        "restart all\t\tRestart all processes\n"
        "Note: restart does not reread config files. For that, see reread and update."}},
      {"shutdown", {&Controller::do_shutdown, "shutdown \tShut the remote supervisord down."}},
      {"signal",
       {&Controller::do_signal,
        "signal <signal name> <name>\t\tSignal a process\n"
        "signal <signal name> <gname>:*\t\tSignal all processes in a group\n"
        "signal <signal name> <name> <name>\tSignal multiple processes or groups\n"
        "signal <signal name> all\t\tSignal all processes"}},
      {"start",
       {&Controller::do_start,
        "start <name>\t\tStart a process\n"
        "start <gname>:*\t\tStart all processes in a group\n"
        "start <name> <name>\tStart multiple processes or groups\n"
        "start all\t\tStart all processes"}},
      {"status",
       {&Controller::do_status,
        "status <name>\t\tGet status for a single process\n"
        "status <gname>:*\tGet status for all processes in a group\n"
        "status <name> <name>\tGet status for multiple named processes\n"
        "status\t\t\tGet all process status info"}},
      {"stop",
       {&Controller::do_stop,
        "stop <name>\t\tStop a process\n"
        "stop <gname>:*\t\tStop all processes in a group\n"
        "stop <name> <name>\tStop multiple processes or groups\n"
        "stop all\t\tStop all processes"}},
      {"tail",
       {&Controller::do_tail,
        "tail [-f] <name> [stdout|stderr] (default stdout)\n"
        "Ex:\n"
        "tail -f <name>\t\tContinuous tail of named process stdout\n"
        "\t\t\tCtrl-C to exit.\n"
        "tail -100 <name>\tlast 100 *bytes* of process stdout\n"
        "tail <name> stderr\tlast 1600 *bytes* of process stderr"}},
      {"update",
       {&Controller::do_update,
        "update\t\t\tReload config and add/remove as necessary, and will restart affected "
        "programs\n"
        "update all\t\tReload config and add/remove as necessary, and will restart affected "
        "programs\n"
        "update <gname> [...]\tUpdate specific groups"}},
      {"version",
       {&Controller::do_version,
        "version\t\t\tShow the version of the remote supervisord process"}},
  };
  return table;
}

control::HttpClient& Controller::http() {
  const auto url = o_.serverurl.value_or("http://localhost:9001");
  std::optional<control::Credentials> credentials;
  if (o_.username && o_.password) credentials = control::Credentials{*o_.username, *o_.password};
  const auto key = fmt::format("{}\n{}\n{}", url, credentials ? credentials->username : "\x01",
                               credentials ? credentials->password : "");
  if (!http_ || key != http_key_) {
    auto parsed = control::parse_server_url(url);
    if (!parsed) throw UnknownProtocol(fmt::format("Unknown protocol for serverurl {}", url));
    http_ = std::make_unique<control::HttpClient>(std::move(*parsed), credentials);
    http_key_ = key;
  }
  return *http_;
}

void Controller::print_error(std::exception_ptr error) {
  std::string message;
  try {
    std::rethrow_exception(error);
  } catch (const control::RpcFault& e) {
    message = fmt::format("<class 'xmlrpc.client.Fault'>, <Fault {}: {}>", e.fault.code,
                          python_repr(e.fault.message));
  } catch (const control::ProtocolError& e) {
    message = fmt::format(
        "<class 'xmlrpc.client.ProtocolError'>, <ProtocolError for "
        "127.0.0.1/RPC2: {} {}>",
        e.status, e.reason);
  } catch (const control::ConnectError& e) {
    message = e.error == 0
                  ? std::string(e.what())
                  : fmt::format("<class '{}'>, [Errno {}] {}", python_exception_class(e.error),
                                e.error, std::strerror(e.error));
  } catch (const control::HttpError& e) {
    message = e.error == 0
                  ? fmt::format("<class 'http.client.HTTPException'>, {}", e.what())
                  : fmt::format("<class '{}'>, [Errno {}] {}", python_exception_class(e.error),
                                e.error, std::strerror(e.error));
  } catch (const control::xmlrpc::DecodeError& e) {
    message = fmt::format("<class 'xml.parsers.expat.ExpatError'>, {}", e.what());
  } catch (const UnknownProtocol& e) {
    message = fmt::format("<class 'ValueError'>, {}", e.what());
  } catch (const std::exception& e) {
    message = e.what();
  }
  output(fmt::format("error: {}", message));
}

bool Controller::onecmd(const std::string& raw_line) {
  // cmd.Cmd.parseline
  std::string line = strip(raw_line);
  if (line.empty()) return false;  // emptyline(): nothing, not the last command again
  if (line[0] == '?') line = "help " + line.substr(1);
  size_t i = 0;
  while (i < line.size() && (std::isalnum(static_cast<unsigned char>(line[i])) || line[i] == '_')) {
    ++i;
  }
  const std::string name = line.substr(0, i);
  const std::string arg = strip(std::string_view(line).substr(i));
  const auto& table = commands();
  const auto it = table.find(name);
  if (name.empty() || it == table.end()) {
    output(fmt::format("*** Unknown syntax: {}", line));
    exitstatus = kGeneric;
    return false;
  }
  const Command run = it->second.run;
  stop_ = false;
  try {
    try {
      (this->*run)(arg);
      return stop_;
    } catch (const control::ProtocolError& e) {
      if (e.status != 401) {
        exitstatus = kGeneric;
        throw;
      }
      if (o_.interactive) {
        output("Server requires authentication");
        const auto username = raw_input("Username:");
        const auto password = get_password("Password:");
        output("");
        o_.username = username.value_or("");
        o_.password = password.value_or("");
        return onecmd(raw_line);
      }
      output("Server requires authentication");
      exitstatus = kGeneric;
    }
    // supervisorctl runs the command a second time here, which fails the same way and
    // reports the error: kept, for the same output.
    (this->*run)(arg);
  } catch (...) {
    print_error(std::current_exception());
    exitstatus = kGeneric;
  }
  return stop_;
}

std::optional<std::string> Controller::get_password(std::string_view prompt) {
  termios saved{};
  const bool tty = tcgetattr(STDIN_FILENO, &saved) == 0;
  if (tty) {
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  auto line = raw_input(prompt);
  if (tty) tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
  return line;
}

void Controller::cmdloop() {
  onecmd("status");
  while (true) {
    const auto line = raw_input(o_.prompt + "> ");
    if (!line) {
      onecmd("EOF");
      return;
    }
    if (onecmd(*line)) return;
  }
}

void Controller::set_exitstatus_from_fault(int faultcode, std::optional<int> ignored) {
  if ((ignored && faultcode == *ignored) || faultcode == code(FaultCode::kSuccess)) return;
  if (faultcode == code(FaultCode::kSpawnError) ||
      faultcode == code(FaultCode::kAbnormalTermination) ||
      faultcode == code(FaultCode::kNotRunning)) {
    exitstatus = kNotRunning;
  } else {
    exitstatus = kGeneric;
  }
}

bool Controller::upcheck() {
  try {
    const auto api = call("supervisor.getVersion");
    if (text(api) != kApiVersion) {
      output(
          fmt::format("Sorry, this version of supervisorctl expects to talk to a server with "
                      "API version {}, but the remote version is {}.",
                      kApiVersion, text(api)));
      exitstatus = kNotInstalled;
      return false;
    }
  } catch (const control::RpcFault& e) {
    if (e.fault.code == code(FaultCode::kUnknownMethod)) {
      output(
          "Sorry, supervisord responded but did not recognize the supervisor namespace "
          "commands that supervisorctl uses to control it.  Please check that the "
          "[rpcinterface:supervisor] section is enabled in the configuration file (see "
          "sample.conf).");
      exitstatus = kUnimplementedFeature;
      return false;
    }
    exitstatus = kGeneric;
    throw;
  } catch (const control::ConnectError& e) {
    if (e.error == ECONNREFUSED) {
      output(fmt::format("{} refused connection", o_.serverurl.value_or("")));
      exitstatus = kInsufficientPrivileges;
      return false;
    }
    if (e.error == ENOENT) {
      output(fmt::format("{} no such file", o_.serverurl.value_or("")));
      exitstatus = kNotRunning;
      return false;
    }
    exitstatus = kGeneric;
    throw;
  }
  return true;
}

// --- help, quit

void Controller::do_help(const std::string& arg) {
  if (strip(arg) == "help") return help_for("help");
  if (!arg.empty()) {
    const auto& table = commands();
    const auto it = table.find(arg);
    if (it == table.end() || arg == "help" || arg == "EOF") {
      output(fmt::format("*** No help on {}", arg));
      return;
    }
    output(it->second.help);
    return;
  }
  // cmd.Cmd.print_topics: the documented commands in columns, 79 wide.
  std::vector<std::string> names;
  for (const auto& [name, entry] : commands()) {
    if (name != "EOF" && name != "help") names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  output("");
  const std::string header = "default commands (type help <topic>):";
  output(header);
  output(std::string(header.size(), '='));
  const size_t width = 79;
  const size_t size = names.size();
  size_t nrows = size;
  size_t ncols = 1;
  std::vector<size_t> colwidths{0};
  for (size_t rows = 1; rows < size; ++rows) {
    const size_t cols = (size + rows - 1) / rows;
    std::vector<size_t> widths;
    long total = -2;
    for (size_t col = 0; col < cols; ++col) {
      size_t w = 0;
      for (size_t row = 0; row < rows; ++row) {
        const size_t k = row + rows * col;
        if (k >= size) break;
        w = std::max(w, names[k].size());
      }
      widths.push_back(w);
      total += static_cast<long>(w) + 2;
      if (total > static_cast<long>(width)) break;
    }
    if (total <= static_cast<long>(width)) {
      nrows = rows;
      ncols = cols;
      colwidths = widths;
      break;
    }
  }
  for (size_t row = 0; row < nrows; ++row) {
    std::vector<std::string> texts;
    for (size_t col = 0; col < ncols; ++col) {
      const size_t k = row + nrows * col;
      texts.push_back(k < size ? names[k] : "");
    }
    while (!texts.empty() && texts.back().empty()) texts.pop_back();
    std::string out;
    for (size_t col = 0; col < texts.size(); ++col) {
      if (col > 0) out += "  ";
      out += ljust(texts[col], colwidths[col]);
    }
    output(out);
  }
  output("");
}

void Controller::do_eof(const std::string&) {
  output("");
  stop_ = true;
}

// --- tail, maintail

void Controller::tailf(const std::string& path) {
  output("==> Press Ctrl-C to exit <==");
  const std::string url = o_.serverurl.value_or("") + path;
  InterruptScope interrupt;
  std::unique_ptr<control::HttpClient::Stream> stream;
  try {
    stream = http().stream(path);
  } catch (const control::ConnectError& e) {
    std::cerr << fmt::format("{} Cannot connect, error: <class '{}'> ([Errno {}] {})\n", url,
                             python_exception_class(e.error), e.error, std::strerror(e.error));
    return;
  }
  bool reported_status = false;
  while (true) {
    pollfd p{stream->fd(), POLLIN, 0};
    if (!interrupt.wait(&p, 1)) {
      output("");
      return;
    }
    try {
      const bool more = stream->read([&](std::string_view data) {
        if (stream->head().status != 200) return;
        std::cout.write(data.data(), static_cast<std::streamsize>(data.size()));
        std::cout.flush();
      });
      if (stream->head_done() && stream->head().status != 200 && !reported_status) {
        reported_status = true;
        std::cerr << fmt::format("{} Cannot read, status code {}\n", url, stream->head().status);
        return;
      }
      if (!more || !std::cout) return;
    } catch (const std::exception&) {
      return;  // the server went away: the tail ends, as supervisorctl's does
    }
  }
}

void Controller::do_tail(const std::string& arg) {
  if (!upcheck()) return;
  auto args = split(arg);
  if (args.empty()) {
    output("Error: too few arguments");
    exitstatus = kGeneric;
    help_for("tail");
    return;
  }
  if (args.size() > 3) {
    output("Error: too many arguments");
    exitstatus = kGeneric;
    help_for("tail");
    return;
  }
  std::optional<std::string> modifier;
  if (args[0].starts_with('-')) {
    modifier = args[0];
    args.erase(args.begin());
  }
  std::string name;
  std::string channel = "stdout";
  if (args.size() == 1) {
    name = args.back();
  } else if (!args.empty()) {
    name = args[0];
    channel = args.back();
    std::transform(channel.begin(), channel.end(), channel.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (channel != "stderr" && channel != "stdout") {
      output(fmt::format("Error: bad channel {}", python_repr(channel)));
      exitstatus = kGeneric;
      return;
    }
  } else {
    output("Error: tail requires process name");
    exitstatus = kGeneric;
    return;
  }
  std::optional<int64_t> bytes = 1600;
  if (modifier) {
    const auto what = modifier->substr(1);
    if (what == "f") {
      bytes.reset();
    } else if (const auto n = python_int(what)) {
      bytes = *n;
    } else {
      output(fmt::format("Error: bad argument {}", *modifier));
      exitstatus = kGeneric;
      return;
    }
  }
  if (!bytes) return tailf(fmt::format("/logtail/{}/{}", name, channel));
  try {
    const auto log = call(
        channel == "stdout" ? "supervisor.readProcessStdoutLog" : "supervisor.readProcessStderrLog",
        {Value(name), Value(-*bytes), Value(0)});
    output(text(log));
  } catch (const control::RpcFault& e) {
    exitstatus = kGeneric;
    if (e.fault.code == code(FaultCode::kNoFile)) {
      output(fmt::format("{}: ERROR (no log file)", name));
    } else if (e.fault.code == code(FaultCode::kFailed)) {
      output(fmt::format("{}: ERROR (unknown error reading log)", name));
    } else if (e.fault.code == code(FaultCode::kBadName)) {
      output(fmt::format("{}: ERROR (no such process name)", name));
    } else {
      throw;
    }
  }
}

void Controller::do_maintail(const std::string& arg) {
  if (!upcheck()) return;
  const auto args = split(arg);
  int64_t bytes = 1600;
  if (args.size() > 1) {
    output("Error: too many arguments");
    exitstatus = kGeneric;
    help_for("maintail");
    return;
  }
  if (args.size() == 1) {
    if (!args[0].starts_with('-')) {
      output(fmt::format("Error: bad argument {}", args[0]));
      exitstatus = kGeneric;
      return;
    }
    const auto what = args[0].substr(1);
    if (what == "f") return tailf("/mainlogtail");
    const auto n = python_int(what);
    if (!n) {
      output(fmt::format("Error: bad argument {}", args[0]));
      exitstatus = kGeneric;
      return;
    }
    bytes = *n;
  }
  try {
    output(text(call("supervisor.readLog", {Value(-bytes), Value(0)})));
  } catch (const control::RpcFault& e) {
    exitstatus = kGeneric;
    if (e.fault.code == code(FaultCode::kNoFile)) {
      output("supervisord: ERROR (no log file)");
    } else if (e.fault.code == code(FaultCode::kFailed)) {
      output("supervisord: ERROR (unknown error reading log)");
    } else {
      throw;
    }
  }
}

// --- status, pid

void Controller::show_statuses(const Array& infos) {
  std::vector<std::string> namespecs;
  size_t maxlen = 30;
  for (const auto& info : infos) {
    namespecs.push_back(
        control::make_namespec(text(field(info, "group")), text(field(info, "name"))));
    maxlen = std::max(maxlen, display_length(namespecs.back()));
  }
  for (size_t i = 0; i < infos.size(); ++i) {
    output(fmt::format("{}{}{}", ljust(namespecs[i], maxlen + 3),
                       ljust(text(field(infos[i], "statename")), 10),
                       text(field(infos[i], "description"))));
  }
}

void Controller::do_status(const std::string& arg) {
  if (!upcheck()) {
    exitstatus = kStatusUnknown;
    return;
  }
  const auto all = call("supervisor.getAllProcessInfo");
  const auto& all_infos = as_array(all);
  const auto names = split(arg);
  Array matching;
  if (names.empty() || std::find(names.begin(), names.end(), "all") != names.end()) {
    matching = all_infos;
  } else {
    for (const auto& name : names) {
      bool bad_name = true;
      const auto [group_name, process_name] = split_namespec(name);
      for (const auto& info : all_infos) {
        bool matched = text(field(info, "group")) == group_name;
        if (process_name) matched = matched && text(field(info, "name")) == *process_name;
        if (matched) {
          bad_name = false;
          matching.push_back(info);
        }
      }
      if (bad_name) {
        output(process_name ? fmt::format("{}: ERROR (no such process)", name)
                            : fmt::format("{}: ERROR (no such group)", group_name));
        exitstatus = kStatusUnknown;
      }
    }
  }
  show_statuses(matching);
  for (const auto& info : matching) {
    if (core::is_stopped_state(static_cast<core::State>(number(field(info, "state"))))) exitstatus = kStatusNotRunning;
  }
}

void Controller::do_pid(const std::string& arg) {
  http();  // supervisorctl makes its proxy (and fails on a bad URL) before the upcheck
  if (!upcheck()) return;
  const auto names = split(arg);
  if (names.empty()) {
    output(text(call("supervisor.getPID")));
  } else if (std::find(names.begin(), names.end(), "all") != names.end()) {
    const auto all = call("supervisor.getAllProcessInfo");
    for (const auto& info : as_array(all)) output(text(field(info, "pid")));
  } else {
    for (const auto& name : names) {
      try {
        const auto info = call("supervisor.getProcessInfo", {Value(name)});
        const auto pid = number(field(info, "pid"));
        output(std::to_string(pid));
        if (pid == 0) exitstatus = kNotRunning;
      } catch (const control::RpcFault& e) {
        exitstatus = kGeneric;
        if (e.fault.code != code(FaultCode::kBadName)) throw;
        output(fmt::format("No such process {}", name));
      }
    }
  }
}

// --- start, stop, signal, restart

// A fault as the struct that group operations return, for the result formatters.
Value fault_result(const control::RpcFault& e, const std::string& group,
                   const std::optional<std::string>& process) {
  return Struct{{"status", Value(e.fault.code)},
                {"name", process ? Value(*process) : Value(control::xmlrpc::Nil{})},
                {"group", Value(group)},
                {"description", Value(e.fault.message)}};
}

std::string result_name(const Value& result) {
  // make_namespec(group, None) gives "group:None".
  return control::make_namespec(text(field(result, "group")), text(field(result, "name")));
}

std::string Controller::start_result(const Value& result) {
  const auto name = result_name(result);
  const auto status = number(field(result, "status"));
  const auto error = [&](std::string_view why) { return fmt::format("{}: ERROR ({})", name, why); };
  if (status == code(FaultCode::kBadName)) return error("no such process");
  if (status == code(FaultCode::kNoFile)) return error("no such file");
  if (status == code(FaultCode::kNotExecutable)) return error("file is not executable");
  if (status == code(FaultCode::kAlreadyStarted)) return error("already started");
  if (status == code(FaultCode::kSpawnError)) return error("spawn error");
  if (status == code(FaultCode::kAbnormalTermination)) return error("abnormal termination");
  if (status == code(FaultCode::kSuccess)) return fmt::format("{}: started", name);
  throw std::runtime_error(
      fmt::format("<class 'ValueError'>, Unknown result code {} for {}", status, name));
}

std::string Controller::signal_result(const Value& result, std::string_view success) {
  const auto name = result_name(result);
  const auto status = number(field(result, "status"));
  if (status == code(FaultCode::kBadName)) return fmt::format("{}: ERROR (no such process)", name);
  if (status == code(FaultCode::kBadSignal))
    return fmt::format("{}: ERROR (bad signal name)", name);
  if (status == code(FaultCode::kNotRunning)) return fmt::format("{}: ERROR (not running)", name);
  if (status == code(FaultCode::kSuccess)) return fmt::format("{}: {}", name, success);
  if (status == code(FaultCode::kFailed)) return text(field(result, "description"));
  throw std::runtime_error(
      fmt::format("<class 'ValueError'>, Unknown result code {} for {}", status, name));
}

std::string Controller::clear_result(const Value& result) {
  const auto name = result_name(result);
  const auto status = number(field(result, "status"));
  if (status == code(FaultCode::kBadName)) return fmt::format("{}: ERROR (no such process)", name);
  if (status == code(FaultCode::kFailed)) return fmt::format("{}: ERROR (failed)", name);
  if (status == code(FaultCode::kSuccess)) return fmt::format("{}: cleared", name);
  throw std::runtime_error(
      fmt::format("<class 'ValueError'>, Unknown result code {} for {}", status, name));
}

void Controller::do_start(const std::string& arg) {
  if (!upcheck()) return;
  const auto names = split(arg);
  if (names.empty()) {
    output("Error: start requires a process name");
    exitstatus = kInvalidArgs;
    help_for("start");
    return;
  }
  const int already = code(FaultCode::kAlreadyStarted);
  if (std::find(names.begin(), names.end(), "all") != names.end()) {
    const auto results = call("supervisor.startAllProcesses");
    for (const auto& r : as_array(results)) {
      output(start_result(r));
      set_exitstatus_from_fault(static_cast<int>(number(field(r, "status"))), already);
    }
    return;
  }
  for (const auto& name : names) {
    const auto [group_name, process_name] = split_namespec(name);
    if (!process_name) {
      try {
        const auto results = call("supervisor.startProcessGroup", {Value(group_name)});
        for (const auto& r : as_array(results)) {
          output(start_result(r));
          set_exitstatus_from_fault(static_cast<int>(number(field(r, "status"))), already);
        }
      } catch (const control::RpcFault& e) {
        if (e.fault.code != code(FaultCode::kBadName)) {
          exitstatus = kGeneric;
          throw;
        }
        output(fmt::format("{}: ERROR (no such group)", group_name));
        exitstatus = kInvalidArgs;
      }
      continue;
    }
    try {
      call("supervisor.startProcess", {Value(name)});
      output(fmt::format("{}: started", control::make_namespec(group_name, *process_name)));
    } catch (const control::RpcFault& e) {
      output(start_result(fault_result(e, group_name, process_name)));
      set_exitstatus_from_fault(e.fault.code, already);
    }
  }
}

void Controller::do_stop(const std::string& arg) {
  if (!upcheck()) return;
  const auto names = split(arg);
  if (names.empty()) {
    output("Error: stop requires a process name");
    exitstatus = kGeneric;
    help_for("stop");
    return;
  }
  const int not_running = code(FaultCode::kNotRunning);
  if (std::find(names.begin(), names.end(), "all") != names.end()) {
    const auto results = call("supervisor.stopAllProcesses");
    for (const auto& r : as_array(results)) {
      output(signal_result(r, "stopped"));
      set_exitstatus_from_fault(static_cast<int>(number(field(r, "status"))), not_running);
    }
    return;
  }
  for (const auto& name : names) {
    const auto [group_name, process_name] = split_namespec(name);
    if (!process_name) {
      try {
        const auto results = call("supervisor.stopProcessGroup", {Value(group_name)});
        for (const auto& r : as_array(results)) {
          output(signal_result(r, "stopped"));
          set_exitstatus_from_fault(static_cast<int>(number(field(r, "status"))), not_running);
        }
      } catch (const control::RpcFault& e) {
        exitstatus = kGeneric;
        if (e.fault.code != code(FaultCode::kBadName)) throw;
        output(fmt::format("{}: ERROR (no such group)", group_name));
      }
      continue;
    }
    try {
      call("supervisor.stopProcess", {Value(name)});
      output(fmt::format("{}: stopped", control::make_namespec(group_name, *process_name)));
    } catch (const control::RpcFault& e) {
      output(signal_result(fault_result(e, group_name, process_name), "stopped"));
      set_exitstatus_from_fault(e.fault.code, not_running);
    }
  }
}

void Controller::do_signal(const std::string& arg) {
  if (!upcheck()) return;
  const auto args = split(arg);
  if (args.size() < 2) {
    output("Error: signal requires a signal name and a process name");
    help_for("signal");
    exitstatus = kGeneric;
    return;
  }
  const auto& sig = args[0];
  const std::vector<std::string> names(args.begin() + 1, args.end());
  if (std::find(names.begin(), names.end(), "all") != names.end()) {
    const auto results = call("supervisor.signalAllProcesses", {Value(sig)});
    for (const auto& r : as_array(results)) {
      output(signal_result(r));
      set_exitstatus_from_fault(static_cast<int>(number(field(r, "status"))));
    }
    return;
  }
  for (const auto& name : names) {
    const auto [group_name, process_name] = split_namespec(name);
    if (!process_name) {
      try {
        const auto results = call("supervisor.signalProcessGroup", {Value(group_name), Value(sig)});
        for (const auto& r : as_array(results)) {
          output(signal_result(r));
          set_exitstatus_from_fault(static_cast<int>(number(field(r, "status"))));
        }
      } catch (const control::RpcFault& e) {
        if (e.fault.code != code(FaultCode::kBadName)) throw;
        output(fmt::format("{}: ERROR (no such group)", group_name));
        exitstatus = kGeneric;
      }
      continue;
    }
    try {
      call("supervisor.signalProcess", {Value(name), Value(sig)});
      output(fmt::format("{}: signalled", control::make_namespec(group_name, *process_name)));
    } catch (const control::RpcFault& e) {
      output(signal_result(fault_result(e, group_name, process_name)));
      set_exitstatus_from_fault(e.fault.code);
    }
  }
}

void Controller::do_restart(const std::string& arg) {
  if (!upcheck()) return;
  if (split(arg).empty()) {
    output("Error: restart requires a process name");
    exitstatus = kGeneric;
    help_for("restart");
    return;
  }
  do_stop(arg);
  do_start(arg);
}

// --- shutdown, reload

void Controller::do_shutdown(const std::string& arg) {
  if (!arg.empty()) {
    output("Error: shutdown accepts no arguments");
    exitstatus = kGeneric;
    help_for("shutdown");
    return;
  }
  if (o_.interactive) {
    const auto yesno = raw_input("Really shut the remote supervisord process down y/N? ");
    if (!yesno || !(yesno->starts_with('y') || yesno->starts_with('Y'))) return;
  }
  try {
    call("supervisor.shutdown");
    output("Shut down");
  } catch (const control::RpcFault& e) {
    if (e.fault.code != code(FaultCode::kShutdownState)) {
      exitstatus = kGeneric;
      throw;
    }
    output("ERROR: already shutting down");
  } catch (const control::ConnectError& e) {
    exitstatus = kGeneric;
    if (e.error == ECONNREFUSED) {
      output(fmt::format("ERROR: {} refused connection (already shut down?)",
                         o_.serverurl.value_or("")));
    } else if (e.error == ENOENT) {
      output(fmt::format("ERROR: {} no such file (already shut down?)", o_.serverurl.value_or("")));
    } else {
      throw;
    }
  }
}

void Controller::do_reload(const std::string& arg) {
  if (!arg.empty()) {
    output("Error: reload accepts no arguments");
    exitstatus = kGeneric;
    help_for("reload");
    return;
  }
  if (o_.interactive) {
    const auto yesno = raw_input("Really restart the remote supervisord process y/N? ");
    if (!yesno || !(yesno->starts_with('y') || yesno->starts_with('Y'))) return;
  }
  try {
    call("supervisor.restart");
    output("Restarted supervisord");
  } catch (const control::RpcFault& e) {
    exitstatus = kGeneric;
    if (e.fault.code != code(FaultCode::kShutdownState)) throw;
    output("ERROR: already shutting down");
  }
}

// --- configuration: avail, reread, add, remove, update

void Controller::do_avail(const std::string& arg) {
  if (!arg.empty()) {
    output("Error: avail accepts no arguments");
    exitstatus = kGeneric;
    help_for("avail");
    return;
  }
  Value configinfo;
  try {
    configinfo = call("supervisor.getAllConfigInfo");
  } catch (const control::RpcFault& e) {
    exitstatus = kGeneric;
    if (e.fault.code != code(FaultCode::kShutdownState)) throw;
    output("ERROR: supervisor shutting down");
    return;
  }
  for (const auto& c : as_array(configinfo)) {
    const auto name = control::make_namespec(text(field(c, "group")), text(field(c, "name")));
    output(fmt::format("{} {} {} {}:{}", ljust(name, 32),
                       ljust(truth(field(c, "inuse")) ? "in use" : "avail", 9),
                       ljust(truth(field(c, "autostart")) ? "auto" : "manual", 9),
                       text(field(c, "group_prio")), text(field(c, "process_prio"))));
  }
}

void Controller::do_reread(const std::string& arg) {
  if (!arg.empty()) {
    output("Error: reread accepts no arguments");
    exitstatus = kGeneric;
    help_for("reread");
    return;
  }
  Value result;
  try {
    result = call("supervisor.reloadConfig");
  } catch (const control::RpcFault& e) {
    exitstatus = kGeneric;
    if (e.fault.code == code(FaultCode::kShutdownState)) {
      output("ERROR: supervisor shutting down");
    } else if (e.fault.code == code(FaultCode::kCantReread)) {
      output(fmt::format("ERROR: {}", e.fault.message));
    } else {
      throw;
    }
    return;
  }
  const auto& changes = as_array(as_array(result).at(0));
  std::map<std::string, std::string> changed;  // sorted by name, as supervisorctl prints
  const char* kinds[] = {"available", "changed", "disappeared"};
  for (size_t k = 0; k < 3 && k < changes.size(); ++k) {
    for (const auto& name : as_array(changes[k])) changed[text(name)] = kinds[k];
  }
  if (changed.empty()) {
    output("No config updates to processes");
    return;
  }
  for (const auto& [name, kind] : changed) output(fmt::format("{}: {}", name, kind));
}

void Controller::do_add(const std::string& arg) {
  for (const auto& name : split(arg)) {
    try {
      call("supervisor.addProcessGroup", {Value(name)});
      output(fmt::format("{}: added process group", name));
    } catch (const control::RpcFault& e) {
      if (e.fault.code == code(FaultCode::kShutdownState)) {
        output("ERROR: shutting down");
        exitstatus = kGeneric;
      } else if (e.fault.code == code(FaultCode::kAlreadyAdded)) {
        output("ERROR: process group already active");
      } else if (e.fault.code == code(FaultCode::kBadName)) {
        output(fmt::format("ERROR: no such process/group: {}", name));
        exitstatus = kGeneric;
      } else {
        exitstatus = kGeneric;
        throw;
      }
    }
  }
}

void Controller::do_remove(const std::string& arg) {
  for (const auto& name : split(arg)) {
    try {
      call("supervisor.removeProcessGroup", {Value(name)});
      output(fmt::format("{}: removed process group", name));
    } catch (const control::RpcFault& e) {
      exitstatus = kGeneric;
      if (e.fault.code == code(FaultCode::kStillRunning)) {
        output(fmt::format("ERROR: process/group still running: {}", name));
      } else if (e.fault.code == code(FaultCode::kBadName)) {
        output(fmt::format("ERROR: no such process/group: {}", name));
      } else {
        throw;
      }
    }
  }
}

void Controller::do_update(const std::string& arg) {
  auto log = [&](const std::string& name, std::string_view message) {
    output(fmt::format("{}: {}", name, message));
  };
  Value result;
  try {
    result = call("supervisor.reloadConfig");
  } catch (const control::RpcFault& e) {
    exitstatus = kGeneric;
    if (e.fault.code != code(FaultCode::kShutdownState)) throw;
    output("ERROR: already shutting down");
    return;
  }
  const auto& changes = as_array(as_array(result).at(0));
  auto names_at = [&](size_t k) {
    std::vector<std::string> out;
    if (k < changes.size()) {
      for (const auto& n : as_array(changes[k])) out.push_back(text(n));
    }
    return out;
  };
  const auto added = names_at(0);
  const auto changed = names_at(1);
  const auto removed = names_at(2);
  const auto words = split(arg);
  std::set<std::string> valid_gnames(words.begin(), words.end());
  if (valid_gnames.count("all")) valid_gnames.clear();
  if (!valid_gnames.empty()) {
    std::set<std::string> groups;
    const auto all = call("supervisor.getAllProcessInfo");
    for (const auto& info : as_array(all)) groups.insert(text(field(info, "group")));
    groups.insert(added.begin(), added.end());
    // Python iterates a set of strings in no fixed order; sorted is one of its orders.
    for (const auto& gname : valid_gnames) {
      if (!groups.count(gname)) {
        output(fmt::format("ERROR: no such group: {}", gname));
        exitstatus = kGeneric;
      }
    }
  }
  auto wanted = [&](const std::string& gname) {
    return valid_gnames.empty() || valid_gnames.count(gname) != 0;
  };
  for (const auto& gname : removed) {
    if (!wanted(gname)) continue;
    const auto results = call("supervisor.stopProcessGroup", {Value(gname)});
    log(gname, "stopped");
    const auto& list = as_array(results);
    const bool fails = std::any_of(list.begin(), list.end(), [](const Value& r) {
      return number(field(r, "status")) == code(FaultCode::kFailed);
    });
    if (fails) {
      output(fmt::format("{}: has problems; not removing", gname));
      exitstatus = kGeneric;
      continue;
    }
    call("supervisor.removeProcessGroup", {Value(gname)});
    log(gname, "removed process group");
  }
  for (const auto& gname : changed) {
    if (!wanted(gname)) continue;
    call("supervisor.stopProcessGroup", {Value(gname)});
    log(gname, "stopped");
    call("supervisor.removeProcessGroup", {Value(gname)});
    call("supervisor.addProcessGroup", {Value(gname)});
    log(gname, "updated process group");
  }
  for (const auto& gname : added) {
    if (!wanted(gname)) continue;
    call("supervisor.addProcessGroup", {Value(gname)});
    log(gname, "added process group");
  }
}

// --- clear, open, version, fg, health

void Controller::do_clear(const std::string& arg) {
  if (!upcheck()) return;
  const auto names = split(arg);
  if (names.empty()) {
    output("Error: clear requires a process name");
    exitstatus = kGeneric;
    help_for("clear");
    return;
  }
  if (std::find(names.begin(), names.end(), "all") != names.end()) {
    const auto results = call("supervisor.clearAllProcessLogs");
    for (const auto& r : as_array(results)) {
      output(clear_result(r));
      set_exitstatus_from_fault(static_cast<int>(number(field(r, "status"))));
    }
    return;
  }
  for (const auto& name : names) {
    const auto [group_name, process_name] = split_namespec(name);
    try {
      call("supervisor.clearProcessLogs", {Value(name)});
      output(fmt::format("{}: cleared",
                         control::make_namespec(group_name, process_name.value_or("None"))));
    } catch (const control::RpcFault& e) {
      output(clear_result(fault_result(e, group_name, process_name)));
      set_exitstatus_from_fault(e.fault.code);
    }
  }
}

void Controller::do_open(const std::string& arg) {
  const auto url = strip(arg);
  const auto colon = url.find(':');
  const auto scheme = colon == std::string::npos ? "" : url.substr(0, colon);
  if (scheme != "unix" && scheme != "http") {
    output("ERROR: url must be http:// or unix://");
    exitstatus = kGeneric;
    return;
  }
  o_.serverurl = url;
  const int old = exitstatus;
  do_status("");
  exitstatus = old;
}

void Controller::do_version(const std::string& arg) {
  if (!arg.empty()) {
    output("Error: version accepts no arguments");
    exitstatus = kGeneric;
    help_for("version");
    return;
  }
  if (!upcheck()) return;
  output(text(call("supervisor.getSupervisorVersion")));
}

void Controller::do_fg(const std::string& arg) {
  if (!upcheck()) return;
  const auto names = split(arg);
  if (names.empty()) {
    output("ERROR: no process name supplied");
    exitstatus = kGeneric;
    help_for("fg");
    return;
  }
  if (names.size() > 1) {
    output("ERROR: too many process names supplied");
    exitstatus = kGeneric;
    return;
  }
  const auto& name = names[0];
  Value info;
  try {
    info = call("supervisor.getProcessInfo", {Value(name)});
  } catch (const control::RpcFault& e) {
    if (e.fault.code == code(FaultCode::kBadName)) {
      output("ERROR: bad process name supplied");
      exitstatus = kGeneric;
    } else {
      output(fmt::format("ERROR: <Fault {}: {}>", e.fault.code, python_repr(e.fault.message)));
    }
    return;
  }
  if (number(field(info, "state")) != static_cast<int>(core::State::kRunning)) {
    output("ERROR: process not running");
    exitstatus = kGeneric;
    return;
  }
  output("==> Press Ctrl-C to exit <==");
  InterruptScope interrupt;
  std::vector<std::unique_ptr<control::HttpClient::Stream>> streams;
  for (const char* channel : {"stdout", "stderr"}) {
    try {
      streams.push_back(http().stream(fmt::format("/logtail/{}/{}", name, channel)));
    } catch (const std::exception&) {
      // as supervisorctl's output thread: a stream that cannot start just shows nothing
    }
  }
  std::string pending;  // stdin not yet a whole line
  auto leave = [&](std::string_view why) {
    if (!why.empty()) output(why);
    output("Exiting foreground");
  };
  while (true) {
    std::vector<pollfd> fds{{STDIN_FILENO, POLLIN, 0}};
    for (const auto& s : streams) fds.push_back({s ? s->fd() : -1, POLLIN, 0});
    if (!interrupt.wait(fds.data(), fds.size())) return leave("");
    for (size_t k = 0; k < streams.size(); ++k) {
      if (!streams[k] || !(fds[k + 1].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      bool more = false;
      try {
        more = streams[k]->read([&](std::string_view data) {
          if (streams[k]->head().status != 200) return;
          std::cout.write(data.data(), static_cast<std::streamsize>(data.size()));
          std::cout.flush();
        });
      } catch (const std::exception&) {
      }
      if (!more) streams[k].reset();
    }
    if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    char buf[4096];
    const ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return leave("");  // EOF, as Ctrl-D
    pending.append(buf, static_cast<size_t>(n));
    for (auto nl = pending.find('\n'); nl != std::string::npos; nl = pending.find('\n')) {
      const auto input = pending.substr(0, nl + 1);
      pending.erase(0, nl + 1);
      try {
        call("supervisor.sendProcessStdin", {Value(name), Value(input)});
      } catch (const control::RpcFault& e) {
        if (e.fault.code == code(FaultCode::kNotRunning)) {
          return leave("Process got killed");
        }
        return leave(
            fmt::format("ERROR: <Fault {}: {}>", e.fault.code, python_repr(e.fault.message)));
      }
      const auto now = call("supervisor.getProcessInfo", {Value(name)});
      if (number(field(now, "state")) != static_cast<int>(core::State::kRunning)) {
        return leave("Process got killed");
      }
    }
  }
}

void Controller::do_health(const std::string& arg) {
  if (!arg.empty()) {
    output("Error: health accepts no arguments");
    exitstatus = kGeneric;
    help_for("health");
    return;
  }
  control::HttpResponse response;
  try {
    response = http().request("GET", "/health");
  } catch (const control::ConnectError& e) {
    exitstatus = kGeneric;
    if (e.error == ECONNREFUSED) {
      output(fmt::format("{} refused connection", o_.serverurl.value_or("")));
    } else if (e.error == ENOENT) {
      output(fmt::format("{} no such file", o_.serverurl.value_or("")));
    } else {
      throw;
    }
    return;
  }
  if (response.status == 401) {
    output("Server requires authentication");
    exitstatus = kGeneric;
    return;
  }
  std::cout << response.body;
  if (!response.body.empty() && response.body.back() != '\n') std::cout << '\n';
  if (response.body.empty()) std::cout << response.status << ' ' << response.reason << '\n';
  std::cout.flush();
  exitstatus = response.status == 200 ? kSuccess : kGeneric;
}

}  // namespace

int ctl_main(int argc, char** args, const std::string& progname) {
  Options o;
  o.progname = progname;
  parse_command_line(argc, args, o);
  if (!o.configfile) o.configfile = config::find_default_config(binary_dir());
  if (o.configfile) {
    read_config(*o.configfile, o);
  } else if (!o.serverurl) {
    // No configuration at all: single-command podvisor's socket, or the one supervisord's
    // sample configuration uses, when there; else supervisorctl's default.
    o.serverurl = "http://localhost:9001";
    for (const auto path : {config::kDefaultSocket, std::string_view("/tmp/supervisor.sock")}) {
      struct stat st {};
      if (stat(std::string(path).c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) {
        o.serverurl = fmt::format("unix://{}", path);
        break;
      }
    }
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
