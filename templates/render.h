/* render.h - configuration templates.
 *
 * Templates are data files in templates/ (*.tpl), embedded into the
 * binaries at build time so an agent on a remote host needs nothing else.
 * Rendering is substitution only: every `{{name}}` is replaced by the value
 * of variable `name` (names: [a-z0-9_]+, no spaces inside the braces).
 * A referenced variable that was never set is an error naming the
 * template, line and column; so is an unterminated `{{`.  There are no
 * conditionals or loops: a caller that needs an optional line sets a
 * variable to the whole line or to a comment.
 */
#ifndef MRD_RENDER_H
#define MRD_RENDER_H

#include <stddef.h>

#include "err.h"

typedef struct mrd_vars mrd_vars; /* opaque name -> value map */

/* New empty map; NULL on allocation failure. */
mrd_vars *vars_new(void);

/* Free and NULL *v.  Accepts NULL. */
void vars_free(mrd_vars **v);

/* Set (or replace) NAME to a copy of VALUE.  A value containing a newline
 * is refused (MRD_ERR_INVALID): one variable never injects extra config
 * lines.  Names must match [a-z0-9_]+. */
mrd_rc vars_set(mrd_vars *v, const char *name, const char *value);
mrd_rc vars_setf(mrd_vars *v, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
mrd_rc vars_set_int(mrd_vars *v, const char *name, long long value);

/* Borrowed value, or NULL when unset. */
const char *vars_get(const mrd_vars *v, const char *name);

/* Render TPL (LEN bytes) named NAME (for messages).  On success *out is a
 * new NUL-terminated string the caller frees. */
mrd_rc tpl_render(const char *tpl, size_t len, const char *name,
                  const mrd_vars *v, char **out, mrd_error *err);

/* The embedded template NAME ("redis.conf", "sentinel.conf", ...), its
 * length in *len; NULL when there is no such template.  Borrowed. */
const char *tpl_builtin(const char *name, size_t *len);

/* Render the embedded template NAME. */
mrd_rc tpl_render_builtin(const char *name, const mrd_vars *v, char **out,
                          mrd_error *err);

#endif
