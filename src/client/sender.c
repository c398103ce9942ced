/* The background sender: takes events from the queue, keeps a token, sends
 * batches, and turns every response into per-event outcomes (delivered,
 * rejected, retried, failed). It is the only thread that touches the HTTP
 * handle, the token and the work list, so those need no locks. */
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

static void on_success(evp_client_t *c, evp__list *batch) {
  evp__resp r;
  const char *body = c->http.resp ? c->http.resp : "";
  c->fails_in_row = 0;
  c->auth_retry = 0;
  evp__retry_budget_ok(c);
  if (evp__events_resp_parse(body, c->http.resp_len, batch->n, &r) != EVP_OK) {
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

static void send_batch(evp_client_t *c) {
  size_t cap = (size_t)c->conf->batch_max_events;
  if (c->split_cap && c->split_cap < cap)
    cap = c->split_cap;
  uint64_t maxb = (uint64_t)c->conf->batch_max_bytes, bytes = 13;
  evp__list batch = {0};
  while (c->work.head && batch.n < cap &&
         (batch.n == 0 || bytes + c->work.head->len + 1 <= maxb)) {
    evp__item *it = evp__item_list_pop(&c->work);
    bytes += it->len + 1;
    it->attempts++;
    evp__item_list_push(&batch, it);
  }
  const void *body;
  size_t len;
  evp_err_t e = evp__client_batch_build(c, &batch, &body, &len);
  if (e != EVP_OK) {
    snprintf(c->last_reason, sizeof c->last_reason, "cannot build the request: %s", evp_err2str(e));
    retry_later(c, &batch, e, -1);
    return;
  }
  long status = 0;
  int64_t t0 = evp__client_now_us();
  EVP__INC(c->st.requests, 1);
  EVP__INC(c->st.events_sent, batch.n);
  e = evp__client_http_post(c, c->events_url, c->http.ev_headers, body, len, &status);
  evp__client_stats_latency(&c->st, evp__client_now_us() - t0);
  if (e != EVP_OK) {
    EVP__INC(c->st.request_errors, 1);
    snprintf(c->last_reason, sizeof c->last_reason, "POST /events: %.200s", c->http.curl_err);
    if (e == EVP_ERR_TIMED_OUT) { /* aborted by close: the caller reports */
      set_err(&batch, EVP_ERR_TRANSPORT);
      evp__item_list_prepend(&c->work, &batch);
      return;
    }
    retry_later(c, &batch, EVP_ERR_TRANSPORT, -1);
    return;
  }
  EVP__INC(c->st.bytes_sent, len);
  if (status >= 200 && status < 300) {
    on_success(c, &batch);
    return;
  }
  EVP__INC(c->st.request_errors, 1);
  snprintf(c->last_reason, sizeof c->last_reason, "POST /events: HTTP %ld%s%.120s", status,
           c->http.resp_len ? ": " : "", c->http.resp_len ? c->http.resp : "");
  if (status == 408 || status == 429 || status >= 500) {
    retry_later(c, &batch, EVP_ERR_HTTP, c->http.retry_after_ms);
  } else if (status == 401 && !c->auth_retry) {
    /* The token may have been revoked or rotated: fetch a new one and
     * retry once, at once. */
    c->auth_retry = 1;
    c->tok.refresh_at_us = 0;
    c->tok.next_try_us = 0;
    evp__client_token_wipe(&c->tok);
    set_err(&batch, EVP_ERR_AUTH);
    EVP__INC(c->st.retries, batch.n);
    evp__item_list_prepend(&c->work, &batch);
  } else if (status == 413 && batch.n > 1) {
    c->split_cap = batch.n / 2;
    EVP__INC(c->st.splits, 1);
    evp__client_log(c, EVP_LOG_WARNING, "413 from the server: batches now at most %zu events", c->split_cap);
    EVP__INC(c->st.retries, batch.n);
    evp__item_list_prepend(&c->work, &batch);
  } else {
    evp_err_t fe = status == 401 || status == 403 ? EVP_ERR_AUTH
                   : status == 413               ? EVP_ERR_TOO_LARGE
                                                 : EVP_ERR_HTTP;
    if (status == 401)
      c->auth_retry = 0;
    evp__client_log(c, EVP_LOG_ERR, "%zu event(s) failed: %s", batch.n, c->last_reason);
    evp__client_report_list(c, &batch, EVP_DELIVERY_FAILED, fe, c->last_reason);
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

void *evp__client_sender_main(void *arg) {
  evp_client_t *c = arg;
  for (;;) {
    pthread_mutex_lock(&c->mu);
    evp__item_list_append(&c->work, &c->q);
    int64_t now = evp__client_now_us();
    int closing = c->closing, flushing = c->flush_waiters > 0;
    if (closing && (now >= c->close_deadline_us || !c->work.n)) {
      pthread_mutex_unlock(&c->mu);
      break;
    }
    int64_t wake = NEVER;
    int act = 0;
    size_t cap = (size_t)c->conf->batch_max_events;
    if (c->split_cap && c->split_cap < cap)
      cap = c->split_cap;
    if (!c->work.n) {
      if (token_due(c, now))
        act = 1;
      else
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
      if (now >= ready || now >= expiry)
        act = 1;
      else
        wake = min64(ready, expiry);
      if (closing)
        wake = min64(wake, c->close_deadline_us);
      /* Wake early only when a full batch is ready (linger), or for any new
       * event (backoff: nothing to gain). */
      c->need_n = c->work.n >= cap ? 1 : cap - c->work.n;
      c->need_bytes = (uint64_t)c->conf->batch_max_bytes;
      if (now < c->backoff_until_us)
        c->need_n = SIZE_MAX, c->need_bytes = UINT64_MAX;
    }
    if (!act) {
      if (!c->work.n)
        c->need_n = 1, c->need_bytes = 0;
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
    pthread_mutex_unlock(&c->mu);

    expire(c, now);
    if (token_due(c, now)) {
      if (evp__client_token_refresh(c) != EVP_OK) {
        snprintf(c->last_reason, sizeof c->last_reason, "%s", c->tok.last_msg);
        set_err(&c->work, c->tok.last_err);
      }
    }
    if (!c->work.n || now < c->backoff_until_us)
      continue;
    if (!c->tok.access || now >= c->tok.expires_at_us) {
      /* No usable token: wait for the token backoff, events keep aging. */
      if (c->tok.access)
        evp__client_token_wipe(&c->tok);
      continue;
    }
    send_batch(c);
  }

  /* Closing: everything left is reported undelivered. */
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
