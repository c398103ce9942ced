/* Validation at the door: the client's one call into the JSON Schema
 * validator (include/evpipe/schema.h). Compiled once per client; validation
 * contexts are per-thread objects, so a small pool lends one to each
 * concurrent evp_send. */
#ifndef EVP_CLIENT_VALIDATE_H
#define EVP_CLIENT_VALIDATE_H

#include <stddef.h>
#include "evpipe/error.h"

/* Read and compile the schema file into *out (opaque). */
evp_err_t evp__client_validator_load(const char *path, void **out, char *errstr, size_t es);
/* The door check of one event as it will be sent (with the filled-in
 * event_id/event_time): the schema, then what the lake table it defines can
 * hold — the rule the server applies (table/table_value.c). Without a
 * schema.file there is no door check beyond the JSON grammar: the server
 * is the door, and answers per item.
 * EVP_OK, or EVP_ERR_INVALID_EVENT / EVP_ERR_JSON / ... with
 * "<instance path>: <message>" in errstr. Any thread. */
evp_err_t evp__client_validator_check(void *v, const char *json, size_t len, char *errstr,
                                      size_t es);
void evp__client_validator_free(void *v);

#endif
