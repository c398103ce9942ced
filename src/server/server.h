/* The server area's interface (src/server/): the HTTP handlers of the
 * ingestion service as pure functions (request in, response out, no I/O of
 * their own), and what they use: the client store, the lockout of clients
 * that guess secrets, form bodies, gzip.
 *
 * The same functions serve `evpipe local` (src/local/http_server.c fills the
 * request from libmicrohttpd) and the Lambda functions (src/functions/
 * fn_apigw.c fills it from an API Gateway proxy event). Transport concerns
 * stay with the caller: reading and bounding the body, gzip (evp__gunzip
 * helps), rate limiting, persisting accepted events, sending the response. */
#ifndef EVP_SERVER_SERVER_H
#define EVP_SERVER_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include "evpipe/error.h"
#include "evpipe/jwt.h"
#include "evpipe/schema.h"
#include "table/table.h"

/* ------------------------------------------------------------ messages */

typedef struct {
  const char *name; /* lower-case (HTTP/2 and API Gateway v2 deliver them so) */
  const char *value;
} evp__http_hdr_t;

/* A request. Everything is borrowed from the caller. The body is the decoded
 * entity (after Content-Encoding), not NUL-terminated. */
typedef struct {
  const char *method;             /* "POST" */
  const char *path;               /* "/token", without the query string */
  const evp__http_hdr_t *headers; /* names lower-case; first match wins */
  size_t n_headers;
  const char *body;
  size_t body_len;
  const char *source_ip; /* for logs only; may be NULL */
} evp__http_req_t;

#define EVP__HTTP_MAX_RESP_HEADERS 6

/* A response. The handler fills it; the caller sends it and calls
 * evp__http_resp_free(). Header values and the body are owned (the body may
 * hold a token, so freeing wipes it). */
typedef struct {
  int status;
  const char *content_type; /* static string, NULL when there is no body */
  struct {
    const char *name; /* static, canonical case, e.g. "WWW-Authenticate" */
    char *value;
  } headers[EVP__HTTP_MAX_RESP_HEADERS];
  size_t n_headers;
  char *body;
  size_t body_len;
  /* Why (static, short, a metrics label such as "invalid_client" or
   * "expired"; NULL on success). Never contains request data. */
  const char *reason;
} evp__http_resp_t;

/* Message framing and header syntax of an HTTP/1.x request (RFC 9112 §6.1,
 * §6.3; RFC 9110 §5.5, §7.2), checked before a byte of body is read: fed
 * one header at a time (exact lengths, so an embedded NUL shows), then
 * judged. A request refused here gets 400 and its connection is closed: its
 * framing is ambiguous, so nothing after it on the connection can be
 * trusted. */
typedef struct {
  unsigned n_length, n_coding, n_host;
  const char *why; /* the first problem seen (static text), or NULL */
} evp__http_framing_t;

void evp__http_framing_add(evp__http_framing_t *f, const char *name, size_t name_len,
                           const char *value, size_t value_len);
/* NULL when the request may be served, else why it may not. @p http11: the
 * request is HTTP/1.1 (Host is then required exactly once). */
const char *evp__http_framing_verdict(const evp__http_framing_t *f, int http11);

/* The value of header @p lcname (lower-case) or NULL. */
const char *evp__http_req_header(const evp__http_req_t *req, const char *lcname);

void evp__http_resp_init(evp__http_resp_t *r);
/* Wipe (the body may carry a token) and free; leaves @p r initialised. */
void evp__http_resp_free(evp__http_resp_t *r);
/* Add a header (the value is copied). EVP_ERR_TOO_LARGE when full. */
evp_err_t evp__http_resp_header(evp__http_resp_t *r, const char *name, const char *value);
/* Replace the body with a copy of @p body; content type static. */
evp_err_t evp__http_resp_body(evp__http_resp_t *r, const char *content_type, const char *body,
                              size_t len);
/* Discard what @p r holds and make it the JSON error
 * {"error":code,"error_description":desc} with @p status; @p code doubles as
 * the reason. @p desc is static text (never request data). */
evp_err_t evp__http_resp_error(evp__http_resp_t *r, int status, const char *code, const char *desc);

/* ------------------------------------------------------------ client store */

/* The registered clients: id, secret and allowed audiences. Secrets are not
 * kept: only an HMAC of each under a random per-store key, so a comparison is
 * of two 32-byte MACs in constant time whatever the secret lengths. */
typedef struct evp__clients evp__clients_t;

#define EVP__CLIENT_ID_MAX 128
#define EVP__CLIENT_SECRET_MAX 512
#define EVP__AUDIENCE_MAX 256
#define EVP__CLIENTS_MAX 10000

/* Parse a JSON array of {"client_id","client_secret","audiences":[...]}
 * (ids 1..128 bytes of [A-Za-z0-9._~-], unique; secrets 16..512 bytes;
 * 1..16 audiences of 1..256 bytes). The caller wipes @p json afterwards.
 * Errors: EVP_ERR_JSON, EVP_ERR_INVALID_ARG (with the entry index in errstr),
 * EVP_ERR_TOO_LARGE, EVP_ERR_NOMEM. */
evp_err_t evp__clients_parse(const char *json, size_t len, evp__clients_t **out, char *errstr,
                             size_t errstr_size);
size_t evp__clients_count(const evp__clients_t *c);
void evp__clients_free(evp__clients_t *c);

/* Result of authenticating a client. */
typedef enum {
  EVP__CLIENT_OK = 0,
  EVP__CLIENT_UNKNOWN,     /* no such client id, or wrong secret (not told apart) */
  EVP__CLIENT_BAD_AUDIENCE /* authenticated, but the audience is not one of its own */
} evp__client_auth_t;

/* Check @p id / @p secret. The work done is the same for an unknown id and a
 * wrong secret. @p aud NULL selects the client's first audience; on
 * EVP__CLIENT_OK *aud_out points to the audience to put in the token
 * (borrowed from the store). */
evp__client_auth_t evp__clients_check(const evp__clients_t *c, const char *id, size_t idlen,
                                      const char *secret, size_t secretlen, const char *aud,
                                      const char **aud_out);

/* 1 when @p id (of @p idlen bytes) names a client of the store. */
int evp__clients_has(const evp__clients_t *c, const char *id, size_t idlen);

/* ------------------------------------------------------------ lockout of /token */

/* Failed client authentications counted per client id: max_failures within
 * window_s lock the id for lock_s, doubled for each further lockout up to
 * lock_max_s. Addresses the id last authenticated from stay exempt. The
 * table is bounded (unknown ids cannot push known ones out). Thread-safe.
 * Trade-offs and defaults: docs/security.md. */
typedef struct evp__lockout evp__lockout_t;

typedef struct {
  int max_failures;  /* 10 */
  double window_s;   /* 60 */
  double lock_s;     /* 30: the first lockout */
  double lock_max_s; /* 900 */
  /* Called (outside the lock, at most ~5 times a second for all ids
   * together) for a failed authentication: the id as presented, the
   * failures in its window, the seconds of the lockout it started (0: none)
   * and how many such calls were skipped since the last one. NULL: none. */
  void (*log)(void *opaque, const char *client_id, int failures, int locked_s,
              unsigned long suppressed);
  void *log_opaque;
  double (*clock)(void *opaque); /* monotonic seconds; NULL: CLOCK_MONOTONIC */
  void *clock_opaque;
} evp__lockout_opts_t;

void evp__lockout_opts_default(evp__lockout_opts_t *o);
/* NULL when out of memory or the options are out of range. */
evp__lockout_t *evp__lockout_new(const evp__lockout_opts_t *o);
void evp__lockout_free(evp__lockout_t *lk);
/* Seconds @p id stays locked for a request from @p addr (may be NULL), or 0.
 * @p known: the id is in the client store. */
int evp__lockout_check(evp__lockout_t *lk, const char *id, int known, const char *addr);
/* Count a failed authentication; returns the seconds of the lockout it
 * started, or 0. */
int evp__lockout_failed(evp__lockout_t *lk, const char *id, int known, const char *addr);
/* A successful authentication: clears the failure count (not a running
 * lock) and remembers @p addr as one the id may use while locked. */
void evp__lockout_succeeded(evp__lockout_t *lk, const char *id, const char *addr);

/* ------------------------------------------------------------ issuer: POST /token */

typedef struct {
  const evp__clients_t *clients;
  const evp_jwt_signer_t *signer; /* configured with the ttl below */
  int64_t ttl_s;                  /* reported as expires_in */
  evp__lockout_t *lockout;        /* per client id failure limit; NULL: none */
} evp__issuer_t;

/* OAuth 2.0 client-credentials grant (RFC 6749 section 4.4). Credentials in the
 * form body or in HTTP Basic (section 2.3.1), never both. Responses:
 *  200 {"access_token","token_type":"Bearer","expires_in"}
 *  400 invalid_request (not a form, missing/repeated parameter, two auth methods)
 *  400 unsupported_grant_type
 *  401 invalid_client + WWW-Authenticate: Basic (unknown client or bad secret)
 *  400 invalid_target (RFC 8707 section 2: audience not allowed for the client)
 *  405 (method other than POST)
 *  429 rate_limited + Retry-After: the client id is locked after too many
 *      failed authentications (iss->lockout; req->source_ip names the caller)
 * Every answer carries Cache-Control: no-store. On success *client_id_out
 * (may be NULL) receives the client id (malloc'd). Returns EVP_OK when @p resp
 * holds an answer, EVP_ERR_NOMEM / EVP_ERR_INTERNAL when it does not (the
 * caller answers 500). */
evp_err_t evp__issuer_handle(const evp__issuer_t *iss, const evp__http_req_t *req,
                             evp__http_resp_t *resp, char **client_id_out);

/* ------------------------------------------------------------ authorizer */

/* Check "Authorization: Bearer <jwt>" with @p v (configured with the
 * audience and issuer). On success returns EVP_OK, leaves @p resp untouched
 * and copies the token's sub into client_id. Otherwise returns EVP_ERR_AUTH
 * with @p resp holding 401 (missing, malformed, forged, expired, unknown key)
 * or 403 (a genuine token for another audience, as docs/protocol.md says),
 * with WWW-Authenticate: Bearer error="invalid_token", error_description=...;
 * resp->reason names the cause. EVP_ERR_NOMEM when no answer could be made. */
evp_err_t evp__authorize(const evp_jwt_verifier_t *v, const evp__http_req_t *req,
                         char client_id[EVP__CLIENT_ID_MAX + 1], evp__http_resp_t *resp);

/* ------------------------------------------------------------ events: POST /events */

typedef struct {
  const evp_schema_t *schema; /* NULL: events need only be JSON objects */
  size_t max_events;          /* more: 413 (the client halves its batches) */
  size_t max_body;            /* larger decoded body: 413 */
  /* The lake's table: an event the schema accepts but no row of it can hold
   * (docs/event-schema.md, "What a column holds") is rejected per item with
   * reason not_representable, duplicate_member or too_many_members. NULL:
   * the rules every table shares (evp__table_check_event). */
  const evp__table_t *table;
} evp__events_cfg_t;

#define EVP__EVENTS_DEFAULT_MAX 500
#define EVP__EVENTS_DEFAULT_MAX_BODY (1024u * 1024u)
#define EVP__EVENT_ERROR_MAX 200 /* bytes of a per-item error message */

/* One rejected event. */
typedef struct {
  size_t index;
  char *event_id;     /* the event's own id (unescaped, bounded), or NULL */
  char *error;        /* "<instance path>: <message>", bounded */
  const char *reason; /* metrics label: the schema keyword, "not_object", ... */
} evp__event_rej_t;

/* The outcome of an events request that had the right shape. Accepted event
 * texts point into the request body (borrowed), in request order. */
typedef struct {
  size_t n_events;
  const char **accepted;
  size_t *accepted_lens;
  size_t n_accepted;
  evp__event_rej_t *rejected;
  size_t n_rejected;
  /* The body's "sent_at" (docs/protocol.md) in microseconds since the
   * epoch, or EVP__EVENTS_NO_SENT_AT when the body has none or it is not an
   * RFC 3339 date-time string of at most 63 bytes once unescaped: a bad
   * sent_at costs the batch its clock-skew correction, never its events. */
  int64_t sent_at_us;
} evp__events_result_t;
#define EVP__EVENTS_NO_SENT_AT INT64_MIN

void evp__events_result_free(evp__events_result_t *r);

/* Validate a batch. @p ctx is the calling thread's schema workspace.
 * When the body is not {"events":[...]} (400), too large or has too many
 * events (413), or the method is not POST (405), @p resp holds that answer,
 * @p res is empty and EVP_OK is returned. Otherwise @p resp holds the 200 per
 * docs/protocol.md ({"accepted":N,"rejected":[...]}) and @p res the accepted
 * texts to persist: the caller answers 200 only once they are durable, and
 * replaces @p resp (e.g. 503) otherwise. EVP_ERR_NOMEM when nothing could be
 * answered. */
evp_err_t evp__events_handle(const evp__events_cfg_t *cfg, evp_schema_ctx_t *ctx,
                             const evp__http_req_t *req, evp__events_result_t *res,
                             evp__http_resp_t *resp);

/* ------------------------------------------------------------ helpers */

/* Inflate a gzip (RFC 1952) body, refusing more than @p max_out decoded
 * bytes (EVP_ERR_TOO_LARGE: zip bombs stop there) and anything that is not
 * one complete gzip member (EVP_ERR_INVALID_ARG). *out is malloc'd. */
evp_err_t evp__gunzip(const void *in, size_t len, size_t max_out, char **out, size_t *outlen);

/* Parse application/x-www-form-urlencoded @p body. For each name in
 * @p names[0..n) stores the decoded value (malloc'd) in vals[i], or NULL when
 * absent. EVP_ERR_INVALID_ARG when a name repeats (RFC 6749 section 3.2), the
 * encoding is bad or a value holds a NUL; EVP_ERR_NOMEM. On error nothing is
 * left allocated. The caller wipes and frees the values. */
evp_err_t evp__form_parse(const char *body, size_t len, const char *const *names, size_t n,
                          char **vals);

/* Decode the credentials of an "Authorization: Basic" value (RFC 6749
 * section 2.3.1: base64 of urlencoded id ":" urlencoded secret). *id and
 * *secret are malloc'd. EVP_ERR_INVALID_ARG when it is not that. */
evp_err_t evp__basic_auth_parse(const char *value, char **id, char **secret);

/* Wipe and free a NUL-terminated secret. NULL is a no-op. */
void evp__free_secret(char *s);

#endif /* EVP_SERVER_SERVER_H */
