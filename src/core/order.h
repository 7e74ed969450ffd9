// supervisord's orders over processes: the start order (boot, shutdown), the order of requests
// on many processes (start all, stop all, a group's), and the next processes a shutdown stops.
#pragma once

#include <functional>
#include <vector>

#include "config/spec.h"

namespace podvisor::core {

// Start order: groups by their priority ([group:x] priority, else the program's), then name;
// a group's members in its programs= order, a program's processes by name. Members' own
// priorities do not move them (options.py: process_groups_from_parser, groups.sort()).
bool starts_before(const config::ProgramSpec& a, const config::ProgramSpec& b);

// Request order (rpcinterface.py: _getAllProcesses): groups as in the start order, a group's
// members by their own priority, ties in start order. startAllProcesses, stopAllProcesses,
// signalAllProcesses and a group's start and stop list (and act on) processes in this order.
bool listed_before(const config::ProgramSpec& a, const config::ProgramSpec& b);

// What a shutdown stops next. `stoppable` are the active processes that may stop now. The
// groups with the highest group priority among them stop, and the ones below wait until
// every one of their processes has stopped. They are signalled in supervisord's order: the
// groups last in the start order first, a group's members in reverse request order
// (supervisord.py: ordered_stop_groups_phase_1/2; process.py: stop_all). supervisord also
// waits between groups of the same priority; podvisor does not: N programs at the default
// priority would otherwise take N stop cycles one after the other (1,000 `sleep`s: 0.3 s to
// 1 s here; a few slow ones can pass docker stop's 10 s). Returns indexes into `stoppable`,
// in the order to signal them; empty when there is none.
std::vector<size_t> next_to_stop(const std::vector<const config::ProgramSpec*>& stoppable);

}  // namespace podvisor::core
