// The way out: leftover descendants ended (SIGTERM, a grace, SIGKILL) so nothing outlives
// podvisor, the crash report of the program it gave up on, and supervisord's restart (re-exec).
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "core/process.h"
#include "gpu/report.h"
#include "output/log.h"
#include "runtime/loop.h"
#include "runtime/program_io.h"

namespace podvisor::runtime {

// After the programs are gone, leftover descendants get SIGTERM, this long, then SIGKILL.
constexpr std::chrono::milliseconds kLeftoverGrace{1500};

// Ends every descendant of podvisor but the `spared` ones (and theirs). `drain` runs before
// each reap (a leftover may hold a program's pipe); a SIGTERM, SIGINT or SIGQUIT meanwhile
// cuts the grace short. It polls: it runs after the loop, when only waiting remains.
void end_leftovers(Loop& loop, output::Logger& log, const std::function<void()>& drain,
                   const std::vector<pid_t>& spared = {},
                   std::chrono::milliseconds grace = kLeftoverGrace);

// How long podvisor waits at exit for the processes that were its children before it started
// (`exec > >(tee log)`'s reader) to finish once its stdout and stderr are closed.
constexpr std::chrono::seconds kReaderWait{5};

// The last step of podvisor: closes its stdout and stderr, so a reader of them that was
// podvisor's child before it started (bash's process substitution) sees the end of its input,
// and waits up to `limit` for those `readers` to finish. Nothing may be written after it.
void let_readers_finish(const std::vector<pid_t>& readers,
                        std::chrono::milliseconds limit = kReaderWait);

// The report printed when podvisor ends because `p` failed: why, uptime, restarts, and its
// last lines of output (from `io`, when it has any); with `gpu`, the GPU section and a
// diagnosis of CUDA/NCCL failures in those lines.
std::string crash_report(const core::Process& p, const ProgramIo* io,
                         const gpu::Snapshot* gpu = nullptr);

// supervisord's restart: podvisor runs again from the start, as the same pid (still PID 1 in a
// container), reading its configuration anew. Returns only by exiting 2 when exec fails.
[[noreturn]] void reexec(output::Logger& log);

}  // namespace podvisor::runtime
