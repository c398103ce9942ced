/* libFuzzer target for the core JSON object scanner, differential: every
 * input the strict scanner accepts must give the structure-only ("trusted")
 * scanner the batcher uses on logged events exactly the same members, spans,
 * types and escape flags. Inputs it refuses exercise the strict paths. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "base/base.h"
#include "json/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  enum { MAXM = 64 };
  evp__jmember_t a[MAXM], b[MAXM];
  size_t na, nb;
  /* A copy of exactly size bytes, so reads past the end are caught. */
  char *t = malloc(size ? size : 1);
  if (!t)
    return 0;
  memcpy(t, data, size);
  if (evp__json_scan_object(t, size, 64, a, MAXM, &na) == EVP_OK) {
    if (evp__json_scan_object_trusted(t, size, b, MAXM, &nb) != EVP_OK || na != nb)
      abort();
    for (size_t i = 0; i < na; i++)
      if (a[i].key != b[i].key || a[i].keylen != b[i].keylen || a[i].val != b[i].val ||
          a[i].vallen != b[i].vallen || a[i].type != b[i].type ||
          a[i].key_escaped != b[i].key_escaped || a[i].val_escaped != b[i].val_escaped)
        abort();
  } else {
    /* Untrusted garbage must still not make the trusted scanner misbehave. */
    (void)evp__json_scan_object_trusted(t, size, b, MAXM, &nb);
  }
  free(t);
  return 0;
}
