#!/usr/bin/env python3
"""A stand-in model server for the gate tests (tests/e2e/gate_test.cc).

Listens on 127.0.0.1:PORT only after --delay seconds, as a model server does once its model
is loaded (--fail N: exits N instead, a model that cannot load). Per connection, by the first
bytes:
  an HTTP method  answers one HTTP/1.1 request (its body read by Content-Length) with 200 and
                  the body "ready after load\n" (GET /slow?S: after S seconds), then closes;
                  prints "request METHOD PATH" first
  else            echoes every byte back as it comes, and closes after the client's end of file
--uds PATH: listens on that unix socket instead (vllm --uds). --exit-after S: exits 3 S seconds after listening. On SIGTERM it stops listening, lets the
requests in flight finish, and exits 0, as uvicorn does.
"""
import argparse
import os
import signal
import socket
import sys
import threading
import time

METHODS = (b"GET ", b"HEAD ", b"POST ", b"PUT ", b"DELETE ", b"OPTIONS ", b"PATCH ")
busy = []


def answer_http(conn, first):
    while b"\r\n\r\n" not in first:
        more = conn.recv(65536)
        if not more:
            return
        first += more
    head, _, body = first.partition(b"\r\n\r\n")
    line = head.split(b"\r\n")[0].decode()
    method, target = line.split(" ")[0:2]
    print(f"request {method} {target}", flush=True)
    length = 0
    for header in head.split(b"\r\n")[1:]:
        name, _, value = header.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        more = conn.recv(65536)
        if not more:
            return
        body += more
    if target.startswith("/slow?"):
        time.sleep(float(target.split("?", 1)[1]))
    reply = b"ready after load\n"
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
                 + str(len(reply)).encode() + b"\r\nX-Pid: " + str(os.getpid()).encode()
                 + b"\r\nConnection: close\r\n\r\n" + reply)


def serve(conn):
    try:
        with conn:
            first = conn.recv(65536)
            if first.startswith(METHODS):
                answer_http(conn, first)
                return
            data = first
            while data:
                conn.sendall(data)
                data = conn.recv(65536)
    except OSError:
        pass
    finally:
        busy.remove(conn)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=1.5)
    parser.add_argument("--fail", type=int, default=None)
    parser.add_argument("--exit-after", type=float, default=None)
    parser.add_argument("--uds", default=None)
    args = parser.parse_args()
    time.sleep(args.delay)
    if args.fail is not None:
        sys.exit(args.fail)
    if args.uds:
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(args.uds)
    else:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", args.port))
    server.listen(64)
    print(f"listening on {args.port}", flush=True)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    if args.exit_after is not None:
        threading.Timer(args.exit_after, lambda: os._exit(3)).start()
    server.settimeout(0.05)
    while not stopping.is_set():
        try:
            conn, _ = server.accept()
        except socket.timeout:
            continue
        conn.settimeout(None)
        busy.append(conn)
        threading.Thread(target=serve, args=(conn,), daemon=True).start()
    server.close()
    while busy:
        time.sleep(0.02)
    print("stopped after the requests in flight", flush=True)


main()
