#include "probe/probe.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cctype>
#include <cstring>
#include <utility>

#include "core/process.h"
#include "core/report.h"
#include "os/spawn.h"

namespace podvisor::probe {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

std::string timeout_text(std::chrono::milliseconds timeout) {
  return fmt::format("timed out after {}", core::format_duration(timeout));
}

class TcpProbe final : public AttemptProbe, public std::enable_shared_from_this<TcpProbe> {
 public:
  TcpProbe(const config::ProbeSpec& spec, asio::io_context& io)
      : endpoint_(asio::ip::make_address(spec.host), spec.port), socket_(io), timer_(io) {}

  void begin(std::chrono::milliseconds timeout) override {
    // Handlers of an earlier, abandoned attempt may still arrive: they carry its number.
    const auto gen = ++generation_;
    auto self = shared_from_this();
    timer_.expires_after(timeout);
    timer_.async_wait([self, gen, timeout](const boost::system::error_code& ec) {
      if (!ec && gen == self->generation_) self->finish({false, timeout_text(timeout)});
    });
    socket_.async_connect(endpoint_, [self, gen](const boost::system::error_code& ec) {
      if (ec == asio::error::operation_aborted || gen != self->generation_) return;
      if (!ec) return self->finish({true, "connected"});
      self->finish({false, lower_first(ec.message()), ec == asio::error::connection_refused});
    });
  }

 private:
  void reset() override {
    ++generation_;
    timer_.cancel();
    boost::system::error_code ignored;
    socket_.close(ignored);
  }

  unsigned generation_ = 0;
  tcp::endpoint endpoint_;
  tcp::socket socket_;
  asio::steady_timer timer_;
};

class ExecProbe final : public AttemptProbe, public std::enable_shared_from_this<ExecProbe> {
 public:
  ExecProbe(const config::ProbeSpec& spec, asio::io_context& io, ChildWatcher& children)
      : command_(spec.command), io_(io), children_(children), timer_(io) {}

  std::chrono::milliseconds default_timeout() const override { return std::chrono::seconds(5); }

  void begin(std::chrono::milliseconds timeout) override {
    os::SpawnRequest request;
    request.argv = {"/bin/sh", "-c", command_};
    request.env = os::build_environment({});
    const int null_fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    request.stdout_fd = request.stderr_fd = null_fd;
    const auto spawned = os::spawn(request);
    if (null_fd >= 0) ::close(null_fd);
    auto self = shared_from_this();
    if (spawned.pid <= 0) {
      asio::post(io_, [self, message = spawned.message] { self->finish({false, message}); });
      return;
    }
    pid_ = spawned.pid;
    children_.watch(pid_, [self, pid = pid_](int status) {
      if (self->pid_ != pid) return;  // an attempt that was given up on
      self->pid_ = -1;
      const auto exit = core::ExitInfo::from_wait_status(status);
      self->finish(exit.signaled || exit.code != 0 ? Result{false, core::describe_exit(exit)}
                                                   : Result{true, "exit status 0"});
    });
    timer_.expires_after(timeout);
    timer_.async_wait([self, pid = pid_, timeout](const boost::system::error_code& ec) {
      if (!ec && pid == self->pid_) self->finish({false, timeout_text(timeout)});
    });
  }

 private:
  // A late probe is killed with its whole group; the reaper still collects it.
  void reset() override {
    timer_.cancel();
    if (pid_ > 0) ::kill(-pid_, SIGKILL);
    pid_ = -1;
  }

  std::string command_;
  asio::io_context& io_;
  ChildWatcher& children_;
  asio::steady_timer timer_;
  pid_t pid_ = -1;
};

class FileProbe final : public Probe, public std::enable_shared_from_this<FileProbe> {
 public:
  FileProbe(const config::ProbeSpec& spec, asio::io_context& io) : path_(spec.path), io_(io) {}

  void attempt(std::chrono::milliseconds, Done done) override {
    struct stat st {};
    Result r = ::stat(path_.c_str(), &st) == 0 ? Result{true, "exists"}
                                               : Result{false, lower_first(std::strerror(errno))};
    done_ = std::move(done);
    asio::post(io_, [self = shared_from_this(), r] {
      if (auto pending = std::exchange(self->done_, nullptr)) pending(r);
    });
  }
  void cancel() override { done_ = nullptr; }

 private:
  std::string path_;
  asio::io_context& io_;
  Done done_;
};

}  // namespace

std::string lower_first(std::string text) {
  if (text.size() > 1 && std::isupper(static_cast<unsigned char>(text[0])) &&
      !std::isupper(static_cast<unsigned char>(text[1]))) {
    text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  }
  return text;
}

std::shared_ptr<Probe> make_probe(const config::ProbeSpec& spec, asio::io_context& io,
                                  ChildWatcher& children, std::vector<int> ok_status) {
  using Kind = config::ProbeSpec::Kind;
  switch (spec.kind) {
    case Kind::kHttp:
      return make_http_probe(spec, io, std::move(ok_status));
    case Kind::kTcp:
      return std::make_shared<TcpProbe>(spec, io);
    case Kind::kExec:
      return std::make_shared<ExecProbe>(spec, io, children);
    case Kind::kFile:
      return std::make_shared<FileProbe>(spec, io);
    case Kind::kLog:
    case Kind::kNotify:
      break;
  }
  return nullptr;
}

}  // namespace podvisor::probe
