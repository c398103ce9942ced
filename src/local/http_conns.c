/* Connection admission and deadlines of the HTTP front: see http_conns.h. */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "base/base.h"
#include "local/http_conns.h"

#define TICK_MS 100         /* watchdog period: deadlines are kept to about this */
#define UNSTARTED_MAX_S 5.0 /* a handed-off connection the daemon never started */

typedef enum { PHASE_HEADER, PHASE_BODY, PHASE_BUSY } phase_t;

struct evp__conn {
  int used, started, closing;
  int fd;
  char ip[INET6_ADDRSTRLEN];
  phase_t phase;
  double since;      /* when the phase (or the unstarted hand-off) began */
  size_t body_bytes; /* in PHASE_BODY */
  /* Touched by the connection's own thread only. */
  const char *target;
  size_t target_len;
  int nul_in_target;
};

struct evp__conns {
  pthread_mutex_t mu;
  pthread_cond_t freed;
  evp__conn_t *slot;
  size_t cap, open;
  evp__listener_t *lis; /* the listening sockets (local_listen.c); NULL once closed */
  int wake[2];
  struct MHD_Daemon *d;
  pthread_t acceptor, watchdog;
  int acceptor_on, watchdog_on, stopping_accept, stopping;
  size_t next_listen; /* accept thread only */
  unsigned max_per_addr;
  double header_s, min_rate;
  evp__metrics_t *m;
};

evp_err_t evp__conns_new(evp__listener_t *lis, const evp__local_opts_t *o, evp__metrics_t *m,
                         evp__conns_t **out, char *errstr, size_t errstr_size) {
  *out = NULL;
  if (o->threads_max < 1 || o->max_conns_per_addr < 1 || o->header_timeout_s < 1 ||
      o->min_body_rate < 1) {
    evp__listener_free(lis);
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                       "connection limits and deadlines must be at least 1");
  }
  evp__conns_t *cs = calloc(1, sizeof *cs);
  if (!cs) {
    evp__listener_free(lis);
    return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  }
  cs->lis = lis;
  cs->wake[0] = cs->wake[1] = -1;
  cs->cap = (size_t)o->threads_max;
  cs->max_per_addr = (unsigned)o->max_conns_per_addr;
  cs->header_s = o->header_timeout_s;
  cs->min_rate = o->min_body_rate;
  cs->m = m;
  if (!(cs->slot = calloc(cs->cap, sizeof *cs->slot)) || pthread_mutex_init(&cs->mu, NULL) != 0) {
    evp__listener_free(lis);
    free(cs->slot);
    free(cs);
    return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  }
  pthread_cond_init(&cs->freed, NULL);
  if (pipe2(cs->wake, O_CLOEXEC) != 0) {
    int en = errno;
    evp__conns_free(cs);
    return evp__seterr(errstr, errstr_size, EVP_ERR_IO, "pipe: %s", strerror(en));
  }
  *out = cs;
  return EVP_OK;
}

static const char refused_msg[] = "connection refused: too many connections from one address";
static const char accept_msg[] = "accept failed";

/* Wait on cs->freed (lock held) for at most @p ms. */
static void wait_ms(evp__conns_t *cs, long ms) {
  struct timespec dl = evp__timespec_us(evp__wall_us() + (int64_t)ms * 1000);
  pthread_cond_timedwait(&cs->freed, &cs->mu, &dl);
}

/* Wait for a free slot; 0 when stopping. */
static int wait_for_slot(evp__conns_t *cs) {
  pthread_mutex_lock(&cs->mu);
  while (cs->open >= cs->cap && !cs->stopping_accept) {
    wait_ms(cs, 200); /* also checks for stopping now and then */
  }
  int go = !cs->stopping_accept;
  pthread_mutex_unlock(&cs->mu);
  return go;
}

/* Take a slot for @p fd from @p ip, or NULL when the address is at its
 * limit. Called with the lock held and a free slot known to exist. */
static evp__conn_t *admit(evp__conns_t *cs, int fd, const char *ip) {
  unsigned same = 0;
  evp__conn_t *free_slot = NULL;
  for (size_t i = 0; i < cs->cap; i++) {
    evp__conn_t *cn = &cs->slot[i];
    if (cn->used && !cn->started && cn->fd == fd) {
      /* A hand-off the daemon dropped before starting it: the number is
       * free again (this accept got it), so is the slot. */
      cn->used = 0;
      cs->open--;
    }
    if (!cn->used) {
      if (!free_slot) free_slot = cn;
    } else if (strcmp(cn->ip, ip) == 0) {
      same++;
    }
  }
  if (same >= cs->max_per_addr || !free_slot) return NULL;
  memset(free_slot, 0, sizeof *free_slot);
  free_slot->used = 1;
  free_slot->fd = fd;
  memcpy(free_slot->ip, ip, sizeof free_slot->ip);
  free_slot->phase = PHASE_HEADER;
  free_slot->since = evp__mono_s();
  cs->open++;
  return free_slot;
}

static void *accept_loop(void *arg) {
  evp__conns_t *cs = arg;
  while (wait_for_slot(cs)) {
    struct pollfd pf[EVP__LISTEN_MAX + 1];
    size_t nl = cs->lis->n;
    pf[0] = (struct pollfd){cs->wake[0], POLLIN, 0};
    for (size_t k = 0; k < nl; k++) pf[k + 1] = (struct pollfd){cs->lis->fds[k], POLLIN, 0};
    if (poll(pf, (nfds_t)nl + 1, -1) < 0 && errno != EINTR) break;
    if (pf[0].revents) break;
    /* One connection per turn, from the next ready socket after the last
     * one served, so that one busy address cannot starve the others. */
    int lfd = -1;
    for (size_t k = 0; k < nl && lfd < 0; k++) {
      size_t at = (cs->next_listen + k) % nl;
      if (pf[at + 1].revents & POLLIN) {
        lfd = pf[at + 1].fd;
        cs->next_listen = (at + 1) % nl;
      }
    }
    if (lfd < 0) continue;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    /* On Linux the accepted socket does not inherit O_NONBLOCK from the
     * listening one: connections reach the daemon as they did before. */
    int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
    if (fd < 0) {
      /* EAGAIN/EWOULDBLOCK: the connection went away after poll, ECONNABORTED
       * likewise, EINTR: a signal; back to poll (which also sees a stop). */
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        char f[128];
        size_t n = 0;
        evp__local_log_str(f, sizeof f, &n, "error", strerror(errno));
        evp__local_log_limited(accept_msg, "error", accept_msg, f);
        struct timespec nap = {0, 100 * 1000000L};
        nanosleep(&nap, NULL);
      }
      continue;
    }
    char ip[INET6_ADDRSTRLEN];
    evp__sockaddr_ip((const struct sockaddr *)&ss, ip, sizeof ip);
    pthread_mutex_lock(&cs->mu);
    evp__conn_t *cn = admit(cs, fd, ip);
    pthread_mutex_unlock(&cs->mu);
    if (!cn) {
      close(fd);
      evp__metrics_conn_dropped(cs->m, "per_address");
      char f[128];
      size_t n = 0;
      evp__local_log_str(f, sizeof f, &n, "remote", ip);
      evp__local_log_num(f, sizeof f, &n, "limit", (long long)cs->max_per_addr);
      evp__local_log_limited(refused_msg, "warn", refused_msg, f);
      continue;
    }
    /* The daemon owns (and closes) fd from here, even when this fails. */
    if (MHD_add_connection(cs->d, fd, (struct sockaddr *)&ss, sl) != MHD_YES) {
      pthread_mutex_lock(&cs->mu);
      if (cn->used && !cn->started && cn->fd == fd) {
        cn->used = 0;
        cs->open--;
      }
      pthread_mutex_unlock(&cs->mu);
    }
  }
  return NULL;
}

static const char header_msg[] = "connection closed: header deadline";
static const char body_msg[] = "connection closed: body slower than the minimum rate";

static void *watch_loop(void *arg) {
  evp__conns_t *cs = arg;
  pthread_mutex_lock(&cs->mu);
  while (!cs->stopping) {
    wait_ms(cs, TICK_MS);
    double now = evp__mono_s();
    for (size_t i = 0; i < cs->cap; i++) {
      evp__conn_t *cn = &cs->slot[i];
      if (!cn->used || cn->closing) continue;
      if (!cn->started) {
        if (now - cn->since > UNSTARTED_MAX_S) {
          cn->used = 0;
          cs->open--;
          pthread_cond_broadcast(&cs->freed);
        }
        continue;
      }
      const char *why = NULL;
      if (cn->phase == PHASE_HEADER && now - cn->since > cs->header_s)
        why = header_msg;
      else if (cn->phase == PHASE_BODY &&
               now - cn->since > cs->header_s + (double)cn->body_bytes / cs->min_rate)
        why = body_msg;
      if (!why) continue;
      /* The daemon's thread sees end of input and closes the connection;
       * the record goes when it says so (NOTIFY_CONNECTION), and the
       * number cannot be reused before that, since it closes after. */
      shutdown(cn->fd, SHUT_RDWR);
      cn->closing = 1;
      char f[128];
      size_t n = 0;
      evp__local_log_str(f, sizeof f, &n, "remote", cn->ip);
      pthread_mutex_unlock(&cs->mu);
      evp__metrics_conn_dropped(cs->m, why == header_msg ? "header_deadline" : "body_rate");
      evp__local_log_limited(why, "warn", why, f);
      pthread_mutex_lock(&cs->mu);
    }
    pthread_mutex_unlock(&cs->mu);
    evp__local_log_limited_flush(0);
    pthread_mutex_lock(&cs->mu);
  }
  pthread_mutex_unlock(&cs->mu);
  return NULL;
}

evp_err_t evp__conns_run(evp__conns_t *cs, struct MHD_Daemon *d, char *errstr, size_t errstr_size) {
  cs->d = d;
  if (pthread_create(&cs->watchdog, NULL, watch_loop, cs) != 0)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INTERNAL,
                       "cannot start the connection watchdog");
  cs->watchdog_on = 1;
  if (pthread_create(&cs->acceptor, NULL, accept_loop, cs) != 0)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INTERNAL, "cannot start the accept thread");
  cs->acceptor_on = 1;
  return EVP_OK;
}

void evp__conns_stop_accepting(evp__conns_t *cs) {
  if (!cs) return;
  pthread_mutex_lock(&cs->mu);
  cs->stopping_accept = 1;
  pthread_cond_broadcast(&cs->freed);
  pthread_mutex_unlock(&cs->mu);
  if (cs->acceptor_on) {
    ssize_t w = write(cs->wake[1], "x", 1);
    (void)w;
    pthread_join(cs->acceptor, NULL);
    cs->acceptor_on = 0;
  }
  evp__listener_free(cs->lis);
  cs->lis = NULL;
}

void evp__conns_free(evp__conns_t *cs) {
  if (!cs) return;
  evp__conns_stop_accepting(cs);
  if (cs->watchdog_on) {
    pthread_mutex_lock(&cs->mu);
    cs->stopping = 1;
    pthread_cond_broadcast(&cs->freed);
    pthread_mutex_unlock(&cs->mu);
    pthread_join(cs->watchdog, NULL);
  }
  evp__local_log_limited_flush(1);
  for (int i = 0; i < 2; i++)
    if (cs->wake[i] >= 0) close(cs->wake[i]);
  pthread_cond_destroy(&cs->freed);
  pthread_mutex_destroy(&cs->mu);
  free(cs->slot);
  free(cs);
}

void evp__conns_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                       enum MHD_ConnectionNotificationCode code) {
  evp__conns_t *cs = cls;
  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    *socket_context = NULL;
    if (!ci) return;
    pthread_mutex_lock(&cs->mu);
    for (size_t i = 0; i < cs->cap; i++) {
      evp__conn_t *cn = &cs->slot[i];
      if (cn->used && !cn->started && cn->fd == ci->connect_fd) {
        cn->started = 1;
        cn->since = evp__mono_s();
        *socket_context = cn;
        break;
      }
    }
    pthread_mutex_unlock(&cs->mu);
  } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context) {
    evp__conn_t *cn = *socket_context;
    pthread_mutex_lock(&cs->mu);
    cn->used = 0;
    cs->open--;
    pthread_cond_broadcast(&cs->freed);
    pthread_mutex_unlock(&cs->mu);
    *socket_context = NULL;
  }
}

evp__conn_t *evp__conn_of(struct MHD_Connection *c) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return ci ? ci->socket_context : NULL;
}

static void set_phase(evp__conns_t *cs, evp__conn_t *cn, phase_t p) {
  if (!cn) return;
  pthread_mutex_lock(&cs->mu);
  cn->phase = p;
  cn->since = evp__mono_s();
  cn->body_bytes = 0;
  pthread_mutex_unlock(&cs->mu);
}

void evp__conn_headers_done(evp__conns_t *cs, evp__conn_t *cn) { set_phase(cs, cn, PHASE_BODY); }
void evp__conn_body_done(evp__conns_t *cs, evp__conn_t *cn) { set_phase(cs, cn, PHASE_BUSY); }

void evp__conn_request_done(evp__conns_t *cs, evp__conn_t *cn) {
  set_phase(cs, cn, PHASE_HEADER);
  if (cn) {
    cn->target = NULL;
    cn->nul_in_target = 0;
  }
}

void evp__conn_body(evp__conns_t *cs, evp__conn_t *cn, size_t n) {
  if (!cn) return;
  pthread_mutex_lock(&cs->mu);
  cn->body_bytes += n;
  pthread_mutex_unlock(&cs->mu);
}

void evp__conn_set_target(evp__conn_t *cn, const char *uri) {
  if (cn) {
    cn->target = uri;
    cn->target_len = strlen(uri);
  }
}

void evp__conn_set_nul_in_target(evp__conn_t *cn) {
  if (cn) cn->nul_in_target = 1;
}

int evp__conn_nul_in_target(const evp__conn_t *cn, const char *version) {
  if (!cn) return 0;
  return cn->nul_in_target || (cn->target && version && cn->target + cn->target_len + 1 != version);
}
