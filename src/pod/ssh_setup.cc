#include "pod/ssh_setup.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "os/io.h"
#include "os/spawn.h"
#include "os/users.h"
#include "pod/ssh_text.h"

extern char** environ;

namespace podvisor::pod {
namespace {

void say(std::string_view line) {
  // One write per line: sshd's own lines may interleave.
  (void)os::write_all(STDERR_FILENO, fmt::format("podvisor ssh: {}\n", line));
}

std::string errno_text() { return std::strerror(errno); }

std::optional<std::string> read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// os::write_file_atomically, saying what failed: sshd or a shell never reads half a file.
bool write_atomically(const std::string& path, std::string_view text, mode_t mode, uid_t uid,
                      gid_t gid) {
  const auto failed = os::write_file_atomically(path, text, mode, os::Owner{uid, gid});
  if (failed) say(fmt::format("cannot write {}: {}: {}", path, *failed, errno_text()));
  return !failed;
}

// os::make_directories, saying what failed.
bool make_directories(const std::string& dir, mode_t mode) {
  const auto failed = os::make_directories(dir, mode);
  if (failed) say(fmt::format("cannot create {}: {}", *failed, errno_text()));
  return !failed;
}

std::string find_tool(const std::string& name, const std::vector<std::string>& env) {
  int error = 0;
  return os::find_executable(name, os::search_path(env) + ":/usr/bin:/usr/sbin:/bin", error)
      .value_or("");
}

struct Captured {
  int status = -1;  // the exit status; -1 when it could not run
  std::string output;
};

// Runs argv[0] with stdout and stderr captured together; blocking is fine in this child.
Captured run_capture(const std::vector<std::string>& argv) {
  Captured r;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return r;
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return r;
  }
  if (pid == 0) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const int null = ::open("/dev/null", O_RDONLY);
    if (null < 0 || ::dup2(null, 0) < 0 || ::dup2(fds[1], 1) < 0 || ::dup2(fds[1], 2) < 0) {
      ::_exit(127);
    }
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  char buf[4096];
  for (;;) {
    const auto n = ::read(fds[0], buf, sizeof buf);
    if (n > 0) {
      r.output.append(buf, static_cast<size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      break;
    }
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return r;
  }
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

std::string first_line(std::string_view text) {
  auto line = text.substr(0, text.find('\n'));
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
  return std::string(line);
}

// The keys of every key variable; a line that is not a key is named and skipped.
std::vector<std::string> keys_from_environment(const std::vector<std::string>& env) {
  std::vector<std::string> keys;
  for (const auto name : kKeyVariables) {
    const auto value = os::env_value(env, name);
    if (!value) continue;
    auto lines = split_key_lines(*value);
    for (const auto& bad : lines.malformed) {
      const auto shown = bad.size() > 60 ? bad.substr(0, 60) + "..." : bad;
      say(fmt::format("WARNING: {} holds a line that is not a public key, skipped: '{}'", name,
                      shown));
    }
    keys.insert(keys.end(), lines.keys.begin(), lines.keys.end());
  }
  return keys;
}

bool install_keys(const SetupOptions& o, const os::UserInfo& user,
                  const std::vector<std::string>& env) {
  const auto keys = keys_from_environment(env);
  const bool own_path = o.authorized_keys.empty();
  const auto file = own_path ? user.home + "/.ssh/authorized_keys" : o.authorized_keys;
  const auto dir = os::parent_directory(file);
  if (!make_directories(dir, 0700)) return false;
  // sshd's StrictModes refuses a ~/.ssh that others can write or that another user owns.
  if (own_path &&
      (::chmod(dir.c_str(), 0700) != 0 || ::chown(dir.c_str(), user.uid, user.gid) != 0)) {
    say(fmt::format("cannot set the mode or owner of {}: {}", dir, errno_text()));
    return false;
  }
  const auto existing = read_text(file);
  if (keys.empty()) {
    say(existing ? fmt::format("no key in PUBLIC_KEY, SSH_PUBLIC_KEY or RUNPOD_SSH_PUBLIC_KEY; "
                               "using the keys already in {}",
                               file)
                 : fmt::format("no key in PUBLIC_KEY, SSH_PUBLIC_KEY or RUNPOD_SSH_PUBLIC_KEY "
                               "and no {}: every login will be refused",
                               file));
    if (!existing) return true;
  }
  int added = 0;
  const auto merged = merge_authorized_keys(existing.value_or(""), keys, added);
  if (added == 0 && existing) {
    if (!keys.empty()) say(fmt::format("{} key(s) already in {}", keys.size(), file));
    // Still make sure of the mode and owner sshd insists on.
    if (::chmod(file.c_str(), 0600) != 0 || ::chown(file.c_str(), user.uid, user.gid) != 0) {
      say(fmt::format("cannot set the mode or owner of {}: {}", file, errno_text()));
      return false;
    }
    return true;
  }
  if (!write_atomically(file, merged, 0600, user.uid, user.gid)) return false;
  say(fmt::format("added {} key(s) to {}", added, file));
  return true;
}

// The host keys sshd gets with -h (the directory's), or none (sshd's own /etc/ssh keys).
std::optional<std::vector<std::string>> host_keys(const SetupOptions& o,
                                                  const std::vector<std::string>& env) {
  std::string listed;
  if (const auto ssh = find_tool("ssh", env); !ssh.empty()) {
    const auto q = run_capture({ssh, "-Q", "key"});
    if (q.status == 0) listed = q.output;
  }
  const auto keygen = find_tool("ssh-keygen", env);
  const auto dir = o.host_key_dir.empty() ? std::string("/etc/ssh") : o.host_key_dir;
  if (!make_directories(dir, 0700)) return std::nullopt;
  std::vector<std::string> keys;
  for (const auto& type : host_key_types(listed)) {
    const auto path = fmt::format("{}/ssh_host_{}_key", dir, type);
    if (::access(path.c_str(), F_OK) != 0) {
      if (keygen.empty()) {
        say("ssh-keygen not found: cannot make host keys");
        break;
      }
      const auto made = run_capture({keygen, "-q", "-t", type, "-N", "", "-C", "", "-f", path});
      if (made.status != 0) {
        say(fmt::format("ssh-keygen -t {} failed: {}", type, first_line(made.output)));
        continue;
      }
      say(fmt::format("generated host key {}", path));
    }
    keys.push_back(path);
    if (!keygen.empty()) {
      const auto fp = run_capture({keygen, "-l", "-f", path + ".pub"});
      // "256 SHA256:... comment (ED25519)" → "ED25519 SHA256:...".
      const auto line = first_line(fp.output);
      const auto space = line.find(' '), open = line.rfind('(');
      if (fp.status == 0 && space != std::string::npos && open != std::string::npos) {
        const auto hash = line.substr(space + 1, line.find(' ', space + 1) - space - 1);
        say(fmt::format("host key {} {} ({})", line.substr(open + 1, line.size() - open - 2), hash,
                        path));
      }
    }
  }
  if (keys.empty()) {
    say(fmt::format("no host key in {} and none could be made", dir));
    return std::nullopt;
  }
  if (o.host_key_dir.empty()) keys.clear();
  return keys;
}

bool write_session_environment(const SetupOptions& o, const os::UserInfo& user,
                               const std::vector<std::string>& env) {
  if (o.env_file.empty()) return true;
  const auto vars = session_variables(env, o.exclude);
  // Both hold the container's secrets (HF_TOKEN...): the shell file readable by the SSH user
  // only, sshd's config by root only.
  if (!make_directories(os::parent_directory(o.env_file), 0755) ||
      !write_atomically(o.env_file, session_environment(vars), 0600, user.uid, user.gid) ||
      !write_atomically(sshd_config_path(o.env_file),
                        sshd_config_text(vars, "/etc/ssh/sshd_config"), 0600, 0, 0)) {
    return false;
  }
  if (o.profile_file.empty()) return true;
  // sshd's SetEnv reaches every session, but a login shell's /etc/profile resets PATH: the
  // profile.d file, read after it, sets the container's values again.
  const auto text = fmt::format(
      "# Written by podvisor: SSH sessions get the container's environment.\n"
      "[ -r {0} ] && . {0}\n",
      shell_quote(o.env_file));
  if (read_text(o.profile_file) == text) return true;
  return make_directories(os::parent_directory(o.profile_file), 0755) &&
         write_atomically(o.profile_file, text, 0644, 0, 0);
}

}  // namespace

int ssh_setup_main(int argc, char** argv) {
  SetupOptions o;
  try {
    o = parse_setup_arguments(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const std::exception& e) {
    say(e.what());
    return 2;
  }
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) env.emplace_back(*e);
  const auto user = os::find_user(o.user);
  if (!user) {
    say(fmt::format("no user '{}' in /etc/passwd", o.user));
    return 1;
  }
  if (!install_keys(o, *user, env) || !write_session_environment(o, *user, env)) return 1;
  const auto keys = host_keys(o, env);
  if (!keys) return 1;
  // sshd's privilege separation directory, compiled in; a container's /run starts empty.
  if (!make_directories("/run/sshd", 0755)) return 1;
  auto argv_sshd = sshd_argv(o, *keys);
  auto test = argv_sshd;
  test.push_back("-t");
  if (const auto checked = run_capture(test); checked.status != 0) {
    say(fmt::format("sshd -t rejects the configuration (exit {}):", checked.status));
    std::istringstream lines(checked.output);
    for (std::string line; std::getline(lines, line);) say("  " + line);
    return 1;
  }
  std::vector<char*> args;
  for (auto& a : argv_sshd) args.push_back(a.data());
  args.push_back(nullptr);
  ::execv(args[0], args.data());
  say(fmt::format("cannot run {}: {}", argv_sshd[0], errno_text()));
  return 1;
}

}  // namespace podvisor::pod
