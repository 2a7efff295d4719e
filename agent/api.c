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
 * ==== TLS ====
 * With TLS on (api_start_tls()), MHD serves HTTPS only (MHD_USE_TLS, GnuTLS
 * in Debian's build): MHD_add_connection() starts a TLS session on every
 * connection it is handed, exactly as on one it accepted itself
 * (new_connection_prepare_() in 0.9.75 does not care where the socket came
 * from), so the front door keeps its listening socket.  It peeks at the
 * ClientHello instead of the head (api_gate.h) and answers nothing; a
 * plain HTTP request is closed unanswered, never served.
 *
 * The front door cannot see a request's class through TLS, so this file
 * applies the classes in phase 1, once MHD has decrypted the head: a
 * request is answered while the requests being answered in its class
 * ("serving") leave it room (api_gate_room()), else 503 (Retry-After),
 * as the front door does without TLS.  Connections whose head has not
 * been read yet ("opening": the handshake and the head under way) are
 * tracked from MHD's NOTIFY_CONNECTION STARTED to CLOSED, keyed by their
 * socket.  The front door hands over a new one while fewer than
 * connection_limit are opening, else makes room (tls_make_room(): the
 * oldest opening one is shut down); and its thread calls tls_sweep()
 * every round, which shuts down (shutdown(2), MHD then closes) those
 * whose head did not arrive within head_deadline_ms of their start.  So
 * a client that sends its head right after its handshake gets through
 * however many connections sit silent after theirs, as the front door
 * sees to without TLS.
 * NOTIFY_CLOSED comes before MHD closes the socket (MHD_cleanup_connections
 * in 0.9.75) and both sides take conns_mu, so a socket number is never
 * shut down after it was closed and reused.
 *
 * The key and the certificate are read into memory that stays allocated
 * as long as the daemon: MHD keeps the pointers (MHD_OPTION_HTTPS_MEM_KEY),
 * although 0.9.75 reads them only while starting
 * (MHD_init_daemon_certificate() hands them to GnuTLS, which decodes its
 * own copy).  The key's bytes are wiped right after MHD_start_daemon()
 * returns, whatever it returned; they are never logged.
 *
 * The token and the Authorization header are never logged. */
#include "api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
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
/* TLS: the largest certificate (chain) or key file read, bytes */
#define API_TLS_FILE_MAX (64 * 1024)
/* TLS: GnuTLS' default ciphers, TLS 1.2 and 1.3 only */
#define API_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

/* TLS: a connection MHD holds, from NOTIFY_CONNECTION STARTED to CLOSED. */
typedef struct tls_conn {
    int fd;                /* its socket; -1: a free entry */
    long long started_ms;  /* when MHD started it */
    long long deadline_ms; /* its head must have been read by then */
    bool serving;          /* its head was read and its class had room */
    bool swept;            /* shut down: missed its deadline, or evicted */
} tls_conn;

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

    /* TLS (see the top of this file); all unused without it. */
    bool tls;
    char *tls_cert;            /* PEM as MHD was given it, until the daemon stops */
    char *tls_key;             /* the same, wiped once the daemon has started */
    size_t tls_key_len;
    pthread_mutex_t conns_mu;  /* conns, serving, opening */
    tls_conn *conns;           /* nconns entries: MHD's connection limit */
    int nconns;
    int serving;               /* entries whose request is being answered */
    int opening;               /* entries opening (tls_opening()) */
    atomic_long tls_evicted;   /* opening ones shut down to make room */
    atomic_long tls_timed_out; /* swept: the head missed its deadline */
    atomic_long tls_busy;      /* 503: no room in the class, seen in phase 1 */
    atomic_long tls_refused;   /* other refusals of a head, in phase 1 */
    atomic_bool starting;      /* MHD's log lines also go to start_msg */
    char start_msg[256];       /* MHD's first one while starting */
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

static void tls_track(api_server *s, struct MHD_Connection *c, void **socket_context);
static void tls_untrack(api_server *s, tls_conn *t);

/* MHD_OPTION_NOTIFY_CONNECTION: count the connections MHD holds, for the
 * front door's capacity check; with TLS, track them (below). */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    api_server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        if (s->tls)
            tls_track(s, c, socket_context);
        atomic_fetch_sub(&s->handed, 1);
        atomic_fetch_add(&s->active, 1);
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        if (s->tls)
            tls_untrack(s, *socket_context);
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

/* ==== TLS CONNECTIONS ==== */

/* NOTIFY_CONNECTION STARTED (MHD's thread): track C, opening, its head
 * due head_deadline_ms from now.  With no free entry (MHD holds no more
 * than nconns connections, so never), C is untracked: phase 1 refuses
 * it. */
static void tls_track(api_server *s, struct MHD_Connection *c, void **socket_context)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    *socket_context = NULL;
    if (!ci)
        return;
    long long now = mrd_now_ms();
    pthread_mutex_lock(&s->conns_mu);
    for (int i = 0; i < s->nconns; i++) {
        tls_conn *t = &s->conns[i];
        if (t->fd >= 0)
            continue;
        *t = (tls_conn){.fd = ci->connect_fd,
                        .started_ms = now,
                        .deadline_ms = now + s->lim.head_deadline_ms};
        s->opening++;
        *socket_context = t;
        break;
    }
    pthread_mutex_unlock(&s->conns_mu);
}

/* Whether T is opening: tracked, its head not admitted, not shut down. */
static bool tls_opening(const tls_conn *t)
{
    return t->fd >= 0 && !t->serving && !t->swept;
}

/* NOTIFY_CONNECTION CLOSED (MHD's thread), before MHD closes the socket. */
static void tls_untrack(api_server *s, tls_conn *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&s->conns_mu);
    if (t->serving)
        s->serving--;
    else if (tls_opening(t))
        s->opening--;
    *t = (tls_conn){.fd = -1};
    pthread_mutex_unlock(&s->conns_mu);
}

/* Shut opening connection T down (conns_mu held): MHD sees the end of its
 * input and closes it. */
static void tls_shut(api_server *s, tls_conn *t)
{
    (void)shutdown(t->fd, SHUT_RDWR);
    t->swept = true;
    s->opening--;
}

/* Phase 1 (C's thread): C's head was read and accepted as V.  True when
 * V's class has room among the requests being answered: C then counts
 * in it, and its head deadline no longer applies. */
static bool tls_admit(api_server *s, struct MHD_Connection *c, const api_verdict *v)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    tls_conn *t = ci ? ci->socket_context : NULL;
    pthread_mutex_lock(&s->conns_mu);
    bool room = t && tls_opening(t) && s->serving < api_gate_room(&s->lim, v);
    if (room) {
        t->serving = true;
        s->serving++;
        s->opening--;
    }
    pthread_mutex_unlock(&s->conns_mu);
    return room;
}

/* The front door's sweep (its thread): shut down the opening connections
 * whose head missed its deadline.  Returns when to sweep again: a
 * connection tracked from now on is due head_deadline_ms from now at the
 * soonest. */
static long long tls_sweep(void *ctx, long long now)
{
    api_server *s = ctx;
    long long next = now + s->lim.head_deadline_ms;
    pthread_mutex_lock(&s->conns_mu);
    for (int i = 0; i < s->nconns; i++) {
        tls_conn *t = &s->conns[i];
        if (!tls_opening(t))
            continue;
        if (t->deadline_ms > now) {
            if (t->deadline_ms < next)
                next = t->deadline_ms;
            continue;
        }
        tls_shut(s, t);
        atomic_fetch_add(&s->tls_timed_out, 1);
    }
    pthread_mutex_unlock(&s->conns_mu);
    return next;
}

/* The front door, when connection_limit connections are opening and a new
 * ClientHello came (its thread): shut down the oldest opening connection,
 * nearest its deadline, as the front door makes room among the heads it
 * waits for.  The new connection is the one that may still be quick: a
 * client sends its head right after its handshake, a few milliseconds,
 * while the oldest has been given the most time.  False when no tracked
 * connection is opening (those handed over have not started yet). */
static bool tls_make_room(void *ctx)
{
    api_server *s = ctx;
    pthread_mutex_lock(&s->conns_mu);
    tls_conn *oldest = NULL;
    for (int i = 0; i < s->nconns; i++) {
        tls_conn *t = &s->conns[i];
        if (tls_opening(t) && (!oldest || t->started_ms < oldest->started_ms))
            oldest = t;
    }
    if (oldest)
        tls_shut(s, oldest);
    pthread_mutex_unlock(&s->conns_mu);
    if (oldest)
        atomic_fetch_add(&s->tls_evicted, 1);
    return oldest != NULL;
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
    case API_ROUTE_SEED: {
        if (!s->h.seed)
            break;
        int status = MHD_HTTP_OK;
        mrd_info("api %s: node %d to be seeded%s", s->where, v->restart_port,
                 v->seed_force ? " (forced)" : "");
        json_t *obj = s->h.seed(s->h.ctx, v->restart_port, v->seed_force, &status);
        if (!obj)
            return reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "the seed gave no report");
        return reply_json(c, status >= 200 && status <= 599 ? (unsigned)status : 500, obj, NULL,
                          NULL);
    }
    case API_ROUTE_NONE:
        break;
    }
    return reply_error(c, MHD_HTTP_NOT_FOUND, "no such endpoint");
}

/* TLS: log refusal V of C's request as the front door logs its own. */
static void log_refusal(const api_server *s, struct MHD_Connection *c, const api_verdict *v)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char who[INET_ADDRSTRLEN] = "?";
    if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)ci->client_addr)->sin_addr,
                  who, sizeof(who));
    if (v->status == 401)
        mrd_info("api %s: refused %s from %s: missing or wrong token", s->where,
                 api_route_name(v->route), who);
    else
        mrd_debug("api %s: refused a request from %s: %u %s", s->where, who, v->status,
                  v->error);
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
    if (api_request_check_head(&in, &s->policy, &rq->v) == API_REQ_ACCEPT) {
        if (!s->tls || tls_admit(s, c, &rq->v))
            return MHD_YES;
        api_gate_busy(&rq->v, &rq->v);
        atomic_fetch_add(&s->tls_busy, 1);
        return reply_verdict(c, &rq->v);
    }
    if (s->tls) {
        /* the front door saw a ClientHello only: refusals are made here */
        atomic_fetch_add(&s->tls_refused, 1);
        log_refusal(s, c, &rq->v);
    } else {
        /* the front door accepted this very head: only a disagreement
         * between its parser and MHD's gets here */
        mrd_warn("api %s: refused %s after the front door let it in: %u %s", s->where,
                 api_route_name(rq->v.route), rq->v.status, rq->v.error);
    }
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

/* Without TLS: every connection MHD holds (the front door applies the
 * classes).  With TLS: those whose head has not been read yet (phase 1
 * applies the classes to the others), handed over or opening. */
static int gate_active(void *ctx)
{
    api_server *s = ctx;
    if (!s->tls)
        return atomic_load(&s->active) + atomic_load(&s->handed);
    pthread_mutex_lock(&s->conns_mu);
    int n = s->opening;
    pthread_mutex_unlock(&s->conns_mu);
    return n + atomic_load(&s->handed);
}

/* ==== LIFECYCLE ==== */

/* MHD's own diagnostics go to our log.  They never contain header values. */
__attribute__((format(printf, 2, 0))) static void mhd_logger(void *cls, const char *fmt,
                                                              va_list ap)
{
    api_server *s = cls;
    char line[512];
    vsnprintf(line, sizeof(line), fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    /* while starting (only api_start_tls()'s thread runs MHD yet), the
     * first line says the most ("GnuTLS failed to setup x509 ...: why") */
    if (atomic_load(&s->starting) && !s->start_msg[0])
        snprintf(s->start_msg, sizeof(s->start_msg), "%.*s",
                 (int)(n > 0 && line[n - 1] == '.' ? n - 1 : n), line);
    /* MHD 0.9.75's words for every failed TLS handshake: a client that
     * does not trust this host's certificate, or that speaks no TLS */
    if (strstr(line, "handshake message out of context"))
        mrd_debug("api %s: a TLS handshake failed", s->where);
    else
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

/* Read the PEM file PATH (WHAT names it in messages) into a new
 * NUL-terminated buffer *OUT of *LEN bytes, straight from the file (no
 * stdio buffer keeps a copy).  SECRET: refuse a file group or others can
 * read, as mrd_secret_read() does. */
static mrd_rc read_pem(const char *path, const char *what, bool secret, char **out,
                       size_t *len, mrd_error *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        int e = errno;
        return mrd_error_set(err, e == ENOENT ? MRD_ERR_NOT_FOUND : MRD_ERR_IO,
                             "cannot read the agent API's TLS %s %s: %s%s", what, path,
                             strerror(e),
                             e == ENOENT ? " (deploy puts it there when tls.enabled is true: "
                                           "run meridian deploy)"
                                         : "");
    }
    struct stat st;
    mrd_rc rc = MRD_OK;
    if (fstat(fd, &st) != 0)
        rc = mrd_error_set(err, MRD_ERR_IO, "cannot read the agent API's TLS %s %s: %s", what,
                           path, strerror(errno));
    else if (secret && (st.st_mode & 077) != 0)
        rc = mrd_error_set(err, MRD_ERR_STATE,
                           "the agent API's TLS %s %s is readable by others: run chmod 600 %s",
                           what, path, path);
    else if (st.st_size <= 0 || st.st_size > API_TLS_FILE_MAX)
        rc = mrd_error_set(err, MRD_ERR_INVALID,
                           "the agent API's TLS %s %s is %s: deploy writes it again",
                           what, path, st.st_size <= 0 ? "empty" : "larger than 64 KiB");
    char *buf = rc == MRD_OK ? malloc((size_t)st.st_size + 1) : NULL;
    if (rc == MRD_OK && !buf)
        rc = mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    size_t got = 0;
    while (rc == MRD_OK && got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break; /* shorter than fstat said: what was read */
        got += (size_t)r;
    }
    close(fd);
    if (rc == MRD_OK && got == 0)
        rc = mrd_error_set(err, MRD_ERR_INVALID,
                           "the agent API's TLS %s %s is empty: deploy writes it again", what,
                           path);
    if (rc != MRD_OK) {
        if (buf)
            explicit_bzero(buf, (size_t)st.st_size);
        free(buf);
        return rc;
    }
    buf[got] = '\0';
    *out = buf;
    *len = got;
    return MRD_OK;
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
        explicit_bzero(s->token, strlen(s->token));
        free(s->token);
    }
    if (s->tls_key) {
        explicit_bzero(s->tls_key, s->tls_key_len);
        free(s->tls_key);
    }
    free(s->tls_cert);
    free(s->conns);
    if (s->tls)
        pthread_mutex_destroy(&s->conns_mu);
    free(s);
}

mrd_rc api_start(const char *address, int port, const char *token, bool metrics_open,
                 const api_handlers *h, api_server **out, mrd_error *err)
{
    return api_start_tls(address, port, token, metrics_open, h, NULL, NULL, out, err);
}

mrd_rc api_start_limits(const char *address, int port, const char *token, bool metrics_open,
                        const api_handlers *h, const api_limits *lim, api_server **out,
                        mrd_error *err)
{
    return api_start_tls(address, port, token, metrics_open, h, lim, NULL, out, err);
}

/* TLS: read TLS's files into S, and make room to track its connections. */
static mrd_rc tls_prepare(api_server *s, const api_tls *tls, mrd_error *err)
{
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
        return mrd_error_set(err, MRD_ERR_STATE,
                             "tls.enabled is true but this libmicrohttpd was built without "
                             "TLS, so the agent API cannot serve HTTPS on %s: install one "
                             "built with GnuTLS (Debian's libmicrohttpd12 is)",
                             s->where);
    if (!tls->cert_file || !tls->key_file)
        return mrd_error_set(err, MRD_ERR_INVALID, "api_start_tls: missing TLS file");
    size_t cert_len;
    /* serving and opening, connection_limit each at most, and those shut
     * down that MHD has not closed yet */
    s->nconns = 3 * s->lim.connection_limit;
    s->conns = calloc((size_t)s->nconns, sizeof(*s->conns));
    if (!s->conns)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    for (int i = 0; i < s->nconns; i++)
        s->conns[i].fd = -1;
    pthread_mutex_init(&s->conns_mu, NULL);
    s->tls = true;
    MRD_TRY(read_pem(tls->cert_file, "certificate", false, &s->tls_cert, &cert_len, err));
    return read_pem(tls->key_file, "key", true, &s->tls_key, &s->tls_key_len, err);
}

mrd_rc api_start_tls(const char *address, int port, const char *token, bool metrics_open,
                     const api_handlers *h, const api_limits *lim, const api_tls *tls,
                     api_server **out, mrd_error *err)
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
    atomic_init(&s->tls_timed_out, 0);
    atomic_init(&s->tls_busy, 0);
    atomic_init(&s->tls_refused, 0);
    atomic_init(&s->tls_evicted, 0);
    atomic_init(&s->starting, true);
    snprintf(s->where, sizeof(s->where), "%s:%d", address, port);
    mrd_rc rc = tls ? tls_prepare(s, tls, err) : MRD_OK;
    if (rc != MRD_OK) {
        server_free(s);
        return rc;
    }

    int fd = -1;
    rc = listen_on(&sa, s->where, &fd, err);
    if (rc != MRD_OK) {
        server_free(s);
        return rc;
    }
    struct MHD_OptionItem tls_opts[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key},
        {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)(uintptr_t)API_TLS_PRIORITIES},
        {MHD_OPTION_END, 0, NULL},
    };
    /* No listening socket of its own: connections come from the gate. */
    s->daemon = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD |
            MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC | MHD_USE_ERROR_LOG |
            (s->tls ? MHD_USE_TLS : 0),
        0, NULL, NULL, on_request, s,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, (void *)s, /* must come first */
        MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)(s->tls ? s->nconns : limits.connection_limit),
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)API_IDLE_TIMEOUT_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)API_MHD_MEMORY,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, (void *)s,
        MHD_OPTION_NOTIFY_COMPLETED, request_completed, (void *)NULL,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, (void *)s,
        MHD_OPTION_ARRAY, s->tls ? tls_opts : &tls_opts[3],
        MHD_OPTION_END);
    atomic_store(&s->starting, false);
    if (s->tls_key) /* GnuTLS has its own copy now, or nothing */
        explicit_bzero(s->tls_key, s->tls_key_len);
    if (!s->daemon) {
        rc = s->tls ? mrd_error_set(err, MRD_ERR_IO,
                                    "cannot serve HTTPS on %s with the certificate %s and the "
                                    "key %s: %s; deploy issues the host a new pair",
                                    s->where, tls->cert_file, tls->key_file,
                                    s->start_msg[0] ? s->start_msg : "the HTTP server refused them")
                    : mrd_error_set(err, MRD_ERR_IO,
                                    "cannot serve on %s: the HTTP server failed to start",
                                    s->where);
        close(fd);
        server_free(s);
        return rc;
    }
    api_gate_ops ops = {.ctx = s,
                        .admit = gate_admit,
                        .active = gate_active,
                        .sweep = s->tls ? tls_sweep : NULL,
                        .make_room = s->tls ? tls_make_room : NULL};
    rc = api_gate_start(fd, s->where, &s->policy, &limits, s->tls, &ops, &s->gate, err);
    if (rc != MRD_OK) {
        server_free(s);
        return rc;
    }
    mrd_info("api: listening on %s (%s)", s->where, s->tls ? "HTTPS only" : "HTTP");
    *out = s;
    return MRD_OK;
}

void api_get_stats(const api_server *s, api_stats *out)
{
    api_gate_stats(s ? s->gate : NULL, out);
    if (!s)
        return;
    long timed_out = atomic_load(&s->tls_timed_out), busy = atomic_load(&s->tls_busy),
         evicted = atomic_load(&s->tls_evicted);
    out->timed_out += timed_out;
    out->busy += busy;
    out->evicted += evicted;
    out->refused += timed_out + busy + evicted + atomic_load(&s->tls_refused);
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
