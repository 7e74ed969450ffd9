// The XML-RPC dispatcher: the method table with its docs, system.* and multicall; the methods
// themselves live in rpc_process.cc, rpc_logs.cc and rpc_config.cc.
#include "control/server/rpc.h"

#include <algorithm>
#include <cctype>
#include <memory>
#include <optional>
#include <utility>

#include "config/values.h"
#include "control/server/rpc_methods.h"

namespace podvisor::control {

using namespace rpc_methods;

namespace {

using Handler = void (*)(Backend&, const Array&, Reply&);

struct MethodEntry {
  std::string_view name;
  size_t min_params;
  size_t max_params;
  std::string_view doc;  // methodHelp; its @param/@return tags make methodSignature
  Handler handler;       // null: system.* methods the dispatcher serves itself
};

constexpr std::string_view kStartDoc =
    "Start a process\n\n"
    "@param string name Process name (or ``group:name``, or ``group:*``)\n"
    "@param boolean wait Wait for process to be fully started\n"
    "@return boolean result     Always true unless error\n";
constexpr std::string_view kReadStdoutDoc =
    "Read length bytes from name's stdout log starting at offset\n\n"
    "@param string name        the name of the process (or 'group:name')\n"
    "@param int offset         offset to start reading from.\n"
    "@param int length         number of bytes to read from the log.\n"
    "@return string result     Bytes of log\n";
constexpr std::string_view kTailStdoutDoc =
    "Return up to length bytes from the end of name's stdout log, starting no earlier than "
    "offset; overflow is true when bytes were skipped. The offset returned is the log's size, "
    "where the next call starts.\n\n"
    "@param string name         the name of the process (or 'group:name')\n"
    "@param int offset          offset to start reading from\n"
    "@param int length          maximum number of bytes to return\n"
    "@return array result       [string bytes, int offset, bool overflow]\n";
constexpr std::string_view kClearProcessDoc =
    "Clear the stdout and stderr logs for the named process and reopen them.\n\n"
    "@param string name   The name of the process (or 'group:name')\n"
    "@return boolean result      Always True unless error\n";
constexpr std::string_view kReadMainDoc =
    "Read length bytes from the main log starting at offset\n\n"
    "@param int offset         offset to start reading from.\n"
    "@param int length         number of bytes to read from the log.\n"
    "@return string result     Bytes of log\n";
constexpr std::string_view kVersionDoc =
    "Return the version of the RPC API used by supervisord\n\n@return string version id\n";

// Every published method, sorted by name (the aliases supervisord keeps included).
const std::vector<MethodEntry>& methods() {
  static const std::vector<MethodEntry> table = {
      {"supervisor.addProcessGroup", 1, 1,
       "Activate a process group of the configuration read last.\n\n"
       "@param string name         name of process group to add\n"
       "@return boolean result     true if successful\n",
       add_process_group},
      {"supervisor.clearAllProcessLogs", 0, 0,
       "Clear all process log files\n\n"
       "@return array result   An array of process status info structs\n",
       clear_all_process_logs},
      {"supervisor.clearLog", 0, 0,
       "Clear the main log.\n\n@return boolean result always returns True unless error\n",
       clear_main_log},
      {"supervisor.clearProcessLog", 1, 1, kClearProcessDoc, clear_process_logs},
      {"supervisor.clearProcessLogs", 1, 1, kClearProcessDoc, clear_process_logs},
      {"supervisor.getAPIVersion", 0, 0, kVersionDoc, get_api_version},
      {"supervisor.getAllConfigInfo", 0, 0,
       "Get info about all available process configurations. Each struct represents a single "
       "process (i.e. groups get flattened).\n\n"
       "@return array result  An array of process config info structs\n",
       get_all_config_info},
      {"supervisor.getAllProcessInfo", 0, 0,
       "Get info about all processes\n\n"
       "@return array result  An array of process status results\n",
       get_all_process_info},
      {"supervisor.getIdentification", 0, 0,
       "Return identifying string of supervisord\n\n"
       "@return string identifier identifying string\n",
       get_identification},
      {"supervisor.getPID", 0, 0, "Return the PID of supervisord\n\n@return int PID\n", get_pid},
      {"supervisor.getProcessInfo", 1, 1,
       "Get info about a process named name\n\n"
       "@param string name The name of the process (or 'group:name')\n"
       "@return struct result     A structure containing data about the process\n",
       get_process_info},
      {"supervisor.getState", 0, 0,
       "Return current state of supervisord as a struct\n\n"
       "@return struct A struct with keys int statecode, string statename\n",
       get_state},
      {"supervisor.getSupervisorVersion", 0, 0,
       "Return the version of podvisor, which answers in supervisord's place\n\n"
       "@return string version id\n",
       get_supervisor_version},
      {"supervisor.getVersion", 0, 0, kVersionDoc, get_api_version},
      {"supervisor.readLog", 2, 2, kReadMainDoc, read_main_log},
      {"supervisor.readMainLog", 2, 2, kReadMainDoc, read_main_log},
      {"supervisor.readProcessLog", 3, 3, kReadStdoutDoc, read_stdout},
      {"supervisor.readProcessStderrLog", 3, 3,
       "Read length bytes from name's stderr log starting at offset\n\n"
       "@param string name        the name of the process (or 'group:name')\n"
       "@param int offset         offset to start reading from.\n"
       "@param int length         number of bytes to read from the log.\n"
       "@return string result     Bytes of log\n",
       read_stderr},
      {"supervisor.readProcessStdoutLog", 3, 3, kReadStdoutDoc, read_stdout},
      {"supervisor.reloadConfig", 0, 0,
       "Reload the configuration: the names of the process groups added, changed and removed "
       "since the running configuration was read.\n\n"
       "@return array result  [[added, changed, removed]]\n",
       reload_config},
      {"supervisor.removeProcessGroup", 1, 1,
       "Remove a stopped process group from the active configuration.\n\n"
       "@param string name         name of process group to remove\n"
       "@return boolean result     Indicates whether the removal was successful\n",
       remove_process_group},
      {"supervisor.restart", 0, 0,
       "Restart the supervisor process\n\n"
       "@return boolean result  always return True unless error\n",
       restart},
      {"supervisor.sendProcessStdin", 2, 2,
       "Send a string of chars to the stdin of the process name.\n\n"
       "@param string name        The process name to send to (or 'group:name')\n"
       "@param string chars       The character data to send to the process\n"
       "@return boolean result    Always return True unless error\n",
       send_process_stdin},
      {"supervisor.sendRemoteCommEvent", 2, 2,
       "Send an event to event listener subprocesses (podvisor has none).\n\n"
       "@param  string  type  String for the \"type\" key in the event header\n"
       "@param  string  data  Data for the event body\n"
       "@return boolean       Always return True unless error\n",
       send_remote_comm_event},
      {"supervisor.shutdown", 0, 0,
       "Shut down the supervisor process\n\n"
       "@return boolean result always returns True unless error\n",
       shutdown},
      {"supervisor.signalAllProcesses", 1, 1,
       "Send a signal to all processes in the process list\n\n"
       "@param string signal  Signal to send, as name ('HUP') or number ('1')\n"
       "@return array         An array of process status info structs\n",
       signal_all_processes},
      {"supervisor.signalProcess", 2, 2,
       "Send an arbitrary UNIX signal to the process named by name\n\n"
       "@param string name    Name of the process to signal (or 'group:name')\n"
       "@param string signal  Signal to send, as name ('HUP') or number ('1')\n"
       "@return boolean\n",
       signal_process},
      {"supervisor.signalProcessGroup", 2, 2,
       "Send a signal to all processes in the group named 'name'\n\n"
       "@param string name    The group name\n"
       "@param string signal  Signal to send, as name ('HUP') or number ('1')\n"
       "@return array\n",
       signal_process_group},
      {"supervisor.startAllProcesses", 0, 1,
       "Start all processes listed in the configuration file\n\n"
       "@param boolean wait    Wait for each process to be fully started\n"
       "@return array result   An array of process status info structs\n",
       start_all_processes},
      {"supervisor.startProcess", 1, 2, kStartDoc, start_process},
      {"supervisor.startProcessGroup", 1, 2,
       "Start all processes in the group named 'name'\n\n"
       "@param string name     The group name\n"
       "@param boolean wait    Wait for each process to be fully started\n"
       "@return array result   An array of process status info structs\n",
       start_process_group},
      {"supervisor.stopAllProcesses", 0, 1,
       "Stop all processes in the process list\n\n"
       "@param  boolean wait   Wait for each process to be fully stopped\n"
       "@return array result   An array of process status info structs\n",
       stop_all_processes},
      {"supervisor.stopProcess", 1, 2,
       "Stop a process named by name\n\n"
       "@param string name  The name of the process to stop (or 'group:name')\n"
       "@param boolean wait        Wait for the process to be fully stopped\n"
       "@return boolean result     Always return True unless error\n",
       stop_process},
      {"supervisor.stopProcessGroup", 1, 2,
       "Stop all processes in the process group named 'name'\n\n"
       "@param string name     The group name\n"
       "@param boolean wait    Wait for each process to be fully stopped\n"
       "@return array result   An array of process status info structs\n",
       stop_process_group},
      {"supervisor.tailProcessLog", 3, 3, kTailStdoutDoc, tail_stdout},
      {"supervisor.tailProcessStderrLog", 3, 3,
       "Return up to length bytes from the end of name's stderr log, starting no earlier than "
       "offset; overflow is true when bytes were skipped. The offset returned is the log's "
       "size, where the next call starts.\n\n"
       "@param string name         the name of the process (or 'group:name')\n"
       "@param int offset          offset to start reading from\n"
       "@param int length          maximum number of bytes to return\n"
       "@return array result       [string bytes, int offset, bool overflow]\n",
       tail_stderr},
      {"supervisor.tailProcessStdoutLog", 3, 3, kTailStdoutDoc, tail_stdout},
      {"system.listMethods", 0, 0,
       "Return an array listing the available method names\n\n"
       "@return array result  An array of method names available (strings).\n",
       nullptr},
      {"system.methodHelp", 1, 1,
       "Return a string showing the method's documentation\n\n"
       "@param string name   The name of the method.\n"
       "@return string result The documentation for the method name.\n",
       nullptr},
      {"system.methodSignature", 1, 1,
       "Return an array describing the method signature in the form [rtype, ptype, ptype...] "
       "where rtype is the return data type of the method, and ptypes are the parameter data "
       "types that the method accepts in method argument order.\n\n"
       "@param string name  The name of the method.\n"
       "@return array result  The result.\n",
       nullptr},
      {"system.multicall", 1, 1,
       "Process an array of calls, and return an array of results. Calls should be structs of "
       "the form {'methodName': string, 'params': array}. Each result will either be a "
       "single-item array containing the result value, or a struct of the form {'faultCode': "
       "int, 'faultString': string}. This is useful when you need to make lots of small calls "
       "without lots of round trips.\n\n"
       "@param array calls  An array of call requests\n"
       "@return array result  An array of results\n",
       nullptr},
  };
  return table;
}

const MethodEntry* find_method(std::string_view name) {
  for (const auto& m : methods()) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

// gettags: the datatypes of the @return and @param lines, [rtype, ptypes...].
std::optional<Array> signature(std::string_view doc) {
  std::optional<std::string> rtype;
  Array ptypes;
  size_t pos = 0;
  while (pos <= doc.size()) {
    auto end = doc.find('\n', pos);
    if (end == std::string_view::npos) end = doc.size();
    const auto line = config::trim(doc.substr(pos, end - pos));
    pos = end + 1;
    if (!line.starts_with('@')) continue;
    std::vector<std::string> words;
    size_t i = 0;
    while (i < line.size() && words.size() < 2) {
      while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
      const auto start = i;
      while (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i]))) ++i;
      if (i > start) words.push_back(line.substr(start, i - start));
    }
    const std::string type = words.size() > 1 ? words[1] : "";
    if (words[0] == "@return") rtype = type;
    if (words[0] == "@param") ptypes.emplace_back(type);
  }
  if (!rtype) return std::nullopt;
  Array out{Value(*rtype)};
  for (auto& p : ptypes) out.push_back(std::move(p));
  return out;
}

}  // namespace

Rpc::Rpc(Backend& backend) : backend_(backend), self_(std::make_shared<Rpc*>(this)) {}

Rpc::~Rpc() = default;

std::vector<std::string> Rpc::method_names() {
  std::vector<std::string> out;
  for (const auto& m : methods()) out.emplace_back(m.name);
  std::sort(out.begin(), out.end());
  return out;
}

void Rpc::call(const xmlrpc::Call& call, Reply reply) {
  // Completions that arrive once we are gone are dropped with the reply.
  Reply guarded = [alive = std::weak_ptr<Rpc*>(self_), reply = std::move(reply)](RpcResult r) {
    if (alive.lock()) reply(std::move(r));
  };
  dispatch(call.method, call.params, std::move(guarded));
}

void Rpc::dispatch(const std::string& method, const Array& params, Reply reply) {
  // supervisord's traverse(): exactly "namespace.method", no private names.
  const auto dot = method.find('.');
  if (dot == std::string::npos || method.find('.', dot + 1) != std::string::npos ||
      method.compare(dot + 1, 1, "_") == 0) {
    return reply(make_fault(FaultCode::kUnknownMethod));
  }
  const auto* m = find_method(method);
  if (!m) return reply(make_fault(FaultCode::kUnknownMethod));
  if (params.size() < m->min_params || params.size() > m->max_params) {
    return reply(incorrect_parameters());
  }
  if (method == "system.multicall") return multicall(params, std::move(reply));
  if (method == "system.listMethods") {
    Array names;
    for (auto& n : method_names()) names.emplace_back(std::move(n));
    return reply(Value(std::move(names)));
  }
  if (method == "system.methodHelp" || method == "system.methodSignature") {
    const auto name = as_string(params[0]);
    const auto* target = name ? find_method(*name) : nullptr;
    if (!target) return reply(make_fault(FaultCode::kSignatureUnsupported));
    if (method == "system.methodHelp") return reply(Value(std::string(target->doc)));
    auto sig = signature(target->doc);
    if (!sig) return reply(make_fault(FaultCode::kSignatureUnsupported));
    return reply(Value(std::move(*sig)));
  }
  // supervisord refuses supervisor.* calls once it is shutting down or restarting
  // (sendRemoteCommEvent excepted: it never checks).
  if (method != "supervisor.sendRemoteCommEvent" &&
      static_cast<int>(backend_.state()) < static_cast<int>(SupervisorState::kRunning)) {
    return reply(make_fault(FaultCode::kShutdownState));
  }
  m->handler(backend_, params, reply);
}

// system.multicall: the calls one after the other. A call that answers later resumes the
// loop from its completion; calls that answer at once do not nest.
struct Rpc::MultiCall : std::enable_shared_from_this<Rpc::MultiCall> {
  Rpc* rpc = nullptr;
  std::weak_ptr<Rpc*> alive;
  Array calls;
  size_t next = 0;
  Array results;
  Reply reply;
  bool inside = false;    // in dispatch() of the current call
  bool answered = false;  // the current call has answered

  void resume() {
    while (next < calls.size()) {
      const auto& entry = calls[next++];
      const auto* call = std::get_if<Struct>(&entry.v);
      std::optional<Fault> refused;
      std::string name;
      Array args;
      if (!call) {
        refused = incorrect_parameters();
      } else if (auto it = call->find("methodName"); it == call->end()) {
        refused = make_fault(FaultCode::kIncorrectParameters, "No methodName");
      } else if (const auto* s = std::get_if<std::string>(&it->second.v); !s) {
        refused = incorrect_parameters();
      } else if (*s == "system.multicall") {
        refused =
            make_fault(FaultCode::kIncorrectParameters, "Recursive system.multicall forbidden");
      } else {
        name = *s;
        if (auto p = call->find("params"); p != call->end()) {
          if (const auto* a = std::get_if<Array>(&p->second.v)) {
            args = *a;
          } else {
            refused = incorrect_parameters();
          }
        }
      }
      if (refused) {
        results.push_back(fault_struct(*refused));
        continue;
      }
      inside = true;
      answered = false;
      rpc->dispatch(name, args, [self = shared_from_this()](RpcResult r) {
        if (auto* f = std::get_if<Fault>(&r)) {
          self->results.push_back(fault_struct(*f));
        } else {
          self->results.push_back(std::move(std::get<Value>(r)));
        }
        self->answered = true;
        if (!self->inside && self->alive.lock()) self->resume();
      });
      inside = false;
      if (!answered) return;  // resumed by the completion
    }
    if (auto r = std::exchange(reply, nullptr)) r(Value(std::move(results)));
  }
};

void Rpc::multicall(const Array& params, Reply reply) {
  const auto* calls = std::get_if<Array>(&params[0].v);
  if (!calls) return reply(incorrect_parameters());
  auto m = std::make_shared<MultiCall>();
  m->rpc = this;
  m->alive = self_;
  m->calls = *calls;
  m->reply = std::move(reply);
  m->resume();
}

}  // namespace podvisor::control
