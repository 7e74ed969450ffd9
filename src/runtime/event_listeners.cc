#include "runtime/event_listeners.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <set>

namespace podvisor::runtime {
namespace {

namespace asio = boost::asio;
using config::EventType;
using core::State;

}  // namespace

EventListeners::EventListeners(asio::io_context& io, const config::SupervisorSpec& spec,
                               output::Logger& log)
    : io_(io), spec_(spec), log_(log) {}

void EventListeners::start() {
  started_ = true;
  sync_groups();
  publish({EventType::kSupervisorStateChangeRunning, ""});
  for (const auto type : {EventType::kTick5, EventType::kTick60, EventType::kTick3600}) {
    if (!bus_.wants(type)) continue;  // an idle podvisor arms no timer
    ticks_.push_back({type, std::make_unique<asio::steady_timer>(io_)});
    arm_tick(ticks_.size() - 1);
  }
}

void EventListeners::sync_groups() {
  if (!started_) return;
  // The programs are in start order (config/order.h; pools first at -1), the order
  // supervisord adds groups in; each pool subscribes as it is made, so it hears of its own
  // group and of those after it.
  std::vector<std::string> now;
  std::set<std::string_view> in_now;
  for (const auto& p : spec_.programs) {
    if (in_now.insert(p.group).second) now.push_back(p.group);
  }
  const std::set<std::string_view> before(groups_.begin(), groups_.end());
  for (const auto& group : groups_) {
    if (!in_now.count(group)) publish(events::group_event(EventType::kProcessGroupRemoved, group));
  }
  for (const auto& group : now) {
    if (before.count(group)) continue;
    add_pool(group);
    publish(events::group_event(EventType::kProcessGroupAdded, group));
  }
  groups_ = std::move(now);
}

void EventListeners::add_pool(const std::string& group) {
  for (const auto& p : spec_.programs) {
    if (p.group != group || !p.listener) continue;
    auto* pool = bus_.pool(group);
    if (!pool) {
      pool = &bus_.add_pool(std::make_unique<events::ListenerPool>(
          group, p.listener->events, static_cast<size_t>(p.listener->buffer_size), spec_.identifier,
          *this));
    }
    pool->add_process(p.name);
  }
}

void EventListeners::arm_tick(size_t index) {
  auto& tick = ticks_[index];
  const auto period = std::chrono::seconds(events::tick_period(tick.type));
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  // The next multiple of the period in wall-clock time, as supervisord's time slices.
  const auto next = (std::chrono::duration_cast<std::chrono::seconds>(now) / period + 1) * period;
  tick.timer->expires_after(next - now);
  tick.timer->async_wait([this, index](const boost::system::error_code& ec) {
    if (ec) return;
    const auto at = std::chrono::system_clock::now().time_since_epoch();
    publish(events::tick_event(ticks_[index].type,
                               std::chrono::duration_cast<std::chrono::seconds>(at).count()));
    arm_tick(index);
  });
}

void EventListeners::stopping() {
  if (std::exchange(stopping_sent_, true)) return;
  publish({EventType::kSupervisorStateChangeStopping, ""});
  if (bus_.empty()) return;
  std::chrono::milliseconds bound{0};
  for (const auto& p : spec_.programs) {
    if (p.listener) bound = std::max(bound, p.stopwaitsecs);
  }
  drain_timer_ = std::make_unique<asio::steady_timer>(io_, bound);
  drain_timer_->async_wait([this, bound](const boost::system::error_code& ec) {
    if (ec) return;
    drain_over_ = true;
    for (const auto& group : groups_) {
      const auto* pool = bus_.pool(group);
      if (pool && !pool->settled()) {
        log_.log(config::LogLevel::kWarn,
                 fmt::format("event listener pool {}: stopping with {} events undelivered after "
                             "{:.1f}s (the longest stopwaitsecs of the listeners)",
                             group, pool->buffered(), bound.count() / 1000.0));
      }
    }
    if (drain_progress_) drain_progress_();
  });
}

bool EventListeners::may_stop(const core::Process& p) const {
  if (!p.spec().listener || drain_over_) return true;
  const auto* pool = bus_.pool(p.spec().group);
  return !pool || pool->settled();
}

void EventListeners::state_changed(const core::Process& p, State from) {
  if (bus_.empty()) return;
  if (auto* pool = p.spec().listener ? bus_.pool(p.spec().group) : nullptr) {
    switch (p.state()) {
      case State::kStarting:
        pool->process_started(p.name());
        break;
      case State::kRunning:
        pool->set_running(p.name(), true);
        break;
      case State::kStopping:
        pool->set_running(p.name(), false);
        break;
      default:
        pool->process_ended(p.name());
        stdin_.erase(p.name());  // its run is over: the pipe goes with it
        break;
    }
  }
  const auto& last = p.last_exit();
  events::ProcessFacts facts{p.name(), p.spec().group, p.pid(), p.failures(),
                             last && !last->signaled && p.spec().expected(last->code)};
  for (auto& event : states_.on_change(facts, from, p.state())) publish(std::move(event));
  schedule_dispatch();
}

void EventListeners::output(const core::Process& p, int stream, std::string_view chunk) {
  if (bus_.empty()) return;
  if (p.spec().listener && stream == 0) {
    if (auto* pool = bus_.pool(p.spec().group)) pool->on_output(p.name(), chunk);
    schedule_dispatch();
    return;
  }
  const auto& log = stream == 0 ? p.spec().stdout_log : p.spec().stderr_log;
  if (!log.events_enabled) return;
  publish(events::log_event(stream, p.name(), p.spec().group, p.pid(), chunk));
}

void EventListeners::stdin_opened(const core::Process& p, int fd) {
  try {
    stdin_[p.name()] = std::make_unique<asio::posix::stream_descriptor>(io_, fd);
  } catch (const std::exception& e) {
    ::close(fd);
    log_.log(config::LogLevel::kError,
             fmt::format("{}: cannot write events to its stdin: {}", p.name(), e.what()));
  }
}

void EventListeners::send(const std::string& process, std::string bytes) {
  const auto it = stdin_.find(process);
  auto failed = [this, process] {
    // Later: the pool is in the middle of dispatching.
    asio::post(io_, [this, process] {
      if (auto* pool = bus_.pool_of_process(process)) pool->send_failed(process);
      schedule_dispatch();
    });
  };
  if (it == stdin_.end()) {
    failed();
    return;
  }
  auto data = std::make_shared<std::string>(std::move(bytes));
  asio::async_write(*it->second, asio::buffer(*data),
                    [data, failed](const boost::system::error_code& ec, size_t) {
                      if (ec && ec != asio::error::operation_aborted) failed();
                    });
}

void EventListeners::publish(events::Event event) {
  if (bus_.publish(std::move(event))) schedule_dispatch();
}

void EventListeners::schedule_dispatch() {
  if (bus_.empty() || std::exchange(dispatch_posted_, true)) return;
  asio::post(io_, [this] {
    dispatch_posted_ = false;
    bus_.dispatch();
    // A delivered or dropped event may have settled a pool whose listener waits to stop.
    if (stopping_sent_ && drain_progress_) drain_progress_();
  });
}

}  // namespace podvisor::runtime
