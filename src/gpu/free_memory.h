// gpu_free_memory's decision before a spawn: given the companion's last sample, the GPUs the
// program may use (CUDA_VISIBLE_DEVICES / NVIDIA_VISIBLE_DEVICES) and the requirement, whether
// to spawn now, wait (with the progress text), or go on unchecked because memory is unknown.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/gpu_memory_keys.h"
#include "gpu/companion_protocol.h"

namespace podvisor::gpu {

enum class FreeMemoryVerdict { kEnough, kWait, kUnknown };

struct FreeMemoryDecision {
  FreeMemoryVerdict verdict = FreeMemoryVerdict::kUnknown;
  // kWait: "waiting for 20.0 GiB free on GPU 0 (12.1 GiB free)"; kUnknown: the warning;
  // kEnough: "" .
  std::string text;
};

// The program's environment as it will be spawned: each variable nullopt when unset.
struct VisibleDevices {
  std::optional<std::string> cuda;    // CUDA_VISIBLE_DEVICES
  std::optional<std::string> nvidia;  // NVIDIA_VISIBLE_DEVICES
};

// The GPUs of `sample` the program may use, in its order. CUDA_VISIBLE_DEVICES wins: indices
// (NVML's bus order, CUDA's with CUDA_DEVICE_ORDER=PCI_BUS_ID or identical models), GPU-
// UUIDs or their prefixes; empty means none, and an entry that matches nothing hides the
// rest, as CUDA does. NVIDIA_VISIBLE_DEVICES counts only by UUID ("none": no GPU): inside a
// container its indices are the host's, and the runtime already hid the other nodes.
// nullopt when an entry cannot be mapped (MIG-… instances): the caller cannot decide.
std::optional<std::vector<const Gpu*>> visible_gpus(const Sample& sample,
                                                    const VisibleDevices& env);

// nullopt sample: no companion or no NVML.
FreeMemoryDecision decide_free_memory(const std::optional<Sample>& sample,
                                      const VisibleDevices& env, const config::GpuFreeMemory& need);

}  // namespace podvisor::gpu
