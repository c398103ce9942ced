/* Delivery reports: every reported event is counted in the stats and, when
 * the application asked for its report, handed to the delivery callback as
 * an evp_delivery_t read through accessors (so fields can be added without
 * breaking the ABI): at once on the sender thread (callbacks.mode=thread),
 * or held for evp_poll (callbacks.mode=poll, see poll.c). Also the adapter
 * that keeps the deprecated 7-argument callback working on top. */
#include <stdlib.h>
#include "client/client_int.h"
#include "client/spool.h"

static void count(evp_client_t *c, evp_delivery_status_t st, evp_err_t err, const char *reason) {
  switch (st) {
  case EVP_DELIVERY_OK: EVP__INC(c->st.delivered, 1); break;
  case EVP_DELIVERY_REJECTED:
    EVP__INC(c->st.rejected_server, 1);
    evp__client_stats_rejected(&c->st, reason);
    break;
  case EVP_DELIVERY_FAILED:
    EVP__INC(c->st.failed, 1);
    if (err == EVP_ERR_TIMED_OUT)
      EVP__INC(c->st.failed_timeout, 1);
    else if (err == EVP_ERR_AUTH)
      EVP__INC(c->st.failed_auth, 1);
    else if (err == EVP_ERR_STATE)
      EVP__INC(c->st.failed_closed, 1);
    else
      EVP__INC(c->st.failed_http, 1);
    break;
  }
}

/* One event's outcome. In poll mode the events of one outcome share one copy
 * of its reason (*why, made on first use). */
static void report(evp_client_t *c, evp__item *it, evp_delivery_status_t st, evp_err_t err,
                   const char *reason, evp__why **why) {
  count(c, st, err, reason);
  if (c->spool) evp__spool_settle(c, it); /* the spool may forget it */
  if (c->conf->delivery_cb && (c->conf->dr_mode == EVP__DR_ALL || st != EVP_DELIVERY_OK)) {
    it->err = (uint16_t)err;
    if (c->conf->callbacks_mode == EVP__CB_POLL) {
      it->status = (uint8_t)st;
      evp__client_poll_stage(c, it, why, reason);
      return; /* its room is freed when evp_poll has served it */
    }
    evp_delivery_t d = {it, reason, evp__mono_us() - it->enq_us, st, err};
    evp__client_call_delivery(c, &d);
  }
  evp__item_list_push(&c->dead, it); /* recycled at the next queue release */
}

void evp__client_report(evp_client_t *c, evp__item *it, evp_delivery_status_t st, evp_err_t err,
                        const char *reason) {
  evp__why *why = NULL;
  report(c, it, st, err, reason, &why);
}

void evp__client_report_list(evp_client_t *c, evp__list *l, evp_delivery_status_t st, evp_err_t err,
                             const char *reason) {
  size_t n = l->n;
  uint64_t b = l->bytes;
  evp__why *why = NULL;
  evp__item *it;
  while ((it = evp__item_list_pop(l))) report(c, it, st, err, reason, &why);
  evp__client_queue_release(c, n, b);
}

/* ------------------------------------------------------------ accessors */

evp_delivery_status_t evp_delivery_status(const evp_delivery_t *d) {
  return d ? d->status : EVP_DELIVERY_FAILED;
}

evp_err_t evp_delivery_error(const evp_delivery_t *d) { return d ? d->err : EVP_ERR_INVALID_ARG; }

const char *evp_delivery_reason(const evp_delivery_t *d) {
  if (!d) return NULL;
  if (d->reason) return d->reason;
  /* Poll mode without memory to keep the text: the error's description. */
  return d->status == EVP_DELIVERY_OK ? NULL : evp_err2str(d->err);
}

const char *evp_delivery_event_id(const evp_delivery_t *d, size_t *len) {
  if (len) *len = d ? d->it->id_len : 0;
  return d ? d->it->json + d->it->id_off : NULL;
}

void *evp_delivery_opaque(const evp_delivery_t *d) { return d ? d->it->opaque : NULL; }

long long evp_delivery_latency_us(const evp_delivery_t *d) {
  return d ? (long long)d->latency_us : 0;
}

int evp_delivery_from_spool(const evp_delivery_t *d) { return d ? d->it->from_spool : 0; }

int evp_delivery_attempts(const evp_delivery_t *d) { return d ? d->it->attempts : 0; }

int evp_delivery_http_status(const evp_delivery_t *d) { return d ? d->it->http_status : 0; }

void evp__delivery_to_dr_cb(evp_client_t *c, const evp_delivery_t *d, void *opaque) {
  (void)opaque; /* the deprecated callback gets the configuration's opaque */
  size_t idl;
  const char *id = evp_delivery_event_id(d, &idl);
  const char *reason = evp_delivery_reason(d);
  c->conf->dr_cb(id, idl, d->status, d->err, reason ? reason : "", d->it->attempts,
                 c->conf->opaque);
}
