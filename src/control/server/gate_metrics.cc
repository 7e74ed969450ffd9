#include "control/server/gate_metrics.h"

#include <fmt/format.h>

#include <functional>

namespace podvisor::control {
nlohmann::json gate_json(const GateInfo& g) {
  auto refused = nlohmann::json::object();
  for (const auto& [reason, n] : g.refused) refused[reason] = n;
  return {{"held", g.held},
          {"active", g.active},
          {"accepted", g.accepted},
          {"forwarded", g.forwarded},
          {"refused", refused},
          {"health_requests", g.health_requests},
          {"bytes_to_upstream", g.bytes_to_upstream},
          {"bytes_to_client", g.bytes_to_client}};
}

std::string render_gate_metrics(const std::vector<GateInfo>& gates,
                                std::string (*label)(std::string_view)) {
  if (gates.empty()) return {};
  std::string out;
  auto labels = [label](const GateInfo& g) {
    return fmt::format("group=\"{}\",program=\"{}\"", label(g.group), label(g.name));
  };
  // One family: its HELP and TYPE, then a line per gate with `value`.
  auto family = [&](std::string_view name, std::string_view type, std::string_view help,
                    const std::function<uint64_t(const GateInfo&)>& value) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    for (const auto& g : gates) out += fmt::format("{}{{{}}} {}\n", name, labels(g), value(g));
  };
  family("podvisor_gate_held_connections", "gauge",
         "Connections held now, waiting for the program to be ready.",
         [](const GateInfo& g) { return g.held; });
  family("podvisor_gate_active_connections", "gauge", "Connections relayed now.",
         [](const GateInfo& g) { return g.active; });
  family("podvisor_gate_accepted_total", "counter", "Connections the gate accepted.",
         [](const GateInfo& g) { return g.accepted; });
  family("podvisor_gate_forwarded_total", "counter",
         "Connections joined to the program's upstream.",
         [](const GateInfo& g) { return g.forwarded; });
  family("podvisor_gate_health_requests_total", "counter",
         "Health requests podvisor answered on the gate (its preset's paths).",
         [](const GateInfo& g) { return g.health_requests; });
  out +=
      "# HELP podvisor_gate_refused_total Held connections refused: 503 for HTTP, a close "
      "otherwise.\n# TYPE podvisor_gate_refused_total counter\n";
  for (const auto& g : gates) {
    for (const auto& [reason, n] : g.refused) {
      out +=
          fmt::format("podvisor_gate_refused_total{{{},reason=\"{}\"}} {}\n", labels(g), reason, n);
    }
  }
  out +=
      "# HELP podvisor_gate_relayed_bytes_total Bytes relayed.\n"
      "# TYPE podvisor_gate_relayed_bytes_total counter\n";
  for (const auto& g : gates) {
    out += fmt::format("podvisor_gate_relayed_bytes_total{{{},direction=\"to_upstream\"}} {}\n",
                       labels(g), g.bytes_to_upstream);
    out += fmt::format("podvisor_gate_relayed_bytes_total{{{},direction=\"to_client\"}} {}\n",
                       labels(g), g.bytes_to_client);
  }
  out +=
      "# HELP podvisor_gate_held_seconds How long connections were held before they were "
      "released, refused or left.\n# TYPE podvisor_gate_held_seconds histogram\n";
  for (const auto& g : gates) {
    uint64_t cumulative = 0;
    for (const auto& [le, n] : g.held_buckets) {
      cumulative += n;
      out += fmt::format("podvisor_gate_held_seconds_bucket{{{},le=\"{}\"}} {}\n", labels(g), le,
                         cumulative);
    }
    out += fmt::format("podvisor_gate_held_seconds_bucket{{{},le=\"+Inf\"}} {}\n", labels(g),
                       g.held_count);
    out += fmt::format("podvisor_gate_held_seconds_sum{{{}}} {:.6f}\n", labels(g), g.held_seconds);
    out += fmt::format("podvisor_gate_held_seconds_count{{{}}} {}\n", labels(g), g.held_count);
  }
  return out;
}

}  // namespace podvisor::control
