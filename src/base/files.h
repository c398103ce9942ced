/* Files and directories holding secrets or events: created private
 * (0700 / 0600) and durable (fsynced into their parents), and read back
 * only after checks like OpenSSH's StrictModes. */
#ifndef EVP_BASE_FILES_H
#define EVP_BASE_FILES_H

#include <stddef.h>
#include <sys/stat.h>
#include "evpipe/error.h"

/* fsync the directory @p dir (so that entries created, renamed or removed
 * in it survive a crash). EVP_ERR_IO naming the directory. */
evp_err_t evp__fsync_dir(const char *dir, char *errstr, size_t errstr_size);

/* mkdir -p with mode 0700 for new directories, fsyncing the parent of each
 * directory it creates so that a committed file's directory survives a
 * crash too. Existing directories are fine; a non-directory in the way is
 * EVP_ERR_IO. */
evp_err_t evp__mkdirs(const char *path, char *errstr, size_t errstr_size);

/* The mode of directory @p path when it exists and group or others have
 * any access to it; 0 otherwise. */
unsigned evp__dir_open_mode(const char *path);

/* Read a whole file of at most @p max bytes. When @p secret, refuse
 * (EVP_ERR_PERMISSION, the message names the file or directory and says how
 * to fix it) a file that is a symbolic link, is owned by another user than
 * us or root, or that group or others may access; and a file whose
 * directory, or any directory above it up to /, is owned by another user
 * than us or root or is writable by group or others (above the file's own
 * directory a sticky one such as /tmp is fine). The checks are of the open
 * descriptor. *buf is malloc'd and NUL-terminated. ENOENT: EVP_ERR_IO with
 * errno preserved. */
evp_err_t evp__file_read(const char *path, size_t max, int secret, char **buf, size_t *len,
                         struct stat *st, char *errstr, size_t errstr_size);

/* Replace @p path atomically with @p data, mode 0600: temp file, fsync,
 * rename, fsync of the directory. With @p excl, fail (EVP_ERR_STATE) when
 * @p path already exists. */
evp_err_t evp__file_write_secret(const char *path, const char *data, size_t len, int excl,
                                 char *errstr, size_t errstr_size);

#endif /* EVP_BASE_FILES_H */
