#!/bin/sh
# ready_stamp.sh FILE [CMD [ARGS...]]: for the readiness tests. Writes the time (CLOCK_REALTIME,
# nanoseconds since the epoch) to FILE, whole (write, then rename), then execs CMD, or exits 0
# without one. As a program's command, its first act: when podvisor started it.
file=$1
shift
date +%s%N > "$file.tmp.$$" && mv "$file.tmp.$$" "$file" || exit 1
[ $# -gt 0 ] && exec "$@"
exit 0
