#include "gpu/report.h"

#include <fmt/format.h>

#include <algorithm>

namespace podvisor::gpu {
namespace {

// The failure a line names, and whether it is about a missing device.
struct Pattern {
  std::string_view text;
  bool no_device;
};
constexpr Pattern kPatterns[] = {
    {"CUDA out of memory", false}, {"cudaErrorNoDevice", true}, {"no CUDA-capable device", true},
    {"NCCL error", false},         {"CUDA error", false},
};

std::optional<Pattern> find_pattern(const std::vector<std::string>& lines) {
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
    for (const auto& p : kPatterns) {
      if (it->find(p.text) != std::string::npos) return p;
    }
    // vLLM: "Free memory on device cuda:0 (19.77/22.05 GiB) on startup is less than desired
    // GPU memory utilization (0.9, 19.84 GiB)".
    const auto free = it->find("Free memory on device");
    if (free != std::string::npos && it->find("less than desired", free) != std::string::npos) {
      return Pattern{"Free memory on device … less than desired", false};
    }
  }
  return std::nullopt;
}

std::string holder_text(const Holder& h) {
  return fmt::format("{} ({}) held {}", h.name(), h.owner(), held_devices(h.holding));
}

}  // namespace

Snapshot take_snapshot(const Paths& paths, const std::string& proc_root,
                       const std::vector<Leader>& running, const std::vector<pid_t>& skip) {
  Snapshot s;
  s.devices = find_devices(paths);
  if (!s.devices.any()) return s;
  ProcReader reader(proc_root, paths.device_dir);
  s.holders = scan_holders(reader, running, skip);
  return s;
}

std::vector<std::string> report_lines(const Snapshot& s) {
  std::vector<std::string> out;
  if (!s.devices.any()) return out;
  auto minors = s.devices.minors;
  for (const auto& h : s.holders) {
    for (const int m : h.holding.minors) {
      if (std::find(minors.begin(), minors.end(), m) == minors.end()) minors.push_back(m);
    }
  }
  std::sort(minors.begin(), minors.end());
  for (const int m : minors) {
    const auto* gpu = s.devices.find(m);
    // Memory comes only from NVML (the podvisor-gpu companion); without it: unknown.
    const auto memory = gpu && gpu->memory ? fmt::format("{} used of {}", gib(gpu->memory->used),
                                                         gib(gpu->memory->total))
                                           : std::string("memory unknown");
    out.push_back(fmt::format("{}: {}", s.devices.describe(m), memory));
    bool any = false;
    for (const auto& h : s.holders) {
      if (std::find(h.holding.minors.begin(), h.holding.minors.end(), m) ==
          h.holding.minors.end()) {
        continue;
      }
      any = true;
      out.push_back(fmt::format("  {} — {}{}", h.name(), h.owner(),
                                h.memory_bytes ? ", " + gib(*h.memory_bytes) : std::string()));
    }
    if (!any) out.emplace_back("  no process holds it");
  }
  for (const auto& h : s.holders) {
    if (!h.holding.gpu()) {
      const auto what = h.holding.error.empty() ? held_devices(h.holding) : h.holding.error;
      out.push_back(fmt::format("{} — {}: {}", h.name(), h.owner(), what));
    }
  }
  out.insert(out.end(), s.nvml.begin(), s.nvml.end());
  return out;
}

std::string diagnose(const std::vector<std::string>& last_lines, const Snapshot& s) {
  const auto pattern = find_pattern(last_lines);
  if (!pattern) return "";
  const auto said = fmt::format("the last lines say \"{}\"", pattern->text);
  if (!s.devices.any()) {
    return fmt::format(
        "{} and no GPU is visible: /dev/nvidia0 missing — is the container started with --gpus "
        "/ the NVIDIA runtime?",
        said);
  }
  std::vector<std::string> others;
  for (const auto& h : s.holders) {
    if (h.holding.gpu() && h.attribution != Attribution::kProgram) others.push_back(holder_text(h));
  }
  if (others.empty()) {
    for (const auto& h : s.holders) {
      if (h.holding.gpu()) others.push_back(holder_text(h));
    }
  }
  if (!others.empty()) {
    return fmt::format("{} while {}", said, fmt::join(others, ", "));
  }
  if (pattern->no_device) {
    return fmt::format("{} although {} is visible: check CUDA_VISIBLE_DEVICES and the driver", said,
                       s.devices.minors.empty()
                           ? std::string("nvidiactl")
                           : fmt::format("/dev/nvidia{}", s.devices.minors.front()));
  }
  return fmt::format("{} and no other process holds a GPU: the program needs more than is free",
                     said);
}

}  // namespace podvisor::gpu
