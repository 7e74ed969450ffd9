#include "runtime/gates.h"

#include <fmt/format.h>

#include <system_error>

#include "os/address.h"

namespace podvisor::runtime {

using config::LogLevel;

bool GateTable::open(const config::SupervisorSpec& spec) {
  for (const auto& p : spec.programs) {
    if (p.gate.empty() || p.gate_upstream.empty()) continue;
    const auto listen = os::parse_endpoint(p.gate);
    const auto upstream = os::parse_endpoint(p.gate_upstream);
    if (!listen || !upstream) continue;  // the loader has refused these already
    auto g = std::make_unique<gate::Gate>(io_, *listen, *upstream);
    try {
      g->open();
    } catch (const std::system_error& e) {
      log_.log(LogLevel::kCritical,
               fmt::format("cannot open the gate of {} on {}: {}", p.name, p.gate, e.what()));
      return false;
    }
    log_.log(LogLevel::kInfo,
             fmt::format("gate of {} listening on {}, to {}", p.name, p.gate, p.gate_upstream));
    gates_[p.name] = std::move(g);
  }
  return true;
}

void GateTable::state_changed(const core::Process& p) {
  const auto it = gates_.find(p.name());
  if (it == gates_.end()) return;
  // RUNNING is ready: with a ready= probe a program reaches it only once the probe passed.
  const bool up = p.state() == core::State::kRunning;
  if (up == it->second->up()) return;
  const auto released = it->second->set_up(up);
  if (released.count > 0) {
    log_.log(LogLevel::kInfo, fmt::format("released {} held connection(s) to {} after {:.1f} s",
                                          released.count, p.name(), released.since_first.count()));
  }
}

void GateTable::close() {
  for (auto& [name, g] : gates_) g->close();
}

}  // namespace podvisor::runtime
