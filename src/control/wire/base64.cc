#include "control/wire/base64.h"

#include <algorithm>
#include <boost/beast/core/detail/base64.hpp>

namespace podvisor::control {

namespace beast_base64 = boost::beast::detail::base64;

std::string base64_encode(std::string_view data) {
  std::string out(beast_base64::encoded_size(data.size()), '\0');
  out.resize(beast_base64::encode(out.data(), data.data(), data.size()));
  return out;
}

// Beast's decoder stops quietly at the first character it does not know; the checks around
// it make that an error, as Python's binascii does.
std::optional<std::string> base64_decode(std::string_view text) {
  std::string compact(text);
  std::erase_if(compact, [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; });
  const size_t data_size = compact.find_last_not_of('=') + 1;  // npos + 1 == 0: all padding
  const size_t padding = compact.size() - data_size;
  const size_t count = data_size % 4;  // sextets in the last quantum
  // A lone sextet cannot encode a byte; padding, when present, must complete the quantum.
  if (count == 1 || padding > 2 || (padding > 0 && count + padding != 4)) return std::nullopt;
  std::string out(beast_base64::decoded_size(data_size) + 3, '\0');
  const auto [written, read] = beast_base64::decode(out.data(), compact.data(), data_size);
  if (read != data_size) return std::nullopt;  // a character outside the alphabet, or '='
  out.resize(written);
  return out;
}

}  // namespace podvisor::control
