/* topology.c - read and validate a topology file.
 *
 * jansson turns the bytes into a tree; this file walks the tree in a fixed
 * order (top-level keys, name, mode, survive, transport, store, sentinel,
 * consistency, agent, notify, cluster, regions, then the checks that span
 * sections), so the first error reported for a given file is always the
 * same one.  jansson keeps no positions for values: every error locates
 * its key or value in the original text with jsonpos, so that it reads
 * "file:line:column: what is wrong and what to do".
 */
#include "topology.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "buf.h"
#include "jsonpos.h"

#define TOPO_MAX_DEPTH 8 /* path steps; regions[i].zones[j].hosts[k].x is 7 */
#define TOPO_MAX_FILE (16L * 1024 * 1024) /* bytes topology_load() reads */
#define TOPO_PORT_MAX 65535
#define TOPO_SUGGEST_MAX 2  /* edit distance for "did you mean" */
#define TOPO_KEY_CMP_MAX 64 /* longer unknown keys get no suggestion */
#define TOPO_MSG 512        /* a message, as mrd_error.msg */
#define TOPO_WHERE 192      /* a dotted path in a message */
#define TOPO_QUOTED 96      /* a quoted value in a message */
#define TOPO_LIST 320       /* a list of names in a message */

/* ==== KEYS ============================================================== */

static const char *const top_keys[] = {
    "name", "mode", "survive", "transport", "store", "sentinel",
    "consistency", "agent", "notify", "cluster", "tls", "backup", "regions", NULL};
static const char *const transport_keys[] = {
    "kind", "user", "identity", "known_hosts", "port", "root", NULL};
static const char *const notify_keys[] = {"webhooks", NULL};
static const char *const region_keys[] = {"name", "zones", NULL};
static const char *const zone_keys[] = {"name", "hosts", NULL};
static const char *const host_keys[] = {"name", "address", "spare", NULL};

static const char *const mode_names[] = {"sentinel", "cluster", NULL};
static const char *const survive_names[] = {"none", "zone", "region", NULL};
static const char *const transport_names[] = {"local", "ssh", NULL};

/* ==== PARSE CONTEXT ===================================================== */

/* The walk's state.  PATH is where in the document the walk is (the
 * object whose members are being read); error positions and the dotted
 * names in messages are both derived from it. */
typedef struct ctx {
    const char *text;
    size_t len;
    const char *file;
    mrd_error *err;
    mrd_topology *t;
    jsonpos_step path[TOPO_MAX_DEPTH];
    size_t depth;
    int zcap; /* zones/hosts allocated by the pre-count */
    int hcap;
} ctx;

static void push_key(ctx *c, const char *key)
{
    if (c->depth < TOPO_MAX_DEPTH) {
        c->path[c->depth].key = key;
        c->path[c->depth].index = 0;
    }
    c->depth++;
}

static void push_index(ctx *c, size_t index)
{
    if (c->depth < TOPO_MAX_DEPTH) {
        c->path[c->depth].key = NULL;
        c->path[c->depth].index = index;
    }
    c->depth++;
}

static void pop(ctx *c)
{
    if (c->depth > 0)
        c->depth--;
}

/* Position of STEPS; when it is not in the text (a default, a missing
 * key), the nearest enclosing member that is. */
static jsonpos locate_steps(const ctx *c, const jsonpos_step *steps, size_t n,
                            jsonpos_what what)
{
    jsonpos p;
    for (;;) {
        if (jsonpos_locate(c->text, c->len, steps, n, what, &p) == 0)
            return p;
        if (n == 0)
            break;
        n--;
        what = JSONPOS_KEY;
    }
    return jsonpos_at_offset(c->text, c->len, 0);
}

/* Position of member KEY of the current object (of the current object
 * itself when KEY is NULL). */
static jsonpos pos_here(const ctx *c, const char *key, jsonpos_what what)
{
    jsonpos_step steps[TOPO_MAX_DEPTH + 1];
    size_t n = c->depth < TOPO_MAX_DEPTH ? c->depth : TOPO_MAX_DEPTH;
    memcpy(steps, c->path, n * sizeof(steps[0]));
    if (key) {
        steps[n].key = key;
        steps[n].index = 0;
        n++;
    }
    return locate_steps(c, steps, n, what);
}

/* Position of top-level SECTION's member KEY (KEY may be NULL; both NULL
 * is the root). */
static jsonpos pos_top(const ctx *c, const char *section, const char *key,
                       jsonpos_what what)
{
    jsonpos_step steps[2] = {{section, 0}, {key, 0}};
    return locate_steps(c, steps, section ? (key ? 2 : 1) : 0, what);
}

static void appendf(char *buf, size_t n, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void appendf(char *buf, size_t n, size_t *used, const char *fmt, ...)
{
    if (*used + 1 >= n)
        return;
    va_list ap;
    va_start(ap, fmt);
    int r = vsnprintf(buf + *used, n - *used, fmt, ap);
    va_end(ap);
    if (r < 0)
        return;
    *used += (size_t)r;
    if (*used >= n)
        *used = n - 1;
}

/* The dotted name of member KEY of the current object, as a user reads
 * it in the file: "store.port", "regions[1].zones[0].name". */
static const char *path_str(const ctx *c, const char *key, char *buf,
                            size_t n)
{
    size_t used = 0;
    size_t depth = c->depth < TOPO_MAX_DEPTH ? c->depth : TOPO_MAX_DEPTH;
    buf[0] = '\0';
    for (size_t i = 0; i < depth; i++) {
        if (c->path[i].key)
            appendf(buf, n, &used, "%s%s", used ? "." : "", c->path[i].key);
        else
            appendf(buf, n, &used, "[%zu]", c->path[i].index);
    }
    if (key)
        appendf(buf, n, &used, "%s%s", used ? "." : "", key);
    return buf;
}

/* "at the top level" or "in store", for messages about a member of the
 * current object. */
static const char *where_in(const ctx *c, char *buf, size_t n)
{
    char w[TOPO_WHERE];
    if (c->depth == 0)
        snprintf(buf, n, "at the top level");
    else
        snprintf(buf, n, "in %s", path_str(c, NULL, w, sizeof(w)));
    return buf;
}

/* S in double quotes with JSON-style escapes, cut short with "..." so a
 * message stays readable. */
static const char *quote(const char *s, char *buf, size_t n)
{
    static const size_t shown = 60;
    size_t used = 0;
    const unsigned char *p = (const unsigned char *)s;
    size_t i;
    appendf(buf, n, &used, "\"");
    /* leave room for an escape, the ellipsis and the closing quote */
    for (i = 0; p[i] && i < shown && used + 12 < n; i++) {
        unsigned char ch = p[i];
        if (ch == '"' || ch == '\\')
            appendf(buf, n, &used, "\\%c", ch);
        else if (ch < 0x20 || ch == 0x7f)
            appendf(buf, n, &used, "\\u%04x", ch);
        else
            appendf(buf, n, &used, "%c", ch);
    }
    if (p[i]) {
        /* do not leave half a UTF-8 sequence before the ellipsis */
        while (used > 1 && ((unsigned char)buf[used - 1] & 0xC0) == 0x80)
            used--;
        if (used > 1 && (unsigned char)buf[used - 1] >= 0xC0)
            used--;
        buf[used] = '\0';
        appendf(buf, n, &used, "...");
    }
    appendf(buf, n, &used, "\"");
    return buf;
}

/* What V is, for "must be X, not Y" messages. */
static const char *describe(const json_t *v, char *buf, size_t n)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        snprintf(buf, n, "an object");
        break;
    case JSON_ARRAY:
        snprintf(buf, n, "an array");
        break;
    case JSON_STRING:
        quote(json_string_value(v), buf, n);
        break;
    case JSON_INTEGER:
        snprintf(buf, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL: {
        int r = snprintf(buf, n, "%g", json_real_value(v));
        if (r > 0 && (size_t)r + 2 < n && !strpbrk(buf, ".eEin"))
            snprintf(buf + r, n - (size_t)r, ".0");
        break;
    }
    case JSON_TRUE:
        snprintf(buf, n, "true");
        break;
    case JSON_FALSE:
        snprintf(buf, n, "false");
        break;
    case JSON_NULL:
    default:
        snprintf(buf, n, "null");
        break;
    }
    return buf;
}

/* "a, b, c" from a NULL-terminated list. */
static const char *join(const char *const *names, const char *sep, char *buf,
                        size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; names[i]; i++)
        appendf(buf, n, &used, "%s%s", i ? sep : "", names[i]);
    return buf;
}

/* "\"a\", \"b\" or \"c\"" from a NULL-terminated list. */
static const char *join_quoted_or(const char *const *names, char *buf,
                                  size_t n)
{
    size_t used = 0, count = 0;
    buf[0] = '\0';
    while (names[count])
        count++;
    for (size_t i = 0; i < count; i++) {
        const char *sep = i == 0 ? "" : (i + 1 == count ? " or " : ", ");
        appendf(buf, n, &used, "%s\"%s\"", sep, names[i]);
    }
    return buf;
}

static mrd_rc fail_at(ctx *c, jsonpos p, mrd_rc code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static mrd_rc fail_at(ctx *c, jsonpos p, mrd_rc code, const char *fmt, ...)
{
    char msg[TOPO_MSG];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return mrd_error_at(c->err, code, c->file, p.line, p.column, "%s", msg);
}

static const char *plural(long long n)
{
    return n == 1 ? "" : "s";
}

/* ==== SMALL VALIDATORS ================================================== */

static bool valid_name(const char *s, size_t len)
{
    if (len < 1 || len >= MRD_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
                  ch == '-';
        if (!ok)
            return false;
    }
    return true;
}

/* Strict dotted quad: four decimal numbers 0..255, no leading zeros (they
 * would read as octal to some tools), nothing else. */
static bool parse_ipv4(const char *s, unsigned char out[4])
{
    const char *p = s;
    for (int part = 0; part < 4; part++) {
        if (part > 0) {
            if (*p != '.')
                return false;
            p++;
        }
        if (*p < '0' || *p > '9')
            return false;
        unsigned v = 0;
        int digits = 0;
        const char *start = p;
        while (*p >= '0' && *p <= '9') {
            v = v * 10 + (unsigned)(*p - '0');
            p++;
            if (++digits > 3)
                return false;
        }
        if (v > 255 || (digits > 1 && *start == '0'))
            return false;
        out[part] = (unsigned char)v;
    }
    return *p == '\0';
}

static char ascii_lower(char ch)
{
    return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
}

/* Optimal string alignment distance (adjacent swaps cost 1), so "prot"
 * is one edit from "port"; case is ignored, so "STORE" is "store".  Both
 * strings at most TOPO_KEY_CMP_MAX long. */
static int edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    int rows[3][TOPO_KEY_CMP_MAX + 1];
    int *prev2 = rows[0], *prev = rows[1], *cur = rows[2];
    if (la > TOPO_KEY_CMP_MAX || lb > TOPO_KEY_CMP_MAX)
        return INT_MAX;
    for (size_t j = 0; j <= lb; j++)
        prev[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            char ai = ascii_lower(a[i - 1]), bj = ascii_lower(b[j - 1]);
            int cost = ai == bj ? 0 : 1;
            int best = prev[j] + 1;
            if (cur[j - 1] + 1 < best)
                best = cur[j - 1] + 1;
            if (prev[j - 1] + cost < best)
                best = prev[j - 1] + cost;
            if (i > 1 && j > 1 && ai == ascii_lower(b[j - 2]) &&
                ascii_lower(a[i - 2]) == bj && prev2[j - 2] + 1 < best)
                best = prev2[j - 2] + 1;
            cur[j] = best;
        }
        int *tmp = prev2;
        prev2 = prev;
        prev = cur;
        cur = tmp;
    }
    return prev[lb];
}

static bool is_comment_key(const char *key)
{
    return key[0] == '/' && key[1] == '/';
}

static bool in_list(const char *key, const char *const *known)
{
    for (size_t i = 0; known[i]; i++)
        if (strcmp(key, known[i]) == 0)
            return true;
    return false;
}

/* ==== GENERIC MEMBER READERS ============================================ */
/* Each reads member KEY of OBJ, the object at the current path.  An absent
 * member leaves *out alone (the default stays); a present one of the wrong
 * type or out of range is an error positioned at the value. */

/* Every key of OBJ must be in KNOWN or be a "//" comment. */
static mrd_rc check_keys(ctx *c, json_t *obj, const char *const *known)
{
    for (void *it = json_object_iter(obj); it;
         it = json_object_iter_next(obj, it)) {
        const char *key = json_object_iter_key(it);
        if (is_comment_key(key) || in_list(key, known))
            continue;

        const char *best = NULL;
        int best_d = INT_MAX;
        for (size_t i = 0; known[i]; i++) {
            int d = edit_distance(key, known[i]);
            if (d < best_d) {
                best_d = d;
                best = known[i];
            }
        }
        char q[TOPO_QUOTED], w[TOPO_WHERE], list[TOPO_LIST], hint[96];
        hint[0] = '\0';
        if (best && best_d <= TOPO_SUGGEST_MAX &&
            (size_t)best_d < strlen(key))
            snprintf(hint, sizeof(hint), "; did you mean \"%s\"?", best);
        return fail_at(c, pos_here(c, key, JSONPOS_KEY), MRD_ERR_INVALID,
                       "unknown key %s %s: expected one of %s%s",
                       quote(key, q, sizeof(q)), where_in(c, w, sizeof(w)),
                       join(known, ", ", list, sizeof(list)), hint);
    }
    return MRD_OK;
}

/* V (at the current path) must be an object with keys from KNOWN.  NULL
 * (absent) is fine. */
static mrd_rc expect_object(ctx *c, json_t *v, const char *const *known,
                            const char *shape)
{
    if (!v)
        return MRD_OK;
    if (!json_is_object(v)) {
        char w[TOPO_WHERE], d[TOPO_QUOTED];
        return fail_at(c, pos_here(c, NULL, JSONPOS_VALUE), MRD_ERR_INVALID,
                       "%s must be an object (%s), not %s",
                       path_str(c, NULL, w, sizeof(w)), shape,
                       describe(v, d, sizeof(d)));
    }
    return check_keys(c, v, known);
}

static mrd_rc get_int(ctx *c, json_t *obj, const char *key, long long min,
                      long long max, int *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return MRD_OK;
    if (!json_is_integer(v) || json_integer_value(v) < min ||
        json_integer_value(v) > max) {
        char w[TOPO_WHERE], d[TOPO_QUOTED];
        path_str(c, key, w, sizeof(w));
        describe(v, d, sizeof(d));
        if (max >= INT_MAX)
            return fail_at(c, pos_here(c, key, JSONPOS_VALUE), MRD_ERR_INVALID,
                           "%s must be an integer of at least %lld, not %s", w,
                           min, d);
        return fail_at(c, pos_here(c, key, JSONPOS_VALUE), MRD_ERR_INVALID,
                       "%s must be an integer from %lld to %lld, not %s", w,
                       min, max, d);
    }
    *out = (int)json_integer_value(v);
    return MRD_OK;
}

static mrd_rc get_port(ctx *c, json_t *obj, const char *key, int *out)
{
    return get_int(c, obj, key, 1, TOPO_PORT_MAX, out);
}

static mrd_rc get_bool(ctx *c, json_t *obj, const char *key, bool *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return MRD_OK;
    if (!json_is_boolean(v)) {
        char w[TOPO_WHERE], d[TOPO_QUOTED];
        return fail_at(c, pos_here(c, key, JSONPOS_VALUE), MRD_ERR_INVALID,
                       "%s must be true or false, not %s",
                       path_str(c, key, w, sizeof(w)),
                       describe(v, d, sizeof(d)));
    }
    *out = json_is_true(v);
    return MRD_OK;
}

/* A string member; WHAT describes it in the type error ("a string"). */
static mrd_rc get_string(ctx *c, json_t *obj, const char *key, char *buf,
                         size_t n, const char *what)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return MRD_OK;
    char w[TOPO_WHERE], d[TOPO_QUOTED];
    path_str(c, key, w, sizeof(w));
    if (!json_is_string(v))
        return fail_at(c, pos_here(c, key, JSONPOS_VALUE), MRD_ERR_INVALID, "%s must be %s, not %s", w,
                       what, describe(v, d, sizeof(d)));
    size_t len = json_string_length(v);
    if (len == 0)
        return fail_at(c, pos_here(c, key, JSONPOS_VALUE), MRD_ERR_INVALID, "%s must not be empty", w);
    if (len >= n)
        return fail_at(c, pos_here(c, key, JSONPOS_VALUE), MRD_ERR_INVALID,
                       "%s is too long: at most %zu bytes", w, n - 1);
    memcpy(buf, json_string_value(v), len + 1);
    return MRD_OK;
}

/* A name: [A-Za-z0-9._-]{1,63}, not "." or "..", not starting with '-'.
 * KIND says what it names. */
static mrd_rc get_name(ctx *c, json_t *obj, const char *key, char *buf,
                       const char *kind)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return MRD_OK;
    char w[TOPO_WHERE], d[TOPO_QUOTED];
    path_str(c, key, w, sizeof(w));
    if (!json_is_string(v))
        return fail_at(c, pos_here(c, key, JSONPOS_VALUE), MRD_ERR_INVALID,
                       "%s must be a string (%s), not %s",
                       w, kind, describe(v, d, sizeof(d)));
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (!valid_name(s, len))
        return fail_at(c, pos_here(c, key, JSONPOS_VALUE), MRD_ERR_INVALID,
                       "%s %s is not a valid %s: use 1 to %d characters from "
                       "A-Z, a-z, 0-9, '.', '_' and '-'",
                       w, describe(v, d, sizeof(d)), kind, MRD_NAME_MAX - 1);
    /* Names become folder names (STATE/hosts/HOST, the default state dir
     * .../meridian/TOPOLOGY) and words of command lines (ssh user, systemd
     * unit, the agent's arguments): "." and ".." would put files in the
     * wrong folder, a leading '-' would read as an option. */
    if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return fail_at(c, pos_here(c, key, JSONPOS_VALUE), MRD_ERR_INVALID,
                       "%s %s is not a valid %s: \".\" and \"..\" are not allowed, "
                       "because names become folder names and these two would put "
                       "files in the wrong folder; use a name with a letter or digit",
                       w, describe(v, d, sizeof(d)), kind);
    if (s[0] == '-')
        return fail_at(c, pos_here(c, key, JSONPOS_VALUE), MRD_ERR_INVALID,
                       "%s %s is not a valid %s: it must not start with '-', because "
                       "names become command-line arguments, where it would read as "
                       "an option; start it with a letter or digit",
                       w, describe(v, d, sizeof(d)), kind);
    memcpy(buf, s, len + 1);
    return MRD_OK;
}

static mrd_rc get_enum(ctx *c, json_t *obj, const char *key,
                       const char *const *names, int *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return MRD_OK;
    if (json_is_string(v)) {
        for (int i = 0; names[i]; i++) {
            if (strcmp(json_string_value(v), names[i]) == 0) {
                *out = i;
                return MRD_OK;
            }
        }
    }
    char w[TOPO_WHERE], d[TOPO_QUOTED], list[TOPO_LIST];
    return fail_at(c, pos_here(c, key, JSONPOS_VALUE), MRD_ERR_INVALID,
                   "%s must be %s, not %s", path_str(c, key, w, sizeof(w)),
                   join_quoted_or(names, list, sizeof(list)),
                   describe(v, d, sizeof(d)));
}

/* A Redis memory size: a string such as "64mb", or a plain integer of
 * bytes (kept as its decimal text).  *bytes gets the parsed value. */
static mrd_rc get_size(ctx *c, json_t *obj, const char *key, char *buf,
                       size_t n, long long *bytes)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return MRD_OK;
    char w[TOPO_WHERE], d[TOPO_QUOTED], text[MRD_SIZE_MAX];
    path_str(c, key, w, sizeof(w));
    describe(v, d, sizeof(d));
    long long b = -1;
    if (json_is_string(v) && json_string_length(v) < sizeof(text)) {
        memcpy(text, json_string_value(v), json_string_length(v) + 1);
        b = mrd_parse_size(text);
    } else if (json_is_integer(v) && json_integer_value(v) >= 0) {
        snprintf(text, sizeof(text), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(v));
        b = json_integer_value(v);
    }
    if (b < 0 || strlen(text) >= n)
        return fail_at(c, pos_here(c, key, JSONPOS_VALUE), MRD_ERR_INVALID,
                       "%s %s is not a size: write a number of bytes with an "
                       "optional unit b, k, kb, m, mb, g or gb, e.g. \"256mb\"",
                       w, d);
    snprintf(buf, n, "%s", text);
    *bytes = b;
    return MRD_OK;
}

/* ==== SECTIONS ========================================================== */

/* transport.root: an absolute path or one under "~/", of characters that
 * need no quoting anywhere it goes (the cron entry, the systemd unit, a
 * remote command line). */
static mrd_rc get_root(ctx *c, json_t *obj, const char *key, char *buf, size_t n)
{
    mrd_rc rc = get_string(c, obj, key, buf, n, "a string (a folder on each host)");
    if (rc != MRD_OK || !json_object_get(obj, key))
        return rc;
    bool ok = buf[0] == '/' || (buf[0] == '~' && buf[1] == '/');
    for (const char *p = buf + (buf[0] == '~'); ok && *p; p++)
        ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
             (*p >= '0' && *p <= '9') || strchr("/._+-", *p) != NULL;
    /* No "." or ".." component anywhere ("/srv/.." is "/"). */
    for (const char *p = buf + (buf[0] == '~'); ok && *p; p++) {
        size_t len = strcspn(p + 1, "/");
        if (*p == '/' && ((len == 1 && p[1] == '.') || (len == 2 && strncmp(p + 1, "..", 2) == 0)))
            ok = false;
    }
    if (ok && strcmp(buf, "/") != 0 && strcmp(buf, "~/") != 0)
        return MRD_OK;
    char w[TOPO_WHERE], d[TOPO_QUOTED];
    buf[0] = '\0';
    return fail_at(c, pos_here(c, key, JSONPOS_VALUE), MRD_ERR_INVALID,
                   "%s %s must be an absolute folder (\"/var/lib/meridian\") or one in "
                   "the remote user's home (\"~/meridian\"), of characters A-Z, a-z, "
                   "0-9, '/', '.', '_', '+' and '-', without \".\" or \"..\" parts",
                   path_str(c, key, w, sizeof(w)),
                   describe(json_object_get(obj, key), d, sizeof(d)));
}

static mrd_rc parse_transport(ctx *c, json_t *root)
{
    mrd_transport *tr = &c->t->transport;
    json_t *o = json_object_get(root, "transport");
    mrd_rc rc;
    push_key(c, "transport");
    rc = expect_object(c, o, transport_keys,
                       "{ \"kind\": \"local\" } or { \"kind\": \"ssh\", ... }");
    if (rc == MRD_OK && o) {
        int kind = (int)tr->kind;
        if ((rc = get_enum(c, o, "kind", transport_names, &kind)) == MRD_OK)
            tr->kind = (mrd_transport_kind)kind;
        if (rc == MRD_OK)
            rc = get_name(c, o, "user", tr->user, "user name");
        if (rc == MRD_OK)
            rc = get_string(c, o, "identity", tr->identity,
                            sizeof(tr->identity), "a string (a key file path)");
        if (rc == MRD_OK)
            rc = get_string(c, o, "known_hosts", tr->known_hosts,
                            sizeof(tr->known_hosts),
                            "a string (a known_hosts file path)");
        if (rc == MRD_OK)
            rc = get_port(c, o, "port", &tr->port);
        if (rc == MRD_OK)
            rc = get_root(c, o, "root", tr->root, sizeof(tr->root));
    }
    pop(c);
    return rc;
}

/* A section whose keys are rows of the settings table (store, sentinel,
 * consistency, agent, cluster): each key is checked against its row's
 * type and bounds.  SHAPE shows the section in a type error. */
static mrd_rc parse_settings(ctx *c, json_t *root, const char *section, const char *shape)
{
    mrd_topology *t = c->t;
    json_t *o = json_object_get(root, section);
    push_key(c, section);
    mrd_rc rc = expect_object(c, o, mrd_settings_keys(section), shape);
    size_t n;
    const mrd_setting *rows = mrd_settings_table(&n);
    for (size_t i = 0; rc == MRD_OK && o && i < n; i++) {
        const mrd_setting *row = &rows[i];
        if (strcmp(row->section, section) != 0)
            continue;
        void *field = (char *)&t->settings + row->offset;
        long long bytes = 0;
        switch (row->type) {
        case MRD_SETTING_INT:
            rc = get_int(c, o, row->key, row->min, row->max, field);
            break;
        case MRD_SETTING_BOOL:
            rc = get_bool(c, o, row->key, field);
            break;
        case MRD_SETTING_REGION:
            rc = get_name(c, o, row->key, field, "region name");
            break;
        case MRD_SETTING_PROGRAM:
        case MRD_SETTING_FILE:
        case MRD_SETTING_TEXT:
        case MRD_SETTING_CHOICE: {
            json_t *v = json_object_get(o, row->key);
            char why[320]; /* names the key: "tls.ca_file must be ..." */
            if (v && mrd_setting_set_json(row, v, &t->settings, why, sizeof(why)) != MRD_OK)
                rc = fail_at(c, pos_here(c, row->key, JSONPOS_VALUE), MRD_ERR_INVALID, "%s",
                             why);
            break;
        }
        case MRD_SETTING_SIZE:
            rc = get_size(c, o, row->key, field, row->size, &bytes);
            if (rc == MRD_OK && json_object_get(o, row->key) && bytes < row->min) {
                char w[TOPO_WHERE], q[TOPO_QUOTED];
                rc = fail_at(c, pos_here(c, row->key, JSONPOS_VALUE), MRD_ERR_INVALID,
                             "%s %s is too small: Redis needs at least \"%lldkb\"",
                             path_str(c, row->key, w, sizeof(w)), quote(field, q, sizeof(q)),
                             row->min / 1024);
            }
            break;
        }
    }
    pop(c);
    return rc;
}

static bool valid_webhook(const char *url)
{
    size_t skip;
    if (strncasecmp(url, "http://", 7) == 0)
        skip = 7;
    else if (strncasecmp(url, "https://", 8) == 0)
        skip = 8;
    else
        return false;
    if (url[skip] == '\0' || url[skip] == '/')
        return false; /* no host */
    for (const unsigned char *p = (const unsigned char *)url; *p; p++)
        if (*p <= 0x20 || *p == 0x7f)
            return false;
    return true;
}

static mrd_rc parse_notify(ctx *c, json_t *root)
{
    mrd_topology *t = c->t;
    json_t *o = json_object_get(root, "notify");
    mrd_rc rc;
    push_key(c, "notify");
    rc = expect_object(c, o, notify_keys, "{ \"webhooks\": [ ... ] }");
    json_t *hooks = o ? json_object_get(o, "webhooks") : NULL;
    if (rc == MRD_OK && hooks) {
        char w[TOPO_WHERE], d[TOPO_QUOTED];
        push_key(c, "webhooks");
        if (!json_is_array(hooks)) {
            rc = fail_at(c, pos_here(c, NULL, JSONPOS_VALUE), MRD_ERR_INVALID,
                         "notify.webhooks must be an array of http:// or "
                         "https:// URLs, not %s",
                         describe(hooks, d, sizeof(d)));
        } else if (json_array_size(hooks) > 0) {
            size_t n = json_array_size(hooks);
            t->webhooks = calloc(n, sizeof(t->webhooks[0]));
            if (!t->webhooks)
                rc = mrd_error_set(c->err, MRD_ERR_NOMEM, "out of memory");
            for (size_t i = 0; rc == MRD_OK && i < n; i++) {
                json_t *u = json_array_get(hooks, i);
                push_index(c, i);
                path_str(c, NULL, w, sizeof(w));
                if (!json_is_string(u)) {
                    rc = fail_at(c, pos_here(c, NULL, JSONPOS_VALUE), MRD_ERR_INVALID,
                                 "%s must be a string (an http:// or https:// "
                                 "URL), not %s",
                                 w, describe(u, d, sizeof(d)));
                } else if (!valid_webhook(json_string_value(u))) {
                    rc = fail_at(c, pos_here(c, NULL, JSONPOS_VALUE), MRD_ERR_INVALID,
                                 "%s %s is not an http:// or https:// URL: "
                                 "write it as \"https://host/path\"",
                                 w, describe(u, d, sizeof(d)));
                } else {
                    t->webhooks[i] = strdup(json_string_value(u));
                    if (!t->webhooks[i])
                        rc = mrd_error_set(c->err, MRD_ERR_NOMEM,
                                           "out of memory");
                    else
                        t->nwebhooks++;
                }
                pop(c);
            }
        }
        pop(c);
    }
    pop(c);
    return rc;
}

/* ==== REGIONS, ZONES, HOSTS ============================================= */

/* Steps to member LEAF of region R, zone Z or host H (pass -1 for the
 * levels below the one meant).  Returns the number of steps. */
static size_t item_steps(const mrd_topology *t, int r, int z, int h,
                         const char *leaf, jsonpos_step *s)
{
    size_t n = 0;
    if (h >= 0)
        z = t->hosts[h].zone;
    if (z >= 0)
        r = t->zones[z].region;
    s[n++] = (jsonpos_step){"regions", 0};
    s[n++] = (jsonpos_step){NULL, (size_t)r};
    if (z >= 0) {
        s[n++] = (jsonpos_step){"zones", 0};
        s[n++] = (jsonpos_step){NULL, (size_t)(z - t->regions[r].first_zone)};
    }
    if (h >= 0) {
        s[n++] = (jsonpos_step){"hosts", 0};
        s[n++] = (jsonpos_step){NULL, (size_t)(h - t->zones[z].first_host)};
    }
    s[n++] = (jsonpos_step){leaf, 0};
    return n;
}

static int line_of_item(const ctx *c, int r, int z, int h, const char *leaf)
{
    jsonpos_step s[TOPO_MAX_DEPTH];
    size_t n = item_steps(c->t, r, z, h, leaf, s);
    return locate_steps(c, s, n, JSONPOS_VALUE).line;
}

/* The current item (region, zone or host object) needs member KEY. */
static mrd_rc require(ctx *c, json_t *obj, const char *key, const char *why)
{
    if (json_object_get(obj, key))
        return MRD_OK;
    char w[TOPO_WHERE];
    return fail_at(c, pos_here(c, NULL, JSONPOS_VALUE), MRD_ERR_INVALID,
                   "missing key \"%s\" in %s: %s", key,
                   path_str(c, NULL, w, sizeof(w)), why);
}

/* The current item's member KEY must be a non-empty array. */
static mrd_rc nonempty_array(ctx *c, json_t *obj, const char *key,
                             const char *shape, const char *why)
{
    json_t *a = json_object_get(obj, key);
    char w[TOPO_WHERE], d[TOPO_QUOTED];
    path_str(c, key, w, sizeof(w));
    if (!json_is_array(a))
        return fail_at(c, pos_here(c, key, JSONPOS_VALUE), MRD_ERR_INVALID,
                       "%s must be an array (%s), not %s",
                       w, shape, describe(a, d, sizeof(d)));
    if (json_array_size(a) == 0)
        return fail_at(c, pos_here(c, key, JSONPOS_VALUE), MRD_ERR_INVALID, "%s is empty: %s", w, why);
    return MRD_OK;
}

static mrd_rc expect_item(ctx *c, json_t *v, const char *const *known,
                          const char *shape)
{
    if (!json_is_object(v)) {
        char w[TOPO_WHERE], d[TOPO_QUOTED];
        return fail_at(c, pos_here(c, NULL, JSONPOS_VALUE), MRD_ERR_INVALID,
                       "%s must be an object (%s), not %s",
                       path_str(c, NULL, w, sizeof(w)), shape,
                       describe(v, d, sizeof(d)));
    }
    return check_keys(c, v, known);
}

static mrd_rc parse_host(ctx *c, json_t *o, int r, int z)
{
    mrd_topology *t = c->t;
    mrd_rc rc;
    if (t->nhosts >= c->hcap)
        return mrd_error_set(c->err, MRD_ERR_INVALID,
                             "internal error: host count");
    int h = t->nhosts;
    mrd_host *host = &t->hosts[h];
    char q[TOPO_QUOTED], w[TOPO_WHERE];

    if ((rc = expect_item(c, o, host_keys,
                          "{ \"name\": ..., \"address\": ... }")) != MRD_OK ||
        (rc = require(c, o, "name",
                      "every host needs a name, e.g. \"use-a1\"")) != MRD_OK ||
        (rc = get_name(c, o, "name", host->name, "host name")) != MRD_OK)
        return rc;
    for (int i = 0; i < h; i++) {
        if (strcmp(t->hosts[i].name, host->name) == 0)
            return fail_at(c, pos_here(c, "name", JSONPOS_VALUE),
                           MRD_ERR_INVALID,
                           "host name %s is already used at line %d: host "
                           "names must be unique across the topology",
                           quote(host->name, q, sizeof(q)),
                           line_of_item(c, -1, -1, i, "name"));
    }

    if ((rc = require(c, o, "address",
                      "every host needs an IPv4 address")) != MRD_OK ||
        (rc = get_string(c, o, "address", host->address,
                         sizeof(host->address),
                         "a string (a dotted IPv4 address)")) != MRD_OK)
        return rc;
    unsigned char ip[4];
    path_str(c, "address", w, sizeof(w));
    quote(host->address, q, sizeof(q));
    if (!parse_ipv4(host->address, ip))
        return fail_at(c, pos_here(c, "address", JSONPOS_VALUE), MRD_ERR_INVALID,
                       "%s %s is not a dotted IPv4 address: write four numbers "
                       "from 0 to 255 separated by dots, e.g. \"%s\"",
                       w, q, t->transport.kind == MRD_TRANSPORT_LOCAL
                                 ? "127.0.1.1" : "192.0.2.10");
    if (t->transport.kind == MRD_TRANSPORT_LOCAL && ip[0] != 127)
        return fail_at(c, pos_here(c, "address", JSONPOS_VALUE), MRD_ERR_INVALID,
                       "%s %s is not a loopback address: with transport "
                       "\"local\" every host runs on this machine, so use an "
                       "address in 127.0.0.0/8 such as \"127.0.1.1\"",
                       w, q);
    if (ip[0] == 0 || (ip[0] == 255 && ip[1] == 255 && ip[2] == 255 &&
                       ip[3] == 255))
        return fail_at(c, pos_here(c, "address", JSONPOS_VALUE), MRD_ERR_INVALID,
                       "%s %s is not a host address", w, q);
    for (int i = 0; i < h; i++) {
        if (strcmp(t->hosts[i].address, host->address) == 0) {
            char q2[TOPO_QUOTED];
            return fail_at(c, pos_here(c, "address", JSONPOS_VALUE), MRD_ERR_INVALID,
                           "address %s is already used by host %s at line %d: "
                           "every host needs its own address",
                           q, quote(t->hosts[i].name, q2, sizeof(q2)),
                           line_of_item(c, -1, -1, i, "address"));
        }
    }
    if ((rc = get_bool(c, o, "spare", &host->spare)) != MRD_OK)
        return rc;
    host->region = r;
    host->zone = z;
    t->nhosts++;
    return MRD_OK;
}

static mrd_rc parse_zone(ctx *c, json_t *o, int r)
{
    mrd_topology *t = c->t;
    mrd_rc rc;
    if (t->nzones >= c->zcap)
        return mrd_error_set(c->err, MRD_ERR_INVALID,
                             "internal error: zone count");
    int z = t->nzones;
    mrd_zone *zone = &t->zones[z];
    char q[TOPO_QUOTED];

    if ((rc = expect_item(c, o, zone_keys,
                          "{ \"name\": ..., \"hosts\": [ ... ] }")) != MRD_OK ||
        (rc = require(c, o, "name",
                      "every zone needs a name, e.g. \"us-east-a\"")) !=
            MRD_OK ||
        (rc = get_name(c, o, "name", zone->name, "zone name")) != MRD_OK)
        return rc;
    for (int i = 0; i < z; i++) {
        if (strcmp(t->zones[i].name, zone->name) == 0)
            return fail_at(c, pos_here(c, "name", JSONPOS_VALUE),
                           MRD_ERR_INVALID,
                           "zone name %s is already used at line %d: zone "
                           "names must be unique across the topology",
                           quote(zone->name, q, sizeof(q)),
                           line_of_item(c, -1, i, -1, "name"));
    }
    if ((rc = require(c, o, "hosts",
                      "a zone needs at least one host")) != MRD_OK ||
        (rc = nonempty_array(c, o, "hosts",
                             "[ { \"name\": ..., \"address\": ... } ]",
                             "a zone needs at least one host")) != MRD_OK)
        return rc;

    zone->region = r;
    zone->first_host = t->nhosts;
    t->nzones++; /* now hosts can find their zone's first_host */
    json_t *hosts = json_object_get(o, "hosts");
    push_key(c, "hosts");
    for (size_t i = 0; rc == MRD_OK && i < json_array_size(hosts); i++) {
        push_index(c, i);
        rc = parse_host(c, json_array_get(hosts, i), r, z);
        pop(c);
    }
    pop(c);
    zone->nhosts = t->nhosts - zone->first_host;
    return rc;
}

static mrd_rc parse_region(ctx *c, json_t *o)
{
    mrd_topology *t = c->t;
    mrd_rc rc;
    int r = t->nregions;
    mrd_region *region = &t->regions[r];
    char q[TOPO_QUOTED];

    if ((rc = expect_item(c, o, region_keys,
                          "{ \"name\": ..., \"zones\": [ ... ] }")) != MRD_OK ||
        (rc = require(c, o, "name",
                      "every region needs a name, e.g. \"us-east\"")) !=
            MRD_OK ||
        (rc = get_name(c, o, "name", region->name, "region name")) != MRD_OK)
        return rc;
    for (int i = 0; i < r; i++) {
        if (strcmp(t->regions[i].name, region->name) == 0)
            return fail_at(c, pos_here(c, "name", JSONPOS_VALUE),
                           MRD_ERR_INVALID,
                           "region name %s is already used at line %d: region "
                           "names must be unique",
                           quote(region->name, q, sizeof(q)),
                           line_of_item(c, i, -1, -1, "name"));
    }
    if ((rc = require(c, o, "zones",
                      "a region needs at least one zone")) != MRD_OK ||
        (rc = nonempty_array(c, o, "zones",
                             "[ { \"name\": ..., \"hosts\": [ ... ] } ]",
                             "a region needs at least one zone, each with at "
                             "least one host")) != MRD_OK)
        return rc;

    region->first_zone = t->nzones;
    t->nregions++; /* now zones can find their region's first_zone */
    json_t *zones = json_object_get(o, "zones");
    push_key(c, "zones");
    for (size_t i = 0; rc == MRD_OK && i < json_array_size(zones); i++) {
        push_index(c, i);
        rc = parse_zone(c, json_array_get(zones, i), r);
        pop(c);
    }
    pop(c);
    region->nzones = t->nzones - region->first_zone;
    return rc;
}

/* Upper bounds for the arrays: every element of every zones/hosts array
 * that could be walked. */
static void precount(json_t *regions, size_t *nz, size_t *nh)
{
    *nz = *nh = 0;
    for (size_t i = 0; i < json_array_size(regions); i++) {
        json_t *zones = json_object_get(json_array_get(regions, i), "zones");
        for (size_t j = 0; j < json_array_size(zones); j++) {
            json_t *hosts = json_object_get(json_array_get(zones, j), "hosts");
            *nh += json_array_size(hosts);
            (*nz)++;
        }
    }
}

static mrd_rc parse_regions(ctx *c, json_t *root)
{
    mrd_topology *t = c->t;
    json_t *regions = json_object_get(root, "regions");
    mrd_rc rc = MRD_OK;
    if (!regions)
        return fail_at(c, pos_here(c, NULL, JSONPOS_VALUE), MRD_ERR_INVALID,
                       "missing key \"regions\" at the top level: list the "
                       "regions, each with its zones and hosts, e.g. "
                       "\"regions\": [ { \"name\": \"us-east\", \"zones\": "
                       "[ ... ] } ]");
    if ((rc = nonempty_array(c, root, "regions",
                             "[ { \"name\": ..., \"zones\": [ ... ] } ]",
                             "list at least one region")) != MRD_OK)
        return rc;

    size_t nr = json_array_size(regions), nz, nh;
    precount(regions, &nz, &nh);
    if (nr > INT_MAX || nz > INT_MAX || nh > INT_MAX)
        return fail_at(c, pos_here(c, "regions", JSONPOS_VALUE),
                       MRD_ERR_INVALID, "regions lists too many items");
    t->regions = calloc(nr, sizeof(t->regions[0]));
    t->zones = calloc(nz ? nz : 1, sizeof(t->zones[0]));
    t->hosts = calloc(nh ? nh : 1, sizeof(t->hosts[0]));
    if (!t->regions || !t->zones || !t->hosts)
        return mrd_error_set(c->err, MRD_ERR_NOMEM, "out of memory");
    c->zcap = (int)nz;
    c->hcap = (int)nh;

    push_key(c, "regions");
    for (size_t i = 0; rc == MRD_OK && i < nr; i++) {
        push_index(c, i);
        rc = parse_region(c, json_array_get(regions, i));
        pop(c);
    }
    pop(c);
    return rc;
}

/* ==== CHECKS ACROSS SECTIONS ============================================ */

static bool has(json_t *root, const char *section, const char *key)
{
    return json_object_get(json_object_get(root, section), key) != NULL;
}

/* Where to point for a problem with SECTION.KEY: the value if written,
 * else the section, else FALLBACK's key at the top level. */
static jsonpos pos_setting(const ctx *c, json_t *root, const char *section,
                           const char *key, const char *fallback)
{
    if (json_object_get(root, section))
        return pos_top(c, section, key, JSONPOS_VALUE);
    return pos_top(c, fallback, NULL, JSONPOS_KEY);
}

static mrd_rc check_leader_region(ctx *c, json_t *root)
{
    mrd_topology *t = c->t;
    char list[TOPO_LIST], q[TOPO_QUOTED];
    size_t used = 0;
    list[0] = '\0';
    for (int i = 0; i < t->nregions; i++)
        appendf(list, sizeof(list), &used, "%s%s", i ? ", " : "",
                t->regions[i].name);

    /* Only sentinel mode has one leader to place; cluster mode spreads its
     * masters, and a leader_region given there must still be a region. */
    if (t->mode != MRD_MODE_SENTINEL && !has(root, "store", "leader_region"))
        return MRD_OK;
    if (!json_object_get(root, "store"))
        return fail_at(c, pos_top(c, NULL, NULL, JSONPOS_VALUE),
                       MRD_ERR_INVALID,
                       "missing key \"store\" at the top level: it must at "
                       "least name the region that holds the leader, e.g. "
                       "\"store\": { \"leader_region\": \"%s\" }",
                       t->regions[0].name);
    if (!has(root, "store", "leader_region"))
        return fail_at(c, pos_top(c, "store", NULL, JSONPOS_KEY),
                       MRD_ERR_INVALID,
                       "missing key \"leader_region\" in store: name the "
                       "region that holds the leader, one of %s",
                       list);
    if (topology_find_region(t, t->settings.store.leader_region) < 0)
        return fail_at(c, pos_top(c, "store", "leader_region", JSONPOS_VALUE),
                       MRD_ERR_INVALID,
                       "store.leader_region %s is not a region of this "
                       "topology: use one of %s",
                       quote(t->settings.store.leader_region, q, sizeof(q)), list);
    return MRD_OK;
}

/* Ports A and B of a host must differ. */
static mrd_rc check_port_pair(ctx *c, json_t *root, const char *a, int pa,
                              const char *b, int pb)
{
    static const char *const why =
        "the store, sentinel and agent ports of a host must all differ";
    if (pa != pb)
        return MRD_OK;
    if (has(root, b, "port"))
        return fail_at(c, pos_top(c, b, "port", JSONPOS_VALUE),
                       MRD_ERR_INVALID,
                       "%s.port %d is the same as %s.port%s: %s",
                       b, pb, a, has(root, a, "port") ? "" : " (its default)",
                       why);
    return fail_at(c, pos_top(c, a, "port", JSONPOS_VALUE), MRD_ERR_INVALID,
                   "%s.port %d is the same as %s.port (its default): %s", a,
                   pa, b, why);
}

/* " that are not spares" when T has spares, else "": after a count of
 * hosts that leaves the spares out. */
static const char *not_spares(const mrd_topology *t)
{
    return topology_placeable_hosts(t) < t->nhosts ? " that are not spares" : "";
}

/* Spares hold nothing until a host is lost: at least one host must not be
 * one, and in sentinel mode the leader region needs such a host. */
static mrd_rc check_spares(ctx *c)
{
    mrd_topology *t = c->t;
    if (topology_placeable_hosts(t) == 0) {
        jsonpos_step s[TOPO_MAX_DEPTH];
        size_t n = item_steps(t, -1, -1, 0, "spare", s);
        return fail_at(c, locate_steps(c, s, n, JSONPOS_VALUE), MRD_ERR_INVALID,
                       "every host is a spare: spares hold nothing until a host "
                       "is lost, so remove \"spare\": true from the hosts that "
                       "should run the store");
    }
    int lr = topology_find_region(t, t->settings.store.leader_region);
    if (t->mode != MRD_MODE_SENTINEL || lr < 0)
        return MRD_OK;
    for (int h = 0; h < t->nhosts; h++)
        if (t->hosts[h].region == lr && !t->hosts[h].spare)
            return MRD_OK;
    char q[TOPO_QUOTED];
    return fail_at(c, pos_top(c, "store", "leader_region", JSONPOS_VALUE),
                   MRD_ERR_INVALID,
                   "store.leader_region %s has only spare hosts: the leader "
                   "needs a host there that is not a spare; add one or choose "
                   "another region",
                   quote(t->settings.store.leader_region, q, sizeof(q)));
}

/* consistency.KEY (VALUE) may be at most hosts - 1 (spares not counted):
 * one store node per host, so that many replicas exist at most. */
static mrd_rc check_replicas(ctx *c, json_t *root, const char *key, int value)
{
    mrd_topology *t = c->t;
    int hosts = topology_placeable_hosts(t), max = hosts - 1;
    if (value <= max)
        return MRD_OK;
    jsonpos p = pos_setting(c, root, "consistency", key, "regions");
    if (has(root, "consistency", key))
        return fail_at(c, p, MRD_ERR_INVALID,
                       "consistency.%s %d is more than the %d replica%s that "
                       "%d host%s%s can hold (one store node per host): use 0 "
                       "to %d or add hosts",
                       key, value, max, plural(max), hosts, plural(hosts),
                       not_spares(t), max);
    return fail_at(c, p, MRD_ERR_INVALID,
                   "consistency.%s is %d by default, but %d host%s%s can hold "
                   "only %d replica%s (one store node per host): set it to at "
                   "most %d or add hosts",
                   key, value, hosts, plural(hosts), not_spares(t), max,
                   plural(max), max);
}

static mrd_rc check_across(ctx *c, json_t *root)
{
    mrd_topology *t = c->t;
    mrd_rc rc;

    if ((rc = check_leader_region(c, root)) != MRD_OK ||
        (rc = check_spares(c)) != MRD_OK)
        return rc;

    if (t->settings.tls.renew_days >= t->settings.tls.cert_days)
        return fail_at(c, pos_top(c, "tls", has(root, "tls", "renew_days") ? "renew_days"
                                                                         : "cert_days",
                                  JSONPOS_VALUE),
                       MRD_ERR_INVALID,
                       "tls.renew_days %d is not less than tls.cert_days %d: every deploy "
                       "would renew every certificate; lower renew_days or raise cert_days",
                       t->settings.tls.renew_days, t->settings.tls.cert_days);
    /* the operator's certificates come as a pair: a CA and its hosts' */
    bool ca = t->settings.tls.ca_file[0], dir = t->settings.tls.cert_dir[0];
    if (ca != dir)
        return fail_at(c, pos_top(c, "tls", ca ? "ca_file" : "cert_dir", JSONPOS_KEY),
                       MRD_ERR_INVALID,
                       "tls.%s is set but tls.%s is not: an operator-supplied CA comes "
                       "with a cert_dir of HOST.crt and HOST.key files it signed; set both, "
                       "or neither for meridian's own CA",
                       ca ? "ca_file" : "cert_dir", ca ? "cert_dir" : "ca_file");
    /* backups need both the storage and the bucket in it */
    bool endpoint = t->settings.backup.endpoint[0], bucket = t->settings.backup.bucket[0];
    if (endpoint != bucket)
        return fail_at(c, pos_top(c, "backup", endpoint ? "endpoint" : "bucket", JSONPOS_KEY),
                       MRD_ERR_INVALID,
                       "backup.%s is set but backup.%s is not: backups go to a bucket of an "
                       "S3-compatible endpoint; set both, or neither for no backups",
                       endpoint ? "endpoint" : "bucket", endpoint ? "bucket" : "endpoint");

    int hosts = topology_placeable_hosts(t);
    if (t->settings.sentinel.count > hosts) {
        jsonpos p = pos_setting(c, root, "sentinel", "count", "regions");
        if (has(root, "sentinel", "count"))
            return fail_at(c, p, MRD_ERR_INVALID,
                           "sentinel.count %d cannot be placed on %d host%s%s "
                           "(one sentinel per host): lower it or add hosts",
                           t->settings.sentinel.count, hosts, plural(hosts),
                           not_spares(t));
        return fail_at(c, p, MRD_ERR_INVALID,
                       "sentinel.count is %d by default, which cannot be "
                       "placed on %d host%s%s (one sentinel per host): set "
                       "sentinel.count to at most %d or add hosts",
                       t->settings.sentinel.count, hosts, plural(hosts),
                       not_spares(t), hosts);
    }
    if (t->settings.sentinel.quorum > t->settings.sentinel.count)
        return fail_at(c, pos_top(c, "sentinel", "quorum", JSONPOS_VALUE),
                       MRD_ERR_INVALID,
                       "sentinel.quorum %d is larger than sentinel.count %d: "
                       "use 1 to %d, or 0 for a majority of the sentinels",
                       t->settings.sentinel.quorum, t->settings.sentinel.count,
                       t->settings.sentinel.count);

    if ((rc = check_port_pair(c, root, "store", t->settings.store.port, "sentinel",
                              t->settings.sentinel.port)) != MRD_OK ||
        (rc = check_port_pair(c, root, "store", t->settings.store.port, "agent",
                              t->settings.agent.port)) != MRD_OK ||
        (rc = check_port_pair(c, root, "sentinel", t->settings.sentinel.port, "agent",
                              t->settings.agent.port)) != MRD_OK)
        return rc;

    if ((rc = check_replicas(c, root, "min_replicas_to_write",
                             t->settings.consistency.min_replicas_to_write)) != MRD_OK ||
        (rc = check_replicas(c, root, "wait_replicas",
                             t->settings.consistency.wait_replicas)) != MRD_OK)
        return rc;

    if (t->mode == MRD_MODE_CLUSTER) {
        int shards = t->settings.cluster.shards, rps = t->settings.cluster.replicas_per_shard;
        if (shards < 3)
            return fail_at(c, pos_top(c, "cluster", "shards", JSONPOS_VALUE),
                           MRD_ERR_INVALID,
                           "cluster.shards must be at least 3 in cluster mode, "
                           "not %d: Redis Cluster needs 3 primaries",
                           shards);
        if ((long long)rps + 1 > hosts) {
            jsonpos p;
            if (has(root, "cluster", "replicas_per_shard"))
                p = pos_top(c, "cluster", "replicas_per_shard", JSONPOS_VALUE);
            else
                p = pos_setting(c, root, "cluster", NULL, "mode");
            return fail_at(c, p, MRD_ERR_INVALID,
                           "cluster mode keeps a shard's %lld copies (a master and %d "
                           "replica%s) on distinct hosts, but the topology has %d%s: "
                           "lower cluster.replicas_per_shard or add hosts",
                           (long long)rps + 1, rps, plural(rps), hosts, not_spares(t));
        }
    }
    return MRD_OK;
}

/* ==== ENTRY POINTS ====================================================== */

void topology_set_defaults(mrd_topology *t)
{
    t->mode = MRD_MODE_SENTINEL;
    t->survive = MRD_SURVIVE_REGION;
    t->transport.kind = MRD_TRANSPORT_LOCAL;
    snprintf(t->transport.user, sizeof(t->transport.user), "meridian");
    snprintf(t->transport.identity, sizeof(t->transport.identity),
             "~/.ssh/id_ed25519");
    snprintf(t->transport.known_hosts, sizeof(t->transport.known_hosts),
             "~/.ssh/known_hosts");
    t->transport.port = 22;
    mrd_settings_defaults(&t->settings);
}

/* A jansson syntax error, positioned at the start of the offending token
 * (jansson points at its last character) and explained where a common
 * mistake is recognisable. */
static mrd_rc syntax_error(ctx *c, const json_error_t *je)
{
    size_t end = je->position > 0 ? (size_t)je->position : 0;
    if (end > c->len)
        end = c->len;
    const unsigned char *s = (const unsigned char *)c->text;

    if (json_error_code(je) == json_error_premature_end_of_input) {
        /* point just past the last thing written */
        size_t e = c->len;
        while (e > 0 && (s[e - 1] == ' ' || s[e - 1] == '\t' ||
                         s[e - 1] == '\n' || s[e - 1] == '\r'))
            e--;
        jsonpos p = jsonpos_at_offset(c->text, c->len, e);
        if (e == 0)
            return fail_at(c, p, MRD_ERR_PARSE,
                           "the file is empty: a topology is a JSON object, "
                           "see regions/README.md");
        bool unclosed = strstr(je->text, "expected near end of file");
        return fail_at(c, p, MRD_ERR_PARSE, "invalid JSON: %s%s", je->text,
                       unclosed ? " (the file ends before every '{' and '[' "
                                  "is closed)"
                                : "");
    }

    size_t start = jsonpos_token_start(c->text, c->len, end);
    jsonpos p = jsonpos_at_offset(c->text, c->len, start);

    if (json_error_code(je) == json_error_duplicate_key) {
        /* the key as written, quotes included */
        char key[TOPO_QUOTED];
        size_t klen = end > start ? end - start : 0;
        bool comment = klen > 3 && s[start] == '"' && s[start + 1] == '/' &&
                       s[start + 2] == '/';
        if (klen > 64)
            snprintf(key, sizeof(key), "%.60s...\"", c->text + start);
        else
            snprintf(key, sizeof(key), "%.*s", (int)klen, c->text + start);
        return fail_at(c, p, MRD_ERR_PARSE,
                       "duplicate key %s: a key may appear only once in an "
                       "object%s",
                       key,
                       comment ? " (comment keys too: number them, e.g. "
                                 "\"// 2\")"
                               : "; remove one of them");
    }

    if (start < c->len && (s[start] == '}' || s[start] == ']')) {
        size_t b = start;
        while (b > 0 && (s[b - 1] == ' ' || s[b - 1] == '\t' ||
                         s[b - 1] == '\n' || s[b - 1] == '\r'))
            b--;
        if (b > 0 && s[b - 1] == ',')
            return fail_at(c, jsonpos_at_offset(c->text, c->len, b - 1),
                           MRD_ERR_PARSE,
                           "invalid JSON: trailing comma before '%c': JSON "
                           "allows no comma after the last %s; remove it",
                           s[start], s[start] == '}' ? "member" : "element");
    }
    if (start + 1 < c->len && s[start] == '/' &&
        (s[start + 1] == '/' || s[start + 1] == '*'))
        return fail_at(c, p, MRD_ERR_PARSE,
                       "invalid JSON: JSON has no comments; write a comment as "
                       "a key starting with \"//\", e.g. \"// why\": \"...\"");
    /* "'}' expected near '"regions"'": a value follows a value */
    if ((strncmp(je->text, "'}' expected near", 17) == 0 ||
         strncmp(je->text, "']' expected near", 17) == 0) &&
        start < c->len && s[start] && strchr("\"{[-0123456789tfn", s[start]))
        return fail_at(c, p, MRD_ERR_PARSE,
                       "invalid JSON: %s (is a comma missing before it?)",
                       je->text);
    return fail_at(c, p, MRD_ERR_PARSE, "invalid JSON: %s", je->text);
}

mrd_rc topology_parse(const char *text, size_t len, const char *path,
                      mrd_topology **out, mrd_error *err)
{
    mrd_rc rc;
    if (out)
        *out = NULL;
    if (!out || (!text && len))
        return mrd_error_set(err, MRD_ERR_USAGE,
                             "topology_parse: no text or no result pointer");
    mrd_error_clear(err);
    if (!text)
        text = "";

    ctx c = {0};
    c.text = text;
    c.len = len;
    c.file = path ? path : "";
    c.err = err;

    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return syntax_error(&c, &je);

    c.t = calloc(1, sizeof(*c.t));
    if (!c.t) {
        json_decref(root);
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    mrd_topology *t = c.t;
    snprintf(t->path, sizeof(t->path), "%s", c.file);
    topology_set_defaults(t);

    if (!json_is_object(root)) {
        char d[TOPO_QUOTED];
        rc = fail_at(&c, pos_here(&c, NULL, JSONPOS_VALUE), MRD_ERR_INVALID,
                     "the top level must be a JSON object ({ \"name\": ..., "
                     "\"regions\": [ ... ] }), not %s",
                     describe(root, d, sizeof(d)));
        goto done;
    }
    if ((rc = check_keys(&c, root, top_keys)) != MRD_OK)
        goto done;

    if (!json_object_get(root, "name")) {
        rc = fail_at(&c, pos_here(&c, NULL, JSONPOS_VALUE), MRD_ERR_INVALID,
                     "missing key \"name\" at the top level: every topology "
                     "needs a name (it is also the Sentinel master name), "
                     "e.g. \"name\": \"demo\"");
        goto done;
    }
    int mode = (int)t->mode, survive = (int)t->survive;
    if ((rc = get_name(&c, root, "name", t->name, "topology name")) != MRD_OK ||
        (rc = get_enum(&c, root, "mode", mode_names, &mode)) != MRD_OK ||
        (rc = get_enum(&c, root, "survive", survive_names, &survive)) != MRD_OK)
        goto done;
    t->mode = (mrd_mode)mode;
    t->survive = (mrd_survive)survive;

    if ((rc = parse_transport(&c, root)) != MRD_OK ||
        (rc = parse_settings(&c, root, "store",
                             "{ \"leader_region\": ..., \"port\": ..., ... }")) != MRD_OK ||
        (rc = parse_settings(&c, root, "sentinel",
                             "{ \"count\": ..., \"port\": ..., ... }")) != MRD_OK ||
        (rc = parse_settings(&c, root, "consistency",
                             "{ \"min_replicas_to_write\": ..., ... }")) != MRD_OK ||
        (rc = parse_settings(&c, root, "agent",
                             "{ \"port\": ..., \"interval_ms\": ... }")) != MRD_OK ||
        (rc = parse_notify(&c, root)) != MRD_OK ||
        (rc = parse_settings(&c, root, "cluster",
                             "{ \"shards\": ..., \"replicas_per_shard\": ... }")) != MRD_OK ||
        (rc = parse_settings(&c, root, "tls", "{ \"enabled\": true, ... }")) != MRD_OK ||
        (rc = parse_settings(&c, root, "backup",
                             "{ \"endpoint\": ..., \"bucket\": ..., ... }")) != MRD_OK ||
        (rc = parse_regions(&c, root)) != MRD_OK ||
        (rc = check_across(&c, root)) != MRD_OK)
        goto done;

done:
    json_decref(root);
    if (rc != MRD_OK) {
        topology_free(&c.t);
        return rc;
    }
    *out = c.t;
    return MRD_OK;
}

mrd_rc topology_load(const char *path, mrd_topology **out, mrd_error *err)
{
    if (out)
        *out = NULL;
    if (!path || !path[0])
        return mrd_error_set(err, MRD_ERR_USAGE, "no topology file given");

    FILE *f = fopen(path, "rb");
    if (!f)
        return mrd_error_at(err, MRD_ERR_IO, path, 0, 0,
                            "cannot open the topology file: %s",
                            strerror(errno));
    /* Less than TOPO_MAX_FILE bytes: a file of that size is refused. */
    mrd_buf buf;
    mrd_buf_init(&buf, (size_t)TOPO_MAX_FILE - 1);
    mrd_rc rc = mrd_buf_add_file(&buf, f);
    if (rc == MRD_ERR_INVALID)
        rc = mrd_error_at(err, MRD_ERR_IO, path, 0, 0,
                          "the topology file is larger than %ld MiB: "
                          "is this the right file?",
                          TOPO_MAX_FILE / (1024 * 1024));
    else if (rc == MRD_ERR_IO)
        rc = mrd_error_at(err, MRD_ERR_IO, path, 0, 0,
                          "cannot read the topology file: %s", strerror(errno));
    else if (rc == MRD_ERR_NOMEM)
        rc = mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    fclose(f);
    if (rc == MRD_OK)
        rc = topology_parse(mrd_buf_str(&buf), mrd_buf_len(&buf), path, out, err);
    mrd_buf_free(&buf);
    return rc;
}

void topology_free(mrd_topology **t)
{
    if (!t || !*t)
        return;
    mrd_topology *p = *t;
    for (int i = 0; i < p->nwebhooks; i++)
        free(p->webhooks[i]);
    free(p->webhooks);
    free(p->regions);
    free(p->zones);
    free(p->hosts);
    free(p);
    *t = NULL;
}

int topology_find_region(const mrd_topology *t, const char *name)
{
    if (!t || !name)
        return -1;
    for (int i = 0; i < t->nregions; i++)
        if (strcmp(t->regions[i].name, name) == 0)
            return i;
    return -1;
}

int topology_placeable_hosts(const mrd_topology *t)
{
    int n = 0;
    for (int i = 0; t && i < t->nhosts; i++)
        n += !t->hosts[i].spare;
    return n;
}

int topology_find_host(const mrd_topology *t, const char *name)
{
    if (!t || !name)
        return -1;
    for (int i = 0; i < t->nhosts; i++)
        if (strcmp(t->hosts[i].name, name) == 0)
            return i;
    return -1;
}

long long topology_parse_size(const char *s)
{
    return mrd_parse_size(s);
}

const char *topology_survive_name(mrd_survive s)
{
    switch (s) {
    case MRD_SURVIVE_NONE:
        return "none";
    case MRD_SURVIVE_ZONE:
        return "zone";
    case MRD_SURVIVE_REGION:
        return "region";
    }
    return "unknown";
}
