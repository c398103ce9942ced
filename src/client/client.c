/* The public client API: construction from a configuration, evp_send (door
 * checks, filling, enqueue), evp_flush and evp_client_destroy. The delivery
 * work happens in sender.c on the client's own thread. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "client/client_int.h"
#include "client/spool.h"
#include "client/validate.h"

static char *join_url(const char *base, const char *path) {
  size_t bl = strlen(base);
  while (bl && base[bl - 1] == '/') bl--;
  size_t pl = strlen(path);
  char *u = malloc(bl + pl + 1);
  if (u) {
    memcpy(u, base, bl);
    memcpy(u + bl, path, pl + 1);
  }
  return u;
}

static evp_err_t check_url(const evp_conf_t *cf, const char *prop, const char *url, char *errstr,
                           size_t es) {
  if (!strncasecmp(url, "https://", 8)) return EVP_OK;
  if (strncasecmp(url, "http://", 7))
    return evp__seterr(errstr, es, EVP_ERR_CONF_INVALID, "%s: only http:// and https:// URLs",
                       prop);
  if (!cf->allow_insecure_http && !evp__url_is_loopback(url))
    return evp__seterr(errstr, es, EVP_ERR_CONF_INVALID,
                       "%s: plain http is allowed only to loopback hosts "
                       "(set allow.insecure.http=true to override)",
                       prop);
  return EVP_OK;
}

static void free_client(evp_client_t *c) {
  evp__spool_close(c);
  evp__client_poll_free(c);
  evp__client_item_free_all(c);
  pthread_mutex_destroy(&c->free_mu);
  evp__client_http_free(&c->http);
  evp__client_token_wipe(&c->tok);
  evp__client_validator_free(c->schema);
  free(c->events_url);
  free(c->token_url);
  free(c->events_url_shown);
  free(c->token_url_shown);
  if (c->zs_ready) deflateEnd(&c->zs);
  pthread_cond_destroy(&c->cv_sender);
  pthread_cond_destroy(&c->cv_space);
  pthread_cond_destroy(&c->cv_flush);
  pthread_cond_destroy(&c->cv_poll);
  pthread_mutex_destroy(&c->mu);
  evp__client_stats_free(&c->st);
  free(c);
}

/* Every failure below sets the code it returns: evp_client_create() hands
 * it to the caller, so that bindings raise the right exception. */
static evp_err_t client_new(evp_conf_t *conf, evp_client_t **out, char *errstr, size_t es) {
  evp_err_t e;
  if (!conf) return evp__seterr(errstr, es, EVP_ERR_INVALID_ARG, "conf is NULL");
  if (!conf->endpoint) return evp__seterr(errstr, es, EVP_ERR_CONF_INVALID, "endpoint is required");
  if (!conf->client_id || !conf->client_secret)
    return evp__seterr(errstr, es, EVP_ERR_CONF_INVALID,
                       "client.id and client.secret are required");
  if ((e = check_url(conf, "endpoint", conf->endpoint, errstr, es)) != EVP_OK ||
      (conf->token_url &&
       (e = check_url(conf, "token.url", conf->token_url, errstr, es)) != EVP_OK))
    return e;
  evp_client_t *c = calloc(1, sizeof *c);
  if (!c) return evp__seterr(errstr, es, EVP_ERR_NOMEM, "out of memory");
  c->poll_fd[0] = c->poll_fd[1] = -1;
  evp__client_stats_init(&c->st);
  pthread_mutex_init(&c->mu, NULL);
  pthread_mutex_init(&c->free_mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&c->cv_sender, &ca);
  pthread_cond_init(&c->cv_space, &ca);
  pthread_cond_init(&c->cv_flush, &ca);
  pthread_cond_init(&c->cv_poll, &ca);
  pthread_condattr_destroy(&ca);
  c->conf = conf;
  c->fork_gen = evp__client_fork_generation();
  c->budget = (double)conf->retry_budget_tokens;
  c->budget_us = evp__mono_us();
  c->thread = pthread_self(); /* placeholder until the sender starts */
  if (evp__random(&c->rng, sizeof c->rng) != EVP_OK) {
    e = evp__seterr(errstr, es, EVP_ERR_INTERNAL, "no randomness available");
    goto fail;
  }
  c->events_url = join_url(conf->endpoint, "/events");
  c->token_url =
      conf->token_url ? evp__strdup(conf->token_url) : join_url(conf->endpoint, "/token");
  c->events_url_shown = c->events_url ? evp__url_for_messages(c->events_url) : NULL;
  c->token_url_shown = c->token_url ? evp__url_for_messages(c->token_url) : NULL;
  if (!c->events_url || !c->token_url || !c->events_url_shown || !c->token_url_shown) {
    e = evp__seterr(errstr, es, EVP_ERR_NOMEM, "out of memory");
    goto fail;
  }
  if (conf->schema_file &&
      (e = evp__client_validator_load(conf->schema_file, &c->schema, errstr, es)) != EVP_OK)
    goto fail;
  if ((e = evp__client_http_init(c, errstr, es)) != EVP_OK ||
      (e = evp__client_poll_init(c, errstr, es)) != EVP_OK)
    goto fail;
  if (conf->spool_dir && (e = evp__spool_open(c, errstr, es)) != EVP_OK) goto fail;
  int rc = pthread_create(&c->thread, NULL, evp__client_sender_main, c);
  if (rc != 0) {
    e = evp__seterr(errstr, es, EVP_ERR_INTERNAL, "cannot start the sender thread: %s",
                    strerror(rc));
    goto fail;
  }
  c->thread_started = 1;
  *out = c;
  return EVP_OK;
fail:
  c->conf = NULL; /* the caller keeps the conf on failure */
  free_client(c);
  return e;
}

evp_client_t *evp_client_create(evp_conf_t *conf, evp_err_t *errp, char *errstr, size_t es) {
  evp_client_t *c = NULL;
  evp_err_t e = client_new(conf, &c, errstr, es);
  if (errp) *errp = e;
  return c;
}

evp_client_t *evp_client_new(evp_conf_t *conf, char *errstr, size_t es) {
  return evp_client_create(conf, NULL, errstr, es);
}

evp_err_t evp_send(evp_client_t *c, const char *json, size_t len, char *errstr, size_t es) {
  return evp_send_opaque(c, json, len, NULL, errstr, es);
}

evp_err_t evp_send_opaque(evp_client_t *c, const char *json, size_t len, void *msg_opaque,
                          char *errstr, size_t es) {
  if (!c || (!json && len)) return evp__seterr(errstr, es, EVP_ERR_INVALID_ARG, "NULL argument");
  if (EVP__UNLIKELY(c->fork_gen != evp__client_fork_generation())) {
    EVP__INC(c->st.refused_state, 1);
    return evp__seterr(errstr, es, EVP_ERR_STATE, "client used in a forked child");
  }
  evp__scan s;
  evp_err_t e = evp__client_event_scan(json ? json : "", len, &s, errstr, es);
  if (e != EVP_OK) {
    EVP__INC(c->st.refused_invalid, 1);
    return e;
  }
  evp__item *it = evp__client_event_make(json, &s, (int)c->conf->fill_event_id,
                                         (int)c->conf->fill_event_time, evp__client_item_get, c);
  if (!it) return evp__seterr(errstr, es, EVP_ERR_NOMEM, "out of memory");
  it->opaque = msg_opaque;
  /* Validate what will be sent: the filled-in event_id and event_time are
   * part of the event the schema requires. */
  if (c->schema &&
      (e = evp__client_validator_check(c->schema, it->json, it->len, errstr, es)) != EVP_OK) {
    free(it);
    EVP__INC(c->st.refused_invalid, 1);
    return e;
  }
  if ((uint64_t)it->len + EVP__BATCH_OVERHEAD > (uint64_t)c->conf->batch_max_bytes) {
    size_t n = it->len;
    free(it);
    EVP__INC(c->st.refused_too_large, 1);
    return evp__seterr(errstr, es, EVP_ERR_TOO_LARGE, "event of %zu bytes exceeds batch.max.bytes",
                       n);
  }
  if (c->spool) {
    if ((e = evp__spool_send(c, it, errstr, es)) == EVP_OK)
      EVP__INC(c->st.enqueued, 1);
    else if (e == EVP_ERR_QUEUE_FULL)
      EVP__INC(c->st.refused_queue_full, 1);
    else
      EVP__INC(c->st.refused_state, 1);
    return e;
  }
  e = evp__client_queue_push(c, it);
  if (e != EVP_OK) {
    free(it);
    if (e == EVP_ERR_QUEUE_FULL) {
      EVP__INC(c->st.refused_queue_full, 1);
      return evp__seterr(errstr, es, e, "queue full (queue.max.events/queue.max.bytes)");
    }
    EVP__INC(c->st.refused_state, 1);
    return evp__seterr(errstr, es, e, "client is closing");
  }
  EVP__INC(c->st.enqueued, 1);
  return EVP_OK;
}

/* Wait (holding c->mu) until nothing is pending, or the deadline passes
 * (forever: no deadline; deadline reached at once: do not wait). In poll
 * mode the reports are served on this thread meanwhile: nothing else would
 * free their room. */
static void settle(evp_client_t *c, int64_t deadline, int forever) {
  int poll = c->conf->callbacks_mode == EVP__CB_POLL;
  for (;;) {
    if (poll && evp__client_poll_waiting(c)) {
      pthread_mutex_unlock(&c->mu);
      evp__client_poll_serve(c);
      pthread_mutex_lock(&c->mu);
      if (!forever && evp__mono_us() >= deadline) break;
      continue;
    }
    if (c->pending_n == 0 && evp__spool_unread(c) == 0) break;
    if (forever) {
      pthread_cond_wait(&c->cv_flush, &c->mu);
      continue;
    }
    struct timespec ts = evp__timespec_us(deadline);
    if (evp__mono_us() >= deadline ||
        pthread_cond_timedwait(&c->cv_flush, &c->mu, &ts) == ETIMEDOUT)
      break;
  }
}

long evp_flush(evp_client_t *c, int timeout_ms) {
  if (!c || c->fork_gen != evp__client_fork_generation() || evp__client_in_callback(c)) return -1;
  int64_t deadline = evp__mono_us() + (int64_t)timeout_ms * 1000;
  pthread_mutex_lock(&c->mu);
  if (c->closing) {
    pthread_mutex_unlock(&c->mu);
    return -1;
  }
  c->flush_waiters++;
  evp__client_wake_sender(c);
  settle(c, deadline, timeout_ms < 0);
  c->flush_waiters--;
  long n = (long)(c->pending_n + evp__spool_unread(c));
  pthread_mutex_unlock(&c->mu);
  return n;
}

/* Pausing is a flag the sender reads each time round its loop. */
static int set_paused(evp_client_t *c, int paused) {
  if (!c || c->fork_gen != evp__client_fork_generation()) return -1;
  pthread_mutex_lock(&c->mu);
  int was = c->paused;
  c->paused = paused;
  if (was != paused) evp__client_wake_sender(c);
  pthread_mutex_unlock(&c->mu);
  if (was != paused)
    evp__client_log(c, EVP_LOG_INFO, "%s", paused ? "sending paused" : "sending resumed");
  return 0;
}

int evp_client_pause(evp_client_t *c) { return set_paused(c, 1); }

int evp_client_resume(evp_client_t *c) { return set_paused(c, 0); }

long evp_client_destroy(evp_client_t *c, int timeout_ms) {
  if (!c) return 0;
  if (c->fork_gen != evp__client_fork_generation())
    return -1; /* the parent's thread and locks do not exist here */
  if (evp__client_in_callback(c))
    return -1; /* it would join its own thread, or free what the caller runs on */
  if (timeout_ms < 0) timeout_ms = 0;
  int64_t deadline = evp__mono_us() + (int64_t)timeout_ms * 1000;
  pthread_mutex_lock(&c->mu);
  c->closing = 1;
  c->close_deadline_us = deadline;
  evp__client_wake_sender(c);
  pthread_cond_broadcast(&c->cv_space); /* blocked evp_send calls return */
  c->flush_waiters++;
  settle(c, deadline, 0);
  c->flush_waiters--;
  pthread_mutex_unlock(&c->mu);
  /* Past the deadline: interrupt a request in flight. */
  atomic_store(&c->abort_io, 1);
  evp__client_http_wakeup(&c->http);
  pthread_mutex_lock(&c->mu);
  pthread_cond_signal(&c->cv_sender);
  pthread_mutex_unlock(&c->mu);
  pthread_join(c->thread, NULL);
  /* Poll mode: what the sender reported last (the events failed at close)
   * is served here, so every event is reported before this returns. */
  if (c->conf->callbacks_mode == EVP__CB_POLL) evp__client_poll_serve(c);
  long undelivered = c->closed_undelivered;
  evp__spool_close(c);       /* its last commit may log, through c->conf */
  evp_conf_destroy(c->conf); /* wipes client.secret */
  free_client(c);
  return undelivered;
}
