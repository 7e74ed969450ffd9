#!/bin/sh
# e2e helper: starts three grandchildren that a SIGTERM to this command's process group does
# not end: one in its own session (setsid), one that ignores SIGTERM (podvisor kills what is
# left of the group with SIGKILL), and one in its own session that ignores SIGTERM too (only
# the final SIGKILL after the grace ends it). Each prints 'pid N KIND' once it is set up; the
# test waits for the three lines, then stops podvisor.
setsid sh -c 'echo "pid $$ setsid"; exec sleep 1000' &
sh -c 'trap "" TERM; echo "pid $$ ignores-term"; exec sleep 1000' &
setsid sh -c 'trap "" TERM; echo "pid $$ setsid-ignores-term"; exec sleep 1000' &
echo ready
wait
