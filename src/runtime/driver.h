// core::ProcessDriver on the event loop: spawns programs (their exits registered with the loop,
// routed straight to the Supervisor), signals them, and runs their timers and probes.
#pragma once

#include <string>

#include "config/spec.h"
#include "core/process.h"
#include "core/supervisor.h"
#include "output/log.h"
#include "runtime/gpu_gate.h"
#include "runtime/loop.h"
#include "runtime/program_io.h"

namespace podvisor::runtime {

class Driver final : public core::ProcessDriver {
 public:
  // `spec` is the live configuration; with `terminal`, programs inherit stdin's terminal
  // instead of writing through pipes.
  Driver(Loop& loop, ProgramIoTable& programs, const config::SupervisorSpec& spec, bool terminal,
         output::Logger& log);

  // Where exits go: set before the first spawn.
  void route_exits_to(core::Supervisor& supervisor) { supervisor_ = &supervisor; }
  // SUPERVISOR_SERVER_URL for the programs, once the control server listens.
  void set_server_url(std::string url) { server_url_ = std::move(url); }

  core::Clock::time_point now() const override { return core::Clock::now(); }
  Spawned spawn(core::Process& p) override;
  void kill(pid_t pid, int signo, bool group) override;
  void kill_group(pid_t pgid, int signo) override;
  void arm_timer(core::Process& p, core::Clock::duration after) override;
  void cancel_timer(core::Process& p) override;
  void log(config::LogLevel level, std::string line) override { log_.log(level, line); }
  void start_readiness(core::Process& p) override;
  void start_liveness(core::Process& p) override;
  void stop_probes(core::Process& p) override;
  void collect_output(core::Process& p) override { programs_.drain(p); }
  // The GPU fence before a restart (docs/gpu.md).
  core::SpawnGate before_spawn(core::Process& p, pid_t last_leader) override {
    return gpu_.before_spawn(p, last_leader);
  }
  void cancel_spawn_gate(core::Process& p) override { gpu_.cancel(p); }
  // An orphan was reaped: a fence waiting for it looks again at once.
  void orphan_reaped() { gpu_.poke_all(); }
  GpuGates& gpu() { return gpu_; }

 private:
  std::vector<std::string> environment(core::Process& p, ProgramIo& io);
  // Spawns do not wait for their exec (a thousand programs start as fast as they fork):
  // the report pipe is read on the loop, and once more when the child exits, so an exec
  // failure is a spawn error however the two events are ordered.
  bool watch_exec(core::Process& p, ProgramIo& io, int report_fd);
  void arm_exec_report(core::Process& p, ProgramIo& io);
  void on_exec_report(core::Process& p);
  void on_child_exit(core::Process& p, int wait_status);

  Loop& loop_;
  ProgramIoTable& programs_;
  const config::SupervisorSpec& spec_;
  bool terminal_;
  output::Logger& log_;
  core::Supervisor* supervisor_ = nullptr;
  std::string server_url_;
  GpuGates gpu_;
};

}  // namespace podvisor::runtime
