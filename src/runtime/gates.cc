#include "runtime/gates.h"

#include <fmt/format.h>
#include <sys/resource.h>

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/system/system_error.hpp>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "config/gate_keys.h"
#include "os/address.h"

namespace podvisor::runtime {
namespace {

using config::LogLevel;

// Each held connection takes a descriptor, each relayed one two: the soft limit goes up to
// the hard one. Returns the soft limit in effect.
rlim_t raise_descriptor_limit(output::Logger& log) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 1024;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) return raised.rlim_cur;
    log.log(LogLevel::kWarn, fmt::format("cannot raise the descriptor limit for the gates: {}",
                                         std::strerror(errno)));
  }
  return limit.rlim_cur;
}

gate::Program program_of(core::State s) {
  switch (s) {
    case core::State::kRunning:
      return gate::Program::kRunning;
    case core::State::kStopping:
      return gate::Program::kStopping;
    case core::State::kStopped:
    case core::State::kExited:
      return gate::Program::kStopped;
    case core::State::kFatal:
      return gate::Program::kFatal;
    default:
      return gate::Program::kStarting;
  }
}

}  // namespace

bool GateTable::open(const config::SupervisorSpec& spec) {
  hold_on_fatal_ = spec.hold_on_fatal;
  rlim_t descriptors = 0;
  for (const auto& p : spec.programs) {
    if (p.gate.empty() || p.gate_upstream.empty()) continue;
    const auto listen = os::parse_endpoint(p.gate);
    const bool unix_socket = p.gate_upstream.starts_with("unix:");
    const auto upstream = os::parse_endpoint(p.gate_upstream);
    if (!listen || (!upstream && !unix_socket)) continue;  // the loader refused these already
    if (descriptors == 0) descriptors = raise_descriptor_limit(log_);
    gate::Options o;
    o.listen = *listen;
    if (unix_socket) {
      o.upstream = boost::asio::local::stream_protocol::endpoint(p.gate_upstream.substr(5));
    } else {
      o.upstream = *upstream;
    }
    o.health = gate::parse_health(p.gate_health).value_or(gate::Health::kNone);
    if (p.gate_health_port) o.health_listen.emplace(listen->address(), p.gate_health_port);
    o.hold_timeout = config::gate_hold_timeout(p);
    o.abort_on_close = p.gate_abort_on_close;
    // Half the descriptors at most, the other half for relaying and podvisor itself.
    o.max_held = p.gate_max_held ? static_cast<size_t>(p.gate_max_held)
                                 : std::min<size_t>(10000, descriptors / 2);
    auto g = std::make_unique<gate::Gate>(io_, o);
    try {
      g->open();
    } catch (const boost::system::system_error& e) {
      log_.log(LogLevel::kCritical,
               fmt::format("cannot open the gate of {} on {}: {}", p.name, p.gate, e.what()));
      return false;
    }
    log_.log(LogLevel::kInfo,
             fmt::format("gate of {} listening on {}, to {}{}", p.name, p.gate, p.gate_upstream,
                         p.gate_health.empty() ? "" : fmt::format(" ({} health)", p.gate_health)));
    gates_[p.name] = Entry{std::move(g), p.group, p.stopwaitsecs};
  }
  return true;
}

void GateTable::state_changed(const core::Process& p) {
  const auto it = gates_.find(p.name());
  if (it == gates_.end()) return;
  // RUNNING is ready: with a ready= probe a program reaches it only once the probe passed.
  const auto released = it->second.gate->set_program(program_of(p.state()), hold_on_fatal_);
  if (released.count > 0) {
    log_.log(LogLevel::kInfo, fmt::format("released {} held connection(s) to {} after {:.1f} s",
                                          released.count, p.name(), released.since_first.count()));
  }
}

void GateTable::stop_accepting() {
  if (stopping_since_ || gates_.empty()) return;
  stopping_since_ = std::chrono::steady_clock::now();
  for (auto& [name, e] : gates_) {
    const auto held = e.gate->held();
    e.gate->stop_accepting();
    log_.log(LogLevel::kInfo, fmt::format("gate of {} closed: {} held connection(s) refused, {} "
                                          "relayed may finish",
                                          name, held, e.gate->active()));
  }
}

void GateTable::drain() {
  stop_accepting();  // when no program was running to announce the shutdown
  if (!stopping_since_) return;
  for (const auto& [name, e] : gates_) {
    const auto deadline = *stopping_since_ + e.stopwait;
    io_.restart();
    while (e.gate->busy() > 0 && std::chrono::steady_clock::now() < deadline) {
      io_.run_one_until(deadline);
    }
    if (e.gate->active() > 0) {
      log_.log(LogLevel::kWarn, fmt::format("gate of {}: {} relayed connection(s) cut at "
                                            "stopwaitsecs",
                                            name, e.gate->active()));
    }
  }
}

void GateTable::close() {
  for (auto& [name, e] : gates_) e.gate->close();
}

std::vector<control::GateInfo> GateTable::info() const {
  std::vector<control::GateInfo> out;
  for (const auto& [name, e] : gates_) {
    const auto s = e.gate->stats();
    control::GateInfo g{.group = e.group,
                        .name = name,
                        .held = s.held,
                        .active = s.active,
                        .accepted = s.accepted,
                        .forwarded = s.forwarded,
                        .health_requests = s.health_requests,
                        .refused = {},
                        .bytes_to_upstream = s.bytes[0],
                        .bytes_to_client = s.bytes[1],
                        .held_buckets = {},
                        .held_count = s.held_count,
                        .held_seconds = s.held_sum};
    for (size_t i = 0; i < s.refused.size(); ++i) {
      g.refused.emplace_back(gate::kRefusalNames[i], s.refused[i]);
    }
    for (size_t i = 0; i < s.held_buckets.size(); ++i) {
      g.held_buckets.emplace_back(gate::kHeldBuckets[i], s.held_buckets[i]);
    }
    out.push_back(std::move(g));
  }
  return out;
}

}  // namespace podvisor::runtime
