/* Test HTTP server for the client suites: see client_mock_server.h. */
#define _POSIX_C_SOURCE 200809L
#include "client_mock_server.h"
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <cjson/cJSON.h>
#include <zlib.h>

#define NB 4096
#define MAXF 256

typedef struct ent {
  struct ent *next;
  char *id;
  char *json;
  int count;
} ent;

struct ms {
  struct MHD_Daemon *d;
  char url[64];
  pthread_mutex_t mu;
  ms_fault f[MAXF];
  long farg[MAXF];
  int fhead, ftail;
  long token_delay_ms, token_ttl, max_events;
  int token_fail, token_unavail, revoke_after, always_401, down, stopping;
  long token_serial, valid_from; /* tokens with serial >= valid_from are valid */
  long n_events_req, n_token_req, n_unauth, n_gzip, accepted, max_batch, n_conns;
  long in_events, max_in_events, events_delay_ms;
  char ua[128], token_body[512];
  char sent_at[64];    /* the last /events body's sent_at string ("" when none) */
  long sent_at_bodies; /* /events bodies with a sent_at string */
  ms_fault share_f;
  long share_arg, share_n, n_in_pause;
  int share_num, share_den;
  double pause_from, pause_to; /* a Retry-After's window (monotonic s) */
  char poison[64];
  ent *tab[NB];
};

typedef struct {
  char *buf;
  size_t len, cap;
} conn_t;

static unsigned hash(const char *s) {
  unsigned h = 2166136261u;
  while (*s) h = (h ^ (unsigned char)*s++) * 16777619u;
  return h % NB;
}

static void record(ms_t *s, const char *id, const char *json) {
  unsigned h = hash(id);
  for (ent *e = s->tab[h]; e; e = e->next)
    if (!strcmp(e->id, id)) {
      e->count++;
      return;
    }
  ent *e = calloc(1, sizeof *e);
  e->id = strdup(id);
  e->json = strdup(json);
  e->count = 1;
  e->next = s->tab[h];
  s->tab[h] = e;
}

static void sleep_ms(ms_t *s, long ms) {
  /* Sleep in slices so ms_stop is not held up by a stall. */
  while (ms > 0) {
    pthread_mutex_lock(&s->mu);
    int stop = s->stopping;
    pthread_mutex_unlock(&s->mu);
    if (stop) return;
    long step = ms > 10 ? 10 : ms;
    struct timespec ts = {0, step * 1000000L};
    nanosleep(&ts, NULL);
    ms -= step;
  }
}

static double mono_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, const char *body,
                             const char *retry_after) {
  struct MHD_Response *r =
      MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
  MHD_add_response_header(r, "Content-Type", "application/json");
  if (retry_after) MHD_add_response_header(r, "Retry-After", retry_after);
  enum MHD_Result ret = MHD_queue_response(c, code, r);
  MHD_destroy_response(r);
  return ret;
}

/* A response whose body breaks off after a few bytes: the client sees a
 * truncated transfer after the server has processed the events. */
static ssize_t cut_reader(void *cls, uint64_t pos, char *buf, size_t max) {
  (void)cls;
  if (pos == 0 && max >= 5) {
    memcpy(buf, "{\"acc", 5);
    return 5;
  }
  return MHD_CONTENT_READER_END_WITH_ERROR;
}

static char *gunzip(const char *in, size_t len, size_t *outlen) {
  z_stream z;
  memset(&z, 0, sizeof z);
  if (inflateInit2(&z, 15 + 16) != Z_OK) return NULL;
  size_t cap = len * 4 + 1024;
  char *out = malloc(cap);
  z.next_in = (Bytef *)in;
  z.avail_in = (uInt)len;
  int rc;
  do {
    if (z.total_out == cap) {
      cap *= 2;
      out = realloc(out, cap);
    }
    z.next_out = (Bytef *)out + z.total_out;
    z.avail_out = (uInt)(cap - z.total_out);
    rc = inflate(&z, Z_NO_FLUSH);
  } while (rc == Z_OK);
  *outlen = z.total_out;
  inflateEnd(&z);
  if (rc != Z_STREAM_END) {
    free(out);
    return NULL;
  }
  return out;
}

static enum MHD_Result do_token(ms_t *s, struct MHD_Connection *c, conn_t *b) {
  pthread_mutex_lock(&s->mu);
  s->n_token_req++;
  long delay = s->token_delay_ms;
  int fail = s->token_fail > 0;
  if (fail) s->token_fail--;
  int unavail = !fail && s->token_unavail > 0;
  if (unavail) s->token_unavail--;
  snprintf(s->token_body, sizeof s->token_body, "%.*s", (int)b->len, b->buf ? b->buf : "");
  pthread_mutex_unlock(&s->mu);
  sleep_ms(s, delay);
  if (unavail) return reply(c, 503, "{\"error\":\"temporarily_unavailable\"}", NULL);
  if (fail)
    return reply(c, 401, "{\"error\":\"invalid_client\",\"error_description\":\"test refusal\"}",
                 NULL);
  if (!b->buf || !strstr(b->buf, "grant_type=client_credentials") ||
      !strstr(b->buf, "client_id=test-client") || !strstr(b->buf, "client_secret=s3cr%26t"))
    return reply(c, 401, "{\"error\":\"invalid_client\"}", NULL);
  pthread_mutex_lock(&s->mu);
  long serial = ++s->token_serial;
  long ttl = s->token_ttl ? s->token_ttl : 3600;
  pthread_mutex_unlock(&s->mu);
  char out[160];
  snprintf(out, sizeof out,
           "{\"access_token\":\"tok-%ld\",\"token_type\":\"Bearer\",\"expires_in\":%ld}", serial,
           ttl);
  return reply(c, 200, out, NULL);
}

static enum MHD_Result events_inner(ms_t *s, struct MHD_Connection *c, conn_t *b) {
  const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
  const char *enc = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Encoding");
  const char *ua = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "User-Agent");
  pthread_mutex_lock(&s->mu);
  s->n_events_req++;
  snprintf(s->ua, sizeof s->ua, "%s", ua ? ua : "");
  ms_fault f = MS_OK;
  long arg = 0;
  if (s->fhead != s->ftail) {
    f = s->f[s->fhead];
    arg = s->farg[s->fhead];
    s->fhead = (s->fhead + 1) % MAXF;
  } else if (s->share_num > 0) {
    long n = s->share_n++;
    if ((n * s->share_num) % s->share_den < s->share_num) {
      f = s->share_f;
      arg = s->share_arg;
    }
  }
  double now = mono_now();
  if (now >= s->pause_from && now < s->pause_to) s->n_in_pause++;
  if ((f == MS_503_RA || f == MS_429_RA) && arg > 0) {
    s->pause_from = now + 0.2;
    s->pause_to = now + (double)arg - 0.1;
  }
  if (s->poison[0] && b->buf) {
    char pat[80];
    snprintf(pat, sizeof pat, "\"%s\"", s->poison);
    if (strstr(b->buf, pat)) f = MS_503;
  }
  long serial = -1;
  if (auth && !strncmp(auth, "Bearer tok-", 11)) serial = atol(auth + 11);
  int authed = serial > 0 && serial >= s->valid_from && serial <= s->token_serial && !s->always_401;
  if (s->revoke_after && s->n_events_req == s->revoke_after)
    s->valid_from = s->token_serial + 1; /* every token issued so far is now invalid */
  if (!authed) s->n_unauth++;
  if (enc && !strcasecmp(enc, "gzip")) s->n_gzip++;
  long maxev = s->max_events;
  pthread_mutex_unlock(&s->mu);
  if (!authed) return reply(c, 401, "{\"error\":\"invalid_token\"}", NULL);
  switch (f) {
  case MS_500: return reply(c, 500, "{\"error\":\"boom\"}", NULL);
  case MS_400: return reply(c, 400, "{\"error\":\"bad request\"}", NULL);
  case MS_413: return reply(c, 413, "{\"error\":\"too large\"}", NULL);
  case MS_503: return reply(c, 503, "{\"error\":\"unavailable\"}", NULL);
  case MS_RESET_BEFORE: return MHD_NO;
  case MS_429_RA:
  case MS_503_RA: {
    char ra[32];
    snprintf(ra, sizeof ra, "%ld", arg);
    return reply(c, f == MS_429_RA ? 429 : 503, "{\"error\":\"slow down\"}", ra);
  }
  case MS_STALL: sleep_ms(s, arg); break;
  default: break;
  }
  char *body = b->buf;
  size_t blen = b->len;
  char *plain = NULL;
  if (enc && !strcasecmp(enc, "gzip")) {
    plain = gunzip(b->buf, b->len, &blen);
    if (!plain) return reply(c, 400, "{\"error\":\"bad gzip\"}", NULL);
    body = plain;
  }
  cJSON *root = cJSON_ParseWithLength(body ? body : "", blen);
  free(plain);
  cJSON *evs = cJSON_GetObjectItemCaseSensitive(root, "events");
  const cJSON *sa = cJSON_GetObjectItemCaseSensitive(root, "sent_at");
  pthread_mutex_lock(&s->mu);
  snprintf(s->sent_at, sizeof s->sent_at, "%s", cJSON_IsString(sa) ? sa->valuestring : "");
  s->sent_at_bodies += cJSON_IsString(sa);
  pthread_mutex_unlock(&s->mu);
  if (!cJSON_IsArray(evs)) {
    cJSON_Delete(root);
    return reply(c, 400, "{\"error\":\"no events array\"}", NULL);
  }
  int n = cJSON_GetArraySize(evs);
  if (maxev && n > maxev) {
    cJSON_Delete(root);
    return reply(c, 413, "{\"error\":\"too many events\"}", NULL);
  }
  char out[1024];
  int acc = 0, i = 0;
  char rej[600] = "";
  cJSON *e;
  pthread_mutex_lock(&s->mu);
  if (n > s->max_batch) s->max_batch = n;
  cJSON_ArrayForEach(e, evs) {
    cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "event_id");
    if ((f == MS_REJECT || f == MS_REJECT_RETRY) && i == arg) {
      snprintf(rej, sizeof rej,
               "{\"index\":%d,\"event_id\":\"%s\",\"error\":\"test rejection\",\"retriable\":%s}",
               i, cJSON_IsString(id) ? id->valuestring : "",
               f == MS_REJECT_RETRY ? "true" : "false");
    } else {
      char *txt = cJSON_PrintUnformatted(e);
      record(s, cJSON_IsString(id) ? id->valuestring : "", txt ? txt : "");
      free(txt);
      acc++;
      s->accepted++;
    }
    i++;
  }
  pthread_mutex_unlock(&s->mu);
  cJSON_Delete(root);
  if (f == MS_RESET_AFTER) {
    struct MHD_Response *r = MHD_create_response_from_callback(64, 64, cut_reader, NULL, NULL);
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
  }
  snprintf(out, sizeof out, "{\"accepted\":%d,\"rejected\":[%s]}", acc, rej);
  return reply(c, 200, out, NULL);
}

/* POST /events, counting how many are handled at once (and holding each
 * events_delay_ms, so that concurrent requests overlap observably). */
static enum MHD_Result do_events(ms_t *s, struct MHD_Connection *c, conn_t *b) {
  pthread_mutex_lock(&s->mu);
  if (++s->in_events > s->max_in_events) s->max_in_events = s->in_events;
  long delay = s->events_delay_ms;
  pthread_mutex_unlock(&s->mu);
  if (delay) sleep_ms(s, delay);
  enum MHD_Result r = events_inner(s, c, b);
  pthread_mutex_lock(&s->mu);
  s->in_events--;
  pthread_mutex_unlock(&s->mu);
  return r;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *up,
                               size_t *up_size, void **con_cls) {
  (void)version;
  ms_t *s = cls;
  conn_t *b = *con_cls;
  if (!b) {
    b = calloc(1, sizeof *b);
    *con_cls = b;
    pthread_mutex_lock(&s->mu);
    int down = s->down;
    pthread_mutex_unlock(&s->mu);
    if (down) return MHD_NO;
    return MHD_YES;
  }
  if (*up_size) {
    if (b->len + *up_size + 1 > b->cap) {
      b->cap = (b->len + *up_size + 1) * 2;
      b->buf = realloc(b->buf, b->cap);
    }
    memcpy(b->buf + b->len, up, *up_size);
    b->len += *up_size;
    b->buf[b->len] = '\0';
    *up_size = 0;
    return MHD_YES;
  }
  if (strcmp(method, "POST")) return reply(c, 405, "{}", NULL);
  if (!strcmp(url, "/token")) return do_token(s, c, b);
  if (!strcmp(url, "/events")) return do_events(s, c, b);
  return reply(c, 404, "{}", NULL);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe) {
  (void)cls, (void)c, (void)toe;
  conn_t *b = *con_cls;
  if (b) {
    free(b->buf);
    free(b);
    *con_cls = NULL;
  }
}

static void on_conn(void *cls, struct MHD_Connection *c, void **sock_ctx,
                    enum MHD_ConnectionNotificationCode code) {
  (void)c, (void)sock_ctx;
  ms_t *s = cls;
  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    pthread_mutex_lock(&s->mu);
    s->n_conns++;
    pthread_mutex_unlock(&s->mu);
  }
}

ms_t *ms_start_tls(const char *cert_pem, const char *key_pem) {
  ms_t *s = calloc(1, sizeof *s);
  pthread_mutex_init(&s->mu, NULL);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD;
  if (cert_pem)
    s->d = MHD_start_daemon(flags | MHD_USE_TLS, 0, NULL, NULL, handler, s, MHD_OPTION_SOCK_ADDR,
                            (struct sockaddr *)&a, MHD_OPTION_NOTIFY_COMPLETED, completed, s,
                            MHD_OPTION_NOTIFY_CONNECTION, on_conn, s, MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned)30, MHD_OPTION_HTTPS_MEM_KEY, key_pem,
                            MHD_OPTION_HTTPS_MEM_CERT, cert_pem, MHD_OPTION_END);
  else
    s->d = MHD_start_daemon(flags, 0, NULL, NULL, handler, s, MHD_OPTION_SOCK_ADDR,
                            (struct sockaddr *)&a, MHD_OPTION_NOTIFY_COMPLETED, completed, s,
                            MHD_OPTION_NOTIFY_CONNECTION, on_conn, s, MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned)30, MHD_OPTION_END);
  if (!s->d) {
    pthread_mutex_destroy(&s->mu);
    free(s);
    return NULL;
  }
  const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
  /* https by name: mbedTLS 2.28 matches no IP address of a certificate (mock_tls.h). */
  snprintf(s->url, sizeof s->url, "%s:%u", cert_pem ? "https://localhost" : "http://127.0.0.1",
           (unsigned)di->port);
  return s;
}

ms_t *ms_start(void) { return ms_start_tls(NULL, NULL); }

void ms_stop(ms_t *s) {
  if (!s) return;
  pthread_mutex_lock(&s->mu);
  s->stopping = 1;
  pthread_mutex_unlock(&s->mu);
  MHD_stop_daemon(s->d);
  for (int i = 0; i < NB; i++)
    while (s->tab[i]) {
      ent *e = s->tab[i];
      s->tab[i] = e->next;
      free(e->id);
      free(e->json);
      free(e);
    }
  pthread_mutex_destroy(&s->mu);
  free(s);
}

const char *ms_url(const ms_t *s) { return s->url; }

void ms_push(ms_t *s, ms_fault f, long arg) {
  pthread_mutex_lock(&s->mu);
  s->f[s->ftail] = f;
  s->farg[s->ftail] = arg;
  s->ftail = (s->ftail + 1) % MAXF;
  pthread_mutex_unlock(&s->mu);
}

#define SETTER(name, field, T)    \
  void name(ms_t *s, T v) {       \
    pthread_mutex_lock(&s->mu);   \
    s->field = v;                 \
    pthread_mutex_unlock(&s->mu); \
  }
SETTER(ms_set_token_delay_ms, token_delay_ms, long)
SETTER(ms_set_token_ttl_s, token_ttl, long)
SETTER(ms_set_token_fail, token_fail, int)
SETTER(ms_set_token_unavailable, token_unavail, int)
SETTER(ms_set_revoke_after, revoke_after, int)
SETTER(ms_set_always_401, always_401, int)
SETTER(ms_set_down, down, int)
SETTER(ms_set_events_delay_ms, events_delay_ms, long)
void ms_set_max_events(ms_t *s, int n) {
  pthread_mutex_lock(&s->mu);
  s->max_events = n;
  pthread_mutex_unlock(&s->mu);
}

int ms_count(ms_t *s, const char *id) {
  int n = 0;
  pthread_mutex_lock(&s->mu);
  for (ent *e = s->tab[hash(id)]; e; e = e->next)
    if (!strcmp(e->id, id)) n = e->count;
  pthread_mutex_unlock(&s->mu);
  return n;
}

#define GETTER(name, field)       \
  long name(ms_t *s) {            \
    pthread_mutex_lock(&s->mu);   \
    long v = s->field;            \
    pthread_mutex_unlock(&s->mu); \
    return v;                     \
  }
GETTER(ms_accepted_total, accepted)
GETTER(ms_events_requests, n_events_req)
GETTER(ms_token_requests, n_token_req)
GETTER(ms_unauthorized, n_unauth)
GETTER(ms_gzip_requests, n_gzip)
GETTER(ms_max_batch_seen, max_batch)
GETTER(ms_connections, n_conns)
GETTER(ms_max_concurrent, max_in_events)
GETTER(ms_requests_in_pause, n_in_pause)

void ms_set_fail_share(ms_t *s, ms_fault f, long arg, int num, int den) {
  pthread_mutex_lock(&s->mu);
  s->share_f = f;
  s->share_arg = arg;
  s->share_num = num;
  s->share_den = den > 0 ? den : 1;
  s->share_n = 0;
  pthread_mutex_unlock(&s->mu);
}

void ms_set_poison(ms_t *s, const char *event_id) {
  pthread_mutex_lock(&s->mu);
  snprintf(s->poison, sizeof s->poison, "%s", event_id ? event_id : "");
  pthread_mutex_unlock(&s->mu);
}

void ms_last_user_agent(ms_t *s, char *buf, size_t n) {
  pthread_mutex_lock(&s->mu);
  snprintf(buf, n, "%s", s->ua);
  pthread_mutex_unlock(&s->mu);
}

void ms_last_sent_at(ms_t *s, char *buf, size_t n) {
  pthread_mutex_lock(&s->mu);
  snprintf(buf, n, "%s", s->sent_at);
  pthread_mutex_unlock(&s->mu);
}

long ms_sent_at_bodies(ms_t *s) {
  pthread_mutex_lock(&s->mu);
  long v = s->sent_at_bodies;
  pthread_mutex_unlock(&s->mu);
  return v;
}

void ms_last_token_body(ms_t *s, char *buf, size_t n) {
  pthread_mutex_lock(&s->mu);
  snprintf(buf, n, "%s", s->token_body);
  pthread_mutex_unlock(&s->mu);
}

int ms_event_json(ms_t *s, const char *id, char *buf, size_t n) {
  int found = 0;
  pthread_mutex_lock(&s->mu);
  for (ent *e = s->tab[hash(id)]; e; e = e->next)
    if (!strcmp(e->id, id)) {
      snprintf(buf, n, "%s", e->json);
      found = 1;
    }
  pthread_mutex_unlock(&s->mu);
  return found;
}

int ms_first_event_json(ms_t *s, char *buf, size_t n) {
  int found = 0;
  pthread_mutex_lock(&s->mu);
  for (int i = 0; i < NB && !found; i++)
    if (s->tab[i]) {
      snprintf(buf, n, "%s", s->tab[i]->json);
      found = 1;
    }
  pthread_mutex_unlock(&s->mu);
  return found;
}
