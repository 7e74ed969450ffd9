// The shutdown's order over processes, by supervisord's start order (config/order.h).
#pragma once

#include <vector>

#include "config/order.h"
#include "config/spec.h"

namespace podvisor::core {

using config::listed_before;
using config::starts_before;

// What a shutdown stops next. `stoppable` are the active processes that may stop now. The
// groups with the highest group priority among them stop, and the ones below wait until
// every one of their processes has stopped. They are signalled in supervisord's order: the
// groups last in the start order first, a group's members in reverse request order
// (supervisord.py: ordered_stop_groups_phase_1/2; process.py: stop_all). supervisord also
// waits between groups of the same priority; podvisor does not: N programs at the default
// priority would otherwise take N stop cycles one after the other (1,000 `sleep`s: 0.3 s to
// 1 s here; a few slow ones can pass docker stop's 10 s). `stopping[i]`: stoppable[i] is
// already stopping (it still holds its level back). Returns indexes into `stoppable` of the
// level's processes not yet stopping, in the order to signal them; empty when there is none.
std::vector<size_t> next_to_stop(const std::vector<const config::ProgramSpec*>& stoppable,
                                 const std::vector<bool>& stopping);

}  // namespace podvisor::core
