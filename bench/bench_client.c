/* Client SDK benchmark.
 *   1. evp_send cost on the caller's thread with the sender running
 *      (full door path, and copy+enqueue without the syntax check);
 *   2. sustained delivery over loopback, batches of 500, to a libmicrohttpd
 *      server (loaded with dlopen: the bench build links no server library)
 *      and to a minimal keep-alive responder written here with plain sockets
 *      (an upper bound that measures the client alone);
 *   3. memory per queued 300-byte event.
 * Usage: bench_client [events]  (default 1000000).
 *
 * bench_client spool [events [DIR]]  (default 1000000, DIR a temp dir under
 * /tmp) measures the on-disk spool instead (spool.dir, docs/spool.md):
 *   a. evp_send from 2 threads, the client paused (nothing delivered, the
 *      sender idle), into memory only and into the spool with each
 *      spool.sync, in one run, so the ratios compare like with like;
 *   b. bytes on disk per spooled event;
 *   c. resume: a spool of about 1 GiB left by a closed client, then a new
 *      client (in a child process, for its own peak RSS) against the
 *      minimal responder: time to open, to the first delivery report and to
 *      the last. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <limits.h>
#include <malloc.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "client/client_int.h"
#include "evpipe/evpipe.h"

static atomic_long srv_events, srv_requests;
static int srv_fd;
static atomic_int srv_stop;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *conn_main(void *p) {
  int fd = (int)(intptr_t)p;
  size_t cap = 1 << 20, len = 0;
  char *buf = malloc(cap);
  for (;;) {
    char *hend;
    while (!(hend = memmem(buf, len, "\r\n\r\n", 4))) {
      if (len == cap) goto done;
      ssize_t r = read(fd, buf + len, cap - len);
      if (r <= 0) goto done;
      len += (size_t)r;
    }
    size_t hlen = (size_t)(hend - buf) + 4;
    char *cl = memmem(buf, hlen, "Content-Length:", 15);
    if (!cl) cl = memmem(buf, hlen, "content-length:", 15);
    size_t blen = cl ? strtoul(cl + 15, NULL, 10) : 0;
    if (hlen + blen > cap) {
      cap = (hlen + blen) * 2;
      buf = realloc(buf, cap);
    }
    while (len < hlen + blen) {
      ssize_t r = read(fd, buf + len, cap - len);
      if (r <= 0) goto done;
      len += (size_t)r;
    }
    char resp[256];
    const char *body;
    char bb[128];
    if (!strncmp(buf, "POST /token", 11)) {
      body = "{\"access_token\":\"bench-token\",\"token_type\":\"Bearer\",\"expires_in\":3600}";
    } else {
      long n = 0;
      const char *p2 = buf + hlen, *end = buf + hlen + blen;
      while ((p2 = memmem(p2, (size_t)(end - p2), "\"event_id\":\"", 12))) {
        n++;
        p2 += 12;
      }
      atomic_fetch_add(&srv_events, n);
      atomic_fetch_add(&srv_requests, 1);
      snprintf(bb, sizeof bb, "{\"accepted\":%ld,\"rejected\":[]}", n);
      body = bb;
    }
    int rl = snprintf(
        resp, sizeof resp,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
        strlen(body), body);
    if (write(fd, resp, (size_t)rl) != rl) goto done;
    memmove(buf, buf + hlen + blen, len - hlen - blen);
    len -= hlen + blen;
  }
done:
  free(buf);
  close(fd);
  return NULL;
}

static void *accept_main(void *p) {
  (void)p;
  while (!atomic_load(&srv_stop)) {
    int fd = accept(srv_fd, NULL, NULL);
    if (fd < 0) continue;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    pthread_t t;
    pthread_create(&t, NULL, conn_main, (void *)(intptr_t)fd);
    pthread_detach(t);
  }
  return NULL;
}

static int start_server(void) {
  srv_fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t al = sizeof a;
  if (bind(srv_fd, (struct sockaddr *)&a, sizeof a) || listen(srv_fd, 16) ||
      getsockname(srv_fd, (struct sockaddr *)&a, &al))
    return -1;
  pthread_t t;
  pthread_create(&t, NULL, accept_main, NULL);
  pthread_detach(t);
  return ntohs(a.sin_port);
}

/* ---- libmicrohttpd server, resolved at run time */
static struct {
  struct MHD_Daemon *(*start)(unsigned int, uint16_t, MHD_AcceptPolicyCallback, void *,
                              MHD_AccessHandlerCallback, void *, ...);
  void (*stop)(struct MHD_Daemon *);
  const union MHD_DaemonInfo *(*info)(struct MHD_Daemon *, enum MHD_DaemonInfoType, ...);
  struct MHD_Response *(*resp)(size_t, void *, enum MHD_ResponseMemoryMode);
  enum MHD_Result (*queue)(struct MHD_Connection *, unsigned int, struct MHD_Response *);
  void (*destroy)(struct MHD_Response *);
} mhd;

static int load_mhd(void) {
  void *h = dlopen("libmicrohttpd.so.12", RTLD_NOW);
  if (!h) return -1;
  const char *names[] = {"MHD_start_daemon",    "MHD_stop_daemon",
                         "MHD_get_daemon_info", "MHD_create_response_from_buffer",
                         "MHD_queue_response",  "MHD_destroy_response"};
  void *slots[] = {&mhd.start, &mhd.stop, &mhd.info, &mhd.resp, &mhd.queue, &mhd.destroy};
  for (size_t i = 0; i < 6; i++) {
    void *sym = dlsym(h, names[i]);
    if (!sym) return -1;
    memcpy(slots[i], &sym, sizeof sym); /* object to function pointer, POSIX-style */
  }
  return 0;
}

typedef struct {
  char *b;
  size_t n, cap;
} mbody;

static enum MHD_Result mhd_handler(void *cls, struct MHD_Connection *c, const char *url,
                                   const char *method, const char *ver, const char *up,
                                   size_t *upsz, void **cc) {
  (void)cls, (void)method, (void)ver;
  mbody *bd = *cc;
  if (!bd) {
    *cc = calloc(1, sizeof *bd);
    return *cc ? MHD_YES : MHD_NO;
  }
  if (*upsz) {
    if (bd->n + *upsz > bd->cap) {
      bd->cap = (bd->n + *upsz) * 2;
      bd->b = realloc(bd->b, bd->cap);
    }
    memcpy(bd->b + bd->n, up, *upsz);
    bd->n += *upsz;
    *upsz = 0;
    return MHD_YES;
  }
  char out[128];
  if (!strcmp(url, "/token")) {
    snprintf(out, sizeof out,
             "{\"access_token\":\"bench\",\"token_type\":\"Bearer\",\"expires_in\":3600}");
  } else {
    long n = 0;
    const char *p2 = bd->b, *end = bd->b + bd->n;
    while (p2 && (p2 = memmem(p2, (size_t)(end - p2), "\"event_id\":\"", 12))) {
      n++;
      p2 += 12;
    }
    atomic_fetch_add(&srv_events, n);
    atomic_fetch_add(&srv_requests, 1);
    snprintf(out, sizeof out, "{\"accepted\":%ld,\"rejected\":[]}", n);
  }
  struct MHD_Response *r = mhd.resp(strlen(out), out, MHD_RESPMEM_MUST_COPY);
  enum MHD_Result ret = mhd.queue(c, 200, r);
  mhd.destroy(r);
  return ret;
}

static void mhd_done(void *cls, struct MHD_Connection *c, void **cc,
                     enum MHD_RequestTerminationCode toe) {
  (void)cls, (void)c, (void)toe;
  mbody *bd = *cc;
  if (bd) {
    free(bd->b);
    free(bd);
  }
  *cc = NULL;
}

static struct MHD_Daemon *start_mhd(int *port) {
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  struct MHD_Daemon *d =
      mhd.start(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL,
                mhd_handler, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a,
                MHD_OPTION_NOTIFY_COMPLETED, mhd_done, NULL, MHD_OPTION_END);
  if (d) *port = mhd.info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
  return d;
}

static atomic_long dr_ok, dr_bad;
static void on_dr(evp_client_t *cl, const evp_delivery_t *report, void *op) {
  (void)cl, (void)op;
  atomic_fetch_add(evp_delivery_status(report) == EVP_DELIVERY_OK ? &dr_ok : &dr_bad, 1);
}

static evp_client_t *mk(const char *url, const char *linger) {
  evp_conf_t *c = evp_conf_new();
  char e[256];
  const char *kv[][2] = {{"endpoint", url},
                         {"client.id", "bench"},
                         {"client.secret", "bench-secret"},
                         {"queue.max.events", "3000000"},
                         {"queue.max.bytes", "2000000000"},
                         {"queue.block.timeout.ms", "1000"},
                         {"linger.ms", linger},
                         {"retry.backoff.ms", "50"},
                         {"message.timeout.ms", "600000"}};
  for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
    if (evp_conf_set(c, kv[i][0], kv[i][1], e, sizeof e)) {
      fprintf(stderr, "%s\n", e);
      exit(1);
    }
  evp_conf_set_delivery_cb(c, on_dr, NULL);
  evp_client_t *cl = evp_client_new(c, e, sizeof e);
  if (!cl) {
    fprintf(stderr, "%s\n", e);
    exit(1);
  }
  return cl;
}

/* A ~300-byte event without event_id/event_time (the client fills them). */
static int make_event(char *buf, size_t n, long k) {
  return snprintf(
      buf, n,
      "{\"type\":\"page_view\",\"user_id\":\"u-%08ld\",\"session\":\"s-%08ld\","
      "\"url\":\"https://shop.example.com/products/%ld?ref=campaign-2026-spring\","
      "\"referrer\":\"https://search.example.org/\",\"ua\":\"Mozilla/5.0 (X11; Linux x86_64)\","
      "\"amount\":%ld.25,\"currency\":\"EUR\",\"tags\":[\"spring\",\"mobile\",\"eu-west\"],"
      "\"ab\":\"variant-b\"}",
      k, k / 10, k % 9973, k % 1000 + 1000);
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void sustained(const char *url, const char *what, const char *ev, int evlen, long n) {
  atomic_store(&srv_events, 0);
  atomic_store(&srv_requests, 0);
  atomic_store(&dr_ok, 0);
  atomic_store(&dr_bad, 0);
  evp_client_t *c = mk(url, "5");
  evp_flush(c, 5000); /* token first */
  char e[128];
  double t0 = now_s();
  for (long k = 0; k < n; k++) {
    evp_err_t r;
    while ((r = evp_send(c, ev, (size_t)evlen, e, sizeof e)) == EVP_ERR_QUEUE_FULL)
      ;
    if (r != EVP_OK) exit(1);
  }
  long left = evp_flush(c, 120000);
  double dt = now_s() - t0;
  long got = atomic_load(&srv_events), reqs = atomic_load(&srv_requests);
  char *st = evp_client_stats(c);
  evp_client_destroy(c, 10000);
  printf("sustained delivery (%s): %ld events in %.3f s = %.0f events/s; %ld requests "
         "(avg batch %.0f); server received %ld, delivered reports %ld, failed %ld, pending %ld\n",
         what, n, dt, (double)n / dt, reqs, reqs ? (double)got / (double)reqs : 0.0, got,
         atomic_load(&dr_ok), atomic_load(&dr_bad), left);
  printf("  stats: %s\n", st);
  evp_free(st);
  if (got != n || atomic_load(&dr_ok) != n) printf("  LOSS OR DUPLICATION DETECTED\n");
}

/* ---- the spool (bench_client spool) */

typedef struct {
  evp_client_t *c;
  const char *ev;
  int evlen;
  long n;
  double *lat;
  long refused;
} send_arg;

static void *send_main(void *p) {
  send_arg *a = p;
  char e[256];
  for (long k = 0; k < a->n; k++) {
    double t = now_s();
    evp_err_t r = evp_send(a->c, a->ev, (size_t)a->evlen, e, sizeof e);
    a->lat[k] = now_s() - t;
    if (r != EVP_OK) {
      if (a->refused++ == 0) fprintf(stderr, "evp_send: %s\n", e);
    }
  }
  return NULL;
}

/* A client on @p url, paused (nothing is sent) unless "online" is among
 * the settings, with a spool in @p dir (NULL: memory only), extra settings
 * as name, value, ..., NULL. */
static evp_client_t *mk_paused(const char *url, const char *dir, ...) {
  int online = 0;
  evp_conf_t *c = evp_conf_new();
  char e[256];
  const char *kv[][2] = {{"endpoint", url},
                         {"client.id", "bench"},
                         {"client.secret", "bench"},
                         {"queue.max.events", "3000000"},
                         {"queue.max.bytes", "2000000000"},
                         {"spool.max.bytes", "4000000000"}};
  for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
    if (evp_conf_set(c, kv[i][0], kv[i][1], e, sizeof e)) goto bad;
  if (dir && evp_conf_set(c, "spool.dir", dir, e, sizeof e)) goto bad;
  va_list ap;
  va_start(ap, dir);
  const char *k;
  while ((k = va_arg(ap, const char *))) {
    const char *v = va_arg(ap, const char *);
    if (!strcmp(k, "online")) {
      online = 1;
      continue;
    }
    if (evp_conf_set(c, k, v, e, sizeof e)) {
      va_end(ap);
      goto bad;
    }
  }
  va_end(ap);
  evp_conf_set_delivery_cb(c, on_dr, NULL);
  evp_client_t *cl = evp_client_new(c, e, sizeof e);
  if (!cl) goto bad;
  if (!online) evp_client_pause(cl);
  return cl;
bad:
  fprintf(stderr, "%s\n", e);
  exit(1);
}

static void rm_rf(const char *dir) {
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
}

/* Bytes allocated on disk under @p dir (st_blocks), and its files' sizes. */
static void du(const char *dir, unsigned long long *alloc, unsigned long long *size) {
  char cmd[600];
  snprintf(cmd, sizeof cmd, "du -s -B1 '%s' | cut -f1; du -s -b '%s' | cut -f1", dir, dir);
  FILE *f = popen(cmd, "r");
  *alloc = *size = 0;
  if (f) {
    if (fscanf(f, "%llu %llu", alloc, size) != 2) *alloc = *size = 0;
    pclose(f);
  }
}

/* One case of (a): 2 threads send n events each half; @p online: the
 * sender delivers meanwhile (steady state: items are recycled), else the
 * client is paused with the default queue limits (offline: past 100,000
 * events, a spool keeps them on disk only; memory only would refuse, so it
 * is given room for all). Returns events/s. */
static double send_case(const char *label, const char *url, const char *dir, const char *sync,
                        int online, const char *ev, int evlen, long n, double *p99_out) {
  if (dir) rm_rf(dir);
  const char *qe = online || !dir ? "3000000" : "100000";
  const char *qb = online || !dir ? "2000000000" : "67108864";
  evp_client_t *c = dir ? mk_paused(url, dir, "spool.sync", sync, "queue.max.events", qe,
                                    "queue.max.bytes", qb, online ? "online" : NULL, "", NULL)
                        : mk_paused(url, NULL, "queue.max.events", qe, "queue.max.bytes", qb,
                                    online ? "online" : NULL, "", NULL);
  send_arg a[2];
  pthread_t t[2];
  double *lat = malloc(sizeof(double) * (size_t)n);
  double t0 = now_s();
  for (int i = 0; i < 2; i++) {
    a[i] = (send_arg){c, ev, evlen, n / 2, lat + i * (n / 2), 0};
    pthread_create(&t[i], NULL, send_main, &a[i]);
  }
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  double dt = now_s() - t0;
  if (online) evp_flush(c, 600000);
  long m = (n / 2) * 2;
  qsort(lat, (size_t)m, sizeof *lat, cmp_d);
  double rate = (double)m / dt;
  printf("  %-22s %9.0f events/s  p50 %6.2f us  p99 %6.2f us  p99.9 %7.2f us  max %8.1f us"
         "  refused %ld\n",
         label, rate, lat[m / 2] * 1e6, lat[(size_t)(m * 0.99)] * 1e6,
         lat[(size_t)(m * 0.999)] * 1e6, lat[m - 1] * 1e6, a[0].refused + a[1].refused);
  *p99_out = lat[(size_t)(m * 0.99)] * 1e6;
  free(lat);
  if (dir && !strcmp(sync, "interval") && !online) {
    unsigned long long alloc, size;
    evp_client_destroy(c, 0);
    du(dir, &alloc, &size);
    printf("  bytes on disk per spooled event (%d-byte event, %d once filled): %.1f (file "
           "sizes after close: %.1f)\n",
           evlen, evlen + 90, (double)alloc / (double)m, (double)size / (double)m);
  } else {
    evp_client_destroy(c, 0);
  }
  return rate;
}

static int spool_bench(long n, const char *dir_arg) {
  char tmpl[] = "/tmp/evp_bench_spool_XXXXXX";
  const char *base = dir_arg ? dir_arg : mkdtemp(tmpl);
  if (!base) {
    perror("mkdtemp");
    return 1;
  }
  char dir[512];
  snprintf(dir, sizeof dir, "%s/spool", base);
  char ev[512];
  int evlen = make_event(ev, sizeof ev, 123456);
  int port = start_server();
  if (port < 0) return 1;
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
  printf("spool bench: %ld events of %d bytes (%d once event_id/event_time are filled), "
         "2 sending threads, client paused; spool in %s\n",
         n, evlen, evlen + 90, dir);
  double p99;
  if (getenv("EVP_BENCH_SPOOL_RESUME_ONLY")) goto resume;
  /* Warm-up (heap, page cache, CPU frequency). */
  send_case("warm-up (memory)", url, NULL, NULL, 1, ev, evlen, n / 4, &p99);
  printf(" online (delivering to the responder meanwhile):\n");
  double mem = send_case("memory only", url, NULL, NULL, 1, ev, evlen, n, &p99);
  double p99_mem = p99;
  double itv = send_case("spool.sync=interval", url, dir, "interval", 1, ev, evlen, n, &p99);
  double p99_itv = p99;
  double nev = send_case("spool.sync=never", url, dir, "never", 1, ev, evlen, n, &p99);
  double alw = send_case("spool.sync=always", url, dir, "always", 1, ev, evlen, n / 20, &p99);
  printf("  ratios to memory only: interval %.2f (p99 %.2fx), never %.2f, always %.4f\n", itv / mem,
         p99_itv / p99_mem, nev / mem, alw / mem);
  printf(" offline (paused; default queue limits, so the spool keeps all but the first "
         "100,000 on disk only):\n");
  mem = send_case("memory only (no limit)", url, NULL, NULL, 0, ev, evlen, n, &p99);
  p99_mem = p99;
  itv = send_case("spool.sync=interval", url, dir, "interval", 0, ev, evlen, n, &p99);
  p99_itv = p99;
  nev = send_case("spool.sync=never", url, dir, "never", 0, ev, evlen, n, &p99);
  printf("  ratios to memory only: interval %.2f (p99 %.2fx), never %.2f\n", itv / mem,
         p99_itv / p99_mem, nev / mem);

  /* (c) resume from ~1 GiB */
resume:
  rm_rf(dir);
  long big = (long)((1ull << 30) / (unsigned long)(evlen + 90 + 46));
  {
    evp_client_t *c = mk_paused(url, dir, "spool.sync", "never", NULL);
    char e[256];
    for (long k = 0; k < big; k++)
      if (evp_send(c, ev, (size_t)evlen, e, sizeof e) != EVP_OK) {
        fprintf(stderr, "fill: %s\n", e);
        return 1;
      }
    evp_client_destroy(c, 0);
  }
  unsigned long long alloc, size;
  du(dir, &alloc, &size);
  /* As spool.sync=interval would have left it: written back but for the
   * last few ms (this fill ran with never, for speed). */
  if (system("sync") != 0) fprintf(stderr, "sync failed\n");
  fflush(stdout);
  /* A fresh process (fork + exec), so its peak RSS is its own. */
  pid_t pid = fork();
  if (pid == 0) {
    char nb[32], sz[32];
    snprintf(nb, sizeof nb, "%ld", big);
    snprintf(sz, sizeof sz, "%llu", alloc);
    execl("/proc/self/exe", "bench_client", "spool-resume-child", url, dir, nb, sz, (char *)NULL);
    _exit(127);
  }
  int st;
  waitpid(pid, &st, 0);
  if (!dir_arg)
    rm_rf(base);
  else
    rm_rf(dir);
  atomic_store(&srv_stop, 1);
  return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

/* The resume measurement, in its own process: open the spool left in DIR,
 * time the first and last delivery, report the peak RSS. */
static int resume_child(const char *url, const char *dir, long big, unsigned long long alloc) {
  double t0 = now_s();
  evp_conf_t *cf = evp_conf_new();
  char e[256];
  evp_conf_set(cf, "endpoint", url, e, sizeof e);
  evp_conf_set(cf, "client.id", "bench", e, sizeof e);
  evp_conf_set(cf, "client.secret", "bench", e, sizeof e);
  evp_conf_set(cf, "spool.dir", dir, e, sizeof e);
  evp_conf_set_delivery_cb(cf, on_dr, NULL);
  evp_client_t *c = evp_client_new(cf, e, sizeof e);
  if (!c) {
    fprintf(stderr, "%s\n", e);
    return 1;
  }
  double t_open = now_s() - t0;
  while (atomic_load(&dr_ok) == 0 && now_s() - t0 < 60) usleep(200);
  double t_first = now_s() - t0;
  long left = evp_flush(c, 600000);
  double t_all = now_s() - t0;
  /* VmHWM, not ru_maxrss: the latter keeps the parent's peak across exec. */
  long hwm_kb = -1;
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, "VmHWM:", 6)) hwm_kb = atol(line + 6);
  if (f) fclose(f);
  printf("  resume from %.2f GiB on disk (%ld events): open %.3f s, first delivery %.3f s, all "
         "delivered %.1f s (%.0f events/s, %ld left); peak RSS %.0f MiB (queue.max.bytes 64 MiB)\n",
         (double)alloc / (1 << 30), big, t_open, t_first, t_all, (double)big / (t_all - t_first),
         left, (double)hwm_kb / 1024);
  evp_client_destroy(c, 1000);
  return left == 0 ? 0 : 1;
}

/* evp_send throughput on one thread, nothing delivered (see the file
 * comment): the baseline that language bindings compare their send with. */
static int send_throughput(long n, const char *event) {
  char ev[512];
  if (!event) {
    make_event(ev, sizeof ev, 123456);
    event = ev;
  }
  size_t len = strlen(event);
  char limit[32];
  snprintf(limit, sizeof limit, "%ld", n + 1000);
  char e[256];
  double rate = 0;
  /* Round 0 warms the heap up (its pages faulted in, as in a long-running
   * application); round 1 is timed. Without a trim threshold free() would
   * hand round 0's pages back to the kernel at destroy and round 1 would
   * fault them in again (the Python bench sets the same). */
  mallopt(M_TRIM_THRESHOLD, INT_MAX);
  for (int round = 0; round < 2; round++) {
    evp_client_t *c =
        mk_paused("http://127.0.0.1:9", NULL, "callbacks.mode", "poll", "queue.max.events", limit,
                  "message.timeout.ms", "3600000", (const char *)NULL);
    double t0 = now_s();
    for (long k = 0; k < n; k++)
      if (evp_send(c, event, len, e, sizeof e) != EVP_OK) {
        fprintf(stderr, "send: %s\n", e);
        return 1;
      }
    rate = (double)n / (now_s() - t0);
    evp_client_destroy(c, 0); /* poll mode: serves the (failed) reports itself */
  }
  printf("evp_send, %ld events of %zu bytes, one thread, paused client: %.0f events/s\n", n, len,
         rate);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 6 && !strcmp(argv[1], "spool-resume-child"))
    return resume_child(argv[2], argv[3], atol(argv[4]), strtoull(argv[5], NULL, 10));
  if (argc > 1 && !strcmp(argv[1], "spool"))
    return spool_bench(argc > 2 ? atol(argv[2]) : 1000000, argc > 3 ? argv[3] : NULL);
  if (argc > 1 && !strcmp(argv[1], "send"))
    return send_throughput(argc > 2 ? atol(argv[2]) : 1000000, argc > 3 ? argv[3] : NULL);
  long n = argc > 1 ? atol(argv[1]) : 1000000;
  int port = start_server();
  if (port < 0) {
    perror("server");
    return 1;
  }
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
  char ev[512];
  int evlen = make_event(ev, sizeof ev, 123456);
  printf("event size before filling: %d bytes, after: %d bytes\n", evlen, evlen + 90);

  /* ---- 1. caller-side cost of evp_send, sender delivering meanwhile */
  {
    evp_client_t *c = mk(url, "5");
    double *lat = malloc(sizeof(double) * (size_t)n);
    char e[128];
    /* Warm-up: grow the heap and fault its pages in, fetch the token. */
    for (long k = 0; k < n; k++) evp_send(c, ev, (size_t)evlen, e, sizeof e);
    evp_flush(c, 120000);
    double t0 = now_s();
    for (long k = 0; k < n; k++) {
      double a = now_s();
      if (evp_send(c, ev, (size_t)evlen, e, sizeof e) != EVP_OK) {
        fprintf(stderr, "send: %s\n", e);
        return 1;
      }
      lat[k] = now_s() - a;
    }
    double dt = now_s() - t0;
    qsort(lat, (size_t)n, sizeof *lat, cmp_d);
    printf("evp_send (scan + fill id/time + enqueue), %ld events: %.0f events/s; "
           "p50 %.2f us, p99 %.2f us, p99.9 %.2f us, max %.1f us\n",
           n, (double)n / dt, lat[n / 2] * 1e6, lat[(size_t)(n * 0.99)] * 1e6,
           lat[(size_t)(n * 0.999)] * 1e6, lat[n - 1] * 1e6);
    evp_flush(c, 120000);

    /* Copy + enqueue alone (no syntax check, no filling): the queue's cost. */
    evp__scan s;
    const char *filled = "{\"event_id\":\"0193a2b4-1111-7222-8333-444455556666\","
                         "\"event_time\":\"2026-11-25T01:00:00.000Z\",";
    char ev2[600];
    int l2 = snprintf(ev2, sizeof ev2, "%s%s", filled, ev + 1);
    evp__client_event_scan(ev2, (size_t)l2, &s, e, sizeof e);
    t0 = now_s();
    for (long k = 0; k < n; k++) {
      double a = now_s();
      evp__item *it = evp__client_event_make(ev2, &s, 0, 0, evp__client_item_get, c);
      if (!it || evp__client_queue_push(c, it) != EVP_OK) return 1;
      lat[k] = now_s() - a;
    }
    dt = now_s() - t0;
    qsort(lat, (size_t)n, sizeof *lat, cmp_d);
    printf("copy + enqueue only (excluding validation), %ld events: %.0f events/s; "
           "p50 %.2f us, p99 %.2f us, p99.9 %.2f us\n",
           n, (double)n / dt, lat[n / 2] * 1e6, lat[(size_t)(n * 0.99)] * 1e6,
           lat[(size_t)(n * 0.999)] * 1e6);
    free(lat);
    evp_flush(c, 120000);
    evp_client_destroy(c, 10000);
  }

  /* ---- 2. sustained delivery over loopback, batches of 500 */
  int mport;
  struct MHD_Daemon *md = load_mhd() == 0 ? start_mhd(&mport) : NULL;
  if (md) {
    char murl[64];
    snprintf(murl, sizeof murl, "http://127.0.0.1:%d", mport);
    sustained(murl, "libmicrohttpd server", ev, evlen, n);
    mhd.stop(md);
  } else {
    printf("sustained delivery to libmicrohttpd: not run (libmicrohttpd.so.12 not loadable)\n");
  }
  sustained(url, "minimal socket server", ev, evlen, n);

  /* ---- 3. memory per queued event (nothing listens: events stay queued) */
  {
    long m = n < 100000 ? n : 100000;
    evp_client_t *c = mk("http://127.0.0.1:9", "5");
    struct mallinfo2 before = mallinfo2();
    char e[128];
    for (long k = 0; k < m; k++)
      if (evp_send(c, ev, (size_t)evlen, e, sizeof e) != EVP_OK) return 1;
    struct mallinfo2 after = mallinfo2();
    double per = (double)(after.uordblks - before.uordblks) / (double)m;
    printf("memory per queued event: %.1f bytes of heap for a %d-byte event without id/time "
           "(%d bytes once filled; %zu bytes bookkeeping per item)\n",
           per, evlen, evlen + 90, sizeof(evp__item));
    /* The same event carrying its own event_id/event_time, 300 bytes total. */
    char ev3[600];
    int l3 = snprintf(ev3, sizeof ev3,
                      "{\"event_id\":\"0193a2b4-1111-7222-8333-444455556666\","
                      "\"event_time\":\"2026-11-25T01:00:00.000Z\",\"type\":\"page_view\","
                      "\"user_id\":\"u-00012345\",\"url\":\"https://shop.example.com/products/"
                      "123?ref=campaign-2026-spring\",\"amount\":456.25,\"pad\":\"");
    while (l3 < 300 - 2) ev3[l3++] = 'x';
    ev3[l3++] = '"';
    ev3[l3++] = '}';
    ev3[l3] = '\0';
    before = mallinfo2();
    for (long k = 0; k < m; k++)
      if (evp_send(c, ev3, (size_t)l3, e, sizeof e) != EVP_OK) return 1;
    after = mallinfo2();
    per = (double)(after.uordblks - before.uordblks) / (double)m;
    printf("memory per queued event: %.1f bytes of heap for a %d-byte event that has its "
           "id/time (stored as is)\n",
           per, l3);
    evp_client_destroy(c, 0);
  }
  atomic_store(&srv_stop, 1);
  return 0;
}
