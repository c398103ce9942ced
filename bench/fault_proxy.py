#!/usr/bin/env python3
"""A loopback HTTP/1.1 fault proxy for the client bench (bench/run_faults.sh).

  fault_proxy.py UPSTREAM_PORT --rate 0.3 --faults 503,reset_before,reset_after[,429]
                 [--seed N] [--stats FILE]

Listens on 127.0.0.1 (a free port, printed as "listening PORT" on stdout) and
forwards every request to 127.0.0.1:UPSTREAM_PORT over one upstream connection
per client connection. A share --rate of the POST /events requests is faulted,
the fault drawn evenly from --faults:
  503           answer 503 without Retry-After; nothing forwarded
  429           answer 429 with Retry-After: 1; nothing forwarded
  reset_before  reset the client connection (RST) before forwarding anything
  reset_after   forward, read the server's whole answer (the events are
                stored), then reset the client connection instead of answering
Other requests (POST /token ...) are never faulted. On SIGTERM or SIGINT it
writes its counters as JSON to --stats (or stderr) and exits; the counters
include retry_after_s, the Retry-After seconds it handed out.

Only what the client SDK sends is understood: requests with Content-Length
(no chunked bodies), responses with Content-Length. Loopback only.
"""
import argparse
import json
import random
import signal
import socket
import struct
import sys
import threading

MAX_HEAD = 64 * 1024
MAX_BODY = 64 * 1024 * 1024


class Closed(Exception):
    pass


def read_message(f):
    """One HTTP message from file f: (head lines, body bytes)."""
    line = f.readline(MAX_HEAD)
    if not line:
        raise Closed()
    lines = [line]
    while True:
        h = f.readline(MAX_HEAD)
        if not h:
            raise Closed()
        lines.append(h)
        if h in (b"\r\n", b"\n"):
            break
        if len(lines) > 200:
            raise Closed()
    length = 0
    for h in lines[1:]:
        name, _, value = h.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
        if name.strip().lower() == b"transfer-encoding":
            raise Closed()  # not used by the SDK or evpipe local
    if length < 0 or length > MAX_BODY:
        raise Closed()
    body = f.read(length) if length else b""
    if len(body) != length:
        raise Closed()
    return lines, body


def reset(sock):
    """Close with RST (SO_LINGER 0), as a crashed or cut connection would."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class Proxy:
    def __init__(self, upstream, rate, faults, seed):
        self.upstream = upstream
        self.rate = rate
        self.faults = faults
        self.rng = random.Random(seed)
        self.mu = threading.Lock()
        self.stats = {"requests": 0, "events_requests": 0, "faulted": 0, "retry_after_s": 0,
                      "by_fault": {f: 0 for f in faults}, "connections": 0}

    def draw(self):
        with self.mu:
            self.stats["events_requests"] += 1
            if self.rng.random() >= self.rate:
                return None
            f = self.faults[self.rng.randrange(len(self.faults))]
            self.stats["faulted"] += 1
            self.stats["by_fault"][f] += 1
            if f == "429":
                self.stats["retry_after_s"] += 1
            return f

    def serve(self, client):
        with self.mu:
            self.stats["connections"] += 1
        up = None
        try:
            cf = client.makefile("rb")
            up = socket.create_connection(("127.0.0.1", self.upstream))
            up.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            uf = up.makefile("rb")
            while True:
                head, body = read_message(cf)
                with self.mu:
                    self.stats["requests"] += 1
                parts = head[0].split()
                fault = None
                if len(parts) >= 2 and parts[0] == b"POST" and parts[1].split(b"?")[0].endswith(b"/events"):
                    fault = self.draw()
                if fault == "reset_before":
                    reset(client)
                    return
                if fault in ("503", "429"):
                    status = b"503 Service Unavailable" if fault == "503" else b"429 Too Many Requests"
                    msg = b'{"error":"fault injected by fault_proxy"}'
                    extra = b"Retry-After: 1\r\n" if fault == "429" else b""
                    client.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\n" + extra +
                                   b"Content-Length: " + str(len(msg)).encode() + b"\r\n\r\n" + msg)
                    continue
                up.sendall(b"".join(head) + body)
                rhead, rbody = read_message(uf)
                if fault == "reset_after":
                    reset(client)
                    return
                client.sendall(b"".join(rhead) + rbody)
        except (Closed, OSError, ValueError):
            pass
        finally:
            try:
                client.close()
            except OSError:
                pass
            if up:
                up.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("upstream", type=int)
    ap.add_argument("--rate", type=float, default=0.3)
    ap.add_argument("--faults", default="503,reset_before,reset_after")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--stats")
    a = ap.parse_args()
    faults = a.faults.split(",")
    for f in faults:
        if f not in ("503", "429", "reset_before", "reset_after"):
            sys.exit("fault_proxy: unknown fault " + f)
    p = Proxy(a.upstream, a.rate, faults, a.seed)
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(128)

    def stop(signum, frame):
        with p.mu:
            out = json.dumps(p.stats)
        if a.stats:
            with open(a.stats, "w") as f:
                f.write(out + "\n")
        else:
            print(out, file=sys.stderr)
        sys.stdout.flush()
        import os
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("listening", ls.getsockname()[1], flush=True)
    while True:
        c, _ = ls.accept()
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=p.serve, args=(c,), daemon=True).start()


if __name__ == "__main__":
    main()
