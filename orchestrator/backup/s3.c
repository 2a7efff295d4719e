/* s3.c - the S3 client's I/O half: requests through libcurl, signed by
 * libcurl's SigV4 (see s3.h for what libcurl 7.88 needs from us), and the
 * credentials file.  The parsing is in s3_parse.c. */
#define _GNU_SOURCE /* mkostemp */
#include "s3.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "buf.h"
#include "fsutil.h"
#include "s3_parse.h"

/* The SHA-256 of no bytes: the payload hash of GET, HEAD and DELETE. */
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define ERROR_BODY_MAX (64 * 1024)      /* an error or a listing page larger is refused */
#define LIST_BODY_MAX (16 * 1024 * 1024) /* one ListObjectsV2 page (1000 keys) */
#define PROGRESS_STEP (4LL * 1024 * 1024) /* report at least this often */
#define HASH_CHUNK (256 * 1024)
#define LIST_MAX_PAGES 100000

struct s3_client {
    s3_config cfg;
    CURL *curl;
    char sigv4[128]; /* "aws:amz:REGION:s3" */
};

/* ==== ONE REQUEST ====================================================== */

/* What to send. */
typedef struct s3_req {
    const char *method;       /* GET HEAD PUT POST DELETE */
    const char *key;          /* NULL: the bucket itself */
    const char *query;        /* canonical (s3_query_build()), "" for none */
    const char *content_type; /* NULL: none sent */
    const char *meta_sha256;  /* NULL: no x-amz-meta-sha256 */
    const char *payload_sha;  /* the body's SHA-256 in hex */
    const void *body;         /* a body in memory (PUT, POST)... */
    size_t body_len;
    int src_fd; /* ...or from this file (>= 0) from src_off, src_len bytes */
    long long src_off;
    long long src_len;
    const char *src_path; /* for messages */
    int dst_fd;           /* >= 0: a 2xx body goes into this file */
    const char *dst_path; /* for messages */
    EVP_MD_CTX *dst_md;   /* hashes what goes to dst_fd (may be NULL) */
    size_t body_max;      /* cap of the body kept in memory */
    s3_progress_fn progress;
    void *ctx;
    long long progress_base; /* bytes done before this request */
    long long progress_total; /* -1: the answer's Content-Length */
} s3_req;

/* What came back. */
typedef struct s3_resp {
    const s3_req *req;
    long status;  /* last HTTP status line (0: none) */
    mrd_buf body; /* the body when not written to dst_fd */
    bool too_big; /* the body passed body_max */
    char etag[256];
    char meta_sha256[65];
    long long length; /* Content-Length, 0 when none */
    size_t mem_off;  /* memory body sent so far */
    long long sent;  /* file body sent so far */
    int read_errno;  /* reading src_fd failed */
    int write_errno; /* writing dst_fd failed */
    long os_errno;   /* the socket's errno when connecting failed */
    EVP_MD_CTX *md;  /* hashes what goes to dst_fd (when set) */
    long long written;
    long long last_report;
    char errbuf[CURL_ERROR_SIZE];
} s3_resp;

static bool ok_status(long s) { return s >= 200 && s < 300; }

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    s3_resp *r = ud;
    size_t n = size * nmemb;
    if (n > 5 && memcmp(data, "HTTP/", 5) == 0) {
        /* a new answer (after "100 Continue", or a redirect): forget the last */
        const char *sp = memchr(data, ' ', n);
        r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        r->etag[0] = r->meta_sha256[0] = '\0';
        r->length = 0;
        return n;
    }
    const char *colon = memchr(data, ':', n);
    if (!colon)
        return n;
    size_t nl = (size_t)(colon - data);
    const char *v = colon + 1, *e = data + n;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '))
        e--;
    size_t vl = (size_t)(e - v);
    char *dst = NULL;
    size_t cap = 0;
    if (nl == 4 && strncasecmp(data, "ETag", 4) == 0)
        dst = r->etag, cap = sizeof(r->etag);
    else if (nl == 17 && strncasecmp(data, "x-amz-meta-sha256", 17) == 0)
        dst = r->meta_sha256, cap = sizeof(r->meta_sha256);
    if (nl == 14 && strncasecmp(data, "Content-Length", 14) == 0 && vl < 20) {
        char num[24];
        memcpy(num, v, vl);
        num[vl] = '\0';
        r->length = strtoll(num, NULL, 10);
    }
    if (dst && vl < cap) {
        memcpy(dst, v, vl);
        dst[vl] = '\0';
    }
    return n;
}

static void report(s3_resp *r, long long done, bool force)
{
    const s3_req *q = r->req;
    if (!q->progress)
        return;
    long long total = q->progress_total >= 0 ? q->progress_total : r->length;
    if (force || done - r->last_report >= PROGRESS_STEP) {
        r->last_report = done;
        q->progress(q->ctx, done, total < done ? done : total);
    }
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    s3_resp *r = ud;
    size_t n = size * nmemb;
    if (r->req->dst_fd >= 0 && ok_status(r->status)) {
        for (size_t off = 0; off < n;) {
            ssize_t w = write(r->req->dst_fd, data + off, n - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                r->write_errno = w < 0 ? errno : ENOSPC;
                return 0;
            }
            off += (size_t)w;
        }
        if (r->md && EVP_DigestUpdate(r->md, data, n) != 1) {
            r->write_errno = ENOMEM;
            return 0;
        }
        r->written += (long long)n;
        report(r, r->written, false);
        return n;
    }
    if (mrd_buf_add(&r->body, data, n) != MRD_OK) {
        r->too_big = true;
        return 0;
    }
    return n;
}

/* The body, from memory or from the file range. */
static size_t on_read(char *buf, size_t size, size_t nitems, void *ud)
{
    s3_resp *r = ud;
    const s3_req *q = r->req;
    size_t n = size * nitems;
    if (q->src_fd < 0) {
        size_t left = q->body_len - r->mem_off;
        if (n > left)
            n = left;
        if (n)
            memcpy(buf, (const char *)q->body + r->mem_off, n);
        r->mem_off += n;
        return n;
    }
    long long left = q->src_len - r->sent;
    if ((long long)n > left)
        n = (size_t)left;
    if (n == 0)
        return 0;
    ssize_t got;
    do
        got = pread(q->src_fd, buf, n, (off_t)(q->src_off + r->sent));
    while (got < 0 && errno == EINTR);
    if (got <= 0) {
        r->read_errno = got < 0 ? errno : EIO; /* 0: the file shrank */
        return CURL_READFUNC_ABORT;
    }
    r->sent += got;
    return (size_t)got;
}

/* libcurl sends a body again (a reused connection the server had closed
 * meanwhile, a redirect): back to OFFSET of it.  Without this, such a
 * resend fails with "necessary data rewind wasn't possible". */
static int on_seek(void *ud, curl_off_t offset, int origin)
{
    s3_resp *r = ud;
    const s3_req *q = r->req;
    long long len = q->src_fd >= 0 ? q->src_len : (long long)q->body_len;
    if (origin != SEEK_SET || offset < 0 || (long long)offset > len)
        return CURL_SEEKFUNC_CANTSEEK;
    if (q->src_fd >= 0)
        r->sent = (long long)offset;
    else
        r->mem_off = (size_t)offset;
    return CURL_SEEKFUNC_OK;
}

static int on_xfer(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                   curl_off_t ulnow)
{
    s3_resp *r = ud;
    (void)dltotal, (void)dlnow, (void)ultotal;
    if (r->req->src_fd >= 0)
        report(r, r->req->progress_base + (long long)ulnow, false);
    return 0;
}

/* Send Q; *R (initialised here, freed with resp_free()) gets the answer.
 * Returns libcurl's code. */
static CURLcode perform(s3_client *c, const s3_req *q, s3_resp *r)
{
    memset(r, 0, sizeof(*r));
    r->req = q;
    r->md = q->dst_md;
    mrd_buf_init(&r->body, q->body_max ? q->body_max : ERROR_BODY_MAX);
    r->last_report = q->progress_base;

    mrd_buf url, h;
    mrd_buf_init(&url, 16384);
    mrd_buf_init(&h, 4096);
    struct curl_slist *headers = NULL, *tmp;
    CURLcode cc = CURLE_OUT_OF_MEMORY;
    bool built = mrd_buf_addf(&url, "%s/%s", c->cfg.endpoint, c->cfg.bucket) == MRD_OK;
    if (built && q->key)
        built = mrd_buf_adds(&url, "/") == MRD_OK && s3_uri_encode(&url, q->key, true) == MRD_OK;
    if (built && q->query && q->query[0])
        built = mrd_buf_addf(&url, "?%s", q->query) == MRD_OK;
    if (!built)
        goto out;

    /* Every header added here is signed by libcurl 7.88 (all of the
     * custom ones): never add a header with an empty value to remove one
     * of libcurl's ("Expect:"), as that would be signed but not sent. */
#define ADD_HEADER(...)                                                              \
    do {                                                                             \
        mrd_buf_reset(&h);                                                           \
        if (mrd_buf_addf(&h, __VA_ARGS__) != MRD_OK)                                 \
            goto out;                                                                \
        tmp = curl_slist_append(headers, mrd_buf_str(&h));                           \
        if (!tmp)                                                                    \
            goto out;                                                                \
        headers = tmp;                                                               \
    } while (0)
    ADD_HEADER("x-amz-content-sha256: %s", q->payload_sha);
    if (c->cfg.session_token[0])
        ADD_HEADER("x-amz-security-token: %s", c->cfg.session_token);
    if (q->content_type)
        ADD_HEADER("Content-Type: %s", q->content_type);
    if (q->meta_sha256)
        ADD_HEADER("x-amz-meta-sha256: %s", q->meta_sha256);
#undef ADD_HEADER

    CURL *e = c->curl;
    curl_easy_reset(e); /* keeps the connection for the next request */
    long idle_s = (c->cfg.timeout_ms + 999) / 1000;
    curl_easy_setopt(e, CURLOPT_URL, mrd_buf_str(&url));
    curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L); /* a key holding "/../" stays as it is */
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)c->cfg.timeout_ms);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, idle_s < 1 ? 1L : idle_s);
    curl_easy_setopt(e, CURLOPT_AWS_SIGV4, c->sigv4);
    curl_easy_setopt(e, CURLOPT_USERNAME, c->cfg.access_key);
    curl_easy_setopt(e, CURLOPT_PASSWORD, c->cfg.secret_key);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_xfer);
    curl_easy_setopt(e, CURLOPT_XFERINFODATA, r);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    long long upload_len = q->src_fd >= 0 ? q->src_len : (long long)q->body_len;
    if (strcmp(q->method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
        curl_easy_setopt(e, CURLOPT_FILETIME, 1L);
    } else if (strcmp(q->method, "PUT") == 0) {
        curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)upload_len);
        curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(e, CURLOPT_READDATA, r);
        curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(e, CURLOPT_SEEKDATA, r);
    } else if (strcmp(q->method, "POST") == 0) {
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, q->body ? q->body : "");
    } else if (strcmp(q->method, "GET") != 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, q->method);
    }
    cc = curl_easy_perform(e);
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    if (status)
        r->status = status;
    curl_easy_getinfo(e, CURLINFO_OS_ERRNO, &r->os_errno);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, NULL);
out:
    curl_slist_free_all(headers);
    mrd_buf_free(&url);
    mrd_buf_free(&h);
    return cc;
}

static void resp_free(s3_resp *r) { mrd_buf_free(&r->body); }

/* ==== ERRORS =========================================================== */

/* What a request was for: "cannot VERB s3://BUCKET/KEY PREP ENDPOINT". */
typedef struct s3_op {
    const char *verb; /* "upload" */
    const char *prep; /* "to" */
    const char *key;  /* NULL: the bucket */
} s3_op;

static mrd_rc op_fail(s3_client *c, const s3_op *op, mrd_error *err, mrd_rc code,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static mrd_rc op_fail(s3_client *c, const s3_op *op, mrd_error *err, mrd_rc code,
                      const char *fmt, ...)
{
    char cause[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cause, sizeof(cause), fmt, ap);
    va_end(ap);
    return mrd_error_set(err, code, "cannot %s s3://%s/%s %s %s: %s", op->verb, c->cfg.bucket,
                         op->key ? op->key : "", op->prep, c->cfg.endpoint, cause);
}

static bool auth_code(const char *code)
{
    static const char *const codes[] = {"InvalidAccessKeyId", "SignatureDoesNotMatch",
                                        "AccessDenied", "ExpiredToken", "InvalidToken",
                                        "TokenRefreshRequired", "AuthorizationHeaderMalformed"};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (strcmp(code, codes[i]) == 0)
            return true;
    return false;
}

/* The error of an answer that is not a success: libcurl's or the HTTP
 * status and S3's <Error>. */
static mrd_rc answer_error(s3_client *c, const s3_op *op, CURLcode cc, const s3_resp *r,
                           mrd_error *err)
{
    const char *why = r->errbuf[0] ? r->errbuf : curl_easy_strerror(cc);
    if (r->write_errno)
        return op_fail(c, op, err, MRD_ERR_IO, "cannot write %s: %s", r->req->dst_path,
                       strerror(r->write_errno));
    if (r->read_errno)
        return op_fail(c, op, err, MRD_ERR_IO, "cannot read %s: %s", r->req->src_path,
                       r->read_errno == EIO && r->req->src_fd >= 0
                           ? "the file is shorter than when the upload began (or EIO)"
                           : strerror(r->read_errno));
    if (r->too_big)
        return op_fail(c, op, err, MRD_ERR_INVALID, "the answer is larger than %zu bytes",
                       r->body.max);
    switch (cc) {
    case CURLE_OK:
        break;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        /* "Connection refused" says more than libcurl's "Failed to connect
         * to 127.0.0.1 port 4569 after 0 ms: Couldn't connect to server" */
        return op_fail(c, op, err, MRD_ERR_CONNECT, "cannot connect: %s",
                       cc == CURLE_COULDNT_CONNECT && r->os_errno ? strerror((int)r->os_errno)
                                                                  : why);
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
        return op_fail(c, op, err, MRD_ERR_CONNECT, "TLS: %s", why);
    case CURLE_OPERATION_TIMEDOUT:
        return op_fail(c, op, err, MRD_ERR_TIMEOUT, "no progress within %d ms: %s",
                       c->cfg.timeout_ms, why);
    case CURLE_OUT_OF_MEMORY:
        return op_fail(c, op, err, MRD_ERR_NOMEM, "out of memory");
    default:
        return op_fail(c, op, err, MRD_ERR_IO, "the transfer failed: %s", why);
    }
    char code[128], msg[256];
    bool xml = s3_xml_error(mrd_buf_str(&r->body), mrd_buf_len(&r->body), code, sizeof(code),
                            msg, sizeof(msg));
    char detail[400];
    if (xml && msg[0])
        snprintf(detail, sizeof(detail), "%s: %s", code, msg);
    else if (xml)
        snprintf(detail, sizeof(detail), "%s", code);
    else
        snprintf(detail, sizeof(detail), "HTTP %ld", r->status);
    if (xml && strcmp(code, "NoSuchBucket") == 0)
        return op_fail(c, op, err, MRD_ERR_NOT_FOUND, "the bucket does not exist (%s)", code);
    if (xml && strcmp(code, "NoSuchKey") == 0)
        return op_fail(c, op, err, MRD_ERR_NOT_FOUND, "the object does not exist (%s)", code);
    if (xml && strcmp(code, "NoSuchUpload") == 0)
        return op_fail(c, op, err, MRD_ERR_NOT_FOUND,
                       "the multipart upload does not exist (%s)", detail);
    if (r->status == 403 || (xml && auth_code(code)))
        return op_fail(c, op, err, MRD_ERR_AUTH, "access denied: check the credentials (%s)",
                       detail);
    if (r->status == 404)
        return op_fail(c, op, err, MRD_ERR_NOT_FOUND, "not found (%s)", detail);
    if (r->status == 501 || (xml && strcmp(code, "NotImplemented") == 0))
        return op_fail(c, op, err, MRD_ERR_UNSUPPORTED,
                       "the server does not implement this request (%s)", detail);
    if (xml)
        return op_fail(c, op, err, MRD_ERR_PROTOCOL, "the server answered HTTP %ld (%s)",
                       r->status, detail);
    return op_fail(c, op, err, MRD_ERR_PROTOCOL, "the server answered HTTP %ld", r->status);
}

/* MRD_OK when the request went through with a 2xx answer. */
static mrd_rc checked(s3_client *c, const s3_op *op, CURLcode cc, const s3_resp *r,
                      mrd_error *err)
{
    if (cc == CURLE_OK && ok_status(r->status))
        return MRD_OK;
    return answer_error(c, op, cc, r, err);
}

/* ==== HELPERS ========================================================== */

static void hex32(const unsigned char *md, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

static bool sha256_mem(const void *data, size_t len, char *out)
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        return false;
    hex32(md, out);
    return true;
}

/* The SHA-256 of LEN bytes of FD from OFF; errno-style code, 0 on success. */
static int sha256_range(int fd, long long off, long long len, char *out)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    char *buf = malloc(HASH_CHUNK);
    int rc = 0;
    if (!md || !buf || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
        rc = ENOMEM;
    for (long long done = 0; rc == 0 && done < len;) {
        size_t want = len - done < HASH_CHUNK ? (size_t)(len - done) : HASH_CHUNK;
        ssize_t got = pread(fd, buf, want, (off_t)(off + done));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            rc = got < 0 ? errno : EIO;
        else if (EVP_DigestUpdate(md, buf, (size_t)got) != 1)
            rc = ENOMEM;
        else
            done += got;
    }
    unsigned char dig[32];
    unsigned int dlen = 0;
    if (rc == 0 && (EVP_DigestFinal_ex(md, dig, &dlen) != 1 || dlen != 32))
        rc = ENOMEM;
    if (rc == 0)
        hex32(dig, out);
    EVP_MD_CTX_free(md);
    free(buf);
    return rc;
}

static bool hex64(const char *s)
{
    if (!s || strlen(s) != 64)
        return false;
    for (int i = 0; i < 64; i++)
        if (!isxdigit((unsigned char)s[i]))
            return false;
    return true;
}

static mrd_rc check_key(s3_client *c, const s3_op *op, mrd_error *err)
{
    if (!op->key || !op->key[0] || strlen(op->key) >= sizeof(((s3_object *)0)->key))
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "cannot %s an object of s3://%s: a key has 1 to %zu bytes", op->verb,
                             c->cfg.bucket, sizeof(((s3_object *)0)->key) - 1);
    return MRD_OK;
}

static s3_req req_init(const char *method, const char *key, const char *query)
{
    s3_req q = {.method = method,
                .key = key,
                .query = query ? query : "",
                .payload_sha = EMPTY_SHA256,
                .src_fd = -1,
                .dst_fd = -1,
                .progress_total = -1};
    return q;
}

/* ==== OPEN AND CLOSE =================================================== */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;
static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

mrd_rc s3_open(const s3_config *cfg, s3_client **out, mrd_error *err)
{
    *out = NULL;
    char why[128];
    const char *ep = cfg->endpoint;
    const char *host = strncmp(ep, "http://", 7) == 0    ? ep + 7
                       : strncmp(ep, "https://", 8) == 0 ? ep + 8
                                                         : NULL;
    if (!host || !host[0] || strchr(host, '/') || strchr(host, '?') || strchr(host, '@') ||
        strchr(host, ' '))
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "the S3 endpoint \"%s\" must be http://HOST[:PORT] or "
                             "https://HOST[:PORT], without a path",
                             ep);
    if (!s3_bucket_name_ok(cfg->bucket, why, sizeof(why)))
        return mrd_error_set(err, MRD_ERR_INVALID, "the bucket name \"%s\" is refused: %s",
                             cfg->bucket, why);
    if (!cfg->region[0] || strchr(cfg->region, ':'))
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "the S3 region \"%s\" must be a name such as us-east-1",
                             cfg->region);
    if (!cfg->access_key[0] || !cfg->secret_key[0] || strchr(cfg->access_key, ':'))
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "the S3 credentials for s3://%s are missing (an access key "
                             "without ':' and a secret key are needed)",
                             cfg->bucket);
    if (cfg->part_size != 0 &&
        (cfg->part_size < S3_MIN_PART_SIZE || cfg->part_size > S3_MAX_PART_SIZE))
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "the multipart part size %lld is out of S3's range (%lld to %lld "
                             "bytes)",
                             cfg->part_size, S3_MIN_PART_SIZE, S3_MAX_PART_SIZE);
    if (cfg->timeout_ms < 0)
        return mrd_error_set(err, MRD_ERR_INVALID, "the S3 timeout %d ms is negative",
                             cfg->timeout_ms);
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return mrd_error_set(err, MRD_ERR_NOMEM, "libcurl could not start: %s",
                             curl_easy_strerror(curl_init_rc));
    s3_client *c = calloc(1, sizeof(*c));
    if (!c || !(c->curl = curl_easy_init())) {
        free(c);
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory opening the S3 client");
    }
    c->cfg = *cfg;
    if (!c->cfg.timeout_ms)
        c->cfg.timeout_ms = S3_DEFAULT_TIMEOUT_MS;
    if (!c->cfg.part_size)
        c->cfg.part_size = S3_DEFAULT_PART_SIZE;
    snprintf(c->sigv4, sizeof(c->sigv4), "aws:amz:%s:s3", c->cfg.region);
    *out = c;
    return MRD_OK;
}

void s3_close(s3_client **c)
{
    if (!c || !*c)
        return;
    curl_easy_cleanup((*c)->curl);
    explicit_bzero(&(*c)->cfg, sizeof((*c)->cfg));
    free(*c);
    *c = NULL;
}

/* ==== UPLOADS ========================================================== */

mrd_rc s3_put_bytes(s3_client *c, const char *key, const void *data, size_t len,
                    const char *content_type, mrd_error *err)
{
    s3_op op = {"upload", "to", key};
    MRD_TRY(check_key(c, &op, err));
    char sha[65];
    if (!sha256_mem(len ? data : "", len, sha))
        return op_fail(c, &op, err, MRD_ERR_NOMEM, "cannot compute the SHA-256");
    s3_req q = req_init("PUT", key, "");
    q.payload_sha = sha;
    q.body = data;
    q.body_len = len;
    q.content_type = content_type ? content_type : "application/octet-stream";
    s3_resp r;
    CURLcode cc = perform(c, &q, &r);
    mrd_rc rc = checked(c, &op, cc, &r, err);
    resp_free(&r);
    return rc;
}

/* PUT bytes [off, off+len) of FD: the whole object (QUERY "") or a part. */
static mrd_rc put_range(s3_client *c, const s3_op *op, const char *query, int fd,
                        const char *path, long long off, long long len, const char *meta,
                        s3_progress_fn progress, void *ctx, long long total, char *etag,
                        size_t etag_n, mrd_error *err)
{
    char sha[65];
    int e = sha256_range(fd, off, len, sha);
    if (e)
        return op_fail(c, op, err, MRD_ERR_IO, "cannot read %s: %s", path, strerror(e));
    s3_req q = req_init("PUT", op->key, query);
    q.payload_sha = sha;
    q.src_fd = fd;
    q.src_off = off;
    q.src_len = len;
    q.src_path = path;
    q.meta_sha256 = meta;
    q.content_type = meta ? "application/octet-stream" : NULL;
    q.progress = progress;
    q.ctx = ctx;
    q.progress_base = off;
    q.progress_total = total;
    s3_resp r;
    CURLcode cc = perform(c, &q, &r);
    mrd_rc rc = checked(c, op, cc, &r, err);
    if (rc == MRD_OK && etag) {
        if (!r.etag[0] || strlen(r.etag) >= etag_n)
            rc = op_fail(c, op, err, MRD_ERR_PROTOCOL, "the answer to part at byte %lld has no ETag",
                         off);
        else
            snprintf(etag, etag_n, "%s", r.etag);
    }
    if (rc == MRD_OK && progress)
        progress(ctx, off + len, total);
    resp_free(&r);
    return rc;
}

/* Append TEXT with XML's special characters escaped. */
static mrd_rc xml_escape(mrd_buf *b, const char *text)
{
    for (const char *p = text; *p; p++) {
        const char *ent = *p == '&' ? "&amp;" : *p == '<' ? "&lt;" : *p == '>' ? "&gt;" : NULL;
        MRD_TRY(ent ? mrd_buf_adds(b, ent) : mrd_buf_add(b, p, 1));
    }
    return MRD_OK;
}

static mrd_rc abort_quietly(s3_client *c, const char *key, const char *upload_id)
{
    mrd_error ignored;
    mrd_error_clear(&ignored);
    return s3_abort_upload(c, key, upload_id, &ignored);
}

static mrd_rc put_multipart(s3_client *c, const s3_op *op, int fd, const char *path,
                            long long size, const char *meta, s3_progress_fn progress, void *ctx,
                            mrd_error *err)
{
    long long part = c->cfg.part_size;
    long long nparts = (size + part - 1) / part;
    if (nparts > S3_MAX_PARTS)
        return op_fail(c, op, err, MRD_ERR_INVALID,
                       "%s needs %lld parts of %lld bytes, more than S3's %d: raise the part "
                       "size",
                       path, nparts, part, S3_MAX_PARTS);
    /* CreateMultipartUpload */
    s3_param create_p[] = {{"uploads", ""}};
    mrd_buf query, done;
    mrd_buf_init(&query, 4096);
    mrd_buf_init(&done, 4 * 1024 * 1024);
    char upload_id[512] = "";
    mrd_rc rc = s3_query_build(&query, create_p, 1);
    if (rc != MRD_OK) {
        mrd_buf_free(&query);
        return op_fail(c, op, err, rc, "cannot build the request");
    }
    s3_req q = req_init("POST", op->key, mrd_buf_str(&query));
    q.content_type = "application/octet-stream";
    q.meta_sha256 = meta;
    s3_resp r;
    CURLcode cc = perform(c, &q, &r);
    rc = checked(c, op, cc, &r, err);
    if (rc == MRD_OK)
        rc = s3_xml_upload_id(mrd_buf_str(&r.body), mrd_buf_len(&r.body), upload_id,
                              sizeof(upload_id), err);
    if (rc != MRD_OK && err && err->msg[0] && strncmp(err->msg, "cannot ", 7) != 0) {
        char cause[sizeof(err->msg)];
        snprintf(cause, sizeof(cause), "%s", err->msg);
        op_fail(c, op, err, rc, "%s", cause);
    }
    resp_free(&r);
    if (rc != MRD_OK) {
        mrd_buf_free(&query);
        return rc;
    }

    /* UploadPart, each with its own payload hash */
    rc = mrd_buf_adds(&done, "<CompleteMultipartUpload>");
    for (long long i = 0; rc == MRD_OK && i < nparts; i++) {
        char num[24], etag[256];
        snprintf(num, sizeof(num), "%lld", i + 1);
        s3_param part_p[] = {{"partNumber", num}, {"uploadId", upload_id}};
        mrd_buf_reset(&query);
        rc = s3_query_build(&query, part_p, 2);
        if (rc != MRD_OK) {
            op_fail(c, op, err, rc, "cannot build the request");
            break;
        }
        long long off = i * part, len = size - off < part ? size - off : part;
        rc = put_range(c, op, mrd_buf_str(&query), fd, path, off, len, NULL, progress, ctx, size,
                       etag, sizeof(etag), err);
        if (rc == MRD_OK) {
            rc = mrd_buf_addf(&done, "<Part><PartNumber>%lld</PartNumber><ETag>", i + 1);
            if (rc == MRD_OK)
                rc = xml_escape(&done, etag);
            if (rc == MRD_OK)
                rc = mrd_buf_adds(&done, "</ETag></Part>");
            if (rc != MRD_OK)
                op_fail(c, op, err, rc, "cannot build the part list");
        }
    }
    /* CompleteMultipartUpload: a 200 may still carry an <Error> */
    char sha[65];
    if (rc == MRD_OK && (mrd_buf_adds(&done, "</CompleteMultipartUpload>") != MRD_OK ||
                         !sha256_mem(mrd_buf_str(&done), mrd_buf_len(&done), sha)))
        rc = op_fail(c, op, err, MRD_ERR_NOMEM, "cannot build the part list");
    if (rc == MRD_OK) {
        s3_param done_p[] = {{"uploadId", upload_id}};
        mrd_buf_reset(&query);
        rc = s3_query_build(&query, done_p, 1);
        if (rc != MRD_OK)
            op_fail(c, op, err, rc, "cannot build the request");
    }
    if (rc == MRD_OK) {
        q = req_init("POST", op->key, mrd_buf_str(&query));
        q.content_type = "application/xml";
        q.body = mrd_buf_str(&done);
        q.body_len = mrd_buf_len(&done);
        q.payload_sha = sha;
        cc = perform(c, &q, &r);
        rc = checked(c, op, cc, &r, err);
        char code[128], msg[256];
        if (rc == MRD_OK && s3_xml_error(mrd_buf_str(&r.body), mrd_buf_len(&r.body), code,
                                         sizeof(code), msg, sizeof(msg)))
            rc = op_fail(c, op, err, MRD_ERR_PROTOCOL,
                         "completing the multipart upload failed (%s: %s)", code, msg);
        resp_free(&r);
    }
    if (rc != MRD_OK)
        abort_quietly(c, op->key, upload_id);
    mrd_buf_free(&query);
    mrd_buf_free(&done);
    return rc;
}

mrd_rc s3_put_file(s3_client *c, const char *key, const char *path, const char *sha256_hex,
                   s3_progress_fn progress, void *ctx, mrd_error *err)
{
    s3_op op = {"upload", "to", key};
    MRD_TRY(check_key(c, &op, err));
    if (!hex64(sha256_hex))
        return op_fail(c, &op, err, MRD_ERR_INVALID, "the SHA-256 must be 64 hex digits");
    char meta[65];
    for (int i = 0; i < 65; i++)
        meta[i] = (char)tolower((unsigned char)sha256_hex[i]);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return op_fail(c, &op, err, MRD_ERR_IO, "cannot read %s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return op_fail(c, &op, err, MRD_ERR_IO, "cannot read %s: not a regular file", path);
    }
    long long size = (long long)st.st_size;
    mrd_rc rc;
    if (size <= c->cfg.part_size)
        rc = put_range(c, &op, "", fd, path, 0, size, meta, progress, ctx, size, NULL, 0, err);
    else
        rc = put_multipart(c, &op, fd, path, size, meta, progress, ctx, err);
    close(fd);
    return rc;
}

/* ==== DOWNLOADS AND METADATA =========================================== */

mrd_rc s3_get_file(s3_client *c, const char *key, const char *path, s3_progress_fn progress,
                   void *ctx, char *sha256_hex_out, long long *bytes, mrd_error *err)
{
    s3_op op = {"download", "from", key};
    MRD_TRY(check_key(c, &op, err));
    char tmp[PATH_MAX];
    if (mrd_path_fmt(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) != MRD_OK)
        return op_fail(c, &op, err, MRD_ERR_INVALID, "the path %s is too long", path);
    int fd = mkostemp(tmp, O_CLOEXEC); /* mode 0600 */
    if (fd < 0)
        return op_fail(c, &op, err, MRD_ERR_IO, "cannot create a file next to %s: %s", path,
                       strerror(errno));
    s3_req q = req_init("GET", key, "");
    q.dst_fd = fd;
    q.dst_path = path;
    q.progress = progress;
    q.ctx = ctx;
    s3_resp r;
    memset(&r, 0, sizeof(r));
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    mrd_rc rc = MRD_OK;
    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
        rc = op_fail(c, &op, err, MRD_ERR_NOMEM, "out of memory");
    if (rc == MRD_OK) {
        q.dst_md = md;
        CURLcode cc = perform(c, &q, &r);
        rc = checked(c, &op, cc, &r, err);
        if (rc == MRD_OK && r.length > 0 && r.written != r.length)
            rc = op_fail(c, &op, err, MRD_ERR_IO, "the answer ended after %lld of %lld bytes",
                         r.written, r.length);
        if (rc == MRD_OK && fsync(fd) != 0)
            rc = op_fail(c, &op, err, MRD_ERR_IO, "cannot write %s: %s", path, strerror(errno));
        if (rc == MRD_OK && progress)
            progress(ctx, r.written, r.written);
        resp_free(&r);
    }
    unsigned char dig[32];
    unsigned int dlen = 0;
    if (rc == MRD_OK && (EVP_DigestFinal_ex(md, dig, &dlen) != 1 || dlen != 32))
        rc = op_fail(c, &op, err, MRD_ERR_NOMEM, "cannot compute the SHA-256");
    EVP_MD_CTX_free(md);
    if (close(fd) != 0 && rc == MRD_OK)
        rc = op_fail(c, &op, err, MRD_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    if (rc == MRD_OK && rename(tmp, path) != 0)
        rc = op_fail(c, &op, err, MRD_ERR_IO, "cannot rename the download to %s: %s", path,
                     strerror(errno));
    if (rc != MRD_OK) {
        unlink(tmp);
        return rc;
    }
    int e = mrd_fsync_dir_of(path);
    if (e)
        return op_fail(c, &op, err, MRD_ERR_IO, "cannot sync the folder of %s: %s", path,
                       strerror(e));
    if (sha256_hex_out)
        hex32(dig, sha256_hex_out);
    if (bytes)
        *bytes = r.written;
    return MRD_OK;
}

mrd_rc s3_get_bytes(s3_client *c, const char *key, size_t max, char **out, size_t *len,
                    mrd_error *err)
{
    s3_op op = {"download", "from", key};
    *out = NULL;
    if (len)
        *len = 0;
    MRD_TRY(check_key(c, &op, err));
    s3_req q = req_init("GET", key, "");
    q.body_max = max > ERROR_BODY_MAX ? max : ERROR_BODY_MAX;
    s3_resp r;
    CURLcode cc = perform(c, &q, &r);
    mrd_rc rc = checked(c, &op, cc, &r, err);
    if (rc == MRD_OK && mrd_buf_len(&r.body) > max)
        rc = op_fail(c, &op, err, MRD_ERR_INVALID, "the object is larger than %zu bytes", max);
    if (rc == MRD_OK && r.too_big)
        rc = op_fail(c, &op, err, MRD_ERR_INVALID, "the object is larger than %zu bytes", max);
    if (rc == MRD_OK) {
        size_t n = mrd_buf_len(&r.body);
        *out = mrd_buf_take(&r.body);
        if (!*out)
            rc = op_fail(c, &op, err, MRD_ERR_NOMEM, "out of memory");
        else if (len)
            *len = n;
    }
    resp_free(&r);
    return rc;
}

mrd_rc s3_head(s3_client *c, const char *key, s3_object *out, mrd_error *err)
{
    s3_op op = {"read the metadata of", "on", key};
    memset(out, 0, sizeof(*out));
    MRD_TRY(check_key(c, &op, err));
    s3_req q = req_init("HEAD", key, "");
    s3_resp r;
    CURLcode cc = perform(c, &q, &r);
    mrd_rc rc = MRD_OK;
    if (cc == CURLE_OK && r.status == 404)
        rc = op_fail(c, &op, err, MRD_ERR_NOT_FOUND, "no such object (HTTP 404)");
    else
        rc = checked(c, &op, cc, &r, err);
    if (rc == MRD_OK) {
        curl_off_t t = -1;
        snprintf(out->key, sizeof(out->key), "%s", key);
        out->size = r.length;
        if (curl_easy_getinfo(c->curl, CURLINFO_FILETIME_T, &t) == CURLE_OK && t >= 0)
            out->mtime = (long long)t;
        if (hex64(r.meta_sha256))
            snprintf(out->sha256, sizeof(out->sha256), "%s", r.meta_sha256);
    }
    resp_free(&r);
    return rc;
}

/* ==== LISTINGS AND DELETION ============================================ */

/* GET one page of a listing of the bucket, query P (NP parameters, built
 * into QUERY): the checked answer in R (resp_free() it). */
static mrd_rc get_page(s3_client *c, const s3_op *op, const s3_param *p, size_t np,
                       mrd_buf *query, s3_resp *r, mrd_error *err)
{
    mrd_buf_reset(query);
    mrd_rc rc = s3_query_build(query, p, np);
    if (rc != MRD_OK)
        return op_fail(c, op, err, rc, "cannot build the request");
    s3_req q = req_init("GET", NULL, mrd_buf_str(query));
    q.body_max = LIST_BODY_MAX;
    CURLcode cc = perform(c, &q, r);
    rc = checked(c, op, cc, r, err);
    if (rc != MRD_OK)
        resp_free(r);
    return rc;
}

/* Append the N items of SIZE bytes at ITEMS to *ALL (*COUNT long). */
static bool append_items(void **all, size_t *count, const void *items, size_t n, size_t size)
{
    if (n == 0)
        return true;
    char *grown = realloc(*all, (*count + n) * size);
    if (!grown)
        return false;
    memcpy(grown + *count * size, items, n * size);
    *all = grown;
    *count += n;
    return true;
}

mrd_rc s3_list(s3_client *c, const char *prefix, s3_object **out, size_t *n, mrd_error *err)
{
    s3_op op = {"list", "on", prefix ? prefix : ""};
    *out = NULL;
    *n = 0;
    s3_object *all = NULL;
    size_t count = 0;
    char token[1024] = "";
    mrd_buf query;
    mrd_buf_init(&query, 8192);
    mrd_rc rc = MRD_OK;
    for (int page_no = 0; rc == MRD_OK; page_no++) {
        if (page_no >= LIST_MAX_PAGES) {
            rc = op_fail(c, &op, err, MRD_ERR_PROTOCOL, "more than %d pages", LIST_MAX_PAGES);
            break;
        }
        s3_param p[3] = {{"list-type", "2"}};
        size_t np = 1;
        if (prefix && prefix[0])
            p[np++] = (s3_param){"prefix", prefix};
        if (token[0])
            p[np++] = (s3_param){"continuation-token", token};
        s3_resp r;
        if ((rc = get_page(c, &op, p, np, &query, &r, err)) != MRD_OK)
            break;
        s3_list_page page = {0};
        mrd_error perr;
        mrd_error_clear(&perr);
        rc = s3_xml_list_objects(mrd_buf_str(&r.body), mrd_buf_len(&r.body), &page, &perr);
        resp_free(&r);
        if (rc != MRD_OK) {
            op_fail(c, &op, err, rc, "%s", perr.msg);
            break;
        }
        bool added = append_items((void **)&all, &count, page.items, page.n, sizeof(*all));
        free(page.items);
        if (!added) {
            rc = op_fail(c, &op, err, MRD_ERR_NOMEM, "out of memory");
            break;
        }
        if (!page.truncated)
            break;
        if (strcmp(page.next_token, token) == 0) {
            rc = op_fail(c, &op, err, MRD_ERR_PROTOCOL,
                         "the server gave the same continuation token twice");
            break;
        }
        snprintf(token, sizeof(token), "%s", page.next_token);
    }
    mrd_buf_free(&query);
    if (rc != MRD_OK) {
        free(all);
        return rc;
    }
    *out = all;
    *n = count;
    return MRD_OK;
}

mrd_rc s3_delete(s3_client *c, const char *key, mrd_error *err)
{
    s3_op op = {"delete", "on", key};
    MRD_TRY(check_key(c, &op, err));
    s3_req q = req_init("DELETE", key, "");
    s3_resp r;
    CURLcode cc = perform(c, &q, &r);
    char code[64], msg[8];
    mrd_rc rc = MRD_OK;
    bool absent = cc == CURLE_OK && r.status == 404 &&
                  s3_xml_error(mrd_buf_str(&r.body), mrd_buf_len(&r.body), code, sizeof(code),
                               msg, sizeof(msg)) &&
                  strcmp(code, "NoSuchKey") == 0;
    if (!absent)
        rc = checked(c, &op, cc, &r, err);
    resp_free(&r);
    return rc;
}

mrd_rc s3_list_uploads(s3_client *c, const char *prefix, s3_upload **out, size_t *n,
                       mrd_error *err)
{
    s3_op op = {"list the multipart uploads of", "on", prefix ? prefix : ""};
    *out = NULL;
    *n = 0;
    s3_upload *all = NULL;
    size_t count = 0;
    char key_marker[1024] = "", id_marker[512] = "";
    mrd_buf query;
    mrd_buf_init(&query, 8192);
    mrd_rc rc = MRD_OK;
    for (int page_no = 0; rc == MRD_OK; page_no++) {
        if (page_no >= LIST_MAX_PAGES) {
            rc = op_fail(c, &op, err, MRD_ERR_PROTOCOL, "more than %d pages", LIST_MAX_PAGES);
            break;
        }
        s3_param p[4] = {{"uploads", ""}};
        size_t np = 1;
        if (prefix && prefix[0])
            p[np++] = (s3_param){"prefix", prefix};
        if (key_marker[0])
            p[np++] = (s3_param){"key-marker", key_marker};
        if (id_marker[0])
            p[np++] = (s3_param){"upload-id-marker", id_marker};
        s3_resp r;
        if ((rc = get_page(c, &op, p, np, &query, &r, err)) != MRD_OK)
            break;
        s3_uploads_page page = {0};
        mrd_error perr;
        mrd_error_clear(&perr);
        rc = s3_xml_list_uploads(mrd_buf_str(&r.body), mrd_buf_len(&r.body), &page, &perr);
        resp_free(&r);
        if (rc != MRD_OK) {
            op_fail(c, &op, err, rc, "%s", perr.msg);
            break;
        }
        bool added = append_items((void **)&all, &count, page.items, page.n, sizeof(*all));
        free(page.items);
        if (!added) {
            rc = op_fail(c, &op, err, MRD_ERR_NOMEM, "out of memory");
            break;
        }
        if (!page.truncated)
            break;
        if (strcmp(page.next_key_marker, key_marker) == 0 &&
            strcmp(page.next_upload_id_marker, id_marker) == 0) {
            rc = op_fail(c, &op, err, MRD_ERR_PROTOCOL, "the server gave the same markers twice");
            break;
        }
        snprintf(key_marker, sizeof(key_marker), "%s", page.next_key_marker);
        snprintf(id_marker, sizeof(id_marker), "%s", page.next_upload_id_marker);
    }
    mrd_buf_free(&query);
    if (rc != MRD_OK) {
        free(all);
        return rc;
    }
    *out = all;
    *n = count;
    return MRD_OK;
}

mrd_rc s3_abort_upload(s3_client *c, const char *key, const char *upload_id, mrd_error *err)
{
    s3_op op = {"abort the multipart upload of", "on", key};
    MRD_TRY(check_key(c, &op, err));
    if (!upload_id || !upload_id[0])
        return op_fail(c, &op, err, MRD_ERR_INVALID, "an upload id is needed");
    s3_param p[] = {{"uploadId", upload_id}};
    mrd_buf query;
    mrd_buf_init(&query, 8192);
    mrd_rc rc = s3_query_build(&query, p, 1);
    if (rc != MRD_OK) {
        mrd_buf_free(&query);
        return op_fail(c, &op, err, rc, "cannot build the request");
    }
    s3_req q = req_init("DELETE", key, mrd_buf_str(&query));
    s3_resp r;
    CURLcode cc = perform(c, &q, &r);
    rc = checked(c, &op, cc, &r, err);
    resp_free(&r);
    mrd_buf_free(&query);
    return rc;
}

/* ==== CREDENTIALS ====================================================== */

#define CREDENTIALS_MAX (64 * 1024)

static mrd_rc env_credentials(s3_config *cfg, mrd_error *err)
{
    static const struct {
        const char *var;
        size_t off, cap;
        bool needed;
    } vars[] = {
        {"AWS_ACCESS_KEY_ID", offsetof(s3_config, access_key), sizeof(cfg->access_key), true},
        {"AWS_SECRET_ACCESS_KEY", offsetof(s3_config, secret_key), sizeof(cfg->secret_key),
         true},
        {"AWS_SESSION_TOKEN", offsetof(s3_config, session_token), sizeof(cfg->session_token),
         false},
    };
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        char *dst = (char *)cfg + vars[i].off;
        const char *v = getenv(vars[i].var);
        dst[0] = '\0';
        if ((!v || !v[0]) && vars[i].needed)
            return mrd_error_set(err, MRD_ERR_INVALID,
                                 "%s is not set: set AWS_ACCESS_KEY_ID and "
                                 "AWS_SECRET_ACCESS_KEY, or name a credentials file",
                                 vars[i].var);
        if (v && strlen(v) >= vars[i].cap)
            return mrd_error_set(err, MRD_ERR_INVALID, "%s is longer than %zu characters",
                                 vars[i].var, vars[i].cap - 1);
        if (v)
            memcpy(dst, v, strlen(v) + 1);
    }
    return MRD_OK;
}

mrd_rc s3_credentials_load(const char *file, s3_config *cfg, mrd_error *err)
{
    if (!file || !file[0]) {
        mrd_rc rc = env_credentials(cfg, err);
        if (rc != MRD_OK) {
            explicit_bzero(cfg->access_key, sizeof(cfg->access_key));
            explicit_bzero(cfg->secret_key, sizeof(cfg->secret_key));
            explicit_bzero(cfg->session_token, sizeof(cfg->session_token));
        }
        return rc;
    }
    char path[PATH_MAX];
    MRD_TRY(mrd_expand_home(file, path, sizeof(path), err));
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return mrd_error_set(err, MRD_ERR_IO, "cannot open the S3 credentials file %s: %s", path,
                             strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return mrd_error_set(err, MRD_ERR_IO, "the S3 credentials file %s is not a regular file",
                             path);
    }
    if (st.st_mode & 077) {
        close(fd);
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "the S3 credentials file %s is readable by others (mode %03o): "
                             "run `chmod 600 %s`",
                             path, (unsigned)(st.st_mode & 0777), path);
    }
    char *text = malloc(CREDENTIALS_MAX);
    if (!text) {
        close(fd);
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory reading %s", path);
    }
    size_t len = 0;
    mrd_rc rc = MRD_OK;
    for (;;) {
        ssize_t got = read(fd, text + len, CREDENTIALS_MAX - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = mrd_error_set(err, MRD_ERR_IO, "cannot read the S3 credentials file %s: %s",
                               path, strerror(errno));
            break;
        }
        if (got == 0)
            break;
        len += (size_t)got;
        if (len == CREDENTIALS_MAX) {
            rc = mrd_error_set(err, MRD_ERR_INVALID,
                               "the S3 credentials file %s is larger than %d bytes", path,
                               CREDENTIALS_MAX);
            break;
        }
    }
    close(fd);
    if (rc == MRD_OK)
        rc = s3_credentials_parse(text, len, path, cfg, err);
    explicit_bzero(text, CREDENTIALS_MAX);
    free(text);
    return rc;
}
