/* What every C example that talks to a server shares: where the server is
 * and who the client is, read from the environment (examples/README.md):
 *
 *   EVPIPE_ENDPOINT            the server; default http://127.0.0.1:8080,
 *                              where `evpipe local` listens
 *   EVPIPE_CLIENT_ID           the client id
 *   EVPIPE_CLIENT_SECRET_FILE  a file holding the client secret (preferred:
 *                              a secret in the environment is visible to
 *                              anything that can read this process's env)
 *   EVPIPE_CLIENT_SECRET       or the secret itself
 *
 * `evpipe local` creates its client in evpipe-data/secrets/clients.json;
 * `. examples/local-env.sh` exports these variables from that file. */
#ifndef EXAMPLE_CONF_H
#define EXAMPLE_CONF_H

#include <stddef.h>
#include <evpipe/evpipe.h>

/* A new configuration with endpoint, client.id, client.secret and audience
 * set from the environment. Returns NULL with the reason in errstr when one
 * is missing or unusable. The caller owns the result (evp_conf_destroy, or
 * evp_client_new takes it). */
evp_conf_t *example_conf_from_env(char *errstr, size_t errstr_size);

#endif
