# An event listener as childutils-based ones (crash-mail, superlance) are written: READY, a
# header line, `len` bytes of payload, then RESULT. Appends "header+payload\n---\n" to
# $EVFILE. With FAIL_FIRST=1 the first event is answered FAIL (and so sent again); with
# DELAY=S each answer comes S seconds late (a mailer talking to a slow SMTP server).
import os
import sys
import time

out = open(os.environ["EVFILE"], "a")
fail_next = os.environ.get("FAIL_FIRST") == "1"
delay = float(os.environ.get("DELAY", "0"))
while True:
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    line = sys.stdin.readline()
    if not line:
        break
    headers = dict(x.split(":", 1) for x in line.split())
    payload = sys.stdin.read(int(headers["len"]))
    out.write(line + payload + "\n---\n")
    out.flush()
    time.sleep(delay)
    if fail_next:
        fail_next = False
        sys.stdout.write("RESULT 4\nFAIL")
    else:
        sys.stdout.write("RESULT 2\nOK")
    sys.stdout.flush()
