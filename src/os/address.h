// The one reader of host names in podvisor: numeric IPv4 and IPv6 addresses (bare or in
// brackets) and `localhost`. Never a resolver: a static binary has no NSS.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <optional>
#include <string_view>

namespace podvisor::os {

// "127.0.0.1", "::1", "[::1]", "localhost" (127.0.0.1, any case); nullopt for anything else.
std::optional<boost::asio::ip::address> parse_host(std::string_view host);

}  // namespace podvisor::os
