// The NVIDIA devices a container can see, without any NVIDIA library: the nodes under /dev,
// the GPUs the driver lists in /proc/driver/nvidia/gpus/*/information, and which of them a
// program's CUDA_VISIBLE_DEVICES / NVIDIA_VISIBLE_DEVICES selects (docs/gpu.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gpu/companion_protocol.h"

namespace podvisor::gpu {

// The NVIDIA character devices' major number; minors 0-247 are GPUs, 255 is nvidiactl.
inline constexpr unsigned kNvidiaMajor = 195;
inline constexpr unsigned kNvidiaCtlMinor = 255;
inline constexpr unsigned kMaxGpuMinor = 247;

// Where to look: ${PODVISOR_GPU_DEVICE_DIR:-/dev} and
// ${PODVISOR_GPU_PROC_DIR:-/proc/driver/nvidia}; tests point them at fake trees.
struct Paths {
  std::string device_dir = "/dev";
  std::string proc_dir = "/proc/driver/nvidia";
  static Paths from_environment();
};

// One GPU as the driver's procfs shows it; memory only NVML knows (the podvisor-gpu
// companion fills it in: gpu::Memory of companion_protocol.h).
struct ProcGpu {
  int minor = -1;                // N of /dev/nvidia<N>
  std::string bus_id;            // "0000:19:00.0", lower case
  std::string uuid;              // "GPU-…"; empty on drivers that print none
  std::string model;             // "NVIDIA H200"
  std::optional<Memory> memory;  // unset: unknown (no NVML)
};

struct Devices {
  std::vector<int> minors;    // /dev/nvidia<N> present, ascending
  bool ctl = false;           // /dev/nvidiactl
  bool uvm = false;           // /dev/nvidia-uvm
  std::vector<ProcGpu> gpus;  // from procfs, in bus order (may be empty: no procfs)
  bool any() const { return !minors.empty() || ctl; }
  // "GPU 0 NVIDIA H200 (0000:19:00.0)", or "GPU 2" without procfs facts.
  std::string describe(int minor) const;
  const ProcGpu* find(int minor) const;
};

// One information file, as nv-procfs.c prints it ("Model: \t NVIDIA H200"); `dir_name` (the
// bus id) stands in for a missing "Bus Location:". nullopt without a "Device Minor:".
std::optional<ProcGpu> parse_information(std::string_view text, std::string_view dir_name);

// The nodes and GPUs under `paths`. Never throws: a missing directory is no device.
Devices find_devices(const Paths& paths);

// "GPU 0": how log lines name the GPU behind minor N.
std::string gpu_label(int minor);

// Which minors a program may use. `cuda` and `nvidia`: the values of CUDA_VISIBLE_DEVICES and
// NVIDIA_VISIBLE_DEVICES (nullopt: unset). UUIDs (and their prefixes) map directly; indices
// count in bus order, which is CUDA's only where all GPUs are one model or
// CUDA_DEVICE_ORDER=PCI_BUS_ID, hence `warning`.
struct Visible {
  std::vector<int> minors;
  std::string warning;
};
Visible visible_minors(const Devices& devices, std::optional<std::string_view> cuda,
                       std::optional<std::string_view> nvidia, bool pci_bus_order = false);

}  // namespace podvisor::gpu
