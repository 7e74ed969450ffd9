// standard-supervisor's supervisord.conf on disk: written where MHCS writes it
// (SUPERVISOR_CONFIG_PATH, else /tmp/supervisord.conf) and removed at exit when MHCS would.
#pragma once

#include <string>
#include <vector>

#include "config/spec.h"

namespace podvisor::modes {

class GeneratedConfig {
 public:
  // Writes the file, creating its directory; throws std::runtime_error with the reason.
  GeneratedConfig(const config::SupervisorSpec& spec, const std::vector<std::string>& env);
  // The default file goes with podvisor; a path the user chose is kept for them.
  ~GeneratedConfig();
  GeneratedConfig(const GeneratedConfig&) = delete;
  GeneratedConfig& operator=(const GeneratedConfig&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  bool remove_at_exit_ = false;
};

}  // namespace podvisor::modes
