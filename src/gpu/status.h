// What podvisor knows of its GPUs through the NVML companion (the last sample, Xid and ECC
// events since start, whether the companion is up) and its renderings: /metrics families,
// /api/v1/gpus, /health's reason, the start-up line and the crash report's lines.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gpu/companion_protocol.h"
#include "gpu/programs.h"
#include "gpu/report.h"

namespace podvisor::gpu {

struct XidSeen {
  unsigned gpu = 0;  // NVML index; events of an unknown device count under their minor
  uint64_t xid = 0;
  int64_t at = 0;  // wall-clock seconds
};

struct GpuStatus {
  bool wanted = false;      // a /dev/nvidia* node exists: the companion is asked for
  bool up = false;          // the companion runs with NVML loaded
  std::string unavailable;  // why it is not up: "libnvidia-ml.so.1 not found"
  std::optional<Hello> hello;
  std::optional<Sample> sample;  // the last one, kept when the companion dies
  int64_t sample_at = 0;         // wall-clock seconds
  std::map<std::pair<unsigned, uint64_t>, uint64_t> xid_counts;     // (gpu, xid) → count
  std::map<std::pair<unsigned, std::string>, uint64_t> ecc_counts;  // (gpu, kind) → count
  std::vector<XidSeen> xids;        // the latest, oldest first (at most kKeptXids)
  std::optional<XidSeen> critical;  // the latest Xid that is not an application's fault
};

inline constexpr size_t kKeptXids = 32;

// Counts an event; returns the line to log (empty for none).
std::string record_event(GpuStatus& status, const Event& event, int64_t wall_now);

// Prometheus families: podvisor_gpu_companion_up, then per GPU (labelled gpu, minor, uuid,
// name) memory, utilisation, temperature, and the Xid and ECC counters. Empty when !wanted.
std::string render_gpu_metrics(const GpuStatus& status);
// A Prometheus label value: backslash, quote and newline escaped.
std::string escape_label(std::string_view v);
// GET /api/v1/gpus: the same figures as a JSON document.
std::string render_gpu_json(const GpuStatus& status,
                            const std::vector<ProgramGpu>& programs = {});
// /health's reason after a critical Xid ("GPU 0: Xid 79 at 12:03:11"); nullopt when none.
std::optional<std::string> gpu_unhealthy(const GpuStatus& status);
// "1 GPU visible: GPU 0 NVIDIA H200 (00000000:19:00.0, minor 0); NVML 12.575 via podvisor-gpu"
std::string visible_line(const GpuStatus& status);
// The crash report's GPU lines: memory per GPU and "Xid since start: ..."; empty when
// podvisor has no GPU.
std::vector<std::string> gpu_report_lines(const GpuStatus& status);
// Puts what NVML knows into a crash report's snapshot: each GPU's memory (matched by minor)
// and gpu_report_lines' last lines ("Xid since start: …", or why memory is unknown).
void add_nvml(Snapshot& s, const GpuStatus& status);

}  // namespace podvisor::gpu
