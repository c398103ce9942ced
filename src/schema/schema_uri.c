/* RFC 3986 URI reference resolution (section 5.2) for $id and $ref. */
#include <stdlib.h>
#include <string.h>
#include "schema/schema_int.h"

typedef struct {
  const char *s;
  size_t n;
  int has;
} evp__uri_part_t;

typedef struct {
  evp__uri_part_t scheme, auth, path, query, frag;
} evp__uri_parts_t;

static void parse(const char *s, evp__uri_parts_t *u) {
  memset(u, 0, sizeof *u);
  const char *p = s;
  /* scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":" */
  if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')) {
    const char *q = p + 1;
    while ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
           *q == '+' || *q == '-' || *q == '.')
      q++;
    if (*q == ':') {
      u->scheme = (evp__uri_part_t){p, (size_t)(q - p), 1};
      p = q + 1;
    }
  }
  if (p[0] == '/' && p[1] == '/') {
    const char *q = p + 2;
    while (*q && *q != '/' && *q != '?' && *q != '#') q++;
    u->auth = (evp__uri_part_t){p + 2, (size_t)(q - p - 2), 1};
    p = q;
  }
  const char *q = p;
  while (*q && *q != '?' && *q != '#') q++;
  u->path = (evp__uri_part_t){p, (size_t)(q - p), 1};
  p = q;
  if (*p == '?') {
    q = p + 1;
    while (*q && *q != '#') q++;
    u->query = (evp__uri_part_t){p + 1, (size_t)(q - p - 1), 1};
    p = q;
  }
  if (*p == '#') u->frag = (evp__uri_part_t){p + 1, strlen(p + 1), 1};
}

/* remove_dot_segments (5.2.4), writing into out (room for n + 1 bytes).
 * @p in is a scratch copy: the "/." and "/.." endings rewrite it in place to
 * "/", as the RFC's algorithm does with its input buffer. */
static size_t remove_dots(char *in, size_t n, char *out) {
  size_t o = 0;
  size_t i = 0;
  while (i < n) {
    const char *p = in + i;
    size_t left = n - i;
    if (left >= 3 && !memcmp(p, "../", 3))
      i += 3;
    else if (left >= 2 && !memcmp(p, "./", 2))
      i += 2;
    else if (left >= 3 && !memcmp(p, "/./", 3))
      i += 2;
    else if (left == 2 && !memcmp(p, "/.", 2)) {
      i += 1;
      in[i] = '/';
    } else if ((left >= 4 && !memcmp(p, "/../", 4)) || (left == 3 && !memcmp(p, "/..", 3))) {
      if (left == 3) {
        i += 2;
        in[i] = '/';
      } else
        i += 3;
      while (o > 0 && out[o - 1] != '/') o--;
      if (o > 0) o--;
    } else if ((left == 1 && p[0] == '.') || (left == 2 && !memcmp(p, "..", 2)))
      i = n;
    else {
      size_t j = i;
      if (in[j] == '/') j++;
      while (j < n && in[j] != '/') j++;
      memcpy(out + o, in + i, j - i);
      o += j - i;
      i = j;
    }
  }
  out[o] = '\0';
  return o;
}

static char *build(const evp__uri_part_t *scheme, const evp__uri_part_t *auth, const char *path,
                   size_t pathn, const evp__uri_part_t *query, const evp__uri_part_t *frag) {
  size_t n = scheme->n + auth->n + pathn + query->n + frag->n + 8;
  char *buf = malloc(n), *tmp = malloc(pathn + 2), *dp = malloc(pathn + 2);
  if (!buf || !tmp || !dp) {
    free(buf);
    free(tmp);
    free(dp);
    return NULL;
  }
  memcpy(tmp, path, pathn);
  tmp[pathn] = '\0';
  size_t dn = remove_dots(tmp, pathn, dp);
  char *o = buf;
  if (scheme->has) {
    memcpy(o, scheme->s, scheme->n);
    o += scheme->n;
    *o++ = ':';
  }
  if (auth->has) {
    *o++ = '/';
    *o++ = '/';
    memcpy(o, auth->s, auth->n);
    o += auth->n;
  }
  memcpy(o, dp, dn);
  o += dn;
  if (query->has) {
    *o++ = '?';
    memcpy(o, query->s, query->n);
    o += query->n;
  }
  if (frag->has) {
    *o++ = '#';
    memcpy(o, frag->s, frag->n);
    o += frag->n;
  }
  *o = '\0';
  free(tmp);
  free(dp);
  return buf;
}

char *evp__uri_resolve(const char *base, const char *ref) {
  evp__uri_parts_t b, r;
  parse(base ? base : "", &b);
  parse(ref, &r);
  if (r.scheme.has) return build(&r.scheme, &r.auth, r.path.s, r.path.n, &r.query, &r.frag);
  if (r.auth.has) return build(&b.scheme, &r.auth, r.path.s, r.path.n, &r.query, &r.frag);
  if (r.path.n == 0) {
    const evp__uri_part_t *q = r.query.has ? &r.query : &b.query;
    return build(&b.scheme, &b.auth, b.path.s, b.path.n, q, &r.frag);
  }
  if (r.path.s[0] == '/') return build(&b.scheme, &b.auth, r.path.s, r.path.n, &r.query, &r.frag);
  /* merge (5.2.3) */
  size_t n = b.path.n + r.path.n + 2;
  char *m = malloc(n);
  if (!m) return NULL;
  size_t mn = 0;
  if (b.auth.has && b.path.n == 0)
    m[mn++] = '/';
  else {
    size_t k = b.path.n;
    while (k > 0 && b.path.s[k - 1] != '/') k--;
    memcpy(m, b.path.s, k);
    mn = k;
  }
  memcpy(m + mn, r.path.s, r.path.n);
  mn += r.path.n;
  char *res = build(&b.scheme, &b.auth, m, mn, &r.query, &r.frag);
  free(m);
  return res;
}

evp_err_t evp__uri_pct_decode(const char *s, size_t n, char **out) {
  char *o = malloc(n + 1);
  *out = NULL;
  if (!o) return EVP_ERR_NOMEM;
  size_t j = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '%') {
      int h, l;
      if (i + 2 >= n || (h = evp__hex_value((unsigned char)s[i + 1])) < 0 ||
          (l = evp__hex_value((unsigned char)s[i + 2])) < 0) {
        free(o);
        return EVP_ERR_SCHEMA_REF;
      }
      o[j++] = (char)(h << 4 | l);
      i += 2;
    } else
      o[j++] = s[i];
  }
  o[j] = '\0';
  *out = o;
  return EVP_OK;
}
