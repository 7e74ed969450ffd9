#include "output/destination.h"

#include <fmt/format.h>

#include <chrono>
#include <nlohmann/json.hpp>

namespace podvisor::output {

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
