/* The bump arena that owns a compiled schema's nodes and strings. */
#include <stdlib.h>
#include <string.h>
#include "schema/schema_int.h"

struct evp__arena_block {
  evp__arena_block_t *next;
  max_align_t data[];
};

#define EVP__ARENA_BLK 16384

void *evp__arena_alloc(evp__arena_t *a, size_t n) {
  n = (n + 7) & ~(size_t)7;
  if (!a->head || a->cap - a->used < n) {
    size_t cap = n > EVP__ARENA_BLK ? n : EVP__ARENA_BLK;
    evp__arena_block_t *b = malloc(sizeof *b + cap);
    if (!b) return NULL;
    b->next = a->head;
    a->head = b;
    a->used = 0;
    a->cap = cap;
  }
  void *p = (char *)a->head->data + a->used;
  a->used += n;
  memset(p, 0, n);
  return p;
}

char *evp__arena_strndup(evp__arena_t *a, const char *s, size_t n) {
  char *p = evp__arena_alloc(a, n + 1);
  if (p) {
    memcpy(p, s, n);
    p[n] = '\0';
  }
  return p;
}

void evp__arena_free(evp__arena_t *a) {
  evp__arena_block_t *b = a->head;
  while (b) {
    evp__arena_block_t *n = b->next;
    free(b);
    b = n;
  }
  a->head = NULL;
  a->used = a->cap = 0;
}
