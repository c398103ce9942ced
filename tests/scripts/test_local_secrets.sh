#!/usr/bin/env bash
# `evpipe local` and the secrets a hostile local user or network caller goes
# after (docs/security.md): secret files another user could replace are
# refused at start and on reload (StrictModes-like ownership and mode checks
# of the file and every directory up to /), open data directories are
# warned about; guessing one client's secret from many addresses locks that
# client id (429 + Retry-After) without touching the others, and the log
# names the client id, never the secret; a token signed with the right key
# that lives longer than the issuer grants, or has no iat, is refused.
. "$(dirname "$0")/lib.sh"
CLI=${EVP_CLI:?}
SRC=${EVP_SOURCE_DIR:?}
SCHEMA=$SRC/examples/schemas/glue-data-catalog-json-schema.json
command -v curl >/dev/null || { echo "curl not found: skipped"; exit 77; }
command -v python3 >/dev/null || { echo "python3 not found: skipped"; exit 77; }
WAIT=20
[ -n "${EVP_SANITIZE:-}" ] && WAIT=60

PIDS=""
trap 'for p in $PIDS; do kill -KILL "$p" 2>/dev/null; done; rm -rf "$TMP"' EXIT
start() { # DATA_DIR [ARGS...]: start_local with the clients file at its default place
  start_local "$1" "$1/secrets/clients.json" "${@:2}"
  PIDS="$PIDS $PID"
}
stop() { kill -TERM "$1" 2>/dev/null; wait "$1" 2>/dev/null; }
http() { # NAME CURL-ARGS...: $CODE, $TMP/NAME.body, $TMP/NAME.hdr
  CODE=$(curl -s --max-time 20 -o "$TMP/$1.body" -D "$TMP/$1.hdr" -w '%{http_code}' "${@:2}")
}
check() { # NAME CONDITION-COMMAND...
  name=$1; shift
  if "$@"; then pass "$name"; else fail "$name"; fi
}
token() { # NAME ID SECRET [CURL-ARGS...]
  n=$1; i=$2; s=$3; shift 3
  http "$n" -X POST "$@" "$URL/token" -d "grant_type=client_credentials&client_id=$i&client_secret=$s"
}
clients_json() { # ID SECRET [ID SECRET]...
  printf '['; sep=""
  while [ $# -ge 2 ]; do
    printf '%s{"client_id":"%s","client_secret":"%s","audiences":["events"]}' "$sep" "$1" "$2"
    sep=","; shift 2
  done
  printf ']\n'
}
S_A=secret-of-client-a-0123456789
S_B=secret-of-client-b-0123456789

# ------------------------------------------------------------ secret files at start
D=$TMP/d1
mkdir -m 700 "$D"; mkdir -m 700 "$D/secrets"
clients_json a "$S_A" >"$D/secrets/clients.json"; chmod 600 "$D/secrets/clients.json"
chmod 777 "$D/secrets"
expect_rc 1 "a world-writable secrets/ directory: refused at start" timeout $WAIT \
  "$CLI" local --listen 127.0.0.1:0 --data "$D" --schema "$SCHEMA"
expect_grep "$TMP/err" "chmod 700 $D/secrets" "the refusal names the directory and says: chmod 700 it"
expect_grep "$TMP/err" "writable by group or others" "the refusal says why"
chmod 700 "$D/secrets"
chown 65534 "$D/secrets/clients.json"
expect_rc 1 "a clients file owned by another user (uid 65534): refused" timeout $WAIT \
  "$CLI" local --listen 127.0.0.1:0 --data "$D" --schema "$SCHEMA"
expect_grep "$TMP/err" "$D/secrets/clients.json is owned by uid 65534" "the refusal names the file and its owner"
expect_grep "$TMP/err" "chown" "the refusal says how to fix it (chown)"
chown 0 "$D/secrets/clients.json"
chown 65534 "$D/secrets"
expect_rc 1 "a secrets/ directory owned by another user: refused" timeout $WAIT \
  "$CLI" local --listen 127.0.0.1:0 --data "$D" --schema "$SCHEMA"
expect_grep "$TMP/err" "$D/secrets is owned by uid 65534" "the refusal names the directory"
chown 0 "$D/secrets"
chmod 777 "$D"
expect_rc 1 "a world-writable directory above secrets/ (no sticky bit): refused" timeout $WAIT \
  "$CLI" local --listen 127.0.0.1:0 --data "$D" --schema "$SCHEMA"
expect_grep "$TMP/err" "chmod go-w $D" "the refusal names the ancestor and says: chmod go-w"
chmod 755 "$D"
chmod 770 "$D/secrets"; chgrp 65534 "$D/secrets"
expect_rc 1 "a secrets/ directory writable by a shared group (nogroup): refused" timeout $WAIT \
  "$CLI" local --listen 127.0.0.1:0 --data "$D" --schema "$SCHEMA"
expect_grep "$TMP/err" "chmod 700 $D/secrets" "the refusal says: chmod 700 it"
chgrp 0 "$D/secrets"
ln -s "$D/secrets/clients.json" "$TMP/link.json"
expect_rc 1 "a clients file given as a symbolic link: refused" timeout $WAIT \
  "$CLI" local --listen 127.0.0.1:0 --data "$D" --schema "$SCHEMA" --clients "$TMP/link.json"
expect_grep "$TMP/err" "symbolic link" "the refusal says it is a symbolic link"

# Root-owned files under a sticky world-writable ancestor (/tmp) are fine;
# a 0755 data directory starts with a warning.
start "$D"
check "root-owned secret files under /tmp (sticky) are accepted, also with secrets/ 0770 for root's own group (user private groups)" [ -n "$URL" ]
expect_grep "$TMP/local.err" '"level":"warn".*more open than 0700' "a 0755 data directory is warned about"
expect_grep "$TMP/local.err" "chmod 700 $D\"" "the warning says how to close it"
check "the data directory is left as it was (warned, not changed)" [ "$(stat -c %a "$D")" = 755 ]
stop "$PID"
chmod 700 "$D/secrets"

# ------------------------------------------------------------ new files are private
D2=$TMP/d2
start "$D2"
check "server starts with a fresh data directory" [ -n "$URL" ]
check "secrets/ created 0700" [ "$(stat -c %a "$D2/secrets")" = 700 ]
check "clients.json created 0600" [ "$(stat -c %a "$D2/secrets/clients.json")" = 600 ]
check "signing-keys.json created 0600" [ "$(stat -c %a "$D2/secrets/signing-keys.json")" = 600 ]
if grep -q "more open than 0700" "$TMP/local.err"; then fail "no warning for a fresh data directory"; else
  pass "no warning for a fresh data directory"; fi
stop "$PID"

# ------------------------------------------------------------ reload after the directory opens up
chmod 700 "$D"
start "$D"
check "server starts for the reload test" [ -n "$URL" ]
token r0 a "$S_A"; check "client a gets a token" [ "$CODE" = 200 ]
chmod 777 "$D/secrets"
clients_json intruder "intruder-secret-0123456789" >"$D/secrets/.new"
chmod 600 "$D/secrets/.new"; mv "$D/secrets/.new" "$D/secrets/clients.json"
for _ in $(seq 1 $((WAIT * 2))); do
  grep -q "cannot be loaded" "$TMP/local.err" && break
  sleep 0.5
done
expect_grep "$TMP/local.err" '"level":"error".*cannot be loaded.*chmod 700' "the reload is refused with the fix in the log"
token r1 a "$S_A"; check "the old clients are kept (client a still gets a token)" [ "$CODE" = 200 ]
token r2 intruder "intruder-secret-0123456789"; check "the planted client is not accepted" [ "$CODE" = 401 ]
stop "$PID"
chmod 700 "$D/secrets"

# ------------------------------------------------------------ token lifetime cap
# Tokens signed with the server's own key (as someone holding a copy of
# signing-keys.json could): a day-long one and one without iat are refused,
# one with the issuer's 20 minutes is accepted.
D3=$TMP/d3
start "$D3"
check "server starts for the lifetime test" [ -n "$URL" ]
LID=$(sed -n 's/^  client_id: *//p' "$TMP/local.out")
forge() { # LIFETIME|noiat -> token signed with the current key
  python3 - "$D3/secrets/signing-keys.json" "$LID" "$1" <<'PY'
import base64, hashlib, hmac, json, sys, time
keys = json.load(open(sys.argv[1]))
cur = [k for k in keys["keys"] if k["kid"] == keys["current"]][0]
key = base64.b64decode(cur["secret"][len("base64:"):])
e = lambda o: base64.urlsafe_b64encode(json.dumps(o, separators=(",", ":")).encode()).rstrip(b"=").decode()
now = int(time.time()) - 5
c = {"iss": "evpipe-local", "sub": sys.argv[2], "aud": "events", "exp": now + 600}
if sys.argv[3] != "noiat":
    c.update(iat=now, exp=now + int(sys.argv[3]))
m = e({"alg": "HS256", "typ": "JWT", "kid": cur["kid"]}) + "." + e(c)
print(m + "." + base64.urlsafe_b64encode(hmac.new(key, m.encode(), hashlib.sha256).digest()).rstrip(b"=").decode())
PY
}
EV='{"events":[]}'
http l1 -X POST "$URL/events" -H "Authorization: Bearer $(forge 1200)" -H "Content-Type: application/json" --data-binary "$EV"
check "a token with the issuer's lifetime (1200 s) is accepted ($CODE)" [ "$CODE" != 401 ]
http l2 -X POST "$URL/events" -H "Authorization: Bearer $(forge 86400)" -H "Content-Type: application/json" --data-binary "$EV"
check "a day-long token signed with the right key is refused (401)" [ "$CODE" = 401 ]
expect_grep "$TMP/l2.hdr" "lives longer than the issuer grants" "the refusal says why"
http l3 -X POST "$URL/events" -H "Authorization: Bearer $(forge noiat)" -H "Content-Type: application/json" --data-binary "$EV"
check "a token without iat is refused (401)" [ "$CODE" = 401 ]
stop "$PID"

# ------------------------------------------------------------ /token guessing: per client id lockout
D4=$TMP/d4
mkdir -m 700 "$D4"; mkdir -m 700 "$D4/secrets"
clients_json a "$S_A" b "$S_B" >"$D4/secrets/clients.json"; chmod 600 "$D4/secrets/clients.json"
start "$D4"
check "server starts for the lockout test" [ -n "$URL" ]
token g0 a "$S_A" --interface 127.0.0.1
check "client a gets a token from its usual address (127.0.0.1)" [ "$CODE" = 200 ]
BAD=guess-NOT-the-secret-
CODES=""
for i in $(seq 2 13); do
  token "g$i" a "$BAD$i" --interface "127.0.0.$i"
  CODES="$CODES$CODE "
done
check "10 wrong secrets from 10 addresses are 401, then the id is locked: 429 ($CODES)" \
  [ "$CODES" = "401 401 401 401 401 401 401 401 401 401 429 429 " ]
RA=$(sed -n 's/^[Rr]etry-[Aa]fter: *\([0-9]*\).*/\1/p' "$TMP/g13.hdr")
check "the 429 carries Retry-After ($RA s)" [ "${RA:-0}" -ge 1 ]
expect_grep "$TMP/g13.body" '"error":"' "the 429 body is an OAuth error object"
token g20 a "$S_A" --interface 127.0.0.20
check "while locked, even the right secret from a new address is 429 (no guessing oracle)" [ "$CODE" = 429 ]
token g21 b "$S_B" --interface 127.0.0.21
check "another client id is not affected (200)" [ "$CODE" = 200 ]
token g22 b "wrong-for-b-0123456789" --interface 127.0.0.22
check "another client id's wrong secret is a plain 401" [ "$CODE" = 401 ]
token g23 a "$S_A" --interface 127.0.0.1
check "client a still gets tokens from the address it authenticated from before (200)" [ "$CODE" = 200 ]
token g24 a "$BAD" --interface 127.0.0.1
token g25 a "$S_A" --interface 127.0.0.1
check "a wrong secret from that address ends its exemption (429)" [ "$CODE" = 429 ]
for i in $(seq 30 69); do token "u$i" "ghost-$i" "$BAD" --interface "127.0.0.$i"; done
token g26 b "$S_B" --interface 127.0.0.70
check "guesses at 40 unknown ids do not lock a known one (200)" [ "$CODE" = 200 ]
sleep 0.5
expect_grep "$TMP/local.err" '"msg":"client authentication failed".*"client_id":"a"' "failed attempts are logged with the client id"
expect_grep "$TMP/local.err" '"client_id":"a".*"locked_s":' "the lockout is logged"
if grep -q "$BAD" "$TMP/local.err"; then fail "the log never holds a guessed secret"; else pass "the log never holds a guessed secret"; fi
NLOG=$(grep -c '"msg":"client authentication failed"' "$TMP/local.err")
check "failure lines are rate-limited ($NLOG lines for 54 failures)" [ "$NLOG" -lt 54 ]
stop "$PID"

# ------------------------------------------------------------ a group shared as a primary group
# Group write on secrets/ is only harmless when nobody but the owner is in
# that group: listed members (gr_mem) AND users whose primary group it is
# (Debian's OpenSSH walks the passwd database for the same reason). Run the
# server as a user U whose primary group G is also another user's primary
# group and lists nobody else (nogroup: nobody, sync, _apt on Debian), or,
# failing that, as one of two users made here with a shared primary group.
SHARED=$(python3 - <<'PY'
import collections, grp, pwd
by = collections.defaultdict(set)
for p in pwd.getpwall():
    by[p.pw_gid].add(p.pw_uid)
for p in pwd.getpwall():
    if p.pw_uid == 0 or len(by[p.pw_gid]) < 2:
        continue
    try:
        g = grp.getgrgid(p.pw_gid)
    except KeyError:
        continue
    if all(m == p.pw_name for m in g.gr_mem):
        print(p.pw_uid, p.pw_gid)
        break
PY
)
MADE_USERS="" MADE_GROUP=""
if [ -z "$SHARED" ] && command -v useradd >/dev/null && command -v groupadd >/dev/null; then
  trap 'for p in $PIDS; do kill -KILL "$p" 2>/dev/null; done; rm -rf "$TMP" "${PD:-}"
        for u in $MADE_USERS; do userdel "$u"; done; [ -z "$MADE_GROUP" ] || groupdel "$MADE_GROUP"' EXIT
  G_NAME=evpt$$
  groupadd "$G_NAME" && MADE_GROUP=$G_NAME &&
    useradd -M -N -g "$G_NAME" -s /bin/false "${G_NAME}a" && MADE_USERS="${G_NAME}a" &&
    useradd -M -N -g "$G_NAME" -s /bin/false "${G_NAME}b" && MADE_USERS="$MADE_USERS ${G_NAME}b" &&
    SHARED="$(id -u "${G_NAME}a") $(getent group "$G_NAME" | cut -d: -f3)"
fi
if [ -z "$SHARED" ] || ! command -v setpriv >/dev/null || [ "$(id -u)" != 0 ]; then
  echo "skipped: no user whose primary group is shared (or no setpriv, or not root)"
else
  set -- $SHARED; SU=$1; SG=$2
  PD=$(mktemp -d); [ -n "$MADE_GROUP" ] || trap 'for p in $PIDS; do kill -KILL "$p" 2>/dev/null; done; rm -rf "$TMP" "$PD"' EXIT
  mkdir -m 700 "$PD/secrets"
  clients_json a "$S_A" >"$PD/secrets/clients.json"; chmod 600 "$PD/secrets/clients.json"
  chown -R "$SU:$SG" "$PD"; chmod 700 "$PD"; chmod 770 "$PD/secrets"
  expect_rc 1 "uid $SU: a secrets/ directory writable by its own primary group $SG, which is also another user's primary group: refused" \
    timeout $WAIT setpriv --reuid="$SU" --regid="$SG" --clear-groups \
    "$CLI" local --listen 127.0.0.1:0 --data "$PD" --schema "$SCHEMA"
  expect_grep "$TMP/err" "$PD/secrets is writable by group or others.*could replace the secret file.*run: chmod 700 $PD/secrets" \
    "the refusal names the directory, says why and says: chmod 700 it"
fi

finish
