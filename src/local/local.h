/* `evpipe local`: the ingestion service on one machine. Internal API.
 *
 * http*.c is the libmicrohttpd front (routing, bodies, gzip, limits) that
 * calls the pure handlers of src/server/; local*.c holds what surrounds it:
 * the secret files (clients, signing keys and their rotation), the
 * hot-reloaded key state, per-client rate limits, metrics, JSON logs and the
 * run loop that starts and stops the durable log and batcher (wal.h). */
#ifndef EVP_LOCAL_LOCAL_H
#define EVP_LOCAL_LOCAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/types.h>
#include "evpipe/error.h"
#include "evpipe/jwt.h"
#include "wal/wal.h"
#include "batcher/batcher.h"
#include "server/server.h"

#define EVP__LOCAL_ISSUER "evpipe-local"
#define EVP__LOCAL_AUDIENCE "events"

/* ------------------------------------------------------------ options */

typedef struct {
  const char *listen;       /* "127.0.0.1:8080", "localhost:8080", "[::1]:0"; port 0: a free one */
  const char *data_dir;     /* queue/, secrets/, and the lake (events/dt=.../hour=...) */
  const char *schema_path;  /* event schema (JSON Schema draft-07) */
  const char *clients_path; /* NULL: DIR/secrets/clients.json */
  double rate_rps;          /* per-client sustained requests/s (API Gateway: 10000) */
  double rate_burst;        /* per-client bucket size (API Gateway: 5000) */
  double token_rate_rps;    /* POST /token per source address: sustained requests/s ... */
  double token_rate_burst;  /* ... and bucket size (a client needs one token per ~15 min) */
  size_t max_body;          /* request body limit, also after gunzip */
  size_t max_events;        /* events per request */
  evp__fsync_policy_t fsync;
  int fsync_interval_ms;
  size_t buffer_bytes; /* batcher: flush at this many bytes ... */
  int buffer_seconds;  /* ... or this age */
  int dedup_window_s;
  int lake_threads;     /* batcher: files a large flush is written as at once; 0: CPUs, at most 4 */
  int lake_codec;       /* batcher: evp__pq_codec_t of the lake files (0: Snappy) */
  int compact;          /* batcher: compact closed hour partitions (default 1) */
  uint64_t max_backlog; /* events logged but not yet in Parquet before POST /events
                                waits for the batcher (backpressure); 0: unbounded */
  int threads_max;      /* connection limit (one thread per connection); more wait in the
                                listen backlog */
  int max_conns_per_addr;     /* connections from one client address; more are refused */
  int header_timeout_s;       /* deadline for a whole request header (and for a kept-alive
                                connection's next request) */
  int min_body_rate;          /* bytes/s a body must average, after header_timeout_s of grace */
  int64_t token_ttl_s;        /* access-token lifetime (expires_in) */
  int token_lockout_failures; /* /token failures per client id that lock it; 0: no lockout */
  int token_lockout_s;        /* the first lockout; doubled for each further one, up to 900 s */
  int log_requests;           /* one log line per request (errors are always logged) */
  FILE *announce;             /* where generated credentials are printed once (stdout) */
} evp__local_opts_t;

void evp__local_opts_default(evp__local_opts_t *o);

/* A running pipeline, for embedding (e.g. `evpipe demo` runs it in-process). */
typedef struct evp__local evp__local_t;

/* Bind o->listen (before anything else: a port in use creates nothing),
 * open the secret files, the durable log and the batcher, and serve HTTP.
 * @p url receives the base URL (e.g. "http://127.0.0.1:43263"). Signing-key
 * files are polled once a second by a background thread. @p o and the
 * strings in it must outlive the pipeline. */
evp_err_t evp__local_start(const evp__local_opts_t *o, evp__local_t **out, char *url,
                           size_t url_size, char *errstr, size_t errstr_size);
/* Write everything acknowledged so far into committed Parquet files. */
evp_err_t evp__local_flush(evp__local_t *l, int timeout_ms);

/* The batcher's counters (files, bytes, rows, duplicates, errors). */
void evp__local_get_stats(const evp__local_t *l, evp__batcher_stats_t *out);
/* Stop accepting, finish requests in flight, flush the batcher, close the
 * log, free. EVP_OK, or the error of the final flush (logged): the events it
 * could not write stay in the log for the next start. NULL is a no-op. */
evp_err_t evp__local_stop(evp__local_t *l);

/* ------------------------------------------------------------ listen address */

#define EVP__LISTEN_MAX 8        /* addresses one --listen name may resolve to */
#define EVP__LISTEN_HOST_MAX 256 /* a DNS name is at most 253 bytes */

/* The bound, listening sockets of one --listen HOST:PORT (every address a
 * host name resolves to, all on one port; see local_listen.c). */
typedef struct evp__listener {
  int fds[EVP__LISTEN_MAX]; /* non-blocking, close-on-exec, listening */
  size_t n;
  uint16_t port;  /* the bound port (the one picked for port 0) */
  int ipv6;       /* one of them is IPv6 */
  int exposed;    /* one of them is not a loopback address */
  char url[1100]; /* "http://HOST:PORT" with HOST as given ("[v6]" for IPv6) */
} evp__listener_t;

/* Split "HOST:PORT", "[IPv6]:PORT" into @p host (no brackets) and @p port;
 * *bracketed says which form. Checks the syntax only. EVP_ERR_INVALID_ARG
 * with "--listen SPEC: <why>; <what to do>" in @p errstr. */
evp_err_t evp__listen_parse(const char *spec, char *host, size_t host_cap, uint16_t *port,
                            int *bracketed, char *errstr, size_t errstr_size);
/* Resolve @p spec (getaddrinfo) and bind and listen on every address.
 * *out is the caller's (evp__listener_free). Errors: EVP_ERR_INVALID_ARG
 * (bad syntax, name does not resolve) or EVP_ERR_IO (cannot bind), with a
 * message naming the argument, the address, the reason and what to do. */
evp_err_t evp__listen_open(const char *spec, evp__listener_t **out, char *errstr,
                           size_t errstr_size);
/* Close the sockets and free. NULL is a no-op. */
void evp__listener_free(evp__listener_t *l);
/* The address of @p sa as text (IPv4 or IPv6; "" for NULL or another
 * family) into @p out of @p cap bytes (INET6_ADDRSTRLEN is enough). */
void evp__sockaddr_ip(const struct sockaddr *sa, char *out, size_t cap);

/* ------------------------------------------------------------ start-up checks */

/* Whether @p dir can be the data directory: an existing directory this user
 * may write, or one it can create (the nearest existing ancestor is a
 * writable directory). Creates nothing. Otherwise EVP_ERR_IO and
 * "data directory DIR: <why>; <what to do>". */
evp_err_t evp__local_check_data_dir(const char *dir, char *errstr, size_t errstr_size);
/* Whether the schema file @p path reads, compiles and maps to a lake table.
 * Otherwise "--schema PATH: <why>; <what to do>". */
evp_err_t evp__local_check_schema(const char *path, char *errstr, size_t errstr_size);
/* Read, compile and map the schema file @p path (all three are the
 * caller's, also the ones made before an error). Otherwise the reason,
 * without the path, in @p errstr. */
evp_err_t evp__local_schema_load(const char *path, char **text, size_t *len, evp_schema_t **schema,
                                 evp__table_t **table, char *errstr, size_t errstr_size);
/* Everything evp__local_start will need from @p o, checked without side
 * effects: the data directory, the schema (o->schema_path, or
 * DIR/schema.json when it exists), the clients file (loads when it exists,
 * else its directory must be creatable) and the signing keys (when they
 * exist). EVP_OK, or the first problem as "<what>: <why>; <what to do>". */
evp_err_t evp__local_check(const evp__local_opts_t *o, char *errstr, size_t errstr_size);

/* Start on @p lis (taken; NULL: bind o->listen first), run until
 * SIGINT/SIGTERM, stop. Returns 0 after a clean shutdown, 1 when start-up
 * or the final flush failed (the reason is logged). Blocks SIGINT/SIGTERM
 * in the calling thread (and so in every thread it starts). */
int evp__local_run(const evp__local_opts_t *o, evp__listener_t *lis);

/* ------------------------------------------------------------ client store file */

/* Load the clients file (mode 0600 or refused). When it does not exist,
 * create it with one generated client (random id, 32-byte random secret,
 * base64url) and print the credentials once to @p announce. */
evp_err_t evp__local_clients_load(const char *path, FILE *announce, evp__clients_t **out,
                                  char *errstr, size_t errstr_size);
/* Load an existing clients file (0600 or refused); @p st (may be NULL)
 * receives the stat of what was read. */
evp_err_t evp__local_clients_read(const char *path, evp__clients_t **out, struct stat *st,
                                  char *errstr, size_t errstr_size);

/* ------------------------------------------------------------ signing keys */

/* DIR/secrets/signing-keys.json:
 * {"current":"v2","keys":[{"kid":"v2","secret":"base64:...","created":"..."},
 *                         {"kid":"v1",...}]} */

/* Create the file with one key ("v1") unless it exists. *created says which. */
evp_err_t evp__keys_init(const char *path, int *created, char *errstr, size_t errstr_size);

/* Add a new key as current and keep only the previous current one
 * (AWSCURRENT / AWSPREVIOUS). Serialised by a lock file next to @p path.
 * @p new_kid receives the new kid. */
evp_err_t evp__keys_rotate(const char *path, char *new_kid, size_t kid_size, char *errstr,
                           size_t errstr_size);

/* Build a keyring from the file (every key verifies; "current" signs). */
evp_err_t evp__keys_load(const char *path, evp_keyring_t **kr, char *current, size_t current_size,
                         struct stat *st, char *errstr, size_t errstr_size);

/* The secrets of a running server (signing keys and the client store):
 * swapped whole when either file changes; requests hold a reference, so a
 * swap never frees what is in use. */
typedef struct evp__keystate {
  const evp__clients_t *clients; /* owned; NULL when the watch has no clients file */
  evp_keyring_t *kr;
  evp_jwt_signer_t *signer;
  evp_jwt_verifier_t *verifier;
  char current[EVP_JWT_MAX_KID_LEN + 1];
  atomic_int refs;
} evp__keystate_t;

typedef struct evp__keywatch evp__keywatch_t;

/* Watch the signing-key file @p path and the clients file @p clients_path
 * (NULL: none). @p clients (taken, may be NULL: read from @p clients_path)
 * is the store already loaded at start-up. */
evp_err_t evp__keywatch_new(const char *path, const char *clients_path, evp__clients_t *clients,
                            int64_t ttl_s, evp__keywatch_t **out, char *errstr, size_t errstr_size);
void evp__keywatch_free(evp__keywatch_t *w);
/* A reference to the current state; release with evp__keystate_release(). */
evp__keystate_t *evp__keywatch_acquire(evp__keywatch_t *w);
void evp__keystate_release(evp__keystate_t *s);
/* Reload both files when either one's inode, size or mtime changed (call
 * about once per second). Returns 1 when a new state is in use, 0 when
 * unchanged, -1 when a file changed but could not be loaded (the old state
 * stays; errstr). */
int evp__keywatch_poll(evp__keywatch_t *w, char *errstr, size_t errstr_size);

/* ------------------------------------------------------------ rate limiting */

typedef struct evp__ratelimit evp__ratelimit_t;

evp__ratelimit_t *evp__ratelimit_new(double rps, double burst);
void evp__ratelimit_free(evp__ratelimit_t *rl);
/* Take one token from @p key's bucket at @p now_s (monotonic seconds).
 * Returns 0 when allowed, or the seconds to wait (>= 1) when limited. */
int evp__ratelimit_take(evp__ratelimit_t *rl, const char *key, double now_s);

/* ------------------------------------------------------------ metrics */

typedef enum {
  EVP__ROUTE_TOKEN,
  EVP__ROUTE_EVENTS,
  EVP__ROUTE_METRICS,
  EVP__ROUTE_HEALTHZ,
  EVP__ROUTE_OTHER,
  EVP__ROUTE_N
} evp__route_t;

typedef struct evp__metrics evp__metrics_t;

evp__metrics_t *evp__metrics_new(void);
void evp__metrics_free(evp__metrics_t *m);
void evp__metrics_request(evp__metrics_t *m, evp__route_t route, int status, double seconds);
void evp__metrics_accepted(evp__metrics_t *m, uint64_t n);
void evp__metrics_rejected(evp__metrics_t *m, const char *reason); /* a static label */
void evp__metrics_auth_failure(evp__metrics_t *m, const char *reason);
void evp__metrics_token(evp__metrics_t *m, const char *error); /* NULL: issued */
void evp__metrics_key_reload(evp__metrics_t *m);
/* @p reason: "per_address", "header_deadline" or "body_rate". */
void evp__metrics_conn_dropped(evp__metrics_t *m, const char *reason);
/* GET /healthz: *status 200 and {"status":"ok"}, or 503 and
 * {"status":"degraded","lake":"write failed: <reason>","since":"<RFC 3339>",
 * "failures":N} while the batcher cannot write the lake (@p b may be NULL).
 * *out malloc'd. */
evp_err_t evp__local_health(const evp__batcher_t *b, int *status, char **out, size_t *len);
/* @p unix_us as "YYYY-MM-DDTHH:MM:SSZ". */
void evp__local_rfc3339(int64_t unix_us, char out[32]);
/* Prometheus text exposition; *out malloc'd. */
evp_err_t evp__metrics_render(const evp__metrics_t *m, const evp__wal_t *wal,
                              const evp__batcher_t *b, char **out, size_t *len);

/* ------------------------------------------------------------ logs */

/* One JSON object per line on stderr: {"ts":..,"level":..,"msg":..,<fields>}.
 * @p fields is either NULL or already-rendered JSON members without braces
 * (build them with evp__local_log_str). Lines are written whole (one write). */
void evp__local_log(const char *level, const char *msg, const char *fields);
/* Append ,"key":"<escaped value>" to @p buf (size @p cap, at @p *n). Values
 * longer than 1024 bytes are cut. */
void evp__local_log_str(char *buf, size_t cap, size_t *n, const char *key, const char *value);
void evp__local_log_num(char *buf, size_t cap, size_t *n, const char *key, long long value);
/* A line a client can cause at will: per @p key (any stable pointer), the
 * first in a quiet period is written at once with "count":1, later ones
 * only counted; evp__local_log_limited_flush writes one summary per kind
 * ("count":N) once its interval (10 s) is over, or now with @p all. */
void evp__local_log_limited(const void *key, const char *level, const char *msg,
                            const char *fields);
void evp__local_log_limited_flush(int all);

/* ------------------------------------------------------------ http front */

typedef struct evp__http evp__http_t;

typedef struct {
  const evp__local_opts_t *opts;
  evp__keywatch_t *keys; /* signing keys and clients, hot-reloaded */
  const evp_schema_t *schema;
  evp__wal_t *wal;         /* NULL: accepted events are refused with 503 */
  evp__batcher_t *batcher; /* for metrics; may be NULL */
  evp__ratelimit_t *ratelimit;
  evp__metrics_t *metrics;
  evp__ratelimit_t *token_ratelimit; /* per source address on /token; NULL: none */
  evp__lockout_t *token_lockout;     /* per client id on /token; NULL: none */
  const evp__table_t *table;         /* the lake's table (evp__events_cfg_t.table); NULL: none */
} evp__http_deps_t;

/* Start serving on the sockets of @p lis (taken, also on error; thread per
 * connection). */
evp_err_t evp__http_start(evp__listener_t *lis, const evp__http_deps_t *deps, evp__http_t **out,
                          char *errstr, size_t errstr_size);
/* Stop accepting new connections (in-flight requests continue). */
void evp__http_quiesce(evp__http_t *h);
/* Finish in-flight requests, close every connection, free. NULL is a no-op. */
void evp__http_stop(evp__http_t *h);

#endif /* EVP_LOCAL_LOCAL_H */
