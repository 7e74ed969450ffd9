// control::Backend over the Supervisor: what supervisorctl and the HTTP API read and do
// (process info, start and stop with their waiters, logs, reread/add/remove), and the reload
// a SIGHUP asks for.
#pragma once

#include <functional>
#include <list>
#include <optional>

#include "config/spec.h"
#include "control/server/backend.h"
#include "core/requests.h"
#include "core/supervisor.h"
#include "output/log.h"
#include "runtime/gpu_companion.h"
#include "runtime/loop.h"
#include "runtime/program_io.h"

namespace podvisor::runtime {

class ControlBackend final : public control::Backend {
 public:
  // `spec` is the live configuration, changed by reload, add_group and remove_group; `reload`
  // reads the file again (unset in single-command mode).
  ControlBackend(Loop& loop, core::Supervisor& supervisor, ProgramIoTable& programs,
                 MainLog& main_log, config::SupervisorSpec& spec,
                 std::function<config::SupervisorSpec()> reload, output::Logger& log);

  // SIGHUP in config mode: read the file again and apply it, as `supervisorctl update`.
  void reload();
  // supervisorctl restart (or the RPC) asked for podvisor to run again once stopped.
  bool restart_requested() const { return restart_requested_; }

  control::SupervisorState state() const override;
  pid_t pid() const override;
  std::string identification() const override { return spec_.identifier; }
  int64_t wall_now() const override;
  void shutdown() override;
  void restart() override;
  std::optional<control::HoldInfo> hold() const override { return hold_ ? hold_() : std::nullopt; }
  // Where hold() reads from (the runtime's HoldReporter).
  void set_hold_source(std::function<std::optional<control::HoldInfo>()> source) {
    hold_ = std::move(source);
  }
  std::vector<control::GateInfo> gates() const override {
    return gates_ ? gates_() : std::vector<control::GateInfo>{};
  }
  void set_gate_source(std::function<std::vector<control::GateInfo>()> source) {
    gates_ = std::move(source);
  }

  // Where the GPU members read from (the runtime's companion); unset: no GPU.
  void set_gpu_source(GpuCompanion* gpu) { gpu_ = gpu; }
  // Per program: its GPU holders and their memory (a holder scan; the runtime caches it).
  void set_gpu_programs(std::function<std::vector<gpu::ProgramGpu>()> source) {
    gpu_programs_ = std::move(source);
  }
  void refresh_gpus(std::chrono::milliseconds deadline, std::function<void()> done) override;
  std::string gpu_metrics() const override;
  std::vector<gpu::ProgramGpu> gpu_programs() const;
  std::string gpu_json() const override;
  std::optional<std::string> gpu_unhealthy() const override;

  std::vector<control::ProcessInfo> processes() const override;
  void start(const std::string& group, const std::string& name, bool wait, Done done) override;
  void stop(const std::string& group, const std::string& name, Done done) override;
  control::Outcome signal(const std::string& group, const std::string& name, int signo) override;
  control::Outcome send_stdin(const std::string& group, const std::string& name,
                              const std::string& data) override;

  std::optional<control::LogSource> process_log(const std::string& group, const std::string& name,
                                                control::Stream stream) const override;
  bool clear_process_logs(const std::string& group, const std::string& name) override;
  std::optional<control::LogSource> main_log() const override;
  control::Outcome clear_main_log() override;
  std::shared_ptr<void> watch_log(const std::string& group, const std::string& name,
                                  control::Stream stream, std::function<void()> changed) override;

  std::variant<control::ConfigDiff, std::string> reread() override;
  control::Outcome add_group(const std::string& group) override;
  control::Outcome remove_group(const std::string& group) override;
  std::vector<control::ConfigInfo> config_info() const override;

 private:
  // A request waiting for a program's state: `settled` returns true once it is done.
  struct Waiter {
    const core::Process* process;
    std::function<bool(const core::Process&)> settled;
  };
  void settle_waiters(const core::Process& p);
  // Completes `done` once `outcome` (a core rule) settles for p: now, or at a state change.
  void complete_when(const core::Process& p,
                     std::function<core::RequestOutcome(const core::Process&)> outcome, Done done);
  core::Process* find_process(const std::string& group, const std::string& name) const;

  Loop& loop_;
  core::Supervisor& supervisor_;
  ProgramIoTable& programs_;
  MainLog& main_log_;
  config::SupervisorSpec& spec_;
  std::function<config::SupervisorSpec()> reload_;
  output::Logger& log_;
  std::list<Waiter> waiters_;
  std::optional<config::SupervisorSpec> pending_;  // read by reread, not applied yet
  bool restart_requested_ = false;
  std::function<std::optional<control::HoldInfo>()> hold_;
  std::function<std::vector<control::GateInfo>()> gates_;
  GpuCompanion* gpu_ = nullptr;
  std::function<std::vector<gpu::ProgramGpu>()> gpu_programs_;
};

}  // namespace podvisor::runtime
