#include "runtime/gpu_companion.h"

#include <dirent.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/write.hpp>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "os/descendants.h"
#include "os/spawn.h"
#include "output/relay.h"

namespace podvisor::runtime {
namespace {

namespace asio = boost::asio;
using config::LogLevel;
using Clock = std::chrono::steady_clock;

// The exit status that says NVML is not there (a hello with the reason came first): starting
// it again would not help.
constexpr int kNoNvml = 3;
// A companion that has not answered for this long is stuck (in the driver, after Xid 45
// say): it is killed, and started again once it is reaped.
constexpr auto kHung = std::chrono::seconds(10);
// How long the first sample after the hello may take before the start-up line goes without it.
constexpr auto kFirstSample = std::chrono::seconds(2);
// A run this long resets the back-off.
constexpr auto kStableRun = std::chrono::seconds(60);
// A line longer than this is no line of the companion's.
constexpr size_t kMaxLine = 1 << 20;

int64_t wall_now() { return static_cast<int64_t>(std::time(nullptr)); }

// The directory of podvisor's own binary; nullopt (errno set) when /proc is not there.
std::optional<std::string> own_directory() {
  char path[4096];
  const auto n = ::readlink("/proc/self/exe", path, sizeof path - 1);
  if (n <= 0) return std::nullopt;
  std::string exe(path, static_cast<size_t>(n));
  const auto slash = exe.rfind('/');
  return slash == std::string::npos ? "." : exe.substr(0, slash);
}

std::string describe_status(int wait_status) {
  if (WIFEXITED(wait_status)) return fmt::format("exited with status {}", WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) {
    return fmt::format("was killed by {}", config::signal_name(WTERMSIG(wait_status)));
  }
  return "ended";
}

}  // namespace

GpuCompanionOptions gpu_companion_options() {
  GpuCompanionOptions o;
  if (const char* dir = std::getenv("PODVISOR_GPU_DEVICE_DIR"); dir && *dir) o.device_dir = dir;
  const char* path = std::getenv("PODVISOR_GPU_COMPANION");
  if (path && std::string_view(path) == "off") {
    o.off_reason = "PODVISOR_GPU_COMPANION=off";
  } else if (path && *path) {
    o.companion = path;
  } else if (const auto dir = own_directory()) {
    o.companion = *dir + "/podvisor-gpu";
  } else {
    o.off_reason =
        fmt::format("podvisor's own path is unknown: /proc/self/exe: {}", std::strerror(errno));
  }
  return o;
}

bool has_gpu_device(const std::string& device_dir) {
  DIR* dir = ::opendir(device_dir.c_str());
  if (!dir) return false;
  bool found = false;
  while (const dirent* e = ::readdir(dir)) {
    const std::string_view name = e->d_name;
    if (name == "nvidiactl") found = true;
    if (name.size() > 6 && name.starts_with("nvidia") &&
        std::all_of(name.begin() + 6, name.end(),
                    [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
      found = true;
    }
  }
  ::closedir(dir);
  return found;
}

GpuCompanion::GpuCompanion(Loop& loop, output::Logger& log, GpuCompanionOptions options)
    : loop_(loop),
      log_(log),
      options_(std::move(options)),
      restart_timer_(loop.io()),
      backoff_(options_.first_backoff) {}

GpuCompanion::~GpuCompanion() {
  // Normally stop() ran; after an exception, nothing may outlive podvisor.
  if (pid_ > 0) (void)::kill(pid_, SIGKILL);
}

void GpuCompanion::start() {
  if (!has_gpu_device(options_.device_dir)) return;  // no GPU: nothing to ask, no line
  status_.wanted = true;
  if (options_.companion.empty()) return unavailable(options_.off_reason);
  if (::access(options_.companion.c_str(), X_OK) != 0) {
    return unavailable(fmt::format("{}: {}", options_.companion, std::strerror(errno)));
  }
  spawn();
}

void GpuCompanion::unavailable(const std::string& why) {
  status_.up = false;
  status_.unavailable = why;
  log_.log(LogLevel::kWarn,
           fmt::format("gpu: podvisor-gpu unavailable ({}): GPU memory shows as unknown", why));
}

void GpuCompanion::spawn() {
  os::SpawnRequest request;
  request.argv = {options_.companion};
  request.env = os::build_environment({});
  std::optional<output::Pipe> in, out;
  try {
    in = output::make_pipe();
    out = output::make_pipe();
  } catch (const std::system_error& e) {
    if (in) {
      (void)::close(in->read);
      (void)::close(in->write);
    }
    log_.log(LogLevel::kWarn, fmt::format("gpu: cannot start podvisor-gpu: {}", e.what()));
    return on_exit(W_EXITCODE(1, 0));  // as a failed run: tried again after the back-off
  }
  request.stdin_fd = in->read;
  request.stdout_fd = out->write;
  const auto spawned = os::spawn(request);
  (void)::close(in->read);
  (void)::close(out->write);
  if (spawned.pid <= 0 || spawned.failed_child > 0) {
    (void)::close(in->write);
    (void)::close(out->read);
    retry_ = !spawned.command_unusable;
    if (!retry_) return unavailable(spawned.message);
    log_.log(LogLevel::kWarn, fmt::format("gpu: cannot start podvisor-gpu: {}", spawned.message));
    return on_exit(W_EXITCODE(1, 0));
  }
  pid_ = spawned.pid;
  exit_status_.reset();
  output_ended_ = false;
  started_at_ = Clock::now();
  killed_ = false;
  logged_visible_ = false;
  in_ = std::make_unique<asio::posix::stream_descriptor>(loop_.io(), in->write);
  out_ = std::make_unique<asio::posix::stream_descriptor>(loop_.io(), out->read);
  partial_.clear();
  loop_.watch(pid_, [this](int wait_status) { on_exit(wait_status); });
  log_.log(LogLevel::kDebug, fmt::format("gpu: podvisor-gpu started with pid {}", pid_));
  read();
}

void GpuCompanion::read() {
  out_->async_read_some(asio::buffer(buffer_), [this](const boost::system::error_code& ec,
                                                      size_t n) {
    if (ec) {
      // End of its output. Its exit is acted on only after that, so the reason it printed
      // just before exiting (no NVML) is read first, however the two events are ordered.
      output_ended_ = true;
      if (exit_status_) finish_exit();
      return;
    }
    partial_.append(buffer_.data(), n);
    size_t start = 0;
    for (auto nl = partial_.find('\n'); nl != std::string::npos; nl = partial_.find('\n', start)) {
      on_line(std::string_view(partial_).substr(start, nl - start));
      start = nl + 1;
    }
    partial_.erase(0, start);
    if (partial_.size() > kMaxLine) partial_.clear();
    if (out_) read();
  });
}

void GpuCompanion::on_line(std::string_view line) {
  const auto message = gpu::parse_line(line);
  if (const auto* hello = std::get_if<gpu::Hello>(&message)) {
    status_.hello = *hello;
    if (!hello->nvml) {
      retry_ = false;
      return unavailable(hello->reason);
    }
    status_.up = true;
    status_.unavailable.clear();
    if (hello->events.starts_with("not supported")) {
      log_.log(LogLevel::kInfo, fmt::format("gpu: Xid and ECC events {}", hello->events));
    }
    refresh(kFirstSample, [this] {
      if (std::exchange(logged_visible_, true) || !status_.up) return;
      log_.log(LogLevel::kInfo, "gpu: " + gpu::visible_line(status_));
    });
  } else if (const auto* reply = std::get_if<gpu::Reply>(&message)) {
    if (reply->id == outstanding_) outstanding_ = 0;
    if (reply->sample) {
      status_.sample = reply->sample;
      status_.sample_at = wall_now();
    } else {
      log_.log(LogLevel::kWarn, fmt::format("gpu: NVML sample failed: {}", reply->error));
    }
    settle_waiters();
  } else if (const auto* event = std::get_if<gpu::Event>(&message)) {
    const auto text = gpu::record_event(status_, *event, wall_now());
    const bool bad = event->kind != gpu::EventKind::kXid || gpu::critical_xid(event->data);
    if (!text.empty()) log_.log(bad ? LogLevel::kError : LogLevel::kWarn, text);
  } else {
    log_.log(LogLevel::kWarn, fmt::format("gpu: unreadable line from podvisor-gpu: {}",
                                          std::get<gpu::Unreadable>(message).why));
  }
}

void GpuCompanion::refresh(std::chrono::milliseconds deadline, std::function<void()> done) {
  if (!status_.up || !in_) return done();
  if (outstanding_ != 0) {
    if (Clock::now() - outstanding_since_ > kHung && !killed_) {
      log_.log(LogLevel::kWarn,
               fmt::format("gpu: podvisor-gpu (pid {}) has not answered for {} s (stuck in the "
                           "driver?); killing it",
                           pid_, std::chrono::duration_cast<std::chrono::seconds>(kHung).count()));
      killed_ = true;
      (void)::kill(pid_, SIGKILL);
    }
  } else {
    outstanding_ = next_id_++;
    outstanding_since_ = Clock::now();
    auto command = std::make_shared<std::string>(gpu::sample_command(outstanding_));
    asio::async_write(*in_, asio::buffer(*command),
                      [command](const boost::system::error_code&, size_t) {});
  }
  const auto serial = next_serial_++;
  auto timer = std::make_unique<asio::steady_timer>(loop_.io(), deadline);
  timer->async_wait([this, serial](const boost::system::error_code& ec) {
    if (ec) return;
    for (auto it = waiters_.begin(); it != waiters_.end(); ++it) {
      if (it->serial != serial) continue;
      auto waiter_done = std::move(it->done);
      waiters_.erase(it);
      return waiter_done();
    }
  });
  waiters_.push_back({serial, std::move(done), std::move(timer)});
}

void GpuCompanion::check_free_memory(const config::SupervisorSpec& spec,
                                     const config::ProgramSpec& program,
                                     std::chrono::milliseconds deadline,
                                     std::function<void(gpu::FreeMemoryDecision)> done) {
  if (!program.gpu_free_memory) return done({gpu::FreeMemoryVerdict::kEnough, ""});
  // The program's own environment wins over [supervisord]'s, which wins over podvisor's.
  auto lookup = [&](const std::string& name) -> std::optional<std::string> {
    for (const auto* layer : {&program.environment, &spec.environment}) {
      if (const auto it = layer->find(name); it != layer->end()) return it->second;
    }
    if (const char* value = std::getenv(name.c_str())) return std::string(value);
    return std::nullopt;
  };
  gpu::VisibleDevices env{lookup("CUDA_VISIBLE_DEVICES"), lookup("NVIDIA_VISIBLE_DEVICES")};
  const auto need = *program.gpu_free_memory;
  refresh(deadline, [this, env, need, done = std::move(done)] {
    // Without the companion the figures are unknown, whatever an older sample said.
    done(gpu::decide_free_memory(status_.up ? status_.sample : std::nullopt, env, need));
  });
}

void GpuCompanion::settle_waiters() {
  auto settled = std::move(waiters_);
  waiters_.clear();
  for (auto& w : settled) {
    w.timer->cancel();
    w.done();
  }
}

void GpuCompanion::on_exit(int wait_status) {
  exit_status_ = wait_status;
  if (output_ended_ || !out_) finish_exit();
}

void GpuCompanion::finish_exit() {
  const int wait_status = *std::exchange(exit_status_, std::nullopt);
  const pid_t pid = pid_;
  pid_ = -1;
  in_.reset();
  out_.reset();
  outstanding_ = 0;
  const bool was_up = status_.up;
  status_.up = false;
  settle_waiters();
  if (stopping_) return;
  if (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == kNoNvml) retry_ = false;
  if (!retry_) {
    if (status_.unavailable.empty()) unavailable("podvisor-gpu found no NVML");
    return;
  }
  if (pid > 0 && Clock::now() - started_at_ >= kStableRun) backoff_ = options_.first_backoff;
  status_.unavailable = fmt::format("podvisor-gpu {}", describe_status(wait_status));
  log_.log(was_up && !killed_ ? LogLevel::kError : LogLevel::kWarn,
           fmt::format("gpu: podvisor-gpu{} {}; starting it again in {:g} s",
                       pid > 0 ? fmt::format(" (pid {})", pid) : "", describe_status(wait_status),
                       backoff_.count() / 1000.0));
  restart_timer_.expires_after(backoff_);
  backoff_ = std::min(backoff_ * 2, options_.max_backoff);
  restart_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec && !stopping_) spawn();
  });
}

void GpuCompanion::stop() {
  stopping_ = true;
  restart_timer_.cancel();
  if (pid_ <= 0) return;
  const pid_t pid = pid_;
  in_.reset();  // end of input: it leaves on its own
  out_.reset();
  // Its event thread may sit in the driver: no reason to wait for it to notice.
  (void)::kill(pid, SIGKILL);
  // A companion stuck in the driver (state D) cannot be reaped: after this it is left to the
  // leftover sweep, which reports it.
  (void)os::wait_for_children({pid}, std::chrono::milliseconds(500));
  pid_ = -1;
  status_.up = false;
}

}  // namespace podvisor::runtime
