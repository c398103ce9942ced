/* libFuzzer target for the HTTP body paths of the server: what an anonymous
 * or authenticated client can send in a request body.
 *
 * Input byte 0 picks the path (mod 4), the rest is the body:
 *   0: POST /token, application/x-www-form-urlencoded (form parser, client
 *      check, token signing);
 *   1: POST /token, the first line is an "Authorization: Basic" value and
 *      the rest the form body (Basic decoding, and both methods at once);
 *   2: POST /events, the JSON envelope {"events":[...]} validated against
 *      the default event schema (examples/schemas/);
 *   3: the same after gzip Content-Encoding: inflated with the server's
 *      bound, then handled as 2 when it inflates.
 * Oracles besides the sanitizers: every answer is a known status with a
 * body that is valid JSON (cJSON), a 200 from /events accounts for every
 * event (accepted + rejected = events, accepted texts inside the body), and
 * every accepted event becomes a row of the lake's table (the server checks
 * with the same table, as evpipe local does: accepted means stored). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "evpipe/evpipe.h"
#include "table/table.h"
#include "lake/lake_row.h"
#include "lake/lake.h"
#include "server/server.h"

#define SCHEMA_PATH "examples/schemas/glue-data-catalog-json-schema.json"
#define MAX_BODY (64u * 1024u)

static const unsigned char KEY[32] = "fuzz-key-fuzz-key-fuzz-key-fuzz!";
static const char CLIENTS[] = "[{\"client_id\":\"app-1\",\"client_secret\":\"secret-"
                              "0123456789abcdef\",\"audiences\":[\"events\",\"admin\"]},"
                              " {\"client_id\":\"b\",\"client_secret\":\"another-secret-"
                              "0123456789\",\"audiences\":[\"events\"]}]";
/* Used when the fuzzer does not run from the project root. */
static const char FALLBACK_SCHEMA[] =
    "{\"type\":\"object\",\"required\":[\"event_id\",\"event_type\"],\"properties\":{"
    "\"event_id\":{\"type\":\"string\",\"format\":\"uuid\"},\"event_type\":{\"type\":\"string\","
    "\"maxLength\":64},"
    "\"n\":{\"type\":\"integer\",\"minimum\":0},\"tags\":{\"type\":\"array\",\"items\":{\"type\":"
    "\"string\"}}}}";

static evp_keyring_t *kr;
static evp_jwt_signer_t *signer;
static evp__clients_t *clients;
static evp_schema_t *schema;
static evp_schema_ctx_t *ctx;
static evp__table_t *table;
static evp__row_builder_t *rowb;

static int64_t fixed_clock(void *o) {
  (void)o;
  return 1700000000;
}

static char *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *b = malloc(1 << 20);
  *len = b ? fread(b, 1, (1 << 20) - 1, f) : 0;
  fclose(f);
  return b;
}

static void init(void) {
  char err[256];
  evp_err_t e;
  kr = evp_keyring_new();
  if (!kr || evp_keyring_add(kr, "v1", KEY, sizeof KEY, err, sizeof err) != EVP_OK ||
      !(signer = evp_jwt_signer_new(kr, err, sizeof err)) ||
      evp__clients_parse(CLIENTS, strlen(CLIENTS), &clients, err, sizeof err) != EVP_OK)
    abort();
  evp_jwt_signer_set_clock(signer, fixed_clock, NULL);
  evp_jwt_signer_set_issuer(signer, "evpipe-local");
  size_t len;
  char *text = read_all(SCHEMA_PATH, &len);
  const char *st = text ? text : FALLBACK_SCHEMA;
  size_t sl = text ? len : strlen(FALLBACK_SCHEMA);
  schema = evp_schema_compile(st, sl, NULL, &e, err, sizeof err);
  if (!schema || !(ctx = evp_schema_ctx_new()) ||
      evp__table_parse(st, sl, &table, err, sizeof err) != EVP_OK ||
      evp__row_builder_new(table, &rowb, err, sizeof err) != EVP_OK)
    abort();
  free(text);
}

static void check_answer(const evp__http_resp_t *r) {
  static const int known[] = {200, 400, 401, 405, 413};
  int ok = 0;
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) ok |= r->status == known[i];
  if (!ok || !r->body) abort();
  cJSON *j = cJSON_ParseWithLength(r->body, r->body_len);
  if (!j) abort(); /* every answer body is JSON */
  cJSON_Delete(j);
}

static void token(const char *basic, const char *body, size_t len) {
  evp__http_hdr_t hs[2] = {{"content-type", "application/x-www-form-urlencoded"},
                           {"authorization", basic}};
  evp__http_req_t q = {"POST", "/token", hs, basic ? 2 : 1, body, len, NULL};
  evp__http_resp_t r;
  evp__http_resp_init(&r);
  evp__issuer_t iss = {clients, signer, 1200};
  char *cid = NULL;
  if (evp__issuer_handle(&iss, &q, &r, &cid) == EVP_OK) {
    check_answer(&r);
    if ((r.status == 200) != (cid != NULL))
      abort(); /* a client id exactly when a token was issued */
  }
  free(cid);
  evp__http_resp_free(&r);
}

static void events(const char *body, size_t len) {
  evp__http_hdr_t hs[1] = {{"content-type", "application/json"}};
  evp__http_req_t q = {"POST", "/events", hs, 1, body, len, NULL};
  evp__http_resp_t r;
  evp__http_resp_init(&r);
  evp__events_cfg_t cfg = {schema, 50, MAX_BODY, table};
  evp__events_result_t res;
  memset(&res, 0, sizeof res);
  if (evp__events_handle(&cfg, ctx, &q, &res, &r) == EVP_OK) {
    check_answer(&r);
    if (r.status == 200) {
      if (res.n_accepted + res.n_rejected != res.n_events || res.n_events > cfg.max_events) abort();
      for (size_t i = 0; i < res.n_accepted; i++)
        if (res.accepted[i] < body || res.accepted[i] + res.accepted_lens[i] > body + len)
          abort(); /* accepted texts are spans of the body */
      for (size_t i = 0; i < res.n_accepted; i++) {
        const evp__pq_value_t *row;
        const char *id;
        size_t idlen;
        char err[256];
        if (evp__row_builder_build(rowb, res.accepted[i], res.accepted_lens[i], 1700000000000000,
                                   "app-1", 5, &row, &id, &idlen, err, sizeof err) != EVP_OK)
          abort(); /* accepted but the lake cannot hold it */
      }
    } else if (res.n_events || res.n_accepted || res.n_rejected) {
      abort(); /* nothing to persist from a refused request */
    }
    evp__events_result_free(&res);
  }
  evp__http_resp_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!kr) init();
  if (size < 1) return 0;
  unsigned mode = data[0] & 3;
  /* A private copy: the handlers may rely on nothing past len. */
  size_t len = size - 1;
  char *body = malloc(len ? len : 1);
  if (!body) return 0;
  memcpy(body, data + 1, len);
  if (mode == 0) {
    token(NULL, body, len);
  } else if (mode == 1) {
    char *nl = memchr(body, '\n', len);
    size_t hl = nl ? (size_t)(nl - body) : len;
    char *basic = malloc(hl + 1);
    if (basic) {
      memcpy(basic, body, hl);
      basic[hl] = '\0';
      token(basic, nl ? nl + 1 : body + len, nl ? len - hl - 1 : 0);
      free(basic);
    }
  } else if (mode == 2) {
    events(body, len);
  } else {
    char *plain = NULL;
    size_t plen = 0;
    evp_err_t e = evp__gunzip(body, len, MAX_BODY, &plain, &plen);
    if (e == EVP_OK) {
      if (plen > MAX_BODY) abort();
      events(plain, plen);
      free(plain);
    } else if (plain) {
      abort(); /* nothing left allocated on failure */
    }
  }
  free(body);
  return 0;
}
