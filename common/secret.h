/* secret.h - generated passwords and tokens.
 *
 * Secrets come from getrandom(2), live in files of mode 0600, and are
 * never put on a command line or in a log line. */
#ifndef MRD_SECRET_H
#define MRD_SECRET_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/* 32 random bytes as 64 lowercase hex characters + NUL. */
#define MRD_SECRET_LEN 65

/* Fill BUF (at least MRD_SECRET_LEN bytes) with a new secret. */
mrd_rc mrd_secret_generate(char *buf, size_t n, mrd_error *err);

/* Read the secret in PATH into BUF.  Refuses a file readable by group or
 * others (MRD_ERR_STATE, saying to chmod 600), and an empty one
 * (MRD_ERR_INVALID, saying to remove it and deploy again). */
mrd_rc mrd_secret_read(const char *path, char *buf, size_t n, mrd_error *err);

/* Read PATH if it exists, else generate a secret and create PATH with
 * mode 0600 atomically (mrd_write_new: a complete temporary file, fsynced,
 * linked into place), so a kill never leaves an empty or partial secret
 * and an existing secret is never replaced: of two processes racing, both
 * end with the one that was linked first.  *created (may be NULL) says
 * whether this call created it.  A temporary file of a killed writer may
 * remain next to PATH (PATH.tmp.XXXXXX, 0600). */
mrd_rc mrd_secret_ensure(const char *path, char *buf, size_t n, bool *created,
                         mrd_error *err);

/* Compare two NUL-terminated strings in time independent of where they
 * differ (the length of A may leak, not its content). */
bool mrd_secret_equal(const char *a, const char *b);

#endif
