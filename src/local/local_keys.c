/* Signing keys of `evpipe local` (DIR/secrets/signing-keys.json, mode 0600)
 * and their rotation, mirroring Secrets Manager's AWSCURRENT/AWSPREVIOUS:
 * a rotation adds a new current key and keeps only the previous current one,
 * so tokens signed before the rotation keep verifying until they expire. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "base/base.h"
#include "local/local.h"
#include "base/files.h"
#include "token/token.h"

#define KEYS_FILE_MAX (64u * 1024u)
#define KEY_BYTES 32

/* Wipe every string in a cJSON tree (key material is among them). */
static void wipe_tree(cJSON *n) {
  for (; n; n = n->next) {
    if (cJSON_IsString(n) && n->valuestring)
      OPENSSL_cleanse(n->valuestring, strlen(n->valuestring));
    wipe_tree(n->child);
  }
}

static void free_tree(cJSON *root) {
  if (root) wipe_tree(root->child);
  cJSON_Delete(root);
}

/* A fresh key entry {"kid","secret":"base64:...","created"}. */
static cJSON *new_key(const char *kid) {
  unsigned char k[KEY_BYTES];
  char b64[64], val[80], created[32];
  if (evp__random(k, sizeof k) != EVP_OK) return NULL;
  EVP_EncodeBlock((unsigned char *)b64, k, sizeof k);
  OPENSSL_cleanse(k, sizeof k);
  snprintf(val, sizeof val, "base64:%s", b64);
  OPENSSL_cleanse(b64, sizeof b64);
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);
  cJSON *o = cJSON_CreateObject();
  if (o && (!cJSON_AddStringToObject(o, "kid", kid) || !cJSON_AddStringToObject(o, "secret", val) ||
            !cJSON_AddStringToObject(o, "created", created))) {
    free_tree(o);
    o = NULL;
  }
  OPENSSL_cleanse(val, sizeof val);
  return o;
}

/* Write the tree atomically (0600), wiping the rendered text. */
static evp_err_t write_tree(const char *path, const cJSON *root, int excl, char *errstr,
                            size_t errstr_size) {
  char *txt = cJSON_Print(root);
  if (!txt) return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  size_t n = strlen(txt);
  evp_err_t e = evp__file_write_secret(path, txt, n, excl, errstr, errstr_size);
  OPENSSL_cleanse(txt, n);
  cJSON_free(txt);
  return e;
}

evp_err_t evp__keys_init(const char *path, int *created, char *errstr, size_t errstr_size) {
  *created = 0;
  if (access(path, F_OK) == 0) return EVP_OK;
  cJSON *root = cJSON_CreateObject(), *keys = NULL, *k = new_key("v1");
  if (!root || !k || !cJSON_AddStringToObject(root, "current", "v1") ||
      !(keys = cJSON_AddArrayToObject(root, "keys"))) {
    free_tree(root);
    free_tree(k);
    return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "cannot create a signing key");
  }
  cJSON_AddItemToArray(keys, k);
  evp_err_t e = write_tree(path, root, 1, errstr, errstr_size);
  free_tree(root);
  if (e == EVP_ERR_STATE) return EVP_OK; /* created meanwhile */
  if (e == EVP_OK) *created = 1;
  return e;
}

/* Parse and check the structure; returns the tree or NULL with errstr. */
static cJSON *read_tree(const char *path, struct stat *st, evp_err_t *err, char *errstr,
                        size_t errstr_size) {
  char *buf;
  size_t len;
  *err = evp__file_read(path, KEYS_FILE_MAX, 1, &buf, &len, st, errstr, errstr_size);
  if (*err != EVP_OK) return NULL;
  cJSON *root = cJSON_ParseWithLength(buf, len);
  OPENSSL_cleanse(buf, len);
  free(buf);
  const cJSON *cur = cJSON_GetObjectItemCaseSensitive(root, "current");
  const cJSON *keys = cJSON_GetObjectItemCaseSensitive(root, "keys");
  int n = cJSON_GetArraySize(keys);
  if (!cJSON_IsObject(root) || !cJSON_IsString(cur) || !cJSON_IsArray(keys) || n < 1 ||
      n > EVP__KEYRING_MAX) {
    free_tree(root);
    *err =
        evp__seterr(errstr, errstr_size, EVP_ERR_JSON,
                    "%s: expected {\"current\":KID,\"keys\":[1..%d keys]}", path, EVP__KEYRING_MAX);
    return NULL;
  }
  return root;
}

/* Decode "base64:<standard base64>" into out (>= 96 bytes). */
static int decode_secret(const char *s, unsigned char *out, size_t cap, size_t *outlen) {
  if (strncmp(s, "base64:", 7) != 0) return -1;
  s += 7;
  size_t tl = strlen(s);
  if (tl == 0 || tl % 4 != 0 || tl / 4 * 3 > cap) return -1;
  int dl = EVP_DecodeBlock(out, (const unsigned char *)s, (int)tl);
  if (dl < 0) return -1;
  if (s[tl - 1] == '=') dl--;
  if (s[tl - 2] == '=') dl--;
  *outlen = (size_t)dl;
  return 0;
}

evp_err_t evp__keys_load(const char *path, evp_keyring_t **krp, char *current, size_t current_size,
                         struct stat *st, char *errstr, size_t errstr_size) {
  *krp = NULL;
  evp_err_t e;
  cJSON *root = read_tree(path, st, &e, errstr, errstr_size);
  if (!root) return e;
  const char *cur = cJSON_GetObjectItemCaseSensitive(root, "current")->valuestring;
  evp_keyring_t *kr = evp_keyring_new();
  if (!kr) {
    e = evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
    goto out;
  }
  const cJSON *k;
  int idx = 0;
  cJSON_ArrayForEach(k, cJSON_GetObjectItemCaseSensitive(root, "keys")) {
    const cJSON *kid = cJSON_GetObjectItemCaseSensitive(k, "kid");
    const cJSON *sec = cJSON_GetObjectItemCaseSensitive(k, "secret");
    unsigned char raw[192];
    size_t rl = 0;
    if (!cJSON_IsString(kid) || !kid->valuestring[0] || !cJSON_IsString(sec) ||
        decode_secret(sec->valuestring, raw, sizeof raw, &rl) != 0) {
      OPENSSL_cleanse(raw, sizeof raw);
      e = evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                      "%s: key %d needs a kid and a secret \"base64:...\"", path, idx);
      goto out;
    }
    char why[160];
    e = evp_keyring_add(kr, kid->valuestring, raw, rl, why, sizeof why);
    OPENSSL_cleanse(raw, sizeof raw);
    if (e != EVP_OK) {
      evp__seterr(errstr, errstr_size, e, "%s: key %d: %s", path, idx, why);
      goto out;
    }
    idx++;
  }
  if (evp_keyring_set_current(kr, cur) != EVP_OK) {
    e = evp__seterr(errstr, errstr_size, EVP_ERR_JWT_UNKNOWN_KEY,
                    "%s: \"current\" names no key in the file", path);
    goto out;
  }
  if (strlen(cur) >= current_size) {
    e = evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "kid too long");
    goto out;
  }
  strcpy(current, cur);
  *krp = kr;
  kr = NULL;
  e = EVP_OK;
out:
  evp_keyring_destroy(kr);
  free_tree(root);
  return e;
}

/* Serialise rotations (two `evpipe secret rotate` at once) with a POSIX
 * record lock on a side file; the keys file itself is replaced by rename. */
static int lock_file(const char *path) {
  char lp[PATH_MAX];
  if ((size_t)snprintf(lp, sizeof lp, "%s.lock", path) >= sizeof lp) return -1;
  int fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return -1;
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  while (fcntl(fd, F_SETLKW, &fl) != 0) {
    if (errno != EINTR) {
      close(fd);
      return -1;
    }
  }
  return fd;
}

evp_err_t evp__keys_rotate(const char *path, char *new_kid, size_t kid_size, char *errstr,
                           size_t errstr_size) {
  int lfd = lock_file(path);
  if (lfd < 0)
    return evp__seterr(errstr, errstr_size, EVP_ERR_IO, "cannot lock %s.lock: %s", path,
                       strerror(errno));
  evp_err_t e;
  cJSON *out = NULL, *root = read_tree(path, NULL, &e, errstr, errstr_size);
  if (!root) goto done;
  /* Check the file loads before building on it. */
  evp_keyring_t *kr;
  char cur[EVP_JWT_MAX_KID_LEN + 1];
  if ((e = evp__keys_load(path, &kr, cur, sizeof cur, NULL, errstr, errstr_size)) != EVP_OK)
    goto done;
  evp_keyring_destroy(kr);
  long maxv = 0;
  cJSON *k, *prev = NULL;
  cJSON_ArrayForEach(k, cJSON_GetObjectItemCaseSensitive(root, "keys")) {
    const char *kid = cJSON_GetObjectItemCaseSensitive(k, "kid")->valuestring;
    char *end;
    if (kid[0] == 'v') {
      long v = strtol(kid + 1, &end, 10);
      if (*end == '\0' && v > maxv && v < 1000000000L) maxv = v;
    }
    if (strcmp(kid, cur) == 0) prev = k;
  }
  char kid[32];
  snprintf(kid, sizeof kid, "v%ld", maxv + 1);
  cJSON *keys = NULL, *nk = new_key(kid), *pk = cJSON_Duplicate(prev, 1);
  out = cJSON_CreateObject();
  if (!out || !nk || !pk || !cJSON_AddStringToObject(out, "current", kid) ||
      !(keys = cJSON_AddArrayToObject(out, "keys"))) {
    free_tree(nk);
    free_tree(pk);
    e = evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
    goto done;
  }
  cJSON_AddItemToArray(keys, nk);
  cJSON_AddItemToArray(keys, pk);
  if ((e = write_tree(path, out, 0, errstr, errstr_size)) != EVP_OK) goto done;
  if (strlen(kid) >= kid_size) {
    e = evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "kid buffer too small");
    goto done;
  }
  strcpy(new_kid, kid);
done:
  free_tree(out);
  free_tree(root);
  close(lfd); /* releases the lock */
  return e;
}
