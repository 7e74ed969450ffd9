#!/usr/bin/env bash
# Control-plane benchmark (issue 5): `supervisorctl status` latency against podvisor and
# against supervisord (Debian `supervisor` 4.2.5), on the same supervisord.conf, and podvisor's
# RSS with the control server on. Prints a table and writes bench/out/control/RESULTS.md.
# See bench/README.md.
#
#   bench/control.sh                  build podvisor (release, build-bench/) and run
#   PODVISOR=path/to/podvisor bench/control.sh    use that binary instead of building
#
# Knobs (environment): BENCH_CONTROL_REPS (status calls per client and server, default 30),
# BENCH_KEEP_LOGS=1 (keep both supervisors' output in bench/out/control/logs).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

reps=${BENCH_CONTROL_REPS:-30}
keep_logs=${BENCH_KEEP_LOGS:-0}
[[ $reps =~ ^[0-9]+$ && $reps -gt 0 ]] || { echo "bench: bad BENCH_CONTROL_REPS: $reps" >&2; exit 2; }

# ---- dependencies and podvisor -----------------------------------------------------------
source bench/lib.sh
bench_need supervisord:supervisor supervisorctl:supervisor curl:curl
bench_podvisor
supervisord=$(command -v supervisord)
supervisorctl=$(command -v supervisorctl)
curl=$(command -v curl)

# ---- work directory (bench/out is git-ignored) -------------------------------------------
out=$root/bench/out/control
rm -rf "$out"
mkdir -p "$out/samples" "$out/logs" "$out/run"
run=$out/run
declare -A pid
stop_all() {
  local sup
  for sup in "${!pid[@]}"; do kill -TERM "${pid[$sup]}" 2>/dev/null || true; done
  for sup in "${!pid[@]}"; do wait "${pid[$sup]}" 2>/dev/null || true; done
  pid=()
}
trap 'stop_all; exit 130' INT TERM
trap 'stop_all' EXIT

# The same file for both but for the paths of the socket, pidfile and logs: one program, a
# [unix_http_server], the sections supervisorctl needs.
write_conf() {  # SUPERVISOR
  local sup=$1
  cat >"$run/$sup.conf" <<EOF
[unix_http_server]
file=$run/$sup.sock

[supervisord]
nodaemon=true
logfile=$run/$sup.log
pidfile=$run/$sup.pid
childlogdir=$run

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://$run/$sup.sock

[program:app]
command=sleep infinity
startsecs=0
EOF
}

rss_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }  # PID [FIELD]

now_us() { echo "${EPOCHREALTIME/./}"; }

# ---- start both, side by side ------------------------------------------------------------
for sup in podvisor supervisord; do
  write_conf "$sup"
  log=/dev/null
  if [[ $keep_logs == 1 ]]; then log=$out/logs/$sup.out; fi
  if [[ $sup == podvisor ]]; then
    setsid "$podvisor" -c "$run/$sup.conf" >"$log" 2>&1 </dev/null &
  else
    setsid "$supervisord" -c "$run/$sup.conf" >"$log" 2>&1 </dev/null &
  fi
  pid[$sup]=$!
done
# Up once `status` shows the program RUNNING (bounded: 30 s).
for sup in podvisor supervisord; do
  deadline=$(($(date +%s) + 30))
  until "$supervisorctl" -c "$run/$sup.conf" status app 2>/dev/null | grep -q RUNNING; do
    if (($(date +%s) > deadline)) || ! kill -0 "${pid[$sup]}" 2>/dev/null; then
      echo "bench: $sup did not come up; its log: $run/$sup.log" >&2
      exit 1
    fi
    sleep 0.1
  done
done
rss_start_podvisor=$(rss_kb "${pid[podvisor]}" VmRSS)
rss_start_supervisord=$(rss_kb "${pid[supervisord]}" VmRSS)

# ---- latency: each client, each server, interleaved --------------------------------------
# supervisorctl: Debian's client (Python start-up dominates); podvisor ctl: the static client,
# which speaks to supervisord as well; curl: one XML-RPC getAllProcessInfo, the server's own
# share with the lightest client.
rpc_body='<?xml version="1.0"?><methodCall><methodName>supervisor.getAllProcessInfo</methodName><params></params></methodCall>'
call() {  # CLIENT SUPERVISOR
  local conf=$run/$2.conf sock=$run/$2.sock
  case $1 in
    supervisorctl) "$supervisorctl" -c "$conf" status >/dev/null ;;
    ctl) "$podvisor" ctl -c "$conf" status >/dev/null ;;
    curl) "$curl" -sf --unix-socket "$sock" -H 'Content-Type: text/xml' --data "$rpc_body" \
            http://localhost/RPC2 >/dev/null ;;
  esac
}
clients=(supervisorctl ctl curl)
for client in "${clients[@]}"; do
  for sup in podvisor supervisord; do call "$client" "$sup" || true; done  # warm-up
done
for ((r = 1; r <= reps; r++)); do
  printf '\r\033[Kstatus calls: round %d of %d' "$r" "$reps" >&2
  for client in "${clients[@]}"; do
    for sup in podvisor supervisord; do
      t0=$(now_us)
      # The exit status is 0 (all RUNNING); anything else is a failed call, not a sample.
      if call "$client" "$sup"; then
        t1=$(now_us)
        echo $((t1 - t0)) >>"$out/samples/$client.$sup"
      else
        echo "$client.$sup.$r" >>"$out/failures"
      fi
    done
  done
done
printf '\r\033[K' >&2
rss_after_podvisor=$(rss_kb "${pid[podvisor]}" VmRSS)
rss_after_supervisord=$(rss_kb "${pid[supervisord]}" VmRSS)
# What the RSS is made of: anonymous memory (heap, stacks) and file pages (the executable's
# text and data; for supervisord also the Python interpreter and its modules).
anon_podvisor=$(rss_kb "${pid[podvisor]}" RssAnon)
anon_supervisord=$(rss_kb "${pid[supervisord]}" RssAnon)
file_podvisor=$(rss_kb "${pid[podvisor]}" RssFile)
file_supervisord=$(rss_kb "${pid[supervisord]}" RssFile)
load=$(cut -d' ' -f1-3 /proc/loadavg)
stop_all

# ---- figures -----------------------------------------------------------------------------
# "min median max n" of a sample file, in microseconds.
stats() {
  if [[ ! -s $out/samples/$1 ]]; then return; fi
  sort -n "$out/samples/$1" | awk '{ v[NR] = $1 } END {
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "%d %d %d %d\n", v[1], m, v[NR], NR }'
}
ms() { awk -v us="$1" 'BEGIN { printf "%.2f", us / 1000 }'; }
mib() { awk -v kb="$1" 'BEGIN { printf "%.2f", kb / 1024 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

report=$out/RESULTS.md
{
  echo "# Control plane: podvisor vs supervisord $("$supervisord" --version 2>/dev/null)"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')),"
  echo "load average after the run: $load. podvisor: $podvisor ($("$podvisor" --version),"
  echo "$(($(stat -c %s "$podvisor") / 1024)) KiB)."
  echo "One program (\`sleep infinity\`), [unix_http_server]; $reps calls per row and server,"
  echo "interleaved. Latency in ms as min / **median** / max; ratio = podvisor / supervisord."
  echo
  echo "| measure | podvisor | supervisord | ratio |"
  echo "|---|---|---|---|"
  for client in "${clients[@]}"; do
    case $client in
      supervisorctl) label="\`supervisorctl status\` (Debian's client)" ;;
      ctl) label="\`podvisor ctl status\`" ;;
      curl) label="XML-RPC getAllProcessInfo (curl)" ;;
    esac
    read -r amin amed amax an <<<"$(stats "$client.podvisor")" || true
    read -r bmin bmed bmax bn <<<"$(stats "$client.supervisord")" || true
    if [[ -z ${amed:-} || -z ${bmed:-} ]]; then
      echo "| $label | n/a | n/a | n/a |"
      continue
    fi
    echo "| $label | $(ms "$amin") / **$(ms "$amed")** / $(ms "$amax") | $(ms "$bmin") / **$(ms "$bmed")** / $(ms "$bmax") | $(ratio "$amed" "$bmed") |"
    unset amin amed amax an bmin bmed bmax bn
  done
  echo "| RSS at start (MiB) | $(mib "$rss_start_podvisor") | $(mib "$rss_start_supervisord") | $(ratio "$rss_start_podvisor" "$rss_start_supervisord") |"
  echo "| RSS after the $((reps * ${#clients[@]} + ${#clients[@]})) calls (MiB) | $(mib "$rss_after_podvisor") | $(mib "$rss_after_supervisord") | $(ratio "$rss_after_podvisor" "$rss_after_supervisord") |"
  echo "| … of which anonymous (MiB) | $(mib "$anon_podvisor") | $(mib "$anon_supervisord") | $(ratio "$anon_podvisor" "$anon_supervisord") |"
  echo "| … of which file pages (MiB) | $(mib "$file_podvisor") | $(mib "$file_supervisord") | $(ratio "$file_podvisor" "$file_supervisord") |"
  echo
  if ((rss_after_podvisor <= 3072)); then verdict=met; else verdict=MISSED; fi
  echo "Target: podvisor RSS ≤ 3 MiB with the server on at 1 program: **$verdict**"
  echo "($(mib "$rss_after_podvisor") MiB after the calls)."
  if [[ -s $out/failures ]]; then
    echo
    echo "Failed calls (not counted): $(tr '\n' ' ' <"$out/failures")"
  fi
} >"$report"
cat "$report"
