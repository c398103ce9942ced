#!/bin/sh
# Send NDJSON events with the evpipe CLI.
#   EVP_ENDPOINT=http://127.0.0.1:8080 EVP_CLIENT_ID=demo \
#   EVP_CLIENT_SECRET_FILE=./client.secret ./send_events.sh [events.ndjson]
# The secret file must be private (chmod 600). Without a file argument, three
# sample events are generated. Exit status: 0 when every event was delivered.
set -eu
endpoint=${EVP_ENDPOINT:-http://127.0.0.1:8080}
client_id=${EVP_CLIENT_ID:-demo}
secret_file=${EVP_CLIENT_SECRET_FILE:-./client.secret}
audience=${EVP_AUDIENCE:-events}
evpipe=${EVPIPE:-evpipe}

if [ $# -gt 0 ]; then
  input=$1
else
  input=-
fi

gen() {
  i=1
  while [ $i -le 3 ]; do
    printf '{"type":"example.hello","payload":{"n":%d}}\n' "$i"
    i=$((i + 1))
  done
}

if [ "$input" = - ] && [ $# -eq 0 ]; then
  gen | "$evpipe" send --endpoint "$endpoint" --client-id "$client_id" \
    --client-secret-file "$secret_file" --audience "$audience" -
else
  "$evpipe" send --endpoint "$endpoint" --client-id "$client_id" \
    --client-secret-file "$secret_file" --audience "$audience" "$input"
fi
