/* fuzz_api_request.c - the agent API's request parser (agent/api_request.c)
 * on any bytes a client could send.
 *
 * api_request_parse_raw() takes the raw bytes of a connection (a head and
 * its body) and returns a verdict.  Each input is judged under two
 * policies, /metrics protected and open, which may differ only where the
 * protected one answers 401 for /metrics.  Checked against api_request.h:
 *   - ACCEPT: no status, no error, a route, a head and declared body that
 *     fit in the bytes, a token presented for every protected route; and
 *     every shorter prefix of those bytes is INCOMPLETE (never refused);
 *   - REFUSE: a status among those the header lists, a static error text,
 *     Allow exactly on 405 and a challenge only on 401, and an answer that
 *     api_request_render_refusal() writes into 1024 bytes with that status
 *     line and a Content-Length equal to its body;
 *   - INCOMPLETE: nothing decided (no status, no error).
 * The same bytes go to api_request_parse_hello() (the front door with TLS
 * on): ACCEPT only for a handshake record that fits in them, every
 * shorter prefix of it INCOMPLETE; REFUSE with 400 and a text. */
#define _GNU_SOURCE /* memmem */
#include "fuzz.h"

#include <stdbool.h>

#include "api_request.h"

static bool known_status(unsigned s)
{
    static const unsigned known[] = {400, 401, 404, 405, 411, 414, 431, 505};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (s == known[i])
            return true;
    return false;
}

static void check_refusal(const api_verdict *v)
{
    FUZZ_CHECK(known_status(v->status));
    FUZZ_CHECK(v->error != NULL && v->error[0] != '\0');
    FUZZ_CHECK((v->allow != NULL) == (v->status == 405));
    if (v->challenge)
        FUZZ_CHECK(v->status == 401);
    char buf[1024];
    size_t n = api_request_render_refusal(v, buf, sizeof(buf));
    FUZZ_CHECK(n > 0 && n <= sizeof(buf));
    char line[32];
    int w = snprintf(line, sizeof(line), "HTTP/1.1 %u ", v->status);
    FUZZ_CHECK(w > 0 && (size_t)w <= n && memcmp(buf, line, (size_t)w) == 0);
    const char *sep = memmem(buf, n, "\r\n\r\n", 4);
    FUZZ_CHECK(sep != NULL);
    const char *cl = memmem(buf, (size_t)(sep - buf), "Content-Length: ", 16);
    FUZZ_CHECK(cl != NULL);
    size_t body = (size_t)(buf + n - (sep + 4));
    if (v->head_method)
        FUZZ_CHECK(body == 0); /* Content-Length tells what GET would get */
    else
        FUZZ_CHECK(strtoul(cl + 16, NULL, 10) == body);
}

static api_req_rc judge(const uint8_t *data, size_t size, bool metrics_open, api_verdict *v)
{
    static const char token[] = "t0ken";
    const api_policy p = {.token = token, .metrics_open = metrics_open};
    memset(v, 0xA5, sizeof(*v)); /* the parser starts from a clear verdict */
    api_req_rc rc = api_request_parse_raw(data, size, &p, v);
    FUZZ_CHECK(rc == API_REQ_ACCEPT || rc == API_REQ_REFUSE || rc == API_REQ_INCOMPLETE);
    switch (rc) {
    case API_REQ_ACCEPT:
        FUZZ_CHECK(v->status == 0 && v->error == NULL && v->allow == NULL);
        FUZZ_CHECK(v->route == API_ROUTE_HEALTH || v->route == API_ROUTE_NODES ||
                   v->route == API_ROUTE_HEAL || v->route == API_ROUTE_METRICS ||
                   v->route == API_ROUTE_FENCE || v->route == API_ROUTE_HOLD ||
                   v->route == API_ROUTE_RESTART || v->route == API_ROUTE_SEED);
        FUZZ_CHECK(v->head_len > 0 && v->head_len <= size);
        FUZZ_CHECK(v->body_len <= size - v->head_len);
        if (v->route == API_ROUTE_NODES || v->route == API_ROUTE_HEAL ||
            v->route == API_ROUTE_FENCE || v->route == API_ROUTE_HOLD ||
            v->route == API_ROUTE_RESTART || v->route == API_ROUTE_SEED ||
            (v->route == API_ROUTE_METRICS && !metrics_open))
            FUZZ_CHECK(v->authorized);
        if (v->route == API_ROUTE_RESTART)
            FUZZ_CHECK(v->restart_port >= 0 && v->restart_port <= 65535);
        if (v->route == API_ROUTE_SEED)
            FUZZ_CHECK(v->restart_port >= 1 && v->restart_port <= 65535);
        break;
    case API_REQ_REFUSE:
        check_refusal(v);
        break;
    case API_REQ_INCOMPLETE:
        FUZZ_CHECK(v->status == 0 && v->error == NULL);
        break;
    }
    return rc;
}

static void judge_hello(const uint8_t *data, size_t size)
{
    api_verdict v;
    memset(&v, 0xA5, sizeof(v));
    api_req_rc rc = api_request_parse_hello(data, size, &v);
    if (rc == API_REQ_REFUSE) {
        FUZZ_CHECK(v.status == 400 && v.error != NULL && v.error[0] != '\0');
        return;
    }
    FUZZ_CHECK(v.status == 0 && v.error == NULL && v.route == API_ROUTE_NONE);
    if (rc == API_REQ_INCOMPLETE)
        return;
    FUZZ_CHECK(rc == API_REQ_ACCEPT && data[0] == 22 && data[5] == 1);
    FUZZ_CHECK(v.head_len > API_TLS_RECORD_HEADER && v.head_len <= size &&
               v.head_len <= API_TLS_RECORD_MAX);
    size_t k = data[1] % v.head_len; /* a prefix, in an exact-size copy */
    uint8_t *prefix = malloc(k ? k : 1);
    FUZZ_CHECK(prefix != NULL);
    memcpy(prefix, data, k);
    FUZZ_CHECK(api_request_parse_hello(prefix, k, &v) == API_REQ_INCOMPLETE);
    free(prefix);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    judge_hello(data, size);
    api_verdict closed, open;
    api_req_rc rc = judge(data, size, false, &closed);
    api_req_rc rc_open = judge(data, size, true, &open);
    /* Opening /metrics changes only the token check of /metrics: where the
     * closed policy asked for a token, the open one goes on to the checks
     * after it (which may still refuse, e.g. a GET with a body). */
    if (rc != rc_open || closed.status != open.status)
        FUZZ_CHECK(closed.route == API_ROUTE_METRICS && rc == API_REQ_REFUSE &&
                   closed.status == 401 && open.status != 401);

    if (rc == API_REQ_ACCEPT) {
        /* a prefix of an accepted request is still arriving, never refused;
         * an exact-size copy, so a read past it is an ASan report */
        size_t whole = closed.head_len + (size_t)closed.body_len;
        size_t k = whole > 1 ? data[0] % whole : 0;
        uint8_t *prefix = malloc(k ? k : 1);
        FUZZ_CHECK(prefix != NULL);
        memcpy(prefix, data, k);
        api_verdict pv;
        FUZZ_CHECK(judge(prefix, k, false, &pv) == API_REQ_INCOMPLETE);
        free(prefix);
    }
    return 0;
}
