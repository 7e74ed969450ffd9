// What the first bytes of a held connection say, read without consuming them: HTTP/1 or not
// (a 503 only makes sense to an HTTP client), and the path of its request line (health paths
// are answered by podvisor itself). Pure functions over the peeked bytes.
#pragma once

#include <string>
#include <string_view>

namespace podvisor::gate {

enum class Sniff { kNeedMore, kHttp, kOther };

// HTTP/1 when the bytes start with a method of RFC 9110 (or PATCH) and a space. TLS, the
// HTTP/2 preface ("PRI * HTTP/2.0") and anything else is kOther; a prefix of a method needs
// more bytes.
Sniff sniff_http(std::string_view first);

// The request line's method and path (without the query), once the line is complete.
struct RequestLine {
  Sniff state = Sniff::kNeedMore;  // kOther: not an HTTP request line
  std::string_view method, path;
};
RequestLine request_line(std::string_view first);

}  // namespace podvisor::gate
