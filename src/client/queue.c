/* The bounded queue between evp_send callers and the sender thread. Limits
 * count everything the client still holds (queued, in flight, awaiting retry)
 * so memory stays within queue.max.events / queue.max.bytes. The sender is
 * woken only when it has something to do (first event while idle, or a full
 * batch while lingering), not on every evp_send. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdlib.h>
#include "client/client_int.h"
#include "client/spool.h"

int evp__client_queue_fits(const evp_client_t *c, uint64_t cost) {
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
  if (!evp__client_queue_fits(c, cost)) {
    int64_t bt = c->conf->queue_block_timeout_ms;
    /* The sender thread (a callback calling evp_send) must never wait for
     * room only it can make; nor a poll-mode callback, whose thread makes
     * room by returning to evp_poll. */
    if (bt <= 0 || pthread_equal(pthread_self(), c->thread) || evp__client_in_callback(c)) {
      pthread_mutex_unlock(&c->mu);
      return EVP_ERR_QUEUE_FULL;
    }
    struct timespec ts = evp__timespec_us(evp__mono_us() + bt * 1000);
    c->space_waiters++;
    while (!evp__client_queue_fits(c, cost) && !c->closing)
      if (pthread_cond_timedwait(&c->cv_space, &c->mu, &ts) == ETIMEDOUT) break;
    c->space_waiters--;
    if (c->closing || !evp__client_queue_fits(c, cost)) {
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

void evp__client_items_recycle(evp_client_t *c, evp__list *l) {
  if (!l->n) return;
  pthread_mutex_lock(&c->free_mu);
  while (l->head && c->free_n < EVP__FREE_MAX) {
    evp__item *it = evp__item_list_pop(l);
    it->next = c->free_head;
    c->free_head = it;
    c->free_n++;
  }
  pthread_mutex_unlock(&c->free_mu);
  evp__item *it;
  while ((it = evp__item_list_pop(l))) free(it);
}

void evp__client_item_recycle(evp_client_t *c) { evp__client_items_recycle(c, &c->dead); }

void evp__client_item_free_all(evp_client_t *c) {
  evp__client_item_recycle(c);
  while (c->free_head) {
    evp__item *it = c->free_head;
    c->free_head = it->next;
    free(it);
  }
  c->free_n = 0;
}

void evp__client_room_free(evp_client_t *c, size_t n, uint64_t bytes) {
  if (!n) return;
  c->pending_n -= n;
  c->pending_bytes -= bytes;
  if (c->space_waiters) pthread_cond_broadcast(&c->cv_space);
  if (c->pending_n == 0 && c->flush_waiters) pthread_cond_broadcast(&c->cv_flush);
}

void evp__client_queue_release(evp_client_t *c, size_t n, uint64_t bytes) {
  evp__client_item_recycle(c);
  if (!n && !evp__spool_settle_pending(c)) return;
  pthread_mutex_lock(&c->mu);
  if (c->spool) evp__spool_settle_apply(c); /* the reported events' records */
  /* Reports held for evp_poll keep their room until served. */
  uint64_t held_b = 0;
  size_t held = c->staged.n ? evp__client_poll_publish(c, &held_b) : 0;
  evp__client_room_free(c, n - held, bytes - held_b);
  pthread_mutex_unlock(&c->mu);
}
