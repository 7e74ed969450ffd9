#!/usr/bin/env python3
"""The worker's handler, as in seed 004: it needs ComfyUI answering and the model on disk the
moment it starts. Under podvisor (examples/comfyui-worker.conf, depends_on) it can simply
assume both; if it is started too early it fails the way the seed's did: connection refused.
It checks both once, then waits for jobs (here: sleeps) until SIGTERM or SIGINT (exit 0)."""
import json
import os
import signal
import sys
import time
import urllib.request

COMFY_URL = "http://127.0.0.1:8188"
MODEL = os.path.join(os.environ.get("COMFYUI_MODEL_DIR", "/tmp/comfyui-worker/models"),
                     "sd_xl_base_1.0.safetensors")


def stop(signo, frame):
    print(f"handler: got signal {signo}, exiting", flush=True)
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)

if not os.path.exists(MODEL):
    print(f"handler: ERROR: model {MODEL} is missing", file=sys.stderr, flush=True)
    sys.exit(1)
try:
    with urllib.request.urlopen(COMFY_URL + "/system_stats", timeout=5) as r:
        stats = json.load(r)
except OSError as e:
    print(f"handler: ERROR: ComfyUI HTTP unreachable: {e}", file=sys.stderr, flush=True)
    sys.exit(1)
devices = ", ".join(d.get("name", "?") for d in stats.get("devices", []))
print(f"handler: ComfyUI is up ({devices}); model {MODEL} present", flush=True)
print("handler: waiting for jobs", flush=True)
while True:
    time.sleep(3600)
