#!/bin/sh
# CTest fixture: install the test-only Node peers (jose, ajv, DuckDB,
# hyparquet) from the lock file. Skips the work when they are already current.
set -eu
cd "$(dirname "$0")"
if [ -f node_modules/.package-lock.json ] && cmp -s package-lock.json node_modules/.evp-lock-stamp; then
  echo "node peers: up to date"
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
cp package-lock.json node_modules/.evp-lock-stamp
echo "node peers: installed"
