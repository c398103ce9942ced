#!/bin/sh
# Ingest throughput on a noisy machine: RUNS runs of bench_ingest, one after
# the other, then the median, min and max of events/s into Parquet, p99
# request latency (client 0) and CPU per event. With BASELINE (another build
# directory, e.g. of an older commit), its runs alternate with ours and the
# median of the per-pair ratios is printed: the machine's speed drifts by
# tens of percent within minutes, so only same-moment comparisons mean much
# (and each build goes first in every other pair: a run disturbs the next).
#   bench/run_ingest.sh [BUILD_DIR] [RUNS] [EVENTS] [CLIENTS] [FSYNC] [BASELINE]
set -eu
cd "$(dirname "$0")/.."
B=${1:-build}
N=${2:-5}
EV=${3:-1000000}
CL=${4:-2}
FS=${5:-always}
BASE=${6:-}
one() { # build dir -> "events/s p99 cpu"
  "$1/bench/bench_ingest" "$EV" "$CL" "$FS" 2>&1 | awk '
    /^committed to Parquet:/ { ev = $4 }
    /^client 0 request latency/ { for (i = 1; i <= NF; i++) if ($i == "p99") p99 = $(i + 1) }
    /^CPU per event:/ { cpu = $4 }
    /^zero loss/ { ok = 1 }
    END { if (!ok || ev == "") { print "FAILED"; exit 1 } print ev, p99, cpu }'
}
: >"${TMPDIR:-/tmp}/run_ingest.$$"
trap 'rm -f "${TMPDIR:-/tmp}/run_ingest.$$"' EXIT
i=0
while [ "$i" -lt "$N" ]; do
  i=$((i + 1))
  if [ -n "$BASE" ] && [ $((i % 2)) -eq 0 ]; then
    b=$(one "$BASE") # every other pair the baseline goes first: no side wins by its turn
    r=$(one "$B")
  else
    r=$(one "$B")
    [ -z "$BASE" ] || b=$(one "$BASE")
  fi
  if [ -n "$BASE" ]; then
    echo "run $i: $r | baseline: $b"
    echo "$r $b" >>"${TMPDIR:-/tmp}/run_ingest.$$"
  else
    echo "run $i: $r"
    echo "$r" >>"${TMPDIR:-/tmp}/run_ingest.$$"
  fi
done
med() { sort -n | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "median %s, min %s, max %s", m, v[1], v[NR] }'; }
F="${TMPDIR:-/tmp}/run_ingest.$$"
echo "$EV events, $CL clients, fsync $FS, $N runs:"
echo "  events/s into Parquet: $(awk '{ print $1 }' "$F" | med)"
echo "  p99 request latency (us): $(awk '{ print $2 }' "$F" | med)"
echo "  CPU per event (us): $(awk '{ print $3 }' "$F" | med)"
if [ -n "$BASE" ]; then
  echo "  baseline events/s: $(awk '{ print $4 }' "$F" | med)"
  echo "  ratio (this / baseline, per pair): $(awk '{ printf "%.3f\n", $1 / $4 }' "$F" | med)"
fi
