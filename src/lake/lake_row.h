/* One event's JSON to one row of the lake table (lake_row.c): the row
 * builder the batcher and the Lambda processor share. */
#ifndef EVP_LAKE_LAKE_ROW_H
#define EVP_LAKE_LAKE_ROW_H

#include <stddef.h>
#include <stdint.h>
#include "lake/lake.h"
#include "table/table.h"

/* Event JSON -> one Parquet row of the table's data columns (lake_row.c).
 * The event is scanned once (top-level members as spans, no tree); strings
 * are unescaped, numbers parsed exactly from their text (integers never pass
 * through a double), date-times converted to UTC microseconds, and objects
 * or arrays stored as their JSON text with insignificant whitespace removed
 * (numbers keep their digits). */
typedef struct evp__row_builder evp__row_builder_t;
struct evp__table;
struct evp__pq_value;
struct evp__pq_column;

evp_err_t evp__row_builder_new(const struct evp__table *t, evp__row_builder_t **out, char *errstr,
                               size_t errstr_size);
void evp__row_builder_free(evp__row_builder_t *rb);
/* The Parquet columns (cols[0..ndata) of the table) and their count. */
const struct evp__pq_column *evp__row_builder_columns(const evp__row_builder_t *rb, size_t *n);
/* Build the row for one event; the values point into @p rb (and @p ev,
 * @p client_id) and stay valid until the next call. @p id / @p idlen get the
 * event_id string (NULL when the event has none). EVP_ERR_JSON or
 * EVP_ERR_INVALID_EVENT (a value that fits no column) with the reason.
 * The batch had no sent_at: event_time_corrected is event_time and
 * clock_skew_ms null (evp__row_builder_build_sent). */
evp_err_t evp__row_builder_build(evp__row_builder_t *rb, const char *ev, size_t len,
                                 int64_t received_at_us, const char *client_id,
                                 size_t client_id_len, const struct evp__pq_value **row,
                                 const char **id, size_t *idlen, char *errstr, size_t errstr_size);

/* A request that carried no sent_at. */
#define EVP__ROW_NO_SENT_AT INT64_MIN
/* How far ahead of received_at a sent_at may be and still be used: a device
 * clock further ahead is broken rather than skewed (or the value is no clock
 * reading), and correcting by it would move events by more than a year. */
#define EVP__ROW_SENT_AT_MAX_AHEAD_US (INT64_C(366) * 86400 * 1000000)

/* evp__row_builder_build for an event of a request that carried @p sent_at_us
 * (the sender's clock when it sent the request, µs since the epoch, or
 * EVP__ROW_NO_SENT_AT). The server columns for clock skew
 * (docs/event-schema.md, "Clock skew"):
 *   sent_at is usable when it is not before 1970-01-01 (a device clock counts
 *   from the Unix epoch) and at most EVP__ROW_SENT_AT_MAX_AHEAD_US after
 *   received_at; otherwise the request counts as carrying none.
 *   clock_skew_ms = (received_at - sent_at) / 1000, rounded toward zero; null
 *   without a usable sent_at.
 *   event_time_corrected = event_time + (received_at - sent_at) (µs), where
 *   event_time is the event's top-level "event_time" member read as an RFC
 *   3339 date-time; event_time itself without a usable sent_at or when the
 *   sum falls outside the years 0000-9999; null when the event has no such
 *   event_time. */
evp_err_t evp__row_builder_build_sent(evp__row_builder_t *rb, const char *ev, size_t len,
                                      int64_t received_at_us, int64_t sent_at_us,
                                      const char *client_id, size_t client_id_len,
                                      const struct evp__pq_value **row, const char **id,
                                      size_t *idlen, char *errstr, size_t errstr_size);

/* Only the event_id of an event (for re-learning dedup state): 0 and the id
 * (valid until the next call), or -1 when the event has none. */
int evp__row_builder_event_id(evp__row_builder_t *rb, const char *ev, size_t len, const char **id,
                              size_t *idlen);

#endif /* EVP_LAKE_LAKE_ROW_H */
