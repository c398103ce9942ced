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
# A device whose clock is 2 hours behind posts one event that happened a
# minute before it sent the request (by its clock): sent_at = now - 2 h,
# event_time = sent_at - 1 min. The lake must hold event_time_corrected =
# received_at - 1 min (docs/event-schema.md, "Clock skew"). The event joins
# sent.ndjson, so every other check covers it too.
SKEW_ID=$(node --input-type=module - "$URL" "$TMP/secret" "$TMP/sent.ndjson" 2>"$TMP/skew.err" <<'EOF'
import { readFileSync, appendFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
const [url, secretFile, sentPath] = process.argv.slice(2);
const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: 'e2e-app',
  client_secret: readFileSync(secretFile, 'utf8').trim(), audience: 'events' });
const tok = await (await fetch(`${url}/token`, { method: 'POST', body: form })).json();
const e = JSON.parse(readFileSync(sentPath, 'utf8').split('\n')[0]);
const sent = Date.now() - 2 * 3600 * 1000;
e.event_id = randomUUID();
e.event_time = new Date(sent - 60 * 1000).toISOString();
const r = await fetch(`${url}/events`, { method: 'POST',
  headers: { authorization: `Bearer ${tok.access_token}`, 'content-type': 'application/json' },
  body: JSON.stringify({ sent_at: new Date(sent).toISOString(), events: [e] }) });
const body = await r.text();
if (r.status !== 200 || JSON.parse(body).accepted !== 1) { console.error(r.status, body); process.exit(1); }
appendFileSync(sentPath, JSON.stringify(e) + '\n');
console.log(e.event_id);
EOF
)
if [ -n "$SKEW_ID" ]; then pass "an event with sent_at 2 h behind is accepted"; else fail "skewed event: $(cat "$TMP/skew.err")"; fi
kill -TERM $PID
wait $PID; rc=$?
T1=$(date +%s%3N)
if [ "$rc" -eq 0 ]; then pass "SIGTERM: evpipe local flushed and exited 0"; else fail "evpipe local exit $rc"; fi

expect_rc 0 "lake matches what was sent (DuckDB + hyparquet)" node "$SRC/tests/node/e2e_lake_check.mjs" \
  "$D" "$TMP/sent.ndjson" e2e-app "$T0" "$T1" "$TMP/manifest.ndjson" "$SKEW_ID"
sed 's/^/    /' "$TMP/out" | grep -v "^    ok:" | head -20
expect_rc 0 "Athena queries over the evpipe lake" node "$SRC/tests/node/athena_queries_check.mjs" check "$SRC" "$D" "$TMP/manifest.ndjson"
sed 's/^/    /' "$TMP/out" | grep -i "fail" | head -10

expect_rc 0 "evpipe demo runs clean" "$CLI" demo --data "$TMP/demo" --events 5000
expect_grep "$TMP/out" "Parquet files\\? (Snappy)" "demo reports the lake"
expect_grep "$TMP/out" "must match pattern" "demo shows validation errors with paths"
# "sent" counts only what the SDK queued: the events refused at the door were
# never sent (issue 18: it printed "sent 20000" with 606 of them refused).
sent=$(sed -n 's/^ *sent  *\([0-9]*\) events .*(of \([0-9]*\) offered: \([0-9]*\) refused.*/\1 \2 \3/p' "$TMP/out")
set -- $sent
if [ $# -eq 3 ] && [ "$2" -eq 5000 ] && [ "$3" -gt 0 ] && [ $(($1 + $3)) -eq 5000 ]; then
  pass "demo: sent ($1) + refused at the door ($3) = offered (5000)"
else
  fail "demo: 'sent' line does not separate refused events: $(grep 'sent ' "$TMP/out")"
fi
finish
