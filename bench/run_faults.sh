#!/usr/bin/env bash
# The client under partial faults (issue 12), end to end on loopback:
# evpipe local <- bench/fault_proxy.py <- evpipe send (the SDK, default
# settings), and the lake checked to hold EXACTLY the sent rows every time
# (tests/node/e2e_lake_check.mjs: DuckDB + hyparquet, no event_id twice,
# every column equal).
#   (a) RUNS runs, each on a fresh evpipe local: N_A events sent clean
#       straight to it, N_A others clean through the proxy (no faults), and
#       N_A others through the proxy faulting 30% of POST /events (503
#       without Retry-After, reset before forwarding, reset after forwarding);
#       target: median over the runs of faulted goodput / the better of the
#       two clean goodputs >= 25%.
#   (b) N_B events through the proxy faulting 30% with 429 + Retry-After: 1
#       as well; target: all delivered, wall time <= 1.5 x the Retry-After
#       seconds the proxy handed out + 5 s.
# Usage: bench/run_faults.sh [BUILD_DIR]   (env: RUNS=5 N_A=20000 N_B=100000)
# Needs the Node peers (tests/node/setup.sh) for the lake check.
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build}
export EVP_CLI="$BUILD/evpipe" EVP_SOURCE_DIR="$SRC"
RUNS=${RUNS:-5}
N_A=${N_A:-20000}
N_B=${N_B:-100000}
. "$SRC/tests/scripts/lib.sh"
PROXY_PID=""
PID=""
trap 'kill -9 $PID $PROXY_PID 2>/dev/null; rm -rf "$TMP"' EXIT
SECRET=bench-secret-0123456789abcdef0123456789
printf '%s\n' "$SECRET" >"$TMP/secret"
chmod 600 "$TMP/secret"
now_ms() { date +%s%3N; }

# send URL FILE: evpipe send with the defaults; sets SEND_MS and SEND_RC.
send() {
  local t0
  t0=$(now_ms)
  "$EVP_CLI" send --endpoint "$1" --client-id bench-app --client-secret-file "$TMP/secret" \
    --audience events --timeout 600000 "$2" >"$TMP/send.out" 2>"$TMP/send.err"
  SEND_RC=$?
  SEND_MS=$(($(now_ms) - t0))
}

# up DIR: a fresh evpipe local on DIR; sets URL, PID, PORT.
up() {
  mkdir -p "$1/secrets"
  printf '[{"client_id":"bench-app","client_secret":"%s","audiences":["events"]}]\n' "$SECRET" \
    >"$1/secrets/clients.json"
  chmod 600 "$1/secrets/clients.json"
  start_local "$1" "$1/secrets/clients.json" || { fail "evpipe local did not start"; cat "$TMP/local.err"; finish; exit 1; }
  PORT=${URL##*:}
}

# proxy FAULTS SEED [RATE]: the fault proxy in front of evpipe local; sets PURL.
proxy() {
  python3 "$SRC/bench/fault_proxy.py" "$PORT" --rate "${3:-0.3}" --faults "$1" --seed "$2" \
    --stats "$TMP/proxy.json" >"$TMP/proxy.out" 2>"$TMP/proxy.err" &
  PROXY_PID=$!
  for _ in $(seq 1 100); do
    grep -q listening "$TMP/proxy.out" 2>/dev/null && break
    sleep 0.05
  done
  PURL="http://127.0.0.1:$(awk '{print $2}' "$TMP/proxy.out")"
}

proxy_down() {
  kill -TERM "$PROXY_PID"
  wait "$PROXY_PID" 2>/dev/null
  PROXY_PID=""
}

# lake_check DIR SENT T0: stop evpipe local, then exactly the sent rows.
lake_check() {
  kill -TERM "$PID"
  wait "$PID"
  local rc=$?
  PID=""
  [ "$rc" -eq 0 ] || fail "evpipe local exit $rc"
  if node "$SRC/tests/node/e2e_lake_check.mjs" "$1" "$2" bench-app "$3" "$(now_ms)" "$TMP/manifest.ndjson" \
    >"$TMP/lake.out" 2>&1; then
    pass "$4: the lake holds exactly the $(wc -l <"$2") sent rows"
  else
    fail "$4: lake check"
    grep -v "^ok:" "$TMP/lake.out" | head -10
  fi
}

node "$SRC/tests/node/e2e_events.mjs" $((3 * N_A)) >"$TMP/all_a.ndjson"
head -n "$N_A" "$TMP/all_a.ndjson" >"$TMP/clean.ndjson"
head -n $((2 * N_A)) "$TMP/all_a.ndjson" | tail -n "$N_A" >"$TMP/clean_proxy.ndjson"
tail -n "$N_A" "$TMP/all_a.ndjson" >"$TMP/fault.ndjson"
RATIOS=""
for i in $(seq 1 "$RUNS"); do
  D="$TMP/a$i"
  up "$D"
  T0=$(now_ms)
  send "$URL" "$TMP/clean.ndjson"
  CLEAN_MS=$SEND_MS
  [ "$SEND_RC" -eq 0 ] || fail "(a) run $i: clean send exit $SEND_RC"
  proxy 503 "$i" 0
  send "$PURL" "$TMP/clean_proxy.ndjson"
  CLEANP_MS=$SEND_MS
  proxy_down
  [ "$SEND_RC" -eq 0 ] || fail "(a) run $i: clean send through the proxy exit $SEND_RC"
  proxy 503,reset_before,reset_after "$i"
  send "$PURL" "$TMP/fault.ndjson"
  FAULT_MS=$SEND_MS
  proxy_down
  if [ "$SEND_RC" -eq 0 ] && grep -q "delivered: $N_A " "$TMP/send.out"; then
    pass "(a) run $i: all $N_A delivered through the faults"
  else
    fail "(a) run $i: faulted send exit $SEND_RC"
    tail -n 3 "$TMP/send.out" "$TMP/send.err"
  fi
  lake_check "$D" "$TMP/all_a.ndjson" "$T0" "(a) run $i"
  BEST_MS=$((CLEANP_MS < CLEAN_MS ? CLEANP_MS : CLEAN_MS))
  RATIO=$(awk -v c="$BEST_MS" -v f="$FAULT_MS" 'BEGIN { printf "%.3f", (c > 0 ? c : 1) / (f > 0 ? f : 1) }')
  RATIOS="$RATIOS $RATIO"
  echo "  (a) run $i: clean $N_A in $CLEAN_MS ms direct, $CLEANP_MS ms through the proxy" \
    "(best $((N_A * 1000 / (BEST_MS > 0 ? BEST_MS : 1))) ev/s)," \
    "faulted $N_A in $FAULT_MS ms ($((N_A * 1000 / (FAULT_MS > 0 ? FAULT_MS : 1))) ev/s)," \
    "goodput ratio $RATIO; proxy $(cat "$TMP/proxy.json")"
done
MEDIAN=$(printf '%s\n' $RATIOS | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
echo "  (a) median goodput ratio (faulted/clean) over $RUNS runs: $MEDIAN (target >= 0.25)"
if awk -v m="$MEDIAN" 'BEGIN { exit !(m >= 0.25) }'; then pass "(a) median ratio $MEDIAN >= 0.25"; else
  fail "(a) median ratio $MEDIAN < 0.25"; fi

if [ "$N_B" -gt 0 ]; then
  node "$SRC/tests/node/e2e_events.mjs" "$N_B" >"$TMP/all_b.ndjson"
  D="$TMP/b"
  up "$D"
  T0=$(now_ms)
  proxy 503,reset_before,reset_after,429 7
  send "$PURL" "$TMP/all_b.ndjson"
  proxy_down
  RA=$(sed -n 's/.*"retry_after_s": \([0-9]*\).*/\1/p' "$TMP/proxy.json")
  LIMIT_MS=$((RA * 1500 + 5000))
  echo "  (b) $N_B events in $SEND_MS ms; proxy $(cat "$TMP/proxy.json"); limit 1.5 x $RA s + 5 s = $LIMIT_MS ms"
  if [ "$SEND_RC" -eq 0 ] && grep -q "delivered: $N_B " "$TMP/send.out"; then
    pass "(b) all $N_B delivered"
  else
    fail "(b) send exit $SEND_RC"
    tail -n 3 "$TMP/send.out" "$TMP/send.err"
  fi
  if [ "$SEND_MS" -le "$LIMIT_MS" ]; then pass "(b) $SEND_MS ms <= $LIMIT_MS ms"; else
    fail "(b) $SEND_MS ms > $LIMIT_MS ms"; fi
  lake_check "$D" "$TMP/all_b.ndjson" "$T0" "(b)"
fi
finish
