// GPU use per program for /metrics and GET /api/v1/gpus: how many of a program's processes
// (its running tree, or leftovers of its last run) hold a GPU node, and the GPU memory NVML
// charges to them where that can be told (NVML names host pids, docs/gpu.md).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gpu/companion_protocol.h"
#include "gpu/holders.h"

namespace podvisor::gpu {

// Sets each holder's memory_bytes from NVML's process lists: by its own pid when NVML lists
// it (podvisor shares the host's pid namespace: then a GPU holder NVML does not list uses
// none), else by elimination, where a GPU has one NVML process and one holder here.
void attribute_memory(std::vector<Holder>& holders, const Sample& sample);

struct ProgramGpu {
  std::string program;
  size_t holders = 0;              // its processes holding /dev/nvidia<N>
  std::optional<uint64_t> memory;  // bytes, when every such process's share is known
};
// In the holders' order of first appearance; processes of no program are left out.
std::vector<ProgramGpu> per_program(const std::vector<Holder>& holders);

// podvisor_program_gpu_holders and podvisor_program_gpu_memory_bytes (where known), labelled
// {group,program}; `group_of` gives a program's group.
std::string render_program_gpu_metrics(
    const std::vector<ProgramGpu>& programs,
    const std::function<std::string(const std::string&)>& group_of);

}  // namespace podvisor::gpu
