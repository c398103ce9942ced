/* Copies kept for a person to look at, in DIR/quarantine/:
 *  - damaged log regions: recovery skips the damaged bytes in place (their
 *    offsets stay taken), and copies them here first so the evidence
 *    survives the segment's deletion; a copy that fails or does not fit only
 *    costs the copy, never the open;
 *  - events the batcher's row builder refuses (batcher_refused.c): there the
 *    copy is the only place the event survives, so the batcher does not
 *    commit past an event whose copy failed.
 * Bounded in total (quarantine_max) so a failing disk or a stream of bad
 * events cannot fill the data directory. Used at open, then by the batcher
 * thread alone. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "base/base.h"
#include "wal/wal.h"
#include "wal/wal_read.h"
#include "wal/wal_int.h"

#define QDIR "quarantine"
#define COPY_CHUNK 65536

/* Bytes of the regular files in the quarantine directory (@p qfd). */
static uint64_t dir_bytes(int qfd) {
  int fd = dup(qfd);
  DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
  if (!d) {
    if (fd >= 0) close(fd);
    return 0;
  }
  uint64_t total = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    struct stat st;
    if (e->d_name[0] != '.' && fstatat(qfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISREG(st.st_mode))
      total += (uint64_t)st.st_size;
  }
  closedir(d);
  return total;
}

/* Into the new file @p tmp of @p qfd, synced: @p len bytes from @p mem, or
 * (mem NULL) [off, off + len) of @p fd. */
static int copy_out(evp__wal_t *w, const void *mem, int fd, uint64_t off, uint64_t len, int qfd,
                    const char *tmp) {
  int out = openat(qfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (out < 0) return -1;
  unsigned char buf[COPY_CHUNK];
  int rc = mem && evp__wal_pwrite_full(out, mem, (size_t)len, 0) != 0 ? -1 : 0;
  for (uint64_t done = 0; !mem && done < len && rc == 0;) {
    size_t n = len - done < COPY_CHUNK ? (size_t)(len - done) : COPY_CHUNK, got;
    if (evp__wal_pread_full(fd, buf, n, off + done, &got) != 0)
      rc = -1;
    else if (got < n) {
      errno = EIO; /* the segment shrank under us */
      rc = -1;
    } else if (evp__wal_pwrite_full(out, buf, n, done) != 0)
      rc = -1;
    done += n;
  }
  if (rc == 0 && w->policy != EVP__FSYNC_NEVER && fsync(out) != 0) rc = -1;
  int en = errno;
  close(out);
  errno = en;
  return rc;
}

/* The quarantine directory, made (0700) if need be, and its bytes counted
 * the first time; -1 with errno. */
static int open_qdir(evp__wal_t *w, int *made) {
  *made = mkdirat(w->dirfd, QDIR, 0700) == 0;
  if (!*made && errno != EEXIST) return -1;
  int qfd = openat(w->dirfd, QDIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (qfd >= 0 && !w->quarantine_counted) {
    w->quarantine_used = dir_bytes(qfd);
    w->quarantine_counted = 1;
  }
  return qfd;
}

/* Whether @p len more bytes fit (@p replaced: bytes of a file they replace);
 * when not, @p note says so. */
static int fits(const evp__wal_t *w, uint64_t len, uint64_t replaced, char *note,
                size_t note_size) {
  uint64_t used =
      w->quarantine_used - (replaced < w->quarantine_used ? replaced : w->quarantine_used);
  if (len <= w->quarantine_max && used <= w->quarantine_max - len) return 1;
  snprintf(note, note_size,
           "not copied: %s/" QDIR " holds %llu bytes and may hold %zu (remove copies that "
           "were looked at)",
           w->dir, (unsigned long long)w->quarantine_used, w->quarantine_max);
  return 0;
}

/* Write tmp (copy_out), rename it to @p name and sync the directory; the
 * temporary is removed on failure. -1 with errno. */
static int write_copy(evp__wal_t *w, const void *mem, int fd, uint64_t off, uint64_t len, int qfd,
                      int made, const char *name, const char *tmp) {
  if (copy_out(w, mem, fd, off, len, qfd, tmp) != 0 || renameat(qfd, tmp, qfd, name) != 0 ||
      (w->policy != EVP__FSYNC_NEVER && fsync(qfd) != 0)) {
    int en = errno;
    unlinkat(qfd, tmp, 0);
    errno = en;
    return -1;
  }
  /* The directory's own entry, the first time (a lost entry only loses copies). */
  if (made && w->policy != EVP__FSYNC_NEVER) fsync(w->dirfd);
  return 0;
}

/* The copy named @p name in the open quarantine directory @p qfd (closed
 * here), replacing @p replaced bytes of a file of that name: 1 written, 0
 * failed, -1 does not fit; @p path and @p note as evp__wal_quarantine. */
static int store(evp__wal_t *w, int qfd, int made, const char *name, const void *mem, int fd,
                 uint64_t off, uint64_t len, uint64_t replaced, char *path, size_t path_size,
                 char *note, size_t note_size) {
  char tmp[300];
  snprintf(tmp, sizeof tmp, "%s.tmp", name);
  unlinkat(qfd, tmp, 0); /* left by a crash during an earlier copy */
  if (!fits(w, len, replaced, note, note_size)) {
    close(qfd);
    return -1;
  }
  int rc = write_copy(w, mem, fd, off, len, qfd, made, name, tmp), en = errno;
  close(qfd);
  if (rc != 0) {
    snprintf(note, note_size, "not copied: %s/" QDIR "/%s: %s", w->dir, name, strerror(en));
    return 0;
  }
  if (replaced > w->quarantine_used) replaced = w->quarantine_used;
  w->quarantine_used = w->quarantine_used - replaced + len;
  snprintf(path, path_size, "%s/" QDIR "/%s", w->dir, name);
  snprintf(note, note_size, "copied");
  return 1;
}

/* open_qdir, or -1 with a note naming the file that could not be written. */
static int open_qdir_noted(evp__wal_t *w, const char *name, int *made, char *note,
                           size_t note_size) {
  int qfd = open_qdir(w, made);
  if (qfd < 0)
    snprintf(note, note_size, "not copied: %s/" QDIR "/%s: %s", w->dir, name, strerror(errno));
  return qfd;
}

int evp__wal_quarantine(evp__wal_t *w, int fd, uint64_t base, uint64_t off, uint64_t len,
                        char *path, size_t path_size, char *note, size_t note_size) {
  char name[64];
  snprintf(name, sizeof name, "wal-%020llu-%llu.bad", (unsigned long long)(base + off),
           (unsigned long long)len);
  path[0] = '\0';
  int made, qfd = open_qdir_noted(w, name, &made, note, note_size);
  if (qfd < 0) return 0;
  struct stat st;
  /* The name fixes offset and length, and damaged bytes are never written
   * to again, so a file of the right size is this region's copy. */
  if (fstatat(qfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
      (uint64_t)st.st_size == len) {
    close(qfd);
    snprintf(path, path_size, "%s/" QDIR "/%s", w->dir, name);
    snprintf(note, note_size, "already copied");
    return 1;
  }
  return store(w, qfd, made, name, NULL, fd, off, len, 0, path, path_size, note, note_size) == 1;
}

int evp__wal_quarantine_put(evp__wal_t *w, const char *name, const void *data, size_t len,
                            char *path, size_t path_size, char *note, size_t note_size) {
  path[0] = '\0';
  int made, qfd = open_qdir_noted(w, name, &made, note, note_size);
  if (qfd < 0) return 0;
  struct stat st;
  uint64_t old = fstatat(qfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)
                     ? (uint64_t)st.st_size
                     : 0;
  return store(w, qfd, made, name, data, -1, 0, len, old, path, path_size, note, note_size);
}

const char *evp__wal_dir(const evp__wal_t *w) { return w->dir; }

size_t evp__wal_quarantine_max(const evp__wal_t *w) { return w->quarantine_max; }
