#include "modes/generated_config.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "config/supervisord_conf.h"
#include "config/values.h"
#include "os/io.h"
#include "os/spawn.h"

namespace podvisor::modes {
namespace {

constexpr const char* kDefaultPath = "/tmp/supervisord.conf";

[[noreturn]] void fail(const std::string& path, std::string_view what) {
  throw std::runtime_error(fmt::format("cannot write {} (SUPERVISOR_CONFIG_PATH): {}: {}", path,
                                       what, std::strerror(errno)));
}

// mkdir -p of the file's directory, 0755 as MHCS creates it.
void make_parents(const std::string& path) {
  for (auto slash = path.find('/', 1); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    const auto dir = path.substr(0, slash);
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) fail(path, "mkdir " + dir);
  }
}

}  // namespace

GeneratedConfig::GeneratedConfig(const config::SupervisorSpec& spec,
                                 const std::vector<std::string>& env) {
  path_ = config::trim(os::env_value(env, "SUPERVISOR_CONFIG_PATH").value_or(""));
  remove_at_exit_ = path_.empty();
  if (path_.empty()) path_ = kDefaultPath;
  make_parents(path_);
  const bool secret = (spec.unix_server && !spec.unix_server->password.empty()) ||
                      (spec.inet_server && !spec.inet_server->password.empty());
  // Written beside and renamed: a reader never sees half a file.
  const auto temporary = fmt::format("{}.{}.tmp", path_, ::getpid());
  const int fd =
      ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, secret ? 0600 : 0644);
  if (fd < 0) fail(path_, "open");
  const bool written = os::write_all(fd, config::supervisord_conf(spec));
  const int saved = errno;
  if (::close(fd) != 0 || !written) {
    errno = written ? errno : saved;
    (void)::unlink(temporary.c_str());
    fail(path_, "write");
  }
  if (::rename(temporary.c_str(), path_.c_str()) != 0) {
    const int error = errno;
    (void)::unlink(temporary.c_str());
    errno = error;
    fail(path_, "rename");
  }
}

GeneratedConfig::~GeneratedConfig() {
  if (remove_at_exit_) (void)::unlink(path_.c_str());
}

}  // namespace podvisor::modes
