/* The official JSON-Schema-Test-Suite (draft7) for the suites that run it
 * through a path of their own: the library (test_schema_suite.c) and the
 * server's event acceptance (server/test_events_suite.c).
 *
 * Schemas and instances are handed over as the exact text of the test file
 * (spans found with the JSON layer's parser), never re-printed: a round trip
 * through cJSON would cut "hello\u0000there" at its NUL and hide exactly the
 * bugs the "nul characters in strings" cases exist to find. */
#ifndef EVP_TESTS_SCHEMA_SUITE_H
#define EVP_TESTS_SCHEMA_SUITE_H

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "schema/schema_int.h"
#include "evpipe/evpipe.h"

#define SUITE_DIR EVP_SOURCE_DIR "/../shared/testdata/json-schema-test-suite"

static inline char *suite_slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 65536, n = 0;
  char *buf = malloc(cap);
  size_t r;
  while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
    n += r;
    if (n == cap) {
      char *nb = realloc(buf, cap *= 2);
      if (!nb) {
        free(buf);
        buf = NULL;
      } else
        buf = nb;
    }
  }
  fclose(f);
  if (buf) *len = n;
  return buf;
}

/* The suite's remotes, as http://localhost:1234/... resources of @p l. */
static inline void suite_add_remotes(evp_schema_loader_t *l, const char *dir, const char *rel) {
  DIR *d = opendir(dir);
  ck_assert_msg(d != NULL, "cannot open %s", dir);
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char path[1024], r[1024];
    int pn = snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    int rn = snprintf(r, sizeof r, "%s%s%s", rel, *rel ? "/" : "", e->d_name);
    ck_assert_msg(pn > 0 && (size_t)pn < sizeof path && rn > 0 && (size_t)rn < sizeof r,
                  "path too long under %s", dir);
    struct stat st;
    if (stat(path, &st)) continue;
    if (S_ISDIR(st.st_mode)) {
      suite_add_remotes(l, path, r);
      continue;
    }
    size_t len;
    char *text = suite_slurp(path, &len);
    ck_assert_ptr_nonnull(text);
    char uri[1200], err[256];
    snprintf(uri, sizeof uri, "http://localhost:1234/%s", r);
    ck_assert_int_eq(evp_schema_add_resource(l, uri, text, len, err, sizeof err), EVP_OK);
    free(text);
  }
  closedir(d);
}

static inline evp_schema_loader_t *suite_loader(void) {
  evp_schema_loader_t *l = evp_schema_loader_new();
  ck_assert_ptr_nonnull(l);
  suite_add_remotes(l, SUITE_DIR "/remotes", "");
  return l;
}

/* One test of a group: its description, instance text and verdict. */
typedef struct {
  char desc[512];
  const char *data;
  size_t data_len;
  int valid;
} suite_test_t;

/* Called once per group with the schema's text and the group's tests;
 * @p name_prefix is "file|group". */
typedef void (*suite_group_fn)(void *opaque, const char *name_prefix, const char *schema,
                               size_t schema_len, const suite_test_t *tests, size_t n);

/* End of the value that starts at v->off in t[0..len). */
static inline size_t suite_raw_end(const char *t, size_t len, const evp__jv *v) {
  if (v->type == EVP__J_OBJ || v->type == EVP__J_ARR) return v->u.end;
  size_t i = v->off;
  if (v->type == EVP__J_STR) {
    for (i++; i < len && t[i] != '"'; i++)
      if (t[i] == '\\') i++;
    return i + 1;
  }
  while (i < len && !strchr(",]} \t\r\n", t[i])) i++;
  return i;
}

static inline int suite_key_is(const evp__jv *k, const char *s) {
  return k->len == strlen(s) && !memcmp(k->u.str, s, k->len);
}

static inline void suite_copy_str(char *out, size_t cap, const evp__jv *v) {
  size_t n = v->type == EVP__J_STR ? (v->len < cap - 1 ? v->len : cap - 1) : 0;
  memcpy(out, v->type == EVP__J_STR ? v->u.str : "", n);
  out[n] = '\0';
}

static inline void suite_run_file(const char *path, const char *fname, suite_group_fn fn,
                                  void *opaque) {
  size_t len;
  char *text = suite_slurp(path, &len);
  ck_assert_msg(text != NULL, "cannot read %s", path);
  evp__jdoc d;
  memset(&d, 0, sizeof d);
  ck_assert_int_eq(evp__json_parse(&d, text, len, 256), EVP_OK);
  ck_assert_int_eq(d.v[0].type, EVP__J_ARR);
  suite_test_t *tests = NULL;
  size_t cap = 0;
  for (size_t g = 1, gi = 0; gi < d.v[0].len; gi++, g += d.v[g].skip) {
    char gdesc[512] = "", prefix[1100];
    const evp__jv *schema = NULL;
    size_t nt = 0;
    for (size_t k = g + 1, mi = 0; mi < d.v[g].len; mi++, k += 1 + d.v[k + 1].skip) {
      const evp__jv *key = &d.v[k], *val = &d.v[k + 1];
      if (suite_key_is(key, "description")) suite_copy_str(gdesc, sizeof gdesc, val);
      if (suite_key_is(key, "schema")) schema = val;
      if (!suite_key_is(key, "tests")) continue;
      for (size_t x = k + 2, ti = 0; ti < val->len; ti++, x += d.v[x].skip) {
        if (nt == cap) {
          cap = cap ? cap * 2 : 16;
          tests = realloc(tests, cap * sizeof *tests);
          ck_assert_ptr_nonnull(tests);
        }
        suite_test_t *t = &tests[nt++];
        memset(t, 0, sizeof *t);
        for (size_t y = x + 1, yi = 0; yi < d.v[x].len; yi++, y += 1 + d.v[y + 1].skip) {
          const evp__jv *tk = &d.v[y], *tv = &d.v[y + 1];
          if (suite_key_is(tk, "description")) suite_copy_str(t->desc, sizeof t->desc, tv);
          if (suite_key_is(tk, "valid")) t->valid = tv->type == EVP__J_TRUE;
          if (suite_key_is(tk, "data")) {
            t->data = text + tv->off;
            t->data_len = suite_raw_end(text, len, tv) - tv->off;
          }
        }
      }
    }
    ck_assert_ptr_nonnull(schema);
    snprintf(prefix, sizeof prefix, "%s|%s", fname, gdesc);
    fn(opaque, prefix, text + schema->off, suite_raw_end(text, len, schema) - schema->off, tests,
       nt);
  }
  free(tests);
  evp__jdoc_free(&d);
  free(text);
}

/* Every *.json file of @p dir, in name order, as "prefix" + file name. */
static inline void suite_run_dir(const char *dir, const char *prefix, suite_group_fn fn,
                                 void *opaque) {
  struct dirent **names;
  int n = scandir(dir, &names, NULL, alphasort);
  ck_assert_msg(n >= 0, "cannot open %s", dir);
  for (int i = 0; i < n; i++) {
    size_t k = strlen(names[i]->d_name);
    if (k > 5 && !strcmp(names[i]->d_name + k - 5, ".json")) {
      char path[1024], fname[512];
      snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
      snprintf(fname, sizeof fname, "%s%s", prefix, names[i]->d_name);
      suite_run_file(path, fname, fn, opaque);
    }
    free(names[i]);
  }
  free(names);
}

#endif /* EVP_TESTS_SCHEMA_SUITE_H */
