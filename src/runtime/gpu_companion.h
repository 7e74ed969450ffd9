// podvisor-gpu, the NVML companion, on the event loop: started when a GPU device node exists,
// started again (1 s → 60 s back-off) when it dies, asked for samples with a deadline so a
// companion stuck in the driver never holds podvisor up, and its events counted.
#pragma once

#include <sys/types.h>

#include <array>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/spec.h"
#include "gpu/free_memory.h"
#include "gpu/status.h"
#include "output/log.h"
#include "runtime/loop.h"

namespace podvisor::runtime {

struct GpuCompanionOptions {
  std::string device_dir = "/dev";  // where /dev/nvidia<N> and /dev/nvidiactl are looked for
  std::string companion;            // the program's path; "" when there is none
  std::string off_reason;           // why there is none
  std::chrono::milliseconds first_backoff{1000};
  std::chrono::milliseconds max_backoff{60000};
};

// From the environment: PODVISOR_GPU_DEVICE_DIR (default /dev) and PODVISOR_GPU_COMPANION
// (a path, or "off"; default: podvisor-gpu beside podvisor's own binary).
GpuCompanionOptions gpu_companion_options();

// Whether `device_dir` holds a GPU node (nvidia<N> or nvidiactl).
bool has_gpu_device(const std::string& device_dir);

class GpuCompanion {
 public:
  GpuCompanion(Loop& loop, output::Logger& log, GpuCompanionOptions options);
  ~GpuCompanion();
  GpuCompanion(const GpuCompanion&) = delete;
  GpuCompanion& operator=(const GpuCompanion&) = delete;

  // Starts the companion when a GPU node exists; otherwise podvisor has no GPU and this does
  // nothing more.
  void start();
  // At exit, before the leftovers are ended: closes its input, kills it and reaps it (bounded).
  void stop();

  // Asks for a fresh sample; `done` runs once it is in, or after `deadline`, or at once when
  // there is no companion to ask. Either way status() then holds the newest figures known.
  void refresh(std::chrono::milliseconds deadline, std::function<void()> done);

  // gpu_free_memory before a spawn of `program` (whose environment, over `spec`'s and
  // podvisor's own, says which GPUs it uses): a fresh sample (at most `deadline`), then the
  // decision. The spawn gate calls it again after a kWait, with its progress line.
  void check_free_memory(const config::SupervisorSpec& spec, const config::ProgramSpec& program,
                         std::chrono::milliseconds deadline,
                         std::function<void(gpu::FreeMemoryDecision)> done);

  const gpu::GpuStatus& status() const { return status_; }
  // The companion's pid while it runs (holder scans leave it out: it opens every node), else -1.
  pid_t pid() const { return pid_; }

 private:
  struct Waiter {
    uint64_t serial;
    std::function<void()> done;
    std::unique_ptr<boost::asio::steady_timer> timer;
  };

  void spawn();
  void read();
  void on_line(std::string_view line);
  void on_exit(int wait_status);
  void finish_exit();
  void settle_waiters();
  void unavailable(const std::string& why);

  Loop& loop_;
  output::Logger& log_;
  GpuCompanionOptions options_;
  gpu::GpuStatus status_;
  pid_t pid_ = -1;
  std::unique_ptr<boost::asio::posix::stream_descriptor> in_, out_;
  std::array<char, 4096> buffer_{};
  std::string partial_;  // the line read so far
  boost::asio::steady_timer restart_timer_;
  std::chrono::milliseconds backoff_;
  std::chrono::steady_clock::time_point started_at_;
  std::optional<int> exit_status_;  // reaped, and its output not read to the end yet
  bool output_ended_ = false;
  bool retry_ = true;  // false once the companion said NVML is not there
  bool stopping_ = false;
  bool logged_visible_ = false;  // the "N GPUs visible" line, once per start
  // The sample asked for and not answered yet (0: none), and since when.
  uint64_t next_id_ = 1;
  uint64_t outstanding_ = 0;
  std::chrono::steady_clock::time_point outstanding_since_;
  bool killed_ = false;  // killed for not answering: its exit is expected
  uint64_t next_serial_ = 1;
  std::list<Waiter> waiters_;
};

}  // namespace podvisor::runtime
