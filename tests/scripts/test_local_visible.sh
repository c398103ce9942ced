#!/usr/bin/env bash
# `evpipe local` says when data reaches the lake and lets a local user force
# it: with a long --buffer-seconds, accepted events wait in the buffer
# (/metrics shows the lake lag > 0, no Parquet file yet); `kill -USR1 PID`
# (PID from the "listening" line) writes them: one "lake file written" line
# per file (partition, relative path, rows, bytes, duration, reason
# "forced") before "flush done", the files hold exactly those events
# (DuckDB), and the lag is back to 0. Shutdown writes the rest with reason
# "shutdown".
. "$(dirname "$0")/lib.sh"
local_prelude
SRC=${EVP_SOURCE_DIR:?}
D="$TMP/data"
printf '[{"client_id":"vis","client_secret":"vis-secret-0123456789abcdef","audiences":["events"]}]' >"$TMP/clients.json"
chmod 600 "$TMP/clients.json"

send() { # TOKEN FIRST LAST: events with ids ...-<n>, n from FIRST to LAST; prints "accepted"
  local evs="" n
  for n in $(seq "$2" "$3"); do
    evs="$evs${evs:+,}{\"event_id\":\"0a1b2c3d-0000-4000-8000-$(printf %012d "$n")\",\"event_type\":\"app.opened\",\"event_time\":\"2024-05-01T08:15:30Z\",\"app_id\":\"visible-test\"}"
  done
  curl -s --max-time 20 -X POST "$URL/events" -H "Authorization: Bearer $1" \
    -H "Content-Type: application/json" --data-binary "{\"events\":[$evs]}" |
    python3 -c "import json,sys; print(json.load(sys.stdin)['accepted'])"
}
parquet_count() { find "$D/events" -name '*.parquet' 2>/dev/null | wc -l; }
# lines MSG: the server's log lines with that message
lines() { grep "\"msg\":\"$1\"" "$TMP/local.err"; }
wait_line() { # MSG COUNT: wait until COUNT lines with MSG were logged
  for _ in $(seq 1 $((WAIT * 10))); do [ "$(lines "$1" | wc -l)" -ge "$2" ] && return 0; sleep 0.1; done
  return 1
}
# check_files REASON ROWS: the "lake file written" lines with REASON name
# existing files of their size in their partition, and hold ROWS rows.
check_files() {
  lines "lake file written" | python3 -c '
import json, os, re, sys
data, reason, want = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = 0
for l in sys.stdin:
    j = json.loads(l)
    if j["reason"] != reason: continue
    m = re.fullmatch(r"events/dt=(\d{4}-\d\d-\d\d)/hour=(\d\d)/part-\d{20}-\d{20}\.parquet", j["path"])
    assert m, "path " + j["path"]
    assert m.group(1) == j["dt"] and int(m.group(2)) == j["hour"], "partition of " + l
    assert os.path.getsize(os.path.join(data, j["path"])) == j["bytes"], "bytes of " + l
    assert isinstance(j["duration_ms"], int) and j["duration_ms"] >= 0, "duration of " + l
    rows += j["rows"]
assert rows == want, "rows %d, want %d" % (rows, want)
' "$D" "$1" "$2"
}
# lake_ids: the event ids the lake's Parquet files hold, sorted, one a line (DuckDB)
lake_ids() {
  (cd "$SRC/tests/node" && node --input-type=module - "$D" <<'EOF'
const { DuckDBInstance } = await import('@duckdb/node-api');
const db = await DuckDBInstance.create(':memory:');
const con = await db.connect();
const r = await con.runAndReadAll(
  `SELECT event_id FROM read_parquet('${process.argv[2]}/events/**/*.parquet') ORDER BY event_id`);
for (const row of r.getRowObjectsJson()) console.log(row.event_id);
EOF
  )
}
want_ids() { for n in $(seq "$1" "$2"); do echo "0a1b2c3d-0000-4000-8000-$(printf %012d "$n")"; done; }

start_local "$D" "$TMP/clients.json" --buffer-seconds 900 ||
  { fail "server starts"; cat "$TMP/local.err"; finish; exit 1; }
LPID=$(lines listening | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline()).get("pid", ""))')
[ "$LPID" = "$PID" ] && pass "the listening line gives the pid ($PID)" || fail "listening line pid '$LPID', want $PID"
TOK=$(local_token vis vis-secret-0123456789abcdef)

[ "$(send "$TOK" 1 5)" = 5 ] && [ "$(send "$TOK" 6 12)" = 7 ] && pass "12 events accepted" || fail "events not accepted"
sleep 1.2
LAG=$(local_metric evpipe_lake_lag_seconds)
python3 -c "import sys; sys.exit(0 if 1.0 <= float(sys.argv[1]) < 600 else 1)" "${LAG:-x}" 2>/dev/null &&
  pass "lake lag $LAG s while the events wait in the buffer" || fail "evpipe_lake_lag_seconds '$LAG', want >= 1"
[ "$(parquet_count)" = 0 ] && [ -z "$(lines "lake file written")" ] &&
  pass "no lake file yet (buffer-seconds 900)" || fail "a file was written before the flush"

kill -USR1 "$PID"
if wait_line "flush done" 1; then pass "SIGUSR1: flush done logged"; else
  fail "no flush done line"; tail -5 "$TMP/local.err" | sed 's/^/    /'; fi
kill -0 "$PID" 2>/dev/null && pass "the server keeps running after SIGUSR1" || fail "SIGUSR1 stopped the server"
# The file lines come before the flush's own line: a reader may query then.
FL=$(grep -n '"msg":"lake file written"' "$TMP/local.err" | tail -1 | cut -d: -f1)
DL=$(grep -n '"msg":"flush done"' "$TMP/local.err" | head -1 | cut -d: -f1)
[ -n "$FL" ] && [ -n "$DL" ] && [ "$FL" -lt "$DL" ] && pass "lake file lines precede flush done" ||
  fail "file line $FL, flush done line $DL"
check_files forced 12 2>"$TMP/cf.err" && pass "lake file written: partition, path, bytes, 12 rows, reason forced" ||
  { fail "lake file written lines"; sed 's/^/    /' "$TMP/cf.err" | tail -3; lines "lake file written" | sed 's/^/    /'; }
lake_ids >"$TMP/ids" 2>"$TMP/ids.err"
if [ "$(want_ids 1 12)" = "$(cat "$TMP/ids")" ]; then pass "the Parquet files hold exactly the 12 events (DuckDB)"; else
  fail "lake holds $(wc -l <"$TMP/ids") ids, want 12"; head -3 "$TMP/ids.err" | sed 's/^/    /'; fi
LAG=$(local_metric evpipe_lake_lag_seconds)
[ "$LAG" = "0.000" ] && pass "lake lag back to 0" || fail "lake lag '$LAG' after the flush"
[ "$(local_metric evpipe_lake_rows_total) $(local_metric evpipe_lake_files_total)" = "12 $(parquet_count)" ] &&
  pass "rows and files counters match the lake" || fail "counters: rows $(local_metric evpipe_lake_rows_total), files $(local_metric evpipe_lake_files_total)"

kill -USR1 "$PID"
wait_line "flush done" 2 && pass "a flush with nothing waiting is done too" || fail "second flush not done"
[ "$(lines "lake file written" | wc -l)" = "$(parquet_count)" ] && pass "an empty flush writes no file" ||
  fail "an empty flush wrote a file"

[ "$(send "$TOK" 13 15)" = 3 ] || fail "3 more events"
stop_local
[ "$RC" = 0 ] && pass "SIGTERM: exit 0" || fail "SIGTERM exit $RC"
check_files shutdown 3 2>"$TMP/cf.err" && pass "shutdown writes the rest with reason shutdown" ||
  { fail "shutdown file line"; sed 's/^/    /' "$TMP/cf.err" | tail -3; }
lake_ids >"$TMP/ids" 2>/dev/null
[ "$(want_ids 1 15)" = "$(cat "$TMP/ids")" ] && pass "the lake holds all 15 events once" || fail "lake after shutdown: $(wc -l <"$TMP/ids") ids"
finish
