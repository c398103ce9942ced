/* Suite: `evpipe spool inspect|import` (src/cli/cli_spool*.c) run as the
 * built tool on spools written with the log API the way the SDK writes its
 * spool (one event per record, the client's id, the device's clock).
 *
 * Also a helper for tests/scripts/test_spool_cli.sh, which checks the lake
 * with DuckDB:
 *   test_cli_spool --make DIR CLIENT_ID < events.ndjson   one record per line
 *   test_cli_spool --hold DIR     hold DIR's lock; prints "held", waits for EOF on stdin */
#define _GNU_SOURCE
#include <check.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "evpipe/evpipe.h"
#include "base/base.h"
#include "wal/wal.h"
#include "wal/wal_read.h"
#include "tmpdir.h"

#define DEVICE_TIME_US 1700000000000000LL /* 2023-11-14: long before any import */

static char dir[128], spool[192], data[192], out[192];

static void setup(void) {
  test_tmpdir_make(dir, sizeof dir, "spoolcli");
  snprintf(spool, sizeof spool, "%s/spool", dir);
  snprintf(data, sizeof data, "%s/data", dir);
  snprintf(out, sizeof out, "%s/out", dir);
}

static void teardown(void) { ck_assert_int_eq(test_tmpdir_remove(dir), 0); }

/* An event the default schema accepts: the four required members, the
 * event type naming the client ("dev-a" -> "dev_a.tap"). */
static int event(char *buf, size_t cap, const char *client, int i) {
  return snprintf(buf, cap,
                  "{\"event_id\":\"0190a1b2-c3d4-7000-8000-%012d\",\"event_type\":\"dev_%c.tap\","
                  "\"event_time\":\"2023-11-14T22:13:20.%06dZ\",\"app_id\":\"app\"}",
                  i, client[4], i % 1000000);
}

/* Append one record of one event, as the SDK does per evp_send. */
static void append_one(evp__wal_t *w, const char *client, int64_t at, const char *ev) {
  size_t len = strlen(ev);
  char err[256];
  ck_assert_msg(evp__wal_append(w, client, at, &ev, &len, 1, err, sizeof err) == EVP_OK, "%s", err);
}

static evp__wal_t *open_log(const char *path) {
  evp__wal_t *w = NULL;
  evp__wal_opts_t o;
  memset(&o, 0, sizeof o);
  o.fsync = EVP__FSYNC_NEVER;
  char err[256];
  ck_assert_msg(evp__wal_open(path, &o, &w, err, sizeof err) == EVP_OK, "%s", err);
  return w;
}

/* A spool of @p n events, alternating between clients "dev-a" and "dev-b". */
static void make_spool(int n) {
  evp__wal_t *w = open_log(spool);
  char ev[512];
  for (int i = 0; i < n; i++) {
    const char *c = i % 2 ? "dev-b" : "dev-a";
    event(ev, sizeof ev, c, i);
    append_one(w, c, DEVICE_TIME_US + i, ev);
  }
  evp__wal_close(w);
}

/* Run the built evpipe with @p args; stdout and stderr go to out. */
static int run(const char *args) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "%s/evpipe %s >%s 2>&1", EVP_BINARY_DIR, args, out);
  int st = system(cmd);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* run() with the arguments formatted printf-style. */
static int runf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int runf(const char *fmt, ...) {
  char args[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(args, sizeof args, fmt, ap);
  va_end(ap);
  ck_assert_int_lt(n, (int)sizeof args);
  return run(args);
}

static char *output(void) {
  static char buf[65536];
  FILE *f = fopen(out, "r");
  ck_assert_ptr_nonnull(f);
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

#define ck_assert_output_has(s)                                                \
  do {                                                                         \
    const char *o_ = output();                                                 \
    ck_assert_msg(strstr(o_, (s)) != NULL, "no '%s' in output:\n%s", (s), o_); \
  } while (0)

/* Every record of the log at @p path: events (concatenated, one per line)
 * and per-record checks of the client id and receive time. */
typedef struct {
  int records, events, a, b;
  int64_t min_at, max_at;
  char text[1 << 20];
  size_t len;
} logdump_t;

static void dump_log(const char *path, logdump_t *d) {
  memset(d, 0, sizeof *d);
  evp__wal_t *w = open_log(path);
  evp__wal_reader_t *r;
  char err[256];
  ck_assert(evp__wal_reader_open(w, evp__wal_checkpoint(w), &r, err, sizeof err) == EVP_OK);
  for (;;) {
    evp__wal_record_t rec;
    int got;
    ck_assert(evp__wal_reader_next(r, &rec, &got, err, sizeof err) == EVP_OK);
    if (!got) break;
    if (!d->records || rec.received_at_us < d->min_at) d->min_at = rec.received_at_us;
    if (!d->records || rec.received_at_us > d->max_at) d->max_at = rec.received_at_us;
    d->records++;
    int is_a = rec.client_id_len == 5 && !memcmp(rec.client_id, "dev-a", 5);
    int is_b = rec.client_id_len == 5 && !memcmp(rec.client_id, "dev-b", 5);
    size_t cur = 0, len;
    const char *ev;
    while (evp__wal_record_next_event(&rec, &cur, &ev, &len)) {
      d->events++;
      /* each event of a record of dev-a or dev-b is its client's own */
      char want[16];
      snprintf(want, sizeof want, "\"%s.tap\"", is_a ? "dev_a" : "dev_b");
      if (is_a || is_b) ck_assert_ptr_nonnull(memmem(ev, len, want, strlen(want)));
      d->a += is_a;
      d->b += is_b;
      ck_assert_uint_lt(d->len + len + 1, sizeof d->text);
      memcpy(d->text + d->len, ev, len);
      d->len += len;
      d->text[d->len++] = '\n';
    }
  }
  d->text[d->len] = '\0';
  evp__wal_reader_close(r);
  evp__wal_close(w);
}

START_TEST(inspect_counts_what_waits) {
  make_spool(7);
  ck_assert_int_eq(runf("spool inspect %s --json", spool), 0);
  ck_assert_output_has("\"waiting\":{\"records\":7,\"events\":7,");
  ck_assert_output_has("\"oldest_received_at\":\"2023-11-14T22:13:20.000000Z\"");
  ck_assert_output_has("\"newest_received_at\":\"2023-11-14T22:13:20.000006Z\"");
  ck_assert_output_has("{\"client_id\":\"dev-a\",\"events\":4,\"records\":4}");
  ck_assert_output_has("{\"client_id\":\"dev-b\",\"events\":3,\"records\":3}");
  ck_assert_output_has("\"recovery\":{\"records\":7,\"torn_tail_bytes\":0,\"unused_tail_bytes\":0,"
                       "\"damaged_regions\":0,");
  ck_assert_int_eq(runf("spool inspect %s", spool), 0);
  ck_assert_output_has("waiting: 7 events in 7 records");
  ck_assert_output_has("  dev-a: 4 events in 4 records");
}
END_TEST

START_TEST(inspect_reports_a_torn_tail_and_damage) {
  make_spool(5);
  char seg[256];
  snprintf(seg, sizeof seg, "%s/wal-00000000000000000000.seg", spool);
  FILE *f = fopen(seg, "r+b");
  ck_assert_ptr_nonnull(f);
  fseek(f, 0, SEEK_END);
  long size = ftell(f), rec = size / 5;
  /* a flipped byte in the second record, and half a record at the end */
  fseek(f, rec + rec / 2, SEEK_SET);
  int c = fgetc(f);
  fseek(f, rec + rec / 2, SEEK_SET);
  fputc(c ^ 0x20, f);
  fseek(f, 0, SEEK_END);
  char junk[40];
  memset(junk, 0, sizeof junk);
  memcpy(junk, "EVWR\x02", 5);
  junk[8] = 100; /* a header promising more than is there */
  fwrite(junk, 1, sizeof junk, f);
  fclose(f);
  /* damage: exit 1, the answer is "not all there" */
  ck_assert_int_eq(runf("spool inspect %s --json", spool), 1);
  ck_assert_output_has("\"waiting\":{\"records\":4,\"events\":4,");
  ck_assert_output_has("\"torn_tail_bytes\":40,\"unused_tail_bytes\":0,\"damaged_regions\":1,");
  ck_assert_output_has("\"note\":\"copied\"");
  ck_assert_output_has("/quarantine/wal-");
  ck_assert_int_eq(runf("spool inspect %s", spool), 1);
  ck_assert_output_has("1 damaged regions skipped");
  ck_assert_output_has("already copied");
}
END_TEST

/* The SDK preallocates its active segment: a zero-filled tail after the
 * last record is unused space, and every record before it is read. */
START_TEST(a_zero_filled_segment_tail_hides_no_record) {
  make_spool(6);
  char seg[256];
  snprintf(seg, sizeof seg, "%s/wal-00000000000000000000.seg", spool);
  FILE *f = fopen(seg, "ab");
  ck_assert_ptr_nonnull(f);
  static const char zeros[65536];
  ck_assert_uint_eq(fwrite(zeros, 1, sizeof zeros, f), sizeof zeros);
  fclose(f);
  ck_assert_int_eq(runf("spool inspect %s --json", spool), 0);
  ck_assert_output_has("\"waiting\":{\"records\":6,\"events\":6,");
  ck_assert_output_has("\"damaged_regions\":0,");
  ck_assert_int_eq(runf("spool import %s --data %s", spool, data), 0);
  ck_assert_output_has("imported: 6 events appended");
}
END_TEST

START_TEST(import_keeps_events_and_client_ids_with_the_import_time) {
  make_spool(1200); /* more than one group per client run: groups of one record each here */
  int64_t t0 = evp__wall_us();
  ck_assert_int_eq(runf("spool import %s --data %s", spool, data), 0);
  int64_t t1 = evp__wall_us();
  ck_assert_output_has("imported: 1200 events appended to");
  char q[256];
  snprintf(q, sizeof q, "%s/queue", data);
  logdump_t *d = malloc(sizeof *d);
  dump_log(q, d);
  ck_assert_int_eq(d->events, 1200);
  ck_assert_int_eq(d->a + d->b, 1200); /* no other client id */
  ck_assert_int_eq(d->a, 600);
  ck_assert_int_eq(d->b, 600);
  /* received_at is the import's clock, not the device's */
  ck_assert(d->min_at >= t0 && d->max_at <= t1);
  /* byte for byte, in spool order */
  char ev[512], *p = d->text;
  for (int i = 0; i < 1200; i++) {
    int n = event(ev, sizeof ev, i % 2 ? "dev-b" : "dev-a", i);
    ck_assert_msg(strncmp(p, ev, (size_t)n) == 0 && p[n] == '\n', "event %d", i);
    p += n + 1;
  }
  free(d);
  /* the spool is unchanged: everything still waits there */
  ck_assert_int_eq(runf("spool inspect %s --json", spool), 0);
  ck_assert_output_has("\"waiting\":{\"records\":1200,\"events\":1200,");
}
END_TEST

START_TEST(import_groups_consecutive_records_of_one_client) {
  evp__wal_t *w = open_log(spool);
  char ev[512];
  for (int i = 0; i < 1100; i++) {
    event(ev, sizeof ev, "dev-a", i);
    append_one(w, "dev-a", DEVICE_TIME_US, ev);
  }
  evp__wal_close(w);
  char q[256];
  ck_assert_int_eq(runf("spool import %s --data %s", spool, data), 0);
  snprintf(q, sizeof q, "%s/queue", data);
  logdump_t *d = malloc(sizeof *d);
  dump_log(q, d);
  ck_assert_int_eq(d->events, 1100);
  ck_assert_int_eq(d->records, 3); /* 500 + 500 + 100: one POST /events each */
  free(d);
}
END_TEST

START_TEST(import_reports_refused_events_and_keeps_the_others) {
  evp__wal_t *w = open_log(spool);
  char ev[512];
  event(ev, sizeof ev, "dev-a", 1);
  append_one(w, "dev-a", DEVICE_TIME_US, ev);
  /* the schema refuses: event_type missing */
  append_one(w, "dev-a", DEVICE_TIME_US,
             "{\"event_id\":\"0190a1b2-c3d4-7000-8000-000000000002\",\"app_id\":\"x\","
             "\"event_time\":\"2023-11-14T22:13:20Z\"}");
  /* not one JSON value: it would close the array and add a member */
  append_one(w, "dev-a", DEVICE_TIME_US, "{}],\"x\":[{}");
  event(ev, sizeof ev, "dev-a", 4);
  append_one(w, "dev-a", DEVICE_TIME_US, ev);
  evp__wal_close(w);
  char q[256];
  ck_assert_int_eq(runf("spool import %s --data %s --trim", spool, data), 1);
  ck_assert_output_has("imported: 2 events appended");
  ck_assert_output_has("refused: 2 events");
  ck_assert_output_has("event_id 0190a1b2-c3d4-7000-8000-000000000002: ");
  ck_assert_output_has("(required)");
  ck_assert_output_has(
      "spool record at offset 312, event_id (none): the event is not a JSON object: ");
  ck_assert_output_has("not trimmed");
  snprintf(q, sizeof q, "%s/queue", data);
  logdump_t *d = malloc(sizeof *d);
  dump_log(q, d);
  ck_assert_int_eq(d->events, 2);
  ck_assert_ptr_nonnull(strstr(d->text, "000000000001\""));
  ck_assert_ptr_nonnull(strstr(d->text, "000000000004\""));
  free(d);
  /* a dry run reports the same and appends nothing */
  char data2[256];
  snprintf(data2, sizeof data2, "%s/data2", dir);
  ck_assert_int_eq(runf("spool import %s --data %s --dry-run", spool, data2), 1);
  ck_assert_output_has("dry run: 2 events would be imported, 2 refused");
  ck_assert_int_ne(access(data2, F_OK), 0);
}
END_TEST

START_TEST(an_event_too_large_for_a_request_is_refused_like_the_server_does) {
  evp__wal_t *w = open_log(spool);
  char ev[512];
  event(ev, sizeof ev, "dev-a", 1);
  append_one(w, "dev-a", DEVICE_TIME_US, ev);
  size_t big = 1536 * 1024;
  char *e = malloc(big + 256);
  ck_assert_ptr_nonnull(e);
  int n = snprintf(
      e, 256,
      "{\"event_id\":\"0190a1b2-c3d4-7000-8000-000000000002\",\"event_type\":\"a.b\","
      "\"event_time\":\"2023-11-14T22:13:20Z\",\"app_id\":\"x\",\"properties\":{\"blob\":\"");
  memset(e + n, 'x', big);
  memcpy(e + n + big, "\"}}", 4);
  append_one(w, "dev-a", DEVICE_TIME_US, e);
  free(e);
  event(ev, sizeof ev, "dev-a", 3);
  append_one(w, "dev-a", DEVICE_TIME_US, ev);
  evp__wal_close(w);
  ck_assert_int_eq(runf("spool import %s --data %s", spool, data), 1);
  ck_assert_output_has("imported: 2 events appended");
  ck_assert_output_has("refused: 1 events");
  ck_assert_output_has("POST /events refuses a request holding this event alone (413 too_large)");
}
END_TEST

/* Events in the log at @p data (all records after its checkpoint). */
static int log_events(const char *data_dir) {
  char q[256];
  snprintf(q, sizeof q, "%s/queue", data_dir);
  logdump_t *d = malloc(sizeof *d);
  dump_log(q, d);
  int n = d->events;
  free(d);
  return n;
}

START_TEST(a_second_import_skips_the_records_the_ledger_holds) {
  make_spool(10);
  ck_assert_int_eq(runf("spool import %s --data %s", spool, data), 0);
  ck_assert_output_has("imported: 10 events appended");
  ck_assert_int_eq(runf("spool import %s --data %s", spool, data), 0);
  ck_assert_output_has("already imported: 10 events in 10 records, skipped");
  ck_assert_output_has("imported: 0 events appended");
  ck_assert_int_eq(log_events(data), 10);
  /* a later copy of the same spool, with more records: only those go in */
  evp__wal_t *w = open_log(spool);
  char ev[512];
  for (int i = 10; i < 15; i++) {
    event(ev, sizeof ev, "dev-a", i);
    append_one(w, "dev-a", DEVICE_TIME_US + i, ev);
  }
  evp__wal_close(w);
  ck_assert_int_eq(runf("spool import %s --data %s --dry-run", spool, data), 0);
  ck_assert_output_has("dry run: 5 events would be imported, 0 refused");
  ck_assert_int_eq(runf("spool import %s --data %s", spool, data), 0);
  ck_assert_output_has("already imported: 10 events in 10 records");
  ck_assert_output_has("imported: 5 events appended");
  ck_assert_int_eq(log_events(data), 15);
  /* --reimport: everything again (the batcher's dedup is left to drop it) */
  ck_assert_int_eq(runf("spool import %s --data %s --reimport", spool, data), 0);
  ck_assert_output_has("imported: 15 events appended");
  ck_assert_int_eq(log_events(data), 30);
  /* the same event bytes from a record of another client are another record */
  char spool2[256];
  snprintf(spool2, sizeof spool2, "%s/spool2", dir);
  w = open_log(spool2);
  event(ev, sizeof ev, "dev-a", 0);
  append_one(w, "dev-b", DEVICE_TIME_US, ev);
  evp__wal_close(w);
  ck_assert_int_eq(runf("spool import %s --data %s", spool2, data), 0);
  ck_assert_output_has("imported: 1 events appended");
}
END_TEST

START_TEST(the_ledger_keeps_no_record_with_a_refused_event) {
  evp__wal_t *w = open_log(spool);
  char ev[512];
  event(ev, sizeof ev, "dev-a", 1);
  append_one(w, "dev-a", DEVICE_TIME_US, ev);
  append_one(w, "dev-a", DEVICE_TIME_US, "{\"event_id\":\"x\"}");
  evp__wal_close(w);
  char path[256];
  ck_assert_int_eq(runf("spool import %s --data %s", spool, data), 1);
  ck_assert_output_has("refused: 1 events");
  ck_assert_int_eq(runf("spool import %s --data %s", spool, data), 1);
  ck_assert_output_has("already imported: 1 events in 1 records");
  ck_assert_output_has("refused: 1 events"); /* reported again, not hidden */
  /* a torn last entry (a crash mid-append) is cut; the entries before stay */
  snprintf(path, sizeof path, "%s/imports/records.ledger", data);
  struct stat st;
  ck_assert_int_eq(stat(path, &st), 0);
  ck_assert_int_eq(st.st_mode & 0777, 0600);
  ck_assert_int_eq(st.st_size, 48 + 16);
  FILE *f = fopen(path, "ab");
  fwrite("torn!", 1, 5, f);
  fclose(f);
  ck_assert_int_eq(runf("spool import %s --data %s", spool, data), 1);
  ck_assert_output_has("already imported: 1 events in 1 records");
  ck_assert_int_eq(stat(path, &st), 0);
  ck_assert_int_eq(st.st_size, 48 + 16);
  /* a file that is no ledger is not guessed at */
  f = fopen(path, "wb");
  fputs("something else entirely, and long enough to hold a header", f);
  fclose(f);
  ck_assert_int_eq(runf("spool import %s --data %s", spool, data), 2);
  ck_assert_output_has("is not an import ledger");
}
END_TEST

START_TEST(import_trim_marks_the_spool_delivered) {
  make_spool(10);
  ck_assert_int_eq(runf("spool import %s --data %s --trim", spool, data), 0);
  ck_assert_output_has("trimmed: the spool's checkpoint is now");
  ck_assert_int_eq(runf("spool inspect %s --json", spool), 0);
  ck_assert_output_has("\"waiting\":{\"records\":0,\"events\":0,");
  /* the records are still on disk (delivered, not deleted) */
  ck_assert_output_has("\"recovery\":{\"records\":10,");
}
END_TEST

/* The lock of a running client (here: a log handle in another process). */
static pid_t hold(const char *path, int *to_child) {
  int p[2], q[2];
  ck_assert_int_eq(pipe(p), 0);
  ck_assert_int_eq(pipe(q), 0);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    close(p[1]);
    close(q[0]);
    evp__wal_t *w = NULL;
    char err[256];
    if (evp__wal_open(path, NULL, &w, err, sizeof err) != EVP_OK) _exit(3);
    if (write(q[1], "h", 1) != 1) _exit(4);
    char c;
    while (read(p[0], &c, 1) > 0) {}
    evp__wal_close(w);
    _exit(0);
  }
  close(p[0]);
  close(q[1]);
  char c;
  ck_assert_int_eq(read(q[0], &c, 1), 1);
  close(q[0]);
  *to_child = p[1];
  return pid;
}

static void release_hold(pid_t pid, int fd) {
  close(fd);
  int st;
  ck_assert_int_eq(waitpid(pid, &st, 0), pid);
  ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

START_TEST(a_spool_in_use_is_refused_by_name) {
  make_spool(3);
  int fd;
  pid_t pid = hold(spool, &fd);
  char want[512];
  snprintf(want, sizeof want, "the spool %s is in use", spool);
  ck_assert_int_eq(runf("spool inspect %s", spool), 1);
  ck_assert_output_has(want);
  ck_assert_int_eq(runf("spool import %s --data %s", spool, data), 1);
  ck_assert_output_has(want);
  release_hold(pid, fd);
}
END_TEST

START_TEST(a_running_local_pipeline_is_refused_by_name) {
  make_spool(3);
  char q[256], want[512];
  snprintf(q, sizeof q, "%s/queue", data);
  ck_assert_int_eq(mkdir(data, 0700), 0);
  int fd;
  pid_t pid = hold(q, &fd);
  snprintf(want, sizeof want, "the durable log %s is in use: `evpipe local`", q);
  ck_assert_int_eq(runf("spool import %s --data %s", spool, data), 1);
  ck_assert_output_has(want);
  release_hold(pid, fd);
  /* nothing was imported; the spool still holds everything */
  ck_assert_int_eq(runf("spool inspect %s --json", spool), 0);
  ck_assert_output_has("\"waiting\":{\"records\":3,");
}
END_TEST

START_TEST(bad_arguments_name_the_thing) {
  ck_assert_int_eq(run("spool"), 2);
  ck_assert_output_has("missing the subcommand");
  ck_assert_int_eq(run("spool frobnicate"), 2);
  ck_assert_output_has("unknown subcommand 'frobnicate'");
  ck_assert_int_eq(run("spool inspect"), 2);
  ck_assert_output_has("missing the spool directory DIR");
  ck_assert_int_eq(run("spool import"), 2);
  ck_assert_output_has("missing the spool directory DIR");
  ck_assert_int_eq(run("spool inspect /nonexistent-spool-dir"), 2);
  ck_assert_output_has("/nonexistent-spool-dir: No such file or directory");
  /* a directory that is no spool is not turned into one */
  ck_assert_int_eq(runf("spool inspect %s", dir), 2);
  ck_assert_output_has("is not a spool directory");
  ck_assert_int_ne(access(data, F_OK), 0);
  make_spool(1);
  ck_assert_int_eq(runf("spool inspect %s --bogus", spool), 2);
  ck_assert_output_has("unexpected argument '--bogus'");
  ck_assert_int_eq(runf("spool import %s --data", spool), 2);
  ck_assert_output_has("option --data needs a value");
  ck_assert_int_eq(runf("spool import %s --dry-run --trim --data %s", spool, data), 2);
  ck_assert_output_has("--trim and --dry-run exclude each other");
  ck_assert_int_eq(runf("spool import %s --data %s --schema %s/none.json", spool, data, dir), 2);
  ck_assert_output_has("cannot read the schema");
}
END_TEST

/* The SDK's own spool: a paused client (it never sends) accepts events into
 * spool.dir and is closed with them undelivered; the spool then holds them
 * (preallocated segment and all) and import takes every one. */
START_TEST(a_spool_written_by_the_sdk_is_imported_whole) {
  evp_conf_t *c = evp_conf_new();
  const char *set[][2] = {{"endpoint", "http://127.0.0.1:9"},
                          {"client.id", "sdk-dev"},
                          {"client.secret", "not-used-0123456789"},
                          {"audience", "events"},
                          {"spool.dir", spool}};
  char e[256];
  for (size_t i = 0; i < sizeof set / sizeof set[0]; i++)
    ck_assert_msg(evp_conf_set(c, set[i][0], set[i][1], e, sizeof e) == EVP_OK, "%s", e);
  evp_client_t *cl = evp_client_new(c, e, sizeof e);
  ck_assert_msg(cl != NULL, "%s", e);
  ck_assert_int_eq(evp_client_pause(cl), 0);
  for (int i = 0; i < 200; i++) {
    char ev[256];
    int n = snprintf(ev, sizeof ev,
                     "{\"event_type\":\"sdk.tap\",\"event_time\":\"2026-12-04T10:00:00Z\","
                     "\"app_id\":\"app\",\"properties\":{\"i\":%d}}",
                     i);
    ck_assert_msg(evp_send(cl, ev, (size_t)n, e, sizeof e) == EVP_OK, "%s", e);
  }
  ck_assert_int_eq(evp_client_destroy(cl, 0), 200); /* left in the spool */
  int64_t t0 = evp__wall_us();
  ck_assert_int_eq(runf("spool inspect %s --json", spool), 0);
  ck_assert_output_has("\"waiting\":{\"records\":200,\"events\":200,");
  ck_assert_output_has("{\"client_id\":\"sdk-dev\",\"events\":200,\"records\":200}");
  ck_assert_output_has("\"damaged_regions\":0,");
  ck_assert_int_eq(runf("spool import %s --data %s", spool, data), 0);
  ck_assert_output_has("imported: 200 events appended");
  char q[256];
  snprintf(q, sizeof q, "%s/queue", data);
  logdump_t *d = malloc(sizeof *d);
  dump_log(q, d);
  ck_assert_int_eq(d->events, 200);
  ck_assert(d->min_at >= t0);
  /* each with the event_id the SDK filled in */
  int ids = 0;
  for (const char *p = d->text; (p = strstr(p, "\"event_id\":\"")); p++) ids++;
  ck_assert_int_eq(ids, 200);
  free(d);
}
END_TEST

/* ------------------------------------------------------------ helper modes */

static int make_mode(const char *path, const char *client) {
  evp__wal_t *w = NULL;
  evp__wal_opts_t o;
  memset(&o, 0, sizeof o);
  o.fsync = EVP__FSYNC_NEVER;
  char err[256], *line = NULL;
  size_t cap = 0;
  if (evp__wal_open(path, &o, &w, err, sizeof err) != EVP_OK) {
    fprintf(stderr, "make: %s\n", err);
    return 1;
  }
  ssize_t n;
  int64_t at = DEVICE_TIME_US;
  while ((n = getline(&line, &cap, stdin)) > 0) {
    size_t len = (size_t)n;
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
    if (!len) continue;
    const char *ev = line;
    if (evp__wal_append(w, client, at++, &ev, &len, 1, err, sizeof err) != EVP_OK) {
      fprintf(stderr, "make: %s\n", err);
      return 1;
    }
  }
  free(line);
  evp__wal_close(w);
  return 0;
}

static int hold_mode(const char *path) {
  evp__wal_t *w = NULL;
  char err[256];
  if (evp__wal_open(path, NULL, &w, err, sizeof err) != EVP_OK) {
    fprintf(stderr, "hold: %s\n", err);
    return 1;
  }
  printf("held\n");
  fflush(stdout);
  while (getchar() != EOF) {}
  evp__wal_close(w);
  return 0;
}

static Suite *suite(void) {
  Suite *s = suite_create("cli_spool");
  TCase *t = tcase_create("spool");
  tcase_add_checked_fixture(t, setup, teardown);
  tcase_set_timeout(t, 120);
  tcase_add_test(t, inspect_counts_what_waits);
  tcase_add_test(t, inspect_reports_a_torn_tail_and_damage);
  tcase_add_test(t, a_zero_filled_segment_tail_hides_no_record);
  tcase_add_test(t, import_keeps_events_and_client_ids_with_the_import_time);
  tcase_add_test(t, import_groups_consecutive_records_of_one_client);
  tcase_add_test(t, import_reports_refused_events_and_keeps_the_others);
  tcase_add_test(t, an_event_too_large_for_a_request_is_refused_like_the_server_does);
  tcase_add_test(t, a_second_import_skips_the_records_the_ledger_holds);
  tcase_add_test(t, the_ledger_keeps_no_record_with_a_refused_event);
  tcase_add_test(t, import_trim_marks_the_spool_delivered);
  tcase_add_test(t, a_spool_written_by_the_sdk_is_imported_whole);
  tcase_add_test(t, a_spool_in_use_is_refused_by_name);
  tcase_add_test(t, a_running_local_pipeline_is_refused_by_name);
  tcase_add_test(t, bad_arguments_name_the_thing);
  suite_add_tcase(s, t);
  return s;
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "--make") == 0) return make_mode(argv[2], argv[3]);
  if (argc == 3 && strcmp(argv[1], "--hold") == 0) return hold_mode(argv[2]);
  SRunner *r = srunner_create(suite());
  srunner_run_all(r, CK_NORMAL);
  int failed = srunner_ntests_failed(r);
  srunner_free(r);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
