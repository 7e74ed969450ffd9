#!/usr/bin/env bash
# The GPU check for a machine with a real NVIDIA GPU (issue 11; docs/gpu.md), about
# 3 minutes: a server whose setsid worker keeps GPU memory after the server dies, under
# podvisor, without and with the GPU fence; and NVML's figures in /metrics against nvidia-smi.
#
#   bench/gpu.sh [BUILD_DIR]     (default: build; podvisor and podvisor-gpu are taken from it)
#
# Steps: 1. the machine (nodes, procfs, nvidia-smi, libraries, ids, capabilities);
# 2. gpu_fence=false: the restart's allocation fails (the bug); 3. gpu_fence=auto: the fence
# names and ends the holder, the restart succeeds, exit → spawn measured; 4. a holder that
# ignores SIGTERM gets SIGKILL after stopwaitsecs; 5. /metrics memory within 1 % of
# nvidia-smi; 6. the companion's hello: symbols and events registered. Logs: bench/out/gpu/.
# Without /dev/nvidia0 it says so and exits 0.
set -uo pipefail
cd "$(dirname "$0")/.."
if [[ ! -e /dev/nvidia0 ]]; then
  echo "no NVIDIA GPU: skipped (no /dev/nvidia0)"
  exit 0
fi
build=${1:-build}
podvisor=$build/podvisor
out=bench/out/gpu
mkdir -p "$out"
[[ -x $podvisor ]] || { echo "no $podvisor: build it first"; exit 1; }
[[ -x $build/podvisor-gpu ]] || echo "note: no $build/podvisor-gpu: NVML figures will be unknown"
hold=$out/gpu_hold
cc -O2 -Wall -Wextra -Werror -o "$hold" bench/gpu_hold.c -ldl || { echo "cannot build gpu_hold"; exit 1; }
pass=0 fail=0
result() { # NAME OK DETAIL
  if [[ $2 == 1 ]]; then pass=$((pass + 1)); echo "PASS $1: $3"; else fail=$((fail + 1)); echo "FAIL $1: $3"; fi
}

echo "== 1. the machine"
{
  ls -l /dev/nvidia* 2>&1
  for f in /proc/driver/nvidia/gpus/*/information; do echo "--- $f"; cat "$f"; done
  nvidia-smi -L 2>&1
  nvidia-smi --query-gpu=index,pci.bus_id,memory.used,memory.total --format=csv 2>&1
  ldconfig -p 2>/dev/null | grep -E 'nvidia-ml|libcuda'
  id; grep CapEff /proc/self/status; ldd --version 2>&1 | head -1
} | tee "$out/machine.txt"
total_mib=$(nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits -i 0 | tr -d ' ')
gib=$(awk -v m="$total_mib" 'BEGIN { printf "%.1f", m * 0.6 / 1024 }')
echo "allocating $gib GiB (60 % of GPU 0) per run"

port=$((20000 + RANDOM % 20000))
http_get() { # PATH: the body of GET PATH on podvisor's inet server
  exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
  printf 'GET %s HTTP/1.0\r\nHost: x\r\n\r\n' "$1" >&3
  sed '1,/^\r$/d' <&3
  exec 3<&-
}
wait_log() { # FILE PATTERN SECONDS
  local deadline=$((SECONDS + $3))
  until grep -qE "$2" "$1"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}
run_podvisor() { # NAME FENCE EXTRA-ARGS: podvisor in the background, $pv its pid
  cat >"$out/$1.conf" <<EOF
[supervisord]
nodaemon=true
logfile=/dev/null
[inet_http_server]
port=127.0.0.1:$port
[program:server]
command=$hold --gib $gib --setsid-worker --exit-after 4 $3
startsecs=1
startretries=3
autorestart=true
stopwaitsecs=3
gpu_fence=$2
redirect_stderr=true
stdout_logfile=/dev/stdout
stdout_logfile_maxbytes=0
EOF
  "$podvisor" -n -c "$out/$1.conf" >"$out/$1.log" 2>&1 &
  pv=$!
}
stop_podvisor() {
  kill -TERM "$pv" 2>/dev/null
  for _ in $(seq 100); do kill -0 "$pv" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pv" 2>/dev/null
  wait "$pv" 2>/dev/null
}

echo "== 2. gpu_fence=false: the restart runs into the orphan's memory"
run_podvisor nofence false ""
wait_log "$out/nofence.log" "cuMemAlloc_v2 failed|cuMemsetD8_v2 failed" 40
result "no fence" $([[ $? == 0 ]] && echo 1 || echo 0) "$(grep -m1 -E 'failed: ' "$out/nofence.log")"
stop_podvisor

echo "== 3. gpu_fence=auto: the fence ends the holder first"
run_podvisor fence auto ""
holds() { grep -c "holds .* GiB on GPU 0" "$out/fence.log"; }
ok=0
wait_log "$out/fence.log" "gpu fence" 40 && ok=1
deadline=$((SECONDS + 40))
while [[ $(holds) -lt 2 ]] && ((SECONDS < deadline)); do sleep 0.2; done
grep -E "gpu fence|waiting for .* leftover|free again" "$out/fence.log" | head -5
# Exit of the server → next spawn, from podvisor's own timestamps.
gap=$(awk '/exited: server/ { split($2, t, "[:,]"); e = t[1]*3600 + t[2]*60 + t[3] + t[4]/1000 }
           /spawned: .server./ && e { split($2, t, "[:,]"); s = t[1]*3600 + t[2]*60 + t[3] + t[4]/1000;
             printf "%.3f s", s - e; exit }' "$out/fence.log")
holds=$(holds)
[[ $holds -ge 2 && $(grep -c "cuMemAlloc_v2 failed" "$out/fence.log") == 0 ]] || ok=0
result "fence" "$ok" "restart allocated again ($holds allocations, none failed); exit → spawn ${gap:-?}"

echo "== 5. /metrics against nvidia-smi (while the worker holds its memory)"
metric=$(http_get /metrics | awk '/^podvisor_gpu_memory_used_bytes\{gpu="0"/ { print $2 }')
smi=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0 | tr -d ' ')
within=$(awk -v a="${metric:-0}" -v b="${smi:-0}" 'BEGIN { m = a / 1048576; d = m - b; if (d < 0) d = -d;
  print (b > 0 && d <= b * 0.01) ? 1 : 0 }')
result "metrics" "$within" "podvisor ${metric:-none} bytes = $(awk -v a="${metric:-0}" 'BEGIN { printf "%.0f", a / 1048576 }') MiB, nvidia-smi $smi MiB"
echo "== 6. the companion's hello"
api=$(http_get /api/v1/gpus)
echo "$api" | head -c 400; echo
events=$(echo "$api" | grep -o '"events":"[^"]*"')
result "events" $([[ $events == *xid* ]] && echo 1 || echo 0) "${events:-no events member}"
stop_podvisor

echo "== 4. a holder that ignores SIGTERM"
run_podvisor ignore auto "--ignore-term"
wait_log "$out/ignore.log" "SIGKILL" 60
result "ignore-term" $([[ $? == 0 ]] && echo 1 || echo 0) "$(grep -m1 -E 'SIGKILL' "$out/ignore.log")"
stop_podvisor

echo "== $pass passed, $fail failed (logs in $out)"
[[ $fail == 0 ]]
