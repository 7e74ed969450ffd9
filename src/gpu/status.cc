#include "gpu/status.h"

#include <fmt/format.h>
#include <time.h>

#include <nlohmann/json.hpp>

namespace podvisor::gpu {
namespace {

std::string clock_time(int64_t wall) {
  const time_t t = static_cast<time_t>(wall);
  struct tm local {};
  if (!localtime_r(&t, &local)) return fmt::format("{}", wall);
  return fmt::format("{:02}:{:02}:{:02}", local.tm_hour, local.tm_min, local.tm_sec);
}

std::string labels(const Gpu& g) {
  return fmt::format("gpu=\"{}\",minor=\"{}\",uuid=\"{}\",name=\"{}\"", g.index,
                     g.minor ? fmt::format("{}", *g.minor) : "", escape_label(g.uuid),
                     escape_label(g.name));
}

std::string ecc_kind(EventKind kind) {
  return kind == EventKind::kEccDoubleBit ? "double_bit" : "single_bit";
}

// The GPU an event names: its NVML index, else its minor.
unsigned event_gpu(const Event& e) {
  return static_cast<unsigned>(e.index >= 0 ? e.index : std::max(e.minor, 0));
}

}  // namespace

std::string escape_label(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    if (c == '\\' || c == '"') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

std::string record_event(GpuStatus& status, const Event& e, int64_t wall_now) {
  const unsigned gpu = event_gpu(e);
  switch (e.kind) {
    case EventKind::kXid: {
      ++status.xid_counts[{gpu, e.data}];
      const XidSeen seen{gpu, e.data, wall_now};
      status.xids.push_back(seen);
      if (status.xids.size() > kKeptXids) status.xids.erase(status.xids.begin());
      const bool critical = critical_xid(e.data);
      if (critical) status.critical = seen;
      return fmt::format(
          "gpu: GPU {} (minor {}, {}): Xid {}{}", gpu, e.minor, e.uuid, e.data,
          critical ? "; /health reports podvisor unhealthy" : " (an application's fault)");
    }
    case EventKind::kEccSingleBit:
    case EventKind::kEccDoubleBit:
      ++status.ecc_counts[{gpu, ecc_kind(e.kind)}];
      return fmt::format("gpu: GPU {}: {} ECC error", gpu,
                         e.kind == EventKind::kEccDoubleBit ? "double-bit" : "single-bit");
    case EventKind::kError:
      return fmt::format("gpu: NVML's event set failed: {}", e.error);
    case EventKind::kOther:
      break;
  }
  return {};
}

std::string render_gpu_metrics(const GpuStatus& status) {
  if (!status.wanted) return {};
  std::string out;
  auto family = [&](std::string_view name, std::string_view type, std::string_view help) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  };
  family("podvisor_gpu_companion_up", "gauge",
         "1 while podvisor-gpu runs with NVML loaded; 0: GPU memory is unknown.");
  out += fmt::format("podvisor_gpu_companion_up {}\n", status.up ? 1 : 0);
  const std::vector<Gpu> none;
  const auto& gpus = status.sample ? status.sample->gpus : none;
  auto per_gpu = [&](std::string_view name, std::string_view help, auto value) {
    family(name, "gauge", help);
    for (const auto& g : gpus) {
      if (const auto v = value(g)) out += fmt::format("{}{{{}}} {}\n", name, labels(g), *v);
    }
  };
  per_gpu("podvisor_gpu_memory_used_bytes", "GPU memory in use (NVML).",
          [](const Gpu& g) { return g.mem ? std::optional(g.mem->used) : std::nullopt; });
  per_gpu("podvisor_gpu_memory_total_bytes", "GPU memory in all (NVML).",
          [](const Gpu& g) { return g.mem ? std::optional(g.mem->total) : std::nullopt; });
  per_gpu("podvisor_gpu_utilization_ratio", "Share of the last sample period the GPU was busy.",
          [](const Gpu& g) {
            return g.util ? std::optional(fmt::format("{:g}", *g.util / 100.0)) : std::nullopt;
          });
  per_gpu("podvisor_gpu_temperature_celsius", "GPU core temperature.",
          [](const Gpu& g) { return g.temp_c; });
  family("podvisor_gpu_xid_errors_total", "counter", "Xid errors NVML reported since start.");
  for (const auto& [key, count] : status.xid_counts) {
    out += fmt::format("podvisor_gpu_xid_errors_total{{gpu=\"{}\",xid=\"{}\"}} {}\n", key.first,
                       key.second, count);
  }
  family("podvisor_gpu_ecc_errors_total", "counter", "ECC error events NVML reported since start.");
  for (const auto& [key, count] : status.ecc_counts) {
    out += fmt::format("podvisor_gpu_ecc_errors_total{{gpu=\"{}\",kind=\"{}\"}} {}\n", key.first,
                       key.second, count);
  }
  return out;
}

std::string render_gpu_json(const GpuStatus& status, const std::vector<ProgramGpu>& programs) {
  using nlohmann::json;
  json out = {{"wanted", status.wanted}, {"companion_up", status.up}};
  if (!status.unavailable.empty()) out["unavailable"] = status.unavailable;
  if (status.hello) {
    out["driver"] = status.hello->driver;
    out["nvml"] = status.hello->version;
    out["events"] = status.hello->events;
  }
  auto gpus = json::array();
  if (status.sample) {
    for (const auto& g : status.sample->gpus) {
      json j = {{"index", g.index},
                {"uuid", g.uuid},
                {"name", g.name},
                {"bus_id", g.bus_id},
                {"mig", g.mig}};
      j["minor"] = g.minor ? json(*g.minor) : json();
      j["memory"] =
          g.mem ? json{{"total", g.mem->total}, {"used", g.mem->used}, {"free", g.mem->free}}
                : json();
      j["utilization"] = g.util ? json(*g.util / 100.0) : json();
      j["temperature_c"] = g.temp_c ? json(*g.temp_c) : json();
      auto procs = json::array();
      for (const auto& p : g.procs.value_or(std::vector<ProcessMemory>{})) {
        procs.push_back({{"host_pid", p.host_pid}, {"bytes", p.bytes ? json(*p.bytes) : json()}});
      }
      j["processes"] = std::move(procs);
      if (!g.error.empty()) j["error"] = g.error;
      gpus.push_back(std::move(j));
    }
  }
  out["gpus"] = std::move(gpus);
  out["sampled_at"] = status.sample ? json(status.sample_at) : json();
  auto xids = json::array();
  for (const auto& x : status.xids) xids.push_back({{"gpu", x.gpu}, {"xid", x.xid}, {"at", x.at}});
  out["xid_events"] = std::move(xids);
  auto per_program = json::array();
  for (const auto& p : programs) {
    per_program.push_back({{"program", p.program},
                           {"holders", p.holders},
                           {"memory_bytes", p.memory ? json(*p.memory) : json()}});
  }
  out["programs"] = std::move(per_program);
  const auto why = gpu_unhealthy(status);
  out["unhealthy"] = why ? json(*why) : json();
  return out.dump();
}

std::optional<std::string> gpu_unhealthy(const GpuStatus& status) {
  if (!status.critical) return std::nullopt;
  return fmt::format("GPU {}: Xid {} at {}", status.critical->gpu, status.critical->xid,
                     clock_time(status.critical->at));
}

std::string visible_line(const GpuStatus& status) {
  const std::string via = status.hello
                              ? fmt::format("NVML {} via podvisor-gpu", status.hello->version)
                              : "NVML via podvisor-gpu";
  if (!status.sample) return fmt::format("{}; no sample yet", via);
  const auto& gpus = status.sample->gpus;
  std::string list;
  for (const auto& g : gpus) {
    list += fmt::format("{}GPU {} {} ({}, minor {})", list.empty() ? "" : ", ", g.index, g.name,
                        g.bus_id, g.minor ? fmt::format("{}", *g.minor) : "unknown");
  }
  return fmt::format("{} GPU{} visible: {}; {}", gpus.size(), gpus.size() == 1 ? "" : "s",
                     list.empty() ? "none" : list, via);
}

void add_nvml(Snapshot& s, const GpuStatus& status) {
  if (!status.wanted) return;
  if (status.up && status.sample) {
    attribute_memory(s.holders, *status.sample);
    for (const auto& g : status.sample->gpus) {
      if (!g.minor || !g.mem) continue;
      if (s.devices.find(*g.minor) == nullptr) {
        // No procfs entry for it (a container without /proc/driver/nvidia): NVML's facts.
        s.devices.gpus.push_back(ProcGpu{*g.minor, g.bus_id, g.uuid, g.name, std::nullopt});
      }
      for (auto& d : s.devices.gpus) {
        if (d.minor == *g.minor) d.memory = *g.mem;
      }
    }
  }
  auto lines = gpu_report_lines(status);
  // The per-GPU lines are the snapshot's own (with its holders); the rest is added.
  const size_t per_gpu = status.sample ? status.sample->gpus.size() : 0;
  s.nvml.assign(lines.begin() + static_cast<std::ptrdiff_t>(std::min(per_gpu, lines.size())),
                lines.end());
}

std::vector<std::string> gpu_report_lines(const GpuStatus& status) {
  if (!status.wanted) return {};
  std::vector<std::string> out;
  if (!status.sample) {
    out.push_back(fmt::format("GPU memory unknown: podvisor-gpu {}",
                              status.unavailable.empty()
                                  ? "gave no sample"
                                  : "unavailable (" + status.unavailable + ")"));
  } else {
    for (const auto& g : status.sample->gpus) {
      std::string line = fmt::format("GPU {} {} ({})", g.index, g.name, g.bus_id);
      if (g.mem) {
        line += fmt::format(": {} used of {}", gib(g.mem->used), gib(g.mem->total));
      } else {
        line += ": memory unknown";
      }
      if (g.temp_c) line += fmt::format(", {} °C", *g.temp_c);
      out.push_back(std::move(line));
    }
  }
  std::string xids;
  for (const auto& x : status.xids) {
    xids += fmt::format("{}GPU {} Xid {} at {}", xids.empty() ? "" : ", ", x.gpu, x.xid,
                        clock_time(x.at));
  }
  out.push_back(fmt::format("Xid since start: {}", xids.empty() ? "none" : xids));
  return out;
}

}  // namespace podvisor::gpu
