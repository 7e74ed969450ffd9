#!/usr/bin/env python3
"""hostile_lines.py SENT_FILE GO_FILE: the lines that crashed or froze a backtracking matcher
behind ready=log:^(a+)+$ (a 60 KB line, a 20 KB line, 'aaaa...b'). Writes SENT_FILE once they
are printed; when GO_FILE exists, prints 'aaaa' (the real ready line). Exits 0 on SIGTERM."""
import os
import signal
import sys
import time

signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
sent_file, go_file = sys.argv[1:3]
for line in ("a" * 60000 + "b", "a" * 20000 + "b", "a" * 40 + "b"):
    sys.stdout.write(line + "\n")
sys.stdout.flush()
with open(sent_file, "w") as f:
    f.write("sent\n")
while not os.path.exists(go_file):
    time.sleep(0.01)
print("aaaa", flush=True)
while True:
    signal.pause()
