#!/usr/bin/env bash
# The layering (docs/architecture.md): scripts/check-layers accepts the tree
# and the objects of this build, refuses each kind of violation planted in a
# copy of the tree, and the build itself refuses a reach into another area's
# internals. The client library holds client areas only.
. "$(dirname "$0")/lib.sh"
SRC=${EVP_SOURCE_DIR:?}
BIN=${EVP_BINARY_DIR:?}

expect_rc 0 "the tree follows the declared order" python3 "$SRC/scripts/check-layers"
expect_rc 0 "the objects of this build call only areas below them" \
  python3 "$SRC/scripts/check-layers" --objects "$BIN"

# A copy of what the script reads, to plant violations in.
copy() {
  rm -rf "$TMP/t" && mkdir -p "$TMP/t/scripts" &&
    cp -r "$SRC/src" "$TMP/t/src" && cp "$SRC/CMakeLists.txt" "$TMP/t/" &&
    cp "$SRC/scripts/check-layers" "$TMP/t/scripts/"
}
planted() { # NAME FILE LINE PATTERN: plant LINE at the top of FILE, expect PATTERN
  copy
  printf '%s\n' "$3" | cat - "$TMP/t/$2" >"$TMP/x" && mv "$TMP/x" "$TMP/t/$2"
  expect_rc 1 "$1 is refused" python3 "$TMP/t/scripts/check-layers"
  expect_grep "$TMP/out" "$4" "$1 is named ($4)"
}
planted "an internal header of another area" src/batcher/batcher.c '#include "wal/wal_int.h"' \
  'batcher.c:1: includes "wal/wal_int.h", an internal header of wal'
planted "an area not declared" src/client/client.c '#include "lake/lake.h"' \
  'client.c:1: includes "lake/lake.h", but client does not declare DEPENDS lake'
planted "an area above" src/wal/wal.c '#include "batcher/batcher.h"' \
  'and batcher is above wal'
planted "an internal header in angle brackets" src/batcher/batcher.c '#include <wal/wal_int.h>' \
  'an internal header of wal'
planted "a path around the layering through evpipe/" src/batcher/batcher.c \
  '#include "evpipe/../../src/wal/wal_int.h"' "a path with '..' reaches around the layering"
planted "a relative path into another area" src/batcher/batcher.c '#include "../wal/wal_int.h"' \
  "a path with '..' reaches around the layering"
copy
mkdir -p "$TMP/t/src/batcher/sub"
printf '#include "wal/wal_int.h"\n' >"$TMP/t/src/batcher/sub/x.c"
expect_rc 1 "a file in an area's subdirectory is checked too" python3 "$TMP/t/scripts/check-layers"
expect_grep "$TMP/out" 'src/batcher/sub/x.c:1: includes "wal/wal_int.h", an internal header of wal' \
  "the subdirectory's file is named"
copy
sed -i 's/evp_area(NAME json DEPENDS base/evp_area(NAME json DEPENDS base table/' "$TMP/t/src/json/CMakeLists.txt"
expect_rc 1 "a dependency on an area above is refused" python3 "$TMP/t/scripts/check-layers"
expect_grep "$TMP/out" "DEPENDS table, which is not below json" "the upward dependency is named"
copy
mkdir "$TMP/t/src/misc"
expect_rc 1 "a directory that is no area is refused" python3 "$TMP/t/scripts/check-layers"
expect_grep "$TMP/out" "src/misc/: not an area" "the stray directory is named"

# Files of one area call each other one way: two files that call each other
# (objects of a build planted next to the copy's sources) are refused, and
# named with the symbols that close the cycle.
copy
obj="$TMP/b/src/batcher/CMakeFiles/evp_batcher.dir"
mkdir -p "$obj"
printf 'int evp__cyc_b(int);\nint evp__cyc_a(int x) { return x ? evp__cyc_b(x - 1) : 0; }\n' >"$TMP/t/src/batcher/cyc_a.c"
printf 'int evp__cyc_a(int);\nint evp__cyc_b(int x) { return x ? evp__cyc_a(x - 1) : 1; }\n' >"$TMP/t/src/batcher/cyc_b.c"
${CC:-cc} -c -o "$obj/cyc_a.c.o" "$TMP/t/src/batcher/cyc_a.c" && ${CC:-cc} -c -o "$obj/cyc_b.c.o" "$TMP/t/src/batcher/cyc_b.c"
expect_rc 1 "a call cycle between two files of an area is refused" \
  python3 "$TMP/t/scripts/check-layers" --objects "$TMP/b"
expect_grep "$TMP/out" "cyc_a.c -> cyc_b.c (evp__cyc_b); cyc_b.c -> cyc_a.c (evp__cyc_a)" "the cycle is named"
printf 'int evp__cyc_b(int x) { return x; }\n' >"$TMP/t/src/batcher/cyc_b.c"
${CC:-cc} -c -o "$obj/cyc_b.c.o" "$TMP/t/src/batcher/cyc_b.c"
expect_rc 0 "the same files calling one way pass" python3 "$TMP/t/scripts/check-layers" --objects "$TMP/b"

# The compiler enforces it too: from an area, another area's internals are
# not on the include path.
CC=${CC:-cc}
# (As the table area sees the schema area, in every configuration.)
inc=$(printf ' -I%s' "$SRC/include" "$BIN/areas/base" "$BIN/areas/json" "$BIN/areas/schema" "$BIN/areas-private/table")
printf '#include "schema/schema.h"\nint x;\n' >"$TMP/ok.c"
expect_rc 0 "an exported header compiles from another area" $CC -fsyntax-only $inc "$TMP/ok.c"
printf '#include "schema/schema_int.h"\nint x;\n' >"$TMP/bad.c"
expect_rc 1 "another area's internal header does not compile" $CC -fsyntax-only $inc "$TMP/bad.c"

# The client library: none of the symbols any server-side or catalog area
# defines (read from those areas' own objects, so nothing is missed by name).
lib="$BIN/libevpipe.a"
if [ -f "$lib" ]; then
  nm -g --defined-only "$lib" 2>/dev/null | awk 'NF==3 {print $3}' | sort -u >"$TMP/lib.syms"
  : >"$TMP/server.syms"
  for a in catalog lake batcher server aws functions local; do
    for o in "$BIN/src/$a/CMakeFiles/evp_$a.dir/"*.o; do
      [ -f "$o" ] && nm -g --defined-only "$o" | awk 'NF==3 {print $3}' >>"$TMP/server.syms"
    done
  done
  sort -u -o "$TMP/server.syms" "$TMP/server.syms"
  server=$(comm -12 "$TMP/lib.syms" "$TMP/server.syms" | head -5)
  if [ -z "$server" ]; then pass "libevpipe.a holds none of the $(wc -l <"$TMP/server.syms") server-side symbols"
  else fail "libevpipe.a holds server-side code: $(echo $server)"; fi
  if [ "${EVP_CLIENT_ONLY:-0}" = 1 ]; then
    lam=$(nm -g --defined-only "$lib" | awk 'NF==3 {print $3}' | grep -E '^evp_lambda_' | head -3)
    if [ -z "$lam" ]; then pass "a client-only libevpipe.a holds no Lambda runtime"
    else fail "a client-only libevpipe.a holds the Lambda runtime: $(echo $lam)"; fi
  fi
fi
finish
