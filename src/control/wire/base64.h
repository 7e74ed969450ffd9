// Base64 (RFC 4648) for HTTP basic auth and XML-RPC <base64> values.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace podvisor::control {

std::string base64_encode(std::string_view data);
// Standard alphabet; padding optional; ASCII whitespace ignored (as Python's decoder does
// with the line breaks of encodebytes). nullopt on any other character or a bad length.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace podvisor::control
