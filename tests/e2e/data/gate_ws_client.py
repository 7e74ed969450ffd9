#!/usr/bin/env python3
"""A WebSocket client (python3-websockets) for tests/e2e/gate_stream_test.cc: connects to
ws://127.0.0.1:PORT/ (the gate), sends a text and a 1 MiB binary message and checks each
echo. Prints "echo ok" and exits 0 when both came back exactly, else exits 1 saying why.
Every step is bounded by --timeout seconds."""
import argparse
import asyncio
import sys

import websockets


async def run(port, timeout):
    async with websockets.connect(f"ws://127.0.0.1:{port}/", open_timeout=timeout,
                                  max_size=None) as ws:
        binary = bytes((i * 31 + 7) & 255 for i in range(1 << 20))
        for message in ("hello through the gate", binary):
            await ws.send(message)
            back = await asyncio.wait_for(ws.recv(), timeout)
            if back != message:
                sys.exit(f"echo differs for a {type(message).__name__} of {len(message)}")
    print("echo ok", flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--timeout", type=float, default=20)
    args = parser.parse_args()
    asyncio.run(run(args.port, args.timeout))


main()
