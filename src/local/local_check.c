/* What `evpipe local` checks before it creates anything: the data
 * directory, the schema, the clients file and the signing keys, each named
 * in the message with the reason and what to do. Nothing here writes. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "base/base.h"
#include "base/files.h"
#include "local/local.h"

#define SCHEMA_FILE_MAX (16u * 1024u * 1024u)

/* Replace path @p p (at least 2 bytes of room) by its directory: "a/b/" and
 * "a/b" -> "a", "/a" -> "/", "a" -> ".". */
static void parent_of(char *p) {
  size_t n = strlen(p);
  while (n > 1 && p[n - 1] == '/') p[--n] = '\0';
  char *slash = strrchr(p, '/');
  if (!slash)
    strcpy(p, ".");
  else if (slash == p)
    p[1] = '\0';
  else
    *slash = '\0';
}

/* Whether this user can create or write directory @p dir: 0, or the errno
 * that says why not, with the reason in @p why (naming the path in the way). */
static int dir_usable(const char *dir, char *why, size_t cap) {
  struct stat st;
  if (stat(dir, &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      snprintf(why, cap, "%s (a file of that name exists)", strerror(ENOTDIR));
      return ENOTDIR;
    }
    if (access(dir, W_OK | X_OK) != 0) {
      int en = errno;
      snprintf(why, cap, "not writable: %s", strerror(en));
      return en;
    }
    return 0;
  }
  if (errno != ENOENT && errno != ENOTDIR) {
    int en = errno;
    snprintf(why, cap, "cannot be used: %s", strerror(en));
    return en;
  }
  /* It does not exist: the nearest existing ancestor decides. */
  char p[PATH_MAX];
  if ((size_t)snprintf(p, sizeof p, "%s", dir) >= sizeof p) {
    snprintf(why, cap, "%s", strerror(ENAMETOOLONG));
    return ENAMETOOLONG;
  }
  for (;;) {
    parent_of(p);
    if (stat(p, &st) == 0) break;
    /* Only "." can vanish (a removed working directory); "/" cannot. */
    if ((errno != ENOENT && errno != ENOTDIR) || !strcmp(p, ".") || !strcmp(p, "/")) {
      int en = errno;
      snprintf(why, cap, "cannot be created: %s: %s", p, strerror(en));
      return en;
    }
  }
  if (!S_ISDIR(st.st_mode)) {
    snprintf(why, cap, "cannot be created: %s (%s is a file, not a directory)", strerror(ENOTDIR),
             p);
    return ENOTDIR;
  }
  if (access(p, W_OK | X_OK) != 0) {
    int en = errno;
    snprintf(why, cap, "cannot be created: %s (in %s)", strerror(en), p);
    return en;
  }
  return 0;
}

evp_err_t evp__local_check_data_dir(const char *dir, char *errstr, size_t errstr_size) {
  char why[PATH_MAX + 128];
  if (!*dir)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                       "data directory '': empty; give one with --data DIR");
  int en = dir_usable(dir, why, sizeof why);
  if (en == 0) return EVP_OK;
  return evp__seterr(errstr, errstr_size, EVP_ERR_IO, "data directory %s: %s; %s", dir, why,
                     en == EACCES || en == EPERM
                         ? "choose another with --data DIR, or give this user write access "
                           "(chown, chmod)"
                     : en == EROFS ? "choose one on a writable file system with --data DIR"
                                   : "choose another with --data DIR");
}

evp_err_t evp__local_schema_load(const char *path, char **text, size_t *len, evp_schema_t **schema,
                                 evp__table_t **table, char *errstr, size_t errstr_size) {
  char err[512];
  evp_err_t e;
  *text = NULL;
  *schema = NULL;
  *table = NULL;
  if ((e = evp__file_read(path, SCHEMA_FILE_MAX, 0, text, len, NULL, err, sizeof err)) != EVP_OK)
    return evp__seterr(errstr, errstr_size, e, "%s", err);
  if (!(*schema = evp_schema_compile(*text, *len, NULL, &e, err, sizeof err)))
    return evp__seterr(errstr, errstr_size, e, "does not compile: %s", err);
  if ((e = evp__table_parse(*text, *len, table, err, sizeof err)) != EVP_OK)
    return evp__seterr(errstr, errstr_size, e, "does not map to a lake table: %s", err);
  return EVP_OK;
}

evp_err_t evp__local_check_schema(const char *path, char *errstr, size_t errstr_size) {
  char *text, why[700];
  size_t len;
  evp_schema_t *schema;
  evp__table_t *table;
  evp_err_t e = evp__local_schema_load(path, &text, &len, &schema, &table, why, sizeof why);
  evp_schema_destroy(schema);
  evp__table_free(table);
  free(text);
  if (e == EVP_OK) return EVP_OK;
  return evp__seterr(errstr, errstr_size, e,
                     "--schema %s: %s; give a JSON Schema (draft-07) file with --schema F, e.g. "
                     "examples/schemas/glue-data-catalog-json-schema.json",
                     path, why);
}

/* The clients file: loaded when it exists (mode, owner, content), else the
 * directory it will be created in must be usable. @p given: named by
 * --clients (else the default in the data directory). */
static evp_err_t check_clients(const char *path, int given, char *errstr, size_t errstr_size) {
  const char *what = given ? "--clients " : "clients file ";
  struct stat st;
  char why[PATH_MAX + 600];
  if (stat(path, &st) == 0) {
    evp__clients_t *c = NULL;
    evp_err_t e = evp__local_clients_read(path, &c, NULL, why, sizeof why);
    evp__clients_free(c);
    if (e == EVP_OK) return EVP_OK;
    /* The secret-file checks say what to run; a content problem needs
     * the file fixed (or moved away: a new client is then generated). */
    return evp__seterr(errstr, errstr_size, e, "%s%s: %s%s", what, path, why,
                       strstr(why, "; ") ? ""
                                         : "; fix it (docs/local-pipeline.md, Files), or move it "
                                           "away to have a new client generated");
  }
  if (errno != ENOENT && errno != ENOTDIR)
    return evp__seterr(errstr, errstr_size, EVP_ERR_IO, "%s%s: %s; %s", what, path, strerror(errno),
                       given ? "give another with --clients F" : "check it");
  if (!given) return EVP_OK; /* DIR/secrets/: the data directory check covers it */
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", path);
  parent_of(dir);
  if (!dir_usable(dir, why, sizeof why)) return EVP_OK;
  return evp__seterr(errstr, errstr_size, EVP_ERR_IO,
                     "--clients %s: cannot create it, its directory %s: %s; give another path "
                     "with --clients F",
                     path, dir, why);
}

evp_err_t evp__local_check(const evp__local_opts_t *o, char *errstr, size_t errstr_size) {
  char path[PATH_MAX];
  evp_err_t e;
  if ((e = evp__local_check_data_dir(o->data_dir, errstr, errstr_size)) != EVP_OK) return e;
  if ((size_t)snprintf(path, sizeof path, "%s/secrets/signing-keys.json", o->data_dir) >=
      sizeof path)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                       "data directory %s: path too long; choose a shorter one with --data DIR",
                       o->data_dir);
  if (o->schema_path) {
    if ((e = evp__local_check_schema(o->schema_path, errstr, errstr_size)) != EVP_OK) return e;
  } else {
    char def[PATH_MAX];
    snprintf(def, sizeof def, "%s/schema.json", o->data_dir);
    if (access(def, F_OK) == 0 && (e = evp__local_check_schema(def, errstr, errstr_size)) != EVP_OK)
      return e;
  }
  if (o->clients_path) {
    if ((e = check_clients(o->clients_path, 1, errstr, errstr_size)) != EVP_OK) return e;
  } else {
    char def[PATH_MAX];
    snprintf(def, sizeof def, "%s/secrets/clients.json", o->data_dir);
    if ((e = check_clients(def, 0, errstr, errstr_size)) != EVP_OK) return e;
  }
  if (access(path, F_OK) == 0) {
    char err[600], kid[EVP_JWT_MAX_KID_LEN + 1];
    evp_keyring_t *kr = NULL;
    e = evp__keys_load(path, &kr, kid, sizeof kid, NULL, err, sizeof err);
    evp_keyring_destroy(kr);
    if (e != EVP_OK)
      return evp__seterr(errstr, errstr_size, e,
                         "signing keys %s: %s; restore the file, or move it away to have new "
                         "keys made (tokens issued before then stop verifying)",
                         path, err);
  }
  return EVP_OK;
}
