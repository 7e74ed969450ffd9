#include "runtime/gpu_gate.h"

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstring>

namespace podvisor::runtime {

using config::LogLevel;

// One fence standing before one program's spawn.
class GpuGates::Run final : public gpu::FenceHost, public std::enable_shared_from_this<Run> {
 public:
  Run(GpuGates& gates, core::Process& p, gpu::FenceOptions o, gpu::LeftoverQuery query)
      : gates_(gates),
        process_(p),
        timer_(gates.io_),
        reader_("/proc", gates.paths_.device_dir),
        query_(std::move(query)),
        fence_(*this, std::move(o)) {}

  gpu::Fence& fence() { return fence_; }

  gpu::Clock::time_point now() const override { return gpu::Clock::now(); }
  std::vector<gpu::Holder> collect() override { return gpu::find_leftovers(reader_, query_); }
  bool refresh(gpu::Holder& h) override { return gpu::refresh(reader_, h); }
  void signal(const gpu::Holder& h, int signo) override {
    // The pid may have gone to another process since it was read.
    const auto now = reader_.stat(h.proc.pid);
    if (!now || now->starttime != h.proc.starttime) return;
    if (::kill(h.proc.pid, signo) != 0 && errno != ESRCH) {
      log(LogLevel::kWarn, fmt::format("gpu fence: kill({}, {}): {}", h.proc.pid,
                                       config::signal_name(signo), std::strerror(errno)));
    }
  }
  void arm(gpu::Clock::duration after) override {
    timer_.expires_after(after);
    // A timer that expired as the fence opened may still call: the weak pointer and the
    // phase check make that call a no-op.
    timer_.async_wait([self = weak_from_this()](const boost::system::error_code& ec) {
      if (auto run = self.lock(); run && !ec) run->poke();
    });
  }
  void log(LogLevel level, std::string line) override { gates_.log_.log(level, line); }

  // Looks again; once the fence opens or fails, the process hears it and this Run is gone.
  void poke() {
    const auto before = fence_.phase();
    if (before != gpu::Fence::Phase::kTerm && before != gpu::Fence::Phase::kKill) return;
    const auto phase = fence_.poke();
    if (phase == gpu::Fence::Phase::kOpen || phase == gpu::Fence::Phase::kFailed) {
      const auto failure = fence_.failure();
      auto& p = process_;
      gates_.finished(p);  // destroys this Run: nothing of it is touched after
      if (phase == gpu::Fence::Phase::kOpen) {
        p.on_spawn_gate_open();
      } else {
        p.on_spawn_gate_failed(failure);
      }
    }
  }

 private:
  GpuGates& gates_;
  core::Process& process_;
  boost::asio::steady_timer timer_;
  gpu::ProcReader reader_;
  gpu::LeftoverQuery query_;
  gpu::Fence fence_;
};

GpuGates::GpuGates(boost::asio::io_context& io, output::Logger& log) : io_(io), log_(log) {}
GpuGates::~GpuGates() = default;

core::SpawnGate GpuGates::before_spawn(core::Process& p, pid_t last_leader) {
  const auto& spec = p.spec();
  if (spec.gpu_fence == config::GpuFence::kFalse || last_leader <= 0) {
    return core::SpawnGate::kOpen;
  }
  // auto: nothing to fence where no NVIDIA node exists (one readdir, at a restart only).
  if (spec.gpu_fence == config::GpuFence::kAuto && !gpu::find_devices(paths_).any()) {
    return core::SpawnGate::kOpen;
  }
  gpu::FenceOptions o{spec.name,       last_leader,       spec.gpu_fence,
                      spec.stopsignal, spec.stopwaitsecs, spec.gpu_fence_timeout};
  gpu::LeftoverQuery q{
      spec.name, last_leader, ::getpid(), running_ ? running_() : std::vector<gpu::Leader>{}, {}};
  auto run = std::make_shared<Run>(*this, p, std::move(o), std::move(q));
  if (run->fence().begin() == gpu::Fence::Phase::kOpen) return core::SpawnGate::kOpen;
  runs_[&p] = std::move(run);
  return core::SpawnGate::kPending;
}

void GpuGates::cancel(core::Process& p) {
  const auto it = runs_.find(&p);
  if (it == runs_.end()) return;
  it->second->fence().cancel();
  log_.log(LogLevel::kInfo, fmt::format("gpu fence: {} stopped; no longer waiting", p.name()));
  finished(p);
}

void GpuGates::finished(core::Process& p) {
  const auto it = runs_.find(&p);
  if (it == runs_.end()) return;
  // Destroyed from the loop: this may run inside the Run's own callback.
  auto run = std::move(it->second);
  runs_.erase(it);
  boost::asio::post(io_, [run] {});
}

void GpuGates::poke_all() {
  std::vector<core::Process*> held;
  for (const auto& [p, run] : runs_) held.push_back(p);
  for (auto* p : held) {
    const auto it = runs_.find(p);
    if (it != runs_.end()) it->second->poke();
  }
}

gpu::Snapshot GpuGates::snapshot() const {
  return gpu::take_snapshot(paths_, "/proc", running_ ? running_() : std::vector<gpu::Leader>{},
                            {::getpid()});
}

std::optional<std::string> missing_gpus(const gpu::Paths& paths, int required) {
  if (required <= 0) return std::nullopt;
  const auto devices = gpu::find_devices(paths);
  if (static_cast<int>(devices.minors.size()) >= required) return std::nullopt;
  if (devices.minors.empty()) {
    return fmt::format(
        "no GPU visible: {}/nvidia0 missing — is the container started with --gpus / the NVIDIA "
        "runtime?",
        paths.device_dir);
  }
  return fmt::format(
      "require_gpu = {} but only {} GPU(s) visible ({}) — is the container started with --gpus / "
      "the NVIDIA runtime?",
      required, devices.minors.size(), fmt::join(devices.minors, ", "));
}

}  // namespace podvisor::runtime
