// gpu_free_memory=: how much GPU memory must be free on a program's GPUs before each spawn
// ("20GiB", "20000" in MiB, "90%"), parsed and printed for the key table (config/keys.cc).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace podvisor::config {

struct GpuFreeMemory {
  uint64_t bytes = 0;  // an amount; 0 when `percent` says it
  double percent = 0;  // a share of each GPU's total, in (0, 100]; 0 when `bytes` says it
  bool operator==(const GpuFreeMemory&) const = default;
};

// "20GiB", "1.5 TiB", "20000" (MiB), "512MB" (binary, as supervisord's byte sizes), "90%".
// Throws ValueError naming what is accepted.
GpuFreeMemory parse_gpu_free_memory(std::string_view text);
// The canonical text: "20GiB", "512MiB", "90%" (the amount rounded to what it was written in).
std::string to_string(const GpuFreeMemory& need);

struct ProgramSpec;
// The key's row (config/keys.cc) applies and prints through these.
void apply_gpu_free_memory(ProgramSpec& p, std::string_view value);
std::optional<std::string> print_gpu_free_memory(const ProgramSpec& p);

}  // namespace podvisor::config
