/* The client's on-disk spool (spool.dir): events accepted by evp_send survive
 * the client (close with events undelivered, a process killed with SIGKILL),
 * a new client on the directory delivers them exactly once, memory stays
 * within the queue limits while the spool holds more, the size and age
 * bounds with both full policies, pause/resume, the lock against a second
 * client, permission checks, and a full disk. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>
#include "spool_harness.h"
#include "base/base.h"
#include "wal/wal.h"
#include "wal/wal_format.h"
#include "wal/wal_read.h"
#include "suite_main.h"

static void setup(void) { test_tmpdir_make(spool_test_dir, sizeof spool_test_dir, "spool"); }
static void teardown(void) { test_tmpdir_remove(spool_test_dir); }

START_TEST(delivers_and_trims) {
  ms_t *s = ms_start();
  rec_t *r = rec_new();
  evp_client_t *c = spool_client(s, r, NULL);
  send_range(c, 0, 2000);
  ck_assert_int_eq(evp_flush(c, 10000), 0);
  server_has_once(s, 0, 2000);
  ck_assert_int_eq(r->ok, 2000);
  ck_assert_int_eq(r->resumed, 0);
  ck_assert_int_eq(stat_num(c, "\"spool\":{\"bytes\":"), 0);
  /* The directory and its files are private. */
  struct stat st;
  ck_assert_int_eq(stat(spool_dir(), &st), 0);
  ck_assert_uint_eq(st.st_mode & 0777, 0700);
  char seg[400];
  snprintf(seg, sizeof seg, "%s/wal-%020d.seg", spool_dir(), 0);
  ck_assert_int_eq(stat(seg, &st), 0);
  ck_assert_uint_eq(st.st_mode & 0777, 0600);
  ck_assert_int_eq(evp_client_destroy(c, 1000), 0);
  ms_stop(s);
  rec_free(r);
}
END_TEST

START_TEST(offline_events_outlive_the_client) {
  ms_t *s = ms_start();
  ms_set_down(s, 1);
  rec_t *r = rec_new();
  evp_client_t *c = spool_client(s, r, "queue.max.events", "500", NULL);
  send_range(c, 0, 5000); /* ten times what memory may hold */
  ck_assert_int_le(stat_num(c, "\"queue\":{\"pending\":"), 500);
  ck_assert_int_eq(stat_num(c, "\"spool\":{\"bytes\":") > 0, 1);
  ck_assert_int_eq(evp_client_destroy(c, 0), 5000);
  ck_assert_int_eq(r->total, 0); /* left in the spool, not reported */
  ms_set_down(s, 0);
  rec_t *r2 = rec_new();
  c = spool_client(s, r2, "queue.max.events", "500", NULL);
  ck_assert_int_eq(stat_num(c, "\"recovered\":"), 5000);
  send_range(c, 5000, 5100); /* new ones go after the old ones */
  ck_assert_int_eq(evp_flush(c, 20000), 0);
  server_has_once(s, 0, 5100);
  ck_assert_int_eq(r2->ok, 5100);
  ck_assert_int_eq(r2->resumed, 5000);
  ck_assert_int_eq(r2->from_spool[0], 1);
  ck_assert_int_eq(r2->from_spool[5050], 0);
  ck_assert_int_eq(evp_client_destroy(c, 1000), 0);
  /* Nothing is delivered twice by a third client. */
  c = spool_client(s, NULL, NULL);
  ck_assert_int_eq(stat_num(c, "\"recovered\":"), 0);
  ck_assert_int_eq(evp_client_destroy(c, 1000), 0);
  ms_stop(s);
  rec_free(r);
  rec_free(r2);
}
END_TEST

START_TEST(killed_process_loses_nothing_accepted) {
  /* Forked before any thread of this process starts (a lock held by another
   * thread at fork time, the allocator's under ASan, would never be
   * released in the child); the child has no server to reach. */
  int p[2];
  ck_assert_int_eq(pipe(p), 0);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    close(p[0]);
    evp_conf_t *cf = evp_conf_new();
    char e[256];
    const char *kv[][2] = {{"endpoint", "http://127.0.0.1:9"},
                           {"client.id", "test-client"},
                           {"client.secret", "s"},
                           {"spool.dir", spool_dir()},
                           {"queue.max.events", "300"}};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
      if (evp_conf_set(cf, kv[i][0], kv[i][1], e, sizeof e) != EVP_OK) _exit(2);
    evp_client_t *c = evp_client_new(cf, e, sizeof e);
    if (!c) _exit(2);
    for (long k = 0;; k++) {
      if (send_ev(c, k) != EVP_OK) _exit(3);
      if (write(p[1], &k, sizeof k) != sizeof k) _exit(4);
    }
  }
  close(p[1]);
  long k = -1, got;
  double t0 = mono_s();
  while (mono_s() - t0 < 0.3 && read(p[0], &got, sizeof got) == sizeof got) k = got;
  kill(pid, SIGKILL);
  while (read(p[0], &got, sizeof got) == sizeof got) k = got;
  close(p[0]);
  int st;
  waitpid(pid, &st, 0);
  ck_assert(WIFSIGNALED(st));
  ck_assert_int_gt(k, 100);
  ms_t *s = ms_start();
  rec_t *r = rec_new();
  evp_client_t *c = spool_client(s, r, NULL);
  ck_assert_int_eq(evp_flush(c, 30000), 0);
  /* Every event the child was told was accepted, exactly once; the one it
   * was sending when killed at most once. */
  server_has_once(s, 0, k + 1);
  char id[32];
  snprintf(id, sizeof id, "ev-%ld", k + 1);
  ck_assert_int_le(ms_count(s, id), 1);
  ck_assert_int_ge(r->resumed, k + 1);
  ck_assert_int_eq(evp_client_destroy(c, 1000), 0);
  ms_stop(s);
  rec_free(r);
}
END_TEST

START_TEST(second_client_on_the_directory_is_refused) {
  ms_t *s = ms_start();
  evp_client_t *c = spool_client(s, NULL, NULL);
  char e[512];
  evp_conf_t *cf = mk_conf(s, "spool.dir", spool_dir(), NULL);
  evp_client_t *c2 = evp_client_new(cf, e, sizeof e);
  ck_assert_ptr_null(c2);
  ck_assert_msg(strstr(e, "in use") && strstr(e, spool_dir()), "%s", e);
  evp_conf_destroy(cf);
  ck_assert_int_eq(evp_client_destroy(c, 1000), 0);
  /* Free again once the first is closed. */
  c = spool_client(s, NULL, NULL);
  ck_assert_int_eq(evp_client_destroy(c, 1000), 0);
  ms_stop(s);
}
END_TEST

/* Two processes: the second is refused while the first holds the spool,
 * and gets it once the first has exited (forked before any thread starts). */
START_TEST(second_process_on_the_directory_is_refused) {
  int up[2], down[2];
  ck_assert_int_eq(pipe(up), 0);
  ck_assert_int_eq(pipe(down), 0);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    evp_conf_t *cf = evp_conf_new();
    char e[256];
    const char *kv[][2] = {{"endpoint", "http://127.0.0.1:9"},
                           {"client.id", "test-client"},
                           {"client.secret", "s"},
                           {"spool.dir", spool_dir()}};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
      if (evp_conf_set(cf, kv[i][0], kv[i][1], e, sizeof e) != EVP_OK) _exit(2);
    evp_client_t *c = evp_client_new(cf, e, sizeof e);
    char ok = c ? 'y' : 'n', go;
    if (write(up[1], &ok, 1) != 1 || read(down[0], &go, 1) != 1) _exit(3);
    /* Holds the spool until told, then dies without closing. By SIGKILL:
     * under valgrind a leak check at a normal exit would change the status. */
    raise(SIGKILL);
    _exit(4);
  }
  char ok;
  ck_assert_int_eq(read(up[0], &ok, 1), 1);
  ck_assert_int_eq(ok, 'y');
  ms_t *s = ms_start();
  char e[512];
  evp_conf_t *cf = mk_conf(s, "spool.dir", spool_dir(), NULL);
  ck_assert_ptr_null(evp_client_new(cf, e, sizeof e));
  ck_assert_msg(strstr(e, "in use") && strstr(e, spool_dir()), "%s", e);
  evp_conf_destroy(cf);
  ck_assert_int_eq(write(down[1], "x", 1), 1);
  int st;
  waitpid(pid, &st, 0);
  ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
  evp_client_t *c = spool_client(s, NULL, NULL); /* the lock went with the process */
  ck_assert_int_eq(evp_client_destroy(c, 1000), 0);
  ms_stop(s);
  close(up[0]), close(up[1]), close(down[0]), close(down[1]);
}
END_TEST

START_TEST(open_directory_is_refused) {
  ms_t *s = ms_start();
  ck_assert_int_eq(mkdir(spool_dir(), 0755), 0);
  ck_assert_int_eq(chmod(spool_dir(), 0755), 0);
  char e[512];
  evp_conf_t *cf = mk_conf(s, "spool.dir", spool_dir(), NULL);
  ck_assert_ptr_null(evp_client_new(cf, e, sizeof e));
  ck_assert_msg(strstr(e, "chmod 700") && strstr(e, spool_dir()), "%s", e);
  evp_conf_destroy(cf);
  /* A file where the directory should be. */
  ck_assert_int_eq(rmdir(spool_dir()), 0);
  FILE *f = fopen(spool_dir(), "w");
  fclose(f);
  cf = mk_conf(s, "spool.dir", spool_dir(), NULL);
  ck_assert_ptr_null(evp_client_new(cf, e, sizeof e));
  ck_assert_msg(strstr(e, spool_dir()) != NULL, "%s", e);
  evp_conf_destroy(cf);
  ms_stop(s);
}
END_TEST

START_TEST(full_spool_refuses) {
  ms_t *s = ms_start();
  ms_set_down(s, 1);
  evp_client_t *c = spool_client(s, NULL, "spool.max.bytes", "1048576", NULL);
  long ok = 0;
  evp_err_t e = EVP_OK;
  for (long k = 0; k < 20000 && (e = send_ev(c, k)) == EVP_OK; k++) ok++;
  ck_assert_int_eq(e, EVP_ERR_QUEUE_FULL);
  ck_assert_int_gt(ok, 1000);
  char err[256];
  ck_assert_int_eq(evp_send(c, "{\"a\":1}", 7, err, sizeof err), EVP_ERR_QUEUE_FULL);
  ck_assert_msg(strstr(err, "spool.max.bytes"), "%s", err);
  ck_assert_int_eq(evp_client_destroy(c, 0), ok);
  ms_set_down(s, 0);
  c = spool_client(s, NULL, "spool.max.bytes", "1048576", NULL);
  ck_assert_int_eq(evp_flush(c, 20000), 0);
  server_has_once(s, 0, ok);
  ck_assert_int_eq(evp_client_destroy(c, 1000), 0);
  ms_stop(s);
}
END_TEST

START_TEST(full_spool_drops_the_oldest) {
  ms_t *s = ms_start();
  rec_t *r = rec_new();
  evp_client_t *c =
      spool_client(s, r, "spool.max.bytes", "1048576", "spool.full.policy", "drop_oldest", NULL);
  ck_assert_int_eq(evp_client_pause(c), 0);
  long ok = 0, n = 12000;
  /* Past an eighth over the bound evp_send refuses until the sender thread
   * has dropped: it never has to wait long. */
  for (long k = 0; k < n; k++) {
    evp_err_t e;
    for (int i = 0; (e = send_ev(c, k)) == EVP_ERR_QUEUE_FULL && i < 2000; i++) usleep(1000);
    if (e == EVP_OK) ok++;
  }
  ck_assert_int_eq(ok, n);
  ck_assert_int_eq(evp_client_resume(c), 0);
  ck_assert_int_eq(evp_flush(c, 20000), 0);
  /* Each event reported once: the oldest dropped (failed, QUEUE_FULL), the
   * newest delivered; the last one certainly kept. */
  for (long k = 0; k < n; k++) ck_assert_int_eq(r->reports[k], 1);
  ck_assert_int_gt(r->failed, 1000);
  ck_assert_int_eq(r->ok + r->failed, n);
  ck_assert_int_eq(r->status[n - 1], EVP_DELIVERY_OK);
  ck_assert_int_eq(r->status[0], EVP_DELIVERY_FAILED);
  ck_assert_int_eq(r->err[0], EVP_ERR_QUEUE_FULL);
  ck_assert_int_eq(stat_num(c, "\"dropped\":"), r->failed);
  ck_assert_int_eq(evp_client_destroy(c, 1000), 0);
  ms_stop(s);
  rec_free(r);
}
END_TEST

START_TEST(pause_sends_nothing_until_resumed) {
  ms_t *s = ms_start();
  rec_t *r = rec_new();
  evp_client_t *c = spool_client(s, r, NULL);
  ck_assert_int_eq(evp_client_pause(c), 0);
  send_range(c, 0, 300);
  usleep(300000);
  ck_assert_int_eq(ms_events_requests(s), 0);
  ck_assert_int_le(ms_token_requests(s), 1); /* one may have started before the pause */
  ck_assert_int_eq(stat_num(c, "\"paused\":true") >= 0, 1);
  ck_assert_int_eq(evp_client_resume(c), 0);
  double t0 = mono_s();
  while (mono_s() - t0 < 10) {
    pthread_mutex_lock(&r->mu);
    long t = r->total;
    pthread_mutex_unlock(&r->mu);
    if (t == 300) break;
    usleep(5000);
  }
  ck_assert_int_eq(r->ok, 300);
  server_has_once(s, 0, 300);
  ck_assert_int_eq(evp_client_pause(NULL), -1);
  ck_assert_int_eq(evp_client_destroy(c, 1000), 0);
  ms_stop(s);
  rec_free(r);
}
END_TEST

START_TEST(old_events_expire) {
  ms_t *s = ms_start();
  ms_set_down(s, 1);
  rec_t *r = rec_new();
  evp_client_t *c = spool_client(s, r, "spool.max.age.ms", "1000", NULL);
  send_range(c, 0, 10);
  double t0 = mono_s();
  while (mono_s() - t0 < 10) {
    pthread_mutex_lock(&r->mu);
    long t = r->total;
    pthread_mutex_unlock(&r->mu);
    if (t == 10) break;
    usleep(10000);
  }
  ck_assert_int_eq(r->failed, 10);
  ck_assert_int_eq(r->err[0], EVP_ERR_TIMED_OUT);
  ck_assert_int_ge(mono_s() - t0, 0.9);
  ck_assert_int_eq(evp_client_destroy(c, 0), 0);
  ms_stop(s);
  rec_free(r);
}
END_TEST

START_TEST(opaque_comes_back_for_spilled_events) {
  ms_t *s = ms_start();
  rec_t *r = rec_new();
  evp_client_t *c = spool_client(s, r, "queue.max.events", "8", NULL);
  ck_assert_int_eq(evp_client_pause(c), 0);
  static int marks[64];
  char e[256];
  /* 8 in memory, 8 on disk only with their pointers kept in memory. */
  for (long k = 0; k < 16; k++) {
    char buf[64];
    int n = snprintf(buf, sizeof buf, "{\"event_id\":\"ev-%ld\"}", k);
    ck_assert_int_eq(evp_send_opaque(c, buf, (size_t)n, &marks[k], e, sizeof e), EVP_OK);
  }
  /* The pointers kept for spilled events are bounded by queue.max.events;
   * events without one still go to the spool. */
  ck_assert_int_eq(evp_send_opaque(c, "{\"event_id\":\"ev-16\"}", 20, &marks[16], e, sizeof e),
                   EVP_ERR_QUEUE_FULL);
  ck_assert_msg(strstr(e, "queue.max.events") != NULL, "%s", e);
  for (long k = 17; k < 40; k++) ck_assert_int_eq(send_ev(c, k), EVP_OK);
  ck_assert_int_eq(evp_client_resume(c), 0);
  ck_assert_int_eq(evp_flush(c, 10000), 0);
  for (long k = 0; k < 16; k++) ck_assert_ptr_eq(r->opaque[k], &marks[k]);
  for (long k = 17; k < 40; k++) ck_assert_ptr_null(r->opaque[k]);
  ck_assert_int_eq(r->reports[16], 0);
  ck_assert_int_eq(r->ok, 39);
  ck_assert_int_eq(evp_client_destroy(c, 1000), 0);
  ms_stop(s);
  rec_free(r);
}
END_TEST

/* A small file system the test mounts (root only): the spool runs out of
 * disk, evp_send says so, and nothing already accepted is lost. */
START_TEST(disk_full_is_an_error_and_loses_nothing) {
  ck_assert_int_eq(mkdir(spool_dir(), 0700), 0);
  if (mount("evp-spool-test", spool_dir(), "tmpfs", 0, "size=2560k,mode=0700") != 0) {
    fprintf(stderr, "SKIPPED disk_full_is_an_error_and_loses_nothing: cannot mount a tmpfs (%s)\n",
            strerror(errno));
    return;
  }
  ms_t *s = ms_start();
  ms_set_down(s, 1);
  /* Segments of 1 MiB: the third one does not fit. */
  evp_client_t *c = spool_client(s, NULL, "spool.max.bytes", "8388608", NULL);
  long ok = 0;
  evp_err_t e = EVP_OK;
  char err[512] = "";
  for (long k = 0; k < 100000; k++) {
    char buf[300];
    int n =
        snprintf(buf, sizeof buf, "{\"event_id\":\"ev-%ld\",\"type\":\"test\",\"n\":%ld}", k, k);
    if ((e = evp_send(c, buf, (size_t)n, err, sizeof err)) != EVP_OK) break;
    ok++;
  }
  ck_assert_int_eq(e, EVP_ERR_IO);
  ck_assert_msg(strstr(err, "no space") && strstr(err, spool_dir()), "%s", err);
  ck_assert_int_gt(ok, 1000);
  /* Still refused, not crashed, on the next try. */
  ck_assert_int_eq(send_ev(c, ok), EVP_ERR_IO);
  ms_set_down(s, 0);
  ck_assert_int_eq(evp_flush(c, 20000), 0);
  server_has_once(s, 0, ok);
  /* Delivered events free the disk: the spool takes events again once the
   * sender has recorded them as delivered. */
  double t0 = mono_s();
  while (send_ev(c, ok + 1) != EVP_OK && mono_s() - t0 < 5) usleep(10000);
  ck_assert_int_eq(stat_num(c, "\"enqueued\":"), ok + 1);
  ck_assert_int_eq(evp_client_destroy(c, 5000), 0);
  ms_stop(s);
  ck_assert_int_eq(umount(spool_dir()), 0);
}
END_TEST

START_TEST(spool_properties_are_checked) {
  evp_conf_t *c = evp_conf_new();
  char e[256];
  ck_assert_int_eq(evp_conf_set(c, "spool.sync", "sometimes", e, sizeof e), EVP_ERR_CONF_INVALID);
  ck_assert_int_eq(evp_conf_set(c, "spool.max.age.ms", "604800001", e, sizeof e),
                   EVP_ERR_CONF_INVALID);
  ck_assert_int_eq(evp_conf_set(c, "spool.max.bytes", "1000", e, sizeof e), EVP_ERR_CONF_INVALID);
  ck_assert_int_eq(evp_conf_set(c, "spool.full.policy", "drop_oldest", e, sizeof e), EVP_OK);
  ck_assert_int_eq(evp_conf_set(c, "spool.sync", "always", e, sizeof e), EVP_OK);
  evp_conf_destroy(c);
}
END_TEST

/* ---- recovery at every byte offset */

static unsigned char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  ck_assert_ptr_nonnull(f);
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc((size_t)len + 1);
  ck_assert_uint_eq(fread(b, 1, (size_t)len, f), (size_t)len);
  fclose(f);
  *n = (size_t)len;
  return b;
}

static void spit(const char *path, const unsigned char *b, size_t n) {
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(b, 1, n, f), n);
  fclose(f);
}

/* Open the spool as the client does and return the event numbers of the
 * records it holds (bitmask of ev-0..ev-31). */
static uint32_t spool_events(const char *d) {
  evp__wal_opts_t o = {0};
  o.fsync = EVP__FSYNC_NEVER;
  o.mapped = 1;
  o.segment_bytes = 65536;
  o.retain_bytes = 1;
  evp__wal_t *w;
  char e[512];
  ck_assert_msg(evp__wal_open(d, &o, &w, e, sizeof e) == EVP_OK, "%s", e);
  evp__wal_reader_t *r;
  ck_assert_int_eq(evp__wal_reader_open(w, evp__wal_checkpoint(w), &r, e, sizeof e), EVP_OK);
  uint32_t got = 0;
  for (;;) {
    evp__wal_record_t rec;
    int have = 0;
    ck_assert_msg(evp__wal_reader_next(r, &rec, &have, e, sizeof e) == EVP_OK, "%s", e);
    if (!have) break;
    size_t cur = 0, len;
    const char *ev;
    while (evp__wal_record_next_event(&rec, &cur, &ev, &len)) {
      const char *p = memmem(ev, len, "\"ev-", 4);
      ck_assert_ptr_nonnull(p);
      got |= 1u << atoi(p + 4);
    }
  }
  evp__wal_reader_close(r);
  evp__wal_close(w);
  return got;
}

/* A spool of 12 events is cut, and has each byte flipped, at every offset:
 * recovery keeps every record the damage did not touch, and a client
 * delivers them. */
START_TEST(recovery_keeps_every_intact_record_at_every_offset) {
  ms_t *s = ms_start();
  ms_set_down(s, 1);
  evp_client_t *c = spool_client(s, NULL, "spool.max.bytes", "1048576", NULL);
  send_range(c, 0, 12);
  ck_assert_int_eq(evp_client_destroy(c, 0), 12);
  char seg[400], bad[400];
  snprintf(seg, sizeof seg, "%s/wal-%020d.seg", spool_dir(), 0);
  size_t n;
  unsigned char *orig = slurp(seg, &n);
  /* Where each record starts: walk the headers. */
  size_t starts[13], k = 0;
  for (size_t pos = 0; pos < n && k < 12; k++) {
    starts[k] = pos;
    uint32_t len;
    ck_assert_int_eq(evp__wal_header_check(orig + pos, &len), 0);
    pos += EVP__WAL_HDR + len;
  }
  ck_assert_uint_eq(k, 12);
  starts[12] = n;
  unsigned char *b = malloc(n);
  for (size_t off = 0; off <= n; off++) {
    /* Truncated at off: the records wholly before it. */
    test_tmpdir_remove(spool_dir());
    ck_assert_int_eq(mkdir(spool_dir(), 0700), 0);
    spit(seg, orig, off);
    uint32_t want = 0;
    for (size_t i = 0; i < 12; i++)
      if (starts[i + 1] <= off) want |= 1u << i;
    ck_assert_msg(spool_events(spool_dir()) == want, "cut at %zu: %x, want %x", off,
                  spool_events(spool_dir()), want);
    if (off == n) break;
    /* The byte at off flipped: every record but the one holding it. */
    test_tmpdir_remove(spool_dir());
    ck_assert_int_eq(mkdir(spool_dir(), 0700), 0);
    memcpy(b, orig, n);
    b[off] ^= 0xA5;
    spit(seg, b, n);
    want = 0xFFF;
    for (size_t i = 0; i < 12; i++)
      if (starts[i] <= off && off < starts[i + 1]) want &= ~(1u << i);
    uint32_t got = spool_events(spool_dir());
    ck_assert_msg(got == want, "byte %zu flipped: %x, want %x", off, got, want);
  }
  /* And through a client: the middle record damaged, the rest delivered. */
  test_tmpdir_remove(spool_dir());
  ck_assert_int_eq(mkdir(spool_dir(), 0700), 0);
  memcpy(b, orig, n);
  b[starts[6] + EVP__WAL_HDR + 3] ^= 0xA5;
  spit(seg, b, n);
  snprintf(bad, sizeof bad, "%s/quarantine", spool_dir());
  ms_set_down(s, 0);
  rec_t *r = rec_new();
  c = spool_client(s, r, NULL);
  ck_assert_int_eq(stat_num(c, "\"damaged_regions\":"), 1);
  ck_assert_int_eq(evp_flush(c, 10000), 0);
  ck_assert_int_eq(r->ok, 11);
  ck_assert_int_eq(r->reports[6], 0);
  struct stat st;
  ck_assert_int_eq(stat(bad, &st), 0); /* a copy of the damaged bytes */
  ck_assert_int_eq(evp_client_destroy(c, 1000), 0);
  free(b);
  free(orig);
  ms_stop(s);
  rec_free(r);
}
END_TEST

/* A spool written by an earlier release (record version 1, zlib CRC-32) is
 * read and delivered by this one. */
START_TEST(spool_of_an_older_version_is_delivered) {
  ck_assert_int_eq(mkdir(spool_dir(), 0700), 0);
  char seg[400];
  snprintf(seg, sizeof seg, "%s/wal-%020d.seg", spool_dir(), 0);
  unsigned char file[4096];
  size_t n = 0;
  for (int k = 0; k < 3; k++) {
    char ev[64];
    size_t len = (size_t)snprintf(ev, sizeof ev, "{\"event_id\":\"ev-%d\",\"v\":1}", k);
    const char *evs[1] = {ev};
    size_t size = evp__wal_record_size(strlen("test-client"), &len, 1);
    unsigned char *rec = file + n;
    evp__wal_record_encode(rec, "test-client", 11, evp__wall_us() - INT64_C(3600000000), evs, &len,
                           1);
    rec[4] = EVP__WAL_VERSION_ZLIB_CRC; /* as version 1 wrote it */
    uLong crc = crc32(0L, rec + 4, 8);
    crc = crc32(crc, rec + EVP__WAL_HDR, (uInt)(size - EVP__WAL_HDR));
    for (int i = 0; i < 4; i++) rec[12 + i] = (unsigned char)(crc >> (8 * i));
    n += size;
  }
  spit(seg, file, n);
  ms_t *s = ms_start();
  rec_t *r = rec_new();
  evp_client_t *c = spool_client(s, r, NULL);
  ck_assert_int_eq(evp_flush(c, 10000), 0);
  ck_assert_int_eq(r->ok, 3);
  ck_assert_int_eq(r->from_spool[0], 1);
  server_has_once(s, 0, 3);
  ck_assert_int_eq(evp_client_destroy(c, 1000), 0);
  /* Events past spool.max.age.ms are reported timed out, not sent. */
  test_tmpdir_remove(spool_dir());
  ck_assert_int_eq(mkdir(spool_dir(), 0700), 0);
  spit(seg, file, n); /* the same records, an hour old */
  rec_t *r2 = rec_new();
  c = spool_client(s, r2, "spool.max.age.ms", "1000", NULL);
  ck_assert_int_eq(evp_flush(c, 10000), 0);
  ck_assert_int_eq(r2->failed, 3);
  ck_assert_int_eq(r2->err[0], EVP_ERR_TIMED_OUT);
  ck_assert_int_eq(ms_accepted_total(s), 3);
  rec_free(r2);
  ck_assert_int_eq(evp_client_destroy(c, 1000), 0);
  ms_stop(s);
  rec_free(r);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("client_spool");
  TCase *t = tcase_create("spool");
  tcase_add_checked_fixture(t, setup, teardown);
  tcase_set_timeout(t, 120);
  tcase_add_test(t, delivers_and_trims);
  tcase_add_test(t, offline_events_outlive_the_client);
  tcase_add_test(t, killed_process_loses_nothing_accepted);
  tcase_add_test(t, second_client_on_the_directory_is_refused);
  tcase_add_test(t, second_process_on_the_directory_is_refused);
  tcase_add_test(t, open_directory_is_refused);
  tcase_add_test(t, full_spool_refuses);
  tcase_add_test(t, full_spool_drops_the_oldest);
  tcase_add_test(t, pause_sends_nothing_until_resumed);
  tcase_add_test(t, old_events_expire);
  tcase_add_test(t, opaque_comes_back_for_spilled_events);
  tcase_add_test(t, disk_full_is_an_error_and_loses_nothing);
  tcase_add_test(t, spool_properties_are_checked);
  tcase_add_test(t, recovery_keeps_every_intact_record_at_every_offset);
  tcase_add_test(t, spool_of_an_older_version_is_delivered);
  suite_add_tcase(s, t);
  return s;
}

int main(void) { return test_run_suite(suite()); }
