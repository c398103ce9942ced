/* Errors about the service rather than one event: the error callback (once
 * per change of condition, so a lossy link does not flood the application),
 * the stats' last_error, and the permanent-error state that fails every
 * pending and new event at once instead of retrying what cannot succeed
 * (with a spool: that holds every event back for a while instead).
 * Sender thread only (in poll mode the error callback itself waits for
 * evp_poll). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "client/client_int.h"

void evp__client_raise(evp_client_t *c, evp_err_t e, int retrying, const char *reason) {
  if (c->raised_err == e && c->raised_retrying == retrying) return;
  c->raised_err = e;
  c->raised_retrying = retrying;
  EVP__INC(c->st.errors_reported, 1);
  pthread_mutex_lock(&c->st.mu);
  c->st.last_err = e;
  c->st.last_retrying = retrying;
  snprintf(c->st.last_err_text, sizeof c->st.last_err_text, "%s", reason);
  pthread_mutex_unlock(&c->st.mu);
  evp__client_log(c, retrying ? EVP_LOG_WARNING : EVP_LOG_ERR, "%s (%s)", reason,
                  retrying ? "retrying" : "permanent: pending events failed");
  if (!c->conf->error_cb) return;
  if (c->conf->callbacks_mode == EVP__CB_POLL)
    evp__client_poll_error(c, e, retrying, reason);
  else
    evp__client_call_error(c, e, retrying, reason);
}

void evp__client_raise_clear(evp_client_t *c) {
  c->raised_err = EVP_OK;
  c->raised_retrying = 0;
}

void evp__client_fail_permanently(evp_client_t *c, evp_err_t e, const char *reason) {
  evp__list all = {0};
  while (c->retry) {
    evp__retry *r = c->retry;
    c->retry = r->next;
    evp__item_list_append(&all, &r->items);
    free(r);
  }
  evp__item_list_append(&all, &c->work);
  if (c->spool) {
    /* The spool is there to outlast the service's trouble: a refused
     * credential, a wrong URL or a proxy error ends when someone fixes it,
     * and failing the events would delete what the spool promised to keep.
     * They wait (and age: spool.max.age.ms) while every send pauses for
     * retry.backoff.max.ms, then go again. */
    c->work = all;
    int64_t until = evp__mono_us() + c->conf->retry_backoff_max_ms * 1000;
    if (until > c->pause_until_us) c->pause_until_us = until;
    char why[400];
    snprintf(why, sizeof why, "%s (events kept in the spool; next try in %lld ms)", reason,
             (long long)c->conf->retry_backoff_max_ms);
    evp__client_raise(c, e, 1, why);
    return;
  }
  c->perm_err = e;
  c->perm_until_us = evp__mono_us() + c->conf->retry_backoff_max_ms * 1000;
  if (reason != c->perm_msg) /* the standing error again: already there */
    snprintf(c->perm_msg, sizeof c->perm_msg, "%s", reason);
  evp__client_raise(c, e, 0, reason);
  if (all.n) evp__client_report_list(c, &all, EVP_DELIVERY_FAILED, e, reason);
}
