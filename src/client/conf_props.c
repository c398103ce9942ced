/* The one property table: name, type, range, default and description of every
 * configuration property. evp_conf_set/get and docs/CONFIGURATION.md are both
 * derived from it, so they cannot drift apart. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include "client/conf_int.h"

#define OFF(f) offsetof(struct evp_conf_s, f)
#define I64MAX 9007199254740992.0 /* 2^53: exact in a double */

static const char *const comp_words[] = {"none", "gzip", NULL};
static const char *const dr_words[] = {"all", "errors", NULL};
static const char *const cb_words[] = {"thread", "poll", NULL};
static const char *const sync_words[] = {"always", "interval", "never", NULL};
static const char *const full_words[] = {"refuse", "drop_oldest", NULL};

const evp__prop evp__conf_props[] = {
    {"endpoint", EVP__P_STR, OFF(endpoint), 0, 0, NULL, NULL,
     "Base URL of the ingestion service (required), e.g. `https://ingest.example.com`. "
     "Events go to `<endpoint>/events`. Plain `http://` is accepted only for loopback "
     "hosts unless `allow.insecure.http` is true."},
    {"token.url", EVP__P_STR, OFF(token_url), 0, 0, NULL, NULL,
     "OAuth 2.0 token endpoint. Unset: `<endpoint>/token`."},
    {"client.id", EVP__P_STR, OFF(client_id), 0, 0, NULL, NULL,
     "OAuth 2.0 client id for the client-credentials grant (required)."},
    {"client.secret", EVP__P_SECRET, OFF(client_secret), 0, 0, NULL, NULL,
     "OAuth 2.0 client secret (required). Never logged or returned by `evp_conf_get`; "
     "wiped from memory when the configuration or client is destroyed."},
    {"audience", EVP__P_STR, OFF(audience), 0, 0, NULL, NULL,
     "Audience requested for the access token (sent as `audience`)."},
    {"schema.file", EVP__P_STR, OFF(schema_file), 0, 0, NULL, NULL,
     "Path of a JSON Schema file; every event is validated against it in `evp_send`. "
     "Unset: events must only be JSON objects."},
    {"batch.max.events", EVP__P_INT, OFF(batch_max_events), 1, 100000, "500", NULL,
     "Most events in one `POST /events` request."},
    {"batch.max.bytes", EVP__P_INT, OFF(batch_max_bytes), 1024, 16777216, "262144", NULL,
     "Most bytes of uncompressed request body. An event that cannot fit in a batch on its "
     "own is refused by `evp_send` with `EVP_ERR_TOO_LARGE`."},
    {"linger.ms", EVP__P_INT, OFF(linger_ms), 0, 60000, "5", NULL,
     "How long the sender waits for a batch to fill before sending a partial one."},
    {"queue.max.events", EVP__P_INT, OFF(queue_max_events), 1, 100000000, "100000", NULL,
     "Most events held by the client (queued, in flight or awaiting retry)."},
    {"queue.max.bytes", EVP__P_INT, OFF(queue_max_bytes), 4096, I64MAX, "67108864", NULL,
     "Most bytes held by the client, counting each event's text and its bookkeeping. "
     "Up to 4096 delivered events' buffers are kept for reuse outside this limit."},
    {"queue.block.timeout.ms", EVP__P_INT, OFF(queue_block_timeout_ms), 0, 3600000, "0", NULL,
     "When the queue is full, how long `evp_send` waits for room before returning "
     "`EVP_ERR_QUEUE_FULL`. 0: fail fast."},
    {"message.timeout.ms", EVP__P_INT, OFF(message_timeout_ms), 1, 86400000, "300000", NULL,
     "Longest time an event may spend in the client, retries included, before it is "
     "reported as failed (`EVP_ERR_TIMED_OUT`)."},
    {"max.in.flight", EVP__P_INT, OFF(max_in_flight), 1, 32, "4", NULL,
     "Most `POST /events` requests in flight at once, each on its own connection. "
     "Above 1, a batch goes out while earlier ones wait for their answer (the server "
     "acknowledges only what is durable, so each answer may take a disk flush): "
     "throughput no longer stops at one batch per round trip. Batches may then be "
     "delivered out of order when one is retried; with 1, batches arrive in order."},
    {"retry.backoff.ms", EVP__P_INT, OFF(retry_backoff_ms), 1, 300000, "100", NULL,
     "Base of the exponential backoff after a retriable failure: a batch that failed n "
     "times in a row waits between half and all of min(base x 2^(n-1), "
     "`retry.backoff.max.ms`). Only that batch waits; the others keep going, unless the "
     "server answered 429 or 503 with `Retry-After`, which pauses every send until then."},
    {"retry.backoff.max.ms", EVP__P_INT, OFF(retry_backoff_max_ms), 1, 300000, "10000", NULL,
     "Cap of the exponential backoff. Also how long a permanent error (refused "
     "credentials, a wrong URL) fails new events at once before the client tries again."},
    {"retry.budget.tokens", EVP__P_INT, OFF(retry_budget_tokens), 1, 100000, "20", NULL,
     "Retry budget (as Finagle's RetryBudget): most retry tokens saved up. Each retry "
     "takes one; without one it waits until there is one (counted in the stats as "
     "`budget_throttled`). Tokens come from `retry.budget.ratio` and "
     "`retry.budget.min.per.sec`. When the budget is empty and the last "
     "`max.in.flight` requests all failed, new batches need a token too, so a dead "
     "server sees at most about `retry.budget.min.per.sec` requests a second."},
    {"retry.budget.ratio", EVP__P_DBL, OFF(retry_budget_ratio), 0.0, 1.0, "0.5", NULL,
     "Retry tokens deposited by each first attempt: retries may be up to this share of "
     "first attempts (0.5: a link that loses 30% of requests, which needs 0.43 retries "
     "per first attempt, is never throttled)."},
    {"retry.budget.min.per.sec", EVP__P_DBL, OFF(retry_budget_min_per_sec), 0.01, 10000.0, "10",
     NULL,
     "Retry tokens deposited every second whatever the traffic, so a quiet client "
     "can still retry."},
    {"compression", EVP__P_ENUM, OFF(compression), 0, 0, "none", comp_words,
     "Request body compression: `none` or `gzip` (`Content-Encoding: gzip`)."},
    {"request.timeout.ms", EVP__P_INT, OFF(request_timeout_ms), 100, 600000, "30000", NULL,
     "Timeout of one HTTP request (connect, send and response)."},
    {"connect.timeout.ms", EVP__P_INT, OFF(connect_timeout_ms), 100, 600000, "10000", NULL,
     "Timeout of the TCP and TLS connection setup."},
    {"token.refresh.ratio", EVP__P_DBL, OFF(token_refresh_ratio), 0.5, 0.9, "0.8", NULL,
     "The access token is refreshed in the background after this fraction of its lifetime, "
     "minus up to 25% random jitter (0.8: between 60% and 80%)."},
    {"ssl.ca.location", EVP__P_STR, OFF(ssl_ca_location), 0, 0, NULL, NULL,
     "CA bundle file used to verify the server (unset: the system default). "
     "Verification is always on for https."},
    {"ssl.ca.path", EVP__P_STR, OFF(ssl_ca_path), 0, 0, NULL, NULL,
     "Directory of hashed CA certificates used to verify the server."},
    {"allow.insecure.http", EVP__P_BOOL, OFF(allow_insecure_http), 0, 0, "false", NULL,
     "Allow plain `http://` endpoints on non-loopback hosts. Tokens and events then "
     "travel unencrypted."},
    {"fill.event_id", EVP__P_BOOL, OFF(fill_event_id), 0, 0, "true", NULL,
     "Add an `event_id` (UUIDv7) to events that have none."},
    {"fill.event_time", EVP__P_BOOL, OFF(fill_event_time), 0, 0, "true", NULL,
     "Add an `event_time` (RFC 3339, UTC, milliseconds) to events that have none."},
    {"delivery.report.mode", EVP__P_ENUM, OFF(dr_mode), 0, 0, "all", dr_words,
     "Which events reach the delivery report callback: `all` or `errors` (failures only)."},
    {"callbacks.mode", EVP__P_ENUM, OFF(callbacks_mode), 0, 0, "thread", cb_words,
     "Where the delivery report and error callbacks run. `thread`: on the client's "
     "background thread, as soon as the outcome is known. `poll`: they wait until the "
     "application calls `evp_poll` (or `evp_flush`, `evp_client_destroy`) and run on "
     "its thread (`evp_poll_fd` gives a descriptor for event loops). A report waiting "
     "to be polled still counts against `queue.max.events` and `queue.max.bytes`, so "
     "a program that never polls gets `EVP_ERR_QUEUE_FULL`, not unbounded memory. "
     "Log callbacks run on whichever thread logs in both modes."},
    {"spool.dir", EVP__P_STR, OFF(spool_dir), 0, 0, NULL, NULL,
     "Directory of the on-disk spool (created 0700; files 0600). Unset: events live in "
     "memory only. Set: `evp_send` returns `EVP_OK` only once the event is in the spool, "
     "the sender delivers from it, and a later client on the same directory (after a "
     "crash, a kill, a reboot or a close with events undelivered) delivers what is left, "
     "oldest first. One client (one process) per directory: a second one gets "
     "`EVP_ERR_STATE`. The files are a durable log in the format of the server's "
     "(`evpipe spool inspect` / `import` read them). See docs/spool.md."},
    {"spool.sync", EVP__P_ENUM, OFF(spool_sync), 0, 0, "interval", sync_words,
     "What survives a power loss. `always`: `evp_send` returns after the event is on "
     "disk (fdatasync; concurrent senders share one). `interval`: the spool is synced "
     "every `spool.sync.interval.ms`; a power loss may lose the events of that last "
     "interval. `never`: the operating system writes when it likes (about 30 s on "
     "Linux). With every value a crash or kill of the application loses nothing "
     "`evp_send` accepted: the event is in the kernel's page cache when it returns."},
    {"spool.sync.interval.ms", EVP__P_INT, OFF(spool_sync_interval_ms), 1, 60000, "5", NULL,
     "The period of `spool.sync=interval`. The syncer sleeps while nothing is written."},
    {"spool.max.bytes", EVP__P_INT, OFF(spool_max_bytes), 1048576, I64MAX, "268435456", NULL,
     "Most bytes of undelivered events in the spool (records as stored: the event, its "
     "client id and 30 bytes). When full, `spool.full.policy` decides. Disk use can "
     "exceed it by the events in flight and up to one preallocated segment "
     "(max(64 KiB, min(16 MiB, spool.max.bytes / 8)))."},
    {"spool.max.age.ms", EVP__P_INT, OFF(spool_max_age_ms), 1000, 604800000, "604800000", NULL,
     "Oldest a spooled event may get (by the device's clock, across restarts) before it "
     "is reported failed with `EVP_ERR_TIMED_OUT` and removed. With a spool it replaces "
     "`message.timeout.ms`. At most 7 days, the longest dedup window of the pipeline: "
     "an event resent after a crash is recognised as a duplicate only within the "
     "server's dedup window, which must therefore be at least this long "
     "(docs/spool.md, Exactly once)."},
    {"spool.full.policy", EVP__P_ENUM, OFF(spool_full_policy), 0, 0, "refuse", full_words,
     "When the spool is full: `refuse` (`evp_send` returns `EVP_ERR_QUEUE_FULL`) or "
     "`drop_oldest` (the oldest waiting events are removed, each reported failed with "
     "`EVP_ERR_QUEUE_FULL`; the spool may pass `spool.max.bytes` by an eighth while the "
     "sender thread drops, beyond that `evp_send` refuses too)."},
    {"log.level", EVP__P_INT, OFF(log_level), 0, 7, "6", NULL,
     "Most verbose level passed to the log callback (syslog numbering: 3 error, "
     "4 warning, 6 info, 7 debug)."},
};

const size_t evp__conf_nprops = sizeof evp__conf_props / sizeof evp__conf_props[0];

const evp__prop *evp__conf_prop_find(const char *name) {
  for (size_t i = 0; i < evp__conf_nprops; i++)
    if (strcmp(evp__conf_props[i].name, name) == 0) return &evp__conf_props[i];
  return NULL;
}

void evp__conf_enum_words(const evp__prop *p, char *buf, size_t n) {
  size_t o = 0;
  buf[0] = '\0';
  for (int i = 0; p->enums[i] && o < n; i++)
    o += (size_t)snprintf(buf + o, n - o, "%s%s", i ? ", " : "", p->enums[i]);
}
