#include <gtest/gtest.h>

#include "config/gpu_keys.h"
#include "config/keys.h"
#include "config/values.h"

namespace podvisor::config {
namespace {

TEST(GpuKeys, ParseAndBounds) {
  EXPECT_EQ(parse_gpu_fence("auto"), GpuFence::kAuto);
  EXPECT_EQ(parse_gpu_fence("AUTO"), GpuFence::kAuto);
  EXPECT_EQ(parse_gpu_fence("true"), GpuFence::kTrue);
  EXPECT_EQ(parse_gpu_fence("0"), GpuFence::kFalse);
  EXPECT_THROW(parse_gpu_fence("maybe"), ValueError);
  EXPECT_EQ(parse_gpu_fence_timeout("60"), std::chrono::seconds(60));
  EXPECT_EQ(parse_gpu_fence_timeout("0.5"), std::chrono::milliseconds(500));
  EXPECT_THROW(parse_gpu_fence_timeout("0"), ValueError);
  EXPECT_THROW(parse_gpu_fence_timeout("x"), ValueError);
  EXPECT_EQ(parse_require_gpu("2"), 2);
  EXPECT_EQ(parse_require_gpu("true"), 1);
  EXPECT_EQ(parse_require_gpu("off"), 0);
  EXPECT_THROW(parse_require_gpu("999"), ValueError);
  EXPECT_THROW(parse_require_gpu("many"), ValueError);
}

TEST(GpuKeys, RowsAreInTheTable) {
  const auto* fence = find_key("program:vllm", "gpu_fence");
  ASSERT_TRUE(fence);
  EXPECT_FALSE(fence->not_yet);
  EXPECT_TRUE(fence->single_command);
  ProgramSpec p;
  EXPECT_FALSE(fence->print(p));  // the default is not printed
  fence->program(p, "false");
  EXPECT_EQ(p.gpu_fence, GpuFence::kFalse);
  EXPECT_EQ(fence->print(p), "false");
  const auto* timeout = find_key("program:vllm", "gpu_fence_timeout");
  ASSERT_TRUE(timeout);
  timeout->program(p, "2.5");
  EXPECT_EQ(timeout->print(p), "2.5");
  const auto* require = find_key("podvisor", "require_gpu");
  ASSERT_TRUE(require);
  EXPECT_FALSE(require->not_yet);
  SupervisorSpec s;
  require->supervisord(s, "4");
  EXPECT_EQ(s.require_gpu, 4);
}

}  // namespace
}  // namespace podvisor::config
