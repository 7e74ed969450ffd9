#include "gpu/fence.h"

#include <fmt/format.h>

#include <algorithm>
#include <csignal>

#include "core/report.h"
#include "gpu/devices.h"

namespace podvisor::gpu {
namespace {

using config::LogLevel;
using namespace std::chrono_literals;

// Re-reads of the few leftovers start quick (a holder that obeys SIGTERM is gone within
// milliseconds) and slow down to this.
constexpr Clock::duration kFirstPoll = 10ms;
constexpr Clock::duration kMaxPoll = 250ms;
constexpr Clock::duration kProgressEvery = 10s;

std::string seconds(Clock::duration d) {
  return core::format_duration(std::chrono::duration_cast<std::chrono::milliseconds>(d));
}

std::string state_words(char state) {
  switch (state) {
    case 'D':
      return "state D, uninterruptible sleep";
    case 'R':
      return "state R, running";
    case 'S':
      return "state S, sleeping";
    case 'T':
    case 't':
      return "state T, stopped";
    default:
      return fmt::format("state {}", state);
  }
}

std::string plural(size_t n, std::string_view one, std::string_view many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

}  // namespace

std::string escape_note(const Holder& h, pid_t last_leader) {
  if (last_leader > 0 && h.proc.sid != last_leader && h.proc.pgid != last_leader &&
      h.proc.pid == h.proc.sid) {
    return "own session";
  }
  if (last_leader > 0 && h.proc.pgid != last_leader && h.proc.pid == h.proc.pgid) {
    return "own process group";
  }
  return "";
}

std::string Fence::list() const {
  std::string out;
  for (const auto& h : leftovers_) {
    if (!out.empty()) out += ", ";
    out += h.name();
    const auto note = escape_note(h, o_.last_leader);
    const auto held = held_devices(h.holding);
    std::vector<std::string> notes;
    if (!note.empty()) notes.push_back(note);
    if (!held.empty() && minors_.size() > 1) notes.push_back(held);
    if (!h.holding.error.empty()) notes.push_back(h.holding.error);
    if (!notes.empty()) out += fmt::format(" ({})", fmt::join(notes, "; "));
  }
  return out;
}

Fence::Phase Fence::begin() {
  began_ = ended_ = host_.now();
  failure_.clear();
  leftovers_ = host_.collect();
  minors_.clear();
  bool holds = false;
  bool unreadable = false;
  for (const auto& h : leftovers_) {
    holds |= h.holding.any();
    unreadable |= !h.holding.error.empty();
    for (const int m : h.holding.minors) {
      if (std::find(minors_.begin(), minors_.end(), m) == minors_.end()) minors_.push_back(m);
    }
  }
  std::sort(minors_.begin(), minors_.end());
  if (leftovers_.empty() || (o_.mode == config::GpuFence::kAuto && !holds && !unreadable)) {
    phase_ = Phase::kOpen;
    return phase_;
  }
  const auto what = minors_.empty() ? std::string(holds ? " holding NVIDIA devices" : "")
                                    : fmt::format(" holding {}", gpu_list(minors_));
  host_.log(LogLevel::kWarn, fmt::format("gpu fence: {} left {}{}: {}; sending {}", o_.program,
                                         plural(leftovers_.size(), "process", "processes"), what,
                                         list(), config::signal_name(o_.stopsignal)));
  if (unreadable) {
    host_.log(LogLevel::kWarn,
              "gpu fence: some descriptors cannot be read (add CAP_SYS_PTRACE): waiting for "
              "those processes to exit");
  }
  signal_all(o_.stopsignal);
  phase_ = Phase::kTerm;
  poll_ = kFirstPoll;
  next_progress_ = began_ + poll_;
  arm_next();
  return phase_;
}

void Fence::signal_all(int signo) {
  for (const auto& h : leftovers_) host_.signal(h, signo);
}

Fence::Phase Fence::poke() {
  if (phase_ != Phase::kTerm && phase_ != Phase::kKill) return phase_;
  const auto now = host_.now();
  std::erase_if(leftovers_, [&](Holder& h) {
    if (!host_.refresh(h)) return true;
    // Past SIGKILL, a process that closed its nodes is dying: the GPU is free.
    return phase_ == Phase::kKill && !h.holding.any() && h.holding.error.empty();
  });
  if (leftovers_.empty()) {
    phase_ = Phase::kOpen;
    ended_ = now;
    const auto what =
        minors_.empty() ? std::string("leftovers gone") : gpu_list(minors_) + " free again";
    host_.log(LogLevel::kInfo, fmt::format("gpu fence: {} after {}; restarting {}", what,
                                           seconds(now - began_), o_.program));
    return phase_;
  }
  if (now - began_ >= o_.timeout) {
    phase_ = Phase::kFailed;
    ended_ = now;
    const auto& h = leftovers_.front();
    const auto held = held_devices(h.holding);
    const bool killed = killed_at_ != Clock::time_point{};
    failure_ = fmt::format(
        "GPU fence: {} {} {} after {} ({}, wchan {}); gpu_fence_timeout {} passed", h.name(),
        held.empty() ? "still alive" : "still holds " + held,
        seconds(now - (killed ? killed_at_ : began_)),
        killed ? "SIGKILL" : config::signal_name(o_.stopsignal), state_words(h.proc.state),
        h.proc.wchan.empty() ? "?" : h.proc.wchan, seconds(o_.timeout));
    host_.log(LogLevel::kError, failure_);
    return phase_;
  }
  if (phase_ == Phase::kTerm && now - began_ >= o_.stopwaitsecs) {
    host_.log(LogLevel::kWarn,
              fmt::format("gpu fence: sending SIGKILL to {} (stopwaitsecs {} passed)", list(),
                          seconds(o_.stopwaitsecs)));
    signal_all(SIGKILL);
    killed_at_ = now;
    phase_ = Phase::kKill;
    poll_ = kFirstPoll;
  } else if (now >= next_progress_) {
    next_progress_ = now + kProgressEvery;
    const auto what = minors_.empty() ? std::string("exit") : "release " + gpu_list(minors_);
    host_.log(LogLevel::kInfo,
              fmt::format("waiting for {} of {} to {} ({})",
                          plural(leftovers_.size(), "leftover process", "leftover processes"),
                          o_.program, what, list()));
  }
  arm_next();
  return phase_;
}

void Fence::arm_next() {
  const auto now = host_.now();
  auto wait = poll_;
  if (phase_ == Phase::kTerm) wait = std::min(wait, began_ + o_.stopwaitsecs - now);
  wait = std::min(wait, began_ + o_.timeout - now);
  host_.arm(std::max<Clock::duration>(wait, 0ms));
  poll_ = std::min(poll_ * 2, kMaxPoll);
}

}  // namespace podvisor::gpu
