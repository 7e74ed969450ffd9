#include "os/address.h"

#include <boost/algorithm/string/predicate.hpp>
#include <charconv>
#include <string>

namespace podvisor::os {

std::optional<boost::asio::ip::address> parse_host(std::string_view host) {
  if (boost::algorithm::iequals(host, "localhost")) return boost::asio::ip::address_v4::loopback();
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(std::string(host), ec);
  if (ec) return std::nullopt;
  return address;
}

std::optional<boost::asio::ip::tcp::endpoint> parse_endpoint(std::string_view text) {
  const auto colon = text.rfind(':');
  // "::1" alone is not a port: a colon inside brackets belongs to the host.
  const bool has_host = colon != std::string_view::npos && text.find(']', colon) == text.npos;
  const auto port_text = has_host ? text.substr(colon + 1) : text;
  unsigned port = 0;
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 ||
      port > 65535) {
    return std::nullopt;
  }
  const auto host = has_host ? text.substr(0, colon) : std::string_view();
  const auto address =
      host.empty() ? std::optional(boost::asio::ip::address(boost::asio::ip::address_v4::any()))
                   : parse_host(host);
  if (!address) return std::nullopt;
  return boost::asio::ip::tcp::endpoint(*address, static_cast<uint16_t>(port));
}

}  // namespace podvisor::os
