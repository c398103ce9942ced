/* Members of an object read off a tape parse (json_tape.h) instead of
 * scanning its text again: the validator's one-pass door reads each event's
 * members this way, and a struct column's object inside it. */
#include <stddef.h>
#include <stdint.h>
#include "base/base.h"
#include "json/json.h"
#include "json/json_tape.h"

/* Length of the number token at @p p: the parser has checked its grammar,
 * so it is the run of number characters. */
static size_t number_len(const char *p) {
  size_t n = 0;
  while ((p[n] >= '0' && p[n] <= '9') || p[n] == '-' || p[n] == '+' || p[n] == '.' || p[n] == 'e' ||
         p[n] == 'E')
    n++;
  return n;
}

evp_err_t evp__json_tape_members(const evp__jv *x, const char *doc, evp__jmember_t *m, size_t max_m,
                                 size_t *count) {
  *count = x->len;
  if (x->len > max_m) return EVP_ERR_TOO_LARGE;
  const evp__jv *k = x + 1;
  for (uint32_t i = 0; i < x->len; i++) {
    const evp__jv *v = k + 1;
    /* Names and string values as the parser decoded them (never escaped);
     * other values as their text. */
    evp__jmember_t *o = &m[i];
    o->key = k->u.str;
    o->keylen = k->len;
    o->key_escaped = 0;
    o->val_escaped = 0;
    o->val = doc + v->off;
    o->node = NULL;
    switch (v->type) {
    case EVP__J_STR:
      o->type = EVP__JS_STRING;
      o->val = v->u.str;
      o->vallen = v->len;
      break;
    case EVP__J_NUM:
      o->type = EVP__JS_NUMBER;
      o->vallen = number_len(o->val);
      break;
    case EVP__J_OBJ:
    case EVP__J_ARR:
      o->type = v->type == EVP__J_OBJ ? EVP__JS_OBJECT : EVP__JS_ARRAY;
      o->vallen = v->u.end - v->off;
      o->node = v;
      break;
    case EVP__J_TRUE:
      o->type = EVP__JS_TRUE;
      o->vallen = 4;
      break;
    case EVP__J_FALSE:
      o->type = EVP__JS_FALSE;
      o->vallen = 5;
      break;
    default:
      o->type = EVP__JS_NULL;
      o->vallen = 4;
      break;
    }
    k = v + v->skip;
  }
  return EVP_OK;
}
