#include "pod/ssh_program.h"

#include <fmt/format.h>
#include <limits.h>
#include <unistd.h>

#include <algorithm>
#include <optional>

#include "config/ssh_keys.h"
#include "config/values.h"
#include "os/spawn.h"
#include "pod/ssh_text.h"

namespace podvisor::pod {
namespace {

// sshd in PATH, then /usr/sbin/sshd (PATH in a container rarely has sbin); `configured` alone
// when the ssh_sshd key names one.
std::optional<std::string> find_sshd(const std::string& configured,
                                     const std::vector<std::string>& environ) {
  if (!configured.empty()) {
    return ::access(configured.c_str(), X_OK) == 0 ? std::optional(configured) : std::nullopt;
  }
  int error = 0;
  return os::find_executable("sshd", os::search_path(environ) + ":/usr/sbin", error);
}

std::optional<std::string_view> key_variable(const std::vector<std::string>& environ) {
  for (const auto name : kKeyVariables) {
    const auto value = os::env_value(environ, name);
    if (value && value->find_first_not_of(" \t\r\n") != std::string_view::npos) return name;
  }
  return std::nullopt;
}

config::ProgramSpec sshd_program(const std::string& self, const SetupOptions& setup) {
  config::ProgramSpec p;
  p.name = p.group = p.program = "sshd";
  p.where = "podvisor (SSH at boot)";
  p.argv = {self, "ssh-setup"};
  const auto args = setup_arguments(setup);
  p.argv.insert(p.argv.end(), args.begin(), args.end());
  p.autorestart = config::Autorestart::kTrue;
  p.startretries = 5;
  p.stopasgroup = p.killasgroup = true;
  p.redirect_stderr = true;
  p.stdout_log.target = config::LogTarget::kStdout;
  p.stderr_log.target = config::LogTarget::kStdout;
  p.log_prefix = true;
  p.priority = 1;
  // sshd's own line: a probe connection would leave "kex_exchange_identification" in its log.
  p.ready = config::parse_probe("log:Server listening on");
  return p;
}

}  // namespace

bool ssh_wanted(const config::SshSpec& ssh, const std::vector<std::string>& environ, bool forced) {
  if (forced) return true;
  if (const auto v = os::env_value(environ, "PODVISOR_SSH"); v && !v->empty()) {
    if (const auto on = config::parse_ssh_switch(*v)) return *on;
  }
  if (ssh.enabled) return *ssh.enabled;
  return key_variable(environ).has_value();
}

SshMessages add_ssh_program(config::SupervisorSpec& spec, const std::vector<std::string>& environ,
                            bool forced, const std::string& self) {
  SshMessages m;
  bool wanted = false;
  try {
    wanted = ssh_wanted(spec.ssh, environ, forced);
  } catch (const config::ValueError& e) {
    m.warnings.push_back(fmt::format("PODVISOR_SSH: {}; SSH stays off", e.what()));
    return m;
  }
  if (!wanted) return m;
  const auto sshd = find_sshd(spec.ssh.sshd, environ);
  if (!sshd) {
    m.warnings.push_back(fmt::format(
        "ssh: sshd not found ({}): install the openssh-server package (Debian/Ubuntu) in the "
        "image; going on without SSH",
        spec.ssh.sshd.empty() ? "not in PATH nor /usr/sbin/sshd" : spec.ssh.sshd));
    return m;
  }
  if (std::any_of(spec.programs.begin(), spec.programs.end(),
                  [](const auto& p) { return p.name == "sshd"; })) {
    m.warnings.push_back(
        "ssh: a program named 'sshd' is configured: it is left as it is and podvisor adds no "
        "sshd of its own (the ssh* keys have no effect)");
    return m;
  }
  if (self.empty()) {
    m.warnings.push_back("ssh: cannot find podvisor's own binary (/proc/self/exe): no SSH");
    return m;
  }
  const auto& s = spec.ssh;
  SetupOptions setup{.sshd = *sshd,
                     .user = s.user,
                     .host_key_dir = s.host_key_dir,
                     .authorized_keys = s.authorized_keys,
                     .env_file = s.env_file,
                     .profile_file = s.profile_file,
                     .port = s.port,
                     .exclude = s.env_exclude,
                     .options = s.options};
  spec.programs.insert(spec.programs.begin(), sshd_program(self, setup));
  // Single-command mode ends on any FATAL program; its command is `main` and still does,
  // but sshd failing must not end the training it was started beside.
  if (spec.config_file.empty()) spec.exit_on_fatal = false;
  const auto from = key_variable(environ);
  m.info.push_back(fmt::format("ssh: on ({}): supervising {} as program 'sshd' for user {}",
                               from ? fmt::format("{} is set", *from) : "asked for", *sshd,
                               s.user));
  if (const auto hint = connection_hint(environ, s.user)) {
    spec.ssh.connect = *hint;
    m.info.push_back(fmt::format("ssh: connect with: {}", *hint));
  }
  return m;
}

std::string self_executable() {
  char buf[PATH_MAX];
  const auto n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return {};
  return std::string(buf, static_cast<size_t>(n));
}

}  // namespace podvisor::pod
