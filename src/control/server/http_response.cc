// The control server's writing side: answers serialized by Beast (whole, or a stream's header
// and its chunks), queued and written in order, then keep-alive, linger or close; and the
// Responder handlers answer through.
#include <fmt/format.h>
#include <sys/socket.h>

#include <boost/algorithm/string/predicate.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/system/system_error.hpp>
#include <cerrno>
#include <system_error>

#include "control/server/http_connection.h"

namespace podvisor::control::detail {

using boost::algorithm::iequals;

namespace {

// After a final answer that closes the connection, what the client still sends is read and
// dropped for this long, so that closing does not reset the connection before the client has
// read the answer.
constexpr auto kLingerTime = std::chrono::seconds(2);

// Header values go out as given, minus what would end the line early.
std::string header_safe(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c == '\r' || c == '\n' || c == '\0') c = ' ';
  }
  return out;
}

template <typename Buffers>
size_t append_buffers(std::string& out, const Buffers& buffers) {
  const size_t n = asio::buffer_size(buffers);
  const size_t old = out.size();
  out.resize(old + n);
  asio::buffer_copy(asio::buffer(out.data() + old, n), buffers);
  return n;
}

// Every answer's head: the status line podvisor always writes as HTTP/1.1, then the fields in
// the order given.
http::response<http::empty_body> answer(int status) {
  http::response<http::empty_body> message;
  message.version(11);
  message.result(static_cast<unsigned>(status));
  return message;
}

void add_field(http::response<http::empty_body>& message, std::string_view name,
               std::string_view value) {
  message.insert(header_safe(name), header_safe(value));
}

}  // namespace

std::string serialize_header(http::response<http::empty_body>& message) {
  // The header writer that Beast's serializer runs first; the body follows as it is, so the
  // serializer's body machinery would add only code.
  const http::fields::writer writer(message.base(), message.version(), message.result_int());
  std::string out;
  append_buffers(out, writer.get());
  return out;
}

// ---------------------------------------------------------------------------------------------
// ResponderImpl: each call reaches the connection through guarded(): whatever fails closes the
// connection rather than throwing into the caller's event handler.

ResponderImpl::~ResponderImpl() {
  if (state_ == State::kFresh || state_ == State::kStreaming) {
    const bool streaming = state_ == State::kStreaming;
    connection_->guarded([&] { connection_->abandon(streaming); });
  }
}

void ResponderImpl::send(Response response) {
  if (state_ != State::kFresh) return;
  state_ = State::kDone;
  on_close_ = nullptr;
  connection_->guarded([&] { connection_->send_response(std::move(response)); });
}

void ResponderImpl::start_stream(int status, std::string content_type) {
  if (state_ != State::kFresh) return;
  state_ = State::kStreaming;
  connection_->guarded([&] { connection_->start_stream(status, std::move(content_type)); });
}

void ResponderImpl::write_chunk(std::string data) {
  if (state_ != State::kStreaming) return;
  connection_->guarded([&] { connection_->write_chunk(std::move(data)); });
}

void ResponderImpl::end_stream() {
  if (state_ != State::kStreaming) return;
  state_ = State::kDone;
  on_close_ = nullptr;
  connection_->guarded([&] { connection_->end_stream(); });
}

void ResponderImpl::on_close(std::function<void()> callback) {
  if (state_ == State::kDone) return;
  on_close_ = std::move(callback);
  if (state_ == State::kClosed) run_on_close();
}

void ResponderImpl::connection_closed() {
  if (state_ == State::kDone || state_ == State::kClosed) return;
  state_ = State::kClosed;
  run_on_close();
}

// From the event loop, never from inside a call: a handler that walks its list of streams
// calling write_chunk() may drop one from that list in its callback.
void ResponderImpl::run_on_close() {
  auto callback = std::exchange(on_close_, nullptr);
  if (!callback) return;
  asio::post(connection_->io(), [callback = std::move(callback)] {
    try {
      callback();
    } catch (...) {
      // the server never throws into the loop, not even for its callers' callbacks
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Connection, writing side

void Connection::shut_down() {
  if (phase_ == Phase::kClosed) return;
  // With a write in flight, how much of it went out is unknown: sending more could interleave
  // bytes. Asio writes speculatively, so what was queued is usually out already.
  if (!write_in_flight_ && !out_.empty() && socket_.is_open()) {
    if (::send(socket_.native_handle(), out_.data(), out_.size(), MSG_DONTWAIT | MSG_NOSIGNAL) <
        0) {
      server_->log(LogLevel::kDebug, fmt::format("control: last words to {}: {}", remote_,
                                                 std::generic_category().message(errno)));
    }
  }
  close_now();
}

void Connection::reject(int status, std::string_view why, Headers extra) {
  if (!why.empty()) {
    server_->log(LogLevel::kInfo,
                 fmt::format("control: bad request from {}: {} ({})", remote_, why, status));
  }
  parser_.reset();
  phase_ = Phase::kHandling;
  auto message = answer(status);
  for (const auto& [name, value] : extra) add_field(message, name, value);
  const auto reason = message.reason();
  const std::string body =
      fmt::format("{} {}\n", status, std::string_view(reason.data(), reason.size()));
  add_field(message, "Content-Type", "text/plain");
  add_field(message, "Content-Length", std::to_string(body.size()));
  add_field(message, "Connection", "close");
  after_write_ = AfterWrite::kLinger;
  // The body follows the header as it is: Beast's string_body would only copy it.
  queue(serialize_header(message) + body);
}

void Connection::send_response(Response response) {
  if (phase_ == Phase::kClosed) return;
  const bool close = !keep_alive_ || peer_done_ || server_->closed;
  const bool bodiless = response.status == 204 || response.status == 304 ||
                        (response.status >= 100 && response.status < 200);
  if (response.status < 100 || response.status > 999) response.status = 500;
  auto message = answer(response.status);
  if (!bodiless) add_field(message, "Content-Type", response.content_type);
  for (const auto& [name, value] : response.headers) {
    if (iequals(name, "Content-Length") || iequals(name, "Connection") ||
        iequals(name, "Transfer-Encoding")) {
      continue;
    }
    add_field(message, name, value);
  }
  if (!bodiless) add_field(message, "Content-Length", std::to_string(response.body.size()));
  if (close) {
    add_field(message, "Connection", "close");
  } else if (version_ == 10) {
    add_field(message, "Connection", "keep-alive");
  }
  after_write_ = close ? AfterWrite::kLinger : AfterWrite::kNextRequest;
  std::string text = serialize_header(message);
  if (!head_ && !bodiless) text += response.body;
  queue(text);
}

void Connection::start_stream(int status, std::string content_type) {
  if (phase_ == Phase::kClosed) return;
  chunked_ = version_ >= 11;
  auto message = answer(status);
  add_field(message, "Content-Type", content_type);
  add_field(message, "Cache-Control", "no-cache");
  if (chunked_) {
    add_field(message, "Transfer-Encoding", "chunked");
    if (peer_done_ || !keep_alive_ || server_->closed) add_field(message, "Connection", "close");
  } else {
    add_field(message, "Connection", "close");  // an HTTP/1.0 client reads the body until the end
  }
  const std::string header = serialize_header(message);
  if (head_) {
    // The headers are the whole answer; the stream's chunks go nowhere.
    if (auto responder = responder_.lock()) responder->mark_done();
    after_write_ = keep_alive_ && !peer_done_ ? AfterWrite::kNextRequest : AfterWrite::kLinger;
    queue(header);
    return;
  }
  phase_ = Phase::kStreaming;
  queue(header);
}

void Connection::write_chunk(std::string data) {
  if (phase_ != Phase::kStreaming || data.empty()) return;
  if (pending_bytes() + data.size() > server_->options.max_stream_buffer) {
    server_->log(LogLevel::kInfo,
                 fmt::format("control: {} does not read its stream; closing", remote_));
    close_now();
    return;
  }
  if (chunked_) {
    append_buffers(out_, http::make_chunk(asio::buffer(data)));
    flush();
  } else {
    queue(data);
  }
}

void Connection::end_stream() {
  if (phase_ != Phase::kStreaming) return;
  phase_ = Phase::kHandling;
  if (chunked_) {
    after_write_ = keep_alive_ && !peer_done_ && !server_->closed ? AfterWrite::kNextRequest
                                                                  : AfterWrite::kLinger;
    append_buffers(out_, http::make_chunk_last());
    flush();
  } else {
    after_write_ = AfterWrite::kLinger;
    if (write_in_flight_ || !out_.empty()) {
      flush();
    } else {
      finish_answer();
    }
  }
}

void Connection::abandon(bool streaming) {
  if (phase_ == Phase::kClosed) return;
  if (server_->closed) {
    close_now();
    return;
  }
  if (streaming) {
    end_stream();
  } else {
    server_->log(LogLevel::kError,
                 fmt::format("control: a request from {} got no answer", remote_));
    send_response({500, "text/plain", "500 Internal Server Error\n", {}});
  }
}

void Connection::queue(std::string_view data) {
  out_ += data;
  flush();
}

void Connection::flush() {
  if (write_in_flight_ || phase_ == Phase::kClosed) return;
  if (out_.empty()) {
    if (after_write_ != AfterWrite::kNothing) finish_answer();
    return;
  }
  writing_.swap(out_);
  out_.clear();
  write_in_flight_ = true;
  if (phase_ != Phase::kReading) arm_timer(server_->options.idle_timeout);
  asio::async_write(socket_, asio::buffer(writing_),
                    [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
                      self->write_in_flight_ = false;
                      self->guarded([&] { self->on_written(ec); });
                    });
}

void Connection::on_written(const boost::system::error_code& ec) {
  if (writing_.capacity() > 256 * 1024) {
    std::string().swap(writing_);
  } else {
    writing_.clear();
  }
  if (phase_ == Phase::kClosed) return;
  if (ec) {
    server_->log(LogLevel::kDebug,
                 fmt::format("control: writing to {}: {}", remote_, ec.message()));
    close_now();
    return;
  }
  if (!out_.empty()) {
    flush();
    return;
  }
  if (phase_ != Phase::kReading) disarm_timer();
  if (after_write_ != AfterWrite::kNothing) finish_answer();
}

void Connection::finish_answer() {
  const AfterWrite next = after_write_;
  after_write_ = AfterWrite::kNothing;
  if (next == AfterWrite::kNextRequest) {
    begin_request();
  } else if (next == AfterWrite::kLinger) {
    linger();
  }
}

void Connection::linger() {
  phase_ = Phase::kLingering;
  if (peer_done_) {
    close_now();
    return;
  }
  boost::system::error_code ignored;
  socket_.shutdown(asio::socket_base::shutdown_send, ignored);
  in_.consume(in_.size());
  lingered_bytes_ = 0;
  arm_timer(kLingerTime);
  read_more();
}

void Connection::arm_timer(std::chrono::steady_clock::duration after) {
  const unsigned generation = ++timer_generation_;
  timer_.expires_after(after);
  timer_.async_wait([self = shared_from_this(), generation](const boost::system::error_code& ec) {
    if (ec || generation != self->timer_generation_ || self->phase_ == Phase::kClosed) return;
    self->guarded([&] {
      if (self->phase_ != Phase::kLingering) {
        self->server_->log(LogLevel::kDebug,
                           fmt::format("control: {} idle too long; closing", self->remote_));
      }
      self->close_now();
    });
  });
}

void Connection::disarm_timer() {
  ++timer_generation_;
  timer_.cancel();
}

void Connection::close_now() {
  if (phase_ == Phase::kClosed) return;
  phase_ = Phase::kClosed;
  disarm_timer();
  boost::system::error_code ignored;
  socket_.close(ignored);
  parser_.reset();
  out_.clear();
  server_->connection_closed(this);
  if (auto responder = responder_.lock()) responder->connection_closed();
}
}  // namespace podvisor::control::detail
