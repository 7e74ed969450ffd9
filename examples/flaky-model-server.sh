#!/bin/sh
# A stand-in for a model server: the first two runs die while "loading weights" (as a real
# server does when a GPU is still held by a dying worker), the third serves and finishes.
# Run it under podvisor to see restarts with growing delays, every log line, and the exit.
state="${EXAMPLE_STATE_DIR:-/tmp}/flaky-model-server.runs"
runs=$(( $(cat "$state" 2>/dev/null || echo 0) + 1 ))
echo "$runs" > "$state"
echo "model-server: run $runs, pid $$, PYTHONUNBUFFERED=$PYTHONUNBUFFERED"
echo "model-server: loading weights..."
if [ "$runs" -le 2 ]; then
  echo "model-server: RuntimeError: CUDA error: out of memory" >&2
  exit 1
fi
echo "model-server: ready, serving on :8000"
sleep 2
echo "model-server: done"
exit 0
