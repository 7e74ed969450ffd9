#!/usr/bin/env python3
"""A stand-in for ComfyUI, for examples/comfyui-worker.conf and bench/ready.sh.

Like the real server it takes a while to come up: it "loads" for --delay seconds (default
$COMFYUI_STANDIN_DELAY, else 8), printing progress, while connections to its port are
refused; then it listens on 127.0.0.1:8188, prints ComfyUI's own line
"To see the GUI go to: http://127.0.0.1:8188" and answers GET /system_stats with JSON.
SIGTERM or SIGINT: exits 0.

For the benchmark: --ready-fifo PATH writes "ready PID NS" (CLOCK_MONOTONIC, the clock of
bench/stamp.c) to PATH the moment it listens; --quiet prints nothing at all, so a
supervisor cannot take its output as a hint.
"""
import argparse
import http.server
import json
import os
import signal
import sys
import time


def stop(signo, frame):
    print(f"comfyui-standin: got signal {signo}, exiting", flush=True)
    sys.exit(0)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.answer(with_body=True)

    def do_HEAD(self):  # as aiohttp does for GET routes (wget --spider sends HEAD)
        self.answer(with_body=False)

    def answer(self, with_body):
        if self.path.split("?", 1)[0] == "/system_stats":
            body = json.dumps({
                "system": {"os": "posix", "comfyui_version": "0.3.0 (stand-in)",
                           "python_version": sys.version.split()[0]},
                "devices": [{"name": "cuda:0 NVIDIA H100 80GB HBM3 (stand-in)", "type": "cuda",
                             "vram_total": 85045215232, "vram_free": 84000000000}],
            }).encode() + b"\n"
            code = 200
        else:
            body, code = b'{"error": "not found"}\n', 404
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass  # ComfyUI does not log each request either (probes would fill the log)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8188)
    p.add_argument("--delay", type=float,
                   default=float(os.environ.get("COMFYUI_STANDIN_DELAY", "8")))
    p.add_argument("--ready-fifo")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    # Bound now, listening only once loaded: until then a connection is refused, as with
    # the real server.
    server = http.server.ThreadingHTTPServer((args.host, args.port), Handler,
                                             bind_and_activate=False)
    server.daemon_threads = True
    server.allow_reuse_address = True
    server.server_bind()

    say = (lambda text: None) if args.quiet else (lambda text: print(text, flush=True))
    say("Total VRAM 81559 MB, total RAM 257838 MB (stand-in)")
    steps = 4
    for i in range(1, steps + 1):
        time.sleep(args.delay / steps)
        say(f"Loading model weights: {100 * i // steps}%")

    server.server_activate()  # listen()
    if args.ready_fifo:
        fd = os.open(args.ready_fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        os.write(fd, f"ready {os.getpid()} {time.monotonic_ns()}\n".encode())
        os.close(fd)
    say("Starting server")
    say(f"To see the GUI go to: http://{args.host}:{args.port}")
    server.serve_forever()


if __name__ == "__main__":
    main()
