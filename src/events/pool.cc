#include "events/pool.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <utility>

namespace podvisor::events {
namespace {

using config::LogLevel;

// Python's int() on what follows "RESULT " (supervisord checks no more of the line).
std::optional<size_t> result_length(std::string_view line) {
  if (line.size() < 7) return std::nullopt;
  auto text = config::trim(line.substr(7));
  if (!text.empty() && text[0] == '+') text.erase(0, 1);
  if (text.empty() || text.size() > 18) return std::nullopt;
  size_t n = 0;
  for (const char c : text) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    n = n * 10 + static_cast<size_t>(c - '0');
  }
  return n;
}

}  // namespace

std::string_view to_string(ListenerState s) {
  switch (s) {
    case ListenerState::kAcknowledged:
      return "ACKNOWLEDGED";
    case ListenerState::kReady:
      return "READY";
    case ListenerState::kBusy:
      return "BUSY";
    case ListenerState::kUnknown:
      return "UNKNOWN";
  }
  return "UNKNOWN";
}

ListenerPool::ListenerPool(std::string name, std::vector<EventType> subscriptions,
                           size_t buffer_size, std::string server, PoolIo& io)
    : name_(std::move(name)),
      subscriptions_(std::move(subscriptions)),
      buffer_size_(std::max<size_t>(buffer_size, 1)),
      server_(std::move(server)),
      io_(io) {}

bool ListenerPool::wants(EventType type) const {
  return std::any_of(subscriptions_.begin(), subscriptions_.end(),
                     [&](EventType s) { return config::is_a(type, s); });
}

void ListenerPool::accept(std::shared_ptr<const Event> event, uint64_t serial) {
  push({std::move(event), serial, next_poolserial_++}, false);
}

void ListenerPool::push(Queued q, bool head) {
  if (buffer_.size() >= buffer_size_) {
    io_.log(LogLevel::kError, fmt::format("pool {} event buffer overflowed, discarding event {}",
                                          name_, buffer_.front().serial));
    buffer_.pop_front();
  }
  if (head) {
    buffer_.push_front(std::move(q));
  } else {
    buffer_.push_back(std::move(q));
  }
}

void ListenerPool::add_process(const std::string& process) {
  if (find(process)) return;
  members_.emplace_back();
  members_.back().name = process;
}

ListenerPool::Member* ListenerPool::find(const std::string& process) {
  for (auto& m : members_) {
    if (m.name == process) return &m;
  }
  return nullptr;
}

const ListenerPool::Member* ListenerPool::find(const std::string& process) const {
  return const_cast<ListenerPool*>(this)->find(process);
}

bool ListenerPool::settled() const {
  const bool held = std::any_of(members_.begin(), members_.end(),
                                [](const Member& m) { return m.event.has_value(); });
  const bool running =
      std::any_of(members_.begin(), members_.end(), [](const Member& m) { return m.running; });
  return (buffer_.empty() && !held) || !running;
}

ListenerState ListenerPool::state(const std::string& process) const {
  const auto* m = find(process);
  return m ? m->state : ListenerState::kUnknown;
}

void ListenerPool::set_state(Member& m, ListenerState s) {
  if (m.state == s) return;
  io_.log(LogLevel::kDebug, fmt::format("{}: {} -> {}", m.name, to_string(m.state), to_string(s)));
  m.state = s;
  if (s == ListenerState::kUnknown) {
    io_.log(LogLevel::kWarn, fmt::format("{}: has entered the UNKNOWN state and will no longer "
                                         "receive events, this usually indicates the process "
                                         "violated the eventlistener protocol",
                                         m.name));
  }
}

void ListenerPool::reject(Member& m) {
  if (!m.event) return;
  auto q = std::move(*m.event);
  m.event.reset();
  m.result_len.reset();
  io_.log(LogLevel::kDebug, fmt::format("rebuffering event {} for pool {} (buf size={}, max={})",
                                        q.serial, name_, buffer_.size(), buffer_size_));
  push(std::move(q), true);
}

void ListenerPool::process_started(const std::string& process) {
  auto* m = find(process);
  if (!m) return;
  reject(*m);
  m->input.clear();
  m->result_len.reset();
  m->running = false;
  m->state = ListenerState::kAcknowledged;
}

void ListenerPool::set_running(const std::string& process, bool running) {
  if (auto* m = find(process)) m->running = running;
}

void ListenerPool::process_ended(const std::string& process) {
  auto* m = find(process);
  if (!m) return;
  m->running = false;
  reject(*m);
}

void ListenerPool::send_failed(const std::string& process) {
  auto* m = find(process);
  if (!m || !m->event) return;
  io_.log(LogLevel::kDebug,
          fmt::format("epipe occurred while sending event {} to listener {}, listener state "
                      "unchanged",
                      m->event->serial, m->name));
  reject(*m);
  // It cannot read: it gets nothing more until a new run says READY.
  m->state = ListenerState::kAcknowledged;
}

void ListenerPool::on_output(const std::string& process, std::string_view bytes) {
  auto* m = find(process);
  if (!m) return;
  m->input.append(bytes);
  while (step(*m)) {
  }
}

bool ListenerPool::step(Member& m) {
  switch (m.state) {
    case ListenerState::kAcknowledged:
      if (m.input.size() < 6) return false;
      if (m.input.starts_with("READY\n")) {
        m.input.erase(0, 6);
        set_state(m, ListenerState::kReady);
        return true;
      }
      m.input.clear();
      set_state(m, ListenerState::kUnknown);
      return false;
    case ListenerState::kReady:
      if (m.input.empty()) return false;
      m.input.clear();  // spurious data
      set_state(m, ListenerState::kUnknown);
      return false;
    case ListenerState::kBusy: {
      if (!m.result_len) {
        const auto nl = m.input.find('\n');
        if (nl == std::string::npos) return false;
        const auto line = m.input.substr(0, nl);
        m.input.erase(0, nl + 1);
        m.result_len = result_length(line);
        if (!m.result_len) {
          io_.log(LogLevel::kWarn, fmt::format("{}: bad result line: '{}'", m.name, line));
          set_state(m, ListenerState::kUnknown);
          reject(m);
          return false;
        }
      }
      if (m.input.size() < *m.result_len) return false;
      const auto body = m.input.substr(0, *m.result_len);
      m.input.erase(0, *m.result_len);
      m.result_len.reset();
      if (body == "OK") {
        io_.log(LogLevel::kDebug, fmt::format("{}: event was processed", m.name));
        m.event.reset();
      } else {
        io_.log(LogLevel::kWarn, fmt::format("{}: event was rejected", m.name));
        reject(m);
      }
      set_state(m, ListenerState::kAcknowledged);
      return true;
    }
    case ListenerState::kUnknown:
      m.input.clear();
      return false;
  }
  return false;
}

void ListenerPool::dispatch() {
  while (!buffer_.empty()) {
    auto it = std::find_if(members_.begin(), members_.end(), [](const Member& m) {
      return m.running && m.state == ListenerState::kReady;
    });
    if (it == members_.end()) return;
    auto q = std::move(buffer_.front());
    buffer_.pop_front();
    auto bytes = envelope(server_, q.serial, name_, q.poolserial, *q.event);
    const auto serial = q.serial;
    it->event = std::move(q);
    set_state(*it, ListenerState::kBusy);
    io_.log(LogLevel::kDebug, fmt::format("event {} sent to listener {}", serial, it->name));
    io_.send(it->name, std::move(bytes));
  }
}

ListenerPool& EventBus::add_pool(std::unique_ptr<ListenerPool> pool) {
  pools_.push_back(std::move(pool));
  return *pools_.back();
}

ListenerPool* EventBus::pool(const std::string& name) {
  return const_cast<ListenerPool*>(std::as_const(*this).pool(name));
}

const ListenerPool* EventBus::pool(const std::string& name) const {
  for (const auto& p : pools_) {
    if (p->name() == name) return p.get();
  }
  return nullptr;
}

ListenerPool* EventBus::pool_of_process(const std::string& process) {
  for (auto& p : pools_) {
    if (p->has(process)) return p.get();
  }
  return nullptr;
}

bool EventBus::wants(EventType type) const {
  return std::any_of(pools_.begin(), pools_.end(), [&](const auto& p) { return p->wants(type); });
}

bool EventBus::publish(Event event) {
  if (!wants(event.type)) return false;  // no serial for an event nobody takes
  const auto shared = std::make_shared<const Event>(std::move(event));
  const auto serial = next_serial_++;
  for (auto& p : pools_) {
    if (p->wants(shared->type)) p->accept(shared, serial);
  }
  return true;
}

void EventBus::dispatch() {
  for (auto& p : pools_) p->dispatch();
}

}  // namespace podvisor::events
