#!/usr/bin/env python3
"""A program that records the signals it gets (tests/e2e/control_test.cc).

usage: control_signals.py FILE
Prints "started PID" at start. For HUP, USR1, USR2 and INT: appends the signal's name
(one line) to FILE, then prints "got NAME N" (N counts the signals so far) on stdout, and
keeps running. TERM appends "TERM" and exits 0.
"""
import os
import signal
import sys

path = sys.argv[1]
count = 0


def record(signo, _frame):
    global count
    count += 1
    name = signal.Signals(signo).name[3:]
    with open(path, "a") as f:
        f.write(name + "\n")
    print(f"got {name} {count}", flush=True)
    if signo == signal.SIGTERM:
        sys.exit(0)


for s in (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGINT, signal.SIGTERM):
    signal.signal(s, record)
print(f"started {os.getpid()}", flush=True)
while True:
    signal.pause()
