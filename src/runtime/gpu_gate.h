// The GPU fence on the event loop (gpu/fence.h): one per program whose next spawn it holds,
// reading /proc, signalling the last run's leftovers and re-reading them on a timer or when
// an orphan is reaped; the GPU snapshot for the crash report; require_gpu at start.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/spec.h"
#include "core/process.h"
#include "gpu/devices.h"
#include "gpu/fence.h"
#include "gpu/report.h"
#include "output/log.h"

namespace podvisor::runtime {

class GpuGates {
 public:
  GpuGates(boost::asio::io_context& io, output::Logger& log);
  ~GpuGates();

  // Who runs now (other programs' trees are never leftovers).
  void set_running(std::function<std::vector<gpu::Leader>()> running) {
    running_ = std::move(running);
  }
  core::SpawnGate before_spawn(core::Process& p, pid_t last_leader);
  void cancel(core::Process& p);
  // An orphan was reaped: a leftover may be gone.
  void poke_all();

  // The devices and holders now, for a crash report.
  gpu::Snapshot snapshot() const;

  const gpu::Paths& paths() const { return paths_; }

 private:
  class Run;
  void finished(core::Process& p);

  boost::asio::io_context& io_;
  output::Logger& log_;
  gpu::Paths paths_ = gpu::Paths::from_environment();
  std::function<std::vector<gpu::Leader>()> running_;
  std::map<core::Process*, std::shared_ptr<Run>> runs_;
};

// require_gpu: nullopt when at least `required` GPU nodes are visible, else the message
// ("no GPU visible: /dev/nvidia0 missing — is the container started with --gpus / the
// NVIDIA runtime?").
std::optional<std::string> missing_gpus(const gpu::Paths& paths, int required);

}  // namespace podvisor::runtime
