/* The AWS environment: credentials, region and endpoint overrides, read once
 * from the process environment (or a list), and endpoint resolution. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>
#include "aws/aws_int.h"
#include "base/base.h"
#include "net/net.h"

extern char **environ;

#define MAX_AKID 128
#define MAX_SECRET 128
#define MAX_TOKEN 8192
#define MAX_REGION 32
#define MAX_URL 2048
#define MAX_SUFFIX 64

static void wipe_free(char *s) {
  if (s) {
    OPENSSL_cleanse(s, strlen(s));
    free(s);
  }
}

void evp__aws_env_free(evp__aws_env_t *e) {
  if (!e) return;
  wipe_free(e->access_key);
  wipe_free(e->secret_key);
  wipe_free(e->session_token);
  free(e->region);
  free(e->endpoint);
  for (size_t i = 0; i < e->n_over; i++) {
    free(e->over[i].suffix);
    free(e->over[i].url);
  }
  OPENSSL_cleanse(e, sizeof *e);
  free(e);
}

/* Printable ASCII only: these values go into HTTP headers. */
static int printable(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e) return 0;
  return 1;
}

static int region_ok(const char *s) {
  size_t n = strlen(s);
  if (!n || n > MAX_REGION) return 0;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-')) return 0;
  return 1;
}

static int suffix_ok(const char *s, size_t n) {
  if (!n || n > MAX_SUFFIX) return 0;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_')) return 0;
  return 1;
}

/* Set *slot to a copy of v (first occurrence wins, as getenv does). */
static evp_err_t take(char **slot, const char *v, size_t max, const char *name, char *es,
                      size_t esz) {
  if (*slot) return EVP_OK;
  if (strlen(v) > max)
    return evp__seterr(es, esz, EVP_ERR_CONF_INVALID, "%s is longer than %zu bytes", name, max);
  if (!(*slot = evp__strdup(v))) return evp__seterr(es, esz, EVP_ERR_NOMEM, "out of memory");
  return EVP_OK;
}

evp_err_t evp__aws_env_from_list(const char *const *vars, size_t n, evp__aws_env_t **out, char *es,
                                 size_t esz) {
  if (!out || (!vars && n)) return evp__seterr(es, esz, EVP_ERR_INVALID_ARG, "NULL argument");
  *out = NULL;
  evp__aws_env_t *e = calloc(1, sizeof *e);
  if (!e) return evp__seterr(es, esz, EVP_ERR_NOMEM, "out of memory");
  char *region = NULL, *dregion = NULL;
  evp_err_t rc = EVP_OK;
  for (size_t i = 0; i < n && rc == EVP_OK; i++) {
    const char *kv = vars[i];
    if (!kv || strncmp(kv, "AWS_", 4) != 0) continue;
    const char *eq = strchr(kv, '=');
    if (!eq) continue;
    size_t kl = (size_t)(eq - kv);
    const char *v = eq + 1;
#define IS(name) (kl == sizeof(name) - 1 && !memcmp(kv, name, kl))
    if (IS("AWS_ACCESS_KEY_ID")) {
      rc = take(&e->access_key, v, MAX_AKID, "AWS_ACCESS_KEY_ID", es, esz);
    } else if (IS("AWS_SECRET_ACCESS_KEY")) {
      rc = take(&e->secret_key, v, MAX_SECRET, "AWS_SECRET_ACCESS_KEY", es, esz);
    } else if (IS("AWS_SESSION_TOKEN")) {
      if (*v) rc = take(&e->session_token, v, MAX_TOKEN, "AWS_SESSION_TOKEN", es, esz);
    } else if (IS("AWS_REGION")) {
      if (*v) rc = take(&region, v, MAX_REGION, "AWS_REGION", es, esz);
    } else if (IS("AWS_DEFAULT_REGION")) {
      if (*v) rc = take(&dregion, v, MAX_REGION, "AWS_DEFAULT_REGION", es, esz);
    } else if (IS("AWS_ENDPOINT_URL")) {
      if (*v) rc = take(&e->endpoint, v, MAX_URL, "AWS_ENDPOINT_URL", es, esz);
    } else if (IS("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")) {
      e->ignore_endpoints = !strcasecmp(v, "true");
    } else if (kl > 17 && !memcmp(kv, "AWS_ENDPOINT_URL_", 17) && *v) {
      const char *suf = kv + 17;
      size_t sl = kl - 17;
      if (!suffix_ok(suf, sl)) continue;
      int dup = 0;
      for (size_t j = 0; j < e->n_over; j++)
        dup |= strlen(e->over[j].suffix) == sl && !memcmp(e->over[j].suffix, suf, sl);
      if (dup) continue;
      if (e->n_over == EVP__AWS_MAX_OVERRIDES) {
        rc = evp__seterr(es, esz, EVP_ERR_CONF_INVALID, "more than %d AWS_ENDPOINT_URL_* variables",
                         EVP__AWS_MAX_OVERRIDES);
        break;
      }
      if (strlen(v) > MAX_URL) {
        rc = evp__seterr(es, esz, EVP_ERR_CONF_INVALID, "AWS_ENDPOINT_URL_%.*s is too long",
                         (int)sl, suf);
        break;
      }
      char *s = malloc(sl + 1), *u = evp__strdup(v);
      if (!s || !u) {
        free(s);
        free(u);
        rc = evp__seterr(es, esz, EVP_ERR_NOMEM, "out of memory");
        break;
      }
      memcpy(s, suf, sl);
      s[sl] = '\0';
      e->over[e->n_over].suffix = s;
      e->over[e->n_over].url = u;
      e->n_over++;
    }
#undef IS
  }
  if (rc == EVP_OK) {
    e->region = region ? region : dregion;
    if (region) {
      free(dregion);
    }
    region = dregion = NULL;
    if (!e->access_key || !*e->access_key || !e->secret_key || !*e->secret_key)
      rc = evp__seterr(es, esz, EVP_ERR_CONF_INVALID,
                       "AWS credentials missing: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
    else if (!printable(e->access_key) || strchr(e->access_key, ':'))
      rc = evp__seterr(es, esz, EVP_ERR_CONF_INVALID, "AWS_ACCESS_KEY_ID has invalid characters");
    else if (!printable(e->secret_key))
      rc = evp__seterr(es, esz, EVP_ERR_CONF_INVALID,
                       "AWS_SECRET_ACCESS_KEY has invalid characters");
    else if (e->session_token && !printable(e->session_token))
      rc = evp__seterr(es, esz, EVP_ERR_CONF_INVALID, "AWS_SESSION_TOKEN has invalid characters");
    else if (!e->region)
      rc = evp__seterr(es, esz, EVP_ERR_CONF_INVALID,
                       "AWS region missing: set AWS_REGION (or AWS_DEFAULT_REGION)");
    else if (!region_ok(e->region))
      rc = evp__seterr(es, esz, EVP_ERR_CONF_INVALID, "AWS region is not of the form us-east-1");
  }
  free(region);
  free(dregion);
  if (rc != EVP_OK) {
    evp__aws_env_free(e);
    return rc;
  }
  *out = e;
  return EVP_OK;
}

evp_err_t evp__aws_env_from_environ(evp__aws_env_t **out, char *es, size_t esz) {
  size_t n = 0;
  if (environ)
    while (environ[n]) n++;
  return evp__aws_env_from_list((const char *const *)environ, n, out, es, esz);
}

const char *evp__aws_env_region(const evp__aws_env_t *e) { return e ? e->region : NULL; }
int evp__aws_env_has_session_token(const evp__aws_env_t *e) { return e && e->session_token; }

/* https://, or http:// to a loopback host; no user info, query or fragment. */
static evp_err_t check_url(const char *url, const char *from, char *es, size_t esz) {
  CURLU *u = curl_url();
  if (!u) return evp__seterr(es, esz, EVP_ERR_NOMEM, "out of memory");
  char *scheme = NULL, *host = NULL, *x = NULL;
  evp_err_t rc = EVP_OK;
  if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host) {
    rc = evp__seterr(es, esz, EVP_ERR_CONF_INVALID, "%s is not a valid URL", from);
  } else if (curl_url_get(u, CURLUPART_USER, &x, 0) == CURLUE_OK ||
             (curl_free(x), x = NULL, curl_url_get(u, CURLUPART_QUERY, &x, 0) == CURLUE_OK) ||
             (curl_free(x), x = NULL, curl_url_get(u, CURLUPART_FRAGMENT, &x, 0) == CURLUE_OK)) {
    rc = evp__seterr(es, esz, EVP_ERR_CONF_INVALID,
                     "%s must not have user info, a query or a fragment", from);
  } else if (!strcasecmp(scheme, "https")) {
    rc = EVP_OK;
  } else if (!strcasecmp(scheme, "http")) {
    if (!evp__url_is_loopback(url))
      rc = evp__seterr(es, esz, EVP_ERR_CONF_INVALID,
                       "%s: cleartext http:// is allowed to loopback addresses only", from);
  } else {
    rc = evp__seterr(es, esz, EVP_ERR_CONF_INVALID, "%s: scheme must be https", from);
  }
  curl_free(x);
  curl_free(scheme);
  curl_free(host);
  curl_url_cleanup(u);
  return rc;
}

evp_err_t evp__aws_endpoint_resolve(const evp__aws_env_t *e, const char *service,
                                    const char *env_suffix, char *out, size_t osz, char *es,
                                    size_t esz) {
  if (!e || !service || !out || !osz)
    return evp__seterr(es, esz, EVP_ERR_INVALID_ARG, "NULL argument");
  const char *url = NULL;
  char from[96];
  if (!e->ignore_endpoints) {
    for (size_t i = 0; env_suffix && i < e->n_over && !url; i++)
      if (!strcmp(e->over[i].suffix, env_suffix)) {
        url = e->over[i].url;
        snprintf(from, sizeof from, "AWS_ENDPOINT_URL_%s", env_suffix);
      }
    if (!url && e->endpoint) {
      url = e->endpoint;
      snprintf(from, sizeof from, "AWS_ENDPOINT_URL");
    }
  }
  if (url) {
    evp_err_t rc = check_url(url, from, es, esz);
    if (rc != EVP_OK) return rc;
    if (strlen(url) >= osz) return evp__seterr(es, esz, EVP_ERR_TOO_LARGE, "%s is too long", from);
    memcpy(out, url, strlen(url) + 1);
    return EVP_OK;
  }
  for (const char *p = service; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
      return evp__seterr(es, esz, EVP_ERR_INVALID_ARG, "invalid service name");
  int n = snprintf(out, osz, "https://%s.%s.amazonaws.com", service, e->region);
  if (n < 0 || (size_t)n >= osz)
    return evp__seterr(es, esz, EVP_ERR_TOO_LARGE, "endpoint URL too long");
  return EVP_OK;
}
