// gate/sniff.h and gate/health.h: what the first bytes of a held connection say (HTTP or not,
// its request line) and the answers of the health presets in each state of the program.
#include <gtest/gtest.h>

#include "gate/health.h"
#include "gate/sniff.h"

namespace podvisor::gate {
namespace {

TEST(GateSniff, MethodsPrefixesAndOtherProtocols) {
  for (const auto* text : {"GET / HTTP/1.1\r\n", "POST /invocations", "HEAD ", "PATCH /x",
                           "OPTIONS * HTTP/1.1", "DELETE /a", "PUT /b", "CONNECT h:1", "TRACE /"}) {
    EXPECT_EQ(sniff_http(text), Sniff::kHttp) << text;
  }
  for (const auto* text : {"", "G", "GE", "GET", "POS", "OPTION"}) {
    EXPECT_EQ(sniff_http(text), Sniff::kNeedMore) << text;
  }
  for (const std::string_view text :
       {std::string_view("\x16\x03\x01\x02\x00", 5), std::string_view("PRI * HTTP/2.0\r\n"),
        std::string_view("get / HTTP/1.1"), std::string_view("GET/"), std::string_view("SSH-2.0"),
        std::string_view("\0\0\0", 3)}) {
    EXPECT_EQ(sniff_http(text), Sniff::kOther) << text;
  }
}

TEST(GateSniff, RequestLine) {
  auto line = request_line("GET /ping?x=1 HTTP/1.1\r\nHost: a\r\n");
  EXPECT_EQ(line.state, Sniff::kHttp);
  EXPECT_EQ(line.method, "GET");
  EXPECT_EQ(line.path, "/ping");
  EXPECT_EQ(request_line("GET /pi").state, Sniff::kNeedMore);
  EXPECT_EQ(request_line("GET /ping HTTP/1.1").state, Sniff::kNeedMore);
  EXPECT_EQ(request_line("GET /ping\r\n").state, Sniff::kOther);  // HTTP/0.9
  EXPECT_EQ(request_line("GET /ping SPDY/3\r\n").state, Sniff::kOther);
  EXPECT_EQ(request_line("\x16\x03").state, Sniff::kOther);
}

TEST(GateHealth, PresetsInEachState) {
  const ProgramView starting{};
  const ProgramView running{.running = true, .ever_running = true};
  const ProgramView exited{.stopped = true, .ever_running = true};
  const ProgramView fatal{.fatal = true};
  const ProgramView closing{.running = true, .ever_running = true, .shutting_down = true};
  struct Row {
    Health preset;
    const char* path;
    int starting, running, exited, fatal, closing;
  };
  for (const auto& r :
       std::initializer_list<Row>{{Health::kRunpod, "/ping", 204, 200, 503, 503, 503},
                                  {Health::kSagemaker, "/ping", 503, 200, 503, 503, 503},
                                  {Health::kKubernetes, "/livez", 200, 200, 200, 503, 200},
                                  {Health::kKubernetes, "/readyz", 503, 200, 503, 503, 503},
                                  {Health::kKubernetes, "/startupz", 503, 200, 200, 503, 200}}) {
    const auto at = [&](const ProgramView& v) { return health_status(r.preset, "GET", r.path, v); };
    EXPECT_EQ(at(starting), r.starting) << r.path;
    EXPECT_EQ(at(running), r.running) << r.path;
    EXPECT_EQ(at(exited), r.exited) << r.path;
    EXPECT_EQ(at(fatal), r.fatal) << r.path;
    EXPECT_EQ(at(closing), r.closing) << r.path;
  }
  // Not theirs: the program's.
  EXPECT_FALSE(health_status(Health::kSagemaker, "POST", "/invocations", running));
  EXPECT_FALSE(health_status(Health::kSagemaker, "POST", "/ping", running));
  EXPECT_FALSE(health_status(Health::kKubernetes, "GET", "/ping", running));
  EXPECT_FALSE(health_status(Health::kNone, "GET", "/ping", running));
  EXPECT_EQ(health_status(Health::kRunpod, "HEAD", "/ping", running), 200);
}

TEST(GateHealth, ResponsesAndPresetNames) {
  EXPECT_EQ(http_response(503, false, 5),
            "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Type: text/plain\r\n"
            "Content-Length: 20\r\nConnection: close\r\n\r\nService Unavailable\n");
  EXPECT_EQ(http_response(204), "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(http_response(200, true),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: "
            "close\r\n\r\n");
  EXPECT_EQ(parse_health("runpod"), Health::kRunpod);
  EXPECT_EQ(parse_health("kubernetes"), Health::kKubernetes);
  EXPECT_FALSE(parse_health("k8s"));
}

}  // namespace
}  // namespace podvisor::gate
