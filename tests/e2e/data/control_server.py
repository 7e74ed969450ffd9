#!/usr/bin/env python3
"""A model server that is slow to come up, for the control-plane tests
(tests/e2e/control_test.cc).

usage: control_server.py PORT GO_FILE

Binds 127.0.0.1:PORT at once (SO_REUSEPORT: the test holds the port bound, not listening,
so nobody else gets it and connections are refused meanwhile), prints "loading", and only
once GO_FILE exists listens, prints "listening" and answers every HTTP request 200 "ok".
"""
import os
import socket
import sys
import time

port, go = int(sys.argv[1]), sys.argv[2]
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
sock.bind(("127.0.0.1", port))
print("loading", flush=True)
while not os.path.exists(go):
    time.sleep(0.01)
sock.listen(16)
print("listening", flush=True)
while True:
    conn, _ = sock.accept()
    with conn:
        try:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            if data:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
        except OSError:
            pass
