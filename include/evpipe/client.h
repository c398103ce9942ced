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
 *   // The server's schema requires event_type and app_id (docs/event-schema.md);
 *   // the client fills in event_id and event_time.
 *   const char *json = "{\"event_type\":\"app.opened\",\"app_id\":\"app-1\"}";
 *   if (evp_send(c, json, strlen(json), errstr, sizeof errstr) != EVP_OK) ...
 *   evp_flush(c, 5000);
 *   evp_client_destroy(c, 5000);
 * @endcode
 * A whole program: examples/c/send_events/send_events.c (examples/README.md).
 *
 * Threads: the client owns one background thread, which fetches and refreshes
 * tokens and sends batches (up to max.in.flight at once, each over its own
 * reused HTTP connection). evp_send() never waits for the network. Delivery
 * report and error callbacks run on that thread (`callbacks.mode=thread`,
 * the default) or, with `callbacks.mode=poll`, on the application's own
 * thread from evp_poll() (see there; evp_poll_fd() for event loops). Log
 * callbacks run on whichever thread logs, in both modes.
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

/* evp_client_t, the opaque client handle, is declared in conf.h (the
 * delivery callback receives it). */

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
 * evp_client_new() that also says which error made it fail, for programs and
 * bindings that act on the kind of failure (raise the matching exception,
 * tell a configuration mistake from a full disk). @p errp (may be NULL)
 * receives EVP_OK with the client, or the code of the failure:
 *  - EVP_ERR_CONF_INVALID: the configuration cannot work (no endpoint or
 *    credentials, a URL that is not http(s), plain http to a host that is
 *    not loopback without `allow.insecure.http`, a `spool.dir` that is not
 *    a directory);
 *  - EVP_ERR_IO / EVP_ERR_SCHEMA_INVALID / EVP_ERR_SCHEMA_REF /
 *    EVP_ERR_SCHEMA_REGEX / EVP_ERR_JSON: `schema.file` cannot be read or
 *    compiled;
 *  - EVP_ERR_PERMISSION: `spool.dir` is not private to the user (group or
 *    other bits set, or another owner: the reason says what to change);
 *  - EVP_ERR_STATE: `spool.dir` is in use by another client;
 *  - EVP_ERR_IO: `spool.dir` cannot be created or read;
 *  - EVP_ERR_INVALID_ARG: @p conf is NULL;
 *  - EVP_ERR_NOMEM, EVP_ERR_INTERNAL (no randomness, no thread).
 * Ownership and thread-safety as evp_client_new(), which is this function
 * with @p errp NULL.
 * @param conf         the configuration (taken on success only).
 * @param errp         receives the error code (may be NULL).
 * @param errstr       receives the reason on failure (may be NULL).
 * @param errstr_size  size of @p errstr.
 * @return the client, or NULL (code in @p errp, reason in @p errstr).
 */
EVP_API evp_client_t *evp_client_create(evp_conf_t *conf, evp_err_t *errp, char *errstr,
                                        size_t errstr_size);

/**
 * Validate one event (a JSON object, @p len bytes, not necessarily
 * NUL-terminated), fill event_id / event_time when absent (see fill.*), and
 * queue it for delivery. Returns:
 *  - EVP_OK: queued; its outcome arrives later through the delivery report;
 *    with `spool.dir` set, the event is in the spool (in the kernel: a crash
 *    or kill of the application cannot lose it; `spool.sync` says what a
 *    power loss can);
 *  - EVP_ERR_INVALID_EVENT / EVP_ERR_JSON: refused, errstr gives the JSON path
 *    and reason; never queued;
 *  - EVP_ERR_TOO_LARGE: the event alone exceeds batch.max.bytes;
 *  - EVP_ERR_QUEUE_FULL: no room (after queue.block.timeout.ms, if set; with
 *    a spool: spool.max.bytes reached and spool.full.policy=refuse);
 *  - EVP_ERR_IO: the spool could not take it (disk full, I/O error; errstr
 *    names the directory);
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
EVP_API evp_err_t evp_send(evp_client_t *client, const char *json, size_t len, char *errstr,
                           size_t errstr_size);

/**
 * evp_send() with a per-event application pointer: @p msg_opaque comes back
 * unchanged in that event's delivery report (evp_delivery_opaque()), so a
 * report can be matched to its event without parsing the event_id. Same
 * return values and blocking rules as evp_send(); on EVP_OK exactly one
 * report carries @p msg_opaque, otherwise none does.
 * Ownership: borrows @p json (copied); @p msg_opaque is never dereferenced
 * by the library, the application keeps it alive until the report.
 * Thread-safety: any thread, concurrently.
 * @param client       the client.
 * @param json         the event.
 * @param len          its length in bytes.
 * @param msg_opaque   the application's pointer for this event (may be NULL).
 * @param errstr       receives the reason on failure (may be NULL).
 * @param errstr_size  size of @p errstr.
 * @return the codes of evp_send().
 */
EVP_API evp_err_t evp_send_opaque(evp_client_t *client, const char *json, size_t len,
                                  void *msg_opaque, char *errstr, size_t errstr_size);

/**
 * Ask the sender to send everything now (ignoring linger.ms) and wait up to
 * @p timeout_ms (0: do not wait, negative: no limit) until nothing is pending.
 * Returns the number of events still pending (queued, in flight, awaiting
 * retry, or, in poll mode, whose report has not been served), or -1 when the
 * client is unusable (NULL, closing, forked child, called from a callback).
 * With `callbacks.mode=poll` it serves the waiting delivery reports and
 * error callbacks on the calling thread while it waits, as evp_poll() does
 * (like librdkafka's rd_kafka_flush), so a flush that returns 0 has served
 * every report. Thread-safety: any thread.
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
 * With `callbacks.mode=poll` the reports not yet polled, and those of the
 * events failed at close, are served on the calling thread before it
 * returns, so every accepted event is still reported exactly once.
 * With `spool.dir` set, the events not delivered by then are not reported:
 * they stay in the spool, and the next client on that directory delivers
 * (and reports) them.
 * Returns the number of events reported undelivered at close (with a spool:
 * left in the spool), or -1 in a
 * forked child (see the file comment) or when called from one of the
 * client's callbacks (nothing is done then). NULL is a no-op returning 0.
 * Ownership: takes @p client. Thread-safety: call once, from a thread that is
 * not one of the client's callbacks, with no concurrent evp_flush() or
 * evp_poll().
 * @param client      the client (NULL is a no-op).
 * @param timeout_ms  how long to keep sending (0: not at all).
 * @return the number of events reported undelivered, or -1 (see above).
 */
EVP_API long evp_client_destroy(evp_client_t *client, int timeout_ms);

/**
 * Pause sending: from now on no request starts, no access token is fetched
 * and no retry is attempted (so none of the retry budget or backoff is spent
 * while, say, the application is in the background or the device has no
 * network); requests already in flight finish. evp_send keeps accepting
 * events (into the spool when `spool.dir` is set, else into memory up to
 * the queue limits) and events keep ageing (`spool.max.age.ms` /
 * `message.timeout.ms`). evp_flush() and evp_client_destroy() still send:
 * they are explicit requests to deliver. Pausing a paused client does
 * nothing. Thread-safety: any thread, including the client's callbacks.
 * @param client  the client.
 * @return 0, or -1 when @p client is NULL or used in a forked child.
 */
EVP_API int evp_client_pause(evp_client_t *client);

/**
 * Resume sending after evp_client_pause(): batches due go out at once.
 * Resuming a client that is not paused does nothing. Thread-safety: any
 * thread, including the client's callbacks.
 * @param client  the client.
 * @return 0, or -1 when @p client is NULL or used in a forked child.
 */
EVP_API int evp_client_resume(evp_client_t *client);

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

/**
 * Poll mode (`callbacks.mode=poll`): serve the delivery reports and error
 * callbacks that are waiting, on the calling thread, as librdkafka's
 * rd_kafka_poll(). Waits up to @p timeout_ms for at least one (0: do not
 * wait, negative: until there is one). Returns the number of callbacks run
 * (0 when none was waiting), or -1 when the client is not in poll mode, is
 * NULL, in a forked child, or when called from one of its own callbacks.
 *
 * Bounded: an event whose report waits to be polled still counts against
 * `queue.max.events` / `queue.max.bytes` until it is served, so an
 * application that never polls gets EVP_ERR_QUEUE_FULL from evp_send()
 * rather than unbounded memory. A thread waiting in evp_send() for room
 * (`queue.block.timeout.ms`) therefore needs another thread to poll.
 * Ownership: borrows @p client. Thread-safety: any thread, also
 * concurrently (each report is served once, by one of them); not
 * concurrently with evp_client_destroy().
 * @param client      the client.
 * @param timeout_ms  how long to wait for a callback (0: not at all, negative: no limit).
 * @return the number of callbacks run, or -1 (see above).
 */
EVP_API long evp_poll(evp_client_t *client, int timeout_ms);

/**
 * Poll mode: a file descriptor that is readable while delivery reports or
 * error callbacks wait to be polled, for event loops (epoll, poll, libuv,
 * asyncio's add_reader): when it is readable, call evp_poll(client, 0).
 * evp_poll() drains it; level-triggered, it stays readable until then.
 * Returns -1 when the client is not in poll mode, is NULL, or in a forked
 * child (the descriptor is close-on-exec and belongs to the parent).
 * Ownership: the client owns the descriptor and closes it in
 * evp_client_destroy(); the application only waits on it (never reads,
 * writes or closes it). Thread-safety: any thread.
 * @param client  the client.
 * @return the descriptor, or -1.
 */
EVP_API int evp_poll_fd(evp_client_t *client);

/**
 * Outcome of the event: delivered, rejected by the server, or failed.
 * The evp_delivery_*() accessors read a report given to an evp_delivery_cb_t;
 * the report is borrowed and valid only during that callback. They never
 * fail on a valid report (NULL gives 0 / NULL / EVP_DELIVERY_FAILED).
 * Ownership: borrows @p report. Thread-safety: only on the thread running the
 * callback, during it.
 * @param report  the report given to the callback.
 * @return ::EVP_DELIVERY_OK, ::EVP_DELIVERY_REJECTED or ::EVP_DELIVERY_FAILED.
 */
EVP_API evp_delivery_status_t evp_delivery_status(const evp_delivery_t *report);

/** The error code: EVP_OK when delivered; EVP_ERR_INVALID_EVENT when
 *  rejected; for failures EVP_ERR_TIMED_OUT (message.timeout.ms),
 *  EVP_ERR_AUTH, EVP_ERR_HTTP, EVP_ERR_TOO_LARGE or EVP_ERR_STATE (client
 *  closed). Ownership: borrows @p report. Thread-safety: during the
 *  callback, on its thread.
 * @param report  the report given to the callback.
 * @return the error code.
 */
EVP_API evp_err_t evp_delivery_error(const evp_delivery_t *report);

/** Why the event was not delivered: NUL-terminated text (the server's reason,
 *  or the last error), NULL when delivered. Ownership: borrowed from the
 *  report, valid only during the callback (copy it to keep it).
 *  Thread-safety: during the callback, on its thread.
 * @param report  the report given to the callback.
 * @return the reason, or NULL.
 */
EVP_API const char *evp_delivery_reason(const evp_delivery_t *report);

/** The event's "event_id" as written in the event (the JSON string content,
 *  escapes not decoded; the generated UUIDv7 when fill.event_id added it),
 *  not NUL-terminated; @p len (may be NULL) receives its length, 0 when the
 *  event has none. Ownership: borrowed from the report, valid only during
 *  the callback. Thread-safety: during the callback, on its thread.
 * @param report  the report given to the callback.
 * @param len     receives the length (may be NULL).
 * @return the event_id bytes.
 */
EVP_API const char *evp_delivery_event_id(const evp_delivery_t *report, size_t *len);

/** The @p msg_opaque given to evp_send_opaque() for this event (NULL for
 *  evp_send()). Never dereferenced by the library: the application owns what
 *  it points to. Thread-safety: during the callback, on its thread.
 * @param report  the report given to the callback.
 * @return the event's opaque pointer.
 */
EVP_API void *evp_delivery_opaque(const evp_delivery_t *report);

/** Microseconds from the event's acceptance by evp_send() to its outcome
 *  (in poll mode: to when the outcome was known, not when it was polled).
 *  Ownership: borrows @p report. Thread-safety: during the callback.
 * @param report  the report given to the callback.
 * @return the latency in microseconds.
 */
EVP_API long long evp_delivery_latency_us(const evp_delivery_t *report);

/** How many requests carried the event (0: it never left the client).
 *  Ownership: borrows @p report. Thread-safety: during the callback.
 * @param report  the report given to the callback.
 * @return the number of attempts.
 */
EVP_API int evp_delivery_attempts(const evp_delivery_t *report);

/** HTTP status of the last response to a request that carried the event
 *  (200 when delivered or rejected per item; e.g. 400 or 503 for failures);
 *  0 when no response ever came (never sent, or transport errors only).
 *  Ownership: borrows @p report. Thread-safety: during the callback.
 * @param report  the report given to the callback.
 * @return the HTTP status, or 0.
 */
EVP_API int evp_delivery_http_status(const evp_delivery_t *report);

/** 1 when the event was accepted by an earlier client on the same
 *  `spool.dir` (an earlier run of the application, before a crash, a kill
 *  or a close with events undelivered) and this client read it back from
 *  the spool; 0 otherwise. Such a report carries no opaque
 *  (evp_delivery_opaque() returns NULL: the pointer belonged to the earlier
 *  process). Ownership: borrows @p report. Thread-safety: during the
 *  callback.
 * @param report  the report given to the callback.
 * @return 1 or 0.
 */
EVP_API int evp_delivery_from_spool(const evp_delivery_t *report);

EVP_END_DECLS

#endif /* EVPIPE_CLIENT_H */
