#include "output/log.h"

#include <fmt/format.h>

#include <chrono>
#include <ctime>

#include "os/io.h"

namespace podvisor::output {

void Logger::log(config::LogLevel level, std::string_view line) const {
  if (!enabled(level)) return;
  const auto now = std::chrono::system_clock::now();
  const auto t = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  localtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);
  const auto text = fmt::format("{},{:03} {} {}\n", stamp, ms, config::to_string(level), line);
  if (writer_) {
    writer_(text);
  } else {
    os::write_all(fd_, text);
  }
}

}  // namespace podvisor::output
