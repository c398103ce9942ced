#!/usr/bin/env bash
# evpipe token issue|verify, key-file handling, and interop with the npm
# package `jose` in both directions.
. "$(dirname "$0")/lib.sh"
CLI=${EVP_CLI:?}
SRC=${EVP_SOURCE_DIR:?}
JOSE="node $SRC/tests/node/jose_interop.mjs"
NOW=1700000000

expect_rc 0 "version" "$CLI" version
expect_grep "$TMP/out" "evpipe [0-9]*\.[0-9]*\.[0-9]*" "version string"

# Key files: raw, base64, permissions, length.
printf '%s\n' "0123456789abcdef0123456789abcdef" >"$TMP/raw.key"; chmod 600 "$TMP/raw.key"
printf 'base64:%s\n' "$(head -c 48 /dev/urandom | base64 -w0)" >"$TMP/b64.key"; chmod 600 "$TMP/b64.key"
printf '%s' "short-key-of-31-bytes-exactly!!" >"$TMP/short.key"; chmod 600 "$TMP/short.key"
cp "$TMP/raw.key" "$TMP/open.key"; chmod 644 "$TMP/open.key"
printf 'base64:%s\n' "not*base64" >"$TMP/bad64.key"; chmod 600 "$TMP/bad64.key"

expect_rc 2 "key readable by others is refused" "$CLI" token issue --key-file "$TMP/open.key" --sub c --aud a
expect_grep "$TMP/err" "chmod 600" "permission message says how to fix it"
expect_rc 2 "short key is refused" "$CLI" token issue --key-file "$TMP/short.key" --sub c --aud a
expect_grep "$TMP/err" "at least 32" "short-key message"
expect_rc 2 "bad base64 key is refused" "$CLI" token issue --key-file "$TMP/bad64.key" --sub c --aud a
expect_rc 2 "missing key file" "$CLI" token issue --key-file "$TMP/none.key" --sub c --aud a
expect_rc 2 "missing --aud" "$CLI" token issue --key-file "$TMP/raw.key" --sub c
expect_rc 2 "bad --ttl" "$CLI" token issue --key-file "$TMP/raw.key" --sub c --aud a --ttl 0
expect_rc 2 "unknown subcommand" "$CLI" token frobnicate

# Issue and verify with our own verifier.
expect_rc 0 "issue" "$CLI" token issue --key-file "$TMP/b64.key" --sub client-1 --aud events --iss https://iss --kid v3 --now $NOW
TOK=$(cat "$TMP/out")
expect_rc 0 "verify" "$CLI" token verify --key-file "$TMP/b64.key" --aud events --iss https://iss --now $((NOW + 60)) "$TOK"
expect_grep "$TMP/out" '"sub":"client-1"' "verify prints the claims"
expect_grep "$TMP/out" "\"exp\":$((NOW + 1200))" "default lifetime is 1200 s"
echo "$TOK" >"$TMP/tok"
expect_rc 0 "verify reads the token from stdin" sh -c "'$CLI' token verify --key-file '$TMP/b64.key' --now $NOW - <'$TMP/tok'"
expect_rc 1 "expired one second after exp + leeway" "$CLI" token verify --key-file "$TMP/b64.key" --now $((NOW + 1200 + 30 + 1)) "$TOK"
expect_grep "$TMP/err" "EVP_ERR_JWT_EXPIRED" "expiry reason on stderr"
expect_rc 0 "valid within leeway" "$CLI" token verify --key-file "$TMP/b64.key" --now $((NOW + 1200 + 29)) "$TOK"
expect_rc 1 "wrong audience" "$CLI" token verify --key-file "$TMP/b64.key" --aud other --now $NOW "$TOK"
expect_grep "$TMP/err" "EVP_ERR_JWT_BAD_AUDIENCE" "audience reason"
expect_rc 1 "wrong issuer" "$CLI" token verify --key-file "$TMP/b64.key" --iss https://evil --now $NOW "$TOK"
expect_grep "$TMP/err" "EVP_ERR_JWT_BAD_ISSUER" "issuer reason"
expect_rc 1 "wrong key" "$CLI" token verify --key-file "$TMP/raw.key" --now $NOW "$TOK"
expect_grep "$TMP/err" "EVP_ERR_JWT_BAD_SIGNATURE" "signature reason"
expect_rc 1 "kid mismatch" "$CLI" token verify --key-file "$TMP/b64.key" --kid v9 --now $NOW "$TOK"
expect_grep "$TMP/err" "EVP_ERR_JWT_UNKNOWN_KEY" "unknown-key reason"
expect_rc 1 "garbage token" "$CLI" token verify --key-file "$TMP/b64.key" "abc.def"
expect_grep "$TMP/err" "EVP_ERR_JWT_MALFORMED" "malformed reason"

# jose verifies our token ...
expect_rc 0 "jose verifies a libevpipe token" $JOSE verify "$TMP/b64.key" "$TOK" events https://iss $((NOW + 60))
expect_grep "$TMP/out" '"kid":"v3"' "jose sees our kid"
expect_grep "$TMP/out" '"sub":"client-1"' "jose sees our claims"
expect_rc 1 "jose rejects it after exp" $JOSE verify "$TMP/b64.key" "$TOK" events https://iss $((NOW + 1300))
# ... and we verify jose's.
expect_rc 0 "jose signs" $JOSE sign "$TMP/b64.key" v7 client-2 events https://iss $NOW
JTOK=$(cat "$TMP/out")
expect_rc 0 "libevpipe verifies a jose token" "$CLI" token verify --key-file "$TMP/b64.key" --aud events --iss https://iss --now $((NOW + 5)) "$JTOK"
expect_grep "$TMP/out" '"sub":"client-2"' "claims of the jose token"
expect_grep "$TMP/out" '"scope":"events:write"' "custom claim of the jose token"
expect_rc 1 "jose token with the wrong key fails" "$CLI" token verify --key-file "$TMP/raw.key" --now $NOW "$JTOK"
expect_rc 1 "jose token expires for us too" "$CLI" token verify --key-file "$TMP/b64.key" --now $((NOW + 1231)) "$JTOK"
expect_rc 0 "jose makes an unsecured (alg none) token" $JOSE unsecured client-3 events $NOW
expect_rc 1 "we refuse alg none" "$CLI" token verify --key-file "$TMP/b64.key" --now $NOW "$(cat "$TMP/out")"
expect_grep "$TMP/err" "EVP_ERR_JWT_BAD_ALG" "alg none reason"
finish
