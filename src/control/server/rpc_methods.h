// What the XML-RPC method files share: parameter conversions as supervisord's Python does them,
// the status structs of group operations, and each method's handler for rpc.cc's table.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "control/server/backend.h"
#include "control/server/rpc.h"

namespace podvisor::control::rpc_methods {

using xmlrpc::Array;
using xmlrpc::Fault;
using xmlrpc::Struct;
using xmlrpc::Value;
using Reply = Rpc::Reply;

inline Value ok_result(bool b = true) { return Value(b); }

// --- parameters, converted as the Python originals convert them
std::optional<std::string> as_string(const Value& v);
// int(x): ints, booleans, doubles (truncated) and decimal strings.
std::optional<int64_t> as_int(const Value& v);
// Python truthiness, for `wait`.
bool truthy(const Value& v);
// str(x) for the few faults that quote a parameter.
std::string python_str(const Value& v);
Fault incorrect_parameters();
bool wait_param(const Array& p, size_t index);

// --- names and results
std::vector<ProcessInfo> group_members(const std::vector<ProcessInfo>& all,
                                       const std::string& group);
// The fault for a backend outcome on the process the client named `spelled`.
std::optional<Fault> outcome_fault(const Outcome& o, const std::string& spelled);
Value fault_struct(const Fault& f);
// One entry of the arrays that group operations return.
Value status_struct(const ProcessInfo& p, const std::optional<Fault>& fault);
// The process a name denotes, for the methods that refuse "group:*".
std::variant<ProcessInfo, Fault> find_process(Backend& b, const std::string& name);

// --- handlers (rpc_process.cc)
void get_api_version(Backend&, const Array&, Reply& reply);
void get_supervisor_version(Backend&, const Array&, Reply& reply);
void get_identification(Backend& b, const Array&, Reply& reply);
void get_state(Backend& b, const Array&, Reply& reply);
void get_pid(Backend& b, const Array&, Reply& reply);
void shutdown(Backend& b, const Array&, Reply& reply);
void restart(Backend& b, const Array&, Reply& reply);
void reload_config(Backend& b, const Array&, Reply& reply);
void add_process_group(Backend& b, const Array& p, Reply& reply);
void remove_process_group(Backend& b, const Array& p, Reply& reply);
void start_process(Backend& b, const Array& p, Reply& reply);
void start_process_group(Backend& b, const Array& p, Reply& reply);
void start_all_processes(Backend& b, const Array& p, Reply& reply);
void stop_process(Backend& b, const Array& p, Reply& reply);
void stop_process_group(Backend& b, const Array& p, Reply& reply);
void stop_all_processes(Backend& b, const Array& p, Reply& reply);
void signal_process(Backend& b, const Array& p, Reply& reply);
void signal_process_group(Backend& b, const Array& p, Reply& reply);
void signal_all_processes(Backend& b, const Array& p, Reply& reply);
void get_process_info(Backend& b, const Array& p, Reply& reply);
void get_all_process_info(Backend& b, const Array&, Reply& reply);
void send_process_stdin(Backend& b, const Array& p, Reply& reply);
void send_remote_comm_event(Backend&, const Array&, Reply& reply);

// --- handlers (rpc_logs.cc)
void read_main_log(Backend& b, const Array& p, Reply& reply);
void clear_main_log(Backend& b, const Array&, Reply& reply);
void read_stdout(Backend& b, const Array& p, Reply& r);
void read_stderr(Backend& b, const Array& p, Reply& r);
void tail_stdout(Backend& b, const Array& p, Reply& r);
void tail_stderr(Backend& b, const Array& p, Reply& r);
void clear_process_logs(Backend& b, const Array& p, Reply& reply);
void clear_all_process_logs(Backend& b, const Array&, Reply& reply);

// --- handlers (rpc_config.cc)
void get_all_config_info(Backend& b, const Array&, Reply& reply);

}  // namespace podvisor::control::rpc_methods
