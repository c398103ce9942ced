/* The temporary-directory fixture of the suites that write files (the log,
 * the batcher, the lake writer, evpipe local's files): a private directory
 * under /tmp made for a test, and its removal with everything in it.
 * Header-only: each suite is its own executable. The including file defines
 * _XOPEN_SOURCE 700 (nftw) before any #include. */
#ifndef EVP_TESTS_TMPDIR_H
#define EVP_TESTS_TMPDIR_H

#include <check.h>
#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Make /tmp/evp_<name>_XXXXXX (mode 0700) into @p dir; fails the test when
 * it cannot. */
static inline void test_tmpdir_make(char *dir, size_t size, const char *name) {
  ck_assert_int_lt(snprintf(dir, size, "/tmp/evp_%s_XXXXXX", name), (int)size);
  ck_assert_ptr_nonnull(mkdtemp(dir));
}

static inline int test_tmpdir_remove_one(const char *p, const struct stat *sb, int flag,
                                         struct FTW *f) {
  (void)sb;
  (void)flag;
  (void)f;
  return remove(p);
}

/* Remove @p dir and everything under it (symbolic links are not followed);
 * 0 when all of it is gone. */
static inline int test_tmpdir_remove(const char *dir) {
  return nftw(dir, test_tmpdir_remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Entries in @p dir ("." and ".." not counted); 0 when it cannot be read. */
static inline int test_tmpdir_count(const char *dir) {
  DIR *d = opendir(dir);
  int n = 0;
  struct dirent *e;
  while (d && (e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
  if (d) closedir(d);
  return n;
}

#endif /* EVP_TESTS_TMPDIR_H */
