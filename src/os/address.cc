#include "os/address.h"

#include <boost/algorithm/string/predicate.hpp>
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

}  // namespace podvisor::os
