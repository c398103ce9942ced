#!/usr/bin/env bash
# "Acknowledged means stored": an event the pipeline accepts is in the lake,
# and one the lake cannot hold is refused at the door with a reason — through
# the real SDK (evpipe send) and evpipe local with the default schema. The
# event that broke the promise: 4097 duplicate top-level members (the schema
# validator checked every copy and accepted it, the row builder gave up past
# 4096 members and the batcher dropped it: "1000 delivered", 999 rows).
. "$(dirname "$0")/lib.sh"
CLI=${EVP_CLI:?}
SRC=${EVP_SOURCE_DIR:?}
SCHEMA="$SRC/examples/schemas/glue-data-catalog-json-schema.json"
D="$TMP/data"
mkdir -p "$D/secrets"
printf '[{"client_id":"c-app","client_secret":"c-secret-0123456789abcdef0123456789ab","audiences":["events"]}]\n' >"$D/secrets/clients.json"
chmod 600 "$D/secrets/clients.json"
printf 'c-secret-0123456789abcdef0123456789ab\n' >"$TMP/secret"; chmod 600 "$TMP/secret"

# 999 valid events and, in the middle, one with 4097 copies of app_id.
# Two files with different event_ids (the lake drops repeated ids).
python3 - "$TMP" <<'EOF'
import json, sys, uuid
for name, base in (("events1", 0x1000), ("events2", 0x2000)):
  with open("%s/%s.ndjson" % (sys.argv[1], name), "w") as f:
    for i in range(1000):
        eid = str(uuid.UUID(int=base + i))
        if i == 500:
            body = ",".join(['"app_id":"a"'] * 4097)
            f.write('{"event_id":"%s","event_type":"dup.members","event_time":"2024-05-01T08:00:00Z",%s}\n' % (eid, body))
        else:
            f.write(json.dumps({"event_id": eid, "event_type": "ok.sent",
                                "event_time": "2024-05-01T08:00:00Z", "app_id": "a"}) + "\n")
EOF

start_local "$D" "$D/secrets/clients.json" --buffer-seconds 1
trap 'kill -9 $PID 2>/dev/null; rm -rf "$TMP"' EXIT
if [ -n "$URL" ]; then pass "evpipe local is up at $URL"; else fail "evpipe local did not start"; cat "$TMP/local.err"; finish; exit; fi

metric() { curl -s "$URL/metrics" | sed -n "s/^$1 \([0-9]*\)$/\1/p"; }
# wait_rows N: until the lake has N rows and the log is drained (10 s).
wait_rows() {
  for _ in $(seq 1 100); do
    [ "$(metric evpipe_lake_rows_total)" = "$1" ] && [ "$(metric evpipe_queue_depth_events)" = 0 ] && return 0
    sleep 0.1
  done
  return 1
}
send() { "$CLI" send --endpoint "$URL" --client-id c-app --client-secret-file "$TMP/secret" --audience events "$@"; }

# 1. No schema in the SDK: the server is the door. It must answer the event
#    with a per-item rejection, not accept it and drop it later.
expect_rc 1 "evpipe send (no SDK schema): exit 1, one event rejected" send "$TMP/events1.ndjson"
expect_grep "$TMP/out" "delivered: 999  rejected: 1  failed: 0" "server rejects the 4097-member event, 999 delivered"
expect_grep "$TMP/out" "refused: 0" "none refused by the SDK"
grep -q "delivered: 999 " "$TMP/out" || tail -3 "$TMP/out" "$TMP/err" | sed 's/^/    /'
if wait_rows 999; then pass "lake holds the 999 acknowledged events"; else
  fail "lake rows $(metric evpipe_lake_rows_total), wanted 999"; fi
[ "$(metric evpipe_lake_errors_total)" = 0 ] && pass "no lake errors" || fail "lake errors: $(metric evpipe_lake_errors_total)"

# 1b. The same over plain HTTP: the rejection names its reason.
TOKEN=$(curl -s -d grant_type=client_credentials -d client_id=c-app \
  -d client_secret=c-secret-0123456789abcdef0123456789ab -d audience=events "$URL/token" |
  sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
{ printf '{"events":['; sed -n 501p "$TMP/events1.ndjson" | tr -d '\n'; printf ','; sed -n 1p "$TMP/events2.ndjson" | tr -d '\n'; printf ']}'; } >"$TMP/body.json"
curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  --data-binary @"$TMP/body.json" "$URL/events" >"$TMP/resp.json"
expect_grep "$TMP/resp.json" '"accepted":1,' "server accepts the good event of the pair"
expect_grep "$TMP/resp.json" '"index":0,.*"reason":"too_many_members"' "server rejects the 4097-member event with a reason"
[ "$(curl -s "$URL/metrics" | sed -n 's/^evpipe_events_rejected_total{reason="too_many_members"} \([0-9]*\)$/\1/p')" = 2 ] &&
  pass "/metrics counts the rejection by its reason" || fail "no too_many_members rejection in /metrics"
if wait_rows 1000; then pass "lake holds the one event accepted by the server"; else
  fail "lake rows $(metric evpipe_lake_rows_total), wanted 1000"; fi
[ "$(metric evpipe_lake_errors_total)" = 0 ] && pass "no lake errors after the server's refusal" || fail "lake errors: $(metric evpipe_lake_errors_total)"

# 2. The default schema in the SDK: its door check refuses it before sending.
expect_rc 1 "evpipe send --schema (default): exit 1, one event refused" send --schema "$SCHEMA" "$TMP/events2.ndjson"
expect_grep "$TMP/out" "delivered: 999  rejected: 0  failed: 0" "SDK door refuses the 4097-member event, 999 delivered"
expect_grep "$TMP/out" "refused: 1" "one refused by the SDK"
expect_grep "$TMP/err" "more than 4096 top-level members" "the refusal says why"
if wait_rows 1998; then pass "lake holds 999 + 1 + 998 acknowledged events"; else
  fail "lake rows $(metric evpipe_lake_rows_total), wanted 1998"; fi
[ "$(metric evpipe_lake_errors_total)" = 0 ] && pass "still no lake errors" || fail "lake errors: $(metric evpipe_lake_errors_total)"

kill -TERM $PID
wait $PID; rc=$?
[ "$rc" -eq 0 ] && pass "evpipe local stopped cleanly" || fail "evpipe local exit $rc"
finish
