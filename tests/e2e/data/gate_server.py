#!/usr/bin/env python3
"""A stand-in model server for the gate tests (tests/e2e/gate_test.cc).

Listens on 127.0.0.1:PORT only after --delay seconds, as a model server does once its model
is loaded. Per connection, by the first bytes:
  "GET "  answers one HTTP/1.1 request with 200 and the body "ready after load\n", then closes
  else   echoes every byte back as it comes, and closes after the client's end of file
"""
import argparse
import socket
import threading
import time


def serve(conn):
    with conn:
        first = conn.recv(65536)
        if first.startswith(b"GET "):
            while b"\r\n\r\n" not in first:
                more = conn.recv(65536)
                if not more:
                    return
                first += more
            body = b"ready after load\n"
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
            return
        data = first
        while data:
            conn.sendall(data)
            data = conn.recv(65536)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=1.5)
    args = parser.parse_args()
    time.sleep(args.delay)
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", args.port))
    server.listen(64)
    print(f"listening on {args.port}", flush=True)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


main()
