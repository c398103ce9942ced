/* The first app: send three events, wait until each has its outcome, print
 * it, and exit non-zero when any event was not delivered.
 *
 *   . examples/local-env.sh && ./build/examples/c/send_events
 *
 * What the server requires of an event is its schema (docs/event-schema.md;
 * `evpipe local` uses examples/schemas/glue-data-catalog-json-schema.json):
 * `event_type` and `app_id` come from the app; `event_id` (a UUIDv7, reused
 * by every retry so the server can drop duplicates) and `event_time` are
 * filled in by the SDK. The client fetches its token, batches and retries in
 * the background: evp_send only queues. */
#include <stdio.h>
#include <string.h>
#include <evpipe/evpipe.h>

#include "example_conf.h"

struct outcome {
  int delivered, not_delivered;
};

/* Exactly one report per event evp_send accepted. In the default
 * callbacks.mode=thread it runs on the client's sender thread; main reads
 * the counts only after evp_client_destroy, which stops that thread. */
static void on_delivery(evp_client_t *client, const evp_delivery_t *report, void *opaque) {
  struct outcome *out = opaque;
  size_t id_len;
  const char *id = evp_delivery_event_id(report, &id_len);
  const char *reason = evp_delivery_reason(report); /* NULL when delivered */
  (void)client;
  if (evp_delivery_status(report) == EVP_DELIVERY_OK) {
    out->delivered++;
    printf("delivered %.*s in %lld us\n", (int)id_len, id, evp_delivery_latency_us(report));
  } else {
    /* REJECTED: the server refused this event for good (the reason says
     * why); FAILED: it never got there (timeout, credentials, closed). */
    out->not_delivered++;
    printf("NOT delivered %.*s: %s: %s\n", (int)id_len, id,
           evp_err2name(evp_delivery_error(report)), reason ? reason : "");
  }
}

/* Problems of the whole service (wrong secret, server unreachable) come
 * here once, with the URL tried; each event still gets its own report. */
static void on_error(evp_err_t err, int retrying, const char *reason, void *opaque) {
  (void)opaque;
  fprintf(stderr, "client: %s%s: %s\n", evp_err2name(err), retrying ? " (retrying)" : "", reason);
}

int main(void) {
  char errstr[512];
  struct outcome out = {0, 0};
  evp_conf_t *conf = example_conf_from_env(errstr, sizeof errstr);
  if (!conf) {
    fprintf(stderr, "send_events: %s\n", errstr);
    return 1;
  }
  evp_conf_set_delivery_cb(conf, on_delivery, &out);
  evp_conf_set_error_cb(conf, on_error);
  evp_client_t *client = evp_client_new(conf, errstr, sizeof errstr);
  if (!client) {
    fprintf(stderr, "send_events: %s\n", errstr);
    evp_conf_destroy(conf); /* still ours when evp_client_new fails */
    return 1;
  }

  static const char *const events[] = {
      "{\"event_type\":\"app.opened\",\"app_id\":\"example-c\",\"platform\":\"server\"}",
      "{\"event_type\":\"screen.viewed\",\"app_id\":\"example-c\",\"properties\":{\"screen\":"
      "\"home\"}}",
      "{\"event_type\":\"checkout.completed\",\"app_id\":\"example-c\","
      "\"properties\":{\"amount\":12.5,\"currency\":\"EUR\"}}",
  };
  int queued = 0;
  for (size_t i = 0; i < sizeof events / sizeof events[0]; i++) {
    /* A refusal here (not JSON, too large, queue full) is immediate and the
     * event gets no report. */
    evp_err_t rc = evp_send(client, events[i], strlen(events[i]), errstr, sizeof errstr);
    if (rc == EVP_OK)
      queued++;
    else
      fprintf(stderr, "refused: %s: %s\n", evp_err2name(rc), errstr);
  }

  /* Wait (at most 10 s) until every queued event has its report. */
  long pending = evp_flush(client, 10000);
  /* Whatever is still pending after the flush is failed at close and
   * reported now, so every event ends up counted. */
  evp_client_destroy(client, 2000);
  printf("%d delivered, %d not delivered, %d refused at the door (%ld were pending after flush)\n",
         out.delivered, out.not_delivered, (int)(sizeof events / sizeof events[0]) - queued,
         pending);
  return out.delivered == (int)(sizeof events / sizeof events[0]) ? 0 : 1;
}
