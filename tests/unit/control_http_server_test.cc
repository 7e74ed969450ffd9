#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/algorithm/string/case_conv.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "control/server/http_server.h"
#include "control/wire/base64.h"

namespace podvisor::control {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr auto kWait = 5s;  // the bound on every wait; none is expected to come near it

struct RawResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  bool complete = false;  // for a stream: the last chunk arrived
};

// Parses one response at the start of buf with Beast's parser. Returns the bytes it spans once
// it is complete, 0 while more is needed. The body is decoded as far as it has arrived.
size_t parse_response(std::string_view buf, bool closed, bool head, RawResponse& out) {
  namespace http = boost::beast::http;
  out = {};
  http::response_parser<http::string_body> parser;
  parser.skip(head);
  parser.body_limit(boost::none);
  parser.eager(true);
  boost::beast::error_code ec;
  size_t used = 0;
  while (!parser.is_done() && used < buf.size()) {
    const size_t n = parser.put(boost::asio::buffer(buf.data() + used, buf.size() - used), ec);
    used += n;
    if (ec == http::error::need_more) ec = {};
    if (ec || n == 0) break;
  }
  // A body without length or chunks ends with the connection.
  if (!ec && closed && used == buf.size() && parser.is_header_done() && !parser.is_done()) {
    parser.put_eof(ec);
  }
  if (!parser.is_header_done()) return 0;
  const auto& message = parser.get();
  out.status = static_cast<int>(message.result_int());
  for (const auto& field : message) {
    out.headers[boost::algorithm::to_lower_copy(std::string(field.name_string()))] =
        std::string(field.value());
  }
  out.body = message.body();
  out.complete = parser.is_done();
  return out.complete ? used : 0;
}

class Client {
 public:
  Client(boost::asio::io_context& io, int fd) : io_(io), fd_(fd) {
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
  }
  ~Client() {
    if (fd_ >= 0) ::close(fd_);
  }
  Client(Client&& other) noexcept
      : io_(other.io_), fd_(std::exchange(other.fd_, -1)), in_(std::move(other.in_)) {}

  bool pump_until(const std::function<bool()>& done, std::chrono::milliseconds limit = kWait) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      if (io_.stopped()) io_.restart();
      io_.run_one_for(2ms);
      receive();
    }
    return true;
  }

  void send(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n > 0) {
        data.remove_prefix(static_cast<size_t>(n));
      } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        const auto before = data.size();
        ASSERT_TRUE(pump_until([&] { return before != data.size() || writable(); }));
      } else {
        return;  // the server closed: the test looks at what it answered
      }
    }
  }

  // The next complete response; nullopt if none arrives in time.
  std::optional<RawResponse> response(bool head = false) {
    RawResponse out;
    size_t used = 0;
    pump_until([&] {
      used = parse_response(in_, closed_, head, out);
      return used > 0 || (closed_ && in_.empty());
    });
    if (used == 0) return std::nullopt;
    in_.erase(0, used);
    return out;
  }

  // The stream's headers and as much of its body as arrived once pred holds for it.
  RawResponse stream_until(const std::function<bool(const RawResponse&)>& pred) {
    RawResponse out;
    pump_until([&] {
      parse_response(in_, closed_, false, out);
      return out.status != 0 && pred(out);
    });
    return out;
  }

  bool wait_closed() {
    return pump_until([&] { return closed_; });
  }
  bool closed() {
    receive();
    return closed_;
  }
  const std::string& unread() const { return in_; }
  void shutdown_sending() { ::shutdown(fd_, SHUT_WR); }
  // Closes with a reset instead of an orderly end, as a killed client on TCP may.
  void reset() {
    const linger hard{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
    close();
  }
  void close() {
    ::close(fd_);
    fd_ = -1;
  }

 private:
  bool writable() {
    pollfd p{fd_, POLLOUT, 0};
    return ::poll(&p, 1, 0) == 1;
  }
  void receive() {
    if (fd_ < 0 || closed_) return;
    char buf[65536];
    for (;;) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) {
        in_.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EINTR)) closed_ = true;
      return;
    }
  }

  boost::asio::io_context& io_;
  int fd_;
  std::string in_;
  bool closed_ = false;
};

int connect_unix(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    ::close(fd);
    errno = err;
    return -1;
  }
  return fd;
}

int connect_tcp(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::string get(std::string_view path, std::string_view extra_headers = "") {
  return fmt::format("GET {} HTTP/1.1\r\nHost: localhost\r\n{}\r\n", path, extra_headers);
}

std::string post(std::string_view path, std::string_view body, std::string_view extra = "") {
  return fmt::format(
      "POST {} HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/xml\r\nContent-Length: "
      "{}\r\n{}\r\n{}",
      path, body.size(), extra, body);
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/podvisor-http-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    socket_path_ = dir_ + "/ctl.sock";
    handler_ = [](const Request& request, std::shared_ptr<Responder> responder) {
      Response response;
      response.body = fmt::format("{} {} [{}]", request.method, request.path(), request.body);
      response.headers.emplace_back("X-User", request.user);
      response.headers.emplace_back("X-Content-Type", request.header("content-type"));
      responder->send(std::move(response));
    };
  }

  void TearDown() override {
    server_.reset();
    io_.restart();
    io_.poll();
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  void start(ServerOptions options = {}, bool listen = true) {
    options.log = [this](config::LogLevel, std::string_view line) { log_.emplace_back(line); };
    server_ = std::make_unique<HttpServer>(
        io_,
        [this](const Request& request, std::shared_ptr<Responder> responder) {
          ++requests_;
          handler_(request, std::move(responder));
        },
        std::move(options));
    if (listen) server_->listen_unix(socket_path_);
  }

  Client connect() {
    const int fd = connect_unix(socket_path_);
    EXPECT_GE(fd, 0) << std::strerror(errno);
    return Client(io_, fd);
  }

  bool pump_until(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      if (io_.stopped()) io_.restart();
      io_.run_one_for(2ms);
    }
    return true;
  }

  boost::asio::io_context io_;
  std::string dir_;
  std::string socket_path_;
  Handler handler_;
  std::unique_ptr<HttpServer> server_;
  std::vector<std::string> log_;
  int requests_ = 0;
};

TEST_F(HttpServerTest, GetOnUnixSocket) {
  start();
  Client client = connect();
  client.send(get("/hello%20there?x=1"));
  auto response = client.response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "GET /hello there []");
  EXPECT_EQ(response->headers["content-type"], "text/plain");
  EXPECT_EQ(response->headers["content-length"], std::to_string(response->body.size()));
  EXPECT_FALSE(response->headers.contains("connection"));
}

TEST_F(HttpServerTest, PostWithBody) {
  start();
  Client client = connect();
  const std::string body = "<?xml version='1.0'?>\n<methodCall/>";
  client.send(post("/RPC2", body));
  auto response = client.response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "POST /RPC2 [" + body + "]");
  EXPECT_EQ(response->headers["x-content-type"], "text/xml");
}

TEST_F(HttpServerTest, ChunkedRequestBody) {
  start();
  Client client = connect();
  client.send(
      "POST /RPC2 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
  auto response = client.response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "POST /RPC2 [abcde]");
}

TEST_F(HttpServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  start();
  Client client = connect();
  client.send(post("/RPC2", "one"));
  auto first = client.response();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->body, "POST /RPC2 [one]");
  client.send(get("/two"));
  auto second = client.response();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->body, "GET /two []");
  EXPECT_EQ(server_->connection_count(), 1u);
  EXPECT_FALSE(client.closed());

  // Pipelined: both in one write, answered in order.
  client.send(get("/three") + post("/four", "4"));
  auto third = client.response();
  auto fourth = client.response();
  ASSERT_TRUE(third && fourth);
  EXPECT_EQ(third->body, "GET /three []");
  EXPECT_EQ(fourth->body, "POST /four [4]");
  EXPECT_EQ(requests_, 4);
}

TEST_F(HttpServerTest, Http10ClosesUnlessKeepAliveIsAsked) {
  start();
  Client plain = connect();
  plain.send("GET /a HTTP/1.0\r\n\r\n");
  auto response = plain.response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->headers["connection"], "close");
  EXPECT_TRUE(plain.wait_closed());

  Client kept = connect();
  kept.send("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  response = kept.response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->headers["connection"], "keep-alive");
  kept.send("GET /b HTTP/1.1\r\nConnection: close\r\n\r\n");
  response = kept.response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "GET /b []");
  EXPECT_EQ(response->headers["connection"], "close");
  EXPECT_TRUE(kept.wait_closed());
}

TEST_F(HttpServerTest, StrayLineBreaksBetweenRequestsAreIgnored) {
  start();
  Client client = connect();
  // supervisorctl's http_client ends its GET with one CRLF too many.
  client.send(get("/logtail/app/stdout") + "\r\n");
  auto response = client.response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  client.send("\r\n\n");
  client.send(get("/next"));
  response = client.response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "GET /next []");
}

TEST_F(HttpServerTest, GarbageGets400AndCloseWithoutHarmingOthers) {
  start();
  Client other = connect();
  const std::vector<std::string> garbage_requests = {
      "BLAH\r\n\r\n",
      "GET / HTTP/1.1\r\nno colon here\r\n\r\n",
      "GET / FTP/1.1\r\n\r\n",
      "GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
      std::string("G\0T / HTTP/1.1\r\n\r\n", 18)};
  for (const auto& garbage : garbage_requests) {
    Client client = connect();
    client.send(garbage);
    auto response = client.response();
    ASSERT_TRUE(response) << garbage;
    EXPECT_EQ(response->status, 400) << garbage;
    EXPECT_EQ(response->headers["connection"], "close");
    EXPECT_TRUE(client.wait_closed());
  }
  other.send(get("/still"));
  auto response = other.response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "GET /still []");
  EXPECT_EQ(requests_, 1);
}

TEST_F(HttpServerTest, LimitsGive413And431) {
  ServerOptions options;
  options.max_body_bytes = 1000;
  options.max_header_bytes = 2048;
  start(options);
  {
    Client client = connect();
    client.send("POST /RPC2 HTTP/1.1\r\nContent-Length: 1001\r\n\r\n");
    auto response = client.response();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 413);
    EXPECT_TRUE(client.wait_closed());
  }
  {
    // Chunked: the limit holds as the chunks arrive.
    Client client = connect();
    client.send("POST /RPC2 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    client.send(fmt::format("{:x}\r\n{}\r\n", 1500, std::string(1500, 'x')));
    auto response = client.response();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 413);
  }
  {
    Client client = connect();
    client.send(get("/", "X-Big: " + std::string(4000, 'a') + "\r\n"));
    auto response = client.response();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 431);
  }
  {
    Client client = connect();
    client.send(post("/RPC2", std::string(1000, 'b')));
    auto response = client.response();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 200);
  }
  EXPECT_EQ(requests_, 1);
}

TEST_F(HttpServerTest, BasicAuth) {
  ServerOptions options;
  options.auth = BasicAuth{"user", "secret"};
  options.public_paths = {"/health"};
  start(options);
  {
    Client client = connect();
    client.send(post("/RPC2", "x"));
    auto response = client.response();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 401);
    EXPECT_EQ(response->headers["www-authenticate"], R"(Basic realm="default")");
    EXPECT_TRUE(client.wait_closed());
  }
  for (const std::string wrong : {"user:wrong", "other:secret", "user", "user:secret:x"}) {
    Client client = connect();
    client.send(get("/RPC2", "Authorization: Basic " + base64_encode(wrong) + "\r\n"));
    auto response = client.response();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 401) << wrong;
  }
  {
    Client client = connect();
    client.send(get("/RPC2", "Authorization: Digest abc\r\n"));
    auto response = client.response();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 401);
  }
  {
    Client client = connect();
    client.send(get("/RPC2", "authorization: basic " + base64_encode("user:secret") + "\r\n"));
    auto response = client.response();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->headers["x-user"], "user");
  }
  {
    Client client = connect();
    client.send(get("/health?full=1"));
    auto response = client.response();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->headers["x-user"], "");
  }
  EXPECT_EQ(requests_, 2);
}

TEST_F(HttpServerTest, ShaPassword) {
  ServerOptions options;
  // echo -n "thepassword" | sha1sum
  options.auth = BasicAuth{"admin", "{SHA}82ab876d1387bfafe46cc1c8a2ef074eae50cb1d"};
  start(options);
  Client client = connect();
  client.send(get("/RPC2", "Authorization: Basic " + base64_encode("admin:thepassword") + "\r\n"));
  auto response = client.response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  client.send(get("/RPC2", "Authorization: Basic " +
                               base64_encode("admin:{SHA}82ab876d1387bfafe"
                                             "46cc1c8a2ef074eae50cb1d") +
                               "\r\n"));
  response = client.response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 401);
}

TEST(Passwords, ShaAndPlain) {
  EXPECT_EQ(sha1_hex(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  EXPECT_EQ(sha1_hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(sha1_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  EXPECT_EQ(sha1_hex(std::string(1000000, 'a')), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
  EXPECT_TRUE(password_matches("{SHA}a9993e364706816aba3e25717850c26c9cd0d89d", "abc"));
  EXPECT_TRUE(password_matches("{SHA}A9993E364706816ABA3E25717850C26C9CD0D89D", "abc"));
  EXPECT_FALSE(password_matches("{SHA}a9993e364706816aba3e25717850c26c9cd0d89d", "abd"));
  EXPECT_TRUE(password_matches("plain", "plain"));
  EXPECT_FALSE(password_matches("plain", "plai"));
  EXPECT_FALSE(password_matches("plain", "plainx"));
  EXPECT_FALSE(password_matches("plain", ""));
  EXPECT_TRUE(password_matches("", ""));
}

TEST_F(HttpServerTest, ChunkedStreamFollowsOutput) {
  std::shared_ptr<Responder> stream;
  bool client_gone = false;
  handler_ = [&](const Request&, std::shared_ptr<Responder> responder) {
    responder->start_stream(200, "text/plain");
    responder->write_chunk("first\n");
    responder->write_chunk("");  // skipped: an empty chunk would end the stream
    responder->on_close([&] { client_gone = true; });
    stream = std::move(responder);
  };
  start();
  Client client = connect();
  client.send(get("/logtail/app/stdout") + "\r\n");
  RawResponse seen = client.stream_until([](const RawResponse& r) { return !r.body.empty(); });
  EXPECT_EQ(seen.status, 200);
  EXPECT_EQ(seen.headers["transfer-encoding"], "chunked");
  EXPECT_EQ(seen.body, "first\n");
  EXPECT_FALSE(seen.complete);

  stream->write_chunk("second\n");
  stream->write_chunk(std::string(100000, 'z'));
  seen = client.stream_until([](const RawResponse& r) { return r.body.size() >= 100013; });
  EXPECT_EQ(seen.body, "first\nsecond\n" + std::string(100000, 'z'));
  EXPECT_FALSE(stream->closed());

  // The reader goes away (supervisorctl's tail -f ends with Ctrl-C).
  client.close();
  EXPECT_TRUE(pump_until([&] { return client_gone; }));
  EXPECT_TRUE(stream->closed());
  stream->write_chunk("nobody reads this");  // harmless
  EXPECT_EQ(server_->connection_count(), 0u);
}

TEST_F(HttpServerTest, StreamEndsAndConnectionIsReused) {
  handler_ = [&](const Request& request, std::shared_ptr<Responder> responder) {
    if (request.path() == "/stream") {
      responder->start_stream(200, "text/plain");
      responder->write_chunk("a");
      responder->write_chunk("b");
      responder->end_stream();
      responder->write_chunk("ignored");
    } else {
      responder->send({200, "text/plain", "plain", {}});
    }
  };
  start();
  Client client = connect();
  client.send(get("/stream"));
  auto response = client.response();
  ASSERT_TRUE(response);
  EXPECT_TRUE(response->complete);
  EXPECT_EQ(response->body, "ab");
  client.send(get("/other"));
  response = client.response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "plain");

  // An HTTP/1.0 client gets the stream unchunked, ended by the close.
  Client old = connect();
  old.send("GET /stream HTTP/1.0\r\n\r\n");
  EXPECT_TRUE(old.wait_closed());
  response = old.response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "ab");
}

TEST_F(HttpServerTest, AnswerLater) {
  std::shared_ptr<Responder> pending;
  handler_ = [&](const Request& request, std::shared_ptr<Responder> responder) {
    if (request.path() == "/RPC2") {
      pending = std::move(responder);
    } else {
      responder->send({});
    }
  };
  start();
  Client client = connect();
  client.send(post("/RPC2", "startProcess"));
  ASSERT_TRUE(pump_until([&] { return pending != nullptr; }));
  EXPECT_FALSE(pending->closed());
  // Meanwhile other clients are served.
  Client other = connect();
  other.send(get("/x"));
  ASSERT_TRUE(pump_until([&] { return requests_ == 2; }));
  boost::asio::post(io_, [&] {
    pending->send({200, "text/xml", "<later/>", {}});
    pending.reset();
  });
  auto response = client.response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "<later/>");
  EXPECT_EQ(response->headers["content-type"], "text/xml");
}

TEST_F(HttpServerTest, HalfClosedClientStillGetsItsAnswer) {
  std::shared_ptr<Responder> pending;
  bool close_seen = false;
  handler_ = [&](const Request&, std::shared_ptr<Responder> responder) {
    responder->on_close([&] { close_seen = true; });
    pending = std::move(responder);
  };
  start();
  Client client = connect();
  client.send(get("/slow"));
  client.shutdown_sending();
  ASSERT_TRUE(pump_until([&] { return pending != nullptr; }));
  pending->send({200, "text/plain", "done", {}});
  auto response = client.response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "done");
  EXPECT_TRUE(client.wait_closed());
  EXPECT_FALSE(close_seen);
}

TEST_F(HttpServerTest, ResetClientRunsOnClose) {
  std::shared_ptr<Responder> pending;
  bool close_seen = false;
  handler_ = [&](const Request&, std::shared_ptr<Responder> responder) {
    responder->on_close([&] { close_seen = true; });
    pending = std::move(responder);
  };
  start(ServerOptions{}, false);
  const uint16_t port = server_->listen_tcp("127.0.0.1", 0);
  Client client(io_, connect_tcp(port));
  client.send(get("/slow") + "unread");  // unread data makes close() send a reset
  ASSERT_TRUE(pump_until([&] { return pending != nullptr; }));
  client.reset();
  EXPECT_TRUE(pump_until([&] { return close_seen; }));
  EXPECT_TRUE(pending->closed());
  pending->send({200, "text/plain", "too late", {}});  // harmless
}

TEST_F(HttpServerTest, DroppedResponderAnswers500AndThrowingHandlerToo) {
  handler_ = [&](const Request& request, std::shared_ptr<Responder>) {
    if (request.path() == "/throw") throw std::runtime_error("boom");
  };
  start();
  Client client = connect();
  client.send(get("/drop"));
  auto response = client.response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 500);
  client.send(get("/throw"));
  response = client.response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 500);
  EXPECT_FALSE(client.closed());  // the connection survives both
  bool logged = false;
  for (const auto& line : log_) logged |= line.find("boom") != std::string::npos;
  EXPECT_TRUE(logged);
}

TEST_F(HttpServerTest, HeadAndBodilessStatuses) {
  handler_ = [](const Request& request, std::shared_ptr<Responder> responder) {
    responder->send({request.path() == "/starting" ? 204 : 200, "text/plain", "12345", {}});
  };
  start();
  Client client = connect();
  client.send("HEAD /ready HTTP/1.1\r\n\r\n");
  auto response = client.response(/*head=*/true);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->headers["content-length"], "5");
  client.send(get("/starting"));
  response = client.response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 204);
  EXPECT_FALSE(response->headers.contains("content-length"));
  client.send(get("/x"));
  response = client.response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "12345");  // nothing stray was left between the answers
}

TEST_F(HttpServerTest, ExpectContinue) {
  start();
  Client client = connect();
  client.send("POST /RPC2 HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
  auto interim = client.response();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100);
  client.send("body");
  auto response = client.response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "POST /RPC2 [body]");
}

TEST_F(HttpServerTest, IdleConnectionTimesOut) {
  ServerOptions options;
  options.header_timeout = 100ms;
  start(options);
  Client idle = connect();
  Client partial = connect();
  partial.send("GET / HTTP/1.1\r\n");  // slowloris
  EXPECT_TRUE(idle.wait_closed());
  EXPECT_TRUE(partial.wait_closed());
  EXPECT_TRUE(pump_until([&] { return server_->connection_count() == 0; }));
}

TEST_F(HttpServerTest, SocketFileModeOwnerAndStaleFile) {
  start(ServerOptions{}, false);
  // A socket file left by a dead process is replaced.
  {
    const int stale = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, socket_path_.c_str(), sizeof addr.sun_path - 1);
    ASSERT_EQ(::bind(stale, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ::close(stale);
  }
  const mode_t umask_before = ::umask(022);
  ::umask(umask_before);
  server_->listen_unix(socket_path_);
  const mode_t umask_after = ::umask(umask_before);
  EXPECT_EQ(umask_after, umask_before);  // put back after the bind
  struct stat st {};
  ASSERT_EQ(::stat(socket_path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0700u);

  const std::string shared = dir_ + "/shared.sock";
  server_->listen_unix(shared, 0770, std::nullopt, ::getgid());
  ASSERT_EQ(::stat(shared.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0770u);
  EXPECT_EQ(st.st_gid, ::getgid());
  Client client(io_, connect_unix(shared));
  client.send(get("/x"));
  ASSERT_TRUE(client.response());

  // A socket someone listens on, or a file that is not a socket, is left alone.
  HttpServer second(io_, handler_);
  try {
    second.listen_unix(socket_path_);
    ADD_FAILURE() << "listened on a socket in use";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), EADDRINUSE);
    EXPECT_NE(std::string(e.what()).find(socket_path_), std::string::npos) << e.what();
  }
  const std::string regular = dir_ + "/file";
  { std::ofstream(regular) << "keep me"; }
  EXPECT_THROW(second.listen_unix(regular), std::system_error);
  EXPECT_TRUE(fs::is_regular_file(regular));
  EXPECT_THROW(second.listen_unix(dir_ + "/missing/dir.sock"), std::system_error);
  EXPECT_THROW(second.listen_unix(dir_ + "/" + std::string(120, 'x')), std::system_error);

  // close() removes the files it made.
  server_->close();
  EXPECT_FALSE(fs::exists(socket_path_));
  EXPECT_FALSE(fs::exists(shared));
  EXPECT_LT(connect_unix(socket_path_), 0);
}

TEST_F(HttpServerTest, OtherUsersCannotConnectToA0700Socket) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to become another user";
  start();
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) _exit(2);
    const int fd = connect_unix(socket_path_);
    _exit(fd < 0 && errno == EACCES ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "2: could not drop privileges; 1: connected";
}

TEST_F(HttpServerTest, TcpListeners) {
  start(ServerOptions{}, false);
  const uint16_t port = server_->listen_tcp("127.0.0.1", 0);
  ASSERT_NE(port, 0);
  Client client(io_, connect_tcp(port));
  client.send(get("/tcp"));
  auto response = client.response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "GET /tcp []");

  const uint16_t local = server_->listen_tcp("localhost", 0);
  Client by_name(io_, connect_tcp(local));
  by_name.send(get("/named"));
  ASSERT_TRUE(by_name.response());

  const uint16_t any = server_->listen_tcp("*", 0);
  Client wildcard(io_, connect_tcp(any));
  wildcard.send(get("/any"));
  ASSERT_TRUE(wildcard.response());

  // The port in use: a clear error.
  try {
    server_->listen_tcp("127.0.0.1", port);
    ADD_FAILURE() << "bound a port in use";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), EADDRINUSE);
    EXPECT_NE(std::string(e.what()).find(fmt::format("127.0.0.1:{}", port)), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(server_->listen_tcp("example.com", 0), std::system_error);
  EXPECT_THROW(server_->listen_tcp("127.0.0.300", 0), std::system_error);
  // IPv6 where the machine has it.
  try {
    server_->listen_tcp("[::1]", 0);
  } catch (const std::system_error& e) {
    EXPECT_TRUE(e.code().value() == EADDRNOTAVAIL || e.code().value() == EAFNOSUPPORT) << e.what();
  }
}

TEST_F(HttpServerTest, CloseEndsStreamsAndStopsListening) {
  std::shared_ptr<Responder> stream;
  bool close_seen = false;
  handler_ = [&](const Request&, std::shared_ptr<Responder> responder) {
    responder->start_stream(200, "text/plain");
    responder->on_close([&] { close_seen = true; });
    stream = std::move(responder);
  };
  start();
  Client client = connect();
  client.send(get("/logtail/app/stdout"));
  ASSERT_TRUE(pump_until([&] { return stream != nullptr; }));
  server_->close();
  EXPECT_TRUE(stream->closed());
  EXPECT_FALSE(close_seen);  // posted, not run inside close()
  EXPECT_TRUE(pump_until([&] { return close_seen; }));
  bool late_seen = false;  // a callback set after the close runs too
  stream->on_close([&] { late_seen = true; });
  EXPECT_TRUE(pump_until([&] { return late_seen; }));
  EXPECT_TRUE(client.wait_closed());
  EXPECT_EQ(server_->connection_count(), 0u);
  EXPECT_FALSE(fs::exists(socket_path_));
  server_->close();  // idempotent
}

TEST_F(HttpServerTest, ConnectionLimitPausesAccepting) {
  ServerOptions options;
  options.max_connections = 1;
  options.reserved_connections = 0;
  start(options);
  Client first = connect();
  first.send(get("/1"));
  ASSERT_TRUE(first.response());
  Client second = connect();  // queued in the backlog
  second.send(get("/2"));
  EXPECT_FALSE(second.pump_until([&] { return !second.unread().empty(); }, 100ms));
  first.close();
  auto response = second.response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "GET /2 []");
}

TEST_F(HttpServerTest, ReservedSlotsServeProbesOnlyAndMakeRoomForThem) {
  ServerOptions options;
  options.max_connections = 1;
  options.reserved_connections = 1;
  start(options);
  // The status of the answer to `request` on client (0: none).
  const auto status = [](Client& client, const std::string& request) {
    client.send(request);
    const auto answer = client.response();
    return answer ? answer->status : 0;
  };
  Client general = connect();
  general.send("GET /slow HTTP/1.1\r\n");  // holds the only general slot
  ASSERT_TRUE(general.pump_until([&] { return server_->connection_count() == 1; }));
  // Beyond it: a probe is answered, then the slot closes; anything else gets 503.
  Client probe = connect();
  EXPECT_EQ(status(probe, get("/health")), 200);
  EXPECT_TRUE(probe.wait_closed());
  Client other = connect();
  EXPECT_EQ(status(other, get("/RPC2")), 503);
  Client body = connect();
  EXPECT_EQ(status(body, post("/health", "x")), 503);
  // A slow client in the reserved slot is replaced by the next connection.
  Client slow = connect();
  slow.send("GET /health HTTP/1.1\r\n");
  Client next = connect();
  EXPECT_EQ(status(next, get("/ping")), 200);
  EXPECT_TRUE(slow.wait_closed());
  EXPECT_FALSE(general.closed());
}

TEST_F(HttpServerTest, HeaderAndBodyDeadlines) {
  ServerOptions options;
  options.header_timeout = 10s;
  options.body_timeout = 100ms;
  start(options);
  Client client = connect();
  client.send("POST /RPC2 HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");  // the body stalls
  EXPECT_TRUE(client.wait_closed());
}

TEST_F(HttpServerTest, SlowStreamReaderIsCutOff) {
  ServerOptions options;
  options.max_stream_buffer = 64 * 1024;
  std::shared_ptr<Responder> stream;
  bool close_seen = false;
  handler_ = [&](const Request&, std::shared_ptr<Responder> responder) {
    responder->start_stream(200, "text/plain");
    responder->on_close([&] { close_seen = true; });
    stream = std::move(responder);
  };
  start(options);
  const int fd = connect_unix(socket_path_);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::send(fd, get("/tail").data(), get("/tail").size(), 0),
            static_cast<ssize_t>(get("/tail").size()));
  ASSERT_TRUE(pump_until([&] { return stream != nullptr; }));
  // The client never reads: kernel buffers fill, then the server's queue.
  const std::string block(16 * 1024, 'x');
  ASSERT_TRUE(pump_until([&] {
    if (!stream->closed()) {
      stream->write_chunk(block);
      if (stream->closed()) {
        EXPECT_FALSE(close_seen) << "on_close ran inside write_chunk";
      }
    }
    return close_seen;
  }));
  EXPECT_LE(stream->pending_bytes(), options.max_stream_buffer);
  ::close(fd);
}

TEST(HttpRequest, PathAndHeaders) {
  Request request;
  request.target = "/logtail/group%3Aapp/stdout?offset=1#frag";
  request.headers = {{"Content-Type", "text/xml"}, {"X-A", "1"}, {"x-a", "2"}};
  EXPECT_EQ(request.path(), "/logtail/group:app/stdout");
  EXPECT_EQ(request.query(), "offset=1");
  EXPECT_EQ(request.header("content-type"), "text/xml");
  EXPECT_EQ(request.header("X-a"), "1");
  EXPECT_EQ(request.header("missing"), "");
  request.target = "http://localhost:9001/RPC2";
  EXPECT_EQ(request.path(), "/RPC2");
  request.target = "/bad%zz%4";
  EXPECT_EQ(request.path(), "/bad%zz%4");
  EXPECT_EQ(request.query(), "");
}

}  // namespace
}  // namespace podvisor::control
