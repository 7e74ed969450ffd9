#!/usr/bin/env python3
"""ready_client.py URL RESULT: a handler as in seed 004. Its first act is one GET of URL;
it writes "HTTP 200" (or "error: ...") to RESULT, then stays up until SIGTERM (exit 0)."""
import os
import signal
import sys
import urllib.error
import urllib.request

signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
url, result = sys.argv[1], sys.argv[2]
try:
    with urllib.request.urlopen(url, timeout=10) as r:
        text = f"HTTP {r.status}\n"
except urllib.error.HTTPError as e:
    text = f"HTTP {e.code}\n"
except Exception as e:  # connection refused, above all
    text = f"error: {e}\n"
with open(result + ".tmp", "w") as f:
    f.write(text)
os.replace(result + ".tmp", result)
print(f"handler: {url}: {text.strip()}", flush=True)
while True:
    signal.pause()
