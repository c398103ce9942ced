/* Suite: the official JSON-Schema-Test-Suite, draft7. Every required test
 * must pass (exceptions are listed below, by name, with a reason); the
 * optional/ and optional/format/ directories are run and their pass rates
 * printed, because format and ECMA-262 regex details are best effort. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "evpipe/evpipe.h"

#define SUITE_DIR EVP_SOURCE_DIR "/../shared/testdata/json-schema-test-suite"

/* Required tests that are allowed to fail: "file|group|test" and why.
 * (Currently none: the list exists so that an exception is never silent.) */
static const struct {
  const char *name;
  const char *reason;
} known_failures[] = {
    {"", ""},
};

static int is_known_failure(const char *name) {
  for (size_t i = 0; i < sizeof known_failures / sizeof known_failures[0]; i++)
    if (known_failures[i].name[0] && !strcmp(known_failures[i].name, name)) return 1;
  return 0;
}

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 65536, n = 0;
  char *buf = malloc(cap);
  size_t r;
  while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
    n += r;
    if (n == cap) {
      char *nb = realloc(buf, cap *= 2);
      if (!nb) { free(buf); buf = NULL; }
      else buf = nb;
    }
  }
  fclose(f);
  if (buf) *len = n;
  return buf;
}

static void add_remotes(evp_schema_loader_t *l, const char *dir, const char *rel) {
  DIR *d = opendir(dir);
  ck_assert_msg(d != NULL, "cannot open %s", dir);
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char path[1024], r[1024];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    snprintf(r, sizeof r, "%s%s%s", rel, *rel ? "/" : "", e->d_name);
    struct stat st;
    if (stat(path, &st)) continue;
    if (S_ISDIR(st.st_mode)) {
      add_remotes(l, path, r);
      continue;
    }
    size_t len;
    char *text = slurp(path, &len);
    ck_assert_ptr_nonnull(text);
    char uri[1200], err[256];
    snprintf(uri, sizeof uri, "http://localhost:1234/%s", r);
    ck_assert_int_eq(evp_schema_add_resource(l, uri, text, len, err, sizeof err), EVP_OK);
    free(text);
  }
  closedir(d);
}

typedef struct {
  int pass, fail, known;
} tally;

/* cJSON prints numbers with 15 significant digits when that "looks" equal,
 * which loses the large integers the suite uses; print with 17 instead. */
static void put(char **buf, size_t *n, size_t *cap, const char *s) {
  size_t k = strlen(s);
  while (*n + k + 1 > *cap) {
    /* zero the new part: PCRE2's JIT may read a little past a subject */
    *buf = realloc(*buf, *cap * 2);
    ck_assert_ptr_nonnull(*buf);
    memset(*buf + *cap, 0, *cap);
    *cap *= 2;
  }
  memcpy(*buf + *n, s, k + 1);
  *n += k;
}

static void print_json(const cJSON *j, char **buf, size_t *n, size_t *cap) {
  if (cJSON_IsNumber(j)) {
    char num[40];
    snprintf(num, sizeof num, "%.17g", j->valuedouble);
    put(buf, n, cap, num);
  } else if (cJSON_IsArray(j) || cJSON_IsObject(j)) {
    put(buf, n, cap, cJSON_IsArray(j) ? "[" : "{");
    for (const cJSON *c = j->child; c; c = c->next) {
      if (c != j->child) put(buf, n, cap, ",");
      if (cJSON_IsObject(j)) {
        cJSON *k = cJSON_CreateString(c->string);
        char *ks = cJSON_PrintUnformatted(k);
        put(buf, n, cap, ks);
        put(buf, n, cap, ":");
        free(ks);
        cJSON_Delete(k);
      }
      print_json(c, buf, n, cap);
    }
    put(buf, n, cap, cJSON_IsArray(j) ? "]" : "}");
  } else {
    char *s = cJSON_PrintUnformatted(j);
    put(buf, n, cap, s);
    free(s);
  }
}

static char *to_text(const cJSON *j) {
  size_t n = 0, cap = 256;
  char *buf = calloc(1, cap);
  ck_assert_ptr_nonnull(buf);
  print_json(j, &buf, &n, &cap);
  return buf;
}

static void run_file(evp_schema_loader_t *l, evp_schema_ctx_t *ctx, const char *path, const char *fname,
                     int required, tally *t) {
  size_t len;
  char *text = slurp(path, &len);
  ck_assert_ptr_nonnull(text);
  cJSON *groups = cJSON_ParseWithLength(text, len);
  free(text);
  ck_assert_ptr_nonnull(groups);
  const cJSON *g;
  cJSON_ArrayForEach(g, groups) {
    const char *gdesc = cJSON_GetObjectItem(g, "description")->valuestring;
    char *stext = to_text(cJSON_GetObjectItem(g, "schema"));
    char err[512] = "";
    evp_err_t cerr;
    evp_schema_t *s = evp_schema_compile(stext, strlen(stext), l, &cerr, err, sizeof err);
    free(stext);
    const cJSON *tc;
    cJSON_ArrayForEach(tc, cJSON_GetObjectItem(g, "tests")) {
      const char *tdesc = cJSON_GetObjectItem(tc, "description")->valuestring;
      int want = cJSON_IsTrue(cJSON_GetObjectItem(tc, "valid"));
      char name[1024];
      snprintf(name, sizeof name, "%s|%s|%s", fname, gdesc, tdesc);
      int ok;
      const char *why = err;
      if (!s) {
        ok = 0;
      } else {
        char *data = to_text(cJSON_GetObjectItem(tc, "data"));
        evp_err_t rc = evp_schema_validate(s, ctx, data, strlen(data));
        free(data);
        ok = (rc == EVP_OK) == want && (rc == EVP_OK || rc == EVP_ERR_INVALID_EVENT);
        why = evp_schema_ctx_error_count(ctx) ? evp_schema_ctx_error_message(ctx, 0) : evp_err2name(rc);
      }
      if (ok) t->pass++;
      else if (required && is_known_failure(name)) t->known++;
      else {
        t->fail++;
        if (required || getenv("EVP_SCHEMA_SUITE_VERBOSE"))
          fprintf(stderr, "%s FAIL %s (expected %s; %s)\n", required ? "required" : "optional", name,
                  want ? "valid" : "invalid", why);
      }
    }
    evp_schema_destroy(s);
  }
  cJSON_Delete(groups);
}

static void run_dir(evp_schema_loader_t *l, evp_schema_ctx_t *ctx, const char *dir, const char *prefix,
                    int required, tally *t) {
  DIR *d = opendir(dir);
  ck_assert_msg(d != NULL, "cannot open %s", dir);
  struct dirent *e;
  char *names[256];
  int n = 0;
  while ((e = readdir(d)) && n < 256) {
    size_t k = strlen(e->d_name);
    if (k > 5 && !strcmp(e->d_name + k - 5, ".json")) names[n++] = strdup(e->d_name);
  }
  closedir(d);
  for (int i = 0; i < n; i++) {
    char path[1024], fname[512];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    snprintf(fname, sizeof fname, "%s%s", prefix, names[i]);
    run_file(l, ctx, path, fname, required, t);
    free(names[i]);
  }
}

static evp_schema_loader_t *loader(void) {
  char err[256];
  evp_schema_loader_t *l = evp_schema_loader_new(err, sizeof err);
  ck_assert_ptr_nonnull(l);
  add_remotes(l, SUITE_DIR "/remotes", "");
  return l;
}

static evp_schema_ctx_t *context(void) {
  char err[256];
  evp_schema_ctx_t *c = evp_schema_ctx_new(err, sizeof err);
  ck_assert_ptr_nonnull(c);
  ck_assert_int_eq(evp_schema_ctx_set_limits(c, 0, 200, 10), EVP_OK);
  return c;
}

START_TEST(required_draft7_all_pass) {
  evp_schema_loader_t *l = loader();
  evp_schema_ctx_t *c = context();
  tally t = {0, 0, 0};
  run_dir(l, c, SUITE_DIR "/tests/draft7", "", 1, &t);
  printf("draft7 required: %d/%d passed, %d known exceptions\n", t.pass, t.pass + t.fail + t.known, t.known);
  ck_assert_int_gt(t.pass, 800); /* the suite was found and run */
  ck_assert_int_eq(t.fail, 0);
  evp_schema_ctx_destroy(c);
  evp_schema_loader_destroy(l);
}
END_TEST

START_TEST(optional_draft7_pass_rate) {
  evp_schema_loader_t *l = loader();
  evp_schema_ctx_t *c = context();
  tally t = {0, 0, 0}, f = {0, 0, 0};
  run_dir(l, c, SUITE_DIR "/tests/draft7/optional", "optional/", 0, &t);
  run_dir(l, c, SUITE_DIR "/tests/draft7/optional/format", "optional/format/", 0, &f);
  printf("draft7 optional: %d/%d passed (%.1f%%)\n", t.pass, t.pass + t.fail, 100.0 * t.pass / (t.pass + t.fail));
  printf("draft7 optional/format: %d/%d passed (%.1f%%)\n", f.pass, f.pass + f.fail,
         100.0 * f.pass / (f.pass + f.fail));
  ck_assert_int_gt(t.pass + t.fail, 50);
  ck_assert_int_gt(f.pass + f.fail, 200);
  evp_schema_ctx_destroy(c);
  evp_schema_loader_destroy(l);
}
END_TEST

int main(void) {
  Suite *s = suite_create("schema_suite");
  TCase *tc = tcase_create("draft7");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, required_draft7_all_pass);
  tcase_add_test(tc, optional_draft7_pass_rate);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
