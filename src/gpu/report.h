// The GPU part of a crash report: the devices, who holds them and why, and one line of
// diagnosis when the program's last lines name a CUDA/NCCL failure.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "gpu/devices.h"
#include "gpu/holders.h"

namespace podvisor::gpu {

// The GPUs and their holders at one moment (when podvisor gave up on a program: its
// leftovers are still alive then).
struct Snapshot {
  Devices devices;
  std::vector<Holder> holders;
  // From NVML (status.h's add_nvml): "Xid since start: …", or why memory is unknown.
  std::vector<std::string> nvml;
};

Snapshot take_snapshot(const Paths& paths, const std::string& proc_root,
                       const std::vector<Leader>& running, const std::vector<pid_t>& skip);

// The section's lines ("GPU 0 NVIDIA H200 (0000:19:00.0): memory unknown", its holders
// indented); empty when no NVIDIA device is visible.
std::vector<std::string> report_lines(const Snapshot& s);

// One line when `last_lines` show a CUDA/NCCL failure ("CUDA out of memory", "CUDA error",
// "NCCL error", "cudaErrorNoDevice", "no CUDA-capable device", vLLM's "Free memory on device
// … less than desired"), pointing at the holders or at the missing device; "" otherwise.
std::string diagnose(const std::vector<std::string>& last_lines, const Snapshot& s);

}  // namespace podvisor::gpu
