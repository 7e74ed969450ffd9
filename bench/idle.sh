#!/usr/bin/env bash
# The long idle window: how often an idle supervisor wakes up with its control servers on.
# podvisor (config mode, unix socket + TCP control server, one sleeping program; and
# single-command mode with its default socket) beside supervisord (same file), all started
# at once and left alone for BENCH_IDLE_LONG_SECONDS (default 1800, the issue-14 target
# window). Wake-ups are context switches of the supervisor process, summed over its threads,
# between the end of a settle period and the end of the window. Prints a table row per
# supervisor; appends nothing to RESULTS.md by itself (copy the table there).
#
#   PODVISOR=build/podvisor bench/idle.sh          BENCH_IDLE_LONG_SECONDS=60 for a quick run
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
seconds=${BENCH_IDLE_LONG_SECONDS:-1800}
settle_s=3
[[ $seconds =~ ^[0-9]+$ && $seconds -gt 0 ]] || { echo "idle: bad number: $seconds" >&2; exit 2; }

source bench/lib.sh
bench_need supervisord:supervisor
supervisord=$(command -v supervisord)
bench_podvisor

work=$root/bench/out/idle
rm -rf "$work"
mkdir -p "$work"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

# One file for both config-mode supervisors; ports picked free by the kernel are not
# portable to supervisord, so take two fixed high ports and check they are free.
write_conf() {  # FILE SOCKET PORT
  cat >"$1" <<EOF
[supervisord]
nodaemon=true
logfile=/dev/null
pidfile=$work/$(basename "$1").pid
[unix_http_server]
file=$2
[inet_http_server]
port=127.0.0.1:$3
[supervisorctl]
serverurl=unix://$2
[program:sleeper]
command=sleep 100000
stdout_logfile=/dev/null
stderr_logfile=/dev/null
EOF
}
write_conf "$work/podvisor.conf" "$work/podvisor.sock" 39311
write_conf "$work/supervisord.conf" "$work/supervisord.sock" 39312

wakeups() {  # PID: voluntary + involuntary context switches over all its threads
  local sum=0 t v
  for t in /proc/"$1"/task/*/status; do
    v=$(awk '/ctxt_switches/ { s += $2 } END { print s + 0 }' "$t" 2>/dev/null || echo 0)
    sum=$((sum + v))
  done
  echo "$sum"
}

"$podvisor" -c "$work/podvisor.conf" </dev/null >"$work/podvisor-config.log" 2>&1 &
pids+=($!)
SUPERVISOR_UNIX_HTTP_SERVER_FILE="$work/single.sock" "$podvisor" -- sleep 100000 </dev/null \
  >"$work/podvisor-single.log" 2>&1 &
pids+=($!)
"$supervisord" -c "$work/supervisord.conf" </dev/null >"$work/supervisord.log" 2>&1 &
pids+=($!)
names=("podvisor (config mode, unix + TCP control)" "podvisor (single-command mode)" "supervisord (same file)")

sleep "$settle_s"
before=()
for p in "${pids[@]}"; do
  kill -0 "$p" || { echo "idle: a supervisor exited during settle; see $work/*.log" >&2; exit 1; }
  before+=("$(wakeups "$p")")
done
echo "idle: ${seconds} s window started $(date -u +%H:%M:%S) UTC"
sleep "$seconds"
echo "| Supervisor | Wake-ups in ${seconds} s idle | Target |"
echo "|---|---|---|"
for i in "${!pids[@]}"; do
  after=$(wakeups "${pids[$i]}")
  target="n/a"
  [[ ${names[$i]} == podvisor* ]] && target=0
  echo "| ${names[$i]} | $((after - before[i])) | $target |"
done
