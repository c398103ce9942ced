/* JSON-line logs for CloudWatch (evp_lambda_log) and the JSON escaper the
 * runtime uses for error bodies. One write(2) per line, bounded size, never
 * invalid JSON whatever bytes the caller passes. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "base/base.h"
#include "json/json.h"
#include "lambda/lambda_int.h"

/* Longest log line written (bytes, newline included). The message is cut
 * to fit; fields that do not fit are replaced by a note. */
#define LOG_LINE_MAX 8192
#define LOG_MSG_MAX 3072    /* escaped message bytes */
#define LOG_FIELDS_MAX 4096 /* raw fields_json bytes considered */

/* The most verbose evp_log_level_t shown (syslog numbering: a line passes
 * when its level is <= this); -1: not read yet. FATAL is EVP_LOG_ERR - 1, so
 * nothing evp_lambda_log writes passes. */
#define LEVEL_FATAL_ONLY (EVP_LOG_ERR - 1)
static atomic_int g_level = -1;
static _Thread_local const evp_lambda_invocation_t *tl_current;

/* AWS_LAMBDA_LOG_LEVEL's names onto evp_log_level_t. */
static int parse_level(const char *v) {
  if (!v || !*v) return EVP_LOG_INFO;
  if (!strcasecmp(v, "TRACE") || !strcasecmp(v, "DEBUG")) return EVP_LOG_DEBUG;
  if (!strcasecmp(v, "INFO")) return EVP_LOG_INFO;
  if (!strcasecmp(v, "WARN") || !strcasecmp(v, "WARNING")) return EVP_LOG_WARNING;
  if (!strcasecmp(v, "ERROR")) return EVP_LOG_ERR;
  if (!strcasecmp(v, "FATAL")) return LEVEL_FATAL_ONLY;
  return EVP_LOG_INFO;
}

void evp__lambda_log_reload(void) {
  atomic_store(&g_level, parse_level(getenv("AWS_LAMBDA_LOG_LEVEL")));
}

static int level_threshold(void) {
  int l = atomic_load_explicit(&g_level, memory_order_relaxed);
  if (l < 0) {
    /* First use before any runtime was created: read the environment once.
     * Two threads racing here both store the same value. */
    l = parse_level(getenv("AWS_LAMBDA_LOG_LEVEL"));
    atomic_store(&g_level, l);
  }
  return l;
}

void evp__lambda_set_current(const evp_lambda_invocation_t *inv) { tl_current = inv; }

/* The names Lambda's JSON log format knows; it has no NOTICE, which is
 * shown (and filtered) as INFO, the next level Lambda has. */
static const char *level_name(evp_log_level_t l) {
  switch (l) {
  case EVP_LOG_DEBUG: return "DEBUG";
  case EVP_LOG_INFO: return "INFO";
  case EVP_LOG_NOTICE: return "INFO";
  case EVP_LOG_WARNING: return "WARN";
  case EVP_LOG_ERR: return "ERROR";
  }
  return "ERROR";
}

/* Append the members of the JSON object text @p f to line (at *o, which
 * already ends in a member): ",<members>". Raw newlines in a valid JSON text
 * can only be whitespace, so they become spaces to keep one line. Returns 0
 * when @p f is not a JSON object or does not fit. */
static int append_fields(char *line, size_t *o, size_t cap, const char *f) {
  size_t n = strnlen(f, LOG_FIELDS_MAX + 1);
  if (n > LOG_FIELDS_MAX) return 0;
  while (n && (f[n - 1] == ' ' || f[n - 1] == '\n' || f[n - 1] == '\r' || f[n - 1] == '\t')) n--;
  size_t b = 0;
  while (b < n && (f[b] == ' ' || f[b] == '\n' || f[b] == '\r' || f[b] == '\t')) b++;
  if (n - b < 2 || f[b] != '{' || f[n - 1] != '}') return 0;
  cJSON *j = cJSON_ParseWithLength(f + b, n - b);
  int ok = j && cJSON_IsObject(j);
  int empty = ok && j->child == NULL;
  cJSON_Delete(j);
  if (!ok) return 0;
  if (empty) return 1;
  /* Validity was checked by cJSON; the bytes must also be valid UTF-8
   * (cJSON passes invalid sequences through), which a copy cannot repair. */
  const unsigned char *p = (const unsigned char *)f + b + 1,
                      *end = (const unsigned char *)f + n - 1;
  for (const unsigned char *q = p; q < end;) {
    size_t l = evp__utf8_seq(q, end);
    if (!l) return 0;
    q += l;
  }
  size_t len = (size_t)(end - p);
  if (*o + 1 + len + 1 > cap) return 0;
  line[(*o)++] = ',';
  for (size_t i = 0; i < len; i++) {
    char c = (char)p[i];
    line[(*o)++] = (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
  }
  return 1;
}

static void write_all(const char *s, size_t n) {
  while (n) {
    ssize_t w = write(STDERR_FILENO, s, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return;
    }
    s += w;
    n -= (size_t)w;
  }
}

void evp_lambda_log(const evp_lambda_invocation_t *inv, evp_log_level_t level, const char *message,
                    const char *fields_json) {
  if ((int)level < EVP_LOG_ERR || (int)level > EVP_LOG_DEBUG) level = EVP_LOG_ERR;
  /* No threshold is NOTICE (Lambda has no such name), so NOTICE passes
   * exactly when INFO does, as it is written. */
  if ((int)level > level_threshold()) return;
  if (!inv) inv = tl_current;
  char line[LOG_LINE_MAX];
  struct tm tm;
  int64_t now_ms = evp__wall_ms();
  time_t secs = (time_t)(now_ms / 1000);
  gmtime_r(&secs, &tm);
  int w = snprintf(line, sizeof line,
                   "{\"timestamp\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\"",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                   (long)(now_ms % 1000), level_name(level));
  if (w < 0) return;
  size_t o = (size_t)w;
  if (inv && inv->request_id[0]) {
    /* Request ids are checked to be [A-Za-z0-9._:-] before a handler runs. */
    o += (size_t)snprintf(line + o, sizeof line - o, ",\"requestId\":\"%s\"", inv->request_id);
  }
  memcpy(line + o, ",\"message\":\"", 12);
  o += 12;
  const char *msg = message ? message : "";
  int cut = 0;
  o += evp__json_escape_text(msg, strnlen(msg, 4 * LOG_MSG_MAX), line + o, LOG_MSG_MAX, &cut);
  line[o++] = '"';
  if (cut) {
    static const char t[] = ",\"messageTruncated\":true";
    memcpy(line + o, t, sizeof t - 1);
    o += sizeof t - 1;
  }
  /* Room for the closing "}\n" is kept out of the fields' budget. */
  if (fields_json && !append_fields(line, &o, sizeof line - 2, fields_json)) {
    static const char t[] =
        ",\"fieldsError\":\"fields_json is not a JSON object of UTF-8 text or is too large\"";
    memcpy(line + o, t, sizeof t - 1);
    o += sizeof t - 1;
  }
  line[o++] = '}';
  line[o++] = '\n';
  write_all(line, o);
}
