// gate::Gate on one io_context over loopback: a connection is held unread while the gate is
// down and relayed, its early bytes first, once it is up.
#include "gate/gate.h"

#include <gtest/gtest.h>

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>

namespace podvisor::gate {
namespace {

using boost::asio::ip::tcp;
using namespace std::chrono_literals;

// Runs the loop until `done` holds; false after 10 s.
bool run_until(boost::asio::io_context& io, const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    io.run_one_for(10ms);
  }
  return true;
}

// What `s` receives until its end of file, reading on the loop; "(timeout)" or the error.
std::string read_to_end(boost::asio::io_context& io, tcp::socket& s) {
  std::string got;
  std::optional<boost::system::error_code> end;
  std::array<char, 256> buffer;
  std::function<void()> next = [&] {
    s.async_read_some(boost::asio::buffer(buffer), [&](auto ec, size_t n) {
      got.append(buffer.data(), n);
      if (ec) {
        end = ec;
      } else {
        next();
      }
    });
  };
  next();
  if (!run_until(io, [&] { return end.has_value(); })) {
    // The read still refers to this frame: end it before returning.
    boost::system::error_code ignored;
    s.close(ignored);
    run_until(io, [&] { return end.has_value(); });
    return "(timeout)";
  }
  return *end == boost::asio::error::eof ? got : end->message();
}

TEST(Gate, HoldsUntilUpThenRelaysBothWaysWithHalfClose) {
  boost::asio::io_context io;
  const auto loopback = boost::asio::ip::address_v4::loopback();
  tcp::acceptor upstream(io, tcp::endpoint(loopback, 0));
  Gate gate(io, tcp::endpoint(loopback, 0), upstream.local_endpoint());
  gate.open();

  tcp::socket client(io);
  client.connect(tcp::endpoint(loopback, gate.port()));
  boost::asio::write(client, boost::asio::buffer(std::string_view("early bytes")));
  client.shutdown(tcp::socket::shutdown_send);
  ASSERT_TRUE(run_until(io, [&] { return gate.held() == 1; }));

  // Down: nothing reached the upstream.
  upstream.non_blocking(true);
  boost::system::error_code ec;
  tcp::socket none(io);
  upstream.accept(none, ec);
  EXPECT_EQ(ec, boost::asio::error::would_block);
  upstream.non_blocking(false);

  EXPECT_EQ(gate.set_up(true).count, 1u);
  EXPECT_EQ(gate.held(), 0u);
  std::optional<tcp::socket> server;
  upstream.async_accept([&](const boost::system::error_code& accept_ec, tcp::socket s) {
    ASSERT_FALSE(accept_ec) << accept_ec.message();
    server.emplace(std::move(s));
  });
  ASSERT_TRUE(run_until(io, [&] { return server.has_value(); }));

  // The client's bytes, then its end of file, then the answer the other way.
  EXPECT_EQ(read_to_end(io, *server), "early bytes");
  boost::asio::write(*server, boost::asio::buffer(std::string_view("answer")));
  server->shutdown(tcp::socket::shutdown_send);
  EXPECT_EQ(read_to_end(io, client), "answer");
}

TEST(Gate, HeldClientThatLeavesIsDropped) {
  boost::asio::io_context io;
  const auto loopback = boost::asio::ip::address_v4::loopback();
  Gate gate(io, tcp::endpoint(loopback, 0), tcp::endpoint(loopback, 1));
  gate.open();
  {
    tcp::socket client(io);
    client.connect(tcp::endpoint(loopback, gate.port()));
    ASSERT_TRUE(run_until(io, [&] { return gate.held() == 1; }));
  }
  EXPECT_TRUE(run_until(io, [&] { return gate.held() == 0; }));
}

}  // namespace
}  // namespace podvisor::gate
