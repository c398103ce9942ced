/* Running the application's callbacks: each runs with this thread marked
 * as inside a callback of its client, so that evp_flush, evp_poll and
 * evp_client_destroy called from one refuse (-1) instead of waiting for, or
 * freeing, the thread they run on. A leaf: every file that calls back uses
 * it, and it uses nothing of theirs. */
#include "client/client_int.h"

/* The client whose callback this thread is running (NULL: none). */
static _Thread_local const evp_client_t *in_callback;

int evp__client_in_callback(const evp_client_t *c) { return in_callback == c; }

void evp__client_call_delivery(evp_client_t *c, const evp_delivery_t *d) {
  const evp_client_t *outer = in_callback;
  in_callback = c;
  c->conf->delivery_cb(c, d, c->conf->delivery_opaque);
  in_callback = outer;
}

void evp__client_call_log(evp_client_t *c, int level, const char *msg) {
  const evp_client_t *outer = in_callback;
  in_callback = c;
  c->conf->log_cb(level, msg, c->conf->opaque);
  in_callback = outer;
}

void evp__client_call_error(evp_client_t *c, evp_err_t e, int retrying, const char *reason) {
  const evp_client_t *outer = in_callback;
  in_callback = c;
  c->conf->error_cb(e, retrying, reason, c->conf->opaque);
  in_callback = outer;
}
