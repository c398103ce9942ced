/* A fixed set of helper threads (thread_pool.c): run n jobs at once, n - 1
 * of them on the helpers and the last on the caller, and return when all
 * are done (with fewer helpers than n - 1, all run on the caller). One
 * caller at a time: the batcher thread, which writes the parts of a large
 * group in parallel (batcher_parts.c). */
#ifndef EVP_BATCHER_THREAD_POOL_H
#define EVP_BATCHER_THREAD_POOL_H

#include <stddef.h>

typedef struct evp__thread_pool evp__thread_pool_t;
typedef void (*evp__thread_job_fn)(void *arg);
evp__thread_pool_t *evp__thread_pool_new(size_t nthreads); /* NULL: out of memory or threads */
size_t evp__thread_pool_threads(const evp__thread_pool_t *p);
void evp__thread_pool_run(evp__thread_pool_t *p, evp__thread_job_fn fn, void *const *args,
                          size_t n);
void evp__thread_pool_free(evp__thread_pool_t *p);

#endif /* EVP_BATCHER_THREAD_POOL_H */
