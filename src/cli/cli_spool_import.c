/* evpipe spool import: the events waiting in a client's spool, validated
 * exactly as POST /events validates them (evp__events_handle, the server's
 * own code) and appended with their client id to the durable log of
 * `evpipe local`, whose batcher writes them to the lake with dedup on
 * (client_id, event_id). See docs/spool-import.md for why this way. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli/cli.h"
#ifdef EVP_WITH_SERVER
#include "base/base.h"
#include "base/files.h"
#include "json/json.h"
#include "server/server.h"
#include "table/table.h"
#include "wal/wal_read.h"
#include "cli/demo.h"
#include "cli/spool.h"

#define SCHEMA_FILE_MAX (16u * 1024u * 1024u)
/* Consecutive records of one client are validated and appended together,
 * up to these bounds (one log record each, like one POST /events within the
 * default limits of `evpipe local`: --max-events 500, --max-body 1 MiB; an
 * event too large for a request of its own is refused as the server would). */
#define GROUP_EVENTS EVP__EVENTS_DEFAULT_MAX
#define GROUP_BYTES (EVP__EVENTS_DEFAULT_MAX_BODY - 64u) /* room for the brackets */
/* Refused events named in the report; the rest are counted. */
#define REFUSED_SHOWN 10
/* Records imported but not yet in the ledger: past this many, the log is
 * synced and they are written to the ledger, which bounds the memory. */
#define PENDING_MAX 65536u

/* A record whose events went to the log, waiting to enter the ledger. */
typedef struct {
  unsigned char entry[EVP__CLI_LEDGER_ENTRY];
  uint64_t offset;
  int refused; /* an event of it was refused: left out of the ledger */
} pending_t;

typedef struct {
  const char *spool_dir;
  evp__wal_t *spool;
  evp__wal_t *log; /* DATA_DIR/queue; NULL with --dry-run */
  evp__events_cfg_t cfg;
  evp_schema_ctx_t *ctx;
  /* the group being built: consecutive records of one client id */
  evp__buf_t body; /* {"events":[e1,e2,...]} */
  char *client_id;
  size_t client_id_len;
  size_t *starts, *lens; /* each event's span in body */
  uint64_t *offsets;     /* the spool offset of each event's record */
  size_t n, cap;
  /* the ledger of DATA_DIR (read only in a dry run) */
  evp__cli_ledger_t *ledger;
  int reimport; /* --reimport: the ledger does not skip records */
  pending_t *pending;
  size_t npending;
  /* results */
  uint64_t records, events, appended, refused, skipped_records, skipped_events;
  char shown[REFUSED_SHOWN][640];
  size_t nshown;
  char err[1024];
  char whole_refusal[128]; /* why the server refused a body as a whole (validate) */
} import_t;

/* The reason an event was refused, for the report. */
static void refuse(import_t *im, uint64_t offset, const char *event_id, const char *reason,
                   const char *error) {
  im->refused++;
  /* pending records are in offset order: find this one's */
  size_t lo = 0, hi = im->npending;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (im->pending[mid].offset < offset)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo < im->npending && im->pending[lo].offset == offset) im->pending[lo].refused = 1;
  if (im->nshown == REFUSED_SHOWN) return;
  char id[160];
  if (event_id)
    evp__json_escape_text(event_id, strlen(event_id), id, sizeof id, NULL);
  else
    snprintf(id, sizeof id, "(none)");
  snprintf(im->shown[im->nshown++], sizeof im->shown[0],
           "spool record at offset %llu, event_id %s: %s (%s)", (unsigned long long)offset, id,
           error, reason ? reason : "schema");
}

/* 1 when [p, p + plen) is the event [s, s + len) up to surrounding
 * whitespace: what the server parsed as one element is exactly that event,
 * not a piece of it or a span reaching into a neighbour. */
static int whole(const char *s, size_t len, const char *p, size_t plen) {
  if (p < s || p + plen > s + len) return 0;
  for (const char *q = s; q < p; q++)
    if (*q != ' ' && *q != '\t' && *q != '\n' && *q != '\r') return 0;
  for (const char *q = p + plen; q < s + len; q++)
    if (*q != ' ' && *q != '\t' && *q != '\n' && *q != '\r') return 0;
  return 1;
}

/* Validate @p body, {"events":[...]} holding the @p k events at
 * body + starts[i] (lens[i] bytes), with the server's POST /events code. On
 * a 200 whose items line up with the events put in, *res holds the verdicts
 * and 1 is returned; 0 when the body was refused as a whole or the items do
 * not line up (an event that is not one JSON value); -1 on an internal error
 * (im->err). */
static int validate(import_t *im, const char *body, size_t len, const size_t *starts,
                    const size_t *lens, size_t k, evp__events_result_t *res) {
  evp__http_req_t q;
  memset(&q, 0, sizeof q);
  q.method = "POST";
  q.path = "/events";
  q.body = body;
  q.body_len = len;
  evp__http_resp_t resp;
  evp__http_resp_init(&resp);
  evp__events_cfg_t cfg = im->cfg;
  cfg.max_events = k;
  cfg.max_body = EVP__EVENTS_DEFAULT_MAX_BODY;
  evp_err_t e = evp__events_handle(&cfg, im->ctx, &q, res, &resp);
  int status = resp.status;
  snprintf(im->whole_refusal, sizeof im->whole_refusal, "%d %s", status,
           resp.reason ? resp.reason : "");
  evp__http_resp_free(&resp);
  if (e != EVP_OK) {
    snprintf(im->err, sizeof im->err, "validating events: %s", evp_err2str(e));
    return -1;
  }
  if (status != 200 || res->n_events != k) {
    evp__events_result_free(res);
    return 0;
  }
  /* Accepted spans, in order, must be the events not rejected. */
  size_t a = 0, r = 0;
  for (size_t i = 0; i < k; i++) {
    if (r < res->n_rejected && res->rejected[r].index == i) {
      r++;
      continue;
    }
    if (a >= res->n_accepted ||
        !whole(body + starts[i], lens[i], res->accepted[a], res->accepted_lens[a])) {
      evp__events_result_free(res);
      return 0;
    }
    a++;
  }
  if (a != res->n_accepted || r != res->n_rejected) {
    evp__events_result_free(res);
    return 0;
  }
  return 1;
}

static int append(import_t *im, const evp__events_result_t *res) {
  if (!im->log || res->n_accepted == 0) return 0;
  char why[512];
  if (evp__wal_append(im->log, im->client_id, evp__wall_us(), res->accepted, res->accepted_lens,
                      res->n_accepted, why, sizeof why) != EVP_OK) {
    snprintf(im->err, sizeof im->err, "appending to the durable log: %s", why);
    return -1;
  }
  im->appended += res->n_accepted;
  return 0;
}

static void refuse_rejected(import_t *im, const evp__events_result_t *res, size_t first) {
  for (size_t j = 0; j < res->n_rejected; j++)
    refuse(im, im->offsets[first + res->rejected[j].index], res->rejected[j].event_id,
           res->rejected[j].reason, res->rejected[j].error);
}

/* One event alone, after its group could not be judged as a whole. */
static int flush_one(import_t *im, size_t i) {
  evp__buf_t b = {0};
  evp__buf_adds(&b, "{\"events\":[");
  size_t at = b.len;
  evp__buf_add(&b, im->body.p + im->starts[i], im->lens[i]);
  evp__buf_adds(&b, "]}");
  if (evp__buf_reserve(&b, EVP__REGEX_SLACK) != EVP_OK) {
    evp__buf_free(&b);
    snprintf(im->err, sizeof im->err, "out of memory");
    return -1;
  }
  memset(b.p + b.len, 0, EVP__REGEX_SLACK);
  evp__events_result_t res;
  int v = validate(im, (const char *)b.p, b.len, &at, &im->lens[i], 1, &res);
  int rc = 0;
  if (v < 0)
    rc = -1;
  else if (v == 0) {
    char why[256];
    snprintf(why, sizeof why, "POST /events refuses a request holding this event alone (%s)",
             im->whole_refusal);
    refuse(im, im->offsets[i], NULL, "request", why);
  } else {
    refuse_rejected(im, &res, i);
    rc = append(im, &res);
    evp__events_result_free(&res);
  }
  evp__buf_free(&b);
  return rc;
}

/* Validate and append the group built so far. */
static int flush_group(import_t *im) {
  if (im->n == 0) return 0;
  evp__buf_adds(&im->body, "]}");
  if (evp__buf_reserve(&im->body, EVP__REGEX_SLACK) != EVP_OK) {
    snprintf(im->err, sizeof im->err, "out of memory");
    return -1;
  }
  /* The schema's patterns may read a little past a string (base.h). */
  memset(im->body.p + im->body.len, 0, EVP__REGEX_SLACK);
  evp__events_result_t res;
  int v = validate(im, (const char *)im->body.p, im->body.len, im->starts, im->lens, im->n, &res);
  int rc = 0;
  if (v < 0) {
    rc = -1;
  } else if (v > 0) {
    refuse_rejected(im, &res, 0);
    rc = append(im, &res);
    evp__events_result_free(&res);
  } else {
    for (size_t i = 0; i < im->n && rc == 0; i++) rc = flush_one(im, i);
  }
  im->n = 0;
  im->body.len = 0;
  return rc;
}

static void no_member(void *opaque, const evp__jmember_t *m) { (void)opaque, (void)m; }

static int add_event(import_t *im, uint64_t offset, const char *ev, size_t len) {
  /* Only whole JSON objects go into a group body: any other text could
   * close the array and change what the body means. (One nested deeper
   * than the validator's limit goes in: the server answers for it.) */
  evp__json_object_info_t info;
  memset(&info, 0, sizeof info);
  evp_err_t je =
      evp__json_scan_object_each(ev, len, EVP_SCHEMA_MAX_DEPTH_LIMIT, no_member, NULL, &info);
  if (je != EVP_OK && je != EVP_ERR_TOO_DEEP) {
    char why[256];
    snprintf(why, sizeof why, "the event is not a JSON object: %s at byte %zu",
             info.err_msg ? info.err_msg : "invalid", info.err_off);
    refuse(im, offset, NULL, info.not_object ? "not_object" : "parse", why);
    return 0;
  }
  if (im->n == im->cap) {
    size_t nc = im->cap ? im->cap * 2 : 64;
    size_t *s = realloc(im->starts, nc * sizeof *s);
    if (s) im->starts = s;
    size_t *l = s ? realloc(im->lens, nc * sizeof *l) : NULL;
    if (l) im->lens = l;
    uint64_t *o = l ? realloc(im->offsets, nc * sizeof *o) : NULL;
    if (!o) {
      snprintf(im->err, sizeof im->err, "out of memory");
      return -1;
    }
    im->offsets = o;
    im->cap = nc;
  }
  if (im->n == 0) evp__buf_adds(&im->body, "{\"events\":[");
  if (im->n) evp__buf_adds(&im->body, ",");
  im->starts[im->n] = im->body.len;
  im->lens[im->n] = len;
  im->offsets[im->n] = offset;
  if (evp__buf_add(&im->body, ev, len) != EVP_OK) {
    snprintf(im->err, sizeof im->err, "out of memory");
    return -1;
  }
  im->n++;
  return 0;
}

/* A record of another client than the group's starts a new group. */
static int set_client(import_t *im, const evp__wal_record_t *rec) {
  if (im->client_id && im->client_id_len == rec->client_id_len &&
      memcmp(im->client_id, rec->client_id, rec->client_id_len) == 0)
    return 0;
  if (flush_group(im) != 0) return -1;
  free(im->client_id);
  if (!(im->client_id = malloc(rec->client_id_len + 1))) {
    snprintf(im->err, sizeof im->err, "out of memory");
    return -1;
  }
  memcpy(im->client_id, rec->client_id, rec->client_id_len);
  im->client_id[rec->client_id_len] = '\0';
  im->client_id_len = rec->client_id_len;
  return 0;
}

/* Make what was appended durable, then enter the pending records none of
 * whose events was refused into the ledger (never before: an entry promises
 * its events are in DATA_DIR's log). */
static int commit_pending(import_t *im) {
  char why[512];
  if (im->log && evp__wal_sync(im->log, evp__wal_end(im->log), why, sizeof why) != EVP_OK) {
    snprintf(im->err, sizeof im->err, "syncing the durable log: %s", why);
    return -1;
  }
  size_t k = 0;
  for (size_t i = 0; i < im->npending; i++)
    if (!im->pending[i].refused)
      memmove(im->pending[k++].entry, im->pending[i].entry, EVP__CLI_LEDGER_ENTRY);
  unsigned char *entries = malloc(k * EVP__CLI_LEDGER_ENTRY + 1);
  if (!entries) {
    snprintf(im->err, sizeof im->err, "out of memory");
    return -1;
  }
  for (size_t i = 0; i < k; i++)
    memcpy(entries + i * EVP__CLI_LEDGER_ENTRY, im->pending[i].entry, EVP__CLI_LEDGER_ENTRY);
  evp_err_t e = im->log ? evp__cli_ledger_add(im->ledger, entries, k, why, sizeof why) : EVP_OK;
  free(entries);
  im->npending = 0;
  if (e != EVP_OK) {
    snprintf(im->err, sizeof im->err, "the events are in the log, but the import ledger: %s", why);
    return -1;
  }
  return 0;
}

/* 1 when the ledger says @p rec was imported before (skipped), 0 when it
 * is to be imported (and is now pending), -1 on an error. */
static int already_imported(import_t *im, const evp__wal_record_t *rec) {
  unsigned char entry[EVP__CLI_LEDGER_ENTRY];
  if (evp__cli_ledger_entry(im->ledger, rec, entry) != 0) {
    snprintf(im->err, sizeof im->err,
             "the import ledger: HMAC-SHA256 failed in the crypto library");
    return -1;
  }
  if (!im->reimport && evp__cli_ledger_has(im->ledger, entry)) {
    im->skipped_records++;
    im->skipped_events += rec->nevents;
    return 1;
  }
  if (im->npending == PENDING_MAX && (flush_group(im) != 0 || commit_pending(im) != 0)) return -1;
  if (!im->pending && !(im->pending = malloc(PENDING_MAX * sizeof *im->pending))) {
    snprintf(im->err, sizeof im->err, "out of memory");
    return -1;
  }
  pending_t *p = &im->pending[im->npending++];
  memcpy(p->entry, entry, sizeof entry);
  p->offset = rec->offset;
  p->refused = 0;
  return 0;
}

/* Read every record after the spool's checkpoint; *end receives the offset
 * after the last one read. */
static int import_records(import_t *im, uint64_t *end) {
  evp__wal_reader_t *r;
  uint64_t from = evp__wal_checkpoint(im->spool);
  *end = from;
  if (evp__wal_reader_open(im->spool, from, &r, im->err, sizeof im->err) != EVP_OK) return -1;
  int rc = 0;
  while (rc == 0) {
    evp__wal_record_t rec;
    int got = 0;
    if (evp__wal_reader_next(r, &rec, &got, im->err, sizeof im->err) != EVP_OK) {
      rc = -1;
      break;
    }
    if (!got) break;
    im->records++;
    int seen = already_imported(im, &rec);
    if (seen) {
      rc = seen < 0 ? -1 : 0;
      *end = rec.end;
      continue;
    }
    /* An id with a NUL cannot be passed on (the log takes a C string) and
     * no client sends one: the record's events are refused, not cut. */
    if (memchr(rec.client_id, '\0', rec.client_id_len)) {
      im->events += rec.nevents;
      for (uint32_t k = 0; k < rec.nevents; k++)
        refuse(im, rec.offset, NULL, "client_id", "the record's client id holds a NUL byte");
      *end = rec.end;
      continue;
    }
    if ((rc = set_client(im, &rec)) != 0) break;
    size_t cursor = 0;
    const char *ev;
    size_t len;
    while (rc == 0 && evp__wal_record_next_event(&rec, &cursor, &ev, &len)) {
      im->events++;
      if (im->n && (im->n >= GROUP_EVENTS || im->body.len + len > GROUP_BYTES))
        rc = flush_group(im);
      if (rc == 0) rc = add_event(im, rec.offset, ev, len);
    }
    *end = rec.end;
  }
  if (rc == 0) rc = flush_group(im);
  if (rc == 0) rc = commit_pending(im);
  evp__wal_reader_close(r);
  return rc;
}

/* The schema and the lake's table, as `evpipe local` builds them. */
static int load_schema(import_t *im, const char *path, const char *text, size_t len,
                       evp_schema_t **schema, evp__table_t **table) {
  char err[512];
  evp_err_t e;
  if (!(*schema = evp_schema_compile(text, len, NULL, &e, err, sizeof err)))
    return fprintf(stderr, "evpipe spool import: the schema %s does not compile: %s\n", path, err),
           -1;
  if ((e = evp__table_parse(text, len, table, err, sizeof err)) != EVP_OK)
    return fprintf(stderr, "evpipe spool import: the schema %s does not map to a lake table: %s\n",
                   path, err),
           -1;
  if (!(im->ctx = evp_schema_ctx_new()))
    return fprintf(stderr, "evpipe spool import: out of memory\n"), -1;
  im->cfg.schema = *schema;
  im->cfg.table = *table;
  return 0;
}

/* The schema `evpipe local` on @p data uses without --schema. A dry run
 * changes nothing in DATA_DIR: the built-in schema is used in memory when
 * DATA_DIR/schema.json does not exist yet. */
static int schema_text(const char *data, const char *given, int dry_run, char *def, size_t cap,
                       char **text, size_t *len, const char **name) {
  char err[512];
  *name = given;
  if (!given) {
    if ((size_t)snprintf(def, cap, "%s/schema.json", data) >= cap)
      return fprintf(stderr, "evpipe spool import: --data path too long\n"), -1;
    *name = def;
    if (dry_run && access(def, F_OK) != 0) {
      *name = "(built-in)";
      if (!(*text = malloc(evp__default_schema_len + 1)))
        return fprintf(stderr, "evpipe spool import: out of memory\n"), -1;
      memcpy(*text, evp__default_schema, evp__default_schema_len);
      (*text)[evp__default_schema_len] = '\0';
      *len = evp__default_schema_len;
      return 0;
    }
    if (evp__cli_default_schema("spool import", data, def, cap) != 0) return -1;
  }
  if (evp__file_read(*name, SCHEMA_FILE_MAX, 0, text, len, NULL, err, sizeof err) != EVP_OK)
    return fprintf(stderr, "evpipe spool import: cannot read the schema: %s\n", err), -1;
  return 0;
}

/* Damage in DATA_DIR's own log, found by its recovery: said here too (the
 * next `evpipe local` logs it again; the region is skipped either way). */
static void log_damage(void *arg, const evp__wal_damage_t *d) {
  (void)arg;
  fprintf(stderr,
          "evpipe spool import: warning: the durable log is damaged: %s at %llu, %llu bytes "
          "skipped (%s)\n",
          d->segment, (unsigned long long)d->segment_offset, (unsigned long long)d->length,
          d->note ? d->note : "");
}

/* DATA_DIR/queue, the durable log of `evpipe local`. Appends are not synced
 * one by one: the whole import is made durable once at the end. Returns 0,
 * or prints why and returns the exit code (EVP_CLI_FAIL: in use). */
static int open_log(import_t *im, const char *data, char *path, size_t cap) {
  char err[1024];
  if ((size_t)snprintf(path, cap, "%s/queue", data) >= cap)
    return fprintf(stderr, "evpipe spool import: --data path too long\n"), EVP_CLI_USAGE;
  if (evp__mkdirs(data, err, sizeof err) != EVP_OK)
    return fprintf(stderr, "evpipe spool import: %s\n", err), EVP_CLI_USAGE;
  evp__wal_opts_t o;
  memset(&o, 0, sizeof o);
  o.fsync = EVP__FSYNC_INTERVAL;
  o.interval_ms = 1000;
  o.max_record_bytes = GROUP_BYTES + 65536;
  o.on_damage = log_damage;
  evp_err_t e = evp__wal_open(path, &o, &im->log, err, sizeof err);
  if (e == EVP_ERR_STATE)
    return fprintf(stderr,
                   "evpipe spool import: the durable log %s is in use: `evpipe local` (or "
                   "another import) is running on %s. Stop it (SIGTERM: it flushes the lake "
                   "and exits), run the import, then start it again.\n",
                   path, data),
           EVP_CLI_FAIL;
  if (e != EVP_OK)
    return fprintf(stderr, "evpipe spool import: cannot open the durable log %s: %s\n", path, err),
           EVP_CLI_USAGE;
  return 0;
}

static void report(const import_t *im, const char *log_path, int dry_run) {
  printf("spool: %s: %llu events in %llu records after its checkpoint\n", im->spool_dir,
         (unsigned long long)(im->events + im->skipped_events), (unsigned long long)im->records);
  if (im->skipped_records)
    printf("already imported: %llu events in %llu records, skipped (the ledger %s says so; "
           "--reimport imports them again)\n",
           (unsigned long long)im->skipped_events, (unsigned long long)im->skipped_records,
           evp__cli_ledger_path(im->ledger));
  if (dry_run)
    printf("dry run: %llu events would be imported, %llu refused\n",
           (unsigned long long)(im->events - im->refused), (unsigned long long)im->refused);
  else
    printf("imported: %llu events appended to %s\n", (unsigned long long)im->appended, log_path);
  if (im->refused) {
    printf("refused: %llu events, left in the spool; the first:\n",
           (unsigned long long)im->refused);
    for (size_t i = 0; i < im->nshown; i++) printf("  %s\n", im->shown[i]);
  }
}

int evp__cli_spool_import(int argc, char **argv) {
  const char *dir = NULL, *data = "evpipe-data", *schema_path = NULL;
  int dry_run = 0, trim = 0, reimport = 0;
  for (int i = 1; i < argc; i++) {
    int r;
    if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      evp__cli_spool(2, (char *[]){"spool", "--help", NULL});
      return EVP_CLI_OK;
    }
    if (!strcmp(argv[i], "--dry-run")) {
      dry_run = 1;
      continue;
    }
    if (!strcmp(argv[i], "--trim")) {
      trim = 1;
      continue;
    }
    if (!strcmp(argv[i], "--reimport")) {
      reimport = 1;
      continue;
    }
    if ((r = evp__cli_opt(argc, argv, &i, "--data", &data)) ||
        (r = evp__cli_opt(argc, argv, &i, "--schema", &schema_path))) {
      if (r < 0) return EVP_CLI_USAGE;
      continue;
    }
    if (argv[i][0] == '-' || dir) {
      fprintf(stderr, "evpipe spool import: unexpected argument '%s' (see evpipe spool --help)\n",
              argv[i]);
      return EVP_CLI_USAGE;
    }
    dir = argv[i];
  }
  if (!dir) {
    fprintf(stderr,
            "evpipe spool import: missing the spool directory DIR (see evpipe spool --help)\n");
    return EVP_CLI_USAGE;
  }
  if (!*data) {
    fprintf(stderr, "evpipe spool import: --data must name a directory\n");
    return EVP_CLI_USAGE;
  }
  if (dry_run && trim) {
    fprintf(stderr, "evpipe spool import: --trim and --dry-run exclude each other\n");
    return EVP_CLI_USAGE;
  }
  char def[4096], log_path[4096] = "";
  import_t im;
  memset(&im, 0, sizeof im);
  im.spool_dir = dir;
  im.reimport = reimport;
  evp_schema_t *schema = NULL;
  evp__table_t *table = NULL;
  char *text = NULL;
  size_t text_len = 0;
  const char *schema_name;
  evp__cli_spool_t sp;
  memset(&sp, 0, sizeof sp);
  int rc =
      schema_text(data, schema_path, dry_run, def, sizeof def, &text, &text_len, &schema_name) ||
              load_schema(&im, schema_name, text, text_len, &schema, &table)
          ? EVP_CLI_USAGE
          : 0;
  /* The spool first: a spool that cannot be read leaves DATA_DIR alone. */
  if (!rc) rc = evp__cli_spool_open("import", dir, &sp);
  if (!rc && !dry_run) rc = open_log(&im, data, log_path, sizeof log_path);
  if (!rc) {
    /* After the log: its lock is what keeps two imports off the ledger. */
    char why[1024];
    if (evp__cli_ledger_open(data, !dry_run, &im.ledger, why, sizeof why) != EVP_OK) {
      fprintf(stderr, "evpipe spool import: the import ledger: %s\n", why);
      rc = EVP_CLI_USAGE;
    }
  }
  uint64_t end = 0;
  if (!rc) {
    evp__cli_spool_print_recovery(stdout, &sp);
    im.spool = sp.wal;
    int failed = import_records(&im, &end);
    /* Whatever was appended is made durable before anything is reported,
     * also after a failure (a re-run is deduplicated by the batcher). */
    char why[512];
    if (im.log && evp__wal_sync(im.log, evp__wal_end(im.log), why, sizeof why) != EVP_OK) {
      if (!failed) snprintf(im.err, sizeof im.err, "syncing the durable log: %s", why);
      failed = 1;
    }
    report(&im, log_path, dry_run);
    if (failed) {
      fprintf(stderr,
              "evpipe spool import: %s (the %llu events appended before it are kept; running "
              "the import again is safe)\n",
              im.err, (unsigned long long)im.appended);
      rc = EVP_CLI_USAGE;
    } else if (im.refused || sp.stats.corrupt_records) {
      rc = EVP_CLI_FAIL;
    }
  }
  if (trim && !rc) {
    /* Everything waiting is durable in DATA_DIR's log: mark it delivered in
     * the spool, as a client does once the server acknowledged it. */
    char why[512];
    if (evp__wal_commit(sp.wal, end, im.events + im.skipped_events, why, sizeof why) != EVP_OK) {
      fprintf(stderr,
              "evpipe spool import: the events are imported but the spool %s was not "
              "trimmed: %s\n",
              dir, why);
      rc = EVP_CLI_USAGE;
    } else {
      printf("trimmed: the spool's checkpoint is now %llu (its events are marked delivered)\n",
             (unsigned long long)end);
    }
  } else if (trim) {
    printf("not trimmed: the import was not complete (refused or lost events, or an error); "
           "the spool is unchanged\n");
  }
  evp__wal_close(im.log);
  evp__cli_spool_close(&sp);
  evp__cli_ledger_free(im.ledger);
  free(im.pending);
  evp__buf_free(&im.body);
  free(im.client_id);
  free(im.starts);
  free(im.lens);
  free(im.offsets);
  evp_schema_ctx_destroy(im.ctx);
  evp_schema_destroy(schema);
  evp__table_free(table);
  free(text);
  return rc;
}
#endif
