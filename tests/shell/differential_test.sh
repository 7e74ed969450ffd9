#!/usr/bin/env bash
# Differential test: one supervisord.conf, a scripted scenario, run under Debian's
# supervisord and under podvisor; the per-program sequence of lifecycle events (spawned,
# success, exited with its status and expectedness, spawn error, gave up, stopped) must be
# the same. Times, pids and the interleaving between programs are ignored: podvisor has no
# tick and backs off exponentially, so only the order within each program is compared.
#
#   tests/shell/differential_test.sh PODVISOR      exit 0 pass, 1 fail, 77 skip
#
# Knobs: DIFF_KEEP=1 keeps the temporary directory (both logs, the config) for a look.
set -uo pipefail

podvisor=${1:?usage: differential_test.sh PODVISOR}
[[ -x $podvisor ]] || { echo "FAIL: $podvisor is not an executable"; exit 1; }
supervisord=$(command -v supervisord) || { echo "SKIP: supervisord is not installed"; exit 77; }

scenario_limit_s=20   # each supervisor gets this long to play the scenario out
quiet_ms=1300         # and must then log no new event for this long (> supervisord's 1 s tick)
stop_limit_s=15       # SIGTERM to exit (supervisord's stopwaitsecs is 10)

tmp=$(mktemp -d)
sessions=()   # each supervisor runs in its own session, whose id is its pid

# Kills what is left in SESSION (the supervisor and anything it started), by pid.
kill_session() {  # SESSION SIGNAL
  local pid
  for pid in $(ps -eo pid=,sid= | awk -v s="$1" '$2 == s { print $1 }'); do
    kill "-$2" "$pid" 2>/dev/null || true
  done
}
cleanup() {
  local s
  for s in "${sessions[@]}"; do kill_session "$s" KILL; done
  if [[ ${DIFF_KEEP:-0} == 1 ]]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ---- the scenario --------------------------------------------------------------------------
# Every program logs nowhere; its lifecycle is all that matters. Markers let a program
# behave differently on its second run; they are removed before each supervisor runs.
cat >"$tmp/supervisord.conf" <<'EOF'
[supervisord]
nodaemon=true
logfile=/dev/stdout
logfile_maxbytes=0
loglevel=info
pidfile=%(here)s/supervisord.pid

[DEFAULT]
stdout_logfile=NONE
stderr_logfile=NONE

; stays up: success, then stopped by the final SIGTERM
[program:ok]
command=sleep 3600
startsecs=1

; stopped with its own stopsignal
[program:hup]
command=sleep 3600
stopsignal=HUP

; exits at once, every time: BACKOFF three times (startretries=2), then FATAL. startsecs is
; long so that supervisord, which only looks once a second, cannot see a run as up under load.
[program:crashy]
command=sh -c 'exit 1'
startretries=2
startsecs=5

; exits 0 before startsecs: "not expected" whatever exitcodes says, retried despite
; autorestart=false, then FATAL
[program:quick]
command=true
autorestart=false
startretries=1
startsecs=5

; runs past startsecs, exits 0: expected, not restarted
[program:once]
command=sh -c 'sleep 1.5; exit 0'
autorestart=false

; runs past startsecs, exits 2: not expected, but autorestart=false
[program:failonce]
command=sh -c 'sleep 1.5; exit 2'
autorestart=false

; exit 3 is in exitcodes: expected, autorestart=unexpected does not restart it
[program:unexpected]
command=sh -c 'sleep 1.5; exit 3'
autorestart=unexpected
exitcodes=0,3

; first run exits 4 (not expected: restarted), the second exits 3 (expected: left)
[program:flaky]
command=sh -c 'if [ -e "%(here)s/flaky.marker" ]; then sleep 1.5; exit 3; fi; touch "%(here)s/flaky.marker"; sleep 1.5; exit 4'
autorestart=unexpected
exitcodes=0,3

; autorestart=true restarts an expected exit too; the second run stays up
[program:restarter]
command=sh -c 'if [ -e "%(here)s/restarter.marker" ]; then exec sleep 3600; fi; touch "%(here)s/restarter.marker"; sleep 1.5; exit 0'
autorestart=true

; killed by a signal after startsecs
[program:killed]
command=sh -c 'sleep 1.5; kill -KILL $$'
autorestart=false

; the command does not exist: a spawn error on every try, then FATAL
[program:missing]
command=/nonexistent/podvisor-difftest
startretries=1

; numprocs with process_name, and a group: log lines name the process alone
[program:multi]
command=sleep 3600
numprocs=2
process_name=%(program_name)s_%(process_num)d
startsecs=0

[group:pair]
programs=multi
EOF

# The event, per program, that ends the scenario, with how many times it must appear.
final_events=(
  "ok success 1" "hup success 1" "crashy gave-up 1" "quick gave-up 1" "once exited 1"
  "failonce exited 1" "unexpected exited 1" "flaky exited 2" "restarter success 2"
  "killed exited 1" "missing gave-up 1" "multi_0 success 1" "multi_1 success 1"
)

# ---- extracting the events -------------------------------------------------------------------
# One line per lifecycle event, in log order: NAME<TAB>EVENT<TAB>LEVEL<TAB>DETAIL.
# EVENT has no time or pid: "spawned", "success", "exited (exit status 1; not expected)",
# "spawn error", "gave up", "stopped (terminated by SIGTERM)". DETAIL is the rest of the
# message where it is free text (the reason of gave up, the text of a spawn error), shown
# but not compared. supervisord's "spawnerr: can't find command 'X'" (podvisor logs it too,
# beside its own "spawn error: NAME: ..." detail, which is skipped) names no program, so it
# is attributed by the command, the only one that cannot be found here.
events() {  # LOG
  awk -F'\t' 'BEGIN { OFS = "\t" }
    {
      line = $0
      if (!match(line, / (DEBG|DEBUG|TRAC|INFO|WARN|ERRO|ERROR|CRIT|BLAT) /)) next
      level = substr(line, RSTART + 1, RLENGTH - 2)
      msg = substr(line, RSTART + RLENGTH)
      if (match(msg, /^spawned: \047[^\047]+\047 with pid [0-9]+$/)) {
        split(msg, q, "\047"); print q[2], "spawned", level, ""
      } else if (match(msg, /^success: [^ ]+ entered RUNNING state/)) {
        split(msg, w, " "); print w[2], "success", level, ""
      } else if (match(msg, /^(exited|stopped): [^ ]+ \(.*\)$/)) {
        split(msg, w, " "); kind = substr(w[1], 1, length(w[1]) - 1)
        rest = substr(msg, index(msg, "(")); print w[2], kind " " rest, level, ""
      } else if (match(msg, /^gave up: [^ ]+ entered FATAL state/)) {
        split(msg, w, " "); detail = msg; sub(/^[^,]*, */, "", detail)
        print w[3], "gave up", level, detail
      } else if (msg ~ /^spawn error: /) {
        next  # podvisor detail, beside supervisord words (spawnerr, exited)
      } else if (msg ~ /^spawnerr: / && msg ~ /\/nonexistent\/podvisor-difftest/) {
        print "missing", "spawn error", level, msg
      } else if (msg ~ /^spawnerr: /) {
        print "?", "spawn error", level, msg
      }
    }' "$1"
}

# Per program, its events in order on one line: "NAME: ev1 | ev2 | ...", sorted by name.
sequences() {  # EVENTS-FILE
  awk -F'\t' '{ if ($1 in seq) seq[$1] = seq[$1] " | " $2; else seq[$1] = $2 }
    END { for (n in seq) print n ": " seq[n] }' "$1" | LC_ALL=C sort
}

# How many lifecycle events of each kind a log holds, as "NAME KIND COUNT".
counts() {  # LOG
  events "$1" | awk -F'\t' '{ k = $2; sub(/ .*/, "", k); if (k == "gave") k = "gave-up"
    n[$1 " " k]++ } END { for (x in n) print x, n[x] }'
}

scenario_done() {  # LOG
  local c want name kind count
  c=$(counts "$1")
  for want in "${final_events[@]}"; do
    read -r name kind count <<<"$want"
    awk -v n="$name" -v k="$kind" -v c="$count" '$1 == n && $2 == k && $3 >= c { f = 1 }
      END { exit !f }' <<<"$c" || return 1
  done
}

alive() {  # PID: running, not a zombie waiting to be reaped
  local state
  state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ -n $state && $state != Z* ]]
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# Runs LABEL's command on the scenario; its log (stdout and stderr) goes to $tmp/LABEL.log.
run_scenario() {  # LABEL COMMAND...
  local label=$1; shift
  local log=$tmp/$label.log
  rm -f "$tmp"/*.marker "$tmp/supervisord.pid"
  : >"$log"
  # O_APPEND: supervisord opens logfile=/dev/stdout itself beside its own fd 1.
  setsid "$@" >>"$log" 2>&1 </dev/null &
  local pid=$! start last_change events_now events_before=-1 status=0
  sessions+=("$pid")
  start=$(now_ms)
  while :; do
    if ! alive "$pid"; then
      echo "FAIL: $label exited before the scenario played out"; cat "$log"; return 1
    fi
    events_now=$(events "$log" | wc -l)
    if [[ $events_now != "$events_before" ]]; then
      events_before=$events_now
      last_change=$(now_ms)
    fi
    if scenario_done "$log" && (($(now_ms) - last_change >= quiet_ms)); then break; fi
    if (($(now_ms) - start > scenario_limit_s * 1000)); then
      echo "FAIL: $label did not play the scenario out in ${scenario_limit_s} s; its log:"
      cat "$log"; return 1
    fi
    sleep 0.1
  done
  kill -TERM "$pid"
  start=$(now_ms)
  while alive "$pid"; do
    if (($(now_ms) - start > stop_limit_s * 1000)); then
      echo "FAIL: $label still running ${stop_limit_s} s after SIGTERM"; cat "$log"; return 1
    fi
    sleep 0.05
  done
  wait "$pid" || status=$?
  local left
  left=$(ps -eo pid=,sid= | awk -v s="$pid" '$2 == s' | wc -l)
  kill_session "$pid" KILL
  echo "$label: exit status $status after SIGTERM, $left process(es) left in its session"
  echo "$status $left" >"$tmp/$label.exit"
}

overall_start=$(now_ms)
# -s: no second copy of each line on stdout beside logfile=/dev/stdout.
run_scenario supervisord "$supervisord" -n -s -c "$tmp/supervisord.conf" || exit 1
run_scenario podvisor "$podvisor" -c "$tmp/supervisord.conf" || exit 1

events "$tmp/supervisord.log" >"$tmp/supervisord.events"
events "$tmp/podvisor.log" >"$tmp/podvisor.events"
sequences "$tmp/supervisord.events" >"$tmp/supervisord.seq"
sequences "$tmp/podvisor.events" >"$tmp/podvisor.seq"

failed=0
if ! cmp -s "$tmp/supervisord.seq" "$tmp/podvisor.seq"; then
  failed=1
  echo "FAIL: the per-program lifecycle sequences differ"
  echo "--- supervisord"
  cat "$tmp/supervisord.seq"
  echo "--- podvisor"
  cat "$tmp/podvisor.seq"
  echo "--- diff (supervisord < > podvisor)"
  diff "$tmp/supervisord.seq" "$tmp/podvisor.seq"
fi
read -r pv_status pv_left <"$tmp/podvisor.exit"
if [[ $pv_status != 0 ]]; then
  failed=1; echo "FAIL: podvisor exited $pv_status after SIGTERM, want 0 (orderly shutdown)"
fi
if [[ $pv_left != 0 ]]; then
  failed=1; echo "FAIL: podvisor left $pv_left process(es) behind"
fi

# Not compared, shown: where the log level or the free text of an event differs.
# Events are paired by program and position; only pairs that are the same event count.
notes=$(awk -F'\t' '
  NR == FNR { k = $1 "#" (++na[$1]); ev[k] = $2; lv[k] = $3; dt[k] = $4; next }
  {
    k = $1 "#" (++nb[$1])
    if (!(k in ev) || ev[k] != $2 || (lv[k] == $3 && dt[k] == $4)) next
    line = sprintf("  %s: supervisord %s%s; podvisor %s%s", $2, lv[k],
      (dt[k] == "" ? "" : " \"" dt[k] "\""), $3, ($4 == "" ? "" : " \"" $4 "\""))
    if (!(line in seen)) { seen[line] = 1; order[++n] = line; who[line] = $1 }
    else who[line] = who[line] ", " $1
  }
  END { for (i = 1; i <= n; i++) print order[i] " (" who[order[i]] ")" }' \
  "$tmp/supervisord.events" "$tmp/podvisor.events")
if [[ -n $notes ]]; then
  echo "note (not compared): level or wording differences"
  echo "$notes"
fi

if ((failed)); then
  echo "logs: supervisord.log, podvisor.log (rerun with DIFF_KEEP=1 to keep them)"
  exit 1
fi
echo "same per-program lifecycle sequences under supervisord and podvisor" \
  "($(wc -l <"$tmp/podvisor.seq") processes, $(wc -l <"$tmp/podvisor.events") events," \
  "$((($(now_ms) - overall_start) / 1000)) s)"
cat "$tmp/podvisor.seq"
