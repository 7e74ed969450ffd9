#!/bin/sh
# e2e helper, run by podvisor as PID 1 of a new PID namespace: makes N orphans (re-parented to
# PID 1) that exit at once, then waits (bounded: 10 s in 20 ms steps) until no process but
# PID 1 and this script is left, zombies included. Exit 0 when clean, 1 otherwise.
n=${1:-100}
i=0
while [ "$i" -lt "$n" ]; do
  ( sleep 0.1 & )
  i=$((i + 1))
done
echo "started $n orphans"

tries=0
while [ "$tries" -lt 500 ]; do
  zombies=0
  others=""
  for stat in /proc/[0-9]*/stat; do
    { read -r line < "$stat"; } 2>/dev/null || continue
    # pid (comm) state ...: no comm here holds a space.
    set -- $line
    [ "$1" = 1 ] || [ "$1" = $$ ] && continue
    [ "$3" = Z ] && zombies=$((zombies + 1))
    others="$others $1:$2:$3"
  done
  if [ -z "$others" ]; then
    echo "clean after $tries polls"
    exit 0
  fi
  tries=$((tries + 1))
  sleep 0.02
done
echo "not clean: $zombies zombie(s); left:$others"
exit 1
