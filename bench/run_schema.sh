#!/bin/sh
# JSON Schema parse + validate of one event: libevpipe vs node ajv +
# ajv-formats, same machine, same run, each pinned to one core (taskset).
#   bench/run_schema.sh [BUILD_DIR] [SECONDS]
set -eu
cd "$(dirname "$0")/.."
B=${1:-build}
S=${2:-3}
sh tests/node/setup.sh >/dev/null
PIN=""
command -v taskset >/dev/null 2>&1 && PIN="taskset -c 0"
C=$($PIN "$B/bench/bench_schema" "$S")
J=$($PIN node bench/bench_schema_ajv.mjs "$S")
echo "libevpipe:"; echo "$C" | sed 's/^/  /'
echo "ajv $(node -p "require('./tests/node/node_modules/ajv/package.json').version") + ajv-formats on node $(node --version):"; echo "$J" | sed 's/^/  /'
for op in validate validate_invalid; do
  c=$(echo "$C" | awk -v o=$op '$1==o{print $2}')
  j=$(echo "$J" | awk -v o=$op '$1==o{print $2}')
  awk -v o=$op -v c="$c" -v j="$j" 'BEGIN{printf "%s: libevpipe %.0f/s, ajv %.0f/s, ratio %.2fx\n", o, c, j, c/j}'
done
