/* buf.h - the project's one growable byte buffer, with a size cap.
 *
 * As curl's dynbuf: the caller states at init how large the buffer may
 * ever grow, so a peer that sends an endless reply, or a file that is far
 * larger than it should be, costs an error, never all the memory.  The
 * content is always NUL-terminated (the NUL is not counted in len), so a
 * text buffer can be handed to string functions as it is.
 *
 *   mrd_buf b;
 *   mrd_buf_init(&b, 64 * 1024);
 *   if (mrd_buf_add(&b, data, n) != MRD_OK) ...   // MRD_ERR_NOMEM or _INVALID
 *   use(mrd_buf_str(&b), mrd_buf_len(&b));
 *   mrd_buf_free(&b);
 *
 * Not thread-safe: one buffer, one thread at a time. */
#ifndef MRD_BUF_H
#define MRD_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include "err.h"

typedef struct mrd_buf {
    char *p;      /* NULL until the first add; then NUL-terminated */
    size_t len;   /* bytes held, the terminating NUL not counted */
    size_t cap;   /* bytes allocated */
    size_t max;   /* len never exceeds this */
} mrd_buf;

/* An empty buffer that may hold at most MAX bytes.  Allocates nothing. */
void mrd_buf_init(mrd_buf *b, size_t max);

/* Append N bytes of DATA.  MRD_ERR_INVALID when len + N would exceed the
 * cap, MRD_ERR_NOMEM when allocation fails; either way the buffer keeps
 * what it held before the call. */
mrd_rc mrd_buf_add(mrd_buf *b, const void *data, size_t n);

/* Append a NUL-terminated string. */
mrd_rc mrd_buf_adds(mrd_buf *b, const char *s);

/* Append printf-style text (errors as mrd_buf_add). */
mrd_rc mrd_buf_addf(mrd_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The same with a va_list, for printf-like wrappers (AP is consumed as
 * by vprintf). */
mrd_rc mrd_buf_vaddf(mrd_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* The content ("" when empty; borrowed: valid until the next add, reset
 * or free) and its length. */
const char *mrd_buf_str(const mrd_buf *b);
size_t mrd_buf_len(const mrd_buf *b);

/* Append all that F has left to read, up to its end.  MRD_ERR_INVALID
 * when F holds more than the cap leaves room for, MRD_ERR_IO when a read
 * fails (errno says why), MRD_ERR_NOMEM; on an error the buffer may hold
 * part of what was read: reset or free it.  F is not closed. */
mrd_rc mrd_buf_add_file(mrd_buf *b, FILE *f);

/* Hand the content to the caller: a new NUL-terminated string, "" when
 * the buffer is empty.  The buffer is left empty, same cap.  NULL only
 * when out of memory (possible only for an empty buffer that never
 * allocated); the buffer is then unchanged. */
char *mrd_buf_take(mrd_buf *b);

/* Forget the content, keep the memory for reuse. */
void mrd_buf_reset(mrd_buf *b);

/* Free the memory; the buffer is empty and may be used again.  Accepts a
 * buffer that was never added to. */
void mrd_buf_free(mrd_buf *b);

#endif
