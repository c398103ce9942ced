/* Hot reload of the signing keys: the run loop polls the file about once a
 * second; a change (inode, size or mtime: `secret rotate` renames a new file
 * into place) builds a whole new keyring + signer + verifier and swaps the
 * pointer under a mutex. Requests hold a reference, so the old state is
 * destroyed by whoever releases it last. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "core/core.h"
#include "local/local.h"

struct evp__keywatch {
  pthread_mutex_t mu;
  evp__keystate_t *cur;
  char *path;
  int64_t ttl_s;
  struct stat seen;
};

void evp__keystate_release(evp__keystate_t *s) {
  if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
    return;
  evp_jwt_verifier_destroy(s->verifier);
  evp_jwt_signer_destroy(s->signer);
  evp_keyring_destroy(s->kr);
  free(s);
}

static evp_err_t build(const char *path, int64_t ttl_s, evp__keystate_t **out, struct stat *st,
                       char *errstr, size_t errstr_size) {
  evp__keystate_t *s = calloc(1, sizeof *s);
  if (!s)
    return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  atomic_init(&s->refs, 1);
  evp_err_t e = evp__keys_load(path, &s->kr, s->current, sizeof s->current, st, errstr, errstr_size);
  if (e != EVP_OK) {
    free(s);
    return e;
  }
  if (!(s->signer = evp_jwt_signer_new(s->kr, errstr, errstr_size)) ||
      !(s->verifier = evp_jwt_verifier_new(s->kr, errstr, errstr_size)) ||
      evp_jwt_signer_set_issuer(s->signer, EVP__LOCAL_ISSUER) != EVP_OK ||
      evp_jwt_signer_set_ttl(s->signer, ttl_s) != EVP_OK ||
      evp_jwt_verifier_set_issuer(s->verifier, EVP__LOCAL_ISSUER) != EVP_OK ||
      evp_jwt_verifier_set_audience(s->verifier, EVP__LOCAL_AUDIENCE) != EVP_OK) {
    evp__keystate_release(s);
    return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "cannot set up the token signer");
  }
  *out = s;
  return EVP_OK;
}

evp_err_t evp__keywatch_new(const char *path, int64_t ttl_s, evp__keywatch_t **out, char *errstr,
                            size_t errstr_size) {
  *out = NULL;
  evp__keywatch_t *w = calloc(1, sizeof *w);
  if (!w || !(w->path = evp__strdup(path))) {
    free(w);
    return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  }
  w->ttl_s = ttl_s;
  evp_err_t e = build(path, ttl_s, &w->cur, &w->seen, errstr, errstr_size);
  if (e != EVP_OK || pthread_mutex_init(&w->mu, NULL) != 0) {
    if (e == EVP_OK) {
      evp__keystate_release(w->cur);
      e = evp__seterr(errstr, errstr_size, EVP_ERR_INTERNAL, "mutex");
    }
    free(w->path);
    free(w);
    return e;
  }
  *out = w;
  return EVP_OK;
}

void evp__keywatch_free(evp__keywatch_t *w) {
  if (!w)
    return;
  evp__keystate_release(w->cur);
  pthread_mutex_destroy(&w->mu);
  free(w->path);
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
  struct stat st;
  if (stat(w->path, &st) != 0 || same(&st, &w->seen))
    return 0; /* a missing file (mid-rename) is looked at again next time */
  evp__keystate_t *s;
  struct stat loaded;
  if (build(w->path, w->ttl_s, &s, &loaded, errstr, errstr_size) != EVP_OK) {
    w->seen = st; /* report a broken file once, not every second */
    return -1;
  }
  pthread_mutex_lock(&w->mu);
  evp__keystate_t *old = w->cur;
  w->cur = s;
  w->seen = loaded;
  pthread_mutex_unlock(&w->mu);
  evp__keystate_release(old);
  return 1;
}
