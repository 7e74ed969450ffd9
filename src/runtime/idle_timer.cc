#include "runtime/idle_timer.h"

#include <sys/timerfd.h>

#include <boost/asio/detail/epoll_reactor.hpp>
#include <climits>

namespace podvisor::runtime {

namespace {

using boost::asio::detail::epoll_reactor;
using boost::asio::detail::timer_queue_set;

// The reactor keeps its timerfd and its timer queues private. An explicit instantiation may
// name private members (C++20 [temp.spec.general]/6), which lets a friend function hand out
// the pointers to members; nothing else in Asio is touched.
template <typename Tag, typename Tag::type Member>
struct Expose {
  friend typename Tag::type member(Tag) { return Member; }
};
struct TimerFd {
  using type = int epoll_reactor::*;
  friend type member(TimerFd);
};
struct TimerQueues {
  using type = timer_queue_set epoll_reactor::*;
  friend type member(TimerQueues);
};
template struct Expose<TimerFd, &epoll_reactor::timer_fd_>;
template struct Expose<TimerQueues, &epoll_reactor::timer_queues_>;

epoll_reactor& reactor_of(boost::asio::io_context& io) {
  return boost::asio::use_service<epoll_reactor>(static_cast<boost::asio::execution_context&>(io));
}

// Before a wait with nothing pending: Asio would wake up in 5 minutes only to arm the same
// timer again. Asio re-arms it itself when a timer is next scheduled.
void disarm_if_idle(boost::asio::io_context& io) {
  auto& reactor = reactor_of(io);
  const int fd = reactor.*member(TimerFd{});
  if (fd < 0 || !no_timer_pending(io)) return;
  const itimerspec off{};
  // Cannot fail on a timerfd Asio made; if it did, the only cost is the 5-minute wake-up.
  static_cast<void>(::timerfd_settime(fd, 0, &off, nullptr));
}

}  // namespace

bool no_timer_pending(boost::asio::io_context& io) {
  auto& queues = reactor_of(io).*member(TimerQueues{});
  return queues.wait_duration_usec(LONG_MAX) == LONG_MAX;
}

void run_without_idle_wakeups(boost::asio::io_context& io) {
  for (;;) {
    // Handlers that are ready run without a wait; only when none is left does the loop block.
    if (io.poll() > 0) continue;
    if (io.stopped()) return;
    disarm_if_idle(io);
    if (io.run_one() == 0) return;
  }
}

}  // namespace podvisor::runtime
