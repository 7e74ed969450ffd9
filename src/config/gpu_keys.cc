#include "config/gpu_keys.h"

#include <fmt/format.h>

#include "config/values.h"

namespace podvisor::config {

GpuFence parse_gpu_fence(std::string_view value) {
  if (to_lower(trim(value)) == "auto") return GpuFence::kAuto;
  try {
    return parse_bool(value) ? GpuFence::kTrue : GpuFence::kFalse;
  } catch (const ValueError&) {
    throw ValueError(fmt::format("'{}' is not auto, true or false", value));
  }
}

std::string_view to_string(GpuFence f) {
  switch (f) {
    case GpuFence::kAuto:
      return "auto";
    case GpuFence::kTrue:
      return "true";
    case GpuFence::kFalse:
      return "false";
  }
  return "auto";
}

std::chrono::milliseconds parse_gpu_fence_timeout(std::string_view value) {
  const auto out = parse_fractional_seconds(value, 86400);
  if (out.count() == 0) throw ValueError("gpu_fence_timeout must be more than 0");
  return out;
}

std::string fence_timeout_text(std::chrono::milliseconds d) {
  return fmt::format("{:g}", static_cast<double>(d.count()) / 1000.0);
}

int parse_require_gpu(std::string_view value) {
  const auto v = to_lower(trim(value));
  if (!v.empty() && v.front() >= '0' && v.front() <= '9') {
    return static_cast<int>(parse_int(v, 0, 248));
  }
  try {
    return parse_bool(v) ? 1 : 0;
  } catch (const ValueError&) {
    throw ValueError(fmt::format("'{}' is not a number of GPUs or a boolean", value));
  }
}

}  // namespace podvisor::config
