#include "modes/generated_config.h"

#include <fmt/format.h>
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

}  // namespace

GeneratedConfig::GeneratedConfig(const config::SupervisorSpec& spec,
                                 const std::vector<std::string>& env) {
  path_ = config::trim(os::env_value(env, "SUPERVISOR_CONFIG_PATH").value_or(""));
  remove_at_exit_ = path_.empty();
  if (path_.empty()) path_ = kDefaultPath;
  // The file's directory, 0755 as MHCS creates it.
  if (const auto dir = os::make_directories(os::parent_directory(path_)))
    fail(path_, "mkdir " + *dir);
  const bool secret = (spec.unix_server && !spec.unix_server->password.empty()) ||
                      (spec.inet_server && !spec.inet_server->password.empty());
  // Written beside and renamed: a reader never sees half a file.
  if (const auto failed =
          os::write_file_atomically(path_, config::supervisord_conf(spec), secret ? 0600 : 0644)) {
    fail(path_, *failed);
  }
}

GeneratedConfig::~GeneratedConfig() {
  if (remove_at_exit_) (void)::unlink(path_.c_str());
}

}  // namespace podvisor::modes
