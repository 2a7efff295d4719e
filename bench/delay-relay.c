/* delay-relay - a TCP relay that adds a fixed one-way delay, for benchmarks.
 *
 *   delay-relay DELAY_MS LISTEN_ADDR:PORT=TARGET_ADDR:PORT ...
 *
 * Every byte that arrives on an accepted connection leaves towards the
 * target DELAY_MS later, and the same for the replies, so a round trip
 * through the relay takes 2 x DELAY_MS more: the network between an
 * operator and hosts in other regions, on one machine whose kernel has no
 * netem.  Order is kept, and an end of stream is passed on after the same
 * delay.  Prints "ready" on stdout once every listener is bound; runs
 * until SIGTERM or SIGINT.  Only for loopback test hosts: it binds what it
 * is told and connects where it is told. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_LISTEN 16
#define MAX_CONNS 128
#define CHUNK 65536

typedef struct chunk {
    struct chunk *next;
    long long due_ms; /* leaves at this time */
    size_t len, off;  /* len 0: the end of the stream */
    char data[];
} chunk;

/* One direction of a connection: what came from SRC, on its way to DST. */
typedef struct flow {
    int src, dst;
    chunk *head, *tail;
    int src_eof; /* nothing more will be read */
    int done;    /* the end of the stream was passed on */
} flow;

typedef struct conn {
    int used;
    flow f[2];
} conn;

typedef struct listener {
    int fd;
    struct sockaddr_in target;
} listener;

static volatile sig_atomic_t stopping;
static listener listeners[MAX_LISTEN];
static int nlisteners;
static conn conns[MAX_CONNS];
static long long delay_ms;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "ADDR:PORT" into SA; -1 when malformed. */
static int parse_addr(const char *s, struct sockaddr_in *sa)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    if (!colon || (size_t)(colon - s) >= sizeof(host))
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    long port = strtol(colon + 1, NULL, 10);
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((unsigned short)port);
    return port > 0 && port < 65536 && inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

static void flow_free(flow *f)
{
    while (f->head) {
        chunk *c = f->head;
        f->head = c->next;
        free(c);
    }
    f->tail = NULL;
}

static void conn_close(conn *c)
{
    close(c->f[0].src);
    close(c->f[0].dst);
    flow_free(&c->f[0]);
    flow_free(&c->f[1]);
    memset(c, 0, sizeof(*c));
}

static int enqueue(flow *f, const char *data, size_t len)
{
    chunk *c = malloc(sizeof(*c) + len);
    if (!c)
        return -1;
    c->next = NULL;
    c->due_ms = now_ms() + delay_ms;
    c->len = len;
    c->off = 0;
    memcpy(c->data, data, len);
    if (f->tail)
        f->tail->next = c;
    else
        f->head = c;
    f->tail = c;
    return 0;
}

static void accept_one(const listener *l)
{
    int in = accept(l->fd, NULL, NULL);
    if (in < 0)
        return;
    int out = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    if (out < 0 || connect(out, (const struct sockaddr *)&l->target, sizeof(l->target)) != 0) {
        if (out >= 0)
            close(out);
        close(in);
        return;
    }
    setsockopt(in, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(out, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    for (int i = 0; i < MAX_CONNS; i++) {
        if (conns[i].used)
            continue;
        conns[i].used = 1;
        conns[i].f[0] = (flow){.src = in, .dst = out};
        conns[i].f[1] = (flow){.src = out, .dst = in};
        return;
    }
    close(in);
    close(out);
}

/* Read what SRC has; -1 when the connection must go. */
static int flow_read(flow *f)
{
    char buf[CHUNK];
    ssize_t n = read(f->src, buf, sizeof(buf));
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? 0 : -1;
    if (n == 0)
        f->src_eof = 1;
    return enqueue(f, buf, (size_t)n);
}

/* Send what is due; -1 when the connection must go. */
static int flow_write(flow *f, long long now)
{
    while (f->head && f->head->due_ms <= now) {
        chunk *c = f->head;
        if (c->len == 0) {
            shutdown(f->dst, SHUT_WR);
            f->done = 1;
        } else {
            ssize_t n = send(f->dst, c->data + c->off, c->len - c->off,
                             MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : -1;
            c->off += (size_t)n;
            if (c->off < c->len)
                return 0;
        }
        f->head = c->next;
        if (!f->head)
            f->tail = NULL;
        free(c);
    }
    return 0;
}

static int run(void)
{
    struct pollfd pfd[MAX_LISTEN + 4 * MAX_CONNS];
    int owner[MAX_LISTEN + 4 * MAX_CONNS]; /* >= 0 conn*2+dir, -1 - listener */
    while (!stopping) {
        int n = 0;
        long long now = now_ms(), wake = -1;
        for (int i = 0; i < nlisteners; i++) {
            pfd[n] = (struct pollfd){.fd = listeners[i].fd, .events = POLLIN};
            owner[n++] = -1 - i;
        }
        for (int i = 0; i < MAX_CONNS; i++) {
            if (!conns[i].used)
                continue;
            for (int d = 0; d < 2; d++) {
                flow *f = &conns[i].f[d];
                if (!f->src_eof) {
                    pfd[n] = (struct pollfd){.fd = f->src, .events = POLLIN};
                    owner[n++] = i * 2 + d;
                }
                if (f->head && f->head->due_ms <= now) {
                    pfd[n] = (struct pollfd){.fd = f->dst, .events = POLLOUT};
                    owner[n++] = i * 2 + d;
                } else if (f->head && (wake < 0 || f->head->due_ms < wake)) {
                    wake = f->head->due_ms;
                }
            }
        }
        int timeout = wake < 0 ? -1 : (int)(wake > now ? wake - now : 0);
        if (poll(pfd, (nfds_t)n, timeout) < 0 && errno != EINTR)
            return 1;
        now = now_ms();
        for (int k = 0; k < n; k++) {
            if (!pfd[k].revents)
                continue;
            if (owner[k] < 0) {
                accept_one(&listeners[-1 - owner[k]]);
                continue;
            }
            conn *c = &conns[owner[k] / 2];
            flow *f = &c->f[owner[k] % 2];
            if (!c->used)
                continue;
            int bad = 0;
            if (pfd[k].fd == f->src && (pfd[k].revents & (POLLIN | POLLHUP | POLLERR)))
                bad = flow_read(f);
            else if (pfd[k].fd == f->dst)
                bad = flow_write(f, now);
            if (bad || (c->f[0].done && c->f[1].done))
                conn_close(c);
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: delay-relay DELAY_MS LISTEN_ADDR:PORT=TARGET_ADDR:PORT ...\n");
        return 64;
    }
    delay_ms = strtol(argv[1], NULL, 10);
    for (int i = 2; i < argc && nlisteners < MAX_LISTEN; i++) {
        char spec[160];
        snprintf(spec, sizeof(spec), "%s", argv[i]);
        char *eq = strchr(spec, '=');
        struct sockaddr_in at;
        listener *l = &listeners[nlisteners];
        if (!eq) {
            fprintf(stderr, "delay-relay: %s: want LISTEN_ADDR:PORT=TARGET_ADDR:PORT\n", argv[i]);
            return 64;
        }
        *eq = '\0';
        if (parse_addr(spec, &at) != 0 || parse_addr(eq + 1, &l->target) != 0) {
            fprintf(stderr, "delay-relay: %s: not ADDR:PORT=ADDR:PORT\n", argv[i]);
            return 64;
        }
        int one = 1;
        l->fd = socket(AF_INET, SOCK_STREAM, 0);
        if (l->fd < 0 || setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
            bind(l->fd, (const struct sockaddr *)&at, sizeof(at)) != 0 || listen(l->fd, 64) != 0) {
            fprintf(stderr, "delay-relay: cannot listen on %s: %s\n", spec, strerror(errno));
            return 1;
        }
        nlisteners++;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    printf("ready\n");
    fflush(stdout);
    return run();
}
