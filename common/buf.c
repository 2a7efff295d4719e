#include "buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first allocation; each later one doubles. */
#define BUF_FIRST_CAP 256

/* mrd_buf_add_file() reads this much at a time. */
#define BUF_FILE_CHUNK 8192

void mrd_buf_init(mrd_buf *b, size_t max)
{
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

/* Make room for N more bytes and the NUL. */
static mrd_rc grow(mrd_buf *b, size_t n)
{
    if (n > b->max - b->len)
        return MRD_ERR_INVALID;
    if (n >= (size_t)-1 - b->len) /* uncapped: len + n + 1 would wrap */
        return MRD_ERR_NOMEM;
    size_t need = b->len + n + 1;
    if (need <= b->cap)
        return MRD_OK;
    size_t cap = b->cap ? b->cap : BUF_FIRST_CAP;
    while (cap < need)
        cap = cap > ((size_t)-1) / 2 ? need : cap * 2;
    if (b->max < (size_t)-1 && cap > b->max + 1)
        cap = b->max + 1;
    char *p = realloc(b->p, cap);
    if (!p)
        return MRD_ERR_NOMEM;
    b->p = p;
    b->cap = cap;
    return MRD_OK;
}

mrd_rc mrd_buf_add(mrd_buf *b, const void *data, size_t n)
{
    mrd_rc rc = grow(b, n);
    if (rc != MRD_OK)
        return rc;
    if (n)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return MRD_OK;
}

mrd_rc mrd_buf_adds(mrd_buf *b, const char *s)
{
    return mrd_buf_add(b, s, strlen(s));
}

mrd_rc mrd_buf_vaddf(mrd_buf *b, const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    mrd_rc rc = n < 0 ? MRD_ERR_INVALID : grow(b, (size_t)n);
    if (rc == MRD_OK) {
        vsnprintf(b->p + b->len, (size_t)n + 1, fmt, again);
        b->len += (size_t)n;
    }
    va_end(again);
    return rc;
}

mrd_rc mrd_buf_addf(mrd_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mrd_rc rc = mrd_buf_vaddf(b, fmt, ap);
    va_end(ap);
    return rc;
}

const char *mrd_buf_str(const mrd_buf *b)
{
    return b->p ? b->p : "";
}

size_t mrd_buf_len(const mrd_buf *b)
{
    return b->len;
}

mrd_rc mrd_buf_add_file(mrd_buf *b, FILE *f)
{
    char chunk[BUF_FILE_CHUNK];
    for (;;) {
        size_t n = fread(chunk, 1, sizeof(chunk), f);
        int e = errno;
        if (n > 0)
            MRD_TRY(mrd_buf_add(b, chunk, n));
        if (n < sizeof(chunk)) {
            if (!ferror(f))
                return MRD_OK;
            errno = e;
            return MRD_ERR_IO;
        }
    }
}

char *mrd_buf_take(mrd_buf *b)
{
    if (!b->p) {
        if (grow(b, 0) != MRD_OK)
            return NULL;
        b->p[0] = '\0';
    }
    char *p = b->p;
    mrd_buf_init(b, b->max);
    return p;
}

void mrd_buf_reset(mrd_buf *b)
{
    b->len = 0;
    if (b->p)
        b->p[0] = '\0';
}

void mrd_buf_free(mrd_buf *b)
{
    free(b->p);
    mrd_buf_init(b, b->max);
}
