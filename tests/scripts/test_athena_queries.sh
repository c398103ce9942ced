#!/usr/bin/env bash
# examples/athena_queries/*.sql give the right answers under DuckDB over a
# hive-partitioned Parquet lake (the queries' own correctness; the end-to-end
# test runs the same checks over a lake written by evpipe local).
set -u
SRC=${EVP_SOURCE_DIR:?}
exec node "$SRC/tests/node/athena_queries_check.mjs" selftest "$SRC"
