/* What the rest of libevpipe may use of the schema validator beyond the
 * public evpipe/schema.h: validating each element of a batch in one parse,
 * and reading an element's members off that parse. */
#ifndef EVP_SCHEMA_SCHEMA_H
#define EVP_SCHEMA_SCHEMA_H

#include <stddef.h>
#include <cjson/cJSON.h>
#include "json/json.h"
#include "evpipe/schema.h"

/* Parse @p doc once and validate each element of the array in its top-level
 * member @p key against @p schema with @p c (limits as for one
 * evp_schema_validate per element), calling @p fn with the element's span
 * (exact for objects; for other values only the first byte) and verdict;
 * the context's errors describe a failed verdict during the call. Returns 0
 * after the last element, 1 when fn returned non-zero, -2 on ENOMEM, and -1
 * when doc is not JSON within the nesting bound, not an object of at most
 * @p max_members distinct members, or @p key is not an array: the caller's
 * general path then says why. Borrows everything; @p c is not shared. */
int evp__schema_validate_each(const evp_schema_t *schema, evp_schema_ctx_t *c, const char *doc,
                              size_t len, const char *key, size_t max_members,
                              int (*fn)(void *opaque, size_t i, const char *v, size_t n,
                                        evp_err_t verdict),
                              void *opaque);
/* In an evp__schema_validate_each callback for an object element: its
 * top-level members read off the parse just made, so the caller does not
 * scan the element's text again. Names and string values are given decoded
 * (key_escaped, val_escaped 0), other values as their text. *count is the
 * number of members; EVP_ERR_TOO_LARGE when more than @p max_m (nothing
 * else is filled), EVP_ERR_STATE outside such a callback. */
evp_err_t evp__schema_each_members(const evp_schema_ctx_t *c, evp__jmember_t *m, size_t max_m,
                                   size_t *count);
/* After evp__schema_validate_each parsed its document (it returned 0 or 1,
 * and @p c was not used since): the document's own top-level members, read
 * off that parse as evp__schema_each_members reads an element's, so the
 * caller need not scan the whole body again for a member beside the array.
 * EVP_ERR_STATE when there is no such parse. */
evp_err_t evp__schema_doc_members(const evp_schema_ctx_t *c, evp__jmember_t *m, size_t max_m,
                                  size_t *count);

/* Parse a schema document with cJSON, refusing trailing garbage and text
 * that is not UTF-8. cJSON's strings end at their first NUL, so a "\u0000"
 * escape reaches cJSON as the byte EVP__SCHEMA_NUL (which UTF-8 text never
 * holds) and the compiler reads every string it keeps as counted bytes with
 * that byte turned back into NUL (schema_compile.c: sstr). */
cJSON *evp__schema_parse_doc(const char *json, size_t len, evp_err_t *err, char *errstr,
                             size_t errstr_size);
#define EVP__SCHEMA_NUL '\xFF'

#endif /* EVP_SCHEMA_SCHEMA_H */
