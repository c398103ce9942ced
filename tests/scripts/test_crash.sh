#!/usr/bin/env bash
# Crash test: kill -9 `evpipe local` at random moments while `evpipe send`
# (the SDK) is sending, restart it on the same port and data directory, and
# check that every event ends up in the Parquet lake exactly once with its
# exact values: what got a 200 survived (the durable log), and what the
# client retried after a lost response was dropped as a duplicate.
# Bounded: EVP_CRASH_ROUNDS kills (default 6), EVP_CRASH_EVENTS events.
. "$(dirname "$0")/lib.sh"
CLI=${EVP_CLI:?}
SRC=${EVP_SOURCE_DIR:?}
command -v curl >/dev/null || { echo "curl not found: skipped"; exit 77; }
SCHEMA="$SRC/examples/schemas/glue-data-catalog-json-schema.json"
N=${EVP_CRASH_EVENTS:-30000}
ROUNDS=${EVP_CRASH_ROUNDS:-6}
SEED=${EVP_CRASH_SEED:-$$}
RANDOM=$SEED
echo "seed $SEED (EVP_CRASH_SEED reproduces the kill timing)"
D="$TMP/data"
mkdir -p "$D/secrets"
printf '[{"client_id":"crash-app","client_secret":"crash-secret-0123456789abcdef01234567","audiences":["events"]}]\n' >"$D/secrets/clients.json"
chmod 600 "$D/secrets/clients.json"
printf 'crash-secret-0123456789abcdef01234567\n' >"$TMP/secret"; chmod 600 "$TMP/secret"
node "$SRC/tests/node/e2e_events.mjs" "$N" >"$TMP/sent.ndjson"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT"
PID=""
SPID=""
trap 'kill -9 $PID $SPID 2>/dev/null; rm -rf "$TMP"' EXIT

start_server() {
  # 1 MB flushes of ~3000 events, each written as three files at once: the
  # kills also land in the middle of parallel file writes.
  "$CLI" local --listen "127.0.0.1:$PORT" --data "$D" --schema "$SCHEMA" --clients "$D/secrets/clients.json" \
    --buffer-bytes 1000000 --lake-threads 3 >>"$TMP/local.out" 2>>"$TMP/local.err" &
  PID=$!
  for _ in $(seq 1 100); do
    curl -s -o /dev/null --max-time 1 "$URL/healthz" && return 0
    kill -0 $PID 2>/dev/null || break
    sleep 0.05
  done
  return 1
}

if start_server; then pass "evpipe local is up"; else fail "evpipe local did not start"; tail -5 "$TMP/local.err"; finish; exit; fi
T0=$(date +%s%3N)
# Small batches make the send last long enough to be cut several times.
"$CLI" send --endpoint "$URL" --client-id crash-app --client-secret-file "$TMP/secret" --audience events \
  --set batch.max.events=25 --set linger.ms=1 --set message.timeout.ms=120000 \
  --set retry.backoff.ms=20 --set retry.backoff.max.ms=300 "$TMP/sent.ndjson" >"$TMP/send.out" 2>&1 &
SPID=$!
kills=0
restarts_ok=1
while [ $kills -lt "$ROUNDS" ] && kill -0 $SPID 2>/dev/null; do
  sleep "0.$((RANDOM % 6 + 1))"
  kill -9 $PID 2>/dev/null && kills=$((kills + 1))
  wait $PID 2>/dev/null
  start_server || { restarts_ok=0; break; }
done
if [ $restarts_ok -eq 1 ]; then pass "restarted after each of $kills kill -9"; else fail "restart after kill $kills"; tail -5 "$TMP/local.err"; fi
if [ $kills -ge 1 ]; then pass "the server was killed mid-stream ($kills times)"; else fail "no kill landed while sending (send too fast?)"; fi
wait $SPID; src=$?
T1=$(date +%s%3N)
if [ $src -eq 0 ] && grep -q "delivered: $N " "$TMP/send.out"; then pass "the SDK reports all $N delivered"
else fail "send exit $src"; tail -5 "$TMP/send.out" | sed 's/^/    /'; fi
kill -TERM $PID; wait $PID; rc=$?
if [ $rc -eq 0 ]; then pass "final SIGTERM flushes and exits 0"; else fail "final stop exit $rc"; fi
expect_rc 0 "every event is in the lake exactly once with its values" node "$SRC/tests/node/e2e_lake_check.mjs" \
  "$D" "$TMP/sent.ndjson" crash-app "$T0" "$T1" "$TMP/manifest.ndjson"
sed 's/^/    /' "$TMP/out" | grep -v "^    ok:"


finish
