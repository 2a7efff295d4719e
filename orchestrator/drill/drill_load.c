#include "drill_load.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conn.h"
#include "log.h"
#include "pubsub.h"
#include "sentinel.h"

#define ADDR_MAX 64
#define MSG_CHANNEL_MAX 64
#define MSG_PAYLOAD_MAX 512
#define LISTEN_POLL_MS 100  /* how often a listener looks at its stop flag */
#define LISTEN_IDLE_MS 1000 /* a listener that heard nothing this long PINGs */
#define LISTEN_PONG_MS 1000 /* and gives the connection up without a pong */
#define SLEEP_SLICE_MS 50   /* longest uninterrupted sleep of a thread */

/* ==== pure helpers ==== */

int drill_load_index_of(const drill_target *t, int n, const char *address, int port)
{
    for (int i = 0; i < n; i++)
        if (t[i].port == port && t[i].address && strcmp(t[i].address, address) == 0)
            return t[i].index;
    return -1;
}

int64_t drill_load_pace_next(int64_t due_ns, int64_t now_ns, int64_t period_ns)
{
    int64_t next = due_ns + period_ns;
    return next > now_ns ? next : now_ns;
}

/* One space-separated word of S into BUF: returns the rest, NULL if none. */
static const char *next_word(const char *s, char *buf, size_t n)
{
    while (*s == ' ')
        s++;
    if (!*s)
        return NULL;
    size_t len = strcspn(s, " ");
    if (len >= n)
        return NULL;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return s + len;
}

static bool parse_port(const char *s, int *port)
{
    char *end;
    errno = 0;
    long p = strtol(s, &end, 10);
    if (errno || end == s || *end || p <= 0 || p > 65535)
        return false;
    *port = (int)p;
    return true;
}

bool drill_load_parse_switch(const char *payload, const char *master, char *ip, size_t n,
                             int *port)
{
    char w[5][ADDR_MAX];
    const char *s = payload;
    for (int i = 0; i < 5; i++)
        if (!(s = next_word(s, w[i], sizeof(w[i]))))
            return false;
    char extra[2];
    if (next_word(s, extra, sizeof(extra)) || strcmp(w[0], master) != 0 ||
        strlen(w[3]) >= n || !parse_port(w[4], port))
        return false;
    snprintf(ip, n, "%s", w[3]);
    return true;
}

/* ==== small utilities ==== */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Sleep until the monotonic clock reads DEADLINE_NS, waking every
 * SLEEP_SLICE_MS to look at STOP.  False when stopped. */
static bool sleep_until(int64_t deadline_ns, atomic_bool *stop)
{
    for (;;) {
        if (atomic_load(stop))
            return false;
        int64_t left = deadline_ns - now_ns();
        if (left <= 0)
            return true;
        int64_t slice = (int64_t)SLEEP_SLICE_MS * 1000000;
        int64_t until = left > slice ? now_ns() + slice : deadline_ns;
        struct timespec ts = {.tv_sec = until / 1000000000, .tv_nsec = until % 1000000000};
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
    }
}

static char *dup_or_null(const char *s, bool *oom)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *oom = true;
    return d;
}

/* Free a copied password after overwriting it. */
static void free_secret(char *s)
{
    if (!s)
        return;
    volatile char *v = s;
    while (*v)
        *v++ = '\0';
    free(s);
}

/* Deep copy of a target list (addresses copied). */
static drill_target *copy_targets(const drill_target *t, int n, bool *oom)
{
    if (n <= 0)
        return NULL;
    drill_target *c = calloc((size_t)n, sizeof(*c));
    if (!c) {
        *oom = true;
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        c[i] = t[i];
        c[i].address = dup_or_null(t[i].address, oom);
    }
    return c;
}

static void free_targets(drill_target *t, int n)
{
    if (!t)
        return;
    for (int i = 0; i < n; i++) {
        union {
            const char *in;
            char *out;
        } a = {.in = t[i].address};
        free(a.out);
    }
    free(t);
}

/* A growable array of fixed-size records. */
typedef struct vec {
    void *items;
    int64_t n;
    int64_t cap;
    bool dropped; /* an append failed for lack of memory */
} vec;

static void vec_push(vec *v, const void *item, size_t size)
{
    if (v->n == v->cap) {
        int64_t cap = v->cap ? v->cap * 2 : 1024;
        void *p = realloc(v->items, (size_t)cap * size);
        if (!p) {
            v->dropped = true;
            return;
        }
        v->items = p;
        v->cap = cap;
    }
    memcpy((char *)v->items + (size_t)v->n * size, item, size);
    v->n++;
}

static mrd_rc vec_copy(const vec *v, size_t size, void **out, int64_t *n, mrd_error *err)
{
    *out = NULL;
    *n = 0;
    if (v->n == 0)
        return MRD_OK;
    void *c = malloc((size_t)v->n * size);
    if (!c)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    memcpy(c, v->items, (size_t)v->n * size);
    *out = c;
    *n = v->n;
    return MRD_OK;
}

/* ==== listeners: one thread per sentinel, PSUBSCRIBE, callback ==== */

typedef void (*listener_fn)(void *ctx, int host, int64_t at_ms, const char *channel,
                            const char *payload);

/* One sentinel subscription, kept alive by its own thread so that a slow
 * connect to an unreachable sentinel never delays another's messages. */
typedef struct listener {
    pthread_t thread;
    bool started;
    const drill_target *target; /* borrowed from the owner's copy */
    const char *user;           /* borrowed */
    const char *pass;           /* borrowed */
    const char *pattern;        /* borrowed */
    int connect_timeout_ms;
    int retry_ms;
    atomic_bool *stop;          /* the owner's */
    listener_fn fn;
    void *ctx;
    atomic_bool subscribed;
    atomic_bool tried;          /* the first attempt finished */
} listener;

/* Subscribe, deliver messages, and keep the subscription alive: a sentinel
 * that goes away is retried every retry_ms, and one that falls silent (a
 * partition drops packets, nothing closes the connection) is detected by
 * an unanswered PING and retried too, so its events after a restore are
 * seen at once instead of after TCP's retransmission backoff. */
static void *listener_main(void *arg)
{
    listener *ls = arg;
    store_conn *c = NULL;
    char channel[MSG_CHANNEL_MAX], payload[MSG_PAYLOAD_MAX];
    bool warned = false;
    long long heard_ms = 0; /* last time anything arrived */
    long long ping_ms = -1; /* when the unanswered PING went out, -1 none */
    while (!atomic_load(ls->stop)) {
        mrd_error err = {0};
        if (!c) {
            mrd_rc rc = store_conn_open(ls->target->address, ls->target->port, ls->user,
                                        ls->pass, ls->connect_timeout_ms, &c, &err);
            if (rc == MRD_OK)
                rc = store_psubscribe(c, ls->pattern, &err);
            if (rc != MRD_OK) {
                store_conn_close(&c);
                if (!warned)
                    mrd_debug("drill listener: %s", err.msg);
                warned = true;
                atomic_store(&ls->tried, true);
                sleep_until(now_ns() + (int64_t)ls->retry_ms * 1000000, ls->stop);
                continue;
            }
            warned = false;
            heard_ms = mrd_now_ms();
            ping_ms = -1;
            atomic_store(&ls->subscribed, true);
            atomic_store(&ls->tried, true);
        }
        mrd_rc rc = store_next_message(c, LISTEN_POLL_MS, channel, sizeof(channel), payload,
                                       sizeof(payload), &err);
        long long now = mrd_now_ms();
        if (rc == MRD_OK) {
            heard_ms = now;
            if (channel[0])
                ls->fn(ls->ctx, ls->target->index, now, channel, payload);
            else
                ping_ms = -1; /* the pong */
            continue;
        }
        bool dead = rc != MRD_ERR_TIMEOUT; /* closed, broken, error reply */
        if (!dead && ping_ms >= 0 && now - ping_ms > LISTEN_PONG_MS) {
            mrd_error_set(&err, MRD_ERR_TIMEOUT, "%s:%d: no answer to PING within %d ms",
                          ls->target->address, ls->target->port, LISTEN_PONG_MS);
            dead = true;
        } else if (!dead && ping_ms < 0 && now - heard_ms >= LISTEN_IDLE_MS) {
            dead = store_pubsub_ping(c, &err) != MRD_OK;
            ping_ms = now;
        }
        if (dead) {
            mrd_debug("drill listener: %s", err.msg);
            atomic_store(&ls->subscribed, false);
            store_conn_close(&c);
            sleep_until(now_ns() + (int64_t)ls->retry_ms * 1000000, ls->stop);
        }
    }
    atomic_store(&ls->subscribed, false);
    store_conn_close(&c);
    return NULL;
}

/* Start N listeners and wait (bounded) until each has tried once. */
static mrd_rc listeners_start(listener *ls, int n, mrd_error *err)
{
    for (int i = 0; i < n; i++) {
        atomic_init(&ls[i].subscribed, false);
        atomic_init(&ls[i].tried, false);
        if (pthread_create(&ls[i].thread, NULL, listener_main, &ls[i]) != 0)
            return mrd_error_set(err, MRD_ERR_PROCESS, "cannot start a listener thread: %s",
                                 strerror(errno));
        ls[i].started = true;
    }
    long long deadline = mrd_now_ms() + 2LL * (n > 0 ? ls[0].connect_timeout_ms : 0) + 500;
    for (int i = 0; i < n; i++)
        while (!atomic_load(&ls[i].tried) && mrd_now_ms() < deadline)
            mrd_sleep_ms(2);
    return MRD_OK;
}

static void listeners_join(listener *ls, int n)
{
    for (int i = 0; i < n; i++)
        if (ls[i].started) {
            pthread_join(ls[i].thread, NULL);
            ls[i].started = false;
        }
}

/* ==== writer ==== */

struct drill_load {
    /* settings (owned copies) */
    int64_t t0_ms;
    char *master;
    drill_target *sentinels;
    int nsentinels;
    drill_target *nodes;
    int nnodes;
    char *user;
    char *pass;
    char *prefix;
    char *source;       /* isolated writer: bind address (its node is
                           leader_ip:leader_port, fixed); NULL otherwise */
    int64_t first_seq;
    int rate;
    int wait_replicas;
    int wait_timeout_ms;
    int connect_timeout_ms;
    int command_timeout_ms;

    /* threads */
    pthread_t thread;
    bool started;
    atomic_bool stop;
    listener *listeners; /* nsentinels, none when isolated */

    /* +switch-master seen by a listener, taken by the writer */
    pthread_mutex_t lock;
    bool switch_pending;
    char switch_ip[ADDR_MAX];
    int switch_port;

    /* the record (under lock) */
    vec writes;
    drill_load_progress progress;

    /* writer thread's own state */
    store_conn *conn;
    char leader_ip[ADDR_MAX]; /* "" when it must ask the sentinels */
    int leader_port;
    int cursor;               /* sentinel to ask first */
    bool failing;             /* last attempt failed (true at first, so the
                                 first success is logged): log transitions */
};

static void on_switch(void *ctx, int host, int64_t at_ms, const char *channel,
                      const char *payload)
{
    (void)host;
    (void)at_ms;
    drill_load *l = ctx;
    char ip[ADDR_MAX];
    int port;
    if (strcmp(channel, "+switch-master") != 0 ||
        !drill_load_parse_switch(payload, l->master, ip, sizeof(ip), &port))
        return;
    pthread_mutex_lock(&l->lock);
    l->switch_pending = true;
    snprintf(l->switch_ip, sizeof(l->switch_ip), "%s", ip);
    l->switch_port = port;
    pthread_mutex_unlock(&l->lock);
}

/* Ask the sentinels, starting with the last one that answered. */
static mrd_rc resolve_leader(drill_load *l, mrd_error *err)
{
    mrd_rc rc = mrd_error_set(err, MRD_ERR_CONNECT, "no sentinel to ask");
    for (int i = 0; i < l->nsentinels; i++) {
        int k = (l->cursor + i) % l->nsentinels;
        store_conn *s = NULL;
        rc = store_conn_open(l->sentinels[k].address, l->sentinels[k].port, l->user, l->pass,
                             l->connect_timeout_ms, &s, err);
        if (rc == MRD_OK)
            rc = sentinel_master_addr(s, l->master, l->leader_ip, sizeof(l->leader_ip),
                                      &l->leader_port, err);
        store_conn_close(&s);
        if (rc == MRD_OK) {
            l->cursor = k;
            return MRD_OK;
        }
        l->leader_ip[0] = '\0';
    }
    return rc;
}

/* Forget the leader connection; the main writer also forgets the leader's
 * address, so the next attempt asks the sentinels again. */
static void drop_leader(drill_load *l, const char *why)
{
    if (!l->failing)
        mrd_info("drill writer%s: %s", l->source ? " (isolated)" : "", why);
    l->failing = true;
    store_conn_close(&l->conn);
    if (!l->source)
        l->leader_ip[0] = '\0';
}

/* One write attempt: fills W's leader and state, and moves W's t_ms (the
 * attempt's start) to when the SET went out, after any resolve/connect. */
static void write_once(drill_load *l, drill_write *w)
{
    mrd_error err = {0};
    w->state = DRILL_W_ERROR;
    w->leader = -1;
    if (!l->source) {
        /* a +switch-master names the new leader: go there at once */
        char ip[ADDR_MAX] = "";
        int port = 0;
        pthread_mutex_lock(&l->lock);
        if (l->switch_pending) {
            snprintf(ip, sizeof(ip), "%s", l->switch_ip);
            port = l->switch_port;
            l->switch_pending = false;
        }
        pthread_mutex_unlock(&l->lock);
        if (ip[0] && (strcmp(ip, l->leader_ip) != 0 || port != l->leader_port)) {
            store_conn_close(&l->conn);
            snprintf(l->leader_ip, sizeof(l->leader_ip), "%s", ip);
            l->leader_port = port;
        }
        if (!l->leader_ip[0] && resolve_leader(l, &err) != MRD_OK) {
            drop_leader(l, err.msg);
            return;
        }
    }
    w->leader = (int16_t)drill_load_index_of(l->nodes, l->nnodes, l->leader_ip, l->leader_port);
    if (!l->conn &&
        store_conn_open_from(l->leader_ip, l->leader_port, l->source, l->user, l->pass,
                             l->command_timeout_ms, &l->conn, &err) != MRD_OK) {
        drop_leader(l, err.msg);
        return;
    }
    char key[160], val[32];
    snprintf(key, sizeof(key), "%s:%" PRId64, l->prefix, w->seq);
    snprintf(val, sizeof(val), "%" PRId64, w->seq);
    w->t_ms = mrd_now_ms() - l->t0_ms; /* when the SET is sent */
    if (store_cmdl(l->conn, NULL, &err, "SET", key, val, NULL) != MRD_OK) {
        drop_leader(l, err.msg);
        return;
    }
    w->state = DRILL_W_WRITTEN;
    if (l->wait_replicas > 0) {
        char n[16], t[16], *got = NULL;
        snprintf(n, sizeof(n), "%d", l->wait_replicas);
        snprintf(t, sizeof(t), "%d", l->wait_timeout_ms);
        if (store_cmdl(l->conn, &got, &err, "WAIT", n, t, NULL) != MRD_OK) {
            drop_leader(l, err.msg);
            return;
        }
        long acked = got ? strtol(got, NULL, 10) : 0;
        free(got);
        if (acked < l->wait_replicas)
            return;
    }
    w->state = DRILL_W_ACKED;
    if (l->failing)
        mrd_info("drill writer%s: writing to %s:%d", l->source ? " (isolated)" : "",
                 l->leader_ip, l->leader_port);
    l->failing = false;
}

static void *writer_main(void *arg)
{
    drill_load *l = arg;
    int64_t period = 1000000000 / l->rate;
    int64_t seq = l->first_seq;
    int64_t due = now_ns();
    while (sleep_until(due, &l->stop)) {
        drill_write w = {.seq = seq++, .isolated = l->source ? 1 : 0};
        w.t_ms = mrd_now_ms() - l->t0_ms;
        write_once(l, &w);
        w.done_ms = mrd_now_ms() - l->t0_ms;
        pthread_mutex_lock(&l->lock);
        vec_push(&l->writes, &w, sizeof(w));
        drill_load_progress *p = &l->progress;
        p->attempted++;
        switch ((drill_write_state)w.state) {
        case DRILL_W_ACKED:
            p->acked++;
            p->last_acked_ms = w.t_ms;
            p->leader = w.leader;
            break;
        case DRILL_W_WRITTEN:
            p->written++;
            break;
        case DRILL_W_ERROR:
            p->errors++;
            break;
        }
        pthread_mutex_unlock(&l->lock);
        due = drill_load_pace_next(due, now_ns(), period);
    }
    store_conn_close(&l->conn);
    return NULL;
}

static mrd_rc check_targets(const drill_target *t, int n, const char *what, mrd_error *err)
{
    for (int i = 0; i < n; i++)
        if (!t[i].address || t[i].port <= 0)
            return mrd_error_set(err, MRD_ERR_INVALID, "drill load: %s %d has no address",
                                 what, i);
    return MRD_OK;
}

mrd_rc drill_load_start(const drill_load_opts *o, drill_load **out, mrd_error *err)
{
    *out = NULL;
    bool isolated = o->source_address != NULL;
    if (!o->prefix || !o->user || !o->pass || o->rate < 1)
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "drill load: a key prefix, a user, a password and a rate >= 1 "
                             "are required");
    if (isolated && (!o->fixed_address || o->fixed_port <= 0))
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "drill load: the isolated writer needs the node to write to");
    if (!isolated && (!o->master || o->nsentinels < 1 || !o->sentinels))
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "drill load: the master name and at least one sentinel are required");
    MRD_TRY(check_targets(o->sentinels, isolated ? 0 : o->nsentinels, "sentinel", err));
    MRD_TRY(check_targets(o->nodes, o->nnodes, "node", err));

    drill_load *l = calloc(1, sizeof(*l));
    if (!l)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&l->lock, NULL);
    atomic_init(&l->stop, false);
    bool oom = false;
    l->t0_ms = o->t0_ms;
    l->master = dup_or_null(o->master ? o->master : "", &oom);
    l->nsentinels = isolated ? 0 : o->nsentinels;
    l->sentinels = copy_targets(o->sentinels, l->nsentinels, &oom);
    l->nnodes = o->nnodes;
    l->nodes = copy_targets(o->nodes, o->nnodes, &oom);
    l->user = dup_or_null(o->user, &oom);
    l->pass = dup_or_null(o->pass, &oom);
    l->prefix = dup_or_null(o->prefix, &oom);
    l->source = dup_or_null(o->source_address, &oom);
    l->first_seq = o->first_seq ? o->first_seq : 1;
    l->rate = o->rate;
    l->wait_replicas = o->wait_replicas > 0 ? o->wait_replicas : 0;
    l->wait_timeout_ms = o->wait_timeout_ms > 0 ? o->wait_timeout_ms : 1000;
    l->connect_timeout_ms =
        o->connect_timeout_ms > 0 ? o->connect_timeout_ms : DRILL_LOAD_CONNECT_TIMEOUT_MS;
    l->command_timeout_ms =
        o->command_timeout_ms > 0 ? o->command_timeout_ms : DRILL_LOAD_COMMAND_TIMEOUT_MS;
    if (l->wait_replicas > 0 && l->command_timeout_ms < l->wait_timeout_ms + 500)
        l->command_timeout_ms = l->wait_timeout_ms + 500;
    l->failing = true;
    l->progress.last_acked_ms = -1;
    l->progress.leader = -1;
    if (isolated) {
        snprintf(l->leader_ip, sizeof(l->leader_ip), "%s", o->fixed_address);
        l->leader_port = o->fixed_port;
    }
    if (!isolated && !oom) {
        l->listeners = calloc((size_t)l->nsentinels, sizeof(*l->listeners));
        oom = !l->listeners;
    }
    if (oom) {
        drill_load_free(&l);
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < (isolated ? 0 : l->nsentinels); i++)
        l->listeners[i] = (listener){.target = &l->sentinels[i],
                                     .user = l->user,
                                     .pass = l->pass,
                                     .pattern = "+switch-master",
                                     .connect_timeout_ms = l->connect_timeout_ms,
                                     .retry_ms = DRILL_LOAD_RETRY_MS,
                                     .stop = &l->stop,
                                     .fn = on_switch,
                                     .ctx = l};
    mrd_rc rc = listeners_start(l->listeners, l->nsentinels, err);
    if (rc == MRD_OK) {
        if (pthread_create(&l->thread, NULL, writer_main, l) != 0)
            rc = mrd_error_set(err, MRD_ERR_PROCESS, "cannot start the writer thread: %s",
                               strerror(errno));
        else
            l->started = true;
    }
    if (rc != MRD_OK) {
        drill_load_free(&l);
        return rc;
    }
    *out = l;
    return MRD_OK;
}

void drill_load_stop(drill_load *l)
{
    if (!l)
        return;
    atomic_store(&l->stop, true);
    if (l->started) {
        pthread_join(l->thread, NULL);
        l->started = false;
    }
    if (l->listeners)
        listeners_join(l->listeners, l->nsentinels);
}

void drill_load_free(drill_load **lp)
{
    if (!lp || !*lp)
        return;
    drill_load *l = *lp;
    drill_load_stop(l);
    store_conn_close(&l->conn);
    free(l->listeners);
    free(l->master);
    free_targets(l->sentinels, l->nsentinels);
    free_targets(l->nodes, l->nnodes);
    free(l->user);
    free_secret(l->pass);
    free(l->prefix);
    free(l->source);
    free(l->writes.items);
    pthread_mutex_destroy(&l->lock);
    free(l);
    *lp = NULL;
}

mrd_rc drill_load_writes(drill_load *l, drill_write **out, int64_t *n, mrd_error *err)
{
    void *items;
    pthread_mutex_lock(&l->lock);
    mrd_rc rc = vec_copy(&l->writes, sizeof(drill_write), &items, n, err);
    pthread_mutex_unlock(&l->lock);
    *out = items;
    return rc;
}

void drill_load_get_progress(drill_load *l, drill_load_progress *p)
{
    pthread_mutex_lock(&l->lock);
    *p = l->progress;
    pthread_mutex_unlock(&l->lock);
}

/* ==== timeline ==== */

struct drill_timeline {
    int64_t t0_ms;
    drill_target *sentinels;
    int nsentinels;
    char *user;
    char *pass;
    char *pattern;
    atomic_bool stop;
    listener *listeners;
    pthread_mutex_t lock;
    vec events; /* drill_event, under lock */
};

static void timeline_add(drill_timeline *t, int host, int64_t at_ms, const char *name,
                         const char *detail)
{
    drill_timeline_add(t, at_ms, host, -1, -1, name, detail);
}

void drill_timeline_add(drill_timeline *t, int64_t at_ms, int host, int node, int shard,
                        const char *name, const char *detail)
{
    drill_event e = {.t_ms = at_ms - t->t0_ms, .sentinel = (int16_t)host,
                     .node = (int16_t)node, .shard = (int16_t)shard};
    snprintf(e.name, sizeof(e.name), "%s", name);
    snprintf(e.detail, sizeof(e.detail), "%s", detail ? detail : "");
    pthread_mutex_lock(&t->lock);
    /* arrival order, clock readings taken before the lock: keep t_ms
     * non-decreasing for readers */
    if (t->events.n > 0) {
        const drill_event *last = (const drill_event *)t->events.items + t->events.n - 1;
        if (e.t_ms < last->t_ms)
            e.t_ms = last->t_ms;
    }
    vec_push(&t->events, &e, sizeof(e));
    pthread_mutex_unlock(&t->lock);
}

static void on_event(void *ctx, int host, int64_t at_ms, const char *channel,
                     const char *payload)
{
    timeline_add(ctx, host, at_ms, channel, payload);
}

mrd_rc drill_timeline_new(int64_t t0_ms, drill_timeline **out, mrd_error *err)
{
    *out = NULL;
    drill_timeline *t = calloc(1, sizeof(*t));
    if (!t)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&t->lock, NULL);
    atomic_init(&t->stop, false);
    t->t0_ms = t0_ms;
    *out = t;
    return MRD_OK;
}

mrd_rc drill_timeline_start(const drill_timeline_opts *o, drill_timeline **out,
                            mrd_error *err)
{
    *out = NULL;
    if (o->nsentinels < 1 || !o->sentinels || !o->user || !o->pass)
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "drill timeline: sentinels, a user and a password are required");
    MRD_TRY(check_targets(o->sentinels, o->nsentinels, "sentinel", err));
    drill_timeline *t = calloc(1, sizeof(*t));
    if (!t)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&t->lock, NULL);
    atomic_init(&t->stop, false);
    bool oom = false;
    t->t0_ms = o->t0_ms;
    t->nsentinels = o->nsentinels;
    t->sentinels = copy_targets(o->sentinels, o->nsentinels, &oom);
    t->user = dup_or_null(o->user, &oom);
    t->pass = dup_or_null(o->pass, &oom);
    t->pattern = dup_or_null(o->pattern ? o->pattern : "*", &oom);
    t->listeners = calloc((size_t)t->nsentinels, sizeof(*t->listeners));
    if (oom || !t->listeners) {
        drill_timeline_free(&t);
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < t->nsentinels; i++)
        t->listeners[i] = (listener){
            .target = &t->sentinels[i],
            .user = t->user,
            .pass = t->pass,
            .pattern = t->pattern,
            .connect_timeout_ms =
                o->connect_timeout_ms > 0 ? o->connect_timeout_ms : DRILL_LOAD_CONNECT_TIMEOUT_MS,
            .retry_ms = o->retry_ms > 0 ? o->retry_ms : DRILL_LOAD_RETRY_MS,
            .stop = &t->stop,
            .fn = on_event,
            .ctx = t};
    mrd_rc rc = listeners_start(t->listeners, t->nsentinels, err);
    if (rc != MRD_OK) {
        drill_timeline_free(&t);
        return rc;
    }
    *out = t;
    return MRD_OK;
}

int drill_timeline_subscribed(drill_timeline *t)
{
    int n = 0;
    for (int i = 0; i < t->nsentinels; i++)
        n += atomic_load(&t->listeners[i].subscribed) ? 1 : 0;
    return n;
}

void drill_timeline_mark(drill_timeline *t, const char *name, const char *detail)
{
    timeline_add(t, -1, mrd_now_ms(), name, detail);
}

bool drill_timeline_first(drill_timeline *t, const char *name, int64_t since_ms,
                          drill_event *out)
{
    bool found = false;
    pthread_mutex_lock(&t->lock);
    const drill_event *e = t->events.items;
    for (int64_t i = 0; i < t->events.n && !found; i++)
        if (e[i].t_ms >= since_ms && strcmp(e[i].name, name) == 0) {
            found = true;
            if (out)
                *out = e[i];
        }
    pthread_mutex_unlock(&t->lock);
    return found;
}

void drill_timeline_stop(drill_timeline *t)
{
    if (!t)
        return;
    atomic_store(&t->stop, true);
    if (t->listeners)
        listeners_join(t->listeners, t->nsentinels);
}

void drill_timeline_free(drill_timeline **tp)
{
    if (!tp || !*tp)
        return;
    drill_timeline *t = *tp;
    drill_timeline_stop(t);
    free(t->listeners);
    free_targets(t->sentinels, t->nsentinels);
    free(t->user);
    free_secret(t->pass);
    free(t->pattern);
    free(t->events.items);
    pthread_mutex_destroy(&t->lock);
    free(t);
    *tp = NULL;
}

mrd_rc drill_timeline_events(drill_timeline *t, drill_event **out, int64_t *n,
                             mrd_error *err)
{
    void *items;
    pthread_mutex_lock(&t->lock);
    mrd_rc rc = vec_copy(&t->events, sizeof(drill_event), &items, n, err);
    pthread_mutex_unlock(&t->lock);
    *out = items;
    return rc;
}

/* ==== verification ==== */

/* For each seq of the comma-separated ARGV[2], '1' when "<ARGV[1]>:<seq>"
 * holds "<seq>", else '0'.  Read-only; the keys are not declared in KEYS
 * (store_cmd takes at most 32 words), which standalone Redis allows, and
 * a cluster node too for keys of slots it serves once the script says
 * allow-cross-slot-keys (Redis 7.0 script flags). */
static const char VERIFY_SCRIPT[] =
    "#!lua flags=no-writes,allow-cross-slot-keys\n"
    "local out = {}\n"
    "for s in string.gmatch(ARGV[2], '[^,]+') do\n"
    "  out[#out + 1] = (redis.call('GET', ARGV[1] .. ':' .. s) == s) and '1' or '0'\n"
    "end\n"
    "return table.concat(out)\n";

mrd_rc drill_load_present(const char *address, int port, const char *user, const char *pass,
                          const char *prefix, const drill_write *w, int64_t n, int timeout_ms,
                          uint8_t *present, mrd_error *err)
{
    if (n <= 0)
        return MRD_OK;
    store_conn *c = NULL;
    MRD_TRY(store_conn_open(address, port, user, pass, timeout_ms, &c, err));
    /* up to 20 digits and a comma per key */
    size_t cap = (size_t)DRILL_LOAD_VERIFY_BATCH * 21 + 1;
    char *seqs = malloc(cap);
    if (!seqs) {
        store_conn_close(&c);
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    mrd_rc rc = MRD_OK;
    for (int64_t start = 0; start < n && rc == MRD_OK; start += DRILL_LOAD_VERIFY_BATCH) {
        int64_t end = start + DRILL_LOAD_VERIFY_BATCH < n ? start + DRILL_LOAD_VERIFY_BATCH : n;
        size_t len = 0;
        for (int64_t i = start; i < end; i++)
            len += (size_t)snprintf(seqs + len, cap - len, "%s%" PRId64, i > start ? "," : "",
                                    w[i].seq);
        char *flags = NULL;
        const char *argv[] = {"EVAL", VERIFY_SCRIPT, "0", prefix, seqs};
        rc = store_cmd(c, &flags, err, 5, argv);
        if (rc == MRD_OK && (!flags || (int64_t)strlen(flags) != end - start))
            rc = mrd_error_set(err, MRD_ERR_PROTOCOL, "%s: unexpected read-back answer",
                               store_conn_name(c));
        for (int64_t i = start; rc == MRD_OK && i < end; i++)
            present[i] = flags[i - start] == '1';
        free(flags);
    }
    free(seqs);
    store_conn_close(&c);
    return rc;
}

mrd_rc drill_load_verify(const char *address, int port, const char *user, const char *pass,
                         const char *prefix, const drill_write *w, int64_t n, int timeout_ms,
                         drill_verify_result *out, mrd_error *err)
{
    memset(out, 0, sizeof(*out));
    if (n <= 0)
        return MRD_OK;
    uint8_t *present = malloc((size_t)n);
    if (!present)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    mrd_rc rc = drill_load_present(address, port, user, pass, prefix, w, n, timeout_ms,
                                   present, err);
    for (int64_t i = 0; rc == MRD_OK && i < n; i++) {
        out->checked++;
        switch ((drill_write_state)w[i].state) {
        case DRILL_W_ACKED:
            out->acked_writes_lost += present[i] ? 0 : 1;
            break;
        case DRILL_W_WRITTEN:
            out->unacked_writes_lost += present[i] ? 0 : 1;
            break;
        case DRILL_W_ERROR:
            out->errors_present += present[i] ? 1 : 0;
            break;
        }
    }
    free(present);
    return rc;
}
