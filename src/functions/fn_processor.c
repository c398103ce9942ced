/* The processor function: an SQS event whose messages are /events request
 * bodies (see the SQS message contract in functions.h). Each message is
 * re-validated with evp__events_handle (the schema may be stricter than the
 * API Gateway model); valid events become newline-delimited JSON records of
 * the delivery stream, invalid ones records of the dead-letter stream. Both
 * go out with PutRecordBatch in chunks of <= 500 records and <= 4 MiB;
 * only the records Firehose reports failed are resent, with full-jitter
 * backoff, while attempts and time remain. A message any of whose records
 * could not be written is returned in batchItemFailures. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cjson/cJSON.h>
#include "base/base.h"
#include "json/json.h"
#include "aws/aws.h"
#include "lake/lake_row.h"
#include "functions/fn_int.h"

#define BODY_DEPTH (EVP_SCHEMA_MAX_DEPTH_LIMIT + 2)
#define MIN_CALL_MS 100  /* no PutRecordBatch starts with less time than this */
#define DL_OVERHEAD 1024 /* room for a dead-letter record's other members */
#define DL_RECORD_MAX (2 * EVP__FH_MAX_RECORD_BYTES) /* bound of one being built */
#define ERR_MAX 300

void evp__fn_rfc3339_ms(int64_t ms, char out[32]) {
  /* Clamped to 1970..9999: the form always fits and the * 1000 never overflows. */
  int64_t max = INT64_C(253402300799999);
  char t[40];
  size_t n = evp__fn_rfc3339_us((ms < 0 ? 0 : ms > max ? max : ms) * 1000, t);
  memcpy(out, t, n < 31 ? n : 31);
  out[n < 31 ? n : 31] = '\0';
}

/* ------------------------------------------------------------ records */

typedef struct {
  char *data;
  size_t len;
  size_t msg;
  int done;
} rec_t;

typedef struct {
  rec_t *r;
  size_t n, cap;
} recs_t;

typedef struct {
  const char *id; /* messageId (borrowed from the event tree) */
  const char *request_id;
  size_t pending; /* records not delivered yet */
  int failed;     /* could not even be turned into records */
  size_t events, valid, invalid;
} msg_t;

/* A JSON string of raw bytes in at most @p budget output bytes (the json
 * layer's escaping of outside text: invalid UTF-8 becomes U+FFFD, cut at a
 * character boundary). Returns whether all of it fit. */
static int buf_jstr_bounded(evp__buf_t *b, const char *s, size_t n, size_t budget) {
  if (evp__buf_add(b, "\"", 1) != EVP_OK) return 0;
  if (evp__buf_reserve(b, budget + 2) != EVP_OK) {
    b->err = EVP_ERR_NOMEM;
    return 0;
  }
  int cut;
  b->len += evp__json_escape_text(s, n, (char *)b->p + b->len, budget + 1, &cut);
  evp__buf_add(b, "\"", 1);
  return !cut;
}

static evp_err_t recs_push(recs_t *rs, char *data, size_t len, size_t msg) {
  if (rs->n == rs->cap) {
    size_t nc = rs->cap ? rs->cap * 2 : 64;
    rec_t *p = realloc(rs->r, nc * sizeof *p);
    if (!p) return EVP_ERR_NOMEM;
    rs->r = p;
    rs->cap = nc;
  }
  rs->r[rs->n++] = (rec_t){data, len, msg, 0};
  return EVP_OK;
}

static void recs_free(recs_t *rs) {
  for (size_t i = 0; i < rs->n; i++) free(rs->r[i].data);
  free(rs->r);
  memset(rs, 0, sizeof *rs);
}

/* ------------------------------------------------------------ one message */

typedef struct {
  evp__fn_t *fn;
  const evp__fn_call_t *call;
  recs_t *good, *dead;
  msg_t *msgs;
  size_t mi;
  const char *client_id; /* NULL when the attribute is missing or invalid */
  char received_at[32];
  int64_t received_at_ms;
} mctx_t;

/* The common head of a dead-letter record. */
static void dl_head(evp__buf_t *b, const mctx_t *m, const char *error, const char *reason) {
  evp__buf_adds(b, "{\"error\":");
  evp__buf_json_str(b, error, strlen(error));
  evp__buf_adds(b, ",\"reason\":");
  evp__buf_json_str(b, reason, strlen(reason));
  evp__buf_adds(b, ",\"client_id\":");
  if (m->client_id)
    evp__buf_json_str(b, m->client_id, strlen(m->client_id));
  else
    evp__buf_adds(b, "null");
  evp__buf_adds(b, ",\"received_at\":\"");
  evp__buf_adds(b, m->received_at);
  evp__buf_adds(b, "\",\"message_id\":");
  evp__buf_json_str(b, m->msgs[m->mi].id, strlen(m->msgs[m->mi].id));
}

static evp_err_t push_dead(mctx_t *m, evp__buf_t *b) {
  evp__buf_add(b, "\n", 1);
  if (b->err != EVP_OK) {
    evp__buf_free(b);
    return EVP_ERR_NOMEM;
  }
  size_t len = b->len;
  char *rec = evp__buf_take(b, &len);
  evp_err_t e = recs_push(m->dead, rec, len, m->mi); /* takes rec */
  if (e != EVP_OK)
    free(rec);
  else
    m->msgs[m->mi].pending++;
  return e;
}

/* A whole message to the dead-letter stream (raw body as a string). */
static evp_err_t dead_message(mctx_t *m, const char *body, size_t len, const char *error,
                              const char *reason) {
  evp__buf_t b = {.max = DL_RECORD_MAX, .secret = 1};
  dl_head(&b, m, error, reason);
  evp__buf_adds(&b, ",\"raw\":");
  size_t budget = EVP__FH_MAX_RECORD_BYTES - DL_OVERHEAD - b.len;
  int all = buf_jstr_bounded(&b, body, len, budget);
  if (!all) {
    char t[64];
    snprintf(t, sizeof t, ",\"raw_truncated\":true,\"raw_bytes\":%zu", len);
    evp__buf_adds(&b, t);
  }
  evp__buf_adds(&b, "}");
  return push_dead(m, &b);
}

/* One invalid event to the dead-letter stream. */
static evp_err_t dead_event(mctx_t *m, size_t index, const char *ev, size_t len, const char *error,
                            const char *reason) {
  evp__buf_t b = {.max = DL_RECORD_MAX, .secret = 1};
  char t[64];
  dl_head(&b, m, error, reason);
  snprintf(t, sizeof t, ",\"index\":%zu", index);
  evp__buf_adds(&b, t);
  if (len + b.len + DL_OVERHEAD <= EVP__FH_MAX_RECORD_BYTES && ev[0] == '{') {
    evp__buf_adds(&b, ",\"event\":"); /* a JSON object the body scan accepted */
    evp__buf_add(&b, ev, len);
  } else {
    evp__buf_adds(&b, ",\"raw\":");
    size_t budget = EVP__FH_MAX_RECORD_BYTES - DL_OVERHEAD - b.len;
    if (!buf_jstr_bounded(&b, ev, len, budget)) {
      snprintf(t, sizeof t, ",\"raw_truncated\":true,\"raw_bytes\":%zu", len);
      evp__buf_adds(&b, t);
    }
  }
  evp__buf_adds(&b, "}");
  m->msgs[m->mi].invalid++;
  return push_dead(m, &b);
}

/* Whether the event already has a member the pipeline adds. */
static int has_reserved(const char *ev, size_t len) {
  evp__jmember_t mm[256];
  size_t cnt;
  evp_err_t e = evp__json_scan_object(ev, len, BODY_DEPTH, mm, 256, &cnt);
  if (e == EVP_OK) {
    for (size_t i = 0; i < cnt; i++)
      if (evp__json_key_eq(&mm[i], "received_at", 11) || evp__json_key_eq(&mm[i], "client_id", 9))
        return 1;
    return 0;
  }
  cJSON *o = cJSON_ParseWithLength(ev, len); /* more members than the scan records */
  if (!o) return 1;
  int r = cJSON_GetObjectItemCaseSensitive(o, "received_at") ||
          cJSON_GetObjectItemCaseSensitive(o, "client_id");
  cJSON_Delete(o);
  return r;
}

/* The body's sent_at reaches the row builder as the door read it. */
_Static_assert(EVP__EVENTS_NO_SENT_AT == EVP__ROW_NO_SENT_AT, "one value means no sent_at");

/* One valid event of a request that carried @p sent_at_us to the delivery
 * stream. */
static evp_err_t good_event(mctx_t *m, size_t index, const char *ev, size_t len,
                            int64_t sent_at_us) {
  if (has_reserved(ev, len))
    return dead_event(m, index, ev, len, "received_at and client_id are set by the pipeline",
                      "reserved");
  /* The record is the event's row of the Glue table (fn_record.c): what
   * Firehose's JSON-to-Parquet conversion can read. */
  char *r;
  size_t rlen;
  char why[256];
  evp_err_t e = evp__fn_rec_render(m->fn->rec, ev, len, m->received_at_ms * 1000, sent_at_us,
                                   m->client_id, &r, &rlen, why, sizeof why);
  if (e == EVP_ERR_NOMEM) return e;
  if (e != EVP_OK) return dead_event(m, index, ev, len, why, "no_row");
  if (rlen > EVP__FH_MAX_RECORD_BYTES) {
    free(r);
    return dead_event(m, index, ev, len, "event larger than a Firehose record (1000 KiB)",
                      "too_large");
  }
  e = recs_push(m->good, r, rlen, m->mi);
  if (e != EVP_OK)
    free(r);
  else {
    m->msgs[m->mi].pending++;
    m->msgs[m->mi].valid++;
  }
  return e;
}

typedef struct {
  const char **spans;
  size_t *lens;
} spans_t;

static int collect(void *opaque, size_t i, const char *v, size_t vlen) {
  spans_t *s = opaque;
  s->spans[i] = v;
  s->lens[i] = vlen;
  return 0;
}

/* The events array of a body evp__events_handle accepted. */
static evp_err_t event_spans(const char *body, size_t len, size_t n, spans_t *s) {
  evp__jmember_t mm[16];
  size_t cnt;
  s->spans = NULL;
  s->lens = NULL;
  if (evp__json_scan_object(body, len, BODY_DEPTH, mm, 16, &cnt) != EVP_OK) return EVP_ERR_INTERNAL;
  const evp__jmember_t *ev = NULL;
  for (size_t i = 0; i < cnt; i++)
    if (evp__json_key_eq(&mm[i], "events", 6)) ev = &mm[i];
  if (!ev) return EVP_ERR_INTERNAL;
  s->spans = calloc(n ? n : 1, sizeof *s->spans);
  s->lens = calloc(n ? n : 1, sizeof *s->lens);
  if (!s->spans || !s->lens) return EVP_ERR_NOMEM;
  if (evp__json_array_each(ev->val, ev->vallen, collect, s) != n) return EVP_ERR_INTERNAL;
  return EVP_OK;
}

/* The error_description of one of our JSON error bodies. */
static void error_desc(const evp__http_resp_t *r, char *out, size_t cap) {
  snprintf(out, cap, "%s", r->reason ? r->reason : "invalid body");
  cJSON *o = r->body ? cJSON_ParseWithLength(r->body, r->body_len) : NULL;
  const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "error_description");
  if (cJSON_IsString(d)) snprintf(out, cap, "%s", d->valuestring);
  cJSON_Delete(o);
}

static evp_err_t do_message(mctx_t *m, const char *body, size_t len) {
  evp__fn_t *fn = m->fn;
  if (!m->client_id)
    return dead_message(m, body, len, "the message has no valid client_id attribute",
                        "missing_client_id");
  evp__http_req_t req = {"POST", "/events", NULL, 0, body, len, NULL};
  /* With the records' table, an event no row can hold is refused here with
   * its reason (not_representable, duplicate_member, ...), as at
   * evpipe local's door, instead of later as no_row. */
  evp__events_cfg_t cfg = {fn->schema, fn->cfg.max_events, fn->cfg.max_body,
                           evp__fn_rec_table(fn->rec)};
  evp__events_result_t res;
  evp__http_resp_t resp;
  evp__http_resp_init(&resp);
  evp_err_t e = evp__events_handle(&cfg, fn->ctx, &req, &res, &resp);
  if (e != EVP_OK) {
    evp__http_resp_free(&resp);
    return e;
  }
  if (resp.status != 200) {
    char desc[ERR_MAX];
    error_desc(&resp, desc, sizeof desc);
    e = dead_message(m, body, len, desc, resp.reason ? resp.reason : "invalid_request");
    evp__http_resp_free(&resp);
    return e;
  }
  evp__http_resp_free(&resp);
  m->msgs[m->mi].events = res.n_events;
  spans_t sp = {NULL, NULL};
  if (res.n_rejected && (e = event_spans(body, len, res.n_events, &sp)) != EVP_OK) goto out;
  /* In request order: accepted texts are in order, rejections by index. */
  size_t a = 0, j = 0;
  for (size_t i = 0; i < res.n_events && e == EVP_OK; i++) {
    if (j < res.n_rejected && res.rejected[j].index == i) {
      e = dead_event(m, i, sp.spans[i], sp.lens[i], res.rejected[j].error,
                     res.rejected[j].reason ? res.rejected[j].reason : "schema");
      j++;
    } else if (a < res.n_accepted) {
      e = good_event(m, i, res.accepted[a], res.accepted_lens[a], res.sent_at_us);
      a++;
    }
  }
out:
  free(sp.spans);
  free(sp.lens);
  evp__events_result_free(&res);
  return e;
}

/* ------------------------------------------------------------ delivery */

static int fatal_error(const char *t) {
  return strcmp(t, "ResourceNotFoundException") == 0 || strcmp(t, "AccessDeniedException") == 0 ||
         strcmp(t, "InvalidArgumentException") == 0 || strcmp(t, "ValidationException") == 0 ||
         strcmp(t, "UnrecognizedClientException") == 0 ||
         strcmp(t, "InvalidSignatureException") == 0;
}

typedef struct {
  unsigned calls, rounds;
  size_t resent;
  int timed_out, fatal;
} dstats_t;

/* Write every record of @p rs not done yet to @p stream. */
static void deliver(evp__fn_t *fn, const evp__fn_call_t *call, const char *stream, recs_t *rs,
                    msg_t *msgs, dstats_t *st) {
  size_t left = 0;
  for (size_t i = 0; i < rs->n; i++) left += !rs->r[i].done;
  if (!left) return;
  char err[256], f[512];
  size_t fl;
  evp__aws_client_t *fh;
  if (evp__fn_fh(fn, &fh, err, sizeof err) != EVP_OK) {
    fl = 0;
    evp__fn_field_str(f, sizeof f, &fl, "error", err);
    evp__fn_log(call, EVP_LOG_ERR, "cannot create the Firehose client",
                evp__fn_field_end(f, sizeof f, &fl));
    st->fatal = 1;
    return;
  }
  const char *ptrs[EVP__FH_MAX_RECORDS];
  size_t lens[EVP__FH_MAX_RECORDS], idx[EVP__FH_MAX_RECORDS];
  unsigned char failed[EVP__FH_MAX_RECORDS];
  for (unsigned attempt = 0; left && attempt < fn->cfg.fh_max_attempts && !st->fatal; attempt++) {
    if (attempt > 0) {
      int64_t cap = fn->cfg.fh_backoff_ms;
      for (unsigned k = 1; k < attempt && cap < fn->cfg.fh_backoff_max_ms; k++) cap *= 2;
      if (cap > fn->cfg.fh_backoff_max_ms) cap = fn->cfg.fh_backoff_max_ms;
      int64_t wait = (int64_t)evp__fn_rand(fn, (uint64_t)cap + 1);
      if (evp__fn_remaining_ms(call) - fn->cfg.deadline_margin_ms < wait + MIN_CALL_MS) {
        st->timed_out = 1;
        break;
      }
      evp__fn_sleep_ms(fn, wait);
      st->resent += left;
    }
    st->rounds++;
    size_t i = 0;
    while (i < rs->n) {
      size_t k = 0, bytes = 0;
      for (; i < rs->n && k < EVP__FH_MAX_RECORDS; i++) {
        if (rs->r[i].done) continue;
        if (bytes + rs->r[i].len > EVP__FH_MAX_BATCH_BYTES) break;
        bytes += rs->r[i].len;
        ptrs[k] = rs->r[i].data;
        lens[k] = rs->r[i].len;
        idx[k++] = i;
      }
      if (k == 0) break;
      int64_t rem = evp__fn_remaining_ms(call);
      if (rem != INT64_MAX) rem -= fn->cfg.deadline_margin_ms;
      if (rem < MIN_CALL_MS) {
        st->timed_out = 1;
        goto done;
      }
      evp__aws_client_set_timeout(fh, rem < EVP__AWS_DEFAULT_TIMEOUT_MS ? rem : 0);
      size_t nf = 0;
      evp__aws_result_t res;
      memset(&res, 0, sizeof res);
      memset(failed, 1, k);
      evp_err_t e = evp__fh_put_record_batch(fh, stream, ptrs, lens, k, failed, &nf, &res);
      st->calls++;
      for (size_t j = 0; j < k; j++)
        if (e == EVP_OK && !failed[j]) {
          rs->r[idx[j]].done = 1;
          msgs[rs->r[idx[j]].msg].pending--;
          left--;
        }
      if (e != EVP_OK || nf) {
        fl = 0;
        evp__fn_field_str(f, sizeof f, &fl, "stream", stream);
        evp__fn_field_num(f, sizeof f, &fl, "records", (long long)k);
        evp__fn_field_num(f, sizeof f, &fl, "failed", (long long)(e == EVP_OK ? nf : k));
        evp__fn_field_str(f, sizeof f, &fl, "error", evp_err2name(e));
        if (res.err_type[0]) evp__fn_field_str(f, sizeof f, &fl, "aws_error", res.err_type);
        evp__fn_log(call, EVP_LOG_WARNING, "PutRecordBatch incomplete",
                    evp__fn_field_end(f, sizeof f, &fl));
        if (e != EVP_OK && fatal_error(res.err_type)) {
          st->fatal = 1;
          goto done;
        }
      }
    }
  }
done:
  evp__aws_client_set_timeout(fh, 0);
}

/* ------------------------------------------------------------ the handler */

static const char *attr_str(const cJSON *rec, const char *name) {
  const cJSON *a = cJSON_GetObjectItemCaseSensitive(
      cJSON_GetObjectItemCaseSensitive(rec, "messageAttributes"), name);
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(a, "stringValue");
  return cJSON_IsString(s) ? s->valuestring : NULL;
}

static int id_ok(const char *s) {
  size_t n = s ? strlen(s) : 0;
  if (n == 0 || n > EVP__CLIENT_ID_MAX) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '~' || c == '-'))
      return 0;
  }
  return 1;
}

/* Epoch ms from a decimal string, or -1. */
static int64_t parse_ms(const char *s) {
  if (!s || !*s || strlen(s) > 15) return -1;
  int64_t v = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9') return -1;
    v = v * 10 + (*p - '0');
  }
  return v > 0 && v < 253402300800000LL ? v : -1;
}

evp_err_t evp__fn_processor(evp__fn_t *fn, const evp__fn_call_t *call, const char *event,
                            size_t len, char **out, size_t *out_len, char *errtype,
                            size_t errtype_size, char *errmsg, size_t errmsg_size) {
  cJSON *root = cJSON_ParseWithLength(event, len);
  const cJSON *records = cJSON_GetObjectItemCaseSensitive(root, "Records");
  if (!cJSON_IsArray(records)) {
    cJSON_Delete(root);
    return evp__fn_fail(EVP_ERR_INVALID_ARG, "InvalidEvent", "not an SQS event (no Records)",
                        errtype, errtype_size, errmsg, errmsg_size);
  }
  size_t nm = (size_t)cJSON_GetArraySize(records);
  const cJSON *rec;
  cJSON_ArrayForEach(rec, records) {
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(rec, "messageId");
    if (!cJSON_IsString(id) || !id->valuestring[0] || strlen(id->valuestring) > 256) {
      /* Without an id a failure cannot be reported item by item: fail the
       * batch, SQS delivers it again (and to its DLQ in the end). */
      cJSON_Delete(root);
      return evp__fn_fail(EVP_ERR_INVALID_ARG, "InvalidEvent", "an SQS record has no messageId",
                          errtype, errtype_size, errmsg, errmsg_size);
    }
  }
  recs_t good = {0}, dead = {0};
  msg_t *msgs = calloc(nm ? nm : 1, sizeof *msgs);
  evp_err_t e = msgs ? EVP_OK : EVP_ERR_NOMEM;
  size_t mi = 0;
  int64_t now = evp__wall_ms();
  cJSON_ArrayForEach(rec, records) {
    if (e != EVP_OK) break;
    msg_t *m = &msgs[mi];
    m->id = cJSON_GetObjectItemCaseSensitive(rec, "messageId")->valuestring;
    m->request_id = attr_str(rec, "request_id");
    mctx_t mc = {fn, call, &good, &dead, msgs, mi, NULL, "", 0};
    const char *cid = attr_str(rec, "client_id");
    mc.client_id = id_ok(cid) ? cid : NULL;
    int64_t ms = parse_ms(attr_str(rec, "received_at"));
    if (ms < 0) {
      const cJSON *sent = cJSON_GetObjectItemCaseSensitive(
          cJSON_GetObjectItemCaseSensitive(rec, "attributes"), "SentTimestamp");
      ms = cJSON_IsString(sent) ? parse_ms(sent->valuestring) : -1;
    }
    mc.received_at_ms = ms < 0 ? now : ms;
    evp__fn_rfc3339_ms(mc.received_at_ms, mc.received_at);
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(rec, "body");
    const char *b = cJSON_IsString(body) ? body->valuestring : "";
    /* A message that could not be turned into records (out of memory)
     * is reported failed: SQS brings it back. */
    if (do_message(&mc, b, strlen(b)) != EVP_OK) m->failed = 1;
    mi++;
  }
  dstats_t gs = {0}, ds = {0};
  if (e == EVP_OK) {
    deliver(fn, call, fn->cfg.delivery_stream, &good, msgs, &gs);
    deliver(fn, call, fn->cfg.deadletter_stream, &dead, msgs, &ds);
  }
  evp__buf_t o = {.max = EVP_LAMBDA_MAX_RESPONSE, .secret = 1};
  size_t nfail = 0, nev = 0, nvalid = 0, ninvalid = 0;
  if (e == EVP_OK) {
    evp__buf_adds(&o, "{\"batchItemFailures\":[");
    for (size_t i = 0; i < nm; i++) {
      nev += msgs[i].events;
      nvalid += msgs[i].valid;
      ninvalid += msgs[i].invalid;
      if (!msgs[i].failed && msgs[i].pending == 0) continue;
      evp__buf_adds(&o, nfail ? ",{\"itemIdentifier\":" : "{\"itemIdentifier\":");
      evp__buf_json_str(&o, msgs[i].id, strlen(msgs[i].id));
      evp__buf_adds(&o, "}");
      nfail++;
    }
    evp__buf_adds(&o, "]}");
    if (o.err != EVP_OK) e = EVP_ERR_NOMEM;
  }
  char f[512];
  size_t fl = 0;
  evp__fn_field_num(f, sizeof f, &fl, "messages", (long long)nm);
  evp__fn_field_num(f, sizeof f, &fl, "events", (long long)nev);
  evp__fn_field_num(f, sizeof f, &fl, "valid", (long long)nvalid);
  evp__fn_field_num(f, sizeof f, &fl, "invalid", (long long)ninvalid);
  evp__fn_field_num(f, sizeof f, &fl, "records", (long long)good.n);
  evp__fn_field_num(f, sizeof f, &fl, "deadletter_records", (long long)dead.n);
  evp__fn_field_num(f, sizeof f, &fl, "failed_messages", (long long)nfail);
  evp__fn_field_num(f, sizeof f, &fl, "put_calls", (long long)(gs.calls + ds.calls));
  evp__fn_field_num(f, sizeof f, &fl, "resent", (long long)(gs.resent + ds.resent));
  if (gs.timed_out || ds.timed_out) evp__fn_field_num(f, sizeof f, &fl, "deadline_reached", 1);
  evp__fn_log(call, nfail ? EVP_LOG_WARNING : EVP_LOG_INFO, "batch",
              evp__fn_field_end(f, sizeof f, &fl));
  recs_free(&good);
  recs_free(&dead);
  free(msgs);
  cJSON_Delete(root);
  if (e != EVP_OK) {
    evp__buf_free(&o);
    return evp__fn_fail(e, "OutOfMemory", "out of memory", errtype, errtype_size, errmsg,
                        errmsg_size);
  }
  *out = evp__buf_take(&o, out_len);
  return EVP_OK;
}
