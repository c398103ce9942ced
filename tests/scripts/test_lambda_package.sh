#!/usr/bin/env bash
# The Lambda package (dist/evpipe-lambda.zip, target lambda-zip): Unix modes,
# contents, every library resolved inside the bundle by the bundled loader,
# the launcher preserving argv and environment, and the packaged bootstrap
# run with a clean environment (env -i) against a stand-in Runtime API
# (python3, standard library only).
. "$(dirname "$0")/lib.sh"
SRC=${EVP_SOURCE_DIR:?}
BIN=${EVP_BINARY_DIR:?}
if [ -n "${EVP_SANITIZE:-}" ]; then
  echo "lambda package test skipped in a sanitizer build (instrumented libraries)"
  exit 77
fi
if [ "$(uname -m)" != x86_64 ]; then
  echo "lambda package test: x86_64 only"
  exit 77
fi
for t in unzip zip python3; do
  command -v "$t" >/dev/null 2>&1 || { echo "lambda package test skipped: $t missing (scripts/install-deps)"; exit 77; }
done
ZIP="$SRC/dist/evpipe-lambda.zip"

expect_rc 0 "cmake --build --target lambda-zip" cmake --build "$BIN" --target lambda-zip
[ -f "$ZIP" ] && pass "dist/evpipe-lambda.zip exists" || { fail "dist/evpipe-lambda.zip exists"; finish; exit 1; }
if git -C "$SRC" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  if git -C "$SRC" check-ignore -q dist/evpipe-lambda.zip; then pass "dist/ is ignored by git"; else fail "dist/ is ignored by git"; fi
fi

# Modes as stored in the zip (what Lambda extracts).
unzip -Z "$ZIP" >"$TMP/listing"
mode_of() { awk -v f="$1" '$NF == f {print $1}' "$TMP/listing"; }
for f in bootstrap bin/bootstrap.bin lib/ld-linux-x86-64.so.2; do
  m=$(mode_of "$f")
  case $m in -rwxr-xr-x) pass "zip mode of $f is $m" ;; *) fail "zip mode of $f is '$m'" ;; esac
done
if awk '$1 ~ /^[-d]/ && $3 != "unx" {bad=1} END {exit bad}' "$TMP/listing"; then pass "zip entries carry Unix attributes"; else fail "zip entries carry Unix attributes"; fi
for lib in libc.so.6 libcurl.so.4 libcrypto.so.3; do
  if grep -q " lib/$lib\$" "$TMP/listing"; then pass "bundles $lib"; else fail "bundles $lib"; fi
done

P="$TMP/pkg"
mkdir -p "$P"
expect_rc 0 "unzip" unzip -q "$ZIP" -d "$P"
[ -x "$P/bootstrap" ] && pass "unpacked bootstrap is executable" || fail "unpacked bootstrap is executable"

# The launcher: a static executable (no interpreter to resolve) or a /bin/sh script.
if head -c 4 "$P/bootstrap" | grep -q ELF; then
  if readelf -l "$P/bootstrap" 2>/dev/null | grep -q INTERP; then fail "launcher is statically linked"; else pass "launcher is statically linked"; fi
else
  expect_grep "$P/bootstrap" '^#!/bin/sh' "launcher is a /bin/sh script"
fi

# Every library bootstrap.bin needs resolves inside lib/ through the bundled loader.
LD="$P/lib/ld-linux-x86-64.so.2"
expect_rc 0 "bundled loader lists bootstrap.bin" env -i "$LD" --list --library-path "$P/lib" "$P/bin/bootstrap.bin"
cp "$TMP/out" "$TMP/ldlist"
outside=$(awk -v s="$P/lib/" '$2 == "=>" && index($3, s) != 1' "$TMP/ldlist")
if [ -z "$outside" ] && grep -q "=>" "$TMP/ldlist"; then pass "no library resolves outside the bundle"; else
  fail "no library resolves outside the bundle: $outside"; fi

# The launcher preserves argv and the (clean) environment: the same bundle
# with a harmless program as bin/bootstrap.bin.
for prog in printf env; do
  q="$TMP/launch-$prog"
  cp -r "$P" "$q"
  cp "$(type -P "$prog")" "$q/bin/bootstrap.bin"
done
env -i "$TMP/launch-printf/bootstrap" '%s|' "a b" '' 'c"d' >"$TMP/argv" 2>&1
if [ "$(cat "$TMP/argv")" = 'a b||c"d|' ]; then pass "launcher passes argv unchanged"; else fail "launcher passes argv unchanged (got $(cat "$TMP/argv"))"; fi
env -i FOO='x y' BAR= "$TMP/launch-env/bootstrap" >"$TMP/envout" 2>&1
if [ "$(sort "$TMP/envout" | tr '\n' ';')" = 'BAR=;FOO=x y;' ]; then pass "launcher passes the environment unchanged"; else
  fail "launcher passes the environment unchanged (got $(tr '\n' ';' <"$TMP/envout"))"; fi

# A stand-in Runtime API: one invocation; records the first answer
# (/response, /error or /init/error) as JSON lines in $TMP/answers.
cat >"$TMP/api.py" <<'EOF'
import http.server, json, sys, threading, time
out, portfile = sys.argv[1], sys.argv[2]
handed = threading.Event()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        if self.path != "/2018-06-01/runtime/invocation/next":
            self.send_error(404); return
        if handed.is_set():
            time.sleep(3600); return  # long poll: nothing more to do
        handed.set()
        body = json.dumps({"type": "TOKEN", "authorizationToken": "Bearer x.y.z",
                           "methodArn": "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/POST/events"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Lambda-Runtime-Aws-Request-Id", "pkg-req-1")
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:evpipe")
        self.send_header("Lambda-Runtime-Trace-Id", "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Sampled=1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n).decode("utf-8", "replace")
        try:
            json.loads(body); valid = True
        except ValueError:
            valid = False
        rec = {"path": self.path, "type": self.headers.get("Lambda-Runtime-Function-Error-Type", ""),
               "json": valid}
        reply = b'{"status":"OK"}'
        self.send_response(202)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)
        with open(out, "a") as f:
            f.write(json.dumps(rec) + "\n")
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
s.daemon_threads = True
with open(portfile + ".tmp", "w") as f:
    f.write(str(s.server_address[1]))
import os; os.rename(portfile + ".tmp", portfile)
s.serve_forever()
EOF
python3 "$TMP/api.py" "$TMP/answers" "$TMP/port" &
APIPID=$!
for _ in $(seq 1 100); do [ -s "$TMP/port" ] && break; sleep 0.05; done
PORT=$(cat "$TMP/port" 2>/dev/null)
if [ -n "$PORT" ]; then pass "stand-in Runtime API is up"; else fail "stand-in Runtime API is up"; fi

# The packaged bootstrap, clean environment, loader tracing on.
env -i AWS_LAMBDA_RUNTIME_API="127.0.0.1:$PORT" _HANDLER=authorizer LAMBDA_TASK_ROOT="$P" \
  AWS_REGION=us-east-1 LD_DEBUG=libs "$P/bootstrap" >"$TMP/boot.out" 2>"$TMP/boot.err" &
BOOTPID=$!
for _ in $(seq 1 100); do [ -s "$TMP/answers" ] && break; kill -0 $BOOTPID 2>/dev/null || break; sleep 0.05; done
sleep 0.2
kill $BOOTPID 2>/dev/null
wait $BOOTPID 2>/dev/null
kill $APIPID 2>/dev/null
wait $APIPID 2>/dev/null
if [ -s "$TMP/answers" ]; then pass "packaged bootstrap answered the Runtime API: $(head -1 "$TMP/answers")"; else
  fail "packaged bootstrap answered the Runtime API"; grep -v 'LD_DEBUG\|^ *[0-9]*:' "$TMP/boot.err" | head -5; fi
if [ -s "$TMP/answers" ] && grep -q '"json": true' "$TMP/answers" && ! grep -q '"json": false' "$TMP/answers"; then
  pass "answers are JSON"; else fail "answers are JSON"; fi
if grep -Eq '"path": "/2018-06-01/runtime/(invocation/pkg-req-1/(response|error)|init/error)"' "$TMP/answers"; then
  pass "answer on a Runtime API path"; else fail "answer on a Runtime API path"; fi
# Every object the loader initialised came from the bundle.
grep 'calling init:' "$TMP/boot.err" | sed 's/.*calling init: //' >"$TMP/inits"
foreign=$(grep -v "^$P/" "$TMP/inits" || true)
if [ -s "$TMP/inits" ] && [ -z "$foreign" ]; then pass "all $(wc -l <"$TMP/inits") loaded objects come from the bundle"; else
  fail "loaded objects outside the bundle: $(echo "$foreign" | head -3 | tr '\n' ' ')"; fi
if grep -v '^ *[0-9]*:' "$TMP/boot.err" | grep -q 'Bearer x.y.z'; then fail "bootstrap logs do not contain the token"; else
  pass "bootstrap logs do not contain the token"; fi

# The packaged authorizer doing real work in a clean environment: the signing
# key fetched from a Secrets Manager double over SigV4, a valid token
# verified, an Allow policy returned (bench_lambda cold -A: Lambda's
# environment plus the AWS variables only; exit 0 only when every run
# answered with a /response).
BENCH="$BIN/bench/bench_lambda"
if [ -x "$BENCH" ]; then
  expect_rc 0 "packaged authorizer: key from Secrets Manager, token verified, Allow (3 cold starts)" \
    "$BENCH" cold -A -n 3 "$P/bootstrap"
  expect_grep "$TMP/out" "cold start" "cold starts were timed"
else
  echo "bench_lambda not built (EVPIPE_BUILD_BENCH=OFF): real-invocation check skipped"
fi
finish
