#include "jsonpos.h"

#include <stdbool.h>
#include <string.h>

/* The scanner's cursor.  Every read checks i < len. */
typedef struct scan {
    const unsigned char *s;
    size_t len;
    size_t i;
} scan;

#define JSONPOS_MAX_STEPS 64 /* for jsonpos_locate_path() */
#define JSONPOS_MAX_KEY 256  /* longest key jsonpos_locate_path() accepts */

static bool is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_structural(unsigned char c)
{
    return c == '{' || c == '}' || c == '[' || c == ']' || c == ',' ||
           c == ':';
}

static void skip_ws(scan *sc)
{
    while (sc->i < sc->len && is_ws(sc->s[sc->i]))
        sc->i++;
}

static bool at(const scan *sc, unsigned char c)
{
    return sc->i < sc->len && sc->s[sc->i] == c;
}

/* At an opening quote: move past the closing quote.  -1 if unterminated
 * (the cursor is then at LEN). */
static int skip_string(scan *sc)
{
    sc->i++; /* opening quote */
    while (sc->i < sc->len) {
        unsigned char c = sc->s[sc->i++];
        if (c == '"')
            return 0;
        if (c == '\\' && sc->i < sc->len)
            sc->i++;
    }
    return -1;
}

/* Move past one value of any kind.  Iterative, so deeply nested input
 * cannot exhaust the stack. */
static int skip_value(scan *sc)
{
    if (sc->i >= sc->len)
        return -1;
    unsigned char c = sc->s[sc->i];
    if (c == '"')
        return skip_string(sc);
    if (c == '{' || c == '[') {
        size_t depth = 0;
        while (sc->i < sc->len) {
            c = sc->s[sc->i];
            if (c == '"') {
                if (skip_string(sc) < 0)
                    return -1;
                continue;
            }
            sc->i++;
            if (c == '{' || c == '[') {
                depth++;
            } else if (c == '}' || c == ']') {
                if (--depth == 0)
                    return 0;
            }
        }
        return -1;
    }
    /* number or literal: runs to the next separator */
    size_t start = sc->i;
    while (sc->i < sc->len && !is_ws(sc->s[sc->i]) &&
           !is_structural(sc->s[sc->i]) && sc->s[sc->i] != '"')
        sc->i++;
    return sc->i > start ? 0 : -1;
}

static int hex4(const unsigned char *p, size_t avail, unsigned *out)
{
    if (avail < 4)
        return -1;
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        unsigned char c = p[k];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return -1;
        v = v * 16 + d;
    }
    *out = v;
    return 0;
}

static size_t utf8_encode(unsigned cp, unsigned char out[4])
{
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | (cp >> 6));
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | (cp >> 12));
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | (cp >> 18));
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Does the string token s[start..end) (quotes included) decode to KEY?
 * Decodes escapes one character at a time; allocates nothing. */
static bool key_equals(const unsigned char *s, size_t start, size_t end,
                       const char *key)
{
    const unsigned char *k = (const unsigned char *)key;
    size_t ki = 0;
    if (end - start < 2)
        return false;
    size_t i = start + 1;
    size_t stop = end - 1; /* the closing quote */
    while (i < stop) {
        unsigned char buf[4];
        size_t n;
        if (s[i] != '\\') {
            buf[0] = s[i++];
            n = 1;
        } else {
            if (i + 1 >= stop)
                return false;
            unsigned char e = s[i + 1];
            i += 2;
            n = 1;
            switch (e) {
            case '"': buf[0] = '"'; break;
            case '\\': buf[0] = '\\'; break;
            case '/': buf[0] = '/'; break;
            case 'b': buf[0] = '\b'; break;
            case 'f': buf[0] = '\f'; break;
            case 'n': buf[0] = '\n'; break;
            case 'r': buf[0] = '\r'; break;
            case 't': buf[0] = '\t'; break;
            case 'u': {
                unsigned cp;
                if (hex4(s + i, stop - i, &cp) < 0)
                    return false;
                i += 4;
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    unsigned lo;
                    if (i + 6 > stop || s[i] != '\\' || s[i + 1] != 'u' ||
                        hex4(s + i + 2, stop - i - 2, &lo) < 0 ||
                        lo < 0xDC00 || lo > 0xDFFF)
                        return false;
                    i += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                n = utf8_encode(cp, buf);
                break;
            }
            default:
                return false;
            }
        }
        for (size_t j = 0; j < n; j++) {
            if (k[ki] == '\0' || k[ki] != buf[j])
                return false;
            ki++;
        }
    }
    return k[ki] == '\0';
}

jsonpos jsonpos_at_offset(const char *text, size_t len, size_t offset)
{
    jsonpos p = {0, 1, 1};
    const unsigned char *s = (const unsigned char *)text;
    if (offset > len)
        offset = len;
    for (size_t i = 0; i < offset; i++) {
        if (s[i] == '\n') {
            p.line++;
            p.column = 1;
        } else if ((s[i] & 0xC0) != 0x80) {
            /* a UTF-8 continuation byte does not start a column */
            p.column++;
        }
    }
    p.offset = offset;
    return p;
}

int jsonpos_locate(const char *text, size_t len, const jsonpos_step *path,
                   size_t nsteps, jsonpos_what what, jsonpos *out)
{
    if (!text || !out || (nsteps && !path))
        return -1;
    scan sc = {(const unsigned char *)text, len, 0};
    skip_ws(&sc);
    for (size_t d = 0; d < nsteps; d++) {
        const jsonpos_step *st = &path[d];
        bool last = d + 1 == nsteps;
        if (st->key) {
            if (!at(&sc, '{'))
                return -1;
            sc.i++;
            for (;;) {
                skip_ws(&sc);
                if (!at(&sc, '"'))
                    return -1; /* '}' (not found) or garbage */
                size_t kstart = sc.i;
                if (skip_string(&sc) < 0)
                    return -1;
                size_t kend = sc.i;
                skip_ws(&sc);
                if (!at(&sc, ':'))
                    return -1;
                sc.i++;
                skip_ws(&sc);
                if (key_equals(sc.s, kstart, kend, st->key)) {
                    if (last && what == JSONPOS_KEY) {
                        *out = jsonpos_at_offset(text, len, kstart);
                        return 0;
                    }
                    break; /* the cursor is at the member's value */
                }
                if (skip_value(&sc) < 0)
                    return -1;
                skip_ws(&sc);
                if (!at(&sc, ','))
                    return -1;
                sc.i++;
            }
        } else {
            if (!at(&sc, '['))
                return -1;
            sc.i++;
            for (size_t n = 0;; n++) {
                skip_ws(&sc);
                if (sc.i >= sc.len || at(&sc, ']'))
                    return -1;
                if (n == st->index)
                    break;
                if (skip_value(&sc) < 0)
                    return -1;
                skip_ws(&sc);
                if (!at(&sc, ','))
                    return -1;
                sc.i++;
            }
        }
    }
    if (sc.i >= sc.len)
        return -1;
    *out = jsonpos_at_offset(text, len, sc.i);
    return 0;
}

int jsonpos_locate_path(const char *text, size_t len, const char *path,
                        jsonpos_what what, jsonpos *out)
{
    jsonpos_step steps[JSONPOS_MAX_STEPS];
    char keys[JSONPOS_MAX_STEPS][JSONPOS_MAX_KEY];
    size_t n = 0;
    const char *p = path;
    if (!path)
        return -1;
    while (*p) {
        if (n == JSONPOS_MAX_STEPS)
            return -1;
        if (*p == '[') {
            p++;
            if (*p < '0' || *p > '9')
                return -1;
            size_t v = 0;
            while (*p >= '0' && *p <= '9') {
                size_t digit = (size_t)(*p - '0');
                if (v > ((size_t)-1 - digit) / 10)
                    return -1;
                v = v * 10 + digit;
                p++;
            }
            if (*p != ']')
                return -1;
            p++;
            steps[n].key = NULL;
            steps[n].index = v;
            n++;
        } else {
            if (*p == '.') {
                if (n == 0)
                    return -1;
                p++;
            }
            size_t k = strcspn(p, ".[]");
            if (k == 0 || k >= JSONPOS_MAX_KEY)
                return -1;
            memcpy(keys[n], p, k);
            keys[n][k] = '\0';
            steps[n].key = keys[n];
            steps[n].index = 0;
            n++;
            p += k;
            if (*p == ']')
                return -1;
        }
    }
    return jsonpos_locate(text, len, steps, n, what, out);
}

size_t jsonpos_token_start(const char *text, size_t len, size_t end)
{
    scan sc = {(const unsigned char *)text, len, 0};
    if (!text)
        return 0;
    if (end > len)
        end = len;
    for (;;) {
        skip_ws(&sc);
        if (sc.i >= sc.len || sc.i >= end)
            return end;
        size_t start = sc.i;
        unsigned char c = sc.s[sc.i];
        if (c == '"') {
            if (skip_string(&sc) < 0)
                return start;
        } else if (is_structural(c)) {
            sc.i++;
        } else {
            while (sc.i < sc.len && !is_ws(sc.s[sc.i]) &&
                   !is_structural(sc.s[sc.i]) && sc.s[sc.i] != '"')
                sc.i++;
        }
        if (sc.i >= end)
            return start;
    }
}
