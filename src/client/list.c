/* Intrusive FIFO lists of queued events; O(1) splicing lets the sender take
 * the whole queue under the lock in constant time. */
#include "client/client_int.h"

void evp__item_list_push(evp__list *l, evp__item *it) {
  it->next = NULL;
  if (l->tail)
    l->tail->next = it;
  else
    l->head = it;
  l->tail = it;
  l->n++;
  l->bytes += EVP__ITEM_COST(it);
}

void evp__item_list_append(evp__list *l, evp__list *back) {
  if (!back->head) return;
  if (l->tail)
    l->tail->next = back->head;
  else
    l->head = back->head;
  l->tail = back->tail;
  l->n += back->n;
  l->bytes += back->bytes;
  back->head = back->tail = NULL;
  back->n = 0;
  back->bytes = 0;
}

void evp__item_list_prepend(evp__list *l, evp__list *front) {
  evp__item_list_append(front, l);
  *l = *front;
  front->head = front->tail = NULL;
  front->n = 0;
  front->bytes = 0;
}

evp__item *evp__item_list_pop(evp__list *l) {
  evp__item *it = l->head;
  if (!it) return NULL;
  l->head = it->next;
  if (!l->head) l->tail = NULL;
  l->n--;
  l->bytes -= EVP__ITEM_COST(it);
  it->next = NULL;
  return it;
}
