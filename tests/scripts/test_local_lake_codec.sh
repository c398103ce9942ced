#!/usr/bin/env bash
# The lake's codec is a user choice: `evpipe local --lake-codec zstd` writes
# every Parquet file with ZSTD (DuckDB's parquet_metadata says so for every
# column chunk, and reads every event back), the default stays Snappy, and
# `evpipe lake compact --codec zstd` writes its merged files with ZSTD.
# `evpipe local --lake-codec zstd` compacts closed hours into ZSTD files.
# Unknown codec names are usage errors (exit 2) naming the option.
. "$(dirname "$0")/lib.sh"
local_prelude
SRC=${EVP_SOURCE_DIR:?}
BIN=${EVP_BINARY_DIR:?}
GEN="$BIN/tests/test_lake_compaction"
[ -x "$GEN" ] || { echo "$GEN not built: skipped"; exit 77; }
if ! sh "$SRC/tests/node/setup.sh" >"$TMP/setup.log" 2>&1; then
  cat "$TMP/setup.log"
  fail "node peers setup"
  finish
  exit
fi
printf '[{"client_id":"zst","client_secret":"zst-secret-0123456789abcdef","audiences":["events"]}]' >"$TMP/clients.json"
chmod 600 "$TMP/clients.json"

send() { # TOKEN N: N events; prints "accepted"
  local evs="" n
  for n in $(seq 1 "$2"); do
    evs="$evs${evs:+,}{\"event_id\":\"0a1b2c3d-0000-4000-8000-$(printf %012d "$n")\",\"event_type\":\"app.opened\",\"event_time\":\"2024-05-01T08:15:30Z\",\"app_id\":\"codec-test\"}"
  done
  curl -s --max-time 20 -X POST "$URL/events" -H "Authorization: Bearer $1" \
    -H "Content-Type: application/json" --data-binary "{\"events\":[$evs]}" |
    python3 -c "import json,sys; print(json.load(sys.stdin)['accepted'])"
}
# codecs DIR GLOB: "ROWS DISTINCT_IDS CODECS" of the lake's files matching GLOB
codecs() {
  (cd "$SRC/tests/node" && node --input-type=module - "$1" "$2" <<'EOF'
const { DuckDBInstance } = await import('@duckdb/node-api');
const db = await DuckDBInstance.create(':memory:');
const con = await db.connect();
const files = `${process.argv[2]}/events/**/${process.argv[3]}`;
const n = (await con.runAndReadAll(
  `SELECT count(*) AS c, count(DISTINCT event_id) AS d FROM read_parquet('${files}')`)).getRowObjectsJson()[0];
const c = (await con.runAndReadAll(
  `SELECT string_agg(DISTINCT compression, ',' ORDER BY compression) AS c FROM parquet_metadata('${files}')`)).getRowObjectsJson()[0];
console.log(`${n.c} ${n.d} ${c.c}`);
EOF
  )
}

run_local() { # DATA CODEC_ARGS...: 25 events through evpipe local, stopped cleanly
  local d=$1
  shift
  if ! start_local "$d" "$TMP/clients.json" --buffer-seconds 900 --compact off "$@"; then
    fail "evpipe local $* starts"
    cat "$TMP/local.err"
    return 1
  fi
  local tok
  tok=$(local_token zst zst-secret-0123456789abcdef)
  [ "$(send "$tok" 25)" = 25 ] || fail "25 events accepted ($*)"
  stop_local
  [ "$RC" = 0 ] || fail "evpipe local $* stops with 0 (got $RC)"
}

run_local "$TMP/zstd" --lake-codec zstd
r=$(codecs "$TMP/zstd" '*.parquet')
[ "$r" = "25 25 ZSTD" ] && pass "--lake-codec zstd: every column chunk ZSTD, every event once ($r)" ||
  fail "--lake-codec zstd: got '$r', want '25 25 ZSTD'"
run_local "$TMP/default"
r=$(codecs "$TMP/default" '*.parquet')
[ "$r" = "25 25 SNAPPY" ] && pass "default: Snappy ($r)" || fail "default: got '$r', want '25 25 SNAPPY'"

expect_rc 2 "--lake-codec lz4 is a usage error" "$EVP_CLI" local --lake-codec lz4 --data "$TMP/x"
expect_grep "$TMP/err" "--lake-codec lz4: give snappy or zstd" "it names the option and the choices"
[ ! -e "$TMP/x" ] && pass "nothing created" || fail "$TMP/x created"

# evpipe lake compact --codec zstd over a lake the batcher wrote (Snappy)
N=3000
H0=$((($(date +%s) / 3600 - 30) * 3600))
mkdir -p "$TMP/lake" && chmod 700 "$TMP/lake"
"$GEN" --gen-lake "$TMP/lake" "$SRC/examples/schemas/glue-data-catalog-json-schema.json" "$N" 1 "$H0" \
  2>"$TMP/gen.err" || fail "generate a lake: $(cat "$TMP/gen.err")"
cp -a "$TMP/lake" "$TMP/lake2" # for evpipe local's own compaction, below
expect_rc 2 "lake compact --codec gzip is a usage error" "$EVP_CLI" lake compact "$TMP/lake" --codec gzip
expect_grep "$TMP/err" "--codec gzip: give snappy or zstd" "it names the option and the choices"
expect_rc 0 "evpipe lake compact --codec zstd" "$EVP_CLI" lake compact "$TMP/lake" --codec zstd
r=$(codecs "$TMP/lake" 'compact-*.parquet')
[ "$r" = "$N $N ZSTD" ] && pass "the compacted files are ZSTD and hold every event once ($r)" ||
  fail "compacted: got '$r', want '$N $N ZSTD'"
[ "$(find "$TMP/lake/events" -name 'part-*.parquet' | wc -l)" = 0 ] && pass "no part file left" ||
  fail "part files left after compaction"

# evpipe local --lake-codec zstd compacts closed hours into ZSTD files too
if start_local "$TMP/lake2" "$TMP/clients.json" --lake-codec zstd; then
  for _ in $(seq 1 $((WAIT * 10))); do grep -q '"msg":"lake hour compacted"' "$TMP/local.err" && break; sleep 0.1; done
  c=$(local_metric evpipe_lake_compactions_total)
  f=$(local_metric evpipe_lake_compaction_failures_total)
  [ "$c/$f" = "1/0" ] && pass "/metrics counts the compaction (compactions $c, failures $f)" ||
    fail "/metrics: evpipe_lake_compactions_total '$c', evpipe_lake_compaction_failures_total '$f', want 1 and 0"
  stop_local
  r=$(codecs "$TMP/lake2" 'compact-*.parquet')
  [ "$r" = "$N $N ZSTD" ] && pass "evpipe local --lake-codec zstd compacts into ZSTD files ($r)" ||
    fail "evpipe local's compaction: got '$r', want '$N $N ZSTD'"
else
  fail "evpipe local --lake-codec zstd on a lake with a closed hour starts"
fi
finish
