// The HTTP probe: GET with Beast on the event loop, one connection per attempt.
#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "core/report.h"
#include "probe/probe.h"

namespace podvisor::probe {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

class HttpProbe final : public AttemptProbe, public std::enable_shared_from_this<HttpProbe> {
 public:
  HttpProbe(const config::ProbeSpec& spec, asio::io_context& io, std::vector<int> ok_status)
      : io_(io),
        endpoint_(asio::ip::make_address(spec.host), spec.port),
        ok_status_(std::move(ok_status)) {
    request_.method(http::verb::get);
    request_.target(spec.path);
    request_.version(11);
    const bool v6 = endpoint_.address().is_v6();
    request_.set(http::field::host, v6 ? fmt::format("[{}]:{}", spec.host, spec.port)
                                       : fmt::format("{}:{}", spec.host, spec.port));
    request_.set(http::field::user_agent, "podvisor-probe");
    request_.set(http::field::connection, "close");
  }

  void begin(std::chrono::milliseconds timeout) override {
    timeout_ = timeout;
    stream_.emplace(io_);
    parser_.emplace();
    parser_->body_limit(64 * 1024);
    stream_->expires_after(timeout);
    // Handlers of an earlier, abandoned attempt may still arrive: they carry its number.
    const auto gen = ++generation_;
    auto self = shared_from_this();
    stream_->async_connect(endpoint_, [self, gen](const beast::error_code& ec) {
      if (gen != self->generation_) return;
      if (ec) return self->fail(ec);
      http::async_write(*self->stream_, self->request_,
                        [self, gen](const beast::error_code& write_ec, size_t) {
                          if (gen != self->generation_) return;
                          if (write_ec) return self->fail(write_ec);
                          http::async_read(*self->stream_, self->buffer_, *self->parser_,
                                           [self, gen](const beast::error_code& read_ec, size_t) {
                                             if (gen != self->generation_) return;
                                             if (read_ec) return self->fail(read_ec);
                                             self->answered();
                                           });
                        });
    });
  }

 private:
  void answered() {
    const int status = static_cast<int>(parser_->get().result_int());
    const bool ok = ok_status_.empty() ? status >= 200 && status < 300
                                       : std::find(ok_status_.begin(), ok_status_.end(), status) !=
                                             ok_status_.end();
    finish({ok, fmt::format("HTTP {}", status)});
  }

  void fail(const beast::error_code& ec) {
    if (!pending()) return;  // cancelled
    if (ec == beast::error::timeout) {
      return finish({false, fmt::format("timed out after {}", core::format_duration(timeout_))});
    }
    finish({false, lower_first(ec.message()), ec == asio::error::connection_refused});
  }

  void reset() override {
    ++generation_;
    if (!stream_) return;
    beast::error_code ignored;
    stream_->socket().close(ignored);
    buffer_.consume(buffer_.size());
  }

  asio::io_context& io_;
  tcp::endpoint endpoint_;
  std::vector<int> ok_status_;
  http::request<http::empty_body> request_;
  std::optional<beast::tcp_stream> stream_;
  std::optional<http::response_parser<http::string_body>> parser_;
  beast::flat_buffer buffer_;
  std::chrono::milliseconds timeout_{};
  unsigned generation_ = 0;
};

}  // namespace

std::shared_ptr<Probe> make_http_probe(const config::ProbeSpec& spec, asio::io_context& io,
                                       std::vector<int> ok_status) {
  return std::make_shared<HttpProbe>(spec, io, std::move(ok_status));
}

}  // namespace podvisor::probe
