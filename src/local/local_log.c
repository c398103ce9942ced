/* Structured logs: one JSON object per line on stderr. Callers pass only
 * what may be logged (never secrets, tokens or event payloads); every string
 * value is escaped and bounded here. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "base/base.h"
#include "json/json.h"
#include "local/local.h"

#define VALUE_MAX 1024

void evp__local_log_str(char *buf, size_t cap, size_t *n, const char *key, const char *value) {
  char esc[VALUE_MAX * 6 + 1];
  if (*n >= cap) return;
  /* Room for the escaped value: what is left after ,"key":"" and the NUL;
   * a value that does not fit is cut at a character boundary, so the
   * member is always whole JSON (raw bytes from a request path included:
   * invalid UTF-8 becomes U+FFFD, controls \u00XX). */
  size_t overhead = strlen(key) + 7, room = cap - *n > overhead ? cap - *n - overhead : 0;
  if (room > sizeof esc) room = sizeof esc;
  if (value && room == 0) return;
  size_t vl = value ? strnlen(value, VALUE_MAX) : 0;
  if (value) evp__json_escape_text(value, vl, esc, room, NULL);
  int w = value ? snprintf(buf + *n, cap - *n, "%s\"%s\":\"%s\"", *n ? "," : "", key, esc)
                : snprintf(buf + *n, cap - *n, "%s\"%s\":null", *n ? "," : "", key);
  if (w > 0 && *n + (size_t)w < cap)
    *n += (size_t)w;
  else
    buf[*n] = '\0'; /* did not fit (a long key): leave the member out */
}

void evp__local_log_num(char *buf, size_t cap, size_t *n, const char *key, long long value) {
  if (*n >= cap) return;
  int w = snprintf(buf + *n, cap - *n, "%s\"%s\":%lld", *n ? "," : "", key, value);
  if (w > 0 && *n + (size_t)w < cap)
    *n += (size_t)w;
  else
    buf[*n] = '\0';
}

void evp__local_log(const char *level, const char *msg, const char *fields) {
  char line[4096];
  struct tm tm;
  int64_t now_ms = evp__wall_ms();
  time_t secs = (time_t)(now_ms / 1000);
  gmtime_r(&secs, &tm);
  char when[32];
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
  size_t n = 0;
  int w = snprintf(line, sizeof line, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\"", when,
                   (long)(now_ms % 1000), level);
  n = (size_t)w;
  evp__local_log_str(line, sizeof line, &n, "msg", msg);
  if (fields && fields[0] && n + strlen(fields) + 4 < sizeof line) {
    line[n++] = ',';
    memcpy(line + n, fields, strlen(fields));
    n += strlen(fields);
  }
  if (n + 2 > sizeof line) n = sizeof line - 2;
  line[n++] = '}';
  line[n++] = '\n';
  /* One write per line: concurrent lines do not interleave. */
  ssize_t r = write(STDERR_FILENO, line, n);
  (void)r;
}

/* Lines an attacker can cause at will (refused connections, deadlines,
 * libmicrohttpd's complaints) are rate-limited per kind: the first one in a
 * quiet period is written at once, the rest are counted and written as one
 * summary per interval, so a flood cannot fill the disk or drown the log. */
#define LIMITED_SLOTS 32
#define LIMITED_INTERVAL_S 10.0

static struct {
  const void *key;
  const char *level, *msg; /* static text */
  double since;
  unsigned long held;
} limited[LIMITED_SLOTS];
static pthread_mutex_t limited_mu = PTHREAD_MUTEX_INITIALIZER;

void evp__local_log_limited(const void *key, const char *level, const char *msg,
                            const char *fields) {
  double now = evp__mono_s();
  int write_now = 0;
  pthread_mutex_lock(&limited_mu);
  size_t i = 0;
  while (i < LIMITED_SLOTS - 1 && limited[i].key && limited[i].key != key)
    i++; /* the last slot is shared by kinds beyond the table */
  if (!limited[i].key) {
    limited[i].key = key;
    limited[i].level = level;
    limited[i].msg = msg;
  }
  if (limited[i].since == 0 || now - limited[i].since >= LIMITED_INTERVAL_S) {
    limited[i].since = now;
    write_now = 1;
  } else {
    limited[i].held++;
  }
  pthread_mutex_unlock(&limited_mu);
  if (!write_now) return;
  char f[1200];
  size_t n = 0;
  evp__local_log_num(f, sizeof f, &n, "count", 1);
  if (fields && fields[0] && n + strlen(fields) + 2 < sizeof f) {
    f[n++] = ',';
    memcpy(f + n, fields, strlen(fields) + 1);
  }
  evp__local_log(level, msg, f);
}

void evp__local_log_limited_flush(int all) {
  double now = evp__mono_s();
  for (size_t i = 0; i < LIMITED_SLOTS; i++) {
    pthread_mutex_lock(&limited_mu);
    unsigned long held = limited[i].held;
    const char *level = limited[i].level, *msg = limited[i].msg;
    int due = held && (all || now - limited[i].since >= LIMITED_INTERVAL_S);
    if (due) {
      limited[i].held = 0;
      limited[i].since = now;
    }
    pthread_mutex_unlock(&limited_mu);
    if (!due) continue;
    char f[96];
    size_t n = 0;
    evp__local_log_num(f, sizeof f, &n, "count", (long long)held);
    evp__local_log_num(f, sizeof f, &n, "interval_s", (long long)LIMITED_INTERVAL_S);
    evp__local_log(level, msg, f);
  }
}
