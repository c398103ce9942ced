/* libFuzzer target for the core JSON object scanner, differential: every
 * input the strict scanner accepts must give the structure-only ("trusted")
 * scanner the batcher uses on logged events exactly the same members, spans,
 * types and escape flags, and the member walk of the SDK's door check the
 * same members again. The tape parser the schema validator uses must accept
 * exactly the objects the scanner accepts (they share one lexer). Inputs it
 * refuses exercise the strict paths. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "base/base.h"
#include "json/json.h"
#include "json/json_tape.h"

typedef struct {
  const evp__jmember_t *want;
  size_t n, bad;
} walk_t;

static void walk(void *opaque, const evp__jmember_t *m) {
  walk_t *w = opaque;
  const evp__jmember_t *a = &w->want[w->n++];
  if (a->key != m->key || a->keylen != m->keylen || a->val != m->val || a->vallen != m->vallen ||
      a->type != m->type || a->key_escaped != m->key_escaped || a->val_escaped != m->val_escaped)
    w->bad = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  enum { MAXM = 64 };
  evp__jmember_t a[MAXM], b[MAXM];
  size_t na, nb;
  /* A copy of exactly size bytes, so reads past the end are caught. */
  char *t = malloc(size ? size : 1);
  if (!t) return 0;
  memcpy(t, data, size);
  evp_err_t e = evp__json_scan_object(t, size, 64, a, MAXM, &na);
  size_t lead = 0;
  while (lead < size && (t[lead] == ' ' || t[lead] == '\t' || t[lead] == '\n' || t[lead] == '\r'))
    lead++;
  if (e != EVP_ERR_TOO_LARGE && lead < size && t[lead] == '{') {
    static evp__jdoc doc; /* reused, as the validator does */
    evp_err_t te = evp__json_parse(&doc, t, size, 64);
    if ((e == EVP_OK) != (te == EVP_OK)) abort();
  }
  if (e == EVP_OK) {
    walk_t w = {a, 0, 0};
    evp__json_object_info_t info;
    if (evp__json_scan_object_each(t, size, 64, walk, &w, &info) != EVP_OK || w.bad || w.n != na ||
        info.count != na)
      abort();
    if (evp__json_scan_object_trusted(t, size, b, MAXM, &nb) != EVP_OK || na != nb) abort();
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
