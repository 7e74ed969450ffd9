#!/usr/bin/env bash
# Installs dependencies, builds the static podvisor and runs it on the bundled examples:
# 1. examples/comfyui-worker.conf: a stand-in model server that loads for a few seconds, a
#    oneshot download, and a handler that podvisor starts only once both are ready; then
#    `podvisor ctl status` and a SIGTERM that stops the handler first.
# 2. examples/flaky-model-server.sh in single-command mode: it crashes twice while
#    "loading", podvisor restarts it with growing delays, then it serves and exits.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build podvisor
state=$(mktemp -d)
pid=
cleanup() {
  [[ -n "$pid" ]] && kill "$pid" 2>/dev/null
  rm -rf "$state"
}
trap cleanup EXIT

echo "---- podvisor -c examples/comfyui-worker.conf ----"
conf=examples/comfyui-worker.conf
COMFYUI_STANDIN_DELAY=3 COMFYUI_MODEL_DIR="$state/models" ./build/podvisor -c "$conf" </dev/null &
pid=$!
# The handler is RUNNING once comfyui answered and the download is done (60 s at most).
for _ in $(seq 120); do
  ./build/podvisor ctl -c "$conf" status handler 2>/dev/null | grep -q RUNNING && break
  sleep 0.5
done
echo "---- podvisor ctl -c $conf status ----"
./build/podvisor ctl -c "$conf" status || true
kill -TERM "$pid"
wait "$pid" || true
pid=

echo "---- podvisor -- examples/flaky-model-server.sh ----"
# Exit 0 is what this example's server does when done; autorestart=unexpected with
# exitcodes=0 (single-command mode's default is MHCS's 255) ends there.
EXAMPLE_STATE_DIR="$state" SUPERVISOR_PROGRAM__APP_AUTORESTART=unexpected \
  SUPERVISOR_PROGRAM__APP_EXITCODES=0 \
  SUPERVISOR_UNIX_HTTP_SERVER_FILE="$state/podvisor.sock" \
  ./build/podvisor -- examples/flaky-model-server.sh </dev/null
