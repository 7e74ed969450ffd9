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
      auto& gates = gates_;
      gates.finished(p);  // destroys this Run: nothing of it is touched after
      if (phase == gpu::Fence::Phase::kFailed) {
        p.on_spawn_gate_failed(failure);
      } else if (gates.after_fence(p) == core::SpawnGate::kOpen) {
        p.on_spawn_gate_open();
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

// gpu_free_memory before one spawn: asks the companion for a fresh sample every
// kMemoryRecheck until the program's GPUs have that much free, with a progress line every
// kMemoryProgress; past gpu_fence_timeout the start fails with the last progress text.
class GpuGates::MemoryWait final : public std::enable_shared_from_this<MemoryWait> {
 public:
  static constexpr auto kMemoryRecheck = std::chrono::milliseconds(200);
  static constexpr auto kMemoryProgress = std::chrono::seconds(10);
  static constexpr auto kSampleDeadline = std::chrono::milliseconds(250);
  // How long a companion that has not said hello yet is waited for before "unknown".
  static constexpr auto kCompanionStart = std::chrono::seconds(5);

  MemoryWait(GpuGates& gates, core::Process& p)
      : gates_(gates), process_(p), timer_(gates.io_), began_(gpu::Clock::now()) {}

  void check() {
    gates_.companion_->check_free_memory(*gates_.spec_, process_.spec(), kSampleDeadline,
                                         [self = weak_from_this()](gpu::FreeMemoryDecision d) {
                                           if (auto wait = self.lock()) wait->decided(std::move(d));
                                         });
  }

 private:
  void decided(gpu::FreeMemoryDecision d) {
    auto& p = process_;
    auto& gates = gates_;
    const auto waited = gpu::Clock::now() - began_;
    if (d.verdict == gpu::FreeMemoryVerdict::kWait) {
      if (waited >= p.spec().gpu_fence_timeout) {
        gates.finished(p);
        return p.on_spawn_gate_failed(
            fmt::format("gpu_free_memory: still {} after {:.0f} s", d.text,
                        std::chrono::duration<double>(p.spec().gpu_fence_timeout).count()));
      }
      if (!logged_ || gpu::Clock::now() - *logged_ >= kMemoryProgress) {
        logged_ = gpu::Clock::now();
        gates.log_.log(LogLevel::kInfo, fmt::format("{}: {}", p.name(), d.text));
      }
      return recheck();
    }
    const auto& status = gates.companion_->status();
    if (d.verdict == gpu::FreeMemoryVerdict::kUnknown && status.wanted && !status.up &&
        status.unavailable.empty() && waited < kCompanionStart) {
      // The companion is starting (no hello yet): its figures come in a moment.
      return recheck();
    }
    if (d.verdict == gpu::FreeMemoryVerdict::kUnknown) {
      gates.log_.log(LogLevel::kWarn, fmt::format("{}: {}", p.name(), d.text));
    } else if (logged_) {
      gates.log_.log(LogLevel::kInfo,
                     fmt::format("{}: enough GPU memory free after {:.1f} s; starting", p.name(),
                                 std::chrono::duration<double>(waited).count()));
    }
    gates.finished(p);
    p.on_spawn_gate_open();
  }

  void recheck() {
    timer_.expires_after(kMemoryRecheck);
    timer_.async_wait([self = weak_from_this()](const boost::system::error_code& ec) {
      if (auto wait = self.lock(); wait && !ec) wait->check();
    });
  }

  GpuGates& gates_;
  core::Process& process_;
  boost::asio::steady_timer timer_;
  gpu::Clock::time_point began_;
  std::optional<gpu::Clock::time_point> logged_;
};

GpuGates::GpuGates(boost::asio::io_context& io, output::Logger& log) : io_(io), log_(log) {}
GpuGates::~GpuGates() = default;

core::SpawnGate GpuGates::before_spawn(core::Process& p, pid_t last_leader) {
  const auto& spec = p.spec();
  if (spec.gpu_fence == config::GpuFence::kFalse || last_leader <= 0) return after_fence(p);
  // auto: nothing to fence where no NVIDIA node exists (one readdir, at a restart only).
  if (spec.gpu_fence == config::GpuFence::kAuto && !gpu::find_devices(paths_).any()) {
    return after_fence(p);
  }
  gpu::FenceOptions o{spec.name,       last_leader,       spec.gpu_fence,
                      spec.stopsignal, spec.stopwaitsecs, spec.gpu_fence_timeout};
  gpu::LeftoverQuery q{spec.name, last_leader, ::getpid(),
                       running_ ? running_() : std::vector<gpu::Leader>{}, spared()};
  auto run = std::make_shared<Run>(*this, p, std::move(o), std::move(q));
  if (run->fence().begin() == gpu::Fence::Phase::kOpen) return after_fence(p);
  runs_[&p] = std::move(run);
  return core::SpawnGate::kPending;
}

core::SpawnGate GpuGates::after_fence(core::Process& p) {
  if (!p.spec().gpu_free_memory || companion_ == nullptr || spec_ == nullptr) {
    return core::SpawnGate::kOpen;
  }
  auto wait = std::make_shared<MemoryWait>(*this, p);
  waits_[&p] = wait;
  // The companion answers later (or at once, from the loop's next turn): pending either way.
  boost::asio::post(io_, [w = std::weak_ptr<MemoryWait>(wait)] {
    if (auto live = w.lock()) live->check();
  });
  return core::SpawnGate::kPending;
}

std::vector<pid_t> GpuGates::spared() const {
  std::vector<pid_t> out{::getpid()};
  // The companion opens every node itself; it is podvisor's, never a holder or a leftover.
  if (companion_ != nullptr && companion_->pid() > 0) out.push_back(companion_->pid());
  return out;
}

void GpuGates::cancel(core::Process& p) {
  if (const auto w = waits_.find(&p); w != waits_.end()) {
    finished(p);
    log_.log(LogLevel::kInfo,
             fmt::format("{} stopped; no longer waiting for GPU memory", p.name()));
    return;
  }
  const auto it = runs_.find(&p);
  if (it == runs_.end()) return;
  it->second->fence().cancel();
  log_.log(LogLevel::kInfo, fmt::format("gpu fence: {} stopped; no longer waiting", p.name()));
  finished(p);
}

void GpuGates::finished(core::Process& p) {
  // Destroyed from the loop: this may run inside the Run's (or the wait's) own callback.
  if (const auto it = runs_.find(&p); it != runs_.end()) {
    boost::asio::post(io_, [run = std::move(it->second)] {});
    runs_.erase(it);
  }
  if (const auto it = waits_.find(&p); it != waits_.end()) {
    boost::asio::post(io_, [wait = std::move(it->second)] {});
    waits_.erase(it);
  }
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
  auto s = gpu::take_snapshot(paths_, "/proc", running_ ? running_() : std::vector<gpu::Leader>{},
                              spared());
  if (companion_ != nullptr) gpu::add_nvml(s, companion_->status());
  return s;
}

std::vector<gpu::ProgramGpu> GpuGates::programs() {
  const auto now = std::chrono::steady_clock::now();
  if (!programs_at_ || now - *programs_at_ >= kProgramsCache) {
    programs_ = gpu::per_program(snapshot().holders);
    programs_at_ = now;
  }
  return programs_;
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
