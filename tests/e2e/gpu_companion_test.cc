// GPU facts through NVML (issue 11, points 3 and 6): the real podvisor-gpu under the real
// podvisor, with the fake libnvidia-ml.so.1 of tests/fake_nvml (a current driver, and one
// without the _v2/_v3 symbols) through LD_LIBRARY_PATH and fake device files through
// PODVISOR_GPU_DEVICE_DIR. The figures in /metrics and /api/v1/gpus are the fixture's; an Xid
// written to the fake event set's FIFO counts and makes /health 503; a killed companion comes
// back; without NVML, without the companion, or in an empty root podvisor runs on and says so.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>

#include "harness.h"

namespace e2e {
namespace {

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// Two H200s; the current driver's _v3 writes R535's 32-byte process entries, which the
// companion must read right (its stride check).
constexpr std::string_view kFixture = R"(driver 575.57.08
nvml 12.575.57
stride 32
gpu
name NVIDIA H200
uuid GPU-11111111-2222-3333-4444-555555555555
minor 0
bus 00000000:19:00.0
memory 150754820096 44291850240
util 41
temp 38
proc 311 44270878720
proc 312 20971520
gpu
name NVIDIA H200
uuid GPU-66666666-2222-3333-4444-555555555555
minor 3
bus 00000000:3B:00.0
memory 150754820096 0
util 0
temp 30
)";

constexpr std::string_view kLabels0 =
    R"({gpu="0",minor="0",uuid="GPU-11111111-2222-3333-4444-555555555555",name="NVIDIA H200"})";

bool has_line(std::string_view text, const std::string& line) {
  for (const auto& l : lines(text)) {
    if (l == line) return true;
  }
  return false;
}

class GpuCompanion : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    ::mkdir(dev_.c_str(), 0755);
    write_file(dev_ + "/nvidia0", "");
    write_file(dev_ + "/nvidiactl", "");
    write_file(dir_ / "fixture", kFixture);
    ASSERT_EQ(::mkfifo(fifo_.c_str(), 0600), 0);
    // Held open for the whole test: what is written stays until the fake reads it.
    fifo_fd_ = ::open(fifo_.c_str(), O_RDWR | O_CLOEXEC);
    ASSERT_GE(fifo_fd_, 0);
  }
  void TearDown() override { ::close(fifo_fd_); }

  std::map<std::string, std::optional<std::string>> env(bool with_nvml = true) {
    return {{"SUPERVISOR_UNIX_HTTP_SERVER_FILE", socket_},
            {"PODVISOR_GPU_DEVICE_DIR", dev_},
            {"PODVISOR_GPU_COMPANION", PODVISOR_GPU_COMPANION_BINARY},
            {"FAKE_NVML_FIXTURE", dir_ / "fixture"},
            {"FAKE_NVML_EVENTS", fifo_},
            {"LD_LIBRARY_PATH",
             with_nvml ? std::optional<std::string>(std::string(FAKE_NVML_DIR) + "/" + GetParam())
                       : std::nullopt}};
  }
  Options sleeper(std::map<std::string, std::optional<std::string>> e) {
    return podvisor({"--", "sleep", "1000"}, std::move(e));
  }

  // GET `path` over the control socket: "STATUS\nBODY".
  std::string get(const std::string& path) {
    Options o;
    o.argv = {"python3", data_path("control_http.py"), "unix://" + socket_, "GET", path};
    const auto r = run(o);
    return r.code == 0 ? r.out : "no answer: " + r.describe();
  }

  void event(std::string_view line) {
    const std::string text = std::string(line) + "\n";
    ASSERT_EQ(::write(fifo_fd_, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  }

  // podvisor-gpu's pid: podvisor's child of that name.
  std::optional<pid_t> companion(pid_t podvisor_pid) {
    for (pid_t pid : children(podvisor_pid)) {
      if (process_name(pid) == "podvisor-gpu") return pid;
    }
    return std::nullopt;
  }

  TempDir dir_;
  std::string dev_ = dir_ / "dev";
  std::string fifo_ = dir_ / "events";
  std::string socket_ = dir_ / "podvisor.sock";
  int fifo_fd_ = -1;
};

INSTANTIATE_TEST_SUITE_P(FakeNvml, GpuCompanion, ::testing::Values("full", "no_v3"));

TEST_P(GpuCompanion, FiguresAreTheFixtures) {
  Child c(sleeper(env()));
  // The plain (v1) PCI call only knows the 4-digit domain.
  const std::string bus0 = GetParam() == "full" ? "00000000:19:00.0" : "0000:19:00.0";
  ASSERT_TRUE(c.wait_stderr("gpu: 2 GPUs visible: GPU 0 NVIDIA H200 (" + bus0 +
                            ", minor 0), GPU 1 "
                            "NVIDIA H200"))
      << c.describe();
  EXPECT_TRUE(contains(c.err(), "; NVML 12.575.57 via podvisor-gpu")) << c.err();
  const auto metrics = get("/metrics");
  const std::string l(kLabels0);
  EXPECT_TRUE(has_line(metrics, "podvisor_gpu_companion_up 1")) << metrics;
  EXPECT_TRUE(has_line(metrics, "podvisor_gpu_memory_used_bytes" + l + " 44291850240")) << metrics;
  EXPECT_TRUE(has_line(metrics, "podvisor_gpu_memory_total_bytes" + l + " 150754820096"))
      << metrics;
  EXPECT_TRUE(has_line(metrics, "podvisor_gpu_utilization_ratio" + l + " 0.41")) << metrics;
  EXPECT_TRUE(has_line(metrics, "podvisor_gpu_temperature_celsius" + l + " 38")) << metrics;
  EXPECT_TRUE(contains(metrics, R"(podvisor_gpu_temperature_celsius{gpu="1",minor="3")"))
      << metrics;
  const auto api = get("/api/v1/gpus");
  EXPECT_TRUE(api.starts_with("200\n")) << api;
  // The second process entry is where a wrong stride shows.
  EXPECT_TRUE(contains(api, R"({"bytes":20971520,"host_pid":312})")) << api;
  EXPECT_TRUE(contains(api, R"("companion_up":true)")) << api;
  EXPECT_TRUE(get("/health").starts_with("200\n"));
}

TEST_P(GpuCompanion, CriticalXidMakesHealth503) {
  Child c(sleeper(env()));
  ASSERT_TRUE(c.wait_stderr("GPUs visible")) << c.describe();
  event("xid 13 1");  // an application's fault: counted, still healthy
  ASSERT_TRUE(c.wait_stderr("Xid 13 (an application's fault)")) << c.describe();
  EXPECT_TRUE(get("/health").starts_with("200\n"));
  event("xid 79 0");
  ASSERT_TRUE(c.wait_stderr("Xid 79; /health reports podvisor unhealthy")) << c.describe();
  const auto health = get("/health");
  EXPECT_TRUE(health.starts_with("503\nGPU 0: Xid 79 at ")) << health;
  const auto metrics = get("/metrics");
  EXPECT_TRUE(has_line(metrics, R"(podvisor_gpu_xid_errors_total{gpu="0",xid="79"} 1)")) << metrics;
  EXPECT_TRUE(has_line(metrics, R"(podvisor_gpu_xid_errors_total{gpu="1",xid="13"} 1)")) << metrics;
  event("dbe 0 0");
  ASSERT_TRUE(c.wait_stderr("GPU 0: double-bit ECC error")) << c.describe();
  EXPECT_TRUE(
      has_line(get("/metrics"), R"(podvisor_gpu_ecc_errors_total{gpu="0",kind="double_bit"} 1)"));
}

TEST_P(GpuCompanion, KilledCompanionIsStartedAgain) {
  Child c(sleeper(env()));
  ASSERT_TRUE(c.wait_stderr("GPUs visible")) << c.describe();
  const auto first = companion(c.pid());
  ASSERT_TRUE(first) << c.describe();
  ASSERT_EQ(::kill(*first, SIGKILL), 0);
  ASSERT_TRUE(c.wait_stderr(" was killed by SIGKILL; starting it again in 1 s")) << c.describe();
  ASSERT_TRUE(c.wait_for([&] { return count(c.err(), "GPUs visible") == 2; })) << c.describe();
  const auto second = companion(c.pid());
  ASSERT_TRUE(second);
  EXPECT_NE(*second, *first);
  EXPECT_TRUE(has_line(get("/metrics"), "podvisor_gpu_companion_up 1"));
  c.signal(SIGTERM);
  EXPECT_EQ(c.wait_exit(), 143);
  EXPECT_FALSE(contains(c.err(), "leftover")) << c.err();  // the companion is no leftover
}

// A companion that stops answering (a GPU stuck after Xid 45 leaves NVML calls in state D;
// SIGSTOP stands in for it) holds nothing up: /metrics answers after its deadline with the
// last sample's figures.
TEST_P(GpuCompanion, StuckCompanionHoldsNothingUp) {
  Child c(sleeper(env()));
  ASSERT_TRUE(c.wait_stderr("GPUs visible")) << c.describe();
  const auto pid = companion(c.pid());
  ASSERT_TRUE(pid);
  ASSERT_EQ(::kill(*pid, SIGSTOP), 0);
  for (int i = 0; i < 3; ++i) {
    const auto metrics = get("/metrics");
    EXPECT_TRUE(metrics.starts_with("200\n")) << metrics;
    EXPECT_TRUE(has_line(metrics,
                         "podvisor_gpu_memory_used_bytes" + std::string(kLabels0) + " 44291850240"))
        << metrics;
  }
  EXPECT_TRUE(get("/health").starts_with("200\n"));
  ASSERT_EQ(::kill(*pid, SIGCONT), 0);
}

// Past 10 s without an answer the stuck companion is killed, reaped, and started again.
TEST_P(GpuCompanion, StuckCompanionIsReplaced) {
  if (GetParam() != "full") GTEST_SKIP() << "the same with either library";
  Child c(sleeper(env()));
  ASSERT_TRUE(c.wait_stderr("GPUs visible")) << c.describe();
  const auto pid = companion(c.pid());
  ASSERT_TRUE(pid);
  ASSERT_EQ(::kill(*pid, SIGSTOP), 0);
  // Each scrape asks; the one after 10 s of silence ends it.
  ASSERT_TRUE(c.wait_for(
      [&] {
        get("/metrics");
        return contains(c.err(), "has not answered for 10 s");
      },
      30s, 500ms))
      << c.describe();
  ASSERT_TRUE(c.wait_stderr("was killed by SIGKILL; starting it again in 1 s")) << c.describe();
  ASSERT_TRUE(c.wait_for([&] { return count(c.err(), "GPUs visible") == 2; })) << c.describe();
  EXPECT_TRUE(has_line(get("/metrics"), "podvisor_gpu_companion_up 1"));
}

TEST_P(GpuCompanion, WithoutNvmlMemoryIsUnknown) {
  Child c(sleeper(env(false)));
  ASSERT_TRUE(
      c.wait_stderr("gpu: podvisor-gpu unavailable (libnvidia-ml.so.1 not found): GPU "
                    "memory shows as unknown"))
      << c.describe();
  ASSERT_TRUE(c.wait_stderr("entered RUNNING state")) << c.describe();
  const auto metrics = get("/metrics");
  EXPECT_TRUE(has_line(metrics, "podvisor_gpu_companion_up 0")) << metrics;
  EXPECT_FALSE(contains(metrics, "podvisor_gpu_memory_used_bytes{")) << metrics;
  EXPECT_TRUE(get("/health").starts_with("200\n"));
  EXPECT_FALSE(contains(c.err(), "starting it again")) << c.err();  // exit 3 is not retried
}

TEST_P(GpuCompanion, MissingCompanion) {
  auto e = env();
  e["PODVISOR_GPU_COMPANION"] = dir_ / "no-such-podvisor-gpu";
  Child c(sleeper(e));
  ASSERT_TRUE(c.wait_stderr("gpu: podvisor-gpu unavailable (" + (dir_ / "no-such-podvisor-gpu") +
                            ": No such file or directory): GPU memory shows as unknown"))
      << c.describe();
  ASSERT_TRUE(c.wait_stderr("entered RUNNING state")) << c.describe();
  EXPECT_TRUE(has_line(get("/metrics"), "podvisor_gpu_companion_up 0"));
}

// gpu_free_memory: the spawn waits, with a progress line, until NVML shows enough free on the
// program's GPU (GPU 0 has 99.2 GiB free, GPU 1 all 140.4 GiB), then starts at once.
TEST_P(GpuCompanion, FreeMemoryWaitHoldsTheSpawnUntilEnoughIsFree) {
  const auto conf = write_config(dir_, R"([program:job]
command=sleep 1000
gpu_free_memory=120GiB
environment=CUDA_VISIBLE_DEVICES="0"
)");
  Child c(podvisor({"-c", conf}, env()));
  ASSERT_TRUE(c.wait_stderr("job: waiting for 120.0 GiB free on GPU 0 (99.2 GiB free)"))
      << c.describe();
  EXPECT_FALSE(contains(c.err(), "spawned: 'job'")) << c.describe();
  // The first GPU's memory is given back: the fake reads its fixture again at each count.
  std::string freed(kFixture);
  freed.replace(freed.find("memory 150754820096 44291850240"),
                std::string_view("memory 150754820096 44291850240").size(),
                "memory 150754820096 0");
  write_file(dir_ / "fixture.new", freed);
  ASSERT_EQ(::rename((dir_ / "fixture.new").c_str(), (dir_ / "fixture").c_str()), 0);
  ASSERT_TRUE(c.wait_stderr("job: enough GPU memory free after")) << c.describe();
  EXPECT_TRUE(c.wait_stderr("spawned: 'job'")) << c.describe();
}

// The crash report's GPU section carries NVML's memory (a fresh sample as podvisor gives up)
// and the Xid line; the diagnosis names the failure the last lines show.
TEST_P(GpuCompanion, CrashReportHasNvmlMemoryAndXids) {
  Child c(podvisor(
      {"--max-retries", "0", "--", "sh", "-c", "sleep 1; echo 'CUDA out of memory' >&2; exit 1"},
      env()));
  EXPECT_EQ(c.wait_exit(), 1) << c.describe();
  EXPECT_TRUE(contains(c.err(), "GPU 0")) << c.err();
  EXPECT_TRUE(contains(c.err(), "used of 140.4 GiB")) << c.err();
  EXPECT_TRUE(contains(c.err(), "Xid since start: none")) << c.err();
  EXPECT_TRUE(contains(c.err(), "the last lines say \"CUDA out of memory\"")) << c.err();
}

// Per program: its processes that hold a GPU node, and the memory NVML charges to them. The
// fixture lists the program's own pid (as when podvisor shares the host's pid namespace).
TEST_P(GpuCompanion, ProgramGpuHoldersAndMemory) {
  Child c(podvisor({"--", "sh", "-c", "exec sleep 1000 3<" + dev_ + "/nvidia0"}, env()));
  ASSERT_TRUE(c.wait_stderr("spawned: 'app' with pid ")) << c.describe();
  const auto at = c.err().find("spawned: 'app' with pid ") + 24;
  const auto pid = std::stol(c.err().substr(at));
  std::string listed(kFixture);
  const std::string procs = "proc 311 44270878720\nproc 312 20971520\n";
  listed.replace(listed.find(procs), procs.size(), "proc " + std::to_string(pid) + " 1234567\n");
  write_file(dir_ / "fixture.new", listed);
  ASSERT_EQ(::rename((dir_ / "fixture.new").c_str(), (dir_ / "fixture").c_str()), 0);
  ASSERT_TRUE(c.wait_stderr("gpu: 2 GPUs visible")) << c.describe();
  const auto metrics = get("/metrics");
  EXPECT_TRUE(has_line(metrics, R"(podvisor_program_gpu_holders{group="app",program="app"} 1)"))
      << metrics;
  EXPECT_TRUE(
      has_line(metrics, R"(podvisor_program_gpu_memory_bytes{group="app",program="app"} 1234567)"))
      << metrics;
  const auto api = get("/api/v1/gpus");
  EXPECT_TRUE(contains(api, R"({"holders":1,"memory_bytes":1234567,"program":"app"})")) << api;
}

TEST_P(GpuCompanion, NoGpuNoCompanion) {
  std::filesystem::remove(dev_ + "/nvidia0");
  std::filesystem::remove(dev_ + "/nvidiactl");
  Child c(sleeper(env()));
  ASSERT_TRUE(c.wait_stderr("entered RUNNING state")) << c.describe();
  const auto metrics = get("/metrics");
  EXPECT_FALSE(contains(metrics, "podvisor_gpu_")) << metrics;
  EXPECT_FALSE(contains(c.err(), "gpu:")) << c.err();
  EXPECT_FALSE(companion(c.pid()));
}

// The release binary in a root that holds nothing but itself and a GPU node: no companion
// beside it, and the program runs all the same.
TEST(GpuCompanionStatic, EmptyRootDegradesCleanly) {
  if (kSanitized) GTEST_SKIP() << "the sanitizer build is not static";
  if (::geteuid() != 0) GTEST_SKIP() << "chroot needs root";
  TempDir root;
  ::mkdir((root / "bin").c_str(), 0755);
  ::mkdir((root / "dev").c_str(), 0755);
  std::filesystem::copy_file(podvisor_binary(), root / "bin/podvisor");
  write_file(root / "dev/nvidia0", "");
  Options o;
  o.argv = {"chroot", root.path(),     "/bin/podvisor", "--no-restart",
            "--",     "/bin/podvisor", "--version"};  // the program: podvisor again, the one binary
                                                      // in that root
  o.env = {{"PODVISOR_GPU_DEVICE_DIR", std::nullopt}, {"PODVISOR_GPU_COMPANION", std::nullopt}};
  const auto r = run(o);
  if (r.code == 125 || contains(r.err, "chroot: cannot change root")) {
    GTEST_SKIP() << "chroot refused: " << r.err;
  }
  EXPECT_EQ(r.code, 0) << r.describe();
  // No /proc in that root either: podvisor cannot even tell where it lives.
  EXPECT_TRUE(contains(r.err,
                       "gpu: podvisor-gpu unavailable (podvisor's own path is unknown: "
                       "/proc/self/exe: No such file or directory): GPU memory shows as "
                       "unknown"))
      << r.describe();
  EXPECT_TRUE(contains(r.err, "spawned: 'app'")) << r.describe();
  EXPECT_TRUE(contains(r.out, "podvisor ")) << r.describe();
}

// podvisor check reads and validates gpu_free_memory=.
TEST(GpuFreeMemoryKey, CheckValidates) {
  TempDir dir;
  auto conf = write_config(dir, "[program:llm]\ncommand=sleep 1\ngpu_free_memory=20GiB\n");
  auto r = run(podvisor({"check", "--print", "-c", conf}));
  EXPECT_EQ(r.code, 0) << r.describe();
  EXPECT_TRUE(contains(r.out, "gpu_free_memory = 20GiB")) << r.describe();
  EXPECT_FALSE(contains(r.err + r.out, "not supported")) << r.describe();
  conf = write_config(dir, "[program:llm]\ncommand=sleep 1\ngpu_free_memory=lots\n");
  r = run(podvisor({"check", "-c", conf}));
  EXPECT_NE(r.code, 0) << r.describe();
  EXPECT_TRUE(contains(r.err + r.out, "gpu_free_memory takes an amount")) << r.describe();
}

}  // namespace
}  // namespace e2e
