#!/bin/sh
# The client's footprint (docs/embedded.md, "Footprint"), for x86_64 (this
# machine) and arm64 (cross-built as scripts/cross-test does, run under
# qemu-user):
#   - stripped sizes of the client-only MinSizeRel libevpipe.so and of the
#     dynamically linked example examples/c/send_events (exact on both);
#   - bench/bench_footprint.c's in-process figures: RSS of an idle client and
#     of one holding 10,000 queued events over the process baseline, threads
#     created, and, with an `evpipe local` to send to, CPU time per event.
#     Under qemu-user RSS and CPU are the emulator's (its translation cache
#     counts as RSS, its JIT as CPU): indicative only. Threads are exact.
#   - for x86_64, the static example per TLS backend
#     (scripts/build-static-client --tls openssl|mbedtls, in
#     build-static-TLS; only glibc stays shared) and fully static with musl
#     and mbedTLS (build-static-mbedtls-musl): its stripped size, and the
#     same in-process figures of bench_footprint linked the same way.
# Usage: bench/footprint.sh [--arch x86_64|arm64|all] [--sysroot DIR]
#                           [--evpipe PATH] [--events N] [--no-static]
#   --sysroot  the arm64 libraries (default build-cross-arm64/sysroot, made by
#              `scripts/cross-test arm64`)
#   --evpipe   an evpipe tool with the server (default build/evpipe, then
#              evpipe on PATH); none: the CPU figure is skipped
#   --no-static  skip the static builds (their first run fetches Debian's
#              curl and cjson source packages: network, a few minutes each)
# Builds in build-footprint-ARCH (only the library, the example and the
# bench), prints one table per ARCH and the goals of issue 16.
set -eu
cd "$(dirname "$0")/.."
arches="x86_64 arm64"
sysroot=$PWD/build-cross-arm64/sysroot
evpipe=""
events=100000
static=1
while [ $# -gt 0 ]; do
  case "$1" in
    --no-static) static=0; shift ;;
    --arch) [ "$2" = all ] || arches=$2; shift 2 ;;
    --sysroot) sysroot=$2; shift 2 ;;
    --evpipe) evpipe=$2; shift 2 ;;
    --events) events=$2; shift 2 ;;
    *) echo "usage: bench/footprint.sh [--arch x86_64|arm64|all] [--sysroot DIR] [--evpipe PATH] [--events N] [--no-static]" >&2; exit 2 ;;
  esac
done
if [ -z "$evpipe" ]; then
  if [ -x build/evpipe ]; then evpipe=$PWD/build/evpipe
  else evpipe=$(command -v evpipe || true); fi
fi
tmp=$(mktemp -d)
pid=""
cleanup() {
  [ -z "$pid" ] || { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; }
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# An `evpipe local` for the CPU figure (both ARCHes send to it over loopback).
bench_args=""
if [ -n "$evpipe" ]; then
  mkdir -m 700 "$tmp/local"
  "$evpipe" local --listen 127.0.0.1:0 --data "$tmp/local" --fsync never --quiet \
    >"$tmp/local.out" 2>"$tmp/local.err" &
  pid=$!
  url=""
  for _ in $(seq 1 100); do
    url=$(sed -n 's/.*"msg":"listening","url":"\([^"]*\)".*/\1/p' "$tmp/local.err" | head -1)
    [ -n "$url" ] && break
    sleep 0.1
  done
  [ -n "$url" ] || { cat "$tmp/local.err" >&2; echo "footprint: evpipe local did not start" >&2; exit 1; }
  creds=$(python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))[0]; print(c["client_id"], c["client_secret"])' \
    "$tmp/local/secrets/clients.json")
  # shellcheck disable=SC2086
  set -- $creds
  bench_args="--endpoint $url --client-id $1 --client-secret $2 --events $events"
else
  echo "footprint: no evpipe tool with the server (--evpipe): CPU per event skipped"
fi

# Bytes of the file the loader maps (the LOAD segments' contents): the rest
# of a stripped file is alignment padding (64 KiB pages on arm64 by default).
loaded() {
  total=0
  for sz in $(readelf -lW "$1" | awk '$1 == "LOAD" { print $5 }'); do total=$((total + sz)); done
  echo "$total"
}
kib() { awk -v b="$1" 'BEGIN { printf "%.1f KiB", b / 1024 }'; }
field() { sed -n "s/.*\"$2\":\([-0-9.]*\).*/\1/p" "$1"; }

for arch in $arches; do
  dir=build-footprint-$arch
  case "$arch" in
    x86_64) toolchain=""; strip="strip"; run="" ;;
    arm64)
      [ -f "$sysroot/.complete" ] || { echo "footprint: no arm64 sysroot in $sysroot: run scripts/cross-test arm64 first, or --sysroot" >&2; exit 1; }
      toolchain="-DCMAKE_TOOLCHAIN_FILE=$PWD/cmake/toolchains/arm64.cmake -DEVP_CROSS_SYSROOT=$sysroot"
      strip=aarch64-linux-gnu-strip; run="qemu-aarch64-static -L $sysroot" ;;
    *) echo "footprint: unknown ARCH $arch" >&2; exit 2 ;;
  esac
  mkdir -p "$dir"
  # shellcheck disable=SC2086
  cmake -S . -B "$dir" $toolchain -DCMAKE_BUILD_TYPE=MinSizeRel -DEVPIPE_BUILD_SERVER=OFF \
    -DEVPIPE_BUILD_CLI=OFF -DEVPIPE_BUILD_TESTS=OFF -DEVPIPE_BUILD_BENCH=ON \
    >"$dir/configure.log" 2>&1 || { cat "$dir/configure.log" >&2; exit 1; }
  nice -n 5 cmake --build "$dir" -j2 --target evpipe example_send_events bench_footprint \
    >"$dir/build.log" 2>&1 || { tail -n 40 "$dir/build.log" >&2; exit 1; }
  $strip -o "$tmp/lib.so" "$(readlink -f "$dir/libevpipe.so")"
  $strip -o "$tmp/send_events" "$dir/examples/c/send_events"
  lib=$(wc -c <"$tmp/lib.so")
  ex=$(wc -c <"$tmp/send_events")
  # shellcheck disable=SC2086
  $run "$dir/bench/bench_footprint" $bench_args >"$tmp/$arch.json"
  j=$tmp/$arch.json
  # The same client with an on-disk spool (no endpoint: threads and RSS only).
  rm -rf "$tmp/spool"
  $run "$dir/bench/bench_footprint" --spool "$tmp/spool" >"$tmp/$arch.spool.json"
  js=$tmp/$arch.spool.json
  note=""
  [ -z "$run" ] || note=" (under qemu-user: indicative only)"
  echo "== $arch: $(date -u +%Y-%m-%dT%H:%MZ), $(uname -n), $($strip --version | head -1)"
  printf '%-46s %s bytes (%s; loaded segments %s bytes)\n' "libevpipe.so, stripped" "$lib" \
    "$(kib "$lib")" "$(loaded "$tmp/lib.so")"
  printf '%-46s %s bytes (%s; loaded segments %s bytes)\n' "send_events (dynamic), stripped" "$ex" \
    "$(kib "$ex")" "$(loaded "$tmp/send_events")"
  printf '%-46s %s KiB%s\n' "RSS baseline (before evp_client_new)" "$(field "$j" baseline_rss_kib)" "$note"
  printf '%-46s %s KiB (anonymous %s, file-backed %s)%s\n' "idle client, RSS over baseline" \
    "$(field "$j" idle_over_baseline_kib)" "$(field "$j" idle_anon_over_baseline_kib)" \
    "$(field "$j" idle_file_over_baseline_kib)" "$note"
  printf '%-46s %s KiB (%s bytes per event)%s\n' "10,000 queued events, RSS over baseline" \
    "$(field "$j" queued_over_baseline_kib)" "$(field "$j" queued_bytes_per_event)" "$note"
  printf '%-46s %s (%s before, %s after evp_client_destroy)\n' "threads created by a client" \
    "$(field "$j" threads_created)" "$(field "$j" threads_before)" "$(field "$j" threads_after_destroy)"
  printf '%-46s %s KiB (anonymous %s); threads created %s%s\n' "idle client with spool.dir, RSS over baseline" \
    "$(field "$js" idle_over_baseline_kib)" "$(field "$js" idle_anon_over_baseline_kib)" \
    "$(field "$js" threads_created)" "$note"
  if [ -n "$bench_args" ]; then
    printf '%-46s %s us (%s events, user+sys)%s\n' "CPU per event sent (to evpipe local)" \
      "$(field "$j" cpu_us_per_event)" "$(field "$j" cpu_events)" "$note"
  fi
  goal_lib=MISSED; [ "$lib" -le 204800 ] && goal_lib=met
  goal_rss=MISSED; [ "$(field "$j" idle_over_baseline_kib)" -le 1024 ] && goal_rss=met
  echo "goal: library <= 200 KiB stripped: $goal_lib; idle client <= 1 MiB over baseline: $goal_rss$note"
  echo "json: $(cat "$j")"
  echo "json (spool.dir): $(cat "$js")"
  # The fully static client (x86_64 only: the static dependencies are not
  # cross-built). Goal: <= 2 MiB stripped with TLS.
  [ "$arch" = x86_64 ] && [ "$static" = 1 ] || continue
  for variant in openssl mbedtls mbedtls-musl; do
    tls=${variant%-musl} libc=glibc
    [ "$tls" = "$variant" ] || libc=musl
    sdir=build-static-$variant
    scripts/build-static-client --tls "$tls" --libc "$libc" --build-dir "$sdir" >"$tmp/static-$variant.log" 2>&1 ||
      { tail -n 20 "$tmp/static-$variant.log" >&2; exit 1; }
    st=$(wc -c <"$sdir/send_events.stripped")
    needs=$(readelf -d "$sdir/send_events" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
    printf '%-46s %s bytes (%s; needs %s)\n' "send_events (static, $variant), stripped" "$st" "$(kib "$st")" \
      "${needs:-no shared library}"
    # shellcheck disable=SC2086
    "$sdir/bench_footprint" $bench_args >"$tmp/static-$variant.json"
    js=$tmp/static-$variant.json
    printf '%-46s %s KiB; idle client over it %s KiB (anonymous %s, file-backed %s)\n' \
      "  RSS baseline (static, $variant)" "$(field "$js" baseline_rss_kib)" "$(field "$js" idle_over_baseline_kib)" \
      "$(field "$js" idle_anon_over_baseline_kib)" "$(field "$js" idle_file_over_baseline_kib)"
    [ -z "$bench_args" ] || printf '%-46s %s us\n' "  CPU per event sent (static, $variant)" "$(field "$js" cpu_us_per_event)"
    goal=MISSED; [ "$st" -le 2097152 ] && goal=met
    echo "goal: static example <= 2 MiB stripped with TLS ($variant): $goal"
    echo "json (static, $variant): $(cat "$js")"
  done
done
