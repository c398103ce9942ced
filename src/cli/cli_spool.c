/* evpipe spool inspect|import: a client's on-disk spool (spool.dir), read
 * with the server's durable-log code since it is the same format. This file
 * holds the dispatcher, opening a spool and `inspect`. See
 * docs/spool-import.md. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "cli/cli.h"
#ifdef EVP_WITH_SERVER
#include "base/base.h"
#include "json/json.h"
#include "wal/wal_read.h"
#include "cli/spool.h"
#endif

static void usage(FILE *f) {
  fprintf(f,
          "usage: evpipe spool inspect DIR [--json]\n"
          "       evpipe spool import DIR [--data DATA_DIR] [--schema F] [--dry-run] [--trim]\n"
          "                               [--reimport]\n"
          "\n"
          "DIR is a client's spool directory (the SDK's spool.dir, or a copy of it taken off a\n"
          "device). Both commands open it like a client would: they take its lock (a spool in\n"
          "use by a running client is refused), and recover it — a torn last record is cut\n"
          "and damaged records are skipped, copied to DIR/quarantine/ and reported. Nothing\n"
          "else in DIR is changed, except by import --trim.\n"
          "\n"
          "inspect  what waits in the spool after its checkpoint: records, events, bytes,\n"
          "         oldest and newest receive time, client ids, and what recovery found.\n"
          "import   validate every waiting event as POST /events would (the schema and the\n"
          "         lake's table) and append the accepted ones, with their client id, to the\n"
          "         durable log of `evpipe local` in DATA_DIR (default ./evpipe-data); the next\n"
          "         `evpipe local` on DATA_DIR writes them to the lake, dropping event ids it\n"
          "         already wrote for the same client within --dedup-window. `evpipe local`\n"
          "         must not be running on DATA_DIR. Refused events are listed. Records\n"
          "         imported before (DATA_DIR/imports/records.ledger) are skipped.\n"
          "  --schema F  the event schema (default: DATA_DIR/schema.json, written from the\n"
          "              built-in schema when missing, as `evpipe local` does)\n"
          "  --dry-run   validate and report, append nothing\n"
          "  --trim      after a complete import (every event appended, none refused), mark\n"
          "              the spool's events delivered (advance its checkpoint), so a client\n"
          "              opening it does not send them again\n"
          "  --reimport  import records the ledger says were imported before (the lake's\n"
          "              dedup still drops ids it wrote within its window)\n"
          "Exit status: 0 everything waiting was imported (or inspected); 1 some events were\n"
          "refused, the spool had damaged records, or it or DATA_DIR is in use; 2 usage or I/O\n"
          "error.\n");
}

#ifdef EVP_WITH_SERVER

void evp__cli_spool_time(int64_t us, char out[40]) {
  int64_t s = us / 1000000, frac = us % 1000000;
  if (frac < 0) {
    frac += 1000000;
    s--;
  }
  time_t t = (time_t)s;
  struct tm tm;
  if (!gmtime_r(&t, &tm)) {
    snprintf(out, 40, "%lld us", (long long)us);
    return;
  }
  char d[24];
  strftime(d, sizeof d, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out, 40, "%s.%06lldZ", d, (long long)frac);
}

/* A directory that holds a log: a segment, a checkpoint or a lock file. */
static int looks_like_spool(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return 0;
  int found = 0;
  struct dirent *e;
  while (!found && (e = readdir(d)) != NULL)
    found = (strncmp(e->d_name, "wal-", 4) == 0 && strstr(e->d_name, ".seg")) ||
            !strcmp(e->d_name, "checkpoint") || !strcmp(e->d_name, "LOCK") ||
            !strcmp(e->d_name, "lock");
  closedir(d);
  return found;
}

static void on_damage(void *arg, const evp__wal_damage_t *d) {
  evp__cli_spool_t *s = arg;
  if (s->ndamage < EVP__CLI_SPOOL_DAMAGE_KEPT) {
    evp__cli_spool_damage_t *k = &s->damage[s->ndamage];
    evp__cli_copy_cut(k->segment, sizeof k->segment, d->segment ? d->segment : "");
    evp__cli_copy_cut(k->quarantine, sizeof k->quarantine, d->quarantine ? d->quarantine : "");
    evp__cli_copy_cut(k->note, sizeof k->note, d->note ? d->note : "");
    k->segment_offset = d->segment_offset;
    k->log_offset = d->log_offset;
    k->length = d->length;
  }
  s->ndamage++;
}

int evp__cli_spool_open(const char *cmd, const char *dir, evp__cli_spool_t *s) {
  memset(s, 0, sizeof *s);
  s->dir = dir;
  struct stat st;
  if (stat(dir, &st) != 0) {
    fprintf(stderr, "evpipe spool %s: %s: %s\n", cmd, dir, strerror(errno));
    return EVP_CLI_USAGE;
  }
  if (!S_ISDIR(st.st_mode) || !looks_like_spool(dir)) {
    fprintf(stderr,
            "evpipe spool %s: %s is not a spool directory (no wal-*.seg segment, checkpoint or "
            "lock file in it)\n",
            cmd, dir);
    return EVP_CLI_USAGE;
  }
  evp__wal_opts_t o;
  memset(&o, 0, sizeof o);
  /* Appends never happen here (import --trim only moves the checkpoint, a
   * file written with its own fsync); recovery's truncation is synced. */
  o.fsync = EVP__FSYNC_ALWAYS;
  o.retain_bytes = SIZE_MAX; /* keep every delivered segment: only recovery changes DIR */
  o.on_damage = on_damage;
  o.damage_arg = s;
  char err[1024];
  evp_err_t e = evp__wal_open(dir, &o, &s->wal, err, sizeof err);
  if (e == EVP_ERR_STATE) {
    fprintf(stderr,
            "evpipe spool %s: the spool %s is in use: a client (or another evpipe) has it open "
            "and holds its lock. Stop that process, or copy the directory and use the copy.\n",
            cmd, dir);
    return EVP_CLI_FAIL;
  }
  if (e != EVP_OK) {
    fprintf(stderr, "evpipe spool %s: cannot open the spool %s: %s\n", cmd, dir, err);
    return EVP_CLI_USAGE;
  }
  evp__wal_get_stats(s->wal, &s->stats);
  return 0;
}

void evp__cli_spool_close(evp__cli_spool_t *s) {
  evp__wal_close(s->wal);
  s->wal = NULL;
}

void evp__cli_spool_print_recovery(FILE *f, const evp__cli_spool_t *s) {
  const evp__wal_stats_t *st = &s->stats;
  fprintf(f, "recovery: %llu valid records, torn tail %llu bytes cut",
          (unsigned long long)st->recovered_records, (unsigned long long)st->truncated_bytes);
  if (st->unused_bytes)
    fprintf(f, ", %llu unused (preallocated, zero) bytes cut",
            (unsigned long long)st->unused_bytes);
  if (!st->corrupt_records) {
    fprintf(f, ", no damage\n");
    return;
  }
  fprintf(f,
          ", %llu damaged regions skipped (%llu bytes; %llu bytes copied to the quarantine): the "
          "events in them are lost, the records after them are kept\n",
          (unsigned long long)st->corrupt_records, (unsigned long long)st->corrupt_bytes,
          (unsigned long long)st->quarantined_bytes);
  for (uint64_t i = 0; i < s->ndamage && i < EVP__CLI_SPOOL_DAMAGE_KEPT; i++) {
    const evp__cli_spool_damage_t *d = &s->damage[i];
    fprintf(f, "  damaged: %s at %llu, %llu bytes (log offset %llu): %s%s%s\n", d->segment,
            (unsigned long long)d->segment_offset, (unsigned long long)d->length,
            (unsigned long long)d->log_offset, d->note, d->quarantine[0] ? " to " : "",
            d->quarantine);
  }
  if (s->ndamage > EVP__CLI_SPOOL_DAMAGE_KEPT)
    fprintf(f, "  ... and %llu more damaged regions\n",
            (unsigned long long)(s->ndamage - EVP__CLI_SPOOL_DAMAGE_KEPT));
}

void evp__cli_spool_json_recovery(evp__buf_t *b, const evp__cli_spool_t *s) {
  const evp__wal_stats_t *st = &s->stats;
  evp__buf_addf(b,
                "{\"records\":%llu,\"torn_tail_bytes\":%llu,\"unused_tail_bytes\":%llu,"
                "\"damaged_regions\":%llu,\"damaged_bytes\":%llu,\"quarantined_bytes\":%llu,"
                "\"damage\":[",
                (unsigned long long)st->recovered_records, (unsigned long long)st->truncated_bytes,
                (unsigned long long)st->unused_bytes, (unsigned long long)st->corrupt_records,
                (unsigned long long)st->corrupt_bytes, (unsigned long long)st->quarantined_bytes);
  for (uint64_t i = 0; i < s->ndamage && i < EVP__CLI_SPOOL_DAMAGE_KEPT; i++) {
    const evp__cli_spool_damage_t *d = &s->damage[i];
    evp__buf_adds(b, i ? ",{\"segment\":" : "{\"segment\":");
    evp__buf_json_str(b, d->segment, strlen(d->segment));
    evp__buf_addf(b, ",\"offset\":%llu,\"log_offset\":%llu,\"length\":%llu,\"quarantine\":",
                  (unsigned long long)d->segment_offset, (unsigned long long)d->log_offset,
                  (unsigned long long)d->length);
    if (d->quarantine[0])
      evp__buf_json_str(b, d->quarantine, strlen(d->quarantine));
    else
      evp__buf_adds(b, "null");
    evp__buf_adds(b, ",\"note\":");
    evp__buf_json_str(b, d->note, strlen(d->note));
    evp__buf_adds(b, "}");
  }
  evp__buf_adds(b, "]}");
}

/* ------------------------------------------------------------ inspect */

/* Client ids listed by inspect; more distinct ones are only counted. */
#define CLIENTS_KEPT 1000

typedef struct {
  char *id;
  size_t len;
  uint64_t events, records;
} client_t;

typedef struct {
  uint64_t records, events, bytes;
  int64_t oldest, newest;
  client_t *clients;
  size_t nclients;
  uint64_t clients_more_records; /* records of client ids past CLIENTS_KEPT */
} tally_t;

static int tally_client(tally_t *t, const evp__wal_record_t *rec) {
  for (size_t i = 0; i < t->nclients; i++)
    if (t->clients[i].len == rec->client_id_len &&
        memcmp(t->clients[i].id, rec->client_id, rec->client_id_len) == 0) {
      t->clients[i].events += rec->nevents;
      t->clients[i].records++;
      return 0;
    }
  if (t->nclients == CLIENTS_KEPT) {
    t->clients_more_records++;
    return 0;
  }
  client_t *n = realloc(t->clients, (t->nclients + 1) * sizeof *n);
  if (!n) return -1;
  t->clients = n;
  client_t *c = &t->clients[t->nclients];
  if (!(c->id = malloc(rec->client_id_len + 1))) return -1;
  memcpy(c->id, rec->client_id, rec->client_id_len);
  c->id[rec->client_id_len] = '\0';
  c->len = rec->client_id_len;
  c->events = rec->nevents;
  c->records = 1;
  t->nclients++;
  return 0;
}

static void tally_free(tally_t *t) {
  for (size_t i = 0; i < t->nclients; i++) free(t->clients[i].id);
  free(t->clients);
}

/* Read every record after the checkpoint. */
static int tally_spool(const evp__cli_spool_t *s, tally_t *t) {
  memset(t, 0, sizeof *t);
  evp__wal_reader_t *r;
  char err[512];
  if (evp__wal_reader_open(s->wal, evp__wal_checkpoint(s->wal), &r, err, sizeof err) != EVP_OK) {
    fprintf(stderr, "evpipe spool inspect: %s: %s\n", s->dir, err);
    return EVP_CLI_USAGE;
  }
  for (;;) {
    evp__wal_record_t rec;
    int got = 0;
    if (evp__wal_reader_next(r, &rec, &got, err, sizeof err) != EVP_OK) {
      fprintf(stderr, "evpipe spool inspect: reading %s: %s\n", s->dir, err);
      evp__wal_reader_close(r);
      return EVP_CLI_USAGE;
    }
    if (!got) break;
    if (!t->records || rec.received_at_us < t->oldest) t->oldest = rec.received_at_us;
    if (!t->records || rec.received_at_us > t->newest) t->newest = rec.received_at_us;
    t->records++;
    t->events += rec.nevents;
    t->bytes += rec.end - rec.offset;
    if (tally_client(t, &rec) != 0) {
      fprintf(stderr, "evpipe spool inspect: out of memory\n");
      evp__wal_reader_close(r);
      return EVP_CLI_USAGE;
    }
  }
  evp__wal_reader_close(r);
  return 0;
}

static void print_text(const evp__cli_spool_t *s, const tally_t *t) {
  printf("spool: %s\n", s->dir);
  printf("waiting: %llu events in %llu records, %llu bytes (log offsets %llu..%llu; "
         "checkpoint %llu)\n",
         (unsigned long long)t->events, (unsigned long long)t->records,
         (unsigned long long)t->bytes, (unsigned long long)evp__wal_checkpoint(s->wal),
         (unsigned long long)evp__wal_end(s->wal), (unsigned long long)evp__wal_checkpoint(s->wal));
  if (t->records) {
    char a[40], b[40];
    evp__cli_spool_time(t->oldest, a);
    evp__cli_spool_time(t->newest, b);
    printf("received_at: oldest %s, newest %s\n", a, b);
  }
  printf("client ids: %zu%s\n", t->nclients, t->clients_more_records ? " (and more)" : "");
  for (size_t i = 0; i < t->nclients; i++) {
    char id[160];
    evp__json_escape_text(t->clients[i].id, t->clients[i].len, id, sizeof id, NULL);
    printf("  %s: %llu events in %llu records\n", id, (unsigned long long)t->clients[i].events,
           (unsigned long long)t->clients[i].records);
  }
  evp__cli_spool_print_recovery(stdout, s);
}

static int print_json(const evp__cli_spool_t *s, const tally_t *t) {
  evp__buf_t b = {0};
  evp__buf_adds(&b, "{\"spool\":");
  evp__buf_json_str(&b, s->dir, strlen(s->dir));
  evp__buf_addf(&b,
                ",\"checkpoint\":%llu,\"end\":%llu,\"waiting\":{\"records\":%llu,\"events\":%llu,"
                "\"bytes\":%llu,\"oldest_received_at\":",
                (unsigned long long)evp__wal_checkpoint(s->wal),
                (unsigned long long)evp__wal_end(s->wal), (unsigned long long)t->records,
                (unsigned long long)t->events, (unsigned long long)t->bytes);
  if (t->records) {
    char a[40], z[40];
    evp__cli_spool_time(t->oldest, a);
    evp__cli_spool_time(t->newest, z);
    evp__buf_addf(&b, "\"%s\",\"newest_received_at\":\"%s\"", a, z);
  } else {
    evp__buf_adds(&b, "null,\"newest_received_at\":null");
  }
  evp__buf_adds(&b, "},\"clients\":[");
  for (size_t i = 0; i < t->nclients; i++) {
    evp__buf_adds(&b, i ? ",{\"client_id\":" : "{\"client_id\":");
    evp__buf_json_str(&b, t->clients[i].id, t->clients[i].len);
    evp__buf_addf(&b, ",\"events\":%llu,\"records\":%llu}",
                  (unsigned long long)t->clients[i].events,
                  (unsigned long long)t->clients[i].records);
  }
  evp__buf_addf(&b, "],\"clients_more_records\":%llu,\"recovery\":",
                (unsigned long long)t->clients_more_records);
  evp__cli_spool_json_recovery(&b, s);
  evp__buf_adds(&b, "}\n");
  size_t n = 0;
  char *out = evp__buf_take(&b, &n);
  if (!out) {
    fprintf(stderr, "evpipe spool inspect: out of memory\n");
    return EVP_CLI_USAGE;
  }
  fwrite(out, 1, n, stdout);
  free(out);
  return 0;
}

int evp__cli_spool_inspect(int argc, char **argv) {
  const char *dir = NULL;
  int json = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      usage(stdout);
      return EVP_CLI_OK;
    }
    if (!strcmp(argv[i], "--json")) {
      json = 1;
    } else if (argv[i][0] == '-' || dir) {
      fprintf(stderr, "evpipe spool inspect: unexpected argument '%s'\n", argv[i]);
      usage(stderr);
      return EVP_CLI_USAGE;
    } else {
      dir = argv[i];
    }
  }
  if (!dir) {
    fprintf(stderr, "evpipe spool inspect: missing the spool directory DIR\n");
    usage(stderr);
    return EVP_CLI_USAGE;
  }
  evp__cli_spool_t s;
  int rc = evp__cli_spool_open("inspect", dir, &s);
  if (rc) return rc;
  tally_t t;
  rc = tally_spool(&s, &t);
  if (!rc) rc = json ? print_json(&s, &t) : (print_text(&s, &t), 0);
  if (!rc && s.stats.corrupt_records) rc = EVP_CLI_FAIL;
  tally_free(&t);
  evp__cli_spool_close(&s);
  return rc;
}

int evp__cli_spool(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "evpipe spool: missing the subcommand (inspect or import)\n");
    usage(stderr);
    return EVP_CLI_USAGE;
  }
  if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
    usage(stdout);
    return EVP_CLI_OK;
  }
  if (!strcmp(argv[1], "inspect")) {
    evp__cli_set_command("spool inspect");
    return evp__cli_spool_inspect(argc - 1, argv + 1);
  }
  if (!strcmp(argv[1], "import")) {
    evp__cli_set_command("spool import");
    return evp__cli_spool_import(argc - 1, argv + 1);
  }
  fprintf(stderr, "evpipe spool: unknown subcommand '%s' (inspect or import)\n", argv[1]);
  usage(stderr);
  return EVP_CLI_USAGE;
}
#else
int evp__cli_spool(int argc, char **argv) {
  (void)argc, (void)argv;
  fprintf(stderr, "evpipe spool: this build has no server side (EVPIPE_BUILD_SERVER=OFF)\n");
  usage(stderr);
  return EVP_CLI_USAGE;
}
#endif
