/* api.c - the agent's HTTP API on libmicrohttpd, behind the front door.
 *
 * The front door (api_gate.c) owns the listening socket: it accepts,
 * waits for a whole request head with a deadline, answers every refusal
 * itself and hands the accepted connections, head unread, to
 * libmicrohttpd with MHD_add_connection().  So libmicrohttpd only ever
 * sees heads that api_request.c accepted, which are well inside what it
 * accepts too: it never answers an error of its own (those are HTML).
 *
 * One thread per connection (MHD_USE_THREAD_PER_CONNECTION), so a POST
 * /v1/heal that runs for seconds never delays GET /v1/health.  The access
 * handler is called by MHD in three phases for each request:
 *
 *   0. request line received (the URI log callback): the request state is
 *      allocated and the target kept as sent, before MHD decodes it;
 *   1. headers received: the head is checked again
 *      (api_request_check_head() on MHD's view of it: same verdict as the
 *      front door's); a refusal is queued here, before any body byte is
 *      read;
 *   2. body chunks (*upload_data_size > 0): copied into a fixed buffer of
 *      API_MAX_BODY bytes (the front door refused larger Content-Lengths);
 *      no response may be queued in this phase;
 *   3. request complete (*upload_data_size == 0 again): the body is
 *      checked (api_request_check_body()) and the agent's handler called.
 *
 * Every answer carries "Connection: close": a second request on the same
 * connection would reach MHD without passing the front door.
 *
 * The token and the Authorization header are never logged. */
#include "api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "api_gate.h"
#include "api_request.h"
#include "log.h"

/* Connections the kernel queues until the gate accepts them (capped by
 * net.core.somaxconn).  Large: a burst of connections that overflows the
 * queue has its SYNs dropped, and a health check caught in it would wait
 * for its SYN to be resent (1 s). */
#define API_LISTEN_BACKLOG 4096
/* libmicrohttpd's memory per connection: the head (at most API_MAX_HEAD,
 * the front door makes sure), its header index, the body buffer and the
 * answer's headers fit in it several times over. */
#define API_MHD_MEMORY (4 * API_MAX_HEAD)

struct api_server {
    struct MHD_Daemon *daemon;
    api_gate *gate;
    char *token;
    api_policy policy; /* points to token */
    api_limits lim;
    api_handlers h;
    atomic_int active; /* connections MHD holds (NOTIFY_CONNECTION) */
    atomic_int handed; /* handed to MHD, not yet started */
    char where[64];    /* "address:port", for log lines */
};

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
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
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
                                   const char *msg)
{
    return reply_json(c, status, json_pack("{s:s}", "error", msg), NULL, NULL);
}

/* Queue refusal V, with the header it asks for. */
static enum MHD_Result reply_verdict(struct MHD_Connection *c, const api_verdict *v)
{
    const char *hname = NULL, *hvalue = NULL;
    if (v->allow) {
        hname = MHD_HTTP_HEADER_ALLOW;
        hvalue = v->allow;
    } else if (v->challenge) {
        hname = MHD_HTTP_HEADER_WWW_AUTHENTICATE;
        hvalue = "Bearer realm=\"meridian\"";
    } else if (v->retry) {
        hname = MHD_HTTP_HEADER_RETRY_AFTER;
        hvalue = "1";
    }
    return reply_json(c, v->status, json_pack("{s:s}", "error", v->error), hname, hvalue);
}

/* ==== REQUEST STATE ==== */

/* Per-request state (MHD's *con_cls), created by the URI log callback when
 * the request line has been read. */
typedef struct api_request {
    bool checked;   /* phase 1 done: V holds the head's verdict */
    bool too_large; /* more than API_MAX_BODY body bytes arrived */
    api_verdict v;
    size_t target_len;                /* bytes of the target as sent */
    char target[API_MAX_TARGET + 1];  /* its first API_MAX_TARGET bytes */
    size_t len;                       /* bytes stored in body */
    char body[API_MAX_BODY];
} api_request;

/* MHD_OPTION_URI_LOG_CALLBACK: URI is the request target as sent (still
 * %-encoded, query included); the return value becomes *con_cls. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)cls;
    (void)c;
    api_request *rq = calloc(1, sizeof(*rq));
    if (!rq)
        return NULL;
    rq->target_len = uri ? strlen(uri) : 0;
    memcpy(rq->target, uri ? uri : "",
           rq->target_len < API_MAX_TARGET ? rq->target_len : API_MAX_TARGET);
    return rq;
}

static void request_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    free(*con_cls);
    *con_cls = NULL;
}

/* MHD_OPTION_NOTIFY_CONNECTION: count the connections MHD holds, for the
 * front door's capacity check. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    (void)c;
    (void)socket_context;
    api_server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        atomic_fetch_sub(&s->handed, 1);
        atomic_fetch_add(&s->active, 1);
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        atomic_fetch_sub(&s->active, 1);
    }
}

/* The request's headers, duplicates kept, with their lengths. */
typedef struct header_list {
    api_header h[API_MAX_HEADERS + 1]; /* one more than allowed: 431 */
    size_t n;
} header_list;

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      size_t key_size, const char *value,
                                      size_t value_size)
{
    (void)kind;
    header_list *l = cls;
    if (l->n < sizeof(l->h) / sizeof(l->h[0]))
        l->h[l->n++] = (api_header){.name = key,
                                    .name_len = key_size,
                                    .value = value ? value : "",
                                    .value_len = value ? value_size : 0};
    return MHD_YES;
}

/* ==== DISPATCH ==== */

static enum MHD_Result dispatch(api_server *s, struct MHD_Connection *c, const api_verdict *v)
{
    switch (v->route) {
    case API_ROUTE_HEALTH: {
        bool ready = false;
        json_t *obj = s->h.health(s->h.ctx, &ready);
        if (!obj)
            return reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
                               "the agent could not report its health");
        return reply_json(c, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, obj, NULL,
                          NULL);
    }
    case API_ROUTE_NODES: {
        json_t *obj = s->h.nodes(s->h.ctx);
        if (!obj)
            return reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
                               "the agent could not report its nodes");
        return reply_json(c, MHD_HTTP_OK, obj, NULL, NULL);
    }
    case API_ROUTE_HEAL: {
        int status = MHD_HTTP_OK;
        mrd_info("api %s: heal pass requested", s->where);
        json_t *obj = s->h.heal(s->h.ctx, &status);
        if (!obj)
            return reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
                               "the heal pass did not produce a report");
        if (status < 200 || status > 599)
            status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        return reply_json(c, (unsigned)status, obj, NULL, NULL);
    }
    case API_ROUTE_METRICS: {
        char *text = s->h.metrics(s->h.ctx);
        if (!text)
            return reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
                               "the agent could not produce its metrics");
        return reply_buf(c, MHD_HTTP_OK, text, strlen(text),
                         "text/plain; version=0.0.4; charset=utf-8", NULL, NULL);
    }
    case API_ROUTE_FENCE: {
        if (!s->h.fence)
            break;
        json_t *obj = s->h.fence(s->h.ctx);
        if (!obj)
            return reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
                               "the agent could not report its generation");
        return reply_json(c, MHD_HTTP_OK, obj, NULL, NULL);
    }
    case API_ROUTE_HOLD: {
        if (!s->h.hold)
            break;
        int status = MHD_HTTP_OK;
        json_t *obj = s->h.hold(s->h.ctx,
                                MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "port"),
                                MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "ttl_ms"),
                                &status);
        if (!obj)
            return reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
                               "the agent could not answer the hold");
        if (status < 200 || status > 599)
            status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        return reply_json(c, (unsigned)status, obj, NULL, NULL);
    }
    case API_ROUTE_RESTART: {
        if (!s->h.restart)
            break;
        int status = MHD_HTTP_OK;
        mrd_info("api %s: restart of %s requested (port %d; 0: the sentinel)", s->where,
                 v->restart_port ? "a node" : "the sentinel", v->restart_port);
        json_t *obj = s->h.restart(s->h.ctx, v->restart_port, &status);
        if (!obj)
            return reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "the restart gave no report");
        return reply_json(c, status >= 200 && status <= 599 ? (unsigned)status : 500, obj, NULL,
                          NULL);
    }
    case API_ROUTE_NONE:
        break;
    }
    return reply_error(c, MHD_HTTP_NOT_FOUND, "no such endpoint");
}

/* Phase 1: MHD's view of the head, checked as the front door did. */
static enum MHD_Result check_head(api_server *s, struct MHD_Connection *c, const char *method,
                                  api_request *rq)
{
    header_list l;
    l.n = 0;
    MHD_get_connection_values_n(c, MHD_HEADER_KIND, collect_header, &l);
    api_request_in in = {.method = method,
                         .method_len = strlen(method),
                         .target = rq->target,
                         .target_len = rq->target_len,
                         .headers = l.h,
                         .n_headers = l.n};
    rq->checked = true;
    if (api_request_check_head(&in, &s->policy, &rq->v) == API_REQ_ACCEPT)
        return MHD_YES;
    /* The front door accepted this very head: only a disagreement between
     * its parser and MHD's gets here. */
    mrd_warn("api %s: refused %s after the front door let it in: %u %s", s->where,
             api_route_name(rq->v.route), rq->v.status, rq->v.error);
    return reply_verdict(c, &rq->v);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)url; /* decoded by MHD: the raw target is in the request state */
    (void)version;
    api_server *s = cls;
    api_request *rq = *con_cls;

    if (!rq) /* the URI log callback could not allocate */
        return reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "the agent is out of memory");
    if (!rq->checked) /* phase 1 */
        return check_head(s, c, method, rq);

    if (*upload_data_size > 0) { /* phase 2 */
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (!rq->too_large && n <= API_MAX_BODY - rq->len) {
            memcpy(rq->body + rq->len, upload_data, n);
            rq->len += n;
        } else {
            rq->too_large = true;
        }
        return MHD_YES;
    }

    /* phase 3 */
    api_verdict v;
    size_t len = rq->too_large ? API_MAX_BODY + 1 : rq->len;
    if (api_request_check_body(&rq->v, (const uint8_t *)rq->body, len, &v) != API_REQ_ACCEPT)
        return reply_verdict(c, &v);
    return dispatch(s, c, &v);
}

/* The front door's view of MHD. */
static bool gate_admit(void *ctx, int fd, const struct sockaddr_in *peer,
                       const api_verdict *v)
{
    (void)v;
    api_server *s = ctx;
    atomic_fetch_add(&s->handed, 1);
    if (MHD_add_connection(s->daemon, fd, (const struct sockaddr *)peer, sizeof(*peer)) ==
        MHD_YES)
        return true;
    atomic_fetch_sub(&s->handed, 1);
    return false;
}

static int gate_active(void *ctx)
{
    api_server *s = ctx;
    return atomic_load(&s->active) + atomic_load(&s->handed);
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

void api_limits_default(api_limits *l)
{
    *l = (api_limits){.head_deadline_ms = API_HEAD_DEADLINE_MS,
                      .pending_max = API_PENDING_MAX,
                      .pending_per_client = API_PENDING_PER_CLIENT,
                      .head_grace_ms = API_HEAD_GRACE_MS,
                      .connection_limit = API_CONNECTION_LIMIT,
                      .reserve_health = API_RESERVE_HEALTH,
                      .reserve_token = API_RESERVE_TOKEN,
                      .head_max_pieces = API_HEAD_MAX_PIECES,
                      .linger_ms = API_LINGER_MS};
}

static mrd_rc check_limits(const api_limits *l, mrd_error *err)
{
    if (l->head_deadline_ms <= 0 || l->pending_max <= 0 || l->pending_per_client <= 0 ||
        l->connection_limit <= 0 || l->reserve_health < 0 || l->reserve_token < 0 ||
        l->head_max_pieces <= 0 || l->linger_ms < 0 || l->head_grace_ms < 0 ||
        l->head_grace_ms >= l->head_deadline_ms)
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "api limits: deadlines, counts and pieces must be positive, "
                             "the grace shorter than the head deadline");
    if (l->reserve_health + l->reserve_token >= l->connection_limit)
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "api limits: the reserves (%d + %d) leave no room in %d "
                             "connections",
                             l->reserve_health, l->reserve_token, l->connection_limit);
    return MRD_OK;
}

/* A non-blocking socket listening on SA. */
static mrd_rc listen_on(const struct sockaddr_in *sa, const char *where, int *fd_out,
                        mrd_error *err)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
        bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 &&
        listen(fd, API_LISTEN_BACKLOG) == 0) {
        *fd_out = fd;
        return MRD_OK;
    }
    int saved = errno;
    if (fd >= 0)
        close(fd);
    if (saved == EADDRINUSE)
        return mrd_error_set(err, MRD_ERR_IO,
                             "cannot listen on %s: the port is already in use; stop what "
                             "holds it or choose another agent port",
                             where);
    if (saved == EADDRNOTAVAIL)
        return mrd_error_set(err, MRD_ERR_IO,
                             "cannot listen on %s: the address is not assigned to this host",
                             where);
    return mrd_error_set(err, MRD_ERR_IO,
                         "cannot listen on %s: %s; check that the port is free and the "
                         "address belongs to this host",
                         where, strerror(saved));
}

static void server_free(api_server *s)
{
    api_gate_stop(&s->gate);
    /* Closes the connections and joins their threads, so a running handler
     * finishes before the server is freed.  After the gate: the gate hands
     * connections to the daemon. */
    if (s->daemon)
        MHD_stop_daemon(s->daemon);
    if (s->token) {
        volatile char *t = s->token;
        for (size_t i = 0; t[i]; i++)
            t[i] = 0;
        free(s->token);
    }
    free(s);
}

mrd_rc api_start(const char *address, int port, const char *token, bool metrics_open,
                 const api_handlers *h, api_server **out, mrd_error *err)
{
    return api_start_limits(address, port, token, metrics_open, h, NULL, out, err);
}

mrd_rc api_start_limits(const char *address, int port, const char *token, bool metrics_open,
                        const api_handlers *h, const api_limits *lim, api_server **out,
                        mrd_error *err)
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
    api_limits limits;
    if (lim)
        limits = *lim;
    else
        api_limits_default(&limits);
    MRD_TRY(check_limits(&limits, err));

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
    s->policy = (api_policy){.token = s->token, .metrics_open = metrics_open};
    s->lim = limits;
    s->h = *h;
    atomic_init(&s->active, 0);
    atomic_init(&s->handed, 0);
    snprintf(s->where, sizeof(s->where), "%s:%d", address, port);

    int fd = -1;
    mrd_rc rc = listen_on(&sa, s->where, &fd, err);
    if (rc != MRD_OK) {
        server_free(s);
        return rc;
    }
    /* No listening socket of its own: connections come from the gate. */
    s->daemon = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD |
            MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC | MHD_USE_ERROR_LOG,
        0, NULL, NULL, on_request, s,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, (void *)s, /* must come first */
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)limits.connection_limit,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)API_IDLE_TIMEOUT_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)API_MHD_MEMORY,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, (void *)s,
        MHD_OPTION_NOTIFY_COMPLETED, request_completed, (void *)NULL,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, (void *)s,
        MHD_OPTION_END);
    if (!s->daemon) {
        rc = mrd_error_set(err, MRD_ERR_IO,
                           "cannot serve on %s: the HTTP server failed to start", s->where);
        close(fd);
        server_free(s);
        return rc;
    }
    api_gate_ops ops = {.ctx = s, .admit = gate_admit, .active = gate_active};
    rc = api_gate_start(fd, s->where, &s->policy, &limits, &ops, &s->gate, err);
    if (rc != MRD_OK) {
        server_free(s);
        return rc;
    }
    mrd_info("api: listening on %s", s->where);
    *out = s;
    return MRD_OK;
}

void api_get_stats(const api_server *s, api_stats *out)
{
    api_gate_stats(s ? s->gate : NULL, out);
}

void api_stop(api_server **sp)
{
    if (!sp || !*sp)
        return;
    api_server *s = *sp;
    char where[sizeof(s->where)];
    memcpy(where, s->where, sizeof(where));
    server_free(s);
    mrd_info("api: stopped listening on %s", where);
    *sp = NULL;
}
