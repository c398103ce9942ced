#!/bin/sh
# JSON Schema parse + validate of one event: libevpipe vs node ajv +
# ajv-formats, same machine, same run, each pinned to one core (taskset).
# The two alternate for ROUNDS rounds and the best rate of each is compared,
# so a burst of load from other processes does not decide the ratio.
# With BASELINE (another build directory), also this build against it.
#   bench/run_schema.sh [BUILD_DIR] [SECONDS] [ROUNDS] [BASELINE]
set -eu
cd "$(dirname "$0")/.."
B=${1:-build}
S=${2:-3}
R=${3:-3}
BASE=${4:-}
sh tests/node/setup.sh >/dev/null
PIN=""
command -v taskset >/dev/null 2>&1 && PIN="taskset -c 0"
C="" J=""
i=0
while [ "$i" -lt "$R" ]; do
  C="$C$($PIN "$B/bench/bench_schema" "$S")
"
  J="$J$($PIN node bench/bench_schema_ajv.mjs "$S")
"
  i=$((i + 1))
done
best() { echo "$1" | awk -v o="$2" '$1==o && $2>m{m=$2} END{printf "%.0f", m}'; }
echo "libevpipe (best of $R):"
echo "$C" | awk '$1 ~ /^(event_bytes|first_validation_allocs|allocs_per_validation|bytes_allocated_per_validation)$/ && !seen[$1]++ {print "  " $0}'
for op in validate validate_invalid; do echo "  $op $(best "$C" $op) events/s"; done
echo "ajv $(node -p "require('./tests/node/node_modules/ajv/package.json').version") + ajv-formats on node $(node --version) (best of $R):"
for op in validate validate_invalid; do echo "  $op $(best "$J" $op) events/s"; done
for op in validate validate_invalid; do
  awk -v o=$op -v c="$(best "$C" $op)" -v j="$(best "$J" $op)" \
    'BEGIN{printf "%s: libevpipe %.0f/s, ajv %.0f/s, ratio %.2fx\n", o, c, j, c/j}'
done
if [ -n "$BASE" ]; then
  . bench/baseline.sh
  baseline_compare bench/bench_schema "$S" "$((R * 2 + 1))" "$B" "$BASE" validate validate_invalid
fi
