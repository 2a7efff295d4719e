/* fuzz_jsonpos.c - regions/jsonpos.c against jansson on any bytes.
 *
 * jsonpos.h promises two things, and both are checked:
 *   - on any text it never reads past LEN and answers -1 rather than
 *     crash (every entry point is called on every input);
 *   - on text jansson accepts, its answers are exact: for up to
 *     MAX_NODES values of the document (depth first; each check is a pass
 *     over the text, so a handful per input keeps the harness fast), the path to the
 *     value is found, the text at the reported offset parses (with jansson)
 *     to an equal value, a member's key position is its opening quote,
 *     line and column agree with jsonpos_at_offset(), the textual path
 *     form finds the same place, and paths that do not exist are not
 *     found. */
#include "fuzz.h"

#include <jansson.h>
#include <stdbool.h>

#include "jsonpos.h"

#define MAX_NODES 12
#define MAX_DEPTH 16

typedef struct walk {
    const char *text;
    size_t len;
    jsonpos_step steps[MAX_DEPTH];
    int budget;
} walk;

static void check_pos(const walk *w, const jsonpos *p)
{
    FUZZ_CHECK(p->offset < w->len);
    jsonpos q = jsonpos_at_offset(w->text, w->len, p->offset);
    FUZZ_CHECK(q.offset == p->offset && q.line == p->line && q.column == p->column);
}

/* The path as text ("a.b[2].c"), when every key can be written in it
 * (non-empty, shorter than 256, no '.', '[' or ']'). */
static bool path_text(const jsonpos_step *steps, size_t n, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int w;
        if (steps[i].key) {
            size_t k = strlen(steps[i].key);
            if (k == 0 || k >= 256 || strcspn(steps[i].key, ".[]") != k)
                return false;
            w = snprintf(buf + used, cap - used, "%s%s", i ? "." : "", steps[i].key);
        } else {
            w = snprintf(buf + used, cap - used, "[%zu]", steps[i].index);
        }
        if (w < 0 || (size_t)w >= cap - used)
            return false;
        used += (size_t)w;
    }
    return true;
}

static void visit(walk *w, json_t *v, size_t depth)
{
    if (w->budget-- <= 0)
        return;
    jsonpos p, k;
    FUZZ_CHECK(jsonpos_locate(w->text, w->len, w->steps, depth, JSONPOS_VALUE, &p) == 0);
    check_pos(w, &p);

    /* the value starts at P: jansson reads an equal value from there */
    json_error_t je;
    json_t *again = json_loadb(w->text + p.offset, w->len - p.offset,
                               JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK |
                                   JSON_REJECT_DUPLICATES,
                               &je);
    FUZZ_CHECK(again != NULL);
    FUZZ_CHECK(json_equal(again, v));
    json_decref(again);

    if (depth > 0 && w->steps[depth - 1].key) {
        FUZZ_CHECK(jsonpos_locate(w->text, w->len, w->steps, depth, JSONPOS_KEY, &k) == 0);
        check_pos(w, &k);
        FUZZ_CHECK(w->text[k.offset] == '"' && k.offset < p.offset);
    }

    char path[4096];
    if (path_text(w->steps, depth, path, sizeof(path))) {
        jsonpos t;
        FUZZ_CHECK(jsonpos_locate_path(w->text, w->len, path, JSONPOS_VALUE, &t) == 0);
        FUZZ_CHECK(t.offset == p.offset);
    }

    if (depth + 1 >= MAX_DEPTH)
        return;
    if (json_is_object(v)) {
        /* a member that is not there is not found */
        static const char *const absent[] = {"", "a", "name", "\x7f"};
        for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++) {
            if (json_object_get(v, absent[i]))
                continue;
            w->steps[depth] = (jsonpos_step){.key = absent[i]};
            FUZZ_CHECK(jsonpos_locate(w->text, w->len, w->steps, depth + 1, JSONPOS_VALUE,
                                      &k) == -1);
        }
        const char *key;
        json_t *member;
        json_object_foreach(v, key, member) {
            w->steps[depth] = (jsonpos_step){.key = key};
            visit(w, member, depth + 1);
        }
    } else if (json_is_array(v)) {
        w->steps[depth] = (jsonpos_step){.key = NULL, .index = json_array_size(v)};
        FUZZ_CHECK(jsonpos_locate(w->text, w->len, w->steps, depth + 1, JSONPOS_VALUE, &k) ==
                   -1);
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item) {
            w->steps[depth] = (jsonpos_step){.key = NULL, .index = i};
            visit(w, item, depth + 1);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    jsonpos p;

    /* Any text: answers stay inside it (a few paths and ends per input:
     * each call is a pass over the text). */
    static const char *const paths[] = {"regions[0].zones[0].hosts[1].address",
                                        "store.port", "[1]", "a.b[0][2]"};
    jsonpos_what what = size && (data[0] & 1) ? JSONPOS_KEY : JSONPOS_VALUE;
    const char *path = paths[size % (sizeof(paths) / sizeof(paths[0]))];
    if (jsonpos_locate_path(text, size, path, what, &p) == 0)
        FUZZ_CHECK(p.offset < size);
    size_t end = size ? data[size - 1] * size / 255 + (data[size - 1] == 255) : 1;
    FUZZ_CHECK(jsonpos_token_start(text, size, end) <= (end > size ? size : end));
    p = jsonpos_at_offset(text, size, size + 1);
    FUZZ_CHECK(p.offset == size && p.line >= 1 && p.column >= 1);

    /* Text jansson accepts: exact answers. */
    json_error_t je;
    json_t *root = json_loadb(text, size, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    if (root) {
        walk w = {.text = text, .len = size, .budget = MAX_NODES};
        visit(&w, root, 0);
        json_decref(root);
    }
    return 0;
}
