/* Test double of AWS JSON 1.1 endpoints (Secrets Manager, Firehose) with an
 * independent SigV4 verifier. See mock_aws.h. */
#define _POSIX_C_SOURCE 200809L
#include "mock_aws.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#define MAX_BODY (16u * 1024u * 1024u)
#define MAX_SECRETS 64
#define MAX_VERSIONS 100
#define MAX_LABELS 20
#define MAX_STREAMS 16
#define MAX_STREAM_RECORDS 200000
#define MAX_FAULTS 32
#define MAX_OPS 16
#define SECRET_MAX 65536
#define FH_MAX_RECORDS 500
#define FH_MAX_RECORD (1000u * 1024u)
#define FH_MAX_BATCH (4u * 1024u * 1024u)

typedef struct {
  char id[72];
  unsigned char *val;
  size_t len;
  int binary;
  char *labels[MAX_LABELS];
  size_t n_labels;
  double created;
} mver_t;

typedef struct {
  char name[512];
  char arn[640];
  mver_t v[MAX_VERSIONS];
  size_t nv;
  int rot_enabled;
  char rot_lambda[256];
  unsigned rot_days;
  double created, changed;
} msecret_t;

typedef struct {
  char *data;
  size_t len;
} mrec_t;

typedef struct {
  char name[72];
  mrec_t *r;
  size_t n, cap;
} mstream_t;

enum { F_FAIL = 1, F_DROP, F_DELAY, F_RAW };

typedef struct {
  int kind;
  char op[64]; /* "" any */
  unsigned left;
  int status;
  char code[128];
  unsigned ms;
  char *body;
  size_t body_len;
  char ctype[128];
} mfault_t;

typedef struct {
  char name[64];
  mock_aws_stats_t s;
} mop_t;

struct mock_aws {
  struct MHD_Daemon *d;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int stopping;
  char url[64];
  char akid[129], secret[129], token[8193], region[33];
  int has_token;
  int max_skew;
  /* environment strings for mock_aws_env */
  char env_buf[5][9000];
  const char *env_ptr[5];
  size_t env_n;
  msecret_t *secrets[MAX_SECRETS];
  size_t n_secrets;
  mstream_t streams[MAX_STREAMS];
  size_t n_streams;
  mfault_t faults[MAX_FAULTS];
  size_t n_faults;
  size_t fail_idx[FH_MAX_RECORDS];
  size_t n_fail_idx;
  int fail_idx_armed;
  char fail_code[128];
  mop_t ops[MAX_OPS];
  size_t n_ops;
  mock_aws_stats_t total;
  char last_reject[512];
  char last_signed[512];
  unsigned long seq;
};

/* ------------------------------------------------------------ small helpers */

static double now_epoch(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void scopy(char *dst, size_t n, const char *src) {
  if (!n) return;
  size_t l = src ? strlen(src) : 0;
  if (l >= n) l = n - 1;
  if (l) memcpy(dst, src, l);
  dst[l] = '\0';
}

static void gen_uuid(char out[37]) {
  unsigned char r[16];
  if (RAND_bytes(r, sizeof r) != 1) memset(r, 0x5a, sizeof r);
  r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
  r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
  snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0],
           r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14],
           r[15]);
}

static void hex(const unsigned char *in, size_t n, char *out) {
  static const char hx[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = hx[in[i] >> 4];
    out[2 * i + 1] = hx[in[i] & 15];
  }
  out[2 * n] = '\0';
}

/* Strict standard base64 through OpenSSL (independent of the library's). */
static unsigned char *b64_decode(const char *in, size_t len, size_t *out_len) {
  if (len % 4) return NULL;
  for (size_t i = 0; i < len; i++) {
    char c = in[i];
    int pad_ok = c == '=' && (i == len - 1 || (i == len - 2 && in[len - 1] == '='));
    if (!isalnum((unsigned char)c) && c != '+' && c != '/' && !pad_ok) return NULL;
  }
  unsigned char *out = malloc(len / 4 * 3 + 1);
  if (!out) return NULL;
  if (!len) {
    *out_len = 0;
    out[0] = 0;
    return out;
  }
  int n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
  if (n < 0) {
    free(out);
    return NULL;
  }
  size_t pads = (in[len - 1] == '=') + (in[len - 2] == '=');
  *out_len = (size_t)n - pads;
  out[*out_len] = 0;
  return out;
}

static char *b64_encode(const unsigned char *in, size_t n) {
  char *out = malloc((n + 2) / 3 * 4 + 1);
  if (!out) return NULL;
  EVP_EncodeBlock((unsigned char *)out, in, (int)n);
  return out;
}

static mop_t *op_stats(mock_aws_t *m, const char *op) {
  for (size_t i = 0; i < m->n_ops; i++)
    if (!strcmp(m->ops[i].name, op)) return &m->ops[i];
  if (m->n_ops < MAX_OPS) {
    mop_t *o = &m->ops[m->n_ops++];
    memset(o, 0, sizeof *o);
    scopy(o->name, sizeof o->name, op);
    return o;
  }
  return &m->ops[MAX_OPS - 1]; /* overflow lumped into the last slot */
}

/* ------------------------------------------------------------ responses */

typedef struct {
  int status;
  int drop;
  char *body; /* malloc'd */
  size_t len;
  char ctype[128];
  char err_type_hdr[256]; /* x-amzn-ErrorType, "" none */
} mresp_t;

static void resp_json(mresp_t *r, int status, cJSON *j) {
  r->status = status;
  r->body = j ? cJSON_PrintUnformatted(j) : NULL;
  if (!r->body) { /* allocation failure: still answer something */
    r->status = 500;
    r->body = NULL;
  }
  r->len = r->body ? strlen(r->body) : 0;
  scopy(r->ctype, sizeof r->ctype, "application/x-amz-json-1.1");
  cJSON_Delete(j);
}

/* An AWS JSON error. Secrets Manager says "Message", others "message";
 * authentication errors come with the coral namespace prefix. */
static void resp_err(mresp_t *r, int status, const char *code, const char *msg, int upper, int ns) {
  cJSON *j = cJSON_CreateObject();
  char type[256];
  snprintf(type, sizeof type, "%s%s", ns ? "com.amazon.coral.service#" : "", code);
  cJSON_AddStringToObject(j, "__type", type);
  cJSON_AddStringToObject(j, upper ? "Message" : "message", msg);
  resp_json(r, status, j);
}

/* ------------------------------------------------------------ SigV4 check */

typedef struct {
  const char *name; /* lower case */
  char *val;        /* joined values */
  size_t len, cap;
  int found;
} hdr_collect_t;

static enum MHD_Result collect_cb(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value) {
  (void)kind;
  hdr_collect_t *h = cls;
  if (strcasecmp(key, h->name)) return MHD_YES;
  /* trim, collapse runs of spaces (SigV4 canonical header value) */
  char tmp[9000];
  size_t o = 0;
  const char *v = value ? value : "";
  while (*v == ' ' || *v == '\t') v++;
  for (; *v && o + 1 < sizeof tmp; v++) {
    if (*v == ' ' || *v == '\t') {
      if (o && tmp[o - 1] == ' ') continue;
      tmp[o++] = ' ';
    } else {
      tmp[o++] = *v;
    }
  }
  while (o && tmp[o - 1] == ' ') o--;
  size_t need = h->len + o + 2;
  if (need > h->cap) {
    char *n = realloc(h->val, need * 2);
    if (!n) return MHD_NO;
    h->val = n;
    h->cap = need * 2;
  }
  if (h->found) h->val[h->len++] = ',';
  memcpy(h->val + h->len, tmp, o);
  h->len += o;
  h->val[h->len] = '\0';
  h->found = 1;
  return MHD_YES;
}

static void hmac(const void *key, size_t kl, const void *msg, size_t ml, unsigned char out[32]) {
  unsigned int ol = 32;
  if (!HMAC(EVP_sha256(), key, (int)kl, msg, ml, out, &ol)) memset(out, 0, 32);
}

static int is_digits(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] < '0' || s[i] > '9') return 0;
  return 1;
}

/* Parse "YYYYMMDDTHHMMSSZ" into epoch seconds; -1 when malformed. */
static long long parse_amz_date(const char *s) {
  if (strlen(s) != 16 || !is_digits(s, 8) || s[8] != 'T' || !is_digits(s + 9, 6) || s[15] != 'Z')
    return -1;
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
  int mo = (s[4] - '0') * 10 + (s[5] - '0');
  int d = (s[6] - '0') * 10 + (s[7] - '0');
  int h = (s[9] - '0') * 10 + (s[10] - '0');
  int mi = (s[11] - '0') * 10 + (s[12] - '0');
  int se = (s[13] - '0') * 10 + (s[14] - '0');
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return -1;
  /* days from civil (Howard Hinnant), no timegm needed */
  int yy = y - (mo <= 2);
  int era = (yy >= 0 ? yy : yy - 399) / 400;
  unsigned yoe = (unsigned)(yy - era * 400);
  unsigned doy = (unsigned)((153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1);
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  long long days = (long long)era * 146097 + (long long)doe - 719468;
  return days * 86400 + h * 3600 + mi * 60 + se;
}

void mock_aws_sigv4(const char *secret, const char *amz_date, const char *region,
                    const char *service, const char *canonical, size_t canonical_len,
                    char sig_hex[65]) {
  unsigned char ch[32];
  char chx[65];
  SHA256((const unsigned char *)canonical, canonical_len, ch);
  hex(ch, 32, chx);
  char sts[512];
  snprintf(sts, sizeof sts, "AWS4-HMAC-SHA256\n%s\n%.8s/%s/%s/aws4_request\n%s", amz_date, amz_date,
           region, service, chx);
  char k0[160];
  snprintf(k0, sizeof k0, "AWS4%s", secret);
  unsigned char k1[32], k2[32], k3[32], k4[32], sg[32];
  hmac(k0, strlen(k0), amz_date, 8, k1);
  hmac(k1, 32, region, strlen(region), k2);
  hmac(k2, 32, service, strlen(service), k3);
  hmac(k3, 32, "aws4_request", 12, k4);
  hmac(k4, 32, sts, strlen(sts), sg);
  OPENSSL_cleanse(k0, sizeof k0);
  OPENSSL_cleanse(k4, sizeof k4);
  hex(sg, 32, sig_hex);
}

/* 0: authenticated. Otherwise the response is filled and the reason kept. */
static int check_auth(mock_aws_t *m, struct MHD_Connection *conn, const char *service,
                      const char *body, size_t body_len, mresp_t *r) {
  char why[512] = "";
  int status = 403;
  const char *code = "InvalidSignatureException";
  const char *msg = "The request signature we calculated does not match the signature you "
                    "provided. Check your AWS Secret Access Key and signing method. Consult "
                    "the service documentation for details.";
  char cred[512] = "", signed_h[512] = "", sig[128] = "";
  const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
  const char *date = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Amz-Date");
  const char *tok = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Amz-Security-Token");
  if (!auth) {
    code = "MissingAuthenticationTokenException";
    msg = "Missing Authentication Token";
    snprintf(why, sizeof why, "no Authorization header");
    goto fail;
  }
  {
    const char *alg = "AWS4-HMAC-SHA256 ";
    if (strncmp(auth, alg, strlen(alg))) {
      status = 400;
      code = "IncompleteSignatureException";
      msg = "Authorization header requires the AWS4-HMAC-SHA256 algorithm";
      snprintf(why, sizeof why, "Authorization does not start with AWS4-HMAC-SHA256");
      goto fail;
    }
    const char *p = auth + strlen(alg);
    int got = 0;
    while (*p) {
      while (*p == ' ' || *p == ',') p++;
      const char *e = strchr(p, ',');
      size_t l = e ? (size_t)(e - p) : strlen(p);
      char *dst = NULL;
      size_t skip = 0, cap = 0;
      if (l > 11 && !strncmp(p, "Credential=", 11))
        dst = cred, skip = 11, cap = sizeof cred, got |= 1;
      else if (l > 14 && !strncmp(p, "SignedHeaders=", 14))
        dst = signed_h, skip = 14, cap = sizeof signed_h, got |= 2;
      else if (l > 10 && !strncmp(p, "Signature=", 10))
        dst = sig, skip = 10, cap = sizeof sig, got |= 4;
      else if (l) {
        got |= 8;
      }
      if (dst) {
        if (l - skip >= cap) {
          got |= 8;
        } else {
          memcpy(dst, p + skip, l - skip);
          dst[l - skip] = '\0';
        }
      }
      p += l;
    }
    if (got != 7) {
      status = 400;
      code = "IncompleteSignatureException";
      msg = "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders'";
      snprintf(why, sizeof why, "malformed Authorization: %.300s", auth);
      goto fail;
    }
  }
  /* Credential=AKID/yyyymmdd/region/service/aws4_request */
  char c_akid[130] = "", c_date[16] = "", c_region[40] = "", c_svc[64] = "", c_term[32] = "";
  {
    char tmp[512];
    scopy(tmp, sizeof tmp, cred);
    char *parts[6] = {0};
    size_t np = 0;
    for (char *s = tmp, *save = NULL, *t; np < 6 && (t = strtok_r(s, "/", &save)); s = NULL)
      parts[np++] = t;
    if (np != 5 || strlen(parts[0]) >= sizeof c_akid || strlen(parts[1]) != 8 ||
        !is_digits(parts[1], 8) || strlen(parts[2]) >= sizeof c_region ||
        strlen(parts[3]) >= sizeof c_svc || strlen(parts[4]) >= sizeof c_term) {
      status = 400;
      code = "IncompleteSignatureException";
      msg = "Credential must have exactly 5 slash-delimited elements";
      snprintf(why, sizeof why, "malformed Credential: %.300s", cred);
      goto fail;
    }
    scopy(c_akid, sizeof c_akid, parts[0]);
    scopy(c_date, sizeof c_date, parts[1]);
    scopy(c_region, sizeof c_region, parts[2]);
    scopy(c_svc, sizeof c_svc, parts[3]);
    scopy(c_term, sizeof c_term, parts[4]);
  }
  if (strcmp(c_akid, m->akid)) {
    code = "UnrecognizedClientException";
    msg = "The security token included in the request is invalid.";
    snprintf(why, sizeof why, "unknown access key id %.140s", c_akid);
    goto fail;
  }
  if (strcmp(c_term, "aws4_request")) {
    snprintf(why, sizeof why, "credential scope does not end in aws4_request");
    goto fail;
  }
  if (strcmp(c_region, m->region)) {
    msg = "Credential should be scoped to a valid region.";
    snprintf(why, sizeof why, "credential region %s, expected %s", c_region, m->region);
    goto fail;
  }
  if (strcmp(c_svc, service)) {
    msg = "Credential should be scoped to correct service.";
    snprintf(why, sizeof why, "credential service %s, expected %s", c_svc, service);
    goto fail;
  }
  /* Session token */
  if (m->has_token && (!tok || strcmp(tok, m->token))) {
    code = "UnrecognizedClientException";
    msg = "The security token included in the request is invalid.";
    snprintf(why, sizeof why, "%s",
             tok ? "wrong X-Amz-Security-Token" : "X-Amz-Security-Token missing");
    goto fail;
  }
  if (!m->has_token && tok) {
    code = "UnrecognizedClientException";
    msg = "The security token included in the request is invalid.";
    snprintf(why, sizeof why, "X-Amz-Security-Token sent, none configured");
    goto fail;
  }
  /* Date */
  long long t = date ? parse_amz_date(date) : -1;
  if (t < 0) {
    status = 400;
    code = "IncompleteSignatureException";
    msg = "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.";
    snprintf(why, sizeof why, "X-Amz-Date missing or malformed: %.40s", date ? date : "(none)");
    goto fail;
  }
  if (strncmp(date, c_date, 8)) {
    msg =
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP";
    snprintf(why, sizeof why, "credential date %s vs X-Amz-Date %s", c_date, date);
    goto fail;
  }
  long long now = (long long)time(NULL);
  if (t > now + m->max_skew || t < now - m->max_skew) {
    msg = "Signature expired";
    snprintf(why, sizeof why, "X-Amz-Date %s is more than %d s from now", date, m->max_skew);
    goto fail;
  }
  /* Signature format */
  if (strlen(sig) != 64 || strspn(sig, "0123456789abcdef") != 64) {
    status = 400;
    code = "IncompleteSignatureException";
    msg = "Signature must be 64 lower-case hex characters";
    snprintf(why, sizeof why, "malformed Signature");
    goto fail;
  }
  /* SignedHeaders: lower case, strictly sorted, with the required ones */
  {
    char tmp[512];
    scopy(tmp, sizeof tmp, signed_h);
    char prev[128] = "";
    int has_host = 0, has_date = 0, has_tok = 0;
    size_t n = 0;
    for (char *s = tmp, *save = NULL, *h; (h = strtok_r(s, ";", &save)); s = NULL, n++) {
      for (char *q = h; *q; q++)
        if (isupper((unsigned char)*q) || *q == ' ') {
          snprintf(why, sizeof why, "SignedHeaders not lower case: %.300s", signed_h);
          goto fail;
        }
      if (prev[0] && strcmp(prev, h) >= 0) {
        snprintf(why, sizeof why, "SignedHeaders not sorted: %.300s", signed_h);
        goto fail;
      }
      scopy(prev, sizeof prev, h);
      has_host |= !strcmp(h, "host");
      has_date |= !strcmp(h, "x-amz-date");
      has_tok |= !strcmp(h, "x-amz-security-token");
    }
    if (!has_host || !has_date || (m->has_token && !has_tok)) {
      snprintf(why, sizeof why, "SignedHeaders lacks %s: %.300s",
               !has_host   ? "host"
               : !has_date ? "x-amz-date"
                           : "x-amz-security-token",
               signed_h);
      goto fail;
    }
  }
  /* Canonical request */
  {
    size_t cap = 4096 + strlen(signed_h) * 2, len = 0;
    char *canon = malloc(cap);
    if (!canon) {
      snprintf(why, sizeof why, "out of memory");
      goto fail;
    }
#define APPEND(s, n)                                \
  do {                                              \
    size_t n_ = (n);                                \
    if (len + n_ + 1 > cap) {                       \
      size_t c2 = (len + n_ + 1) * 2;               \
      char *x_ = realloc(canon, c2);                \
      if (!x_) {                                    \
        free(canon);                                \
        snprintf(why, sizeof why, "out of memory"); \
        goto fail;                                  \
      }                                             \
      canon = x_;                                   \
      cap = c2;                                     \
    }                                               \
    memcpy(canon + len, (s), n_);                   \
    len += n_;                                      \
    canon[len] = '\0';                              \
  } while (0)
    APPEND("POST\n/\n\n", 8);
    char tmp[512];
    scopy(tmp, sizeof tmp, signed_h);
    for (char *s = tmp, *save = NULL, *h; (h = strtok_r(s, ";", &save)); s = NULL) {
      hdr_collect_t hc = {h, NULL, 0, 0, 0};
      MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_cb, &hc);
      if (!hc.found) {
        free(hc.val);
        free(canon);
        snprintf(why, sizeof why, "signed header '%s' is not in the request", h);
        goto fail;
      }
      APPEND(h, strlen(h));
      APPEND(":", 1);
      APPEND(hc.val, hc.len);
      APPEND("\n", 1);
      free(hc.val);
    }
    APPEND("\n", 1);
    APPEND(signed_h, strlen(signed_h));
    APPEND("\n", 1);
    unsigned char ph[32];
    char phx[65];
    SHA256((const unsigned char *)body, body_len, ph);
    hex(ph, 32, phx);
    APPEND(phx, 64);
#undef APPEND
    const char *csha = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Amz-Content-Sha256");
    if (csha && strcmp(csha, phx) && strcmp(csha, "UNSIGNED-PAYLOAD")) {
      free(canon);
      status = 400;
      code = "XAmzContentSHA256Mismatch";
      msg = "The provided 'x-amz-content-sha256' header does not match what was computed.";
      snprintf(why, sizeof why, "x-amz-content-sha256 mismatch");
      goto fail;
    }
    char sx[65];
    mock_aws_sigv4(m->secret, date, c_region, c_svc, canon, len, sx);
    free(canon);
    if (CRYPTO_memcmp(sx, sig, 64)) {
      snprintf(why, sizeof why, "signature mismatch (signed headers %.200s)", signed_h);
      goto fail;
    }
  }
  scopy(m->last_signed, sizeof m->last_signed, signed_h);
  return 0;
fail:
  scopy(m->last_reject, sizeof m->last_reject, why);
  resp_err(r, status, code, msg, 0, 1);
  return -1;
}

/* ------------------------------------------------------------ Secrets Manager */

static msecret_t *find_secret(mock_aws_t *m, const char *id) {
  for (size_t i = 0; i < m->n_secrets; i++)
    if (!strcmp(m->secrets[i]->name, id) || !strcmp(m->secrets[i]->arn, id)) return m->secrets[i];
  return NULL;
}

static mver_t *find_version(msecret_t *s, const char *id) {
  for (size_t i = 0; i < s->nv; i++)
    if (!strcmp(s->v[i].id, id)) return &s->v[i];
  return NULL;
}

static int has_label(const mver_t *v, const char *l) {
  for (size_t i = 0; i < v->n_labels; i++)
    if (!strcmp(v->labels[i], l)) return 1;
  return 0;
}

static mver_t *label_holder(msecret_t *s, const char *l) {
  for (size_t i = 0; i < s->nv; i++)
    if (has_label(&s->v[i], l)) return &s->v[i];
  return NULL;
}

static void remove_label(mver_t *v, const char *l) {
  for (size_t i = 0; i < v->n_labels; i++)
    if (!strcmp(v->labels[i], l)) {
      free(v->labels[i]);
      v->labels[i] = v->labels[--v->n_labels];
      return;
    }
}

static int add_label(mver_t *v, const char *l) {
  if (has_label(v, l)) return 0;
  if (v->n_labels == MAX_LABELS) return -1;
  char *d = strdup(l);
  if (!d) return -1;
  v->labels[v->n_labels++] = d;
  return 0;
}

/* Put label @p l on @p to (taking it from its holder); AWSCURRENT drags
 * AWSPREVIOUS to the version it left. */
static int move_label(msecret_t *s, const char *l, mver_t *to) {
  mver_t *from = label_holder(s, l);
  if (from == to) return 0;
  if (from) remove_label(from, l);
  if (add_label(to, l)) return -1;
  if (from && !strcmp(l, "AWSCURRENT")) {
    mver_t *prev = label_holder(s, "AWSPREVIOUS");
    if (prev) remove_label(prev, "AWSPREVIOUS");
    if (add_label(from, "AWSPREVIOUS")) return -1;
  }
  s->changed = now_epoch();
  return 0;
}

static cJSON *labels_json(const mver_t *v) {
  cJSON *a = cJSON_CreateArray();
  for (size_t i = 0; a && i < v->n_labels; i++)
    cJSON_AddItemToArray(a, cJSON_CreateString(v->labels[i]));
  return a;
}

static void free_secret(msecret_t *s) {
  for (size_t i = 0; i < s->nv; i++) {
    if (s->v[i].val) {
      OPENSSL_cleanse(s->v[i].val, s->v[i].len);
      free(s->v[i].val);
    }
    for (size_t k = 0; k < s->v[i].n_labels; k++) free(s->v[i].labels[k]);
  }
  free(s);
}

static mver_t *new_version(msecret_t *s, const char *id, const void *val, size_t len, int binary) {
  if (s->nv == MAX_VERSIONS) return NULL;
  mver_t *v = &s->v[s->nv];
  memset(v, 0, sizeof *v);
  v->val = malloc(len + 1);
  if (!v->val) return NULL;
  if (len) memcpy(v->val, val, len);
  v->val[len] = 0;
  v->len = len;
  v->binary = binary;
  scopy(v->id, sizeof v->id, id);
  v->created = now_epoch();
  s->nv++;
  s->changed = v->created;
  return v;
}

static const char *jstr(const cJSON *o, const char *k) {
  const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsString(x) ? x->valuestring : NULL;
}

#define SM_ERR(status, code, msg) (resp_err(r, status, code, msg, 1, 0), 1)

static int sm_get(mock_aws_t *m, const cJSON *in, mresp_t *r) {
  const char *id = jstr(in, "SecretId"), *vid = jstr(in, "VersionId"),
             *stage = jstr(in, "VersionStage");
  if (!id) return SM_ERR(400, "InvalidParameterException", "SecretId is required.");
  msecret_t *s = find_secret(m, id);
  if (!s)
    return SM_ERR(400, "ResourceNotFoundException",
                  "Secrets Manager can't find the specified secret.");
  mver_t *v;
  char msg[256];
  if (vid) {
    v = find_version(s, vid);
    if (!v || (stage && !has_label(v, stage))) {
      snprintf(msg, sizeof msg,
               "Secrets Manager can't find the specified secret value for VersionId: %.80s", vid);
      return SM_ERR(400, "ResourceNotFoundException", msg);
    }
  } else {
    if (!stage) stage = "AWSCURRENT";
    v = label_holder(s, stage);
    if (!v) {
      snprintf(msg, sizeof msg,
               "Secrets Manager can't find the specified secret value for staging label: %.80s",
               stage);
      return SM_ERR(400, "ResourceNotFoundException", msg);
    }
  }
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "ARN", s->arn);
  cJSON_AddStringToObject(o, "Name", s->name);
  cJSON_AddStringToObject(o, "VersionId", v->id);
  if (v->binary) {
    char *b = b64_encode(v->val, v->len);
    if (!b) {
      cJSON_Delete(o);
      return SM_ERR(500, "InternalServiceError", "out of memory");
    }
    cJSON_AddStringToObject(o, "SecretBinary", b);
    free(b);
  } else {
    cJSON_AddStringToObject(o, "SecretString", (const char *)v->val);
  }
  cJSON_AddItemToObject(o, "VersionStages", labels_json(v));
  cJSON_AddNumberToObject(o, "CreatedDate", v->created);
  resp_json(r, 200, o);
  return 0;
}

static int sm_put(mock_aws_t *m, const cJSON *in, mresp_t *r) {
  const char *id = jstr(in, "SecretId"), *tok = jstr(in, "ClientRequestToken");
  const char *ss = jstr(in, "SecretString"), *sb = jstr(in, "SecretBinary");
  if (!id) return SM_ERR(400, "InvalidParameterException", "SecretId is required.");
  msecret_t *s = find_secret(m, id);
  if (!s)
    return SM_ERR(400, "ResourceNotFoundException",
                  "Secrets Manager can't find the specified secret.");
  char gen[37];
  if (!tok) {
    gen_uuid(gen);
    tok = gen;
  }
  if (strlen(tok) < 32 || strlen(tok) > 64)
    return SM_ERR(400, "InvalidParameterException",
                  "ClientRequestToken must be between 32 and 64 characters.");
  if (!ss == !sb)
    return SM_ERR(400, "InvalidParameterException",
                  "You must provide either SecretString or SecretBinary, but not both.");
  unsigned char *val;
  size_t len;
  if (sb) {
    val = b64_decode(sb, strlen(sb), &len);
    if (!val) return SM_ERR(400, "SerializationException", "SecretBinary is not valid base64.");
  } else {
    len = strlen(ss);
    val = (unsigned char *)strdup(ss);
    if (!val) return SM_ERR(500, "InternalServiceError", "out of memory");
  }
  int rc = 0;
  const char *labels[MAX_LABELS];
  size_t nl = 0;
  const cJSON *vs = cJSON_GetObjectItemCaseSensitive(in, "VersionStages");
  if (len > SECRET_MAX) {
    rc = SM_ERR(400, "InvalidParameterException", "The secret value exceeds 65536 bytes.");
    goto out;
  }
  if (vs) {
    const cJSON *e;
    if (!cJSON_IsArray(vs) || cJSON_GetArraySize(vs) < 1 || cJSON_GetArraySize(vs) > MAX_LABELS) {
      rc = SM_ERR(400, "InvalidParameterException", "VersionStages must hold 1 to 20 labels.");
      goto out;
    }
    cJSON_ArrayForEach(e, vs) {
      if (!cJSON_IsString(e) || !e->valuestring[0] || strlen(e->valuestring) > 256) {
        rc = SM_ERR(400, "InvalidParameterException", "Invalid staging label.");
        goto out;
      }
      labels[nl++] = e->valuestring;
    }
  } else {
    labels[nl++] = "AWSCURRENT";
  }
  mver_t *v = find_version(s, tok);
  if (v) {
    if (v->len != len || v->binary != !!sb || (len && memcmp(v->val, val, len))) {
      rc = SM_ERR(400, "ResourceExistsException",
                  "You can't modify an existing version, you can only create new versions.");
      goto out;
    }
    /* Same token, same value: the request is ignored (idempotent retry). */
  } else {
    v = new_version(s, tok, val, len, !!sb);
    if (!v) {
      rc = SM_ERR(400, "LimitExceededException", "Too many versions.");
      goto out;
    }
    for (size_t i = 0; i < nl; i++)
      if (move_label(s, labels[i], v)) {
        rc = SM_ERR(500, "InternalServiceError", "out of memory");
        goto out;
      }
  }
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "ARN", s->arn);
  cJSON_AddStringToObject(o, "Name", s->name);
  cJSON_AddStringToObject(o, "VersionId", v->id);
  cJSON_AddItemToObject(o, "VersionStages", labels_json(v));
  resp_json(r, 200, o);
out:
  OPENSSL_cleanse(val, len);
  free(val);
  return rc;
}

static int sm_update_stage(mock_aws_t *m, const cJSON *in, mresp_t *r) {
  const char *id = jstr(in, "SecretId"), *stage = jstr(in, "VersionStage");
  const char *to_id = jstr(in, "MoveToVersionId"), *from_id = jstr(in, "RemoveFromVersionId");
  char msg[512];
  if (!id || !stage || !stage[0])
    return SM_ERR(400, "InvalidParameterException", "SecretId and VersionStage are required.");
  msecret_t *s = find_secret(m, id);
  if (!s)
    return SM_ERR(400, "ResourceNotFoundException",
                  "Secrets Manager can't find the specified secret.");
  mver_t *holder = label_holder(s, stage);
  mver_t *to = NULL, *from = NULL;
  if (to_id && !(to = find_version(s, to_id))) {
    snprintf(msg, sizeof msg, "Secrets Manager can't find the specified secret version: %.80s",
             to_id);
    return SM_ERR(400, "ResourceNotFoundException", msg);
  }
  if (from_id) {
    from = find_version(s, from_id);
    if (!from || from != holder) {
      snprintf(msg, sizeof msg,
               "The staging label %.80s is not attached to the version %.80s, so you can't "
               "remove it from that version.",
               stage, from_id);
      return SM_ERR(400, "InvalidParameterException", msg);
    }
  }
  if (!to) {
    if (!from)
      return SM_ERR(400, "InvalidParameterException",
                    "You must specify MoveToVersionId or RemoveFromVersionId.");
    if (!strcmp(stage, "AWSCURRENT"))
      return SM_ERR(400, "InvalidParameterException",
                    "You can only move the staging label AWSCURRENT, you can't remove it.");
    remove_label(from, stage);
    s->changed = now_epoch();
  } else {
    if (holder && holder != to && !from) {
      snprintf(msg, sizeof msg,
               "The parameter RemoveFromVersionId can't be empty. Staging label %.80s is currently "
               "attached to version %.80s, so you must explicitly reference that version in "
               "RemoveFromVersionId.",
               stage, holder->id);
      return SM_ERR(400, "InvalidParameterException", msg);
    }
    if (move_label(s, stage, to)) return SM_ERR(500, "InternalServiceError", "out of memory");
  }
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "ARN", s->arn);
  cJSON_AddStringToObject(o, "Name", s->name);
  resp_json(r, 200, o);
  return 0;
}

static int sm_describe(mock_aws_t *m, const cJSON *in, mresp_t *r) {
  const char *id = jstr(in, "SecretId");
  if (!id) return SM_ERR(400, "InvalidParameterException", "SecretId is required.");
  msecret_t *s = find_secret(m, id);
  if (!s)
    return SM_ERR(400, "ResourceNotFoundException",
                  "Secrets Manager can't find the specified secret.");
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "ARN", s->arn);
  cJSON_AddStringToObject(o, "Name", s->name);
  cJSON_AddBoolToObject(o, "RotationEnabled", s->rot_enabled);
  if (s->rot_lambda[0]) cJSON_AddStringToObject(o, "RotationLambdaARN", s->rot_lambda);
  if (s->rot_days) {
    cJSON *rr = cJSON_AddObjectToObject(o, "RotationRules");
    if (rr) cJSON_AddNumberToObject(rr, "AutomaticallyAfterDays", s->rot_days);
  }
  cJSON_AddNumberToObject(o, "LastChangedDate", s->changed);
  cJSON_AddNumberToObject(o, "CreatedDate", s->created);
  cJSON *map = cJSON_AddObjectToObject(o, "VersionIdsToStages");
  for (size_t i = 0; map && i < s->nv; i++)
    if (s->v[i].n_labels) cJSON_AddItemToObject(map, s->v[i].id, labels_json(&s->v[i]));
  resp_json(r, 200, o);
  return 0;
}

/* ------------------------------------------------------------ Firehose */

static mstream_t *find_stream(mock_aws_t *m, const char *name) {
  for (size_t i = 0; i < m->n_streams; i++)
    if (!strcmp(m->streams[i].name, name)) return &m->streams[i];
  return NULL;
}

#define FH_ERR(status, code, msg) (resp_err(r, status, code, msg, 0, 0), 1)

static int fh_put_batch(mock_aws_t *m, const cJSON *in, mresp_t *r) {
  const char *name = jstr(in, "DeliveryStreamName");
  const cJSON *recs = cJSON_GetObjectItemCaseSensitive(in, "Records");
  char msg[256];
  if (!name) return FH_ERR(400, "ValidationException", "DeliveryStreamName is required.");
  mstream_t *st = find_stream(m, name);
  if (!st) {
    snprintf(msg, sizeof msg, "Firehose %.64s under account " MOCK_AWS_ACCOUNT " not found.", name);
    return FH_ERR(400, "ResourceNotFoundException", msg);
  }
  if (!cJSON_IsArray(recs) || cJSON_GetArraySize(recs) < 1 ||
      cJSON_GetArraySize(recs) > FH_MAX_RECORDS)
    return FH_ERR(400, "ValidationException",
                  "1 validation error detected: Value at 'records' failed to satisfy constraint: "
                  "Member must have length between 1 and 500");
  size_t n = (size_t)cJSON_GetArraySize(recs), total = 0, i = 0;
  mrec_t *dec = calloc(n, sizeof *dec);
  unsigned char *fail = calloc(n, 1);
  int rc = 0;
  if (!dec || !fail) {
    rc = FH_ERR(500, "ServiceUnavailableException", "out of memory");
    goto out;
  }
  const cJSON *e;
  cJSON_ArrayForEach(e, recs) {
    const char *d = jstr(e, "Data");
    size_t dl = 0;
    unsigned char *b = d ? b64_decode(d, strlen(d), &dl) : NULL;
    if (!b) {
      rc = FH_ERR(400, "SerializationException", "Record Data must be valid base64.");
      goto out;
    }
    dec[i].data = (char *)b;
    dec[i].len = dl;
    i++;
    if (dl > FH_MAX_RECORD) {
      rc = FH_ERR(400, "ValidationException",
                  "1 validation error detected: Value at 'records.member.data' failed to satisfy "
                  "constraint: Member must have length less than or equal to 1024000");
      goto out;
    }
    total += dl;
  }
  if (total > FH_MAX_BATCH) {
    rc = FH_ERR(400, "InvalidArgumentException", "Records size exceeds 4 MB limit");
    goto out;
  }
  const char *code = m->fail_code[0] ? m->fail_code : "ServiceUnavailableException";
  if (m->fail_idx_armed) {
    for (size_t k = 0; k < m->n_fail_idx; k++)
      if (m->fail_idx[k] < n) fail[m->fail_idx[k]] = 1;
    m->fail_idx_armed = 0;
  }
  cJSON *o = cJSON_CreateObject();
  cJSON *arr = cJSON_CreateArray();
  size_t nf = 0;
  for (i = 0; i < n; i++) {
    cJSON *x = cJSON_CreateObject();
    if (fail[i] || st->n >= MAX_STREAM_RECORDS) {
      cJSON_AddStringToObject(x, "ErrorCode", fail[i] ? code : "ServiceUnavailableException");
      cJSON_AddStringToObject(x, "ErrorMessage",
                              fail[i] ? "Injected failure" : "Mock stream is full");
      nf++;
    } else {
      if (st->n == st->cap) {
        size_t nc = st->cap ? st->cap * 2 : 64;
        mrec_t *nr = realloc(st->r, nc * sizeof *nr);
        if (!nr) {
          cJSON_Delete(x);
          cJSON_Delete(arr);
          cJSON_Delete(o);
          rc = FH_ERR(500, "ServiceUnavailableException", "out of memory");
          goto out;
        }
        st->r = nr;
        st->cap = nc;
      }
      st->r[st->n++] = dec[i];
      dec[i].data = NULL;
      char rid[80];
      snprintf(rid, sizeof rid, "%032lx%024zx", (unsigned long)++m->seq, st->n);
      cJSON_AddStringToObject(x, "RecordId", rid);
    }
    cJSON_AddItemToArray(arr, x);
  }
  cJSON_AddNumberToObject(o, "FailedPutCount", (double)nf);
  cJSON_AddBoolToObject(o, "Encrypted", 0);
  cJSON_AddItemToObject(o, "RequestResponses", arr);
  resp_json(r, 200, o);
out:
  for (i = 0; dec && i < n; i++) free(dec[i].data);
  free(dec);
  free(fail);
  return rc;
}

/* ------------------------------------------------------------ dispatch */

typedef struct {
  char *buf;
  size_t len, cap;
  int too_big;
} mconn_t;

static mfault_t *take_fault(mock_aws_t *m, const char *op) {
  for (size_t i = 0; i < m->n_faults; i++) {
    mfault_t *f = &m->faults[i];
    if (f->left && (!f->op[0] || !strcmp(f->op, op))) {
      f->left--;
      return f;
    }
  }
  return NULL;
}

static void gc_faults(mock_aws_t *m) {
  size_t o = 0;
  for (size_t i = 0; i < m->n_faults; i++) {
    if (m->faults[i].left)
      m->faults[o++] = m->faults[i];
    else
      free(m->faults[i].body);
  }
  m->n_faults = o;
}

static void handle(mock_aws_t *m, struct MHD_Connection *conn, const char *method, const char *url,
                   mconn_t *mc, mresp_t *r) {
  const char *target = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Amz-Target");
  char op[64] = "?", prefix[64] = "";
  const char *service = NULL;
  if (target) {
    const char *dot = strrchr(target, '.');
    if (dot && (size_t)(dot - target) < sizeof prefix && strlen(dot + 1) < sizeof op) {
      memcpy(prefix, target, (size_t)(dot - target));
      prefix[dot - target] = '\0';
      scopy(op, sizeof op, dot + 1);
    }
    if (!strcmp(prefix, "secretsmanager"))
      service = "secretsmanager";
    else if (!strcmp(prefix, "Firehose_20150804"))
      service = "firehose";
  }
  pthread_mutex_lock(&m->mu);
  mop_t *os = op_stats(m, op);
  os->s.requests++;
  m->total.requests++;
  unsigned delay = 0;
  if (strcmp(method, "POST") || strcmp(url, "/")) {
    resp_err(r, 404, "UnknownOperationException", "Only POST / is served", 0, 0);
    os->s.errors++, m->total.errors++;
    goto done;
  }
  if (!service) {
    resp_err(r, 400, "UnknownOperationException", "Unknown X-Amz-Target", 0, 0);
    os->s.errors++, m->total.errors++;
    goto done;
  }
  if (mc->too_big) {
    resp_err(r, 413, "RequestEntityTooLargeException", "Request too large", 0, 0);
    os->s.errors++, m->total.errors++;
    goto done;
  }
  if (check_auth(m, conn, service, mc->buf ? mc->buf : "", mc->len, r)) {
    os->s.auth_rejected++, m->total.auth_rejected++;
    goto done;
  }
  const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
  if (!ct || strcmp(ct, "application/x-amz-json-1.1")) {
    resp_err(r, 400, "SerializationException", "Content-Type must be application/x-amz-json-1.1", 0,
             0);
    os->s.errors++, m->total.errors++;
    goto done;
  }
  mfault_t *f = take_fault(m, op);
  if (f && f->kind != F_DELAY) {
    os->s.faults++, m->total.faults++;
    if (f->kind == F_DROP) {
      r->drop = 1;
    } else if (f->kind == F_RAW) {
      r->status = f->status;
      r->body = malloc(f->body_len + 1);
      if (r->body) {
        if (f->body_len) memcpy(r->body, f->body, f->body_len);
        r->len = f->body_len;
      }
      scopy(r->ctype, sizeof r->ctype, f->ctype);
    } else {
      resp_err(r, f->status, f->code, "Injected fault", 0, 0);
      snprintf(r->err_type_hdr, sizeof r->err_type_hdr, "%s:http://internal.amazon.com/coral/mock/",
               f->code);
    }
    gc_faults(m);
    goto done;
  }
  if (f) { /* delay: wait without the lock, then handle (or fail) */
    delay = f->ms;
    int fail_status = f->status;
    char fail_code[sizeof f->code];
    scopy(fail_code, sizeof fail_code, f->code);
    gc_faults(m);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += delay / 1000;
    until.tv_nsec += (long)(delay % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
    while (!m->stopping && pthread_cond_timedwait(&m->cv, &m->mu, &until) != ETIMEDOUT) {}
    if (m->stopping) {
      r->drop = 1;
      goto done;
    }
    if (fail_status) {
      os->s.faults++, m->total.faults++;
      resp_err(r, fail_status, fail_code, "Injected fault", 0, 0);
      snprintf(r->err_type_hdr, sizeof r->err_type_hdr, "%s:http://internal.amazon.com/coral/mock/",
               fail_code);
      goto done;
    }
  }
  cJSON *in = cJSON_ParseWithLength(mc->buf ? mc->buf : "", mc->len);
  int err;
  if (!cJSON_IsObject(in)) {
    resp_err(r, 400, "SerializationException", "Request body is not a JSON object", 0, 0);
    err = 1;
  } else if (!strcmp(service, "secretsmanager")) {
    if (!strcmp(op, "GetSecretValue"))
      err = sm_get(m, in, r);
    else if (!strcmp(op, "PutSecretValue"))
      err = sm_put(m, in, r);
    else if (!strcmp(op, "DescribeSecret"))
      err = sm_describe(m, in, r);
    else if (!strcmp(op, "UpdateSecretVersionStage"))
      err = sm_update_stage(m, in, r);
    else
      err = (resp_err(r, 400, "UnknownOperationException", "Unknown operation", 0, 0), 1);
  } else {
    if (!strcmp(op, "PutRecordBatch"))
      err = fh_put_batch(m, in, r);
    else
      err = (resp_err(r, 400, "UnknownOperationException", "Unknown operation", 0, 0), 1);
  }
  if (in) { /* request bodies may hold secrets */
    for (cJSON *x = in->child; x; x = x->next)
      if (x->valuestring) OPENSSL_cleanse(x->valuestring, strlen(x->valuestring));
    cJSON_Delete(in);
  }
  if (err)
    os->s.errors++, m->total.errors++;
  else
    os->s.ok++, m->total.ok++;
done:
  pthread_mutex_unlock(&m->mu);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
  (void)version;
  mock_aws_t *m = cls;
  mconn_t *mc = *con_cls;
  if (!mc) {
    mc = calloc(1, sizeof *mc);
    if (!mc) return MHD_NO;
    *con_cls = mc;
    return MHD_YES;
  }
  if (*upload_size) {
    size_t n = *upload_size;
    *upload_size = 0;
    if (mc->too_big || mc->len + n > MAX_BODY) {
      mc->too_big = 1;
      return MHD_YES;
    }
    if (mc->len + n + 1 > mc->cap) {
      size_t cap = mc->cap ? mc->cap : 4096;
      while (cap < mc->len + n + 1) cap *= 2;
      char *b = realloc(mc->buf, cap);
      if (!b) return MHD_NO;
      mc->buf = b;
      mc->cap = cap;
    }
    memcpy(mc->buf + mc->len, upload, n);
    mc->len += n;
    mc->buf[mc->len] = '\0';
    return MHD_YES;
  }
  mresp_t r;
  memset(&r, 0, sizeof r);
  handle(m, conn, method, url, mc, &r);
  if (r.drop) {
    free(r.body);
    return MHD_NO; /* closes the connection without an answer */
  }
  struct MHD_Response *resp =
      MHD_create_response_from_buffer(r.len, r.body ? r.body : (void *)"", MHD_RESPMEM_MUST_COPY);
  free(r.body);
  if (!resp) return MHD_NO;
  char rid[40];
  gen_uuid(rid);
  if (r.ctype[0]) MHD_add_response_header(resp, "Content-Type", r.ctype);
  MHD_add_response_header(resp, "x-amzn-RequestId", rid);
  if (r.err_type_hdr[0]) MHD_add_response_header(resp, "x-amzn-ErrorType", r.err_type_hdr);
  enum MHD_Result ret = MHD_queue_response(conn, (unsigned)(r.status ? r.status : 500), resp);
  MHD_destroy_response(resp);
  return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  (void)cls, (void)conn, (void)toe;
  mconn_t *mc = *con_cls;
  if (mc) {
    if (mc->buf) {
      OPENSSL_cleanse(mc->buf, mc->cap);
      free(mc->buf);
    }
    free(mc);
    *con_cls = NULL;
  }
}

/* ------------------------------------------------------------ public API */

mock_aws_t *mock_aws_start(const mock_aws_conf_t *conf) {
  mock_aws_t *m = calloc(1, sizeof *m);
  if (!m) {
    fprintf(stderr, "mock_aws: out of memory\n");
    return NULL;
  }
  mock_aws_conf_t def = {NULL, NULL, "", NULL, 0, NULL, NULL};
  if (!conf) conf = &def;
  scopy(m->akid, sizeof m->akid, conf->access_key ? conf->access_key : MOCK_AWS_ACCESS_KEY);
  scopy(m->secret, sizeof m->secret, conf->secret_key ? conf->secret_key : MOCK_AWS_SECRET_KEY);
  scopy(m->region, sizeof m->region, conf->region ? conf->region : MOCK_AWS_REGION);
  if (conf->session_token) {
    m->has_token = 1;
    scopy(m->token, sizeof m->token,
          conf->session_token[0] ? conf->session_token : MOCK_AWS_SESSION_TOKEN);
  }
  m->max_skew = conf->max_skew_s > 0 ? conf->max_skew_s : 300;
  pthread_mutex_init(&m->mu, NULL);
  pthread_cond_init(&m->cv, NULL);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  int tls = conf->tls_cert_pem && conf->tls_key_pem;
  if (tls)
    m->d = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_TLS, 0, NULL,
        NULL, on_request, m, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, m, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024), MHD_OPTION_HTTPS_MEM_KEY,
        conf->tls_key_pem, MHD_OPTION_HTTPS_MEM_CERT, conf->tls_cert_pem, MHD_OPTION_END);
  else
    m->d = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, on_request,
        m, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
        m, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)(64 * 1024), MHD_OPTION_END);
  if (!m->d) {
    fprintf(stderr, "mock_aws: MHD_start_daemon failed\n");
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->mu);
    free(m);
    return NULL;
  }
  const union MHD_DaemonInfo *di = MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_BIND_PORT);
  /* https by name: mbedTLS 2.28 matches no IP address of a certificate (mock_tls.h). */
  snprintf(m->url, sizeof m->url, "%s:%u", tls ? "https://localhost" : "http://127.0.0.1",
           di ? (unsigned)di->port : 0u);
  size_t k = 0;
  snprintf(m->env_buf[k++], sizeof m->env_buf[0], "AWS_ENDPOINT_URL=%s", m->url);
  snprintf(m->env_buf[k++], sizeof m->env_buf[0], "AWS_ACCESS_KEY_ID=%s", m->akid);
  snprintf(m->env_buf[k++], sizeof m->env_buf[0], "AWS_SECRET_ACCESS_KEY=%s", m->secret);
  snprintf(m->env_buf[k++], sizeof m->env_buf[0], "AWS_REGION=%s", m->region);
  if (m->has_token)
    snprintf(m->env_buf[k++], sizeof m->env_buf[0], "AWS_SESSION_TOKEN=%s", m->token);
  for (size_t i = 0; i < k; i++) m->env_ptr[i] = m->env_buf[i];
  m->env_n = k;
  return m;
}

void mock_aws_stop(mock_aws_t *m) {
  if (!m) return;
  pthread_mutex_lock(&m->mu);
  m->stopping = 1;
  pthread_cond_broadcast(&m->cv);
  pthread_mutex_unlock(&m->mu);
  MHD_stop_daemon(m->d);
  for (size_t i = 0; i < m->n_secrets; i++) free_secret(m->secrets[i]);
  for (size_t i = 0; i < m->n_streams; i++) {
    for (size_t k = 0; k < m->streams[i].n; k++) free(m->streams[i].r[k].data);
    free(m->streams[i].r);
  }
  for (size_t i = 0; i < m->n_faults; i++) free(m->faults[i].body);
  pthread_cond_destroy(&m->cv);
  pthread_mutex_destroy(&m->mu);
  OPENSSL_cleanse(m->secret, sizeof m->secret);
  OPENSSL_cleanse(m->env_buf, sizeof m->env_buf);
  free(m);
}

const char *mock_aws_url(const mock_aws_t *m) { return m->url; }

const char *const *mock_aws_env(const mock_aws_t *m, size_t *n) {
  *n = m->env_n;
  return m->env_ptr;
}

static int secret_add(mock_aws_t *m, const char *name, const void *value, size_t len,
                      const char *version_id, const char *stages_csv, int create) {
  if (!name || !*name || strlen(name) >= 512 || (!value && len) || len > SECRET_MAX) return -1;
  char gen[37];
  if (!version_id) {
    gen_uuid(gen);
    version_id = gen;
  }
  if (strlen(version_id) >= 72) return -1;
  pthread_mutex_lock(&m->mu);
  int rc = -1;
  msecret_t *s = find_secret(m, name);
  if (create) {
    if (s || m->n_secrets == MAX_SECRETS || !(s = calloc(1, sizeof *s))) goto out;
    scopy(s->name, sizeof s->name, name);
    snprintf(s->arn, sizeof s->arn,
             "arn:aws:secretsmanager:%s:" MOCK_AWS_ACCOUNT ":secret:%s-Ab1Cd2", m->region, name);
    s->created = s->changed = now_epoch();
    m->secrets[m->n_secrets++] = s;
  } else if (!s || find_version(s, version_id)) {
    goto out;
  }
  int text = 1;
  const unsigned char *p = value;
  for (size_t i = 0; i < len; i++)
    if (!p[i]) text = 0;
  mver_t *v = new_version(s, version_id, value ? value : "", len, !text);
  if (!v) goto out;
  char csv[1024];
  scopy(csv, sizeof csv, create ? "AWSCURRENT" : (stages_csv ? stages_csv : ""));
  rc = 0;
  for (char *q = csv, *save = NULL, *l; (l = strtok_r(q, ",", &save)); q = NULL) {
    mver_t *h = label_holder(s, l);
    if (h) remove_label(h, l);
    if (add_label(v, l)) rc = -1;
  }
out:
  pthread_mutex_unlock(&m->mu);
  return rc;
}

int mock_aws_secret_create(mock_aws_t *m, const char *name, const void *value, size_t len,
                           const char *version_id) {
  return secret_add(m, name, value, len, version_id, NULL, 1);
}

int mock_aws_secret_put_version(mock_aws_t *m, const char *name, const char *version_id,
                                const void *value, size_t len, const char *stages_csv) {
  return version_id ? secret_add(m, name, value, len, version_id, stages_csv, 0) : -1;
}

int mock_aws_secret_stage(mock_aws_t *m, const char *name, const char *stage, char *out) {
  pthread_mutex_lock(&m->mu);
  msecret_t *s = find_secret(m, name);
  mver_t *v = s ? label_holder(s, stage) : NULL;
  if (v) scopy(out, 72, v->id);
  pthread_mutex_unlock(&m->mu);
  return v ? 0 : -1;
}

unsigned char *mock_aws_secret_value(mock_aws_t *m, const char *name, const char *stage,
                                     const char *version_id, size_t *len) {
  unsigned char *out = NULL;
  pthread_mutex_lock(&m->mu);
  msecret_t *s = find_secret(m, name);
  mver_t *v = !s           ? NULL
              : version_id ? find_version(s, version_id)
                           : label_holder(s, stage ? stage : "AWSCURRENT");
  if (v && (out = malloc(v->len + 1))) {
    memcpy(out, v->val, v->len + 1);
    if (len) *len = v->len;
  }
  pthread_mutex_unlock(&m->mu);
  return out;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int mock_aws_secret_version_stages(mock_aws_t *m, const char *name, const char *version_id,
                                   char *out, size_t out_size) {
  int rc = -1;
  pthread_mutex_lock(&m->mu);
  msecret_t *s = find_secret(m, name);
  mver_t *v = s ? find_version(s, version_id) : NULL;
  if (v && out_size) {
    char *l[MAX_LABELS];
    memcpy(l, v->labels, v->n_labels * sizeof *l);
    qsort(l, v->n_labels, sizeof *l, cmp_str);
    out[0] = '\0';
    size_t o = 0;
    for (size_t i = 0; i < v->n_labels; i++) {
      int w = snprintf(out + o, out_size - o, "%s%s", i ? "," : "", l[i]);
      if (w < 0 || (size_t)w >= out_size - o) break;
      o += (size_t)w;
    }
    rc = 0;
  }
  pthread_mutex_unlock(&m->mu);
  return rc;
}

size_t mock_aws_secret_versions(mock_aws_t *m, const char *name) {
  pthread_mutex_lock(&m->mu);
  msecret_t *s = find_secret(m, name);
  size_t n = s ? s->nv : 0;
  pthread_mutex_unlock(&m->mu);
  return n;
}

int mock_aws_secret_set_rotation(mock_aws_t *m, const char *name, int enabled,
                                 const char *lambda_arn, unsigned days) {
  pthread_mutex_lock(&m->mu);
  msecret_t *s = find_secret(m, name);
  if (s) {
    s->rot_enabled = !!enabled;
    scopy(s->rot_lambda, sizeof s->rot_lambda, lambda_arn ? lambda_arn : "");
    s->rot_days = days;
  }
  pthread_mutex_unlock(&m->mu);
  return s ? 0 : -1;
}

int mock_aws_stream_create(mock_aws_t *m, const char *name) {
  if (!name || !*name || strlen(name) > 64) return -1;
  pthread_mutex_lock(&m->mu);
  int rc = -1;
  if (!find_stream(m, name) && m->n_streams < MAX_STREAMS) {
    mstream_t *st = &m->streams[m->n_streams++];
    memset(st, 0, sizeof *st);
    scopy(st->name, sizeof st->name, name);
    rc = 0;
  }
  pthread_mutex_unlock(&m->mu);
  return rc;
}

size_t mock_aws_stream_count(mock_aws_t *m, const char *name) {
  pthread_mutex_lock(&m->mu);
  mstream_t *st = find_stream(m, name);
  size_t n = st ? st->n : 0;
  pthread_mutex_unlock(&m->mu);
  return n;
}

char *mock_aws_stream_record(mock_aws_t *m, const char *name, size_t i, size_t *len) {
  char *out = NULL;
  pthread_mutex_lock(&m->mu);
  mstream_t *st = find_stream(m, name);
  if (st && i < st->n && (out = malloc(st->r[i].len + 1))) {
    memcpy(out, st->r[i].data, st->r[i].len);
    out[st->r[i].len] = '\0';
    if (len) *len = st->r[i].len;
  }
  pthread_mutex_unlock(&m->mu);
  return out;
}

void mock_aws_stream_clear(mock_aws_t *m, const char *name) {
  pthread_mutex_lock(&m->mu);
  mstream_t *st = find_stream(m, name);
  if (st) {
    for (size_t k = 0; k < st->n; k++) free(st->r[k].data);
    st->n = 0;
  }
  pthread_mutex_unlock(&m->mu);
}

static mfault_t *add_fault(mock_aws_t *m, int kind, const char *op, unsigned n) {
  if (!n || m->n_faults == MAX_FAULTS) return NULL;
  mfault_t *f = &m->faults[m->n_faults++];
  memset(f, 0, sizeof *f);
  f->kind = kind;
  f->left = n;
  scopy(f->op, sizeof f->op, op ? op : "");
  return f;
}

void mock_aws_fail_next(mock_aws_t *m, const char *op, unsigned n, int status, const char *code) {
  pthread_mutex_lock(&m->mu);
  mfault_t *f = add_fault(m, F_FAIL, op, n);
  if (f) {
    f->status = status;
    scopy(f->code, sizeof f->code, code ? code : "InternalFailure");
  }
  pthread_mutex_unlock(&m->mu);
}

void mock_aws_throttle_next(mock_aws_t *m, const char *op, unsigned n) {
  mock_aws_fail_next(m, op, n, 400, "ThrottlingException");
}

void mock_aws_500_next(mock_aws_t *m, const char *op, unsigned n) {
  mock_aws_fail_next(m, op, n, 500, "InternalFailure");
}

void mock_aws_drop_next(mock_aws_t *m, const char *op, unsigned n) {
  pthread_mutex_lock(&m->mu);
  add_fault(m, F_DROP, op, n);
  pthread_mutex_unlock(&m->mu);
}

void mock_aws_delay_next(mock_aws_t *m, const char *op, unsigned n, unsigned ms) {
  pthread_mutex_lock(&m->mu);
  mfault_t *f = add_fault(m, F_DELAY, op, n);
  if (f) f->ms = ms;
  pthread_mutex_unlock(&m->mu);
}

void mock_aws_delay_fail_next(mock_aws_t *m, const char *op, unsigned n, unsigned ms, int status,
                              const char *code) {
  pthread_mutex_lock(&m->mu);
  mfault_t *f = add_fault(m, F_DELAY, op, n);
  if (f) {
    f->ms = ms;
    f->status = status;
    scopy(f->code, sizeof f->code, code ? code : "InternalFailure");
  }
  pthread_mutex_unlock(&m->mu);
}

void mock_aws_raw_next(mock_aws_t *m, const char *op, int status, const char *content_type,
                       const void *body, size_t len) {
  char *copy = malloc(len + 1);
  if (!copy) return;
  if (len) memcpy(copy, body, len);
  pthread_mutex_lock(&m->mu);
  mfault_t *f = add_fault(m, F_RAW, op, 1);
  if (f) {
    f->status = status;
    f->body = copy;
    f->body_len = len;
    scopy(f->ctype, sizeof f->ctype, content_type ? content_type : "");
    copy = NULL;
  }
  pthread_mutex_unlock(&m->mu);
  free(copy);
}

void mock_aws_fail_records_next(mock_aws_t *m, const size_t *idx, size_t k, const char *code) {
  pthread_mutex_lock(&m->mu);
  if (k > FH_MAX_RECORDS) k = FH_MAX_RECORDS;
  if (k) memcpy(m->fail_idx, idx, k * sizeof *idx);
  m->n_fail_idx = k;
  m->fail_idx_armed = 1;
  scopy(m->fail_code, sizeof m->fail_code, code ? code : "ServiceUnavailableException");
  pthread_mutex_unlock(&m->mu);
}

void mock_aws_clear_faults(mock_aws_t *m) {
  pthread_mutex_lock(&m->mu);
  for (size_t i = 0; i < m->n_faults; i++) free(m->faults[i].body);
  m->n_faults = 0;
  m->fail_idx_armed = 0;
  pthread_mutex_unlock(&m->mu);
}

void mock_aws_stats(mock_aws_t *m, const char *op, mock_aws_stats_t *out) {
  memset(out, 0, sizeof *out);
  pthread_mutex_lock(&m->mu);
  if (!op) {
    *out = m->total;
  } else {
    for (size_t i = 0; i < m->n_ops; i++)
      if (!strcmp(m->ops[i].name, op)) *out = m->ops[i].s;
  }
  pthread_mutex_unlock(&m->mu);
}

void mock_aws_reset_stats(mock_aws_t *m) {
  pthread_mutex_lock(&m->mu);
  memset(m->ops, 0, sizeof m->ops);
  m->n_ops = 0;
  memset(&m->total, 0, sizeof m->total);
  pthread_mutex_unlock(&m->mu);
}

void mock_aws_last_rejection(mock_aws_t *m, char *buf, size_t n) {
  pthread_mutex_lock(&m->mu);
  scopy(buf, n, m->last_reject);
  pthread_mutex_unlock(&m->mu);
}

void mock_aws_last_signed_headers(mock_aws_t *m, char *buf, size_t n) {
  pthread_mutex_lock(&m->mu);
  scopy(buf, n, m->last_signed);
  pthread_mutex_unlock(&m->mu);
}
