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

#define NEVER INT64_MAX

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* Report events whose message.timeout.ms has passed. The work list is in
 * enqueue order (retries go back to the front), so only the head is checked. */
static void expire(evp_client_t *c, int64_t now) {
  int64_t tmo = c->conf->message_timeout_ms * 1000;
  evp__list dead = {0};
  while (c->work.head && now - c->work.head->enq_us >= tmo)
    evp__item_list_push(&dead, evp__item_list_pop(&c->work));
  if (!dead.n)
    return;
  char why[320];
  snprintf(why, sizeof why, "message.timeout.ms expired%s%s", c->last_reason[0] ? "; last error: " : "",
           c->last_reason);
  evp__client_log(c, EVP_LOG_WARNING, "%zu event(s) timed out", dead.n);
  evp__client_report_list(c, &dead, EVP_DELIVERY_FAILED, EVP_ERR_TIMED_OUT, why);
}

static void set_err(evp__list *l, evp_err_t e) {
  for (evp__item *it = l->head; it; it = it->next)
    it->err = (uint16_t)e;
}

/* A retriable failure of the whole batch: put it back and back off. */
static void retry_later(evp_client_t *c, evp__list *batch, evp_err_t e, long retry_after_ms) {
  set_err(batch, e);
  EVP__INC(c->st.retries, batch->n);
  evp__item_list_prepend(&c->work, batch);
  c->fails_in_row++;
  int throttled = evp__retry_budget_fail(c);
  int64_t d = throttled ? c->conf->retry_backoff_max_ms
                        : evp__retry_backoff_ms(&c->rng, c->conf->retry_backoff_ms,
                                          c->conf->retry_backoff_max_ms, c->fails_in_row);
  if (throttled)
    EVP__INC(c->st.budget_throttled, 1);
  if (retry_after_ms > d)
    d = retry_after_ms;
  c->backoff_until_us = evp__client_now_us() + d * 1000;
  evp__client_log(c, EVP_LOG_INFO, "retrying %zu event(s) in %lld ms: %s", c->work.n, (long long)d,
           c->last_reason);
}

static void on_success(evp_client_t *c, const evp__xfer *x, evp__list *batch) {
  evp__resp r;
  const char *body = x->rb.resp ? x->rb.resp : "";
  c->fails_in_row = 0;
  c->auth_retry = 0;
  evp__retry_budget_ok(c);
  if (evp__events_resp_parse(body, x->rb.resp_len, batch->n, &r) != EVP_OK) {
    /* The status says accepted; an unreadable body cannot say otherwise. */
    evp__client_log(c, EVP_LOG_WARNING, "unreadable 200 response body; counting %zu event(s) delivered",
             batch->n);
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
  if (retry.n) {
    EVP__INC(c->st.retries, retry.n);
    evp__item_list_prepend(&c->work, &retry);
    int64_t d = evp__retry_backoff_ms(&c->rng, c->conf->retry_backoff_ms, c->conf->retry_backoff_max_ms, 1);
    c->backoff_until_us = evp__client_now_us() + d * 1000;
  }
}

/* Is this 401 final? Yes when a fresh token was refused too: for the request
 * that carried it after the first 401, and for the others that were in
 * flight with it when that happened. */
static int auth_final(const evp_client_t *c, const evp__xfer *x) {
  if (x->token_gen == c->auth_fail_gen && x->seq <= c->auth_fail_seq)
    return 1;
  return c->auth_retry && x->token_gen != c->auth_retry_gen;
}

/* The answer to x's request: per-event outcomes, or the whole batch retried
 * or failed. */
static void finish(evp_client_t *c, evp__xfer *x, evp_err_t e, long status) {
  evp__list batch = x->batch;
  x->batch = (evp__list){0};
  evp__client_stats_latency(&c->st, evp__client_now_us() - x->t0);
  if (e != EVP_OK) {
    EVP__INC(c->st.request_errors, 1);
    snprintf(c->last_reason, sizeof c->last_reason, "POST /events: %.200s", x->rb.curl_err);
    retry_later(c, &batch, EVP_ERR_TRANSPORT, -1);
    return;
  }
  EVP__INC(c->st.bytes_sent, x->len);
  if (status >= 200 && status < 300) {
    on_success(c, x, &batch);
    return;
  }
  EVP__INC(c->st.request_errors, 1);
  snprintf(c->last_reason, sizeof c->last_reason, "POST /events: HTTP %ld%s%.120s", status,
           x->rb.resp_len ? ": " : "", x->rb.resp_len ? x->rb.resp : "");
  if (status == 408 || status == 429 || status >= 500) {
    retry_later(c, &batch, EVP_ERR_HTTP, x->rb.retry_after_ms);
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
      evp__client_log(c, EVP_LOG_WARNING, "413 from the server: batches now at most %zu events", c->split_cap);
    }
    EVP__INC(c->st.retries, batch.n);
    evp__item_list_prepend(&c->work, &batch);
  } else {
    evp_err_t fe = status == 401 || status == 403 ? EVP_ERR_AUTH
                   : status == 413               ? EVP_ERR_TOO_LARGE
                                                 : EVP_ERR_HTTP;
    if (status == 401 && c->auth_retry) {
      /* The requests in flight with this token fail with it; later ones
       * start over (refresh once, then final). */
      c->auth_retry = 0;
      c->auth_fail_gen = x->token_gen;
      c->auth_fail_seq = c->xfer_seq;
    }
    evp__client_log(c, EVP_LOG_ERR, "%zu event(s) failed: %s", batch.n, c->last_reason);
    evp__client_report_list(c, &batch, EVP_DELIVERY_FAILED, fe, c->last_reason);
  }
}

/* Take the next batch from the work list and start it on slot x. */
static void start_batch(evp_client_t *c, evp__xfer *x) {
  size_t cap = (size_t)c->conf->batch_max_events;
  if (c->split_cap && c->split_cap < cap)
    cap = c->split_cap;
  uint64_t maxb = (uint64_t)c->conf->batch_max_bytes, bytes = 13;
  evp__list *batch = &x->batch;
  while (c->work.head && batch->n < cap &&
         (batch->n == 0 || bytes + c->work.head->len + 1 <= maxb)) {
    evp__item *it = evp__item_list_pop(&c->work);
    bytes += it->len + 1;
    it->attempts++;
    evp__item_list_push(batch, it);
  }
  const void *body;
  size_t len;
  evp_err_t e = evp__client_batch_build(c, x, &body, &len);
  if (e != EVP_OK) {
    snprintf(c->last_reason, sizeof c->last_reason, "cannot build the request: %s", evp_err2str(e));
    retry_later(c, batch, e, -1);
    return;
  }
  x->len = len;
  x->t0 = evp__client_now_us();
  x->token_gen = c->tok.gen;
  x->seq = ++c->xfer_seq;
  EVP__INC(c->st.requests, 1);
  EVP__INC(c->st.events_sent, batch->n);
  if (evp__client_xfer_start(c, x, c->events_url, body, len) != EVP_OK) {
    EVP__INC(c->st.request_errors, 1);
    snprintf(c->last_reason, sizeof c->last_reason, "POST /events: %.200s", x->rb.curl_err);
    retry_later(c, batch, EVP_ERR_TRANSPORT, -1);
  }
}

static evp__xfer *free_slot(evp_client_t *c) {
  for (size_t i = 0; i < c->http.nx; i++)
    if (!c->http.x[i].busy)
      return &c->http.x[i];
  return NULL;
}

/* Move the transfers along and settle the finished ones. */
static void collect(evp_client_t *c) {
  evp__client_xfer_drive(c);
  evp__xfer *x;
  evp_err_t e;
  long status;
  while ((x = evp__client_xfer_next_done(c, &e, &status)))
    finish(c, x, e, status);
}

/* Close passed its deadline: requests in flight are abandoned, their events
 * go back to the work list for the closing report. */
static void abort_all(evp_client_t *c) {
  for (size_t i = 0; i < c->http.nx; i++) {
    evp__xfer *x = &c->http.x[i];
    if (!x->busy)
      continue;
    evp__client_xfer_abort(c, x);
    set_err(&x->batch, EVP_ERR_TRANSPORT);
    evp__item_list_prepend(&c->work, &x->batch);
  }
}

/* Is a token fetch due? Without a usable token, as soon as the backoff
 * allows; with one, at its refresh time. */
static int token_due(const evp_client_t *c, int64_t now) {
  if (now < c->tok.next_try_us)
    return 0;
  return !c->tok.access || now >= c->tok.refresh_at_us;
}

static int64_t token_wake(const evp_client_t *c) {
  int64_t t = c->tok.access ? c->tok.refresh_at_us : 0;
  return t > c->tok.next_try_us ? t : c->tok.next_try_us;
}

void evp__client_wake_sender(evp_client_t *c) {
  if (c->sender_waiting == 2)
    curl_multi_wakeup(c->http.m);
  else
    pthread_cond_signal(&c->cv_sender);
  c->sender_waiting = 0;
}

void *evp__client_sender_main(void *arg) {
  evp_client_t *c = arg;
  evp__http *h = &c->http;
  for (;;) {
    if (atomic_load(&c->abort_io))
      abort_all(c);
    pthread_mutex_lock(&c->mu);
    evp__item_list_append(&c->work, &c->q);
    int64_t now = evp__client_now_us();
    int closing = c->closing, flushing = c->flush_waiters > 0;
    if (closing && (now >= c->close_deadline_us || (!c->work.n && !h->busy_n))) {
      pthread_mutex_unlock(&c->mu);
      break;
    }
    int64_t wake = NEVER;
    int act = 0;
    /* A token fetch waits until nothing is in flight: the requests point at
     * the header list that carries the token. */
    int tok_due = token_due(c, now), tok_ok = !tok_due || !h->busy_n;
    size_t cap = (size_t)c->conf->batch_max_events;
    if (c->split_cap && c->split_cap < cap)
      cap = c->split_cap;
    if (!c->work.n) {
      if (tok_due && tok_ok)
        act = 1;
      else if (!h->busy_n)
        wake = token_wake(c);
    } else {
      int64_t oldest = c->work.head->enq_us;
      int64_t expiry = oldest + c->conf->message_timeout_ms * 1000;
      int64_t ready = oldest + c->conf->linger_ms * 1000;
      if (closing || flushing || c->work.n >= cap || c->work.bytes >= (uint64_t)c->conf->batch_max_bytes)
        ready = now;
      ready = ready > c->backoff_until_us ? ready : c->backoff_until_us;
      if (!c->tok.access && c->tok.next_try_us > ready)
        ready = c->tok.next_try_us;
      int slot = h->busy_n < h->nx && tok_ok;
      if (!slot)
        ready = NEVER; /* a finished transfer wakes the poll below */
      if (now >= ready || now >= expiry)
        act = 1;
      else
        wake = min64(ready, expiry);
      if (closing)
        wake = min64(wake, c->close_deadline_us);
      /* Wake early only when a full batch is ready (linger), or for any new
       * event (backoff: nothing to gain), and never while no slot is free. */
      c->need_n = c->work.n >= cap ? 1 : cap - c->work.n;
      c->need_bytes = (uint64_t)c->conf->batch_max_bytes;
      if (now < c->backoff_until_us || !slot)
        c->need_n = SIZE_MAX, c->need_bytes = UINT64_MAX;
    }
    if (!act) {
      if (!c->work.n)
        c->need_n = 1, c->need_bytes = 0;
      if (!h->busy_n) {
        c->sender_waiting = 1;
        if (wake == NEVER) {
          pthread_cond_wait(&c->cv_sender, &c->mu);
        } else {
          struct timespec ts = evp__client_abs_ts(wake);
          pthread_cond_timedwait(&c->cv_sender, &c->mu, &ts);
        }
        c->sender_waiting = 0;
        pthread_mutex_unlock(&c->mu);
        continue;
      }
      /* Requests in flight: wait for them, a deadline, or a wake-up
       * (curl_multi_wakeup from evp_send, flush or close). */
      c->sender_waiting = 2;
      pthread_mutex_unlock(&c->mu);
      int64_t ms = wake == NEVER ? 1000 : (wake - now + 999) / 1000;
      curl_multi_poll(h->m, NULL, 0, (int)(ms < 0 ? 0 : ms > 1000 ? 1000 : ms), NULL);
      pthread_mutex_lock(&c->mu);
      c->sender_waiting = 0;
      pthread_mutex_unlock(&c->mu);
      collect(c);
      continue;
    }
    pthread_mutex_unlock(&c->mu);

    expire(c, now);
    if (tok_due && tok_ok) {
      if (evp__client_token_refresh(c) != EVP_OK) {
        snprintf(c->last_reason, sizeof c->last_reason, "%s", c->tok.last_msg);
        set_err(&c->work, c->tok.last_err);
      }
    }
    evp__xfer *x = free_slot(c);
    if (c->work.n && now >= c->backoff_until_us && x && !(token_due(c, now) && h->busy_n)) {
      if (!c->tok.access || now >= c->tok.expires_at_us) {
        /* No usable token: wait for the token backoff, events keep aging. */
        if (c->tok.access)
          evp__client_token_wipe(&c->tok);
      } else {
        start_batch(c, x);
      }
    }
    collect(c);
  }

  /* Closing: everything left is reported undelivered. */
  abort_all(c);
  pthread_mutex_lock(&c->mu);
  evp__item_list_append(&c->work, &c->q);
  pthread_mutex_unlock(&c->mu);
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
