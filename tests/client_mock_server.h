/* In-process HTTP server (libmicrohttpd, 127.0.0.1, random port) that
 * implements the client wire contract (docs/protocol.md) and injects faults
 * on command. Test-only. */
#ifndef EVP_TESTS_CLIENT_MOCK_SERVER_H
#define EVP_TESTS_CLIENT_MOCK_SERVER_H

#include <stddef.h>

typedef struct ms ms_t;

typedef enum {
  MS_OK = 0,       /* normal handling */
  MS_500,          /* 500, nothing recorded */
  MS_503_RA,       /* 503 with Retry-After: arg seconds */
  MS_429_RA,       /* 429 with Retry-After: arg seconds */
  MS_RESET_BEFORE, /* close the connection without a response, nothing recorded */
  MS_RESET_AFTER,  /* record the events, then cut the response body mid-way */
  MS_STALL,        /* sleep arg ms before handling normally (recorded) */
  MS_REJECT,       /* record all but index arg, which is rejected permanently */
  MS_REJECT_RETRY, /* record all but index arg, which is rejected as retriable */
  MS_400,          /* 400 bad request, nothing recorded */
  MS_413,          /* 413, nothing recorded */
  MS_503           /* 503 without Retry-After, nothing recorded */
} ms_fault;

ms_t *ms_start(void);
/* The same over TLS with this certificate and key (PEM text). */
ms_t *ms_start_tls(const char *cert_pem, const char *key_pem);
void ms_stop(ms_t *s);
/* "http://127.0.0.1:<port>" (https:// for TLS) */
const char *ms_url(const ms_t *s);
/* Faults are consumed one per POST /events, in order. */
void ms_push(ms_t *s, ms_fault f, long arg);
/* Settings (0 disables). */
void ms_set_token_delay_ms(ms_t *s, long ms);
void ms_set_token_ttl_s(ms_t *s, long ttl);
void ms_set_token_fail(ms_t *s, int n);           /* first n /token calls get 401 */
void ms_set_token_unavailable(ms_t *s, int n);    /* first n /token calls get 503 */
void ms_set_revoke_after(ms_t *s, int nrequests); /* tokens revoked after n /events requests */
void ms_set_max_events(ms_t *s, int n);           /* 413 when a request carries more */
void ms_set_always_401(ms_t *s, int on);
void ms_set_down(ms_t *s, int on);             /* every request: connection closed */
void ms_set_events_delay_ms(ms_t *s, long ms); /* every /events request is held this long */
/* Sustained faults, after the pushed ones are used up: request n (counting
 * from 0 at this call) gets f when (n * num) % den < num, i.e. num in every
 * den, spread out. num 0 stops them. */
void ms_set_fail_share(ms_t *s, ms_fault f, long arg, int num, int den);
/* Every /events request that carries this event_id gets 503 (NULL: none). */
void ms_set_poison(ms_t *s, const char *event_id);
/* /events requests that arrived while a Retry-After the server handed out
 * was running (from 200 ms after it was sent until 100 ms before its end:
 * margins for requests already on their way). */
long ms_requests_in_pause(ms_t *s);

/* How many times the event with this id was accepted. */
int ms_count(ms_t *s, const char *event_id);
/* Totals. */
long ms_accepted_total(ms_t *s); /* accepted events, duplicates included */
long ms_events_requests(ms_t *s);
long ms_token_requests(ms_t *s);
long ms_unauthorized(ms_t *s);
long ms_gzip_requests(ms_t *s);
long ms_max_batch_seen(ms_t *s);
long ms_connections(ms_t *s);    /* TCP connections accepted */
long ms_max_concurrent(ms_t *s); /* most /events requests handled at once */
/* The last /events request's User-Agent and /token form body. */
void ms_last_user_agent(ms_t *s, char *buf, size_t n);
void ms_last_token_body(ms_t *s, char *buf, size_t n);
/* The last /events body's "sent_at" string ("" when it had none), and how
 * many bodies had one. */
void ms_last_sent_at(ms_t *s, char *buf, size_t n);
long ms_sent_at_bodies(ms_t *s);
/* Copy of one accepted event's JSON (by id), for checking filled fields. */
int ms_event_json(ms_t *s, const char *event_id, char *buf, size_t n);
/* Any accepted event's JSON (the first one). */
int ms_first_event_json(ms_t *s, char *buf, size_t n);

#endif
