// supervisord's event listener pools without the processes: each pool's buffer (oldest
// dropped on overflow), the serial numbers, and the protocol each listener process speaks on
// its stdin and stdout (READY, RESULT n, OK or a rejection that re-buffers the event).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/values.h"
#include "events/event.h"

namespace podvisor::events {

// supervisord's EventListenerStates.
enum class ListenerState { kAcknowledged, kReady, kBusy, kUnknown };
std::string_view to_string(ListenerState s);

// What a pool needs from the world: writing to a listener's stdin, and the log.
class PoolIo {
 public:
  virtual ~PoolIo() = default;
  // Starts writing `bytes` to the process's stdin; a failure comes back as send_failed().
  virtual void send(const std::string& process, std::string bytes) = 0;
  virtual void log(config::LogLevel level, std::string line) = 0;
};

// One queued event: shared by every pool that took it, with this pool's own serial.
struct Queued {
  std::shared_ptr<const Event> event;
  uint64_t serial = 0;
  uint64_t poolserial = 0;
};

class ListenerPool {
 public:
  ListenerPool(std::string name, std::vector<EventType> subscriptions, size_t buffer_size,
               std::string server, PoolIo& io);

  const std::string& name() const { return name_; }
  bool wants(EventType type) const;
  // A new event (the global serial already taken): appended, the oldest dropped when full.
  void accept(std::shared_ptr<const Event> event, uint64_t serial);

  // The pool's processes, in the order events are offered to them.
  void add_process(const std::string& process);
  // A new run of the process: it owes READY first (ACKNOWLEDGED); anything it had is gone.
  void process_started(const std::string& process);
  // Events go only to RUNNING processes (past startsecs), as in supervisord.
  void set_running(const std::string& process, bool running);
  // The process is gone: an event it held is re-buffered at the head.
  void process_ended(const std::string& process);
  // Bytes from the process's stdout.
  void on_output(const std::string& process, std::string_view bytes);
  // Writing to its stdin failed (EPIPE): the event goes back to the head.
  void send_failed(const std::string& process);
  // Sends the oldest events to READY, RUNNING processes, one each.
  void dispatch();

  ListenerState state(const std::string& process) const;
  bool has(const std::string& process) const { return find(process) != nullptr; }
  size_t buffered() const { return buffer_.size(); }
  // Nothing left to deliver (no event buffered or held by a listener), or nobody RUNNING to
  // deliver it to: at shutdown the pool's processes may stop.
  bool settled() const;

 private:
  struct Member {
    std::string name;
    ListenerState state = ListenerState::kAcknowledged;
    bool running = false;
    std::string input;                 // stdout not consumed yet
    std::optional<size_t> result_len;  // BUSY: after "RESULT n\n", the n body bytes awaited
    std::optional<Queued> event;       // BUSY: the event it holds
  };
  Member* find(const std::string& process);
  const Member* find(const std::string& process) const;
  void set_state(Member& m, ListenerState s);
  void push(Queued q, bool head);
  void reject(Member& m);
  // Consumes what it can of m.input; false once it must wait for more bytes.
  bool step(Member& m);

  std::string name_;
  std::vector<EventType> subscriptions_;
  size_t buffer_size_;
  std::string server_;
  PoolIo& io_;
  std::deque<Queued> buffer_;
  uint64_t next_poolserial_ = 0;
  std::vector<Member> members_;
};

// Every pool, and the global serial: an event takes a serial only when a pool wants it.
class EventBus {
 public:
  ListenerPool& add_pool(std::unique_ptr<ListenerPool> pool);
  ListenerPool* pool(const std::string& name);
  const ListenerPool* pool(const std::string& name) const;
  ListenerPool* pool_of_process(const std::string& process);
  bool empty() const { return pools_.empty(); }
  bool wants(EventType type) const;
  // Hands the event to each pool that subscribes to its type; false when none does.
  bool publish(Event event);
  void dispatch();

 private:
  std::vector<std::unique_ptr<ListenerPool>> pools_;
  uint64_t next_serial_ = 0;
};

}  // namespace podvisor::events
