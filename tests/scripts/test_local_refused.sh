#!/usr/bin/env bash
# `evpipe local` restarted with a schema edit that makes events still in the
# durable log unrepresentable: the events that still fit reach the lake, the
# others are copied byte for byte to DATA/queue/quarantine/refused-*.ndjson
# (0600) before the checkpoint passes them, counted in
# evpipe_lake_refused_events_total and logged (warn, with the reason and the
# file) — not dropped silently. (An older, less strict server's events are
# the other way such events get into the log: test_batcher covers those.)
. "$(dirname "$0")/lib.sh"
local_prelude

send() { # TOKEN BODY -> accepted count
  curl -s --max-time 20 -X POST "$URL/events" -H "Authorization: Bearer $1" \
    -H "Content-Type: application/json" --data-binary "$2" |
    tee "$TMP/send.out" | python3 -c "import json,sys; print(json.load(sys.stdin)['accepted'])"
}
wait_metric() { # NAME VALUE
  for _ in $(seq 1 $((WAIT * 10))); do [ "$(local_metric "$1")" = "$2" ] && return 0; sleep 0.1; done
  return 1
}

DATA=$TMP/data
printf '[{"client_id":"rf","client_secret":"refused-secret-0123456789ab","audiences":["events"]}]' >"$TMP/clients.json"
chmod 600 "$TMP/clients.json"
# The edited schema: "app_version" becomes an integer column.
python3 - "$EVP_SOURCE_DIR/examples/schemas/glue-data-catalog-json-schema.json" "$TMP/edited.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["properties"]["app_version"] = {"type": "integer"}
json.dump(s, open(sys.argv[2], "w"))
PY

# Events accepted under the old schema stay in the log: the lake is broken
# (the events table directory replaced by a file) until after the stop.
start_local "$DATA" "$TMP/clients.json" --buffer-seconds 1 --quiet || { fail "server starts"; cat "$TMP/local.err"; finish; exit 1; }
TOK=$(local_token rf refused-secret-0123456789ab)
mv "$DATA/events" "$DATA/events.away" && : >"$DATA/events"
EV='{"events":[
 {"event_id":"00000000-0000-4000-8000-000000000001","event_type":"a","event_time":"2024-05-01T08:15:30Z","app_id":"x"},
 {"event_id":"00000000-0000-4000-8000-000000000002","event_type":"a","event_time":"2024-05-01T08:15:31Z","app_id":"x","app_version":"4.\u00f6 \"q\""},
 {"event_id":"00000000-0000-4000-8000-000000000003","event_type":"a","event_time":"2024-05-01T08:15:32Z","app_id":"x"}]}'
[ "$(send "$TOK" "$EV")" = 3 ] && pass "3 events accepted under the old schema" || fail "send: $(cat "$TMP/send.out")"
stop_local
[ "$RC" != 0 ] && pass "stopped with the events still in the log" || fail "stop exit $RC"
rm -f "$DATA/events" && mv "$DATA/events.away" "$DATA/events"

start_local "$DATA" "$TMP/clients.json" --buffer-seconds 1 --quiet --schema "$TMP/edited.json" ||
  { fail "restart with the edited schema"; cat "$TMP/local.err"; finish; exit 1; }
wait_metric evpipe_lake_rows_total 2 && pass "the 2 events that still fit reach the lake" || fail "rows $(local_metric evpipe_lake_rows_total)"
wait_metric evpipe_lake_refused_events_total 1 && pass "evpipe_lake_refused_events_total 1" || fail "refused $(local_metric evpipe_lake_refused_events_total)"
wait_metric evpipe_queue_depth_events 0 && pass "the checkpoint passed all three" || fail "queue depth $(local_metric evpipe_queue_depth_events)"
Q=$(ls "$DATA"/queue/quarantine/refused-*.ndjson 2>/dev/null | head -1)
[ -n "$Q" ] && [ "$(stat -c %a "$Q")" = 600 ] && [ "$(stat -c %a "$DATA/queue/quarantine")" = 700 ] &&
  pass "quarantine file $(basename "$Q") (0600 in 0700)" || fail "no quarantine file: $(ls -la "$DATA/queue/quarantine" 2>&1)"
python3 - "$Q" <<'PY' && pass "the refused event is in it byte for byte, with client, offset and reason" || fail "quarantine content: $(cat "$Q")"
import json, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
assert len(lines) == 1, lines
j = json.loads(lines[0])
assert j["client_id"] == "rf" and isinstance(j["offset"], int) and "app_version" in j["reason"], j
assert j["event"] == '{"event_id":"00000000-0000-4000-8000-000000000002","event_type":"a","event_time":"2024-05-01T08:15:31Z","app_id":"x","app_version":"4.\\u00f6 \\"q\\""}', j["event"]
PY
grep '"msg":"events the lake cannot take were copied to the quarantine"' "$TMP/local.err" |
  grep '"level":"warn"' | grep '"events":1' | grep -q "\"quarantine\":\"$Q\"" &&
  pass "logged once as a warning naming the file" || fail "log: $(grep -i quarantine "$TMP/local.err" | head -3)"
stop_local
[ "$RC" = 0 ] && pass "clean stop" || fail "stop exit $RC"
finish
