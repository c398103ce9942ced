/* Internal state of evp_client_t, shared by the files of the client area:
 * client.c (API), event_scan.c and event_make.c (door checks and filling),
 * validate.c (schema), uuid.c (ids and timestamps), queue.c and list.c (the
 * queue), sender.c (background thread), batch.c, http.c, token.c, retry.c,
 * response.c, fault.c (service errors), delivery.c (delivery reports),
 * poll.c (callbacks.mode=poll), callback.c (running the application's
 * callbacks), fork.c, stats.c, log.c. The
 * configuration is in conf_int.h. */
#ifndef EVP_CLIENT_CLIENT_INT_H
#define EVP_CLIENT_CLIENT_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <curl/curl.h>
#include <zlib.h>
#include "client/conf_int.h"
#include "base/base.h"
#include "net/net.h"
#include "net/transport.h"
#include "evpipe/client.h"
#include "json/json.h"

/* Time: evp__mono_us() and evp__timespec_us() (base/base.h). */

/* ------------------------------------------------------------ events */
/* A report's reason text, shared by the events of one outcome while their
 * reports wait to be polled (poll mode); freed by the last one served. */
typedef struct evp__why {
  atomic_size_t refs;
  char text[];
} evp__why;

/* One queued event: a single allocation holding bookkeeping and the text. */
typedef struct evp__item {
  struct evp__item *next;
  union {
    int64_t enq_us;     /* monotonic time of evp_send, while the event is held */
    int64_t latency_us; /* poll mode, once reported: enqueue to outcome */
  };
  void *opaque;       /* the application's, from evp_send_opaque */
  int64_t spool_us;   /* spool.dir: when it was spooled (wall clock, across runs) */
  uint64_t spool_seq; /* spool.dir: its record in the spool's ring (UINT64_MAX: none) */
  evp__why *why;      /* poll mode, once reported: the reason (NULL: none) */
  uint32_t len;       /* bytes of json[] */
  uint32_t id_off;    /* event_id string content within json[] */
  uint32_t cap;       /* bytes allocated for json[] (items are recycled) */
  uint16_t id_len;
  uint16_t attempts;
  uint16_t err;         /* last evp_err_t seen for this event; the final one once reported */
  uint16_t http_status; /* of the last response to a request carrying it (0: none) */
  uint8_t status;       /* poll mode, once reported: its evp_delivery_status_t */
  uint8_t from_spool;   /* read back from a spool an earlier client wrote */
  char json[];
} evp__item;

#define EVP__ITEM_COST(it) (sizeof(evp__item) + (it)->cap)

typedef struct {
  evp__item *head, *tail;
  size_t n;
  uint64_t bytes; /* sum of EVP__ITEM_COST */
} evp__list;

void evp__item_list_push(evp__list *l, evp__item *it);
void evp__item_list_prepend(evp__list *l, evp__list *front); /* front becomes empty */
void evp__item_list_append(evp__list *l, evp__list *back);   /* back becomes empty */
evp__item *evp__item_list_pop(evp__list *l);

/* Result of the syntax scan of an event. */
typedef struct {
  const char *id; /* content of a top-level "event_id" string, or NULL */
  size_t id_len;
  int has_id, has_time;
  size_t obj_start; /* offset of '{' */
  size_t obj_end;   /* offset just past the matching '}' */
  int empty;        /* the object has no members */
} evp__scan;

/* Check that json is exactly one JSON object (RFC 8259, UTF-8) and find its
 * top-level event_id / event_time. EVP_ERR_JSON with a located message. */
evp_err_t evp__client_event_scan(const char *json, size_t len, evp__scan *s, char *errstr,
                                 size_t es);

/* Build the queued item: the event with event_id / event_time inserted when
 * asked, in memory from get(ctx, bytes) (NULL: malloc). NULL on ENOMEM. */
typedef evp__item *(*evp__item_get_fn)(void *ctx, size_t json_bytes);
evp__item *evp__client_event_make(const char *json, const evp__scan *s, int fill_id, int fill_time,
                                  evp__item_get_fn get, void *ctx);
/* A fresh item able to hold n bytes of text (capacity rounded up). */
evp__item *evp__client_item_alloc(size_t n);

/* A UUIDv7 in canonical text form (36 chars + NUL). */
evp_err_t evp__client_uuid7(char out[37]);
/* RFC 3339 UTC time with milliseconds: 24 chars + NUL; of the wall clock, or
 * of @p ms milliseconds since the epoch. */
void evp__client_rfc3339_now(char out[25]);
void evp__client_rfc3339_ms(int64_t ms, char out[25]);

/* ------------------------------------------------------------ stats */
#define EVP__LAT_SAMPLES 1024
#define EVP__REJ_REASONS 16
#define EVP__REJ_TEXT 96
typedef struct {
  atomic_uint_fast64_t enqueued, refused_invalid, refused_queue_full, refused_too_large,
      refused_state, delivered, rejected_server, failed, failed_timeout, failed_http, failed_auth,
      failed_closed, requests, request_errors, retries, events_sent, bytes_sent, bytes_body,
      token_refreshes, token_failures, splits, budget_throttled, errors_reported;
  pthread_mutex_t mu; /* guards the latency ring, the rejection reasons and last_error */
  uint32_t lat_us[EVP__LAT_SAMPLES];
  size_t lat_n, lat_pos;
  /* Server rejections by reason: the first EVP__REJ_REASONS distinct texts,
   * the rest counted as "other" (reasons come from the server: bounded). */
  struct {
    char text[EVP__REJ_TEXT];
    uint64_t n;
  } rej[EVP__REJ_REASONS];
  uint64_t rej_other;
  evp_err_t last_err; /* the last error given to the error callback */
  int last_retrying;
  char last_err_text[256];
} evp__stats;

/* Count a server rejection under its reason. */
void evp__client_stats_rejected(evp__stats *s, const char *reason);

void evp__client_stats_init(evp__stats *s);
void evp__client_stats_free(evp__stats *s);
void evp__client_stats_latency(evp__stats *s, int64_t us);
#define EVP__INC(c, n) atomic_fetch_add_explicit(&(c), (uint_fast64_t)(n), memory_order_relaxed)

/* ------------------------------------------------------------ http */
/* What one response left (net/transport.h): its body (bounded), curl's
 * error text, and Retry-After. */
typedef struct {
  evp__net_resp_t r;
  char retry_after[64];
  evp__net_hdr_t hdr;  /* captures Retry-After into retry_after */
  long retry_after_ms; /* -1: none */
} evp__rbuf;

/* One POST /events in flight: its own transport slot (so its own
 * connection), the batch it carries and that batch's body buffers. */
typedef struct {
  size_t slot;
  evp__rbuf rb;
  evp__list batch;
  char *body; /* {"events":[...]} */
  size_t body_cap;
  unsigned char *zbody; /* gzip of body when compression=gzip */
  size_t zbody_cap;
  size_t len;         /* bytes sent */
  int64_t t0;         /* monotonic start, for the latency stats */
  uint64_t token_gen; /* which token the request carried */
  uint64_t seq;       /* requests started before it, plus one */
  int fails;          /* times in a row this batch failed before */
  int busy;
} evp__xfer;

typedef struct {
  evp__transport_t *t;           /* slots 0..nx-1: x[]; slot nx: tokens */
  struct curl_slist *ev_headers; /* headers for /events, with Authorization */
  struct curl_slist *tok_headers;
  evp__rbuf rb; /* the token response */
  evp__xfer *x; /* max.in.flight transfer slots */
  size_t nx, busy_n;
} evp__http;

struct evp_client_s;
evp_err_t evp__client_http_init(struct evp_client_s *c, char *errstr, size_t es);
void evp__client_http_free(evp__http *h);
/* Replace the /events header list (it carries the token; the old one is wiped).
 * Only while no transfer is in flight: they point at it. */
void evp__client_http_set_auth(evp__http *h, struct curl_slist *l);
/* POST and collect the response (blocking; used for tokens, with no
 * transfer in flight). On transport failure returns EVP_ERR_TRANSPORT (or
 * EVP_ERR_TIMED_OUT when aborted by close) with a message in h->rb.r.err;
 * otherwise EVP_OK and *status. */
evp_err_t evp__client_http_post(struct evp_client_s *c, const char *url, struct curl_slist *hdrs,
                                const void *body, size_t len, long *status);
/* Start x's POST of body to url without waiting. EVP_ERR_TRANSPORT when
 * the transport refuses it (x is then not busy). */
evp_err_t evp__client_xfer_start(struct evp_client_s *c, evp__xfer *x, const char *url,
                                 const void *body, size_t len);
/* Move the transfers along (never blocks). */
void evp__client_xfer_drive(struct evp_client_s *c);
/* Wait up to ms for a transfer to progress or a wakeup, then drive them. */
void evp__client_xfer_wait(struct evp_client_s *c, int ms);
/* Interrupt that wait (any thread). */
void evp__client_http_wakeup(evp__http *h);
/* A finished transfer, taken off the transport (x->busy cleared), or
 * NULL. *rc: EVP_OK with *status, or EVP_ERR_TRANSPORT (x->rb.r.err). */
evp__xfer *evp__client_xfer_next_done(struct evp_client_s *c, evp_err_t *rc, long *status);
/* Take x off the transport unfinished (close). */
void evp__client_xfer_abort(struct evp_client_s *c, evp__xfer *x);

/* ------------------------------------------------------------ token */
typedef struct {
  char *access;          /* "Authorization: Bearer ..." header line, wiped */
  int64_t refresh_at_us; /* when to refresh in the background */
  int64_t expires_at_us;
  int64_t next_try_us; /* backoff after failures */
  int failures;
  evp_err_t last_err;
  int permanent; /* the last failure will not go away by retrying */
  char last_msg[256];
  uint64_t gen; /* tokens installed so far */
} evp__token;

/* Fetch a token now (blocking, sender thread). */
evp_err_t evp__client_token_refresh(struct evp_client_s *c);
void evp__client_token_wipe(evp__token *t);

/* ------------------------------------------------------------ retry */
/* Parse a Retry-After header value (delta-seconds or HTTP-date) into ms;
 * -1 when unparsable. */
long evp__retry_parse_after(const char *v, size_t len);
/* A batch waiting for its own retry time (per-batch backoff). */
typedef struct evp__retry {
  struct evp__retry *next;
  evp__list items; /* in enqueue order */
  int64_t due_us;  /* not before */
  int fails;       /* times in a row it failed */
} evp__retry;
/* Backoff before a batch's retry after its n-th failure in a row:
 * exponential, capped, "equal jitter" (half fixed, half random), so a
 * failing batch always waits a little and retries spread out. */
int64_t evp__retry_delay_ms(struct evp_client_s *c, int n);
/* Retry budget (Finagle RetryBudget / gRPC retry throttling): every first
 * attempt deposits retry.budget.ratio, time deposits
 * retry.budget.min.per.sec, up to retry.budget.tokens; a retry withdraws one. */
void evp__retry_budget_deposit(struct evp_client_s *c, int64_t now);
/* Withdraw a token for a retry: 1 when allowed. */
int evp__retry_budget_take(struct evp_client_s *c, int64_t now);
/* When a token will be there for the next retry. */
int64_t evp__retry_budget_ready_us(struct evp_client_s *c, int64_t now);

/* ------------------------------------------------------------ batch */
/* Bytes of a request body besides its events and their commas:
 * {"sent_at":"YYYY-MM-DDTHH:MM:SS.mmmZ","events":[ and ]}. Batches are
 * filled, and events checked against batch.max.bytes, counting both. */
#define EVP__BATCH_FRAME 13u
#define EVP__BATCH_SENT_AT 37u
#define EVP__BATCH_OVERHEAD (EVP__BATCH_FRAME + EVP__BATCH_SENT_AT)
/* Serialise x->batch into x->body (and gzip into x->zbody when configured). */
evp_err_t evp__client_batch_build(struct evp_client_s *c, evp__xfer *x, const void **body,
                                  size_t *len);

/* ------------------------------------------------------------ response */
typedef struct {
  long accepted;
  size_t n; /* entries below */
  struct evp__rej {
    size_t index;
    int retriable;
    char reason[128];
  } * rej;
} evp__resp;
/* Parse a 200 body; EVP_ERR_JSON when it is not the documented shape. */
evp_err_t evp__events_resp_parse(const char *body, size_t len, size_t nitems, evp__resp *r);
void evp__events_resp_free(evp__resp *r);

/* ------------------------------------------------------------ fault */
/* Tell the application about a condition of the service (not of one event):
 * the error callback (once per change of condition) and the stats'
 * last_error. Sender thread only. */
void evp__client_raise(struct evp_client_s *c, evp_err_t e, int retrying, const char *reason);
/* The condition is over (a request succeeded): the next error is news. */
void evp__client_raise_clear(struct evp_client_s *c);
/* A permanent error: report every pending event (work list and retries)
 * failed with e, raise it, and fail new events the same way until
 * retry.backoff.max.ms has passed. */
void evp__client_fail_permanently(struct evp_client_s *c, evp_err_t e, const char *reason);

/* ------------------------------------------------------------ delivery reports */
/* The report given to the delivery callback (evp_delivery_t): built on the
 * stack for the call, valid only during it. */
struct evp_delivery_s {
  const evp__item *it;
  const char *reason; /* NULL: none */
  int64_t latency_us;
  evp_delivery_status_t status;
  evp_err_t err;
};

/* ------------------------------------------------------------ poll mode */
/* Error callbacks waiting for evp_poll: at most one per (err, retrying). */
#define EVP__ERRS_WAITING 8
typedef struct {
  evp_err_t err;
  int retrying;
  char reason[256];
} evp__err_wait;

/* Create / close the poll-mode descriptor (pipe). EVP_ERR_INTERNAL with
 * errstr when the system refuses. */
evp_err_t evp__client_poll_init(struct evp_client_s *c, char *errstr, size_t es);
/* Free reports still waiting (only after an aborted construction) and close
 * the descriptor. */
void evp__client_poll_free(struct evp_client_s *c);
/* Sender side: hold a reported item for evp_poll (its room stays taken). */
void evp__client_poll_stage(struct evp_client_s *c, evp__item *it, evp__why **why,
                            const char *reason);
/* Publish what was staged (caller holds c->mu); returns the events published. */
size_t evp__client_poll_publish(struct evp_client_s *c, uint64_t *bytes);
/* Queue an error callback for evp_poll. */
void evp__client_poll_error(struct evp_client_s *c, evp_err_t e, int retrying, const char *reason);
/* Is anything waiting to be polled? Caller holds c->mu. */
int evp__client_poll_waiting(const struct evp_client_s *c);
/* Serve what is waiting on this thread (takes and releases c->mu); returns
 * the callbacks run. */
long evp__client_poll_serve(struct evp_client_s *c);
/* Is this thread inside one of c's callbacks? */
int evp__client_in_callback(const struct evp_client_s *c);
/* Run a callback of c, marking this thread as inside it. */
void evp__client_call_delivery(struct evp_client_s *c, const evp_delivery_t *d);
void evp__client_call_error(struct evp_client_s *c, evp_err_t e, int retrying, const char *reason);
void evp__client_call_log(struct evp_client_s *c, int level, const char *msg);

/* ------------------------------------------------------------ log */
void evp__client_log(struct evp_client_s *c, int level, const char *fmt, ...) EVP__PRINTF(3, 4);

/* ------------------------------------------------------------ fork */
unsigned evp__client_fork_generation(void);

/* ------------------------------------------------------------ client */
typedef struct evp__spool evp__spool; /* spool.h */

struct evp_client_s {
  evp_conf_t *conf;
  evp__spool *spool; /* spool.dir set: the on-disk spool (spool.c), else NULL */
  char *events_url, *token_url;
  /* The same URLs as messages show them (evp__url_for_messages). */
  char *events_url_shown, *token_url_shown;
  void *schema; /* compiled schema, when schema.file is set */
  unsigned fork_gen;

  /* queue: guarded by mu */
  pthread_mutex_t mu;
  pthread_cond_t cv_sender, cv_space, cv_flush;
  evp__list q;      /* waiting for the sender */
  size_t pending_n; /* everything not yet reported (queue + sender) */
  uint64_t pending_bytes;
  int sender_waiting; /* 1: on cv_sender; 2: in the transport's poll (wake it there) */
  int space_waiters, flush_waiters;
  size_t need_n; /* wake the lingering sender at this many queued */
  uint64_t need_bytes;
  int closing;
  int paused; /* evp_client_pause: no requests until evp_client_resume */
  int64_t close_deadline_us;
  atomic_int abort_io; /* set when the close deadline has passed */

  pthread_t thread;
  int thread_started;

  /* sender-thread-only state */
  evp__list work; /* taken from q, in order */
  evp__http http;
  evp__token tok;
  int fails_in_row;
  int auth_retry;          /* a 401 dropped the token; a 401 for a newer one is final */
  uint64_t auth_retry_gen; /* the token that got that 401 */
  uint64_t auth_fail_gen;  /* a token refused after a refresh ... */
  uint64_t auth_fail_seq;  /* ... and the requests started until then */
  uint64_t xfer_seq;       /* requests started */
  uint64_t rng;
  long closed_undelivered;
  evp__retry *retry;      /* batches waiting for their own retry time */
  int64_t pause_until_us; /* the server asked everyone to wait (Retry-After) */
  double budget;          /* retry tokens */
  int64_t budget_us;      /* when time last deposited into the budget */
  evp_err_t perm_err;     /* a permanent error fails new events ... */
  int64_t perm_until_us;  /* ... until then */
  char perm_msg[320];
  evp_err_t raised_err; /* the condition last given to the error callback */
  int raised_retrying;
  size_t split_cap; /* >0: 413 seen, send at most this many */
  z_stream zs;
  int zs_ready;
  char last_reason[256];

  /* Recycled items: the sender returns reported items here and evp_send
   * reuses them, so steady traffic neither mallocs nor frees across threads
   * nor faults fresh pages in. Bounded by EVP__FREE_MAX. */
  pthread_mutex_t free_mu;
  evp__item *free_head;
  size_t free_n;
  evp__list dead; /* sender-only: reported, not yet recycled */

  /* Poll mode (callbacks.mode=poll): reports waiting for evp_poll. Their
   * items stay counted in pending_n / pending_bytes until served, so the
   * queue limits bound them. */
  evp__list staged;                      /* sender-only: reported since the last release */
  evp__list ready;                       /* guarded by mu: published, waiting to be polled */
  evp__err_wait errs[EVP__ERRS_WAITING]; /* guarded by mu, oldest first */
  size_t errs_n;
  pthread_cond_t cv_poll; /* signalled when something is published */
  int poll_waiters;
  int poll_fd[2];  /* pipe: [0] readable while something waits; -1: none */
  int poll_fd_set; /* a byte is in the pipe (guarded by mu) */

  evp__stats st;
};

#define EVP__FREE_MAX 4096
/* evp_send side: an item for n bytes, recycled when one is big enough. */
evp__item *evp__client_item_get(void *client, size_t n);
/* Sender side: recycle c->dead (up to EVP__FREE_MAX kept, the rest freed). */
void evp__client_item_recycle(evp_client_t *c);
void evp__client_item_free_all(evp_client_t *c);

/* Queue side (queue.c). Is there room in memory for one more event of
 * @p cost (queue.max.events, queue.max.bytes)? Caller holds c->mu. */
int evp__client_queue_fits(const evp_client_t *c, uint64_t cost);
evp_err_t evp__client_queue_push(evp_client_t *c, evp__item *it);
/* Called by the sender once items are reported: frees room (in poll mode,
 * not the room of the reports it publishes for evp_poll). */
void evp__client_queue_release(evp_client_t *c, size_t n, uint64_t bytes);
/* Frees the room of n served items. Caller holds c->mu. */
void evp__client_room_free(evp_client_t *c, size_t n, uint64_t bytes);
/* Recycle the items of l (up to EVP__FREE_MAX kept, the rest freed). */
void evp__client_items_recycle(evp_client_t *c, evp__list *l);

/* Report one item's outcome (delivery callback per mode) and free it (in
 * poll mode: hold it for evp_poll, see evp__client_poll_stage). */
void evp__client_report(evp_client_t *c, evp__item *it, evp_delivery_status_t st, evp_err_t err,
                        const char *reason);
/* Report and free a whole list, then release its room in the queue. */
void evp__client_report_list(evp_client_t *c, evp__list *l, evp_delivery_status_t st, evp_err_t err,
                             const char *reason);

void *evp__client_sender_main(void *arg);
/* Wake the sender wherever it waits (condition variable or the transport's poll).
 * Caller holds c->mu. */
void evp__client_wake_sender(evp_client_t *c);

#endif
