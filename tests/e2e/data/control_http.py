#!/usr/bin/env python3
"""HTTP client for the control-plane tests (tests/e2e/control_test.cc), over a unix socket or TCP.

usage: control_http.py URL METHOD PATH [--user U --password P] [--data BODY]
       control_http.py URL --raw          (the request's bytes come from stdin)

URL is unix:///path/to.sock or http://HOST:PORT.
Prints the status code on the first line, then the body exactly as received.
--raw sends stdin's bytes as they are and prints whatever comes back until the server
closes the connection (or 10 s pass), without parsing it; with --leave it closes the
connection right after sending, reading nothing (a client that goes away).
Exit status 0 whenever an answer came, 1 on a connection error (the error on stderr).
"""
import argparse
import base64
import http.client
import socket
import sys


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.unix_path)
        self.sock = sock


def open_socket(url, timeout):
    if url.startswith("unix://"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(url[len("unix://"):])
        return sock
    host, port = url[len("http://"):].rstrip("/").rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=timeout)


def connection(url, timeout):
    if url.startswith("unix://"):
        return UnixConnection(url[len("unix://"):], timeout)
    if url.startswith("http://"):
        host, port = url[len("http://"):].rstrip("/").rsplit(":", 1)
        return http.client.HTTPConnection(host, int(port), timeout=timeout)
    sys.exit(f"control_http.py: bad URL {url!r}")


def raw(url, timeout, leave):
    data = sys.stdin.buffer.read()
    sock = open_socket(url, timeout)
    sock.sendall(data)
    if leave:
        sock.close()
        return
    received = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    except socket.timeout:
        pass
    except ConnectionResetError:
        pass
    sock.close()
    sys.stdout.buffer.write(received)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("method", nargs="?")
    p.add_argument("path", nargs="?")
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--data")
    p.add_argument("--raw", action="store_true")
    p.add_argument("--leave", action="store_true")
    p.add_argument("--timeout", type=float, default=10.0)
    args = p.parse_args()
    try:
        if args.raw:
            return raw(args.url, args.timeout, args.leave)
        conn = connection(args.url, args.timeout)
        headers = {}
        if args.user is not None:
            token = base64.b64encode(f"{args.user}:{args.password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        body = args.data.encode() if args.data is not None else None
        if body is not None:
            headers["Content-Type"] = "application/json"
        conn.request(args.method, args.path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
    except OSError as e:
        print(f"control_http.py: {e}", file=sys.stderr)
        sys.exit(1)
    sys.stdout.buffer.write(f"{response.status}\n".encode() + data)


if __name__ == "__main__":
    main()
