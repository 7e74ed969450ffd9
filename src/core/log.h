// Lifecycle log lines in supervisord's format ("2026-01-01 12:00:00,123 INFO spawned: ..."),
// filtered by level, written to one file descriptor.
#pragma once

#include <string_view>

#include "config/values.h"

namespace podvisor::core {

class Logger {
 public:
  Logger(int fd, config::LogLevel level) : fd_(fd), level_(level) {}
  void set_level(config::LogLevel level) { level_ = level; }
  bool enabled(config::LogLevel level) const { return level >= level_; }
  void log(config::LogLevel level, std::string_view line) const;

 private:
  int fd_;
  config::LogLevel level_;
};

// Writes all of data to fd, retrying short writes and EINTR; false on any other error.
bool write_all(int fd, std::string_view data);

}  // namespace podvisor::core
