"""e2e helper: sets signal dispositions, prints 'ready PID', then waits for signals forever.

usage: python3 signals.py [NAME=ACTION ...]   (NAME without SIG: TERM, INT, USR1, ...)
  ACTION: ignore | exit:N (exit with status N) | print:TEXT (print TEXT, keep running)
"""
import os
import signal
import sys


def main():
    for arg in sys.argv[1:]:
        name, action = arg.split("=", 1)
        signo = getattr(signal, "SIG" + name)
        if action == "ignore":
            signal.signal(signo, signal.SIG_IGN)
        elif action.startswith("exit:"):
            code = int(action[len("exit:"):])
            signal.signal(signo, lambda *_, code=code: sys.exit(code))
        elif action.startswith("print:"):
            text = action[len("print:"):]
            signal.signal(signo, lambda *_, text=text: print(text, flush=True))
        else:
            sys.exit(f"signals.py: bad action {action!r}")
    print(f"ready {os.getpid()}", flush=True)
    while True:
        signal.pause()


main()
