#!/usr/bin/env bash
# `evpipe local` against hostile HTTP clients, on loopback only (127.0.0.x):
# request smuggling and malformed framing (400 + close), bytes that could
# break the JSON log line, unbounded bodies on /healthz and /metrics,
# slowloris (per-address connection limit, a deadline for the whole header,
# a minimum body rate, refusals logged as rate-limited summaries) and the
# global connection limit (extra connections wait in the listen backlog).
# Raw sockets in python3; every deadline is set to about a second.
command -v python3 >/dev/null || { echo "python3 not found: skipped"; exit 77; }
exec python3 - "${EVP_CLI:?}" "${EVP_SOURCE_DIR:?}" "${EVP_SANITIZE:-}" <<'PY'
import json, os, re, shutil, socket, subprocess, sys, tempfile, time

CLI, SRC, SAN = sys.argv[1], sys.argv[2], sys.argv[3]
SCHEMA = SRC + "/examples/schemas/glue-data-catalog-json-schema.json"
SLOW = 3 if SAN else 1  # sanitizer builds answer slower
TMP = tempfile.mkdtemp()
PASS = FAIL = 0
procs = []


def check(cond, name):
    global PASS, FAIL
    if cond:
        PASS += 1
        print("ok   - " + name)
    else:
        FAIL += 1
        print("FAIL - " + name)


def start(name, *args):
    err = open(f"{TMP}/{name}.err", "wb")
    p = subprocess.Popen([CLI, "local", "--listen", "127.0.0.1:0", "--data", f"{TMP}/{name}",
                          "--schema", SCHEMA, *args], stdout=subprocess.DEVNULL, stderr=err)
    procs.append(p)
    for _ in range(200 * SLOW):
        m = re.search(rb'"msg":"listening","url":"http://127\.0\.0\.1:(\d+)"',
                      open(f"{TMP}/{name}.err", "rb").read())
        if m:
            return p, int(m.group(1))
        if p.poll() is not None:
            break
        time.sleep(0.1)
    return p, None


def stop(p):
    p.terminate()
    try:
        return p.wait(30 * SLOW)
    except subprocess.TimeoutExpired:
        p.kill()
        return -9


def connect(port, src="127.0.0.1"):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s


def read_until_close(s, wait):
    """Bytes received and whether the peer closed (EOF or reset) within wait seconds."""
    s.settimeout(0.2)
    out, t0 = b"", time.monotonic()
    while time.monotonic() - t0 < wait:
        try:
            x = s.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return out, True
        if not x:
            return out, True
        out += x
    return out, False


def raw(port, data, wait=3):
    s = connect(port)
    s.sendall(data)
    out, closed = read_until_close(s, wait * SLOW)
    s.close()
    return out, closed


def first_reply(s, wait):
    """Up to 100 bytes of the first reply on s within wait seconds (b"" if none)."""
    s.settimeout(wait)
    try:
        return s.recv(100)
    except OSError:
        return b""


def status(out):
    return out.split(b"\r\n", 1)[0].decode("latin-1")


try:
    # ------------------------------------------------------------ framing
    p, port = start("main")
    check(port is not None, "server starts")
    good, closed = raw(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 1)
    check(status(good) == "HTTP/1.1 200 OK" and not closed, "a plain GET /healthz is 200 and keeps the connection")
    bad = {
        "Content-Length and Transfer-Encoding":
            b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "two different Content-Length headers":
            b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nabcde",
        "'Content-Length : 5' (whitespace before the colon)":
            b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\nabcde",
        "a tab before the colon": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A\t: 1\r\n\r\n",
        "CR inside a header value": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n",
        "NUL in the path (raw byte)": b"GET /healthz\x00abc HTTP/1.1\r\nHost: x\r\n\r\n",
        "NUL in the path (%00)": b"GET /healthz%00abc HTTP/1.1\r\nHost: x\r\n\r\n",
        "HTTP/1.1 without Host": b"GET /healthz HTTP/1.1\r\n\r\n",
        "two Host headers": b"GET /healthz HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
        "a transfer coding other than chunked":
            b"POST /token HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n",
        "Transfer-Encoding on HTTP/1.0": b"GET /healthz HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    }
    for what, req in bad.items():
        out, closed = raw(port, req)
        check(status(out).startswith("HTTP/1.1 400") and closed,
              f"{what}: 400 and the connection is closed (got {status(out)!r}, closed={closed})")
    out, _ = raw(port, bad["Content-Length and Transfer-Encoding"])
    check(b'"error":"invalid_request"' in out and b"Transfer-Encoding" in out, "the 400 names what was wrong")

    # ------------------------------------------------------------ the log line
    raw(port, b"GET /\xff\xfe\xc3(%01abc HTTP/1.1\r\nHost: x\r\n\r\n", 1)
    raw(port, b"GET /" + b"%01" * 1000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 1)
    raw(port, b"GET /\x7f\x1b[31m HTTP/1.1\r\nHost: x\r\n\r\n", 1)

    # ------------------------------------------------------------ bodies on GET routes
    s = connect(port)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    sent, t0 = 0, time.monotonic()
    chunk = b"100000\r\n" + b"x" * 0x100000 + b"\r\n"
    s.settimeout(0.05)
    got = b""
    while sent < 100 * 0x100000 and time.monotonic() - t0 < 10 * SLOW:
        try:
            s.sendall(chunk)
            sent += 0x100000
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            break
        try:
            got += s.recv(4096)
            if got:
                break
        except socket.timeout:
            pass
        except ConnectionResetError:
            break
    more, closed = read_until_close(s, 3 * SLOW)
    got += more
    s.close()
    check(status(got).startswith("HTTP/1.1 413") and closed and sent < 100 * 0x100000,
          f"GET /healthz with a 100 MB chunked body: 413 and closed after {sent >> 20} MiB (got {status(got)!r})")
    s = connect(port)
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n" + b"x" * 65536)
    out, closed = read_until_close(s, 3 * SLOW)
    s.close()
    check(status(out).startswith("HTTP/1.1 413") and closed, "GET /metrics with Content-Length 100000000: 413 and closed")
    good, _ = raw(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 1)
    check(status(good) == "HTTP/1.1 200 OK", "still serving")
    check(stop(p) == 0, "SIGTERM: exit 0")
    lines = open(f"{TMP}/main.err", "rb").read().splitlines()
    bad_lines = []
    for line in lines:
        try:
            json.loads(line.decode("utf-8"))
        except ValueError:
            bad_lines.append(line)
    check(lines and not bad_lines, f"every log line is UTF-8 JSON despite raw bytes in paths {[l[:120] for l in bad_lines[:2]]}")
    paths = [json.loads(l.decode()).get("path", "") for l in lines if b'"status":404' in l and l not in bad_lines]
    check(any("\ufffd" in x for x in paths) and any("\x01" in x for x in paths) and any("\x1b" in x for x in paths),
          "invalid UTF-8 is shown as U+FFFD and control bytes are escaped")

    # ------------------------------------------------------------ slowloris
    p, port = start("slow", "--max-connections", "16", "--max-connections-per-address", "4",
                    "--header-timeout", "1", "--min-body-rate", "100", "--quiet")
    check(port is not None, "server with 1 s deadlines starts")
    hold = []
    for _ in range(10):
        s = connect(port, "127.0.0.2")
        try:
            s.sendall(b"GET /healthz HTTP/1.1\r\n")
        except OSError:
            pass
        hold.append(s)
    time.sleep(0.3 * SLOW)
    refused = 0
    for s in hold:
        s.setblocking(False)
        try:
            refused += s.recv(1) == b""
        except BlockingIOError:
            pass
        except OSError:
            refused += 1
    check(refused == 6, f"one address gets 4 connections, the other 6 are refused at once (refused {refused})")
    s = connect(port, "127.0.0.3")
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    out = first_reply(s, 3 * SLOW)
    s.close()
    check(status(out) == "HTTP/1.1 200 OK", "another address is served meanwhile")
    # The held ones keep sending a header line every 0.3 s: the header deadline
    # (not an idle timer) closes them.
    t0 = time.monotonic()
    open_ = [s for s in hold]
    alive = len(open_)
    while time.monotonic() - t0 < 6 * SLOW and alive:
        alive = 0
        for s in open_:
            try:
                s.sendall(b"X-Slow: 1\r\n")
                s.setblocking(False)
                if s.recv(1) != b"":
                    alive += 1
            except BlockingIOError:
                alive += 1
            except OSError:
                pass
        time.sleep(0.3)
    dt = time.monotonic() - t0
    check(alive == 0, f"connections that keep sending header lines are closed by the header deadline ({dt:.1f} s, {alive} left)")
    for s in hold:
        s.close()
    # Minimum body rate: 1 byte every 0.3 s against 100 bytes/s.
    s = connect(port, "127.0.0.4")
    s.sendall(b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n")
    t0, closed = time.monotonic(), False
    while time.monotonic() - t0 < 8 * SLOW:
        try:
            s.sendall(b"a")
            s.setblocking(False)
            if s.recv(1) == b"":
                closed = True
                break
        except BlockingIOError:
            pass
        except OSError:
            closed = True
            break
        time.sleep(0.3)
    s.close()
    check(closed, f"a body slower than --min-body-rate is cut ({time.monotonic() - t0:.1f} s)")
    # A body at a fair pace is not cut (1000 bytes in ~1.5 s).
    s = connect(port, "127.0.0.4")
    s.sendall(b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n")
    for _ in range(10):
        s.sendall(b"a" * 100)
        time.sleep(0.15)
    out = first_reply(s, 5 * SLOW)
    s.close()
    check(status(out).startswith("HTTP/1.1 400"), f"a body at a fair pace reaches the handler (got {status(out)!r})")
    s = connect(port, "127.0.0.5")
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    s.settimeout(5 * SLOW)
    met = b""
    try:
        while b"evpipe_lake" not in met:
            x = s.recv(65536)
            if not x:
                break
            met += x
    except OSError:
        pass
    s.close()
    for m in (b'evpipe_http_connections_dropped_total{reason="per_address"} 6\n',
              b'evpipe_http_connections_dropped_total{reason="header_deadline"} 4\n',
              b'evpipe_http_connections_dropped_total{reason="body_rate"} 1\n'):
        check(m in met, f"metric {m.decode().strip()}")
    check(stop(p) == 0, "slowloris server: SIGTERM exit 0")
    text = open(f"{TMP}/slow.err", "rb").read().decode("utf-8", "replace")
    ref = [l for l in text.splitlines() if "refused" in l]
    check(1 <= len(ref) <= 3, f"6 refusals make at most 3 log lines, not one each ({len(ref)})")
    check(any('"count":' in l for l in ref), "the refusal summary carries a count")
    check('"msg":"connection closed: header deadline"' in text or "header_timeout" in text,
          "header-deadline closes are logged")

    # ------------------------------------------------------------ global limit: the backlog
    p, port = start("backlog", "--max-connections", "4", "--header-timeout", "10", "--quiet")
    idle = [connect(port, "127.0.0.5") for _ in range(4)]
    time.sleep(0.3 * SLOW)
    s = connect(port, "127.0.0.6")
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    out, closed = read_until_close(s, 1)
    check(out == b"" and not closed, f"past --max-connections a connection waits (not reset) (got {out[:20]!r}, closed={closed})")
    idle[0].close()
    out = first_reply(s, 5 * SLOW)
    check(status(out) == "HTTP/1.1 200 OK", "it is served once a slot frees")
    s.close()
    for c in idle:
        c.close()
    check(stop(p) == 0, "backlog server: SIGTERM exit 0")
    # ------------------------------------------------------------ option and start-up errors
    for opt in ("--max-connections", "--max-connections-per-address", "--header-timeout", "--min-body-rate"):
        r = subprocess.run([CLI, "local", opt, "0", "--schema", SCHEMA], capture_output=True)
        check(r.returncode == 2 and opt.encode() in r.stderr, f"{opt} 0 is a usage error naming the option")
    p, port = start("first")
    r = subprocess.run([CLI, "local", "--listen", f"127.0.0.1:{port}", "--data", f"{TMP}/second",
                        "--schema", SCHEMA], capture_output=True, timeout=30 * SLOW)
    check(r.returncode == 1 and b"cannot listen on 127.0.0.1:" in r.stderr,
          "a port in use: exit 1, the log says it cannot listen")
    stop(p)
    p, port6 = None, None
    if socket.has_ipv6:
        try:
            socket.socket(socket.AF_INET6).bind(("::1", 0))
            err = open(f"{TMP}/v6.err", "wb")
            p = subprocess.Popen([CLI, "local", "--listen", "[::1]:0", "--data", f"{TMP}/v6", "--schema", SCHEMA],
                                 stdout=subprocess.DEVNULL, stderr=err)
            procs.append(p)
            for _ in range(200 * SLOW):
                m = re.search(rb'"url":"http://\[::1\]:(\d+)"', open(f"{TMP}/v6.err", "rb").read())
                if m:
                    port6 = int(m.group(1))
                    break
                time.sleep(0.1)
        except OSError:
            pass
    if p:
        s = socket.create_connection(("::1", port6 or 1), timeout=5 * SLOW) if port6 else None
        out = b""
        if s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            out = first_reply(s, 5 * SLOW)
            s.close()
        check(status(out) == "HTTP/1.1 200 OK", "IPv6 listen address [::1] serves")
        stop(p)
finally:
    for p in procs:
        if p.poll() is None:
            p.kill()
    shutil.rmtree(TMP, ignore_errors=True)

print(f"{PASS} passed, {FAIL} failed")
sys.exit(1 if FAIL else 0)
PY
