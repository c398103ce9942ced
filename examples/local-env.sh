# Source it, from the directory where `evpipe local` runs (the repository
# root in examples/README.md):
#   . examples/local-env.sh [CLIENTS_FILE]
# It exports what every example reads: EVPIPE_ENDPOINT (unless already set;
# `evpipe local` listens on http://127.0.0.1:8080), EVPIPE_CLIENT_ID and
# EVPIPE_CLIENT_SECRET, from the client `evpipe local` created on its first
# start in evpipe-data/secrets/clients.json (a JSON array, mode 0600).
# In production the secret comes from your secret store instead, best as a
# private file: EVPIPE_CLIENT_SECRET_FILE.
_evp_clients=${1:-evpipe-data/secrets/clients.json}
if [ -r "$_evp_clients" ]; then
  export EVPIPE_ENDPOINT="${EVPIPE_ENDPOINT:-http://127.0.0.1:8080}"
  EVPIPE_CLIENT_ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["client_id"])' "$_evp_clients")
  EVPIPE_CLIENT_SECRET=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["client_secret"])' "$_evp_clients")
  export EVPIPE_CLIENT_ID EVPIPE_CLIENT_SECRET
else
  echo "local-env.sh: cannot read $_evp_clients: start ./build/evpipe local first (it creates it), from this directory" >&2
fi
unset _evp_clients
# Its status: 0 when the variables are set (so `. examples/local-env.sh && ...` stops here otherwise).
[ -n "${EVPIPE_CLIENT_ID:-}" ] && [ -n "${EVPIPE_CLIENT_SECRET:-}" ]
