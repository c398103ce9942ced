/* The client spool under faults, from a review of spool.c and the wal's
 * mapped mode: an outage with drop_oldest, a disk with no block left, a
 * forked child, a service refusing every request, a failing last commit at
 * close, flush and destroy while paused. Each case states the behaviour
 * docs/spool.md promises; each failed on the code as first reviewed. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "spool_harness.h"
#include "suite_main.h"

static void setup(void) { test_tmpdir_make(spool_test_dir, sizeof spool_test_dir, "spoolfault"); }
static void teardown(void) { test_tmpdir_remove(spool_test_dir); }

/* The path of the spool's first segment file. */
static void first_segment(char *out, size_t n) {
  DIR *d = opendir(spool_dir());
  ck_assert_ptr_nonnull(d);
  struct dirent *de;
  out[0] = 0;
  while ((de = readdir(d)))
    if (!strncmp(de->d_name, "wal-", 4) && strstr(de->d_name, ".seg")) {
      snprintf(out, n, "%s/%s", spool_dir(), de->d_name);
      break;
    }
  closedir(d);
  ck_assert_msg(out[0], "no segment in %s", spool_dir());
}

/* Flip one byte of the event with id @p id in the segment file (through the
 * file, as a bad sector or a stray write would). */
static void damage_event(const char *id) {
  char seg[600];
  first_segment(seg, sizeof seg);
  int fd = open(seg, O_RDWR);
  ck_assert_int_ge(fd, 0);
  struct stat st;
  ck_assert_int_eq(fstat(fd, &st), 0);
  char *b = malloc((size_t)st.st_size);
  ck_assert_int_eq(pread(fd, b, (size_t)st.st_size, 0), st.st_size);
  char pat[64];
  int pl = snprintf(pat, sizeof pat, "\"%s\"", id);
  char *p = memmem(b, (size_t)st.st_size, pat, (size_t)pl);
  ck_assert_ptr_nonnull(p);
  char x = (char)(p[1] ^ 0x20); /* "ev-20" -> "Ev-20" */
  ck_assert_int_eq(pwrite(fd, &x, 1, (off_t)(p + 1 - b)), 1);
  close(fd);
  free(b);
}

START_TEST(damaged_record_read_back_stops_only_itself) {
  ms_t *s = ms_start();
  rec_t *r = rec_new();
  char e[512];
  evp_client_t *c = try_client(s, r, e, sizeof e, "queue.max.events", "8", NULL);
  ck_assert_msg(c != NULL, "%s", e);
  ck_assert_int_eq(evp_client_pause(c), 0);
  send_range(c, 0, 40); /* 8 in memory, 32 on disk only */
  damage_event("ev-20");
  ck_assert_int_eq(evp_client_resume(c), 0);
  evp_flush(c, 5000);
  /* Events after the damaged one, and new ones, are still delivered. */
  send_range(c, 40, 60);
  long left = evp_flush(c, 5000);
  for (long k = 0; k < 60; k++)
    if (k != 20)
      ck_assert_msg(r->status[k] == EVP_DELIVERY_OK && r->reports[k] == 1,
                    "event %ld not delivered (%d report(s)); evp_flush left %ld", k, r->reports[k],
                    left);
  ck_assert_int_eq(r->reports[20], 0);
  ck_assert_int_eq(stat_num(c, "\"damaged_regions\":"), 1);
  evp_client_destroy(c, 0);
  ms_stop(s);
  rec_free(r);
}
END_TEST

/* docs/spool.md, Bounds: with spool.full.policy=drop_oldest "the sender
 * thread drops the oldest waiting events ... The spool may run over by an
 * eighth while the sender drops; beyond that evp_send refuses too". With the
 * service failing (every /events answers 503; the token service is up) the
 * in-memory events sit in c->retry, which evp__spool_drop never touches;
 * memory is full, so the disk-only events are not readable either:
 * drop_wanted is cleared and evp_send refuses (EVP_ERR_QUEUE_FULL) for as
 * long as the outage lasts, exactly like policy=refuse. */
START_TEST(drop_oldest_keeps_accepting_while_the_server_is_down) {
  ms_t *s = ms_start();
  ms_set_fail_share(s, MS_503, 0, 1, 1); /* the token service is up, /events answers 503 */
  rec_t *r = rec_new();
  char e[512];
  evp_client_t *c = try_client(s, r, e, sizeof e, "spool.max.bytes", "1048576", "spool.full.policy",
                               "drop_oldest", "queue.max.events", "100", NULL);
  ck_assert_msg(c != NULL, "%s", e);
  long refused = 0, n = 12000;
  /* What memory holds has been tried and waits for its retry. */
  send_range(c, 0, 100);
  usleep(500000);
  for (long k = 100; k < n; k++) {
    evp_err_t err;
    /* The same patience as full_spool_drops_the_oldest: up to 2 s per event. */
    for (int i = 0; (err = send_ev(c, k)) == EVP_ERR_QUEUE_FULL && i < 2000; i++) usleep(1000);
    if (err != EVP_OK) {
      refused = k;
      break;
    }
  }
  ck_assert_msg(refused == 0, "event %ld refused for 2 s with spool.full.policy=drop_oldest",
                refused);
  ck_assert_int_gt(stat_num(c, "\"dropped\":"), 0);
  evp_client_destroy(c, 0);
  ms_stop(s);
  rec_free(r);
}
END_TEST

/* docs/spool.md, Disk full: "Once delivered events free their files, the
 * spool takes events again." The files are only freed after the checkpoint
 * is written, and evp__wal_ckpt_write creates checkpoint.tmp and writes it:
 * on a file system with no free block left (filled by something else, the
 * usual way a device's disk is full) that fails with ENOSPC, the segments
 * stay, and evp_send refuses with EVP_ERR_IO forever although every event
 * was delivered. (Root only: mounts a small tmpfs.) */
START_TEST(full_disk_frees_once_delivered) {
  ck_assert_int_eq(mkdir(spool_dir(), 0700), 0);
  if (mount("evp-spool-review", spool_dir(), "tmpfs", 0, "size=2560k,mode=0700") != 0) {
    fprintf(stderr, "SKIPPED full_disk_frees_once_delivered: cannot mount a tmpfs (%s)\n",
            strerror(errno));
    return;
  }
  ms_t *s = ms_start();
  ms_set_down(s, 1);
  char e[512];
  evp_client_t *c = try_client(s, NULL, e, sizeof e, "spool.max.bytes", "8388608", NULL);
  ck_assert_msg(c != NULL, "%s", e);
  long ok = 0;
  while (send_ev(c, ok) == EVP_OK) ok++;
  ck_assert_int_gt(ok, 1000);
  /* Something else takes the rest of the disk. */
  char filler[400];
  snprintf(filler, sizeof filler, "%s/filler", spool_dir());
  int fd = open(filler, O_WRONLY | O_CREAT, 0600);
  ck_assert_int_ge(fd, 0);
  static char block[4096];
  while (write(fd, block, sizeof block) > 0) {}
  close(fd);
  ms_set_down(s, 0);
  long left = evp_flush(c, 20000);
  double t0 = mono_s();
  evp_err_t last;
  while ((last = send_ev(c, ok)) != EVP_OK && mono_s() - t0 < 5) usleep(10000);
  /* Detached before anything can fail or crash (the client works on its
   * open directory), so no mount is left behind. */
  ck_assert_int_eq(umount2(spool_dir(), MNT_DETACH), 0);
  evp_client_destroy(c, 5000);
  ms_stop(s);
  ck_assert_int_eq(left, 0);
  ck_assert_msg(last == EVP_OK, "%ld events delivered, yet the spool still refuses (%d)", ok,
                (int)last);
}
END_TEST

/* docs/spool.md, Robustness: a second client is refused while the first
 * one holds the spool; "Free again once the first is closed". The lock is
 * a flock on DIR/LOCK, which a fork()ed child inherits with the open file
 * description: while any child forked after evp_client_new lives (a worker
 * of a prefork server, multiprocessing's fork start method), no client can
 * open the spool again, even after the owner destroyed its client or was
 * killed. */
START_TEST(forked_child_does_not_keep_the_spool_locked) {
  ms_t *s = ms_start();
  char e[512];
  evp_client_t *c = try_client(s, NULL, e, sizeof e, NULL);
  ck_assert_msg(c != NULL, "%s", e);
  int p[2];
  ck_assert_int_eq(pipe(p), 0);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    /* A child that never uses the client (async-signal-safe calls only);
     * fork() has returned here, so its fork handlers have run. */
    if (write(p[1], "x", 1) != 1) _exit(1);
    sleep(30);
    _exit(0);
  }
  char x;
  ck_assert_int_eq(read(p[0], &x, 1), 1);
  close(p[0]);
  close(p[1]);
  ck_assert_int_eq(evp_client_destroy(c, 1000), 0);
  c = try_client(s, NULL, e, sizeof e, NULL);
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  ck_assert_msg(c != NULL, "reopening after destroy, with a forked child alive: %s", e);
  evp_client_destroy(c, 1000);
  ms_stop(s);
}
END_TEST

/* Issue 14: events "survive crashes, restarts and days without a network".
 * evp__spool_settle() trims a record for every final outcome, including a
 * permanent failure of the whole service (401 with a fresh token, 403,
 * 404/405, any other 4xx/3xx for the batch). fail_permanently() fails
 * everything pending and, for retry.backoff.max.ms, every new event at once,
 * and the sender keeps reading the spool back into that window: one
 * credential or endpoint problem on the server side (a rotated secret, a
 * proxy answering 404 for a while) empties a device's whole spool, days
 * of events that a later, fixed configuration could have delivered. */
START_TEST(service_refusing_everyone_does_not_empty_the_spool) {
  ms_t *s = ms_start();
  rec_t *r = rec_new();
  char e[512];
  evp_client_t *c = try_client(s, r, e, sizeof e, "queue.max.events", "100", NULL);
  ck_assert_msg(c != NULL, "%s", e);
  ck_assert_int_eq(evp_client_pause(c), 0);
  long n = 2000;
  send_range(c, 0, n);     /* offline for a while: 100 in memory, the rest on disk */
  ms_set_always_401(s, 1); /* back online, the service refuses the credentials */
  ck_assert_int_eq(evp_client_resume(c), 0);
  usleep(3000000);
  pthread_mutex_lock(&r->mu);
  long failed = r->failed;
  pthread_mutex_unlock(&r->mu);
  evp_client_destroy(c, 0);
  /* The service is fixed; the next run delivers what is left. */
  ms_set_always_401(s, 0);
  c = try_client(s, NULL, e, sizeof e, NULL);
  ck_assert_msg(c != NULL, "%s", e);
  evp_flush(c, 10000);
  evp_client_destroy(c, 1000);
  long delivered = ms_accepted_total(s);
  ms_stop(s);
  rec_free(r);
  ck_assert_msg(delivered >= n - 100,
                "%ld of %ld spooled events failed for one credential problem; %ld delivered once "
                "it was fixed",
                failed, n, delivered);
}
END_TEST

static void count_log(int level, const char *msg, void *op) {
  (void)level;
  if (strstr(msg, "cannot record delivered events")) (*(int *)op)++;
}

/* evp_client_destroy() destroys c->conf and then runs free_client(), whose
 * evp__spool_close() makes the final evp__spool_commit(): when that commit
 * fails (disk full, a poisoned log after an fsync error, an I/O error) its
 * error path logs through c->conf (spool_dir, and evp__client_log reads
 * conf->log_cb and calls it): a use after free at close. Shown under
 * ASan (build-asan); a checkpoint.tmp that is a directory makes every commit
 * fail without root. Fix: evp__spool_close(c) before evp_conf_destroy(). */
START_TEST(close_with_a_failing_commit_uses_nothing_freed) {
  ck_assert_int_eq(mkdir(spool_dir(), 0700), 0);
  char blocker[400];
  snprintf(blocker, sizeof blocker, "%s/checkpoint.tmp", spool_dir());
  ck_assert_int_eq(mkdir(blocker, 0700), 0);
  ms_t *s = ms_start();
  static int logged;
  logged = 0;
  evp_conf_t *cf = mk_conf(s, "spool.dir", spool_dir(), NULL);
  evp_conf_set_log_cb(cf, count_log);
  evp_conf_set_opaque(cf, &logged);
  char e[512];
  evp_client_t *c = evp_client_new(cf, e, sizeof e);
  ck_assert_msg(c != NULL, "%s", e);
  send_range(c, 0, 10);
  ck_assert_int_eq(evp_flush(c, 10000), 0);
  ck_assert_int_eq(evp_client_destroy(c, 1000), 0);
  ck_assert_int_gt(logged, 0); /* the commits failed */
  ms_stop(s);
}
END_TEST

/* docs/spool.md, Pausing: "evp_flush and evp_client_destroy send even while
 * paused". Not covered by test_client_spool.c; passes (coverage for the
 * claim, with events on disk only as well as in memory). */
START_TEST(flush_and_destroy_send_while_paused) {
  ms_t *s = ms_start();
  rec_t *r = rec_new();
  char e[512];
  evp_client_t *c = try_client(s, r, e, sizeof e, "queue.max.events", "10", NULL);
  ck_assert_msg(c != NULL, "%s", e);
  ck_assert_int_eq(evp_client_pause(c), 0);
  send_range(c, 0, 50); /* 10 in memory, 40 on disk only */
  ck_assert_int_eq(evp_flush(c, 10000), 0);
  ck_assert_int_eq(ms_accepted_total(s), 50);
  send_range(c, 50, 100);
  usleep(100000);
  ck_assert_int_eq(ms_accepted_total(s), 50); /* still paused after the flush */
  ck_assert_int_eq(evp_client_destroy(c, 10000), 0);
  for (long k = 0; k < 100; k++) {
    char id[32];
    snprintf(id, sizeof id, "ev-%ld", k);
    ck_assert_msg(ms_count(s, id) == 1, "event %ld reached the server %d times", k,
                  ms_count(s, id));
  }
  ms_stop(s);
  rec_free(r);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("client_spool_faults");
  TCase *t = tcase_create("faults");
  tcase_add_checked_fixture(t, setup, teardown);
  tcase_set_timeout(t, 120);
  tcase_add_test(t, damaged_record_read_back_stops_only_itself);
  tcase_add_test(t, drop_oldest_keeps_accepting_while_the_server_is_down);
  tcase_add_test(t, full_disk_frees_once_delivered);
  tcase_add_test(t, forked_child_does_not_keep_the_spool_locked);
  tcase_add_test(t, service_refusing_everyone_does_not_empty_the_spool);
  tcase_add_test(t, close_with_a_failing_commit_uses_nothing_freed);
  tcase_add_test(t, flush_and_destroy_send_while_paused);
  suite_add_tcase(s, t);
  return s;
}

int main(void) { return test_run_suite(suite()); }
