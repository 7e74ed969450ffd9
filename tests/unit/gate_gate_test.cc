// gate::Gate on one io_context over loopback: a connection is held unread while the gate is
// down and relayed, its early bytes first, once it is up.
#include "gate/gate.h"

#include <gtest/gtest.h>

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <functional>
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
  std::string got;
  bool got_eof = false;
  std::function<void()> read_server = [&] {
    auto buffer = std::make_shared<std::array<char, 256>>();
    server->async_read_some(boost::asio::buffer(*buffer), [&, buffer](auto read_ec, size_t n) {
      if (read_ec == boost::asio::error::eof) {
        got_eof = true;
        return;
      }
      ASSERT_FALSE(read_ec) << read_ec.message();
      got.append(buffer->data(), n);
      read_server();
    });
  };
  read_server();
  ASSERT_TRUE(run_until(io, [&] { return got_eof; }));
  EXPECT_EQ(got, "early bytes");
  boost::asio::write(*server, boost::asio::buffer(std::string_view("answer")));
  server->shutdown(tcp::socket::shutdown_send);

  std::string answer;
  bool answer_eof = false;
  auto buffer = std::make_shared<std::array<char, 256>>();
  std::function<void()> read_client = [&] {
    client.async_read_some(boost::asio::buffer(*buffer), [&](auto read_ec, size_t n) {
      if (read_ec == boost::asio::error::eof) {
        answer_eof = true;
        return;
      }
      ASSERT_FALSE(read_ec) << read_ec.message();
      answer.append(buffer->data(), n);
      read_client();
    });
  };
  read_client();
  ASSERT_TRUE(run_until(io, [&] { return answer_eof; }));
  EXPECT_EQ(answer, "answer");
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
