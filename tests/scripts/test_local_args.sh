#!/usr/bin/env bash
# `evpipe local` checks before it acts (issue 18): every argument, the data
# directory and the listen socket are checked before anything is created, so
# a refused start leaves no data directory, no schema, no credentials (and
# prints none). Argument errors are one plain-text line
# "evpipe local: <what>: <why>; <what to do>": exit 2 when the command line
# itself is malformed, 1 when what it names cannot be used (a port in use, a
# host that does not resolve, a directory that cannot be written).
# --listen takes host names (localhost:PORT) as well as addresses.
. "$(dirname "$0")/lib.sh"
[ -n "${EVP_CLIENT_ONLY:-}" ] && { echo "client-only build: no evpipe local: skipped"; exit 77; }
local_prelude
CLI=$EVP_CLI
SCHEMA=$EVP_SOURCE_DIR/examples/schemas/glue-data-catalog-json-schema.json

check() { # NAME CMD...
  local name=$1
  shift
  if "$@"; then pass "$name"; else fail "$name"; fi
}

# refused NAME RC FACT... -- ARGS...: `evpipe local ARGS` in an empty
# directory exits RC, says each FACT (fixed strings) on stderr in one line
# "evpipe local: ...; ...", prints nothing on stdout (no credentials) and
# creates nothing (no ./evpipe-data, no --data directory).
refused() {
  local name=$1 rc=$2
  shift 2
  local facts=()
  while [ "$1" != -- ]; do facts+=("$1"); shift; done
  shift
  rm -rf "$TMP/cwd" "$TMP/data" && mkdir "$TMP/cwd"
  (cd "$TMP/cwd" && timeout "$WAIT" "$CLI" local "$@") >"$TMP/out" 2>"$TMP/err"
  local got=$?
  [ "$got" -eq "$rc" ] && pass "$name: exit $rc" || { fail "$name: exit $got, wanted $rc"; sed 's/^/    /' "$TMP/err" | head -5; }
  local f
  for f in "${facts[@]}"; do
    grep -qF -- "$f" "$TMP/err" && pass "$name: says '$f'" || fail "$name: no '$f' in: $(head -c 400 "$TMP/err")"
  done
  [ "$(wc -l <"$TMP/err")" -eq 1 ] && grep -q '^evpipe local: .*; ' "$TMP/err" &&
    pass "$name: one plain-text line 'evpipe local: <what>: <why>; <what to do>'" ||
    fail "$name: not one plain-text line: $(head -c 400 "$TMP/err")"
  grep -q 'lake:' "$TMP/err" && fail "$name: internal 'lake:' prefix in the message"
  [ ! -s "$TMP/out" ] && pass "$name: nothing on stdout (no credentials shown)" ||
    fail "$name: stdout: $(head -c 300 "$TMP/out")"
  [ -z "$(ls -A "$TMP/cwd")" ] && [ ! -e "$TMP/data" ] && pass "$name: nothing created" ||
    fail "$name: created: $(cd "$TMP/cwd" && find . -mindepth 1 | head -5) $(ls -d "$TMP/data" 2>/dev/null)"
}

# ------------------------------------------------------------ the listen socket
start_local "$TMP/first" "$TMP/first-clients.json" --quiet || { fail "first server starts"; cat "$TMP/local.err"; finish; exit 1; }
PORT=${URL##*:}
refused "port in use (default data dir and clients)" 1 "127.0.0.1:$PORT" "Address already in use" "--listen HOST:PORT" \
  -- --listen "127.0.0.1:$PORT" --schema "$SCHEMA"
refused "port in use (--data)" 1 "127.0.0.1:$PORT" "Address already in use" \
  -- --listen "127.0.0.1:$PORT" --data "$TMP/data"
refused "port in use, by host name" 1 "localhost:$PORT (127.0.0.1:$PORT)" "Address already in use" "--listen" \
  -- --listen "localhost:$PORT" --data "$TMP/data"
stop_local

refused "host that does not resolve" 1 "--listen no-such-host.invalid:8080" "no-such-host.invalid" "HOST:PORT" \
  -- --listen no-such-host.invalid:8080 --data "$TMP/data"
refused "port out of range" 2 "--listen 127.0.0.1:99999" "0..65535" "HOST:PORT" \
  -- --listen 127.0.0.1:99999 --data "$TMP/data"
refused "port not a number" 2 "--listen localhost:http" "0..65535" \
  -- --listen localhost:http --data "$TMP/data"
refused "no port" 2 "--listen nowhere" "HOST:PORT" -- --listen nowhere --data "$TMP/data"
refused "no host" 2 "--listen :8080" "127.0.0.1:8080" "0.0.0.0:8080" -- --listen :8080 --data "$TMP/data"
refused "IPv6 without brackets" 2 "--listen ::1:8080" "[::1]:8080" -- --listen ::1:8080 --data "$TMP/data"
refused "an address of another machine" 1 "192.0.2.1:8080" "Cannot assign requested address" "--listen" \
  -- --listen 192.0.2.1:8080 --data "$TMP/data"

# ------------------------------------------------------------ other arguments
refused "a number out of range" 2 "--rate 0" "1..100000000" -- --rate 0 --data "$TMP/data"
refused "an unknown option" 2 "--bogus" "evpipe local --help" -- --bogus --data "$TMP/data"
refused "--fsync value" 2 "--fsync sometimes" "always, interval or never" -- --fsync sometimes --data "$TMP/data"
refused "a schema that does not exist" 1 "--schema $TMP/no-schema.json" "No such file or directory" \
  -- --schema "$TMP/no-schema.json" --data "$TMP/data"
: >"$TMP/afile"
refused "a data directory below a regular file" 1 "$TMP/afile/data" "Not a directory" "--data DIR" \
  -- --data "$TMP/afile/data"
refused "a data directory that is a regular file" 1 "$TMP/afile" "Not a directory" "--data DIR" \
  -- --data "$TMP/afile"
refused "a clients file that cannot be created" 1 "--clients $TMP/afile/clients.json" "Not a directory" \
  -- --clients "$TMP/afile/clients.json" --data "$TMP/data"
printf 'not json' >"$TMP/bad-clients.json"
chmod 600 "$TMP/bad-clients.json"
refused "a clients file that is not valid" 1 "$TMP/bad-clients.json" "--clients" \
  -- --clients "$TMP/bad-clients.json" --data "$TMP/data"
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  # A directory the user may not write (as root, permissions do not stop
  # mkdir: run as nobody in a directory only root may write).
  mkdir -m 755 "$TMP/rootonly" && chmod 755 "$TMP"
  rm -rf "$TMP/cwd" && mkdir -m 777 "$TMP/cwd"
  (cd "$TMP/cwd" && timeout "$WAIT" setpriv --reuid=65534 --regid=65534 --clear-groups \
    "$CLI" local --data "$TMP/rootonly/data" --schema "$SCHEMA") >"$TMP/out" 2>"$TMP/err"
  rc=$?
  check "as nobody: a data directory below a root-only directory: exit 1" [ "$rc" -eq 1 ]
  grep -qF "$TMP/rootonly/data" "$TMP/err" && grep -qF "Permission denied" "$TMP/err" && grep -qF -- "--data DIR" "$TMP/err" &&
    pass "as nobody: the message names the directory, the reason and --data DIR" || fail "as nobody: $(head -c 400 "$TMP/err")"
  [ ! -e "$TMP/rootonly/data" ] && [ -z "$(ls -A "$TMP/cwd")" ] && pass "as nobody: nothing created" ||
    fail "as nobody: created: $(ls -A "$TMP/cwd" "$TMP/rootonly")"
else
  echo "skipped: the data directory as another user (not root, or no setpriv)"
fi

# ------------------------------------------------------------ evpipe demo shares the checks
rm -rf "$TMP/data"
timeout "$WAIT" "$CLI" demo --data "$TMP/afile/data" --events 10 >"$TMP/out" 2>"$TMP/err"
rc=$?
[ "$rc" -eq 2 ] && grep -qF "evpipe demo: data directory $TMP/afile/data" "$TMP/err" && grep -qF "Not a directory" "$TMP/err" &&
  grep -qF -- "--data DIR" "$TMP/err" && pass "demo: a data directory below a regular file: exit 2, named, why, --data DIR" ||
  fail "demo: data directory below a file: exit $rc: $(head -c 300 "$TMP/err")"
timeout "$WAIT" "$CLI" demo --data "$TMP/data" --schema "$TMP/no-schema.json" --events 10 >"$TMP/out" 2>"$TMP/err"
rc=$?
[ "$rc" -eq 2 ] && grep -qF "evpipe demo: --schema $TMP/no-schema.json" "$TMP/err" && grep -qF "No such file or directory" "$TMP/err" &&
  pass "demo: a schema that does not exist: exit 2, named, why" || fail "demo: missing schema: exit $rc: $(head -c 300 "$TMP/err") $(head -c 300 "$TMP/out")"
check "demo: a refused start creates no data directory" [ ! -e "$TMP/data" ]

# ------------------------------------------------------------ host names work
LOCAL_LISTEN=localhost:0 start_local "$TMP/named" "$TMP/named-clients.json" --quiet ||
  { fail "--listen localhost:0 starts"; cat "$TMP/local.err"; finish; exit 1; }
case "$URL" in http://localhost:[0-9]*) pass "--listen localhost:0: listening on $URL" ;;
  *) fail "--listen localhost:0: url '$URL'" ;; esac
ID=$(sed -n 's/^  client_id: *//p' "$TMP/local.out")
SECRET=$(sed -n 's/^  client_secret: *//p' "$TMP/local.out")
TOK=$(local_token "$ID" "$SECRET" 2>/dev/null)
[ -n "$TOK" ] && pass "--listen localhost: POST /token serves a token" || fail "--listen localhost: no token"
PORT=${URL##*:}
for a in $(getent ahosts localhost | awk '$2 == "STREAM" {print $1}' | sort -u); do
  case $a in *:*) u="http://[$a]:$PORT" ;; *) u="http://$a:$PORT" ;; esac
  [ "$(curl -s --max-time 10 "$u/healthz")" = '{"status":"ok"}' ] &&
    pass "localhost resolves to $a: served there too" || fail "localhost resolves to $a: not served at $u"
done
stop_local
check "--listen localhost: clean stop" [ "$RC" -eq 0 ]

# A name with two addresses (localhost as ::1 and 127.0.0.1, in a private
# mount namespace with its own /etc/hosts, where that is allowed): both are
# served, on one port.
printf '::1 localhost\n127.0.0.1 localhost\n' >"$TMP/hosts"
cat >"$TMP/cli-two-addresses" <<EOF
#!/bin/sh
exec unshare -m sh -c 'mount --bind "\$1" /etc/hosts && shift && exec "\$@"' sh "$TMP/hosts" "$CLI" "\$@"
EOF
chmod +x "$TMP/cli-two-addresses"
if unshare -m sh -c "mount --bind $TMP/hosts /etc/hosts && getent ahosts localhost" 2>/dev/null | grep -q '^::1'; then
  EVP_CLI=$TMP/cli-two-addresses LOCAL_LISTEN=localhost:0 start_local "$TMP/two" "$TMP/two-clients.json" --quiet ||
    { fail "--listen localhost:0 with two addresses starts"; cat "$TMP/local.err"; }
  PORT=${URL##*:}
  for u in "http://127.0.0.1:$PORT" "http://[::1]:$PORT"; do
    [ "$(curl -s --max-time 10 "$u/healthz")" = '{"status":"ok"}' ] &&
      pass "localhost as ::1 and 127.0.0.1: served at $u" || fail "localhost as ::1 and 127.0.0.1: not served at $u"
  done
  stop_local
  check "two addresses: clean stop" [ "$RC" -eq 0 ]
  # The second address taken: nothing is served, the message names it.
  python3 -c 'import socket,sys,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); print("ok", flush=True); time.sleep(60)' "$PORT" >"$TMP/py.out" &
  PY=$!
  for _ in $(seq 1 50); do grep -q ok "$TMP/py.out" && break; sleep 0.1; done
  rm -rf "$TMP/data"
  timeout "$WAIT" "$TMP/cli-two-addresses" local --listen "localhost:$PORT" --data "$TMP/data" >"$TMP/out" 2>"$TMP/err"
  rc=$?
  kill "$PY" 2>/dev/null; wait "$PY" 2>/dev/null
  [ "$rc" -eq 1 ] && grep -qF "cannot listen on localhost:$PORT (127.0.0.1:$PORT): Address already in use" "$TMP/err" &&
    pass "localhost as ::1 and 127.0.0.1, 127.0.0.1:$PORT taken: exit 1, the message names that address" ||
    fail "second address taken: exit $rc: $(head -c 300 "$TMP/err")"
  [ ! -e "$TMP/data" ] && [ ! -s "$TMP/out" ] && pass "second address taken: nothing created, nothing on stdout" ||
    fail "second address taken: created or printed: $(ls "$TMP/data" 2>&1) $(head -c 200 "$TMP/out")"
else
  echo "skipped: a name with two addresses (no unshare -m / mount here)"
fi

# An option without its value: the message names the command, the option and
# both ways to write it (the shared option parser, so also spool/token).
for args in "local --listen:evpipe local: option --listen needs a value; write --listen VALUE or --listen=VALUE" \
  "spool import nodir --data:evpipe spool import: option --data needs a value" \
  "token issue --key-file:evpipe token issue: option --key-file needs a value"; do
  # shellcheck disable=SC2086 # the words of the command line
  "$EVP_CLI" ${args%%:*} >"$TMP/out" 2>"$TMP/err"
  rc=$?
  [ "$rc" -eq 2 ] && grep -qF "${args#*:}" "$TMP/err" && pass "missing value: ${args%%:*}: exit 2, names the command and option" ||
    fail "missing value: ${args%%:*}: exit $rc: $(head -c 300 "$TMP/err")"
done

# Brackets are for IPv6 only, and a bracketed address still needs a port:
# [127.0.0.1]:0 was accepted and logged a URL such as http://[127.0.0.1]:41234,
# which no client parses; [::1] was told "an IPv6 address goes between [ and
# ]" when it has them and lacks the port.
refused "IPv4 in brackets" 2 "--listen [127.0.0.1]:0" "write 127.0.0.1:0" -- --listen "[127.0.0.1]:0" --data "$TMP/data"
refused "IPv6 in brackets, no port" 2 "--listen [::1]" "no port" "[::1]:8080" -- --listen "[::1]" --data "$TMP/data"

finish
