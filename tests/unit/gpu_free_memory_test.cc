// gpu_free_memory's decision: enough, wait with the progress text, or unknown without NVML;
// and which GPUs a program sees through CUDA_VISIBLE_DEVICES / NVIDIA_VISIBLE_DEVICES.
#include <gtest/gtest.h>

#include "gpu/free_memory.h"

namespace podvisor::gpu {
namespace {

constexpr uint64_t kGiB = uint64_t{1} << 30;

Sample two_gpus(uint64_t free0, uint64_t free1) {
  Sample s;
  for (unsigned i = 0; i < 2; ++i) {
    Gpu g;
    g.index = i;
    g.minor = static_cast<int>(i) + 4;
    g.uuid = i == 0 ? "GPU-aaaa-1111" : "GPU-bbbb-2222";
    g.name = "NVIDIA H200";
    const uint64_t free = i == 0 ? free0 : free1;
    g.mem = Memory{140 * kGiB, 140 * kGiB - free, free, std::nullopt};
    s.gpus.push_back(g);
  }
  return s;
}

std::vector<unsigned> indices(const Sample& s, VisibleDevices env) {
  const auto gpus = visible_gpus(s, env);
  EXPECT_TRUE(gpus);
  std::vector<unsigned> out;
  for (const auto* g : gpus.value_or(std::vector<const Gpu*>{})) out.push_back(g->index);
  return out;
}

TEST(FreeMemory, VisibleGpus) {
  const auto s = two_gpus(kGiB, kGiB);
  using V = std::vector<unsigned>;
  EXPECT_EQ(indices(s, {}), (V{0, 1}));
  EXPECT_EQ(indices(s, {"1", std::nullopt}), (V{1}));
  EXPECT_EQ(indices(s, {"1,0", std::nullopt}), (V{1, 0}));
  EXPECT_EQ(indices(s, {"", std::nullopt}), V{});
  EXPECT_EQ(indices(s, {"GPU-bbbb", std::nullopt}), (V{1}));
  EXPECT_EQ(indices(s, {"GPU-", std::nullopt}), V{});      // ambiguous prefix: nothing
  EXPECT_EQ(indices(s, {"0,7,1", std::nullopt}), (V{0}));  // an invalid entry hides the rest
  // CUDA_VISIBLE_DEVICES wins over NVIDIA_VISIBLE_DEVICES.
  EXPECT_EQ(indices(s, {"0", "GPU-bbbb-2222"}), (V{0}));
  EXPECT_EQ(indices(s, {std::nullopt, "GPU-bbbb-2222"}), (V{1}));
  // The runtime's indices are the host's, and already applied: all visible GPUs.
  EXPECT_EQ(indices(s, {std::nullopt, "3"}), (V{0, 1}));
  EXPECT_EQ(indices(s, {std::nullopt, "all"}), (V{0, 1}));
  EXPECT_EQ(indices(s, {std::nullopt, "none"}), V{});
  EXPECT_FALSE(visible_gpus(s, {"MIG-GPU-aaaa/1/0", std::nullopt}));
}

TEST(FreeMemory, EnoughOrWait) {
  const config::GpuFreeMemory twenty{20 * kGiB, 0};
  auto d = decide_free_memory(two_gpus(30 * kGiB, 25 * kGiB), {}, twenty);
  EXPECT_EQ(d.verdict, FreeMemoryVerdict::kEnough);
  EXPECT_EQ(d.text, "");
  d = decide_free_memory(two_gpus(13'000'000'000, 25 * kGiB), {}, twenty);
  EXPECT_EQ(d.verdict, FreeMemoryVerdict::kWait);
  EXPECT_EQ(d.text, "waiting for 20.0 GiB free on GPU 0 (12.1 GiB free)");
  d = decide_free_memory(two_gpus(kGiB, 2 * kGiB), {}, twenty);
  EXPECT_EQ(d.text, "waiting for 20.0 GiB free on GPU 0 (1.0 GiB free), GPU 1 (2.0 GiB free)");
  // Only the program's GPUs count.
  d = decide_free_memory(two_gpus(kGiB, 25 * kGiB), {"1", std::nullopt}, twenty);
  EXPECT_EQ(d.verdict, FreeMemoryVerdict::kEnough);
  d = decide_free_memory(two_gpus(kGiB, 25 * kGiB), {"", std::nullopt}, twenty);
  EXPECT_EQ(d.verdict, FreeMemoryVerdict::kEnough);
}

TEST(FreeMemory, Percent) {
  const config::GpuFreeMemory ninety{0, 90};
  auto d = decide_free_memory(two_gpus(127 * kGiB, 127 * kGiB), {}, ninety);
  EXPECT_EQ(d.verdict, FreeMemoryVerdict::kEnough);
  d = decide_free_memory(two_gpus(100 * kGiB, 127 * kGiB), {}, ninety);
  EXPECT_EQ(d.verdict, FreeMemoryVerdict::kWait);
  EXPECT_EQ(d.text, "waiting for 90% (126.0 GiB) free on GPU 0 (100.0 GiB free)");
}

TEST(FreeMemory, UnknownWithoutNvml) {
  const config::GpuFreeMemory twenty{20 * kGiB, 0};
  auto d = decide_free_memory(std::nullopt, {}, twenty);
  EXPECT_EQ(d.verdict, FreeMemoryVerdict::kUnknown);
  EXPECT_NE(d.text.find("gpu_free_memory=20GiB not checked"), std::string::npos) << d.text;
  auto s = two_gpus(kGiB, kGiB);
  s.gpus[1].mem.reset();
  d = decide_free_memory(s, {}, twenty);
  EXPECT_EQ(d.verdict, FreeMemoryVerdict::kUnknown);
  d = decide_free_memory(s, {"MIG-x", std::nullopt}, twenty);
  EXPECT_EQ(d.verdict, FreeMemoryVerdict::kUnknown);
}

}  // namespace
}  // namespace podvisor::gpu
