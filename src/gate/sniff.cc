#include "gate/sniff.h"

#include <array>

namespace podvisor::gate {
namespace {

constexpr std::array<std::string_view, 9> kMethods = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"};

}  // namespace

Sniff sniff_http(std::string_view first) {
  bool prefix = false;
  for (const auto method : kMethods) {
    if (first.size() > method.size()) {
      if (first.starts_with(method) && first[method.size()] == ' ') return Sniff::kHttp;
    } else if (method.starts_with(first)) {
      prefix = true;
    }
  }
  return prefix ? Sniff::kNeedMore : Sniff::kOther;
}

RequestLine request_line(std::string_view first) {
  RequestLine line;
  line.state = sniff_http(first);
  if (line.state != Sniff::kHttp) return line;
  const auto end = first.find("\r\n");
  if (end == std::string_view::npos) {
    line.state = Sniff::kNeedMore;
    return line;
  }
  const auto text = first.substr(0, end);
  const auto space = text.find(' ');
  const auto last = text.rfind(' ');
  if (last == space || !text.substr(last + 1).starts_with("HTTP/1.")) {
    line.state = Sniff::kOther;
    return line;
  }
  line.method = text.substr(0, space);
  const auto target = text.substr(space + 1, last - space - 1);
  line.path = target.substr(0, target.find('?'));
  return line;
}

}  // namespace podvisor::gate
