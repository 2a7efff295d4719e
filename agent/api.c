/* api.c - the agent's HTTP API on libmicrohttpd.
 *
 * One thread per connection (MHD_USE_THREAD_PER_CONNECTION), so a POST
 * /v1/heal that runs for seconds never delays GET /v1/health.  The access
 * handler is called by MHD in three phases for each request:
 *
 *   1. headers received (*con_cls == NULL): route, check method, token and
 *      declared body size; every refusal is queued here, before any body
 *      byte is read (MHD then discards the rest and closes the connection);
 *   2. body chunks (*upload_data_size > 0): copied into a fixed buffer of
 *      API_MAX_BODY bytes; no response may be queued in this phase;
 *   3. request complete (*upload_data_size == 0 again): validate the body
 *      and call the agent's handler.
 *
 * The token and the Authorization header are never logged. */
#include "api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "log.h"
#include "secret.h"

#define API_CONNECTION_LIMIT 64    /* concurrent connections */
#define API_CONNECTION_TIMEOUT_S 10 /* idle connection timeout, seconds */
/* A chunked upload (no Content-Length) that goes over API_MAX_BODY is
 * drained without being stored so that the client still gets its 400; past
 * this many bytes the connection is simply closed. */
#define API_MAX_DRAIN (16 * API_MAX_BODY)

struct api_server {
    struct MHD_Daemon *daemon;
    char *token;
    bool metrics_open;
    api_handlers h;
    char where[64]; /* "address:port", for log lines */
};

/* ==== ROUTES ==== */

typedef enum api_route {
    ROUTE_NONE = 0, /* unknown path: 404 */
    ROUTE_HEALTH,   /* GET /v1/health, open */
    ROUTE_NODES,    /* GET /v1/nodes, token */
    ROUTE_HEAL,     /* POST /v1/heal, token */
    ROUTE_METRICS,  /* GET /metrics, token unless metrics_open */
} api_route;

static api_route route_of(const char *url)
{
    if (strcmp(url, "/v1/health") == 0)
        return ROUTE_HEALTH;
    if (strcmp(url, "/v1/nodes") == 0)
        return ROUTE_NODES;
    if (strcmp(url, "/v1/heal") == 0)
        return ROUTE_HEAL;
    if (strcmp(url, "/metrics") == 0)
        return ROUTE_METRICS;
    return ROUTE_NONE;
}

static const char *route_name(api_route r)
{
    switch (r) {
    case ROUTE_HEALTH:
        return "/v1/health";
    case ROUTE_NODES:
        return "/v1/nodes";
    case ROUTE_HEAL:
        return "/v1/heal";
    case ROUTE_METRICS:
        return "/metrics";
    case ROUTE_NONE:
        break;
    }
    return "(unknown path)";
}

/* The "Allow" header of a route: its methods. */
static const char *route_allow(api_route r)
{
    return r == ROUTE_HEAL ? "POST" : "GET, HEAD";
}

static bool route_method_ok(api_route r, const char *method)
{
    if (r == ROUTE_HEAL)
        return strcmp(method, MHD_HTTP_METHOD_POST) == 0;
    return strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
           strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
}

/* ==== RESPONSES ==== */

/* Queue BUF (malloc'ed, LEN bytes; taken over even on failure) with STATUS
 * and CONTENT_TYPE, plus one optional extra header. */
static enum MHD_Result reply_buf(struct MHD_Connection *c, unsigned status, char *buf,
                                 size_t len, const char *content_type,
                                 const char *hname, const char *hvalue)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(buf);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (hname)
        MHD_add_response_header(r, hname, hvalue);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Queue OBJ (a new reference, always consumed) as JSON. */
static enum MHD_Result reply_json(struct MHD_Connection *c, unsigned status, json_t *obj,
                                  const char *hname, const char *hvalue)
{
    char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (!text)
        return MHD_NO;
    size_t len = strlen(text);
    /* A trailing newline is friendlier to curl on a terminal. */
    char *buf = realloc(text, len + 2);
    if (!buf) {
        free(text);
        return MHD_NO;
    }
    buf[len] = '\n';
    buf[len + 1] = '\0';
    return reply_buf(c, status, buf, len + 1, "application/json", hname, hvalue);
}

static enum MHD_Result reply_error(struct MHD_Connection *c, unsigned status,
                                   const char *msg, const char *hname, const char *hvalue)
{
    return reply_json(c, status, json_pack("{s:s}", "error", msg), hname, hvalue);
}

static enum MHD_Result reply_too_large(struct MHD_Connection *c)
{
    char msg[96];
    snprintf(msg, sizeof(msg), "the request body is larger than %d bytes",
             (int)API_MAX_BODY);
    return reply_error(c, MHD_HTTP_BAD_REQUEST, msg, NULL, NULL);
}

/* ==== REQUEST STATE ==== */

/* Per-request state (MHD's *con_cls), created in phase 1 once the request
 * has passed routing, method and token checks. */
typedef struct api_request {
    api_route route;
    bool get_with_body; /* a GET/HEAD that carried body bytes */
    bool too_large;     /* upload went over API_MAX_BODY */
    size_t len;         /* bytes stored in body */
    size_t drained;     /* bytes discarded after too_large */
    char body[API_MAX_BODY + 1];
} api_request;

static void request_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    free(*con_cls);
    *con_cls = NULL;
}

/* ==== AUTHENTICATION ==== */

/* True when the request carries "Authorization: Bearer <token>" with the
 * server's token.  The scheme is case-insensitive (RFC 7235); the token is
 * compared in constant time. */
static bool authorized(const api_server *s, struct MHD_Connection *c)
{
    const char *v =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!v || strncasecmp(v, "Bearer", 6) != 0 || (v[6] != ' ' && v[6] != '\t'))
        return false;
    v += 6;
    while (*v == ' ' || *v == '\t')
        v++;
    /* The presented token goes first: mrd_secret_equal may leak the length
     * of its first argument, which the client already knows. */
    return mrd_secret_equal(v, s->token);
}

static bool needs_token(const api_server *s, api_route r)
{
    switch (r) {
    case ROUTE_HEALTH:
        return false;
    case ROUTE_METRICS:
        return !s->metrics_open;
    case ROUTE_NODES:
    case ROUTE_HEAL:
    case ROUTE_NONE:
        break;
    }
    return true;
}

/* ==== DISPATCH ==== */

static enum MHD_Result dispatch(api_server *s, struct MHD_Connection *c, api_request *rq)
{
    switch (rq->route) {
    case ROUTE_HEALTH: {
        bool ready = false;
        json_t *obj = s->h.health(s->h.ctx, &ready);
        if (!obj)
            return reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
                               "the agent could not report its health", NULL, NULL);
        return reply_json(c, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, obj, NULL,
                          NULL);
    }
    case ROUTE_NODES: {
        json_t *obj = s->h.nodes(s->h.ctx);
        if (!obj)
            return reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
                               "the agent could not report its nodes", NULL, NULL);
        return reply_json(c, MHD_HTTP_OK, obj, NULL, NULL);
    }
    case ROUTE_HEAL: {
        int status = MHD_HTTP_OK;
        mrd_info("api %s: heal pass requested", s->where);
        json_t *obj = s->h.heal(s->h.ctx, &status);
        if (!obj)
            return reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
                               "the heal pass did not produce a report", NULL, NULL);
        if (status < 200 || status > 599)
            status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        return reply_json(c, (unsigned)status, obj, NULL, NULL);
    }
    case ROUTE_METRICS: {
        char *text = s->h.metrics(s->h.ctx);
        if (!text)
            return reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
                               "the agent could not produce its metrics", NULL, NULL);
        return reply_buf(c, MHD_HTTP_OK, text, strlen(text),
                         "text/plain; version=0.0.4; charset=utf-8", NULL, NULL);
    }
    case ROUTE_NONE:
        break;
    }
    return reply_error(c, MHD_HTTP_NOT_FOUND, "no such endpoint", NULL, NULL);
}

/* Phase 3 for POST /v1/heal: the body must be empty or a JSON object. */
static enum MHD_Result finish(api_server *s, struct MHD_Connection *c, api_request *rq)
{
    if (rq->get_with_body)
        return reply_error(c, MHD_HTTP_BAD_REQUEST,
                           "a GET request must not carry a body", NULL, NULL);
    if (rq->too_large)
        return reply_too_large(c);
    if (rq->route == ROUTE_HEAL && rq->len > 0) {
        json_error_t jerr;
        json_t *body = json_loadb(rq->body, rq->len, JSON_REJECT_DUPLICATES, &jerr);
        bool is_object = json_is_object(body);
        json_decref(body);
        if (!is_object)
            return reply_error(c, MHD_HTTP_BAD_REQUEST,
                               "the request body must be empty or a JSON object", NULL,
                               NULL);
    }
    return dispatch(s, c, rq);
}

/* Phase 1: everything that can be decided from the request line and the
 * headers.  Returns true when a response was queued (in *ret). */
static bool check_headers(api_server *s, struct MHD_Connection *c, api_route route,
                          const char *method, enum MHD_Result *ret)
{
    if (route == ROUTE_NONE) {
        *ret = reply_error(c, MHD_HTTP_NOT_FOUND, "no such endpoint", NULL, NULL);
        return true;
    }
    if (!route_method_ok(route, method)) {
        *ret = reply_error(c, MHD_HTTP_METHOD_NOT_ALLOWED,
                           "method not allowed on this endpoint", MHD_HTTP_HEADER_ALLOW,
                           route_allow(route));
        return true;
    }
    if (needs_token(s, route) && !authorized(s, c)) {
        mrd_info("api %s: refused %s %s: missing or wrong token", s->where, method,
                 route_name(route));
        *ret = reply_error(c, MHD_HTTP_UNAUTHORIZED,
                           "this endpoint needs \"Authorization: Bearer <token>\" "
                           "with the agent's API token",
                           MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"meridian\"");
        return true;
    }
    const char *cl =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *te =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    unsigned long long declared = 0;
    if (cl) {
        char *end = NULL;
        errno = 0;
        declared = strtoull(cl, &end, 10);
        if (errno || end == cl || *end != '\0') {
            *ret = reply_error(c, MHD_HTTP_BAD_REQUEST, "malformed Content-Length", NULL,
                               NULL);
            return true;
        }
    }
    if (route != ROUTE_HEAL && (declared > 0 || te)) {
        *ret = reply_error(c, MHD_HTTP_BAD_REQUEST, "a GET request must not carry a body",
                           NULL, NULL);
        return true;
    }
    if (declared > API_MAX_BODY) {
        *ret = reply_too_large(c);
        return true;
    }
    return false;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    api_server *s = cls;
    api_request *rq = *con_cls;

    if (!rq) { /* phase 1 */
        api_route route = route_of(url);
        enum MHD_Result ret;
        if (check_headers(s, c, route, method, &ret))
            return ret;
        rq = malloc(sizeof(*rq));
        if (!rq)
            return MHD_NO;
        rq->route = route;
        rq->get_with_body = false;
        rq->too_large = false;
        rq->len = 0;
        rq->drained = 0;
        *con_cls = rq;
        return MHD_YES;
    }

    if (*upload_data_size > 0) { /* phase 2 */
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (rq->route != ROUTE_HEAL) {
            rq->get_with_body = true;
        } else if (!rq->too_large && n <= API_MAX_BODY - rq->len) {
            memcpy(rq->body + rq->len, upload_data, n);
            rq->len += n;
            return MHD_YES;
        } else {
            rq->too_large = true;
        }
        rq->drained += n;
        return rq->drained > API_MAX_DRAIN ? MHD_NO : MHD_YES;
    }

    return finish(s, c, rq); /* phase 3 */
}

/* ==== LIFECYCLE ==== */

/* MHD's own diagnostics go to our log.  They never contain header values. */
__attribute__((format(printf, 2, 0))) static void mhd_logger(void *cls, const char *fmt,
                                                              va_list ap)
{
    const api_server *s = cls;
    char line[512];
    vsnprintf(line, sizeof(line), fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    mrd_warn("api %s: %s", s->where, line);
}

mrd_rc api_start(const char *address, int port, const char *token, bool metrics_open,
                 const api_handlers *h, api_server **out, mrd_error *err)
{
    *out = NULL;
    if (!address || !token || !h)
        return mrd_error_set(err, MRD_ERR_INVALID, "api_start: missing argument");
    if (!token[0])
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "the agent API token is empty: the API would accept anyone");
    if (!h->health || !h->nodes || !h->heal || !h->metrics)
        return mrd_error_set(err, MRD_ERR_INVALID, "api_start: a handler is missing");
    if (port <= 0 || port > 65535)
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "agent API port %d is out of range: use 1-65535", port);

    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, address, &sa.sin_addr) != 1)
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "agent API address \"%s\" is not an IPv4 address", address);

    api_server *s = calloc(1, sizeof(*s));
    if (!s || !(s->token = strdup(token))) {
        free(s);
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    s->metrics_open = metrics_open;
    s->h = *h;
    snprintf(s->where, sizeof(s->where), "%s:%d", address, port);

    errno = 0;
    s->daemon = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
            MHD_USE_ERROR_LOG,
        (uint16_t)port, NULL, NULL, on_request, s,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, (void *)s, /* must come first */
        MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&sa,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)API_CONNECTION_LIMIT,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)API_CONNECTION_TIMEOUT_S,
        MHD_OPTION_NOTIFY_COMPLETED, request_completed, (void *)NULL,
        MHD_OPTION_END);
    int saved = errno;
    if (!s->daemon) {
        mrd_rc rc;
        if (saved == EADDRINUSE)
            rc = mrd_error_set(err, MRD_ERR_IO,
                               "cannot listen on %s: the port is already in use; stop "
                               "what holds it or choose another agent port",
                               s->where);
        else if (saved == EADDRNOTAVAIL)
            rc = mrd_error_set(err, MRD_ERR_IO,
                               "cannot listen on %s: the address is not assigned to this "
                               "host",
                               s->where);
        else
            rc = mrd_error_set(err, MRD_ERR_IO,
                               "cannot listen on %s: %s; check that the port is free and "
                               "the address belongs to this host",
                               s->where,
                               saved ? strerror(saved) : "the HTTP server failed to start");
        free(s->token);
        free(s);
        return rc;
    }
    mrd_info("api: listening on %s", s->where);
    *out = s;
    return MRD_OK;
}

void api_stop(api_server **sp)
{
    if (!sp || !*sp)
        return;
    api_server *s = *sp;
    /* Closes the listening socket and joins every connection thread, so a
     * running handler finishes before the server is freed. */
    if (s->daemon)
        MHD_stop_daemon(s->daemon);
    mrd_info("api: stopped listening on %s", s->where);
    size_t n = strlen(s->token);
    volatile char *t = s->token;
    for (size_t i = 0; i < n; i++)
        t[i] = 0;
    free(s->token);
    free(s);
    *sp = NULL;
}
