// The GPU fence and the GPU facts on the real binary, with fake device files
// (PODVISOR_GPU_DEVICE_DIR, PODVISOR_GPU_PROC_DIR) and once on the real paths inside a
// private mount namespace (issue 11, docs/gpu.md).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <csignal>
#include <regex>

#include "harness.h"

namespace e2e {
namespace {

// A stand-in for vLLM's API server. Like a CUDA allocation, it fails with "CUDA out of
// memory" while any other process holds the device (unless CHECK=no). Its first run starts
// an EngineCore worker in its own session that holds the device (ignoring SIGTERM with
// IGNORE_TERM=1), then dies and leaves the worker behind; later runs stay up.
constexpr std::string_view kServer = R"SH(dev="$1"; runs="$2"
if [ "$CHECK" != no ]; then
  fd=$(find /proc/[0-9]*/fd -maxdepth 1 -lname "$dev" -print -quit 2>/dev/null)
  if [ -n "$fd" ]; then
    pid=${fd#/proc/}; pid=${pid%%/*}
    echo "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 40.00 GiB (held by pid $pid)"
    exit 1
  fi
fi
echo run >> "$runs"
n=$(wc -l < "$runs")
echo "server up (run $n)"
[ "$n" -gt 1 ] && exec sleep 1000
trap_cmd=""
[ "$IGNORE_TERM" = 1 ] && trap_cmd="trap '' TERM;"
setsid bash -c "$trap_cmd exec -a VLLM::EngineCore sleep 1000 7<\"\$0\"" "$dev" >/dev/null 2>&1 &
worker=$!
for i in $(seq 2000); do
  [ "$(readlink /proc/$worker/fd/7 2>/dev/null)" = "$dev" ] && break
  sleep 0.01
done
echo "worker $worker holds the GPU; the server dies"
exit 1
)SH";

struct Gpu {
  TempDir dir;
  std::string dev = dir / "dev";
  std::string node = dev + "/nvidia0";
  std::string server = dir / "server.sh";
  std::string runs = dir / "runs";
  Gpu() {
    mkdir(dev.c_str(), 0755);
    write_file(node, "");
    write_file(dev + "/nvidiactl", "");
    write_file(server, kServer, 0755);
  }
  std::map<std::string, std::optional<std::string>> env(
      std::map<std::string, std::optional<std::string>> extra = {}) const {
    std::map<std::string, std::optional<std::string>> e{
        {"PODVISOR_GPU_DEVICE_DIR", dev},
        {"PODVISOR_GPU_PROC_DIR", dir / "no-procfs"},
        {"SUPERVISOR_UNIX_HTTP_SERVER_FILE", "none"},
        {"PROCESS_MAX_START_RETRIES", "1"}};
    for (auto& [k, v] : extra) e[k] = v;
    return e;
  }
  Options single(std::map<std::string, std::optional<std::string>> extra = {}) const {
    return podvisor({"--", "bash", server, node, runs}, env(std::move(extra)));
  }
};

// "worker 123 holds the GPU": the leftover's pid.
pid_t worker_pid(const std::string& out) {
  std::smatch m;
  static const std::regex re("worker ([0-9]+) holds the GPU");
  if (!std::regex_search(out, m, re)) return -1;
  return static_cast<pid_t>(std::stoi(m[1]));
}

bool alive(pid_t pid) {
  const auto s = process_state(pid);
  return s && *s != 'Z';
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

// The issue's re-enactment: the server dies, its setsid worker keeps the GPU; podvisor stops
// the worker before the restart, names it, and the next start succeeds.
TEST(GpuFence, VllmReenactmentRestartsCleanlyAndNamesTheHolder) {
  Gpu g;
  Child c(g.single());
  ASSERT_TRUE(c.wait_stdout("server up (run 2)")) << c.describe();
  const pid_t worker = worker_pid(c.out());
  ASSERT_GT(worker, 0) << c.describe();
  EXPECT_FALSE(alive(worker));
  const auto holder = "pid " + std::to_string(worker) + " 'VLLM::EngineCore 1000'";
  EXPECT_TRUE(contains(c.err(), "gpu fence: app left 1 process holding GPU 0: " + holder +
                                    " (own session); sending SIGTERM"))
      << c.describe();
  EXPECT_TRUE(contains(c.err(), "gpu fence: GPU 0 free again after")) << c.describe();
  EXPECT_TRUE(contains(c.err(), "; restarting app")) << c.describe();
  EXPECT_FALSE(contains(c.out(), "CUDA out of memory")) << c.describe();
  c.signal(SIGTERM);
  EXPECT_TRUE(c.wait_exit().has_value()) << c.describe();
}

// gpu_fence=false keeps the behaviour before it: the restart fails into the held GPU, and the
// crash report's GPU section names the holder, with one line of diagnosis.
TEST(GpuFence, FalseKeepsTodaysBehaviourAndTheCrashReportNamesTheHolder) {
  Gpu g;
  const auto r = run(g.single({{"SUPERVISOR_PROGRAM__APP_GPU_FENCE", "false"}}), 30s);
  EXPECT_EQ(r.code, 1) << r.describe();
  const pid_t worker = worker_pid(r.out);
  ASSERT_GT(worker, 0) << r.describe();
  EXPECT_TRUE(contains(r.out, "CUDA out of memory")) << r.describe();
  EXPECT_FALSE(contains(r.err, "gpu fence:")) << r.describe();
  const auto holder = "pid " + std::to_string(worker) + " 'VLLM::EngineCore 1000'";
  EXPECT_TRUE(contains(r.err, "podvisor: GPU:\npodvisor:   GPU 0: memory unknown\npodvisor:     " +
                                  holder + " — leftover of app's last run\n"))
      << r.describe();
  EXPECT_TRUE(contains(r.err,
                       "podvisor: diagnosis: the last lines say \"CUDA out of memory\" "
                       "while " +
                           holder + " (leftover of app's last run) held GPU 0"))
      << r.describe();
  EXPECT_FALSE(alive(worker));  // podvisor's exit ended it
}

TEST(GpuFence, HolderIgnoringStopsignalGetsSigkillAfterStopwaitsecs) {
  Gpu g;
  Child c(g.single({{"IGNORE_TERM", "1"}, {"SUPERVISOR_PROGRAM__APP_STOPWAITSECS", "1"}}));
  ASSERT_TRUE(c.wait_stdout("server up (run 2)")) << c.describe();
  const pid_t worker = worker_pid(c.out());
  EXPECT_TRUE(contains(c.err(), "gpu fence: sending SIGKILL to pid " + std::to_string(worker) +
                                    " 'VLLM::EngineCore 1000' (own session) (stopwaitsecs 1.0s "
                                    "passed)"))
      << c.describe();
  EXPECT_FALSE(alive(worker));
  c.signal(SIGTERM);
  EXPECT_TRUE(c.wait_exit().has_value()) << c.describe();
}

// A holder that outlasts gpu_fence_timeout: FATAL with the reason, instead of a restart into
// an out-of-memory error.
TEST(GpuFence, HolderOutlastingTheTimeoutIsFatalWithTheReason) {
  Gpu g;
  const auto r = run(g.single({{"IGNORE_TERM", "1"},
                               {"SUPERVISOR_PROGRAM__APP_STOPWAITSECS", "60"},
                               {"SUPERVISOR_PROGRAM__APP_GPU_FENCE_TIMEOUT", "1"}}),
                     30s);
  EXPECT_EQ(r.code, 1) << r.describe();
  const pid_t worker = worker_pid(r.out);
  EXPECT_TRUE(contains(r.err, "gave up: app entered FATAL state, GPU fence gave up"))
      << r.describe();
  EXPECT_TRUE(contains(r.err, "podvisor: reason:   GPU fence: pid " + std::to_string(worker) +
                                  " 'VLLM::EngineCore 1000' still holds GPU 0 1.0s after SIGTERM "
                                  "(state S, sleeping, wchan "))
      << r.describe();
  EXPECT_TRUE(contains(r.err, "gpu_fence_timeout 1.0s passed")) << r.describe();
  EXPECT_EQ(count(r.out, "server up"), 1u) << r.describe();
}

// A child of another program holds the GPU too: it is not the restarted program's leftover,
// so it is never signalled.
TEST(GpuFence, AnotherProgramsChildIsLeftAlone) {
  Gpu g;
  const auto conf = write_config(g.dir, R"([supervisord]
[unix_http_server]
file = @DIR@/podvisor.sock
[program:other]
command = bash -c 'exec 7<@DIR@/dev/nvidia0; sleep 1000 & echo "other child $!"; wait'
startsecs = 0
stdout_logfile = /dev/stdout
[program:app]
command = bash @DIR@/server.sh @DIR@/dev/nvidia0 @DIR@/runs
environment = CHECK="no"
stdout_logfile = /dev/stdout
startsecs = 0
autorestart = true
)");
  Child c(podvisor_config(conf, g.env()));
  ASSERT_TRUE(c.wait_stdout("server up (run 2)")) << c.describe();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(c.out(), m, std::regex("other child ([0-9]+)"))) << c.describe();
  const pid_t other_child = static_cast<pid_t>(std::stoi(m[1]));
  EXPECT_TRUE(alive(other_child));
  EXPECT_TRUE(contains(c.err(), "gpu fence: app left 1 process holding GPU 0")) << c.describe();
  EXPECT_FALSE(contains(c.err(), "pid " + std::to_string(other_child) + " '")) << c.describe();
  c.signal(SIGTERM);
  EXPECT_TRUE(c.wait_exit().has_value()) << c.describe();
}

TEST(GpuFence, RequireGpuFailsAtOnceWhenTooFewAreVisible) {
  Gpu g;
  const auto empty = g.dir / "empty";
  mkdir(empty.c_str(), 0755);
  auto env = g.env({{"PODVISOR_REQUIRE_GPU", "1"}, {"PODVISOR_GPU_DEVICE_DIR", empty}});
  const auto r = run(podvisor({"--", "sleep", "1000"}, env));
  EXPECT_EQ(r.code, 2) << r.describe();
  EXPECT_TRUE(contains(r.err, "no GPU visible: " + empty +
                                  "/nvidia0 missing — is the container started with --gpus / the "
                                  "NVIDIA runtime?"))
      << r.describe();
  EXPECT_FALSE(contains(r.err, "spawned:")) << r.describe();

  const auto conf = write_config(g.dir,
                                 "[podvisor]\nrequire_gpu = 2\n[program:x]\ncommand = sleep "
                                 "1000\n");
  EXPECT_EQ(run(podvisor({"check", "-c", conf})).code, 0);
  const auto two = run(podvisor_config(conf, g.env()));
  EXPECT_EQ(two.code, 2) << two.describe();
  EXPECT_TRUE(contains(two.err, "require_gpu = 2 but only 1 GPU(s) visible (0)")) << two.describe();
  // One is enough for require_gpu = true.
  auto ok = g.env({{"PODVISOR_REQUIRE_GPU", "true"}, {"PROCESS_AUTO_RECOVERY", ""}});
  const auto fine = run(podvisor({"--", "true"}, ok));
  EXPECT_EQ(fine.code, 0) << fine.describe();

  const auto bad = write_config(g.dir, "[supervisord]\nrequire_gpu = lots\n", "bad.conf");
  const auto check = run(podvisor({"check", "-c", bad}));
  EXPECT_NE(check.code, 0) << check.describe();
  EXPECT_TRUE(contains(check.err + check.out, "require_gpu")) << check.describe();
}

TEST(GpuFence, CheckValidatesTheFenceKeys) {
  TempDir dir;
  const auto bad = write_config(dir, "[program:x]\ncommand = true\ngpu_fence = sometimes\n");
  const auto r = run(podvisor({"check", "-c", bad}));
  EXPECT_NE(r.code, 0) << r.describe();
  EXPECT_TRUE(contains(r.err + r.out, "'sometimes' is not auto, true or false")) << r.describe();
  const auto good = write_config(
      dir, "[program:x]\ncommand = true\ngpu_fence = true\ngpu_fence_timeout = 5\n", "good.conf");
  const auto p = run(podvisor({"check", "-c", good, "--print"}));
  EXPECT_EQ(p.code, 0) << p.describe();
  EXPECT_TRUE(contains(p.out, "gpu_fence = true\ngpu_fence_timeout = 5\n")) << p.describe();
}

// The real paths: a tmpfs over /dev and /proc/driver in a private mount namespace, with a
// fake /dev/nvidia0 (a plain file: holders are matched by path) and the driver's procfs file.
TEST(GpuFence, RealDevicePathsInAPrivateMountNamespace) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root for a mount namespace";
  TempDir dir;
  Options probe_options;
  probe_options.argv = {"unshare", "-m", "true"};
  const auto probe = run(probe_options);
  if (probe.code != 0) GTEST_SKIP() << "unshare -m refused here: " << probe.err;
  write_file(dir / "server.sh", kServer, 0755);
  const auto setup =
      "set -e; mount --make-rprivate /; mount -t tmpfs none /dev; "
      "mknod -m 666 /dev/null c 1 3; mknod -m 666 /dev/zero c 1 5; : > /dev/nvidia0; "
      ": > /dev/nvidiactl; mkdir -p /proc/driver; mount -t tmpfs none /proc/driver; "
      "mkdir -p /proc/driver/nvidia/gpus/0000:19:00.0; "
      "printf 'Model: \\t NVIDIA H200\\nGPU UUID: \\t GPU-e2e\\nBus Location: \\t "
      "0000:19:00.0\\nDevice Minor: \\t 0\\n' > /proc/driver/nvidia/gpus/0000:19:00.0/information; "
      "exec \"$0\" -- bash \"$1\" /dev/nvidia0 \"$2\"";
  Options o;
  o.argv = {"unshare",         "-m",        "bash", "-c", setup, podvisor_binary(),
            dir / "server.sh", dir / "runs"};
  o.env = {{"PODVISOR_GPU_DEVICE_DIR", std::nullopt},
           {"PODVISOR_GPU_PROC_DIR", std::nullopt},
           {"SUPERVISOR_UNIX_HTTP_SERVER_FILE", "none"},
           {"SUPERVISOR_PROGRAM__APP_GPU_FENCE", "false"},
           {"PROCESS_MAX_START_RETRIES", "1"}};
  const auto r = run(o, 30s);
  // The setup (mounts, mknod, /proc/driver) may be refused in a restricted container.
  if (!contains(r.err, "started with pid")) GTEST_SKIP() << "namespace setup refused: " << r.err;
  EXPECT_EQ(r.code, 1) << r.describe();
  const pid_t worker = worker_pid(r.out);
  ASSERT_GT(worker, 0) << r.describe();
  EXPECT_TRUE(contains(r.err,
                       "podvisor:   GPU 0 NVIDIA H200 (0000:19:00.0): memory unknown\n"
                       "podvisor:     pid " +
                           std::to_string(worker) +
                           " 'VLLM::EngineCore 1000' — leftover of app's last run"))
      << r.describe();

  // And with the fence (the default), the restart succeeds on the real paths too.
  o.env["SUPERVISOR_PROGRAM__APP_GPU_FENCE"] = std::nullopt;
  write_file(dir / "runs", "");
  Child c(o);
  ASSERT_TRUE(c.wait_stdout("server up (run 2)")) << c.describe();
  EXPECT_TRUE(contains(c.err(), "gpu fence: app left 1 process holding GPU 0")) << c.describe();
  c.signal(SIGTERM);
  c.wait_exit();
}

}  // namespace
}  // namespace e2e
