/* JSON Schema benchmark: parse + validate one typical ~300-byte event against
 * the default event schema, events per second on one thread, and the heap
 * allocations made per validation. Prints "<name> <value> <unit>" lines;
 * bench/run_schema.sh runs it next to node ajv doing the same work.
 *   bench_schema [SECONDS] [SCHEMA_FILE] */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "evpipe/evpipe.h"

#ifndef EVP_SOURCE_DIR
#define EVP_SOURCE_DIR "."
#endif

/* The same event as bench/bench_schema_ajv.mjs. */
static const char event[] =
    "{\"event_id\":\"9c2e4b71-0d3a-4c8f-a6e5-2b7f1d9e3c60\",\"event_type\":\"checkout.completed\","
    "\"event_time\":\"2024-05-01T10:02:11.250+02:00\",\"app_id\":\"shop-android\",\"user_id\":\"u-"
    "1842\","
    "\"platform\":\"android\",\"context\":{\"locale\":\"de-DE\",\"os\":\"Android\"},"
    "\"properties\":{\"order_id\":\"o-99812\",\"total\":59.9,\"items\":3,\"first_order\":false,"
    "\"coupon\":null}}";

/* Count heap allocations by interposing malloc (glibc). Sanitizer builds
 * own malloc themselves, so counting is off there. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || !defined(__GLIBC__)
#define COUNT_ALLOCS 0
static unsigned long g_allocs, g_bytes;
#else
#define COUNT_ALLOCS 1
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
static unsigned long g_allocs, g_bytes;
/* default visibility so that shared libraries (PCRE2, cJSON) bind here too */
__attribute__((visibility("default"))) void *malloc(size_t n) {
  g_allocs++;
  g_bytes += n;
  return __libc_malloc(n);
}
__attribute__((visibility("default"))) void *calloc(size_t a, size_t b) {
  g_allocs++;
  g_bytes += a * b;
  return __libc_calloc(a, b);
}
__attribute__((visibility("default"))) void *realloc(void *p, size_t n) {
  g_allocs++;
  g_bytes += n;
  return __libc_realloc(p, n);
}
#endif

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = malloc(1 << 20);
  *len = buf ? fread(buf, 1, 1 << 20, f) : 0;
  fclose(f);
  return buf;
}

int main(int argc, char **argv) {
  double secs = argc > 1 ? atof(argv[1]) : 2.0;
  const char *path =
      argc > 2 ? argv[2] : EVP_SOURCE_DIR "/examples/schemas/glue-data-catalog-json-schema.json";
  size_t slen;
  char *stext = slurp(path, &slen), err[256];
  if (!stext) {
    fprintf(stderr, "cannot read %s\n", path);
    return 1;
  }
  evp_schema_t *s = evp_schema_compile(stext, slen, NULL, NULL, err, sizeof err);
  evp_schema_ctx_t *c = evp_schema_ctx_new();
  free(stext);
  if (!s || !c) {
    fprintf(stderr, "setup: %s\n", err);
    return 1;
  }
  size_t len = strlen(event);
  unsigned long f0 = g_allocs;
  evp_err_t first = evp_schema_validate(s, c, event, len);
  unsigned long first_allocs = g_allocs - f0; /* sizing the fresh context's buffers */
  if (first != EVP_OK) {
    fprintf(stderr, "the bench event is invalid: %s\n", evp_schema_ctx_error_message(c, 0));
    return 1;
  }
  /* allocations: the first validation sizes the workspace, later ones reuse it */
  unsigned long a0 = g_allocs, b0 = g_bytes;
  const int N = 10000;
  for (int i = 0; i < N; i++) evp_schema_validate(s, c, event, len);
  unsigned long da = g_allocs - a0, db = g_bytes - b0; /* before printf allocates its buffer */
  printf("event_bytes %zu bytes\n", len);
  if (COUNT_ALLOCS) {
    printf("first_validation_allocs %lu allocs\n", first_allocs);
    printf("allocs_per_validation %.3f allocs\n", (double)da / N);
    printf("bytes_allocated_per_validation %.1f bytes\n", (double)db / N);
  }

  long n = 0;
  double t0 = now_s(), el;
  int bad = 0;
  do {
    for (int i = 0; i < 10000; i++) bad |= evp_schema_validate(s, c, event, len) != EVP_OK;
    n += 10000;
  } while ((el = now_s() - t0) < secs);
  if (bad) return 1;
  printf("validate %.0f events/s\n", n / el);

  /* an invalid event, stop-at-first-error mode */
  static const char invalid[] = "{\"event_id\":\"nope\",\"event_type\":\"x\",\"event_time\":\"2024-"
                                "05-01T10:02:11Z\",\"app_id\":\"a\"}";
  n = 0;
  t0 = now_s();
  do {
    for (int i = 0; i < 10000; i++)
      bad |= evp_schema_validate(s, c, invalid, sizeof invalid - 1) != EVP_ERR_INVALID_EVENT;
    n += 10000;
  } while ((el = now_s() - t0) < secs / 2);
  if (bad) return 1;
  printf("validate_invalid %.0f events/s\n", n / el);
  evp_schema_ctx_destroy(c);
  evp_schema_destroy(s);
  return 0;
}
