/* Helpers shared by the CLI commands: option parsing and key files. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "cli/cli.h"

/* "local", "spool inspect", ...: set by the dispatchers, so that messages
 * shared by every command name the one the user ran. */
static const char *command_name = "";

void evp__cli_set_command(const char *name) { command_name = name ? name : ""; }

const char *evp__cli_command(void) { return command_name; }

int evp__cli_opt(int argc, char **argv, int *i, const char *name, const char **val) {
  const char *a = argv[*i];
  size_t n = strlen(name);
  if (strncmp(a, name, n) != 0) return 0;
  if (a[n] == '=') {
    *val = a + n + 1;
    return 1;
  }
  if (a[n] != '\0') return 0;
  if (*i + 1 >= argc) {
    /* "evpipe token --help" lists the subcommands' options too. */
    int top = (int)strcspn(command_name, " ");
    fprintf(stderr,
            "evpipe%s%s: option %s needs a value; write %s VALUE or %s=VALUE (evpipe%s%.*s --help "
            "lists the options)\n",
            *command_name ? " " : "", command_name, name, name, name, *command_name ? " " : "", top,
            command_name);
    return -1;
  }
  *val = argv[++*i];
  return 1;
}

void evp__cli_copy_cut(char *dst, size_t cap, const char *src) {
  size_t n = strnlen(src, cap - 1);
  memcpy(dst, src, n);
  dst[n] = '\0';
}

int evp__cli_parse_i64(const char *s, long long min, long long max, long long *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end || v < min || v > max) return -1;
  *out = v;
  return 0;
}

#define EVP_CLI_KEYFILE_MAX 4096

int evp__cli_read_secret_file(const char *cmd, const char *noun, const char *path,
                              unsigned char **key, size_t *keylen) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    fprintf(stderr, "%s: cannot open %s %s: %s%s\n", cmd, noun, path, strerror(errno),
            errno == ENOENT   ? "; check the path"
            : errno == EACCES ? "; check its permissions"
                              : "");
    return -1;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    fprintf(stderr, "%s: %s %s is not a regular file; give the path of a file\n", cmd, noun, path);
    close(fd);
    return -1;
  }
  if (st.st_mode & (S_IRWXG | S_IRWXO)) {
    fprintf(stderr,
            "%s: %s %s is accessible by group or others (mode %03o); "
            "run: chmod 600 %s\n",
            cmd, noun, path, (unsigned)(st.st_mode & 0777), path);
    close(fd);
    return -1;
  }
  unsigned char *buf = malloc(EVP_CLI_KEYFILE_MAX + 1);
  if (!buf) {
    close(fd);
    fprintf(stderr, "%s: out of memory\n", cmd);
    return -1;
  }
  size_t n = 0;
  for (;;) {
    ssize_t r = read(fd, buf + n, EVP_CLI_KEYFILE_MAX + 1 - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      fprintf(stderr, "%s: cannot read %s %s: %s\n", cmd, noun, path, strerror(errno));
      goto fail;
    }
    if (r == 0) break;
    n += (size_t)r;
    if (n > EVP_CLI_KEYFILE_MAX) {
      fprintf(stderr, "%s: %s %s is larger than %d bytes\n", cmd, noun, path, EVP_CLI_KEYFILE_MAX);
      goto fail;
    }
  }
  close(fd);
  fd = -1;
  /* One trailing newline is what "echo secret > file" leaves: not key material. */
  if (n > 0 && buf[n - 1] == '\n') n--;
  if (n > 0 && buf[n - 1] == '\r') n--;
  if (n >= 7 && memcmp(buf, "base64:", 7) == 0) {
    size_t tl = n - 7;
    unsigned char *dec = malloc(tl / 4 * 3 + 3);
    if (!dec) {
      fprintf(stderr, "%s: out of memory\n", cmd);
      goto fail;
    }
    int dl = (tl % 4 == 0) ? EVP_DecodeBlock(dec, buf + 7, (int)tl) : -1;
    if (dl < 0) {
      fprintf(stderr, "%s: %s %s: invalid base64 after 'base64:'\n", cmd, noun, path);
      OPENSSL_cleanse(dec, tl / 4 * 3 + 3);
      free(dec);
      goto fail;
    }
    /* EVP_DecodeBlock counts padding as zero bytes: drop them. */
    if (tl >= 1 && buf[7 + tl - 1] == '=') dl--;
    if (tl >= 2 && buf[7 + tl - 2] == '=') dl--;
    OPENSSL_cleanse(buf, EVP_CLI_KEYFILE_MAX + 1);
    free(buf);
    *key = dec;
    *keylen = (size_t)dl;
    return 0;
  }
  *key = buf;
  *keylen = n;
  return 0;
fail:
  if (fd >= 0) close(fd);
  OPENSSL_cleanse(buf, EVP_CLI_KEYFILE_MAX + 1);
  free(buf);
  return -1;
}

int evp__cli_read_key_file(const char *path, unsigned char **key, size_t *keylen) {
  return evp__cli_read_secret_file("evpipe", "key file", path, key, keylen);
}
