/* application/x-www-form-urlencoded bodies and HTTP Basic credentials, the
 * two ways an OAuth client presents itself (RFC 6749 sections 2.3.1, 4.4). */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "server/server.h"

/* Percent-decode s[0..n) ('+' is a space) into a new string; NULL on a bad
 * escape, a decoded NUL, or no memory (*nomem set). */
static char *pct_decode(const char *s, size_t n, int *nomem) {
  char *o = malloc(n + 1);
  if (!o) {
    *nomem = 1;
    return NULL;
  }
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '%') {
      int a = i + 1 < n ? evp__hex_value((unsigned char)s[i + 1]) : -1;
      int b = i + 2 < n ? evp__hex_value((unsigned char)s[i + 2]) : -1;
      if (a < 0 || b < 0 || (a == 0 && b == 0)) /* bad escape, or %00 */
        goto bad;
      o[k++] = (char)(a * 16 + b);
      i += 2;
    } else if (c == '\0') {
      goto bad;
    } else {
      o[k++] = c == '+' ? ' ' : c;
    }
  }
  o[k] = '\0';
  return o;
bad:
  OPENSSL_cleanse(o, n + 1);
  free(o);
  return NULL;
}

evp_err_t evp__form_parse(const char *body, size_t len, const char *const *names, size_t n,
                          char **vals) {
  for (size_t j = 0; j < n; j++) vals[j] = NULL;
  size_t i = 0;
  evp_err_t e = EVP_OK;
  while (i < len) {
    const char *p = body + i;
    const char *amp = memchr(p, '&', len - i);
    size_t plen = amp ? (size_t)(amp - p) : len - i;
    i += plen + (amp ? 1 : 0);
    if (plen == 0) continue; /* "a=1&&b=2" */
    const char *eq = memchr(p, '=', plen);
    size_t klen = eq ? (size_t)(eq - p) : plen;
    int nomem = 0;
    char *key = pct_decode(p, klen, &nomem);
    if (!key) {
      e = nomem ? EVP_ERR_NOMEM : EVP_ERR_INVALID_ARG;
      goto fail;
    }
    size_t j = 0;
    while (j < n && strcmp(names[j], key) != 0) j++;
    free(key);
    if (j == n) continue; /* unknown parameters are ignored (RFC 6749 section 3.2) */
    if (vals[j]) {
      e = EVP_ERR_INVALID_ARG; /* "MUST NOT be included more than once" */
      goto fail;
    }
    vals[j] = eq ? pct_decode(eq + 1, plen - klen - 1, &nomem) : pct_decode("", 0, &nomem);
    if (!vals[j]) {
      e = nomem ? EVP_ERR_NOMEM : EVP_ERR_INVALID_ARG;
      goto fail;
    }
  }
  return EVP_OK;
fail:
  for (size_t j = 0; j < n; j++) {
    evp__free_secret(vals[j]);
    vals[j] = NULL;
  }
  return e;
}

#define BASIC_MAX 4096 /* encoded credentials; ids and secrets are far shorter */

evp_err_t evp__basic_auth_parse(const char *value, char **id, char **secret) {
  *id = *secret = NULL;
  /* The scheme is case-insensitive (RFC 7235 section 2.1). */
  static const char scheme[] = "basic ";
  for (size_t i = 0; i < 6; i++) {
    char c = value[i];
    if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
    if (c != scheme[i]) return EVP_ERR_INVALID_ARG;
  }
  const char *b = value + 6;
  while (*b == ' ') b++;
  size_t bl = strnlen(b, BASIC_MAX + 1);
  while (bl > 0 && b[bl - 1] == ' ') bl--;
  if (bl == 0 || bl > BASIC_MAX || bl % 4 != 0) return EVP_ERR_INVALID_ARG;
  unsigned char dec[BASIC_MAX / 4 * 3 + 1];
  int dl = EVP_DecodeBlock(dec, (const unsigned char *)b, (int)bl);
  evp_err_t e = EVP_ERR_INVALID_ARG;
  if (dl < 0) goto out;
  /* EVP_DecodeBlock counts the padding as zero bytes. */
  if (b[bl - 1] == '=') dl--;
  if (b[bl - 2] == '=') dl--;
  const unsigned char *colon = memchr(dec, ':', (size_t)dl);
  if (!colon || colon == dec) goto out;
  int nomem = 0;
  size_t il = (size_t)(colon - dec);
  *id = pct_decode((const char *)dec, il, &nomem);
  if (*id) *secret = pct_decode((const char *)colon + 1, (size_t)dl - il - 1, &nomem);
  if (!*id || !*secret) {
    evp__free_secret(*id);
    *id = NULL;
    e = nomem ? EVP_ERR_NOMEM : EVP_ERR_INVALID_ARG;
    goto out;
  }
  e = EVP_OK;
out:
  OPENSSL_cleanse(dec, sizeof dec);
  return e;
}
