// What the companion's figures become: /metrics families, /health's reason after a critical
// Xid, the start-up line and the crash report's lines.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "gpu/status.h"

namespace podvisor::gpu {
namespace {

GpuStatus one_gpu() {
  GpuStatus s;
  s.wanted = s.up = true;
  s.hello = Hello{true, "", "575.57.08", "12.575", {}, "xid", 1};
  Gpu g;
  g.index = 0;
  g.minor = 0;
  g.uuid = "GPU-1";
  g.name = "NVIDIA H200";
  g.bus_id = "00000000:19:00.0";
  g.mem = Memory{150'000'000'000, 44'000'000'000, 106'000'000'000, std::nullopt};
  g.util = 41;
  g.temp_c = 38;
  s.sample = Sample{{g}};
  return s;
}

bool has_line(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

TEST(GpuStatus, Metrics) {
  auto s = one_gpu();
  const std::string l = R"({gpu="0",minor="0",uuid="GPU-1",name="NVIDIA H200"})";
  auto m = render_gpu_metrics(s);
  EXPECT_TRUE(has_line(m, "podvisor_gpu_companion_up 1")) << m;
  EXPECT_TRUE(has_line(m, "podvisor_gpu_memory_used_bytes" + l + " 44000000000")) << m;
  EXPECT_TRUE(has_line(m, "podvisor_gpu_memory_total_bytes" + l + " 150000000000")) << m;
  EXPECT_TRUE(has_line(m, "podvisor_gpu_utilization_ratio" + l + " 0.41")) << m;
  EXPECT_TRUE(has_line(m, "podvisor_gpu_temperature_celsius" + l + " 38")) << m;
  record_event(s, Event{EventKind::kXid, 0, 0, "GPU-1", 79, ""}, 0);
  record_event(s, Event{EventKind::kXid, 0, 0, "GPU-1", 79, ""}, 0);
  record_event(s, Event{EventKind::kEccDoubleBit, 0, 0, "GPU-1", 0, ""}, 0);
  m = render_gpu_metrics(s);
  EXPECT_TRUE(has_line(m, R"(podvisor_gpu_xid_errors_total{gpu="0",xid="79"} 2)")) << m;
  EXPECT_TRUE(has_line(m, R"(podvisor_gpu_ecc_errors_total{gpu="0",kind="double_bit"} 1)")) << m;
  s.up = false;
  s.sample.reset();
  m = render_gpu_metrics(s);
  EXPECT_TRUE(has_line(m, "podvisor_gpu_companion_up 0")) << m;
  EXPECT_EQ(m.find("podvisor_gpu_memory_used_bytes{"), std::string::npos) << m;
  EXPECT_EQ(render_gpu_metrics(GpuStatus{}), "");  // no GPU: no family at all
}

TEST(GpuStatus, CriticalXidOnly) {
  auto s = one_gpu();
  EXPECT_FALSE(gpu_unhealthy(s));
  const auto line = record_event(s, Event{EventKind::kXid, 0, 0, "GPU-1", 13, ""}, 0);
  EXPECT_NE(line.find("Xid 13 (an application's fault)"), std::string::npos) << line;
  EXPECT_FALSE(gpu_unhealthy(s));
  record_event(s, Event{EventKind::kXid, 0, 0, "GPU-1", 79, ""}, 1'700'000'000);
  const auto why = gpu_unhealthy(s);
  ASSERT_TRUE(why);
  EXPECT_TRUE(std::regex_match(*why, std::regex("GPU 0: Xid 79 at \\d\\d:\\d\\d:\\d\\d"))) << *why;
  const auto j = nlohmann::json::parse(render_gpu_json(s));
  EXPECT_EQ(j["unhealthy"], *why);
  EXPECT_EQ(j["xid_events"].size(), 2u);
  EXPECT_EQ(j["gpus"][0]["memory"]["used"], 44'000'000'000u);
}

TEST(GpuStatus, Lines) {
  auto s = one_gpu();
  EXPECT_EQ(visible_line(s),
            "1 GPU visible: GPU 0 NVIDIA H200 (00000000:19:00.0, minor 0); NVML 12.575 via "
            "podvisor-gpu");
  auto report = gpu_report_lines(s);
  ASSERT_EQ(report.size(), 2u);
  EXPECT_EQ(report[0], "GPU 0 NVIDIA H200 (00000000:19:00.0): 41.0 GiB used of 139.7 GiB, 38 °C");
  EXPECT_EQ(report[1], "Xid since start: none");
  record_event(s, Event{EventKind::kXid, 0, 0, "GPU-1", 79, ""}, 0);
  EXPECT_TRUE(gpu_report_lines(s)[1].starts_with("Xid since start: GPU 0 Xid 79 at "));
  GpuStatus off;
  off.wanted = true;
  off.unavailable = "libnvidia-ml.so.1 not found";
  EXPECT_EQ(gpu_report_lines(off)[0],
            "GPU memory unknown: podvisor-gpu unavailable (libnvidia-ml.so.1 not found)");
  EXPECT_TRUE(gpu_report_lines(GpuStatus{}).empty());
}

// A crash report's snapshot gets NVML's memory per GPU (a GPU procfs does not list is added
// from NVML's facts) and the lines after the per-GPU ones.
TEST(GpuStatus, AddNvmlFillsTheSnapshot) {
  auto s = one_gpu();
  Snapshot snap;
  snap.devices.minors = {0};
  add_nvml(snap, s);
  ASSERT_EQ(snap.devices.gpus.size(), 1u);
  ASSERT_TRUE(snap.devices.gpus[0].memory);
  EXPECT_EQ(snap.devices.gpus[0].memory->used, 44'000'000'000u);
  EXPECT_EQ(snap.nvml, std::vector<std::string>{"Xid since start: none"});
  const auto lines = report_lines(snap);
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0], "GPU 0 NVIDIA H200 (00000000:19:00.0): 41.0 GiB used of 139.7 GiB");
  EXPECT_EQ(lines.back(), "Xid since start: none");
  Snapshot unknown;
  GpuStatus off;
  off.wanted = true;
  off.unavailable = "libnvidia-ml.so.1 not found";
  add_nvml(unknown, off);
  EXPECT_EQ(unknown.nvml[0],
            "GPU memory unknown: podvisor-gpu unavailable (libnvidia-ml.so.1 not found)");
}

}  // namespace
}  // namespace podvisor::gpu
