// The commands on processes: status, pid, start, stop, signal, restart, clear.
#include <fmt/format.h>

#include <algorithm>

#include "core/process.h"
#include "ctl/controller.h"
#include "ctl/format.h"

namespace podvisor::ctl {
namespace {

using control::FaultCode;
using control::make_namespec;
using control::xmlrpc::Array;
using control::xmlrpc::Value;

bool names_all(const std::vector<std::string>& names) {
  return std::find(names.begin(), names.end(), "all") != names.end();
}

// How supervisorctl words each command's results (its _startresult, _signalresult, ...).
constexpr Expected kStartWords[] = {
    on_fault(FaultCode::kBadName, "{name}: ERROR (no such process)"),
    on_fault(FaultCode::kNoFile, "{name}: ERROR (no such file)"),
    on_fault(FaultCode::kNotExecutable, "{name}: ERROR (file is not executable)"),
    on_fault(FaultCode::kAlreadyStarted, "{name}: ERROR (already started)"),
    on_fault(FaultCode::kSpawnError, "{name}: ERROR (spawn error)"),
    on_fault(FaultCode::kAbnormalTermination, "{name}: ERROR (abnormal termination)"),
    on_fault(FaultCode::kSuccess, "{name}: {done}")};
// stop's and signal's: {done} is "stopped" or "signalled".
constexpr Expected kSignalWords[] = {
    on_fault(FaultCode::kBadName, "{name}: ERROR (no such process)"),
    on_fault(FaultCode::kBadSignal, "{name}: ERROR (bad signal name)"),
    on_fault(FaultCode::kNotRunning, "{name}: ERROR (not running)"),
    on_fault(FaultCode::kSuccess, "{name}: {done}"), on_fault(FaultCode::kFailed, "{text}")};
constexpr Expected kClearWords[] = {
    on_fault(FaultCode::kBadName, "{name}: ERROR (no such process)"),
    on_fault(FaultCode::kFailed, "{name}: ERROR (failed)"),
    on_fault(FaultCode::kSuccess, "{name}: {done}")};

std::string result_line(ExpectedList words, const Value& result, std::string_view done) {
  // make_namespec(group, None) gives "group:None", as supervisorctl prints it.
  return result_line(words, static_cast<int>(number(field(result, "status"))),
                     make_namespec(text(field(result, "group")), text(field(result, "name"))),
                     text(field(result, "description")), done);
}

}  // namespace

void Controller::act_on(const ProcessCommand& command, const std::vector<std::string>& names,
                        const Array& extra) {
  auto with = [&](Value first) {
    Array params{std::move(first)};
    params.insert(params.end(), extra.begin(), extra.end());
    return params;
  };
  auto show = [&](const Value& results) {
    for (const auto& r : as_array(results)) {
      output(result_line(command.words, r, command.done));
      set_exitstatus_from_fault(static_cast<int>(number(field(r, "status"))), command.ignored);
    }
  };
  if (names_all(names)) return show(call(std::string(command.all), extra));
  for (const auto& name : names) {
    const auto [group_name, process_name] = split_namespec(name);
    if (!process_name && !command.group.empty()) {
      const Expected unknown[] = {
          on_fault(FaultCode::kBadName, "{name}: ERROR (no such group)", command.no_such_group)};
      const auto results =
          call_expecting(unknown, group_name, std::string(command.group), with(Value(group_name)));
      if (results) show(*results);
      continue;
    }
    const auto namespec = make_namespec(group_name, process_name.value_or("None"));
    try {
      call(std::string(command.one), with(Value(name)));
      output(result_line(command.words, static_cast<int>(FaultCode::kSuccess), namespec, "",
                         command.done));
    } catch (const control::RpcFault& e) {
      output(result_line(command.words, e.fault.code, namespec, e.fault.message, command.done));
      set_exitstatus_from_fault(e.fault.code, command.ignored);
    }
  }
}

void Controller::show_statuses(const Array& infos) {
  std::vector<std::string> namespecs;
  size_t maxlen = 30;
  for (const auto& info : infos) {
    namespecs.push_back(make_namespec(text(field(info, "group")), text(field(info, "name"))));
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
  if (names.empty() || names_all(names)) {
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
    if (core::is_stopped_state(static_cast<core::State>(number(field(info, "state"))))) {
      exitstatus = kStatusNotRunning;
    }
  }
}

void Controller::do_pid(const std::string& arg) {
  http();  // supervisorctl makes its proxy (and fails on a bad URL) before the upcheck
  if (!upcheck()) return;
  const auto names = split(arg);
  if (names.empty()) {
    output(text(call("supervisor.getPID")));
  } else if (names_all(names)) {
    const auto all = call("supervisor.getAllProcessInfo");
    for (const auto& info : as_array(all)) output(text(field(info, "pid")));
  } else {
    static constexpr Expected kUnknown[] = {
        on_fault(FaultCode::kBadName, "No such process {name}", kGeneric)};
    for (const auto& name : names) {
      const auto info = call_expecting(kUnknown, name, "supervisor.getProcessInfo", {Value(name)});
      if (!info) continue;
      const auto pid = number(field(*info, "pid"));
      output(std::to_string(pid));
      if (pid == 0) exitstatus = kNotRunning;
    }
  }
}

void Controller::do_start(const std::string& arg) {
  if (!upcheck()) return;
  const auto names = split(arg);
  if (names.empty()) return refuse("Error: start requires a process name", "start", kInvalidArgs);
  act_on({"supervisor.startAllProcesses", "supervisor.startProcessGroup", "supervisor.startProcess",
          kStartWords, "started", FaultCode::kAlreadyStarted, kInvalidArgs},
         names);
}

void Controller::do_stop(const std::string& arg) {
  if (!upcheck()) return;
  const auto names = split(arg);
  if (names.empty()) return refuse("Error: stop requires a process name", "stop");
  act_on({"supervisor.stopAllProcesses", "supervisor.stopProcessGroup", "supervisor.stopProcess",
          kSignalWords, "stopped", FaultCode::kNotRunning},
         names);
}

void Controller::do_signal(const std::string& arg) {
  if (!upcheck()) return;
  const auto args = split(arg);
  if (args.size() < 2) {
    return refuse("Error: signal requires a signal name and a process name", "signal");
  }
  act_on({"supervisor.signalAllProcesses", "supervisor.signalProcessGroup",
          "supervisor.signalProcess", kSignalWords, "signalled", std::nullopt},
         std::vector<std::string>(args.begin() + 1, args.end()), {Value(args[0])});
}

void Controller::do_restart(const std::string& arg) {
  if (!upcheck()) return;
  if (split(arg).empty()) return refuse("Error: restart requires a process name", "restart");
  do_stop(arg);
  do_start(arg);
}

void Controller::do_clear(const std::string& arg) {
  if (!upcheck()) return;
  const auto names = split(arg);
  if (names.empty()) return refuse("Error: clear requires a process name", "clear");
  act_on({"supervisor.clearAllProcessLogs", "", "supervisor.clearProcessLogs", kClearWords,
          "cleared", std::nullopt},
         names);
}

}  // namespace podvisor::ctl
