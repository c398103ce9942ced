/* Delivery reports in an application with its own event loop (poll mode,
 * the pattern the Python, JVM and Go bindings follow): the reports run on
 * this thread, from evp_poll(), when the client's descriptor is readable,
 * never on a library thread. Each event carries its own pointer, given back
 * in its report, so the report completes the right request without parsing
 * the event_id.
 *
 *   . examples/local-env.sh && ./build/examples/c/delivery_reports
 */
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <evpipe/evpipe.h>

#include "example_conf.h"

#define N 3

struct request {
  int n;    /* which event */
  int done; /* its report arrived */
  int ok;
};

static void on_delivery(evp_client_t *client, const evp_delivery_t *report, void *opaque) {
  struct request *req = evp_delivery_opaque(report); /* given to evp_send_opaque */
  const char *reason = evp_delivery_reason(report);  /* NULL when delivered */
  int *reported = opaque;                            /* given to evp_conf_set_delivery_cb */
  (void)client;
  (*reported)++;
  req->done = 1;
  req->ok = evp_delivery_status(report) == EVP_DELIVERY_OK;
  size_t id_len;
  const char *id = evp_delivery_event_id(report, &id_len);
  if (req->ok)
    printf("event #%d: delivered %.*s\n", req->n, (int)id_len, id);
  else
    printf("event #%d: NOT delivered %.*s: %s: %s\n", req->n, (int)id_len, id,
           evp_err2name(evp_delivery_error(report)), reason ? reason : "");
}

int main(void) {
  char errstr[512];
  evp_conf_t *conf = example_conf_from_env(errstr, sizeof errstr);
  if (!conf) {
    fprintf(stderr, "delivery_reports: %s\n", errstr);
    return 1;
  }
  /* Reports wait until this thread serves them: no locks in the callback. */
  if (evp_conf_set(conf, "callbacks.mode", "poll", errstr, sizeof errstr) != EVP_OK) {
    fprintf(stderr, "delivery_reports: %s\n", errstr);
    evp_conf_destroy(conf);
    return 1;
  }
  int reported = 0;
  evp_conf_set_delivery_cb(conf, on_delivery, &reported);
  evp_client_t *client = evp_client_new(conf, errstr, sizeof errstr);
  if (!client) {
    fprintf(stderr, "delivery_reports: %s\n", errstr);
    evp_conf_destroy(conf);
    return 1;
  }

  struct request reqs[N];
  int sent = 0;
  for (int i = 0; i < N; i++) {
    char ev[256]; /* event_id and event_time are filled in by the client */
    int len = snprintf(ev, sizeof ev,
                       "{\"event_type\":\"example.poll\",\"app_id\":\"example-c-poll\","
                       "\"platform\":\"web\",\"session_id\":\"s-%d\",\"user_id\":null}",
                       i);
    reqs[i] = (struct request){i, 0, 0};
    if (evp_send_opaque(client, ev, (size_t)len, &reqs[i], errstr, sizeof errstr) == EVP_OK)
      sent++;
    else
      fprintf(stderr, "refused: %s\n", errstr);
  }

  /* The event loop: wait on the client's descriptor (with whatever else the
   * application watches), then serve what waits without blocking. evp_poll
   * also runs error callbacks, so count the reports themselves. */
  struct pollfd pfd = {evp_poll_fd(client), POLLIN, 0};
  while (reported < sent && poll(&pfd, 1, 10000) > 0)
    if (evp_poll(client, 0) < 0) break;

  /* Whatever is left (a timeout) is reported here, on this thread. */
  evp_client_destroy(client, 2000);
  int delivered = 0;
  for (int i = 0; i < N; i++) delivered += reqs[i].ok;
  printf("%d of %d delivered\n", delivered, N);
  return delivered == N ? 0 : 1;
}
