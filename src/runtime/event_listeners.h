// The [eventlistener:x] pools on the event loop: what podvisor and its programs do becomes
// events (events/), written to the listeners' stdin pipes; their stdout answers.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/spec.h"
#include "core/process.h"
#include "events/event.h"
#include "events/pool.h"
#include "output/log.h"

namespace podvisor::runtime {

class EventListeners final : public events::PoolIo {
 public:
  EventListeners(boost::asio::io_context& io, const config::SupervisorSpec& spec,
                 output::Logger& log);

  // Before the first spawn: the pools and PROCESS_GROUP_ADDED in supervisord's order, then
  // SUPERVISOR_STATE_CHANGE_RUNNING; the TICK timers only where a pool subscribes to them.
  void start();
  // The configuration's groups changed (supervisorctl add/remove/update, SIGHUP): announces
  // the groups that came and went; a new [eventlistener:x] gets its pool.
  void sync_groups();
  // SUPERVISOR_STATE_CHANGE_STOPPING, once; from then on the pools drain before their
  // listeners stop (may_stop), for up to the longest stopwaitsecs among the listeners.
  void stopping();
  // At shutdown: whether p may stop now. A listener waits until its pool has delivered what it
  // holds (the programs' last events, STOPPING) or the drain bound has passed.
  bool may_stop(const core::Process& p) const;
  // Called when, during the drain, a pool may have settled.
  void on_drain_progress(std::function<void()> progress) { drain_progress_ = std::move(progress); }
  void state_changed(const core::Process& p, core::State from);
  // A chunk of a program's stdout (0) or stderr (1): a listener's stdout is the protocol.
  void output(const core::Process& p, int stream, std::string_view chunk);
  // The write end of a listener's stdin pipe, for its new run (taken over, closed here).
  void stdin_opened(const core::Process& p, int fd);

  void send(const std::string& process, std::string bytes) override;
  void log(config::LogLevel level, std::string line) override { log_.log(level, line); }

 private:
  void publish(events::Event event);
  void schedule_dispatch();
  void arm_tick(size_t index);
  // Makes the pool of `group` if its programs are listeners.
  void add_pool(const std::string& group);

  boost::asio::io_context& io_;
  const config::SupervisorSpec& spec_;
  output::Logger& log_;
  events::EventBus bus_;
  events::StateEvents states_;
  std::map<std::string, std::unique_ptr<boost::asio::posix::stream_descriptor>> stdin_;
  struct Tick {
    events::EventType type;
    std::unique_ptr<boost::asio::steady_timer> timer;
  };
  std::vector<Tick> ticks_;
  std::vector<std::string> groups_;  // announced with PROCESS_GROUP_ADDED, in order
  bool started_ = false;
  bool dispatch_posted_ = false;
  bool stopping_sent_ = false;
  bool drain_over_ = false;  // the drain bound passed: listeners stop with what is left
  std::unique_ptr<boost::asio::steady_timer> drain_timer_;
  std::function<void()> drain_progress_;
};

}  // namespace podvisor::runtime
