#!/usr/bin/env bash
# Symbol hygiene of the static libraries. Embedders link libevpipe.a into
# their own programs, so every global symbol must be in our namespace (evp_
# public, evp__ internal); and a name defined in two of our archives links
# silently to whichever comes first, so none may be.
. "$(dirname "$0")/lib.sh"
BIN=${EVP_BINARY_DIR:?}
libs=$(ls "$BIN"/libevpipe.a "$BIN"/libevpipe_server.a 2>/dev/null)
[ -n "$libs" ] || { fail "static libraries found in $BIN"; finish; exit; }
for lib in $libs; do
  name=$(basename "$lib")
  # Defined global symbols (text, data, bss, rodata); sanitizer builds add none of their own here.
  nm -g --defined-only "$lib" 2>/dev/null | awk 'NF==3 && $2 ~ /[TDBRVW]/ {print $3}' | sort >"$TMP/$name.syms"
  # ASan adds __odr_asan.<name> markers for globals: not ours to name.
  outside=$(grep -v -E '^(evp_|__odr_asan[.])' "$TMP/$name.syms" | head -20)
  if [ -z "$outside" ]; then pass "$name: every global symbol starts with evp_"
  else fail "$name: symbols outside the evp_ namespace: $(echo $outside)"; fi
  dup=$(uniq -d "$TMP/$name.syms" | head -20)
  if [ -z "$dup" ]; then pass "$name: no symbol defined twice"; else fail "$name: defined twice: $(echo $dup)"; fi
done
if [ -f "$TMP/libevpipe.a.syms" ] && [ -f "$TMP/libevpipe_server.a.syms" ]; then
  both=$(comm -12 "$TMP/libevpipe.a.syms" "$TMP/libevpipe_server.a.syms" | head -20)
  if [ -z "$both" ]; then pass "no symbol defined in both libevpipe.a and libevpipe_server.a"
  else fail "defined in both archives: $(echo $both)"; fi
fi
finish
