// supervisord's XML-RPC interface (the supervisor.* and system.* namespaces) over a Backend:
// the same methods, structs, fault codes and fault strings as supervisord 4.2.5, so that the
// real supervisorctl and scripts written for supervisord work unchanged.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "control/server/backend.h"
#include "control/wire/faults.h"
#include "control/wire/xmlrpc.h"

namespace podvisor::control {

using RpcResult = std::variant<xmlrpc::Value, xmlrpc::Fault>;

class Rpc {
 public:
  using Reply = std::function<void(RpcResult)>;

  // The backend must outlive this object; completions that arrive after it is destroyed are
  // dropped (their replies never come).
  explicit Rpc(Backend& backend);
  ~Rpc();
  Rpc(const Rpc&) = delete;
  Rpc& operator=(const Rpc&) = delete;

  // Runs one call. `reply` is called exactly once: before call() returns, or later on the
  // backend's loop for methods that wait (startProcess with wait, stopProcess, multicall, ...).
  void call(const xmlrpc::Call& call, Reply reply);

  // Every published method name, sorted (system.listMethods).
  static std::vector<std::string> method_names();

 private:
  struct MultiCall;
  void dispatch(const std::string& method, const xmlrpc::Array& params, Reply reply);
  void multicall(const xmlrpc::Array& params, Reply reply);

  Backend& backend_;
  std::shared_ptr<Rpc*> self_;  // weak copies tell late completions whether we still exist
};

// supervisord's readFile over a log: `length` bytes from `offset`; a negative offset counts
// from the end (length must then be 0), length 0 reads to the end. BAD_ARGUMENTS for a
// negative length or a negative offset with a length, FAILED when the file cannot be read.
std::variant<std::string, xmlrpc::Fault> read_log(const LogSource& log, int64_t offset,
                                                  int64_t length);

// supervisord's tailFile: at most `length` bytes ending at the log's end, starting no
// earlier than `offset`; `overflow` when bytes past offset+length were skipped. `offset` in
// the result is the log's size (where the next tail starts).
struct Tail {
  std::string bytes;
  int64_t offset = 0;
  bool overflow = false;
};
Tail tail_log(const LogSource& log, int64_t offset, int64_t length);

// getProcessInfo's `description`: "pid 42, uptime 0:01:40", the stop time ("Nov 25 07:32 PM",
// local time), "Not started", the spawn error, or podvisor's note for a program not up yet.
std::string describe(const ProcessInfo& info, int64_t now);

// What a namespec names, as supervisord's split_namespec and _getGroupAndProcess read it:
// "name" is group name, process name; "group:name" one process; "group:*" or "group:" the
// whole group (no process). BAD_NAME when the group or the process does not exist.
struct Target {
  std::string group;
  std::optional<ProcessInfo> process;  // none: "group:" or "group:*"
};
std::variant<Target, xmlrpc::Fault> find_target(const std::vector<ProcessInfo>& all,
                                                const std::string& namespec);

}  // namespace podvisor::control
