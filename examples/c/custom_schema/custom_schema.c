/* Validate events against your own JSON Schema before they leave the app:
 * with `schema.file` set, evp_send checks every event and refuses one that
 * does not match at once, with the JSON path of the mistake, instead of
 * the server rejecting it later. Your schema can be stricter than the
 * server's (checkout.schema.json pins one event type and its properties),
 * never looser: the server still validates against its own.
 *
 *   . examples/local-env.sh && ./build/examples/c/custom_schema examples/c/custom_schema/checkout.schema.json
 *
 * It sends one good event and one with a mistake: the good one must be
 * delivered and the bad one refused at the door; exit status 0 only then. */
#include <stdio.h>
#include <string.h>
#include <evpipe/evpipe.h>

#include "example_conf.h"

static void on_delivery(evp_client_t *client, const evp_delivery_t *report, void *opaque) {
  int *delivered = opaque;
  size_t id_len;
  const char *id = evp_delivery_event_id(report, &id_len);
  const char *reason = evp_delivery_reason(report);
  (void)client;
  if (evp_delivery_status(report) == EVP_DELIVERY_OK) {
    (*delivered)++;
    printf("delivered %.*s\n", (int)id_len, id);
  } else {
    printf("NOT delivered %.*s: %s: %s\n", (int)id_len, id,
           evp_err2name(evp_delivery_error(report)), reason ? reason : "");
  }
}

int main(int argc, char **argv) {
  char errstr[512];
  const char *schema = argc > 1 ? argv[1] : "examples/c/custom_schema/checkout.schema.json";
  evp_conf_t *conf = example_conf_from_env(errstr, sizeof errstr);
  if (!conf) {
    fprintf(stderr, "custom_schema: %s\n", errstr);
    return 1;
  }
  int delivered = 0;
  evp_conf_set_delivery_cb(conf, on_delivery, &delivered);
  evp_client_t *client = NULL;
  /* The file is read and compiled by evp_client_new: a schema that cannot
   * be read or is not valid JSON Schema fails here, not at the first send. */
  if (evp_conf_set(conf, "schema.file", schema, errstr, sizeof errstr) != EVP_OK ||
      !(client = evp_client_new(conf, errstr, sizeof errstr))) {
    fprintf(stderr, "custom_schema: %s\n", errstr);
    evp_conf_destroy(conf);
    return 1;
  }

  const char *good = "{\"event_type\":\"checkout.completed\",\"app_id\":\"example-c-schema\","
                     "\"properties\":{\"amount\":12.5,\"currency\":\"EUR\"}}";
  const char *bad = "{\"event_type\":\"checkout.completed\",\"app_id\":\"example-c-schema\","
                    "\"properties\":{\"amount\":12.5,\"currency\":\"euro\"}}";
  evp_err_t good_rc = evp_send(client, good, strlen(good), errstr, sizeof errstr);
  if (good_rc != EVP_OK) fprintf(stderr, "good event refused: %s\n", errstr);
  /* Expected: EVP_ERR_INVALID_EVENT, "/properties/currency: ..." */
  evp_err_t bad_rc = evp_send(client, bad, strlen(bad), errstr, sizeof errstr);
  if (bad_rc == EVP_OK)
    fprintf(stderr, "the bad event was accepted: is schema.file the right schema?\n");
  else
    printf("refused at the door, as it should be: %s: %s\n", evp_err2name(bad_rc), errstr);

  evp_flush(client, 10000);
  evp_client_destroy(client, 2000); /* reports what is left, stops the sender */
  /* Delivered: only the good event (the bad one must not even be queued). */
  return good_rc == EVP_OK && bad_rc == EVP_ERR_INVALID_EVENT && delivered == 1 ? 0 : 1;
}
