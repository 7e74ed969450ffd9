// The GPU keys (docs/gpu.md): [program] gpu_fence and gpu_fence_timeout, [supervisord]
// require_gpu; how each value is parsed. keys.cc puts their rows into the one table.
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "config/keys.h"
#include "config/spec.h"

namespace podvisor::config {

// auto, or a boolean; throws ValueError.
GpuFence parse_gpu_fence(std::string_view value);
std::string_view to_string(GpuFence f);
// Seconds, 1 to a day.
std::chrono::milliseconds parse_gpu_fence_timeout(std::string_view value);
// A count of GPUs (0-248), or a boolean (true: 1).
int parse_require_gpu(std::string_view value);
std::string fence_timeout_text(std::chrono::milliseconds d);  // "60", "0.5"

// Their rows: the [program] ones also apply in single-command mode, and check --print shows
// them when they are not the default.
inline constexpr std::array<Key, 3> gpu_rows() {
  Key fence{.section = "program", .name = "gpu_fence", .single_command = true};
  fence.program = [](ProgramSpec& p, std::string_view v) { p.gpu_fence = parse_gpu_fence(v); };
  // Printed only when set otherwise than the default, as the probes' keys.
  fence.print = [](const ProgramSpec& p) -> std::optional<std::string> {
    if (p.gpu_fence == GpuFence::kAuto) return std::nullopt;
    return std::string(to_string(p.gpu_fence));
  };
  Key timeout{.section = "program", .name = "gpu_fence_timeout", .single_command = true};
  timeout.program = [](ProgramSpec& p, std::string_view v) {
    p.gpu_fence_timeout = parse_gpu_fence_timeout(v);
  };
  timeout.print = [](const ProgramSpec& p) -> std::optional<std::string> {
    if (p.gpu_fence_timeout == std::chrono::seconds(60)) return std::nullopt;
    return fence_timeout_text(p.gpu_fence_timeout);
  };
  Key require{.section = "supervisord", .name = "require_gpu", .single_command = true};
  require.supervisord = [](SupervisorSpec& s, std::string_view v) {
    s.require_gpu = parse_require_gpu(v);
  };
  return {fence, timeout, require};
}

}  // namespace podvisor::config
