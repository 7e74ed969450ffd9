#!/bin/sh
# e2e helper: starts two grandchildren that a SIGTERM to this command's process group does not
# end: one in its own session (setsid), one that ignores SIGTERM. Each prints 'pid N KIND'
# once it is set up; the test waits for both lines, then stops podvisor.
setsid sh -c 'echo "pid $$ setsid"; exec sleep 1000' &
sh -c 'trap "" TERM; echo "pid $$ ignores-term"; exec sleep 1000' &
echo ready
wait
