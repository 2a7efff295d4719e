/* test_api.c - the agent's HTTP API (agent/api.c) and event sink
 * (agent/events.c), end to end on 127.0.0.1.
 *
 * Each API test starts a real api_server with stub handlers on the first
 * free port from TEST_PORT_BASE and talks to it with libcurl.  The event
 * tests use a second, tiny libmicrohttpd server as the webhook receiver, a
 * closed port (127.0.0.1:1) as a dead webhook, and a socket that listens
 * but never accepts as a webhook that hangs.
 *
 * The TLS tests start the same server with a certificate of a test CA
 * (tls_fixture.h) on ports from TLS_PORT_BASE, and talk to it with libcurl
 * over https://, with raw sockets (plain HTTP to the HTTPS port) and with
 * OpenSSL (a client that completes its handshake and says nothing). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "api.h"
#include "api_serve.h"
#include "events.h"
#include "log.h"
#include "tls_fixture.h"

#define TEST_PORT_BASE 18500
#define TEST_PORT_TRIES 500
#define TLS_PORT_BASE 24100 /* the TLS tests' servers: 24100-24149 */
#define TLS_PORT_TRIES 50
#define TOKEN "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* ==== STUB HANDLERS ==== */

typedef struct stub {
    atomic_bool ready;
    atomic_int health_calls;
    atomic_int heal_status;   /* what heal() reports */
    atomic_int heal_sleep_ms; /* how long heal() takes */
    atomic_int heal_calls;
    atomic_bool heal_running;
} stub;

static json_t *stub_health(void *ctx, bool *ready)
{
    stub *s = ctx;
    atomic_fetch_add(&s->health_calls, 1);
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
    atomic_init(&s->health_calls, 0);
    atomic_init(&s->heal_status, 200);
    atomic_init(&s->heal_sleep_ms, 0);
    atomic_init(&s->heal_calls, 0);
    atomic_init(&s->heal_running, false);
}

static api_handlers stub_handlers(stub *s)
{
    return (api_handlers){.ctx = s,
                          .health = stub_health,
                          .nodes = stub_nodes,
                          .heal = stub_heal,
                          .metrics = stub_metrics};
}

/* Start an api_server with S's handlers, limits LIM (NULL: the defaults)
 * and TLS (NULL: plain HTTP) on the first free port: from TEST_PORT_BASE,
 * or TLS_PORT_BASE with TLS. */
static api_server *start_api_ex(stub *s, bool metrics_open, const api_limits *lim,
                                const api_tls *tls, int *port)
{
    api_handlers h = stub_handlers(s);
    api_serve_opts o = {.address = "127.0.0.1",
                        .base = tls ? TLS_PORT_BASE : TEST_PORT_BASE,
                        .tries = tls ? TLS_PORT_TRIES : TEST_PORT_TRIES,
                        .token = TOKEN,
                        .metrics_open = metrics_open,
                        .h = &h,
                        .lim = lim,
                        .tls = tls};
    return api_serve(&o, port);
}

static api_server *start_api(stub *s, bool metrics_open, int *port)
{
    return start_api_ex(s, metrics_open, NULL, NULL, port);
}

/* ==== HTTP CLIENT ==== */

typedef struct reply {
    long status;
    char body[16384];
    size_t len;
    char allow[128];
    char www_auth[128];
    char ctype[128];
    char retry_after[16];
    long long ms; /* wall time of the request */
    char tls_error[CURL_ERROR_SIZE]; /* libcurl's words for a failure */
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
    keep_header(r->retry_after, sizeof(r->retry_after), p, n, "Retry-After:");
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
    const char *ca;       /* https://, trusting this CA only; NULL: http:// */
} req;

/* Safe from any thread: reports a transport failure instead of failing. */
static CURLcode http_raw(int port, const req *q, reply *r)
{
    memset(r, 0, sizeof(*r));
    CURL *e = curl_easy_init();
    assert_non_null(e);
    char url[256];
    snprintf(url, sizeof(url), "%s://127.0.0.1:%d%s", q->ca ? "https" : "http", port,
             q->path);
    if (q->ca) {
        curl_easy_setopt(e, CURLOPT_CAINFO, q->ca);
        curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    }
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->tls_error);
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
     * this size), once sent straight away; a chunked upload (no length) is
     * refused whatever its size: 411. */
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
    assert_int_equal(r.status, 411);
    assert_error_body(&r);
    qc.chunked_bytes = 2;
    http(port, &qc, &r);
    assert_int_equal(r.status, 411);
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

/* ==== RAW CLIENT ==== */

/* What came back on a raw connection. */
typedef struct raw_reply {
    size_t len;       /* bytes received */
    int status;       /* 0: no HTTP answer */
    char ctype[64];   /* Content-Type */
    char body[2048];  /* after the blank line */
    bool conn_close;  /* "Connection: close" */
    bool retry_after; /* a Retry-After header */
    long long ms;     /* from connect to EOF */
} raw_reply;

/* A TCP connection to 127.0.0.1:PORT from SRC (NULL: any address). */
static int raw_connect(int port, const char *src)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    if (src) {
        assert_int_equal(inet_pton(AF_INET, src, &sa.sin_addr), 1);
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
            fail_msg("bind %s: %s", src, strerror(errno));
    }
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        fail_msg("connect: %s", strerror(errno));
    return fd;
}

/* Read FD to EOF (at most TIMEOUT_MS) and parse the answer into *R. */
static void raw_read(int fd, long long t0, int timeout_ms, raw_reply *r)
{
    static char buf[65536];
    size_t len = 0;
    long long until = t0 + timeout_ms;
    for (;;) {
        long long left = until - mrd_now_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            break;
        ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    r->ms = mrd_now_ms() - t0;
    r->len = len;
    buf[len] = '\0';
    if (len < 12 || sscanf(buf, "HTTP/1.1 %3d", &r->status) != 1)
        return;
    char *end = strstr(buf, "\r\n\r\n");
    if (!end)
        return;
    *end = '\0';
    snprintf(r->body, sizeof(r->body), "%s", end + 4);
    for (char *line = strstr(buf, "\r\n"); line; line = strstr(line + 2, "\r\n")) {
        if (strncasecmp(line + 2, "Content-Type: ", 14) == 0)
            snprintf(r->ctype, sizeof(r->ctype), "%.*s", (int)strcspn(line + 16, "\r"),
                     line + 16);
        if (strncasecmp(line + 2, "Connection: close", 17) == 0)
            r->conn_close = true;
        if (strncasecmp(line + 2, "Retry-After:", 12) == 0)
            r->retry_after = true;
    }
}

/* Send LEN BYTES on a new connection from SRC and read the answer. */
static void raw_exchange(int port, const char *src, const void *bytes, size_t len,
                         raw_reply *r)
{
    memset(r, 0, sizeof(*r));
    long long t0 = mrd_now_ms();
    int fd = raw_connect(port, src);
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(fd, (const char *)bytes + off, len - off, MSG_NOSIGNAL);
        if (n <= 0)
            break; /* the server may answer and close before all is sent */
        off += (size_t)n;
    }
    raw_read(fd, t0, 5000, r);
    close(fd);
}

/* *R is a JSON refusal with STATUS whose error says SAYS (NULL: anything). */
static void assert_json_refusal(const raw_reply *r, int status, const char *says,
                                const char *what)
{
    if (r->status != status)
        fail_msg("%s: status %d, want %d (body %s)", what, r->status, status, r->body);
    if (strcmp(r->ctype, "application/json") != 0)
        fail_msg("%s: Content-Type \"%s\" (body %s)", what, r->ctype, r->body);
    json_error_t jerr;
    json_t *j = json_loads(r->body, 0, &jerr);
    const char *e = json_string_value(json_object_get(j, "error"));
    if (!json_is_object(j) || json_object_size(j) != 1 || !e || !e[0])
        fail_msg("%s: body is not {\"error\": ...}: %s", what, r->body);
    if (says && !strstr(e, says))
        fail_msg("%s: error \"%s\" does not say \"%s\"", what, e, says);
    if (!r->conn_close)
        fail_msg("%s: no Connection: close", what);
    json_decref(j);
}

#define RAWREQ(s) (s), sizeof(s) - 1
#define TOKEN_LINE "Authorization: Bearer " TOKEN "\r\n"

/* ==== EDGES (issue part 6) ==== */

typedef struct edge {
    const char *what;
    const char *req;
    size_t len;
    int status;
    const char *says;
} edge;

/* Each of these was answered in HTML by libmicrohttpd itself, or served. */
static const edge edges[] = {
    {"huge Content-Length",
     RAWREQ("POST /v1/heal HTTP/1.1\r\nHost: a\r\n" TOKEN_LINE
            "Content-Length: 99999999999999999999999\r\n\r\n"),
     400, "larger than 4096 bytes"},
    {"Content-Length -1",
     RAWREQ("POST /v1/heal HTTP/1.1\r\nHost: a\r\n" TOKEN_LINE "Content-Length: -1\r\n\r\n"),
     400, "Content-Length"},
    {"HTTP/2.0", RAWREQ("GET /v1/health HTTP/2.0\r\nHost: a\r\n\r\n"), 505, "HTTP version"},
    {"HTTP/0.9", RAWREQ("GET /v1/health HTTP/0.9\r\nHost: a\r\n\r\n"), 505, "HTTP version"},
    {"malformed version", RAWREQ("GET /v1/health HTTX/1.1\r\nHost: a\r\n\r\n"), 400,
     "request line"},
    {"header without colon", RAWREQ("GET /v1/health HTTP/1.1\r\nHost: a\r\nnocolon\r\n\r\n"),
     400, "colon"},
    {"obsolete line folding", RAWREQ("GET /v1/health HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n"), 400,
     "folding"},
    {"bare CR", RAWREQ("GET /v1/health HTTP/1.1\r\nX-A: a\rb\r\n\r\n"), 400, "CR"},
    {"NUL in the path", RAWREQ("GET /v1/nodes%00 HTTP/1.1\r\nHost: a\r\n" TOKEN_LINE "\r\n"),
     400, "NUL"},
    {"body {} NUL junk",
     RAWREQ("POST /v1/heal HTTP/1.1\r\nHost: a\r\n" TOKEN_LINE
            "Content-Length: 7\r\n\r\n{}\0junk"),
     400, "NUL"},
    {"token NUL junk",
     RAWREQ("GET /v1/nodes HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer " TOKEN
            "\0junk\r\n\r\n"),
     400, "NUL"},
    {"two Content-Length",
     RAWREQ("POST /v1/heal HTTP/1.1\r\nHost: a\r\n" TOKEN_LINE
            "Content-Length: 2\r\nContent-Length: 5\r\n\r\n{}"),
     400, "more than one Content-Length"},
    {"two Authorization, good first",
     RAWREQ("GET /v1/nodes HTTP/1.1\r\nHost: a\r\n" TOKEN_LINE
            "Authorization: Bearer wrong\r\n\r\n"),
     400, "more than one Authorization"},
    {"two Authorization, good second",
     RAWREQ("GET /v1/nodes HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer wrong\r\n" TOKEN_LINE
            "\r\n"),
     400, "more than one Authorization"},
    {"chunked", RAWREQ("POST /v1/heal HTTP/1.1\r\nHost: a\r\n" TOKEN_LINE
                       "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"),
     411, "Content-Length"},
    {"malformed chunk", RAWREQ("POST /v1/heal HTTP/1.1\r\nHost: a\r\n" TOKEN_LINE
                               "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"),
     411, "Content-Length"},
    {"absolute-form target", RAWREQ("GET http://a/v1/health HTTP/1.1\r\nHost: a\r\n\r\n"), 400,
     "path"},
};

static void test_edges_are_json(void **state)
{
    (void)state;
    stub s;
    stub_init(&s);
    int port;
    api_server *srv = start_api(&s, false, &port);
    raw_reply r;
    for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
        raw_exchange(port, NULL, edges[i].req, edges[i].len, &r);
        assert_json_refusal(&r, edges[i].status, edges[i].says, edges[i].what);
        print_message("%-32s %d %s", edges[i].what, r.status, r.body);
    }

    /* Too large for libmicrohttpd's memory (431) and its URI limit (414). */
    static char big[40000 + 256];
    int n = snprintf(big, sizeof(big), "GET /v1/health HTTP/1.1\r\nHost: a\r\nX-Big: ");
    memset(big + n, 'a', 40000);
    memcpy(big + n + 40000, "\r\n\r\n", 4);
    raw_exchange(port, NULL, big, (size_t)n + 40004, &r);
    assert_json_refusal(&r, 431, "larger than 8192 bytes", "40 kB header");
    print_message("%-32s %d %s", "40 kB header", r.status, r.body);
    memcpy(big, "GET /", 5);
    memset(big + 5, 'a', 40000);
    n = snprintf(big + 40005, sizeof(big) - 40005, " HTTP/1.1\r\nHost: a\r\n\r\n");
    raw_exchange(port, NULL, big, 40005 + (size_t)n, &r);
    assert_json_refusal(&r, 414, "target", "40 kB target");
    print_message("%-32s %d %s", "40 kB target", r.status, r.body);
    /* HEAD: the refusal's headers without a body. */
    raw_exchange(port, NULL, RAWREQ("HEAD /nope HTTP/1.1\r\nHost: a\r\n\r\n"), &r);
    assert_int_equal(r.status, 404);
    assert_string_equal(r.ctype, "application/json");
    assert_string_equal(r.body, "");

    /* None of them reached a handler; the server still answers. */
    assert_int_equal(atomic_load(&s.heal_calls), 0);
    raw_exchange(port, NULL, RAWREQ("GET /v1/health HTTP/1.0\r\n\r\n"), &r);
    assert_int_equal(r.status, 200);
    assert_true(r.conn_close);
    /* A second request on the same connection is not served: every answer
     * closes the connection. */
    raw_exchange(port, NULL,
                 RAWREQ("GET /v1/health HTTP/1.1\r\nHost: a\r\n\r\n"
                        "POST /v1/heal HTTP/1.1\r\nHost: a\r\n" TOKEN_LINE
                        "Content-Length: 2\r\n\r\n{}"),
                 &r);
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.body, "HTTP/1.1"));
    assert_int_equal(atomic_load(&s.heal_calls), 0);
    api_stop(&srv);
}

/* ==== SLOW CLIENTS (issue part 3) ==== */

/* Small limits, so each rule shows in a fraction of a second. */
static api_server *start_api_limits(stub *s, bool metrics_open, const api_limits *lim,
                                    int *port)
{
    return start_api_ex(s, metrics_open, lim, NULL, port);
}

static void test_head_deadline(void **state)
{
    (void)state;
    stub s;
    stub_init(&s);
    api_limits lim;
    api_limits_default(&lim);
    lim.head_deadline_ms = 300;
    lim.head_max_pieces = 4;
    int port;
    api_server *srv = start_api_limits(&s, false, &lim, &port);
    raw_reply r;

    /* Silent: 408 at the deadline. */
    memset(&r, 0, sizeof(r));
    long long t0 = mrd_now_ms();
    int fd = raw_connect(port, NULL);
    raw_read(fd, t0, 3000, &r);
    close(fd);
    assert_json_refusal(&r, 408, "in time", "silent client");
    if (r.ms < 250 || r.ms > 1000)
        fail_msg("408 after %lld ms, want about 300", r.ms);

    /* Sending a line every 100 ms does not move the deadline (it did with
     * the idle timeout alone). */
    memset(&r, 0, sizeof(r));
    t0 = mrd_now_ms();
    fd = raw_connect(port, NULL);
    static const char *const lines[] = {"GET /v1/nodes HTTP/1.1\r\n", "X-A: 1\r\n", "X-B: 2\r\n"};
    for (int i = 0; i < 3; i++) {
        assert_true(send(fd, lines[i], strlen(lines[i]), MSG_NOSIGNAL) > 0);
        mrd_sleep_ms(100);
    }
    raw_read(fd, t0, 3000, &r);
    close(fd);
    assert_json_refusal(&r, 408, NULL, "slow client");
    if (r.ms > 1000)
        fail_msg("408 after %lld ms, want about 300", r.ms);

    /* A head in more than head_max_pieces reads: 400. */
    memset(&r, 0, sizeof(r));
    t0 = mrd_now_ms();
    fd = raw_connect(port, NULL);
    static const char head[] = "GET /v1/health HTTP/1.1\r\n\r\n";
    for (size_t i = 0; i < 6; i++) {
        assert_true(send(fd, head + i, 1, MSG_NOSIGNAL) == 1);
        mrd_sleep_ms(20);
    }
    raw_read(fd, t0, 3000, &r);
    close(fd);
    assert_json_refusal(&r, 400, "pieces", "head in pieces");

    /* A client that closes its side before its head is complete: 400. */
    memset(&r, 0, sizeof(r));
    t0 = mrd_now_ms();
    fd = raw_connect(port, NULL);
    assert_true(send(fd, "GET /v1/health HTTP/1.1\r\n", 25, MSG_NOSIGNAL) == 25);
    shutdown(fd, SHUT_WR);
    raw_read(fd, t0, 3000, &r);
    close(fd);
    assert_json_refusal(&r, 400, "closed its side", "half-closed client");
    if (r.ms > 250)
        fail_msg("half-closed client answered after %lld ms", r.ms);

    /* A head in a few pieces inside the deadline is served. */
    fd = raw_connect(port, NULL);
    t0 = mrd_now_ms();
    assert_true(send(fd, "GET /v1/health HT", 17, MSG_NOSIGNAL) == 17);
    mrd_sleep_ms(50);
    assert_true(send(fd, "TP/1.1\r\nHost: a\r\n\r\n", 19, MSG_NOSIGNAL) == 19);
    memset(&r, 0, sizeof(r));
    raw_read(fd, t0, 3000, &r);
    close(fd);
    assert_int_equal(r.status, 200);

    api_stats st;
    api_get_stats(srv, &st);
    assert_int_equal(st.timed_out, 2);
    assert_int_equal(st.refused, 4);
    assert_int_equal(st.admitted, 1);
    api_stop(&srv);
}

/* A pending connection from SRC that sends nothing, until closed. */
static int idle_from(int port, const char *src)
{
    int fd = raw_connect(port, src);
    mrd_sleep_ms(30); /* accepted in this order, and older than a 20 ms grace */
    return fd;
}

/* FD was closed to make room: 503 with Retry-After. */
static void assert_pushed_out(int fd, const char *what)
{
    raw_reply r;
    memset(&r, 0, sizeof(r));
    raw_read(fd, mrd_now_ms(), 1000, &r);
    assert_json_refusal(&r, 503, "slow to send", what);
    assert_true(r.retry_after);
}

/* FD is still pending: it is served once it sends its head. */
static void assert_still_served(int fd, const char *what)
{
    static const char health[] = "GET /v1/health HTTP/1.0\r\n\r\n";
    raw_reply r;
    memset(&r, 0, sizeof(r));
    if (send(fd, health, sizeof(health) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(health) - 1)
        fail_msg("%s: send: %s", what, strerror(errno));
    raw_read(fd, mrd_now_ms(), 2000, &r);
    if (r.status != 200)
        fail_msg("%s: status %d, want 200", what, r.status);
}

static void test_pending_limits(void **state)
{
    (void)state;
    stub s;
    stub_init(&s);
    api_limits lim;
    api_limits_default(&lim);
    lim.head_deadline_ms = 5000;
    lim.head_grace_ms = 20;
    lim.pending_max = 4;
    lim.pending_per_client = 2;
    int port;
    api_server *srv = start_api_limits(&s, false, &lim, &port);

    /* A third connection from one address closes that address's oldest,
     * not the other address's. */
    int a1 = idle_from(port, "127.0.3.1");
    int b1 = idle_from(port, "127.0.3.2");
    int a2 = idle_from(port, "127.0.3.1");
    int a3 = idle_from(port, "127.0.3.1");
    assert_pushed_out(a1, "oldest of one address");
    /* b1, a2, a3 and c1 fill the slots: the next connection closes the one
     * nearest its deadline (b1). */
    int c1 = idle_from(port, "127.0.3.3");
    int d1 = idle_from(port, "127.0.3.4");
    assert_pushed_out(b1, "nearest its deadline");
    assert_still_served(a2, "a2");
    assert_still_served(a3, "a3");
    assert_still_served(c1, "c1");
    assert_still_served(d1, "d1");
    raw_reply r;
    raw_exchange(port, "127.0.3.1", RAWREQ("GET /v1/health HTTP/1.0\r\n\r\n"), &r);
    assert_int_equal(r.status, 200);
    api_stats st;
    api_get_stats(srv, &st);
    assert_int_equal(st.evicted, 2);
    assert_int_equal(st.admitted, 5);
    close(a1);
    close(b1);
    close(a2);
    close(a3);
    close(c1);
    close(d1);
    api_stop(&srv);

    /* Within their grace, connections that sent nothing are closed for
     * room only after those that sent part of a head. */
    lim.head_grace_ms = 2000;
    lim.pending_per_client = 4;
    srv = start_api_limits(&s, false, &lim, &port);
    int f0 = idle_from(port, "127.0.3.5");
    int f1 = idle_from(port, "127.0.3.5");
    int p = raw_connect(port, "127.0.3.6");
    assert_true(send(p, "GET /v1/health HTTP/1.1\r\n", 25, MSG_NOSIGNAL) == 25);
    mrd_sleep_ms(30);
    int f2 = idle_from(port, "127.0.3.5");
    int n1 = idle_from(port, "127.0.3.7");
    assert_pushed_out(p, "the one that sent part of its head");
    /* None had its chance now: the oldest goes. */
    int n2 = idle_from(port, "127.0.3.7");
    assert_pushed_out(f0, "the oldest of the new ones");
    assert_still_served(f1, "f1");
    assert_still_served(f2, "f2");
    assert_still_served(n1, "n1");
    assert_still_served(n2, "n2");
    close(f0);
    close(f1);
    close(p);
    close(f2);
    close(n1);
    close(n2);
    api_stop(&srv);
}

typedef struct slow_heal_call {
    int port;
    const char *ca; /* https:// trusting it; NULL: http:// */
    CURLcode rc;
    reply r;
    pthread_t t;
} slow_heal_call;

static void *slow_heal_thread(void *arg)
{
    slow_heal_call *hc = arg;
    req q = {.method = "POST", .path = "/v1/heal", .auth = BEARER, .body = "{}",
             .body_len = 2, .ca = hc->ca};
    hc->rc = http_raw(hc->port, &q, &hc->r);
    return NULL;
}

/* The limits of the capacity tests: 6 at once, 2 kept for /v1/health, 2
 * more for the token. */
static void capacity_limits(api_limits *lim)
{
    api_limits_default(lim);
    lim->connection_limit = 6;
    lim->reserve_health = 2;
    lim->reserve_token = 2;
}

/* Requests being answered fill their classes; /v1/health keeps its room.
 * S's server SRV on PORT has capacity_limits() and /metrics open; CA: it
 * is asked over HTTPS trusting CA (it applies the classes once it has
 * decrypted a head), NULL: over HTTP (the front door applies them). */
static void check_capacity_reserve(stub *s, api_server *srv, int port, const char *ca)
{
    atomic_store(&s->heal_sleep_ms, 1500);
    /* 4 heals (with the token) take the 6 - 2 slots they may use. */
    slow_heal_call hc[4];
    for (int i = 0; i < 4; i++) {
        hc[i].port = port;
        hc[i].ca = ca;
        assert_int_equal(pthread_create(&hc[i].t, NULL, slow_heal_thread, &hc[i]), 0);
    }
    long long until = mrd_now_ms() + 3000;
    while (atomic_load(&s->heal_calls) < 4 && mrd_now_ms() < until)
        mrd_sleep_ms(5);
    assert_int_equal(atomic_load(&s->heal_calls), 4);

    reply r;
    req q = {.method = "POST", .path = "/v1/heal", .auth = BEARER, .body = "{}",
             .body_len = 2, .ca = ca};
    http(port, &q, &r);
    assert_int_equal(r.status, 503);
    assert_error_body(&r);
    assert_non_null(strstr(r.body, "retry"));
    assert_string_equal(r.retry_after, "1");
    /* Open /metrics (no token) has no room left either. */
    req m = {.method = "GET", .path = "/metrics", .ca = ca};
    http(port, &m, &r);
    assert_int_equal(r.status, 503);
    assert_error_body(&r);
    /* Health has its reserve (a TLS handshake is a few ms more). */
    req h = {.method = "GET", .path = "/v1/health", .ca = ca};
    http(port, &h, &r);
    assert_int_equal(r.status, 200);
    if (r.ms >= (ca ? 500 : 200))
        fail_msg("/v1/health took %lld ms with the other classes full", r.ms);
    assert_int_equal(atomic_load(&s->heal_calls), 4);
    api_stats st;
    api_get_stats(srv, &st);
    assert_int_equal(st.busy, 2);

    for (int i = 0; i < 4; i++) {
        pthread_join(hc[i].t, NULL);
        assert_int_equal(hc[i].rc, CURLE_OK);
        assert_int_equal(hc[i].r.status, 200);
    }
    /* Room again once they are done (MHD counts a connection closed
     * shortly after its answer). */
    until = mrd_now_ms() + 2000;
    do
        http(port, &m, &r);
    while (r.status == 503 && mrd_now_ms() < until && (mrd_sleep_ms(20), true));
    assert_int_equal(r.status, 200);
}

static void test_capacity_reserve(void **state)
{
    (void)state;
    stub s;
    stub_init(&s);
    api_limits lim;
    capacity_limits(&lim);
    int port;
    api_server *srv = start_api_limits(&s, true, &lim, &port);
    check_capacity_reserve(&s, srv, port, NULL);
    api_stop(&srv);
}

/* The attack of the issue, bounded: connections that send one header line
 * every SLOW_LINE_MS and never finish their head, reconnecting
 * SLOW_REOPEN_MS after being closed.  One in SLOW_SAME_EVERY comes from
 * 127.0.0.1, the health client's own address (more than its share of
 * API_PENDING_PER_CLIENT: they push each other out all the time), the
 * others from SLOW_SOURCES other addresses.  SLOW_FIRST of them for
 * SLOW_PHASE_MS (fewer than API_PENDING_MAX: they meet the head deadline),
 * then SLOW_CONNS (more: they also push each other out), until
 * SLOW_ATTACK_MS. */
#define SLOW_FIRST 200
#define SLOW_CONNS 300
#define SLOW_PHASE_MS 4000
#define SLOW_SAME_EVERY 10
#define SLOW_SOURCES 59
#define SLOW_LINE_MS 1000
#define SLOW_REOPEN_MS 100
#define SLOW_ATTACK_MS 8000
#define HEALTH_PERIOD_MS 100 /* the health client asks this often */
#define HEALTH_MAX_MS 500    /* and wants every answer within this */

typedef struct slow_conn {
    int fd; /* -1: closed */
    char src[16];
    long long opened_ms, next_line_ms, reopen_ms;
    int lines;
    bool answered;
} slow_conn;

typedef struct slow_attack {
    int port;
    atomic_bool stop;
    atomic_int conns; /* how many of c[] are in the attack */
    slow_conn c[SLOW_CONNS];
    long opened, closed, answered_408, answered_503, answered_other;
    long long max_life_ms;
} slow_attack;

static void slow_open(slow_attack *a, slow_conn *c, long long now)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    inet_pton(AF_INET, c->src, &sa.sin_addr);
    int one = 1;
    setsockopt(c->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(c->fd);
        c->fd = -1;
        c->reopen_ms = now + SLOW_REOPEN_MS;
        return;
    }
    sa.sin_port = htons((uint16_t)a->port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    (void)connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)); /* EINPROGRESS */
    c->opened_ms = now;
    c->next_line_ms = now + 10;
    c->lines = 0;
    c->answered = false;
    a->opened++;
}

static void slow_close(slow_attack *a, slow_conn *c, long long now)
{
    close(c->fd);
    c->fd = -1;
    c->reopen_ms = now + SLOW_REOPEN_MS;
    a->closed++;
    if (now - c->opened_ms > a->max_life_ms)
        a->max_life_ms = now - c->opened_ms;
}

static void *slow_attack_main(void *arg)
{
    slow_attack *a = arg;
    struct pollfd pfd[SLOW_CONNS];
    int idx[SLOW_CONNS];
    char buf[4096];
    for (int i = 0; i < SLOW_CONNS; i++) {
        slow_conn *c = &a->c[i];
        if (i % SLOW_SAME_EVERY == 0)
            snprintf(c->src, sizeof(c->src), "127.0.0.1");
        else
            snprintf(c->src, sizeof(c->src), "127.0.4.%d", 1 + i % SLOW_SOURCES);
        c->fd = -1;
    }
    while (!atomic_load(&a->stop)) {
        long long now = mrd_now_ms();
        int n = 0;
        int conns = atomic_load(&a->conns);
        for (int i = 0; i < conns; i++) {
            slow_conn *c = &a->c[i];
            if (c->fd < 0 && now >= c->reopen_ms)
                slow_open(a, c, now);
            if (c->fd < 0)
                continue;
            if (now >= c->next_line_ms) {
                char line[64];
                int len = c->lines == 0 ? snprintf(line, sizeof(line), "GET /v1/nodes HTTP/1.1\r\n")
                                        : snprintf(line, sizeof(line), "X-Slow-%d: a\r\n",
                                                   c->lines);
                if (send(c->fd, line, (size_t)len, MSG_NOSIGNAL) == len)
                    c->lines++;
                c->next_line_ms = now + SLOW_LINE_MS;
            }
            pfd[n] = (struct pollfd){.fd = c->fd, .events = POLLIN};
            idx[n++] = i;
        }
        if (poll(pfd, (nfds_t)n, 20) <= 0)
            continue;
        now = mrd_now_ms();
        for (int k = 0; k < n; k++) {
            if (!pfd[k].revents)
                continue;
            slow_conn *c = &a->c[idx[k]];
            ssize_t got = recv(c->fd, buf, sizeof(buf) - 1, 0);
            if (got > 0) {
                buf[got] = '\0';
                if (!c->answered) {
                    c->answered = true;
                    if (strncmp(buf, "HTTP/1.1 408 ", 13) == 0 && strstr(buf, "{\"error\":"))
                        a->answered_408++;
                    else if (strncmp(buf, "HTTP/1.1 503 ", 13) == 0 && strstr(buf, "{\"error\":"))
                        a->answered_503++;
                    else
                        a->answered_other++;
                }
                continue;
            }
            if (got < 0 && errno == EAGAIN)
                continue;
            slow_close(a, c, now);
        }
    }
    long long now = mrd_now_ms();
    for (int i = 0; i < SLOW_CONNS; i++)
        if (a->c[i].fd >= 0)
            slow_close(a, &a->c[i], now);
    return NULL;
}

static void test_slow_clients_keep_health(void **state)
{
    (void)state;
    stub s;
    stub_init(&s);
    int port;
    api_server *srv = start_api(&s, false, &port); /* the real limits */
    static slow_attack a;
    memset(&a, 0, sizeof(a));
    a.port = port;
    atomic_init(&a.stop, false);
    atomic_init(&a.conns, SLOW_FIRST);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, slow_attack_main, &a), 0);

    long long t0 = mrd_now_ms(), worst = 0;
    int asked = 0, ok = 0;
    mrd_sleep_ms(300); /* the attack is on */
    while (mrd_now_ms() - t0 < SLOW_ATTACK_MS) {
        if (mrd_now_ms() - t0 >= SLOW_PHASE_MS)
            atomic_store(&a.conns, SLOW_CONNS);
        reply r;
        CURLcode rc = http_raw(port, &(req){.method = "GET", .path = "/v1/health"}, &r);
        asked++;
        if (rc == CURLE_OK && r.status == 200)
            ok++;
        else
            print_message("health: %s, status %ld after %lld ms\n", curl_easy_strerror(rc),
                          r.status, r.ms);
        if (r.ms > worst)
            worst = r.ms;
        mrd_sleep_ms(HEALTH_PERIOD_MS);
    }
    atomic_store(&a.stop, true);
    pthread_join(t, NULL);

    api_stats st;
    api_get_stats(srv, &st);
    print_message("slow clients: %ld connections opened, %ld closed by the server (%ld 408, %ld "
                  "503, %ld other answers), longest %lld ms; health: %d/%d answered 200, "
                  "worst %lld ms; server: %ld timed out, %ld evicted\n",
                  a.opened, a.closed, a.answered_408, a.answered_503, a.answered_other,
                  a.max_life_ms, ok, asked, worst, st.timed_out, st.evicted);
    if (ok != asked || worst > HEALTH_MAX_MS)
        fail_msg("/v1/health under attack: %d of %d answered 200, worst %lld ms (limit %d)", ok,
                 asked, worst, HEALTH_MAX_MS);
    /* The attack was real and the server cut it down: no slow connection
     * outlived the head deadline by much, every answer was JSON. */
    assert_true(a.opened >= SLOW_CONNS);
    assert_true(st.timed_out > 0);
    assert_true(st.evicted > 0);
    assert_int_equal(a.answered_other, 0);
    if (a.max_life_ms > API_HEAD_DEADLINE_MS + 1000)
        fail_msg("a slow connection lived %lld ms", a.max_life_ms);
    assert_int_equal(atomic_load(&s.heal_calls), 0);
    api_stop(&srv);
}

/* ==== TLS ==== */

/* What a TLS test starts from: the certificates, the stub handlers, and
 * the server it starts (stopped by the teardown, even after a failure). */
typedef struct tls_env {
    tls_fixture f;
    stub s;
    api_server *srv;
    int port;
} tls_env;

static int tls_setup(void **state)
{
    tls_env *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    tls_fixture_make(&e->f, "use-a1", "127.0.0.1");
    stub_init(&e->s);
    *state = e;
    return 0;
}

static int tls_teardown(void **state)
{
    tls_env *e = *state;
    api_stop(&e->srv);
    tls_fixture_remove(&e->f);
    free(e);
    return 0;
}

/* Start E's server over HTTPS with the host certificate FILES (NULL: the
 * fixture's) and limits LIM (NULL: the defaults); a server E ran before
 * is stopped first. */
static void tls_serve(tls_env *e, bool metrics_open, const api_limits *lim,
                      const tls_fixture *files)
{
    api_stop(&e->srv);
    if (!files)
        files = &e->f;
    api_tls tls = {.cert_file = files->cert, .key_file = files->key};
    e->srv = start_api_ex(&e->s, metrics_open, lim, &tls, &e->port);
}

/* A client that trusts the deployment's CA gets /v1/health over HTTPS;
 * the stats count it as any other request. */
static void test_tls_health(void **state)
{
    tls_env *e = *state;
    tls_serve(e, false, NULL, NULL);
    reply r;
    req q = {.method = "GET", .path = "/v1/health", .ca = e->f.ca};
    http(e->port, &q, &r);
    assert_int_equal(r.status, 200);
    json_t *j = json_body(&r);
    assert_true(json_is_true(json_object_get(j, "ready")));
    json_decref(j);
    atomic_store(&e->s.ready, false);
    http(e->port, &q, &r);
    assert_int_equal(r.status, 503);
    assert_int_equal(atomic_load(&e->s.health_calls), 2);
    api_stats st;
    api_get_stats(e->srv, &st);
    assert_int_equal(st.admitted, 2);
    assert_int_equal(st.refused, 0);
}

/* Plain HTTP to the HTTPS port: no byte comes back, at once, whatever
 * the request; nothing is served. */
static void test_tls_plain_http_unanswered(void **state)
{
    tls_env *e = *state;
    tls_serve(e, true, NULL, NULL);
    static const struct {
        const char *raw;
        size_t len;
    } plain[] = {
        {RAWREQ("GET /v1/health HTTP/1.1\r\nHost: a\r\n\r\n")},
        {RAWREQ("GET /metrics HTTP/1.0\r\n\r\n")},
        {RAWREQ("POST /v1/heal HTTP/1.1\r\nHost: a\r\n" TOKEN_LINE
                "Content-Length: 2\r\n\r\n{}")},
        {RAWREQ("\x16\x03\x01\x00\x04\x02\x00\x00\x00")}, /* a ServerHello */
    };
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        raw_reply r;
        raw_exchange(e->port, NULL, plain[i].raw, plain[i].len, &r);
        if (r.len != 0)
            fail_msg("request %zu: %zu bytes came back", i, r.len);
        if (r.ms > 1500)
            fail_msg("request %zu: closed after %lld ms, not at once", i, r.ms);
    }
    /* libcurl says the same: an empty reply, not an answer */
    reply r;
    req q = {.method = "GET", .path = "/v1/health"};
    assert_int_equal(http_raw(e->port, &q, &r), CURLE_GOT_NOTHING);
    assert_int_equal(r.status, 0);
    assert_int_equal(atomic_load(&e->s.health_calls), 0);
    assert_int_equal(atomic_load(&e->s.heal_calls), 0);
    api_stats st;
    api_get_stats(e->srv, &st);
    assert_int_equal(st.admitted, 0);
    assert_int_equal(st.refused, 5);
    /* and HTTPS still works */
    q.ca = e->f.ca;
    http(e->port, &q, &r);
    assert_int_equal(r.status, 200);
}

/* A client that trusts another CA refuses the server: no request is
 * made.  So does one that trusts the right CA but reaches the host at an
 * address its certificate does not name. */
static void test_tls_wrong_ca_refused(void **state)
{
    tls_env *e = *state;
    tls_serve(e, false, NULL, NULL);
    reply r;
    req q = {.method = "GET", .path = "/v1/health", .ca = e->f.other_ca};
    assert_int_equal(http_raw(e->port, &q, &r), CURLE_PEER_FAILED_VERIFICATION);
    print_message("another CA: %s\n", r.tls_error);
    assert_non_null(strstr(r.tls_error, "certificate"));
    assert_int_equal(r.status, 0);

    /* the right CA, the wrong address: a certificate issued for 127.0.0.9 */
    tls_fixture nine = e->f;
    char ca_dir[TLS_FIXTURE_PATH];
    snprintf(nine.cert, sizeof(nine.cert), "%s/nine.crt", e->f.dir);
    snprintf(nine.key, sizeof(nine.key), "%s/nine.key", e->f.dir);
    snprintf(ca_dir, sizeof(ca_dir), "%s/ca", e->f.dir);
    mrd_error err;
    assert_int_equal(mrd_cert_issue(ca_dir, nine.cert, nine.key, "use-a1", "127.0.0.9", 2, &err),
                     MRD_OK);
    tls_serve(e, false, NULL, &nine);
    q.ca = e->f.ca;
    assert_int_equal(http_raw(e->port, &q, &r), CURLE_PEER_FAILED_VERIFICATION);
    print_message("wrong address: %s\n", r.tls_error);
    assert_int_equal(atomic_load(&e->s.health_calls), 0);
}

/* The token is checked over HTTPS as over HTTP, with the same JSON
 * refusals. */
static void test_tls_token(void **state)
{
    tls_env *e = *state;
    tls_serve(e, false, NULL, NULL);
    reply r;
    req q = {.method = "GET", .path = "/v1/nodes", .ca = e->f.ca};
    http(e->port, &q, &r);
    assert_int_equal(r.status, 401);
    assert_error_body(&r);
    assert_string_equal(r.www_auth, "Bearer realm=\"meridian\"");
    api_stats st;
    api_get_stats(e->srv, &st);
    assert_int_equal(st.refused, 1);
    q.auth = "Bearer wrong";
    http(e->port, &q, &r);
    assert_int_equal(r.status, 401);
    q.auth = BEARER;
    http(e->port, &q, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "use-a1/redis"));
    req m = {.method = "GET", .path = "/metrics", .ca = e->f.ca};
    http(e->port, &m, &r);
    assert_int_equal(r.status, 401);
    req h = {.method = "POST", .path = "/v1/heal", .body = "{}", .body_len = 2, .ca = e->f.ca};
    http(e->port, &h, &r);
    assert_int_equal(r.status, 401);
    assert_int_equal(atomic_load(&e->s.heal_calls), 0);
    h.auth = BEARER;
    http(e->port, &h, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(atomic_load(&e->s.heal_calls), 1);
    h.body = "[]";
    http(e->port, &h, &r);
    assert_int_equal(r.status, 400);
    assert_error_body(&r);
}

/* The classes over TLS: applied once the head is decrypted. */
static void test_tls_capacity_reserve(void **state)
{
    tls_env *e = *state;
    api_limits lim;
    capacity_limits(&lim);
    tls_serve(e, true, &lim, NULL);
    check_capacity_reserve(&e->s, e->srv, e->port, e->f.ca);
}

/* A TLS connection to 127.0.0.1:PORT whose handshake (verified by CTX)
 * is done; *FD gets its socket.  SSL_free() and close() it. */
static SSL *tls_handshake(SSL_CTX *ctx, int port, int *fd)
{
    *fd = raw_connect(port, NULL);
    SSL *ssl = SSL_new(ctx);
    assert_non_null(ssl);
    assert_int_equal(SSL_set_fd(ssl, *fd), 1);
    assert_int_equal(X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), "127.0.0.1"), 1);
    if (SSL_connect(ssl) != 1)
        fail_msg("TLS handshake: %s", ERR_reason_error_string(ERR_get_error()));
    return ssl;
}

/* Slow clients over TLS: a ClientHello that does not come whole, and a
 * handshake with no request after it, are closed without an answer once
 * their deadline has passed; a good client is served meanwhile. */
static void test_tls_deadlines(void **state)
{
    tls_env *e = *state;
    api_limits lim;
    api_limits_default(&lim);
    lim.head_deadline_ms = 400;
    lim.head_grace_ms = 100;
    tls_serve(e, false, &lim, NULL);

    /* half a ClientHello: its record says 512 bytes */
    raw_reply rr;
    raw_exchange(e->port, NULL, RAWREQ("\x16\x03\x01\x02\x00\x01\x00\x01\xfc"), &rr);
    assert_int_equal(rr.len, 0);
    if (rr.ms < 300 || rr.ms > 2000)
        fail_msg("half a ClientHello was closed after %lld ms, want about 400", rr.ms);

    /* a whole handshake, then silence */
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(ctx);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    assert_int_equal(SSL_CTX_load_verify_locations(ctx, e->f.ca, NULL), 1);
    long long t0 = mrd_now_ms();
    int fd;
    SSL *ssl = tls_handshake(ctx, e->port, &fd);
    reply r;
    req h = {.method = "GET", .path = "/v1/health", .ca = e->f.ca};
    http(e->port, &h, &r); /* served while the silent one waits */
    assert_int_equal(r.status, 200);
    char buf[256];
    int n = SSL_read(ssl, buf, sizeof(buf)); /* blocks until the server closes */
    long long took = mrd_now_ms() - t0;
    assert_true(n <= 0);
    if (took < 300 || took > 2500)
        fail_msg("a silent TLS client was closed after %lld ms, want about 400", took);
    SSL_free(ssl);
    close(fd);

    /* a handshake and a whole request right after it: served */
    ssl = tls_handshake(ctx, e->port, &fd);
    static const char get[] = "GET /v1/health HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_int_equal(SSL_write(ssl, get, (int)sizeof(get) - 1), (int)sizeof(get) - 1);
    int got = 0;
    while ((n = SSL_read(ssl, buf + got, (int)sizeof(buf) - 1 - got)) > 0)
        got += n;
    buf[got] = '\0';
    assert_int_equal(strncmp(buf, "HTTP/1.1 200 ", 13), 0);
    SSL_free(ssl);
    close(fd);
    SSL_CTX_free(ctx);

    api_stats st;
    api_get_stats(e->srv, &st);
    assert_int_equal(st.timed_out, 2);
    assert_int_equal(atomic_load(&e->s.health_calls), 2);
}

/* Connections that finish their TLS handshake and then say nothing, as
 * many as TLS_SILENT_CONNS at once (over connection_limit), each opened
 * again TLS_SILENT_REOPEN_MS after the server closed it, for
 * TLS_ATTACK_MS; /v1/health asked every HEALTH_PERIOD_MS meanwhile must
 * answer every time, within TLS_HEALTH_MAX_MS. */
#define TLS_SILENT_CONNS 100
#define TLS_SILENT_REOPEN_MS 20
#define TLS_ATTACK_MS 4000
#define TLS_HEALTH_MAX_MS 1000

typedef struct tls_attack {
    int port;
    SSL_CTX *ctx;
    atomic_bool stop;
    long handshakes, failed;
} tls_attack;

static void *tls_attack_main(void *arg)
{
    tls_attack *a = arg;
    int fd[TLS_SILENT_CONNS];
    SSL *ssl[TLS_SILENT_CONNS];
    long long reopen[TLS_SILENT_CONNS];
    struct pollfd pfd[TLS_SILENT_CONNS];
    int idx[TLS_SILENT_CONNS];
    for (int i = 0; i < TLS_SILENT_CONNS; i++) {
        fd[i] = -1;
        ssl[i] = NULL;
        reopen[i] = 0;
    }
    struct timeval tv = {.tv_sec = 1};
    while (!atomic_load(&a->stop)) {
        for (int i = 0; i < TLS_SILENT_CONNS && !atomic_load(&a->stop); i++) {
            if (fd[i] >= 0 || mrd_now_ms() < reopen[i])
                continue;
            fd[i] = raw_connect(a->port, NULL);
            setsockopt(fd[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
            ssl[i] = SSL_new(a->ctx);
            SSL_set_fd(ssl[i], fd[i]);
            if (SSL_connect(ssl[i]) == 1) {
                a->handshakes++;
                continue;
            }
            a->failed++;
            SSL_free(ssl[i]);
            close(fd[i]);
            fd[i] = -1;
            reopen[i] = mrd_now_ms() + TLS_SILENT_REOPEN_MS;
        }
        int n = 0;
        for (int i = 0; i < TLS_SILENT_CONNS; i++)
            if (fd[i] >= 0) {
                pfd[n] = (struct pollfd){.fd = fd[i], .events = POLLIN};
                idx[n++] = i;
            }
        if (poll(pfd, (nfds_t)n, 10) <= 0)
            continue;
        for (int k = 0; k < n; k++) /* the server closed it */
            if (pfd[k].revents) {
                int i = idx[k];
                SSL_free(ssl[i]);
                close(fd[i]);
                fd[i] = -1;
                reopen[i] = mrd_now_ms() + TLS_SILENT_REOPEN_MS;
            }
    }
    for (int i = 0; i < TLS_SILENT_CONNS; i++)
        if (fd[i] >= 0) {
            SSL_free(ssl[i]);
            close(fd[i]);
        }
    return NULL;
}

/* More connections than connection_limit that finish their handshake and
 * stall: the oldest is closed to make room for each new one, so a client
 * that sends its request right away is served throughout. */
static void test_tls_silent_handshakes_keep_health(void **state)
{
    tls_env *e = *state;
    tls_serve(e, false, NULL, NULL);
    tls_attack a = {.port = e->port, .ctx = SSL_CTX_new(TLS_client_method())};
    assert_non_null(a.ctx);
    atomic_init(&a.stop, false);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, tls_attack_main, &a), 0);
    mrd_sleep_ms(500); /* the attack fills the room first */
    long long until = mrd_now_ms() + TLS_ATTACK_MS, worst = 0;
    int asked = 0, failed = 0;
    req q = {.method = "GET", .path = "/v1/health", .ca = e->f.ca};
    while (mrd_now_ms() < until) {
        reply r;
        CURLcode rc = http_raw(e->port, &q, &r);
        asked++;
        if (rc != CURLE_OK || r.status != 200) {
            failed++;
            print_message("/v1/health: %s, status %ld\n", curl_easy_strerror(rc), r.status);
        }
        if (r.ms > worst)
            worst = r.ms;
        mrd_sleep_ms(HEALTH_PERIOD_MS);
    }
    atomic_store(&a.stop, true);
    pthread_join(t, NULL);
    SSL_CTX_free(a.ctx);
    api_stats st;
    api_get_stats(e->srv, &st);
    print_message("%ld handshakes (%ld failed), %ld closed to make room, %ld past the "
                  "deadline; /v1/health asked %d times, worst %lld ms\n",
                  a.handshakes, a.failed, st.evicted, st.timed_out, asked, worst);
    assert_int_equal(failed, 0);
    assert_true(worst < TLS_HEALTH_MAX_MS);
    assert_true(st.evicted > 0); /* the attack did fill the room */
}

/* api_start_tls() with FILES on the last port of the TLS range: what
 * it returns; *ERR says why. */
static mrd_rc tls_start_fails(tls_env *e, const api_tls *files, mrd_error *err)
{
    api_handlers h = stub_handlers(&e->s);
    mrd_rc rc = api_start_tls("127.0.0.1", TLS_PORT_BASE + TLS_PORT_TRIES - 1, TOKEN, false,
                              &h, NULL, files, &e->srv, err);
    if (rc == MRD_OK)
        fail_msg("api_start_tls started with %s and %s", files->cert_file, files->key_file);
    assert_null(e->srv);
    print_message("refused: %s\n", err->msg);
    return rc;
}

/* What start-up says about the files, naming them; nothing listens. */
static void test_tls_start_errors(void **state)
{
    tls_env *e = *state;
    mrd_error err;
    char missing[TLS_FIXTURE_PATH + 16];
    snprintf(missing, sizeof(missing), "%s/absent.key", e->f.dir);
    api_tls files = {.cert_file = e->f.cert, .key_file = missing};
    assert_int_equal(tls_start_fails(e, &files, &err), MRD_ERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, missing));

    /* a key others can read */
    assert_int_equal(chmod(e->f.key, 0644), 0);
    files.key_file = e->f.key;
    assert_int_equal(tls_start_fails(e, &files, &err), MRD_ERR_STATE);
    assert_non_null(strstr(err.msg, "chmod 600"));
    assert_int_equal(chmod(e->f.key, 0600), 0);

    /* a key that is not the certificate's */
    files.key_file = e->f.other_key;
    assert_int_equal(tls_start_fails(e, &files, &err), MRD_ERR_IO);
    assert_non_null(strstr(err.msg, e->f.other_key));
    assert_non_null(strstr(err.msg, "do not match"));

    /* an empty certificate */
    char empty[TLS_FIXTURE_PATH + 16];
    snprintf(empty, sizeof(empty), "%s/empty.crt", e->f.dir);
    FILE *fe = fopen(empty, "w");
    assert_non_null(fe);
    fclose(fe);
    files = (api_tls){.cert_file = empty, .key_file = e->f.key};
    assert_int_equal(tls_start_fails(e, &files, &err), MRD_ERR_INVALID);
    assert_non_null(strstr(err.msg, "empty"));

    /* nothing was left listening */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons(TLS_PORT_BASE + TLS_PORT_TRIES - 1)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_not_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(fd);
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

/* A webhook receiver on 127.0.0.1; over HTTPS with F's host certificate
 * when F is not NULL. */
static void receiver_start_tls(receiver *rc, int fail_first, const tls_fixture *f)
{
    memset(rc, 0, sizeof(*rc));
    pthread_mutex_init(&rc->mu, NULL);
    rc->fail_first = fail_first;
    char *cert = NULL, *key = NULL;
    mrd_error err;
    if (f && (mrd_read_file(f->cert, 65536, &cert, NULL, &err) != MRD_OK ||
              mrd_read_file(f->key, 65536, &key, NULL, &err) != MRD_OK))
        fail_msg("%s", err.msg);
    struct MHD_OptionItem tls[] = {{MHD_OPTION_HTTPS_MEM_CERT, 0, cert},
                                   {MHD_OPTION_HTTPS_MEM_KEY, 0, key},
                                   {MHD_OPTION_END, 0, NULL}};
    for (int p = TEST_PORT_BASE + TEST_PORT_TRIES; p < TEST_PORT_BASE + 2 * TEST_PORT_TRIES;
         p++) {
        struct sockaddr_in sa;
        memset(&sa, 0, sizeof(sa));
        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)p);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        rc->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | (f ? MHD_USE_TLS : 0),
                                 (uint16_t)p, NULL, NULL, recv_handler, rc,
                                 MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&sa,
                                 MHD_OPTION_NOTIFY_COMPLETED, recv_done, (void *)NULL,
                                 MHD_OPTION_ARRAY, f ? tls : &tls[2], MHD_OPTION_END);
        if (rc->d) {
            rc->port = p;
            break;
        }
    }
    free(cert);
    free(key);
    if (!rc->d)
        fail_msg("no free port for the webhook receiver");
}

static void receiver_start(receiver *rc, int fail_first)
{
    receiver_start_tls(rc, fail_first, NULL);
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

/* A webhook over HTTPS whose certificate no CA of the system vouches for
 * (the test CA's) gets nothing: libcurl verifies the webhook's
 * certificate, and nothing turns that off. */
static void test_events_https_unverified(void **state)
{
    (void)state;
    tls_fixture f;
    tls_fixture_make(&f, "hooks", "127.0.0.1");
    receiver rc;
    receiver_start_tls(&rc, 0, &f);
    char url[128];
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/hook", rc.port);
    char *hooks[] = {url};
    events *ev = NULL;
    assert_int_equal(events_start("demo", "use-a1", hooks, 1, &ev, NULL), MRD_OK);
    events_emit(ev, "+heal-failed", "use-a1/redis", "snapshot fetch failed");
    wait_counts(ev, 0, 1, EVENTS_RETRIES * EVENTS_TIMEOUT_MS + 2000);
    events_stop(&ev, 1000);
    pthread_mutex_lock(&rc.mu);
    assert_int_equal(rc.requests, 0);
    pthread_mutex_unlock(&rc.mu);
    receiver_stop(&rc);
    tls_fixture_remove(&f);
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
    /* The slow-client test holds about 600 sockets (both ends). */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4096) {
        rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
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
        cmocka_unit_test(test_edges_are_json),
        cmocka_unit_test(test_head_deadline),
        cmocka_unit_test(test_pending_limits),
        cmocka_unit_test(test_capacity_reserve),
        cmocka_unit_test(test_slow_clients_keep_health),
        cmocka_unit_test_setup_teardown(test_tls_health, tls_setup, tls_teardown),
        cmocka_unit_test_setup_teardown(test_tls_plain_http_unanswered, tls_setup, tls_teardown),
        cmocka_unit_test_setup_teardown(test_tls_wrong_ca_refused, tls_setup, tls_teardown),
        cmocka_unit_test_setup_teardown(test_tls_token, tls_setup, tls_teardown),
        cmocka_unit_test_setup_teardown(test_tls_capacity_reserve, tls_setup, tls_teardown),
        cmocka_unit_test_setup_teardown(test_tls_deadlines, tls_setup, tls_teardown),
        cmocka_unit_test_setup_teardown(test_tls_silent_handshakes_keep_health, tls_setup,
                                        tls_teardown),
        cmocka_unit_test_setup_teardown(test_tls_start_errors, tls_setup, tls_teardown),
        cmocka_unit_test(test_events_delivered),
        cmocka_unit_test(test_events_retry_non2xx),
        cmocka_unit_test(test_events_dead_webhook),
        cmocka_unit_test(test_events_https_unverified),
        cmocka_unit_test(test_events_hanging_webhook_stop),
        cmocka_unit_test(test_events_queue_full),
        cmocka_unit_test(test_events_log_only),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
