#!/usr/bin/env bash
# The Go binding (bindings/go): `go test -race -vet=all` (every vet check,
# cgocall included, in the same build) against this build's libevpipe and an
# `evpipe local`, then the lake holds every event
# the Go tests saw delivered exactly once. Go runs offline (GOPROXY=off, no
# third-party modules) with its cache under the build directory, so nothing
# is written into the source tree.
. "$(dirname "$0")/lib.sh"
SRC=${EVP_SOURCE_DIR:?}
BIN=${EVP_BINARY_DIR:?}
binding_prelude "go binding" "a Go test binary does not load the sanitizer runtime libevpipe needs"
command -v go >/dev/null || { fail "go not found: run scripts/install-deps (Debian golang-go)"; finish; exit; }
[ -e "$BIN/libevpipe.so" ] || { fail "libevpipe.so built in $BIN"; finish; exit; }
[ -d "$SRC/tests/node/node_modules" ] || { fail "node peers missing: run tests/node/setup.sh"; finish; exit; }
local_prelude

D="$TMP/data"
mkdir -p "$D/secrets"
SECRET=go-binding-secret-0123456789abcdef01
printf '[{"client_id":"go-app","client_secret":"%s","audiences":["events"]}]\n' "$SECRET" >"$D/secrets/clients.json"
chmod 600 "$D/secrets/clients.json"
start_local "$D" "$D/secrets/clients.json" --buffer-seconds 1 --quiet ||
  { fail "evpipe local starts"; cat "$TMP/local.err"; finish; exit; }
pass "evpipe local is up at $URL"

# The toolchain is the Debian one, offline; the build tree is given to cgo
# through the environment (-tags evpipe_nopkgconfig, see docs/go.md).
# EVP_GO_CACHE: a build cache kept between runs (a cold one costs ~40 s of
# CPU to build the standard library with -race once).
export GOCACHE="${EVP_GO_CACHE:-$BIN/go/cache}" GOPATH="$BIN/go/path" GOMODCACHE="$BIN/go/path/pkg/mod"
export GOPROXY=off GOFLAGS=-mod=mod GO111MODULE=on GOENV=off CGO_ENABLED=1
unset GOTOOLCHAIN # go.mod says go 1.19: no newer toolchain is ever asked for
export CGO_CFLAGS="-I$SRC/include" CGO_LDFLAGS="-L$BIN -Wl,-rpath,$BIN"
cd "$SRC/bindings/go" || exit 1
export EVPIPE_TEST_ENDPOINT="$URL" EVPIPE_TEST_CLIENT_ID=go-app EVPIPE_TEST_CLIENT_SECRET="$SECRET"
export EVPIPE_TEST_SCHEMA="$SRC/examples/schemas/glue-data-catalog-json-schema.json"
export EVPIPE_TEST_SENT_IDS="$TMP/sent-ids"
: >"$EVPIPE_TEST_SENT_IDS"
expect_rc 0 "go test -race -vet=all against evpipe local" \
  go test -race -vet=all -count=1 -v -tags evpipe_nopkgconfig ./...
cat "$TMP/out" "$TMP/err" | grep -E '^(--- |ok|FAIL|panic|WARNING: DATA RACE)|\.go:[0-9]+:' | sed 's/^/    /'
grep -q WARNING "$TMP/err" && sed 's/^/    stderr: /' "$TMP/err" | head -20
cd - >/dev/null || exit 1

stop_local # SIGTERM writes what is buffered to the lake
[ "$RC" = 0 ] && pass "evpipe local flushed and exited 0" || fail "evpipe local exit $RC"
SENT=$(sort -u "$EVPIPE_TEST_SENT_IDS" | wc -l)
[ "$SENT" -gt 200 ] && pass "the Go tests recorded $SENT delivered event ids" || fail "only $SENT delivered ids recorded"
printf 'SELECT event_id, count(*) AS n FROM events GROUP BY event_id' >"$TMP/q.sql"
node "$SRC/tests/node/athena_local.mjs" "$D" "$TMP/q.sql" >"$TMP/lake.ndjson" 2>"$TMP/lake.err" ||
  fail "read the lake: $(head -3 "$TMP/lake.err")"
if python3 - "$EVPIPE_TEST_SENT_IDS" "$TMP/lake.ndjson" <<'PY'; then pass "every delivered event is in the lake exactly once"; else fail "lake check"; fi
import json, sys
sent = set(open(sys.argv[1]).read().split())
lake = {}
for line in open(sys.argv[2]):
    r = json.loads(line)
    lake[r["event_id"]] = int(r["n"])
missing = sorted(sent - set(lake))
twice = sorted(i for i, n in lake.items() if n != 1)
for what, ids in (("missing from the lake", missing), ("in the lake more than once", twice)):
    if ids:
        print(f"    {len(ids)} {what}, e.g. {ids[:3]}")
sys.exit(1 if missing or twice else 0)
PY
finish
