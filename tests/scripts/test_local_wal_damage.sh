#!/usr/bin/env bash
# One corrupt byte in the durable log loses only the record it is in.
# 20,000 events go through `evpipe send` (one per request, so one per log
# record) into `evpipe local` with a lake buffer that never fills; the server
# is killed (no final flush), one byte in the middle of the active log segment
# is flipped, and the server is restarted: it must log the damaged region,
# copy it to the quarantine directory, count it in /metrics, and write every
# other event to the lake (19,999, none twice). A second restart gives the
# same recovery and writes nothing twice.
. "$(dirname "$0")/lib.sh"
CLI=${EVP_CLI:?}
SRC=${EVP_SOURCE_DIR:?}
command -v curl >/dev/null || { echo "curl not found: skipped"; exit 77; }
command -v node >/dev/null || { echo "node not found: skipped"; exit 77; }
N=${EVP_WAL_DAMAGE_EVENTS:-20000}
PER=${EVP_WAL_DAMAGE_PER_REQUEST:-1}
D="$TMP/data"
mkdir -p "$D/secrets"
printf '[{"client_id":"dmg-app","client_secret":"dmg-secret-0123456789abcdef0123456789","audiences":["events"]}]\n' >"$D/secrets/clients.json"
chmod 600 "$D/secrets/clients.json"
printf 'dmg-secret-0123456789abcdef0123456789\n' >"$TMP/secret"; chmod 600 "$TMP/secret"
node "$SRC/tests/node/e2e_events.mjs" "$N" >"$TMP/sent.ndjson"
printf 'SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM events\n' >"$TMP/count.sql"
PID=""
trap 'kill -9 $PID 2>/dev/null; rm -rf "$TMP"' EXIT
# The lake buffer never fills and never times out: the events stay in the log.
ARGS=(--buffer-bytes 1000000000 --buffer-seconds 900 --fsync interval)

metric() { curl -s "$URL/metrics" | sed -n "s/^$1 \([0-9]*\)$/\1/p"; }

if start_local "$D" "$D/secrets/clients.json" "${ARGS[@]}"; then pass "evpipe local is up"; else
  fail "evpipe local did not start"; tail -5 "$TMP/local.err"; finish; exit; fi
expect_rc 0 "evpipe send delivers $N events, $PER per request" "$CLI" send --endpoint "$URL" \
  --client-id dmg-app --client-secret-file "$TMP/secret" --audience events \
  --set batch.max.events=$PER "$TMP/sent.ndjson"
kill -9 "$PID"; wait "$PID" 2>/dev/null
segs=("$D"/queue/wal-*.seg)
if [ ${#segs[@]} -eq 1 ] && [ -s "${segs[0]}" ]; then pass "the events are in one log segment"; else
  fail "expected one segment, got ${segs[*]}"; fi
seg=${segs[0]}
if [ -z "$(ls "$D/events" 2>/dev/null)" ]; then pass "nothing reached the lake before the kill"; else
  fail "the lake was written before the kill"; fi
size=$(stat -c %s "$seg")
python3 -c 'import sys
p, off = sys.argv[1], int(sys.argv[2])
with open(p, "r+b") as f:
    f.seek(off); b = f.read(1); f.seek(off); f.write(bytes([b[0] ^ 0x20]))' "$seg" $((size / 2))

for round in 1 2; do
  if start_local "$D" "$D/secrets/clients.json" "${ARGS[@]}"; then pass "restart $round after the damage"; else
    fail "restart $round after the damage"; tail -5 "$TMP/local.err"; finish; exit; fi
  expect_grep "$TMP/local.err" '"msg":"durable log damaged' "restart $round logs the damaged region"
  line=$(grep '"msg":"durable log damaged' "$TMP/local.err" | head -1)
  if [ "$(grep -c '"msg":"durable log damaged' "$TMP/local.err")" -eq 1 ] &&
     [[ $line == *"\"segment\":\"$seg\""* ]] && [[ $line == *'"quarantine":"'"$D"'/queue/quarantine/wal-'* ]]; then
    pass "one line naming the segment and the quarantine file"; else fail "log line: $line"; fi
  q=$(ls "$D"/queue/quarantine/*.bad 2>/dev/null)
  if [ "$(echo "$q" | wc -l)" -eq 1 ] && [ -n "$q" ] && [ "$(stat -c %a "$q")" = 600 ] &&
     [ "$(stat -c %a "$D/queue/quarantine")" = 700 ]; then pass "one quarantine file (0600 in 0700)"; else
    fail "quarantine: $q"; fi
  off=$(sed -n 's/.*"offset":\([0-9]*\).*/\1/p' <<<"$line")
  len=$(sed -n 's/.*"length":\([0-9]*\).*/\1/p' <<<"$line")
  if [ -n "$off" ] && [ "$off" -le $((size / 2)) ] && [ $((off + len)) -gt $((size / 2)) ] &&
     cmp -s "$q" <(tail -c +$((off + 1)) "$seg" | head -c "$len"); then
    pass "the quarantine file holds the damaged bytes (offset $off, $len bytes, around the flip at $((size / 2)))"
  else fail "quarantine content (offset '$off' length '$len')"; fi
  c=$(metric evpipe_wal_corrupt_records_total)
  if [ "$c" = 1 ]; then pass "/metrics: evpipe_wal_corrupt_records_total 1"; else fail "corrupt records metric '$c'"; fi
  qb=$(metric evpipe_wal_quarantined_bytes_total)
  if [ -n "$qb" ] && [ "$qb" = "$len" ]; then pass "/metrics: evpipe_wal_quarantined_bytes_total $len"; else fail "quarantined bytes metric '$qb'"; fi
  kill -TERM "$PID"; wait "$PID"; rc=$?
  if [ $rc -eq 0 ]; then pass "SIGTERM flushes the lake and exits 0"; else fail "stop exit $rc"; fi
  node "$SRC/tests/node/athena_local.mjs" "$D" "$TMP/count.sql" >"$TMP/count.json" 2>"$TMP/count.err"
  n=$(sed -n 's/.*"n":"\{0,1\}\([0-9]*\).*/\1/p' "$TMP/count.json")
  d=$(sed -n 's/.*"d":"\{0,1\}\([0-9]*\).*/\1/p' "$TMP/count.json")
  if [ -n "$n" ] && [ "$n" -ge $((N - PER)) ] && [ "$n" -lt "$N" ] && [ "$d" = "$n" ]; then
    pass "the lake holds $n of $N events, each once (only the damaged record's are lost)"
  else fail "lake rows '$n' distinct '$d' (want $((N - PER))..$((N - 1))): $(cat "$TMP/count.err" "$TMP/count.json" | head -3)"; fi
done
finish
