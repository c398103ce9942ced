/* The background sender: takes events from the queue, keeps a token, sends
 * batches (up to max.in.flight at once, each on its own connection, all
 * driven by this thread through one curl multi handle), and turns every
 * response into per-event outcomes (delivered, rejected, retried, failed).
 * It is the only thread that touches the HTTP handles, the token and the
 * work list, so those need no locks. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "client/client_int.h"
#include "client/spool.h"

#define NEVER INT64_MAX

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* Report events whose message.timeout.ms has passed. The work list is in
 * enqueue order (retries go back to the front), so only the head is checked. */
/* With a spool the limit is spool.max.age.ms by the wall clock (an event's
 * age counts across runs of the application), else message.timeout.ms
 * since evp_send. */
static int expired(const evp_client_t *c, const evp__item *it, int64_t now, int64_t wall) {
  if (c->spool) return wall - it->spool_us >= c->conf->spool_max_age_ms * 1000;
  return now - it->enq_us >= c->conf->message_timeout_ms * 1000;
}

static void expire(evp_client_t *c, int64_t now) {
  int64_t wall = evp__wall_us();
  evp__list dead = {0};
  while (c->work.head && expired(c, c->work.head, now, wall))
    evp__item_list_push(&dead, evp__item_list_pop(&c->work));
  /* Each batch awaiting its retry is in enqueue order too. */
  for (evp__retry **rp = &c->retry; *rp;) {
    evp__retry *r = *rp;
    while (r->items.head && expired(c, r->items.head, now, wall))
      evp__item_list_push(&dead, evp__item_list_pop(&r->items));
    if (r->items.n) {
      rp = &r->next;
    } else {
      *rp = r->next;
      free(r);
    }
  }
  if (!dead.n) return;
  char why[320];
  snprintf(why, sizeof why, "%s expired%s%s", c->spool ? "spool.max.age.ms" : "message.timeout.ms",
           c->last_reason[0] ? "; last error: " : "", c->last_reason);
  if (c->spool) evp__spool_count_expired(c, dead.n);
  evp__client_log(c, EVP_LOG_WARNING, "%zu event(s) timed out", dead.n);
  evp__client_report_list(c, &dead, EVP_DELIVERY_FAILED, EVP_ERR_TIMED_OUT, why);
}

static void set_err(evp__list *l, evp_err_t e) {
  for (evp__item *it = l->head; it; it = it->next) it->err = (uint16_t)e;
}

/* A retriable failure of a batch (its fails-th in a row): it waits for its
 * own backoff while the other batches go on. A 429/503 with Retry-After is
 * the server asking everyone to wait: every send pauses until then. */
static void retry_later(evp_client_t *c, evp__list *batch, int fails, evp_err_t e, long status,
                        long retry_after_ms) {
  set_err(batch, e);
  EVP__INC(c->st.retries, batch->n);
  int64_t now = evp__mono_us();
  int64_t d = evp__retry_delay_ms(c, fails);
  if (retry_after_ms >= 0 && (status == 429 || status == 503)) {
    if (retry_after_ms > d) d = retry_after_ms;
    if (now + retry_after_ms * 1000 > c->pause_until_us)
      c->pause_until_us = now + retry_after_ms * 1000;
  }
  evp__client_log(c, EVP_LOG_INFO, "retrying %zu event(s) in %lld ms: %s", batch->n, (long long)d,
                  c->last_reason);
  evp__retry *r = malloc(sizeof *r);
  if (!r) {
    /* No memory for the bookkeeping: back to the front, everyone waits. */
    evp__item_list_prepend(&c->work, batch);
    if (now + d * 1000 > c->pause_until_us) c->pause_until_us = now + d * 1000;
    return;
  }
  r->items = *batch;
  *batch = (evp__list){0};
  r->due_us = now + d * 1000;
  r->fails = fails;
  r->next = c->retry;
  c->retry = r;
}

/* The batch awaiting retry that is due first (NULL: none). */
static evp__retry **retry_first(evp_client_t *c) {
  evp__retry **best = NULL;
  for (evp__retry **rp = &c->retry; *rp; rp = &(*rp)->next)
    if (!best || (*rp)->due_us < (*best)->due_us ||
        ((*rp)->due_us == (*best)->due_us &&
         (*rp)->items.head->enq_us < (*best)->items.head->enq_us))
      best = rp;
  return best;
}

/* A retriable failure of a request: after more than two rounds of failures
 * in a row (every slot failed twice) the application hears that the server
 * is in trouble, once; a lossy link that still delivers stays quiet. */
static void failed_request(evp_client_t *c, evp_err_t e) {
  c->fails_in_row++;
  if (c->fails_in_row > 2 * (int)c->http.nx) evp__client_raise(c, e, 1, c->last_reason);
}

static void on_success(evp_client_t *c, const evp__xfer *x, evp__list *batch) {
  evp__resp r;
  const char *body = evp__net_resp_text(&x->rb.r);
  c->fails_in_row = 0;
  c->auth_retry = 0;
  c->perm_err = EVP_OK;
  evp__client_raise_clear(c);
  if (evp__events_resp_parse(body, x->rb.r.body.len, batch->n, &r) != EVP_OK) {
    /* The status says accepted; an unreadable body cannot say otherwise. */
    evp__client_log(c, EVP_LOG_WARNING,
                    "unreadable 200 response body; counting %zu event(s) delivered", batch->n);
    evp__client_report_list(c, batch, EVP_DELIVERY_OK, EVP_OK, NULL);
    return;
  }
  /* Mark each item's verdict by index; rejections are few, a small array. */
  evp__list retry = {0};
  size_t i = 0, done_n = 0;
  uint64_t done_b = 0;
  evp__item *it;
  while ((it = evp__item_list_pop(batch))) {
    const struct evp__rej *rj = NULL;
    for (size_t k = 0; k < r.n; k++)
      if (r.rej[k].index == i) {
        rj = &r.rej[k];
        break;
      }
    i++;
    if (rj && rj->retriable) {
      it->err = EVP_ERR_HTTP;
      snprintf(c->last_reason, sizeof c->last_reason, "server: %s", rj->reason);
      evp__item_list_push(&retry, it);
      continue;
    }
    done_n++;
    done_b += EVP__ITEM_COST(it);
    if (rj)
      evp__client_report(c, it, EVP_DELIVERY_REJECTED, EVP_ERR_INVALID_EVENT, rj->reason);
    else
      evp__client_report(c, it, EVP_DELIVERY_OK, EVP_OK, NULL);
  }
  evp__events_resp_free(&r);
  evp__client_queue_release(c, done_n, done_b);
  if (retry.n) retry_later(c, &retry, 1, EVP_ERR_HTTP, 0, -1);
}

/* Is this 401 final? Yes when a fresh token was refused too: for the request
 * that carried it after the first 401, and for the others that were in
 * flight with it when that happened. */
static int auth_final(const evp_client_t *c, const evp__xfer *x) {
  if (x->token_gen == c->auth_fail_gen && x->seq <= c->auth_fail_seq) return 1;
  return c->auth_retry && x->token_gen != c->auth_retry_gen;
}

/* The answer to x's request: per-event outcomes, or the whole batch retried
 * or failed. */
static void finish(evp_client_t *c, evp__xfer *x, evp_err_t e, long status) {
  evp__list batch = x->batch;
  x->batch = (evp__list){0};
  evp__client_stats_latency(&c->st, evp__mono_us() - x->t0);
  if (e != EVP_OK) {
    EVP__INC(c->st.request_errors, 1);
    /* The transport's whole text (cut only at the buffer's end): its
     * details, such as the TLS library's words, come last. */
    evp__seterr(c->last_reason, sizeof c->last_reason, EVP_ERR_TRANSPORT, "POST %.120s: %s",
                c->events_url_shown, x->rb.r.err);
    failed_request(c, EVP_ERR_TRANSPORT);
    retry_later(c, &batch, x->fails + 1, EVP_ERR_TRANSPORT, 0, -1);
    return;
  }
  EVP__INC(c->st.bytes_sent, x->len);
  for (evp__item *it = batch.head; it; it = it->next)
    it->http_status = (uint16_t)(status > 0 && status < 1000 ? status : 0);
  if (status >= 200 && status < 300) {
    on_success(c, x, &batch);
    return;
  }
  EVP__INC(c->st.request_errors, 1);
  snprintf(c->last_reason, sizeof c->last_reason, "POST %.100s: HTTP %ld%s%.60s%s",
           c->events_url_shown, status, x->rb.r.body.len ? ": " : "", evp__net_resp_text(&x->rb.r),
           status == 404 || status == 405 ? " (no events endpoint at this URL: check endpoint)"
                                          : "");
  if (status == 408 || status == 429 || status >= 500) {
    failed_request(c, EVP_ERR_HTTP);
    retry_later(c, &batch, x->fails + 1, EVP_ERR_HTTP, status, x->rb.retry_after_ms);
  } else if (status == 404 || status == 405) {
    /* Every batch would meet the same: fail them all now. */
    evp__item_list_prepend(&c->work, &batch);
    evp__client_fail_permanently(c, EVP_ERR_HTTP, c->last_reason);
  } else if (status == 401 && !auth_final(c, x)) {
    /* The token may have been revoked or rotated: fetch a new one and
     * retry once, at once. Requests that carried the same token and were
     * still in flight get the same chance; a 401 for the new token is final. */
    if (!c->auth_retry) {
      c->auth_retry = 1;
      c->auth_retry_gen = x->token_gen;
    }
    if (x->token_gen == c->tok.gen) {
      c->tok.refresh_at_us = 0;
      c->tok.next_try_us = 0;
      evp__client_token_wipe(&c->tok);
    }
    set_err(&batch, EVP_ERR_AUTH);
    EVP__INC(c->st.retries, batch.n);
    evp__item_list_prepend(&c->work, &batch);
  } else if (status == 413 && batch.n > 1) {
    size_t half = batch.n / 2;
    if (!c->split_cap || half < c->split_cap) {
      c->split_cap = half;
      EVP__INC(c->st.splits, 1);
      evp__client_log(c, EVP_LOG_WARNING, "413 from the server: batches now at most %zu events",
                      c->split_cap);
    }
    EVP__INC(c->st.retries, batch.n);
    evp__item_list_prepend(&c->work, &batch);
  } else {
    evp_err_t fe = status == 401 || status == 403 ? EVP_ERR_AUTH
                   : status == 413                ? EVP_ERR_TOO_LARGE
                                                  : EVP_ERR_HTTP;
    if (status == 401) {
      /* A fresh token refused too: the credentials are wrong for this
       * service, for every pending event. The requests in flight with this
       * token fail with it; later ones start over (refresh once, then final). */
      if (c->auth_retry) {
        c->auth_retry = 0;
        c->auth_fail_gen = x->token_gen;
        c->auth_fail_seq = c->xfer_seq;
      }
      evp__item_list_prepend(&c->work, &batch);
      evp__client_fail_permanently(c, EVP_ERR_AUTH, c->last_reason);
      return;
    }
    evp__client_log(c, EVP_LOG_ERR, "%zu event(s) failed: %s", batch.n, c->last_reason);
    evp__client_report_list(c, &batch, EVP_DELIVERY_FAILED, fe, c->last_reason);
  }
}

/* Take the next batch from the work list onto slot x. */
static void take_batch(evp_client_t *c, evp__xfer *x) {
  size_t cap = (size_t)c->conf->batch_max_events;
  if (c->split_cap && c->split_cap < cap) cap = c->split_cap;
  uint64_t maxb = (uint64_t)c->conf->batch_max_bytes, bytes = EVP__BATCH_OVERHEAD;
  evp__list *batch = &x->batch;
  while (c->work.head && batch->n < cap &&
         (batch->n == 0 || bytes + c->work.head->len + 1 <= maxb)) {
    evp__item *it = evp__item_list_pop(&c->work);
    bytes += it->len + 1;
    evp__item_list_push(batch, it);
  }
  x->fails = 0;
}

/* Start slot x's batch. */
static void send_batch(evp_client_t *c, evp__xfer *x) {
  evp__list *batch = &x->batch;
  for (evp__item *it = batch->head; it; it = it->next) it->attempts++;
  const void *body;
  size_t len;
  evp_err_t e = evp__client_batch_build(c, x, &body, &len);
  if (e != EVP_OK) {
    snprintf(c->last_reason, sizeof c->last_reason, "cannot build the request: %s", evp_err2str(e));
    retry_later(c, batch, x->fails + 1, e, 0, -1);
    return;
  }
  x->len = len;
  x->t0 = evp__mono_us();
  x->token_gen = c->tok.gen;
  x->seq = ++c->xfer_seq;
  EVP__INC(c->st.requests, 1);
  EVP__INC(c->st.events_sent, batch->n);
  if (evp__client_xfer_start(c, x, c->events_url, body, len) != EVP_OK) {
    EVP__INC(c->st.request_errors, 1);
    /* The transport's whole text (cut only at the buffer's end): its
     * details, such as the TLS library's words, come last. */
    evp__seterr(c->last_reason, sizeof c->last_reason, EVP_ERR_TRANSPORT, "POST %.120s: %s",
                c->events_url_shown, x->rb.r.err);
    retry_later(c, batch, x->fails + 1, EVP_ERR_TRANSPORT, 0, -1);
  }
}

/* Must a new batch wait for a retry token too? When the budget is spent and
 * the last round of requests all failed the server looks down: new batches
 * are then probes like retries, so a dead server is not hammered. */
static int fresh_gated(const evp_client_t *c) {
  return c->fails_in_row >= (int)c->http.nx && c->budget < 1.0;
}

/* With one request in flight batches arrive in order: a batch awaiting its
 * retry goes before any new one. */
static int work_blocked(const evp_client_t *c) { return c->http.nx == 1 && c->retry; }

/* Start the next batch on free slot x: a batch whose retry is due (when
 * the budget allows), else a new one from the work list. */
static void start_next(evp_client_t *c, evp__xfer *x, int64_t now) {
  evp__retry **rp = retry_first(c);
  if (rp && (*rp)->due_us <= now) {
    if (!evp__retry_budget_take(c, now)) {
      EVP__INC(c->st.budget_throttled, 1);
      (*rp)->due_us = evp__retry_budget_ready_us(c, now);
      return;
    }
    evp__retry *r = *rp;
    *rp = r->next;
    x->batch = r->items;
    x->fails = r->fails;
    free(r);
    send_batch(c, x);
    return;
  }
  if (!c->work.n || work_blocked(c)) return;
  if (fresh_gated(c)) {
    if (!evp__retry_budget_take(c, now)) return;
  } else {
    evp__retry_budget_deposit(c, now);
  }
  take_batch(c, x);
  send_batch(c, x);
}

/* When the earliest retry may go (NEVER: none). */
static int64_t retry_ready(evp_client_t *c, int64_t now) {
  evp__retry **rp = retry_first(c);
  if (!rp) return NEVER;
  int64_t t = (*rp)->due_us;
  return t > now ? t : evp__retry_budget_ready_us(c, now);
}

/* When the oldest event must be reported timed out (NEVER: nothing held),
 * on the monotonic clock. */
static int64_t next_expiry(const evp_client_t *c) {
  if (c->spool) {
    int64_t oldest = c->work.head ? c->work.head->spool_us : NEVER;
    for (const evp__retry *r = c->retry; r; r = r->next)
      oldest = min64(oldest, r->items.head->spool_us);
    if (oldest == NEVER) return NEVER;
    return evp__mono_us() + (oldest + c->conf->spool_max_age_ms * 1000 - evp__wall_us());
  }
  int64_t oldest = c->work.head ? c->work.head->enq_us : NEVER;
  for (const evp__retry *r = c->retry; r; r = r->next)
    oldest = min64(oldest, r->items.head->enq_us);
  return oldest == NEVER ? NEVER : oldest + c->conf->message_timeout_ms * 1000;
}

static evp__xfer *free_slot(evp_client_t *c) {
  for (size_t i = 0; i < c->http.nx; i++)
    if (!c->http.x[i].busy) return &c->http.x[i];
  return NULL;
}

/* Move the transfers along and settle the finished ones. */
static void collect(evp_client_t *c) {
  evp__client_xfer_drive(c);
  evp__xfer *x;
  evp_err_t e;
  long status;
  while ((x = evp__client_xfer_next_done(c, &e, &status))) finish(c, x, e, status);
}

/* Close passed its deadline: requests in flight are abandoned, their events
 * go back to the work list for the closing report. */
static void abort_all(evp_client_t *c) {
  for (size_t i = 0; i < c->http.nx; i++) {
    evp__xfer *x = &c->http.x[i];
    if (!x->busy) continue;
    evp__client_xfer_abort(c, x);
    set_err(&x->batch, EVP_ERR_TRANSPORT);
    evp__item_list_prepend(&c->work, &x->batch);
  }
  while (c->retry) {
    evp__retry *r = c->retry;
    c->retry = r->next;
    evp__item_list_prepend(&c->work, &r->items);
    free(r);
  }
}

/* Is a token fetch due? Without a usable token, as soon as the backoff
 * allows; with one, at its refresh time. */
static int token_due(const evp_client_t *c, int64_t now) {
  if (now < c->tok.next_try_us) return 0;
  return !c->tok.access || now >= c->tok.refresh_at_us;
}

static int64_t token_wake(const evp_client_t *c) {
  int64_t t = c->tok.access ? c->tok.refresh_at_us : 0;
  return t > c->tok.next_try_us ? t : c->tok.next_try_us;
}

void evp__client_wake_sender(evp_client_t *c) {
  if (c->sender_waiting == 2)
    evp__client_http_wakeup(&c->http);
  else
    pthread_cond_signal(&c->cv_sender);
  c->sender_waiting = 0;
}

/* Sleep (caller holds c->mu; returns with it released) until @p wake
 * (NEVER: no deadline) or a wake-up: on the condition variable when nothing
 * is in flight, else in the transport's poll, so that finished requests,
 * the deadline and wake-ups from evp_send, flush or close all end the
 * wait; the finished requests are then settled. */
static void wait_until(evp_client_t *c, int64_t now, int64_t wake) {
  if (!c->http.busy_n) {
    c->sender_waiting = 1;
    if (wake == NEVER) {
      pthread_cond_wait(&c->cv_sender, &c->mu);
    } else {
      struct timespec ts = evp__timespec_us(wake);
      pthread_cond_timedwait(&c->cv_sender, &c->mu, &ts);
    }
    c->sender_waiting = 0;
    pthread_mutex_unlock(&c->mu);
    return;
  }
  c->sender_waiting = 2;
  pthread_mutex_unlock(&c->mu);
  int64_t ms = wake == NEVER ? 1000 : (wake - now + 999) / 1000;
  evp__client_xfer_wait(c, (int)(ms < 0 ? 0 : ms > 1000 ? 1000 : ms));
  pthread_mutex_lock(&c->mu);
  c->sender_waiting = 0;
  pthread_mutex_unlock(&c->mu);
  collect(c);
}

void *evp__client_sender_main(void *arg) {
  evp_client_t *c = arg;
  evp__http *h = &c->http;
  for (;;) {
    if (atomic_load(&c->abort_io)) abort_all(c);
    if (c->spool) {
      evp__spool_refill(c);
      evp__spool_drop(c);
      evp__spool_commit(c, 0);
    }
    pthread_mutex_lock(&c->mu);
    evp__item_list_append(&c->work, &c->q);
    int64_t now = evp__mono_us();
    int closing = c->closing, flushing = c->flush_waiters > 0;
    /* Spilled events to read back, and room for them: no sleeping. */
    int more = c->spool && (evp__spool_readable(c) || c->spool->drop_wanted);
    if (closing &&
        (now >= c->close_deadline_us || (!c->work.n && !c->retry && !h->busy_n && !more))) {
      pthread_mutex_unlock(&c->mu);
      break;
    }
    int64_t commit_at = c->spool ? evp__spool_commit_due(c) : NEVER;
    if (c->paused && !closing && !flushing) {
      /* Paused: no request starts, no token is fetched, no retry spends
       * its budget; what is in flight finishes; events still age. */
      int64_t wake = min64(next_expiry(c), commit_at);
      c->need_n = SIZE_MAX;
      c->need_bytes = UINT64_MAX;
      if (c->spool && c->spool->drop_wanted) { /* dropping is done at the top */
        pthread_mutex_unlock(&c->mu);
        continue;
      }
      if (now >= wake) {
        pthread_mutex_unlock(&c->mu);
        expire(c, now);
        collect(c);
        continue;
      }
      wait_until(c, now, wake);
      continue;
    }
    int64_t wake = NEVER;
    int act = 0;
    /* A token fetch waits until nothing is in flight: the requests point at
     * the header list that carries the token. */
    int tok_due = token_due(c, now), tok_ok = !tok_due || !h->busy_n;
    size_t cap = (size_t)c->conf->batch_max_events;
    if (c->split_cap && c->split_cap < cap) cap = c->split_cap;
    /* After a permanent error no token is fetched until there are events
     * again (then once, after retry.backoff.max.ms). */
    int perm = c->perm_err != EVP_OK, perm_now = perm && now < c->perm_until_us;
    if (!c->work.n && !c->retry) {
      if (tok_due && tok_ok && !perm)
        act = 1;
      else if (!h->busy_n && !perm)
        wake = token_wake(c);
    } else {
      int64_t expiry = next_expiry(c);
      int64_t ready = NEVER;
      if (c->work.n && !work_blocked(c)) {
        ready = c->work.head->enq_us + c->conf->linger_ms * 1000;
        if (closing || flushing || c->work.n >= cap ||
            c->work.bytes >= (uint64_t)c->conf->batch_max_bytes)
          ready = now;
        if (fresh_gated(c) && ready < NEVER)
          ready = ready > now ? ready : evp__retry_budget_ready_us(c, now);
      }
      ready = min64(ready, retry_ready(c, now));
      if (ready < c->pause_until_us) ready = c->pause_until_us;
      if (!c->tok.access && c->tok.next_try_us > ready) ready = c->tok.next_try_us;
      int slot = h->busy_n < h->nx && tok_ok;
      if (perm_now) ready = now, slot = 1; /* fail them at once */
      if (!slot) ready = NEVER;            /* a finished transfer wakes the poll below */
      if (now >= ready || now >= expiry)
        act = 1;
      else
        wake = min64(ready, expiry);
      if (closing) wake = min64(wake, c->close_deadline_us);
      /* Wake early only when a full batch is ready (linger), or for any new
       * event (backoff: nothing to gain), and never while no slot is free. */
      c->need_n = c->work.n >= cap ? 1 : cap - c->work.n;
      c->need_bytes = (uint64_t)c->conf->batch_max_bytes;
      if (now < c->pause_until_us || !slot) c->need_n = SIZE_MAX, c->need_bytes = UINT64_MAX;
    }
    wake = min64(wake, commit_at);
    if (!act && more) {
      pthread_mutex_unlock(&c->mu);
      collect(c);
      continue;
    }
    if (!act) {
      if (!c->work.n) c->need_n = 1, c->need_bytes = 0;
      wait_until(c, now, wake);
      continue;
    }
    pthread_mutex_unlock(&c->mu);

    expire(c, now);
    if (perm_now) {
      /* A permanent error stands: new events fail the same way at once. */
      int64_t until = c->perm_until_us;
      evp__client_fail_permanently(c, c->perm_err, c->perm_msg);
      c->perm_until_us = until; /* the window does not move with each event */
      collect(c);
      continue;
    }
    if (tok_due && tok_ok && (!perm || c->work.n || c->retry)) {
      if (evp__client_token_refresh(c) != EVP_OK) {
        /* A request the close interrupted says nothing about the service:
         * the failure before it stays the last error the reports give. */
        if (!atomic_load(&c->abort_io) || !c->last_reason[0])
          snprintf(c->last_reason, sizeof c->last_reason, "%s", c->tok.last_msg);
        set_err(&c->work, c->tok.last_err);
        if (atomic_load(&c->abort_io))
          ; /* the close interrupted the request: no service error to report */
        else if (c->tok.permanent)
          evp__client_fail_permanently(c, c->tok.last_err, c->tok.last_msg);
        else
          evp__client_raise(c, c->tok.last_err, 1, c->tok.last_msg);
      } else {
        c->perm_err = EVP_OK;
        evp__client_raise_clear(c);
      }
    }
    evp__xfer *x = free_slot(c);
    if ((c->work.n || c->retry) && now >= c->pause_until_us && x &&
        !(token_due(c, now) && h->busy_n)) {
      if (!c->tok.access || now >= c->tok.expires_at_us) {
        /* No usable token: wait for the token backoff, events keep aging. */
        if (c->tok.access) evp__client_token_wipe(&c->tok);
      } else {
        start_next(c, x, now);
      }
    }
    collect(c);
  }

  /* Closing: everything left is reported undelivered. */
  abort_all(c);
  pthread_mutex_lock(&c->mu);
  evp__item_list_append(&c->work, &c->q);
  pthread_mutex_unlock(&c->mu);
  if (c->spool) {
    /* They stay in the spool for the next client; nothing is reported. */
    pthread_mutex_lock(&c->mu);
    c->closed_undelivered = (long)(c->work.n + evp__spool_unread(c));
    pthread_mutex_unlock(&c->mu);
    if (c->closed_undelivered)
      evp__client_log(c, EVP_LOG_INFO, "%ld event(s) left in the spool for the next client",
                      c->closed_undelivered);
    evp__client_items_recycle(c, &c->work);
    return NULL;
  }
  c->closed_undelivered = (long)c->work.n;
  if (c->work.n) {
    char why[320];
    snprintf(why, sizeof why, "client closed before delivery%s%s",
             c->last_reason[0] ? "; last error: " : "", c->last_reason);
    evp__client_log(c, EVP_LOG_WARNING, "%zu event(s) not delivered at close", c->work.n);
    evp__client_report_list(c, &c->work, EVP_DELIVERY_FAILED, EVP_ERR_STATE, why);
  }
  return NULL;
}
