#!/usr/bin/env bash
# Compaction of hour partitions is exactly-once under kill -9 (DuckDB counts):
#  1. `test_lake_compaction --gen-lake` leaves what `evpipe local` would after
#     receiving N events over 3 past hours (received_at comes from the server
#     clock, so HTTP cannot send into past hours): the real log and checkpoint
#     in DATA/queue, ~12 small part files per hour from the real batcher.
#  2. While `evpipe local --compact off` runs on DATA, `evpipe lake compact`
#     refuses (exit 1, says evpipe local is running) and changes nothing;
#     --compact off compacts nothing.
#  3. `evpipe lake compact` killed with SIGKILL at each step of the protocol
#     (EVPIPE_COMPACT_KILL_AT: staged, file, verified, linked, exchanged,
#     cleaned) and at random moments (ROUNDS copies, random sleeps over the
#     run's duration): after EACH kill DuckDB finds every id exactly once;
#     the next run removes the leftovers and finishes; again exactly once,
#     one file per hour, nothing left in DATA/compact.
#  4. The Athena query set answers over the compacted lake as computed from
#     the rows of the lake before compaction.
#  5. `evpipe local` (compaction on) compacts the closed hours of a fresh
#     copy by itself: one "lake hour compacted" line per hour with the
#     counts, and again every id exactly once.
# Env: EVP_SOURCE_DIR, EVP_BINARY_DIR, EVP_CLI; optional EVP_COMPACT_EVENTS
# (default 30000), EVP_COMPACT_ROUNDS (default 20).
. "$(dirname "$0")/lib.sh"
local_prelude
SRC=${EVP_SOURCE_DIR:?}
BIN=${EVP_BINARY_DIR:?}
CLI=${EVP_CLI:?}
GEN="$BIN/tests/test_lake_compaction"
SCHEMA="$SRC/examples/schemas/glue-data-catalog-json-schema.json"
N=${EVP_COMPACT_EVENTS:-30000}
ROUNDS=${EVP_COMPACT_ROUNDS:-20}
H0=$((($(date +%s) / 3600 - 30) * 3600)) # 30 hours ago: closed whatever the buffer time
[ -x "$GEN" ] || { echo "$GEN not built: skipped"; exit 77; }
if ! sh "$SRC/tests/node/setup.sh" >"$TMP/setup.log" 2>&1; then
  cat "$TMP/setup.log"
  fail "node peers setup"
  finish
  exit
fi

cat >"$TMP/check.mjs" <<'EOF'
// node check.mjs SRC count DATA N   -> "ok FILES" when ids c-0..c-(N-1) are each there once
// node check.mjs SRC manifest DATA OUT -> the rows as athena_queries_check.mjs expects them
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
const [src, mode, dir, arg] = process.argv.slice(2);
const require = createRequire(join(src, 'tests/node/package.json'));
const { DuckDBInstance } = require('@duckdb/node-api');
const db = await DuckDBInstance.create(':memory:');
const con = await db.connect();
const q = async (sql) => (await con.runAndReadAll(sql)).getRowObjectsJson();
const lake = `read_parquet('${dir}/events/*/*/*.parquet', hive_partitioning = true, hive_types_autocast = false, filename = true)`;
if (mode === 'count') {
  const [r] = await q(`SELECT count(*) AS c, count(DISTINCT event_id) AS d,
    min(CAST(substr(event_id, 3) AS BIGINT)) AS lo, max(CAST(substr(event_id, 3) AS BIGINT)) AS hi,
    count(DISTINCT filename) AS files FROM ${lake}`);
  const n = Number(arg);
  const ok = Number(r.c) === n && Number(r.d) === n && Number(r.lo) === 0 && Number(r.hi) === n - 1;
  console.log(ok ? `ok ${r.files}` : `BAD rows ${r.c} distinct ${r.d} ids ${r.lo}..${r.hi} files ${r.files}`);
} else {
  const rows = await q(`SELECT event_id, event_type, epoch_ms(event_time) AS et, app_id, user_id, session_id,
    platform, app_version, context, properties, epoch_ms(received_at) AS ra, client_id FROM ${lake} ORDER BY event_id`);
  const iso = (ms) => new Date(Number(ms)).toISOString();
  writeFileSync(arg, rows.map((r) => JSON.stringify({ event_id: r.event_id, event_type: r.event_type,
    event_time: iso(r.et), app_id: r.app_id, user_id: r.user_id, session_id: r.session_id, platform: r.platform,
    app_version: r.app_version, context: r.context, properties: r.properties, received_at: iso(r.ra),
    client_id: r.client_id })).join('\n') + '\n');
  console.log(`ok ${rows.length}`);
}
EOF
count() { node "$TMP/check.mjs" "$SRC" count "$1" "$N" 2>&1; }
stage_entries() { ls -A "$1/compact" 2>/dev/null | wc -l; }
# hour_files DATA: the largest number of Parquet files in one hour
hour_files() {
  local m=0 h c
  for h in "$1"/events/dt=*/hour=*; do
    c=$(find "$h" -maxdepth 1 -name '*.parquet' | wc -l)
    [ "$c" -gt "$m" ] && m=$c
  done
  echo "$m"
}

P="$TMP/pristine"
mkdir -p "$P"
chmod 700 "$P"
if "$GEN" --gen-lake "$P" "$SCHEMA" "$N" 3 "$H0" 2>"$TMP/gen.err"; then
  pass "generated $N events over 3 hours: $(find "$P/events" -name 'part-*.parquet' | wc -l) part files"
else
  fail "generate the lake: $(cat "$TMP/gen.err")"
  finish
  exit
fi
r=$(count "$P")
[[ "$r" == ok* ]] && pass "DuckDB: every id once before compaction ($r)" || fail "before compaction: $r"
out=$(node "$TMP/check.mjs" "$SRC" manifest "$P" "$TMP/manifest.ndjson" 2>&1)
[ "$out" = "ok $N" ] || fail "manifest: $out"

# ---- 2: refused while evpipe local runs; --compact off compacts nothing
printf '[{"client_id":"cmp","client_secret":"cmp-secret-0123456789abcdef","audiences":["events"]}]' >"$TMP/clients.json"
chmod 600 "$TMP/clients.json"
L="$TMP/live"
cp -a "$P" "$L"
if start_local "$L" "$TMP/clients.json" --compact off; then
  sleep 1
  "$CLI" lake compact "$L" >"$TMP/c.out" 2>"$TMP/c.err"
  rc=$?
  [ "$rc" -eq 1 ] && grep -q "evpipe local is running on $L" "$TMP/c.err" &&
    pass "refused while evpipe local runs: $(cat "$TMP/c.err")" ||
    fail "not refused while evpipe local runs (rc $rc): $(cat "$TMP/c.out" "$TMP/c.err")"
  stop_local
  ! grep -q '"lake hour compacted"' "$TMP/local.err" && [ "$(hour_files "$L")" -gt 1 ] &&
    pass "--compact off: no hour compacted" || fail "--compact off still compacted"
else
  fail "evpipe local starts"
  cat "$TMP/local.err"
fi
expect_rc 2 "--hour must be YYYY-MM-DDTHH" "$CLI" lake compact "$L" --hour 2026-12-05
expect_rc 2 "--target-bytes must be a number" "$CLI" lake compact "$L" --target-bytes 12x
expect_rc 1 "a directory without a lake is refused" "$CLI" lake compact "$TMP/nowhere"

# ---- 3: kill -9 at every step, then at random moments
# A small target gives several files per hour, so "file" is mid-way.
TARGET=120000
for step in staged file verified linked exchanged cleaned; do
  W="$TMP/w-$step"
  cp -a "$P" "$W"
  { (EVPIPE_COMPACT_KILL_AT=$step exec "$CLI" lake compact "$W" --target-bytes $TARGET >/dev/null); } 2>/dev/null
  rc=$?
  r=$(count "$W")
  left=$(stage_entries "$W")
  if [ "$rc" -eq 137 ] && [[ "$r" == ok* ]]; then
    pass "killed at '$step': every id once ($r, $left staging dirs left)"
  else
    fail "killed at '$step': rc $rc, $r"
  fi
  "$CLI" lake compact "$W" --target-bytes $TARGET >"$TMP/c.out" 2>&1
  rc=$?
  r=$(count "$W")
  if [ "$rc" -eq 0 ] && [[ "$r" == ok* ]] && [ "$(stage_entries "$W")" -eq 0 ] &&
    [ -z "$(find "$W/events" -name 'part-*')" ]; then
    pass "after '$step': the next run finishes, every id once ($r)"
  else
    fail "after '$step': rc $rc, $r, $(stage_entries "$W") staging dirs, $(cat "$TMP/c.out")"
  fi
  rm -rf "$W"
done

# How long one full run takes: the random kills spread over it.
W="$TMP/w-time"
cp -a "$P" "$W"
t0=$(date +%s%N)
"$CLI" lake compact "$W" >"$TMP/full.out" 2>&1 || fail "full run: $(cat "$TMP/full.out")"
ms=$((($(date +%s%N) - t0) / 1000000))
cat "$TMP/full.out"
[ "$(hour_files "$W")" -eq 1 ] && pass "one file per hour after a full run (${ms} ms)" ||
  fail "$(hour_files "$W") files in an hour after a full run"
r=$(count "$W")
[[ "$r" == ok* ]] && pass "full run: every id once ($r)" || fail "full run: $r"

# ---- 4: the Athena query set over the compacted lake
out=$(node "$SRC/tests/node/athena_queries_check.mjs" check "$SRC" "$W" "$TMP/manifest.ndjson" 2>&1)
if [ $? -eq 0 ]; then
  pass "Athena queries over the compacted lake: $(echo "$out" | tail -1)"
else
  echo "$out"
  fail "Athena queries over the compacted lake"
fi
rm -rf "$W"

bad=0 killed=0
for i in $(seq 1 "$ROUNDS"); do
  W="$TMP/w-r$i"
  cp -a "$P" "$W"
  tb=$((TARGET * (1 + i % 3)))
  "$CLI" lake compact "$W" --target-bytes $tb >/dev/null 2>&1 &
  cpid=$!
  sleep "$(awk -v r="$RANDOM" -v ms="$ms" 'BEGIN { printf "%.3f", (r % (ms + 50)) / 1000 }')"
  kill -KILL "$cpid" 2>/dev/null && killed=$((killed + 1))
  wait "$cpid" 2>/dev/null
  r=$(count "$W")
  if [[ "$r" != ok* ]]; then
    bad=$((bad + 1))
    echo "round $i: after the kill: $r"
  fi
  if [ $((i % 4)) -eq 0 ]; then # and the run after finishes: no part file left
    "$CLI" lake compact "$W" --target-bytes $tb >/dev/null 2>&1
    r=$(count "$W")
    if [[ "$r" != ok* ]] || [ "$(stage_entries "$W")" -ne 0 ] ||
      [ -n "$(find "$W/events" -name 'part-*')" ]; then
      bad=$((bad + 1))
      echo "round $i: after the next run: $r"
    fi
  fi
  rm -rf "$W"
done
[ "$bad" -eq 0 ] && pass "$ROUNDS random kill -9 rounds ($killed killed mid-run): every id once after each" ||
  fail "$bad of $ROUNDS random kill rounds lost or doubled ids"

# ---- 5: evpipe local compacts closed hours itself
L2="$TMP/live2"
cp -a "$P" "$L2"
if start_local "$L2" "$TMP/clients.json"; then
  for _ in $(seq 1 $((WAIT * 10))); do
    [ "$(grep -c '"msg":"lake hour compacted"' "$TMP/local.err")" -ge 3 ] && break
    sleep 0.1
  done
  stop_local
  grep '"msg":"lake hour compacted"' "$TMP/local.err" >"$TMP/compacted.log"
  if python3 - "$TMP/compacted.log" "$N" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert len(lines) == 3, "%d lines" % len(lines)
assert sum(j["rows"] for j in lines) == int(sys.argv[2]), "rows"
for j in lines:
    assert j["files_in"] >= 2 and j["files_out"] == 1 and j["bytes_out"] < j["bytes_in"], j
    assert isinstance(j["duration_ms"], int) and len(j["dt"]) == 10 and 0 <= j["hour"] <= 23, j
EOF
  then
    pass "evpipe local compacted the 3 closed hours: $(head -1 "$TMP/compacted.log")"
  else
    fail "evpipe local's compaction lines"
    cat "$TMP/local.err"
  fi
  r=$(count "$L2")
  [[ "$r" == ok* ]] && [ "$(hour_files "$L2")" -eq 1 ] && pass "after evpipe local: every id once ($r)" ||
    fail "after evpipe local: $r"
else
  fail "evpipe local starts (compaction on)"
  cat "$TMP/local.err"
fi
finish
