#!/usr/bin/env bash
# Readiness benchmark (issue 4, seed 004): the time from a backend becoming ready to the exec
# of the program that depends on it, under podvisor (ready=http + depends_on), under the
# seed's bash loop (wget --spider every second, under tini) and under supervisord (no gate).
# Prints a table and writes bench/out/ready/RESULTS.md. See bench/README.md.
#
#   bench/ready.sh                    build podvisor (release, build-bench/) and run
#   PODVISOR=path/to/podvisor bench/ready.sh      use that binary instead of building
#
# Knobs (environment): BENCH_READY_REPS (runs per setup, default 20), BENCH_READY_DELAY
# (seconds the backend loads before it listens, default 2), BENCH_READY_PORT (default: a
# free port), BENCH_READY_CPU_SECONDS (how long podvisor's probe CPU is measured against a
# port that refuses, default 10), BENCH_KEEP_LOGS=1 (keep every supervisor's output in
# bench/out/ready/logs).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

reps=${BENCH_READY_REPS:-20}
delay=${BENCH_READY_DELAY:-2}
keep_logs=${BENCH_KEEP_LOGS:-0}
cpu_seconds=${BENCH_READY_CPU_SECONDS:-10}
[[ $cpu_seconds =~ ^[0-9]+$ && $cpu_seconds -gt 0 ]] || { echo "bench: bad BENCH_READY_CPU_SECONDS: $cpu_seconds" >&2; exit 2; }
[[ $reps =~ ^[0-9]+$ && $reps -gt 0 ]] || { echo "bench: bad BENCH_READY_REPS: $reps" >&2; exit 2; }
[[ $delay =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "bench: bad BENCH_READY_DELAY: $delay" >&2; exit 2; }

# ---- dependencies, podvisor and the timing helper -----------------------------------------
source bench/lib.sh
bench_need supervisord:supervisor tini:tini wget:wget python3:python3 cc:gcc /usr/lib/x86_64-linux-gnu/libc.a:libc6-dev
bench_podvisor
bench_stamp
supervisord=$(command -v supervisord)
tini=$(command -v tini)
python=$(command -v python3)
wget=$(command -v wget)
standin=$root/examples/comfyui-standin.py

# ---- work directory (bench/out is git-ignored) -------------------------------------------
out=$root/bench/out/ready
rm -rf "$out"
mkdir -p "$out/samples" "$out/logs" "$out/run"
run=$out/run
fifo=$run/fifo
port=${BENCH_READY_PORT:-$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
url=http://127.0.0.1:$port/system_stats
backend=("$python" "$standin" --port "$port" --delay "$delay" --ready-fifo "$fifo")

# podvisor: the backend gated by ready=http (default, adaptive interval), the dependent by
# depends_on. QUIET: the backend prints nothing at all (no output hint).
write_podvisor_conf() {  # FILE QUIET
  local quiet=""
  [[ $2 == 1 ]] && quiet=" --quiet"
  cat >"$1" <<EOF
[supervisord]
logfile=/dev/null

[program:backend]
command=${backend[*]}$quiet
ready=$url
stdout_logfile=/dev/stdout
stdout_logfile_maxbytes=0
stderr_logfile=/dev/stderr
stderr_logfile_maxbytes=0

[program:handler]
command=$stamp child $fifo
depends_on=backend
EOF
}

# supervisord as MHCS generates it: both programs start at once; it has no gate.
write_supervisord_conf() {  # FILE
  cat >"$1" <<EOF
[supervisord]
nodaemon=true
logfile=/dev/stdout
logfile_maxbytes=0
pidfile=$run/supervisord.pid

[program:backend]
command=${backend[*]}
stdout_logfile=/dev/stdout
stdout_logfile_maxbytes=0
stderr_logfile=/dev/stderr
stderr_logfile_maxbytes=0
autorestart=true

[program:handler]
command=$stamp child $fifo
stdout_logfile=/dev/stdout
stdout_logfile_maxbytes=0
stderr_logfile=/dev/stderr
stderr_logfile_maxbytes=0
autorestart=true
EOF
}
write_podvisor_conf "$run/podvisor.conf" 0
write_podvisor_conf "$run/podvisor-quiet.conf" 1
write_supervisord_conf "$run/supervisord.conf"

# The seed's start.sh, reduced: the backend in the background, a wget loop, then exec.
seed_script="'$python' '$standin' --port $port --delay $delay --ready-fifo '$fifo' &
until '$wget' -q --spider '$url'; do sleep 1; done
exec '$stamp' child '$fifo'"

# The command line of SETUP, in the array cmd; settle: how long stamp run keeps reading
# events after the dependent's exec (supervisord starts it before the backend is ready).
make_command() {  # SETUP
  settle_ms=300
  case $1 in
    podvisor) cmd=("$podvisor" -c "$run/podvisor.conf") ;;
    podvisor-quiet) cmd=("$podvisor" -c "$run/podvisor-quiet.conf") ;;
    seed-loop) cmd=("$tini" -s -- sh -c "$seed_script") ;;
    supervisord)
      cmd=("$supervisord" -c "$run/supervisord.conf")
      settle_ms=$(awk -v d="$delay" 'BEGIN { printf "%d", d * 1000 + 2000 }')
      ;;
  esac
}

# One run; appends the figures to $out/samples/KEY.SETUP.
measure() {  # SETUP REP
  local setup=$1 rep=$2 log=/dev/null result
  make_command "$setup"
  if [[ $keep_logs == 1 ]]; then log=$out/logs/$setup.$rep.log; fi
  result=$("$stamp" run --fifo "$fifo" --log "$log" --settle-ms "$settle_ms" --verbose \
    --timeout-ms 60000 -- "${cmd[@]}") || true
  echo "$result" >"$out/logs/$setup.$rep.result"
  if grep -q '^error=' <<<"$result"; then
    echo "bench: $setup #$rep failed: $(grep '^error=' <<<"$result")" >&2
    echo "$setup.$rep" >>"$out/failures"
    return 0
  fi
  local start ready exec_ns leftover
  start=$(sed -n 's/^start_ns=//p' <<<"$result")
  ready=$(awk -F'[ =]' '$2 == "ready" { print $6; exit }' <<<"$result")
  exec_ns=$(awk -F'[ =]' '$2 == "exec" { print $6; exit }' <<<"$result")
  leftover=$(sed -n 's/^leftover=//p' <<<"$result")
  if [[ -z $ready || -z $exec_ns ]]; then
    echo "bench: $setup #$rep: no ready event within ${settle_ms} ms of the dependent's exec" >&2
    echo "$setup.$rep" >>"$out/failures"
    return 0
  fi
  echo $((exec_ns - ready)) >>"$out/samples/latency_ns.$setup"
  # supervisor exec -> backend ready: the first exec is at start_ns after the supervisor's.
  echo $((ready - (exec_ns - start))) >>"$out/samples/ready_ns.$setup"
  echo "${leftover:-0}" >>"$out/samples/leftover.$setup"
}

progress() { printf '\r\033[K%s' "$*" >&2; }

setups=(podvisor podvisor-quiet seed-loop supervisord)
start_time=$(date +%s)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for ((r = 1; r <= reps; r++)); do
  for setup in "${setups[@]}"; do
    progress "ready → dependent: run $r of $reps, $setup"
    measure "$setup" "$r"
  done
done
progress ""

# Probe CPU while nothing listens (issue 14: the fast pace on refused connections must stay
# cheap): podvisor probes tcp://127.0.0.1:PORT, where nobody listens, for cpu_seconds; the
# figure is its CPU time over that window (/proc/PID/schedstat, ns) as a share of one core.
cpu_ns() { awk '{ print $1 }' "/proc/$1/schedstat"; }
measure_probe_cpu() {
  cat >"$run/podvisor-cpu.conf" <<EOF
[supervisord]
logfile=/dev/null

[program:backend]
command=sleep 3600
ready=tcp://127.0.0.1:$port
EOF
  progress "probe CPU: ${cpu_seconds} s against a refusing port"
  setsid "$podvisor" -c "$run/podvisor-cpu.conf" </dev/null >/dev/null 2>&1 &
  local pid=$! t0 c0 t1 c1
  sleep 1
  t0=$(date +%s%N) c0=$(cpu_ns "$pid")
  sleep "$cpu_seconds"
  t1=$(date +%s%N) c1=$(cpu_ns "$pid")
  kill -TERM "$pid" && wait "$pid" || true
  probe_cpu=$(awk -v c=$((c1 - c0)) -v t=$((t1 - t0)) 'BEGIN { printf "%.2f", 100 * c / t }')
}
measure_probe_cpu
progress ""
elapsed=$(($(date +%s) - start_time))
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- figures -----------------------------------------------------------------------------
stats() {  # KEY SETUP -> min median max count
  [[ -s $out/samples/$1.$2 ]] || return 0
  sort -n "$out/samples/$1.$2" | awk '{ v[NR] = $1 } END {
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "%s %s %s %d\n", v[1], m, v[NR], NR }'
}
median() { stats "$1" "$2" | awk '{ print $2 }'; }
ms() { awk -v ns="$1" 'BEGIN {
  v = ns / 1e6; a = v < 0 ? -v : v
  if (a < 10) printf "%.2f ms", v; else if (a < 100) printf "%.1f ms", v; else printf "%.0f ms", v }'; }
ratio() {  # A B -> A/B as a percentage
  awk -v a="$1" -v b="$2" 'BEGIN {
    if (a == "" || b == "" || b <= 0 || a < 0) { print "n/a"; exit }
    r = 100 * a / b
    if (r < 1) printf "%.2f%%\n", r; else if (r < 10) printf "%.1f%%\n", r; else printf "%.0f%%\n", r }'; }

pl=$(median latency_ns podvisor)
ql=$(median latency_ns podvisor-quiet)
bl=$(median latency_ns seed-loop)
sl=$(median latency_ns supervisord)
within_50ms() {  # LATENCY_NS -> met / **missed**
  if [[ -n $1 ]] && awk -v a="$1" 'BEGIN { exit !(a >= 0 && a <= 50e6) }'; then echo met; else echo "**missed**"; fi
}
target_ok=$(within_50ms "$pl")
quiet_ok=$(within_50ms "$ql")
cpu_ok="**missed**"
awk -v c="$probe_cpu" 'BEGIN { exit !(c < 1) }' && cpu_ok="met"
figure() { if [[ -z $1 ]]; then echo "error (no sample)"; else ms "$1"; fi; }
sup_figure() {
  if [[ -z $sl ]]; then
    echo "error (no sample)"
  elif awk -v a="$sl" 'BEGIN { exit !(a < 0) }'; then
    echo "$(ms "$sl") (started at once, before the backend was ready: no gate)"
  else
    ms "$sl"
  fi
}
failures=0
[[ -s $out/failures ]] && failures=$(wc -l <"$out/failures")
machine_cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
machine="$(nproc) CPUs, ${machine_cpu:-unknown CPU}, Linux $(uname -r)"
[[ -r /etc/debian_version ]] && machine+=", Debian $(cat /etc/debian_version)"
git_rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)

detail_row() {  # LABEL KEY SETUP
  local line lo mid hi n
  line=$(stats "$2" "$3")
  if [[ -z $line ]]; then
    echo "| $1 | — | — | — | 0 |"
  else
    read -r lo mid hi n <<<"$line"
    echo "| $1 | $(ms "$lo") | $(ms "$mid") | $(ms "$hi") | $n |"
  fi
}
left() { if [[ -s $out/samples/leftover.$1 ]]; then sort -n "$out/samples/leftover.$1" | tail -1; else echo —; fi; }

report() {
  cat <<EOF
## Readiness: backend ready → dependent exec

- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $machine; load average at the start: $load_before, at the end: $load_after.
- podvisor: $("$podvisor" --version 2>&1 | head -1) (commit $git_rev); supervisord $("$supervisord" --version 2>&1 | head -1); $("$tini" --version 2>&1 | head -1); $("$wget" --version 2>&1 | head -1 | cut -d' ' -f1-3).
- Backend: \`examples/comfyui-standin.py\`, loading ${delay} s before it listens; $reps runs per setup, interleaved; figures are medians. Failed runs: $failures. Total time: ${elapsed} s.
- Produced by \`bench/ready.sh\`; what the figures mean: \`bench/README.md\`.

| Setup | backend ready → dependent exec (median) | podvisor / this | Target ≤ 50 ms |
|---|---|---|---|
| podvisor: \`ready=http://…/system_stats\` (default adaptive interval), \`depends_on\` | $(figure "$pl") | 100% | $target_ok |
| podvisor, the backend silent (no output hint: the fast pace while connections are refused) | $(figure "$ql") | $(ratio "$pl" "$ql") | $quiet_ok |
| seed 004's loop under tini: \`until wget -q --spider URL; do sleep 1; done; exec handler\` | $(figure "$bl") | $(ratio "$pl" "$bl") | |
| supervisord (no gate: both programs start at once) | $(sup_figure) | n/a | |

Negative: the dependent was exec'd before the backend was ready (what seed 004's handler met
as "connection refused").

Probe CPU while connections are refused (podvisor probing a port nobody listens on for
${cpu_seconds} s, its CPU time over the window): ${probe_cpu}% of a core. Target < 1%: $cpu_ok.

| Figure | min | median | max | runs |
|---|---|---|---|---|
$(detail_row "podvisor: ready → exec" latency_ns podvisor)
$(detail_row "podvisor, silent backend: ready → exec" latency_ns podvisor-quiet)
$(detail_row "seed loop: ready → exec" latency_ns seed-loop)
$(detail_row "supervisord: ready → exec" latency_ns supervisord)
$(detail_row "podvisor: supervisor exec → backend ready" ready_ns podvisor)
$(detail_row "seed loop: supervisor exec → backend ready" ready_ns seed-loop)
$(detail_row "supervisord: supervisor exec → backend ready" ready_ns supervisord)

Processes left behind after SIGTERM to the supervisor (most in one run): podvisor $(left podvisor),
silent $(left podvisor-quiet), seed loop $(left seed-loop) (tini's child is the handler; the
backend the script put in the background is not its to stop), supervisord $(left supervisord).
EOF
}

report >"$out/RESULTS.md"
echo
cat "$out/RESULTS.md"
echo
echo "bench: wrote $out/RESULTS.md (raw samples in $out/samples)"
