/* test_api.c - the agent's HTTP API (agent/api.c) and event sink
 * (agent/events.c), end to end on 127.0.0.1.
 *
 * Each API test starts a real api_server with stub handlers on the first
 * free port from TEST_PORT_BASE and talks to it with libcurl.  The event
 * tests use a second, tiny libmicrohttpd server as the webhook receiver, a
 * closed port (127.0.0.1:1) as a dead webhook, and a socket that listens
 * but never accepts as a webhook that hangs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <microhttpd.h>

#include "api.h"
#include "events.h"
#include "log.h"

#define TEST_PORT_BASE 18500
#define TEST_PORT_TRIES 500
#define TOKEN "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* ==== STUB HANDLERS ==== */

typedef struct stub {
    atomic_bool ready;
    atomic_int heal_status;   /* what heal() reports */
    atomic_int heal_sleep_ms; /* how long heal() takes */
    atomic_int heal_calls;
    atomic_bool heal_running;
} stub;

static json_t *stub_health(void *ctx, bool *ready)
{
    stub *s = ctx;
    *ready = atomic_load(&s->ready);
    return json_pack("{s:b}", "ready", *ready);
}

static json_t *stub_nodes(void *ctx)
{
    (void)ctx;
    return json_pack("{s:[{s:s,s:s}]}", "nodes", "name", "use-a1/redis", "role", "leader");
}

static json_t *stub_heal(void *ctx, int *http_status)
{
    stub *s = ctx;
    atomic_fetch_add(&s->heal_calls, 1);
    atomic_store(&s->heal_running, true);
    int ms = atomic_load(&s->heal_sleep_ms);
    if (ms > 0)
        mrd_sleep_ms(ms);
    atomic_store(&s->heal_running, false);
    *http_status = atomic_load(&s->heal_status);
    return json_pack("{s:s}", "result", "healed");
}

static char *stub_metrics(void *ctx)
{
    (void)ctx;
    return strdup("# TYPE meridian_up gauge\nmeridian_up 1\n");
}

static void stub_init(stub *s)
{
    atomic_init(&s->ready, true);
    atomic_init(&s->heal_status, 200);
    atomic_init(&s->heal_sleep_ms, 0);
    atomic_init(&s->heal_calls, 0);
    atomic_init(&s->heal_running, false);
}

/* Start an api_server on the first port that is free. */
static api_server *start_api(stub *s, bool metrics_open, int *port)
{
    api_handlers h = {.ctx = s,
                      .health = stub_health,
                      .nodes = stub_nodes,
                      .heal = stub_heal,
                      .metrics = stub_metrics};
    *port = 0;
    for (int p = TEST_PORT_BASE; p < TEST_PORT_BASE + TEST_PORT_TRIES; p++) {
        api_server *srv = NULL;
        mrd_error err;
        mrd_error_clear(&err);
        if (api_start("127.0.0.1", p, TOKEN, metrics_open, &h, &srv, &err) == MRD_OK) {
            *port = p;
            return srv;
        }
    }
    fail_msg("no free port for the API server");
    return NULL;
}

/* ==== HTTP CLIENT ==== */

typedef struct reply {
    long status;
    char body[16384];
    size_t len;
    char allow[128];
    char www_auth[128];
    char ctype[128];
    long long ms; /* wall time of the request */
} reply;

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    reply *r = ud;
    size_t n = size * nmemb;
    size_t room = sizeof(r->body) - 1 - r->len;
    size_t take = n < room ? n : room;
    memcpy(r->body + r->len, p, take);
    r->len += take;
    r->body[r->len] = '\0';
    return n;
}

static void keep_header(char *dst, size_t dn, const char *line, size_t n, const char *name)
{
    size_t nl = strlen(name);
    if (n <= nl || strncasecmp(line, name, nl) != 0)
        return;
    line += nl;
    n -= nl;
    while (n > 0 && *line == ' ') {
        line++;
        n--;
    }
    while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == '\n'))
        n--;
    if (n >= dn)
        n = dn - 1;
    memcpy(dst, line, n);
    dst[n] = '\0';
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    reply *r = ud;
    size_t n = size * nmemb;
    keep_header(r->allow, sizeof(r->allow), p, n, "Allow:");
    keep_header(r->www_auth, sizeof(r->www_auth), p, n, "WWW-Authenticate:");
    keep_header(r->ctype, sizeof(r->ctype), p, n, "Content-Type:");
    return n;
}

/* A chunked upload of LEFT bytes of 'x'. */
typedef struct chunked_src {
    size_t left;
} chunked_src;

static size_t on_read(char *buf, size_t size, size_t nitems, void *ud)
{
    chunked_src *src = ud;
    size_t n = size * nitems;
    if (n > src->left)
        n = src->left;
    if (n > 1000)
        n = 1000;
    memset(buf, 'x', n);
    src->left -= n;
    return n;
}

typedef struct req {
    const char *method;
    const char *path;
    const char *auth; /* full Authorization header value, or NULL */
    const char *body; /* NULL: none */
    size_t body_len;
    bool no_expect;       /* send the body without waiting for 100 Continue */
    size_t chunked_bytes; /* > 0: chunked upload of that many bytes */
} req;

/* Safe from any thread: reports a transport failure instead of failing. */
static CURLcode http_raw(int port, const req *q, reply *r)
{
    memset(r, 0, sizeof(*r));
    CURL *e = curl_easy_init();
    assert_non_null(e);
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, q->path);
    struct curl_slist *hdr = NULL;
    char auth[512];
    if (q->auth) {
        snprintf(auth, sizeof(auth), "Authorization: %s", q->auth);
        hdr = curl_slist_append(hdr, auth);
    }
    if (q->no_expect)
        hdr = curl_slist_append(hdr, "Expect:");
    chunked_src src = {q->chunked_bytes};
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    if (q->chunked_bytes) {
        hdr = curl_slist_append(hdr, "Transfer-Encoding: chunked");
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(e, CURLOPT_READDATA, &src);
    } else if (q->body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, q->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)q->body_len);
    }
    if (strcmp(q->method, "POST") == 0 && !q->body && !q->chunked_bytes) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
    }
    if (strcmp(q->method, "GET") != 0 && strcmp(q->method, "POST") != 0)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, q->method);
    else if (strcmp(q->method, "GET") == 0 && (q->body || q->chunked_bytes))
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "GET");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdr);

    long long t0 = mrd_now_ms();
    CURLcode rc = curl_easy_perform(e);
    r->ms = mrd_now_ms() - t0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(e);
    return rc;
}

static void http(int port, const req *q, reply *r)
{
    CURLcode rc = http_raw(port, q, r);
    if (rc != CURLE_OK)
        fail_msg("%s %s: %s", q->method, q->path, curl_easy_strerror(rc));
}

static void get(int port, const char *path, const char *auth, reply *r)
{
    req q = {.method = "GET", .path = path, .auth = auth};
    http(port, &q, r);
}

static void post(int port, const char *path, const char *auth, const char *body,
                 reply *r)
{
    req q = {.method = "POST",
             .path = path,
             .auth = auth,
             .body = body,
             .body_len = body ? strlen(body) : 0};
    http(port, &q, r);
}

/* The body is a JSON object; returns it (new). */
static json_t *json_body(const reply *r)
{
    json_error_t jerr;
    json_t *j = json_loadb(r->body, r->len, 0, &jerr);
    if (!json_is_object(j))
        fail_msg("not a JSON object: %s", r->body);
    return j;
}

static void assert_error_body(const reply *r)
{
    json_t *j = json_body(r);
    assert_true(json_is_string(json_object_get(j, "error")));
    assert_true(strlen(json_string_value(json_object_get(j, "error"))) > 0);
    json_decref(j);
    assert_string_equal(r->ctype, "application/json");
}

#define BEARER "Bearer " TOKEN

/* ==== API TESTS ==== */

static void test_health_open(void **state)
{
    (void)state;
    stub s;
    stub_init(&s);
    int port;
    api_server *srv = start_api(&s, false, &port);
    reply r;

    get(port, "/v1/health", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ctype, "application/json");
    json_t *j = json_body(&r);
    assert_true(json_is_true(json_object_get(j, "ready")));
    json_decref(j);

    atomic_store(&s.ready, false);
    get(port, "/v1/health", NULL, &r);
    assert_int_equal(r.status, 503);
    j = json_body(&r);
    assert_true(json_is_false(json_object_get(j, "ready")));
    json_decref(j);

    /* A query string does not change the route. */
    get(port, "/v1/health?verbose=1", NULL, &r);
    assert_int_equal(r.status, 503);

    api_stop(&srv);
    assert_null(srv);
}

static void check_protected(int port, const char *method, const char *path,
                            const char *want_in_body)
{
    static const char *const wrong[] = {
        NULL,                      /* no header */
        "Bearer nope",             /* wrong token */
        "Bearer " TOKEN "x",       /* token plus one */
        "Bearer 0123456789abcdef", /* a prefix of the token */
        "Bearer ",                 /* empty token */
        "Basic " TOKEN,            /* wrong scheme */
        TOKEN,                     /* no scheme */
    };
    reply r;
    for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
        req q = {.method = method, .path = path, .auth = wrong[i]};
        http(port, &q, &r);
        if (r.status != 401)
            fail_msg("%s %s with auth #%zu: status %ld, want 401", method, path, i,
                     r.status);
        assert_error_body(&r);
        assert_true(strncmp(r.www_auth, "Bearer", 6) == 0);
    }
    const char *right[] = {BEARER, "bearer " TOKEN, "Bearer   " TOKEN};
    for (size_t i = 0; i < sizeof(right) / sizeof(right[0]); i++) {
        req q = {.method = method, .path = path, .auth = right[i]};
        http(port, &q, &r);
        if (r.status != 200)
            fail_msg("%s %s with good auth #%zu: status %ld", method, path, i, r.status);
        assert_non_null(strstr(r.body, want_in_body));
    }
}

static void test_auth(void **state)
{
    (void)state;
    stub s;
    stub_init(&s);
    int port;
    api_server *srv = start_api(&s, false, &port);

    check_protected(port, "GET", "/v1/nodes", "use-a1/redis");
    check_protected(port, "POST", "/v1/heal", "healed");
    check_protected(port, "GET", "/metrics", "meridian_up 1");
    /* Refused requests never reached the heal handler. */
    assert_int_equal(atomic_load(&s.heal_calls), 3);

    reply r;
    get(port, "/metrics", BEARER, &r);
    assert_string_equal(r.ctype, "text/plain; version=0.0.4; charset=utf-8");
    get(port, "/v1/nodes", BEARER, &r);
    assert_string_equal(r.ctype, "application/json");

    api_stop(&srv);
}

static void test_metrics_open(void **state)
{
    (void)state;
    stub s;
    stub_init(&s);
    int port;
    api_server *srv = start_api(&s, true, &port);
    reply r;
    get(port, "/metrics", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "meridian_up 1"));
    /* Only /metrics is opened. */
    get(port, "/v1/nodes", NULL, &r);
    assert_int_equal(r.status, 401);
    api_stop(&srv);
}

static void test_heal_bodies(void **state)
{
    (void)state;
    stub s;
    stub_init(&s);
    int port;
    api_server *srv = start_api(&s, false, &port);
    reply r;

    post(port, "/v1/heal", BEARER, "not json", &r);
    assert_int_equal(r.status, 400);
    assert_error_body(&r);
    post(port, "/v1/heal", BEARER, "[]", &r);
    assert_int_equal(r.status, 400);
    assert_error_body(&r);
    post(port, "/v1/heal", BEARER, "{\"a\":1,\"a\":2}", &r);
    assert_int_equal(r.status, 400);

    /* 10 KB: once with "Expect: 100-continue" (curl's default for a body
     * this size), once sent straight away, once chunked (no length). */
    static char big[10 * 1024 + 1];
    memset(big, ' ', sizeof(big) - 1);
    big[0] = '{';
    big[sizeof(big) - 2] = '}';
    post(port, "/v1/heal", BEARER, big, &r);
    assert_int_equal(r.status, 400);
    assert_error_body(&r);
    req q = {.method = "POST",
             .path = "/v1/heal",
             .auth = BEARER,
             .body = big,
             .body_len = strlen(big),
             .no_expect = true};
    http(port, &q, &r);
    assert_int_equal(r.status, 400);
    assert_error_body(&r);
    req qc = {.method = "POST", .path = "/v1/heal", .auth = BEARER, .chunked_bytes = 10240};
    http(port, &qc, &r);
    assert_int_equal(r.status, 400);
    assert_error_body(&r);
    /* Exactly the limit is accepted (and then parsed). */
    static char edge[API_MAX_BODY + 1];
    memset(edge, ' ', API_MAX_BODY);
    edge[0] = '{';
    edge[API_MAX_BODY - 1] = '}';
    post(port, "/v1/heal", BEARER, edge, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(atomic_load(&s.heal_calls), 1);

    post(port, "/v1/heal", BEARER, "{}", &r);
    assert_int_equal(r.status, 200);
    json_t *j = json_body(&r);
    assert_string_equal(json_string_value(json_object_get(j, "result")), "healed");
    json_decref(j);
    post(port, "/v1/heal", BEARER, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(atomic_load(&s.heal_calls), 3);

    atomic_store(&s.heal_status, 409);
    post(port, "/v1/heal", BEARER, "{}", &r);
    assert_int_equal(r.status, 409);
    assert_string_equal(r.ctype, "application/json");

    api_stop(&srv);
}

static void test_routing(void **state)
{
    (void)state;
    stub s;
    stub_init(&s);
    int port;
    api_server *srv = start_api(&s, false, &port);
    reply r;

    get(port, "/nope", NULL, &r);
    assert_int_equal(r.status, 404);
    assert_error_body(&r);
    get(port, "/nope", BEARER, &r);
    assert_int_equal(r.status, 404);
    get(port, "/v1/health/", NULL, &r);
    assert_int_equal(r.status, 404);

    req q = {.method = "DELETE", .path = "/v1/health"};
    http(port, &q, &r);
    assert_int_equal(r.status, 405);
    assert_error_body(&r);
    assert_non_null(strstr(r.allow, "GET"));

    get(port, "/v1/heal", BEARER, &r);
    assert_int_equal(r.status, 405);
    assert_string_equal(r.allow, "POST");
    post(port, "/v1/nodes", BEARER, "{}", &r);
    assert_int_equal(r.status, 405);

    /* A GET with a body is malformed. */
    req qb = {.method = "GET", .path = "/v1/nodes", .auth = BEARER, .body = "{}",
              .body_len = 2};
    http(port, &qb, &r);
    assert_int_equal(r.status, 400);
    assert_error_body(&r);
    req qh = {.method = "GET", .path = "/v1/health", .body = "x", .body_len = 1};
    http(port, &qh, &r);
    assert_int_equal(r.status, 400);

    api_stop(&srv);
}

typedef struct heal_call {
    int port;
    CURLcode rc;
    reply r;
} heal_call;

static void *heal_thread(void *arg)
{
    heal_call *hc = arg;
    req q = {.method = "POST", .path = "/v1/heal", .auth = BEARER, .body = "{}",
             .body_len = 2};
    hc->rc = http_raw(hc->port, &q, &hc->r);
    return NULL;
}

static void test_slow_heal_does_not_block_health(void **state)
{
    (void)state;
    stub s;
    stub_init(&s);
    atomic_store(&s.heal_sleep_ms, 1000);
    int port;
    api_server *srv = start_api(&s, false, &port);

    heal_call hc = {.port = port};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, heal_thread, &hc), 0);
    long long until = mrd_now_ms() + 2000;
    while (!atomic_load(&s.heal_running) && mrd_now_ms() < until)
        mrd_sleep_ms(5);
    assert_true(atomic_load(&s.heal_running));

    reply r;
    get(port, "/v1/health", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_true(atomic_load(&s.heal_running)); /* the heal was still going */
    if (r.ms >= 200)
        fail_msg("/v1/health took %lld ms during a heal", r.ms);

    pthread_join(t, NULL);
    assert_int_equal(hc.rc, CURLE_OK);
    assert_int_equal(hc.r.status, 200);
    assert_true(hc.r.ms >= 900);

    /* api_stop waits for a running handler. */
    assert_int_equal(pthread_create(&t, NULL, heal_thread, &hc), 0);
    until = mrd_now_ms() + 2000;
    while (atomic_load(&s.heal_calls) < 2 && mrd_now_ms() < until)
        mrd_sleep_ms(5);
    api_stop(&srv);
    assert_false(atomic_load(&s.heal_running));
    pthread_join(t, NULL);
}

static void test_start_errors(void **state)
{
    (void)state;
    stub s;
    stub_init(&s);
    int port;
    api_server *srv = start_api(&s, false, &port);
    api_handlers h = {.ctx = &s,
                      .health = stub_health,
                      .nodes = stub_nodes,
                      .heal = stub_heal,
                      .metrics = stub_metrics};
    api_server *two = NULL;
    mrd_error err;
    mrd_error_clear(&err);
    assert_int_equal(api_start("127.0.0.1", port, TOKEN, false, &h, &two, &err), MRD_ERR_IO);
    assert_null(two);
    char where[64];
    snprintf(where, sizeof(where), "127.0.0.1:%d", port);
    if (!strstr(err.msg, where))
        fail_msg("message does not name %s: %s", where, err.msg);
    assert_null(strstr(err.msg, TOKEN));
    print_message("port in use: %s\n", err.msg);
    api_stop(&srv);

    assert_int_equal(api_start("127.0.0.1", port, "", false, &h, &two, &err),
                     MRD_ERR_INVALID);
    assert_int_equal(api_start("localhost", port, TOKEN, false, &h, &two, &err),
                     MRD_ERR_INVALID);
    assert_int_equal(api_start("127.0.0.1", 0, TOKEN, false, &h, &two, &err),
                     MRD_ERR_INVALID);
    h.metrics = NULL;
    assert_int_equal(api_start("127.0.0.1", port, TOKEN, false, &h, &two, &err),
                     MRD_ERR_INVALID);
    assert_null(two);
    api_stop(NULL);
    api_stop(&two);
}

/* ==== WEBHOOK RECEIVER ==== */

#define RECV_MAX 16

typedef struct receiver {
    struct MHD_Daemon *d;
    int port;
    pthread_mutex_t mu;
    char *bodies[RECV_MAX];
    char ctypes[RECV_MAX][64];
    int n;          /* bodies accepted */
    int requests;   /* requests seen */
    int fail_first; /* answer 503 to this many requests first */
} receiver;

typedef struct recv_req {
    char buf[8192];
    size_t len;
} recv_req;

static enum MHD_Result recv_handler(void *cls, struct MHD_Connection *c, const char *url,
                                    const char *method, const char *version,
                                    const char *upload_data, size_t *upload_data_size,
                                    void **con_cls)
{
    (void)url;
    (void)version;
    receiver *rc = cls;
    recv_req *rq = *con_cls;
    if (!rq) {
        rq = calloc(1, sizeof(*rq));
        *con_cls = rq;
        return rq ? MHD_YES : MHD_NO;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        if (n > sizeof(rq->buf) - 1 - rq->len)
            n = sizeof(rq->buf) - 1 - rq->len;
        memcpy(rq->buf + rq->len, upload_data, n);
        rq->len += n;
        *upload_data_size = 0;
        return MHD_YES;
    }
    unsigned status = 200;
    pthread_mutex_lock(&rc->mu);
    rc->requests++;
    if (rc->fail_first > 0) {
        rc->fail_first--;
        status = 503;
    } else if (strcmp(method, "POST") == 0 && rc->n < RECV_MAX) {
        const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
        snprintf(rc->ctypes[rc->n], sizeof(rc->ctypes[0]), "%s", ct ? ct : "");
        rc->bodies[rc->n++] = strndup(rq->buf, rq->len);
    }
    pthread_mutex_unlock(&rc->mu);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(2, "ok", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static void recv_done(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    free(*con_cls);
    *con_cls = NULL;
}

static void receiver_start(receiver *rc, int fail_first)
{
    memset(rc, 0, sizeof(*rc));
    pthread_mutex_init(&rc->mu, NULL);
    rc->fail_first = fail_first;
    for (int p = TEST_PORT_BASE + TEST_PORT_TRIES; p < TEST_PORT_BASE + 2 * TEST_PORT_TRIES;
         p++) {
        struct sockaddr_in sa;
        memset(&sa, 0, sizeof(sa));
        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)p);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        rc->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, (uint16_t)p, NULL, NULL,
                                 recv_handler, rc, MHD_OPTION_SOCK_ADDR,
                                 (const struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED,
                                 recv_done, (void *)NULL, MHD_OPTION_END);
        if (rc->d) {
            rc->port = p;
            return;
        }
    }
    fail_msg("no free port for the webhook receiver");
}

static void receiver_stop(receiver *rc)
{
    MHD_stop_daemon(rc->d);
    for (int i = 0; i < rc->n; i++)
        free(rc->bodies[i]);
    pthread_mutex_destroy(&rc->mu);
}

/* A TCP socket that listens on 127.0.0.1 and never accepts: connections
 * succeed and requests hang. */
static int blackhole(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    for (int p = TEST_PORT_BASE + 2 * TEST_PORT_TRIES;
         p < TEST_PORT_BASE + 3 * TEST_PORT_TRIES; p++) {
        struct sockaddr_in sa;
        memset(&sa, 0, sizeof(sa));
        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)p);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(fd, 16) == 0) {
            *port = p;
            return fd;
        }
    }
    fail_msg("no free port for the black hole");
    return -1;
}

static void wait_counts(const events *ev, long sent, long failed, int timeout_ms)
{
    long s = 0, f = 0, d = 0;
    long long until = mrd_now_ms() + timeout_ms;
    for (;;) {
        events_counts(ev, &s, &f, &d);
        if ((s == sent && f == failed) || mrd_now_ms() >= until)
            break;
        mrd_sleep_ms(10);
    }
    if (s != sent || f != failed)
        fail_msg("counts sent=%ld failed=%ld, want sent=%ld failed=%ld", s, f, sent, failed);
}

/* ==== EVENT TESTS ==== */

static void test_events_delivered(void **state)
{
    (void)state;
    receiver rc;
    receiver_start(&rc, 0);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", rc.port);
    char *hooks[] = {url};
    events *ev = NULL;
    mrd_error err;
    assert_int_equal(events_start("demo", "use-a1", hooks, 1, &ev, &err), MRD_OK);

    events_emit(ev, "+replica-lost", "use-a1/redis", "process %d is gone", 42);
    events_emit(ev, "+snapshot-fetched", "use-a1/redis", "from %s", "use-b1/redis");
    events_emit(ev, "+replica-ready", "use-a1/redis", "lag %d ms", 3);
    long long t0 = mrd_wall_ms();
    events_stop(&ev, 2000);
    assert_null(ev);

    static const char *const names[] = {"+replica-lost", "+snapshot-fetched",
                                        "+replica-ready"};
    static const char *const details[] = {"process 42 is gone", "from use-b1/redis",
                                          "lag 3 ms"};
    pthread_mutex_lock(&rc.mu);
    assert_int_equal(rc.n, 3);
    for (int i = 0; i < 3; i++) {
        json_error_t jerr;
        json_t *j = json_loads(rc.bodies[i], 0, &jerr);
        assert_true(json_is_object(j));
        assert_int_equal(json_object_size(j), 6);
        assert_string_equal(json_string_value(json_object_get(j, "topology")), "demo");
        assert_string_equal(json_string_value(json_object_get(j, "host")), "use-a1");
        assert_string_equal(json_string_value(json_object_get(j, "node")), "use-a1/redis");
        assert_string_equal(json_string_value(json_object_get(j, "event")), names[i]);
        assert_string_equal(json_string_value(json_object_get(j, "detail")), details[i]);
        json_int_t tm = json_integer_value(json_object_get(j, "time_ms"));
        assert_true(tm > t0 - 60000 && tm <= t0 + 1000);
        assert_string_equal(rc.ctypes[i], "application/json");
        json_decref(j);
    }
    pthread_mutex_unlock(&rc.mu);
    receiver_stop(&rc);
}

static void test_events_retry_non2xx(void **state)
{
    (void)state;
    receiver rc;
    receiver_start(&rc, 1); /* first answer 503, then 200 */
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", rc.port);
    char *hooks[] = {url};
    events *ev = NULL;
    assert_int_equal(events_start("demo", "use-a1", hooks, 1, &ev, NULL), MRD_OK);
    events_emit(ev, "+backoff", "use-a1/redis", "retry in %d s", 5);
    wait_counts(ev, 1, 0, 3000);
    events_stop(&ev, 0);
    pthread_mutex_lock(&rc.mu);
    assert_int_equal(rc.requests, 2);
    assert_int_equal(rc.n, 1);
    pthread_mutex_unlock(&rc.mu);
    receiver_stop(&rc);
}

static void test_events_dead_webhook(void **state)
{
    (void)state;
    char *hooks[] = {"http://127.0.0.1:1/hook"};
    events *ev = NULL;
    assert_int_equal(events_start("demo", "use-a1", hooks, 1, &ev, NULL), MRD_OK);
    long long t0 = mrd_now_ms();
    events_emit(ev, "+heal-failed", "use-a1/redis", "snapshot fetch failed");
    events_emit(ev, "+heal-failed", "use-a1/sentinel", "restart failed");
    long long took = mrd_now_ms() - t0;
    if (took >= 50)
        fail_msg("events_emit took %lld ms with a dead webhook", took);
    /* Each event: EVENTS_RETRIES refused connections and the backoffs. */
    wait_counts(ev, 0, 2, 2 * (EVENTS_RETRIES * EVENTS_TIMEOUT_MS + 500));
    long dropped;
    events_counts(ev, NULL, NULL, &dropped);
    assert_int_equal(dropped, 0);

    t0 = mrd_now_ms();
    events_stop(&ev, 2000);
    took = mrd_now_ms() - t0;
    if (took >= 200)
        fail_msg("events_stop took %lld ms with nothing queued", took);
}

static void test_events_hanging_webhook_stop(void **state)
{
    (void)state;
    int port;
    int fd = blackhole(&port);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", port);
    char *hooks[] = {url};
    events *ev = NULL;
    assert_int_equal(events_start("demo", "use-a1", hooks, 1, &ev, NULL), MRD_OK);
    events_emit(ev, "+leader-lost", "use-a1/redis", "no leader");
    mrd_sleep_ms(100); /* the delivery is now hanging */
    long long t0 = mrd_now_ms();
    events_stop(&ev, 300);
    long long took = mrd_now_ms() - t0;
    if (took < 250 || took > 800)
        fail_msg("events_stop(300) took %lld ms with a hanging webhook", took);
    close(fd);
}

static void test_events_queue_full(void **state)
{
    (void)state;
    int port;
    int fd = blackhole(&port);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", port);
    char *hooks[] = {url};
    events *ev = NULL;
    assert_int_equal(events_start("demo", "use-a1", hooks, 1, &ev, NULL), MRD_OK);
    mrd_log_init("test_api", NULL, MRD_LOG_ERROR); /* 300 EVENT lines */
    events_emit(ev, "+backoff", "use-a1/redis", "event %d", 0);
    mrd_sleep_ms(100); /* the thread holds the first one */
    for (int i = 1; i < 300; i++)
        events_emit(ev, "+backoff", "use-a1/redis", "event %d", i);
    mrd_log_init("test_api", NULL, MRD_LOG_INFO);
    long sent, failed, dropped;
    events_counts(ev, &sent, &failed, &dropped);
    assert_int_equal(dropped, 300 - 1 - EVENTS_QUEUE_MAX);
    long long t0 = mrd_now_ms();
    events_stop(&ev, 0);
    long long took = mrd_now_ms() - t0;
    if (took > 300)
        fail_msg("events_stop(0) took %lld ms", took);
    close(fd);
}

static void test_events_log_only(void **state)
{
    (void)state;
    events_emit(NULL, "+rejoined", "use-a1/redis", "as a replica of %s", "127.0.2.1");
    events *ev = NULL;
    assert_int_equal(events_start("demo", "use-a1", NULL, 0, &ev, NULL), MRD_OK);
    events_emit(ev, "+rejoined", "use-a1/redis", "%s", "bytes \xff\xfe are not UTF-8");
    long sent = -1, failed = -1, dropped = -1;
    events_counts(ev, &sent, &failed, &dropped);
    assert_int_equal(sent + failed + dropped, 0);
    events_stop(&ev, 1000);
    assert_null(ev);
    events_stop(NULL, 0);
    events_counts(NULL, &sent, NULL, NULL);
    assert_int_equal(sent, 0);

    char *bad[] = {""};
    mrd_error err;
    mrd_error_clear(&err);
    assert_int_equal(events_start("demo", "use-a1", bad, 1, &ev, &err), MRD_ERR_INVALID);
    assert_null(ev);
}

int main(void)
{
    mrd_log_init("test_api", NULL, MRD_LOG_INFO);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health_open),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_metrics_open),
        cmocka_unit_test(test_heal_bodies),
        cmocka_unit_test(test_routing),
        cmocka_unit_test(test_slow_heal_does_not_block_health),
        cmocka_unit_test(test_start_errors),
        cmocka_unit_test(test_events_delivered),
        cmocka_unit_test(test_events_retry_non2xx),
        cmocka_unit_test(test_events_dead_webhook),
        cmocka_unit_test(test_events_hanging_webhook_stop),
        cmocka_unit_test(test_events_queue_full),
        cmocka_unit_test(test_events_log_only),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
