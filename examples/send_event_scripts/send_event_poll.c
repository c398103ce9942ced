/* libevpipe client in poll mode, for an application with its own event loop
 * (the pattern a Python, JVM or Go binding follows): delivery reports run on
 * this thread, from evp_poll(), when the client's descriptor is readable.
 * Each event carries its own opaque pointer, returned in its report.
 *
 *   cc send_event_poll.c $(pkg-config --cflags --libs evpipe) -o send_event_poll
 *   EVP_ENDPOINT=http://127.0.0.1:8080 EVP_CLIENT_ID=demo EVP_CLIENT_SECRET=... ./send_event_poll
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <evpipe/evpipe.h>

#define N 3

struct request {
  int n;    /* which event */
  int done; /* its report arrived */
  int ok;
};

static void on_delivery(evp_client_t *client, const evp_delivery_t *report, void *opaque) {
  struct request *req = evp_delivery_opaque(report); /* given to evp_send_opaque */
  const char *reason = evp_delivery_reason(report);
  int *reported = opaque; /* given to evp_conf_set_delivery_cb */
  (void)client;
  (*reported)++;
  req->done = 1;
  req->ok = evp_delivery_status(report) == EVP_DELIVERY_OK;
  printf("event #%d: %s%s%s\n", req->n,
         req->ok ? "delivered" : evp_err2name(evp_delivery_error(report)), reason ? ": " : "",
         reason ? reason : "");
}

static const char *env(const char *name, const char *def) {
  const char *v = getenv(name);
  return v && *v ? v : def;
}

int main(void) {
  char errstr[512];
  evp_conf_t *conf = evp_conf_new();
  if (!conf) return 1;
  const char *props[][2] = {
      {"endpoint", env("EVP_ENDPOINT", "http://127.0.0.1:8080")},
      {"client.id", env("EVP_CLIENT_ID", "demo")},
      {"client.secret", env("EVP_CLIENT_SECRET", "")},
      {"callbacks.mode", "poll"}, /* reports run on this thread, from evp_poll */
  };
  for (size_t i = 0; i < sizeof props / sizeof props[0]; i++)
    if (evp_conf_set(conf, props[i][0], props[i][1], errstr, sizeof errstr) != EVP_OK) {
      fprintf(stderr, "%s\n", errstr);
      evp_conf_destroy(conf);
      return 1;
    }
  int reported = 0;
  evp_conf_set_delivery_cb(conf, on_delivery, &reported);
  evp_client_t *client = evp_client_new(conf, errstr, sizeof errstr);
  if (!client) {
    fprintf(stderr, "evp_client_new: %s\n", errstr);
    evp_conf_destroy(conf);
    return 1;
  }

  struct request reqs[N];
  int sent = 0;
  for (int i = 0; i < N; i++) {
    char ev[256]; /* event_id and event_time are filled in by the client */
    int len = snprintf(ev, sizeof ev,
                       "{\"event_type\":\"example.poll\",\"app_id\":\"example\","
                       "\"platform\":\"web\",\"session_id\":\"s-%d\",\"user_id\":null}",
                       i);
    reqs[i] = (struct request){i, 0, 0};
    if (evp_send_opaque(client, ev, (size_t)len, &reqs[i], errstr, sizeof errstr) == EVP_OK)
      sent++;
    else
      fprintf(stderr, "evp_send_opaque: %s\n", errstr);
  }

  /* The event loop: wait on the client's descriptor (with whatever else the
   * application watches), then serve what waits without blocking (evp_poll
   * also runs error callbacks, so count the reports themselves). */
  struct pollfd pfd = {evp_poll_fd(client), POLLIN, 0};
  while (reported < sent && poll(&pfd, 1, 10000) > 0)
    if (evp_poll(client, 0) < 0) break;

  /* Whatever is left (a timeout) is reported here, on this thread. */
  long undelivered = evp_client_destroy(client, 2000);
  int failed = 0;
  for (int i = 0; i < N; i++) failed += !reqs[i].ok;
  return failed > 0 || undelivered > 0;
}
