// supervisord's log methods: readFile and tailFile over a file or over the bytes kept in
// memory, and the read/tail/clear calls on the main log and the processes' logs.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "control/server/rpc_methods.h"

namespace podvisor::control {

using xmlrpc::Fault;

namespace {

// The most one read or tail call returns: supervisord (4.2.5) reads whatever length it is
// asked for into memory, so readProcessStdoutLog(name, 0, 2**31-1) on a large log took PID 1's
// memory with it. A longer request gets the first kMaxLogRead bytes of its range (from an
// offset) or the last ones (a negative offset, a tail); the client reads on from where the
// answer ends, as after a short read.
constexpr int64_t kMaxLogRead = 1024 * 1024;

// A log seen as bytes [begin, size): a file holds them all, a ring only the newest.
class LogBytes {
 public:
  // FAILED (or NO_FILE for a missing file) when the log cannot be opened.
  static std::variant<LogBytes, Fault> open(const LogSource& log) {
    LogBytes b;
    if (log.path.empty()) {
      b.size_ = static_cast<int64_t>(log.recent_end);
      b.memory_ = &log.recent;
      return b;
    }
    b.fd_ = ::open(log.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (b.fd_ < 0) {
      return errno == ENOENT ? make_fault(FaultCode::kNoFile, log.path)
                             : make_fault(FaultCode::kFailed);
    }
    struct stat st {};
    if (fstat(b.fd_, &st) != 0) return make_fault(FaultCode::kFailed);
    b.size_ = st.st_size;
    return b;
  }
  LogBytes() = default;
  LogBytes(LogBytes&& o) noexcept
      : fd_(std::exchange(o.fd_, -1)), size_(o.size_), memory_(o.memory_) {}
  LogBytes& operator=(LogBytes&&) = delete;
  ~LogBytes() {
    if (fd_ >= 0) ::close(fd_);
  }

  int64_t size() const { return size_; }

  // Bytes [offset, offset+length) that are still there; nullopt on a read error.
  std::optional<std::string> read(int64_t offset, int64_t length) const {
    offset = std::max<int64_t>(offset, 0);
    const int64_t end = std::min(size_, offset + std::max<int64_t>(length, 0));
    if (end <= offset) return std::string();
    if (memory_) {
      const int64_t begin = size_ - static_cast<int64_t>(memory_->size());
      const int64_t from = std::max(offset, begin);
      if (end <= from) return std::string();
      return memory_->substr(static_cast<size_t>(from - begin), static_cast<size_t>(end - from));
    }
    std::string out(static_cast<size_t>(end - offset), '\0');
    size_t got = 0;
    while (got < out.size()) {
      const ssize_t n = ::pread(fd_, out.data() + got, out.size() - got,
                                static_cast<off_t>(offset + static_cast<int64_t>(got)));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return std::nullopt;
      if (n == 0) break;  // truncated meanwhile
      got += static_cast<size_t>(n);
    }
    out.resize(got);
    return out;
  }

 private:
  int fd_ = -1;
  int64_t size_ = 0;
  const std::string* memory_ = nullptr;
};

}  // namespace

std::variant<std::string, Fault> read_log(const LogSource& log, int64_t offset, int64_t length) {
  // Argument errors come first, as readFile raises them before reading.
  if ((offset < 0 && length != 0) || (offset >= 0 && length < 0)) {
    return make_fault(FaultCode::kBadArguments);
  }
  auto opened = LogBytes::open(log);
  if (auto* f = std::get_if<Fault>(&opened)) return *f;
  const auto& bytes = std::get<LogBytes>(opened);
  std::optional<std::string> data;
  if (offset < 0) {
    const int64_t back = std::min(offset == INT64_MIN ? INT64_MAX : -offset, kMaxLogRead);
    data = bytes.read(std::max<int64_t>(bytes.size() - back, 0), back);
  } else {
    data = bytes.read(offset, std::min(length == 0 ? bytes.size() : length, kMaxLogRead));
  }
  if (!data) return make_fault(FaultCode::kFailed);
  return std::move(*data);
}

Tail tail_log(const LogSource& log, int64_t offset, int64_t length) {
  auto opened = LogBytes::open(log);
  if (std::holds_alternative<Fault>(opened)) return Tail{"", offset, false};
  const auto& bytes = std::get<LogBytes>(opened);
  // tailFile, step by step (Python integers do not overflow; clamp so that we do not either).
  offset = std::clamp<int64_t>(offset, INT64_MIN / 4, INT64_MAX / 4);
  length = std::clamp<int64_t>(length, INT64_MIN / 4, kMaxLogRead);
  const int64_t sz = bytes.size();
  bool overflow = false;
  if (sz > offset + length) {
    overflow = true;
    offset = sz - 1;
  }
  if (offset + length > sz) {
    if (offset > sz - 1) length = 0;
    offset = sz - length;
  }
  if (offset < 0) offset = 0;
  if (length < 0) length = 0;
  std::string data;
  if (length != 0) {
    auto read = bytes.read(offset, length);
    if (!read) return Tail{"", offset, false};
    data = std::move(*read);
  }
  return Tail{std::move(data), sz, overflow};
}

namespace rpc_methods {

namespace {

// A process log call's (name, offset, length): the process's log (none if it keeps none), or
// the fault for bad parameters or an unknown name.
struct LogCall {
  std::optional<LogSource> log;
  int64_t offset = 0;
  int64_t length = 0;
};

std::variant<LogCall, Fault> log_call(Backend& b, const Array& p, Stream stream) {
  const auto name = as_string(p[0]);
  const auto offset = as_int(p[1]);
  const auto length = as_int(p[2]);
  if (!name || !offset || !length) return incorrect_parameters();
  auto found = find_process(b, *name);
  if (auto* f = std::get_if<Fault>(&found)) return *f;
  const auto& info = std::get<ProcessInfo>(found);
  return LogCall{b.process_log(info.group, info.name, stream), *offset, *length};
}

void read_process_log(Backend& b, const Array& p, Reply& reply, Stream stream) {
  auto call = log_call(b, p, stream);
  if (auto* f = std::get_if<Fault>(&call)) return reply(*f);
  const auto& c = std::get<LogCall>(call);
  if (!c.log) return reply(make_fault(FaultCode::kNoFile));
  auto r = read_log(*c.log, c.offset, c.length);
  if (auto* f = std::get_if<Fault>(&r)) return reply(*f);
  reply(Value(std::move(std::get<std::string>(r))));
}

void tail_process_log(Backend& b, const Array& p, Reply& reply, Stream stream) {
  auto call = log_call(b, p, stream);
  if (auto* f = std::get_if<Fault>(&call)) return reply(*f);
  const auto& c = std::get<LogCall>(call);
  if (!c.log) return reply(Value(Array{Value(""), Value(0), Value(false)}));
  auto t = tail_log(*c.log, c.offset, c.length);
  reply(Value(Array{Value(std::move(t.bytes)), Value(t.offset), Value(t.overflow)}));
}

}  // namespace

void read_main_log(Backend& b, const Array& p, Reply& reply) {
  const auto offset = as_int(p[0]);
  const auto length = as_int(p[1]);
  if (!offset || !length) return reply(incorrect_parameters());
  const auto log = b.main_log();
  if (!log) return reply(make_fault(FaultCode::kNoFile));
  auto r = read_log(*log, *offset, *length);
  if (auto* f = std::get_if<Fault>(&r)) return reply(*f);
  reply(Value(std::move(std::get<std::string>(r))));
}

void clear_main_log(Backend& b, const Array&, Reply& reply) {
  const auto o = b.clear_main_log();
  if (o.ok()) return reply(ok_result());
  reply(make_fault(o.code,
                   o.detail.empty() ? std::nullopt : std::optional<std::string_view>(o.detail)));
}

void read_stdout(Backend& b, const Array& p, Reply& r) {
  read_process_log(b, p, r, Stream::kStdout);
}
void read_stderr(Backend& b, const Array& p, Reply& r) {
  read_process_log(b, p, r, Stream::kStderr);
}

void tail_stdout(Backend& b, const Array& p, Reply& r) {
  tail_process_log(b, p, r, Stream::kStdout);
}
void tail_stderr(Backend& b, const Array& p, Reply& r) {
  tail_process_log(b, p, r, Stream::kStderr);
}

void clear_process_logs(Backend& b, const Array& p, Reply& reply) {
  const auto name = as_string(p[0]);
  if (!name) return reply(incorrect_parameters());
  auto found = find_process(b, *name);
  if (auto* f = std::get_if<Fault>(&found)) return reply(*f);
  const auto& info = std::get<ProcessInfo>(found);
  if (!b.clear_process_logs(info.group, info.name)) {
    return reply(make_fault(FaultCode::kFailed, *name));
  }
  reply(ok_result());
}

void clear_all_process_logs(Backend& b, const Array&, Reply& reply) {
  Array results;
  for (const auto& p : b.processes()) {
    std::optional<Fault> fault;
    if (!b.clear_process_logs(p.group, p.name)) {
      fault = make_fault(FaultCode::kFailed, make_namespec(p.group, p.name));
    }
    results.push_back(status_struct(p, fault));
  }
  reply(Value(std::move(results)));
}

}  // namespace rpc_methods

}  // namespace podvisor::control
