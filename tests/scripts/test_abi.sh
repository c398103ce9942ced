#!/usr/bin/env bash
# ABI stability (docs/abi.md): this build's libevpipe matches the baseline
# recorded for its SONAME in abi/, and scripts/abi-check refuses each kind of
# incompatible change (planted in a small library of the same shape) unless
# the SONAME moves, and asks for additions to be recorded.
. "$(dirname "$0")/lib.sh"
SRC=${EVP_SOURCE_DIR:?}
BIN=${EVP_BINARY_DIR:?}
if [ -n "${EVP_SANITIZE:-}" ]; then
  echo "ABI check skipped in a sanitizer build (it runs in the plain build of the same sources)"
  exit 77
fi
CHECK="$SRC/scripts/abi-check"

if [ -n "${EVP_CLIENT_ONLY:-}" ]; then
  # The baseline is the default build's library; a client-only build leaves
  # out the Lambda runtime's functions (docs/abi.md).
  echo "    (this build's libevpipe is client-only, without lambda.h: checked in the default build)"
else
  expect_rc 0 "libevpipe's ABI matches abi/<SONAME>.abi" "$CHECK" "$BIN"
  grep -v '^$' "$TMP/out" | sed 's/^/    /'
  if [ -s "$TMP/err" ]; then sed 's/^/    /' "$TMP/err" | head -60; fi
fi

# A library with the public API's shape: an opaque handle, an enum, functions.
# lib VERSION_DIR SONAME [SED...]: build $TMP/VERSION_DIR/libt.so from the v1
# sources edited by the sed expressions.
lib() {
  local d=$TMP/$1 so=$2
  shift 2
  mkdir -p "$d/inc"
  printf '%s\n' \
    '#define API __attribute__((visibility("default")))' \
    'typedef enum t_err { T_OK = 0, T_BAD = 1 } t_err;' \
    'typedef struct t_s t_t;' \
    'API t_err t_open(const char *path, long flags, t_t **out);' \
    'API int t_read(t_t *t, char *buf, unsigned long len);' >"$d/inc/t.h"
  printf '%s\n' '#include "t.h"' 'struct t_s { int fd; };' \
    't_err t_open(const char *path, long flags, t_t **out) { (void)path; (void)flags; *out = 0; return T_OK; }' \
    'int t_read(t_t *t, char *buf, unsigned long len) { (void)buf; return t ? t->fd + (int)len : 0; }' >"$d/t.c"
  for e in "$@"; do sed -i "$e" "$d/inc/t.h" "$d/t.c"; done
  cc -g -shared -fPIC -fvisibility=hidden -Wl,-soname,"$so" -I"$d/inc" -o "$d/libt.so" "$d/t.c" ||
    fail "building the test library $1"
}
chk() { local d=$1; shift; "$CHECK" --baseline-dir "$TMP/abi" --headers "$TMP/$d/inc" "$@" "$TMP/$d/libt.so"; }

lib v1 libt.so.1
expect_rc 1 "no baseline for a SONAME: refused, says how to record one" chk v1
expect_grep "$TMP/err" "no baseline for libt.so.1" "the refusal names the SONAME"
expect_rc 0 "recording the first baseline" chk v1 --update
expect_rc 0 "the same library matches its baseline" chk v1

lib changed libt.so.1 's/long flags/int *flags/'
expect_rc 1 "a changed parameter type, same SONAME: refused" chk changed
expect_grep "$TMP/err" "incompatible ABI change" "the refusal says incompatible"
expect_grep "$TMP/err" "t_open" "the refusal names the function"
expect_rc 1 "--update refuses to record an incompatible change under the same SONAME" chk changed --update

lib removed libt.so.1 '/t_read/d'
expect_rc 1 "a removed function, same SONAME: refused" chk removed
expect_grep "$TMP/err" "Removed function" "the refusal lists it as removed"

lib renumbered libt.so.1 's/T_BAD = 1/T_BAD = 2/'
expect_rc 1 "a renumbered enumerator, same SONAME: refused" chk renumbered

# An appended enumerator and a new function: compatible.
lib added libt.so.1 's/T_BAD = 1 }/T_BAD = 1, T_NEW = 2 }/' \
  's/^API int t_read(.*);$/&\nAPI int t_close(t_t *t);/' \
  's/^int t_read(.*$/&\nint t_close(t_t *t) { (void)t; return 0; }/'
expect_rc 1 "an added function not yet recorded: refused (the baseline is the whole ABI)" chk added
expect_grep "$TMP/err" "compatible additions not yet recorded" "the refusal says to record the addition"
expect_rc 0 "an addition is recorded with --update" chk added --update
expect_rc 0 "after recording, the addition matches" chk added

lib moved libt.so.2 's/long flags/int *flags/'
expect_rc 1 "an incompatible change under a new SONAME: asks for the new SONAME's baseline" chk moved
expect_grep "$TMP/err" "no baseline for libt.so.2" "the request names the new SONAME"
expect_rc 0 "the new SONAME's baseline is recorded" chk moved --update
expect_rc 0 "... and the old SONAME's baseline is kept" test -f "$TMP/abi/libt.so.1.abi"

cc -shared -fPIC -Wl,-soname,libt.so.1 -o "$TMP/nodebug.so" "$TMP/v1/t.c" -I"$TMP/v1/inc"
expect_rc 1 "a library without debug info: refused with the reason" \
  "$CHECK" --baseline-dir "$TMP/abi" --headers "$TMP/v1/inc" "$TMP/nodebug.so"
expect_grep "$TMP/err" "no debug info" "the refusal says debug info is needed"
finish
