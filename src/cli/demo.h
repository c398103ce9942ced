/* `evpipe demo` internals: the sample-event generator. */
#ifndef EVP_CLI_DEMO_H
#define EVP_CLI_DEMO_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define EVP__DEMO_INVALID_KINDS 6
extern const char *const evp__demo_invalid_kinds[EVP__DEMO_INVALID_KINDS];

/* Write sample event number @p i into @p buf as JSON (no event_id: the SDK
 * fills a UUIDv7). @p invalid is -1 for a valid event or 0..KINDS-1 to break
 * one rule. Returns the length, or 0 when @p cap is too small. */
size_t evp__demo_event(uint64_t *seed, long i, int64_t now_ms, int invalid, char *buf, size_t cap);

/* The default event schema, embedded at build time. */
extern const unsigned char evp__default_schema[];
extern const size_t evp__default_schema_len;

#endif
