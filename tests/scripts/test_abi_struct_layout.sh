#!/usr/bin/env bash
# ABI stability (found by the review of issue 15): scripts/abi-check must refuse a changed
# layout of a public struct under the same SONAME (its header comment: "a
# removed or changed function, variable or type (a parameter, a struct, an
# enumerator's value) fails"). libevpipe's public structs are all opaque
# today, so this guards the check itself, with a small library of its own.
. "$(dirname "$0")/lib.sh"
SRC=${EVP_SOURCE_DIR:?}
if [ -n "${EVP_SANITIZE:-}" ]; then
  echo "ABI check skipped in a sanitizer build (as test_abi)"
  exit 77
fi
CHECK="$SRC/scripts/abi-check"

# lib DIR [SED...]: $TMP/DIR/libt.so (SONAME libt.so.1) from the v1 sources
# edited by the sed expressions: a public struct passed by pointer.
lib() {
  local d=$TMP/$1
  shift
  mkdir -p "$d/inc"
  printf '%s\n' \
    '#define API __attribute__((visibility("default")))' \
    'typedef struct t_limits { int max_events; int max_bytes; } t_limits;' \
    'API int t_apply(const t_limits *l);' >"$d/inc/t.h"
  printf '%s\n' '#include "t.h"' \
    'int t_apply(const t_limits *l) { return l->max_events + l->max_bytes; }' >"$d/t.c"
  for e in "$@"; do sed -i "$e" "$d/inc/t.h" "$d/t.c"; done
  cc -g -shared -fPIC -fvisibility=hidden -Wl,-soname,libt.so.1 -I"$d/inc" -o "$d/libt.so" "$d/t.c" ||
    fail "building the test library $1"
}
chk() { local d=$1; shift; "$CHECK" --baseline-dir "$TMP/abi" --headers "$TMP/$d/inc" "$@" "$TMP/$d/libt.so"; }

lib v1
expect_rc 0 "recording the baseline" chk v1 --update
expect_rc 0 "the same library matches" chk v1

lib swapped 's/int max_events; int max_bytes;/int max_bytes; int max_events;/'
expect_rc 1 "public struct members swapped (offsets changed), same SONAME: refused" chk swapped
expect_grep "$TMP/err" "incompatible ABI change" "the refusal says incompatible"

lib grown 's/int max_bytes; }/int max_bytes; long max_age; }/'
expect_rc 1 "public struct grown (size changed), same SONAME: refused" chk grown
finish
