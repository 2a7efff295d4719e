#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const messages[MRD_ERR__COUNT] = {
    [MRD_OK] = "success",
    [MRD_ERR_NOMEM] = "out of memory",
    [MRD_ERR_IO] = "input/output error",
    [MRD_ERR_PARSE] = "malformed input",
    [MRD_ERR_INVALID] = "invalid value",
    [MRD_ERR_UNSAFE] = "unsafe layout",
    [MRD_ERR_NOT_FOUND] = "not found",
    [MRD_ERR_CONNECT] = "connection failed",
    [MRD_ERR_AUTH] = "authentication failed",
    [MRD_ERR_PROTOCOL] = "unexpected reply",
    [MRD_ERR_TIMEOUT] = "timed out",
    [MRD_ERR_STATE] = "not possible in this state",
    [MRD_ERR_PROCESS] = "process control failed",
    [MRD_ERR_USAGE] = "usage error",
    [MRD_ERR_UNSUPPORTED] = "not supported by the server",
};

const char *mrd_strerror(mrd_rc rc)
{
    if ((int)rc < 0 || rc >= MRD_ERR__COUNT)
        return "unknown error";
    return messages[rc];
}

void mrd_error_clear(mrd_error *e)
{
    if (e)
        memset(e, 0, sizeof(*e));
}

static void vset(mrd_error *e, mrd_rc code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void vset(mrd_error *e, mrd_rc code, const char *fmt, va_list ap)
{
    e->code = code;
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
}

mrd_rc mrd_error_set(mrd_error *e, mrd_rc code, const char *fmt, ...)
{
    if (!e)
        return code;
    mrd_error_clear(e);
    va_list ap;
    va_start(ap, fmt);
    vset(e, code, fmt, ap);
    va_end(ap);
    return code;
}

mrd_rc mrd_error_prefix(mrd_error *e, const char *fmt, ...)
{
    if (!e)
        return MRD_OK;
    char pre[sizeof(e->msg)], msg[sizeof(e->msg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof(pre), fmt, ap);
    va_end(ap);
    snprintf(msg, sizeof(msg), "%s: %s", pre, e->msg);
    memcpy(e->msg, msg, sizeof(msg));
    return e->code;
}

mrd_rc mrd_error_at(mrd_error *e, mrd_rc code, const char *file, int line,
                    int column, const char *fmt, ...)
{
    if (!e)
        return code;
    mrd_error_clear(e);
    snprintf(e->file, sizeof(e->file), "%s", file ? file : "");
    e->line = line;
    e->column = column;
    va_list ap;
    va_start(ap, fmt);
    vset(e, code, fmt, ap);
    va_end(ap);
    return code;
}

int mrd_error_format(const mrd_error *e, char *buf, size_t n)
{
    if (!e)
        return snprintf(buf, n, "%s", mrd_strerror(MRD_OK));
    if (!e->file[0])
        return snprintf(buf, n, "%s", e->msg[0] ? e->msg : mrd_strerror(e->code));
    if (e->line > 0 && e->column > 0)
        return snprintf(buf, n, "%s:%d:%d: %s", e->file, e->line, e->column, e->msg);
    if (e->line > 0)
        return snprintf(buf, n, "%s:%d: %s", e->file, e->line, e->msg);
    return snprintf(buf, n, "%s: %s", e->file, e->msg);
}
