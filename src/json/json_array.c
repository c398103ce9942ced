/* Element spans of a JSON array, for bodies the strict scanner has already
 * validated: only strings and nesting need tracking to find the commas. This
 * runs over every byte of every batch, so strings are skipped with memchr
 * and everything else through a table of the few bytes that matter. */
#include <string.h>
#include "json/json.h"

enum { C_NONE = 0, C_QUOTE, C_OPEN, C_CLOSE, C_COMMA };

static const unsigned char cls[256] = {
    ['"'] = C_QUOTE, ['{'] = C_OPEN, ['['] = C_OPEN, ['}'] = C_CLOSE, [']'] = C_CLOSE,
    [','] = C_COMMA,
};

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Index just past the closing quote of the string whose opening quote is at
 * p[i - 1]; a quote preceded by an odd number of backslashes is escaped. */
static size_t skip_string(const char *p, size_t i, size_t len) {
  for (;;) {
    const char *q = memchr(p + i, '"', len - i);
    if (!q)
      return len;
    size_t k = (size_t)(q - p), bs = 0;
    while (k - bs > i && p[k - bs - 1] == '\\')
      bs++;
    i = k + 1;
    if (bs % 2 == 0)
      return i;
  }
}

size_t evp__json_array_each(const char *arr, size_t len,
                            int (*fn)(void *opaque, size_t i, const char *v, size_t vlen),
                            void *opaque) {
  size_t i = 1, count = 0; /* past '[' */
  for (;;) {
    while (i < len && is_ws(arr[i]))
      i++;
    if (i >= len || arr[i] == ']')
      return count;
    size_t start = i, depth = 0;
    for (; i < len; i++) {
      unsigned char c = cls[(unsigned char)arr[i]];
      if (c == C_NONE)
        continue;
      if (c == C_QUOTE) {
        i = skip_string(arr, i + 1, len) - 1;
      } else if (c == C_OPEN) {
        depth++;
      } else if (c == C_CLOSE) {
        if (depth == 0)
          break; /* the array's own ']' */
        depth--;
      } else if (depth == 0) {
        break; /* a comma between elements */
      }
    }
    size_t end = i;
    while (end > start && is_ws(arr[end - 1]))
      end--;
    if (fn && fn(opaque, count, arr + start, end - start) != 0)
      return (size_t)-1;
    count++;
    if (i < len && arr[i] == ',')
      i++;
  }
}
