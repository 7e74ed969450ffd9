#include "gate/gate.h"

#include <algorithm>

#include "gate/relay.h"

namespace podvisor::gate {

using boost::asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// What the connections share with their gate (the Hub): the queue of held ones, its one
// timer (armed only while something is held: podvisor has no idle wake-ups), the counts.
struct Gate::State : Hub, std::enable_shared_from_this<State> {
  State(boost::asio::io_context& io, const Options& o) : options(o), hold_timer(io) {}

  Options options;
  bool up = false;
  bool stopping = false;
  ProgramView view;
  std::list<std::shared_ptr<Connection>> held;
  // Relayed and refused ones, for the drain at shutdown and the active gauge.
  std::vector<std::weak_ptr<Connection>> tracked;
  size_t prune_at = 64;
  Clock::time_point first_held;  // of those held now
  boost::asio::steady_timer hold_timer;
  Stats counts;

  Connection::Watch watch(bool classify) const {
    return {.health_paths = options.health != Health::kNone,
            .classify = classify,
            .abort_on_close = options.abort_on_close};
  }

  // --- Hub
  void gone(Connection* c) override {
    const auto it =
        std::find_if(held.begin(), held.end(), [c](const auto& h) { return h.get() == c; });
    if (it == held.end()) return;
    unhold(it);
    arm();
  }
  std::optional<int> health(std::string_view method, std::string_view path) override {
    const auto status = health_status(options.health, method, path, view);
    if (status) ++counts.health_requests;
    return status;
  }
  void classified(std::shared_ptr<Connection> c) override { route(std::move(c), false); }
  Stats& stats() override { return counts; }

  // A new connection, or one whose request is known to be the program's (`fresh` false).
  void route(std::shared_ptr<Connection> c, bool fresh) {
    const bool look_first = fresh && options.health != Health::kNone;
    if (stopping) return refuse(c, Refusal::kShutdown);
    if (up || view.fatal) {
      // With a preset, the request line decides first: a health request is podvisor's.
      if (look_first) return c->hold(watch(true));
      if (up) return release(std::move(c));
      return refuse(c, Refusal::kFatal);
    }
    if (held.size() >= options.max_held) return refuse(c, Refusal::kMaxHeld);
    c->held_since = Clock::now();
    if (held.empty()) first_held = c->held_since;
    held.push_back(c);
    c->hold(watch(false));
    if (held.size() == 1) arm();
  }

  // Ended ones are dropped when the list has doubled, not on each call: releasing
  // thousands of held connections stays linear.
  void track(const std::shared_ptr<Connection>& c) {
    if (tracked.size() >= prune_at) {
      std::erase_if(tracked, [](const auto& w) { return w.expired(); });
      prune_at = std::max<size_t>(64, 2 * tracked.size());
    }
    tracked.push_back(c);
  }

  void refuse(const std::shared_ptr<Connection>& c, Refusal why) {
    ++counts.refused[static_cast<size_t>(why)];
    track(c);
    c->refuse(options.retry_after);
  }

  std::shared_ptr<Connection> unhold(std::list<std::shared_ptr<Connection>>::iterator it) {
    auto c = std::move(*it);
    held.erase(it);
    counts.add_held(std::chrono::duration<double>(Clock::now() - c->held_since).count());
    return c;
  }

  // Refuses every held connection.
  void refuse_held(Refusal why) {
    while (!held.empty()) refuse(unhold(held.begin()), why);
    arm();
  }

  // One timer for the oldest held connection; none while nothing is held.
  void arm() {
    if (held.empty() || options.hold_timeout.count() == 0) {
      hold_timer.cancel();
      return;
    }
    hold_timer.expires_at(held.front()->held_since + options.hold_timeout);
    hold_timer.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      const auto s = weak.lock();
      if (ec || !s) return;
      const auto now = Clock::now();
      while (!s->held.empty() && s->held.front()->held_since + s->options.hold_timeout <= now) {
        s->refuse(s->unhold(s->held.begin()), Refusal::kHoldTimeout);
      }
      s->arm();
    });
  }

  void release(std::shared_ptr<Connection> c) {
    track(c);
    std::weak_ptr<State> weak = weak_from_this();
    c->release(
        options.upstream,
        [weak] {
          const auto s = weak.lock();
          return s && s->up;
        },
        // The program went down before the connect succeeded: held again, at the front (it
        // keeps the time it was first held, so the queue stays oldest first).
        [weak](std::shared_ptr<Connection> back) {
          const auto s = weak.lock();
          if (!s) return back->abort();
          if (s->stopping || s->view.fatal) {
            return s->refuse(back, s->stopping ? Refusal::kShutdown : Refusal::kFatal);
          }
          if (s->held.empty()) s->first_held = back->held_since;
          s->held.push_front(back);
          back->hold(s->watch(false));
          s->arm();
        });
  }

  Released set_up(bool now_up) {
    up = now_up;
    if (!up || held.empty()) return {};
    const Released released{held.size(), Clock::now() - first_held};
    while (!held.empty()) release(unhold(held.begin()));
    arm();
    return released;
  }
};

Gate::Gate(boost::asio::io_context& io, Options options)
    : acceptor_(io),
      health_acceptor_(io),
      accept_retry_(io),
      options_(options),
      state_(std::make_shared<State>(io, options)) {}

Gate::Gate(boost::asio::io_context& io, tcp::endpoint listen, tcp::endpoint upstream)
    : Gate(io, [&] {
        Options o;
        o.listen = listen;
        o.upstream = upstream;
        return o;
      }()) {}

Gate::~Gate() { close(); }

void Gate::open() {
  acceptor_.open(options_.listen.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  acceptor_.bind(options_.listen);
  acceptor_.listen();
  if (options_.health_listen) {
    health_acceptor_.open(options_.health_listen->protocol());
    health_acceptor_.set_option(tcp::acceptor::reuse_address(true));
    health_acceptor_.bind(*options_.health_listen);
    health_acceptor_.listen();
    accept(health_acceptor_, true);
  }
  accept(acceptor_, false);
}

uint16_t Gate::port() const {
  boost::system::error_code ec;
  const auto e = acceptor_.local_endpoint(ec);
  return ec ? 0 : e.port();
}

uint16_t Gate::health_port() const {
  boost::system::error_code ec;
  const auto e = health_acceptor_.local_endpoint(ec);
  return ec ? 0 : e.port();
}

void Gate::accept(tcp::acceptor& acceptor, bool health_only) {
  acceptor.async_accept([this, &acceptor, health_only](const boost::system::error_code& ec,
                                                       tcp::socket socket) {
    if (ec == boost::asio::error::operation_aborted || !acceptor.is_open()) return;
    if (!ec) {
      auto c = std::make_shared<Connection>(std::move(socket), state_);
      if (health_only) {
        c->hold({.health_paths = true, .health_only = true});
      } else {
        ++state_->counts.accepted;
        state_->route(std::move(c), true);
      }
      accept(acceptor, health_only);
      return;
    }
    // A failed accept (out of descriptors, say) leaves the connection in the backlog: try
    // again a little later rather than spin on the same error.
    accept_retry_.expires_after(std::chrono::milliseconds(100));
    accept_retry_.async_wait([this, &acceptor, health_only](const boost::system::error_code& e) {
      if (!e && acceptor.is_open()) accept(acceptor, health_only);
    });
  });
}

Gate::Released Gate::set_up(bool up) { return state_->set_up(up); }

Gate::Released Gate::set_program(Program program, bool hold_on_fatal) {
  auto& v = state_->view;
  v.running = program == Program::kRunning;
  v.ever_running = v.ever_running || v.running;
  v.fatal = program == Program::kFatal && !hold_on_fatal;
  // Held on FATAL, it is down as a stopped one is; a start brings it back.
  v.stopped = program == Program::kStopped || program == Program::kFatal ||
              (program == Program::kStopping && v.stopped);
  const auto released = state_->set_up(v.running);
  if (v.fatal) state_->refuse_held(Refusal::kFatal);
  return released;
}

void Gate::close_listeners() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  health_acceptor_.close(ignored);
  accept_retry_.cancel();
}

void Gate::stop_accepting() {
  close_listeners();
  state_->stopping = state_->view.shutting_down = true;
  state_->refuse_held(Refusal::kShutdown);
}

size_t Gate::active() const {
  return std::count_if(state_->tracked.begin(), state_->tracked.end(), [](const auto& w) {
    const auto c = w.lock();
    return c && c->answering();
  });
}

size_t Gate::busy() const {
  return std::count_if(state_->tracked.begin(), state_->tracked.end(), [](const auto& w) {
    const auto c = w.lock();
    return c && (c->answering() || c->refusing());
  });
}

bool Gate::up() const { return state_->up; }
size_t Gate::held() const { return state_->held.size(); }

Stats Gate::stats() const {
  auto s = state_->counts;
  s.held = state_->held.size();
  s.active = active();
  return s;
}

void Gate::close() {
  close_listeners();
  state_->hold_timer.cancel();
  for (auto& c : state_->held) c->abort();
  state_->held.clear();
  for (auto& w : state_->tracked) {
    const auto c = w.lock();
    if (!c) continue;
    // One whose answer has ended only waits for its client's end of file.
    c->answering() ? c->abort() : c->close();
  }
  state_->tracked.clear();
}

}  // namespace podvisor::gate
