// GPU use per program: NVML's memory matched to holders by pid (a shared host pid namespace)
// or by elimination, summed per program, and rendered for /metrics.
#include <gtest/gtest.h>

#include "gpu/programs.h"

namespace podvisor::gpu {
namespace {

Holder holder(pid_t pid, std::string program, std::vector<int> minors) {
  Holder h;
  h.proc.pid = pid;
  h.program = std::move(program);
  h.attribution = h.program.empty() ? Attribution::kUnknown : Attribution::kProgram;
  h.holding.minors = std::move(minors);
  return h;
}

Sample sample(std::vector<std::pair<int, std::vector<ProcessMemory>>> per_minor) {
  Sample s;
  for (auto& [minor, procs] : per_minor) {
    Gpu g;
    g.minor = minor;
    g.procs = procs;
    s.gpus.push_back(g);
  }
  return s;
}

TEST(GpuPrograms, HostPidsMatchAndTheUnlistedUseNone) {
  std::vector<Holder> hs = {holder(311, "vllm", {0}), holder(312, "vllm", {0, 1}),
                            holder(400, "", {1})};
  attribute_memory(hs, sample({{0, {{311, 40}, {312, 2}}}, {1, {{400, 7}}}}));
  EXPECT_EQ(hs[0].memory_bytes, 40u);
  EXPECT_EQ(hs[1].memory_bytes, 2u);  // GPU 1: not listed there, so none
  EXPECT_EQ(hs[2].memory_bytes, 7u);
  const auto per = per_program(hs);
  ASSERT_EQ(per.size(), 1u);  // the unknown process belongs to no program
  EXPECT_EQ(per[0].program, "vllm");
  EXPECT_EQ(per[0].holders, 2u);
  EXPECT_EQ(per[0].memory, 42u);
}

TEST(GpuPrograms, OtherPidNamespaceOnlyByElimination) {
  // NVML's pids are the host's: one process and one holder on GPU 0 is the same one; two
  // holders on GPU 1 cannot be told apart.
  std::vector<Holder> hs = {holder(7, "a", {0}), holder(8, "b", {1}), holder(9, "b", {1})};
  attribute_memory(hs, sample({{0, {{90001, 40}}}, {1, {{90002, 5}}}}));
  EXPECT_EQ(hs[0].memory_bytes, 40u);
  EXPECT_FALSE(hs[1].memory_bytes);
  EXPECT_FALSE(hs[2].memory_bytes);
  const auto per = per_program(hs);
  ASSERT_EQ(per.size(), 2u);
  EXPECT_EQ(per[0].memory, 40u);
  EXPECT_EQ(per[1].holders, 2u);
  EXPECT_FALSE(per[1].memory);
  const auto text = render_program_gpu_metrics(per, [](const std::string& p) { return p + "g"; });
  EXPECT_NE(text.find("podvisor_program_gpu_holders{group=\"bg\",program=\"b\"} 2\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("podvisor_program_gpu_memory_bytes{group=\"ag\",program=\"a\"} 40\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("podvisor_program_gpu_memory_bytes{group=\"bg\""), std::string::npos);
  EXPECT_EQ(render_program_gpu_metrics({}, [](const std::string& p) { return p; }), "");
}

}  // namespace
}  // namespace podvisor::gpu
