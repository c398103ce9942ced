/* Element spans of a JSON array, for bodies the strict scanner has already
 * validated: only strings and nesting need tracking to find the commas. */
#include "server/server.h"

size_t evp__json_array_each(const char *arr, size_t len,
                            int (*fn)(void *opaque, size_t i, const char *v, size_t vlen),
                            void *opaque) {
  size_t i = 1, count = 0; /* past '[' */
  for (;;) {
    while (i < len && (arr[i] == ' ' || arr[i] == '\t' || arr[i] == '\n' || arr[i] == '\r'))
      i++;
    if (i >= len || arr[i] == ']')
      return count;
    size_t start = i, depth = 0;
    int in_str = 0;
    for (; i < len; i++) {
      char c = arr[i];
      if (in_str) {
        if (c == '\\')
          i++;
        else if (c == '"')
          in_str = 0;
      } else if (c == '"') {
        in_str = 1;
      } else if (c == '{' || c == '[') {
        depth++;
      } else if (c == '}' || c == ']') {
        if (depth == 0)
          break; /* the array's own ']' */
        depth--;
      } else if (c == ',' && depth == 0) {
        break;
      }
    }
    size_t end = i;
    while (end > start && (arr[end - 1] == ' ' || arr[end - 1] == '\t' || arr[end - 1] == '\n' ||
                           arr[end - 1] == '\r'))
      end--;
    if (fn && fn(opaque, count, arr + start, end - start) != 0)
      return (size_t)-1;
    count++;
    if (i < len && arr[i] == ',')
      i++;
  }
}
