/**
 * @file client.h
 * @brief The event client: validate at the door, queue, and deliver in the
 *        background with batching, retries and OAuth 2.0 tokens.
 *
 * @code
 *   evp_conf_t *conf = evp_conf_new();
 *   evp_conf_set(conf, "endpoint", "https://ingest.example", errstr, sizeof errstr);
 *   evp_conf_set(conf, "client.id", "app-1", errstr, sizeof errstr);
 *   evp_conf_set(conf, "client.secret", secret, errstr, sizeof errstr);
 *   evp_client_t *c = evp_client_new(conf, errstr, sizeof errstr);
 *   if (!c) { evp_conf_destroy(conf); ... }
 *   if (evp_send(c, json, len, errstr, sizeof errstr) != EVP_OK) ...
 *   evp_flush(c, 5000);
 *   evp_client_destroy(c, 5000);
 * @endcode
 *
 * Threads: the client owns one background thread, which fetches and refreshes
 * tokens, sends batches (up to max.in.flight at once, each over its own
 * reused HTTP connection), and runs the delivery report, error and log
 * callbacks. evp_send() never waits for the network.
 *
 * Fork: a client belongs to the process that created it. In a forked child,
 * evp_send() and evp_flush() return EVP_ERR_STATE / -1 and
 * evp_client_destroy() returns -1 without touching the parent's state (the
 * memory is not freed: the child must not depend on it). Create a new client
 * in the child instead.
 */
#ifndef EVPIPE_CLIENT_H
#define EVPIPE_CLIENT_H

#include <stddef.h>
#include "common.h"
#include "error.h"
#include "conf.h"

EVP_BEGIN_DECLS

/** Opaque client handle. */
typedef struct evp_client_s evp_client_t;

/**
 * Create a client and start its background thread. Checks the configuration
 * (endpoint, credentials, schema file) and returns NULL with errstr set when
 * it is unusable. It does not contact the server: the first token is fetched
 * in the background.
 * Ownership: takes @p conf on success (do not use or destroy it afterwards);
 * on failure the caller still owns it. The client is destroyed with
 * evp_client_destroy().
 * Thread-safety: any thread.
 * @param conf         the configuration.
 * @param errstr       receives the reason on failure (may be NULL).
 * @param errstr_size  size of @p errstr.
 * @return the client, or NULL (reason in @p errstr).
 */
EVP_API evp_client_t *evp_client_new(evp_conf_t *conf, char *errstr, size_t errstr_size);

/**
 * Validate one event (a JSON object, @p len bytes, not necessarily
 * NUL-terminated), fill event_id / event_time when absent (see fill.*), and
 * queue it for delivery. Returns:
 *  - EVP_OK: queued; its outcome arrives later through the delivery report;
 *  - EVP_ERR_INVALID_EVENT / EVP_ERR_JSON: refused, errstr gives the JSON path
 *    and reason; never queued;
 *  - EVP_ERR_TOO_LARGE: the event alone exceeds batch.max.bytes;
 *  - EVP_ERR_QUEUE_FULL: no room (after queue.block.timeout.ms, if set);
 *  - EVP_ERR_STATE: the client is closing, or this is a forked child;
 *  - EVP_ERR_NOMEM, EVP_ERR_INVALID_ARG.
 * Never blocks on the network or the token; blocks at most
 * queue.block.timeout.ms for room (never when called from a callback).
 * Ownership: borrows @p json (copied). Thread-safety: any thread, concurrently.
 * @param client       the client.
 * @param json         the event.
 * @param len          its length in bytes.
 * @param errstr       receives the reason on failure (may be NULL).
 * @param errstr_size  size of @p errstr.
 * @return one of the codes listed above.
 */
EVP_API evp_err_t evp_send(evp_client_t *client, const char *json, size_t len,
                           char *errstr, size_t errstr_size);

/**
 * Ask the sender to send everything now (ignoring linger.ms) and wait up to
 * @p timeout_ms (0: do not wait, negative: no limit) until nothing is pending.
 * Returns the number of events still pending (queued, in flight or awaiting
 * retry), or -1 when the client is unusable (NULL, closing, forked child).
 * Must not be called from a callback. Thread-safety: any thread.
 * @param client      the client.
 * @param timeout_ms  how long to wait (0: do not wait, negative: no limit).
 * @return the number of events still pending, or -1 (see above).
 */
EVP_API long evp_flush(evp_client_t *client, int timeout_ms);

/**
 * Close the client: stop accepting events, keep sending for up to
 * @p timeout_ms (0: do not send anything more), abort what is still in
 * flight, report every remaining event as EVP_DELIVERY_FAILED through the
 * delivery callback, join the background thread and free everything (the
 * client secret and token are wiped). No callback runs after it returns.
 * Returns the number of events reported undelivered at close, or -1 in a
 * forked child (see the file comment). NULL is a no-op returning 0.
 * Ownership: takes @p client. Thread-safety: call once, from a thread that is
 * not one of the client's callbacks, with no concurrent evp_flush().
 * @param client      the client (NULL is a no-op).
 * @param timeout_ms  how long to keep sending (0: not at all).
 * @return the number of events reported undelivered, or -1 (see above).
 */
EVP_API long evp_client_destroy(evp_client_t *client, int timeout_ms);

/**
 * Counters and gauges as a JSON object: enqueued, sent, delivered, rejected by
 * reason, failed by cause, retries, requests, bytes, queue depth, token
 * refreshes, request latency percentiles (microseconds), and the last error
 * given to the error callback ("last_error": code, retrying, reason; null
 * before any; see evp_error_cb_t in conf.h).
 * Ownership: caller frees the string with evp_free(). NULL when out of memory.
 * Thread-safety: any thread.
 * @param client  the client.
 * @return the JSON text, or NULL.
 */
EVP_API char *evp_client_stats(evp_client_t *client);

EVP_END_DECLS

#endif /* EVPIPE_CLIENT_H */
