#include "control/wire/faults.h"

#include <fmt/format.h>

namespace podvisor::control {

using xmlrpc::Fault;

std::string_view fault_name(FaultCode code) {
  switch (code) {
    case FaultCode::kUnknownMethod:
      return "UNKNOWN_METHOD";
    case FaultCode::kIncorrectParameters:
      return "INCORRECT_PARAMETERS";
    case FaultCode::kBadArguments:
      return "BAD_ARGUMENTS";
    case FaultCode::kSignatureUnsupported:
      return "SIGNATURE_UNSUPPORTED";
    case FaultCode::kShutdownState:
      return "SHUTDOWN_STATE";
    case FaultCode::kBadName:
      return "BAD_NAME";
    case FaultCode::kBadSignal:
      return "BAD_SIGNAL";
    case FaultCode::kNoFile:
      return "NO_FILE";
    case FaultCode::kNotExecutable:
      return "NOT_EXECUTABLE";
    case FaultCode::kFailed:
      return "FAILED";
    case FaultCode::kAbnormalTermination:
      return "ABNORMAL_TERMINATION";
    case FaultCode::kSpawnError:
      return "SPAWN_ERROR";
    case FaultCode::kAlreadyStarted:
      return "ALREADY_STARTED";
    case FaultCode::kNotRunning:
      return "NOT_RUNNING";
    case FaultCode::kSuccess:
      return "SUCCESS";
    case FaultCode::kAlreadyAdded:
      return "ALREADY_ADDED";
    case FaultCode::kStillRunning:
      return "STILL_RUNNING";
    case FaultCode::kCantReread:
      return "CANT_REREAD";
  }
  return "UNKNOWN";
}

Fault make_fault(FaultCode code, std::optional<std::string_view> extra) {
  Fault f;
  f.code = static_cast<int>(code);
  f.message =
      extra ? fmt::format("{}: {}", fault_name(code), *extra) : std::string(fault_name(code));
  return f;
}

std::string make_namespec(std::string_view group, std::string_view name) {
  if (group == name) return std::string(name);
  return fmt::format("{}:{}", group, name);
}

}  // namespace podvisor::control
