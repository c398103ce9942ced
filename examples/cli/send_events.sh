#!/bin/sh
# Send events with the evpipe command-line tool: `evpipe send` reads one
# JSON event per line (NDJSON), delivers them with the SDK and prints a
# summary; its exit status is 0 only when every event was delivered, so this
# script's is too.
#   . examples/local-env.sh && EVPIPE=./build/evpipe sh examples/cli/send_events.sh [events.ndjson]
# Without a file it sends three sample events. Each event needs `event_type`
# and `app_id` (the server's schema, docs/event-schema.md); the SDK fills in
# `event_id` and `event_time`.
# Environment: EVPIPE_ENDPOINT (default http://127.0.0.1:8080),
# EVPIPE_CLIENT_ID, and EVPIPE_CLIENT_SECRET_FILE (a private file, chmod 600)
# or EVPIPE_CLIENT_SECRET; EVPIPE: the evpipe program (default: on PATH).
set -eu
endpoint=${EVPIPE_ENDPOINT:-http://127.0.0.1:8080}
: "${EVPIPE_CLIENT_ID:?is not set: run . examples/local-env.sh (reads evpipe-data/secrets/clients.json)}"
evpipe=${EVPIPE:-evpipe}

# evpipe send takes the secret from a file only (never on the command line,
# where `ps` shows it); given only the variable, write it to a private one.
secret_file=${EVPIPE_CLIENT_SECRET_FILE:-}
if [ -z "$secret_file" ]; then
  : "${EVPIPE_CLIENT_SECRET:?is not set (nor EVPIPE_CLIENT_SECRET_FILE)}"
  secret_file=$(umask 077 && mktemp)
  trap 'rm -f "$secret_file"' EXIT
  printf '%s\n' "$EVPIPE_CLIENT_SECRET" >"$secret_file"
fi

sample_events() {
  for i in 1 2 3; do
    printf '{"event_type":"example.cli","app_id":"example-cli","properties":{"n":%d}}\n' "$i"
  done
}

send() {
  "$evpipe" send --endpoint "$endpoint" --client-id "$EVPIPE_CLIENT_ID" \
    --client-secret-file "$secret_file" --audience events "$@"
}
if [ $# -gt 0 ]; then
  send "$1"
else
  sample_events | send -
fi
