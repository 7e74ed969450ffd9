// libFuzzer target: the control server's request path. The input is what a client sends on
// one connection (a socketpair adopted by a real HttpServer); the handler answers at once,
// later, with a stream, not at all, or by throwing, depending on the path.
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "control/server/http_server.h"

using namespace podvisor::control;

namespace {

// Reads what the server sent; false once the server closed its end.
bool drain(int fd, size_t& received) {
  char buf[65536];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      received += static_cast<size_t>(n);
      continue;
    }
    return n < 0 && (errno == EAGAIN || errno == EINTR);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  boost::asio::io_context io;
  std::vector<std::shared_ptr<Responder>> later;
  std::vector<std::shared_ptr<Responder>> streams;

  ServerOptions options;
  options.max_header_bytes = 2048;
  options.max_body_bytes = 4096;
  options.max_stream_buffer = 8192;
  options.public_paths = {"/health", "/ready"};
  if (size > 0 && (data[0] & 1)) {
    options.auth = BasicAuth{"user", "{SHA}5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8"};
  }
  HttpServer server(
      io,
      [&](const Request& request, std::shared_ptr<Responder> responder) {
        const std::string path = request.path();
        (void)request.query();
        (void)request.header("content-type");
        if (path == "/later") {
          later.push_back(std::move(responder));
        } else if (path == "/stream") {
          responder->start_stream(200, "text/plain");
          responder->write_chunk(request.body);
          responder->on_close([] {});
          streams.push_back(std::move(responder));
        } else if (path == "/stream-end") {
          responder->start_stream(200, "text/plain");
          responder->write_chunk(request.body);
          responder->end_stream();
        } else if (path == "/drop") {
          // no answer: the server answers 500 when the responder goes
        } else if (path == "/throw") {
          throw std::runtime_error("handler failed");
        } else {
          responder->send({request.body.empty() ? 204 : 200,
                           request.header("accept"),
                           request.body,
                           {{"X-Path", path}}});
        }
      },
      options);

  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) return 0;
  server.adopt(fds[0]);
  const int client = fds[1];

  size_t sent = 0, received = 0;
  bool open = true;
  for (int round = 0; round < 10000 && open; ++round) {
    if (sent < size) {
      const ssize_t n = ::send(client, data + sent, size - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) sent += static_cast<size_t>(n);
    }
    const size_t ran = io.poll();
    io.restart();
    open = drain(client, received);
    if (ran == 0 && sent == size) {
      // Idle: answer what waits, feed the streams, then let the client go.
      if (!later.empty()) {
        for (auto& responder : later) responder->send({200, "text/plain", "later", {}});
        later.clear();
      } else if (!streams.empty()) {
        for (auto& stream : streams) {
          stream->write_chunk("more");
          stream->end_stream();
        }
        streams.clear();
      } else {
        break;
      }
    }
  }
  ::shutdown(client, SHUT_WR);
  for (int round = 0; round < 100 && open; ++round) {
    io.poll();
    io.restart();
    open = drain(client, received);
  }
  ::close(client);
  later.clear();
  streams.clear();
  server.close();
  io.poll();
  return 0;
}
