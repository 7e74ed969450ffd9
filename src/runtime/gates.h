// The programs' request gates (docs/gate.md) on the loop: opened before any program starts,
// told when a program's state changes, stopped at shutdown with a drain of what they relay.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/spec.h"
#include "control/server/backend.h"
#include "core/process.h"
#include "gate/gate.h"
#include "output/log.h"

namespace podvisor::runtime {

class GateTable {
 public:
  GateTable(boost::asio::io_context& io, output::Logger& log) : io_(io), log_(log) {}

  // Listens on every program's gate; false (logged) when one cannot: podvisor cannot start.
  bool open(const config::SupervisorSpec& spec);
  void state_changed(const core::Process& p);
  // Shutdown began: no more accepting, held connections refused. Once only.
  void stop_accepting();
  // After the loop: runs it until the relayed connections end and the refused ones have
  // their 503, at most each program's stopwaitsecs since stop_accepting().
  void drain();
  void close();
  // For /metrics and /api/v1.
  std::vector<control::GateInfo> info() const;

 private:
  struct Entry {
    std::unique_ptr<gate::Gate> gate;
    std::string group;
    std::chrono::milliseconds stopwait{0};
  };
  boost::asio::io_context& io_;
  output::Logger& log_;
  bool hold_on_fatal_ = false;
  std::optional<std::chrono::steady_clock::time_point> stopping_since_;
  std::map<std::string, Entry> gates_;  // by process name
};

}  // namespace podvisor::runtime
