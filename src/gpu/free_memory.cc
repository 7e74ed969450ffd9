#include "gpu/free_memory.h"

#include <fmt/format.h>

#include <charconv>

namespace podvisor::gpu {
namespace {

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    std::string item = text.substr(start, end - start);
    const auto first = item.find_first_not_of(" \t");
    const auto last = item.find_last_not_of(" \t");
    item = first == std::string::npos ? "" : item.substr(first, last - first + 1);
    if (!item.empty()) out.push_back(std::move(item));
    start = end + 1;
  }
  return out;
}

const Gpu* by_uuid(const Sample& sample, const std::string& prefix) {
  const Gpu* found = nullptr;
  for (const auto& g : sample.gpus) {
    if (!g.uuid.starts_with(prefix)) continue;
    if (found) return nullptr;  // an ambiguous prefix matches nothing, as in CUDA
    found = &g;
  }
  return found;
}

const Gpu* by_index(const Sample& sample, const std::string& text) {
  unsigned index = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), index);
  if (error != std::errc() || end != text.data() + text.size()) return nullptr;
  for (const auto& g : sample.gpus) {
    if (g.index == index) return &g;
  }
  return nullptr;
}

}  // namespace

std::optional<std::vector<const Gpu*>> visible_gpus(const Sample& sample,
                                                    const VisibleDevices& env) {
  std::vector<const Gpu*> out;
  if (env.cuda) {
    for (const auto& item : split_list(*env.cuda)) {
      if (item.starts_with("MIG-")) return std::nullopt;
      const Gpu* g = item.starts_with("GPU-") ? by_uuid(sample, item) : by_index(sample, item);
      if (!g) break;  // CUDA hides everything after an invalid entry
      out.push_back(g);
    }
    return out;
  }
  const auto items = env.nvidia ? split_list(*env.nvidia) : std::vector<std::string>{};
  if (items.size() == 1 && items[0] == "none") return out;
  bool by_uuids = false;
  for (const auto& item : items) {
    if (!item.starts_with("GPU-")) continue;
    by_uuids = true;
    if (const Gpu* g = by_uuid(sample, item)) out.push_back(g);
  }
  if (by_uuids) return out;
  for (const auto& g : sample.gpus) out.push_back(&g);
  return out;
}

FreeMemoryDecision decide_free_memory(const std::optional<Sample>& sample,
                                      const VisibleDevices& env,
                                      const config::GpuFreeMemory& need) {
  const auto wanted = config::to_string(need);
  auto unknown = [&](std::string_view why) {
    return FreeMemoryDecision{FreeMemoryVerdict::kUnknown,
                              fmt::format("gpu_free_memory={} not checked: {}", wanted, why)};
  };
  if (!sample) return unknown("GPU memory is unknown (no NVML through podvisor-gpu)");
  const auto gpus = visible_gpus(*sample, env);
  if (!gpus) return unknown("CUDA_VISIBLE_DEVICES names MIG instances");
  std::string short_of;
  std::string wanted_text;
  for (const Gpu* g : *gpus) {
    if (!g->mem) return unknown(fmt::format("the memory of GPU {} cannot be read", g->index));
    const uint64_t required =
        need.bytes ? need.bytes
                   : static_cast<uint64_t>(static_cast<double>(g->mem->total) * need.percent / 100);
    if (g->mem->free >= required) continue;
    if (wanted_text.empty()) {
      wanted_text = need.bytes ? gib(required) : fmt::format("{} ({})", wanted, gib(required));
    }
    short_of += fmt::format("{}GPU {} ({} free)", short_of.empty() ? "" : ", ", g->index,
                            gib(g->mem->free));
  }
  if (short_of.empty()) return {FreeMemoryVerdict::kEnough, ""};
  return {FreeMemoryVerdict::kWait,
          fmt::format("waiting for {} free on {}", wanted_text, short_of)};
}

}  // namespace podvisor::gpu
