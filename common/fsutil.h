/* fsutil.h - files that matter are written atomically (temporary file in
 * the same folder, fsync, rename, fsync the folder) with an explicit mode. */
#ifndef MRD_FSUTIL_H
#define MRD_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

#include "err.h"

/* Create PATH and its missing parents with MODE (like mkdir -p). */
mrd_rc mrd_mkdir_p(const char *path, mode_t mode, mrd_error *err);

/* Replace PATH with LEN bytes of DATA, mode MODE, atomically. */
mrd_rc mrd_write_atomic(const char *path, const void *data, size_t len,
                        mode_t mode, mrd_error *err);

/* J as JSON text (json_dumps() FLAGS) written to PATH with
 * mrd_write_atomic() and MODE; J is released either way (NULL: out of
 * memory, as a json_pack() that failed returns). */
mrd_rc mrd_write_json_atomic(const char *path, json_t *j, size_t flags, mode_t mode,
                             mrd_error *err);

/* Create PATH with LEN bytes of DATA, mode MODE, atomically, only if it
 * does not exist: the data goes to a temporary file next to PATH, is
 * fsynced, then linked to PATH (link(2), or renameat2(RENAME_NOREPLACE)
 * where the file system has no hard links), which never replaces a file.
 * So PATH is either absent or complete, and of two writers racing, one
 * wins and the other's data is dropped.  *created (may be NULL) says
 * whether this call created PATH; an existing PATH is left as it is and is
 * not an error (MRD_OK, *created false). */
mrd_rc mrd_write_new(const char *path, const void *data, size_t len, mode_t mode,
                     bool *created, mrd_error *err);

/* Read all of PATH (at most MAX bytes) into a new NUL-terminated buffer
 * *out (caller frees); *len gets the size without the NUL (may be NULL). */
mrd_rc mrd_read_file(const char *path, size_t max, char **out, size_t *len,
                     mrd_error *err);

/* fsync the folder that holds PATH, so that a rename into it or a new
 * file in it survives a crash.  0, or the errno of what failed. */
int mrd_fsync_dir_of(const char *path);

/* True when PATH exists (any type). */
bool mrd_path_exists(const char *path);

/* Remove PATH recursively without following symlinks.  Refuses "/" and
 * paths shorter than 8 characters as a guard against a bad state dir.
 * Removes everything it can; when some entries stay (no permission, an
 * immutable file, a mount point), MRD_ERR_IO with a message that lists
 * them, each with its reason ("could not remove 2 entries under P:
 * P/a: Operation not permitted; P/b: ..."; those that do not fit are
 * counted).  Their folders are not listed again. */
mrd_rc mrd_rm_rf(const char *path, mrd_error *err);

/* IN with a leading "~/" replaced by $HOME (this machine's) into BUF (N
 * bytes); any other path as it is.  MRD_ERR_STATE when HOME is needed and
 * not an absolute path; MRD_ERR_INVALID when the result does not fit. */
mrd_rc mrd_expand_home(const char *in, char *buf, size_t n, mrd_error *err);

/* snprintf that reports truncation as MRD_ERR_INVALID. */
mrd_rc mrd_path_fmt(char *buf, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
