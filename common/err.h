/* err.h - the project's one error type.
 *
 * Functions return an mrd_rc.  The detail a user needs (which file, line,
 * column, and a sentence saying what to change) lives in a caller-supplied
 * mrd_error, in the style of jansson's json_error_t.  Every function that
 * takes an mrd_error * accepts NULL.
 */
#ifndef MRD_ERR_H
#define MRD_ERR_H

#include <stddef.h>

/* Append-only: never renumber, tools and tests compare these values. */
typedef enum mrd_rc {
    MRD_OK = 0,
    MRD_ERR_NOMEM,     /* allocation failed */
    MRD_ERR_IO,        /* a file or socket operation failed (errno in msg) */
    MRD_ERR_PARSE,     /* input is not well formed (JSON syntax, protocol) */
    MRD_ERR_INVALID,   /* well formed, but a value is wrong or missing */
    MRD_ERR_UNSAFE,    /* layout refused: a failure domain's loss is fatal */
    MRD_ERR_NOT_FOUND, /* a named thing does not exist */
    MRD_ERR_CONNECT,   /* could not reach a server */
    MRD_ERR_AUTH,      /* server refused our credentials */
    MRD_ERR_PROTOCOL,  /* server answered something we did not expect */
    MRD_ERR_TIMEOUT,   /* a deadline passed */
    MRD_ERR_STATE,     /* not possible in the current state */
    MRD_ERR_PROCESS,   /* starting or stopping a process failed */
    MRD_ERR_USAGE,     /* bad command-line use */
    MRD_ERR_UNSUPPORTED, /* the server does not implement what was asked */
    MRD_ERR__COUNT
} mrd_rc;

/* Short static description of a code, like strerror(). */
const char *mrd_strerror(mrd_rc rc);

typedef struct mrd_error {
    mrd_rc code;
    char file[256]; /* source of the problem, "" when none */
    int line;       /* 1-based, 0 when unknown */
    int column;     /* 1-based, 0 when unknown */
    char msg[512];  /* a sentence for a human */
} mrd_error;

/* Reset to MRD_OK with empty fields. */
void mrd_error_clear(mrd_error *e);

/* Record code and message; returns code so callers can
 * `return mrd_error_set(err, MRD_ERR_IO, "...")`. */
mrd_rc mrd_error_set(mrd_error *e, mrd_rc code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Same with a location. */
mrd_rc mrd_error_at(mrd_error *e, mrd_rc code, const char *file, int line,
                    int column, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Put the formatted text and ": " before E's message, keeping its code
 * and location ("shard 0: " + "cannot fetch ..."); returns the code. */
mrd_rc mrd_error_prefix(mrd_error *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Return from the calling function when EXPR is not MRD_OK. */
#define MRD_TRY(expr)                                                                \
    do {                                                                             \
        mrd_rc mrd_try_rc_ = (expr);                                                 \
        if (mrd_try_rc_ != MRD_OK)                                                   \
            return mrd_try_rc_;                                                      \
    } while (0)

/* "file:line:column: msg" (parts that are unknown are left out).
 * Returns the number of characters written (snprintf semantics). */
int mrd_error_format(const mrd_error *e, char *buf, size_t n);

#endif
