#!/usr/bin/env python3
"""Secret guessing against POST /token from many addresses (docs/security.md).

usage: bench/token_guess.py PORT CLIENT_ID [SECONDS=0.92] [ADDRESSES=50]

One keep-alive connection per loopback address 127.0.0.2.., each sending
wrong secrets for CLIENT_ID as fast as it can for SECONDS. Prints the
answers by status: 401 is a secret that was compared, 429 one refused
without looking (per-address rate limit or the client id's lockout).
"""
import collections, http.client, sys, threading, time

port, cid = int(sys.argv[1]), sys.argv[2]
dur = float(sys.argv[3]) if len(sys.argv) > 3 else 0.92
naddr = int(sys.argv[4]) if len(sys.argv) > 4 else 50
codes, lock = collections.Counter(), threading.Lock()


def worker(i):
    c = http.client.HTTPConnection("127.0.0.1", port, source_address=(f"127.0.0.{i + 2}", 0))
    end, n = time.time() + dur, 0
    while time.time() < end:
        c.request("POST", "/token",
                  f"grant_type=client_credentials&client_id={cid}&client_secret=guess-{i}-{n}",
                  {"Content-Type": "application/x-www-form-urlencoded"})
        r = c.getresponse()
        r.read()
        n += 1
        with lock:
            codes[r.status] += 1


t0 = time.time()
threads = [threading.Thread(target=worker, args=(i,)) for i in range(naddr)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(f"{sum(codes.values())} requests in {time.time() - t0:.2f} s: "
      + ", ".join(f"{k}: {v}" for k, v in sorted(codes.items())))
print(f"secrets compared (401): {codes[401]}")
