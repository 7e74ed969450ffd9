#include "control/server/routes.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <nlohmann/json.hpp>

#include "control/server/gate_metrics.h"
#include "control/wire/xmlrpc.h"

namespace podvisor::control {
namespace {

constexpr size_t kTailHead = 1024;  // what a follow starts with, as supervisord
constexpr size_t kFollowChunk = 64 * 1024;
constexpr size_t kFollowBacklog = 1024 * 1024;  // more queued than this: wait for the client
// How long /metrics and /api/v1/gpus wait for a fresh GPU sample before using the last one.
constexpr std::chrono::milliseconds kGpuSampleDeadline{250};

Response text(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

Response json(int status, const nlohmann::json& body) {
  Response r;
  r.status = status;
  r.content_type = "application/json";
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  return r;
}

// The one process a namespec names, as supervisord reads it (find_target); none for an
// unknown name or a whole group.
std::optional<ProcessInfo> find_process(const std::vector<ProcessInfo>& all,
                                        std::string_view namespec) {
  auto target = find_target(all, std::string(namespec));
  if (auto* t = std::get_if<Target>(&target)) return t->process;
  return std::nullopt;
}

// Follows one log for /logtail or /mainlogtail: the last KiB, then whatever is appended,
// chunked, until the client goes away.
class LogFollow : public std::enable_shared_from_this<LogFollow> {
 public:
  LogFollow(Backend& backend, std::string group, std::string name, Stream stream,
            std::shared_ptr<Responder> responder)
      : backend_(backend),
        group_(std::move(group)),
        name_(std::move(name)),
        stream_(stream),
        responder_(std::move(responder)) {}

  bool start() {
    const auto log = source();
    if (!log) return false;
    const auto end = size_of(*log);
    offset_ = end > kTailHead ? end - kTailHead : 0;
    responder_->start_stream(200, "text/plain;charset=utf-8");
    auto weak = weak_from_this();
    watch_ = backend_.watch_log(group_, name_, stream_, [weak] {
      if (auto self = weak.lock()) self->send_new();
    });
    // The watch holds only a weak reference; the responder's close callback holds us.
    responder_->on_close([self = shared_from_this()]() mutable { self->watch_.reset(); });
    send_new();
    return true;
  }

 private:
  std::optional<LogSource> source() const {
    return name_.empty() ? backend_.main_log() : backend_.process_log(group_, name_, stream_);
  }

  static uint64_t size_of(const LogSource& log) {
    if (log.path.empty()) return log.recent_end;
    struct stat st {};
    return ::stat(log.path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  }

  void send_new() {
    if (responder_->closed()) {
      watch_.reset();
      return;
    }
    const auto log = source();
    if (!log) return;
    const auto end = size_of(*log);
    if (end < offset_) {  // truncated, cleared or rotated
      offset_ = 0;
      responder_->write_chunk("==> File truncated <==\n");
    }
    while (offset_ < end && responder_->pending_bytes() < kFollowBacklog && !responder_->closed()) {
      const auto want = std::min<uint64_t>(end - offset_, kFollowChunk);
      auto bytes = read(*log, offset_, want);
      if (bytes.empty()) break;
      offset_ += bytes.size();
      responder_->write_chunk(std::move(bytes));
    }
  }

  static std::string read(const LogSource& log, uint64_t offset, uint64_t length) {
    if (log.path.empty()) {
      // Only the newest bytes are kept: what is older than the ring is skipped.
      const uint64_t ring_start = log.recent_end - log.recent.size();
      const auto from = std::max(offset, ring_start);
      if (from >= log.recent_end) return {};
      const auto n = std::min<uint64_t>(length, log.recent_end - from);
      return log.recent.substr(from - ring_start, n);
    }
    std::ifstream in(log.path, std::ios::binary);
    if (!in) return {};
    in.seekg(static_cast<std::streamoff>(offset));
    std::string out(length, '\0');
    in.read(out.data(), static_cast<std::streamsize>(length));
    out.resize(static_cast<size_t>(in.gcount()));
    return out;
  }

  Backend& backend_;
  std::string group_, name_;
  Stream stream_;
  std::shared_ptr<Responder> responder_;
  std::shared_ptr<void> watch_;
  uint64_t offset_ = 0;
};

std::string escape_label(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

// podvisor's own resident memory and open descriptors, from /proc.
std::pair<uint64_t, uint64_t> own_resources() {
  uint64_t rss = 0;
  std::ifstream statm("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  const long page = ::sysconf(_SC_PAGESIZE);  // -1 only where pages have no fixed size
  if (page > 0 && statm >> size >> resident) rss = resident * static_cast<uint64_t>(page);
  uint64_t fds = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (const auto* e = ::readdir(d)) fds += e->d_name[0] != '.';
    fds -= 1;                         // the directory's own descriptor
    if (::closedir(d) != 0) fds = 0;  // EBADF only: nothing to trust
  }
  return {rss, fds};
}

bool failed(const ProcessInfo& p) {
  return p.state == core::State::kFatal ||
         (p.state == core::State::kExited && !(p.oneshot && p.done));
}

}  // namespace

int health_status(const std::vector<ProcessInfo>& processes, SupervisorState state,
                  std::string& why) {
  if (state != SupervisorState::kRunning) {
    why = "podvisor is shutting down";
    return 503;
  }
  for (const auto& p : processes) {
    if (p.state == core::State::kFatal) {
      why += fmt::format("{}{} is FATAL", why.empty() ? "" : "; ", make_namespec(p.group, p.name));
    }
  }
  return why.empty() ? 200 : 503;
}

int ready_status(const std::vector<ProcessInfo>& processes, SupervisorState state,
                 std::string& why) {
  if (state != SupervisorState::kRunning) {
    why = "podvisor is shutting down";
    return 503;
  }
  const bool any_probe = std::any_of(processes.begin(), processes.end(),
                                     [](const auto& p) { return p.has_ready_probe; });
  int status = 200;
  for (const auto& p : processes) {
    if (any_probe ? !p.has_ready_probe : !p.autostart) continue;
    const auto name = make_namespec(p.group, p.name);
    if (failed(p)) {
      why = fmt::format("{} is {}", name, core::to_string(p.state));
      return 503;
    }
    const bool up = p.state == core::State::kRunning || (p.oneshot && p.done);
    if (!up && status == 200) {
      status = 204;
      why = fmt::format("{} is {}", name, core::to_string(p.state));
    }
  }
  return status;
}

std::string render_metrics(const std::vector<ProcessInfo>& processes, int64_t now) {
  std::string out;
  auto family = [&](std::string_view name, std::string_view type, std::string_view help) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  };
  auto labels = [](const ProcessInfo& p) {
    return fmt::format("group=\"{}\",program=\"{}\"", escape_label(p.group), escape_label(p.name));
  };
  family("podvisor_program_state", "gauge",
         "Program state as supervisord numbers it: 0 STOPPED, 10 STARTING, 20 RUNNING, 30 "
         "BACKOFF, 40 STOPPING, 100 EXITED, 200 FATAL.");
  for (const auto& p : processes) {
    out += fmt::format("podvisor_program_state{{{}}} {}\n", labels(p), static_cast<int>(p.state));
  }
  family("podvisor_program_up", "gauge", "1 when the program is RUNNING (ready, with a probe).");
  for (const auto& p : processes) {
    out += fmt::format("podvisor_program_up{{{}}} {}\n", labels(p),
                       p.state == core::State::kRunning ? 1 : 0);
  }
  family("podvisor_program_restarts_total", "counter",
         "Restarts podvisor made since the program was first started.");
  for (const auto& p : processes) {
    out += fmt::format("podvisor_program_restarts_total{{{}}} {}\n", labels(p), p.restarts);
  }
  family("podvisor_program_last_exit_status", "gauge",
         "Exit status of the last run; 128+N when killed by signal N.");
  for (const auto& p : processes) {
    if (p.last_exit_status) {
      out += fmt::format("podvisor_program_last_exit_status{{{}}} {}\n", labels(p),
                         *p.last_exit_status);
    }
  }
  family("podvisor_program_uptime_seconds", "gauge", "Seconds since the running process started.");
  for (const auto& p : processes) {
    const bool up = p.pid > 0 && p.start > 0;
    out += fmt::format("podvisor_program_uptime_seconds{{{}}} {}\n", labels(p),
                       up ? std::max<int64_t>(0, now - p.start) : 0);
  }
  family("podvisor_program_ready_seconds", "gauge",
         "Seconds from the spawn to the readiness probe passing, for the last run.");
  for (const auto& p : processes) {
    if (p.ready_seconds) {
      out +=
          fmt::format("podvisor_program_ready_seconds{{{}}} {:.3f}\n", labels(p), *p.ready_seconds);
    }
  }
  family("podvisor_program_probe_latency_seconds", "gauge",
         "Duration of the last readiness or liveness probe attempt.");
  for (const auto& p : processes) {
    if (p.probe_latency_seconds) {
      out += fmt::format("podvisor_program_probe_latency_seconds{{{}}} {:.6f}\n", labels(p),
                         *p.probe_latency_seconds);
    }
  }
  family("podvisor_log_dropped_bytes_total", "counter",
         "Output bytes a program's log file could not take (disk full, FIFO without a reader).");
  for (const auto& p : processes) {
    for (int s : {0, 1}) {
      out += fmt::format("podvisor_log_dropped_bytes_total{{{},stream=\"{}\"}} {}\n", labels(p),
                         s == 0 ? "stdout" : "stderr", p.log_dropped_bytes[s]);
    }
  }
  const auto [rss, fds] = own_resources();
  family("podvisor_resident_memory_bytes", "gauge", "podvisor's own resident memory.");
  out += fmt::format("podvisor_resident_memory_bytes {}\n", rss);
  family("podvisor_open_fds", "gauge", "podvisor's own open file descriptors.");
  out += fmt::format("podvisor_open_fds {}\n", fds);
  return out;
}

void Routes::handle(const Request& request, std::shared_ptr<Responder> responder) {
  const auto path = request.path();
  const bool get = request.method == "GET" || request.method == "HEAD";
  if (path == "/RPC2") return rpc(request, std::move(responder));
  if (path.starts_with("/logtail/") || path == "/mainlogtail") {
    if (!get) return responder->send(text(400, "logtail takes GET\n"));
    return logtail(path, std::move(responder));
  }
  if (path.starts_with("/api/v1/")) return api(request, std::move(responder));
  if (path == "/api/v1") {
    if (!get) return responder->send(json(405, {{"error", "GET only"}}));
    // What a pod's user needs to get in: SSH's command, when the platform said where.
    return responder->send(json(
        200, {{"ssh", ssh_connect_.empty() ? nlohmann::json() : nlohmann::json(ssh_connect_)}}));
  }
  if (path == "/health" || path == "/ready" || path == "/ping" || path == "/metrics") {
    if (!get) return responder->send(text(405, "GET only\n"));
    if (path == "/health") return responder->send(health());
    if (path == "/metrics") {
      // GPU figures are sampled on request only: fresh ones, or the last after the deadline.
      return backend_.refresh_gpus(kGpuSampleDeadline,
                                   [this, responder] { responder->send(metrics()); });
    }
    return responder->send(ready());
  }
  responder->send(text(404, "not found\n"));
}

void Routes::rpc(const Request& request, std::shared_ptr<Responder> responder) {
  if (request.method != "POST") return responder->send(text(405, "XML-RPC takes POST\n"));
  xmlrpc::Call call;
  try {
    call = xmlrpc::decode_call(request.body);
  } catch (const xmlrpc::DecodeError& e) {
    return responder->send(text(400, fmt::format("bad XML-RPC request: {}\n", e.what())));
  }
  rpc_.call(call, [responder](RpcResult result) {
    Response r;
    r.content_type = "text/xml";
    if (const auto* fault = std::get_if<xmlrpc::Fault>(&result)) {
      r.body = xmlrpc::encode_fault(*fault);
    } else {
      r.body = xmlrpc::encode_response(std::get<xmlrpc::Value>(result));
    }
    responder->send(std::move(r));
  });
}

void Routes::logtail(const std::string& path, std::shared_ptr<Responder> responder) {
  std::string group, name;
  Stream stream = Stream::kStdout;
  if (path.starts_with("/logtail/")) {
    auto rest = std::string_view(path).substr(9);
    const auto slash = rest.find('/');
    const auto channel = slash == std::string_view::npos ? "stdout" : rest.substr(slash + 1);
    if (channel != "stdout" && channel != "stderr")
      return responder->send(text(404, "not found\n"));
    stream = channel == "stderr" ? Stream::kStderr : Stream::kStdout;
    const auto p = find_process(backend_.processes(), rest.substr(0, slash));
    if (!p) return responder->send(text(404, "not found\n"));
    group = p->group;
    name = p->name;
  }
  auto follow = std::make_shared<LogFollow>(backend_, group, name, stream, responder);
  if (!follow->start()) responder->send(text(404, "not found\n"));
}

Response Routes::health() const {
  std::string why;
  auto processes = backend_.processes();
  const auto hold = backend_.hold();
  // The program held on is named once, first, with why; other FATAL ones after it.
  if (hold) {
    std::erase_if(processes,
                  [&](const auto& p) { return p.group == hold->group && p.name == hold->name; });
  }
  int status = health_status(processes, backend_.state(), why);
  if (hold) {
    status = 503;
    why = fmt::format("holding: {}{}{}", hold->reason, why.empty() ? "" : "; ", why);
  }
  if (const auto gpu = backend_.gpu_unhealthy()) {
    status = 503;
    why = fmt::format("{}{}{}", why, why.empty() ? "" : "; ", *gpu);
  }
  return text(status, status == 200 ? "ok\n" : why + "\n");
}

Response Routes::ready() const {
  std::string why;
  const int status = ready_status(backend_.processes(), backend_.state(), why);
  if (status == 204) return text(204, "");
  return text(status, status == 200 ? "ready\n" : why + "\n");
}

Response Routes::metrics() const {
  auto r =
      text(200, render_metrics(backend_.processes(), backend_.wall_now()) +
                    render_gate_metrics(backend_.gates(), escape_label) + backend_.gpu_metrics());
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  return r;
}

void Routes::api(const Request& request, std::shared_ptr<Responder> responder) {
  const auto path = request.path();
  const auto all = backend_.processes();
  const auto gates = backend_.gates();
  auto describe_all = [&] {
    auto list = nlohmann::json::array();
    for (const auto& p : all) {
      const auto gate = std::find_if(gates.begin(), gates.end(), [&](const auto& g) {
        return g.group == p.group && g.name == p.name;
      });
      list.push_back({{"name", p.name},
                      {"group", p.group},
                      {"state", static_cast<int>(p.state)},
                      {"statename", core::to_string(p.state)},
                      {"pid", p.pid},
                      {"start", p.start},
                      {"stop", p.stop},
                      {"exitstatus", p.exitstatus},
                      {"restarts", p.restarts},
                      {"description", describe(p, backend_.wall_now())}});
      if (gate != gates.end()) list.back()["gate"] = gate_json(*gate);
    }
    return list;
  };
  if (path == "/api/v1/hold") {
    if (request.method != "GET") return responder->send(json(405, {{"error", "GET only"}}));
    const auto hold = backend_.hold();
    if (!hold) return responder->send(json(200, {{"holding", false}}));
    return responder->send(json(200, {{"holding", true},
                                      {"name", hold->name},
                                      {"group", hold->group},
                                      {"reason", hold->reason},
                                      {"exit_code", hold->exit_code},
                                      {"since", hold->since},
                                      {"retry", hold->retry}}));
  }
  if (path == "/api/v1/gpus") {
    if (request.method != "GET") return responder->send(json(405, {{"error", "GET only"}}));
    return backend_.refresh_gpus(kGpuSampleDeadline, [this, responder] {
      responder->send(json(200, nlohmann::json::parse(backend_.gpu_json())));
    });
  }
  if (path == "/api/v1/programs") {
    if (request.method != "GET") return responder->send(json(405, {{"error", "GET only"}}));
    return responder->send(json(200, describe_all()));
  }
  // /api/v1/programs/<name>/<action>
  constexpr std::string_view kPrefix = "/api/v1/programs/";
  if (!path.starts_with(kPrefix)) return responder->send(json(404, {{"error", "not found"}}));
  const auto rest = std::string_view(path).substr(kPrefix.size());
  const auto slash = rest.rfind('/');
  if (slash == std::string_view::npos) return responder->send(json(404, {{"error", "not found"}}));
  const auto p = find_process(all, rest.substr(0, slash));
  const auto action = std::string(rest.substr(slash + 1));
  if (!p) {
    return responder->send(
        json(404, {{"error", fmt::format("no program '{}'", rest.substr(0, slash))}}));
  }
  if (request.method != "POST") return responder->send(json(405, {{"error", "POST only"}}));
  const auto group = p->group, name = p->name;
  auto reply = [this, responder, group, name](Outcome o) {
    if (!o.ok()) {
      // The fault as XML-RPC words it, naming the program: "NOT_RUNNING: app".
      const auto fault = make_fault(o.code, o.detail.empty() ? name : o.detail);
      return responder->send(
          json(o.code == FaultCode::kBadName ? 404 : 409, {{"error", fault.message}}));
    }
    for (const auto& q : backend_.processes()) {
      if (q.group == group && q.name == name) {
        return responder->send(json(200, {{"name", q.name},
                                          {"group", q.group},
                                          {"statename", core::to_string(q.state)},
                                          {"pid", q.pid}}));
      }
    }
    responder->send(json(200, {{"name", name}}));
  };
  const bool active = p->state == core::State::kStarting || p->state == core::State::kRunning ||
                      p->state == core::State::kBackoff;
  if (action == "start") {
    if (active) return reply({FaultCode::kAlreadyStarted, ""});
    return backend_.start(group, name, true, reply);
  }
  if (action == "stop") {
    if (!active) return reply({FaultCode::kNotRunning, ""});
    return backend_.stop(group, name, reply);
  }
  if (action == "restart") {
    if (!active) return backend_.start(group, name, true, reply);
    return backend_.stop(group, name, [this, group, name, reply](Outcome o) {
      if (!o.ok()) return reply(o);
      backend_.start(group, name, true, reply);
    });
  }
  if (action == "signal") {
    std::string signame;
    try {
      signame = nlohmann::json::parse(request.body).value("signal", "");
    } catch (const nlohmann::json::exception&) {
      return responder->send(json(400, {{"error", "the body must be {\"signal\": \"HUP\"}"}}));
    }
    int signo = 0;
    try {
      signo = config::parse_signal(signame);
    } catch (const config::ValueError& e) {
      return responder->send(json(400, {{"error", e.what()}}));
    }
    if (p->pid <= 0) return reply({FaultCode::kNotRunning, ""});
    return reply(backend_.signal(group, name, signo));
  }
  responder->send(json(404, {{"error", fmt::format("unknown action '{}'", action)}}));
}

}  // namespace podvisor::control
