#!/usr/bin/env python3
"""ready_notify.py SOCKET_FILE GO_FILE READY_STAMP: a service that tells podvisor it is ready
the way systemd's sd_notify does. It writes $NOTIFY_SOCKET to SOCKET_FILE, sends
"STATUS=loading weights", waits until GO_FILE exists, writes the time (CLOCK_REALTIME ns) to
READY_STAMP and sends "READY=1". An address starting with '@' is in the abstract namespace
('\\0' in its place). Then it stays up until SIGTERM (exit 0)."""
import os
import signal
import socket
import sys
import time

signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
socket_file, go_file, ready_stamp = sys.argv[1:4]


def write_whole(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


address = os.environ.get("NOTIFY_SOCKET", "")
write_whole(socket_file, address + "\n")
if not address:
    print("no NOTIFY_SOCKET", flush=True)
    sys.exit(3)
target = "\0" + address[1:] if address.startswith("@") else address
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.sendto(b"STATUS=loading weights", target)
print("engine: loading weights", flush=True)
while not os.path.exists(go_file):
    time.sleep(0.01)
write_whole(ready_stamp, f"{time.time_ns()}\n")
sock.sendto(b"READY=1\nSTATUS=serving", target)
print("engine: sent READY=1", flush=True)
while True:
    signal.pause()
