#include "output/destination.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <system_error>

#include "os/io.h"

namespace podvisor::output {

LogFile::LogFile(std::string path, uint64_t maxbytes, int backups)
    : path_(std::move(path)), maxbytes_(maxbytes), backups_(backups) {
  open_file();
}

LogFile::~LogFile() {
  if (fd_ >= 0) ::close(fd_);
}

void LogFile::open_file() {
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "open " + path_);
  struct stat st {};
  size_ = fstat(fd_, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

void LogFile::clear() {
  if (fd_ >= 0 && ::ftruncate(fd_, 0) != 0) {
    throw std::system_error(errno, std::generic_category(), fmt::format("truncate {}", path_));
  }
  size_ = 0;
}

void LogFile::rotate() {
  ::close(fd_);
  fd_ = -1;
  if (backups_ > 0) {
    for (int i = backups_ - 1; i >= 1; --i) {
      ::rename(fmt::format("{}.{}", path_, i).c_str(), fmt::format("{}.{}", path_, i + 1).c_str());
    }
    ::rename(path_.c_str(), fmt::format("{}.1", path_).c_str());
  } else {
    ::truncate(path_.c_str(), 0);  // supervisord: no backups means start the file over
  }
  open_file();
}

void LogFile::write(std::string_view data) {
  while (!data.empty() && fd_ >= 0) {
    if (maxbytes_ > 0 && size_ >= maxbytes_) rotate();
    if (fd_ < 0) return;
    auto take = data.size();
    if (maxbytes_ > 0) take = std::min<uint64_t>(take, maxbytes_ - size_);
    if (!os::write_all(fd_, data.substr(0, take))) return;
    size_ += take;
    data.remove_prefix(take);
  }
}

LineFormatter::LineFormatter(Destination& next, Format format, std::string program,
                             std::string stream)
    : next_(next), format_(format), program_(std::move(program)), stream_(std::move(stream)) {}

void LineFormatter::emit(std::string_view line) {
  while (line.size() > kMaxLine) {
    emit(line.substr(0, kMaxLine));
    line.remove_prefix(kMaxLine);
  }
  if (format_ == Format::kPrefix) {
    batch_ += '[';
    batch_ += program_;
    batch_ += "] ";
    batch_ += line;
    batch_ += '\n';
    return;
  }
  const auto now = std::chrono::system_clock::now();
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  nlohmann::json j = {{"time", fmt::format("{}.{:03}", ms / 1000, ms % 1000)},
                      {"program", program_},
                      {"stream", stream_},
                      {"line", std::string(line)}};
  batch_ += j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  batch_ += '\n';
}

void LineFormatter::write(std::string_view data) {
  batch_.clear();
  while (!data.empty()) {
    const auto nl = data.find('\n');
    if (nl == std::string_view::npos) {
      partial_.append(data);
      break;
    }
    if (partial_.empty()) {
      emit(data.substr(0, nl));
    } else {
      partial_.append(data.substr(0, nl));
      emit(partial_);
      partial_.clear();
    }
    data.remove_prefix(nl + 1);
  }
  while (partial_.size() >= kMaxLine) {
    emit(std::string_view(partial_).substr(0, kMaxLine));
    partial_.erase(0, kMaxLine);
  }
  if (!batch_.empty()) next_.write(batch_);
}

void LineFormatter::end() {
  if (partial_.empty()) return;
  batch_.clear();
  emit(partial_);
  partial_.clear();
  next_.write(batch_);
}

}  // namespace podvisor::output
