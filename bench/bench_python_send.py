#!/usr/bin/env python3
"""Events/s through the Python binding's Client.send() vs the C API's
evp_send, in the same run, with the same configuration: a paused,
memory-only client in poll mode on an unreachable endpoint (nothing is
delivered, so only the caller-side cost of a send is timed), one thread.

    python3 bench/bench_python_send.py [--events N] [--build DIR]

The C baseline is `DIR/bench/bench_client send N EVENT` (bench/bench_client.c).
The package is imported from bindings/python (or an installed evpipe) and
libevpipe from DIR/libevpipe.so.0.2 unless $EVPIPE_LIBRARY is set.
Each side runs three times, alternating, each time after an untimed round
that warms the heap up (bench_client does the same); the best is reported.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "bindings", "python"))

EVENT = {"event_id": "0193a2b4-1111-7222-8333-444455556666", "event_type": "screen_view",
         "event_time": "2026-11-25T01:00:00.000Z", "app_id": "bench-app", "user_id": "u-123456",
         "session_id": "s-123456", "platform": "android", "app_version": "1.2.3",
         "properties": {"screen": "home", "n": 123456, "ok": True}}


def python_rate(evpipe, n: int, event: object) -> float:
    rate = 0.0
    for _ in range(2):  # round 0 warms the heap up, round 1 is timed
        rate = python_round(evpipe, n, event)
    return rate


def python_round(evpipe, n: int, event: object) -> float:
    c = evpipe.Client(endpoint="http://127.0.0.1:9", client_id="bench", client_secret="bench",
                      queue_max_events=n + 1000, queue_max_bytes=2000000000,
                      message_timeout_ms=3600000)
    c.pause()
    send = c.send
    t0 = time.perf_counter()
    for _ in range(n):
        send(event)
    dt = time.perf_counter() - t0
    c.close(0)
    return n / dt


def c_rate(build: str, n: int, text: str) -> float:
    out = subprocess.run([os.path.join(build, "bench", "bench_client"), "send", str(n), text],
                         capture_output=True, text=True, check=True).stdout
    m = re.search(r"([0-9]+) events/s", out)
    if not m:
        raise SystemExit(f"unexpected bench_client output: {out}")
    return float(m.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=200000)
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    args = ap.parse_args()
    os.environ.setdefault("EVPIPE_LIBRARY", os.path.join(args.build, "libevpipe.so.0.2"))
    import evpipe  # noqa: E402 (after the library path is chosen)
    # As bench_client does: keep freed pages (no trimming between rounds), so
    # the warm-up round's heap serves the timed one on both sides.
    import ctypes
    M_TRIM_THRESHOLD = -1
    ctypes.CDLL(None).mallopt(M_TRIM_THRESHOLD, 2**31 - 1)
    import logging
    logging.getLogger("evpipe").setLevel(logging.ERROR)  # the unreachable endpoint's warning

    text = json.dumps(EVENT, separators=(",", ":"))
    runs = {"C evp_send": [], "Python send(str)": [], "Python send(dict)": []}
    for _ in range(3):
        runs["C evp_send"].append(c_rate(args.build, args.events, text))
        runs["Python send(str)"].append(python_rate(evpipe, args.events, text))
        runs["Python send(dict)"].append(python_rate(evpipe, args.events, EVENT))
    base = max(runs["C evp_send"])
    print(f"{args.events} sends of a {len(text)}-byte event, one thread, paused client, "
          f"libevpipe {evpipe.version()} from {evpipe.library_path()}, Python "
          f"{sys.version.split()[0]}")
    for name, rates in runs.items():
        best = max(rates)
        print(f"  {name:18s} {best:10.0f} events/s  ({best / base:.2f} x C)"
              f"   runs: {', '.join(f'{r:.0f}' for r in rates)}")


if __name__ == "__main__":
    main()
