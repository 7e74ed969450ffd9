// gpu_bench: the GPU fence's two figures (issue 11), on fake device files.
//
//   gpu_bench scan PROCS FDS REPS
//     Forks PROCS sleepers with FDS descriptors each (one of them holds a fake
//     /dev/nvidia0), then times REPS full holder scans of /proc (gpu::scan_holders, as the
//     crash report and /metrics run it). Target: <= 20 ms with 1,000 processes.
//   gpu_bench fence PODVISOR REPS [fence|nofence]
//     Runs `PODVISOR -- gpu_bench child …` REPS times. The first child starts a worker in its
//     own session that holds the fake GPU and obeys SIGTERM, then crashes; the time from the
//     crash to the next child's exec is the restart latency through the fence (nofence:
//     gpu_fence=false, today's immediate restart). Target: <= 100 ms plus the holder's exit.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "gpu/holders.h"

namespace {

using Clock = std::chrono::steady_clock;

// CPU time of this process (user + system): a scan's own cost, whatever else the machine runs.
long long cpu_ns() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000000000LL +
         (u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1000LL;
}

long long now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

std::string temp_dir() {
  char tmpl[] = "/tmp/gpu-bench-XXXXXX";
  if (!mkdtemp(tmpl)) {
    perror("mkdtemp");
    std::exit(1);
  }
  const std::string dir = tmpl;
  if (mkdir((dir + "/dev").c_str(), 0755) != 0) std::exit(1);
  const int fd = open((dir + "/dev/nvidia0").c_str(), O_CREAT | O_WRONLY, 0644);
  if (fd < 0) std::exit(1);
  close(fd);
  return dir;
}

void summary(const char* what, std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  std::printf("%s: median %.2f ms, min %.2f ms, max %.2f ms (%zu runs)\n", what, ms[ms.size() / 2],
              ms.front(), ms.back(), ms.size());
}

int scan(int procs, int fds, int reps) {
  const auto dir = temp_dir();
  const auto node = dir + "/dev/nvidia0";
  int ready[2];
  if (pipe(ready) != 0) return 1;
  std::vector<pid_t> kids;
  for (int i = 0; i < procs; ++i) {
    const pid_t pid = fork();
    if (pid < 0) {
      perror("fork");
      break;
    }
    if (pid == 0) {
      for (int f = 0; f < fds; ++f) {
        if (open(f == 0 && i == 0 ? node.c_str() : "/dev/null", O_RDONLY) < 0) _exit(1);
      }
      if (write(ready[1], "x", 1) != 1) _exit(1);
      pause();
      _exit(0);
    }
    kids.push_back(pid);
  }
  for (size_t got = 0; got < kids.size();) {
    char buf[256];
    const auto n = read(ready[0], buf, sizeof buf);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  podvisor::gpu::ProcReader reader("/proc", dir + "/dev");
  std::vector<double> ms, cpu;
  size_t holders = 0;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = now_ns();
    const auto c0 = cpu_ns();
    holders = podvisor::gpu::scan_holders(reader, {}, {getpid()}).size();
    ms.push_back(static_cast<double>(now_ns() - t0) / 1e6);
    cpu.push_back(static_cast<double>(cpu_ns() - c0) / 1e6);
  }
  // The same walk by find(1) (readlink of every fd link), for scale: the floor this
  // machine's system calls set.
  std::vector<double> find_ms;
  for (int r = 0; r < std::min(reps, 5); ++r) {
    const auto t0 = now_ns();
    if (std::system("find /proc/[0-9]*/fd -maxdepth 1 -lname /nonexistent 2>/dev/null") == -1) {
      break;
    }
    find_ms.push_back(static_cast<double>(now_ns() - t0) / 1e6);
  }
  const auto total = reader.pids().size();
  for (const pid_t k : kids) kill(k, SIGKILL);
  for (const pid_t k : kids) waitpid(k, nullptr, 0);
  std::printf("processes in /proc: %zu (%zu sleepers with %d fds each); holders found: %zu\n",
              total, kids.size(), fds, holders);
  summary("full holder scan, wall clock", ms);
  summary("full holder scan, CPU time (user + system)", cpu);
  if (!find_ms.empty()) summary("for scale: find /proc/[0-9]*/fd -lname (wall clock)", find_ms);
  std::string rm = "rm -rf " + dir;
  return std::system(rm.c_str()) == 0 ? 0 : 1;
}

// The supervised program: reports its exec, and in its first run leaves a holder and crashes.
int child(const char* fifo, const char* node, const char* marker) {
  const auto t = now_ns();
  const int out = open(fifo, O_WRONLY);
  if (out < 0) return 2;
  const bool first = open(marker, O_CREAT | O_EXCL | O_WRONLY, 0644) >= 0;
  if (!first) {
    dprintf(out, "exec %lld\n", t);
    pause();
    return 0;
  }
  int held[2];
  if (pipe(held) != 0) return 2;
  if (fork() == 0) {
    setsid();
    if (open(node, O_RDONLY) < 0) _exit(1);
    if (write(held[1], "x", 1) != 1) _exit(1);
    close(out);
    pause();  // SIGTERM's default action ends it at once
    _exit(0);
  }
  char c;
  if (read(held[0], &c, 1) != 1) return 2;
  dprintf(out, "crash %lld\n", now_ns());
  return 1;
}

int fence(const char* podvisor, int reps, bool on) {
  const auto dir = temp_dir();
  char self[4096];
  const auto n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return 1;
  self[n] = '\0';
  std::vector<double> ms;
  for (int r = 0; r < reps; ++r) {
    const auto fifo = dir + "/fifo" + std::to_string(r);
    const auto marker = dir + "/marker" + std::to_string(r);
    if (mkfifo(fifo.c_str(), 0600) != 0) return 1;
    const pid_t pv = fork();
    if (pv == 0) {
      setenv("PODVISOR_GPU_DEVICE_DIR", (dir + "/dev").c_str(), 1);
      setenv("SUPERVISOR_PROGRAM__APP_STARTSECS", "0", 1);
      setenv("SUPERVISOR_PROGRAM__APP_GPU_FENCE", on ? "auto" : "false", 1);
      setenv("SUPERVISOR_UNIX_HTTP_SERVER_FILE", "none", 1);
      const int log = open((dir + "/log").c_str(), O_CREAT | O_WRONLY | O_APPEND, 0644);
      dup2(log, 1);
      dup2(log, 2);
      const auto node = dir + "/dev/nvidia0";
      execl(podvisor, podvisor, "--", self, "child", fifo.c_str(), node.c_str(), marker.c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
    // Read-write: a writer of our own, so the first child's exit is no end of file.
    FILE* in = fdopen(open(fifo.c_str(), O_RDWR), "r");
    long long crash = 0, exec = 0;
    char word[16];
    long long ns;
    while (in && (crash == 0 || exec == 0) && fscanf(in, "%15s %lld", word, &ns) == 2) {
      if (std::strcmp(word, "crash") == 0) crash = ns;
      if (std::strcmp(word, "exec") == 0) exec = ns;
    }
    if (in) fclose(in);
    kill(pv, SIGTERM);
    waitpid(pv, nullptr, 0);
    if (crash == 0 || exec == 0) {
      std::fprintf(stderr, "run %d: no crash/exec seen (log: %s/log)\n", r, dir.c_str());
      return 1;
    }
    ms.push_back(static_cast<double>(exec - crash) / 1e6);
  }
  const auto grep = "grep -c 'gpu fence: app left' " + dir + "/log";
  std::printf("runs in which the fence stood (log lines): ");
  std::fflush(stdout);
  if (std::system(grep.c_str()) == -1) return 1;
  summary(on ? "crash -> next exec, fence on, one holder that obeys SIGTERM"
             : "crash -> next exec, gpu_fence=false (the holder is left alone)",
          ms);
  std::string rm = "rm -rf " + dir;
  return std::system(rm.c_str()) == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "scan" && argc == 5) return scan(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
  if (mode == "child" && argc == 5) return child(argv[2], argv[3], argv[4]);
  if (mode == "fence" && argc >= 4) {
    return fence(argv[2], atoi(argv[3]), argc < 5 || std::string(argv[4]) != "nofence");
  }
  std::fprintf(stderr, "usage: gpu_bench scan PROCS FDS REPS | fence PODVISOR REPS [nofence]\n");
  return 2;
}
