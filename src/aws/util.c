/* Small helpers of the AWS client: identifiers, clocks (standard base64
 * is base/base64.c).
 * (Request bodies are built in the one buffer type, base/buf.h, with
 * secret set so that what they held is wiped.) */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "aws/aws_int.h"
#include "base/base.h"
#include "json/json.h"

int evp__aws_ident_ok(const char *s, size_t max) {
  if (!s) return 0;
  size_t n = strlen(s);
  if (!n || n > max || !evp__utf8_valid(s, n)) return 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return 0;
  return 1;
}

void evp__aws_sleep_ms(int64_t ms) {
  if (ms <= 0) return;
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}
