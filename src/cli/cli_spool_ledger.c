/* The import ledger of `evpipe spool import`: which spool records were
 * already imported into a data directory, so that importing a spool again
 * (or a later copy of the same device's spool) skips them however long ago
 * the first import was. The batcher's dedup covers only its window; this
 * covers the rest. Format and rules: docs/spool-import.md, "Importing twice".
 *
 * DATA_DIR/imports/records.ledger (0600 in a 0700 directory):
 *   [0,16)  "EVPIMPORTLEDGER1"
 *   [16,48) a random key, made when the file is created
 *   then 16 bytes per record: HMAC-SHA256(key, the record's payload), cut.
 * The payload holds the client id, the device's receive time and the events
 * with their event ids, so two records are the same exactly when their
 * payloads are; the key keeps anyone from making a record whose entry
 * equals another's. Entries are appended only after the events they stand
 * for are durable in DATA_DIR's log; a torn last entry is cut on load. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli/cli.h"
#ifdef EVP_WITH_SERVER
#include "base/base.h"
#include "base/files.h"
#include "cli/spool.h"

#define MAGIC "EVPIMPORTLEDGER1"
#define MAGIC_LEN 16u
#define KEY_LEN 32u
#define HEAD (MAGIC_LEN + KEY_LEN)
#define ENTRY EVP__CLI_LEDGER_ENTRY
#define LEDGER_MAX (1024u * 1024u * 1024u) /* 64 Mi records; a larger file is not ours */

struct evp__cli_ledger {
  int fd; /* -1: read only (a dry run, or no file yet) */
  char path[4096];
  evp__hmac_key_t *key;
  unsigned char *slots; /* open addressing, ENTRY bytes each; all zero = empty */
  size_t nslots, used;
};

static size_t slot_of(const evp__cli_ledger_t *l, const unsigned char *e) {
  uint64_t h;
  memcpy(&h, e, sizeof h);
  return (size_t)(h & (l->nslots - 1));
}

static int is_empty(const unsigned char *s) {
  static const unsigned char zero[ENTRY];
  return memcmp(s, zero, ENTRY) == 0;
}

/* 1 when present; otherwise inserts it when @p insert and returns 0; -1 when
 * out of memory. */
static int probe(evp__cli_ledger_t *l, const unsigned char *e, int insert);

static int grow(evp__cli_ledger_t *l) {
  size_t n = l->nslots ? l->nslots * 2 : 1024;
  unsigned char *old = l->slots;
  size_t oldn = l->nslots;
  if (!(l->slots = calloc(n, ENTRY))) {
    l->slots = old;
    return -1;
  }
  l->nslots = n;
  l->used = 0;
  for (size_t i = 0; i < oldn; i++)
    if (!is_empty(old + i * ENTRY)) probe(l, old + i * ENTRY, 1);
  free(old);
  return 0;
}

static int probe(evp__cli_ledger_t *l, const unsigned char *e, int insert) {
  if (insert && (l->used + 1) * 2 > l->nslots && grow(l) != 0) return -1;
  if (!l->nslots) return 0;
  for (size_t i = slot_of(l, e);; i = (i + 1) & (l->nslots - 1)) {
    unsigned char *s = l->slots + i * ENTRY;
    if (is_empty(s)) {
      if (!insert) return 0;
      memcpy(s, e, ENTRY);
      l->used++;
      return 0;
    }
    if (memcmp(s, e, ENTRY) == 0) return 1;
  }
}

void evp__cli_ledger_free(evp__cli_ledger_t *l) {
  if (!l) return;
  if (l->fd >= 0) close(l->fd);
  evp__hmac_key_free(l->key);
  free(l->slots);
  free(l);
}

/* A new file: header and key, written atomically. */
static evp_err_t create(const char *path, char *errstr, size_t errstr_size) {
  unsigned char head[HEAD];
  memcpy(head, MAGIC, MAGIC_LEN);
  evp_err_t e = evp__random(head + MAGIC_LEN, KEY_LEN);
  if (e != EVP_OK) return evp__seterr(errstr, errstr_size, e, "no randomness for the ledger key");
  e = evp__file_write_secret(path, (const char *)head, HEAD, 1, errstr, errstr_size);
  return e == EVP_ERR_STATE ? EVP_OK : e; /* made meanwhile: use it */
}

evp_err_t evp__cli_ledger_open(const char *data_dir, int writable, evp__cli_ledger_t **out,
                               char *errstr, size_t errstr_size) {
  *out = NULL;
  evp__cli_ledger_t *l = calloc(1, sizeof *l);
  if (!l) return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  l->fd = -1;
  char dir[4096];
  if ((size_t)snprintf(dir, sizeof dir, "%s/imports", data_dir) >= sizeof dir ||
      (size_t)snprintf(l->path, sizeof l->path, "%s/records.ledger", dir) >= sizeof l->path) {
    free(l);
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "--data path too long");
  }
  evp_err_t e = EVP_OK;
  if (writable && access(l->path, F_OK) != 0) {
    if ((e = evp__mkdirs(dir, errstr, errstr_size)) == EVP_OK)
      e = create(l->path, errstr, errstr_size);
    if (e != EVP_OK) {
      free(l);
      return e;
    }
  }
  int fd = open(l->path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 && !writable && errno == ENOENT) { /* a dry run before any import */
    *out = l;
    return EVP_OK;
  }
  char *buf = NULL;
  size_t len = 0;
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    e = evp__seterr(errstr, errstr_size, EVP_ERR_IO, "%s: %s", l->path, strerror(errno));
  } else if (!S_ISREG(st.st_mode) || (size_t)st.st_size < HEAD ||
             (uint64_t)st.st_size > LEDGER_MAX) {
    e = evp__seterr(errstr, errstr_size, EVP_ERR_IO, "%s is not an import ledger", l->path);
  } else if (!(buf = malloc((size_t)st.st_size))) {
    e = evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  } else {
    while (len < (size_t)st.st_size) {
      ssize_t r = read(fd, buf + len, (size_t)st.st_size - len);
      if (r <= 0) break;
      len += (size_t)r;
    }
    if (len < HEAD || memcmp(buf, MAGIC, MAGIC_LEN) != 0)
      e = evp__seterr(errstr, errstr_size, EVP_ERR_IO, "%s is not an import ledger", l->path);
  }
  if (e == EVP_OK && !(l->key = evp__hmac_key_new(buf + MAGIC_LEN, KEY_LEN)))
    e = evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  size_t whole = len >= HEAD ? HEAD + (len - HEAD) / ENTRY * ENTRY : 0;
  for (size_t off = HEAD; e == EVP_OK && off < whole; off += ENTRY)
    if (probe(l, (const unsigned char *)buf + off, 1) < 0)
      e = evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  /* A torn last entry (a crash mid-append) is cut, so appends stay aligned. */
  if (e == EVP_OK && writable && whole < len && ftruncate(fd, (off_t)whole) != 0)
    e = evp__seterr(errstr, errstr_size, EVP_ERR_IO, "%s: %s", l->path, strerror(errno));
  free(buf);
  if (e != EVP_OK) {
    if (fd >= 0) close(fd);
    evp__cli_ledger_free(l);
    return e;
  }
  if (writable) {
    l->fd = fd;
    if (lseek(fd, 0, SEEK_END) < 0) {
      evp__cli_ledger_free(l);
      return evp__seterr(errstr, errstr_size, EVP_ERR_IO, "%s: %s", l->path, strerror(errno));
    }
  } else {
    close(fd);
  }
  *out = l;
  return EVP_OK;
}

int evp__cli_ledger_entry(const evp__cli_ledger_t *l, const evp__wal_record_t *rec,
                          unsigned char out[EVP__CLI_LEDGER_ENTRY]) {
  unsigned char mac[32];
  if (!l->key) { /* no ledger yet: nothing can match */
    memset(out, 0, ENTRY);
    return 0;
  }
  if (evp__hmac_compute(l->key, rec->payload, rec->payload_len, mac) != 0) return -1;
  memcpy(out, mac, ENTRY);
  if (is_empty(out)) out[0] = 1; /* all zero marks an empty slot */
  return 0;
}

int evp__cli_ledger_has(const evp__cli_ledger_t *l, const unsigned char *entry) {
  return l->key ? probe((evp__cli_ledger_t *)l, entry, 0) : 0;
}

evp_err_t evp__cli_ledger_add(evp__cli_ledger_t *l, const unsigned char *entries, size_t n,
                              char *errstr, size_t errstr_size) {
  if (l->fd < 0 || n == 0) return EVP_OK;
  size_t len = n * ENTRY, done = 0;
  while (done < len) {
    ssize_t w = write(l->fd, entries + done, len - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0)
      return evp__seterr(errstr, errstr_size, EVP_ERR_IO, "writing %s: %s", l->path,
                         strerror(w < 0 ? errno : ENOSPC));
    done += (size_t)w;
  }
  if (fdatasync(l->fd) != 0)
    return evp__seterr(errstr, errstr_size, EVP_ERR_IO, "syncing %s: %s", l->path, strerror(errno));
  for (size_t i = 0; i < n; i++)
    if (probe(l, entries + i * ENTRY, 1) < 0)
      return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  return EVP_OK;
}

const char *evp__cli_ledger_path(const evp__cli_ledger_t *l) { return l->path; }
#endif
