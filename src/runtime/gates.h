// The programs' request gates (docs/gate.md) on the loop: opened before any program starts,
// told when a program becomes RUNNING (ready) or leaves it.
#pragma once

#include <boost/asio/io_context.hpp>
#include <map>
#include <memory>
#include <string>

#include "config/spec.h"
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
  void close();

 private:
  boost::asio::io_context& io_;
  output::Logger& log_;
  std::map<std::string, std::unique_ptr<gate::Gate>> gates_;  // by process name
};

}  // namespace podvisor::runtime
