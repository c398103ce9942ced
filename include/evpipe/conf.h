/**
 * @file conf.h
 * @brief Client configuration: string key/value properties plus typed
 *        setters for callbacks (librdkafka style).
 *
 * Every property is described once, in the library's property table, which
 * also generates docs/CONFIGURATION.md (`evpipe conf-doc`). Values are
 * checked when set: an unknown name gives EVP_ERR_CONF_UNKNOWN, a value of the
 * wrong type or out of range gives EVP_ERR_CONF_INVALID with the reason in
 * errstr.
 *
 * @code
 *   char errstr[256];
 *   evp_conf_t *conf = evp_conf_new();
 *   if (evp_conf_set(conf, "endpoint", "https://ingest.example", errstr, sizeof errstr) != EVP_OK)
 *     fprintf(stderr, "%s\n", errstr);
 *   evp_conf_set_delivery_cb(conf, on_delivery, &app_state);
 *   evp_client_t *c = evp_client_new(conf, errstr, sizeof errstr); // takes conf on success
 * @endcode
 *
 * Thread-safety: an evp_conf_t is a plain value object; do not use the same
 * one from several threads at once without your own locking.
 */
#ifndef EVPIPE_CONF_H
#define EVPIPE_CONF_H

#include <stddef.h>
#include "common.h"
#include "error.h"

EVP_BEGIN_DECLS

/** Opaque configuration object. */
typedef struct evp_conf_s evp_conf_t;

/** Final outcome of one event, as given to the delivery report callback. */
typedef enum evp_delivery_status_t {
  EVP_DELIVERY_OK = 0,       /**< The server accepted the event. */
  EVP_DELIVERY_REJECTED = 1, /**< The server rejected this event for good (reason given). */
  EVP_DELIVERY_FAILED = 2    /**< Not delivered: timeout, HTTP/auth error, client closed. */
} evp_delivery_status_t;

/** Opaque client handle (the client's functions are in client.h). Declared
 *  here because the delivery callback receives it. */
typedef struct evp_client_s evp_client_t;

/**
 * One event's delivery report, read through the evp_delivery_*() accessors in
 * client.h (status, error code and reason, event_id, the application's
 * per-event opaque, latency, attempts, HTTP status). Opaque so that fields can
 * be added without breaking the ABI. Borrowed: valid only during the
 * delivery callback that receives it; copy what you need to keep.
 */
typedef struct evp_delivery_s evp_delivery_t;

/**
 * Delivery report callback: called exactly once for every event that
 * evp_send() / evp_send_opaque() accepted, with its final outcome
 * (delivered, rejected by the server, failed, or failed at close).
 * @p report is borrowed and valid only for the call; @p opaque is the pointer
 * given to evp_conf_set_delivery_cb().
 *
 * Thread: with `callbacks.mode=thread` (the default) it runs on the client's
 * background thread (events still pending at close are reported there too,
 * before evp_client_destroy() returns). With `callbacks.mode=poll` it runs on
 * whichever application thread calls evp_poll(), evp_flush() or
 * evp_client_destroy(), never on the background thread.
 *
 * It must not call evp_client_destroy(), evp_flush() or evp_poll() on its
 * own client (evp_flush() and evp_poll() return -1 if it does); it may call
 * evp_send(), which then never blocks. `delivery.report.mode=errors` skips
 * the reports of delivered events.
 */
typedef void (*evp_delivery_cb_t)(evp_client_t *client, const evp_delivery_t *report, void *opaque);

/**
 * Deprecated: the 7-argument delivery report of libevpipe 0.x, kept for
 * existing code and implemented over evp_delivery_cb_t (same threads, same
 * exactly-once rule). It cannot grow: new code uses evp_delivery_cb_t.
 * @p event_id is not NUL-terminated; it is the raw JSON string content of the
 * event's "event_id" member (empty when the event has none). @p reason is a
 * short NUL-terminated explanation ("" on success). @p opaque is the pointer
 * given to evp_conf_set_opaque(). All pointers are borrowed for the call.
 */
typedef void (*evp_dr_cb_t)(const char *event_id, size_t event_id_len, evp_delivery_status_t status,
                            evp_err_t err, const char *reason, int attempts, void *opaque);

/**
 * Log callback: @p level is an ::evp_log_level_t value (syslog numbering;
 * passed as int, as librdkafka does, so bindings need no enum type), @p msg
 * is NUL-terminated and borrowed. Called on whichever thread logs (the
 * client's background thread, or an application thread inside an evp_*()
 * call), in both callback modes; secrets never appear. Like the other
 * callbacks it must not call evp_flush(), evp_poll() or evp_client_destroy()
 * on its client (they return -1 if it does).
 */
typedef void (*evp_log_cb_t)(int level, const char *msg, void *opaque);

/**
 * Error callback: the client met an error that is not about one event but
 * about the connection to the service, so the application hears of it at once
 * instead of through each event's delivery report much later.
 *  - @p retrying = 0: a permanent error (the server refused the credentials:
 *    401 `invalid_client`, 400 `invalid_request`/`invalid_target`...; or the
 *    endpoint does not exist: 404/405). Every pending event has been reported
 *    failed with @p err (EVP_ERR_AUTH for credentials, EVP_ERR_HTTP for a
 *    wrong URL), and new events fail the same way (without contacting the
 *    server) until `retry.backoff.max.ms` has passed, when the client tries
 *    again once. Fix the configuration.
 *  - @p retrying = 1: the server cannot be reached (EVP_ERR_TRANSPORT:
 *    connection refused, DNS, TLS, timeouts, repeated resets). Events stay
 *    queued and are retried with backoff until `message.timeout.ms`: an
 *    offline device keeps its events. Called again only after a success.
 * @p reason is NUL-terminated, names the URL tried, never contains a secret,
 * and is borrowed for the call. Called once per change of condition (not per
 * failed request), never after evp_client_destroy() returns; on the client's
 * background thread, or with `callbacks.mode=poll` from evp_poll() (then at
 * most one call per (err, retrying) pair waits to be polled: a newer one
 * replaces an older one). Same rules as the delivery report: it must not
 * call evp_client_destroy(), evp_flush() or evp_poll() on its own client.
 * @p opaque is the pointer given to evp_conf_set_opaque().
 */
typedef void (*evp_error_cb_t)(evp_err_t err, int retrying, const char *reason, void *opaque);

/**
 * A new configuration with every property at its default.
 * @return the configuration, or NULL when out of memory (the only failure).
 * Ownership: caller destroys with evp_conf_destroy(), or hands it to
 * evp_client_new(). Thread-safety: any thread.
 */
EVP_API evp_conf_t *evp_conf_new(void);

/**
 * Set a property from its text form.
 * @param conf         the configuration.
 * @param name         the property name (see docs/CONFIGURATION.md).
 * @param value        the text: booleans true/false/1/0; integers decimal;
 *                     enums one of the listed words.
 * @param errstr       receives the reason on failure (may be NULL); secret
 *                     values are never copied into it.
 * @param errstr_size  size of @p errstr.
 * @return EVP_OK, EVP_ERR_CONF_UNKNOWN, EVP_ERR_CONF_INVALID,
 *         EVP_ERR_INVALID_ARG or EVP_ERR_NOMEM.
 * Ownership: borrows every argument (the value is copied).
 * Thread-safety: not concurrently with other use of @p conf.
 */
EVP_API evp_err_t evp_conf_set(evp_conf_t *conf, const char *name, const char *value, char *errstr,
                               size_t errstr_size);

/**
 * Read a property as text. Secret properties read back as "[redacted]" when
 * set, "" when not.
 * @param conf       the configuration.
 * @param name       the property name.
 * @param dest       receives the NUL-terminated value; NULL to ask only for
 *                   the size.
 * @param dest_size  in: the size of @p dest; out: always the size needed
 *                   (including the NUL).
 * @return EVP_OK, EVP_ERR_CONF_UNKNOWN, EVP_ERR_TOO_LARGE (the buffer is too
 *         small; nothing written) or EVP_ERR_INVALID_ARG.
 * Ownership: borrows. Thread-safety: not concurrently with a change of @p conf.
 */
EVP_API evp_err_t evp_conf_get(const evp_conf_t *conf, const char *name, char *dest,
                               size_t *dest_size);

/**
 * A deep copy (callbacks and opaque included).
 * @param conf  the configuration to copy (borrowed).
 * @return the copy, or NULL when out of memory (the only failure).
 * Ownership: caller destroys the copy with evp_conf_destroy().
 * Thread-safety: not concurrently with a change of @p conf.
 */
EVP_API evp_conf_t *evp_conf_dup(const evp_conf_t *conf);

/**
 * Free a configuration, wiping secrets first.
 * @param conf  the configuration (NULL is a no-op). Ownership: takes.
 * Thread-safety: not concurrently with other use of @p conf.
 */
EVP_API void evp_conf_destroy(evp_conf_t *conf);

/**
 * Set the delivery report callback and its own @p opaque (NULL @p cb: none).
 * Replaces a callback set with evp_conf_set_dr_cb(). See evp_delivery_cb_t
 * and the properties `delivery.report.mode` and `callbacks.mode`.
 * Ownership: @p opaque is borrowed and must outlive the client.
 * Thread-safety: as every evp_conf_t setter (no concurrent use of @p conf).
 * @param conf    the configuration.
 * @param cb      the callback, or NULL: none.
 * @param opaque  passed to @p cb with every report.
 */
EVP_API void evp_conf_set_delivery_cb(evp_conf_t *conf, evp_delivery_cb_t cb, void *opaque);

/**
 * Deprecated: set a 7-argument delivery report callback (NULL: none); it gets
 * the opaque of evp_conf_set_opaque(). Replaces a callback set with
 * evp_conf_set_delivery_cb(). Use evp_conf_set_delivery_cb() in new code.
 * Ownership: borrows. Thread-safety: as every evp_conf_t setter.
 * @param conf  the configuration.
 * @param cb    the callback, or NULL: none.
 */
EVP_API void evp_conf_set_dr_cb(evp_conf_t *conf, evp_dr_cb_t cb);

/**
 * Set the log callback.
 * @param conf  the configuration.
 * @param cb    the callback, or NULL: the library logs nothing.
 * Thread-safety: not concurrently with other use of @p conf.
 */
EVP_API void evp_conf_set_log_cb(evp_conf_t *conf, evp_log_cb_t cb);

/**
 * Set the error callback. See evp_error_cb_t.
 * @param conf  the configuration.
 * @param cb    the callback, or NULL: none.
 * Thread-safety: not concurrently with other use of @p conf.
 */
EVP_API void evp_conf_set_error_cb(evp_conf_t *conf, evp_error_cb_t cb);

/**
 * Set the opaque pointer passed to the log and error callbacks and to a
 * callback set with evp_conf_set_dr_cb() (evp_conf_set_delivery_cb() takes
 * its own).
 * @param conf    the configuration.
 * @param opaque  any pointer; borrowed: it must outlive the client.
 * Thread-safety: not concurrently with other use of @p conf.
 */
EVP_API void evp_conf_set_opaque(evp_conf_t *conf, void *opaque);

EVP_END_DECLS

#endif /* EVPIPE_CONF_H */
