#!/usr/bin/env python3
"""A stand-in server for the readiness tests (tests/e2e/readiness_test.cc).

It binds 127.0.0.1:PORT at once (SO_REUSEPORT, so it can share the port a test holds bound
without listening: connections are refused until this server listens), then listens only
after --delay seconds or once --listen-when exists, as a model server binds late.

  --mode http   answers each GET with --status (default 200), or 503 while loading
                (the first --loading requests, or until --ok-when exists), or 500 while
                --sick-when exists
  --mode hang   accepts connections and never answers (vLLM binds its port before the
                model is loaded)

Stamps are CLOCK_REALTIME nanoseconds, written whole (write then rename):
  --listen-stamp FILE  just before listen()
  --ready-stamp FILE   just before the first answer with the success status
--log FILE gets one line per connection ("accept") and per answer ("GET /path 503").
--port-file FILE gets the bound port (with --port 0).
"""
import argparse
import os
import socket
import sys
import threading
import time

REASONS = {200: "OK", 404: "Not Found", 500: "Internal Server Error", 503: "Service Unavailable"}


def write_stamp(path):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(f"{time.time_ns()}\n")
    os.replace(tmp, path)


def write_whole(path, text):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


class Server:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.requests = 0
        self.ready_stamped = False

    def log(self, text):
        if self.args.log:
            with self.lock, open(self.args.log, "a") as f:
                f.write(text + "\n")

    def status_for(self):
        a = self.args
        with self.lock:
            self.requests += 1
            n = self.requests
        if a.sick_when and os.path.exists(a.sick_when):
            return 500
        if n <= a.loading:
            return 503
        if a.ok_when and not os.path.exists(a.ok_when):
            return 503
        return a.status

    def handle(self, conn):
        with conn:
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return  # a TCP probe: connected, then closed
                    data += chunk
                    if self.args.mode == "hang":
                        data = b""  # read and drop: never answer
            except OSError:
                return
            line = data.split(b"\r\n", 1)[0].decode("latin-1")
            parts = line.split()
            path = parts[1] if len(parts) > 1 else "/"
            code = self.status_for()
            body = b'{"system": {"os": "posix", "python_version": "3"}, "devices": []}\n'
            if code != 200:
                body = b'{"error": "loading"}\n'
            head = (f"HTTP/1.1 {code} {REASONS.get(code, 'Status')}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                    f"Connection: close\r\n\r\n").encode()
            if code == self.args.status:
                with self.lock:
                    first = not self.ready_stamped
                    self.ready_stamped = True
                if first and self.args.ready_stamp:
                    write_stamp(self.args.ready_stamp)
            try:
                conn.sendall(head + body)
            except OSError:
                return
            self.log(f"GET {path} {code}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--mode", choices=["http", "hang"], default="http")
    p.add_argument("--delay", type=float, default=0.0)
    p.add_argument("--listen-when")
    p.add_argument("--listen-stamp")
    p.add_argument("--ready-stamp")
    p.add_argument("--status", type=int, default=200)
    p.add_argument("--loading", type=int, default=0)
    p.add_argument("--ok-when")
    p.add_argument("--sick-when")
    p.add_argument("--log")
    args = p.parse_args()

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", args.port))
    port = sock.getsockname()[1]
    if args.port_file:
        write_whole(args.port_file, f"{port}\n")
    print(f"bound 127.0.0.1:{port}, loading", flush=True)
    if args.delay > 0:
        time.sleep(args.delay)
    if args.listen_when:
        while not os.path.exists(args.listen_when):
            time.sleep(0.01)
    if args.listen_stamp:
        write_stamp(args.listen_stamp)
    sock.listen(64)
    print(f"listening on 127.0.0.1:{port}", flush=True)

    server = Server(args)
    while True:
        conn, _ = sock.accept()
        server.log("accept")
        threading.Thread(target=server.handle, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
