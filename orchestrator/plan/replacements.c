/* replacements.c - the replacement record's JSON (see replacements.h). */
#include "replacements.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A damaged record must never be removed to get going again: the hosts it
 * fences would start their old nodes. */
static mrd_rc bad(mrd_error *err, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static mrd_rc bad(mrd_error *err, const char *path, const char *fmt, ...)
{
    char what[320];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (n < 0)
        what[0] = '\0';
    return mrd_error_at(err, MRD_ERR_PARSE, path, 0, 0,
                        "%s: the replacement record is damaged; restore it from a backup of "
                        "the state dir (do not remove it: the hosts it fences would start "
                        "their old nodes again)",
                        what);
}

static bool name_ok(json_t *v)
{
    return json_is_string(v) && json_string_length(v) > 0 &&
           json_string_length(v) < MRD_NAME_MAX;
}

/* An optional integer member of O, at least MIN; *OUT unchanged when
 * absent.  False when present and not such an integer. */
static bool opt_int(json_t *o, const char *key, long long min, long long *out)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < min)
        return false;
    *out = json_integer_value(v);
    return true;
}

static mrd_rc parse_item(json_t *o, size_t i, const char *path, mrd_replacement *x,
                         mrd_error *err)
{
    json_t *host = json_object_get(o, "host"), *by = json_object_get(o, "by");
    json_t *gen = json_object_get(o, "generation"), *done = json_object_get(o, "done");
    if (!json_is_object(o) || !name_ok(host) || !name_ok(by))
        return bad(err, path, "replacement %zu: \"host\" and \"by\" must be host names", i + 1);
    if (!json_is_integer(gen) || json_integer_value(gen) < 2 ||
        json_integer_value(gen) > 1000000)
        return bad(err, path, "replacement %zu: \"generation\" must be an integer of at least 2",
                   i + 1);
    if (done && !json_is_boolean(done))
        return bad(err, path, "replacement %zu: \"done\" must be true or false", i + 1);
    if (!opt_int(o, "at_ms", 0, &x->at_ms))
        return bad(err, path, "replacement %zu: \"at_ms\" must be unix milliseconds", i + 1);
    snprintf(x->host, sizeof(x->host), "%s", json_string_value(host));
    snprintf(x->by, sizeof(x->by), "%s", json_string_value(by));
    x->generation = (int)json_integer_value(gen);
    x->done = json_is_true(done);
    return MRD_OK;
}

/* The rules between replacements: see replacements_parse(). */
static mrd_rc check_items(const mrd_replacements *r, const char *path, mrd_error *err)
{
    for (int i = 0; i < r->n; i++) {
        const mrd_replacement *x = &r->items[i];
        if (strcmp(x->host, x->by) == 0)
            return bad(err, path, "replacement %d: %s stands in for itself", i + 1, x->host);
        if (i > 0 && x->generation <= r->items[i - 1].generation)
            return bad(err, path,
                       "replacement %d: generation %d does not follow %d: generations must "
                       "increase",
                       i + 1, x->generation, r->items[i - 1].generation);
        for (int k = 0; k < i; k++) {
            if (strcmp(r->items[k].host, x->host) == 0)
                return bad(err, path, "replacements %d and %d: host %s is replaced twice", k + 1,
                           i + 1, x->host);
            if (strcmp(r->items[k].by, x->by) == 0)
                return bad(err, path, "replacements %d and %d: spare %s stands in twice", k + 1,
                           i + 1, x->by);
            /* a spare that stands in and is lost later is replaced in
             * turn (by of k, host of i); a replaced host is fenced for
             * good and never stands in afterwards (host of k, by of i) */
            if (strcmp(r->items[k].host, x->by) == 0)
                return bad(err, path,
                           "replacement %d: %s stands in after it was itself replaced "
                           "(replacement %d): a fenced host never comes back",
                           i + 1, x->by, k + 1);
        }
    }
    if (r->n > 0 && r->generation < r->items[r->n - 1].generation)
        return bad(err, path, "\"generation\" %d is below the last replacement's %d",
                   r->generation, r->items[r->n - 1].generation);
    return MRD_OK;
}

static mrd_rc parse_lost(json_t *lost, const char *path, mrd_replacements *r, mrd_error *err)
{
    for (size_t i = 0; i < json_array_size(lost); i++) {
        json_t *o = json_array_get(lost, i), *host = json_object_get(o, "host");
        if (!json_is_object(o) || !name_ok(host))
            return bad(err, path, "lost host %zu: \"host\" must be a host name", i + 1);
        mrd_lost_host *x = &r->lost[r->nlost];
        memset(x, 0, sizeof(*x));
        if (!opt_int(o, "since_ms", 0, &x->since_ms))
            return bad(err, path, "lost host %zu: \"since_ms\" must be unix milliseconds",
                       i + 1);
        snprintf(x->host, sizeof(x->host), "%s", json_string_value(host));
        for (int k = 0; k < r->nlost; k++)
            if (strcmp(r->lost[k].host, x->host) == 0)
                return bad(err, path, "lost host %s is listed twice", x->host);
        r->nlost++;
    }
    return MRD_OK;
}

static mrd_rc parse_root(json_t *root, const char *path, mrd_replacements *r, mrd_error *err)
{
    json_t *version = json_object_get(root, "version"), *gen = json_object_get(root, "generation");
    json_t *items = json_object_get(root, "replaced"), *lost = json_object_get(root, "lost");
    if (!json_is_object(root))
        return bad(err, path, "the record must be a JSON object");
    if (!json_is_integer(version) || json_integer_value(version) != MRD_REPLACEMENTS_VERSION)
        return bad(err, path, "\"version\" must be %d (written by another meridian?)",
                   MRD_REPLACEMENTS_VERSION);
    if (!json_is_integer(gen) || json_integer_value(gen) < 1 ||
        json_integer_value(gen) > 1000000)
        return bad(err, path, "\"generation\" must be an integer of at least 1");
    if ((items && !json_is_array(items)) || (lost && !json_is_array(lost)))
        return bad(err, path, "\"replaced\" and \"lost\" must be lists");
    r->generation = (int)json_integer_value(gen);
    size_t n = json_array_size(items), nl = json_array_size(lost);
    r->items = calloc(n ? n : 1, sizeof(*r->items));
    r->lost = calloc(nl ? nl : 1, sizeof(*r->lost));
    if (!r->items || !r->lost)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        MRD_TRY(parse_item(json_array_get(items, i), i, path, &r->items[i], err));
        r->n++;
    }
    MRD_TRY(check_items(r, path, err));
    return parse_lost(lost, path, r, err);
}

mrd_rc replacements_parse(const char *text, size_t len, const char *path, mrd_replacements *out,
                          mrd_error *err)
{
    replacements_init(out);
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return mrd_error_at(err, MRD_ERR_PARSE, path, je.line, je.column,
                            "%s: the replacement record is damaged; restore it from a backup "
                            "of the state dir (do not remove it: the hosts it fences would "
                            "start their old nodes again)",
                            je.text);
    mrd_replacements r = {0};
    mrd_rc rc = parse_root(root, path, &r, err);
    json_decref(root);
    if (rc != MRD_OK) {
        replacements_free(&r);
        return rc;
    }
    *out = r;
    return MRD_OK;
}

json_t *replacements_to_json(const mrd_replacements *r)
{
    json_t *items = json_array(), *lost = json_array();
    if (!items || !lost)
        goto fail;
    for (int i = 0; i < r->n; i++) {
        const mrd_replacement *x = &r->items[i];
        if (json_array_append_new(items, json_pack("{s:s,s:s,s:i,s:I,s:b}", "host", x->host,
                                                   "by", x->by, "generation", x->generation,
                                                   "at_ms", (json_int_t)x->at_ms, "done",
                                                   x->done)) != 0)
            goto fail;
    }
    for (int i = 0; i < r->nlost; i++)
        if (json_array_append_new(lost, json_pack("{s:s,s:I}", "host", r->lost[i].host,
                                                  "since_ms",
                                                  (json_int_t)r->lost[i].since_ms)) != 0)
            goto fail;
    /* "o" steals the arrays' references, on failure too */
    return json_pack("{s:i,s:i,s:o,s:o}", "version", MRD_REPLACEMENTS_VERSION, "generation",
                     r->generation, "replaced", items, "lost", lost);
fail:
    json_decref(items);
    json_decref(lost);
    return NULL;
}

void replacements_free(mrd_replacements *r)
{
    if (!r)
        return;
    free(r->items);
    free(r->lost);
    memset(r, 0, sizeof(*r));
}

void replacements_init(mrd_replacements *r)
{
    memset(r, 0, sizeof(*r));
    r->generation = 1;
}

int replacements_find(const mrd_replacements *r, const char *host)
{
    for (int i = 0; r && host && i < r->n; i++)
        if (strcmp(r->items[i].host, host) == 0)
            return i;
    return -1;
}

int replacements_find_by(const mrd_replacements *r, const char *spare)
{
    for (int i = 0; r && spare && i < r->n; i++)
        if (strcmp(r->items[i].by, spare) == 0)
            return i;
    return -1;
}

mrd_rc replacements_add(mrd_replacements *r, const char *host, const char *by, long long at_ms)
{
    mrd_replacement *items = realloc(r->items, (size_t)(r->n + 1) * sizeof(*items));
    if (!items)
        return MRD_ERR_NOMEM;
    r->items = items;
    mrd_replacement *x = &items[r->n++];
    memset(x, 0, sizeof(*x));
    snprintf(x->host, sizeof(x->host), "%s", host);
    snprintf(x->by, sizeof(x->by), "%s", by);
    x->generation = ++r->generation;
    x->at_ms = at_ms;
    return MRD_OK;
}

mrd_rc replacements_lost_set(mrd_replacements *r, const char *host, long long since_ms)
{
    for (int i = 0; i < r->nlost; i++)
        if (strcmp(r->lost[i].host, host) == 0)
            return MRD_OK;
    mrd_lost_host *lost = realloc(r->lost, (size_t)(r->nlost + 1) * sizeof(*lost));
    if (!lost)
        return MRD_ERR_NOMEM;
    r->lost = lost;
    mrd_lost_host *x = &lost[r->nlost++];
    memset(x, 0, sizeof(*x));
    snprintf(x->host, sizeof(x->host), "%s", host);
    x->since_ms = since_ms;
    return MRD_OK;
}

void replacements_lost_clear(mrd_replacements *r, const char *host)
{
    for (int i = 0; i < r->nlost; i++)
        if (strcmp(r->lost[i].host, host) == 0) {
            memmove(&r->lost[i], &r->lost[i + 1], (size_t)(r->nlost - i - 1) * sizeof(*r->lost));
            r->nlost--;
            return;
        }
}
