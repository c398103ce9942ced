#!/usr/bin/env bash
# End to end: events sent with the SDK (evpipe send) to evpipe local land in
# the Parquet lake exactly once with exact values, read back by DuckDB and
# hyparquet; the Athena queries answer correctly over that lake; and the demo
# (the README's first command) runs clean.
. "$(dirname "$0")/lib.sh"
CLI=${EVP_CLI:?}
SRC=${EVP_SOURCE_DIR:?}
SCHEMA="$SRC/examples/schemas/glue-data-catalog-json-schema.json"
N=${EVP_E2E_EVENTS:-3000}
D="$TMP/data"
mkdir -p "$D/secrets"
printf '[{"client_id":"e2e-app","client_secret":"e2e-secret-0123456789abcdef0123456789","audiences":["events"]}]\n' >"$D/secrets/clients.json"
chmod 600 "$D/secrets/clients.json"
printf 'e2e-secret-0123456789abcdef0123456789\n' >"$TMP/secret"; chmod 600 "$TMP/secret"
node "$SRC/tests/node/e2e_events.mjs" "$N" >"$TMP/sent.ndjson"

# The final flush (3000 events) is written as three files at once.
start_local "$D" "$D/secrets/clients.json" --lake-threads 3
trap 'kill -9 $PID 2>/dev/null; rm -rf "$TMP"' EXIT
if [ -n "$URL" ]; then pass "evpipe local is up at $URL"; else fail "evpipe local did not start"; cat "$TMP/local.err"; finish; exit; fi

T0=$(date +%s%3N)
expect_rc 0 "evpipe send delivers all $N events" "$CLI" send --endpoint "$URL" --client-id e2e-app \
  --client-secret-file "$TMP/secret" --audience events --schema "$SCHEMA" "$TMP/sent.ndjson"
expect_grep "$TMP/out" "delivered: $N " "send summary counts $N delivered" || true
grep -q "delivered: $N " "$TMP/out" "$TMP/err" 2>/dev/null || sed 's/^/    /' "$TMP/out" "$TMP/err" | tail -5
kill -TERM $PID
wait $PID; rc=$?
T1=$(date +%s%3N)
if [ "$rc" -eq 0 ]; then pass "SIGTERM: evpipe local flushed and exited 0"; else fail "evpipe local exit $rc"; fi

expect_rc 0 "lake matches what was sent (DuckDB + hyparquet)" node "$SRC/tests/node/e2e_lake_check.mjs" \
  "$D" "$TMP/sent.ndjson" e2e-app "$T0" "$T1" "$TMP/manifest.ndjson"
sed 's/^/    /' "$TMP/out" | grep -v "^    ok:" | head -20
expect_rc 0 "Athena queries over the evpipe lake" node "$SRC/tests/node/athena_queries_check.mjs" check "$SRC" "$D" "$TMP/manifest.ndjson"
sed 's/^/    /' "$TMP/out" | grep -i "fail" | head -10

expect_rc 0 "evpipe demo runs clean" "$CLI" demo --data "$TMP/demo" --events 5000
expect_grep "$TMP/out" "Parquet files\\? (Snappy)" "demo reports the lake"
expect_grep "$TMP/out" "must match pattern" "demo shows validation errors with paths"
finish
