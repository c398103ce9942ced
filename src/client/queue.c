/* The bounded queue between evp_send callers and the sender thread. Limits
 * count everything the client still holds (queued, in flight, awaiting retry)
 * so memory stays within queue.max.events / queue.max.bytes. The sender is
 * woken only when it has something to do (first event while idle, or a full
 * batch while lingering), not on every evp_send. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdlib.h>
#include "client/client_int.h"

static int fits(const evp_client_t *c, uint64_t cost) {
  return c->pending_n + 1 <= (uint64_t)c->conf->queue_max_events &&
         c->pending_bytes + cost <= (uint64_t)c->conf->queue_max_bytes;
}

evp_err_t evp__client_queue_push(evp_client_t *c, evp__item *it) {
  uint64_t cost = EVP__ITEM_COST(it);
  it->enq_us = evp__mono_us();
  pthread_mutex_lock(&c->mu);
  if (c->closing) {
    pthread_mutex_unlock(&c->mu);
    return EVP_ERR_STATE;
  }
  if (!fits(c, cost)) {
    int64_t bt = c->conf->queue_block_timeout_ms;
    /* The sender thread (a callback calling evp_send) must never wait for
     * room only it can make. */
    if (bt <= 0 || pthread_equal(pthread_self(), c->thread)) {
      pthread_mutex_unlock(&c->mu);
      return EVP_ERR_QUEUE_FULL;
    }
    struct timespec ts = evp__timespec_us(evp__mono_us() + bt * 1000);
    c->space_waiters++;
    while (!fits(c, cost) && !c->closing)
      if (pthread_cond_timedwait(&c->cv_space, &c->mu, &ts) == ETIMEDOUT)
        break;
    c->space_waiters--;
    if (c->closing || !fits(c, cost)) {
      evp_err_t e = c->closing ? EVP_ERR_STATE : EVP_ERR_QUEUE_FULL;
      pthread_mutex_unlock(&c->mu);
      return e;
    }
  }
  evp__item_list_push(&c->q, it);
  c->pending_n++;
  c->pending_bytes += cost;
  if (c->sender_waiting && (c->q.n >= c->need_n || c->q.bytes >= c->need_bytes))
    evp__client_wake_sender(c);
  pthread_mutex_unlock(&c->mu);
  return EVP_OK;
}

evp__item *evp__client_item_get(void *client, size_t n) {
  evp_client_t *c = client;
  evp__item *it = NULL;
  pthread_mutex_lock(&c->free_mu);
  if (c->free_head && c->free_head->cap >= n) {
    it = c->free_head;
    c->free_head = it->next;
    c->free_n--;
  }
  pthread_mutex_unlock(&c->free_mu);
  return it ? it : evp__client_item_alloc(n);
}

void evp__client_item_recycle(evp_client_t *c) {
  if (!c->dead.n)
    return;
  pthread_mutex_lock(&c->free_mu);
  while (c->dead.head && c->free_n < EVP__FREE_MAX) {
    evp__item *it = evp__item_list_pop(&c->dead);
    it->next = c->free_head;
    c->free_head = it;
    c->free_n++;
  }
  pthread_mutex_unlock(&c->free_mu);
  evp__item *it;
  while ((it = evp__item_list_pop(&c->dead)))
    free(it);
}

void evp__client_item_free_all(evp_client_t *c) {
  evp__client_item_recycle(c);
  while (c->free_head) {
    evp__item *it = c->free_head;
    c->free_head = it->next;
    free(it);
  }
  c->free_n = 0;
}

void evp__client_queue_release(evp_client_t *c, size_t n, uint64_t bytes) {
  evp__client_item_recycle(c);
  if (!n)
    return;
  pthread_mutex_lock(&c->mu);
  c->pending_n -= n;
  c->pending_bytes -= bytes;
  if (c->space_waiters)
    pthread_cond_broadcast(&c->cv_space);
  if (c->pending_n == 0 && c->flush_waiters)
    pthread_cond_broadcast(&c->cv_flush);
  pthread_mutex_unlock(&c->mu);
}

void evp__client_report(evp_client_t *c, evp__item *it, evp_delivery_status_t st, evp_err_t err,
                 const char *reason) {
  switch (st) {
  case EVP_DELIVERY_OK: EVP__INC(c->st.delivered, 1); break;
  case EVP_DELIVERY_REJECTED:
    EVP__INC(c->st.rejected_server, 1);
    evp__client_stats_rejected(&c->st, reason);
    break;
  case EVP_DELIVERY_FAILED:
    EVP__INC(c->st.failed, 1);
    if (err == EVP_ERR_TIMED_OUT) EVP__INC(c->st.failed_timeout, 1);
    else if (err == EVP_ERR_AUTH) EVP__INC(c->st.failed_auth, 1);
    else if (err == EVP_ERR_STATE) EVP__INC(c->st.failed_closed, 1);
    else EVP__INC(c->st.failed_http, 1);
    break;
  }
  if (c->conf->dr_cb && (c->conf->dr_mode == EVP__DR_ALL || st != EVP_DELIVERY_OK))
    c->conf->dr_cb(it->json + it->id_off, it->id_len, st, err, reason ? reason : "",
                   it->attempts, c->conf->opaque);
  evp__item_list_push(&c->dead, it); /* recycled at the next queue release */
}

void evp__client_report_list(evp_client_t *c, evp__list *l, evp_delivery_status_t st, evp_err_t err,
                      const char *reason) {
  size_t n = l->n;
  uint64_t b = l->bytes;
  evp__item *it;
  while ((it = evp__item_list_pop(l)))
    evp__client_report(c, it, st, err, reason);
  evp__client_queue_release(c, n, b);
}
