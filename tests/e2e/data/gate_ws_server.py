#!/usr/bin/env python3
"""A stand-in WebSocket echo server (python3-websockets) for tests/e2e/gate_stream_test.cc.

Listens on 127.0.0.1:PORT only after --delay seconds, as a model server does once loaded,
and sends every message back as it came (text as text, binary as binary).
"""
import argparse
import asyncio
import time

import websockets


async def echo(ws, path=None):
    async for message in ws:
        await ws.send(message)


async def serve(port):
    async with websockets.serve(echo, "127.0.0.1", port, max_size=None):
        print(f"listening on {port}", flush=True)
        await asyncio.Future()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    for name, kind, default in (("--port", int, None), ("--delay", float, 0.0)):
        parser.add_argument(name, type=kind, default=default, required=default is None)
    args = parser.parse_args()
    time.sleep(args.delay)
    asyncio.run(serve(args.port))


main()
