#!/usr/bin/env bash
# podvisor's benchmark: podvisor beside supervisord (Debian `supervisor`) and tini, in one
# run, on the same machine. Prints a table and writes bench/RESULTS.md. See bench/README.md.
#
#   bench/run.sh                      build podvisor (release, build-bench/) and run it all
#   PODVISOR=path/to/podvisor bench/run.sh      use that binary instead of building
#
# Knobs (environment): BENCH_REPS (latency repetitions, default 20), BENCH_RELAY_REPS
# (default 3), BENCH_RELAY_BYTES (default 1 GiB), BENCH_IDLE_SECONDS (default 60),
# BENCH_KEEP_LOGS=1 (keep every supervisor's stdout/stderr in bench/out/logs instead of
# sending it to /dev/null), BENCH_RESULTS (where to write the report, default
# bench/RESULTS.md), BENCH_SCALE=0 (skip bench/scale.sh, the many-programs run that ends it;
# its own knobs are in that file).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

reps=${BENCH_REPS:-20}
relay_reps=${BENCH_RELAY_REPS:-3}
relay_bytes=${BENCH_RELAY_BYTES:-1073741824}
idle_seconds=${BENCH_IDLE_SECONDS:-60}
keep_logs=${BENCH_KEEP_LOGS:-0}
results=${BENCH_RESULTS:-$root/bench/RESULTS.md}
settle_ms=1200        # child up this long before RSS is read and SIGTERM is sent (> startsecs)
crash_after_ms=50     # the crashing child stays up this long first
for n in "$reps" "$relay_reps" "$relay_bytes" "$idle_seconds"; do
  [[ $n =~ ^[0-9]+$ && $n -gt 0 ]] || { echo "bench: bad number: $n" >&2; exit 2; }
done

# ---- dependencies, podvisor and the timing helper -----------------------------------------
source bench/lib.sh
bench_need supervisord:supervisor tini:tini cc:gcc /usr/lib/x86_64-linux-gnu/libc.a:libc6-dev
bench_podvisor
bench_stamp
supervisord=$(command -v supervisord)
tini=$(command -v tini)

# ---- work directory (bench/out is git-ignored) -------------------------------------------
out=$root/bench/out
rm -rf "$out"
mkdir -p "$out/samples" "$out/logs" "$out/run"
run=$out/run
bg_pids=()
stop_background() {
  local pid
  for pid in "${bg_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${bg_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  bg_pids=()
}
trap 'stop_background; exit 130' INT TERM
trap 'stop_background' EXIT

# supervisord.conf as MHCS generates it: logs to /dev/stdout, no rotation, autorestart.
write_supervisord_conf() {  # FILE STARTSECS CHILD-ARGS...
  local file=$1 startsecs=$2; shift 2
  {
    echo "[supervisord]"
    echo "nodaemon=true"
    echo "logfile=/dev/stdout"
    echo "logfile_maxbytes=0"
    echo "pidfile=$run/supervisord.pid"
    echo
    echo "[program:app]"
    echo "command=$*"
    echo "stdout_logfile=/dev/stdout"
    echo "stdout_logfile_maxbytes=0"
    echo "stderr_logfile=/dev/stderr"
    echo "stderr_logfile_maxbytes=0"
    echo "autorestart=true"
    if [[ -n $startsecs ]]; then echo "startsecs=$startsecs"; fi
  } >"$file"
}

# The command line that runs SUPERVISOR on a stamp child with CHILD-ARGS, in the array cmd.
make_command() {  # SUPERVISOR CASE CHILD-ARGS...
  local sup=$1 case=$2; shift 2
  local fifo=$run/fifo.$sup
  case $sup in
    podvisor)
      cmd=("$podvisor" -- "$stamp" child "$fifo" "$@")
      if [[ $case == restart ]]; then
        cmd=(env SUPERVISOR_PROGRAM__APP_STARTSECS=0 "${cmd[@]}")
      fi
      ;;
    supervisord)
      local startsecs=""
      if [[ $case == restart ]]; then startsecs=0; fi
      write_supervisord_conf "$run/supervisord.$case.conf" "$startsecs" "$stamp" child "$fifo" "$@"
      cmd=("$supervisord" -c "$run/supervisord.$case.conf")
      ;;
    tini) cmd=("$tini" -s -- "$stamp" child "$fifo" "$@") ;;
    cat) cmd=(sh -c "'$stamp' child '$fifo' $* | cat") ;;
    direct) cmd=("$stamp" child "$fifo" "$@") ;;  # no supervisor: the floor of fork + exec
  esac
}

# Runs one measurement; appends each key's value to $out/samples/KEY.SUPERVISOR.
measure() {  # SUPERVISOR CASE REP HARNESS-OPTIONS... -- CHILD-ARGS...
  local sup=$1 case=$2 rep=$3; shift 3
  local opts=() log=/dev/null
  while [[ $1 != -- ]]; do opts+=("$1"); shift; done
  shift
  make_command "$sup" "$case" "$@"
  if [[ $keep_logs == 1 ]]; then log=$out/logs/$case.$sup.$rep.log; fi
  local result
  result=$("$stamp" run --fifo "$run/fifo.$sup" --log "$log" "${opts[@]}" -- "${cmd[@]}") || true
  echo "$result" >"$out/logs/$case.$sup.$rep.result"
  if grep -q '^error=' <<<"$result"; then
    echo "bench: $case/$sup #$rep failed: $(grep '^error=' <<<"$result")" >&2
    echo "$case.$sup.$rep" >>"$out/failures"
    return 0
  fi
  local line
  while IFS='=' read -r key value; do
    [[ $key =~ ^[a-z_]+$ && $value =~ ^-?[0-9]+$ ]] || continue
    mkdir -p "$out/samples/$case"
    echo "$value" >>"$out/samples/$case/$key.$sup"
  done <<<"$result"
}

progress() { printf '\r\033[K%s' "$*" >&2; }

start_time=$(date +%s)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
# ---- 1, 3, 4: start to exec, RSS, SIGTERM to exit ----------------------------------------
for ((r = 1; r <= reps; r++)); do
  for sup in podvisor supervisord tini; do
    progress "start / RSS / SIGTERM: run $r of $reps, $sup"
    measure "$sup" lifecycle "$r" --rss --settle-ms "$settle_ms" --term --timeout-ms 30000 --
  done
done
# For scale: the harness starting the child itself, without a supervisor.
for ((r = 1; r <= reps; r++)); do
  progress "exec floor: run $r of $reps"
  measure direct floor "$r" --
done
# ---- 2: first restart after a crash ------------------------------------------------------
for ((r = 1; r <= reps; r++)); do
  for sup in podvisor supervisord; do
    progress "first restart: run $r of $reps, $sup"
    rm -f "$run/crashed.$sup"
    measure "$sup" restart "$r" --restart --timeout-ms 30000 -- \
      --crash-after-ms "$crash_after_ms" --once "$run/crashed.$sup"
  done
done
# ---- 6: relay throughput -----------------------------------------------------------------
for ((r = 1; r <= relay_reps; r++)); do
  for sup in cat podvisor supervisord; do
    progress "relay $relay_bytes bytes: run $r of $relay_reps, $sup"
    rm -f "$run/produced.$sup"
    measure "$sup" relay "$r" --relay --timeout-ms 600000 -- \
      --produce "$relay_bytes" --once "$run/produced.$sup"
  done
done
# ---- 5: idle wake-ups, the three side by side --------------------------------------------
progress "idle wake-ups: ${idle_seconds} s, podvisor, supervisord and tini side by side"
for sup in podvisor supervisord tini; do
  measure "$sup" idle 1 --settle-ms 2000 --idle-seconds "$idle_seconds" --rss \
    --timeout-ms 30000 -- &
  bg_pids+=($!)
done
for pid in "${bg_pids[@]}"; do wait "$pid" || true; done
bg_pids=()
progress ""
elapsed=$(($(date +%s) - start_time))
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- figures -----------------------------------------------------------------------------
samples() { if [[ -s $out/samples/$1.$2 ]]; then cat "$out/samples/$1.$2"; fi; }  # CASE/KEY SUP
# min median max count of a sample file; empty when there is none.
stats() {  # KEY SUP
  samples "$1" "$2" | sort -n | awk '{ v[NR] = $1 } END {
    if (NR == 0) exit
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "%s %s %s %d\n", v[1], m, v[NR], NR }'
}
median() { stats "$1" "$2" | awk '{ print $2 }'; }
# Relay throughput in MiB/s per run, as its own sample file.
for sup in cat podvisor supervisord; do
  if [[ -s $out/samples/relay/relay_ns.$sup ]]; then
    paste "$out/samples/relay/relay_bytes.$sup" "$out/samples/relay/relay_ns.$sup" |
      awk '{ printf "%.1f\n", $1 / 1048576 / ($2 / 1e9) }' >"$out/samples/relay/relay_mibs.$sup"
  fi
done

ms() { awk -v ns="$1" 'BEGIN {
  v = ns / 1e6
  if (v < 10) printf "%.2f ms", v; else if (v < 100) printf "%.1f ms", v; else printf "%.0f ms", v }'; }
mib() { awk -v kb="$1" 'BEGIN { printf "%.2f MiB", kb / 1024 }'; }
ratio() {  # A B -> A/B as a percentage
  awk -v a="$1" -v b="$2" 'BEGIN {
    if (a == "" || b == "") { print "n/a"; exit }
    if (b == 0) { print (a == 0 ? "n/a (0/0)" : "n/a (/0)"); exit }
    r = 100 * a / b
    if (r == 0) print "0%"; else if (r < 1) printf "%.2f%%\n", r; else if (r < 10) printf "%.1f%%\n", r; else printf "%.0f%%\n", r }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && a + 0 <= b + 0) }'; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && b != "" && a + 0 < b + 0) }'; }
fig() {  # KEY SUP FORMATTER -> "figure" or "error"
  local m
  m=$(median "$1" "$2")
  if [[ -z $m ]]; then echo "error (no sample)"; else "$3" "$m"; fi
}
verdict() { if "$@"; then echo "met"; else echo "**missed**"; fi; }

ps_=$(median lifecycle/start_ns podvisor); ss_=$(median lifecycle/start_ns supervisord); ts_=$(median lifecycle/start_ns tini)
pr_=$(median restart/restart_ns podvisor); sr_=$(median restart/restart_ns supervisord)
pt_=$(median lifecycle/term_ns podvisor); st_=$(median lifecycle/term_ns supervisord); tt_=$(median lifecycle/term_ns tini)
pm_=$(median lifecycle/rss_kb podvisor); sm_=$(median lifecycle/rss_kb supervisord); tm_=$(median lifecycle/rss_kb tini)
pw_=$(median idle/wakeups podvisor); sw_=$(median idle/wakeups supervisord); tw_=$(median idle/wakeups tini)
cx_=$(median relay/relay_mibs cat); px_=$(median relay/relay_mibs podvisor); sx_=$(median relay/relay_mibs supervisord)

pct_of_cat() {
  if [[ -n $1 && -n $cx_ ]]; then awk -v a="$1" -v c="$cx_" 'BEGIN { printf "%.0f", 100 * a / c }'; fi
}
relay_fig() { [[ -z $1 ]] && { echo "error (no sample)"; return; }; echo "$1 MiB/s ($(pct_of_cat "$1")% of cat)"; }

start_ok=$(verdict le "$ps_" 5000000); start_spec=$(verdict lt "$ps_" "$(awk -v s="$ss_" 'BEGIN { print s / 100 }')")
restart_ok=$(verdict le "$pr_" 5000000); restart_spec=$(verdict lt "$pr_" "$(awk -v s="$sr_" 'BEGIN { print s / 100 }')")
term_ok=$(verdict le "$pt_" 10000000)
rss_ok=$(verdict le "$pm_" 3072); rss_spec=$(verdict lt "$pm_" "$(awk -v s="$sm_" 'BEGIN { print s / 10 }')")
wake_ok=$(verdict le "$pw_" 0)
relay_ok=$(verdict le 95 "$(pct_of_cat "$px_")")

machine_cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
machine="$(nproc) CPUs, ${machine_cpu:-unknown CPU}, Linux $(uname -r)"
[[ -r /etc/debian_version ]] && machine+=", Debian $(cat /etc/debian_version)"
git_rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -n $(git -C "$root" status --porcelain -- src CMakeLists.txt 2>/dev/null) ]] && git_rev+=" + uncommitted changes"
podvisor_version=$("$podvisor" --version 2>&1 | head -1)
supervisord_version=$("$supervisord" --version 2>&1 | head -1)
tini_version=$("$tini" --version 2>&1 | head -1)
failures=0
[[ -s $out/failures ]] && failures=$(wc -l <"$out/failures")

detail_row() {  # LABEL KEY FORMATTER SUP...
  local label=$1 key=$2 f=$3; shift 3
  local sup line
  for sup in "$@"; do
    line=$(stats "$key" "$sup")
    if [[ -z $line ]]; then
      echo "| $label | $sup | — | — | — | 0 |"
    else
      read -r lo mid hi n <<<"$line"
      echo "| $label | $sup | $("$f" "$lo") | $("$f" "$mid") | $("$f" "$hi") | $n |"
    fi
  done
}
plain() { echo "$1"; }
kb() { echo "$1 kB"; }

report() {
  cat <<EOF
# podvisor benchmark results

- Date: $(date -u '+%Y-%m-%d %H:%M UTC')
- Machine: $machine
- podvisor: $podvisor_version (commit $git_rev), $podvisor
- supervisord: $supervisord_version ($supervisord), config as MHCS generates it (logs to /dev/stdout, autorestart=true)
- tini: $tini_version ($tini), run as \`tini -s --\`
- Load average (1, 5, 15 min) at the start: $load_before; at the end: $load_after. Anything else running on the machine shows in the spread below.
- Repetitions: $reps per latency, $relay_reps for the relay ($relay_bytes bytes), one ${idle_seconds} s idle window (the three side by side); figures are medians. Failed runs: $failures. Total time: ${elapsed} s.
- Produced by \`bench/run.sh\`; what each figure means and how it is taken: \`bench/README.md\`.

| Metric | Target | podvisor | supervisord | tini | podvisor / supervisord | podvisor / tini | Target |
|---|---|---|---|---|---|---|---|
| Start → child exec | ≤ 5 ms; SPEC §8: < 1% of supervisord | $(fig lifecycle/start_ns podvisor ms) | $(fig lifecycle/start_ns supervisord ms) | $(fig lifecycle/start_ns tini ms) | $(ratio "$ps_" "$ss_") | $(ratio "$ps_" "$ts_") | ≤ 5 ms: $start_ok; < 1%: $start_spec |
| First restart after a crash (crash → next exec) | ≤ 5 ms; SPEC §8: < 1% of supervisord | $(fig restart/restart_ns podvisor ms) | $(fig restart/restart_ns supervisord ms) | n/a: tini cannot restart (it exits with its child) | $(ratio "$pr_" "$sr_") | n/a | ≤ 5 ms: $restart_ok; < 1%: $restart_spec |
| SIGTERM → supervisor exit | ≤ 10 ms | $(fig lifecycle/term_ns podvisor ms) | $(fig lifecycle/term_ns supervisord ms) | $(fig lifecycle/term_ns tini ms) | $(ratio "$pt_" "$st_") | $(ratio "$pt_" "$tt_") | $term_ok |
| RSS idle, one child (VmRSS) | ≤ 3 MiB; SPEC §8: < 1/10 of supervisord | $(fig lifecycle/rss_kb podvisor mib) | $(fig lifecycle/rss_kb supervisord mib) | $(fig lifecycle/rss_kb tini mib) | $(ratio "$pm_" "$sm_") | $(ratio "$pm_" "$tm_") | ≤ 3 MiB: $rss_ok; < 1/10: $rss_spec |
| Wake-ups in ${idle_seconds} s idle (context switches) | 0 | $(fig idle/wakeups podvisor plain) | $(fig idle/wakeups supervisord plain) | $(fig idle/wakeups tini plain) | $(ratio "$pw_" "$sw_") | $(ratio "$pw_" "$tw_") | $wake_ok |
| Relay throughput, $(awk -v b="$relay_bytes" 'BEGIN { printf "%g MiB", b / 1048576 }') to /dev/null | ≥ 95% of \`cat\` ($(relay_fig "$cx_" | sed 's/ (.*//')) | $(relay_fig "$px_") | $(relay_fig "$sx_") | n/a: tini does not relay (the child writes straight to tini's stdout) | $(ratio "$px_" "$sx_") | n/a | $relay_ok |

Ratios are podvisor's figure over the other's (below 100% is better for times, memory and
wake-ups; above 100% is better for throughput). For scale: when the harness execs the child
itself, with no supervisor between, execve to the child's \`main()\` takes
$(fig floor/start_ns direct ms) (median of $reps); a start figure holds the supervisor's own
exec and start-up, a fork and that exec; a restart figure holds the crash's exit and reap, a fork
and that exec.

## Spread

| Metric | Supervisor | min | median | max | runs |
|---|---|---|---|---|---|
$(detail_row "start → exec" lifecycle/start_ns ms podvisor supervisord tini)
$(detail_row "exec alone (no supervisor)" floor/start_ns ms direct)
$(detail_row "first restart" restart/restart_ns ms podvisor supervisord)
$(detail_row "SIGTERM → exit" lifecycle/term_ns ms podvisor supervisord tini)
$(detail_row "RSS ${settle_ms} ms after exec" lifecycle/rss_kb kb podvisor supervisord tini)
$(detail_row "RSS after the idle window" idle/rss_after_idle_kb kb podvisor supervisord tini)
$(detail_row "wake-ups in ${idle_seconds} s" idle/wakeups plain podvisor supervisord tini)
$(detail_row "relay MiB/s" relay/relay_mibs plain cat podvisor supervisord)
$(detail_row "processes left after exit (SIGTERM runs)" lifecycle/leftover plain podvisor supervisord tini)
EOF
}

report >"$results"
# ---- many programs from one file: appends the Scale section to the report -----------------
if [[ ${BENCH_SCALE:-1} == 1 ]]; then
  PODVISOR=$podvisor BENCH_RESULTS=$results BENCH_SCALE_QUIET=1 bash bench/scale.sh
fi
echo
cat "$results"
echo
echo "bench: wrote $results (raw samples in bench/out/samples and bench/out/scale/samples)"
