/* Private to src/functions: the function object, the secret caches and the
 * helpers the four handlers share. Calls go one way: fn_main.c (life cycle,
 * dispatch) -> the handlers (fn_issuer.c, fn_authorizer.c, fn_processor.c,
 * fn_rotation.c) -> fn_secrets.c, fn_apigw.c, fn_record.c -> fn_env.c,
 * fn_log.c, fn_config.c. */
#ifndef EVP_FUNCTIONS_FN_INT_H
#define EVP_FUNCTIONS_FN_INT_H

#include <stddef.h>
#include <stdint.h>
#include "aws/aws.h"
#include "table/table.h"
#include "evpipe/schema.h"
#include "functions/functions.h"

struct cJSON;

/* Signing keys as fetched from Secrets Manager. */
typedef struct {
  evp_keyring_t *kr;
  evp_jwt_signer_t *signer;            /* AWSCURRENT */
  evp_jwt_verifier_t *verifier;        /* issuer and audience checked */
  evp_jwt_verifier_t *verifier_anyaud; /* same, any audience: names the client of a Deny */
  char current_kid[72];
  size_t n_keys;
} evp__fn_keys_t;

void evp__fn_keys_free(evp__fn_keys_t *k);

/* Build a key set from (kid, key) pairs; the first is current. */
evp_err_t evp__fn_keys_build(const evp__fn_config_t *cfg, const char *const *kids,
                             const unsigned char *const *keys, const size_t *lens, size_t n,
                             evp__fn_keys_t **out, char *errstr, size_t errstr_size);

/* Decode a signing-key secret value (base64url, >= 32 bytes; whitespace
 * around and '=' padding tolerated) into @p key (>= len bytes).
 * EVP_ERR_BASE64 / EVP_ERR_KEY_TOO_SHORT / EVP_ERR_TOO_LARGE. */
#define EVP__FN_KEY_MAX 1024
evp_err_t evp__fn_key_decode(const unsigned char *val, size_t len, unsigned char *key,
                             size_t *keylen);

/* Microseconds since the epoch as RFC 3339 UTC: milliseconds when that is
 * all there is ("2024-05-01T12:00:00.123Z"), else microseconds. Returns the
 * length written. */
size_t evp__fn_rfc3339_us(int64_t us, char out[40]);

/* Firehose records as rows of the Glue table (fn_record.c). */
typedef struct evp__fn_rec evp__fn_rec_t;
evp_err_t evp__fn_rec_new(const char *schema, size_t len, evp__fn_rec_t **out, char *errstr,
                          size_t errstr_size);
void evp__fn_rec_free(evp__fn_rec_t *r);
/* The table the records are rows of: POST /events' acceptance checks the
 * same value rules with it (evp__events_cfg_t.table). */
const evp__table_t *evp__fn_rec_table(const evp__fn_rec_t *r);
/* The record (malloc'd, ends with "\n") of valid event @p ev of a request
 * that carried @p sent_at_us (EVP__ROW_NO_SENT_AT: none; the clock-skew
 * columns, lake/lake_row.h); an event that fits no row of the table gives
 * EVP_ERR_INVALID_EVENT with @p why. */
evp_err_t evp__fn_rec_render(evp__fn_rec_t *r, const char *ev, size_t len, int64_t received_at_us,
                             int64_t sent_at_us, const char *client_id, char **out, size_t *out_len,
                             char *why, size_t why_size);

struct evp__fn {
  evp__fn_config_t cfg;
  evp__aws_env_t *aws_env;
  evp__aws_client_t *sm, *fh; /* created on first use */
  /* signing keys (issuer: AWSCURRENT; authorizer: + AWSPREVIOUS) */
  evp__fn_keys_t *keys;
  uint64_t keys_gen; /* bumped when the keys are replaced */
  int64_t keys_fetched_s, keys_attempt_s, keys_early_s;
  int keys_attempted, keys_early_done;
  /* client store (issuer) */
  evp__clients_t *clients_cur, *clients_prev;
  int64_t clients_fetched_s, clients_attempt_s;
  int clients_attempted;
  /* processor */
  char *schema_text;
  evp_schema_t *schema;
  evp_schema_ctx_t *ctx;
  evp__fn_rec_t *rec;
  uint64_t rng;
};

/* ---- the function object's services (fn_env.c) ---- */

/* Seconds on the configured clock. */
int64_t evp__fn_now_s(const evp__fn_t *fn);
/* Milliseconds left before the invocation's deadline, a wall-clock time
 * (evp__wall_ms); INT64_MAX: none. */
int64_t evp__fn_remaining_ms(const evp__fn_call_t *call);
/* A uniform random number in [0, n). */
uint64_t evp__fn_rand(evp__fn_t *fn, uint64_t n);
void evp__fn_sleep_ms(evp__fn_t *fn, int64_t ms);

/* The Secrets Manager / Firehose clients, created on first use. */
evp_err_t evp__fn_sm(evp__fn_t *fn, evp__aws_client_t **out, char *errstr, size_t errstr_size);
evp_err_t evp__fn_fh(evp__fn_t *fn, evp__aws_client_t **out, char *errstr, size_t errstr_size);

/* Wipe every string of a cJSON tree (it may hold secrets), then delete it. */
void evp__fn_cjson_wipe_delete(struct cJSON *root);

/* ---- the secret caches (fn_secrets.c) ---- */

/* The cached signing keys: fetched when absent or older than the cache TTL
 * (with @p early, also when the last fetch is older than the early-refresh
 * interval). When a refresh fails, the previous keys stay in use. EVP_OK
 * with *out set, or an error when no keys could ever be fetched. */
evp_err_t evp__fn_keys_get(evp__fn_t *fn, const evp__fn_call_t *call, int early,
                           const evp__fn_keys_t **out);
/* The cached client stores (AWSCURRENT, and AWSPREVIOUS or NULL). */
evp_err_t evp__fn_clients_get(evp__fn_t *fn, const evp__fn_call_t *call, const evp__clients_t **cur,
                              const evp__clients_t **prev);

/* ---- log lines and error answers (fn_log.c) ---- */

/* A log line: @p fields is a JSON object text or NULL. Never pass secrets,
 * tokens or payloads. */
void evp__fn_log(const evp__fn_call_t *call, evp_log_level_t lvl, const char *msg,
                 const char *fields);
/* Append "name":"value" (escaped, cut at 200 bytes) to a fields buffer that
 * starts with '{' (call with *n == 0 to start); evp__fn_field_end closes it. */
void evp__fn_field_str(char *buf, size_t cap, size_t *n, const char *name, const char *value);
void evp__fn_field_num(char *buf, size_t cap, size_t *n, const char *name, long long v);
const char *evp__fn_field_end(char *buf, size_t cap, size_t *n);

/* Copy @p msg / @p type into a handler's error buffers; returns @p e. */
evp_err_t evp__fn_fail(evp_err_t e, const char *type, const char *msg, char *errtype,
                       size_t errtype_size, char *errmsg, size_t errmsg_size);

/* The four handlers (evp__fn_handle in fn_main.c dispatches). */
evp_err_t evp__fn_issuer(evp__fn_t *fn, const evp__fn_call_t *call, const char *event, size_t len,
                         char **out, size_t *out_len, char *errtype, size_t errtype_size,
                         char *errmsg, size_t errmsg_size);
evp_err_t evp__fn_authorizer(evp__fn_t *fn, const evp__fn_call_t *call, const char *event,
                             size_t len, char **out, size_t *out_len, char *errtype,
                             size_t errtype_size, char *errmsg, size_t errmsg_size);
evp_err_t evp__fn_processor(evp__fn_t *fn, const evp__fn_call_t *call, const char *event,
                            size_t len, char **out, size_t *out_len, char *errtype,
                            size_t errtype_size, char *errmsg, size_t errmsg_size);
evp_err_t evp__fn_rotation(evp__fn_t *fn, const evp__fn_call_t *call, const char *event, size_t len,
                           char **out, size_t *out_len, char *errtype, size_t errtype_size,
                           char *errmsg, size_t errmsg_size);

#endif /* EVP_FUNCTIONS_FN_INT_H */
