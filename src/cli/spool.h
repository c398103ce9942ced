/* `evpipe spool`: what its subcommands share (cli_spool.c) — opening a
 * spool directory (a durable log of src/wal/, as the SDK writes it with
 * spool.dir) the way a client would, with recovery, and telling what that
 * recovery found. Inspect is in cli_spool.c, import in cli_spool_import.c.
 * Docs: docs/spool-import.md. */
#ifndef EVP_CLI_SPOOL_H
#define EVP_CLI_SPOOL_H

#include <stdint.h>
#include <stdio.h>
#include "base/buf.h"
#include "wal/wal.h"
#include "wal/wal_format.h"

/* Damaged regions recovery reported that are kept for the report (the
 * count is always exact). */
#define EVP__CLI_SPOOL_DAMAGE_KEPT 16

typedef struct {
  char segment[1024];
  uint64_t segment_offset, log_offset, length;
  char quarantine[1024]; /* "" when not copied */
  char note[128];
} evp__cli_spool_damage_t;

/* An open spool. */
typedef struct {
  const char *dir;
  evp__wal_t *wal;
  evp__wal_stats_t stats; /* recovery's counts, taken right after the open */
  uint64_t ndamage;       /* damaged regions reported by recovery */
  evp__cli_spool_damage_t damage[EVP__CLI_SPOOL_DAMAGE_KEPT];
} evp__cli_spool_t;

/* Open the spool in @p dir for `evpipe spool @p cmd`: @p dir must be an
 * existing directory that holds a log (a segment, a checkpoint or a lock
 * file), so a mistyped path is not turned into a new empty spool. Recovery
 * runs as in a client's evp__wal_open: a torn tail is cut, damaged regions
 * are skipped and copied to DIR/quarantine/; nothing else is changed (no
 * delivered segment is deleted). Returns 0, or prints why to stderr and
 * returns the exit code: EVP_CLI_FAIL when the spool is in use (a live
 * client holds its lock), EVP_CLI_USAGE otherwise. Not thread-safe; the
 * caller owns @p s and closes it with evp__cli_spool_close. */
int evp__cli_spool_open(const char *cmd, const char *dir, evp__cli_spool_t *s);
void evp__cli_spool_close(evp__cli_spool_t *s);

/* Recovery's findings as text lines on @p f ("recovery: ..."). */
void evp__cli_spool_print_recovery(FILE *f, const evp__cli_spool_t *s);
/* ... and as the JSON object {"records":..,"torn_tail_bytes":..,...,
 * "damage":[...]} appended to @p b. */
void evp__cli_spool_json_recovery(evp__buf_t *b, const evp__cli_spool_t *s);

/* @p us (microseconds since the epoch) as RFC 3339 UTC with microseconds. */
void evp__cli_spool_time(int64_t us, char out[40]);

/* ---- the import ledger (cli_spool_ledger.c): spool records already
 * imported into a data directory, kept in DATA_DIR/imports/records.ledger.
 * Not thread-safe; import holds DATA_DIR's log lock while it writes it. */
#define EVP__CLI_LEDGER_ENTRY 16u
typedef struct evp__cli_ledger evp__cli_ledger_t;

/* Load the ledger of @p data_dir; @p writable creates it when missing (a
 * random key, written atomically) and cuts a torn last entry, otherwise a
 * missing file is an empty ledger. Errors: EVP_ERR_IO (naming the file),
 * EVP_ERR_NOMEM. The caller frees *out with evp__cli_ledger_free. */
evp_err_t evp__cli_ledger_open(const char *data_dir, int writable, evp__cli_ledger_t **out,
                               char *errstr, size_t errstr_size);
void evp__cli_ledger_free(evp__cli_ledger_t *l);
/* The entry standing for @p rec (a keyed hash of its payload): 0, or -1
 * when the hash failed (nothing may be decided from @p out then). */
int evp__cli_ledger_entry(const evp__cli_ledger_t *l, const evp__wal_record_t *rec,
                          unsigned char out[EVP__CLI_LEDGER_ENTRY]);
/* 1 when @p entry is in the ledger. */
int evp__cli_ledger_has(const evp__cli_ledger_t *l, const unsigned char *entry);
/* Append @p n entries and fdatasync: call only once the records' events are
 * durable in DATA_DIR's log. A no-op on a read-only ledger. */
evp_err_t evp__cli_ledger_add(evp__cli_ledger_t *l, const unsigned char *entries, size_t n,
                              char *errstr, size_t errstr_size);
const char *evp__cli_ledger_path(const evp__cli_ledger_t *l);

int evp__cli_spool_inspect(int argc, char **argv);
int evp__cli_spool_import(int argc, char **argv);

#endif /* EVP_CLI_SPOOL_H */
