// Parameter conversions, names and status structs shared by the XML-RPC method files.
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "config/values.h"
#include "control/server/rpc_methods.h"

namespace podvisor::control {

namespace rpc_methods {

// --- parameters, converted as the Python originals convert them

std::optional<std::string> as_string(const Value& v) {
  if (const auto* s = std::get_if<std::string>(&v.v)) return *s;
  return std::nullopt;
}

// int(x): ints, booleans, doubles (truncated) and decimal strings.
std::optional<int64_t> as_int(const Value& v) {
  if (const auto* i = std::get_if<int64_t>(&v.v)) return *i;
  if (const auto* b = std::get_if<bool>(&v.v)) return *b ? 1 : 0;
  if (const auto* d = std::get_if<double>(&v.v)) {
    if (!std::isfinite(*d) || std::fabs(*d) > 9e18) return std::nullopt;
    return static_cast<int64_t>(*d);
  }
  if (const auto* s = std::get_if<std::string>(&v.v)) {
    const auto t = config::trim(*s);
    std::string_view digits = t;
    if (!digits.empty() && digits[0] == '+') digits.remove_prefix(1);
    int64_t out = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), out);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size()) {
      return std::nullopt;
    }
    return out;
  }
  return std::nullopt;
}

// Python truthiness, for `wait`.
bool truthy(const Value& v) {
  return std::visit(
      [](const auto& x) -> bool {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, xmlrpc::Nil>) {
          return false;
        } else if constexpr (std::is_same_v<T, bool>) {
          return x;
        } else if constexpr (std::is_same_v<T, int64_t> || std::is_same_v<T, double>) {
          return x != 0;
        } else {
          return !x.empty();
        }
      },
      v.v);
}

// str(x) for the few faults that quote a parameter.
std::string python_str(const Value& v) {
  if (const auto* s = std::get_if<std::string>(&v.v)) return *s;
  if (const auto* i = std::get_if<int64_t>(&v.v)) return std::to_string(*i);
  if (const auto* b = std::get_if<bool>(&v.v)) return *b ? "True" : "False";
  if (const auto* d = std::get_if<double>(&v.v)) return fmt::format("{}", *d);
  if (std::holds_alternative<xmlrpc::Nil>(v.v)) return "None";
  return "?";
}

Fault incorrect_parameters() { return make_fault(FaultCode::kIncorrectParameters); }

bool wait_param(const Array& p, size_t index) { return p.size() <= index || truthy(p[index]); }

// --- names: split_namespec and _getGroupAndProcess

std::vector<ProcessInfo> group_members(const std::vector<ProcessInfo>& all,
                                       const std::string& group) {
  std::vector<ProcessInfo> out;
  for (const auto& p : all) {
    if (p.group == group) out.push_back(p);
  }
  return out;
}

// The fault for a backend outcome on the process the client named `spelled`.
std::optional<Fault> outcome_fault(const Outcome& o, const std::string& spelled) {
  if (o.ok()) return std::nullopt;
  switch (o.code) {
    case FaultCode::kNoFile:
    case FaultCode::kNotExecutable:
    case FaultCode::kFailed:
      return make_fault(o.code, o.detail.empty() ? spelled : o.detail);
    default:
      return make_fault(o.code, spelled);
  }
}

Value fault_struct(const Fault& f) {
  return Struct{{"faultCode", Value(f.code)}, {"faultString", Value(f.message)}};
}

// One entry of the arrays that group operations return.
Value status_struct(const ProcessInfo& p, const std::optional<Fault>& fault) {
  return Struct{
      {"name", Value(p.name)},
      {"group", Value(p.group)},
      {"status", Value(fault ? fault->code : static_cast<int>(FaultCode::kSuccess))},
      {"description", Value(fault ? fault->message : std::string("OK"))},
  };
}

// The process a name denotes, for the methods that refuse "group:*".
std::variant<ProcessInfo, Fault> find_process(Backend& b, const std::string& name) {
  auto target = find_target(b.processes(), name);
  if (auto* f = std::get_if<Fault>(&target)) return *f;
  auto& t = std::get<Target>(target);
  if (!t.process) return make_fault(FaultCode::kBadName, name);
  return std::move(*t.process);
}

}  // namespace rpc_methods

using xmlrpc::Fault;

std::variant<Target, Fault> find_target(const std::vector<ProcessInfo>& all,
                                        const std::string& namespec) {
  std::string group = namespec;
  std::optional<std::string> name = namespec;
  if (const auto colon = namespec.find(':'); colon != std::string::npos) {
    group = namespec.substr(0, colon);
    name = namespec.substr(colon + 1);
    if (name->empty() || *name == "*") name.reset();
  }
  const bool group_exists =
      std::any_of(all.begin(), all.end(), [&](const ProcessInfo& p) { return p.group == group; });
  if (!group_exists) return make_fault(FaultCode::kBadName, namespec);
  Target t{group, std::nullopt};
  if (!name) return t;
  for (const auto& p : all) {
    if (p.group == group && p.name == *name) {
      t.process = p;
      return t;
    }
  }
  return make_fault(FaultCode::kBadName, namespec);
}

}  // namespace podvisor::control
