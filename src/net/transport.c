/* The transport's function table (net/transport.h): dispatch, and the one
 * blocking request built on it. The libcurl implementation is in
 * transport_curl.c. */
#include <stdlib.h>
#include <stdio.h>
#include "net/transport.h"

struct evp__transport {
  const evp__transport_ops_t *ops;
  void *st;
  size_t slots;
  evp__net_resp_t **resp; /* each slot's response, while it has a request */
};

evp__transport_t *evp__transport_new_custom(const evp__transport_ops_t *ops, void *st,
                                            size_t slots) {
  evp__transport_t *t = slots ? calloc(1, sizeof *t) : NULL;
  if (t && !(t->resp = calloc(slots, sizeof *t->resp))) {
    free(t);
    t = NULL;
  }
  if (!t) {
    ops->free(st);
    return NULL;
  }
  t->ops = ops;
  t->st = st;
  t->slots = slots;
  return t;
}

void evp__transport_free(evp__transport_t *t) {
  if (!t) return;
  t->ops->free(t->st);
  free(t->resp);
  free(t);
}

size_t evp__transport_slots(const evp__transport_t *t) { return t->slots; }

evp_err_t evp__transport_start(evp__transport_t *t, size_t slot, const evp__net_req_t *req,
                               evp__net_resp_t *resp) {
  if (slot >= t->slots) {
    evp__net_resp_reset(resp);
    snprintf(resp->err, sizeof resp->err, "no such request slot");
    return EVP_ERR_TRANSPORT;
  }
  evp_err_t rc = t->ops->start(t->st, slot, req, resp);
  if (rc == EVP_OK) /* else the slot keeps what it had (it may be busy) */
    t->resp[slot] = resp;
  return rc;
}

/* A body that could not be kept fails the request, whatever carried it,
 * unless the caller keeps what fitted (keep_over). */
static int settle(evp__transport_t *t, int got, size_t slot, evp_err_t *rc) {
  if (!got) return 0;
  evp__net_resp_t *r = t->resp[slot];
  t->resp[slot] = NULL;
  if (r && r->body_err != EVP_OK && !r->keep_over) {
    *rc = r->body_err;
    r->status = 0;
    snprintf(r->err, sizeof r->err, "%s",
             r->body_err == EVP_ERR_NOMEM ? "out of memory for the response"
                                          : "response larger than the limit");
  }
  return 1;
}

void evp__transport_poll(evp__transport_t *t, int timeout_ms) { t->ops->poll(t->st, timeout_ms); }

int evp__transport_next_done(evp__transport_t *t, size_t *slot, evp_err_t *rc) {
  int got = t->ops->take(t->st, SIZE_MAX, slot, rc);
  return settle(t, got, got ? *slot : 0, rc);
}

void evp__transport_abort(evp__transport_t *t, size_t slot) {
  if (slot < t->slots) {
    t->ops->abort(t->st, slot);
    t->resp[slot] = NULL;
  }
}

void evp__transport_wakeup(evp__transport_t *t) {
  if (t) t->ops->wakeup(t->st);
}

evp_err_t evp__transport_perform(evp__transport_t *t, size_t slot, const evp__net_req_t *req,
                                 evp__net_resp_t *resp, const atomic_int *cancel) {
  evp_err_t rc = evp__transport_start(t, slot, req, resp);
  if (rc != EVP_OK) return rc;
  /* As libcurl's own blocking call does it: drive, then wait (at most a
   * second, so that cancel is seen even without a wakeup) and drive. */
  for (int wait_ms = 0;; wait_ms = 1000) {
    if (cancel && atomic_load(cancel)) {
      evp__transport_abort(t, slot);
      snprintf(resp->err, sizeof resp->err, "aborted");
      return EVP_ERR_TIMED_OUT;
    }
    t->ops->poll(t->st, wait_ms);
    size_t done;
    if (settle(t, t->ops->take(t->st, slot, &done, &rc), slot, &rc)) return rc;
  }
}
