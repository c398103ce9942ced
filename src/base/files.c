/* File helpers of `evpipe local`: private directories, bounded reads that
 * refuse secrets another local user could read or replace (OpenSSH
 * StrictModes, docs/security.md), and atomic 0600 writes. */
#define _XOPEN_SOURCE 700 /* realpath, S_ISVTX */
#define _DEFAULT_SOURCE   /* getpwent_r (glibc), getpwent */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "base/base.h"
#include "base/files.h"

evp_err_t evp__fsync_dir(const char *dir, char *errstr, size_t errstr_size) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || fsync(fd) != 0) {
    int en = errno;
    if (fd >= 0) close(fd);
    return evp__seterr(errstr, errstr_size, EVP_ERR_IO, "cannot sync directory %s: %s", dir,
                       strerror(en));
  }
  close(fd);
  return EVP_OK;
}

evp_err_t evp__mkdirs(const char *path, char *errstr, size_t errstr_size) {
  if (!path || !*path)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "empty directory path");
  size_t n = strlen(path);
  if (n >= 4096) return evp__seterr(errstr, errstr_size, EVP_ERR_TOO_LARGE, "path too long");
  char *p = evp__strdup(path);
  if (!p) return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  evp_err_t e = EVP_OK;
  /* Walk the components; each directory we create is made durable by
   * fsyncing its parent, or a crash could lose the partition with the file. */
  for (size_t i = 1; i <= n && !e; i++) {
    if (i < n && p[i] != '/') continue;
    char saved = p[i];
    p[i] = 0;
    if (mkdir(p, 0700) == 0) {
      char *slash = strrchr(p, '/');
      if (slash == p)
        e = evp__fsync_dir("/", errstr, errstr_size);
      else if (!slash)
        e = evp__fsync_dir(".", errstr, errstr_size);
      else {
        *slash = 0;
        e = evp__fsync_dir(p, errstr, errstr_size);
        *slash = '/';
      }
    } else {
      int en = errno;
      struct stat st;
      if (en != EEXIST || stat(p, &st) != 0 || !S_ISDIR(st.st_mode))
        e = evp__seterr(errstr, errstr_size, EVP_ERR_IO, "mkdir %s: %s", p,
                        en == EEXIST ? "exists and is not a directory" : strerror(en));
    }
    p[i] = saved;
  }
  free(p);
  return e;
}

unsigned evp__dir_open_mode(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode) || !(st.st_mode & (S_IRWXG | S_IRWXO))) return 0;
  return (unsigned)(st.st_mode & 07777);
}

/* Only we and root may own what holds or leads to a secret: any other owner
 * can replace it (or chmod it open). */
static int owner_ok(const struct stat *st) { return st->st_uid == 0 || st->st_uid == geteuid(); }

/* The next entry of the passwd database, as getpwent_r: 0 and @p *out set,
 * 0 or ENOENT and @p *out NULL at the end, another errno value on error.
 * glibc has getpwent_r; musl, bionic and Darwin only getpwent, whose static
 * entry is as safe here: the caller holds the walk's lock and reads the
 * entry before the next call, and the enumeration position is process-wide
 * state with either function. */
static int next_user(struct passwd *pw, char *buf, size_t size, struct passwd **out) {
#if defined(__GLIBC__)
  return getpwent_r(pw, buf, size, out);
#else
  (void)pw, (void)buf, (void)size;
  errno = 0;
  *out = getpwent();
  return *out || errno == 0 || errno == ENOENT ? 0 : errno;
#endif
}

/* Whether a user other than @p owner has @p gid as primary group. A group's
 * listed members (gr_mem) leave out the users whose primary group it is, so
 * with a shared primary group (`users`, gid 100) only the passwd database
 * tells; Debian's OpenSSH walks it with getpwent for the same reason. The
 * enumeration position is process-global state even with getpwent_r, so
 * the walk holds a lock (this runs at start, on reload and in `evpipe
 * secret rotate`, nowhere else in the process enumerates users). Any error
 * in the walk counts as "shared": the exception is only made when the
 * database says so. */
static int primary_group_shared(uid_t owner, gid_t gid) {
  static pthread_mutex_t walk = PTHREAD_MUTEX_INITIALIZER;
  char buf[16384];
  struct passwd pw, *pwp;
  int shared = 0, rc;
  pthread_mutex_lock(&walk);
  setpwent();
  while ((rc = next_user(&pw, buf, sizeof buf, &pwp)) == 0 && pwp)
    if (pwp->pw_gid == gid && pwp->pw_uid != owner) {
      shared = 1;
      break;
    }
  if (rc != 0 && rc != ENOENT) shared = 1;
  endpwent();
  pthread_mutex_unlock(&walk);
  return shared;
}

/* Debian's user private groups (umask 002 makes directories 0775): write
 * access for a group that is the owner's own primary group, is nobody
 * else's primary group and lists no other member gives nobody else
 * anything — the exception Debian's OpenSSH makes to StrictModes too. */
static int private_group(uid_t owner, gid_t gid) {
  char buf[16384];
  struct passwd pw, *pwp = NULL;
  struct group gr, *grp = NULL;
  if (getpwuid_r(owner, &pw, buf, sizeof buf, &pwp) != 0 || !pwp || pw.pw_gid != gid) return 0;
  char name[256];
  if (strlen(pw.pw_name) >= sizeof name) return 0;
  strcpy(name, pw.pw_name);
  if (getgrgid_r(gid, &gr, buf, sizeof buf, &grp) != 0 || !grp) return 0;
  for (char **m = gr.gr_mem; m && *m; m++)
    if (strcmp(*m, name) != 0) return 0;
  return !primary_group_shared(owner, gid);
}

/* Check one directory on the path of secret file @p file. The file's own
 * directory must not be writable by group or others at all (they could
 * rename another file over it, or plant it before it is created); a
 * directory further up may be when its sticky bit is set and it belongs to
 * root or us (/tmp): then others cannot rename or remove what they do not
 * own. Group write is fine when the group is the owner's private one. */
static evp_err_t check_dir(const char *dir, const struct stat *st, int parent, const char *file,
                           char *errstr, size_t errstr_size) {
  if (!owner_ok(st))
    return evp__seterr(errstr, errstr_size, EVP_ERR_PERMISSION,
                       "%s is owned by uid %u, neither this user (uid %u) nor root, so that user "
                       "could replace the secret file %s; run: chown %u %s (or keep the secrets "
                       "in a directory of your own)",
                       dir, (unsigned)st->st_uid, (unsigned)geteuid(), file, (unsigned)geteuid(),
                       dir);
  int writable = (st->st_mode & S_IWOTH) ||
                 ((st->st_mode & S_IWGRP) && !private_group(st->st_uid, st->st_gid));
  if (writable && (parent || !(st->st_mode & S_ISVTX)))
    return evp__seterr(errstr, errstr_size, EVP_ERR_PERMISSION,
                       "%s is writable by group or others (mode %04o), so another user could "
                       "replace the secret file %s; run: chmod %s %s",
                       dir, (unsigned)(st->st_mode & 07777), file, parent ? "700" : "go-w", dir);
  return EVP_OK;
}

/* Walk from the directory of @p file up to / (symbolic links resolved, as
 * OpenSSH's secure_path does after realpath). */
static evp_err_t check_dirs(const char *file, char *errstr, size_t errstr_size) {
  char dir[PATH_MAX], real[PATH_MAX];
  const char *slash = strrchr(file, '/');
  size_t n = slash ? (size_t)(slash - file) : 0;
  if (n >= sizeof dir)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "path too long: %s", file);
  if (!slash)
    strcpy(dir, ".");
  else if (n == 0)
    strcpy(dir, "/");
  else {
    memcpy(dir, file, n);
    dir[n] = '\0';
  }
  if (!realpath(dir, real)) {
    int en = errno;
    evp__seterr(errstr, errstr_size, EVP_ERR_IO, "cannot resolve the directory of %s: %s", file,
                strerror(en));
    errno = en;
    return EVP_ERR_IO;
  }
  for (int parent = 1;; parent = 0) {
    struct stat st;
    if (stat(real, &st) != 0)
      return evp__seterr(errstr, errstr_size, EVP_ERR_IO, "cannot stat %s: %s", real,
                         strerror(errno));
    evp_err_t e = check_dir(real, &st, parent, file, errstr, errstr_size);
    if (e != EVP_OK || strcmp(real, "/") == 0) return e;
    char *last = strrchr(real, '/');
    if (last == real)
      last[1] = '\0';
    else
      *last = '\0';
  }
}

/* The opened secret file itself: a regular file of ours or root's that
 * nobody else may read or write. */
static evp_err_t check_secret_file(const char *path, const struct stat *st, char *errstr,
                                   size_t errstr_size) {
  if (!owner_ok(st))
    return evp__seterr(errstr, errstr_size, EVP_ERR_PERMISSION,
                       "%s is owned by uid %u, neither this user (uid %u) nor root; that user "
                       "could rewrite the secrets it holds; run: chown %u %s",
                       path, (unsigned)st->st_uid, (unsigned)geteuid(), (unsigned)geteuid(), path);
  if (st->st_mode & (S_IRWXG | S_IRWXO))
    return evp__seterr(errstr, errstr_size, EVP_ERR_PERMISSION,
                       "%s holds secrets but is accessible by group or others (mode %03o); "
                       "run: chmod 600 %s",
                       path, (unsigned)(st->st_mode & 0777), path);
  return EVP_OK;
}

evp_err_t evp__file_read(const char *path, size_t max, int secret, char **buf, size_t *len,
                         struct stat *stp, char *errstr, size_t errstr_size) {
  *buf = NULL;
  *len = 0;
  evp_err_t e;
  if (secret && (e = check_dirs(path, errstr, errstr_size)) != EVP_OK) return e;
  /* A secret is read from what was checked: no symbolic link is followed at
   * the last step, the checks are of the open descriptor (fstat), and
   * O_NONBLOCK keeps a FIFO planted in its place from blocking us. */
  int fd = open(path, O_RDONLY | O_CLOEXEC | (secret ? O_NOFOLLOW | O_NONBLOCK : 0));
  if (fd < 0) {
    int en = errno;
    if (secret && en == ELOOP)
      evp__seterr(errstr, errstr_size, EVP_ERR_PERMISSION,
                  "%s is a symbolic link; secret files must be regular files (name the file "
                  "itself)",
                  path);
    else
      evp__seterr(errstr, errstr_size, EVP_ERR_IO, "cannot open %s: %s", path, strerror(en));
    errno = en;
    return en == ELOOP && secret ? EVP_ERR_PERMISSION : EVP_ERR_IO;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    e = evp__seterr(errstr, errstr_size, EVP_ERR_IO, "%s is not a regular file", path);
    goto out;
  }
  if (secret && (e = check_secret_file(path, &st, errstr, errstr_size)) != EVP_OK) goto out;
  if ((uintmax_t)st.st_size > max) {
    e = evp__seterr(errstr, errstr_size, EVP_ERR_TOO_LARGE, "%s is larger than %zu bytes", path,
                    max);
    goto out;
  }
  size_t cap = (size_t)st.st_size + 1;
  char *b = malloc(cap);
  if (!b) {
    e = evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
    goto out;
  }
  size_t n = 0;
  while (n < cap - 1) {
    ssize_t r = read(fd, b + n, cap - 1 - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      e = evp__seterr(errstr, errstr_size, EVP_ERR_IO, "cannot read %s: %s", path, strerror(errno));
      evp__wipe(b, cap);
      free(b);
      goto out;
    }
    if (r == 0) break;
    n += (size_t)r;
  }
  b[n] = '\0';
  *buf = b;
  *len = n;
  if (stp) *stp = st;
  e = EVP_OK;
out:
  close(fd);
  return e;
}

/* The directory holding @p path (a rename or link there is durable once it
 * is synced). */
static evp_err_t fsync_dir_of(const char *path, char *errstr, size_t errstr_size) {
  char d[PATH_MAX];
  const char *slash = strrchr(path, '/');
  size_t n = slash ? (size_t)(slash - path) : 0;
  if (n >= sizeof d) return evp__seterr(errstr, errstr_size, EVP_ERR_IO, "%s: path too long", path);
  if (n == 0) {
    d[0] = slash ? '/' : '.';
    d[1] = '\0';
  } else {
    memcpy(d, path, n);
    d[n] = '\0';
  }
  return evp__fsync_dir(d, errstr, errstr_size);
}

evp_err_t evp__file_write_secret(const char *path, const char *data, size_t len, int excl,
                                 char *errstr, size_t errstr_size) {
  char tmp[PATH_MAX];
  unsigned char rnd[6];
  if (evp__random(rnd, sizeof rnd) != EVP_OK)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INTERNAL, "no randomness");
  if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp-%02x%02x%02x%02x%02x%02x", path, rnd[0], rnd[1],
                       rnd[2], rnd[3], rnd[4], rnd[5]) >= sizeof tmp)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "path too long");
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return evp__seterr(errstr, errstr_size, EVP_ERR_IO, "cannot create %s: %s", tmp,
                       strerror(errno));
  size_t off = 0;
  while (off < len) {
    ssize_t w = write(fd, data + off, len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) goto fail;
    off += (size_t)w;
  }
  if (fsync(fd) != 0) goto fail;
  close(fd);
  fd = -1;
  /* link() fails on an existing target, which is what "create only" needs;
   * rename() replaces atomically. */
  if (excl) {
    if (link(tmp, path) != 0) {
      int en = errno;
      unlink(tmp);
      if (en == EEXIST)
        return evp__seterr(errstr, errstr_size, EVP_ERR_STATE, "%s already exists", path);
      return evp__seterr(errstr, errstr_size, EVP_ERR_IO, "cannot create %s: %s", path,
                         strerror(en));
    }
    unlink(tmp);
  } else if (rename(tmp, path) != 0) {
    goto fail;
  }
  return fsync_dir_of(path, errstr, errstr_size);
fail:;
  int en = errno;
  if (fd >= 0) close(fd);
  unlink(tmp);
  return evp__seterr(errstr, errstr_size, EVP_ERR_IO, "cannot write %s: %s", path, strerror(en));
}
