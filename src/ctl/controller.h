// supervisorctl's Controller and DefaultControllerPlugin in one: one command line at a time
// (or the interactive shell) against the server's XML-RPC, with supervisorctl's output and
// exit statuses. The commands live in commands_*.cc, grouped by what they act on.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "control/client/http_client.h"
#include "control/wire/faults.h"
#include "control/wire/xmlrpc.h"
#include "ctl/options.h"

namespace podvisor::ctl {

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
constexpr int kKeepStatus = -1;  // an Expected answer that leaves the exit status alone

// One failure a command expects, and what it says to it: a fault code (or any fault) of the
// server, or the errno of a connection that failed. The same shape words the per-process
// results of group operations by their status code. `message` is a fmt pattern over {name}
// (what the command acted on), {url} (the server URL), {text} (the fault's or result's
// description), {code} and {repr} (the fault's code, and its text as Python's repr), {done}
// (what a result says on success).
struct Expected {
  enum class On { kFault, kAnyFault, kConnect };
  On on;
  int value;  // the fault code or errno
  std::string_view message;
  int exitstatus = kKeepStatus;
};
constexpr Expected on_fault(control::FaultCode code, std::string_view message,
                            int exitstatus = kKeepStatus) {
  return {Expected::On::kFault, static_cast<int>(code), message, exitstatus};
}
constexpr Expected on_any_fault(std::string_view message, int exitstatus = kKeepStatus) {
  return {Expected::On::kAnyFault, 0, message, exitstatus};
}
constexpr Expected on_connect(int error, std::string_view message, int exitstatus) {
  return {Expected::On::kConnect, error, message, exitstatus};
}
using ExpectedList = std::span<const Expected>;

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
    std::string_view help;
  };
  static const std::map<std::string, Entry, std::less<>>& commands();

  // start, stop, signal and clear: one method for all, one per group, one per process, and
  // how their results read.
  struct ProcessCommand {
    std::string_view all, group, one;  // no group method: `one` takes group names too
    ExpectedList words;
    std::string_view done;                      // {done} in words: "started", "stopped", ...
    std::optional<control::FaultCode> ignored;  // a result that leaves the exit status
    int no_such_group = kGeneric;               // the exit status when a group is unknown
  };

  void output(std::string_view message);
  void help_for(std::string_view command);
  // Wrong arguments: the message, the exit status, and the command's help when named.
  void refuse(std::string_view message, std::string_view command = {}, int status = kGeneric);
  // False (after refusing) when a command that takes none got arguments.
  bool no_arguments(const std::string& arg, std::string_view command);
  std::optional<std::string> raw_input(std::string_view prompt);
  std::optional<std::string> get_password(std::string_view prompt);
  // The shell asks before it acts (y or Y goes on); a one-shot command goes on.
  bool confirm(std::string_view question);

  control::HttpClient& http();
  control::xmlrpc::Value call(const std::string& method, control::xmlrpc::Array params = {});
  // Runs `rpc`: a failure that `expected` lists is told as it says and gives false; any other
  // goes up to onecmd, which reports it.
  bool expecting(ExpectedList expected, std::string_view name, const std::function<void()>& rpc);
  // call() under expecting(): the answer, or nullopt after an expected failure.
  std::optional<control::xmlrpc::Value> call_expecting(ExpectedList expected, std::string_view name,
                                                       const std::string& method,
                                                       control::xmlrpc::Array params = {});
  bool upcheck();
  void set_exitstatus_from_fault(int faultcode, std::optional<control::FaultCode> ignored = {});
  void print_error(std::exception_ptr error);
  void tailf(const std::string& path);
  void act_on(const ProcessCommand& command, const std::vector<std::string>& names,
              const control::xmlrpc::Array& extra = {});
  // add and remove: `method` for each name in arg, then "<name>: <done>".
  void on_each_group(const std::string& arg, const std::string& method, ExpectedList answers,
                     std::string_view done);
  void show_statuses(const control::xmlrpc::Array& infos);

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

// The line supervisorctl prints for one result of a group operation (or the fault of a
// one-process call): `words` by its status code. Throws for a code it does not know.
std::string result_line(ExpectedList words, int status, const std::string& namespec,
                        std::string_view description, std::string_view done);

}  // namespace podvisor::ctl
