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
 * EVP_ERR_INVALID_EVENT (a value that fits no column) with the reason. */
evp_err_t evp__row_builder_build(evp__row_builder_t *rb, const char *ev, size_t len,
                                 int64_t received_at_us, const char *client_id,
                                 size_t client_id_len, const struct evp__pq_value **row,
                                 const char **id, size_t *idlen, char *errstr, size_t errstr_size);

/* Only the event_id of an event (for re-learning dedup state): 0 and the id
 * (valid until the next call), or -1 when the event has none. */
int evp__row_builder_event_id(evp__row_builder_t *rb, const char *ev, size_t len, const char **id,
                              size_t *idlen);

#endif /* EVP_LAKE_LAKE_ROW_H */
