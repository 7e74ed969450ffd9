// The GPU fence on the event loop (gpu/fence.h): one per program whose next spawn it holds,
// reading /proc, signalling the last run's leftovers and re-reading them on a timer or when
// an orphan is reaped; the GPU snapshot for the crash report; require_gpu at start.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
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
#include "gpu/programs.h"
#include "gpu/report.h"
#include "output/log.h"
#include "runtime/gpu_companion.h"

namespace podvisor::runtime {

class GpuGates {
 public:
  GpuGates(boost::asio::io_context& io, output::Logger& log);
  ~GpuGates();

  // Who runs now (other programs' trees are never leftovers).
  void set_running(std::function<std::vector<gpu::Leader>()> running) {
    running_ = std::move(running);
  }
  // The NVML companion and the configuration it reads a program's environment from: its pid
  // is never a holder, its figures fill the crash report, and gpu_free_memory asks it.
  void set_companion(GpuCompanion* companion, const config::SupervisorSpec* spec) {
    companion_ = companion;
    spec_ = spec;
  }
  // Before each spawn: the fence (a restart whose last run left GPU holders), then the wait
  // for gpu_free_memory; kPending until both let it go.
  core::SpawnGate before_spawn(core::Process& p, pid_t last_leader);
  void cancel(core::Process& p);
  // An orphan was reaped: a leftover may be gone.
  void poke_all();

  // The devices and holders now, for a crash report.
  gpu::Snapshot snapshot() const;
  // GPU use per program (/metrics, the API): from a snapshot at most kProgramsCache old, so
  // frequent scrapes do not each read every process's descriptors.
  std::vector<gpu::ProgramGpu> programs();

  const gpu::Paths& paths() const { return paths_; }

 private:
  class Run;
  class MemoryWait;
  void finished(core::Process& p);
  // The fence let `p` go: the gpu_free_memory wait, or the spawn.
  core::SpawnGate after_fence(core::Process& p);
  std::vector<pid_t> spared() const;

  boost::asio::io_context& io_;
  output::Logger& log_;
  gpu::Paths paths_ = gpu::Paths::from_environment();
  std::function<std::vector<gpu::Leader>()> running_;
  std::map<core::Process*, std::shared_ptr<Run>> runs_;
  std::map<core::Process*, std::shared_ptr<MemoryWait>> waits_;
  static constexpr auto kProgramsCache = std::chrono::seconds(5);
  std::vector<gpu::ProgramGpu> programs_;
  std::optional<std::chrono::steady_clock::time_point> programs_at_;
  GpuCompanion* companion_ = nullptr;
  const config::SupervisorSpec* spec_ = nullptr;
};

// require_gpu: nullopt when at least `required` GPU nodes are visible, else the message
// ("no GPU visible: /dev/nvidia0 missing — is the container started with --gpus / the
// NVIDIA runtime?").
std::optional<std::string> missing_gpus(const gpu::Paths& paths, int required);

}  // namespace podvisor::runtime
