/* Internal: the API Gateway request model for POST /events, derived from the
 * event JSON Schema (draft-07). API Gateway REST models are JSON Schema
 * draft-04, so the event schema is converted (see apigw_model.c for the
 * rules). The model is a first line of defence only: it may accept events
 * the real schema refuses (the processor re-validates every event), but it
 * never refuses one the real schema accepts. Not public ABI. */
#ifndef EVP_CORE_APIGW_MODEL_H
#define EVP_CORE_APIGW_MODEL_H

#include <stddef.h>
#include <cjson/cJSON.h>
#include "evpipe/error.h"

#define EVP__APIGW_DEFAULT_MAX_EVENTS 500 /* maxItems of "events" */
#define EVP__APIGW_MAX_MAX_EVENTS 10000   /* the largest --max-events accepted */
#define EVP__APIGW_MAX_DEPTH 64           /* schema nesting beyond this is refused */

/* Convert one draft-07 schema (the event schema) to draft-04 as API Gateway
 * validates it. The root's "definitions" are not part of the result: they are
 * returned in *definitions (NULL when there are none), converted, so that the
 * caller can place them at the root of the final document, where the event
 * schema's "#/definitions/..." references still resolve. Any other local
 * reference "#/..." is rewritten by prefixing @p ref_base (the JSON pointer of
 * the place the converted schema will occupy, e.g. "/properties/events/items").
 * Refused with EVP_ERR_SCHEMA_INVALID and a reason: remote references,
 * references that do not resolve, a nested "$id", "$defs", non-numeric
 * exclusiveMinimum/Maximum, nesting deeper than EVP__APIGW_MAX_DEPTH.
 * On success *out (and *definitions) are the caller's (cJSON_Delete). */
evp_err_t evp__schema_to_draft4(const cJSON *schema, const char *ref_base, cJSON **out,
                                cJSON **definitions, char *errstr, size_t errstr_size);

/* The whole request model for POST /events:
 *   {"$schema":"http://json-schema.org/draft-04/schema#", "title":...,
 *    "type":"object", "required":["events"],
 *    "properties":{"events":{"type":"array","minItems":1,"maxItems":N,
 *                            "items":<the event schema converted>},
 *                  "sent_at":{}},
 *    "additionalProperties":false [, "definitions":{...}]}
 * from schema text (at most 1 MiB; EVP_ERR_JSON when it is not JSON).
 * @p max_events is 1..EVP__APIGW_MAX_MAX_EVENTS (EVP_ERR_INVALID_ARG
 * otherwise). On success *out is malloc'd, pretty-printed JSON (caller
 * frees). */
evp_err_t evp__apigw_model(const char *schema_json, size_t len, long max_events, char **out,
                           char *errstr, size_t errstr_size);

#endif /* EVP_CORE_APIGW_MODEL_H */
