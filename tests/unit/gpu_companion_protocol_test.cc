// The companion's lines as podvisor reads them: hello with and without NVML, samples with
// missing figures, events, and lines that are none of these.
#include <gtest/gtest.h>

#include "gpu/companion_protocol.h"

namespace podvisor::gpu {
namespace {

TEST(CompanionProtocol, HelloWithNvml) {
  const auto m = parse_line(
      R"({"hello":1,"driver":"575.57.08","nvml":"12.575.57","symbols":{"procs":"v3","mem":"v2"},)"
      R"("events":"xid,dbe","gpus":8})");
  const auto* h = std::get_if<Hello>(&m);
  ASSERT_NE(h, nullptr);
  EXPECT_TRUE(h->nvml);
  EXPECT_EQ(h->driver, "575.57.08");
  EXPECT_EQ(h->version, "12.575.57");
  EXPECT_EQ(h->symbols.at("procs"), "v3");
  EXPECT_EQ(h->events, "xid,dbe");
  EXPECT_EQ(h->gpus, 8u);
}

TEST(CompanionProtocol, HelloWithoutNvml) {
  const auto m = parse_line(R"({"hello":1,"nvml":null,"reason":"libnvidia-ml.so.1 not found"})");
  const auto* h = std::get_if<Hello>(&m);
  ASSERT_NE(h, nullptr);
  EXPECT_FALSE(h->nvml);
  EXPECT_EQ(h->reason, "libnvidia-ml.so.1 not found");
}

TEST(CompanionProtocol, Sample) {
  const auto m = parse_line(
      R"({"id":7,"gpus":[{"index":0,"minor":2,"uuid":"GPU-1","bus_id":"00000000:19:00.0",)"
      R"("name":"NVIDIA H200","mig":false,"mem":{"total":100,"used":40,"free":60,"reserved":1},)"
      R"("util":41,"temp_c":38,"procs":[{"host_pid":311,"bytes":40},{"host_pid":9,"bytes":null}]},)"
      R"({"index":1,"minor":null,"uuid":"GPU-2","bus_id":null,"name":"x","mig":true,"mem":null,)"
      R"("mem_error":"GPU is lost","util":null,"temp_c":null,"procs":null},)"
      R"({"index":2,"error":"no handle"}]})");
  const auto* r = std::get_if<Reply>(&m);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->id, 7u);
  ASSERT_TRUE(r->sample);
  ASSERT_EQ(r->sample->gpus.size(), 3u);
  const auto& a = r->sample->gpus[0];
  EXPECT_EQ(a.minor, 2);
  EXPECT_EQ(a.name, "NVIDIA H200");
  EXPECT_EQ(a.bus_id, "00000000:19:00.0");
  EXPECT_EQ(a.mem, (Memory{100, 40, 60, 1}));
  EXPECT_EQ(a.util, 41u);
  EXPECT_EQ(a.temp_c, 38);
  ASSERT_TRUE(a.procs);
  EXPECT_EQ(*a.procs, (std::vector<ProcessMemory>{{311, 40}, {9, std::nullopt}}));
  const auto& b = r->sample->gpus[1];
  EXPECT_FALSE(b.minor);
  EXPECT_TRUE(b.mig);
  EXPECT_FALSE(b.mem);
  EXPECT_FALSE(b.util);
  EXPECT_FALSE(b.procs);
  EXPECT_EQ(r->sample->gpus[2].error, "no handle");
}

TEST(CompanionProtocol, SampleError) {
  const auto m = parse_line(R"({"id":3,"error":"GPU is lost"})");
  const auto* r = std::get_if<Reply>(&m);
  ASSERT_NE(r, nullptr);
  EXPECT_FALSE(r->sample);
  EXPECT_EQ(r->error, "GPU is lost");
}

TEST(CompanionProtocol, Events) {
  auto m = parse_line(R"({"event":"xid","index":0,"minor":3,"uuid":"GPU-1","data":79})");
  auto* e = std::get_if<Event>(&m);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->kind, EventKind::kXid);
  EXPECT_EQ(e->index, 0);
  EXPECT_EQ(e->minor, 3);
  EXPECT_EQ(e->data, 79u);
  m = parse_line(R"({"event":"ecc_dbe","index":1,"minor":1,"uuid":"GPU-2","data":0})");
  EXPECT_EQ(std::get<Event>(m).kind, EventKind::kEccDoubleBit);
  m = parse_line(R"({"event":"error","error":"Unknown Error"})");
  EXPECT_EQ(std::get<Event>(m).kind, EventKind::kError);
  EXPECT_EQ(std::get<Event>(m).error, "Unknown Error");
}

TEST(CompanionProtocol, UnreadableLines) {
  for (const char* line : {"", "{", "[1]", R"({"x":1})", R"({"id":"seven","gpus":[]})",
                           R"({"id":1,"gpus":[{"name":"no index"}]})",
                           R"({"error":"unknown command","command":"x"})"}) {
    EXPECT_TRUE(std::holds_alternative<Unreadable>(parse_line(line))) << line;
  }
}

TEST(CompanionProtocol, CommandsAndHelpers) {
  EXPECT_EQ(sample_command(12), "sample 12\n");
  for (uint64_t xid : {13, 31, 43, 45, 68, 109}) EXPECT_FALSE(critical_xid(xid)) << xid;
  for (uint64_t xid : {48, 63, 64, 74, 79, 94, 95, 999}) EXPECT_TRUE(critical_xid(xid)) << xid;
  EXPECT_EQ(gib(uint64_t{20} << 30), "20.0 GiB");
  EXPECT_EQ(gib(13'000'000'000), "12.1 GiB");
}

}  // namespace
}  // namespace podvisor::gpu
