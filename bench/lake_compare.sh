#!/bin/sh
# The lake against its alternatives, same run, same events (issue 17's
# "done when" figures):
#   bench/lake_compare.sh [BUILD_DIR] [EVENTS] [RUNS] [BASE_BUILD_DIR]
# (defaults: build, 1000000, 5, no base)
# 1. EVENTS events of bench/bench_events.h become lake rows as evpipe local
#    builds them (bench_lake_compare) and are written as ONE file with the
#    writer's default options (what compaction writes) and with ZSTD.
# 2. DuckDB writes the same rows with the same column types (strings, JSON
#    text, BIGINT, TIMESTAMP WITH TIME ZONE), Snappy (its default) and ZSTD.
# 3. NDJSON + gzip -6 of the same rows.
# 4. bytes/event of each, and the ratios the issue asks for.
# 5. the examples/athena_queries/ set over our lake vs DuckDB's file: same
#    answers, and the median time of RUNS interleaved rounds.
# 6. with BASE_BUILD_DIR (a build of an older commit): writer throughput,
#    bench_lake runs alternating with the base build's, median per-pair ratio.
# 7. unless LOCAL=0: EVENTS events sent by the SDK through evpipe local
#    (bench_ingest, fsync never), the lake as the batcher wrote it, then
#    after `evpipe lake compact --hour` of each of its hours: files per
#    hour, bytes/event against DuckDB rewriting THAT lake's rows with the
#    same types (Snappy) and NDJSON+gzip -6 of the same events (bench_ingest
#    measures it from what it sent), and the query set over it.
set -eu
cd "$(dirname "$0")/.."
B=${1:-build}
N=${2:-1000000}
RUNS=${3:-5}
BASE=${4:-}
W=$(mktemp -d "${TMPDIR:-/tmp}/lake_compare.XXXXXX")
trap 'rm -rf "$W"' EXIT
Q=examples/athena_queries
PART=events/dt=2025-12-01/hour=12 # bench_lake_compare's fixed clock

sh tests/node/setup.sh >/dev/null

med() { sort -n | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%s", m }'; }

# ---- the files
"$B/bench/bench_lake_compare" "$N" "$W" default zstd=zstd >"$W/ours.txt"
for c in snappy zstd; do
  mkdir -p "$W/duckdb_$c/$PART"
  node bench/lake_compare.mjs write "$W/rows.ndjson" "$W/columns.tsv" "$W/duckdb_$c/$PART/part-0.parquet" "$c"
done
GZ=$(gzip -6 -c "$W/rows.ndjson" | wc -c)
RAW=$(wc -c <"$W/rows.ndjson")

lake_bytes() { find "$1/events" -name '*.parquet' -exec stat -c %s {} + | awk '{ s += $1 } END { print s + 0 }'; }
DUCK_SNAPPY=$(lake_bytes "$W/duckdb_snappy")
DUCK_ZSTD=$(lake_bytes "$W/duckdb_zstd")

echo "lake_compare: $N events of bench/bench_events.h, $(awk -F '\t' 'END { print NR }' "$W/columns.tsv") columns"
echo
printf '%-34s %12s %9s %14s %12s %10s\n' "lake" "bytes" "B/event" "vs DuckDB same" "vs ndjson.gz" "files/hour"
# report_lake NAME DIR [DUCKDB_BYTES]: one row of the size table for a lake
# (DIR/events/dt=*/hour=*/*.parquet); ratio against DuckDB's file of the same
# codec when given.
report_lake() {
  bytes=$(lake_bytes "$2")
  files=$(find "$2/events" -name '*.parquet' | sed 's|/[^/]*$||' | sort | uniq -c | awk '{ printf "%s%s", (NR > 1 ? "," : ""), $1 }')
  awk -v n="$1" -v b="$bytes" -v ev="$N" -v d="${3:-}" -v gz="$GZ" -v f="$files" 'BEGIN {
    printf "%-34s %12d %9.2f %14s %12.3f %10s\n", n, b, b / ev, (d == "" ? "-" : sprintf("%.3f", b / d)), b / gz, f }'
}
report_lake "evpipe writer, defaults (Snappy)" "$W/default" "$DUCK_SNAPPY"
report_lake "evpipe writer, ZSTD" "$W/zstd" "$DUCK_ZSTD"
report_lake "DuckDB, Snappy (its default)" "$W/duckdb_snappy" "$DUCK_SNAPPY"
report_lake "DuckDB, ZSTD" "$W/duckdb_zstd" "$DUCK_ZSTD"
awk -v b="$GZ" -v r="$RAW" -v ev="$N" 'BEGIN { printf "%-34s %12d %9.2f %14s %12.3f   (raw NDJSON %.1f B/event)\n", "NDJSON + gzip -6", b, b / ev, "-", 1, r / ev }'
echo
echo "bytes/event per column (compressed column chunks):"
node bench/lake_compare.mjs columns "$N" "$W/default/$PART/part-0.parquet" "$W/duckdb_snappy/$PART/part-0.parquet" \
  "$W/zstd/$PART/part-0.parquet" "$W/duckdb_zstd/$PART/part-0.parquet"
echo
echo "writer alone (bench_lake_compare, appends + close, one run each):"
sed 's/^/  /' "$W/ours.txt"

# compare_queries NAME DIR: the Athena example queries over lake DIR (A) and
# over DuckDB's Snappy file of the same events (B): answers must be equal.
compare_queries() {
  echo
  echo "athena example queries, $1 (A) vs DuckDB's own file (B), median of $RUNS interleaved rounds:"
  node bench/lake_compare.mjs queries "$RUNS" "$Q" "$2" "$W/duckdb_snappy" | sed 's/^/  /'
}
compare_queries "evpipe writer, defaults" "$W/default"

# ---- writer throughput against an older build (same data in both: bench_lake)
if [ -n "$BASE" ]; then
  echo
  echo "writer throughput, bench_lake $N (rows/s, Parquet only), this build vs $BASE, $RUNS pairs:"
  one() { BENCH_LAKE_NO_GZIP=1 "$1/bench/bench_lake" "$N" | awk '/^parquet\+snappy:/ { print $4 }'; }
  : >"$W/tp"
  i=0
  while [ "$i" -lt "$RUNS" ]; do
    i=$((i + 1))
    a=$(one "$B")
    b=$(one "$BASE")
    echo "  pair $i: $a vs $b"
    echo "$a $b" >>"$W/tp"
  done
  echo "  median this $(awk '{ print $1 }' "$W/tp" | med), base $(awk '{ print $2 }' "$W/tp" | med), per-pair ratio $(awk '{ printf "%.3f\n", $1 / $2 }' "$W/tp" | med)"
fi

# ---- through evpipe local, then compaction
if [ "${LOCAL:-1}" != 0 ]; then
  echo
  echo "through evpipe local (bench_ingest $N events, 2 clients, fsync never), then evpipe lake compact:"
  EVP_BENCH_KEEP=1 "$B/bench/bench_ingest" "$N" 2 never >"$W/ingest.txt" 2>&1 || {
    cat "$W/ingest.txt"
    echo "bench_ingest failed" >&2
    exit 1
  }
  D=$(sed -n 's/^data dir: //p' "$W/ingest.txt")
  trap 'rm -rf "$W" "$D"' EXIT
  sed -n 's/^\(committed to Parquet.*\|bytes\/event.*\|zero loss.*\)$/  \1/p' "$W/ingest.txt"
  # NDJSON+gzip -6 of the events sent, as bench_ingest measured it
  GZ=$(awk -v n="$N" '/^bytes\/event:/ { v = $5; sub(",", "", v); printf "%d", v * n }' "$W/ingest.txt")
  # DuckDB rewrites each hour's rows (same types, same partition)
  for h in "$D"/events/dt=*/hour=*; do
    rel=${h#"$D"/}
    mkdir -p "$W/duckdb_local/$rel"
    node bench/lake_compare.mjs rewrite "$h/*.parquet" "$W/duckdb_local/$rel/part-0.parquet" snappy
  done
  DUCK_LOCAL=$(lake_bytes "$W/duckdb_local")
  printf '  %-34s %12s %9s %14s %12s %10s\n' "lake" "bytes" "B/event" "vs DuckDB same" "vs ndjson.gz" "files/hour"
  report_lake "evpipe local, as written" "$D" "$DUCK_LOCAL" | sed 's/^/  /'
  for h in "$D"/events/dt=*/hour=*; do
    dt=${h%/hour=*}
    dt=${dt##*/dt=}
    "$B/evpipe" lake compact "$D" --hour "${dt}T${h##*/hour=}" | sed 's/^/  compact: /'
  done
  report_lake "evpipe local, compacted" "$D" "$DUCK_LOCAL" | sed 's/^/  /'
  report_lake "DuckDB rewriting those rows" "$W/duckdb_local" "$DUCK_LOCAL" | sed 's/^/  /'
  echo
  echo "athena example queries, evpipe local + compact (A) vs DuckDB's rewrite of the same rows (B), median of $RUNS interleaved rounds:"
  node bench/lake_compare.mjs queries "$RUNS" "$Q" "$D" "$W/duckdb_local" | sed 's/^/  /'
fi
