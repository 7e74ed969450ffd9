// A fake /proc tree (and device directory) for the gpu/ unit tests: processes with stat,
// cmdline, environ, wchan and fd links, written under a temporary directory.
#pragma once

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace podvisor::gpu::fake {

class ProcTree {
 public:
  ProcTree() {
    char tmpl[] = "/tmp/podvisor-gpu-XXXXXX";
    if (!::mkdtemp(tmpl)) std::abort();
    base_ = tmpl;
    std::filesystem::create_directories(proc());
    std::filesystem::create_directories(dev());
    ::chmod(base_.c_str(), 0755);
  }
  ~ProcTree() { std::filesystem::remove_all(base_); }
  std::string proc() const { return base_ + "/proc"; }
  std::string dev() const { return base_ + "/dev"; }
  std::string base() const { return base_; }

  struct Options {
    pid_t ppid = 1;
    pid_t pgid = 0;  // 0: its own pid
    pid_t sid = 0;
    char state = 'S';
    unsigned long long starttime = 1000;
    std::string cmdline = "python";
    std::map<std::string, std::string> env;
    std::vector<std::string> fds;  // link targets; "nvidia0" etc. are put under dev()
    std::string wchan = "do_wait";
  };
  void add(pid_t pid, const Options& o) {
    const auto dir = fmt::format("{}/{}", proc(), pid);
    std::filesystem::create_directories(dir + "/fd");
    write(
        dir + "/stat",
        fmt::format("{} (comm with) spaces) {} {} {} {} 0 -1 4194304 0 0 0 0 1 2 0 0 20 0 1 0 {} "
                    "1000 100 18446744073709551615\n",
                    pid, o.state, o.ppid, o.pgid ? o.pgid : pid, o.sid ? o.sid : pid, o.starttime));
    std::string cmd = o.cmdline;
    std::replace(cmd.begin(), cmd.end(), ' ', '\0');
    write(dir + "/cmdline", cmd + std::string(1, '\0'));
    std::string env;
    for (const auto& [k, v] : o.env) env += k + "=" + v + std::string(1, '\0');
    write(dir + "/environ", env);
    write(dir + "/wchan", o.wchan);
    int n = 3;
    for (const auto& target : o.fds) {
      const auto path = target.starts_with("/") ? target : dev() + "/" + target;
      std::filesystem::create_symlink(path, fmt::format("{}/fd/{}", dir, n++));
    }
  }
  void remove(pid_t pid) { std::filesystem::remove_all(fmt::format("{}/{}", proc(), pid)); }
  void set_state(pid_t pid, char state) {
    const auto path = fmt::format("{}/{}/stat", proc(), pid);
    std::ifstream in(path);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto close = text.rfind(')');
    text[close + 2] = state;
    write(path, text);
  }
  void drop_fds(pid_t pid) {
    std::filesystem::remove_all(fmt::format("{}/{}/fd", proc(), pid));
    std::filesystem::create_directories(fmt::format("{}/{}/fd", proc(), pid));
  }
  static void write(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
  }

 private:
  std::string base_;
};

}  // namespace podvisor::gpu::fake
