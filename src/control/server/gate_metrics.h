// The request gates' part of /metrics (docs/gate.md): held and relayed connections, their
// fates, the bytes relayed and the time held, labelled {group,program} as the rest.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "control/server/backend.h"

namespace podvisor::control {

// `label` escapes a label value.
std::string render_gate_metrics(const std::vector<GateInfo>& gates,
                                std::string (*label)(std::string_view));

// The gate's counts in /api/v1's description of its program.
nlohmann::json gate_json(const GateInfo& gate);

}  // namespace podvisor::control
