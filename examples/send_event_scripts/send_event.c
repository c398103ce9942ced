/* Minimal libevpipe client: configure, send one event, flush, close.
 *
 *   cc send_event.c $(pkg-config --cflags --libs evpipe) -o send_event
 *   EVP_ENDPOINT=http://127.0.0.1:8080 EVP_CLIENT_ID=demo EVP_CLIENT_SECRET=... ./send_event
 *
 * The client fetches its token (POST /token, client credentials) in the
 * background, batches and retries on its own; the delivery callback tells
 * the final outcome of each event. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <evpipe/evpipe.h>

static void on_delivery(evp_client_t *client, const evp_delivery_t *report, void *opaque) {
  int *failures = opaque;
  size_t id_len;
  const char *id = evp_delivery_event_id(report, &id_len);
  const char *reason = evp_delivery_reason(report); /* NULL when delivered */
  (void)client;
  if (evp_delivery_status(report) != EVP_DELIVERY_OK) (*failures)++;
  printf("event %.*s: %s after %d attempt(s), %lld us%s%s\n", (int)id_len, id,
         evp_delivery_status(report) == EVP_DELIVERY_OK ? "delivered"
                                                        : evp_err2name(evp_delivery_error(report)),
         evp_delivery_attempts(report), evp_delivery_latency_us(report), reason ? ": " : "",
         reason ? reason : "");
}

static const char *env(const char *name, const char *def) {
  const char *v = getenv(name);
  return v && *v ? v : def;
}

int main(int argc, char **argv) {
  char errstr[512];
  int failures = 0;
  evp_conf_t *conf = evp_conf_new();
  if (!conf) return 1;
  const char *props[][2] = {
      {"endpoint", env("EVP_ENDPOINT", "http://127.0.0.1:8080")},
      {"client.id", env("EVP_CLIENT_ID", "demo")},
      {"client.secret", env("EVP_CLIENT_SECRET", "")},
      {"audience", env("EVP_AUDIENCE", "events")},
  };
  for (size_t i = 0; i < sizeof props / sizeof props[0]; i++)
    if (evp_conf_set(conf, props[i][0], props[i][1], errstr, sizeof errstr) != EVP_OK) {
      fprintf(stderr, "%s\n", errstr);
      evp_conf_destroy(conf);
      return 1;
    }
  evp_conf_set_delivery_cb(conf, on_delivery, &failures);

  evp_client_t *client = evp_client_new(conf, errstr, sizeof errstr);
  if (!client) {
    fprintf(stderr, "evp_client_new: %s\n", errstr);
    evp_conf_destroy(conf); /* still ours on failure */
    return 1;
  }

  const char *event = argc > 1 ? argv[1] : "{\"type\":\"example.hello\",\"payload\":{\"n\":1}}";
  evp_err_t rc = evp_send(client, event, strlen(event), errstr, sizeof errstr);
  if (rc != EVP_OK) fprintf(stderr, "evp_send: %s: %s\n", evp_err2name(rc), errstr);

  long pending = evp_flush(client, 10000);
  long undelivered = evp_client_destroy(client, 2000);
  if (pending > 0 || undelivered > 0) fprintf(stderr, "%ld event(s) not delivered\n", undelivered);
  return rc != EVP_OK || failures > 0 || undelivered > 0;
}
