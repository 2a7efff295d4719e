#define _GNU_SOURCE /* accept4, pipe2, POLLRDHUP */
/* api_gate.c - the agent API's front door (see the header).
 *
 * One thread, one poll() set: the wake pipe, the listening socket and
 * every slot (a connection whose head is arriving, or one that was
 * refused and is being drained).  Each round: expire deadlines, poll,
 * look at the slots that have news, then accept.
 *
 * Why peek instead of read: libmicrohttpd must read the head itself
 * (MHD_add_connection() takes a socket, not bytes), so the gate leaves
 * the bytes where they are.  SO_RCVLOWAT is set to one byte more than
 * what was seen, so poll() reports a pending connection only when it has
 * sent something new (or closed); a peek costs at most GATE_PEEK_MAX
 * bytes of copy, and a head gets at most head_max_pieces of them.  With
 * TLS the same is done for the first TLS record (a ClientHello), and
 * every answer is silence: answer() sends no byte. */
#include "api_gate.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

#define GATE_ACCEPT_BATCH 64       /* connections accepted per poll round */
#define GATE_ACCEPT_BACKOFF_MS 100 /* pause accepting after running out of sockets */
#define GATE_LOG_PERIOD_MS 10000   /* at most one summary line about slow clients per period */
#define GATE_DRAIN_MAX (64 * 1024) /* bytes dropped from a refused connection before closing it */
#define GATE_ANSWER_MAX 1024       /* bytes of a refusal (api_request_render_refusal) */
/* bytes peeked at once: one more than a whole head, or than a whole TLS
 * record (the ClientHello) */
#define GATE_PEEK_MAX                                                                      \
    ((API_MAX_HEAD > API_TLS_RECORD_MAX ? API_MAX_HEAD : API_TLS_RECORD_MAX) + 1)

typedef enum slot_state {
    SLOT_FREE = 0, /* unused */
    SLOT_HEAD,     /* accepted; its request head is arriving */
    SLOT_LINGER,   /* answered with a refusal; input dropped until EOF or deadline */
} slot_state;

typedef struct slot {
    slot_state state;
    int fd;
    struct sockaddr_in peer;
    long long accepted_ms;
    long long deadline_ms; /* HEAD: the head's deadline; LINGER: end of draining */
    size_t seen;           /* HEAD: bytes peeked so far */
    int pieces;            /* HEAD: peeks that found new bytes */
    size_t drained;        /* LINGER: bytes dropped */
} slot;

struct api_gate {
    int listen_fd;
    bool tls;    /* wait for ClientHellos; answer nothing */
    int wake[2]; /* a byte written to wake[1] stops the thread */
    pthread_t thread;
    char where[64];
    const api_policy *policy;
    api_limits lim;
    api_gate_ops ops;

    /* Owned by the thread. */
    slot *slots;        /* lim.pending_max */
    struct pollfd *pfd; /* 2 + lim.pending_max */
    int *pfd_slot;      /* the slot of pfd[i], -1 for the pipe and the listener */
    long long accept_paused_until;
    long long next_log_ms;
    long logged[3]; /* timed_out, evicted, busy at the last summary */
    long long next_tls_log_ms; /* TLS: a refusal is logged once a period */
    uint8_t scratch[GATE_PEEK_MAX];
    api_head head;

    atomic_long admitted, refused, timed_out, evicted, busy;
};

/* ==== SLOTS ==== */

static void set_lowat(int fd, size_t bytes)
{
    int v = (int)bytes;
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof(v));
}

static void slot_free(slot *s)
{
    memset(s, 0, sizeof(*s));
    s->fd = -1;
}

static void slot_close(slot *s)
{
    close(s->fd);
    slot_free(s);
}

/* Drop what has arrived on S.  False when the peer is gone (EOF, error)
 * or has sent more than GATE_DRAIN_MAX since the refusal. */
static bool drain(api_gate *g, slot *s)
{
    for (;;) {
        ssize_t n = recv(s->fd, g->scratch, sizeof(g->scratch), MSG_DONTWAIT);
        if (n > 0) {
            s->drained += (size_t)n;
            if (s->drained > GATE_DRAIN_MAX)
                return false;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
}

/* Answer refusal V on S (with TLS, with silence: the answer would have to
 * be encrypted).  The input that has arrived is dropped first, so that
 * closing does not reset the connection under the answer; then S lingers
 * (KEEP) or is closed now. */
static void answer(api_gate *g, slot *s, const api_verdict *v, bool keep)
{
    char buf[GATE_ANSWER_MAX];
    size_t n = g->tls ? 0 : api_request_render_refusal(v, buf, sizeof(buf));
    atomic_fetch_add(&g->refused, 1);
    set_lowat(s->fd, 1);
    bool alive = drain(g, s);
    if (n > 0)
        (void)send(s->fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)shutdown(s->fd, SHUT_WR);
    if (!alive || !keep) {
        slot_close(s);
        return;
    }
    s->state = SLOT_LINGER;
    s->deadline_ms = mrd_now_ms() + g->lim.linger_ms;
}

/* Close S to make room: a pending connection is told so (503). */
static void evict(api_gate *g, slot *s)
{
    if (s->state != SLOT_HEAD) {
        slot_close(s);
        return;
    }
    api_verdict v;
    memset(&v, 0, sizeof(v));
    api_verdict_refuse(&v, 503,
                       "the agent API has too many connections that are slow to send their "
                       "request; retry");
    v.retry = true;
    atomic_fetch_add(&g->evicted, 1);
    answer(g, s, &v, false);
}

/* True when S has had its chance to send its head: it is lingering, it
 * sent part of its head, or head_grace_ms passed.  Such connections make
 * room first, so a client that sends its head whole right after
 * connecting is not pushed out by a burst of newer connections before its
 * head is read. */
static bool had_chance(const api_gate *g, const slot *s, long long now)
{
    return s->state == SLOT_LINGER || s->pieces > 0 ||
           now - s->accepted_ms >= g->lim.head_grace_ms;
}

/* A slot for a new connection from PEER.  Past its address's share, the
 * address's oldest connection that had its chance makes room; else a free
 * slot; else the connection nearest its deadline among those that had
 * their chance, else among all. */
static slot *place(api_gate *g, const struct sockaddr_in *peer, long long now)
{
    slot *free_slot = NULL, *nearest = NULL, *nearest_chance = NULL, *oldest_same = NULL;
    int same = 0;
    for (int i = 0; i < g->lim.pending_max; i++) {
        slot *s = &g->slots[i];
        if (s->state == SLOT_FREE) {
            if (!free_slot)
                free_slot = s;
            continue;
        }
        bool chance = had_chance(g, s, now);
        if (!nearest || s->deadline_ms < nearest->deadline_ms)
            nearest = s;
        if (chance && (!nearest_chance || s->deadline_ms < nearest_chance->deadline_ms))
            nearest_chance = s;
        if (s->state == SLOT_HEAD && s->peer.sin_addr.s_addr == peer->sin_addr.s_addr) {
            same++;
            if (chance && (!oldest_same || s->accepted_ms < oldest_same->accepted_ms))
                oldest_same = s;
        }
    }
    slot *s = same >= g->lim.pending_per_client && oldest_same ? oldest_same
              : free_slot                                      ? free_slot
              : nearest_chance                                 ? nearest_chance
                                                               : nearest;
    if (s->state != SLOT_FREE)
        evict(g, s);
    return s;
}

/* ==== HEADS ==== */

static const char *peer_text(const struct sockaddr_in *peer, char *buf, size_t n)
{
    if (!inet_ntop(AF_INET, &peer->sin_addr, buf, (socklen_t)n))
        snprintf(buf, n, "?");
    return buf;
}

int api_gate_room(const api_limits *lim, const api_verdict *v)
{
    int room = lim->connection_limit;
    if (v->route != API_ROUTE_HEALTH) {
        room -= lim->reserve_health;
        if (!v->authorized)
            room -= lim->reserve_token;
    }
    return room;
}

void api_gate_busy(const api_verdict *v, api_verdict *busy)
{
    *busy = *v;
    busy->allow = NULL;
    busy->challenge = false;
    busy->retry = true;
    api_verdict_refuse(busy, 503,
                       "the agent API is answering as many requests as it can; retry in a "
                       "second");
}

/* Hand S over when its class has room, else 503.  With TLS, V is a
 * ClientHello's, of no class yet: S is handed over while fewer than
 * connection_limit connections are opening (ops.active) or once one of
 * them made room, else closed. */
static void admit(api_gate *g, slot *s, const api_verdict *v)
{
    int room = g->tls ? g->lim.connection_limit : api_gate_room(&g->lim, v);
    if (g->ops.active(g->ops.ctx) >= room &&
        !(g->ops.make_room && g->ops.make_room(g->ops.ctx))) {
        api_verdict b;
        api_gate_busy(v, &b);
        atomic_fetch_add(&g->busy, 1);
        answer(g, s, &b, true);
        return;
    }
    set_lowat(s->fd, 1);
    int fd = s->fd;
    struct sockaddr_in peer = s->peer;
    slot_free(s);
    atomic_fetch_add(&g->admitted, 1);
    if (!g->ops.admit(g->ops.ctx, fd, &peer, v)) {
        char who[INET_ADDRSTRLEN];
        mrd_warn("api %s: a request from %s could not be handed to the HTTP server: %s",
                 g->where, peer_text(&peer, who, sizeof(who)), strerror(errno));
    }
}

static void refused(api_gate *g, slot *s, const api_verdict *v)
{
    char who[INET_ADDRSTRLEN];
    long long now = mrd_now_ms();
    if (g->tls && now >= g->next_tls_log_ms) {
        /* the client gets no answer: the log says why, once a period */
        g->next_tls_log_ms = now + GATE_LOG_PERIOD_MS;
        mrd_info("api %s: closed a connection from %s without an answer (TLS): %s", g->where,
                 peer_text(&s->peer, who, sizeof(who)), v->error);
    } else if (v->status == 401)
        mrd_info("api %s: refused %s from %s: missing or wrong token", g->where,
                 api_route_name(v->route), peer_text(&s->peer, who, sizeof(who)));
    else
        mrd_debug("api %s: refused a request from %s: %u %s", g->where,
                  peer_text(&s->peer, who, sizeof(who)), v->status, v->error);
    answer(g, s, v, true);
}

/* S has news: more head bytes, or its peer closed. */
static void on_head(api_gate *g, slot *s, short revents)
{
    ssize_t n = recv(s->fd, g->scratch, sizeof(g->scratch), MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) { /* closed or reset before sending anything */
        slot_close(s);
        return;
    }
    api_verdict v;
    if ((size_t)n == s->seen) {
        if (revents & (POLLRDHUP | POLLHUP | POLLERR)) {
            memset(&v, 0, sizeof(v));
            api_verdict_refuse(&v, 400,
                               "the client closed its side before the request head was "
                               "complete");
            refused(g, s, &v);
        }
        return;
    }
    s->seen = (size_t)n;
    s->pieces++;
    api_req_rc rc = g->tls ? api_request_parse_hello(g->scratch, (size_t)n, &v)
                           : api_request_parse_head(g->scratch, (size_t)n, &g->head, &v);
    if (rc == API_REQ_INCOMPLETE) {
        if (s->pieces < g->lim.head_max_pieces) {
            set_lowat(s->fd, (size_t)n + 1);
            return;
        }
        api_verdict_refuse(&v, 400,
                           "the request head came in too many small pieces: send it in one "
                           "write");
        refused(g, s, &v);
        return;
    }
    if (rc == API_REQ_ACCEPT && !g->tls)
        rc = api_request_check_head(&g->head.in, g->policy, &v);
    if (rc != API_REQ_ACCEPT) {
        refused(g, s, &v);
        return;
    }
    admit(g, s, &v);
}

static void expire(api_gate *g, long long now)
{
    for (int i = 0; i < g->lim.pending_max; i++) {
        slot *s = &g->slots[i];
        if (s->state == SLOT_FREE || now < s->deadline_ms)
            continue;
        if (s->state == SLOT_LINGER) {
            slot_close(s);
            continue;
        }
        api_verdict v;
        memset(&v, 0, sizeof(v));
        api_verdict_refuse(&v, 408,
                           "the request head did not arrive in time: send it whole, right "
                           "after connecting");
        atomic_fetch_add(&g->timed_out, 1);
        answer(g, s, &v, true);
    }
}

/* ==== ACCEPT ==== */

static void accept_some(api_gate *g, long long now)
{
    for (int i = 0; i < GATE_ACCEPT_BATCH; i++) {
        struct sockaddr_in peer;
        socklen_t pl = sizeof(peer);
        int fd = accept4(g->listen_fd, (struct sockaddr *)&peer, &pl,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                if (now >= g->accept_paused_until + GATE_LOG_PERIOD_MS)
                    mrd_warn("api %s: cannot accept connections: %s; pausing %d ms",
                             g->where, strerror(errno), GATE_ACCEPT_BACKOFF_MS);
                g->accept_paused_until = now + GATE_ACCEPT_BACKOFF_MS;
            }
            return;
        }
        if (pl != sizeof(peer) || peer.sin_family != AF_INET) {
            close(fd); /* the listener is IPv4 */
            continue;
        }
        /* Its head may be there already (clients send it right after the
         * connect): then it is served, or refused, without taking a slot. */
        slot fresh = {.state = SLOT_HEAD,
                      .fd = fd,
                      .peer = peer,
                      .accepted_ms = now,
                      .deadline_ms = now + g->lim.head_deadline_ms};
        on_head(g, &fresh, 0);
        if (fresh.state == SLOT_FREE)
            continue;
        *place(g, &peer, now) = fresh;
    }
}

/* ==== THREAD ==== */

static void log_summary(api_gate *g, long long now)
{
    if (now < g->next_log_ms)
        return;
    g->next_log_ms = now + GATE_LOG_PERIOD_MS;
    long cur[3] = {atomic_load(&g->timed_out), atomic_load(&g->evicted),
                   atomic_load(&g->busy)};
    if (cur[0] == g->logged[0] && cur[1] == g->logged[1] && cur[2] == g->logged[2])
        return;
    mrd_warn("api %s: slow or excess clients: %ld request heads missed the %d ms deadline "
             "(408), %ld pending connections closed to make room (503), %ld requests found "
             "no capacity (503) in the last %d s",
             g->where, cur[0] - g->logged[0], g->lim.head_deadline_ms, cur[1] - g->logged[1],
             cur[2] - g->logged[2], GATE_LOG_PERIOD_MS / 1000);
    memcpy(g->logged, cur, sizeof(cur));
}

static void *gate_main(void *arg)
{
    api_gate *g = arg;
    for (;;) {
        long long now = mrd_now_ms();
        expire(g, now);
        log_summary(g, now);

        nfds_t n = 0;
        long long next = g->next_log_ms;
        if (g->ops.sweep) {
            long long when = g->ops.sweep(g->ops.ctx, now);
            if (when < next)
                next = when;
        }
        g->pfd[n] = (struct pollfd){.fd = g->wake[0], .events = POLLIN};
        g->pfd_slot[n++] = -1;
        bool listening = now >= g->accept_paused_until;
        if (listening) {
            g->pfd[n] = (struct pollfd){.fd = g->listen_fd, .events = POLLIN};
            g->pfd_slot[n++] = -1;
        } else if (g->accept_paused_until < next) {
            next = g->accept_paused_until;
        }
        for (int i = 0; i < g->lim.pending_max; i++) {
            slot *s = &g->slots[i];
            if (s->state == SLOT_FREE)
                continue;
            g->pfd[n] = (struct pollfd){.fd = s->fd, .events = POLLIN | POLLRDHUP};
            g->pfd_slot[n++] = i;
            if (s->deadline_ms < next)
                next = s->deadline_ms;
        }
        int timeout = next > now ? (int)(next - now) : 0;
        if (poll(g->pfd, n, timeout) < 0) {
            if (errno != EINTR) {
                mrd_warn("api %s: poll: %s", g->where, strerror(errno));
                mrd_sleep_ms(10);
            }
            continue;
        }
        if (g->pfd[0].revents)
            break;
        now = mrd_now_ms();
        for (nfds_t k = listening ? 2 : 1; k < n; k++) {
            slot *s = &g->slots[g->pfd_slot[k]];
            if (!g->pfd[k].revents || s->fd != g->pfd[k].fd)
                continue;
            if (s->state == SLOT_HEAD)
                on_head(g, s, g->pfd[k].revents);
            else if (s->state == SLOT_LINGER && !drain(g, s))
                slot_close(s);
        }
        if (listening && (g->pfd[1].revents & POLLIN))
            accept_some(g, now);
    }
    return NULL;
}

/* ==== LIFECYCLE ==== */

static void gate_free(api_gate *g)
{
    if (g->slots)
        for (int i = 0; i < g->lim.pending_max; i++)
            if (g->slots[i].state != SLOT_FREE)
                close(g->slots[i].fd);
    if (g->listen_fd >= 0)
        close(g->listen_fd);
    if (g->wake[0] >= 0)
        close(g->wake[0]);
    if (g->wake[1] >= 0)
        close(g->wake[1]);
    free(g->slots);
    free(g->pfd);
    free(g->pfd_slot);
    free(g);
}

mrd_rc api_gate_start(int listen_fd, const char *where, const api_policy *policy,
                      const api_limits *lim, bool tls, const api_gate_ops *ops,
                      api_gate **out, mrd_error *err)
{
    *out = NULL;
    api_gate *g = calloc(1, sizeof(*g));
    if (!g) {
        close(listen_fd);
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    g->listen_fd = listen_fd;
    g->tls = tls;
    g->wake[0] = g->wake[1] = -1;
    snprintf(g->where, sizeof(g->where), "%s", where);
    g->policy = policy;
    g->lim = *lim;
    g->ops = *ops;
    atomic_init(&g->admitted, 0);
    atomic_init(&g->refused, 0);
    atomic_init(&g->timed_out, 0);
    atomic_init(&g->evicted, 0);
    atomic_init(&g->busy, 0);
    size_t ns = (size_t)lim->pending_max;
    g->slots = calloc(ns, sizeof(*g->slots));
    g->pfd = calloc(ns + 2, sizeof(*g->pfd));
    g->pfd_slot = calloc(ns + 2, sizeof(*g->pfd_slot));
    if (!g->slots || !g->pfd || !g->pfd_slot) {
        gate_free(g);
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < ns; i++)
        slot_free(&g->slots[i]);
    if (pipe2(g->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        int e = errno;
        gate_free(g);
        return mrd_error_set(err, MRD_ERR_IO, "api %s: cannot create a pipe: %s", where,
                             strerror(e));
    }
    int rc = pthread_create(&g->thread, NULL, gate_main, g);
    if (rc != 0) {
        gate_free(g);
        return mrd_error_set(err, MRD_ERR_IO, "api %s: cannot start a thread: %s", where,
                             strerror(rc));
    }
    *out = g;
    return MRD_OK;
}

void api_gate_stop(api_gate **gp)
{
    if (!gp || !*gp)
        return;
    api_gate *g = *gp;
    ssize_t w;
    do
        w = write(g->wake[1], "x", 1);
    while (w < 0 && errno == EINTR);
    pthread_join(g->thread, NULL);
    gate_free(g);
    *gp = NULL;
}

void api_gate_stats(const api_gate *g, api_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!g)
        return;
    out->admitted = atomic_load(&g->admitted);
    out->refused = atomic_load(&g->refused);
    out->timed_out = atomic_load(&g->timed_out);
    out->evicted = atomic_load(&g->evicted);
    out->busy = atomic_load(&g->busy);
}
