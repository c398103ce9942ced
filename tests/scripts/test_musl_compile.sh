#!/usr/bin/env bash
# Portability smoke test (issue 16, docs/embedded.md "Portability"): every
# source file of the client library compiles against musl's headers
# (Debian's musl-tools) with the project's warnings as errors. glibc-only
# calls (getpwent_r was one) then fail here, not in the first Android or
# Alpine build. Compile only: linking needs the dependencies built against
# musl (scripts/build-static-client). Their headers are libc-neutral and are
# taken from the host through a directory holding only them, so that no
# glibc header can be found by accident.
. "$(dirname "$0")/lib.sh"
SRC=${EVP_SOURCE_DIR:?}
BIN=${EVP_BINARY_DIR:?}

if ! command -v musl-gcc >/dev/null 2>&1; then
  echo "SKIP: musl-gcc not found (scripts/install-deps installs musl-tools)"
  exit 77
fi
triple=$(gcc -print-multiarch 2>/dev/null || true)
inc="$TMP/musl-inc"
mkdir -p "$inc/openssl"
for h in curl cjson pcre2.h zlib.h zconf.h; do
  for d in "/usr/include/$triple" /usr/include; do
    if [ -e "$d/$h" ]; then ln -sfn "$d/$h" "$inc/$h"; break; fi
  done
done
ln -sf /usr/include/openssl/* "$inc/openssl/"
[ -n "$triple" ] && [ -d "/usr/include/$triple/openssl" ] && ln -sf "/usr/include/$triple/openssl/"* "$inc/openssl/"

# The client library's areas, from the one list in CMakeLists.txt.
areas=$(sed -n 's/^set(EVP_CLIENT_AREAS \(.*\))$/\1/p' "$SRC/CMakeLists.txt")
[ -n "$areas" ] && pass "the client areas are read from CMakeLists.txt ($areas)" ||
  fail "EVP_CLIENT_AREAS not found in CMakeLists.txt"
incs=(-I"$SRC/include" -I"$inc" -isystem "$inc/cjson")
for a in $areas; do incs+=(-I"$BIN/areas/$a" -I"$BIN/areas-private/$a"); done
cc_musl() { # FILE: compile FILE as the client build does, against musl
  musl-gcc -std=c11 -Os -DEVP_BUILDING=1 -Wall -Wextra -Wstrict-prototypes -pedantic -Werror \
    "${incs[@]}" -c "$1" -o /dev/null
}

# The check can fail: a glibc-only call does not compile against musl.
cat >"$TMP/glibc_only.c" <<'EOF'
#define _GNU_SOURCE
#include <pwd.h>
#include <stddef.h>
int f(void);
int f(void) {
  struct passwd pw, *r;
  char buf[64];
  return getpwent_r(&pw, buf, sizeof buf, &r);
}
EOF
expect_rc 1 "a glibc-only call (getpwent_r) does not compile against musl's headers" \
  cc_musl "$TMP/glibc_only.c"

n=0
bad=""
for a in $areas; do
  for f in "$SRC/src/$a"/*.c; do
    n=$((n + 1))
    if ! cc_musl "$f" 2>"$TMP/cc.err"; then
      bad="$bad ${f#"$SRC"/}"
      sed 's/^/    /' "$TMP/cc.err" | head -5
    fi
  done
done
[ "$n" -gt 40 ] && pass "$n client source files found" || fail "only $n client source files found"
[ -z "$bad" ] && pass "every client source file compiles against musl" ||
  fail "these do not compile against musl:$bad"
finish
