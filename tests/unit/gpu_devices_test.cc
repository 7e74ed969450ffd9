#include <gtest/gtest.h>

#include <filesystem>

#include "gpu/devices.h"
#include "gpu_fake_proc.h"

namespace podvisor::gpu {
namespace {

constexpr const char* kInformation =
    "Model: \t\t NVIDIA H200\n"
    "IRQ:   \t\t 171\n"
    "GPU UUID: \t GPU-5a3c1b2e-0000-1111-2222-333344445555\n"
    "Video BIOS: \t 96.00.99.00.01\n"
    "Bus Type: \t PCIe\n"
    "DMA Size: \t 52 bits\n"
    "DMA Mask: \t 0xfffffffffffff\n"
    "Bus Location: \t 0000:19:00.0\n"
    "Device Minor: \t 0\n"
    "GPU Firmware: \t 550.54.15\n"
    "GPU Excluded:\t No\n";

TEST(GpuDevices, ParsesEveryField) {
  const auto g = parse_information(kInformation, "0000:19:00.0");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->minor, 0);
  EXPECT_EQ(g->model, "NVIDIA H200");
  EXPECT_EQ(g->uuid, "GPU-5a3c1b2e-0000-1111-2222-333344445555");
  EXPECT_EQ(g->bus_id, "0000:19:00.0");
  EXPECT_FALSE(g->memory);  // only NVML knows it
}

// Old drivers print no UUID; the directory name stands in for the bus location.
TEST(GpuDevices, OldDriverWithoutUuidAndNoMinorIsNoGpu) {
  const auto g = parse_information("Model: \t Tesla K80\nDevice Minor: \t 3\n", "0000:8A:00.0");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->minor, 3);
  EXPECT_EQ(g->uuid, "");
  EXPECT_EQ(g->bus_id, "0000:8a:00.0");
  EXPECT_FALSE(parse_information("Model: \t Tesla K80\n", "0000:8a:00.0"));
  EXPECT_FALSE(parse_information("Device Minor: \t 300\n", "x"));
}

TEST(GpuDevices, FindsNodesAndGpusInBusOrder) {
  fake::ProcTree t;
  for (const auto* n :
       {"nvidia2", "nvidia0", "nvidiactl", "nvidia-uvm", "nvidia-modeset", "null", "nvidiafoo"}) {
    fake::ProcTree::write(t.dev() + "/" + n, "");
  }
  Paths paths{t.dev(), t.base() + "/driver"};
  for (const auto& [bus, minor, model] : {std::tuple{"0000:b3:00.0", 2, "NVIDIA A100"},
                                          std::tuple{"0000:19:00.0", 0, "NVIDIA H200"}}) {
    std::filesystem::create_directories(fmt::format("{}/gpus/{}", paths.proc_dir, bus));
    fake::ProcTree::write(fmt::format("{}/gpus/{}/information", paths.proc_dir, bus),
                          fmt::format("Model: \t {}\nGPU UUID: \t GPU-{}\nDevice Minor: \t {}\n",
                                      model, minor, minor));
  }
  const auto d = find_devices(paths);
  EXPECT_EQ(d.minors, (std::vector<int>{0, 2}));
  EXPECT_TRUE(d.ctl);
  EXPECT_TRUE(d.uvm);
  ASSERT_EQ(d.gpus.size(), 2u);
  EXPECT_EQ(d.gpus[0].minor, 0);
  EXPECT_EQ(d.gpus[1].minor, 2);
  EXPECT_EQ(d.describe(2), "GPU 2 NVIDIA A100 (0000:b3:00.0)");
  EXPECT_EQ(d.describe(5), "GPU 5");

  EXPECT_FALSE(find_devices(Paths{t.base() + "/none", t.base() + "/none"}).any());
}

TEST(GpuDevices, VisibleDevicesMapToMinors) {
  Devices d;
  d.minors = {2, 5, 7};
  d.gpus = {{2, "0000:19:00.0", "GPU-aaaa", "H200", {}},
            {5, "0000:3b:00.0", "GPU-bbbb", "H200", {}},
            {7, "0000:b3:00.0", "GPU-cccc", "H200", {}}};
  EXPECT_EQ(visible_minors(d, std::nullopt, std::nullopt).minors, (std::vector<int>{2, 5, 7}));
  // Indices count the visible GPUs in bus order, in the list's order.
  EXPECT_EQ(visible_minors(d, "2,0", std::nullopt).minors, (std::vector<int>{7, 2}));
  // UUIDs and their prefixes.
  EXPECT_EQ(visible_minors(d, "GPU-bbbb", std::nullopt).minors, (std::vector<int>{5}));
  EXPECT_EQ(visible_minors(d, "gpu-cc", std::nullopt).minors, (std::vector<int>{7}));
  // An invalid entry hides everything after it; empty is no GPU.
  EXPECT_EQ(visible_minors(d, "1,9,0", std::nullopt).minors, (std::vector<int>{5}));
  EXPECT_TRUE(visible_minors(d, "", std::nullopt).minors.empty());
  EXPECT_TRUE(visible_minors(d, std::nullopt, "none").minors.empty());
  EXPECT_EQ(visible_minors(d, std::nullopt, "all").minors.size(), 3u);
  // Mixed models: CUDA's default order is not the bus order.
  d.gpus[1].model = "A100";
  EXPECT_NE(visible_minors(d, "0", std::nullopt).warning, "");
  EXPECT_EQ(visible_minors(d, "0", std::nullopt, true).warning, "");
  // Without procfs facts, the nodes in order.
  Devices bare;
  bare.minors = {1, 3};
  EXPECT_EQ(visible_minors(bare, "1", std::nullopt).minors, (std::vector<int>{3}));
}

}  // namespace
}  // namespace podvisor::gpu
