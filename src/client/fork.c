/* Fork detection: a generation counter bumped in every child by a
 * pthread_atfork handler. A client remembers the generation it was created
 * in; a mismatch means "this is a forked child" and the client refuses work,
 * without a getpid() system call on the evp_send path. */
#include <pthread.h>
#include <stdatomic.h>
#include "client/client_int.h"

static atomic_uint gen;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void child(void) { atomic_fetch_add(&gen, 1); }
static void install(void) { pthread_atfork(NULL, NULL, child); }

unsigned evp__client_fork_generation(void) {
  pthread_once(&once, install);
  return atomic_load_explicit(&gen, memory_order_relaxed);
}
