#!/usr/bin/env bash
# The fully static client (docs/embedded.md, "Fully static client"):
# scripts/build-static-client builds examples/c/send_events with libcurl,
# cJSON, PCRE2, zlib and the TLS library (EVP_STATIC_TLS: openssl, the
# default, or mbedtls) linked in; the test checks that it needs nothing but
# glibc (or nothing at all, musl) and has the chosen TLS library only, then
# runs it in a chroot that holds only the program and glibc's libc.so.6,
# libm.so.6 and loader (musl: the program and /dev/urandom; no /usr, no
# /etc: a machine without any -dev package or library), against `evpipe
# local` of the normal build on loopback: over http://, and over https://
# through a TLS front (a Python ssl proxy) with its self-signed certificate
# as the chroot's CA bundle, at the path the static libcurl was built with;
# with a bundle of another certificate nothing may be delivered. The server
# stopped, every event the program reported delivered (6) is in the lake
# exactly once.
#   EVP_STATIC_TLS=openssl|mbedtls    the TLS backend (default openssl)
#   EVP_STATIC_LIBC=glibc|musl        musl (with mbedtls only): no shared
#                                     library at all, `ldd` says "not a
#                                     dynamic executable", and the chroot
#                                     holds the program alone
#   EVP_STATIC_BUILD_DIR=DIR          the static build (default
#                                     build-static-TLS[-musl]; built or
#                                     brought up to date by the script,
#                                     which caches)
# Needs root (chroot), the normal build's evpipe (EVP_CLI, EVP_BINARY_DIR)
# and the Node peers (tests/node/setup.sh) to read the lake. Run by .ci/run
# as a stage of its own (not by ctest: it takes minutes and the network).
. "$(dirname "$0")/lib.sh"
SRC=${EVP_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${EVP_BINARY_DIR:-$SRC/build}
export EVP_SOURCE_DIR=$SRC EVP_CLI=${EVP_CLI:-$BIN/evpipe}
TLS=${EVP_STATIC_TLS:-openssl}
LIBC=${EVP_STATIC_LIBC:-glibc}
suffix=""
[ "$LIBC" = glibc ] || suffix=-$LIBC
DIR=${EVP_STATIC_BUILD_DIR:-$SRC/build-static-$TLS$suffix}
if [ "$(id -u)" != 0 ]; then
  echo "static client test skipped: the chroot needs root"
  exit 77
fi
local_prelude
[ -x "$EVP_CLI" ] || { fail "$EVP_CLI is built (the normal build's evpipe, with evpipe local)"; finish; exit; }
command -v node >/dev/null || { fail "node found (scripts/install-deps) to read the lake"; finish; exit; }

# ---------------------------------------------------------------- build
t0=$(date +%s)
"$SRC/scripts/build-static-client" --tls "$TLS" --libc "$LIBC" --build-dir "$DIR" >"$TMP/build.log" 2>&1
brc=$?
sed 's/^/    /' "$TMP/build.log" | tail -8
if [ "$brc" = 3 ]; then
  echo "static client test skipped: Debian's source packages could not be fetched (no network?)"
  exit 77
fi
[ "$brc" = 0 ] && pass "scripts/build-static-client --tls $TLS --libc $LIBC ($(($(date +%s) - t0)) s)" ||
  { fail "scripts/build-static-client --tls $TLS --libc $LIBC (exit $brc)"; finish; exit; }
EXE=$DIR/send_events

# ---------------------------------------------------------------- no library but glibc
needed=$(readelf -d "$EXE" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
ldd "$EXE" >"$TMP/ldd" 2>&1
if [ "$LIBC" = musl ]; then
  [ -z "$needed" ] && pass "send_events needs no shared library (musl, -static)" ||
    fail "send_events needs no shared library (NEEDED: $needed)"
  grep -q "not a dynamic executable" "$TMP/ldd" && pass "ldd: not a dynamic executable" ||
    fail "ldd: not a dynamic executable ($(tr '\n' ' ' <"$TMP/ldd"))"
else
  # glibc's own: libc.so.6, libm.so.6 (floor, fmod, nearbyint) and the loader
  # (__tls_get_addr, for thread-local variables in position-independent code).
  other=$(for n in $needed; do case $n in libc.so.6 | libm.so.6 | ld-linux*.so.*) ;; *) echo "$n" ;; esac; done)
  [ -z "$other" ] && echo "$needed" | grep -q libc.so.6 &&
    pass "send_events needs glibc only (NEEDED: $needed)" ||
    fail "send_events needs glibc only (NEEDED: $needed)"
  grep -Ev '^\s*(linux-vdso\.so\.1|lib[cm]\.so\.6 => |/lib64/ld-linux|/lib/ld-linux)' "$TMP/ldd" >"$TMP/ldd.other"
  [ ! -s "$TMP/ldd.other" ] && pass "ldd: only the vDSO, glibc (libc, libm) and the loader" ||
    fail "ldd: only the vDSO, glibc (libc, libm) and the loader; also: $(tr '\n' ' ' <"$TMP/ldd.other")"
fi
# The TLS library is the chosen one, and only it (no libcrypto in an mbedTLS build).
nm "$EXE" >"$TMP/nm" 2>/dev/null
has() { grep -Eq " [TtDdRrBb] ($1)" "$TMP/nm"; }
case $TLS in
  openssl) has 'SSL_CTX_new' && ! has 'mbedtls_ssl_setup' && pass "OpenSSL is linked in, mbedTLS is not" ||
    fail "OpenSSL is linked in, mbedTLS is not" ;;
  mbedtls) has 'mbedtls_ssl_setup' && ! has 'SSL_CTX_new|OPENSSL_cleanse|RAND_bytes|EVP_MD_CTX_new' &&
    pass "mbedTLS is linked in, no part of OpenSSL (libevpipe built with EVPIPE_CRYPTO=mbedtls)" ||
    fail "mbedTLS is linked in, no part of OpenSSL" ;;
esac
echo "    stripped: $(stat -c %s "$DIR/send_events.stripped") bytes"

# ---------------------------------------------------------------- the chroot
# Only the program (musl), or the program, glibc and the loader at the paths
# ldd names: nothing else, even when the program needs more (it must then
# fail to start).
R=$TMP/root
CHROOT=$(command -v chroot) || { fail "chroot is installed (coreutils)"; finish; exit; }
mkdir -p "$R"
cp "$EXE" "$R/send_events"
for lib in $(sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^\s*\(\/[^ ]*\) .*/\1/p' "$TMP/ldd" |
  grep -E '/(lib[cm]\.so\.6|ld-linux[^/]*\.so\.[0-9]+)$'); do
  mkdir -p "$R$(dirname "$lib")"
  cp -L "$lib" "$R$lib"
done
# mbedTLS 2.28 asks the kernel (getrandom) only when built against glibc;
# with musl its TLS entropy comes from /dev/urandom, which a real machine has.
if [ "$LIBC" = musl ]; then
  mkdir -p "$R/dev" && mknod -m 444 "$R/dev/urandom" c 1 9
fi
echo "    chroot: $(cd "$R" && find . -type f -o -type c | sort | tr '\n' ' ')"

D="$TMP/data"
start_local "$D" "$D/secrets/clients.json" --fsync never --quiet ||
  { fail "evpipe local starts"; cat "$TMP/local.err"; finish; exit; }
pass "evpipe local is up at $URL"
# shellcheck source=../../examples/local-env.sh
. "$SRC/examples/local-env.sh" "$D/secrets/clients.json" >/dev/null ||
  { fail "examples/local-env.sh exports the client"; finish; exit; }

: >"$TMP/ids"
# in_chroot RC NAME ENDPOINT: run the static example in the chroot with only
# the client's variables; with RC 0, collect the ids it reports delivered.
in_chroot() {
  local rc=$1 name=$2 endpoint=$3
  expect_rc "$rc" "$name" env -i EVPIPE_ENDPOINT="$endpoint" EVPIPE_CLIENT_ID="$EVPIPE_CLIENT_ID" \
    EVPIPE_CLIENT_SECRET="$EVPIPE_CLIENT_SECRET" "$CHROOT" "$R" /send_events
  sed 's/^/    /' "$TMP/out" "$TMP/err" | tail -4
  if [ "$rc" = 0 ]; then
    grep -v "NOT delivered" "$TMP/out" | grep -o "delivered [0-9a-f-]\{36\}" | cut -d' ' -f2 >>"$TMP/ids"
  fi
}
in_chroot 0 "the static send_events delivers over http:// from the chroot" "$URL"

# ---------------------------------------------------------------- https
# A TLS front for evpipe local (which serves http only): Python's ssl module,
# a throw-away certificate for localhost. Addressed by name: mbedTLS 2.28
# matches a certificate's DNS names only, not its IP addresses (and libcurl
# resolves "localhost" itself, without /etc/hosts).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$TMP/key.pem" -out "$TMP/cert.pem" >/dev/null 2>&1 ||
  { fail "openssl makes a test certificate"; finish; exit; }
cat >"$TMP/tls_front.py" <<'PY'
import asyncio, ssl, sys
cert, key, host, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
async def pipe(r, w):
    try:
        while True:
            b = await r.read(65536)
            if not b:
                break
            w.write(b)
            await w.drain()
    except Exception:
        pass
    finally:
        w.close()
async def handle(cr, cw):
    try:
        ur, uw = await asyncio.open_connection(host, port)
    except OSError:
        cw.close()
        return
    await asyncio.gather(pipe(cr, uw), pipe(ur, cw))
async def main():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)
    print(srv.sockets[0].getsockname()[1], flush=True)
    await srv.serve_forever()
asyncio.run(main())
PY
hp=${URL#http://}
python3 "$TMP/tls_front.py" "$TMP/cert.pem" "$TMP/key.pem" "${hp%:*}" "${hp##*:}" >"$TMP/front.port" 2>"$TMP/front.err" &
FRONT=$!
trap '[ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; kill "$FRONT" 2>/dev/null; rm -rf "$TMP"' EXIT
for _ in $(seq 1 50); do [ -s "$TMP/front.port" ] && break; sleep 0.1; done
HTTPS_URL=https://localhost:$(head -1 "$TMP/front.port")
# The CA bundle where the static libcurl looks by default (configure found
# Debian's path); the chroot has no other certificate.
bundle=$(strings "$EXE" | grep -m1 -E '^/[^ ]*/(ca-certificates\.crt|ca-bundle\.crt|cert\.pem)$')
if [ -z "$bundle" ]; then
  fail "the static libcurl has a default CA bundle path"
else
  mkdir -p "$R$(dirname "$bundle")"
  # First a bundle that trusts another certificate only: nothing may go out.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost -keyout "$TMP/other.key" -out "$R$bundle" >/dev/null 2>&1
  in_chroot 1 "https:// with a CA bundle of another certificate: nothing delivered (verified)" "$HTTPS_URL"
  grep -Eq "NOT delivered .*(SSL certificate problem|Cert verify failed)" "$TMP/out" &&
    pass "  each event is reported not delivered, for the certificate" ||
    fail "  each event is reported not delivered, for the certificate ($(head -c 300 "$TMP/out"))"
  cp "$TMP/cert.pem" "$R$bundle"
  in_chroot 0 "the static send_events delivers over https:// ($TLS) with the CA bundle at $bundle" "$HTTPS_URL"
fi
kill "$FRONT" 2>/dev/null
wait "$FRONT" 2>/dev/null

# ---------------------------------------------------------------- the lake
stop_local
[ "$RC" = 0 ] && pass "evpipe local stopped cleanly (lake written)" || fail "evpipe local exit $RC"
printf 'SELECT event_id, app_id, count(*) AS n FROM events GROUP BY event_id, app_id\n' >"$TMP/q.sql"
expect_rc 0 "the lake can be read (DuckDB)" node "$SRC/tests/node/athena_local.mjs" "$D" "$TMP/q.sql"
cp "$TMP/out" "$TMP/lake.ndjson"
if python3 - "$TMP/lake.ndjson" "$TMP/ids" >"$TMP/cmp" <<'PY'; then pass "lake: $(cat "$TMP/cmp")"; else fail "lake: $(cat "$TMP/cmp")"; fi
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
reported = [l.strip() for l in open(sys.argv[2]) if l.strip()]
stored = {}
for r in rows:
    stored[r["event_id"]] = stored.get(r["event_id"], 0) + int(r["n"])
problems = [f"{i} reported delivered, not in the lake" for i in reported if i not in stored]
problems += [f"{i} stored {n} times" for i, n in stored.items() if n != 1]
problems += [f"{len(stored) - len(set(reported))} events in the lake not reported delivered"] if len(stored) != len(set(reported)) else []
problems += [f"{len(reported)} events reported delivered, 6 sent"] if len(reported) != 6 else []
print("; ".join(problems[:5]) if problems else f"the {len(reported)} events reported delivered, each exactly once")
sys.exit(1 if problems else 0)
PY
finish
