#!/usr/bin/env bash
# podvisor's scale benchmark: 100 and 1000 programs from one supervisord.conf, under
# podvisor and under supervisord (Debian `supervisor`), side by side on the same file: the
# time from start until every program is RUNNING, the supervisor's RSS once they are, and
# the time from SIGTERM to its exit. Writes (or replaces) the "Scale" section at the end of
# bench/RESULTS.md. bench/run.sh calls it last; it also runs on its own:
#
#   bench/scale.sh                         build podvisor (release, build-bench/) and run
#   PODVISOR=path/to/podvisor bench/scale.sh      use that binary instead of building
#
# Knobs (environment): BENCH_SCALE_SIZES (default "100 1000"), BENCH_SCALE_REPS (runs per
# size and supervisor, default 3), BENCH_SCALE_LIMIT_S (how long a supervisor gets to bring
# every program up, default 120), BENCH_RESULTS (the report, default bench/RESULTS.md).
# See bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

sizes=${BENCH_SCALE_SIZES:-100 1000}
reps=${BENCH_SCALE_REPS:-3}
limit_s=${BENCH_SCALE_LIMIT_S:-120}
results=${BENCH_RESULTS:-$root/bench/RESULTS.md}
settle_s=1       # all RUNNING, then this long before RSS, children and fds are read
stop_limit_s=120 # SIGTERM to exit, at most
for n in $sizes "$reps" "$limit_s"; do
  [[ $n =~ ^[0-9]+$ && $n -gt 0 ]] || { echo "scale: bad number: $n" >&2; exit 2; }
done

# ---- dependencies and podvisor -------------------------------------------------------------
source bench/lib.sh
bench_need supervisord:supervisor
supervisord=$(command -v supervisord)
bench_podvisor

# Log timestamps are read back as UTC times of day; both supervisors honour TZ.
export TZ=UTC

# Every program holds a few pipe ends in the supervisor (supervisord: stdin, stdout, stderr);
# supervisord refuses to start below minfds, which it sets as its soft limit.
max_n=0
for n in $sizes; do ((n > max_n)) && max_n=$n; done
need_fds=$((4 * max_n + 256))
if (($(ulimit -Hn) < need_fds)); then ulimit -Hn "$need_fds" 2>/dev/null || true; fi
if (($(ulimit -Sn) < need_fds)); then ulimit -Sn "$(($(ulimit -Hn) < need_fds ? $(ulimit -Hn) : need_fds))"; fi

# ---- work directory (bench/out is git-ignored) ---------------------------------------------
work=$root/bench/out/scale
rm -rf "$work"
mkdir -p "$work/logs" "$work/samples"
live_sessions=()
kill_session() {  # SESSION: SIGKILL to every process in it (the supervisor made it, by setsid)
  local pid
  for pid in $(ps -eo pid=,sid= | awk -v s="$1" '$2 == s { print $1 }'); do
    kill -KILL "$pid" 2>/dev/null || true
  done
}
cleanup() {
  local s
  for s in "${live_sessions[@]}"; do kill_session "$s"; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# For scale: the machine's own cost of N spawns, by a bare loop with no supervisor around it,
# fork + setpgid + exec of the same `sleep 3600`, either waiting for each exec to happen
# (a close-on-exec pipe reads end of file, as a supervisor that reports exec failures
# does) or not waiting. It prints the ns from the first fork to the last one done, then
# kills and reaps its children.
sleep_bin=$(command -v sleep)
cat >"$work/spawn_floor.c" <<'EOF_C'
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
extern char** environ;
static long long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000LL + t.tv_nsec;
}
int main(int argc, char** argv) {  // SLEEP N WAIT(0|1)
  if (argc != 4) return 2;
  int n = atoi(argv[2]), wait_exec = atoi(argv[3]);
  pid_t* pids = calloc(n, sizeof *pids);
  char* args[] = {"sleep", "3600", NULL};
  long long t0 = now_ns();
  for (int i = 0; i < n; i++) {
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) return 1;
    pid_t pid = fork();
    if (pid < 0) return 1;
    if (pid == 0) {
      setpgid(0, 0);
      execve(argv[1], args, environ);
      _exit(127);
    }
    pids[i] = pid;
    close(report[1]);
    char c;
    while (wait_exec && read(report[0], &c, 1) > 0) {
    }
    close(report[0]);
  }
  long long t1 = now_ns();
  printf("%lld\n", t1 - t0);
  for (int i = 0; i < n; i++) kill(pids[i], SIGKILL);
  for (int i = 0; i < n; i++) waitpid(pids[i], NULL, 0);
  return 0;
}
EOF_C
cc -O2 -Wall -o "$work/spawn_floor" "$work/spawn_floor.c"

# One supervisord.conf for both, as MHCS writes it, with N programs that sleep.
write_conf() {  # N FILE
  local n=$1 i
  {
    echo "[supervisord]"
    echo "nodaemon=true"
    echo "logfile=/dev/stdout"
    echo "logfile_maxbytes=0"
    echo "pidfile=$work/supervisord.pid"
    echo "minfds=$((4 * n + 256))"
    echo "minprocs=$((n + 256))"
    for ((i = 0; i < n; i++)); do
      printf '\n[program:p%04d]\ncommand=sleep 3600\nstartsecs=0\nautorestart=true\n' "$i"
      printf 'stdout_logfile=NONE\nstderr_logfile=NONE\n'
    done
  } >"$2"
}

now_ns() { date +%s%N; }
# Distinct programs with a given lifecycle line, and the UTC time of day (ms) of the last
# one: "COUNT LAST_MS". supervisord with logfile=/dev/stdout writes each line twice (its
# file handler and its stdout handler), hence distinct names.
progress_of() {  # LOG EVENT(spawned|success)
  awk -v ev="$2:" '
    { for (i = 1; i <= NF; i++) if ($i == ev) break
      if (i > NF) next
      name = $(i + 1); gsub(/\047/, "", name)
      if (!(name in seen)) { seen[name] = 1; n++
        split($2, t, /[:,]/); last = ((t[1] * 60 + t[2]) * 60 + t[3]) * 1000 + t[4] } }
    END { printf "%d %d\n", n, (n ? last : -1) }' "$1"
}
# Milliseconds from T0_NS (wall clock, ns) to a UTC time of day in ms, across midnight.
since_ms() {  # T0_NS TOD_MS
  awk -v t0="$1" -v tod="$2" 'BEGIN {
    s0 = (t0 / 1e6) % 86400000; d = tod - s0; if (d < -43200000) d += 86400000
    printf "%d\n", d }'
}

sample() { mkdir -p "$work/samples/$1"; echo "$4" >>"$work/samples/$1/$2.$3"; }  # N KEY SUP VALUE

progress() { printf '\r\033[K%s' "$*" >&2; }

run_one() {  # SUP N REP
  local sup=$1 n=$2 rep=$3
  local conf=$work/programs.$n.conf log=$work/logs/$sup.$n.$rep.log
  local cmd
  case $sup in
    podvisor) cmd=("$podvisor" -c "$conf") ;;
    supervisord) cmd=("$supervisord" -c "$conf") ;;
  esac
  rm -f "$work/supervisord.pid"
  : >"$log"
  local t0 pid
  t0=$(now_ns)
  setsid "${cmd[@]}" >>"$log" 2>&1 </dev/null &
  pid=$!
  live_sessions+=("$pid")
  local deadline=$((t0 + limit_s * 1000000000)) running=0 last=-1 died=0
  while :; do
    read -r running last < <(progress_of "$log" success)
    ((running >= n)) && break
    if ! kill -0 "$pid" 2>/dev/null || [[ $(ps -o stat= -p "$pid") == *Z* ]]; then died=1; break; fi
    (($(now_ns) > deadline)) && break
    sleep 0.1
  done
  local spawned last_spawn first_spawn
  read -r spawned last_spawn < <(progress_of "$log" spawned)
  first_spawn=$(awk '/ spawned: / { split($2, t, /[:,]/)
    print ((t[1] * 60 + t[2]) * 60 + t[3]) * 1000 + t[4]; exit }' "$log")
  sample "$n" reached "$sup" "$running"
  if ((running >= n)); then
    sample "$n" running_ms "$sup" "$(since_ms "$t0" "$last")"
    sample "$n" spawned_ms "$sup" "$(since_ms "$t0" "$last_spawn")"
  else
    echo "$sup/$n #$rep: $running of $n RUNNING ($spawned spawned) after ${limit_s} s$( ((died)) && echo ", supervisor exited")" >>"$work/failures"
  fi
  [[ -n $first_spawn ]] && sample "$n" first_spawn_ms "$sup" "$(since_ms "$t0" "$first_spawn")"
  if ((died)); then wait "$pid" || true; kill_session "$pid"; return 0; fi

  # SIGTERM to exit (below): wait returns when the supervisor exits; this watchdog, set up
  # before the settle time so its trap is in place, bounds it.
  (
    trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
    sleep "$((settle_s + stop_limit_s))" &
    sleeper=$!
    wait "$sleeper"
    kill -KILL "$pid" 2>/dev/null
  ) &
  local watchdog=$!
  sleep "$settle_s"
  local rss children fds
  rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo "")
  children=$( (ps --ppid "$pid" --no-headers 2>/dev/null || true) | wc -l)
  fds=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
  [[ -n $rss ]] && sample "$n" rss_kb "$sup" "$rss"
  sample "$n" children "$sup" "$children"
  sample "$n" fds "$sup" "$fds"

  local t_term t_exit status=0
  t_term=$(now_ns)
  kill -TERM "$pid"
  wait "$pid" || status=$?
  t_exit=$(now_ns)
  kill -TERM "$watchdog" 2>/dev/null || true
  wait "$watchdog" 2>/dev/null || true
  if ((status == 137)); then
    echo "$sup/$n #$rep: still running ${stop_limit_s} s after SIGTERM, killed" >>"$work/failures"
  else
    sample "$n" stop_ms "$sup" "$(((t_exit - t_term) / 1000000))"
  fi
  local left
  left=$(ps -eo pid=,sid= | awk -v s="$pid" '$2 == s' | wc -l)
  sample "$n" leftover "$sup" "$left"
  kill_session "$pid"
}

start_time=$(date +%s)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for n in $sizes; do
  write_conf "$n" "$work/programs.$n.conf"
  for ((r = 1; r <= reps; r++)); do
    for sup in podvisor supervisord; do
      progress "scale: $n programs, run $r of $reps, $sup"
      run_one "$sup" "$n" "$r"
    done
    progress "scale: $n programs, run $r of $reps, bare spawn loop"
    sample "$n" floor_wait_ms loop "$(("$("$work/spawn_floor" "$sleep_bin" "$n" 1)" / 1000000))"
    sample "$n" floor_nowait_ms loop "$(("$("$work/spawn_floor" "$sleep_bin" "$n" 0)" / 1000000))"
  done
done
progress ""
elapsed=$(($(date +%s) - start_time))
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- figures -------------------------------------------------------------------------------
stats() {  # N KEY SUP -> "min median max count", empty when there is no sample
  local f=$work/samples/$1/$2.$3
  [[ -s $f ]] || return 0
  sort -n "$f" | awk '{ v[NR] = $1 } END {
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "%s %s %s %d\n", v[1], m, v[NR], NR }'
}
median() { stats "$@" | awk '{ print $2 }'; }
secs() { awk -v ms="$1" 'BEGIN { if (ms < 1000) printf "%d ms", ms; else printf "%.2f s", ms / 1000 }'; }
mib() { awk -v kb="$1" 'BEGIN { printf "%.2f MiB", kb / 1024 }'; }
plain() { echo "$1"; }
fig() {  # N KEY SUP FORMATTER
  local m
  m=$(median "$1" "$2" "$3")
  if [[ -z $m ]]; then echo "— (none reached)"; else "$4" "$m"; fi
}
ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN {
    if (a == "" || b == "" || b == 0) { print "n/a"; exit }
    r = 100 * a / b; if (r < 1) printf "%.2f%%\n", r; else if (r < 10) printf "%.1f%%\n", r; else printf "%.0f%%\n", r }'
}
verdict() {  # VALUE LIMIT
  awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && a + 0 <= b + 0) print "met"; else print "**missed**" }'
}
# The figure of a run that did not bring all N up is the count it reached.
running_fig() {  # N SUP
  local m reached
  m=$(median "$1" running_ms "$2")
  reached=$(stats "$1" reached "$2" | awk '{ print $1 }')
  if [[ -n $m && ${reached:-0} -ge $1 ]]; then secs "$m"
  elif [[ -n $m ]]; then echo "$(secs "$m") (some runs reached only $reached)"
  else echo "not reached: $reached of $1 after ${limit_s} s"; fi
}

# Issue 14's target for N = 1000: all RUNNING within 20% of the bare loop that does not wait
# for each exec (the machine's own floor, measured in the same run).
floor_limit_ms() {  # N
  local f
  f=$(median "$1" floor_nowait_ms loop)
  [[ -n $f ]] && awk -v f="$f" 'BEGIN { printf "%d\n", f * 1.2 }'
}
target_of() {  # N KEY
  case "$2 $1" in
    "running_ms 1000") echo "≤ 120% of the no-wait floor ($(secs "$(floor_limit_ms 1000)"))" ;;
    "rss_kb 100" | "rss_kb 1000") echo "≤ 8 MiB" ;;
    *) echo "—" ;;
  esac
}
check_of() {  # N KEY
  case "$2 $1" in
    "running_ms 1000") verdict "$(median 1000 running_ms podvisor)" "$(floor_limit_ms 1000)" ;;
    "rss_kb 100" | "rss_kb 1000") verdict "$(median "$1" rss_kb podvisor)" 8192 ;;
    *) echo "" ;;
  esac
}

main_rows() {
  local n key label f p s
  for n in $sizes; do
    for key in running_ms spawned_ms rss_kb stop_ms; do
      case $key in
        running_ms) label="start → all RUNNING" ;;
        spawned_ms) label="start → last spawned" ;;
        rss_kb) label="RSS, all RUNNING (VmRSS)" ;;
        stop_ms) label="SIGTERM → exit" ;;
      esac
      f=secs; [[ $key == rss_kb ]] && f=mib
      if [[ $key == running_ms ]]; then
        p=$(running_fig "$n" podvisor); s=$(running_fig "$n" supervisord)
      else
        p=$(fig "$n" "$key" podvisor "$f"); s=$(fig "$n" "$key" supervisord "$f")
      fi
      echo "| $n | $label | $(target_of "$n" "$key") | $p | $s |" \
        "$(ratio "$(median "$n" "$key" podvisor)" "$(median "$n" "$key" supervisord)") |" \
        "$(check_of "$n" "$key") |"
    done
  done
}
spread_rows() {
  local n key sup line lo mid hi cnt f
  for n in $sizes; do
    for key in running_ms spawned_ms first_spawn_ms floor_wait_ms floor_nowait_ms rss_kb \
      stop_ms fds children leftover; do
      f=plain
      case $key in *_ms) f=secs ;; rss_kb) f=mib ;; esac
      for sup in podvisor supervisord loop; do
        line=$(stats "$n" "$key" "$sup")
        [[ -z $line ]] && continue
        read -r lo mid hi cnt <<<"$line"
        echo "| $n | $key | $sup | $("$f" "$lo") | $("$f" "$mid") | $("$f" "$hi") | $cnt |"
      done
    done
  done
}

floor_text() {
  local n
  for n in $sizes; do
    echo "N = $n: $(fig "$n" floor_wait_ms loop secs) waiting, $(fig "$n" floor_nowait_ms loop secs) not waiting (medians)."
  done
}

# One line per N: podvisor's start → all RUNNING against the no-wait floor of the same run.
floor_verdicts() {
  local n p f
  for n in $sizes; do
    p=$(median "$n" running_ms podvisor)
    f=$(median "$n" floor_nowait_ms loop)
    [[ -n $p && -n $f ]] || continue
    echo "N = $n: podvisor $(secs "$p") to all RUNNING = $(ratio "$p" "$f") of the no-wait floor" \
      "($(secs "$f")); target ≤ 120%: $(verdict "$p" "$(floor_limit_ms "$n")")."
  done
}

failures="none"
[[ -s $work/failures ]] && failures=$(sed 's/^/; /' "$work/failures" | tr -d '\n' | sed 's/^; //')
git_rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -n $(git -C "$root" status --porcelain -- src CMakeLists.txt 2>/dev/null) ]] && git_rev+=" + uncommitted changes"
machine_cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
machine="$(nproc) CPUs, ${machine_cpu:-unknown CPU}, Linux $(uname -r)"

section() {
  cat <<EOF
## Scale

Many programs from one supervisord.conf (\`bench/scale.sh\`): N programs \`sleep 3600\`,
\`startsecs=0\`, \`stdout_logfile=NONE\`, \`stderr_logfile=NONE\`, \`[supervisord]
logfile=/dev/stdout\`, \`minfds=$((4 * max_n + 256))\` for the largest N; both supervisors
run the same file (\`podvisor -c FILE\`, \`supervisord -c FILE\`) with \`ulimit -n\` $(ulimit -Sn).

- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $machine; load average (1, 5, 15 min) at
  the start: $load_before; at the end: $load_after.
- podvisor: $("$podvisor" --version 2>&1 | head -1) (commit $git_rev), $podvisor; supervisord: $("$supervisord" --version 2>&1 | head -1).
- $reps run(s) per size and supervisor, interleaved; figures are medians. Incomplete runs: $failures.
  Total time: ${elapsed} s.
- "start → all RUNNING": from just before the supervisor's exec to the timestamp of the last
  \`success: … entered RUNNING state\` line in its log (ms resolution). RSS, fds and children
  are read ${settle_s} s after that.

| Programs | Metric | Target | podvisor | supervisord | podvisor / supervisord | Target |
|---|---|---|---|---|---|---|
$(main_rows)

For scale, the machine's own cost of spawning N \`sleep 3600\` one after another (a bare C
loop, no supervisor: fork, setpgid, exec), waiting for each exec as a supervisor that reports
exec failures does, and not waiting:
$(floor_text)

$(floor_verdicts)

supervisord is not limited to one start per tick: its main loop spawns every program whose
turn has come in one pass (about 1 s after it starts), one fork after another, and marks
them RUNNING in the next pass, about 1 s after the last spawn even with \`startsecs=0\`.
podvisor spawns one program after another with vfork (no page tables or copy-on-write pages
behind each child; podvisor resumes once the child has exec'd, its exec report settled) and
marks each RUNNING as it is spawned.

| Programs | Key | Supervisor | min | median | max | runs |
|---|---|---|---|---|---|---|
$(spread_rows)
EOF
}

section >"$work/scale.md"
# Replace the Scale section (always the last one) of the report, keeping the rest.
if [[ -f $results ]]; then
  awk '/^## Scale$/ { exit } { print }' "$results" >"$work/results.head"
  # One blank line between the rest and the section.
  awk '{ line[NR] = $0 } NF { last = NR } END { for (i = 1; i <= last; i++) print line[i] }' \
    "$work/results.head" >"$work/results.trim"
  { cat "$work/results.trim"; echo; cat "$work/scale.md"; } >"$results"
else
  cp "$work/scale.md" "$results"
fi
if [[ ${BENCH_SCALE_QUIET:-0} != 1 ]]; then echo; cat "$work/scale.md"; echo; fi
echo "scale: wrote the Scale section of $results (raw samples in bench/out/scale/samples)"
floor_verdicts | sed 's/^/scale: /'
