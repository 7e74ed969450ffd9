// Lifecycle log lines in supervisord's format ("2026-01-01 12:00:00,123 INFO spawned: ..."),
// filtered by level, written to one file descriptor.
#pragma once

#include <functional>
#include <string_view>

#include "config/values.h"

namespace podvisor::output {

class Logger {
 public:
  Logger(int fd, config::LogLevel level) : fd_(fd), level_(level) {}
  void set_level(config::LogLevel level) { level_ = level; }
  bool enabled(config::LogLevel level) const { return level >= level_; }
  void log(config::LogLevel level, std::string_view line) const;
  // Where lines go instead of the fd (the runtime's non-blocking sink); null restores the fd.
  void set_writer(std::function<void(std::string_view)> writer) { writer_ = std::move(writer); }

 private:
  int fd_;
  config::LogLevel level_;
  std::function<void(std::string_view)> writer_;
};

}  // namespace podvisor::output
