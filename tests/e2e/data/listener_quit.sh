#!/bin/bash
# A quit-on-failure listener as images write them (tiangolo's uwsgi-nginx and its copies):
# when the program named $1 exits or fails, it asks the supervisor to quit (SIGQUIT).
# Other events are acknowledged.
printf "READY\n"
while read -r line; do
  echo "Processing Event: $line" >&2
  len=${line##*len:}
  payload=""
  [ "$len" -gt 0 ] && read -r -N "$len" payload
  case "$payload" in
    *"processname:$1 "*) kill -3 "$PPID" ;;
  esac
  printf "RESULT 2\nOKREADY\n"
done < /dev/stdin
