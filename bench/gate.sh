#!/usr/bin/env bash
# Request-gate benchmark (issue 13): the same C keep-alive server (gate_upstream.c) reached
# directly and through podvisor's gate, side by side in one run, reported as differences and
# ratios. Prints a table and writes bench/out/gate/RESULTS.md. See bench/README.md.
#
#   bench/gate.sh                          build podvisor (release, build-bench/) and run
#   PODVISOR=path/to/podvisor bench/gate.sh    use that binary instead of building
#
# Knobs (environment): BENCH_GATE_ROUNDS (5: latency, saturation and transfer rounds, gate and
# direct alternating), BENCH_GATE_SECONDS (3 per latency/saturation round), BENCH_GATE_RATE (2000
# req/s), BENCH_GATE_CONNS (32), BENCH_GATE_BYTES (1 GiB per transfer), BENCH_GATE_READY_RUNS
# (5), BENCH_GATE_HELD (10000). PODVISOR_GATE_SPLICE=0 in podvisor's environment keeps the
# relay copying; this script sets it for the "copy" rows only.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
root=$PWD
: "${BENCH_GATE_ROUNDS:=5}" "${BENCH_GATE_SECONDS:=3}" "${BENCH_GATE_RATE:=2000}"
: "${BENCH_GATE_CONNS:=32}" "${BENCH_GATE_BYTES:=1073741824}" "${BENCH_GATE_READY_RUNS:=5}"
: "${BENCH_GATE_HELD:=10000}"
rounds=$BENCH_GATE_ROUNDS seconds=$BENCH_GATE_SECONDS rate=$BENCH_GATE_RATE
conns=$BENCH_GATE_CONNS bytes=$BENCH_GATE_BYTES ready_runs=$BENCH_GATE_READY_RUNS
nheld=$BENCH_GATE_HELD

# ---- dependencies, podvisor, the two C helpers -------------------------------------------
bench_need wrk:wrk cc:gcc curl:curl python3:python3 /usr/lib/x86_64-linux-gnu/libc.a:libc6-dev
bench_podvisor
mkdir -p build-bench/bench
for tool in gate_load gate_upstream; do
  bin=build-bench/bench/$tool
  [[ -x $bin && $bin -nt bench/$tool.c ]] || cc -O2 -static -Wall -Wextra -o "$bin" "bench/$tool.c"
done
load=$root/build-bench/bench/gate_load
upstream=$root/build-bench/bench/gate_upstream

# 10,000 held connections need as many descriptors in podvisor and in the client.
ulimit -n "$(ulimit -Hn)"
if (($(ulimit -n) < nheld + 1000)); then
  echo "bench: ulimit -n is $(ulimit -n); $nheld held connections need $((nheld + 1000))" >&2
  exit 1
fi

# ---- what this script starts, stopped on any exit -----------------------------------------
pids=()
stop_all() {
  local p
  for p in "${pids[@]}"; do
    kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null || true
  done
  pids=()
}
trap 'stop_all; exit 130' INT TERM
trap 'stop_all' EXIT
# Work directory: only bench/out/gate (bench/out is git-ignored; other benches' stay).
out=$root/bench/out/gate
rm -rf "$out"
mkdir -p "$out"
started=$(date +%s)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# Waits (bounded) until FILE holds TEXT.
wait_for() {  # FILE TEXT [SECONDS]
  local deadline=$((SECONDS + ${3:-30}))
  until grep -q -- "$2" "$1" 2>/dev/null; do
    ((SECONDS < deadline)) || { echo "bench: no '$2' in $1" >&2; cat "$1" >&2; exit 1; }
    sleep 0.05
  done
}
# podvisor -c CONF in the background, its log in NAME.log; sets $last_pid.
start_podvisor() {  # NAME CONF [ENV=VALUE ...]
  local name=$1 conf=$2
  shift 2
  env "$@" setsid "$podvisor" -c "$conf" >"$out/$name.log" 2>&1 &
  last_pid=$!
  pids+=("$last_pid")
}
# A gate config: program `up` running COMMAND on private port, gate on GATE_PORT.
gate_conf() {  # FILE GATE_PORT UP_PORT COMMAND [EXTRA]
  cat >"$1" <<EOF
[supervisord]
nodaemon=true
logfile=/dev/stdout
${5:-}

[program:up]
command=$4
gate=127.0.0.1:$2
gate_upstream=127.0.0.1:$3
ready=tcp://127.0.0.1:$3
startsecs=0
stdout_logfile=$1.out
EOF
}
median() { sort -g | awk '{v[NR]=$1} END {if (NR) print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
field() { tr ' ' '\n' | sed -n "s/^$1=//p"; }

# ---- the servers: one podvisor splicing, one copying (PODVISOR_GATE_SPLICE=0) ------------
up_port=$(free_port) gate_port=$(free_port) up2_port=$(free_port) gate2_port=$(free_port)
gate_conf "$out/splice.conf" "$gate_port" "$up_port" "$upstream $up_port"
gate_conf "$out/copy.conf" "$gate2_port" "$up2_port" "$upstream $up2_port"
start_podvisor splice "$out/splice.conf"
splice_pid=$last_pid
start_podvisor copy "$out/copy.conf" PODVISOR_GATE_SPLICE=0
copy_pid=$last_pid
wait_for "$out/splice.log" "entered RUNNING"
wait_for "$out/copy.log" "entered RUNNING"
"$load" first "$gate_port" >/dev/null
"$load" first "$gate2_port" >/dev/null

# ---- 1. added latency at a fixed rate, open loop -----------------------------------------
echo "bench: latency at $rate req/s over $conns connections, $rounds x ${seconds}s each way"
for ((r = 1; r <= rounds; r++)); do
  for target in direct:$up_port gate:$gate_port; do
    line=$("$load" rate "${target#*:}" "$rate" "$conns" "$seconds")
    echo "${target%%:*} $line" | tee -a "$out/latency.txt"
  done
done
lat() {  # WHO FIELD -> "median / best" over the rounds
  local m b
  m=$(grep "^$1 " "$out/latency.txt" | field "$2" | median)
  b=$(grep "^$1 " "$out/latency.txt" | field "$2" | sort -g | head -1)
  echo "$m / $b"
}
# "A / B" minus "C / D" -> "+(A-C) / +(B-D)"
minus() { awk -v x="$1" -v y="$2" 'BEGIN {split(x, a, " / "); split(y, b, " / "); printf "%+.1f / %+.1f", a[1] - b[1], a[2] - b[2]}'; }

# ---- 2. saturation: wrk, closed loop ------------------------------------------------------
echo "bench: saturation with wrk -t1 -c$conns, $rounds x ${seconds}s each way"
for ((r = 1; r <= rounds; r++)); do
  for target in direct:$up_port gate:$gate_port; do
    rps=$(wrk -t1 -c"$conns" -d"${seconds}s" "http://127.0.0.1:${target#*:}/" |
      awk '/^Requests\/sec/ {print $2}')
    echo "${target%%:*} $rps" | tee -a "$out/rps.txt"
  done
done
rps() { awk -v w="$1" '$1 == w {print $2}' "$out/rps.txt" | median; }

# ---- 3. a transfer of $bytes each way: direct, gate splicing, gate copying -----------------
echo "bench: $bytes bytes down and up, direct / splice / copy, $rounds rounds"
for ((r = 1; r <= rounds; r++)); do
  for target in direct:$up_port splice:$gate_port copy:$gate2_port; do
    who=${target%%:*}
    case $who in splice) cpu_pid=$splice_pid ;; copy) cpu_pid=$copy_pid ;; *) cpu_pid= ;; esac
    for dir in get put; do
      # podvisor's CPU time over the transfer (utime + stime, in clock ticks).
      ticks0=$([[ -n $cpu_pid ]] && awk '{print $14 + $15}' "/proc/$cpu_pid/stat" || echo 0)
      ns=$("$load" "$dir" "${target#*:}" "$bytes" | field ns)
      ticks1=$([[ -n $cpu_pid ]] && awk '{print $14 + $15}' "/proc/$cpu_pid/stat" || echo 0)
      echo "$who $dir $ns $((ticks1 - ticks0))" | tee -a "$out/transfer.txt"
    done
  done
done
mibs() {  # WHO DIR -> MiB/s (median time)
  awk -v w="$1" -v d="$2" '$1 == w && $2 == d {print $3}' "$out/transfer.txt" | median |
    awk -v b="$bytes" '{printf "%.0f", b / 1048576 / ($1 / 1e9)}'
}
cpu() {  # WHO -> podvisor CPU seconds per GiB, both directions together
  awk -v w="$1" -v b="$bytes" -v hz="$(getconf CLK_TCK)" \
    '$1 == w {t += $4; n++} END {printf "%.2f", t / hz / (n * b / 1073741824)}' "$out/transfer.txt"
}
stop_all

# ---- 4. program ready -> first held request answered --------------------------------------
# The stand-in listens 300 ms after its start and stamps listen() and its first accepts: the
# tcp probe's, then the gate's released connection. The client connects while it loads.
echo "bench: ready -> first held answer, $ready_runs runs"
for ((r = 1; r <= ready_runs; r++)); do
  p=$(free_port) g=$(free_port)
  gate_conf "$out/ready$r.conf" "$g" "$p" "$upstream $p 300"
  start_podvisor "ready$r" "$out/ready$r.conf"
  client=$("$load" first "$g")
  stamps=$(cat "$out/ready$r.conf.out")
  stop_all
  listen=$(awk '$1 == "listen" {print $2}' <<<"$stamps")
  probe=$(awk '$1 == "accept" {print $2; exit}' <<<"$stamps")
  relayed=$(awk '$1 == "accept" {n++; if (n == 2) print $2}' <<<"$stamps")
  answered=$(awk '$1 == "answered" {print $2}' <<<"$client")
  echo "$(((answered - listen) / 1000)) $(((probe - listen) / 1000)) $(((relayed - probe) / 1000)) $(((answered - relayed) / 1000))" |
    tee -a "$out/ready.txt"
done
ready_col() { awk -v c="$1" '{print $c / 1000}' "$out/ready.txt" | median; }

# ---- 5. memory per held idle connection, /health answered meanwhile ------------------------
echo "bench: $nheld held idle connections"
g=$(free_port) ctl=$(free_port) never=$(free_port)
gate_conf "$out/held.conf" "$g" "$never" "sleep 3600" "[inet_http_server]
port=127.0.0.1:$ctl"
start_podvisor held "$out/held.conf"
held_pid=$last_pid
wait_for "$out/held.log" "gate of up listening"
rss() { awk '/^VmRSS/ {print $2}' "/proc/$held_pid/status"; }
slab() { awk '/^Slab:/ {print $2}' /proc/meminfo; }
fds() { ls "/proc/$held_pid/fd" | wc -l; }
rss0=$(rss) slab0=$(slab) fds0=$(fds)
mkfifo "$out/hold.fifo"
"$load" held "$g" "$nheld" <"$out/hold.fifo" >"$out/hold.txt" &
client_pid=$!
exec 9>"$out/hold.fifo"
wait_for "$out/hold.txt" "held $nheld" 60
deadline=$((SECONDS + 30))
while (($(fds) < fds0 + nheld)) && ((SECONDS < deadline)); do sleep 0.05; done
rss1=$(rss) slab1=$(slab) fds1=$(fds)
for i in 1 2 3 4 5; do
  curl -s -o /dev/null -w '%{http_code} %{time_total}\n' "http://127.0.0.1:$ctl/health" >>"$out/health.txt"
done
exec 9>&-
wait "$client_pid" || true
stop_all
health_codes=$(awk '{print $1}' "$out/health.txt" | sort -u | tr '\n' ' ')
health_ms=$(awk '{print $2 * 1000}' "$out/health.txt" | median)

# ---- report -------------------------------------------------------------------------------
d50=$(lat direct p50_us) g50=$(lat gate p50_us) d99=$(lat direct p99_us) g99=$(lat gate p99_us)
ds50=$(lat direct service_p50_us) gs50=$(lat gate service_p50_us)
drps=$(rps direct) grps=$(rps gate)
pct() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.0f%%", 100 * a / b}'; }
per_conn=$(awk -v a="$rss0" -v b="$rss1" -v n="$nheld" 'BEGIN {printf "%.0f", (b - a) * 1024 / n}')
slab_conn=$(awk -v a="$slab0" -v b="$slab1" -v n="$nheld" 'BEGIN {printf "%.0f", (b - a) * 1024 / n}')
{
  echo "## Request gate"
  echo
  echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(nproc) CPUs, $(uname -r); load average at the start: $load_before, at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo "- podvisor: $("$podvisor" --version 2>&1 | head -1) ($podvisor). Server: bench/gate_upstream.c; client: bench/gate_load.c; wrk $(wrk -v 2>&1 | awk 'NR==1 {print $2}')."
  echo "- Produced by \`bench/gate.sh\` in $(($(date +%s) - started)) s; what the figures mean: bench/README.md."
  echo
  echo "| Figure | direct | through the gate | gate − direct / ratio | target |"
  echo "|---|---|---|---|---|"
  echo "| latency p50 at $rate req/s, $conns conns (µs from the schedule; median / best of $rounds rounds) | $d50 | $g50 | $(minus "$g50" "$d50") µs | ≤ +50 µs |"
  echo "| latency p99 (µs; median / best) | $d99 | $g99 | $(minus "$g99" "$d99") µs | ≤ +200 µs |"
  echo "| service time p50 (µs from the send; median / best) | $ds50 | $gs50 | $(minus "$gs50" "$ds50") µs | |"
  echo "| saturation (wrk -t1 -c$conns, req/s) | $drps | $grps | $(pct "$grps" "$drps") | ≥ 90% |"
  echo "| $((bytes >> 20)) MiB download (MiB/s), splice | $(mibs direct get) | $(mibs splice get) | $(pct "$(mibs splice get)" "$(mibs direct get)") | ≥ 90% |"
  echo "| $((bytes >> 20)) MiB download (MiB/s), copy | $(mibs direct get) | $(mibs copy get) | $(pct "$(mibs copy get)" "$(mibs direct get)") | |"
  echo "| $((bytes >> 20)) MiB upload (MiB/s), splice | $(mibs direct put) | $(mibs splice put) | $(pct "$(mibs splice put)" "$(mibs direct put)") | ≥ 90% |"
  echo "| $((bytes >> 20)) MiB upload (MiB/s), copy | $(mibs direct put) | $(mibs copy put) | $(pct "$(mibs copy put)" "$(mibs direct put)") | |"
  echo "| podvisor CPU per GiB relayed (s): splice / copy | | $(cpu splice) / $(cpu copy) | $(pct "$(cpu splice)" "$(cpu copy)") | |"
  echo
  echo "Program ready → first held request answered (ms, median of $ready_runs; the stand-in listens 300 ms after its start, default adaptive probe interval):"
  echo
  echo "| listen → answered | listen → probe connects (detection) | probe → gate's connection accepted | accepted → answered |"
  echo "|---|---|---|---|"
  echo "| $(ready_col 1) | $(ready_col 2) | $(ready_col 3) | $(ready_col 4) |"
  echo
  echo "$nheld held idle connections: podvisor VmRSS $rss0 → $rss1 KiB = **$per_conn B per connection** (target ≤ 4096), descriptors $fds0 → $fds1; kernel slab $slab0 → $slab1 KiB ≈ $slab_conn B per connection (machine-wide, noisy); \`/health\` meanwhile: codes $health_codes, median $health_ms ms."
} | tee "$out/RESULTS.md"
