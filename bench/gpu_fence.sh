#!/bin/bash
# The GPU fence's figures (issue 11): crash -> next spawn through the fence with one leftover
# holder that obeys SIGTERM (target <= 100 ms plus the holder's exit), against today's
# immediate restart; and one full holder scan with 1,000 processes (target <= 20 ms).
# Fake device files (PODVISOR_GPU_DEVICE_DIR): no GPU needed. Usage:
#   bench/gpu_fence.sh [BUILD_DIR]     (default build/; builds podvisor and podvisor_gpu_bench)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
reps=${BENCH_REPS:-20}
ninja -C "$build" podvisor podvisor_gpu_bench >/dev/null
bench=$build/podvisor_gpu_bench
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
"$bench" fence "$build/podvisor" "$reps" fence
"$bench" fence "$build/podvisor" "$reps" nofence
"$bench" scan 1000 10 "$reps"
