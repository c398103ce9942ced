#!/usr/bin/env bash
# `evpipe local` when the lake cannot be written (the events table directory
# replaced by a file: root ignores permission bits, so this is the fault we
# can inject): the failure is logged once and then rate-limited, /healthz
# answers 503 with the reason, /metrics shows it, a recovery is logged and
# clears it, and a SIGTERM whose final flush failed exits non-zero with the
# events kept in the log for the next start.
. "$(dirname "$0")/lib.sh"
local_prelude

send() { # TOKEN FIRST N -> accepted count
  python3 -c "
import json,sys
f,n=int(sys.argv[1]),int(sys.argv[2])
print(json.dumps({'events':[{'event_id':'00000000-0000-4000-8000-%012d'%i,'event_type':'app.opened',
  'event_time':'2024-05-01T08:15:30Z','app_id':'lakefail'} for i in range(f,f+n)]}))" "$2" "$3" |
  curl -s --max-time 20 -X POST "$URL/events" -H "Authorization: Bearer $1" \
    -H "Content-Type: application/json" --data-binary @- |
    python3 -c "import json,sys; print(json.load(sys.stdin)['accepted'])"
}
health() { CODE=$(curl -s --max-time 20 -o "$TMP/health.body" -w '%{http_code}' "$URL/healthz"); }
wait_health() { # CODE: poll /healthz until it answers CODE
  for _ in $(seq 1 $((WAIT * 10))); do health; [ "$CODE" = "$1" ] && return 0; sleep 0.1; done
  return 1
}
wait_metric() { # NAME VALUE
  for _ in $(seq 1 $((WAIT * 10))); do [ "$(local_metric "$1")" = "$2" ] && return 0; sleep 0.1; done
  return 1
}
json_get() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1" 2>/dev/null; }
break_lake() { mv "$DATA/events" "$DATA/events.away" && : >"$DATA/events"; }
mend_lake() { rm -f "$DATA/events" && mv "$DATA/events.away" "$DATA/events"; }
lines() { grep -c "\"msg\":\"$1\"" "$TMP/local.err"; }

DATA=$TMP/data
printf '[{"client_id":"lf","client_secret":"lakefail-secret-0123456789","audiences":["events"]}]' >"$TMP/clients.json"
chmod 600 "$TMP/clients.json"
start_local "$DATA" "$TMP/clients.json" --buffer-seconds 1 --quiet || { fail "server starts"; cat "$TMP/local.err"; finish; exit 1; }
TOK=$(local_token lf lakefail-secret-0123456789)
[ "$(send "$TOK" 0 3)" = 3 ] && wait_metric evpipe_lake_rows_total 3 && pass "healthy: 3 events in the lake" || fail "healthy start"
health; [ "$CODE" = 200 ] && pass "healthy: /healthz 200" || fail "healthy: /healthz $CODE"

# ------------------------------------------------------------ fault while running
break_lake
[ "$(send "$TOK" 3 4)" = 4 ] && pass "events accepted into the log while the lake fails" || fail "send during fault"
if wait_health 503; then pass "/healthz answers 503 while the lake cannot be written"; else fail "/healthz stayed $CODE during the fault"; fi
[ "$(json_get "$TMP/health.body" "j['status']")" = degraded ] && pass "/healthz status degraded" || fail "/healthz body $(cat "$TMP/health.body")"
json_get "$TMP/health.body" "j['lake']" | grep -qi "write failed: .*$DATA/events.*not a directory" \
  && pass "/healthz names the failed write, its path and the reason" || fail "/healthz lake reason: $(cat "$TMP/health.body")"
json_get "$TMP/health.body" "j['since']" | grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$' \
  && pass "/healthz says since when" || fail "/healthz since: $(cat "$TMP/health.body")"
[ "$(local_metric evpipe_lake_write_failing)" = 1 ] && pass "metric evpipe_lake_write_failing 1" || fail "evpipe_lake_write_failing $(local_metric evpipe_lake_write_failing)"
E=$(local_metric evpipe_lake_errors_total); [ "${E:-0}" -ge 1 ] && pass "lake errors counted ($E)" || fail "lake errors $E"
grep '"msg":"lake write failed"' "$TMP/local.err" | head -1 | grep -qi '"level":"error".*not a directory' \
  && pass "the failure is logged at once, with the reason" || fail "no failure log line: $(tail -3 "$TMP/local.err")"
# Retries go on with backoff (about ten in 12 s); the log says so once per
# interval with a count instead of a line each.
sleep 12
F=$(lines "lake write failed") S=$(lines "lake write still failing")
[ "$F" = 1 ] && [ "$S" -ge 1 ] && [ "$S" -le 2 ] && pass "rate-limited: 1 failure line, $S repeat line(s)" \
  || fail "log lines: $F failure, $S repeat (want 1 and 1..2)"
grep '"msg":"lake write still failing"' "$TMP/local.err" | head -1 | grep -Eq '"failures":[1-9]' \
  && pass "the repeat line counts the failures" || fail "repeat line: $(grep still "$TMP/local.err" | head -1)"
mend_lake
if wait_health 200; then pass "/healthz 200 again once the lake is writable"; else fail "/healthz $CODE after the fault was removed"; fi
wait_metric evpipe_lake_rows_total 7 && pass "the events sent during the fault are in the lake (7 rows)" || fail "rows $(local_metric evpipe_lake_rows_total) after recovery"
[ "$(local_metric evpipe_lake_write_failing)" = 0 ] && pass "metric evpipe_lake_write_failing 0" || fail "evpipe_lake_write_failing after recovery"
grep '"msg":"lake write recovered"' "$TMP/local.err" | grep -q '"level":"info"' && pass "the recovery is logged" || fail "no recovery line"

# ------------------------------------------------------------ fault at shutdown
break_lake
[ "$(send "$TOK" 7 5)" = 5 ] && pass "5 more events accepted" || fail "send before shutdown"
stop_local
[ "$RC" != 0 ] && [ "$RC" != 137 ] && pass "SIGTERM with a failed final flush exits non-zero ($RC)" || fail "SIGTERM exit $RC"
grep '"msg":"final lake flush failed' "$TMP/local.err" | grep -qi '"level":"error".*not a directory' \
  && pass "the failed final flush is logged with its reason" || fail "no final-flush error line: $(tail -3 "$TMP/local.err")"
if grep -q '"msg":"stopped"' "$TMP/local.err"; then fail "a failed shutdown still logs a clean stop"; else pass "no clean 'stopped' line"; fi
mend_lake
start_local "$DATA" "$TMP/clients.json" --buffer-seconds 1 --quiet || { fail "restart"; cat "$TMP/local.err"; finish; exit 1; }
wait_metric evpipe_lake_rows_total 5 && pass "after a restart the 5 events kept in the log reach the lake" \
  || fail "rows after restart: $(local_metric evpipe_lake_rows_total)"
health; [ "$CODE" = 200 ] && pass "/healthz 200 after the restart" || fail "/healthz $CODE after restart"
stop_local
[ "$RC" = 0 ] && pass "clean SIGTERM: exit 0" || fail "clean SIGTERM exit $RC"
grep -q '"msg":"stopped"' "$TMP/local.err" && pass "clean stop logged" || fail "no stop line"
N=$(find "$DATA/events" -name '*.parquet' | wc -l)
[ "$N" -ge 3 ] && pass "$N Parquet files in the lake" || fail "$N Parquet files"
finish
