/* api_request.c - the agent API's request parser and router (see the
 * header).  Every byte is looked at with its length, never as a C string,
 * so a NUL anywhere is seen and refused instead of cutting a value short.
 *
 * The parser is stricter than libmicrohttpd's on purpose: whatever it
 * accepts, libmicrohttpd 0.9.75 accepts too, so libmicrohttpd never has to
 * answer an error itself (its own answers are HTML). */
#include "api_request.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#define API_STR_(x) #x
#define API_STR(x) API_STR_(x)

/* A request line longer than this cannot be valid (method, target, version
 * and three separators), so a partial one is refused as 414 right away. */
#define API_MAX_REQUEST_LINE (API_MAX_METHOD + 1 + API_MAX_TARGET + 1 + 8 + 1)

/* ==== VERDICTS ==== */

static void verdict_clear(api_verdict *v)
{
    memset(v, 0, sizeof(*v));
}

void api_verdict_refuse(api_verdict *v, unsigned status, const char *error)
{
    v->status = status;
    v->error = error;
}

static api_req_rc refuse(api_verdict *v, unsigned status, const char *error)
{
    api_verdict_refuse(v, status, error);
    return API_REQ_REFUSE;
}

const char *api_route_name(api_route r)
{
    switch (r) {
    case API_ROUTE_HEALTH:
        return "/v1/health";
    case API_ROUTE_NODES:
        return "/v1/nodes";
    case API_ROUTE_HEAL:
        return "/v1/heal";
    case API_ROUTE_METRICS:
        return "/metrics";
    case API_ROUTE_FENCE:
        return "/v1/fence";
    case API_ROUTE_HOLD:
        return "/v1/hold";
    case API_ROUTE_RESTART:
        return "/v1/restart";
    case API_ROUTE_SEED:
        return "/v1/seed";
    case API_ROUTE_NONE:
        break;
    }
    return "(no endpoint)";
}

const char *api_status_reason(unsigned status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 414:
        return "URI Too Long";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        break;
    }
    return "Error";
}

/* ==== CHARACTERS ==== */

/* RFC 9110 tchar: the characters of a method or a header name. */
static bool is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_token(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_tchar((unsigned char)s[i]))
            return false;
    return true;
}

/* A header value may hold tab, visible ASCII, space and bytes >= 0x80
 * (RFC 9110 field-vchar, obs-text); NUL, the other controls and DEL are
 * refused. */
static bool value_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

static bool ows(char c)
{
    return c == ' ' || c == '\t';
}

static bool name_is(const api_header *h, const char *name)
{
    size_t n = strlen(name);
    if (h->name_len != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char a = (unsigned char)h->name[i], b = (unsigned char)name[i];
        if (a >= 'A' && a <= 'Z')
            a = (unsigned char)(a - 'A' + 'a');
        if (b >= 'A' && b <= 'Z')
            b = (unsigned char)(b - 'A' + 'a');
        if (a != b)
            return false;
    }
    return true;
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* ==== RAW HEAD ==== */

/* "METHOD SP target SP HTTP/d.d", exactly single spaces. */
static api_req_rc parse_request_line(const char *line, size_t n, api_head *h,
                                     api_verdict *v)
{
    static const char malformed[] =
        "malformed request line: send \"METHOD /path HTTP/1.1\" with single spaces";
    const char *sp1 = memchr(line, ' ', n);
    if (!sp1)
        return refuse(v, 400, malformed);
    const char *target = sp1 + 1;
    const char *sp2 = memchr(target, ' ', n - (size_t)(target - line));
    if (!sp2 || sp2 == target)
        return refuse(v, 400, malformed);
    const char *version = sp2 + 1;
    size_t vlen = n - (size_t)(version - line);
    if ((size_t)(sp2 - target) > API_MAX_TARGET)
        return refuse(v, 414,
                      "the request target is longer than " API_STR(API_MAX_TARGET) " bytes");
    if (vlen != 8 || memcmp(version, "HTTP/", 5) != 0 || version[5] < '0' ||
        version[5] > '9' || version[6] != '.' || version[7] < '0' || version[7] > '9')
        return refuse(v, 400, malformed);
    if (version[5] != '1' || (version[7] != '0' && version[7] != '1'))
        return refuse(v, 505, "HTTP version not supported: use HTTP/1.1 or HTTP/1.0");
    h->in.method = line;
    h->in.method_len = (size_t)(sp1 - line);
    h->in.target = target;
    h->in.target_len = (size_t)(sp2 - target);
    return API_REQ_ACCEPT;
}

/* "name: value"; the value loses its surrounding spaces and tabs. */
static api_req_rc parse_header_line(const char *line, size_t n, api_head *h,
                                    api_verdict *v)
{
    if (ows(line[0]))
        return refuse(v, 400,
                      "a header line starts with a space or a tab (obsolete line "
                      "folding is not accepted)");
    const char *colon = memchr(line, ':', n);
    if (!colon)
        return refuse(v, 400, "a header line has no colon");
    if (h->in.n_headers == API_MAX_HEADERS)
        return refuse(v, 431, "the request has more than " API_STR(API_MAX_HEADERS) " headers");
    const char *val = colon + 1, *end = line + n;
    while (val < end && ows(*val))
        val++;
    while (end > val && ows(end[-1]))
        end--;
    api_header *hd = &h->headers[h->in.n_headers++];
    hd->name = line;
    hd->name_len = (size_t)(colon - line);
    hd->value = val;
    hd->value_len = (size_t)(end - val);
    return API_REQ_ACCEPT;
}

api_req_rc api_request_parse_head(const uint8_t *buf, size_t len, api_head *h,
                                  api_verdict *v)
{
    verdict_clear(v);
    memset(h, 0, sizeof(*h));
    h->in.headers = h->headers;
    const char *b = (const char *)buf;
    size_t limit = len < API_MAX_HEAD ? len : API_MAX_HEAD;
    size_t pos = 0;
    for (unsigned line_no = 0;; line_no++) {
        const char *lf = memchr(b + pos, '\n', limit - pos);
        if (!lf) {
            if (line_no == 0 && limit - pos > API_MAX_REQUEST_LINE)
                return refuse(v, 414,
                              "the request line is too long: the target may have at most "
                              API_STR(API_MAX_TARGET) " bytes");
            if (len > API_MAX_HEAD)
                return refuse(v, 431,
                              "the request head is larger than " API_STR(
                                  API_MAX_HEAD) " bytes");
            return API_REQ_INCOMPLETE;
        }
        const char *line = b + pos;
        size_t n = (size_t)(lf - line);
        if (n > 0 && line[n - 1] == '\r')
            n--;
        if (memchr(line, '\r', n))
            return refuse(v, 400, "the request head holds a CR that is not followed by LF");
        pos = (size_t)(lf - b) + 1;
        api_req_rc rc;
        if (line_no == 0) {
            rc = parse_request_line(line, n, h, v);
        } else if (n == 0) {
            h->head_len = pos;
            v->head_len = pos;
            return API_REQ_ACCEPT;
        } else {
            rc = parse_header_line(line, n, h, v);
        }
        if (rc != API_REQ_ACCEPT)
            return rc;
    }
}

/* ==== ROUTING ==== */

/* Validate TARGET and %-decode its path (up to '?') into PATH (at least
 * API_MAX_TARGET + 1 bytes, NUL-terminated).  The query is validated the
 * same way and otherwise ignored. */
static api_req_rc decode_target(const char *t, size_t n, char *path, size_t *path_len,
                                api_verdict *v)
{
    if (n == 0 || t[0] != '/')
        return refuse(v, 400, "the request target must be a path that starts with /");
    size_t out = 0;
    bool in_query = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c <= 0x20 || c >= 0x7f || c == '#')
            return refuse(v, 400,
                          "the request target holds a byte that is not allowed (a space, "
                          "a control or non-ASCII byte, or '#'): %-encode it");
        if (c == '?') {
            in_query = true;
        } else if (c == '%') {
            int hi = i + 2 < n ? hex_value((unsigned char)t[i + 1]) : -1;
            int lo = i + 2 < n ? hex_value((unsigned char)t[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return refuse(v, 400,
                              "the request target holds a malformed %-escape: use % and "
                              "two hex digits");
            c = (unsigned char)(hi * 16 + lo);
            if (c < 0x20 || c == 0x7f)
                return refuse(v, 400,
                              "the request target encodes a NUL or a control byte "
                              "(%00-%1F, %7F)");
            i += 2;
        }
        if (!in_query)
            path[out++] = (char)c;
    }
    path[out] = '\0';
    *path_len = out;
    return API_REQ_ACCEPT;
}

static api_route route_of(const char *path, size_t n)
{
    static const struct {
        const char *path;
        api_route route;
    } routes[] = {
        {"/v1/health", API_ROUTE_HEALTH},
        {"/v1/nodes", API_ROUTE_NODES},
        {"/v1/heal", API_ROUTE_HEAL},
        {"/metrics", API_ROUTE_METRICS},
        {"/v1/fence", API_ROUTE_FENCE},
        {"/v1/hold", API_ROUTE_HOLD},
        {"/v1/restart", API_ROUTE_RESTART},
        {"/v1/seed", API_ROUTE_SEED},
    };
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (strlen(routes[i].path) == n && memcmp(routes[i].path, path, n) == 0)
            return routes[i].route;
    return API_ROUTE_NONE;
}

/* A port as a query value: Q (N bytes) is 1 to 65535 without a leading
 * zero.  -1 when it is not. */
static int query_port(const char *q, size_t n)
{
    long p = 0;
    bool ok = n > 0 && n <= 5 && q[0] != '0';
    for (size_t i = 0; ok && i < n; i++) {
        ok = q[i] >= '0' && q[i] <= '9';
        p = p * 10 + (q[i] - '0');
    }
    return ok && p <= 65535 ? (int)p : -1;
}

/* POST /v1/restart's query, raw (TARGET, N bytes, as sent): exactly
 * "port=P" (1 to 65535, no leading zero) or "sentinel=1".  Sets
 * v->restart_port (0: the sentinel). */
static api_req_rc restart_query(const char *target, size_t n, api_verdict *v)
{
    const char *q = memchr(target, '?', n);
    size_t len = q ? n - (size_t)(q + 1 - target) : 0;
    static const char sentinel[] = "sentinel=1", port[] = "port=";
    if (q && len == sizeof(sentinel) - 1 && memcmp(q + 1, sentinel, len) == 0) {
        v->restart_port = 0;
        return API_REQ_ACCEPT;
    }
    size_t i = sizeof(port) - 1;
    int p = q && len > i && memcmp(q + 1, port, i) == 0 ? query_port(q + 1 + i, len - i) : -1;
    if (p < 0)
        return refuse(v, 400,
                      "POST /v1/restart needs ?port=P (the port of a store node of this "
                      "host) or ?sentinel=1");
    v->restart_port = p;
    return API_REQ_ACCEPT;
}

/* POST /v1/seed's query, raw: exactly "port=P" or "port=P&force=1".  Sets
 * v->restart_port and v->seed_force. */
static api_req_rc seed_query(const char *target, size_t n, api_verdict *v)
{
    const char *q = memchr(target, '?', n);
    size_t len = q ? n - (size_t)(q + 1 - target) : 0;
    static const char port[] = "port=", force[] = "&force=1";
    size_t i = sizeof(port) - 1, f = sizeof(force) - 1;
    v->seed_force = q && len > i + f && memcmp(q + 1 + len - f, force, f) == 0;
    size_t plen = len - (v->seed_force ? f : 0);
    int p = q && plen > i && memcmp(q + 1, port, i) == 0 ? query_port(q + 1 + i, plen - i) : -1;
    if (p < 0)
        return refuse(v, 400,
                      "POST /v1/seed needs ?port=P (the port of a store node of this host), "
                      "optionally &force=1");
    v->restart_port = p;
    return API_REQ_ACCEPT;
}

static bool method_is(const api_request_in *in, const char *m)
{
    return in->method_len == strlen(m) && memcmp(in->method, m, in->method_len) == 0;
}

/* Equal in time independent of the bytes of B (the expected token); the
 * lengths may leak, which the client knows for its own token anyway. */
static bool token_equal(const char *a, size_t la, const char *b, size_t lb)
{
    unsigned char diff = la != lb;
    for (size_t i = 0; i < la; i++)
        diff |= (unsigned char)a[i] ^ (unsigned char)(i < lb ? b[i] : 0);
    return diff == 0;
}

/* "Bearer <token>" (scheme case-insensitive, then spaces or tabs) with P's
 * token. */
static bool bearer_ok(const api_header *auth, const api_policy *p)
{
    static const char scheme[] = "bearer";
    const char *s = auth->value;
    size_t n = auth->value_len;
    if (n < sizeof(scheme) || !ows(s[sizeof(scheme) - 1]))
        return false;
    for (size_t i = 0; i < sizeof(scheme) - 1; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != scheme[i])
            return false;
    }
    size_t i = sizeof(scheme) - 1;
    while (i < n && ows(s[i]))
        i++;
    /* Trailing spaces: libmicrohttpd does not trim them, the raw parser does. */
    while (n > i && ows(s[n - 1]))
        n--;
    return token_equal(s + i, n - i, p->token, strlen(p->token));
}

static bool needs_token(const api_policy *p, api_route r)
{
    switch (r) {
    case API_ROUTE_HEALTH:
        return false;
    case API_ROUTE_METRICS:
        return !p->metrics_open;
    case API_ROUTE_NODES:
    case API_ROUTE_HEAL:
    case API_ROUTE_FENCE:
    case API_ROUTE_HOLD:
    case API_ROUTE_RESTART:
    case API_ROUTE_SEED:
    case API_ROUTE_NONE:
        break;
    }
    return true;
}

/* The endpoints that act take POST (and may carry a JSON object); the
 * others GET or HEAD, without a body. */
static bool route_is_post(api_route r)
{
    return r == API_ROUTE_HEAL || r == API_ROUTE_HOLD || r == API_ROUTE_RESTART ||
           r == API_ROUTE_SEED;
}

/* Decimal digits only; a value past UINT64_MAX saturates (it is refused
 * as too large later, like any value over API_MAX_BODY). */
static bool parse_length(const char *s, size_t n, uint64_t *out)
{
    while (n > 0 && ows(s[n - 1]))
        n--;
    if (n == 0)
        return false;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned d = (unsigned)(s[i] - '0');
        x = x > (UINT64_MAX - d) / 10 ? UINT64_MAX : x * 10 + d;
    }
    *out = x;
    return true;
}

/* The headers that frame or authorize a request may appear once. */
enum { ONCE_LENGTH, ONCE_ENCODING, ONCE_AUTH, ONCE_HOST, ONCE_N };

static const struct {
    const char *name;  /* lowercase */
    const char *twice; /* the refusal when it comes twice */
} once[ONCE_N] = {
    [ONCE_LENGTH] = {"content-length", "the request has more than one Content-Length header"},
    [ONCE_ENCODING] = {"transfer-encoding",
                       "the request has more than one Transfer-Encoding header"},
    [ONCE_AUTH] = {"authorization", "the request has more than one Authorization header"},
    [ONCE_HOST] = {"host", "the request has more than one Host header"},
};

/* Check every header's bytes; SEEN[k] is the one header named once[k]. */
static api_req_rc check_headers(const api_request_in *in, const api_header *seen[ONCE_N],
                                api_verdict *v)
{
    for (int k = 0; k < ONCE_N; k++)
        seen[k] = NULL;
    if (in->n_headers > API_MAX_HEADERS)
        return refuse(v, 431, "the request has more than " API_STR(API_MAX_HEADERS) " headers");
    for (size_t i = 0; i < in->n_headers; i++) {
        const api_header *h = &in->headers[i];
        if (!is_token(h->name, h->name_len))
            return refuse(v, 400, "a header name is empty or holds a byte that is not allowed");
        if (!value_ok(h->value, h->value_len))
            return refuse(v, 400, "a header value holds a NUL or a control byte");
        for (int k = 0; k < ONCE_N; k++) {
            if (!name_is(h, once[k].name))
                continue;
            if (seen[k])
                return refuse(v, 400, once[k].twice);
            seen[k] = h;
        }
    }
    if (seen[ONCE_LENGTH] && seen[ONCE_ENCODING])
        return refuse(v, 400,
                      "the request has both Content-Length and Transfer-Encoding: send "
                      "only Content-Length");
    return API_REQ_ACCEPT;
}

api_req_rc api_request_check_head(const api_request_in *in, const api_policy *p,
                                  api_verdict *v)
{
    verdict_clear(v);
    if (in->method_len > API_MAX_METHOD || !is_token(in->method, in->method_len))
        return refuse(v, 400, "the method is not a valid HTTP method name");
    if (in->target_len > API_MAX_TARGET)
        return refuse(v, 414,
                      "the request target is longer than " API_STR(API_MAX_TARGET) " bytes");
    const api_header *seen[ONCE_N];
    if (check_headers(in, seen, v) != API_REQ_ACCEPT)
        return API_REQ_REFUSE;
    const api_header *length = seen[ONCE_LENGTH], *encoding = seen[ONCE_ENCODING];
    uint64_t declared = 0;
    if (length && !parse_length(length->value, length->value_len, &declared))
        return refuse(v, 400, "the Content-Length header is not a decimal number of bytes");
    char path[API_MAX_TARGET + 1];
    size_t path_len = 0;
    if (decode_target(in->target, in->target_len, path, &path_len, v) != API_REQ_ACCEPT)
        return API_REQ_REFUSE;

    v->route = route_of(path, path_len);
    v->head_method = method_is(in, "HEAD");
    v->body_len = declared;
    if (v->route == API_ROUTE_NONE)
        return refuse(v, 404, "no such endpoint");
    bool post = route_is_post(v->route);
    if (post ? !method_is(in, "POST") : !(method_is(in, "GET") || v->head_method)) {
        v->allow = post ? "POST" : "GET, HEAD";
        return refuse(v, 405, "method not allowed on this endpoint");
    }
    v->authorized = seen[ONCE_AUTH] && bearer_ok(seen[ONCE_AUTH], p);
    if (needs_token(p, v->route) && !v->authorized) {
        v->challenge = true;
        return refuse(v, 401,
                      "this endpoint needs \"Authorization: Bearer <token>\" with the "
                      "agent's API token");
    }
    if (v->route == API_ROUTE_RESTART &&
        restart_query(in->target, in->target_len, v) != API_REQ_ACCEPT)
        return API_REQ_REFUSE;
    if (v->route == API_ROUTE_SEED && seed_query(in->target, in->target_len, v) != API_REQ_ACCEPT)
        return API_REQ_REFUSE;
    if (!post && (declared > 0 || encoding))
        return refuse(v, 400, "a GET request must not carry a body");
    if (encoding)
        return refuse(v, 411,
                      "send the body with a Content-Length header: chunked uploads are "
                      "not accepted");
    if (declared > API_MAX_BODY)
        return refuse(v, 400,
                      "the request body is larger than " API_STR(API_MAX_BODY) " bytes");
    return API_REQ_ACCEPT;
}

/* ==== BODY ==== */

api_req_rc api_request_check_body(const api_verdict *head, const uint8_t *body, size_t len,
                                  api_verdict *v)
{
    if (v != head)
        *v = *head;
    if (len > API_MAX_BODY)
        return refuse(v, 400,
                      "the request body is larger than " API_STR(API_MAX_BODY) " bytes");
    if (!route_is_post(v->route))
        return len > 0 ? refuse(v, 400, "a GET request must not carry a body")
                       : API_REQ_ACCEPT;
    if (len == 0)
        return API_REQ_ACCEPT;
    /* Refused before jansson sees it: the answer says what is wrong, and
     * does not depend on how a jansson version reads a NUL (2.14 reports
     * "end of file expected"). */
    if (memchr(body, '\0', len))
        return refuse(v, 400, "the request body holds a NUL byte");
    json_error_t jerr;
    json_t *j = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);
    bool is_object = json_is_object(j);
    json_decref(j);
    if (!is_object)
        return refuse(v, 400, "the request body must be empty or a JSON object");
    return API_REQ_ACCEPT;
}

api_req_rc api_request_parse_raw(const uint8_t *buf, size_t len, const api_policy *p,
                                 api_verdict *v)
{
    api_head h;
    api_req_rc rc = api_request_parse_head(buf, len, &h, v);
    if (rc != API_REQ_ACCEPT)
        return rc;
    rc = api_request_check_head(&h.in, p, v);
    v->head_len = h.head_len;
    if (rc != API_REQ_ACCEPT)
        return rc;
    if (len - h.head_len < v->body_len)
        return API_REQ_INCOMPLETE;
    return api_request_check_body(v, buf + h.head_len, (size_t)v->body_len, v);
}

/* ==== TLS ==== */

#define TLS_CONTENT_HANDSHAKE 22
#define TLS_HANDSHAKE_CLIENT_HELLO 1
#define TLS_HANDSHAKE_HEADER 4 /* message type and a 24-bit length */

api_req_rc api_request_parse_hello(const uint8_t *buf, size_t len, api_verdict *v)
{
    verdict_clear(v);
    /* byte 0: content type; 1-2: legacy record version (3.1 for a first
     * ClientHello, 3.3 from some clients; 3.0-3.4 are let through, TLS
     * versions themselves are the library's business); 3-4: length;
     * 5: the first handshake message's type */
    if (len >= 1 && buf[0] != TLS_CONTENT_HANDSHAKE)
        return refuse(v, 400,
                      buf[0] >= 'A' && buf[0] <= 'Z'
                          ? "plain HTTP to the HTTPS port: the agent API serves HTTPS only"
                          : "not a TLS handshake: the agent API serves HTTPS only");
    if (len >= 3 && (buf[1] != 3 || buf[2] > 4))
        return refuse(v, 400, "not a TLS handshake: unknown record version");
    if (len < API_TLS_RECORD_HEADER)
        return API_REQ_INCOMPLETE;
    size_t body = (size_t)buf[3] << 8 | buf[4];
    if (body < TLS_HANDSHAKE_HEADER || body > API_TLS_RECORD_MAX - API_TLS_RECORD_HEADER)
        return refuse(v, 400, "not a TLS handshake: bad record length");
    if (len > API_TLS_RECORD_HEADER && buf[API_TLS_RECORD_HEADER] != TLS_HANDSHAKE_CLIENT_HELLO)
        return refuse(v, 400, "a TLS handshake that does not start with a ClientHello");
    if (len < API_TLS_RECORD_HEADER + body)
        return API_REQ_INCOMPLETE;
    v->head_len = API_TLS_RECORD_HEADER + body;
    return API_REQ_ACCEPT;
}

/* ==== ANSWERS ==== */

/* Append S as a JSON string body, escaped as jansson does. */
static size_t json_escape(const char *s, char *out, size_t n)
{
    size_t o = 0;
    for (; *s; s++) {
        char esc[8];
        size_t k;
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            k = 2;
        } else if (c < 0x20) {
            k = (size_t)snprintf(esc, sizeof(esc), "\\u%04x", c);
        } else {
            esc[0] = (char)c;
            k = 1;
        }
        if (o + k >= n)
            return 0;
        memcpy(out + o, esc, k);
        o += k;
    }
    out[o] = '\0';
    return o;
}

size_t api_request_render_refusal(const api_verdict *v, char *buf, size_t n)
{
    char msg[512], body[600];
    if (!json_escape(v->error ? v->error : "error", msg, sizeof(msg)))
        return 0;
    int blen = snprintf(body, sizeof(body), "{\"error\":\"%s\"}\n", msg);
    if (blen < 0 || (size_t)blen >= sizeof(body))
        return 0;
    char extra[128] = "";
    if (v->allow)
        snprintf(extra, sizeof(extra), "Allow: %s\r\n", v->allow);
    else if (v->challenge)
        snprintf(extra, sizeof(extra), "WWW-Authenticate: Bearer realm=\"meridian\"\r\n");
    else if (v->retry)
        snprintf(extra, sizeof(extra), "Retry-After: 1\r\n");
    int w = snprintf(buf, n,
                     "HTTP/1.1 %u %s\r\n"
                     "Content-Type: application/json\r\n"
                     "Cache-Control: no-store\r\n"
                     "Content-Length: %d\r\n"
                     "Connection: close\r\n"
                     "%s"
                     "\r\n"
                     "%s",
                     v->status, api_status_reason(v->status), blen, extra,
                     v->head_method ? "" : body);
    if (w < 0 || (size_t)w >= n)
        return 0;
    return (size_t)w;
}
