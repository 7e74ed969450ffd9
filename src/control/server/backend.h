// The supervisor as the control plane sees it: what supervisord's rpcinterface.py reads and
// does, implemented by the runtime on its event loop. Every member runs on that loop, and so
// does every completion (Done), either before the member returns or later.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "config/spec.h"
#include "control/wire/faults.h"
#include "control/wire/xmlrpc.h"
#include "core/process.h"

namespace podvisor::control {

// supervisord's own state (its "mood"), as getState reports it.
enum class SupervisorState : int { kFatal = 2, kRunning = 1, kRestarting = 0, kShutdown = -1 };

enum class Stream { kStdout, kStderr };

// One process as getProcessInfo reports it. Times are wall-clock seconds (display only).
struct ProcessInfo {
  std::string name;   // process name (process_name), unique within its group
  std::string group;  // its group: [group:x], else the program's own name
  core::State state = core::State::kStopped;
  int64_t start = 0;     // last spawn; 0 while never started
  int64_t stop = 0;      // last exit; 0 while never exited
  pid_t pid = 0;         // 0 when no process runs
  int exitstatus = 0;    // as supervisord: last exit code, -1 if killed by a signal, 0 before the
                         // first exit and after an exit within startsecs
  std::string spawnerr;  // why the last start failed, supervisord's wording: "Exited too quickly
                         // (process log may have details)", "Bad exit code 3", "can't find
                         // command 'x'"; "" otherwise
  std::string stdout_logfile;  // the log file's path, "" when there is none
  std::string stderr_logfile;
  // podvisor's word on a program that is not up yet ("waiting for db (ready)", "probe
  // http://127.0.0.1:8000/health: 503"): the description of a STARTING process, and of a
  // STOPPED one never started, instead of supervisord's "" and "Not started".
  std::string note;

  // podvisor's additions, for /ready, /metrics and /api/v1.
  bool autostart = true;
  bool has_ready_probe = false;
  bool oneshot = false;
  bool done = false;  // a oneshot that exited with an expected status
  int restarts = 0;
  std::optional<int> last_exit_status = std::nullopt;          // 128+N for signal N
  std::optional<double> ready_seconds = std::nullopt;          // spawn to ready, last run
  std::optional<double> probe_latency_seconds = std::nullopt;  // the last probe attempt
  uint64_t log_dropped_bytes[2] = {0, 0};  // stdout, stderr: what their log files could not take
};

// hold_on_fatal: the failure podvisor holds on instead of ending (/health, /api/v1/hold).
struct HoldInfo {
  std::string group, name;  // the program held on
  std::string reason;       // "app exited (exit status 3)"
  int exit_code = 0;        // podvisor's status when it is stopped while holding
  int64_t since = 0;        // wall-clock seconds
  std::string retry;        // "podvisor ctl start app"
};

// A program's request gate (docs/gate.md), for /metrics and /api/v1.
struct GateInfo {
  std::string group, name;
  uint64_t held = 0, active = 0;  // now
  uint64_t accepted = 0, forwarded = 0, health_requests = 0;
  std::vector<std::pair<std::string, uint64_t>> refused;  // by reason
  uint64_t bytes_to_upstream = 0, bytes_to_client = 0;
  std::vector<std::pair<double, uint64_t>> held_buckets;  // upper bound, count in that bucket
  uint64_t held_count = 0;
  double held_seconds = 0;
};

// One program of the configuration read last, as getAllConfigInfo reports it.
struct ConfigInfo {
  config::ProgramSpec spec;  // with the log paths chosen for AUTO logs filled in
  int group_priority = 999;  // [group:x] priority, else the program's
  bool in_use = false;       // its group is active (added), not only read
};

// Where a log's bytes are. Offsets are those of the file, or without a file, of all output
// captured since podvisor started, of which `recent` holds the last bytes.
struct LogSource {
  std::string path;         // the log file; "" when there is none
  std::string recent;       // without a file: the newest bytes kept in memory (ring buffer)
  uint64_t recent_end = 0;  // without a file: total bytes captured (the offset after `recent`)
};

// What a reread found, as group names.
struct ConfigDiff {
  std::vector<std::string> added, changed, removed;
};

// How a request ended: kSuccess, or the fault supervisord gives. `detail` completes the fault
// text of NO_FILE, NOT_EXECUTABLE and FAILED; for the other codes the dispatcher names the
// process as the client spelled it.
struct Outcome {
  FaultCode code = FaultCode::kSuccess;
  std::string detail;
  bool ok() const { return code == FaultCode::kSuccess; }
};

class Backend {
 public:
  using Done = std::function<void(Outcome)>;
  virtual ~Backend() = default;

  // --- podvisor itself
  virtual SupervisorState state() const = 0;       // every supervisor.* call fails once < kRunning
  virtual pid_t pid() const = 0;                   // podvisor's pid (getPID)
  virtual std::string identification() const = 0;  // [supervisord] identifier (getIdentification)
  virtual int64_t wall_now() const = 0;            // wall-clock seconds, for "uptime" and "now"
  // Orderly shutdown / supervisord's restart (stop all, read the config again, start). Both
  // only begin here: the reply to the request must still go out.
  virtual void shutdown() = 0;
  virtual void restart() = 0;
  // The failure podvisor holds on (hold_on_fatal); nullopt when it does not hold.
  virtual std::optional<HoldInfo> hold() const { return std::nullopt; }
  // The request gates, one per gated program.
  virtual std::vector<GateInfo> gates() const { return {}; }

  // --- GPUs through the NVML companion (runtime/gpu_companion.*); nothing without a GPU.
  // Asks for fresh figures; `done` runs once they are in or after `deadline`, at once when
  // there is no one to ask.
  virtual void refresh_gpus(std::chrono::milliseconds deadline, std::function<void()> done) {
    (void)deadline;
    done();
  }
  virtual std::string gpu_metrics() const { return {}; }   // Prometheus families
  virtual std::string gpu_json() const { return "null"; }  // GET /api/v1/gpus
  // Why the GPUs make podvisor unhealthy ("GPU 0: Xid 79 at 12:03:11"); nullopt when they don't.
  virtual std::optional<std::string> gpu_unhealthy() const { return std::nullopt; }

  // --- processes (group, name) as ProcessInfo names them
  // Every process of the active groups, in supervisord's request order (core::listed_before):
  // groups by priority and name, a group's members by their own priority.
  virtual std::vector<ProcessInfo> processes() const = 0;
  // Called only for a process not STARTING/RUNNING/BACKOFF. Done: with wait, once RUNNING
  // (ready, with a probe); without, once spawned. Faults: NO_FILE / NOT_EXECUTABLE (+ detail
  // "can't find command 'x'", checked before spawning), SPAWN_ERROR (spawn failed, or it
  // exited before RUNNING), ABNORMAL_TERMINATION (left STARTING otherwise, e.g. stopped).
  virtual void start(const std::string& group, const std::string& name, bool wait, Done done) = 0;
  // Called only for a process STARTING/RUNNING/BACKOFF. Done once it is STOPPED (or EXITED,
  // FATAL); FAILED + detail when it cannot be signalled.
  virtual void stop(const std::string& group, const std::string& name, Done done) = 0;
  // Called only for a process STARTING/RUNNING/STOPPING. FAILED + detail when kill fails.
  virtual Outcome signal(const std::string& group, const std::string& name, int signo) = 0;
  // Called only for a process with a pid, not STOPPING. NO_FILE when its stdin cannot take
  // input (closed, or podvisor keeps no pipe to it).
  virtual Outcome send_stdin(const std::string& group, const std::string& name,
                             const std::string& data) = 0;

  // --- logs
  // A process's stdout/stderr log; nullopt when it has neither a file nor captured output.
  virtual std::optional<LogSource> process_log(const std::string& group, const std::string& name,
                                               Stream stream) const = 0;
  // Empties both logs of a process (truncate and reopen the files, clear the ring); false on
  // an I/O error.
  virtual bool clear_process_logs(const std::string& group, const std::string& name) = 0;
  // podvisor's own log ([supervisord] logfile, or its ring); nullopt when there is none.
  virtual std::optional<LogSource> main_log() const = 0;
  // NO_FILE when there is no main log file, FAILED + detail on an I/O error.
  virtual Outcome clear_main_log() = 0;
  // Calls `changed` after bytes are appended to that log, or it is cleared or rotated, until
  // the returned handle is released: for /logtail and /mainlogtail (an empty name: the main
  // log). Not used by the XML-RPC dispatcher.
  virtual std::shared_ptr<void> watch_log(const std::string& group, const std::string& name,
                                          Stream stream, std::function<void()> changed) = 0;

  // --- configuration (supervisord's reread / add / remove)
  // Reads the config file again and keeps it for add_group and config_info, changing nothing
  // that runs; the error message ("file:line: ...") when it cannot be read.
  virtual std::variant<ConfigDiff, std::string> reread() = 0;
  // Activates a group of the config read last (autostart programs start). BAD_NAME when the
  // config has no such group, ALREADY_ADDED when it is active.
  virtual Outcome add_group(const std::string& group) = 0;
  // Removes an active group whose processes are all stopped. BAD_NAME / STILL_RUNNING.
  virtual Outcome remove_group(const std::string& group) = 0;
  // Every program of the config read last.
  virtual std::vector<ConfigInfo> config_info() const = 0;
};

}  // namespace podvisor::control
