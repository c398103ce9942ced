/* A fixed set of helper threads (thread_pool.h): run n jobs at once, n - 1
 * on the helpers and the last on the calling thread, and return when all
 * are done. One caller at a time (the batcher thread). */
#define _GNU_SOURCE /* pthread_setname_np */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include "batcher/thread_pool.h"

struct evp__thread_pool {
  pthread_mutex_t mu;
  pthread_cond_t go, done;
  pthread_t *th;
  size_t n;     /* threads started */
  uint64_t gen; /* jobs handed out so far (rounds) */
  evp__thread_job_fn fn;
  void *const *args;
  size_t njobs; /* jobs of this round run by helpers */
  size_t left;  /* helpers still busy in this round */
  int stop;
};

typedef struct {
  evp__thread_pool_t *p;
  size_t i;
} helper_arg_t;

static void *helper(void *arg) {
  helper_arg_t a = *(helper_arg_t *)arg;
  free(arg);
  evp__thread_pool_t *p = a.p;
  char name[16];
  snprintf(name, sizeof name, "evp-batcher-%zu", a.i + 1);
  pthread_setname_np(pthread_self(), name);
  uint64_t seen = 0;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    while (!p->stop && p->gen == seen) pthread_cond_wait(&p->go, &p->mu);
    if (p->stop) break;
    seen = p->gen;
    if (a.i >= p->njobs) continue; /* not needed this round */
    evp__thread_job_fn fn = p->fn;
    void *job = p->args[a.i];
    pthread_mutex_unlock(&p->mu);
    fn(job);
    pthread_mutex_lock(&p->mu);
    if (--p->left == 0) pthread_cond_signal(&p->done);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

evp__thread_pool_t *evp__thread_pool_new(size_t nthreads) {
  evp__thread_pool_t *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  if (pthread_mutex_init(&p->mu, NULL) != 0) {
    free(p);
    return NULL;
  }
  if (pthread_cond_init(&p->go, NULL) != 0) {
    pthread_mutex_destroy(&p->mu);
    free(p);
    return NULL;
  }
  if (pthread_cond_init(&p->done, NULL) != 0) {
    pthread_cond_destroy(&p->go);
    pthread_mutex_destroy(&p->mu);
    free(p);
    return NULL;
  }
  if (nthreads && !(p->th = calloc(nthreads, sizeof *p->th))) {
    evp__thread_pool_free(p);
    return NULL;
  }
  for (size_t i = 0; i < nthreads; i++) {
    helper_arg_t *a = malloc(sizeof *a);
    if (!a) break;
    *a = (helper_arg_t){p, i};
    if (pthread_create(&p->th[i], NULL, helper, a) != 0) {
      free(a);
      break;
    }
    p->n++;
  }
  if (p->n < nthreads) {
    evp__thread_pool_free(p);
    return NULL;
  }
  return p;
}

size_t evp__thread_pool_threads(const evp__thread_pool_t *p) { return p ? p->n : 0; }

void evp__thread_pool_run(evp__thread_pool_t *p, evp__thread_job_fn fn, void *const *args,
                          size_t n) {
  if (n == 0) return;
  size_t helpers = n - 1;
  if (!p || helpers > p->n) { /* not enough helpers: run them all here */
    for (size_t i = 0; i < n; i++) fn(args[i]);
    return;
  }
  pthread_mutex_lock(&p->mu);
  p->fn = fn;
  p->args = args;
  p->njobs = helpers;
  p->left = helpers;
  p->gen++;
  pthread_cond_broadcast(&p->go);
  pthread_mutex_unlock(&p->mu);
  fn(args[n - 1]);
  pthread_mutex_lock(&p->mu);
  while (p->left) pthread_cond_wait(&p->done, &p->mu);
  pthread_mutex_unlock(&p->mu);
}

void evp__thread_pool_free(evp__thread_pool_t *p) {
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  p->stop = 1;
  pthread_cond_broadcast(&p->go);
  pthread_mutex_unlock(&p->mu);
  for (size_t i = 0; i < p->n; i++) pthread_join(p->th[i], NULL);
  free(p->th);
  pthread_cond_destroy(&p->done);
  pthread_cond_destroy(&p->go);
  pthread_mutex_destroy(&p->mu);
  free(p);
}
