#!/usr/bin/env bash
# `evpipe local` dedup is per client and compares UUIDs case-insensitively:
# client B re-sending client A's event_id is a different event (both land in
# the lake), the same client re-sending its id in upper case is a duplicate,
# and both hold across a restart (ids re-learnt from the retained log).
. "$(dirname "$0")/lib.sh"
local_prelude

send() { # TOKEN EVENT_ID -> "accepted rejected"
  curl -s --max-time 20 -X POST "$URL/events" -H "Authorization: Bearer $1" \
    -H "Content-Type: application/json" --data-binary \
    "{\"events\":[{\"event_id\":\"$2\",\"event_type\":\"app.opened\",\"event_time\":\"2024-05-01T08:15:30Z\",\"app_id\":\"dedup-test\"}]}" |
    python3 -c "import json,sys; j=json.load(sys.stdin); print(j['accepted'], len(j['rejected']))"
}
drained() { # wait until the log is empty (everything in the lake)
  for _ in $(seq 1 $((WAIT * 10))); do [ "$(local_metric evpipe_queue_depth_events)" = 0 ] && return 0; sleep 0.1; done
  return 1
}

printf '[{"client_id":"alpha","client_secret":"alpha-secret-0123456789","audiences":["events"]},
{"client_id":"beta","client_secret":"beta-secret-0123456789ab","audiences":["events"]}]' >"$TMP/clients.json"
chmod 600 "$TMP/clients.json"
start_local "$TMP/data" "$TMP/clients.json" --buffer-seconds 1 --quiet || { fail "server starts"; cat "$TMP/local.err"; finish; exit 1; }
A=$(local_token alpha alpha-secret-0123456789)
B=$(local_token beta beta-secret-0123456789ab)
ID=3f1b6c2e-8a4d-4f7e-9b21-0c5d7e9a1f34
UP=$(printf %s "$ID" | tr a-f A-F)

[ "$(send "$A" "$ID")" = "1 0" ] && pass "alpha's event accepted" || fail "alpha's event"
drained || fail "alpha's event reached the lake"
[ "$(send "$B" "$ID")" = "1 0" ] && pass "beta's event with the same event_id accepted" || fail "beta's event"
drained || fail "beta's event reached the lake"
R=$(local_metric evpipe_lake_rows_total) D=$(local_metric evpipe_lake_duplicates_total)
[ "$R $D" = "2 0" ] && pass "beta's event is not taken for alpha's duplicate (2 rows, 0 duplicates)" \
  || fail "another client's event_id suppressed an event (rows $R, duplicates $D; want 2 0)"

[ "$(send "$A" "$UP")" = "1 0" ] && pass "upper-case resend accepted" || fail "upper-case resend"
drained || fail "upper-case resend drained"
R2=$(local_metric evpipe_lake_rows_total) D2=$(local_metric evpipe_lake_duplicates_total)
[ "$R2 $D2" = "$R $((D + 1))" ] && pass "alpha's upper-case copy of its UUID is a duplicate (rows stay $R)" \
  || fail "upper-case copy not deduped (rows $R -> $R2, duplicates $D -> $D2)"

stop_local
[ "$RC" = 0 ] && pass "SIGTERM: exit 0" || fail "SIGTERM exit $RC"
# After a restart the ids come back from the log, still per client.
start_local "$TMP/data" "$TMP/clients.json" --buffer-seconds 1 --quiet || { fail "restart"; cat "$TMP/local.err"; finish; exit 1; }
A=$(local_token alpha alpha-secret-0123456789)
B=$(local_token beta beta-secret-0123456789ab)
send "$B" "$UP" >/dev/null
send "$A" "${ID:0:8}${UP:8}" >/dev/null
drained || fail "resends after restart drained"
R=$(local_metric evpipe_lake_rows_total) D=$(local_metric evpipe_lake_duplicates_total)
[ "$R $D" = "0 2" ] && pass "after a restart, both clients' resends (any case) are duplicates" \
  || fail "after restart: rows $R, duplicates $D; want 0 2"
NEW=0a1b2c3d-0000-4000-8000-00000000000f
send "$B" "$NEW" >/dev/null
drained || fail "new id drained"
R=$(local_metric evpipe_lake_rows_total)
[ "$R" = 1 ] && pass "a new id still lands after the restart" || fail "new id after restart: rows $R"
stop_local
[ "$RC" = 0 ] && pass "second SIGTERM: exit 0" || fail "second SIGTERM exit $RC"
finish
