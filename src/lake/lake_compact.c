/* Compaction of one hour partition, crash-safe and exactly-once:
 *
 *   1. the new files are written into a staging directory outside the table
 *      tree, ROOT/compact/events.dt=D.hour=H, and fsynced (the lake writer
 *      commits each one);
 *   2. rows out == rows in is checked from the new files' footers;
 *   3. files of the hour that are not merged (part files at or after the
 *      log's checkpoint, anything foreign) are hard-linked into the staging
 *      directory, which is fsynced;
 *   4. renameat2(RENAME_EXCHANGE) swaps the staging directory and the hour
 *      directory in one step; their parents are fsynced;
 *   5. the staging directory, now holding the old files, is removed.
 *
 * A kill before 4 leaves the old hour untouched plus an unfinished staging
 * directory; after 4 the new hour plus the old files in staging. Either
 * way recovery (evp__lake_compact_recover) deletes the staging directory,
 * and a reader listing the hour sees one complete set. */
#define _GNU_SOURCE /* renameat2 / SYS_renameat2 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "base/base.h"
#include "base/files.h"
#include "lake/lake_compact.h"
#include "lake/pq_reader.h"

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

#define TABLE "events"
#define STAGE_DIR "compact"
#define STAGE_PREFIX TABLE ".dt="
/* Row groups of the compacted files: 131,072 rows (DuckDB writes
 * 122,880), about 6 MB of Snappy pages of bench/bench_events.h rows.
 * Readers parallelise over row groups: a compacted hour of a million
 * events in two large groups kept DuckDB on two threads and made short
 * queries up to 1.8x slower than over DuckDB's own file, while smaller
 * groups cost 0.13% in size (dictionaries restart). The byte bound keeps
 * the memory compaction takes in check for wide rows. */
#define COMPACT_RG_ROWS 131072
#define COMPACT_RG_BYTES ((size_t)128 << 20)
#define PATHMAX 4096

typedef struct {
  char *name;
  uint64_t first, last, bytes;
  int merge; /* 1: merged; 0: kept as it is */
} entry_t;

typedef struct {
  entry_t *v;
  size_t n, cap;
} entries_t;

static void entries_free(entries_t *es) {
  for (size_t i = 0; i < es->n; i++) free(es->v[i].name);
  free(es->v);
  memset(es, 0, sizeof *es);
}

/* "part-<20>-<20>.parquet" (the batcher's) or "compact-<20>-<20>-<3>.parquet". */
static int parse_name(const char *n, uint64_t *first, uint64_t *last) {
  unsigned long long a, b;
  unsigned k;
  int used = 0;
  size_t len = strlen(n);
  if (len == 54 && sscanf(n, "part-%20llu-%20llu.parquet%n", &a, &b, &used) == 2 && used == 54) {
    *first = a;
    *last = b;
    return 0;
  }
  if (len == 61 && sscanf(n, "compact-%20llu-%20llu-%3u.parquet%n", &a, &b, &k, &used) == 3 &&
      used == 61) {
    *first = a;
    *last = b;
    return 0;
  }
  return -1;
}

static int cmp_entry(const void *x, const void *y) {
  const entry_t *a = x, *b = y;
  if (a->merge != b->merge) return a->merge ? -1 : 1;
  if (a->first != b->first) return a->first < b->first ? -1 : 1;
  return a->last < b->last ? -1 : a->last > b->last;
}

/* dir/name into out[PATHMAX]; -1 when too long. */
static int join(char *out, const char *dir, const char *name) {
  size_t a = strlen(dir), b = strlen(name);
  if (a + 1 + b >= PATHMAX) return -1;
  memcpy(out, dir, a);
  out[a] = '/';
  memcpy(out + a + 1, name, b + 1);
  return 0;
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void hook(const evp__compact_opts_t *o, const char *step) {
  if (o->hook) o->hook(o->hook_arg, step);
}

/* List the hour: merge candidates (ours, below the checkpoint) first in
 * log order, then the files kept. Dot-files are temporaries a crash left:
 * neither merged nor kept (the exchange retires them with the old set). */
static evp_err_t list_hour(const evp__compact_opts_t *o, const char *dir, entries_t *es,
                           char *errstr, size_t errstr_size) {
  DIR *d = opendir(dir);
  if (!d) {
    int en = errno;
    return evp__seterr(errstr, errstr_size, EVP_ERR_IO, "compact: read directory %s: %s", dir,
                       strerror(en));
  }
  evp_err_t e = EVP_OK;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    const char *n = de->d_name;
    if (n[0] == '.') continue;
    char p[PATHMAX];
    struct stat st;
    if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, n) >= sizeof p || lstat(p, &st) != 0) {
      e = evp__seterr(errstr, errstr_size, EVP_ERR_IO, "compact: stat %s/%s: %s", dir, n,
                      strerror(errno));
      break;
    }
    if (!S_ISREG(st.st_mode)) {
      e = evp__seterr(errstr, errstr_size, EVP_ERR_IO,
                      "compact: %s is not a regular file; move it out of the partition", p);
      break;
    }
    if (es->n == es->cap) {
      size_t cap = es->cap ? es->cap * 2 : 32;
      entry_t *v = realloc(es->v, cap * sizeof *v);
      if (!v) {
        e = evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "compact: out of memory");
        break;
      }
      es->v = v;
      es->cap = cap;
    }
    entry_t *en = &es->v[es->n];
    memset(en, 0, sizeof *en);
    if (!(en->name = evp__strdup(n))) {
      e = evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "compact: out of memory");
      break;
    }
    es->n++;
    en->bytes = (uint64_t)st.st_size;
    en->merge = parse_name(n, &en->first, &en->last) == 0 && en->last < o->checkpoint;
  }
  closedir(d);
  if (!e) qsort(es->v, es->n, sizeof *es->v, cmp_entry);
  return e;
}

/* Remove directory @p dir holding only files (a staging directory). */
static evp_err_t remove_dir(const char *dir, char *errstr, size_t errstr_size) {
  DIR *d = opendir(dir);
  if (!d) {
    if (errno == ENOENT) return EVP_OK;
    return evp__seterr(errstr, errstr_size, EVP_ERR_IO, "compact: read directory %s: %s", dir,
                       strerror(errno));
  }
  int fd = dirfd(d);
  struct dirent *de;
  evp_err_t e = EVP_OK;
  while ((de = readdir(d)) != NULL) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    if (unlinkat(fd, de->d_name, 0) != 0 && errno != ENOENT && !e)
      e = evp__seterr(errstr, errstr_size, EVP_ERR_IO, "compact: remove %s/%s: %s", dir, de->d_name,
                      strerror(errno));
  }
  closedir(d);
  if (!e && rmdir(dir) != 0 && errno != ENOENT)
    e = evp__seterr(errstr, errstr_size, EVP_ERR_IO, "compact: remove %s: %s", dir,
                    strerror(errno));
  return e;
}

evp_err_t evp__lake_compact_recover(const char *root, char *errstr, size_t errstr_size) {
  char sdir[PATHMAX];
  if (!root || (size_t)snprintf(sdir, sizeof sdir, "%s/" STAGE_DIR, root) >= sizeof sdir)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "compact: bad data directory");
  DIR *d = opendir(sdir);
  if (!d) {
    if (errno == ENOENT) return EVP_OK;
    return evp__seterr(errstr, errstr_size, EVP_ERR_IO, "compact: read directory %s: %s", sdir,
                       strerror(errno));
  }
  evp_err_t e = EVP_OK;
  int removed = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL && !e) {
    if (strncmp(de->d_name, STAGE_PREFIX, strlen(STAGE_PREFIX)) != 0) continue;
    char p[PATHMAX];
    if ((size_t)snprintf(p, sizeof p, "%s/%s", sdir, de->d_name) >= sizeof p) continue;
    e = remove_dir(p, errstr, errstr_size);
    removed = 1;
  }
  closedir(d);
  if (!e && removed) e = evp__fsync_dir(sdir, errstr, errstr_size);
  return e;
}

static int valid_dt(const char *dt, int hour) {
  int y, m, d, n = 0;
  return dt && strlen(dt) == 10 && sscanf(dt, "%4d-%2d-%2d%n", &y, &m, &d, &n) == 3 && n == 10 &&
         m >= 1 && m <= 12 && d >= 1 && d <= 31 && hour >= 0 && hour <= 23;
}

/* Copy the rows of the merge candidates es->v[0..nin) into new files in
 * @p stage; fills res->files_out, rows, bytes_out. */
static evp_err_t write_merged(const evp__compact_opts_t *o, const char *hdir, const char *stage,
                              const entries_t *es, size_t nin, evp__compact_result_t *res,
                              char *errstr, size_t errstr_size) {
  uint64_t target = o->target_bytes ? o->target_bytes : EVP__COMPACT_TARGET_BYTES;
  uint64_t first = UINT64_MAX, last = 0, rows_in = 0;
  for (size_t i = 0; i < nin; i++) {
    if (es->v[i].first < first) first = es->v[i].first;
    if (es->v[i].last > last) last = es->v[i].last;
  }
  /* Numbered after the merged files of the same offsets (an hour of only
   * compacted files, rewritten by --hour): a name of the old set never
   * names other rows in the new one, which a query that listed the hour
   * before the swap and opens its files after it would read twice or miss. */
  size_t base = 0;
  for (size_t i = 0; i < nin; i++) {
    unsigned long long a, b;
    unsigned k;
    if (sscanf(es->v[i].name, "compact-%20llu-%20llu-%3u", &a, &b, &k) == 3 && a == first &&
        b == last && k + 1 > base)
      base = k + 1;
  }
  /* As many files as the input's size at the target needs, the rows spread
   * evenly: merged files are no larger than their inputs (dictionaries are
   * no longer repeated), so each ends at or below the target. */
  uint64_t nout = (res->bytes_in + target - 1) / target;
  if (nout == 0) nout = 1;
  evp__pq_reader_t *rd = NULL;
  evp__pq_writer_t *w = NULL;
  evp__pq_column_t *schema = NULL;
  size_t ncols = 0;
  evp__pq_kv_t *kv = NULL;
  size_t nkv = 0;
  evp_err_t e = EVP_OK;
  char path[PATHMAX];
  /* Footers first: the schema (all alike) and the row count to spread. */
  for (size_t i = 0; i < nin && !e; i++) {
    if (join(path, hdir, es->v[i].name))
      return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "compact: path too long");
    if ((e = evp__pq_reader_open(&rd, path, errstr, errstr_size))) break;
    if (i == 0) {
      const evp__pq_column_t *c = evp__pq_reader_columns(rd, &ncols);
      const evp__pq_kv_t *k = evp__pq_reader_kv(rd, &nkv);
      schema = calloc(ncols, sizeof *schema);
      kv = calloc(nkv ? nkv : 1, sizeof *kv);
      if (!schema || !kv) {
        e = evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "compact: out of memory");
      } else {
        for (size_t j = 0; j < ncols && !e; j++) {
          schema[j] = c[j];
          if (!(schema[j].name = evp__strdup(c[j].name)))
            e = evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "compact: out of memory");
        }
        for (size_t j = 0; j < nkv && !e; j++) {
          kv[j].key = evp__strdup(k[j].key);
          kv[j].value = k[j].value ? evp__strdup(k[j].value) : NULL;
          if (!kv[j].key || (k[j].value && !kv[j].value))
            e = evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "compact: out of memory");
        }
      }
    } else {
      e = evp__pq_reader_check_schema(rd, schema, ncols, errstr, errstr_size);
    }
    rows_in += evp__pq_reader_num_rows(rd);
    evp__pq_reader_close(rd);
    rd = NULL;
  }
  uint64_t per_file = (rows_in + nout - 1) / nout, copied = 0, dropped = 0, in_file = 0;
  evp__pq_options_t po;
  memset(&po, 0, sizeof po);
  po.row_group_rows = COMPACT_RG_ROWS;
  po.row_group_bytes = COMPACT_RG_BYTES;
  po.no_fsync = o->no_fsync;
  po.codec = o->codec;
  po.kv = kv;
  po.nkv = nkv;
  for (size_t i = 0; i < nin && !e; i++) {
    join(path, hdir, es->v[i].name); /* checked above */
    if ((e = evp__pq_reader_open(&rd, path, errstr, errstr_size))) break;
    const evp__pq_value_t *row;
    uint64_t got = 0;
    while (!e && !(e = evp__pq_reader_next(rd, &row, errstr, errstr_size)) && row) {
      if ((got & 0xffff) == 0 && o->cancelled && o->cancelled(o->fence_arg)) {
        e = evp__seterr(errstr, errstr_size, EVP_ERR_STATE,
                        "compact: stopped (shutting down); the hour is unchanged");
        break;
      }
      got++;
      if (dropped < o->test_drop_rows) {
        dropped++;
        continue;
      }
      if (w && (in_file >= per_file || evp__pq_writer_file_bytes(w) >= target)) {
        uint64_t size = 0;
        e = evp__pq_writer_finish(w, &size, errstr, errstr_size);
        res->bytes_out += size;
        res->files_out++;
        in_file = 0;
        if (e) break;
        hook(o, "file");
      }
      if (!w || in_file == 0) {
        char name[80];
        snprintf(name, sizeof name, "compact-%020llu-%020llu-%03zu.parquet",
                 (unsigned long long)first, (unsigned long long)last, base + res->files_out);
        if (base + res->files_out >= 1000) {
          e = evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                          "compact: more than 1000 files for one hour (numbers %zu and up are "
                          "taken); raise the target size",
                          base);
          break;
        }
        e = w ? evp__pq_writer_reopen(w, stage, name, errstr, errstr_size)
              : evp__pq_writer_open(&w, stage, name, schema, ncols, &po, errstr, errstr_size);
        if (e) break;
      }
      if ((e = evp__pq_writer_append(w, row, errstr, errstr_size))) break;
      in_file++;
      copied++;
    }
    if (!e && got != evp__pq_reader_num_rows(rd))
      e = evp__seterr(errstr, errstr_size, EVP_ERR_IO,
                      "compact: %s holds %llu rows, its footer says %llu", path,
                      (unsigned long long)got, (unsigned long long)evp__pq_reader_num_rows(rd));
    evp__pq_reader_close(rd);
    rd = NULL;
  }
  if (!e && w && in_file) {
    uint64_t size = 0;
    e = evp__pq_writer_finish(w, &size, errstr, errstr_size);
    res->bytes_out += size;
    res->files_out++;
    if (!e) hook(o, "file");
  }
  evp__pq_writer_free(w);
  for (size_t j = 0; schema && j < ncols; j++) free((char *)schema[j].name);
  free(schema);
  for (size_t j = 0; kv && j < nkv; j++) {
    free((char *)kv[j].key);
    free((char *)kv[j].value);
  }
  free(kv);
  res->rows = rows_in;
  if (e) return e;
  /* Rows out == rows in, from what is on disk now. */
  uint64_t rows_out = 0;
  for (size_t k = 0; k < res->files_out && !e; k++) {
    char name[80];
    snprintf(name, sizeof name, "compact-%020llu-%020llu-%03zu.parquet", (unsigned long long)first,
             (unsigned long long)last, base + k);
    if (join(path, stage, name)) {
      e = evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "compact: path too long");
      break;
    }
    if ((e = evp__pq_reader_open(&rd, path, errstr, errstr_size))) break;
    rows_out += evp__pq_reader_num_rows(rd);
    evp__pq_reader_close(rd);
    rd = NULL;
  }
  if (!e && (rows_out != rows_in || copied != rows_in))
    e = evp__seterr(errstr, errstr_size, EVP_ERR_INTERNAL,
                    "compact: the new files hold %llu rows, the old %llu; nothing was swapped",
                    (unsigned long long)rows_out, (unsigned long long)rows_in);
  return e;
}

static evp_err_t exchange(const char *a, const char *b, char *errstr, size_t errstr_size) {
#ifdef SYS_renameat2
  if (syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) == 0) return EVP_OK;
  int en = errno;
  if (en == EINVAL || en == ENOSYS || en == EOPNOTSUPP)
    return evp__seterr(errstr, errstr_size, EVP_ERR_UNSUPPORTED,
                       "compact: the file system of %s cannot exchange two directories "
                       "atomically (renameat2 RENAME_EXCHANGE: %s); nothing was changed. Keep "
                       "the data directory on ext4, xfs, btrfs or tmpfs to compact",
                       b, strerror(en));
  return evp__seterr(errstr, errstr_size, EVP_ERR_IO, "compact: exchange %s and %s: %s", a, b,
                     strerror(en));
#else
  (void)a;
  return evp__seterr(errstr, errstr_size, EVP_ERR_UNSUPPORTED,
                     "compact: this platform cannot exchange directories atomically (no "
                     "renameat2); %s was not changed",
                     b);
#endif
}

/* The exchange swaps two directory entries: the hour must be a directory
 * itself (a symbolic link would be swapped, not its files), and the staging
 * directory on its file system (renameat2 cannot cross one). Checked before
 * anything is written. */
static evp_err_t check_layout(const char *hdir, const char *sdir, char *errstr,
                              size_t errstr_size) {
  struct stat h, s;
  if (lstat(hdir, &h) != 0 || stat(sdir, &s) != 0)
    return evp__seterr(errstr, errstr_size, EVP_ERR_IO, "compact: stat %s or %s: %s", hdir, sdir,
                       strerror(errno));
  if (!S_ISDIR(h.st_mode))
    return evp__seterr(errstr, errstr_size, EVP_ERR_UNSUPPORTED,
                       "compact: %s is a symbolic link, not a directory; compaction replaces the "
                       "hour directory itself, so it is left as it is (move the files into a "
                       "real directory to compact it)",
                       hdir);
  if (h.st_dev != s.st_dev)
    return evp__seterr(errstr, errstr_size, EVP_ERR_UNSUPPORTED,
                       "compact: the staging directory %s is on another file system than %s (a "
                       "symbolic link or a mount?); the atomic swap needs both on one: put %s on "
                       "the file system of the lake. Nothing was changed",
                       sdir, hdir, sdir);
  return EVP_OK;
}

evp_err_t evp__lake_compact_hour(const evp__compact_opts_t *o, const char *dt, int hour,
                                 evp__compact_result_t *res, char *errstr, size_t errstr_size) {
  int64_t t0 = now_ms();
  memset(res, 0, sizeof *res);
  if (!o || !o->root || !valid_dt(dt, hour))
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                       "compact: need a data directory, a date YYYY-MM-DD and an hour 0-23");
  memcpy(res->dt, dt, 10);
  res->hour = hour;
  uint64_t target = o->target_bytes ? o->target_bytes : EVP__COMPACT_TARGET_BYTES;
  char hdir[PATHMAX], dtdir[PATHMAX], sdir[PATHMAX], stage[PATHMAX];
  if ((size_t)snprintf(dtdir, sizeof dtdir, "%s/" TABLE "/dt=%s", o->root, dt) >= sizeof dtdir ||
      (size_t)snprintf(hdir, sizeof hdir, "%s/hour=%02d", dtdir, hour) >= sizeof hdir ||
      (size_t)snprintf(sdir, sizeof sdir, "%s/" STAGE_DIR, o->root) >= sizeof sdir ||
      (size_t)snprintf(stage, sizeof stage, "%s/" STAGE_PREFIX "%s.hour=%02d", sdir, dt, hour) >=
          sizeof stage)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "compact: path too long");
  entries_t es = {0};
  evp_err_t e = list_hour(o, hdir, &es, errstr, errstr_size);
  if (e) {
    entries_free(&es); /* the names listed before the failure */
    return e;
  }
  size_t nin = 0, nparts = 0;
  for (; nin < es.n && es.v[nin].merge; nin++) {
    res->bytes_in += es.v[nin].bytes;
    nparts += !strncmp(es.v[nin].name, "part-", 5);
  }
  res->files_in = nin;
  res->files_kept = es.n - nin;
  /* Due: new part files, and more files than the size needs. Compacted
   * files alone never are (they are as large as their rows allow), so a
   * compacted hour is not rewritten until late files join it, and a few
   * late files next to full ones wait until they add up. */
  uint64_t need = (res->bytes_in + target - 1) / target;
  if (nin < 2 || (!o->force && (nparts == 0 || nin <= need))) {
    entries_free(&es);
    res->duration_ms = now_ms() - t0;
    return EVP_OK;
  }
  /* A staging directory left by a kill is stale whatever it holds. */
  if ((e = remove_dir(stage, errstr, errstr_size)) ||
      (e = evp__mkdirs(sdir, errstr, errstr_size)) ||
      (e = check_layout(hdir, sdir, errstr, errstr_size)))
    goto out;
  if (mkdir(stage, 0700) != 0) {
    e = evp__seterr(errstr, errstr_size, EVP_ERR_IO, "compact: create %s: %s", stage,
                    strerror(errno));
    goto out;
  }
  hook(o, "staged");
  if ((e = write_merged(o, hdir, stage, &es, nin, res, errstr, errstr_size))) goto fail;
  hook(o, "verified");
  for (size_t i = nin; i < es.n; i++) {
    char from[PATHMAX], to[PATHMAX];
    if (join(from, hdir, es.v[i].name) || join(to, stage, es.v[i].name) || link(from, to) != 0) {
      e = evp__seterr(errstr, errstr_size, EVP_ERR_IO, "compact: link %s into %s: %s", from, stage,
                      strerror(errno));
      goto fail;
    }
  }
  if (!o->no_fsync && (e = evp__fsync_dir(stage, errstr, errstr_size))) goto fail;
  hook(o, "linked");
  if ((e = exchange(stage, hdir, errstr, errstr_size))) goto fail;
  /* Both parents changed entries; only then is the old set retired. */
  if (!o->no_fsync && ((e = evp__fsync_dir(dtdir, errstr, errstr_size)) ||
                       (e = evp__fsync_dir(sdir, errstr, errstr_size))))
    goto out; /* swapped already: the stage is the old set, removed by recovery */
  hook(o, "exchanged");
  if ((e = remove_dir(stage, errstr, errstr_size))) goto out;
  if (!o->no_fsync) e = evp__fsync_dir(sdir, errstr, errstr_size);
  hook(o, "cleaned");
  res->compacted = !e;
  goto out;
fail : {
  char ignore[256];
  remove_dir(stage, ignore, sizeof ignore);
}
out:
  entries_free(&es);
  res->duration_ms = now_ms() - t0;
  return e;
}

/* ------------------------------------------------------------ closed hours */

static int64_t days_from_civil(int y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

int evp__lake_hour_of(int64_t ts_us, char dt[11], int *hour) {
  int64_t secs = ts_us / 1000000 - (ts_us % 1000000 < 0 ? 1 : 0);
  time_t t = (time_t)secs;
  struct tm tm;
  if ((int64_t)t != secs || !gmtime_r(&t, &tm) || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
    return -1;
  char b[32];
  snprintf(b, sizeof b, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
  memcpy(dt, b, 11);
  *hour = tm.tm_hour;
  return 0;
}

evp_err_t evp__lake_compact_closed(const evp__compact_opts_t *o, int64_t closed_before_us,
                                   void (*done)(void *arg, const evp__compact_result_t *res,
                                                evp_err_t err, const char *msg),
                                   void *arg, char *errstr, size_t errstr_size) {
  char tdir[PATHMAX];
  if (!o || !o->root || (size_t)snprintf(tdir, sizeof tdir, "%s/" TABLE, o->root) >= sizeof tdir)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "compact: bad data directory");
  DIR *d = opendir(tdir);
  if (!d) {
    if (errno == ENOENT) return EVP_OK;
    return evp__seterr(errstr, errstr_size, EVP_ERR_IO, "compact: read directory %s: %s", tdir,
                       strerror(errno));
  }
  evp_err_t first = EVP_OK;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    int y, m, dd, n = 0;
    if (sscanf(de->d_name, "dt=%4d-%2d-%2d%n", &y, &m, &dd, &n) != 3 || n != 13 ||
        de->d_name[n] != 0 || !valid_dt(de->d_name + 3, 0))
      continue;
    char ddir[PATHMAX];
    if ((size_t)snprintf(ddir, sizeof ddir, "%s/%s", tdir, de->d_name) >= sizeof ddir) continue;
    DIR *hd = opendir(ddir);
    if (!hd) continue;
    int hours[24], nh = 0;
    struct dirent *he;
    while ((he = readdir(hd)) != NULL) {
      int h, k = 0;
      if (sscanf(he->d_name, "hour=%2d%n", &h, &k) == 1 && k == 7 && he->d_name[k] == 0 && h >= 0 &&
          h <= 23 && nh < 24)
        hours[nh++] = h;
    }
    closedir(hd); /* compaction replaces hour directories: not while listing them */
    for (int i = 0; i < nh; i++) {
      int64_t end_us = ((days_from_civil(y, m, dd) * 24 + hours[i] + 1) * 3600) * INT64_C(1000000);
      if (end_us > closed_before_us) continue;
      evp__compact_result_t res;
      char msg[512] = "";
      int64_t start_us = end_us - INT64_C(3600000000);
      if (o->hour_begin && o->hour_begin(o->fence_arg, start_us)) continue;
      evp_err_t e = evp__lake_compact_hour(o, de->d_name + 3, hours[i], &res, msg, sizeof msg);
      if (o->hour_end) o->hour_end(o->fence_arg, start_us);
      if (e && !first) first = evp__seterr(errstr, errstr_size, e, "%s", msg);
      if (done && (e || res.compacted)) done(arg, &res, e, msg);
      if (o->cancelled && o->cancelled(o->fence_arg)) break;
    }
    if (o->cancelled && o->cancelled(o->fence_arg)) break;
  }
  closedir(d);
  return first;
}
