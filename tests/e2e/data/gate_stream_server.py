#!/usr/bin/env python3
"""A stand-in HTTP server for the gate's stream tests (tests/e2e/gate_stream_test.cc).

Listens on 127.0.0.1:PORT only after --delay seconds, as a model server does once its model
is loaded. One request per connection (Connection: close); each request line is appended to
--log. Paths:
  GET /hello        200, body "hello\\n"
  GET /events?n=N   an SSE stream: N events, one every 50 ms, then the end of the answer
  GET /bytes?n=N    N bytes of the pattern below (a download)
  POST /upload      reads Content-Length bytes and checks them against the pattern: 200
                    "ok N" when they match, 500 "mismatch at OFFSET" otherwise
  POST /die         reads 64 KiB of the body, then the process exits at once (a crash
                    mid-request: no answer)
The pattern is 64 KiB blocks: block k is k as 8 little-endian bytes, then byte i of the block
is (i * 167 + (i >> 8) * 13) & 255, so a lost, repeated or shifted block shows.
"""
import argparse
import os
import socket
import struct
import threading
import time

BLOCK = 64 * 1024
BASE = bytes((i * 167 + (i >> 8) * 13) & 255 for i in range(BLOCK))


def pattern(offset, size):
    """Bytes [offset, offset + size) of the pattern; offset is a multiple of BLOCK."""
    out = bytearray()
    k = offset // BLOCK
    while len(out) < size:
        out += struct.pack("<Q", k) + BASE[8:]
        k += 1
    return bytes(out[:size])


def answer(conn, status, body, extra=b""):
    conn.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Length: " + str(len(body)).encode()
                 + b"\r\n" + extra + b"Connection: close\r\n\r\n" + body)


def read_head(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        more = conn.recv(65536)
        if not more:
            return None, b""
        data += more
    head, rest = data.split(b"\r\n\r\n", 1)
    return head.decode("latin-1").split("\r\n"), rest


def content_length(lines):
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            return int(value)
    return 0


def upload(conn, length, rest):
    got = 0
    buffer = bytearray(1 << 20)
    view = memoryview(buffer)
    pending = rest
    while got < length:
        if pending:
            n = len(pending)
            view[:n] = pending
            pending = b""
        else:
            n = conn.recv_into(view, min(len(buffer), length - got))
            if n == 0:
                break
        # Compare in whole blocks where possible; a chunk may start mid-block.
        start = got - got % BLOCK
        expected = pattern(start, got - start + n)[got - start:]
        if bytes(view[:n]) != expected:
            bad = next(i for i in range(n) if view[i] != expected[i])
            answer(conn, b"500 Mismatch", f"mismatch at {got + bad}\n".encode())
            return
        got += n
    answer(conn, b"200 OK", f"ok {got}\n".encode())


def serve(conn, log):
    with conn:
        lines, rest = read_head(conn)
        if lines is None:
            return
        method, target, _ = lines[0].split(" ", 2)
        with open(log, "a") as f:
            f.write(f"{method} {target}\n")
        path, _, query = target.partition("?")
        n = int(query[2:]) if query.startswith("n=") else 0
        if method == "GET" and path == "/hello":
            answer(conn, b"200 OK", b"hello\n")
        elif method == "GET" and path == "/events":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                         b"Cache-Control: no-cache\r\nConnection: close\r\n\r\n")
            for i in range(n):
                conn.sendall(f"id: {i}\nevent: token\ndata: {{\"token\": {i * 7919 % 1000}}}\n\n"
                             .encode())
                time.sleep(0.05)
        elif method == "GET" and path == "/bytes":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: " + str(n).encode()
                         + b"\r\nConnection: close\r\n\r\n")
            chunk = 16 * BLOCK
            for offset in range(0, n, chunk):
                conn.sendall(pattern(offset, min(chunk, n - offset)))
        elif method == "POST" and path == "/upload":
            upload(conn, content_length(lines), rest)
        elif method == "POST" and path == "/die":
            got = len(rest)
            while got < BLOCK:
                more = conn.recv(65536)
                if not more:
                    break
                got += len(more)
            os._exit(3)
        else:
            answer(conn, b"404 Not Found", b"")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    for name, kind, default in (("--port", int, None), ("--delay", float, 0.0), ("--log", str, None)):
        parser.add_argument(name, type=kind, default=default, required=default is None)
    args = parser.parse_args()
    time.sleep(args.delay)
    # create_server sets SO_REUSEADDR, so a restart binds at once.
    with socket.create_server(("127.0.0.1", args.port), backlog=64) as server:
        print(f"listening on {args.port}", flush=True)
        while True:
            conn, _ = server.accept()
            threading.Thread(target=serve, args=(conn, args.log), daemon=True).start()


main()
