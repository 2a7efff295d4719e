/* s3_parse.c - the pure half of the S3 client: URI encoding, the sorted
 * query string, S3's XML bodies, the credentials file's text and bucket
 * names.  No I/O (see s3_parse.h). */
#define _GNU_SOURCE /* memmem */
#include "s3_parse.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ==== URI ENCODING AND THE QUERY STRING ================================ */

static bool unreserved(unsigned char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

mrd_rc s3_uri_encode(mrd_buf *out, const char *in, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        if (unreserved(*p) || (keep_slash && *p == '/')) {
            MRD_TRY(mrd_buf_add(out, p, 1));
        } else {
            char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            MRD_TRY(mrd_buf_add(out, esc, 3));
        }
    }
    return MRD_OK;
}

#define S3_MAX_PARAMS 16

typedef struct enc_param {
    mrd_buf name;
    mrd_buf value;
} enc_param;

static int enc_param_cmp(const void *a, const void *b)
{
    const enc_param *x = a, *y = b;
    int c = strcmp(mrd_buf_str(&x->name), mrd_buf_str(&y->name));
    return c ? c : strcmp(mrd_buf_str(&x->value), mrd_buf_str(&y->value));
}

mrd_rc s3_query_build(mrd_buf *out, const s3_param *params, size_t n)
{
    if (n > S3_MAX_PARAMS)
        return MRD_ERR_INVALID;
    enc_param enc[S3_MAX_PARAMS];
    mrd_rc rc = MRD_OK;
    for (size_t i = 0; i < n; i++) {
        mrd_buf_init(&enc[i].name, 4096);
        mrd_buf_init(&enc[i].value, 16384);
    }
    for (size_t i = 0; i < n && rc == MRD_OK; i++) {
        rc = s3_uri_encode(&enc[i].name, params[i].name, false);
        if (rc == MRD_OK)
            rc = s3_uri_encode(&enc[i].value, params[i].value ? params[i].value : "", false);
    }
    if (rc == MRD_OK) {
        qsort(enc, n, sizeof(enc[0]), enc_param_cmp);
        for (size_t i = 0; i < n && rc == MRD_OK; i++)
            rc = mrd_buf_addf(out, "%s%s=%s", i ? "&" : "", mrd_buf_str(&enc[i].name),
                              mrd_buf_str(&enc[i].value));
    }
    for (size_t i = 0; i < n; i++) {
        mrd_buf_free(&enc[i].name);
        mrd_buf_free(&enc[i].value);
    }
    return rc;
}

/* ==== XML ============================================================== */

/* S3's answers are flat, well-known documents: finding <Tag>...</Tag> in
 * a byte range is all the XML this client needs.  A range is [p, end). */
typedef struct xrange {
    const char *p;
    const char *end;
} xrange;

/* The first element TAG in R: its content in *IN, and R advanced past its
 * end tag.  The start tag may carry attributes (<ListBucketResult
 * xmlns="...">); "<Tag/>" is an empty element.  False when there is none,
 * or it has no end tag inside R. */
static bool xml_next(xrange *r, const char *tag, xrange *in)
{
    char open[64], close[64];
    int ol = snprintf(open, sizeof(open), "<%s", tag);
    int cl = snprintf(close, sizeof(close), "</%s>", tag);
    for (const char *at = r->p; at < r->end;) {
        const char *o = memmem(at, (size_t)(r->end - at), open, (size_t)ol);
        if (!o)
            return false;
        const char *after = o + ol;
        at = after;
        if (after >= r->end)
            return false;
        char next = *after;
        if (next != '>' && next != '/' && next != ' ' && next != '\t' && next != '\r' &&
            next != '\n')
            continue; /* <TagLonger> */
        const char *gt = memchr(after, '>', (size_t)(r->end - after));
        if (!gt)
            return false;
        if (gt[-1] == '/') { /* <Tag/> or <Tag a="b"/> */
            in->p = in->end = gt + 1;
            r->p = gt + 1;
            return true;
        }
        const char *start = gt + 1;
        const char *c = memmem(start, (size_t)(r->end - start), close, (size_t)cl);
        if (!c)
            return false;
        in->p = start;
        in->end = c;
        r->p = c + cl;
        return true;
    }
    return false;
}

/* The first TAG in R (R is not advanced). */
static bool xml_find(xrange r, const char *tag, xrange *in)
{
    return xml_next(&r, tag, in);
}

/* Decode the text of IN (entities &amp; &lt; &gt; &quot; &apos; &#N;
 * &#xN; for N < 128) into OUT (N bytes).  CTRL_TO_SPACE: control bytes
 * become spaces (text for a message).  False when it does not fit, or an
 * entity is unknown or decodes to NUL. */
static bool xml_text(xrange in, char *out, size_t n, bool ctrl_to_space)
{
    size_t o = 0;
    if (n == 0)
        return false;
    for (const char *p = in.p; p < in.end;) {
        char ch = *p;
        if (ch == '&') {
            const char *semi = memchr(p, ';', (size_t)(in.end - p));
            if (!semi || semi - p > 10)
                return false;
            size_t elen = (size_t)(semi - p) + 1;
            if (elen == 5 && memcmp(p, "&amp;", 5) == 0)
                ch = '&';
            else if (elen == 4 && memcmp(p, "&lt;", 4) == 0)
                ch = '<';
            else if (elen == 4 && memcmp(p, "&gt;", 4) == 0)
                ch = '>';
            else if (elen == 6 && memcmp(p, "&quot;", 6) == 0)
                ch = '"';
            else if (elen == 6 && memcmp(p, "&apos;", 6) == 0)
                ch = '\'';
            else if (elen > 3 && p[1] == '#') {
                char num[12];
                memcpy(num, p + 2, elen - 3);
                num[elen - 3] = '\0';
                char *endp;
                bool hexa = num[0] == 'x' || num[0] == 'X';
                long v = strtol(num + (hexa ? 1 : 0), &endp, hexa ? 16 : 10);
                if (*endp || endp == num + (hexa ? 1 : 0) || v <= 0 || v >= 128)
                    return false;
                ch = (char)v;
            } else
                return false;
            p += elen;
        } else {
            if (ch == '\0')
                return false;
            p++;
        }
        if (ctrl_to_space && ((unsigned char)ch < 0x20 || ch == 0x7f))
            ch = ' ';
        if (o + 1 >= n)
            return false;
        out[o++] = ch;
    }
    out[o] = '\0';
    return true;
}

/* The text of the first TAG in R into OUT; false when absent or unfit. */
static bool xml_get(xrange r, const char *tag, char *out, size_t n)
{
    xrange in;
    return xml_find(r, tag, &in) && xml_text(in, out, n, false);
}

/* A non-negative decimal number; false otherwise. */
static bool xml_ll(xrange r, const char *tag, long long *v)
{
    char num[24], *endp;
    if (!xml_get(r, tag, num, sizeof(num)) || !isdigit((unsigned char)num[0]))
        return false;
    *v = strtoll(num, &endp, 10);
    return *endp == '\0' && *v >= 0;
}

static bool xml_true(xrange r, const char *tag)
{
    char v[8];
    return xml_get(r, tag, v, sizeof(v)) && strcmp(v, "true") == 0;
}

bool s3_xml_error(const char *body, size_t len, char *code, size_t cn, char *msg, size_t mn)
{
    xrange all = {body, body + len}, e, in;
    if (cn)
        code[0] = '\0';
    if (mn)
        msg[0] = '\0';
    if (!body || !xml_find(all, "Error", &e) || !xml_find(e, "Code", &in) ||
        !xml_text(in, code, cn, true) || !code[0]) {
        if (cn)
            code[0] = '\0';
        return false;
    }
    if (mn && xml_find(e, "Message", &in) && !xml_text(in, msg, mn, true)) {
        /* too long: keep what fits, marked as cut */
        size_t keep = (size_t)(in.end - in.p) < mn ? (size_t)(in.end - in.p) : mn - 1;
        for (size_t i = 0; i < keep; i++) {
            unsigned char ch = (unsigned char)in.p[i];
            msg[i] = ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
        }
        msg[keep] = '\0';
        if (keep >= 3 && keep == mn - 1)
            memcpy(msg + keep - 3, "...", 3);
    }
    return true;
}

long long s3_iso8601(const char *s, size_t len)
{
    char t[40];
    if (len < 19 || len >= sizeof(t))
        return -1;
    memcpy(t, s, len);
    t[len] = '\0';
    struct tm tm = {0};
    char *rest = strptime(t, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest)
        return -1;
    if (*rest == '.') {
        rest++;
        while (isdigit((unsigned char)*rest))
            rest++;
    }
    if (*rest == 'Z')
        rest++;
    if (*rest)
        return -1;
    time_t v = timegm(&tm);
    return v == (time_t)-1 ? -1 : (long long)v;
}

static long long xml_time(xrange r, const char *tag)
{
    xrange in;
    if (!xml_find(r, tag, &in))
        return 0;
    long long v = s3_iso8601(in.p, (size_t)(in.end - in.p));
    return v < 0 ? 0 : v;
}

/* Grow *ITEMS (of *N, each SIZE bytes) by one zeroed item. */
static void *push(void **items, size_t *n, size_t size)
{
    if (*n >= S3_PAGE_MAX)
        return NULL;
    void *p = realloc(*items, (*n + 1) * size);
    if (!p)
        return NULL;
    *items = p;
    void *item = (char *)p + *n * size;
    memset(item, 0, size);
    (*n)++;
    return item;
}

mrd_rc s3_xml_list_objects(const char *body, size_t len, s3_list_page *page, mrd_error *err)
{
    memset(page, 0, sizeof(*page));
    xrange all = {body, body + len}, root, c;
    if (!body || !xml_find(all, "ListBucketResult", &root))
        return mrd_error_set(err, MRD_ERR_PROTOCOL,
                             "the answer is not a ListObjectsV2 result (no <ListBucketResult>)");
    page->truncated = xml_true(root, "IsTruncated");
    xrange scan = root;
    void *items = NULL;
    while (xml_next(&scan, "Contents", &c)) {
        s3_object *o = push(&items, &page->n, sizeof(s3_object));
        if (!o) {
            bool full = page->n >= S3_PAGE_MAX;
            free(items);
            page->n = 0;
            return full ? mrd_error_set(err, MRD_ERR_PROTOCOL,
                                        "the listing has more than %d entries in one page",
                                        S3_PAGE_MAX)
                        : mrd_error_set(err, MRD_ERR_NOMEM, "out of memory listing objects");
        }
        if (!xml_get(c, "Key", o->key, sizeof(o->key)) || !o->key[0] ||
            !xml_ll(c, "Size", &o->size)) {
            size_t at = page->n;
            free(items);
            page->n = 0;
            return mrd_error_set(err, MRD_ERR_PROTOCOL,
                                 "entry %zu of the listing has no readable <Key> (at most %zu "
                                 "bytes) or <Size>",
                                 at, sizeof(o->key) - 1);
        }
        o->mtime = xml_time(c, "LastModified");
    }
    page->items = items;
    if (page->truncated &&
        (!xml_get(root, "NextContinuationToken", page->next_token, sizeof(page->next_token)) ||
         !page->next_token[0])) {
        free(page->items);
        memset(page, 0, sizeof(*page));
        return mrd_error_set(err, MRD_ERR_PROTOCOL,
                             "the listing is truncated but has no usable <NextContinuationToken>");
    }
    return MRD_OK;
}

mrd_rc s3_xml_list_uploads(const char *body, size_t len, s3_uploads_page *page,
                           mrd_error *err)
{
    memset(page, 0, sizeof(*page));
    xrange all = {body, body + len}, root, u;
    if (!body || !xml_find(all, "ListMultipartUploadsResult", &root))
        return mrd_error_set(err, MRD_ERR_PROTOCOL,
                             "the answer is not a ListMultipartUploads result (no "
                             "<ListMultipartUploadsResult>)");
    page->truncated = xml_true(root, "IsTruncated");
    xrange scan = root;
    void *items = NULL;
    while (xml_next(&scan, "Upload", &u)) {
        s3_upload *o = push(&items, &page->n, sizeof(s3_upload));
        if (!o) {
            bool full = page->n >= S3_PAGE_MAX;
            free(items);
            page->n = 0;
            return full ? mrd_error_set(err, MRD_ERR_PROTOCOL,
                                        "the listing has more than %d uploads in one page",
                                        S3_PAGE_MAX)
                        : mrd_error_set(err, MRD_ERR_NOMEM, "out of memory listing uploads");
        }
        if (!xml_get(u, "Key", o->key, sizeof(o->key)) || !o->key[0] ||
            !xml_get(u, "UploadId", o->upload_id, sizeof(o->upload_id)) || !o->upload_id[0]) {
            size_t at = page->n;
            free(items);
            page->n = 0;
            return mrd_error_set(err, MRD_ERR_PROTOCOL,
                                 "upload %zu of the listing has no readable <Key> or <UploadId>",
                                 at);
        }
        o->initiated = xml_time(u, "Initiated");
    }
    page->items = items;
    if (page->truncated) {
        bool ok = xml_get(root, "NextKeyMarker", page->next_key_marker,
                          sizeof(page->next_key_marker)) &&
                  page->next_key_marker[0];
        if (ok && !xml_get(root, "NextUploadIdMarker", page->next_upload_id_marker,
                           sizeof(page->next_upload_id_marker)))
            page->next_upload_id_marker[0] = '\0';
        if (!ok) {
            free(page->items);
            memset(page, 0, sizeof(*page));
            return mrd_error_set(err, MRD_ERR_PROTOCOL,
                                 "the upload listing is truncated but has no <NextKeyMarker>");
        }
    }
    return MRD_OK;
}

mrd_rc s3_xml_upload_id(const char *body, size_t len, char *id, size_t n, mrd_error *err)
{
    xrange all = {body, body + len}, root;
    if (n)
        id[0] = '\0';
    if (!body || !xml_find(all, "InitiateMultipartUploadResult", &root) ||
        !xml_get(root, "UploadId", id, n) || !id[0]) {
        if (n)
            id[0] = '\0';
        return mrd_error_set(err, MRD_ERR_PROTOCOL,
                             "the answer to CreateMultipartUpload has no usable <UploadId>");
    }
    return MRD_OK;
}

/* ==== CREDENTIALS ====================================================== */

static void clear_credentials(s3_config *cfg)
{
    memset(cfg->access_key, 0, sizeof(cfg->access_key));
    memset(cfg->secret_key, 0, sizeof(cfg->secret_key));
    memset(cfg->session_token, 0, sizeof(cfg->session_token));
}

/* Trim [*p, *e) of blanks at both ends. */
static void trim(const char **p, const char **e)
{
    while (*p < *e && (**p == ' ' || **p == '\t' || **p == '\r'))
        (*p)++;
    while (*e > *p && ((*e)[-1] == ' ' || (*e)[-1] == '\t' || (*e)[-1] == '\r'))
        (*e)--;
}

static bool key_is(const char *k, size_t kl, const char *want)
{
    return kl == strlen(want) && memcmp(k, want, kl) == 0;
}

mrd_rc s3_credentials_parse(const char *text, size_t len, const char *name, s3_config *cfg,
                            mrd_error *err)
{
    clear_credentials(cfg);
    if (!name)
        name = "credentials";
    bool reading = true; /* before any section, or in [default] */
    int line = 0;
    const char *end = text + len;
    for (const char *p = text; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *s = p, *e = le;
        line++;
        p = nl ? nl + 1 : end;
        trim(&s, &e);
        if (s == e || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            if (e[-1] != ']') {
                clear_credentials(cfg);
                return mrd_error_at(err, MRD_ERR_PARSE, name, line, 0,
                                    "a section header must end with ']'");
            }
            const char *ns = s + 1, *ne = e - 1;
            trim(&ns, &ne);
            reading = key_is(ns, (size_t)(ne - ns), "default");
            continue;
        }
        const char *eq = memchr(s, '=', (size_t)(e - s));
        if (!eq) {
            clear_credentials(cfg);
            return mrd_error_at(err, MRD_ERR_PARSE, name, line, 0,
                                "expected \"key = value\", a [section] or a comment");
        }
        if (memchr(s, '\0', (size_t)(e - s))) {
            clear_credentials(cfg);
            return mrd_error_at(err, MRD_ERR_PARSE, name, line, 0, "a NUL byte in the line");
        }
        if (!reading)
            continue;
        const char *ks = s, *ke = eq, *vs = eq + 1, *ve = e;
        trim(&ks, &ke);
        trim(&vs, &ve);
        size_t kl = (size_t)(ke - ks), vl = (size_t)(ve - vs);
        char *dst = NULL;
        size_t cap = 0;
        const char *what = NULL;
        if (key_is(ks, kl, "aws_access_key_id")) {
            dst = cfg->access_key, cap = sizeof(cfg->access_key), what = "aws_access_key_id";
        } else if (key_is(ks, kl, "aws_secret_access_key")) {
            dst = cfg->secret_key, cap = sizeof(cfg->secret_key);
            what = "aws_secret_access_key";
        } else if (key_is(ks, kl, "aws_session_token")) {
            dst = cfg->session_token, cap = sizeof(cfg->session_token);
            what = "aws_session_token";
        }
        if (!dst)
            continue;
        if (vl >= cap) {
            clear_credentials(cfg);
            return mrd_error_at(err, MRD_ERR_INVALID, name, line, 0,
                                "%s is longer than %zu characters", what, cap - 1);
        }
        memcpy(dst, vs, vl);
        dst[vl] = '\0';
    }
    const char *missing = !cfg->access_key[0]   ? "aws_access_key_id"
                          : !cfg->secret_key[0] ? "aws_secret_access_key"
                                                : NULL;
    if (missing) {
        clear_credentials(cfg);
        return mrd_error_at(err, MRD_ERR_INVALID, name, 0, 0,
                            "no %s in the [default] section (or before any section)", missing);
    }
    return MRD_OK;
}

/* ==== BUCKET NAMES ===================================================== */

static bool refuse(char *why, size_t n, const char *rule)
{
    if (why && n)
        snprintf(why, n, "%s", rule);
    return false;
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
    size_t sl = strlen(suffix);
    return len >= sl && memcmp(s + len - sl, suffix, sl) == 0;
}

bool s3_bucket_name_ok(const char *name, char *why, size_t n)
{
    if (!name)
        return refuse(why, n, "a bucket name is needed");
    size_t len = strlen(name);
    if (len < 3 || len > 63)
        return refuse(why, n, "a bucket name has 3 to 63 characters");
    for (size_t i = 0; i < len; i++) {
        char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '-'))
            return refuse(why, n,
                          "a bucket name has only lowercase letters, digits, '.' and '-'");
    }
    if (!isalnum((unsigned char)name[0]) || !isalnum((unsigned char)name[len - 1]))
        return refuse(why, n, "a bucket name begins and ends with a letter or a digit");
    if (strstr(name, ".."))
        return refuse(why, n, "a bucket name has no two adjacent periods");
    unsigned a, b, c, d;
    char tail;
    if (sscanf(name, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) == 4)
        return refuse(why, n, "a bucket name is not an IP address");
    if (strncmp(name, "xn--", 4) == 0 || strncmp(name, "sthree-", 7) == 0)
        return refuse(why, n, "a bucket name does not begin with \"xn--\" or \"sthree-\"");
    if (ends_with(name, len, "-s3alias") || ends_with(name, len, "--ol-s3"))
        return refuse(why, n, "a bucket name does not end with \"-s3alias\" or \"--ol-s3\"");
    if (why && n)
        why[0] = '\0';
    return true;
}
