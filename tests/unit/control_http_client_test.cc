#include <fmt/format.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>

#include "control/client/http_client.h"

namespace podvisor::control {
namespace {

// --- the response parser

struct Parsed {
  HttpResponse head;
  std::string body;
  bool done = false;
  bool keep_alive = false;
  std::string rest;
};

// Feeds `bytes` in pieces of `step` bytes (every split point gets tested that way).
Parsed parse(std::string_view bytes, size_t step, bool eof = false) {
  ResponseParser p;
  Parsed out;
  while (!bytes.empty() && !p.done()) {
    const auto piece = bytes.substr(0, std::min(step, bytes.size()));
    const auto unused = p.feed(piece, [&](std::string_view d) { out.body.append(d); });
    bytes.remove_prefix(piece.size() - unused.size());
    if (!unused.empty()) break;
  }
  out.rest = std::string(bytes);
  if (eof) p.end_of_input();
  out.head = p.head();
  out.done = p.done();
  out.keep_alive = p.keep_alive();
  return out;
}

TEST(ResponseParser, ContentLength) {
  const std::string raw =
      "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 5\r\n\r\nhelloNEXT";
  for (size_t step : {1u, 2u, 7u, 1000u}) {
    const auto r = parse(raw, step);
    EXPECT_TRUE(r.done);
    EXPECT_EQ(r.head.status, 200);
    EXPECT_EQ(r.head.reason, "OK");
    EXPECT_EQ(r.head.header("content-type"), "text/xml");
    EXPECT_EQ(r.body, "hello") << step;
    EXPECT_EQ(r.rest, "NEXT") << step;
    EXPECT_TRUE(r.keep_alive);
  }
}

TEST(ResponseParser, Chunked) {
  const std::string raw =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n1;ext=1\r\n \r\n6\r\nworld!\r\n0\r\nX-Trailer: 1\r\n\r\n";
  for (size_t step : {1u, 3u, 1000u}) {
    const auto r = parse(raw, step);
    EXPECT_TRUE(r.done) << step;
    EXPECT_EQ(r.body, "hello world!") << step;
  }
}

TEST(ResponseParser, BodyToTheEndOfTheConnection) {
  const auto r = parse("HTTP/1.0 200 OK\r\nServer: medusa\r\n\r\nall of it", 4, /*eof=*/true);
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.body, "all of it");
  EXPECT_FALSE(r.keep_alive);
  // HTTP/1.1 without a length or chunking runs to the end too, and ends the connection.
  const auto r11 = parse("HTTP/1.1 200 OK\r\n\r\nrest", 3, /*eof=*/true);
  EXPECT_TRUE(r11.done);
  EXPECT_EQ(r11.body, "rest");
  EXPECT_FALSE(r11.keep_alive);
}

TEST(ResponseParser, ConnectionHeaders) {
  EXPECT_FALSE(
      parse("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", 100).keep_alive);
  EXPECT_TRUE(parse("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n", 100)
                  .keep_alive);
}

TEST(ResponseParser, SkipsInterimResponsesAndEmptyBodies) {
  auto r = parse(
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 401 Unauthorized\r\nContent-Length: 3\r\n\r\nno!", 5);
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.head.status, 401);
  EXPECT_EQ(r.head.reason, "Unauthorized");
  EXPECT_EQ(r.body, "no!");
  r = parse("HTTP/1.1 204 No Content\r\n\r\n", 100);
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.body, "");
}

TEST(ResponseParser, RejectsWhatIsNotHttp) {
  // A whole head (or chunk line) that is wrong fails as soon as it is read.
  for (const char* bad :
       {"SSH-2.0-OpenSSH\r\n\r\n", "HTTP/1.1 2000 OK\r\n\r\n", "HTTP/1.1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nno colon\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc\r\n"}) {
    ResponseParser p;
    EXPECT_THROW(p.feed(bad, [](std::string_view) {}), HttpError) << bad;
  }
  // Beast reads a head whole, so a wrong first line alone fails by the end of the input.
  for (const char* bad : {"SSH-2.0-OpenSSH\r\n", "HTTP/1.1 2000 OK\r\n", "HTTP/1.1\r\n",
                          "HTTP/1.1 200 OK\r\nno colon\r\n"}) {
    ResponseParser p;
    EXPECT_THROW(
        {
          p.feed(bad, [](std::string_view) {});
          p.end_of_input();
        },
        HttpError)
        << bad;
  }
  // Bare LF line ends: Beast takes CRLF only (supervisord's medusa and podvisor send CRLF).
  ResponseParser bare_lf;
  EXPECT_THROW(bare_lf.feed("HTTP/1.0 200 OK\nServer: medusa\n\nall", [](std::string_view) {}),
               HttpError);
  ResponseParser endless;
  EXPECT_THROW(
      endless.feed("HTTP/1.1 200 OK\r\nX: " + std::string(100000, 'a'), [](std::string_view) {}),
      HttpError);
}

TEST(ResponseParser, IncompleteAtEndOfInput) {
  ResponseParser p;
  p.feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", [](std::string_view) {});
  EXPECT_THROW(p.end_of_input(), HttpError);
  ResponseParser nothing;
  EXPECT_THROW(nothing.end_of_input(), HttpError);
}

// --- server URLs

TEST(ServerUrl, AsSupervisorctlWritesThem) {
  auto u = parse_server_url("unix:///run/supervisor.sock");
  ASSERT_TRUE(u);
  EXPECT_TRUE(u->unix_socket);
  EXPECT_EQ(u->path, "/run/supervisor.sock");
  u = parse_server_url("http://127.0.0.1:9001");
  ASSERT_TRUE(u);
  EXPECT_FALSE(u->unix_socket);
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 9001);
  u = parse_server_url("http://LocalHost/RPC2");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "localhost");
  EXPECT_EQ(u->port, 80);
  u = parse_server_url("http://[::1]:9001/");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 9001);
  u = parse_server_url("http://user:pw@10.0.0.1:8");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "10.0.0.1");
  for (const char* bad : {"unix://", "ftp://x", "localhost:9001", "http://x:99999", "http://x:port",
                          "http://[::1", "http://[::1]x"}) {
    EXPECT_FALSE(parse_server_url(bad)) << bad;
  }
}

// --- the client against a scripted server

// Serves one connection at a time on a unix socket or on 127.0.0.1: each request (head and
// Content-Length body) goes to `respond`, whose answer is written back; `close_after` closes
// the connection after that answer.
class ScriptedServer {
 public:
  struct Answer {
    std::string bytes;
    bool close_after = false;
  };
  using Respond = std::function<Answer(const std::string& request)>;

  ScriptedServer(Respond respond, bool tcp = false) : respond_(std::move(respond)) {
    if (tcp) {
      fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
      socklen_t len = sizeof addr;
      getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
      port_ = ntohs(addr.sin_port);
    } else {
      char dir[] = "/tmp/podvisor-http-client-XXXXXX";
      EXPECT_NE(mkdtemp(dir), nullptr);
      dir_ = dir;
      path_ = dir_ + "/s.sock";
      fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      std::strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
      EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    }
    EXPECT_EQ(listen(fd_, 8), 0);
    thread_ = std::thread([this] { serve(); });
  }
  ~ScriptedServer() {
    stopping_ = true;
    shutdown(fd_, SHUT_RDWR);
    thread_.join();
    close(fd_);
    if (!path_.empty()) {
      unlink(path_.c_str());
      rmdir(dir_.c_str());
    }
  }

  ServerUrl url() const {
    ServerUrl u;
    u.unix_socket = port_ == 0;
    u.path = path_;
    u.host = "127.0.0.1";
    u.port = port_;
    return u;
  }
  int accepted() const { return accepted_; }
  std::vector<std::string> requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  void serve() {
    while (!stopping_) {
      const int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      ++accepted_;
      std::string buffer;
      bool open = true;
      while (open) {
        // One request: the head, then Content-Length bytes.
        size_t head_end;
        while ((head_end = buffer.find("\r\n\r\n")) == std::string::npos) {
          if (!read_more(c, buffer)) {
            open = false;
            break;
          }
        }
        if (!open) break;
        size_t length = 0;
        if (const auto cl = buffer.find("Content-Length: ");
            cl != std::string::npos && cl < head_end) {
          length = std::stoul(buffer.substr(cl + 16));
        }
        while (buffer.size() < head_end + 4 + length) {
          if (!read_more(c, buffer)) {
            open = false;
            break;
          }
        }
        if (!open) break;
        const auto request = buffer.substr(0, head_end + 4 + length);
        buffer.erase(0, request.size());
        {
          std::lock_guard lock(mutex_);
          requests_.push_back(request);
        }
        const auto answer = respond_(request);
        if (!answer.bytes.empty()) {
          EXPECT_EQ(send(c, answer.bytes.data(), answer.bytes.size(), MSG_NOSIGNAL),
                    static_cast<ssize_t>(answer.bytes.size()));
        }
        if (answer.close_after) open = false;
      }
      close(c);
    }
  }
  static bool read_more(int fd, std::string& buffer) {
    char buf[4096];
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return false;
    buffer.append(buf, static_cast<size_t>(n));
    return true;
  }

  Respond respond_;
  int fd_ = -1;
  std::string dir_, path_;
  uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepted_{0};
  std::mutex mutex_;
  std::vector<std::string> requests_;
};

std::string ok(std::string_view body, std::string_view extra = "") {
  return fmt::format("HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n{}Content-Length: {}\r\n\r\n{}",
                     extra, body.size(), body);
}

TEST(HttpClient, SendsTheRequestAndReadsTheAnswer) {
  ScriptedServer server([](const std::string&) { return ScriptedServer::Answer{ok("pong")}; });
  HttpClient client(server.url(), Credentials{"user", "123"});
  const auto r = client.request("POST", "/RPC2", "<x/>", "text/xml");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "pong");
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  const auto& q = requests[0];
  EXPECT_TRUE(q.starts_with("POST /RPC2 HTTP/1.1\r\n")) << q;
  EXPECT_NE(q.find("\r\nHost: localhost\r\n"), std::string::npos) << q;
  EXPECT_NE(q.find("\r\nAuthorization: Basic dXNlcjoxMjM=\r\n"), std::string::npos) << q;
  EXPECT_NE(q.find("\r\nContent-Type: text/xml\r\n"), std::string::npos) << q;
  EXPECT_NE(q.find("\r\nContent-Length: 4\r\n"), std::string::npos) << q;
  EXPECT_TRUE(q.ends_with("\r\n\r\n<x/>")) << q;
}

TEST(HttpClient, KeepsTheConnectionAndReopensAClosedOne) {
  int n = 0;
  ScriptedServer server([&](const std::string&) {
    ++n;
    // The second answer closes without saying so: the third request needs a new connection.
    return ScriptedServer::Answer{ok(std::to_string(n)), n == 2};
  });
  HttpClient client(server.url(), std::nullopt);
  EXPECT_EQ(client.request("GET", "/a").body, "1");
  EXPECT_EQ(client.request("GET", "/b").body, "2");
  EXPECT_EQ(server.accepted(), 1);
  EXPECT_EQ(client.request("GET", "/c").body, "3");
  EXPECT_EQ(server.accepted(), 2);
  EXPECT_EQ(server.requests().size(), 3u) << "each request reached the server once";
  EXPECT_EQ(server.requests()[0].find("Authorization"), std::string::npos);
}

TEST(HttpClient, ConnectionCloseIsHonoured) {
  ScriptedServer server([](const std::string&) {
    return ScriptedServer::Answer{ok("x", "Connection: close\r\n"), true};
  });
  HttpClient client(server.url(), std::nullopt);
  client.request("GET", "/");
  client.request("GET", "/");
  EXPECT_EQ(server.accepted(), 2);
}

TEST(HttpClient, AServerThatClosesWithoutAnsweringIsAnError) {
  ScriptedServer server([](const std::string&) { return ScriptedServer::Answer{"", true}; });
  HttpClient client(server.url(), std::nullopt);
  EXPECT_THROW(client.request("GET", "/"), HttpError);
}

TEST(HttpClient, ConnectErrorsCarryErrno) {
  ServerUrl missing;
  missing.unix_socket = true;
  missing.path = "/nonexistent/podvisor.sock";
  try {
    HttpClient(missing, std::nullopt).request("GET", "/");
    FAIL() << "no error";
  } catch (const ConnectError& e) {
    EXPECT_EQ(e.error, ENOENT);
  }
  ServerUrl refused = *parse_server_url("http://127.0.0.1:1");
  try {
    HttpClient(refused, std::nullopt).request("GET", "/");
    FAIL() << "no error";
  } catch (const ConnectError& e) {
    EXPECT_EQ(e.error, ECONNREFUSED);
  }
  ServerUrl named = *parse_server_url("http://example.com:9001");
  try {
    HttpClient(named, std::nullopt).request("GET", "/");
    FAIL() << "no error";
  } catch (const ConnectError& e) {
    EXPECT_EQ(e.error, 0);
    EXPECT_NE(std::string(e.what()).find("numeric addresses and localhost"), std::string::npos);
  }
}

TEST(HttpClient, TcpToNumericAddressesAndLocalhost) {
  ScriptedServer server([](const std::string&) { return ScriptedServer::Answer{ok("tcp")}; },
                        /*tcp=*/true);
  auto url = server.url();
  EXPECT_EQ(HttpClient(url, std::nullopt).request("GET", "/").body, "tcp");
  url.host = "localhost";
  EXPECT_EQ(HttpClient(url, std::nullopt).request("GET", "/").body, "tcp");
  const auto q = server.requests().back();
  EXPECT_NE(q.find(fmt::format("\r\nHost: localhost:{}\r\n", url.port)), std::string::npos) << q;
}

TEST(HttpClient, StreamsAChunkedBodyAsItComes) {
  ScriptedServer server([](const std::string&) {
    return ScriptedServer::Answer{
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\none\r\n3\r\ntwo\r\n0\r\n\r\n"};
  });
  HttpClient client(server.url(), std::nullopt);
  auto stream = client.stream("/logtail/app/stdout");
  std::string body;
  while (stream->read([&](std::string_view d) { body.append(d); })) {
  }
  EXPECT_EQ(stream->head().status, 200);
  EXPECT_EQ(body, "onetwo");
  EXPECT_TRUE(server.requests().at(0).starts_with("GET /logtail/app/stdout HTTP/1.1\r\n"));
}

TEST(RpcClient, ValuesFaultsAndStatuses) {
  int n = 0;
  ScriptedServer server([&](const std::string&) {
    switch (n++) {
      case 0:
        return ScriptedServer::Answer{
            ok("<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n"
               "<value><string>3.0</string></value>\n</param>\n</params>\n</methodResponse>\n")};
      case 1:
        return ScriptedServer::Answer{
            ok("<?xml version='1.0'?>\n<methodResponse>\n<fault>\n<value><struct>\n"
               "<member>\n<name>faultCode</name>\n<value><int>10</int></value>\n</member>\n"
               "<member>\n<name>faultString</name>\n<value><string>BAD_NAME: x</string></value>\n"
               "</member>\n</struct></value>\n</fault>\n</methodResponse>\n")};
      default:
        return ScriptedServer::Answer{"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n",
                                      true};
    }
  });
  HttpClient http(server.url(), std::nullopt);
  RpcClient rpc(http);
  EXPECT_EQ(rpc.call("supervisor.getVersion"), xmlrpc::Value("3.0"));
  try {
    rpc.call("supervisor.getProcessInfo", {xmlrpc::Value("x")});
    FAIL() << "no fault";
  } catch (const RpcFault& e) {
    EXPECT_EQ(e.fault.code, 10);
    EXPECT_EQ(e.fault.message, "BAD_NAME: x");
  }
  try {
    rpc.call("supervisor.getPID");
    FAIL() << "no error";
  } catch (const ProtocolError& e) {
    EXPECT_EQ(e.status, 401);
    EXPECT_EQ(e.reason, "Unauthorized");
  }
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_NE(requests[1].find("<methodName>supervisor.getProcessInfo</methodName>"),
            std::string::npos);
}

}  // namespace
}  // namespace podvisor::control
