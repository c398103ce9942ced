#!/bin/sh
# Build and run a libFuzzer target for a bounded time.
#   fuzz/run.sh NAME [SECONDS]     e.g. fuzz/run.sh jwt_verify 600
# Builds fuzz/NAME_fuzzer.c with clang (libFuzzer + ASan + UBSan) against the
# two lowest areas, src/base and src/json (docs/architecture.md), plus the
# files, globs and -l libraries listed in fuzz/NAME_fuzzer.srcs, one a line,
# for targets that reach further up; seeds the corpus from fuzz/seeds/NAME/,
# and keeps the working corpus in fuzz/corpus-NAME/ (not committed). Crashes
# land in fuzz/out/.
set -eu
cd "$(dirname "$0")/.."
name=${1:?usage: fuzz/run.sh NAME [SECONDS]}
secs=${2:-60}
out=fuzz/out
mkdir -p "$out" "fuzz/corpus-$name"
bin="$out/${name}_fuzzer"
extra=""
if [ -f "fuzz/${name}_fuzzer.srcs" ]; then
  extra=$(grep -v '^#' "fuzz/${name}_fuzzer.srcs")
fi
# shellcheck disable=SC2046,SC2086
clang -g -O1 -std=c11 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -Iinclude -Isrc fuzz/"${name}"_fuzzer.c src/base/*.c src/json/*.c $extra \
  $(pkg-config --cflags --libs libcjson openssl libpcre2-8 zlib) -lm -lpthread -o "$bin"
seeds=""
[ -d "fuzz/seeds/$name" ] && seeds="fuzz/seeds/$name"
"$bin" -max_total_time="$secs" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$out/" -print_final_stats=1 "fuzz/corpus-$name" $seeds
