// gpu_free_memory=: the spellings accepted, their canonical text, and what is refused.
#include <gtest/gtest.h>

#include "config/gpu_memory_keys.h"
#include "config/keys.h"
#include "config/values.h"

namespace podvisor::config {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;

TEST(GpuFreeMemoryKey, Amounts) {
  EXPECT_EQ(parse_gpu_free_memory("20000").bytes, 20000 * kMiB);
  EXPECT_EQ(parse_gpu_free_memory("20GiB").bytes, 20 * 1024 * kMiB);
  EXPECT_EQ(parse_gpu_free_memory(" 20 gb ").bytes, 20 * 1024 * kMiB);
  EXPECT_EQ(parse_gpu_free_memory("1.5TiB").bytes, 1536 * 1024 * kMiB);
  EXPECT_EQ(parse_gpu_free_memory("512MB").bytes, 512 * kMiB);
  EXPECT_EQ(parse_gpu_free_memory("512M").bytes, 512 * kMiB);
  EXPECT_EQ(parse_gpu_free_memory("90%").percent, 90);
  EXPECT_EQ(parse_gpu_free_memory("90%").bytes, 0u);
  EXPECT_EQ(parse_gpu_free_memory("12.5 %").percent, 12.5);
}

TEST(GpuFreeMemoryKey, Texts) {
  EXPECT_EQ(to_string(parse_gpu_free_memory("20GiB")), "20GiB");
  EXPECT_EQ(to_string(parse_gpu_free_memory("20000")), "19.5312GiB");
  EXPECT_EQ(to_string(parse_gpu_free_memory("512")), "512MiB");
  EXPECT_EQ(to_string(parse_gpu_free_memory("90%")), "90%");
}

TEST(GpuFreeMemoryKey, Refused) {
  for (const char* text :
       {"", "GiB", "-1", "0", "0%", "101%", "20 GiB free", "20PiB", "nan", "1e30GiB", "x20"}) {
    EXPECT_THROW(parse_gpu_free_memory(text), ValueError) << text;
  }
}

TEST(GpuFreeMemoryKey, InTheKeyTable) {
  const Key* key = find_key("program:x", "gpu_free_memory");
  ASSERT_NE(key, nullptr);
  EXPECT_FALSE(key->not_yet);
  ProgramSpec p;
  ASSERT_NE(key->print, nullptr);
  EXPECT_FALSE(key->print(p));
  key->program(p, "20GiB");
  ASSERT_TRUE(p.gpu_free_memory);
  EXPECT_EQ(key->print(p), "20GiB");
  EXPECT_THROW(key->program(p, "lots"), ValueError);
}

}  // namespace
}  // namespace podvisor::config
