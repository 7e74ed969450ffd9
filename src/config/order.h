// supervisord's orders over programs: the start order of its groups and their members, and the
// order of requests on many processes. The loader keeps `SupervisorSpec::programs` in the
// start order; core/order.h adds the shutdown's.
#pragma once

#include "config/spec.h"

namespace podvisor::config {

// Start order: groups by their priority ([group:x] priority, else the program's), then name;
// a group's members in its programs= order, a program's processes by name. Members' own
// priorities do not move them (options.py: process_groups_from_parser, groups.sort()).
bool starts_before(const ProgramSpec& a, const ProgramSpec& b);

// Request order (rpcinterface.py: _getAllProcesses): groups as in the start order, a group's
// members by their own priority, ties in start order. startAllProcesses, stopAllProcesses,
// signalAllProcesses and a group's start and stop list (and act on) processes in this order.
bool listed_before(const ProgramSpec& a, const ProgramSpec& b);

// The priority that places p's group: [group:x] priority, else p's own.
inline int group_priority(const ProgramSpec& p) { return p.group_priority.value_or(p.priority); }

}  // namespace podvisor::config
