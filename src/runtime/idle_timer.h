// Runs the event loop so that an idle podvisor wakes up never: Asio keeps its timerfd armed for
// 5 minutes when no timer is pending (a clock-change check podvisor does not need, as it reads
// only steady_clock); this loop disarms it before each idle wait.
#pragma once

#include <boost/asio/io_context.hpp>

namespace podvisor::runtime {

// io.run(), with the reactor's timerfd disarmed whenever the loop is about to block with no
// timer pending. Returns as io.run() does: when stopped or out of work.
void run_without_idle_wakeups(boost::asio::io_context& io);

// Whether no Asio timer of io is pending: the reactor's timerfd may then be disarmed.
bool no_timer_pending(boost::asio::io_context& io);

}  // namespace podvisor::runtime
