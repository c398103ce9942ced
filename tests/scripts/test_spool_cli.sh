#!/usr/bin/env bash
# `evpipe spool import` end to end, checked in the lake with DuckDB:
#  - a spool written the way the SDK writes one (one event per record, the
#    client's id, the device's clock; by `test_cli_spool --make`), two clients;
#  - inspect counts it; import + `evpipe local` put every event in the lake
#    exactly once, under its own client id, with received_at = the import;
#  - importing the same spool again adds no row: the import ledger skips its
#    records (checked with the lake's dedup off), and with --reimport the
#    batcher's dedup drops them;
#  - the same event ids from another client are other events (kept);
#  - one flipped byte in a spool: the damaged record is reported, every other
#    event is imported;
#  - import while `evpipe local` runs on the data directory is refused.
. "$(dirname "$0")/lib.sh"
local_prelude
command -v node >/dev/null || { echo "node not found: skipped"; exit 77; }
CLI=$EVP_CLI
SRC=$EVP_SOURCE_DIR
HELPER=${EVP_BINARY_DIR:?}/tests/test_cli_spool
[ -x "$HELPER" ] || { echo "$HELPER not built: skipped"; exit 77; }
SCHEMA="$SRC/examples/schemas/glue-data-catalog-json-schema.json"
NA=${EVP_SPOOL_EVENTS_A:-2000}
NB=${EVP_SPOOL_EVENTS_B:-1000}
N=$((NA + NB))
D="$TMP/data"
SP="$TMP/spool"
mkdir -p "$D/secrets"
printf '[{"client_id":"ops","client_secret":"ops-secret-0123456789abcdef0123456789","audiences":["events"]}]\n' >"$D/secrets/clients.json"
chmod 600 "$D/secrets/clients.json"

node "$SRC/tests/node/e2e_events.mjs" "$N" >"$TMP/sent.ndjson"
head -n "$NA" "$TMP/sent.ndjson" | "$HELPER" --make "$SP" dev-a
tail -n +"$((NA + 1))" "$TMP/sent.ndjson" | "$HELPER" --make "$SP" dev-b

# lake_query SQL: the rows as JSON lines in $TMP/q.json
lake_query() {
  printf '%s\n' "$1" >"$TMP/q.sql"
  node "$SRC/tests/node/athena_local.mjs" "$D" "$TMP/q.sql" >"$TMP/q.json" 2>"$TMP/q.err"
}
# per_client: "client rows distinct" lines, one per client id
per_client() {
  lake_query "SELECT client_id, count(*) AS n, count(DISTINCT event_id) AS d FROM events GROUP BY client_id ORDER BY client_id"
  python3 -c 'import json,sys
for l in open(sys.argv[1]):
    if l.strip(): r = json.loads(l); print(r["client_id"], r["n"], r["d"])' "$TMP/q.json"
}
# drain NAME [ARGS...]: run evpipe local on $D until its final flush wrote the lake
drain() {
  local name=$1
  shift
  if start_local "$D" "$D/secrets/clients.json" --buffer-seconds 1 "$@"; then
    stop_local
    if [ "$RC" -eq 0 ]; then pass "$name: evpipe local wrote the lake and stopped"; else
      fail "$name: evpipe local exit $RC"; tail -5 "$TMP/local.err"; fi
  else
    fail "$name: evpipe local did not start"; tail -5 "$TMP/local.err"
  fi
}

expect_rc 0 "inspect --json" "$CLI" spool inspect "$SP" --json
expect_grep "$TMP/out" "\"waiting\":{\"records\":$N,\"events\":$N," "inspect: $N events in $N records"
expect_grep "$TMP/out" "{\"client_id\":\"dev-a\",\"events\":$NA,\"records\":$NA}" "inspect: $NA of client dev-a"
expect_grep "$TMP/out" "{\"client_id\":\"dev-b\",\"events\":$NB,\"records\":$NB}" "inspect: $NB of client dev-b"
expect_grep "$TMP/out" '"oldest_received_at":"2023-11-14T22:13:20.000000Z"' "inspect: the device's receive times"

T0=$(date -u +%s)
expect_rc 0 "import" "$CLI" spool import "$SP" --data "$D" --schema "$SCHEMA"
expect_grep "$TMP/out" "imported: $N events appended to $D/queue" "import: all $N events appended"
drain "first import"
got=$(per_client | tr '\n' ' ')
if [ "$got" = "dev-a $NA $NA dev-b $NB $NB " ]; then pass "the lake holds every event once, under its client id"; else
  fail "lake per client: '$got' $(head -c 300 "$TMP/q.err")"; fi
lake_query "SELECT count(*) AS n FROM events WHERE epoch(received_at) < $T0 - 5 OR epoch(received_at) > epoch(now()) + 5"
if grep -q '"n":"\{0,1\}0"\{0,1\}}' "$TMP/q.json"; then pass "received_at is the import time, not the device's"; else
  fail "received_at outside the import: $(cat "$TMP/q.json" "$TMP/q.err" | head -3)"; fi
lake_query "SELECT count(*) AS n FROM events WHERE event_time IS NULL"
if grep -q '"n":"\{0,1\}0"\{0,1\}}' "$TMP/q.json"; then pass "event_time kept"; else fail "event_time: $(cat "$TMP/q.json")"; fi

# Again: the import ledger skips every record, so this holds whatever the
# dedup window (here none) and however long after the first import.
expect_rc 0 "import the same spool again" "$CLI" spool import "$SP" --data "$D" --schema "$SCHEMA"
expect_grep "$TMP/out" "already imported: $N events in $N records, skipped" "the ledger skips all $N records"
expect_grep "$TMP/out" "imported: 0 events appended" "nothing appended the second time"
drain "second import" --dedup-window 0
got=$(per_client | tr '\n' ' ')
if [ "$got" = "dev-a $NA $NA dev-b $NB $NB " ]; then pass "importing twice adds no row (without dedup)"; else
  fail "after the second import: '$got'"; fi
# --reimport appends them all again: the batcher's dedup (on by default) drops them.
expect_rc 0 "import again with --reimport" "$CLI" spool import "$SP" --data "$D" --schema "$SCHEMA" --reimport
expect_grep "$TMP/out" "imported: $N events appended" "--reimport appends all $N"
drain "reimport"
got=$(per_client | tr '\n' ' ')
if [ "$got" = "dev-a $NA $NA dev-b $NB $NB " ]; then pass "--reimport adds no row either (the lake's dedup)"; else
  fail "after --reimport: '$got'"; fi

# The same event ids from another client are that client's own events.
head -n 10 "$TMP/sent.ndjson" | "$HELPER" --make "$TMP/spool-c" dev-c
expect_rc 0 "import a spool of client dev-c with dev-a's event ids" "$CLI" spool import "$TMP/spool-c" --data "$D" --schema "$SCHEMA"
drain "dev-c import"
got=$(per_client | tr '\n' ' ')
if [ "$got" = "dev-a $NA $NA dev-b $NB $NB dev-c 10 10 " ]; then pass "another client's events with the same ids are kept"; else
  fail "after dev-c: '$got'"; fi

# One flipped byte in the middle of a spool of other events.
M=500
sed 's/"a1b2c3d4-/"b1b2c3d4-/' "$TMP/sent.ndjson" | head -n "$M" | "$HELPER" --make "$TMP/spool-d" dev-d
seg=$(ls "$TMP"/spool-d/wal-*.seg)
size=$(stat -c %s "$seg")
python3 -c 'import sys
p, off = sys.argv[1], int(sys.argv[2])
with open(p, "r+b") as f:
    f.seek(off); b = f.read(1); f.seek(off); f.write(bytes([b[0] ^ 0x20]))' "$seg" $((size / 2))
expect_rc 1 "inspect a damaged spool: exit 1" "$CLI" spool inspect "$TMP/spool-d"
expect_grep "$TMP/out" "waiting: $((M - 1)) events" "inspect: $((M - 1)) events left"
expect_grep "$TMP/out" "1 damaged regions skipped" "inspect: the damaged region is reported"
expect_rc 1 "import a damaged spool: exit 1" "$CLI" spool import "$TMP/spool-d" --data "$D" --schema "$SCHEMA"
expect_grep "$TMP/out" "imported: $((M - 1)) events" "import: the $((M - 1)) intact events"
expect_grep "$TMP/out" "already copied to $TMP/spool-d/quarantine/wal-" "import: the damage and its quarantine copy are named"
drain "damaged import"
got=$(per_client | tr '\n' ' ')
if [ "$got" = "dev-a $NA $NA dev-b $NB $NB dev-c 10 10 dev-d $((M - 1)) $((M - 1)) " ]; then
  pass "every intact event of the damaged spool is in the lake once"; else fail "after dev-d: '$got'"; fi

# evpipe local running on the data directory holds its log.
if start_local "$D" "$D/secrets/clients.json"; then
  expect_rc 1 "import while evpipe local runs: exit 1" "$CLI" spool import "$SP" --data "$D" --schema "$SCHEMA"
  expect_grep "$TMP/err" "the durable log $D/queue is in use: \`evpipe local\`" "the error names the log and says why"
  stop_local
else
  fail "evpipe local did not start"
fi
finish
