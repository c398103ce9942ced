/* Poll mode (callbacks.mode=poll): delivery reports and error callbacks wait
 * here until the application serves them on its own thread with evp_poll
 * (or evp_flush / evp_client_destroy), as librdkafka's rd_kafka_poll. A pipe
 * is readable while something waits, for event loops (evp_poll_fd).
 *
 * Bound: a waiting report keeps its event's room in the queue (pending_n /
 * pending_bytes) until served, so queue.max.* bound what waits here too.
 * Error callbacks wait in a small fixed array, one per (err, retrying): a
 * newer condition replaces the same older one, so they cannot pile up.
 *
 * The sender stages each report (sender-only list) and publishes what it
 * staged under the queue lock when it releases the reported events'
 * room, so publishing costs one lock per response, not one per event. */
/* pipe2 (Linux, glibc and musl): the descriptors are close-on-exec from
 * their creation, so a fork+exec on another thread cannot inherit them. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "client/client_int.h"

#if !defined(__linux__)
static int nonblocking_cloexec(int fd) {
  int fl = fcntl(fd, F_GETFL);
  return fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0
             ? -1
             : 0;
}
#endif

evp_err_t evp__client_poll_init(evp_client_t *c, char *errstr, size_t es) {
  if (c->conf->callbacks_mode != EVP__CB_POLL) return EVP_OK;
#if defined(__linux__)
  int rc = pipe2(c->poll_fd, O_CLOEXEC | O_NONBLOCK);
#else
  /* Without pipe2 there is a window between pipe() and FD_CLOEXEC. */
  int rc = pipe(c->poll_fd);
  if (rc == 0 && (nonblocking_cloexec(c->poll_fd[0]) || nonblocking_cloexec(c->poll_fd[1]))) {
    close(c->poll_fd[0]);
    close(c->poll_fd[1]);
    rc = -1;
  }
#endif
  if (rc != 0) {
    c->poll_fd[0] = c->poll_fd[1] = -1;
    return evp__seterr(errstr, es, EVP_ERR_INTERNAL, "cannot create the poll descriptor: %s",
                       strerror(errno));
  }
  return EVP_OK;
}

static void why_unref(evp__why *w) {
  if (w && atomic_fetch_sub_explicit(&w->refs, 1, memory_order_acq_rel) == 1) free(w);
}

void evp__client_poll_free(evp_client_t *c) {
  evp__item *it;
  for (evp__list *l = &c->staged; l; l = l == &c->staged ? &c->ready : NULL)
    while ((it = evp__item_list_pop(l))) {
      why_unref(it->why);
      free(it);
    }
  for (int i = 0; i < 2; i++)
    if (c->poll_fd[i] >= 0) close(c->poll_fd[i]);
  c->poll_fd[0] = c->poll_fd[1] = -1;
}

void evp__client_poll_stage(evp_client_t *c, evp__item *it, evp__why **why, const char *reason) {
  it->latency_us = evp__mono_us() - it->enq_us; /* enq_us is not needed any more */
  it->why = NULL;
  if (reason) {
    if (!*why) {
      size_t n = strlen(reason) + 1;
      *why = malloc(sizeof **why + n);
      if (*why) {
        atomic_init(&(*why)->refs, 0);
        memcpy((*why)->text, reason, n);
      }
      /* Without memory the report says evp_err2str(err) instead. */
    }
    if (*why) {
      atomic_fetch_add_explicit(&(*why)->refs, 1, memory_order_relaxed);
      it->why = *why;
    }
  }
  evp__item_list_push(&c->staged, it);
}

int evp__client_poll_waiting(const evp_client_t *c) { return c->ready.n || c->errs_n; }

/* Something new waits (caller holds mu): make the descriptor readable and
 * wake whoever waits in evp_poll, evp_flush or evp_client_destroy. */
static void announce(evp_client_t *c) {
  if (!c->poll_fd_set && c->poll_fd[1] >= 0) {
    const char b = 1;
    if (write(c->poll_fd[1], &b, 1) == 1) c->poll_fd_set = 1;
  }
  if (c->poll_waiters) pthread_cond_broadcast(&c->cv_poll);
  if (c->flush_waiters) pthread_cond_broadcast(&c->cv_flush);
}

size_t evp__client_poll_publish(evp_client_t *c, uint64_t *bytes) {
  size_t n = c->staged.n;
  *bytes = c->staged.bytes;
  evp__item_list_append(&c->ready, &c->staged);
  if (n) announce(c);
  return n;
}

void evp__client_poll_error(evp_client_t *c, evp_err_t e, int retrying, const char *reason) {
  pthread_mutex_lock(&c->mu);
  size_t i = 0;
  while (i < c->errs_n && !(c->errs[i].err == e && c->errs[i].retrying == retrying)) i++;
  if (i == c->errs_n && c->errs_n == EVP__ERRS_WAITING)
    i = 0; /* full of other conditions: the oldest gives way */
  if (i < c->errs_n) {
    memmove(&c->errs[i], &c->errs[i + 1], (c->errs_n - i - 1) * sizeof c->errs[0]);
    c->errs_n--;
  }
  evp__err_wait *w = &c->errs[c->errs_n++];
  w->err = e;
  w->retrying = retrying;
  snprintf(w->reason, sizeof w->reason, "%s", reason);
  announce(c);
  pthread_mutex_unlock(&c->mu);
}

long evp__client_poll_serve(evp_client_t *c) {
  evp__err_wait errs[EVP__ERRS_WAITING];
  pthread_mutex_lock(&c->mu);
  evp__list items = c->ready;
  c->ready = (evp__list){0};
  size_t ne = c->errs_n;
  memcpy(errs, c->errs, ne * sizeof errs[0]);
  c->errs_n = 0;
  if (c->poll_fd_set) {
    char buf[16];
    while (read(c->poll_fd[0], buf, sizeof buf) > 0)
      ;
    c->poll_fd_set = 0;
  }
  pthread_mutex_unlock(&c->mu);
  long served = 0;
  for (size_t i = 0; i < ne; i++, served++)
    evp__client_call_error(c, errs[i].err, errs[i].retrying, errs[i].reason);
  if (!items.n) return served;
  for (evp__item *it = items.head; it; it = it->next, served++) {
    evp_delivery_t d = {it, it->why ? it->why->text : NULL, it->latency_us,
                        (evp_delivery_status_t)it->status, (evp_err_t)it->err};
    evp__client_call_delivery(c, &d);
  }
  for (evp__item *it = items.head; it; it = it->next) why_unref(it->why);
  /* Room is freed only now, so what waited stayed within the queue limits. */
  pthread_mutex_lock(&c->mu);
  evp__client_room_free(c, items.n, items.bytes);
  pthread_mutex_unlock(&c->mu);
  evp__client_items_recycle(c, &items);
  return served;
}

long evp_poll(evp_client_t *c, int timeout_ms) {
  if (!c || c->conf->callbacks_mode != EVP__CB_POLL ||
      c->fork_gen != evp__client_fork_generation() || evp__client_in_callback(c))
    return -1;
  if (timeout_ms != 0) {
    int64_t deadline = evp__mono_us() + (int64_t)timeout_ms * 1000;
    pthread_mutex_lock(&c->mu);
    c->poll_waiters++;
    while (!evp__client_poll_waiting(c)) {
      if (timeout_ms < 0) {
        pthread_cond_wait(&c->cv_poll, &c->mu);
        continue;
      }
      struct timespec ts = evp__timespec_us(deadline);
      if (pthread_cond_timedwait(&c->cv_poll, &c->mu, &ts) == ETIMEDOUT) break;
    }
    c->poll_waiters--;
    pthread_mutex_unlock(&c->mu);
  }
  return evp__client_poll_serve(c);
}

int evp_poll_fd(evp_client_t *c) {
  /* A forked child cannot drain the parent's pipe (evp_poll refuses there). */
  if (!c || c->conf->callbacks_mode != EVP__CB_POLL || c->fork_gen != evp__client_fork_generation())
    return -1;
  return c->poll_fd[0];
}
