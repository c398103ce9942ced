#!/bin/bash
# The Parquet lake writer checked by real readers: `test_lake --gen` writes
# deterministic datasets (every type, nulls, unicode, NaN/inf, several row
# groups and pages, dictionary and PLAIN fallback, Snappy and uncompressed,
# empty and one-row files, groups (structs) nested three deep with nulls at
# every level) plus their expected rows; tests/node/lake_readers.mjs reads
# them back with DuckDB, hyparquet and parquet-wasm and compares values,
# statistics, the page index, encodings and stats-pruned filter counts.
# Env: EVP_SOURCE_DIR, EVP_BINARY_DIR; optional EVP_LAKE_SEED (default 7).
set -u
SRC=${EVP_SOURCE_DIR:?EVP_SOURCE_DIR must name the source root}
BIN=${EVP_BINARY_DIR:?EVP_BINARY_DIR must name the build directory}
SEED=${EVP_LAKE_SEED:-7}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok: $1"; }
ko() { fail=$((fail + 1)); echo "FAIL: $1"; }

if ! sh "$SRC/tests/node/setup.sh" >"$T/setup.log" 2>&1; then
  cat "$T/setup.log"
  ko "node peers setup"
  echo "$pass passed, $fail failed"
  exit 1
fi

mkdir "$T/lake"
if "$BIN/tests/test_lake" --gen "$T/lake" "$SEED" 2>"$T/gen.err"; then
  ok "generator wrote the datasets (seed $SEED)"
else
  ko "generator failed: $(head -c 500 "$T/gen.err")"
  echo "$pass passed, $fail failed"
  exit 1
fi

# Files are private and only final names remain (no hidden temporaries).
bad_mode=$(find "$T/lake" -name '*.parquet' ! -perm 600 | wc -l)
[ "$bad_mode" -eq 0 ] && ok "parquet files are mode 0600" || ko "$bad_mode parquet files not mode 0600"
left=$(find "$T/lake" -name '.*' -type f | wc -l)
[ "$left" -eq 0 ] && ok "no temporary files left" || ko "$left temporary files left"

node "$SRC/tests/node/lake_readers.mjs" "$T/lake" >"$T/node.out" 2>&1
rc=$?
cat "$T/node.out"
last=$(tail -n 1 "$T/node.out")
if [[ "$last" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
  pass=$((pass + BASH_REMATCH[1]))
  fail=$((fail + BASH_REMATCH[2]))
  [ "$rc" -eq 0 ] || [ "${BASH_REMATCH[2]}" -gt 0 ] || ko "reader script exited $rc"
else
  ko "reader script crashed (exit $rc)"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
