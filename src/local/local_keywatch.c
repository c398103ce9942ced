/* Hot reload of the secrets: the run loop polls the signing-key file and the
 * clients file about once a second; a change of either (inode, size or
 * mtime: `secret rotate` and editors rename a new file into place) builds a
 * whole new state — keyring + signer + verifier + client store — and swaps
 * the pointer under a mutex. Requests hold a reference, so the old state is
 * destroyed by whoever releases it last. A file that fails to load keeps the
 * old state in use. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "base/base.h"
#include "local/local.h"

struct evp__keywatch {
  pthread_mutex_t mu;
  evp__keystate_t *cur;
  char *path, *cpath;
  int64_t ttl_s;
  struct stat seen, cseen;
};

void evp__keystate_release(evp__keystate_t *s) {
  if (!s || atomic_fetch_sub(&s->refs, 1) != 1) return;
  evp_jwt_verifier_destroy(s->verifier);
  evp_jwt_signer_destroy(s->signer);
  evp_keyring_destroy(s->kr);
  evp__clients_free((evp__clients_t *)s->clients);
  free(s);
}

/* A new state from the files; @p clients (taken, may be NULL) is used
 * instead of reading the clients file. */
static evp_err_t build(const evp__keywatch_t *w, evp__clients_t *clients, evp__keystate_t **out,
                       struct stat *st, struct stat *cst, char *errstr, size_t errstr_size) {
  evp__keystate_t *s = calloc(1, sizeof *s);
  if (!s) {
    evp__clients_free(clients);
    return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  }
  atomic_init(&s->refs, 1);
  evp_err_t e = EVP_OK;
  if (w->cpath && !clients)
    e = evp__local_clients_read(w->cpath, &clients, cst, errstr, errstr_size);
  else if (w->cpath && stat(w->cpath, cst) != 0)
    memset(cst, 0, sizeof *cst);
  s->clients = clients;
  if (e == EVP_OK)
    e = evp__keys_load(w->path, &s->kr, s->current, sizeof s->current, st, errstr, errstr_size);
  if (e != EVP_OK) {
    evp__keystate_release(s);
    return e;
  }
  if (!(s->signer = evp_jwt_signer_new(s->kr, errstr, errstr_size)) ||
      !(s->verifier = evp_jwt_verifier_new(s->kr, errstr, errstr_size)) ||
      evp_jwt_signer_set_issuer(s->signer, EVP__LOCAL_ISSUER) != EVP_OK ||
      evp_jwt_signer_set_ttl(s->signer, w->ttl_s) != EVP_OK ||
      evp_jwt_verifier_set_issuer(s->verifier, EVP__LOCAL_ISSUER) != EVP_OK ||
      evp_jwt_verifier_set_audience(s->verifier, EVP__LOCAL_AUDIENCE) != EVP_OK ||
      /* No token outlives what this issuer grants (docs/security.md). */
      evp_jwt_verifier_set_max_lifetime(s->verifier, w->ttl_s) != EVP_OK) {
    evp__keystate_release(s);
    return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "cannot set up the token signer");
  }
  *out = s;
  return EVP_OK;
}

evp_err_t evp__keywatch_new(const char *path, const char *clients_path, evp__clients_t *clients,
                            int64_t ttl_s, evp__keywatch_t **out, char *errstr,
                            size_t errstr_size) {
  *out = NULL;
  evp__keywatch_t *w = calloc(1, sizeof *w);
  if (!w || !(w->path = evp__strdup(path)) ||
      (clients_path && !(w->cpath = evp__strdup(clients_path)))) {
    if (w) free(w->path);
    free(w);
    evp__clients_free(clients);
    return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  }
  w->ttl_s = ttl_s;
  evp_err_t e = build(w, clients, &w->cur, &w->seen, &w->cseen, errstr, errstr_size);
  if (e != EVP_OK || pthread_mutex_init(&w->mu, NULL) != 0) {
    if (e == EVP_OK) {
      evp__keystate_release(w->cur);
      e = evp__seterr(errstr, errstr_size, EVP_ERR_INTERNAL, "mutex");
    }
    free(w->path);
    free(w->cpath);
    free(w);
    return e;
  }
  *out = w;
  return EVP_OK;
}

void evp__keywatch_free(evp__keywatch_t *w) {
  if (!w) return;
  evp__keystate_release(w->cur);
  pthread_mutex_destroy(&w->mu);
  free(w->path);
  free(w->cpath);
  free(w);
}

evp__keystate_t *evp__keywatch_acquire(evp__keywatch_t *w) {
  pthread_mutex_lock(&w->mu);
  evp__keystate_t *s = w->cur;
  atomic_fetch_add(&s->refs, 1);
  pthread_mutex_unlock(&w->mu);
  return s;
}

static int same(const struct stat *a, const struct stat *b) {
  return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
         a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

int evp__keywatch_poll(evp__keywatch_t *w, char *errstr, size_t errstr_size) {
  struct stat st, cst;
  memset(&cst, 0, sizeof cst);
  /* A missing key file (mid-rename) is looked at again next time; a missing
   * clients file is a change (reported once by the failed load). */
  if (stat(w->path, &st) != 0) return 0;
  if (w->cpath && stat(w->cpath, &cst) != 0) memset(&cst, 0, sizeof cst);
  if (same(&st, &w->seen) && (!w->cpath || same(&cst, &w->cseen))) return 0;
  evp__keystate_t *s;
  struct stat loaded, cloaded;
  memset(&cloaded, 0, sizeof cloaded);
  if (build(w, NULL, &s, &loaded, &cloaded, errstr, errstr_size) != EVP_OK) {
    w->seen = st; /* report a broken file once, not every second */
    w->cseen = cst;
    return -1;
  }
  pthread_mutex_lock(&w->mu);
  evp__keystate_t *old = w->cur;
  w->cur = s;
  w->seen = loaded;
  w->cseen = cloaded;
  pthread_mutex_unlock(&w->mu);
  evp__keystate_release(old);
  return 1;
}
