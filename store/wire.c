/* wire.c - the byte stream under every connection (see wire.h): the socket
 * and the plaintext path here, TLS in tls.c. */
#include "wire.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tls_internal.h"

/* Where a wire is. */
typedef enum wire_phase {
    PHASE_TCP = 0,   /* the non-blocking connect is in progress */
    PHASE_HANDSHAKE, /* TLS: the handshake is in progress */
    PHASE_READY,     /* bytes may flow */
    PHASE_BROKEN,    /* failed: errstr says why */
} wire_phase;

struct wire {
    int fd;
    tls_session *tls;  /* NULL: plaintext */
    bool use_tls;      /* store_tls_on() when the wire was made */
    wire_phase phase;
    short events;      /* what the last WIRE_WANT waits for */
    bool received;     /* a byte came in (plaintext: a close is then no TLS hint) */
    char address[256]; /* as dialled, for the TLS checks */
    char errstr[1024];
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static wire_status broken(wire *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static wire_status broken(wire *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->errstr, sizeof(w->errstr), fmt, ap);
    va_end(ap);
    w->phase = PHASE_BROKEN;
    return WIRE_FAILED;
}

/* Wait until DEADLINE (now_ms() time) for W's socket to be ready for
 * W->events: WIRE_OK, WIRE_TIMEOUT (the caller says what timed out), or
 * WIRE_FAILED (poll failed: W is broken). */
static wire_status wait_until(wire *w, long long deadline)
{
    for (;;) {
        struct pollfd p = {.fd = w->fd, .events = w->events};
        long long left = deadline - now_ms();
        int r = poll(&p, 1, left > 0 ? (int)left : 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return broken(w, "poll: %s", strerror(errno));
        return r > 0 ? WIRE_OK : WIRE_TIMEOUT;
    }
}

/* ==== CONNECT ==== */

/* Bind FD (of FAMILY) to SOURCE, port chosen by the kernel. */
static bool bind_source(int fd, int family, const char *source, int *sys)
{
    struct addrinfo hints = {.ai_family = family,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICHOST};
    struct addrinfo *res = NULL;
    if (getaddrinfo(source, NULL, &hints, &res) != 0 || !res) {
        *sys = EADDRNOTAVAIL;
        return false;
    }
    bool ok = bind(fd, res->ai_addr, res->ai_addrlen) == 0;
    *sys = errno;
    freeaddrinfo(res);
    return ok;
}

/* Resolve and start the connect: the first address whose socket starts
 * connecting is kept, as hiredis does. */
static void start_connect(wire *w, const char *address, int port, const char *source)
{
    char service[16];
    snprintf(service, sizeof(service), "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(address, service, &hints, &res);
    if (gai != 0) {
        broken(w, "%s", gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai));
        return;
    }
    int last = ECONNREFUSED;
    bool bind_failed = false;
    for (struct addrinfo *ai = res; ai && w->fd < 0; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        ai->ai_protocol);
        if (fd < 0) {
            last = errno;
            continue;
        }
        if (source && !bind_source(fd, ai->ai_family, source, &last)) {
            bind_failed = true;
            close(fd);
            continue;
        }
        bind_failed = false;
        /* commands are small and pipelined: do not hold them back (as hiredis) */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS) {
            w->fd = fd;
            break;
        }
        last = errno;
        close(fd);
    }
    freeaddrinfo(res);
    if (w->fd >= 0)
        return;
    if (bind_failed)
        broken(w, "cannot bind to %s: %s", source, strerror(last));
    else
        broken(w, "%s", strerror(last));
}

wire *wire_new(const char *address, int port, const char *source)
{
    wire *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->fd = -1;
    w->use_tls = store_tls_on();
    w->events = POLLOUT;
    snprintf(w->address, sizeof(w->address), "%s", address);
    start_connect(w, address, port, source);
    return w;
}

wire *wire_from_fd(int fd, const char *name)
{
    wire *w = calloc(1, sizeof(*w));
    if (!w) {
        close(fd);
        return NULL;
    }
    w->fd = fd;
    w->phase = PHASE_READY;
    snprintf(w->address, sizeof(w->address), "%s", name);
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        broken(w, "fcntl: %s", strerror(errno));
    return w;
}

const char *wire_close_hint(const wire *w)
{
    return !w->use_tls && !w->received ? "; the server may require TLS" : "";
}

/* The server closed the connection (or reset it). */
static wire_status closed(wire *w)
{
    w->phase = PHASE_BROKEN;
    if (wire_close_hint(w)[0])
        snprintf(w->errstr, sizeof(w->errstr), "connection closed%s", wire_close_hint(w));
    else
        snprintf(w->errstr, sizeof(w->errstr), "the server closed the connection");
    return WIRE_CLOSED;
}

/* A data step on a wire that is not ready for data. */
static wire_status not_ready(wire *w)
{
    return w->phase == PHASE_BROKEN ? WIRE_FAILED : broken(w, "not connected");
}

/* Map a TLS step onto the wire; WHY is the failure's sentence. */
static wire_status from_tls(wire *w, tls_status st, const char *why)
{
    switch (st) {
    case TLS_DONE:
        return WIRE_OK;
    case TLS_WANT_READ:
        w->events = POLLIN;
        return WIRE_WANT;
    case TLS_WANT_WRITE:
        w->events = POLLOUT;
        return WIRE_WANT;
    case TLS_CLOSED:
        return closed(w);
    default:
        return broken(w, "%s", why);
    }
}

wire_status wire_connect_step(wire *w)
{
    char why[sizeof(w->errstr)];
    if (w->phase == PHASE_TCP) {
        w->events = POLLOUT;
        struct pollfd p = {.fd = w->fd, .events = POLLOUT};
        int r = poll(&p, 1, 0);
        if (r < 0 && errno != EINTR)
            return broken(w, "poll: %s", strerror(errno));
        if (r <= 0)
            return WIRE_WANT;
        int soerr = 0;
        socklen_t len = sizeof(soerr);
        if (getsockopt(w->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
            soerr = errno;
        if (soerr)
            return broken(w, "%s", strerror(soerr));
        if (!w->use_tls) {
            w->phase = PHASE_READY;
            return WIRE_OK;
        }
        w->tls = store__tls_open(w->fd, w->address, why, sizeof(why));
        if (!w->tls)
            return broken(w, "%s", why);
        w->phase = PHASE_HANDSHAKE;
    }
    if (w->phase == PHASE_HANDSHAKE) {
        wire_status st = from_tls(w, store__tls_handshake(w->tls, why, sizeof(why)), why);
        if (st == WIRE_OK)
            w->phase = PHASE_READY;
        return st;
    }
    return w->phase == PHASE_READY ? WIRE_OK : WIRE_FAILED;
}

const char *wire_timeout(wire *w, int timeout_ms)
{
    if (w->phase == PHASE_HANDSHAKE)
        snprintf(w->errstr, sizeof(w->errstr),
                 "the server did not answer the TLS handshake within %d ms: is TLS enabled "
                 "on it?",
                 timeout_ms);
    else
        snprintf(w->errstr, sizeof(w->errstr), "no answer within %d ms", timeout_ms);
    return w->errstr;
}

wire_status wire_connect(wire *w, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        wire_status st = wire_connect_step(w);
        if (st != WIRE_WANT)
            return st;
        if ((st = wait_until(w, deadline)) == WIRE_TIMEOUT) {
            wire_timeout(w, timeout_ms);
            w->phase = PHASE_BROKEN;
        }
        if (st != WIRE_OK)
            return st;
    }
}

/* ==== DATA ==== */


wire_status wire_write_step(wire *w, const void *buf, size_t n, size_t *done)
{
    *done = 0;
    if (w->phase != PHASE_READY)
        return not_ready(w);
    if (w->tls) {
        char why[sizeof(w->errstr)];
        return from_tls(w, store__tls_write(w->tls, buf, n, done, why, sizeof(why)), why);
    }
    for (;;) {
        ssize_t r = send(w->fd, buf, n, MSG_NOSIGNAL);
        if (r >= 0) {
            *done = (size_t)r;
            return WIRE_OK;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            w->events = POLLOUT;
            return WIRE_WANT;
        }
        if (errno == EPIPE || errno == ECONNRESET)
            return closed(w);
        return broken(w, "%s", strerror(errno));
    }
}

wire_status wire_read_step(wire *w, void *buf, size_t n, size_t *got)
{
    *got = 0;
    if (w->phase != PHASE_READY)
        return not_ready(w);
    if (w->tls) {
        char why[sizeof(w->errstr)];
        return from_tls(w, store__tls_read(w->tls, buf, n, got, why, sizeof(why)), why);
    }
    for (;;) {
        ssize_t r = recv(w->fd, buf, n, 0);
        if (r > 0) {
            *got = (size_t)r;
            w->received = true;
            return WIRE_OK;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            w->events = POLLIN;
            return WIRE_WANT;
        }
        if (r == 0 || errno == ECONNRESET)
            return closed(w);
        return broken(w, "%s", strerror(errno));
    }
}

wire_status wire_write_all(wire *w, const void *buf, size_t n, int timeout_ms)
{
    const char *p = buf;
    while (n > 0) {
        size_t done;
        wire_status st = wire_write_step(w, p, n, &done);
        if (st == WIRE_OK) {
            p += done;
            n -= done;
            continue;
        }
        if (st != WIRE_WANT)
            return st;
        if ((st = wait_until(w, now_ms() + timeout_ms)) == WIRE_TIMEOUT)
            snprintf(w->errstr, sizeof(w->errstr), "cannot send within %d ms", timeout_ms);
        if (st != WIRE_OK)
            return st;
    }
    return WIRE_OK;
}

wire_status wire_read_some(wire *w, void *buf, size_t n, size_t *got, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        /* a read first: TLS may hold decrypted bytes the socket no longer
         * signals */
        wire_status st = wire_read_step(w, buf, n, got);
        if (st != WIRE_WANT)
            return st;
        if ((st = wait_until(w, deadline)) == WIRE_TIMEOUT)
            snprintf(w->errstr, sizeof(w->errstr), "no answer within %d ms", timeout_ms);
        if (st != WIRE_OK)
            return st;
    }
}

int wire_fd(const wire *w)
{
    return w->fd;
}

short wire_events(const wire *w)
{
    return w->events;
}

const char *wire_error(const wire *w)
{
    return w->errstr;
}

void wire_free(wire **w)
{
    if (!w || !*w)
        return;
    store__tls_close(&(*w)->tls);
    if ((*w)->fd >= 0)
        close((*w)->fd);
    free(*w);
    *w = NULL;
}
