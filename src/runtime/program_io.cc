#include "runtime/program_io.h"

#include <fmt/format.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace podvisor::runtime {
namespace {

namespace asio = boost::asio;
using config::LogLevel;

constexpr size_t kReadBuffer = 128 * 1024;

}  // namespace

void notify_watchers(Watchers& watchers) {
  for (auto it = watchers.begin(); it != watchers.end();) {
    if (auto fn = it->lock()) {
      (*fn)();
      ++it;
    } else {
      it = watchers.erase(it);
    }
  }
}

ProgramIoTable::ProgramIoTable(asio::io_context& io, const config::SupervisorSpec& spec,
                               output::Destination& out, output::Destination& err,
                               output::Logger& log)
    : io_(io), spec_(spec), stdout_(out), stderr_(err), log_(log), buffer_(kReadBuffer) {
  count_shared_streams();
}

ProgramIo& ProgramIoTable::of(const core::Process& p) {
  auto& slot = programs_[&p];
  if (!slot) slot = std::make_unique<ProgramIo>(io_);
  return *slot;
}

const ProgramIo* ProgramIoTable::find(const core::Process& p) const {
  const auto it = programs_.find(&p);
  return it == programs_.end() ? nullptr : it->second.get();
}

void ProgramIoTable::open_pipes(const core::Process& p, os::SpawnRequest& request, Pipes& pipes) {
  of(p).relays.remove_if([](const output::PipeRelay& r) { return !r.open(); });
  if (p.spec().listener) {
    pipes.in = output::make_pipe();
    request.stdin_fd = pipes.in->read;
  }
  pipes.out = output::make_pipe();
  request.stdout_fd = pipes.out->write;
  if (p.spec().redirect_stderr) {
    request.stderr_fd = pipes.out->write;
  } else {
    pipes.err = output::make_pipe();
    request.stderr_fd = pipes.err->write;
  }
}

void ProgramIoTable::attach(const core::Process& p, Pipes& pipes, bool spawned) {
  for (auto* pipe : {pipes.out ? &*pipes.out : nullptr, pipes.err ? &*pipes.err : nullptr}) {
    if (!pipe) continue;
    ::close(pipe->write);
    if (!spawned) ::close(pipe->read);
  }
  if (pipes.in) {
    ::close(pipes.in->read);
    if (spawned && stdin_hook_) {
      stdin_hook_(p, pipes.in->write);
    } else {
      ::close(pipes.in->write);
    }
  }
  if (!spawned || !pipes.out) return;
  auto& io = of(p);
  relay(p, io, pipes.out->read, 0);
  if (pipes.err) relay(p, io, pipes.err->read, 1);
}

void ProgramIoTable::drain(const core::Process& p) {
  if (auto it = programs_.find(&p); it != programs_.end()) {
    for (auto& relay : it->second->relays) relay.drain();
  }
}

void ProgramIoTable::drain_all() {
  for (auto& [p, io] : programs_) {
    for (auto& relay : io->relays) relay.drain();
  }
}

void ProgramIoTable::forget_all_but(const std::vector<std::unique_ptr<core::Process>>& live) {
  std::erase_if(programs_, [&](const auto& entry) {
    return std::none_of(live.begin(), live.end(),
                        [&](const auto& p) { return p.get() == entry.first; });
  });
}

void ProgramIoTable::count_shared_streams() {
  programs_on_podvisor_streams_ = 0;
  for (const auto& p : spec_.programs) {
    const auto on_streams = [](const config::LogSpec& l) {
      return l.target == config::LogTarget::kStdout || l.target == config::LogTarget::kStderr;
    };
    if (on_streams(p.stdout_log) || on_streams(p.stderr_log)) ++programs_on_podvisor_streams_;
  }
  if (groups_hook_) groups_hook_();
}

// Starts relaying one of a program's pipes (stream 0: stdout, 1: stderr) to where its
// spec sends it, through a LineFormatter when lines get a prefix or become JSON.
void ProgramIoTable::relay(const core::Process& p, ProgramIo& io, int read_fd, int stream) {
  const auto& log = stream == 0 ? p.spec().stdout_log : p.spec().stderr_log;
  const char* stream_name = stream == 0 ? "stdout" : "stderr";
  std::vector<output::RingBuffer*> rings{stream == 0 ? &io.out : &io.err, &io.combined};
  output::Destination* destination = nullptr;
  std::unique_ptr<output::Destination> formatter;
  switch (log.target) {
    case config::LogTarget::kNone:
      break;
    case config::LogTarget::kStdout:
    case config::LogTarget::kStderr:
      destination = log.target == config::LogTarget::kStdout ? &stdout_ : &stderr_;
      if (spec_.log_format == config::LogFormat::kJson) {
        formatter = std::make_unique<output::LineFormatter>(
            *destination, output::LineFormatter::Format::kJson, p.name(), stream_name);
      } else if (wants_prefix(p.spec())) {
        formatter = std::make_unique<output::LineFormatter>(
            *destination, output::LineFormatter::Format::kPrefix, p.name(), stream_name);
      }
      break;
    case config::LogTarget::kFile:
    case config::LogTarget::kAuto:
      destination = log_file(p, io, log, stream);
      break;
  }
  // Bytes that go out as they came in need not pass through podvisor (a log: probe reads
  // every line).
  const bool zero_copy = destination && !formatter && !log.events_enabled &&
                         !(p.spec().listener && stream == 0) &&
                         !(p.spec().ready && p.spec().ready->kind == config::ProbeSpec::Kind::kLog);
  try {
    io.relays.emplace_back(io_, read_fd, destination, std::move(rings), buffer_,
                           std::move(formatter));
  } catch (const std::exception& e) {
    // The loop cannot watch the pipe (epoll out of memory): the program runs, its output
    // of this run is lost, and podvisor says so rather than failing.
    log_.log(LogLevel::kError,
             fmt::format("{}: cannot relay {}: {}", p.name(), stream_name, e.what()));
    ::close(read_fd);
    return;
  }
  io.relays.back().zero_copy(zero_copy);
  io.relays.back().strip_ansi(spec_.strip_ansi);
  io.relays.back().observe(
      [this, &p, stream](std::string_view chunk) { on_output(p, stream, chunk); });
  io.relays.back().start();
}

// Output while a program is not ready yet: a log probe may match, and any output makes the
// next attempt come early (servers print as they start listening).
void ProgramIoTable::on_output(const core::Process& p, int stream, std::string_view chunk) {
  auto& io = of(p);
  if (output_hook_) output_hook_(p, stream, chunk);
  if (!io.log_watchers[stream].empty()) notify_watchers(io.log_watchers[stream]);
  if (!io.readiness || io.readiness->done()) return;
  io.readiness->nudge();
  if (!io.log_matcher) return;
  if (auto line = io.log_matcher->feed(chunk)) {
    constexpr size_t kShown = 120;
    if (line->size() > kShown) *line = fmt::format("{}…", line->substr(0, kShown));
    // Later: this runs inside the relay's read, where state changes must not happen.
    asio::post(io_, [watch = std::weak_ptr(io.readiness), line = std::move(*line)] {
      if (auto w = watch.lock()) w->passive_ready(fmt::format("matched \"{}\"", line));
    });
  }
}

void ProgramIoTable::on_notify(const core::Process& p, const probe::NotifySocket::Message& m) {
  auto& io = of(p);
  if (!m.status.empty()) {
    io.notify_status = m.status;
    log_.log(LogLevel::kDebug, fmt::format("{}: STATUS={}", p.name(), m.status));
  }
  if (m.ready && io.readiness) io.readiness->passive_ready("READY=1");
}

bool ProgramIoTable::wants_prefix(const config::ProgramSpec& p) const {
  if (p.log_prefix) return *p.log_prefix;
  if (spec_.log_prefix) return *spec_.log_prefix;
  return programs_on_podvisor_streams_ > 1;
}

output::Destination* ProgramIoTable::log_file(const core::Process& p, ProgramIo& io,
                                              const config::LogSpec& log, int stream) {
  auto& file = io.files[stream];
  if (file) return file.get();
  auto path = log.path;
  if (log.target == config::LogTarget::kAuto) {
    // supervisord's AUTO name: NAME-STREAM---IDENTIFIER-RANDOM.log in childlogdir.
    auto pattern = fmt::format("{}/{}-{}---{}-XXXXXX.log", spec_.childlogdir, p.name(),
                               stream == 0 ? "stdout" : "stderr", spec_.identifier);
    const int fd = mkstemps(pattern.data(), 4);
    if (fd < 0) {
      log_.log(LogLevel::kError, fmt::format("{}: cannot create AUTO log in {}: {}", p.name(),
                                             spec_.childlogdir, std::strerror(errno)));
      return nullptr;
    }
    ::close(fd);
    path = pattern;
  }
  try {
    output::LogFile::Options options{
        &io_, [this, name = p.name()](LogLevel level, std::string_view problem) {
          log_.log(level, fmt::format("{}: {}", name, problem));
        }};
    file = std::make_unique<output::LogFile>(path, log.maxbytes, log.backups, std::move(options));
  } catch (const std::system_error& e) {
    log_.log(LogLevel::kError, fmt::format("{}: cannot open log file: {}", p.name(), e.what()));
    return nullptr;
  }
  return file.get();
}

std::string ProgramIoTable::log_path(const core::Process& p, int stream) const {
  const auto* io = find(p);
  if (io && io->files[stream]) return io->files[stream]->path();
  const auto& log = stream == 0 ? p.spec().stdout_log : p.spec().stderr_log;
  return log.target == config::LogTarget::kFile ? log.path : "";
}

bool ProgramIoTable::clear(const core::Process& p) {
  auto& io = of(p);
  bool ok = true;
  for (int s : {0, 1}) {
    try {
      if (io.files[s]) {
        io.files[s]->clear();
      } else if (const auto path = log_path(p, s); !path.empty()) {
        if (::truncate(path.c_str(), 0) != 0 && errno != ENOENT) ok = false;
      }
    } catch (const std::system_error&) {
      ok = false;
    }
    notify_watchers(io.log_watchers[s]);
  }
  io.out.clear();
  io.err.clear();
  io.combined.clear();
  return ok;
}

}  // namespace podvisor::runtime
