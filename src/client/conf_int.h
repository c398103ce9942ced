/* Internal view of evp_conf_t: typed fields filled from the property table.
 * Only the client area reads these directly. */
#ifndef EVP_CLIENT_CONF_INT_H
#define EVP_CLIENT_CONF_INT_H

#include <stddef.h>
#include <stdint.h>
#include "evpipe/conf.h"
#include "client/conf_doc.h"

enum { EVP__COMP_NONE = 0, EVP__COMP_GZIP = 1 };
enum { EVP__DR_ALL = 0, EVP__DR_ERRORS = 1 };
enum { EVP__CB_THREAD = 0, EVP__CB_POLL = 1 };                                 /* callbacks.mode */
enum { EVP__SPOOL_ALWAYS = 0, EVP__SPOOL_INTERVAL = 1, EVP__SPOOL_NEVER = 2 }; /* spool.sync */
enum { EVP__SPOOL_REFUSE = 0, EVP__SPOOL_DROP_OLDEST = 1 }; /* spool.full.policy */

struct evp_conf_s {
  /* strings (NULL = unset) */
  char *endpoint, *token_url, *client_id, *client_secret, *audience, *schema_file;
  char *ssl_ca_location, *ssl_ca_path, *spool_dir;
  /* integers, booleans and enums */
  int64_t batch_max_events, batch_max_bytes, linger_ms;
  int64_t queue_max_events, queue_max_bytes, queue_block_timeout_ms;
  int64_t message_timeout_ms, retry_backoff_ms, retry_backoff_max_ms, retry_budget_tokens;
  int64_t request_timeout_ms, connect_timeout_ms, log_level, max_in_flight;
  int64_t compression, allow_insecure_http, fill_event_id, fill_event_time, dr_mode;
  int64_t callbacks_mode;
  int64_t spool_sync, spool_sync_interval_ms, spool_max_bytes, spool_max_age_ms, spool_full_policy;
  double retry_budget_ratio, retry_budget_min_per_sec, token_refresh_ratio;
  /* typed setters */
  evp_delivery_cb_t delivery_cb;
  void *delivery_opaque;
  evp_dr_cb_t dr_cb; /* the deprecated form, called through evp__delivery_to_dr_cb */
  evp_log_cb_t log_cb;
  evp_error_cb_t error_cb;
  void *opaque;
};

typedef enum {
  EVP__P_STR,
  EVP__P_SECRET,
  EVP__P_INT,
  EVP__P_DBL,
  EVP__P_BOOL,
  EVP__P_ENUM
} evp__ptype;

typedef struct {
  const char *name;
  evp__ptype type;
  size_t off;               /* offsetof(struct evp_conf_s, field) */
  double min, max;          /* range for INT and DBL */
  const char *def;          /* default as text (NULL: unset) */
  const char *const *enums; /* NULL-terminated words for ENUM; index = value */
  /* The description is not here: conf_doc.c takes it from conf_props.def. */
} evp__prop;

extern const evp__prop evp__conf_props[];
extern const size_t evp__conf_nprops;

const evp__prop *evp__conf_prop_find(const char *name);

/* The allowed words of enum property @p p, "a, b, c", into buf[n] (n >= 1;
 * cut when longer). The one list: error messages and docs both use it. */
void evp__conf_enum_words(const evp__prop *p, char *buf, size_t n);

/* For an unknown property name: "; did you mean a, b or c?" naming the
 * table's closest properties (conf_suggest.c), or "" when none is close.
 * Always NUL-terminates out[cap] (cap >= 1). */
void evp__conf_suggest(const char *unknown, char *out, size_t cap);

/* The delivery callback that evp_conf_set_dr_cb installs: calls the
 * deprecated 7-argument conf->dr_cb with conf->opaque. */
void evp__delivery_to_dr_cb(evp_client_t *client, const evp_delivery_t *report, void *opaque);

#endif
