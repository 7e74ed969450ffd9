#include <gtest/gtest.h>

#include "gpu/report.h"

namespace podvisor::gpu {
namespace {

Holder holder(pid_t pid, std::string cmd, std::vector<int> minors, Attribution a,
              std::string program) {
  Holder h;
  h.proc.pid = pid;
  h.proc.cmdline = std::move(cmd);
  h.holding.minors = std::move(minors);
  h.attribution = a;
  h.program = std::move(program);
  return h;
}

Snapshot one_gpu() {
  Snapshot s;
  s.devices.minors = {0, 1};
  s.devices.ctl = true;
  s.devices.gpus = {
      {0, "0000:19:00.0", "GPU-a", "NVIDIA H200", {}},
      {1, "0000:3b:00.0", "GPU-b", "NVIDIA H200",
       Memory{.total = 150ULL << 30, .used = 41ULL << 30, .free = 109ULL << 30, .reserved = {}}}};
  s.holders = {holder(311, "VLLM::EngineCore", {0}, Attribution::kLeftover, "vllm"),
               holder(77, "python", {}, Attribution::kUnknown, "")};
  s.holders[1].holding.ctl = true;
  s.holders[0].memory_bytes = 44237936640ULL;  // 41.2 GiB
  return s;
}

TEST(GpuReport, SectionListsEveryGpuAndItsHolders) {
  EXPECT_EQ(report_lines(one_gpu()),
            (std::vector<std::string>{
                "GPU 0 NVIDIA H200 (0000:19:00.0): memory unknown",
                "  pid 311 'VLLM::EngineCore' — leftover of vllm's last run, 41.2 GiB",
                "GPU 1 NVIDIA H200 (0000:3b:00.0): 41.0 GiB used of 150.0 GiB",
                "  no process holds it",
                "pid 77 'python' — unknown: nvidiactl",
            }));
  EXPECT_TRUE(report_lines(Snapshot{}).empty());
}

TEST(GpuReport, DiagnosisPointsAtTheHolders) {
  const auto s = one_gpu();
  EXPECT_EQ(diagnose({"x", "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate"}, s),
            "the last lines say \"CUDA out of memory\" while pid 311 'VLLM::EngineCore' (leftover "
            "of vllm's last run) held GPU 0");
  EXPECT_NE(diagnose({"ValueError: Free memory on device cuda:0 (19.77/22.05 GiB) on startup is "
                      "less than desired GPU memory utilization (0.9, 19.84 GiB)."},
                     s)
                .find("Free memory on device … less than desired\" while pid 311"),
            std::string::npos);
  EXPECT_NE(diagnose({"RuntimeError: NCCL error in: ..."}, s).find("\"NCCL error\""),
            std::string::npos);
  EXPECT_EQ(diagnose({"all good"}, s), "");
}

TEST(GpuReport, DiagnosisPointsAtAMissingDevice) {
  EXPECT_EQ(diagnose({"RuntimeError: Found no NVIDIA driver: no CUDA-capable device is detected"},
                     Snapshot{}),
            "the last lines say \"no CUDA-capable device\" and no GPU is visible: /dev/nvidia0 "
            "missing — is the container started with --gpus / the NVIDIA runtime?");
  auto s = one_gpu();
  s.holders.clear();
  EXPECT_EQ(diagnose({"cudaErrorNoDevice"}, s),
            "the last lines say \"cudaErrorNoDevice\" although /dev/nvidia0 is visible: check "
            "CUDA_VISIBLE_DEVICES and the driver");
  EXPECT_EQ(diagnose({"CUDA out of memory"}, s),
            "the last lines say \"CUDA out of memory\" and no other process holds a GPU: the "
            "program needs more than is free");
}

}  // namespace
}  // namespace podvisor::gpu
