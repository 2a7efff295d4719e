/* render.c - `{{name}}` substitution over embedded templates.
 *
 * Variables live in a small open-addressing hash table keyed by name, so a
 * placeholder is looked up straight from the template bytes without
 * copying its name.  Rendering is one pass over the template appending to
 * one growing buffer: linear in the template plus the output.
 */
#include "render.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "render_data.h"

/* Names ending in this hold whole config lines and may contain '\n'. */
#define BLOCK_SUFFIX "_lines"
#define VARS_INITIAL_SLOTS 32 /* power of two */

/* ==== VARIABLES ======================================================== */

struct var {
    char *name; /* NULL: empty slot */
    size_t name_len;
    char *value;
};

struct mrd_vars {
    struct var *slots;
    size_t cap; /* power of two */
    size_t n;
};

static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

static bool valid_name(const char *name)
{
    if (!name || !*name)
        return false;
    for (const char *c = name; *c; c++)
        if (!is_name_char(*c))
            return false;
    return true;
}

static bool is_block_name(const char *name, size_t len)
{
    size_t slen = sizeof(BLOCK_SUFFIX) - 1;
    return len >= slen && memcmp(name + len - slen, BLOCK_SUFFIX, slen) == 0;
}

static uint64_t hash_name(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* The slot holding NAME, or the empty slot where it would go. */
static struct var *find_slot(struct var *slots, size_t cap, const char *name,
                             size_t len)
{
    size_t i = (size_t)hash_name(name, len) & (cap - 1);
    for (;;) {
        struct var *s = &slots[i];
        if (!s->name ||
            (s->name_len == len && memcmp(s->name, name, len) == 0))
            return s;
        i = (i + 1) & (cap - 1);
    }
}

static const struct var *lookup(const mrd_vars *v, const char *name, size_t len)
{
    if (!v)
        return NULL;
    const struct var *s = find_slot(v->slots, v->cap, name, len);
    return s->name ? s : NULL;
}

static mrd_rc grow(mrd_vars *v)
{
    if (v->cap > SIZE_MAX / 2 / sizeof(struct var))
        return MRD_ERR_NOMEM;
    size_t cap = v->cap * 2;
    struct var *slots = calloc(cap, sizeof(*slots));
    if (!slots)
        return MRD_ERR_NOMEM;
    for (size_t i = 0; i < v->cap; i++)
        if (v->slots[i].name)
            *find_slot(slots, cap, v->slots[i].name, v->slots[i].name_len) =
                v->slots[i];
    free(v->slots);
    v->slots = slots;
    v->cap = cap;
    return MRD_OK;
}

mrd_vars *vars_new(void)
{
    mrd_vars *v = calloc(1, sizeof(*v));
    if (!v)
        return NULL;
    v->cap = VARS_INITIAL_SLOTS;
    v->slots = calloc(v->cap, sizeof(*v->slots));
    if (!v->slots) {
        free(v);
        return NULL;
    }
    return v;
}

void vars_free(mrd_vars **v)
{
    if (!v || !*v)
        return;
    for (size_t i = 0; i < (*v)->cap; i++) {
        free((*v)->slots[i].name);
        free((*v)->slots[i].value);
    }
    free((*v)->slots);
    free(*v);
    *v = NULL;
}

/* Variables whose names end in "_lines" are blocks of whole config lines
 * (e.g. the "sentinel known-replica ..." lines) and may hold newlines; every
 * other value is refused if it contains '\n' or '\r', so that a value such
 * as a password can never add a directive to a config file. */
mrd_rc vars_set(mrd_vars *v, const char *name, const char *value)
{
    if (!v || !valid_name(name) || !value)
        return MRD_ERR_INVALID;
    size_t len = strlen(name);
    if (!is_block_name(name, len) && strpbrk(value, "\r\n"))
        return MRD_ERR_INVALID;

    char *copy = strdup(value);
    if (!copy)
        return MRD_ERR_NOMEM;
    struct var *s = find_slot(v->slots, v->cap, name, len);
    if (s->name) {
        free(s->value);
        s->value = copy;
        return MRD_OK;
    }
    /* Keep the load under one half so probes stay short. */
    if ((v->n + 1) * 2 > v->cap) {
        if (grow(v) != MRD_OK) {
            free(copy);
            return MRD_ERR_NOMEM;
        }
        s = find_slot(v->slots, v->cap, name, len);
    }
    s->name = strdup(name);
    if (!s->name) {
        free(copy);
        return MRD_ERR_NOMEM;
    }
    s->name_len = len;
    s->value = copy;
    v->n++;
    return MRD_OK;
}

mrd_rc vars_setf(mrd_vars *v, const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return MRD_ERR_INVALID;
    char *buf = malloc((size_t)n + 1);
    if (!buf)
        return MRD_ERR_NOMEM;
    va_start(ap, fmt);
    vsnprintf(buf, (size_t)n + 1, fmt, ap);
    va_end(ap);
    mrd_rc rc = vars_set(v, name, buf);
    free(buf);
    return rc;
}

mrd_rc vars_set_int(mrd_vars *v, const char *name, long long value)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", value);
    return vars_set(v, name, buf);
}

const char *vars_get(const mrd_vars *v, const char *name)
{
    if (!name)
        return NULL;
    const struct var *s = lookup(v, name, strlen(name));
    return s ? s->value : NULL;
}

/* ==== RENDERING ======================================================== */

/* 1-based line and column of byte OFF (only computed for errors). */
static void position(const char *tpl, size_t off, int *line, int *col)
{
    int l = 1;
    size_t bol = 0;
    for (size_t i = 0; i < off; i++)
        if (tpl[i] == '\n') {
            l++;
            bol = i + 1;
        }
    *line = l;
    *col = (int)(off - bol) + 1;
}

/* The placeholder opening at OPEN is malformed: say how. */
static mrd_rc syntax_error(const char *tpl, size_t len, size_t open,
                           const char *name, mrd_error *err)
{
    int line, col;
    position(tpl, open, &line, &col);
    for (size_t k = open + 2; k < len && tpl[k] != '\n'; k++) {
        if (k + 1 < len && tpl[k] == '}' && tpl[k + 1] == '}') {
            int n = (int)(k - open - 2);
            return mrd_error_at(err, MRD_ERR_PARSE, name, line, col,
                                "bad template variable {{%.*s}}: names use "
                                "only a-z, 0-9 and _, with no spaces",
                                n > 64 ? 64 : n, tpl + open + 2);
        }
    }
    return mrd_error_at(err, MRD_ERR_PARSE, name, line, col,
                        "unterminated {{: close it with }} on the same line");
}

mrd_rc tpl_render(const char *tpl, size_t len, const char *name,
                  const mrd_vars *v, char **out, mrd_error *err)
{
    *out = NULL;
    if (!name)
        name = "template";
    if (!tpl && len > 0)
        return mrd_error_set(err, MRD_ERR_INVALID, "no template text for %s", name);

    mrd_buf b; /* no cap, as before: the template and its values are ours */
    mrd_buf_init(&b, SIZE_MAX);

    size_t i = 0;
    while (i < len) {
        /* Next "{{"; a lone '{' is literal text. */
        size_t open = i;
        for (;;) {
            const char *brace = memchr(tpl + open, '{', len - open);
            if (!brace) {
                open = len;
                break;
            }
            open = (size_t)(brace - tpl);
            if (open + 1 < len && tpl[open + 1] == '{')
                break;
            open++;
        }
        if (mrd_buf_add(&b, tpl + i, open - i) != MRD_OK)
            goto nomem;
        if (open >= len)
            break;

        size_t start = open + 2, end = start;
        while (end < len && is_name_char(tpl[end]))
            end++;
        if (end == start || end + 1 >= len || tpl[end] != '}' ||
            tpl[end + 1] != '}') {
            mrd_rc rc = syntax_error(tpl, len, open, name, err);
            mrd_buf_free(&b);
            return rc;
        }
        const struct var *var = lookup(v, tpl + start, end - start);
        if (!var) {
            int line, col;
            position(tpl, open, &line, &col);
            mrd_buf_free(&b);
            return mrd_error_at(err, MRD_ERR_INVALID, name, line, col,
                                "template variable {{%.*s}} is not set",
                                (int)(end - start), tpl + start);
        }
        if (mrd_buf_adds(&b, var->value) != MRD_OK)
            goto nomem;
        i = end + 2;
    }
    if (!(*out = mrd_buf_take(&b)))
        goto nomem;
    return MRD_OK;

nomem:
    mrd_buf_free(&b);
    return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory rendering %s", name);
}

const char *tpl_builtin(const char *name, size_t *len)
{
    if (!name)
        return NULL;
    for (const struct mrd_template_data *t = mrd_templates; t->name; t++) {
        if (strcmp(t->name, name) == 0) {
            if (len)
                *len = t->len;
            return t->text;
        }
    }
    return NULL;
}

mrd_rc tpl_render_builtin(const char *name, const mrd_vars *v, char **out,
                          mrd_error *err)
{
    size_t len = 0;
    const char *text = tpl_builtin(name, &len);
    if (!text) {
        *out = NULL;
        return mrd_error_set(err, MRD_ERR_NOT_FOUND,
                             "no built-in template \"%s\"", name ? name : "");
    }
    return tpl_render(text, len, name, v, out, err);
}
