#!/usr/bin/env python3
"""Issue 12's slowloris, on loopback: 300 connections from 127.0.0.2, each
sending a header line every 10 s (reconnecting when closed), against
`evpipe local` with its default limits; a probe from 127.0.0.3 asks for
/healthz once a second. Prints how many probes were served and how many log
lines the server wrote.   bench/slowloris.py BUILD/evpipe [SECONDS]"""
import os, re, shutil, socket, subprocess, sys, tempfile, time
cli = sys.argv[1]; secs = int(sys.argv[2]) if len(sys.argv) > 2 else 30
tmp = tempfile.mkdtemp()
d, errf = tmp + "/data", tmp + "/local.err"
schema = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "schemas",
                      "glue-data-catalog-json-schema.json")
p = subprocess.Popen([cli, "local", "--listen", "127.0.0.1:0", "--data", d, "--quiet", "--schema", schema],
                     stdout=subprocess.DEVNULL, stderr=open(errf, "w"))
port = None
for _ in range(100):
    m = re.search(r'"url":"http://127.0.0.1:(\d+)"', open(errf).read())
    if m: port = int(m.group(1)); break
    time.sleep(0.1)
def attack():
    s = socket.socket(); s.bind(("127.0.0.2", 0)); s.setblocking(False)
    try: s.connect(("127.0.0.1", port))
    except BlockingIOError: pass
    return [s, 0.0]
conns = [attack() for _ in range(300)]
t0 = time.monotonic(); ok = bad = 0; reconnects = 0
while time.monotonic() - t0 < secs:
    now = time.monotonic()
    for c in conns:
        if now - c[1] >= 10:
            try:
                c[0].send(b"GET /healthz HTTP/1.1\r\n" if c[1] == 0 else b"X-a: b\r\n"); c[1] = now
            except OSError:
                c[0].close(); c[:] = attack(); reconnects += 1
    try:
        q = socket.socket(); q.bind(("127.0.0.3", 0)); q.settimeout(2); q.connect(("127.0.0.1", port))
        q.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        r = q.recv(100); q.close()
        ok += r.startswith(b"HTTP/1.1 200"); bad += not r.startswith(b"HTTP/1.1 200")
    except OSError:
        bad += 1
    time.sleep(1)
p.terminate(); p.wait()
log = open(errf, "rb").read().splitlines()
shutil.rmtree(tmp, ignore_errors=True)
print(f"{cli}: probes from another address: {ok} served, {bad} refused/failed in {secs} s; attacker reconnects {reconnects}; log lines {len(log)}")
