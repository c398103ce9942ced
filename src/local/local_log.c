/* Structured logs: one JSON object per line on stderr. Callers pass only
 * what may be logged (never secrets, tokens or event payloads); every string
 * value is escaped and bounded here. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "core/core.h"
#include "local/local.h"

#define VALUE_MAX 1024

void evp__local_log_str(char *buf, size_t cap, size_t *n, const char *key, const char *value) {
  char esc[VALUE_MAX * 6 + 1];
  size_t vl = value ? strlen(value) : 0;
  if (vl > VALUE_MAX) {
    vl = VALUE_MAX;
    while (vl > 0 && ((unsigned char)value[vl] & 0xC0) == 0x80)
      vl--; /* do not split a UTF-8 sequence */
  }
  size_t el = value ? evp__json_escape(value, vl, esc) : 0;
  esc[el] = '\0';
  if (*n >= cap)
    return;
  int w = value ? snprintf(buf + *n, cap - *n, "%s\"%s\":\"%s\"", *n ? "," : "", key, esc)
                : snprintf(buf + *n, cap - *n, "%s\"%s\":null", *n ? "," : "", key);
  if (w > 0)
    *n = *n + (size_t)w < cap ? *n + (size_t)w : cap;
}

void evp__local_log_num(char *buf, size_t cap, size_t *n, const char *key, long long value) {
  if (*n >= cap)
    return;
  int w = snprintf(buf + *n, cap - *n, "%s\"%s\":%lld", *n ? "," : "", key, value);
  if (w > 0)
    *n = *n + (size_t)w < cap ? *n + (size_t)w : cap;
}

void evp__local_log(const char *level, const char *msg, const char *fields) {
  char line[4096];
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  char when[32];
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
  size_t n = 0;
  int w = snprintf(line, sizeof line, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\"", when,
                   ts.tv_nsec / 1000000L, level);
  n = (size_t)w;
  evp__local_log_str(line, sizeof line, &n, "msg", msg);
  if (fields && fields[0] && n + strlen(fields) + 4 < sizeof line) {
    line[n++] = ',';
    memcpy(line + n, fields, strlen(fields));
    n += strlen(fields);
  }
  if (n + 2 > sizeof line)
    n = sizeof line - 2;
  line[n++] = '}';
  line[n++] = '\n';
  /* One write per line: concurrent lines do not interleave. */
  ssize_t r = write(STDERR_FILENO, line, n);
  (void)r;
}
