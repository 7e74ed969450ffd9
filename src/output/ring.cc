#include "output/ring.h"

#include <algorithm>

namespace podvisor::output {

void RingBuffer::append(std::string_view data) {
  total_ += data.size();
  if (capacity_ == 0) return;
  if (data.size() >= capacity_) data = data.substr(data.size() - capacity_);
  if (data_.size() < capacity_) {
    const auto room = capacity_ - data_.size();
    const auto take = std::min(room, data.size());
    data_.append(data.substr(0, take));
    size_ = data_.size();
    data.remove_prefix(take);
    head_ = data_.size() % capacity_;
  }
  while (!data.empty()) {
    const auto take = std::min(capacity_ - head_, data.size());
    data_.replace(head_, take, data.substr(0, take));
    head_ = (head_ + take) % capacity_;
    data.remove_prefix(take);
  }
}

std::string RingBuffer::contents() const {
  if (data_.size() < capacity_) return data_;
  return data_.substr(head_) + data_.substr(0, head_);
}

std::vector<std::string> RingBuffer::last_lines(size_t n) const {
  const auto text = contents();
  std::vector<std::string> lines;
  size_t end = text.size();
  if (end > 0 && text[end - 1] == '\n') --end;
  while (lines.size() < n && end > 0) {
    const auto nl = text.rfind('\n', end - 1);
    const auto start = nl == std::string::npos ? 0 : nl + 1;
    // The oldest line may have been cut by the wrap; it is still the best we have.
    auto line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
    if (nl == std::string::npos) break;
    end = nl;
  }
  std::reverse(lines.begin(), lines.end());
  return lines;
}

}  // namespace podvisor::output
