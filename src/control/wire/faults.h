// supervisord's fault codes and their names, and its namespec rule: what the control server
// answers and what the ctl client reads, in one place.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "control/wire/xmlrpc.h"

namespace podvisor::control {

// supervisord's fault codes (xmlrpc.py Faults); kSuccess is also the status of a good result
// in the arrays that group operations return.
enum class FaultCode : int {
  kUnknownMethod = 1,
  kIncorrectParameters = 2,
  kBadArguments = 3,
  kSignatureUnsupported = 4,
  kShutdownState = 6,
  kBadName = 10,
  kBadSignal = 11,
  kNoFile = 20,
  kNotExecutable = 21,
  kFailed = 30,
  kAbnormalTermination = 40,
  kSpawnError = 50,
  kAlreadyStarted = 60,
  kNotRunning = 70,
  kSuccess = 80,
  kAlreadyAdded = 90,
  kStillRunning = 91,
  kCantReread = 92,
};
// "BAD_NAME", as supervisord's getFaultDescription names a code ("UNKNOWN" for others).
std::string_view fault_name(FaultCode code);
// supervisord's RPCError text: "NAME" without extra, "NAME: extra" with it.
xmlrpc::Fault make_fault(FaultCode code, std::optional<std::string_view> extra = std::nullopt);

// supervisord's names: "name" when group and process are named alike, else "group:name".
std::string make_namespec(std::string_view group, std::string_view name);

}  // namespace podvisor::control
