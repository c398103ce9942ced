/* libFuzzer target for the JSON Schema compiler and validator.
 *
 * Input byte 0 picks the mode (the rest is R):
 *   0: R is an instance, validated against a fixed schema that uses most
 *      keywords (including $ref recursion and patterns);
 *   1: R is a schema: compiled, then used on a few fixed instances;
 *   2: R is "SCHEMA\0INSTANCE": both come from the fuzzer.
 * Bit 2 of byte 0 switches between stop-at-first-error and collecting up
 * to 50 errors. A loader resource makes remote $refs reachable. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "evpipe/evpipe.h"

static const char fixed_schema[] =
    "{\"$id\":\"http://fuzz.example/root.json\",\"definitions\":{\"node\":{\"type\":\"object\","
    "\"properties\":{\"children\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/definitions/node\"}},"
    "\"v\":{\"anyOf\":[{\"type\":\"integer\",\"multipleOf\":3},{\"type\":\"string\",\"format\":"
    "\"date-time\"}]}}}},"
    "\"type\":\"object\",\"required\":[\"id\"],\"additionalProperties\":{\"not\":{\"type\":"
    "\"null\"}},"
    "\"properties\":{\"id\":{\"type\":\"string\",\"format\":\"uuid\"},\"tree\":{\"$ref\":\"#/"
    "definitions/node\"},"
    "\"tags\":{\"type\":\"array\",\"uniqueItems\":true,\"maxItems\":40,\"contains\":{\"const\":"
    "\"x\"}},"
    "\"n\":{\"type\":\"number\",\"minimum\":-5,\"exclusiveMaximum\":1e6},"
    "\"s\":{\"type\":\"string\",\"pattern\":\"^[a-z]+(\\\\.[a-z]+)*$\",\"maxLength\":20},"
    "\"e\":{\"enum\":[1,\"a\",null,[1,{\"b\":2}]]},\"r\":{\"$ref\":\"http://fuzz.example/"
    "remote.json\"},"
    "\"o\":{\"oneOf\":[{\"required\":[\"a\"]},{\"required\":[\"b\"]}],\"dependencies\":{\"a\":["
    "\"c\"],\"d\":{\"minProperties\":3}},"
    "\"propertyNames\":{\"maxLength\":5},\"patternProperties\":{\"^x\":{\"type\":\"integer\"}}},"
    "\"i\":{\"if\":{\"type\":\"string\"},\"then\":{\"format\":\"ipv6\"},\"else\":{\"format\":"
    "\"email\"}},"
    "\"h\":{\"format\":\"hostname\"},\"u\":{\"format\":\"uri\"},\"p\":{\"format\":\"json-pointer\"}"
    "}}";

static const char remote[] =
    "{\"definitions\":{\"x\":{\"type\":\"integer\"}},\"anyOf\":[{\"$ref\":\"#/definitions/"
    "x\"},{\"type\":\"array\",\"items\":{\"$ref\":\"#\"}}]}";

static const char *const instances[] = {
    "{\"id\":\"3f1b6c2e-8a4d-4f7e-9b21-0c5d7e9a1f34\",\"tree\":{\"children\":[{\"v\":3},{\"v\":"
    "\"x\"}]}}",
    "[1,2,3,[4,[5]],{\"a\":\"b\"}]",
    "\"2024-05-01T10:00:00Z\"",
    "12.5",
    "null",
    "true",
    "{\"a\":{\"b\":{\"c\":[]}},\"d\":\"\\u00e9\\ud83d\\ude00\"}",
};

static evp_schema_loader_t *loader;
static evp_schema_t *fixed;
static evp_schema_ctx_t *ctx1, *ctxn;

static void init(void) {
  loader = evp_schema_loader_new();
  evp_schema_add_resource(loader, "http://fuzz.example/remote.json", remote, strlen(remote), NULL,
                          0);
  fixed = evp_schema_compile(fixed_schema, strlen(fixed_schema), loader, NULL, NULL, 0);
  ctx1 = evp_schema_ctx_new();
  ctxn = evp_schema_ctx_new();
  if (!loader || !fixed || !ctx1 || !ctxn) abort(); /* a broken harness must not pass silently */
  evp_schema_ctx_set_limits(ctx1, 1 << 16, 0, 1);
  evp_schema_ctx_set_limits(ctxn, 1 << 16, 200, 50);
}

/* Every error must be fully formed. */
static void check(evp_schema_ctx_t *c, evp_err_t rc) {
  size_t n = evp_schema_ctx_error_count(c);
  if (rc == EVP_OK && n) abort();
  if (rc == EVP_ERR_INVALID_EVENT && !n) abort();
  for (size_t i = 0; i < n; i++)
    if (!evp_schema_ctx_error_instance_path(c, i) || !evp_schema_ctx_error_schema_path(c, i) ||
        !evp_schema_ctx_error_keyword(c, i) || !evp_schema_ctx_error_message(c, i))
      abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!fixed) init();
  if (size < 1) return 0;
  int mode = data[0] % 3;
  evp_schema_ctx_t *c = (data[0] & 4) ? ctxn : ctx1;
  const char *r = (const char *)data + 1;
  size_t n = size - 1;
  if (mode == 0) {
    check(c, evp_schema_validate(fixed, c, r, n));
    return 0;
  }
  size_t slen = n, ilen = 0;
  const char *inst = NULL;
  if (mode == 2) {
    const char *z = memchr(r, '\0', n);
    if (!z) return 0;
    slen = (size_t)(z - r);
    inst = z + 1;
    ilen = n - slen - 1;
  }
  char err[256];
  evp_err_t cerr;
  evp_schema_t *s = evp_schema_compile(r, slen, loader, &cerr, err, sizeof err);
  if (!s) {
    if (cerr == EVP_OK) abort();
    return 0;
  }
  if (inst)
    check(c, evp_schema_validate(s, c, inst, ilen));
  else
    for (size_t i = 0; i < sizeof instances / sizeof instances[0]; i++)
      check(c, evp_schema_validate(s, c, instances[i], strlen(instances[i])));
  evp_schema_destroy(s);
  return 0;
}
