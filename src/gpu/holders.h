// Which processes hold which GPU: every process with an open descriptor on an NVIDIA device
// node, read from /proc/<pid>/fd (no NVIDIA library), and whose it is: a running program's,
// a leftover of a program's last run, or nobody's known ("unknown": reported, never signalled).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace podvisor::gpu {

// A process as /proc/<pid>/stat (and cmdline, where read) tells it.
struct Proc {
  pid_t pid = 0;
  pid_t ppid = 0;
  pid_t pgid = 0;
  pid_t sid = 0;
  char state = '?';                  // R, S, D, Z, T …
  unsigned long long starttime = 0;  // clock ticks after boot: tells a reused pid apart
  std::string cmdline;               // argv joined by spaces, at most 64 bytes ("" until read)
  std::string wchan;                 // where it sleeps in the kernel ("" until read, "0": running)
};

// What a process has open of the NVIDIA nodes.
struct Holding {
  std::vector<int> minors;  // /dev/nvidia<N>
  bool ctl = false;         // nvidiactl
  bool uvm = false;         // nvidia-uvm*
  // Its fds could not be read (EACCES): it may hold anything. Never read as "holds nothing".
  std::string error;
  bool gpu() const { return !minors.empty(); }
  bool any() const { return gpu() || ctl || uvm; }
};

enum class Attribution { kProgram, kLeftover, kUnknown };

struct Holder {
  Proc proc;
  Holding holding;
  Attribution attribution = Attribution::kUnknown;
  std::string program;  // the program it belongs to (kProgram, kLeftover)
  // GPU memory it uses, from NVML (the podvisor-gpu companion) where a host pid can be
  // matched to it; unset: unknown.
  std::optional<uint64_t> memory_bytes;
  // "running program vllm", "leftover of vllm's last run", "unknown"
  std::string owner() const;
  // "pid 311 'VLLM::EngineCore'"
  std::string name() const;
};

// Reads one /proc tree (the root a parameter, so tests use a fake one). Descriptors are
// matched by their link's path under `device_dir` (nvidia<N>, nvidiactl, nvidia-uvm*), and
// under /dev by the device number (major 195) for a renamed node.
class ProcReader {
 public:
  ProcReader(std::string proc_root, std::string device_dir);
  std::vector<pid_t> pids() const;
  std::optional<Proc> stat(pid_t pid) const;  // nullopt: gone
  std::string cmdline(pid_t pid) const;
  std::string wchan(pid_t pid) const;
  Holding holding(pid_t pid) const;
  // One variable of its environment; nullopt when unset or unreadable.
  std::optional<std::string> environ_value(pid_t pid, std::string_view name) const;
  // stat, cmdline and wchan together.
  std::optional<Proc> describe(pid_t pid) const;

 private:
  std::string path(pid_t pid, std::string_view file) const;
  std::string root_;
  std::string device_dir_;
};

// A program that runs now: its name and its leader's pid.
struct Leader {
  std::string program;
  pid_t pid = 0;
};

// Every holder of an NVIDIA node, attributed: a descendant of a running leader → that
// program; SUPERVISOR_PROCESS_NAME in its environment (or an ancestor's) → a leftover of
// that program's last run, unless it started after that program's running leader; else
// unknown. `skip`: pids left out (podvisor itself, the NVML companion).
std::vector<Holder> scan_holders(const ProcReader& reader, const std::vector<Leader>& running,
                                 const std::vector<pid_t>& skip);

// What the fence looks for before program `program` runs again.
struct LeftoverQuery {
  std::string program;
  pid_t last_leader = 0;        // the pid of its last run's leader (now reaped)
  pid_t self = 0;               // podvisor: leftovers are its descendants (orphans come to it)
  std::vector<Leader> running;  // other programs' trees are never leftovers
  std::vector<pid_t> skip;
};

// The live leftovers of `program`'s last run: processes below podvisor in the last leader's
// process group or session, or with SUPERVISOR_PROCESS_NAME=program, and their descendants;
// each described (cmdline, wchan) with what it holds, and attributed as a leftover.
std::vector<Holder> find_leftovers(const ProcReader& reader, const LeftoverQuery& query);

// Reads `h` again: false when it is gone (exited, a zombie, or its pid reused).
bool refresh(const ProcReader& reader, Holder& h);

// "GPU 0, GPU 1".
std::string gpu_list(const std::vector<int>& minors);
// "GPU 0, GPU 1" for what `h` holds ("nvidiactl" when only that).
std::string held_devices(const Holding& h);

}  // namespace podvisor::gpu
