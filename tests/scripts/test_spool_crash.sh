#!/usr/bin/env bash
# The client spool (issue 14) end to end, with `evpipe local`, its Parquet
# lake and DuckDB as the judge:
#  1. kill -9: an application (tests/spool_crash_child.c, libevpipe only)
#     sends with spool.dir and is killed with SIGKILL at a random moment, most
#     often inside evp_send, for EVP_SPOOL_ROUNDS rounds (some with the server
#     down, so events pile up in the spool), each restarted on the same spool;
#     a last run with no new events delivers the leftovers. Every id evp_send
#     accepted is in the lake exactly once, no refused id is, an id that was
#     inside evp_send at the kill is there at most once, and nothing else is.
#  2. offline: server down, EVP_SPOOL_OFFLINE_EVENTS (50,000) accepted and the
#     process exits normally (the spool keeps them); server up, a new client
#     on the same spool delivers them all, each reported from_spool=1, and
#     each is in the lake exactly once.
# Skipped (77, loudly) only when this libevpipe has no spool.dir property.
# EVP_SPOOL_TEST_NO_SPOOL=1 runs the clients memory-only: it must fail then.
# EVP_SPOOL_SEED reproduces the kill timing.
. "$(dirname "$0")/lib.sh"
local_prelude
command -v node >/dev/null || { echo "node not found: skipped"; exit 77; }
CHILD="${EVP_BINARY_DIR:?}/tests/spool_crash_child"
[ -x "$CHILD" ] || { echo "FAIL - $CHILD is not built"; echo "0 passed, 1 failed"; exit 1; }
if ! "$CHILD" --probe "$TMP/probe"; then
  echo "################################################################"
  echo "SKIPPED: this libevpipe has no client spool (evp_conf_set of"
  echo "spool.dir gives EVP_ERR_CONF_UNKNOWN): spool durability NOT tested"
  echo "################################################################"
  exit 77
fi
SPOOL_ON=1
if [ "${EVP_SPOOL_TEST_NO_SPOOL:-}" = 1 ]; then
  SPOOL_ON=0
  echo "EVP_SPOOL_TEST_NO_SPOOL=1: the clients run memory-only (spool.dir unset): this must fail"
fi
SRC=$EVP_SOURCE_DIR
ROUNDS=${EVP_SPOOL_ROUNDS:-12}
OFFLINE=${EVP_SPOOL_OFFLINE_EVENTS:-50000}
SEED=${EVP_SPOOL_SEED:-$$}
SLOW=1
[ -n "${EVP_SANITIZE:-}" ] && SLOW=2
RANDOM=$SEED
echo "seed $SEED (EVP_SPOOL_SEED reproduces the kill timing)"
SCHEMA="$SRC/examples/schemas/glue-data-catalog-json-schema.json"
D="$TMP/data"
mkdir -p "$D/secrets"
printf '[{"client_id":"spool-app","client_secret":"spool-secret-0123456789abcdef012345678","audiences":["events"]}]\n' >"$D/secrets/clients.json"
chmod 600 "$D/secrets/clients.json"
printf 'spool-secret-0123456789abcdef012345678\n' >"$TMP/secret"
chmod 600 "$TMP/secret"
LOCAL_LISTEN="127.0.0.1:$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
ENDPOINT="http://$LOCAL_LISTEN"
CPID=""
trap '[ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; [ -n "$CPID" ] && kill -KILL "$CPID" 2>/dev/null; rm -rf "$TMP"' EXIT

up() { # start evpipe local on $LOCAL_LISTEN unless it runs
  [ -n "$PID" ] && return 0
  start_local "$D" "$D/secrets/clients.json" --quiet && return 0
  fail "evpipe local starts"; tail -5 "$TMP/local.err"; finish; exit 1
}
down() { # SIGTERM evpipe local (it flushes its lake) unless it is down
  [ -z "$PID" ] && return 0
  stop_local
  [ "$RC" = 0 ] || fail "evpipe local stops cleanly (exit $RC)"
}
child() { # SPOOL OUT ARGS...: the application, in the background (CPID)
  local sp=$1 out=$2
  shift 2
  "$CHILD" --spool "$sp" --endpoint "$ENDPOINT" --client-id spool-app --secret-file "$TMP/secret" \
    --schema "$SCHEMA" --set linger.ms=2 --set retry.backoff.ms=20 --set retry.backoff.max.ms=200 \
    --set message.timeout.ms=600000 "$@" >"$out" 2>"$out.err" &
  CPID=$!
}
reap() { # wait for the child; sets CRC (2>/dev/null: no "Killed" job notice)
  wait "$CPID" 2>/dev/null
  CRC=$?
  CPID=""
}

# 1. kill -9 rounds on one spool.
SP="$TMP/spool"
killed=0 down_rounds=0 down_accepted=0
for r in $(seq 1 "$ROUNDS"); do
  # Rounds 3, 4 and 8, and one in five others, run with the server down.
  if [ "$r" = 3 ] || [ "$r" = 4 ] || [ "$r" = 8 ] || [ $((RANDOM % 5)) = 0 ]; then down; state=down; else up; state=up; fi
  delay=$((RANDOM % 3 * 40)) # 0, 40 or 80 µs between sends
  # Kill after 10..409 ms (twice that under sanitizers, which start slowly):
  # in evp_client_new, in the spool's recovery, mostly inside evp_send.
  ms=$(((RANDOM % 400 + 10) * SLOW))
  # Round 4 (server down since round 3) sends flat out for long enough to
  # fill the quota on most machines: refusals for a full spool.
  [ "$r" = 4 ] && delay=0 && ms=$((ms + 400 * SLOW))
  # A small quota (refuse when full, the default) so rounds with the server
  # down also see EVP_ERR_QUEUE_FULL; every third round syncs always.
  opts=()
  [ "$SPOOL_ON" = 1 ] && opts=(--set spool.max.bytes=6291456 --set spool.sync=$([ $((r % 3)) = 0 ] && echo always || echo interval))
  child "$SP" "$TMP/round$r.out" --round "$r" --count 10000000 --invalid-every 37 \
    --delay-us "$delay" --seed "$RANDOM" "${opts[@]}"
  # Two rounds in three count from the first send (so the kill lands among
  # evp_send calls, not in a slow start-up); the others from the start.
  from=start
  if [ $((RANDOM % 3)) != 0 ] || [ "$r" = 4 ]; then
    from=send
    for _ in $(seq 1 $((2000 * SLOW))); do
      [ -s "$TMP/round$r.out" ] || ! kill -0 "$CPID" 2>/dev/null && break
      sleep 0.005
    done
  fi
  sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
  kill -KILL "$CPID" 2>/dev/null
  reap
  acc=$(grep -c '^A ' "$TMP/round$r.out")
  echo "    round $r: server $state, ${delay} µs between sends, SIGKILL $ms ms after its $from: $acc accepted"
  if [ "$CRC" = 137 ]; then killed=$((killed + 1)); else
    fail "round $r: the child was not killed by SIGKILL (exit $CRC)"; sed 's/^/    /' "$TMP/round$r.out.err" | head -5
  fi
  [ "$state" = down ] && down_rounds=$((down_rounds + 1)) && down_accepted=$((down_accepted + acc))
done
[ "$killed" = "$ROUNDS" ] && pass "$ROUNDS rounds, each ended by SIGKILL" || fail "only $killed of $ROUNDS rounds ended by SIGKILL"
[ "$down_accepted" -gt 0 ] && pass "$down_accepted events accepted in $down_rounds rounds with the server down" \
  || fail "no event accepted while the server was down"
up
child "$SP" "$TMP/final.out" --round 0 --count 0 --flush-ms 60000 --destroy-ms 1000
reap
[ "$CRC" = 0 ] && grep -qx 'F 0' "$TMP/final.out" && pass "a new client on the spool delivers the leftovers (evp_flush: 0 pending)" \
  || fail "the last client: exit $CRC, $(grep '^[FX] ' "$TMP/final.out" | tr '\n' ' ')"
fin=$(grep -c '^D ' "$TMP/final.out")
fin1=$(grep -c '^D [^ ]* ok 1$' "$TMP/final.out")
[ "$fin" = "$fin1" ] && pass "the last client's $fin reports: all delivered, all from_spool=1" \
  || fail "the last client's reports: $fin1 of $fin delivered with from_spool=1"
bad=$(cat "$TMP"/round*.out | grep -c '^D [^ ]* \(rejected\|failed\) ')
[ "$bad" = 0 ] && pass "no killed client reported an event rejected or failed" || fail "$bad reports of rejected or failed events in the rounds"

# 2. offline: 50,000 into the spool with the server down, a normal exit, then
# a new client delivers them.
down
SP2="$TMP/spool-offline"
OR=4096 # round number of the offline events: ids 5f000000-1000-...
child "$SP2" "$TMP/offline1.out" --round "$OR" --count "$OFFLINE" --destroy-ms 200
reap
acc=$(grep -c '^A ' "$TMP/offline1.out")
[ "$CRC" = 0 ] && [ "$acc" = "$OFFLINE" ] && pass "server down: evp_send accepts all $OFFLINE events" \
  || { fail "server down: exit $CRC, $acc of $OFFLINE accepted"; sed 's/^/    /' "$TMP/offline1.out.err" | head -5; }
# destroy returns how many it left in the spool, and reports none of them.
grep -qx "X $OFFLINE" "$TMP/offline1.out" && [ "$(grep -c '^D ' "$TMP/offline1.out")" = 0 ] &&
  pass "evp_client_destroy leaves all $OFFLINE in the spool, none reported failed" ||
  fail "evp_client_destroy with the server down: $(grep '^X ' "$TMP/offline1.out"), $(grep -c '^D .* failed ' "$TMP/offline1.out") reported failed"
up
child "$SP2" "$TMP/offline2.out" --round 0 --count 0 --flush-ms 60000 --destroy-ms 1000
reap
[ "$CRC" = 0 ] && grep -qx 'F 0' "$TMP/offline2.out" && pass "server up: a new client on the spool delivers them (evp_flush: 0 pending)" \
  || fail "the second client: exit $CRC, $(grep '^[FX] ' "$TMP/offline2.out" | tr '\n' ' ')"
ok1=$(grep -c '^D 5f000000-1000-[^ ]* ok 1$' "$TMP/offline2.out")
[ "$ok1" = "$OFFLINE" ] && pass "its reports: all $OFFLINE delivered with from_spool=1" \
  || fail "its reports: $ok1 of $OFFLINE delivered with from_spool=1 (reports by status and from_spool:$(grep '^D ' "$TMP/offline2.out" | cut -d' ' -f3,4 | sort | uniq -c | tr -s ' \n' ' '))"
down

# The lake, read by DuckDB.
printf 'SELECT event_id, count(*) AS n FROM events GROUP BY event_id\n' >"$TMP/ids.sql"
if node "$SRC/tests/node/athena_local.mjs" "$D" "$TMP/ids.sql" >"$TMP/lake.ndjson" 2>"$TMP/lake.err"; then
  pass "DuckDB reads the lake ($(wc -l <"$TMP/lake.ndjson") distinct event ids)"
else
  fail "DuckDB reads the lake"; head -5 "$TMP/lake.err"
fi
python3 - "$TMP" "$ROUNDS" "$OR" "$OFFLINE" >"$TMP/verdict" 2>"$TMP/verdict.err" <<'PY' || { fail "the lake check ran"; head -5 "$TMP/verdict.err"; }
import json, sys, os
tmp, rounds, offline_round, offline_n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
lake = {}
for line in open(os.path.join(tmp, 'lake.ndjson')):
    row = json.loads(line)
    lake[row['event_id'].lower()] = int(row['n'])
def rid(r, s): return '5f000000-%04x-4000-8000-%012x' % (r, s)
accepted, refused, inflight, reasons = set(), set(), set(), {}
for r in range(1, rounds + 1):
    last = -1
    for line in open(os.path.join(tmp, 'round%d.out' % r)):
        f = line.split()
        if len(f) < 2 or f[0] not in ('A', 'R'): continue
        if f[0] == 'A': accepted.add(f[1])
        else:
            refused.add(f[1]); reasons[f[2]] = reasons.get(f[2], 0) + 1
        last = int(f[1].rsplit('-', 1)[1], 16)
    # Sent in order from one thread: the next id was inside evp_send (or
    # between its return and the report) when the kill landed.
    inflight.add(rid(r, last + 1))
crash_lake = {k: v for k, v in lake.items() if not k.startswith('5f000000-%04x-' % offline_round)}
off_lake = {k: v for k, v in lake.items() if k.startswith('5f000000-%04x-' % offline_round)}
def verdict(ok, what): print(('PASS ' if ok else 'FAIL ') + what)
missing = [i for i in accepted if i not in crash_lake]
twice = [i for i in accepted if crash_lake.get(i, 0) > 1]
print('INFO kill -9 rounds: %d accepted, %d refused (%s), %d inside evp_send at a kill; lake: %d ids, %d rows' % (
    len(accepted), len(refused), ', '.join('%s %d' % kv for kv in sorted(reasons.items())), len(inflight),
    len(crash_lake), sum(crash_lake.values())))
verdict(not missing and not twice, 'every accepted id is in the lake exactly once (%d missing, %d more than once%s)' % (
    len(missing), len(twice), ('; e.g. ' + ' '.join(sorted(missing)[:3])) if missing else ''))
verdict(len(refused) > 0, 'some events were refused (%d)' % len(refused))
bad = [i for i in refused if i in crash_lake]
verdict(not bad, 'no refused id is in the lake (%d are)' % len(bad))
landed = [i for i in inflight if i in crash_lake]
itwice = [i for i in landed if crash_lake[i] > 1]
verdict(not itwice, 'ids inside evp_send at a kill: at most once in the lake (%d of %d landed, %d more than once)' % (
    len(landed), len(inflight), len(itwice)))
stray = [i for i in crash_lake if i not in accepted and i not in inflight]
verdict(not stray, 'nothing else is in the lake (%d ids never accepted%s)' % (
    len(stray), ('; e.g. ' + ' '.join(sorted(stray)[:3])) if stray else ''))
want = {rid(offline_round, s) for s in range(offline_n)}
omissing = [i for i in want if i not in off_lake]
otwice = [i for i in want if off_lake.get(i, 0) > 1]
ostray = [i for i in off_lake if i not in want]
print('INFO offline: %d sent, lake: %d ids, %d rows' % (offline_n, len(off_lake), sum(off_lake.values())))
verdict(not omissing and not otwice and not ostray, 'offline: all %d in the lake exactly once (%d missing, %d more than once, %d stray)' % (
    offline_n, len(omissing), len(otwice), len(ostray)))
PY
sed -n 's/^INFO /    /p' "$TMP/verdict"
while read -r v what; do
  case "$v" in PASS) pass "$what" ;; FAIL) fail "$what" ;; esac
done <"$TMP/verdict"
finish
