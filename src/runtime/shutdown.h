// The way out: leftover descendants ended (SIGTERM, a grace, SIGKILL) so nothing outlives
// podvisor, the crash report of the program it gave up on, and supervisord's restart (re-exec).
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "core/process.h"
#include "output/log.h"
#include "runtime/loop.h"
#include "runtime/program_io.h"

namespace podvisor::runtime {

// After the programs are gone, leftover descendants get SIGTERM, this long, then SIGKILL.
constexpr std::chrono::milliseconds kLeftoverGrace{1500};

// Ends every descendant of podvisor. `drain` runs before each reap (a leftover may hold a
// program's pipe); a SIGTERM, SIGINT or SIGQUIT meanwhile cuts the grace short. It polls: it
// runs after the loop, when only waiting remains.
void end_leftovers(Loop& loop, output::Logger& log, const std::function<void()>& drain,
                   std::chrono::milliseconds grace = kLeftoverGrace);

// The report printed when podvisor ends because `p` failed: why, uptime, restarts, and its
// last lines of output (from `io`, when it has any).
std::string crash_report(const core::Process& p, const ProgramIo* io);

// supervisord's restart: podvisor runs again from the start, as the same pid (still PID 1 in a
// container), reading its configuration anew. Returns only by exiting 2 when exec fails.
[[noreturn]] void reexec(output::Logger& log);

}  // namespace podvisor::runtime
