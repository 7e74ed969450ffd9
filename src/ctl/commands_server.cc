// The commands on the server and its configuration: shutdown, reload, avail, reread, add,
// remove, update, open, version, health.
#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <iostream>
#include <map>
#include <set>

#include "ctl/controller.h"
#include "ctl/format.h"

namespace podvisor::ctl {
namespace {

using control::FaultCode;
using control::xmlrpc::Array;
using control::xmlrpc::Value;

// reloadConfig's answer: [[added, changed, removed]], each a list of group names.
std::vector<std::string> names_at(const Value& reloaded, size_t k) {
  const auto& changes = as_array(as_array(reloaded).at(0));
  std::vector<std::string> out;
  if (k < changes.size()) {
    for (const auto& n : as_array(changes[k])) out.push_back(text(n));
  }
  return out;
}

}  // namespace

bool Controller::confirm(std::string_view question) {
  if (!o_.interactive) return true;
  const auto answer = raw_input(question);
  return answer && (answer->starts_with('y') || answer->starts_with('Y'));
}

void Controller::do_shutdown(const std::string& arg) {
  if (!no_arguments(arg, "shutdown")) return;
  if (!confirm("Really shut the remote supervisord process down y/N? ")) return;
  static constexpr Expected kAnswers[] = {
      on_fault(FaultCode::kShutdownState, "ERROR: already shutting down"),
      on_connect(ECONNREFUSED, "ERROR: {url} refused connection (already shut down?)", kGeneric),
      on_connect(ENOENT, "ERROR: {url} no such file (already shut down?)", kGeneric)};
  if (call_expecting(kAnswers, "", "supervisor.shutdown")) output("Shut down");
}

void Controller::do_reload(const std::string& arg) {
  if (!no_arguments(arg, "reload")) return;
  if (!confirm("Really restart the remote supervisord process y/N? ")) return;
  static constexpr Expected kAnswers[] = {
      on_fault(FaultCode::kShutdownState, "ERROR: already shutting down", kGeneric)};
  if (call_expecting(kAnswers, "", "supervisor.restart")) output("Restarted supervisord");
}

void Controller::do_avail(const std::string& arg) {
  if (!no_arguments(arg, "avail")) return;
  static constexpr Expected kAnswers[] = {
      on_fault(FaultCode::kShutdownState, "ERROR: supervisor shutting down", kGeneric)};
  const auto configinfo = call_expecting(kAnswers, "", "supervisor.getAllConfigInfo");
  if (!configinfo) return;
  for (const auto& c : as_array(*configinfo)) {
    const auto name = control::make_namespec(text(field(c, "group")), text(field(c, "name")));
    output(fmt::format("{} {} {} {}:{}", ljust(name, 32),
                       ljust(truth(field(c, "inuse")) ? "in use" : "avail", 9),
                       ljust(truth(field(c, "autostart")) ? "auto" : "manual", 9),
                       text(field(c, "group_prio")), text(field(c, "process_prio"))));
  }
}

void Controller::do_reread(const std::string& arg) {
  if (!no_arguments(arg, "reread")) return;
  static constexpr Expected kAnswers[] = {
      on_fault(FaultCode::kShutdownState, "ERROR: supervisor shutting down", kGeneric),
      on_fault(FaultCode::kCantReread, "ERROR: {text}", kGeneric)};
  const auto result = call_expecting(kAnswers, "", "supervisor.reloadConfig");
  if (!result) return;
  std::map<std::string, std::string> changed;  // sorted by name, as supervisorctl prints
  const char* kinds[] = {"available", "changed", "disappeared"};
  for (size_t k = 0; k < 3; ++k) {
    for (const auto& name : names_at(*result, k)) changed[name] = kinds[k];
  }
  if (changed.empty()) {
    output("No config updates to processes");
    return;
  }
  for (const auto& [name, kind] : changed) output(fmt::format("{}: {}", name, kind));
}

void Controller::on_each_group(const std::string& arg, const std::string& method,
                               ExpectedList answers, std::string_view done) {
  for (const auto& name : split(arg)) {
    if (call_expecting(answers, name, method, {Value(name)})) {
      output(fmt::format("{}: {}", name, done));
    }
  }
}

void Controller::do_add(const std::string& arg) {
  static constexpr Expected kAnswers[] = {
      on_fault(FaultCode::kShutdownState, "ERROR: shutting down", kGeneric),
      on_fault(FaultCode::kAlreadyAdded, "ERROR: process group already active"),
      on_fault(FaultCode::kBadName, "ERROR: no such process/group: {name}", kGeneric)};
  on_each_group(arg, "supervisor.addProcessGroup", kAnswers, "added process group");
}

void Controller::do_remove(const std::string& arg) {
  static constexpr Expected kAnswers[] = {
      on_fault(FaultCode::kStillRunning, "ERROR: process/group still running: {name}", kGeneric),
      on_fault(FaultCode::kBadName, "ERROR: no such process/group: {name}", kGeneric)};
  on_each_group(arg, "supervisor.removeProcessGroup", kAnswers, "removed process group");
}

void Controller::do_update(const std::string& arg) {
  static constexpr Expected kAnswers[] = {
      on_fault(FaultCode::kShutdownState, "ERROR: already shutting down", kGeneric)};
  const auto result = call_expecting(kAnswers, "", "supervisor.reloadConfig");
  if (!result) return;
  const auto added = names_at(*result, 0);
  const auto changed = names_at(*result, 1);
  const auto removed = names_at(*result, 2);
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
  // One group call, then what it did (when it says something).
  auto act = [&](const char* method, const std::string& gname, std::string_view done) {
    auto results = call(method, {Value(gname)});
    if (!done.empty()) output(fmt::format("{}: {}", gname, done));
    return results;
  };
  for (const auto& gname : removed) {
    if (!wanted(gname)) continue;
    const auto results = act("supervisor.stopProcessGroup", gname, "stopped");
    const auto& list = as_array(results);
    const bool fails = std::any_of(list.begin(), list.end(), [](const Value& r) {
      return number(field(r, "status")) == static_cast<int>(FaultCode::kFailed);
    });
    if (fails) {
      output(fmt::format("{}: has problems; not removing", gname));
      exitstatus = kGeneric;
      continue;
    }
    act("supervisor.removeProcessGroup", gname, "removed process group");
  }
  for (const auto& gname : changed) {
    if (!wanted(gname)) continue;
    act("supervisor.stopProcessGroup", gname, "stopped");
    act("supervisor.removeProcessGroup", gname, "");
    act("supervisor.addProcessGroup", gname, "updated process group");
  }
  for (const auto& gname : added) {
    if (wanted(gname)) act("supervisor.addProcessGroup", gname, "added process group");
  }
}

void Controller::do_open(const std::string& arg) {
  const auto url = strip(arg);
  const auto colon = url.find(':');
  const auto scheme = colon == std::string::npos ? "" : url.substr(0, colon);
  if (scheme != "unix" && scheme != "http") return refuse("ERROR: url must be http:// or unix://");
  o_.serverurl = url;
  const int old = exitstatus;
  do_status("");
  exitstatus = old;
}

void Controller::do_version(const std::string& arg) {
  if (!no_arguments(arg, "version")) return;
  if (!upcheck()) return;
  output(text(call("supervisor.getSupervisorVersion")));
}

void Controller::do_health(const std::string& arg) {
  if (!no_arguments(arg, "health")) return;
  static constexpr Expected kAnswers[] = {
      on_connect(ECONNREFUSED, "{url} refused connection", kGeneric),
      on_connect(ENOENT, "{url} no such file", kGeneric)};
  control::HttpResponse response;
  if (!expecting(kAnswers, "", [&] { response = http().request("GET", "/health"); })) return;
  if (response.status == 401) return refuse("Server requires authentication");
  std::cout << response.body;
  if (!response.body.empty() && response.body.back() != '\n') std::cout << '\n';
  if (response.body.empty()) std::cout << response.status << ' ' << response.reason << '\n';
  std::cout.flush();
  exitstatus = response.status == 200 ? kSuccess : kGeneric;
}

}  // namespace podvisor::ctl
