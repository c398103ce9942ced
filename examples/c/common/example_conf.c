/* See example_conf.h. */
#include "example_conf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *env_or(const char *name, const char *fallback) {
  const char *v = getenv(name);
  return v && *v ? v : fallback;
}

/* The first line of a secret file, without its line ending (files written
 * with `echo` end with one; it is not part of the secret). */
static int read_secret(const char *path, char *out, size_t size, char *errstr, size_t es) {
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(errstr, es,
             "EVPIPE_CLIENT_SECRET_FILE %s: cannot open it: %s; check the path, or run "
             "`. examples/local-env.sh` to use evpipe local's client",
             path, strerror(errno));
    return -1;
  }
  int ok = fgets(out, (int)size, f) != NULL;
  fclose(f);
  out[ok ? strcspn(out, "\r\n") : 0] = '\0';
  if (!*out) {
    snprintf(errstr, es, "EVPIPE_CLIENT_SECRET_FILE %s: empty; its first line must be the secret",
             path);
    return -1;
  }
  return 0;
}

evp_conf_t *example_conf_from_env(char *errstr, size_t es) {
  char secret[600] = "";
  const char *id = env_or("EVPIPE_CLIENT_ID", NULL);
  const char *file = env_or("EVPIPE_CLIENT_SECRET_FILE", NULL);
  if (!id) {
    snprintf(errstr, es,
             "EVPIPE_CLIENT_ID is not set: run `. examples/local-env.sh` "
             "(reads evpipe-data/secrets/clients.json)");
    return NULL;
  }
  if (file ? read_secret(file, secret, sizeof secret, errstr, es) != 0
           : snprintf(secret, sizeof secret, "%s", env_or("EVPIPE_CLIENT_SECRET", "")) <= 0) {
    if (!file)
      snprintf(errstr, es,
               "neither EVPIPE_CLIENT_SECRET_FILE nor EVPIPE_CLIENT_SECRET is set: run "
               "`. examples/local-env.sh` (reads evpipe-data/secrets/clients.json)");
    return NULL;
  }
  evp_conf_t *conf = evp_conf_new();
  if (!conf) {
    snprintf(errstr, es, "out of memory");
    return NULL;
  }
  /* The audience is the API the token is for: `evpipe local` serves "events". */
  const char *props[][2] = {
      {"endpoint", env_or("EVPIPE_ENDPOINT", "http://127.0.0.1:8080")},
      {"client.id", id},
      {"client.secret", secret},
      {"audience", "events"},
  };
  for (size_t i = 0; i < sizeof props / sizeof props[0]; i++)
    if (evp_conf_set(conf, props[i][0], props[i][1], errstr, es) != EVP_OK) {
      evp_conf_destroy(conf);
      conf = NULL;
      break;
    }
  return conf;
}
