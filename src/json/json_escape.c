/* Writing JSON: escaping strings (into a caller's array or the one buffer
 * type) and text that may be anything, and the UTF-8 check of text. Every
 * JSON string the project writes by hand goes through here. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "base/base.h"
#include "base/buf.h"
#include "json/json.h"

size_t evp__json_escape(const char *s, size_t n, char *out) {
  static const char hex[] = EVP__HEX_DIGITS;
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      out[o++] = '\\';
      out[o++] = (char)c;
    } else if (c < 0x20) {
      out[o++] = '\\';
      out[o++] = 'u';
      out[o++] = '0';
      out[o++] = '0';
      out[o++] = hex[c >> 4];
      out[o++] = hex[c & 15];
    } else {
      out[o++] = (char)c;
    }
  }
  out[o] = '\0';
  return o;
}

/* Log lines and error bodies hold text from outside (paths, messages): an
 * invalid UTF-8 byte becomes U+FFFD, so the line stays valid JSON. */
size_t evp__json_escape_text(const char *s, size_t n, char *out, size_t cap, int *cut) {
  static const char hex[] = EVP__HEX_DIGITS;
  const unsigned char *p = (const unsigned char *)s, *end = p + n;
  size_t o = 0;
  if (cut) *cut = 0;
  if (!cap) return 0;
  while (p < end) {
    char tmp[8];
    size_t tl, adv;
    unsigned c = *p;
    if (c == '"' || c == '\\') {
      tmp[0] = '\\';
      tmp[1] = (char)c;
      tl = 2;
      adv = 1;
    } else if (c < 0x20 || c == 0x7F) {
      tmp[0] = '\\';
      if (c == '\n') {
        tmp[1] = 'n';
        tl = 2;
      } else if (c == '\r') {
        tmp[1] = 'r';
        tl = 2;
      } else if (c == '\t') {
        tmp[1] = 't';
        tl = 2;
      } else {
        memcpy(tmp + 1, "u00", 3);
        tmp[4] = hex[c >> 4];
        tmp[5] = hex[c & 15];
        tl = 6;
      }
      adv = 1;
    } else if (c < 0x80) {
      tmp[0] = (char)c;
      tl = adv = 1;
    } else if ((adv = evp__utf8_seq(p, end)) != 0) {
      memcpy(tmp, p, adv);
      tl = adv;
    } else {
      memcpy(tmp, "\\ufffd", 6);
      tl = 6;
      adv = 1;
    }
    if (o + tl + 1 > cap) {
      if (cut) *cut = 1;
      break;
    }
    memcpy(out + o, tmp, tl);
    o += tl;
    p += adv;
  }
  out[o] = '\0';
  return o;
}

int evp__utf8_valid(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s, *end = p + n;
  while (p < end) {
    /* Text is mostly ASCII: skip 8 such bytes at a time. */
    if (end - p >= 8) {
      uint64_t w;
      memcpy(&w, p, 8);
      if (!(w & 0x8080808080808080ull)) {
        p += 8;
        continue;
      }
    }
    size_t l = evp__utf8_seq(p, end);
    if (!l) return 0;
    p += l;
  }
  return 1;
}

evp_err_t evp__buf_json_str(evp__buf_t *b, const char *s, size_t n) {
  if (b->err != EVP_OK) return b->err;
  if (n > (SIZE_MAX / 4 - 3) / 6) return b->err = EVP_ERR_TOO_LARGE;
  /* Escape into the buffer's spare room: reserve the worst case, then
   * append what it became (a bounded buffer may so refuse text that would
   * have fitted escaped, which only makes its limit a little stricter). */
  evp_err_t e = evp__buf_add(b, "\"", 1);
  if (e == EVP_OK && (e = evp__buf_reserve(b, 6 * n + 2)) != EVP_OK) return b->err = e;
  if (e != EVP_OK) return e;
  b->len += evp__json_escape(s, n, (char *)b->p + b->len);
  return evp__buf_add(b, "\"", 1);
}

size_t evp__utf8_len(const char *s, size_t n) {
  size_t count = 0;
  for (size_t i = 0; i < n; i++) count += ((unsigned char)s[i] & 0xC0) != 0x80;
  return count;
}
