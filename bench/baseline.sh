# Shared by bench/run_*.sh: compare this build with a BASELINE build (e.g.
# of the commit before a change) in the same run. The two alternate, pinned
# to the same core, ROUNDS times, and the median of the per-round ratios is
# printed per operation: on a noisy machine only same-moment pairs compare.
#   baseline_compare BIN_RELATIVE_PATH SECONDS ROUNDS BUILD BASELINE OPS...
baseline_compare() {
  bin=$1 secs=$2 rounds=$3 ours=$4 theirs=$5
  shift 5
  f="${TMPDIR:-/tmp}/baseline.$$"
  : >"$f"
  i=0
  while [ "$i" -lt "$rounds" ]; do
    i=$((i + 1))
    a=$($PIN "$ours/$bin" "$secs")
    b=$($PIN "$theirs/$bin" "$secs")
    for op in "$@"; do
      x=$(echo "$a" | awk -v o="$op" '$1==o{print $2}')
      y=$(echo "$b" | awk -v o="$op" '$1==o{print $2}')
      echo "$op $x $y" >>"$f"
    done
  done
  echo "this build vs baseline $theirs ($rounds alternating rounds of ${secs}s):"
  for op in "$@"; do
    awk -v o="$op" '$1==o{ r[++n] = $2 / $3; a[n] = $2; b[n] = $3 }
      END { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (r[j] < r[i]) { t = r[i]; r[i] = r[j]; r[j] = t }
            m = (n % 2) ? r[(n + 1) / 2] : (r[n / 2] + r[n / 2 + 1]) / 2
            printf "  %s: ratio %.3f (median of %d pairs; min %.3f, max %.3f)\n", o, m, n, r[1], r[n] }' "$f"
  done
  rm -f "$f"
}
