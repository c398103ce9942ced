#!/bin/sh
# HS256 sign/verify: libevpipe vs node jose, same machine, same run, one core
# each (taskset), so the ratio is meaningful on a noisy machine. With
# BASELINE (another build directory), also this build against it.
#   bench/run_jwt.sh [BUILD_DIR] [SECONDS] [BASELINE] [ROUNDS]
set -eu
cd "$(dirname "$0")/.."
B=${1:-build}
S=${2:-2}
BASE=${3:-}
ROUNDS=${4:-5}
sh tests/node/setup.sh >/dev/null
PIN=""
command -v taskset >/dev/null 2>&1 && PIN="taskset -c 0"
C=$($PIN "$B/bench/bench_jwt" "$S")
J=$($PIN node bench/bench_jwt_jose.mjs "$S")
echo "libevpipe:"; echo "$C" | sed 's/^/  /'
echo "jose $(node -p "require('./tests/node/node_modules/jose/package.json').version") on node $(node --version):"; echo "$J" | sed 's/^/  /'
for op in sign verify; do
  c=$(echo "$C" | awk -v o=$op '$1==o{print $2}')
  j=$(echo "$J" | awk -v o=$op '$1==o{print $2}')
  awk -v o=$op -v c="$c" -v j="$j" 'BEGIN{printf "%s: libevpipe %.0f/s, jose %.0f/s, ratio %.1fx\n", o, c, j, c/j}'
done
if [ -n "$BASE" ]; then
  . bench/baseline.sh
  baseline_compare bench/bench_jwt "$S" "$ROUNDS" "$B" "$BASE" sign verify verify_claims
fi
