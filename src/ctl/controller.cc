#include "ctl/controller.h"

#include <fmt/format.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iostream>

#include "ctl/format.h"

namespace podvisor::ctl {
namespace {

using control::FaultCode;
using control::xmlrpc::Array;
using control::xmlrpc::Value;

constexpr std::string_view kApiVersion = "3.0";

constexpr int code(FaultCode c) { return static_cast<int>(c); }

// The serverurl is neither http:// nor unix:// (supervisorctl's transport refuses it).
class UnknownProtocol : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::string fill(std::string_view pattern, std::string_view name, std::string_view url,
                 std::string_view text, int code, std::string_view done = {}) {
  return fmt::format(fmt::runtime(pattern), fmt::arg("name", name), fmt::arg("url", url),
                     fmt::arg("text", text), fmt::arg("code", code),
                     fmt::arg("repr", python_repr(text)), fmt::arg("done", done));
}

const Expected* find_expected(ExpectedList list, Expected::On on, int value) {
  const auto it = std::find_if(list.begin(), list.end(), [&](const Expected& e) {
    return e.on == on && (on == Expected::On::kAnyFault || e.value == value);
  });
  return it == list.end() ? nullptr : &*it;
}

}  // namespace

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

void Controller::output(std::string_view message) {
  std::cout << message << '\n';
  std::cout.flush();
}

void Controller::help_for(std::string_view command) {
  const auto& table = commands();
  const auto it = table.find(command);
  if (it != table.end()) output(it->second.help);
}

void Controller::refuse(std::string_view message, std::string_view command, int status) {
  output(message);
  exitstatus = status;
  if (!command.empty()) help_for(command);
}

bool Controller::no_arguments(const std::string& arg, std::string_view command) {
  if (arg.empty()) return true;
  refuse(fmt::format("Error: {} accepts no arguments", command), command);
  return false;
}

std::optional<std::string> Controller::raw_input(std::string_view prompt) {
  std::cout << prompt;
  std::cout.flush();
  std::string line;
  if (!std::getline(std::cin, line)) return std::nullopt;
  return line;
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

Value Controller::call(const std::string& method, Array params) {
  return control::RpcClient(http()).call(method, std::move(params));
}

bool Controller::expecting(ExpectedList expected, std::string_view name,
                           const std::function<void()>& rpc) {
  const Expected* answer = nullptr;
  std::string text;
  int faultcode = 0;
  try {
    rpc();
    return true;
  } catch (const control::RpcFault& e) {
    answer = find_expected(expected, Expected::On::kFault, e.fault.code);
    if (answer == nullptr) answer = find_expected(expected, Expected::On::kAnyFault, 0);
    if (answer == nullptr) throw;
    text = e.fault.message;
    faultcode = e.fault.code;
  } catch (const control::ConnectError& e) {
    answer = find_expected(expected, Expected::On::kConnect, e.error);
    if (answer == nullptr) throw;
  }
  output(fill(answer->message, name, o_.serverurl.value_or(""), text, faultcode));
  if (answer->exitstatus != kKeepStatus) exitstatus = answer->exitstatus;
  return false;
}

std::optional<Value> Controller::call_expecting(ExpectedList expected, std::string_view name,
                                                const std::string& method, Array params) {
  std::optional<Value> answer;
  if (!expecting(expected, name, [&] { answer = call(method, std::move(params)); })) return {};
  return answer;
}

std::string result_line(ExpectedList words, int status, const std::string& namespec,
                        std::string_view description, std::string_view done) {
  const auto* word = find_expected(words, Expected::On::kFault, status);
  if (word == nullptr) {
    throw std::runtime_error(
        fmt::format("<class 'ValueError'>, Unknown result code {} for {}", status, namespec));
  }
  return fill(word->message, namespec, "", description, status, done);
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
  // Not a terminal (tcgetattr fails with ENOTTY): nothing to hide.
  termios saved{};
  bool hidden = tcgetattr(STDIN_FILENO, &saved) == 0;
  if (hidden) {
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    hidden = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;  // else it reads with echo
  }
  auto line = raw_input(prompt);
  if (hidden && tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved) != 0) {
    throw std::runtime_error(fmt::format("tcsetattr: {}", std::strerror(errno)));
  }
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

void Controller::set_exitstatus_from_fault(int faultcode, std::optional<FaultCode> ignored) {
  if ((ignored && faultcode == code(*ignored)) || faultcode == code(FaultCode::kSuccess)) return;
  if (faultcode == code(FaultCode::kSpawnError) ||
      faultcode == code(FaultCode::kAbnormalTermination) ||
      faultcode == code(FaultCode::kNotRunning)) {
    exitstatus = kNotRunning;
  } else {
    exitstatus = kGeneric;
  }
}

bool Controller::upcheck() {
  static constexpr Expected kAnswers[] = {
      on_fault(FaultCode::kUnknownMethod,
               "Sorry, supervisord responded but did not recognize the supervisor namespace "
               "commands that supervisorctl uses to control it.  Please check that the "
               "[rpcinterface:supervisor] section is enabled in the configuration file (see "
               "sample.conf).",
               kUnimplementedFeature),
      on_connect(ECONNREFUSED, "{url} refused connection", kInsufficientPrivileges),
      on_connect(ENOENT, "{url} no such file", kNotRunning)};
  const auto api = call_expecting(kAnswers, "", "supervisor.getVersion");
  if (!api) return false;
  if (text(*api) != kApiVersion) {
    output(
        fmt::format("Sorry, this version of supervisorctl expects to talk to a server with "
                    "API version {}, but the remote version is {}.",
                    kApiVersion, text(*api)));
    exitstatus = kNotInstalled;
    return false;
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
  for (const auto& line : columnize(names, 79)) output(line);
  output("");
}

void Controller::do_eof(const std::string&) {
  output("");
  stop_ = true;
}

}  // namespace podvisor::ctl
