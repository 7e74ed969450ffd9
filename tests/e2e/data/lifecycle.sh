#!/bin/sh
# A long-running program for the supervisord.conf tests: lifecycle.sh NAME FILE [STOP_DELAY]
# appends "start NAME" to FILE once it is ready for SIGTERM. On SIGTERM it exits 0 after
# appending "stop NAME"; with a STOP_DELAY (seconds) it first appends "stopping NAME" and
# waits that long. So FILE records the order in which programs started and stopped, and a
# delay shows whether the next one waited for it.
name=$1
file=$2
delay=${3:-0}
trap 'kill "$child" 2>/dev/null
if [ "$delay" != 0 ]; then
  echo "stopping $name" >> "$file"
  sleep "$delay"
fi
echo "stop $name" >> "$file"
exit 0' TERM
sleep 1000 &
child=$!
echo "start $name" >> "$file"
wait "$child"
