// The one reader of host names in podvisor: numeric IPv4 and IPv6 addresses (bare or in
// brackets) and `localhost`. Never a resolver: a static binary has no NSS.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <optional>
#include <string_view>

namespace podvisor::os {

// "127.0.0.1", "::1", "[::1]", "localhost" (127.0.0.1, any case); nullopt for anything else.
std::optional<boost::asio::ip::address> parse_host(std::string_view host);

// "[HOST:]PORT" with HOST as parse_host reads it (IPv6 in brackets) and PORT 1-65535; a bare
// port or an empty host is every IPv4 address (0.0.0.0). nullopt for anything else.
std::optional<boost::asio::ip::tcp::endpoint> parse_endpoint(std::string_view text);

}  // namespace podvisor::os
