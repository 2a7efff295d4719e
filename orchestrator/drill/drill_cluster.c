/* drill_cluster.c - the cluster-aware writer and the cluster watcher of a
 * drill.  See drill_cluster.h. */
#include "drill_cluster.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "log.h"

#define SLICE_MS 20 /* longest uninterrupted sleep of a thread */

/* ==== pure helpers ==== */

/* The first sequence number >= FROM, stepping by STRIDE, whose key's
 * slot IN accepts (with CTX); -1 when none within 1,000,000 steps. */
static int64_t next_seq_where(const char *prefix, int64_t from, int stride,
                              bool (*in)(int slot, const void *ctx), const void *ctx)
{
    if (stride < 1)
        stride = 1;
    char key[160];
    for (int i = 0; i < 1000000; i++, from += stride) {
        int n = snprintf(key, sizeof(key), "%s:%" PRId64, prefix, from);
        if (n < 0 || (size_t)n >= sizeof(key))
            return -1;
        if (in(store_cluster_keyslot(key, (size_t)n), ctx))
            return from;
    }
    return -1;
}

static bool in_range(int slot, const void *ctx)
{
    const int *r = ctx;
    return slot >= r[0] && slot <= r[1];
}

int64_t drill_cluster_next_seq(const char *prefix, int64_t from, int stride, int slot_first,
                               int slot_last)
{
    const int range[2] = {slot_first, slot_last};
    return next_seq_where(prefix, from, stride, in_range, range);
}

typedef struct shard_of {
    const int16_t *slot_shard;
    int shard;
} shard_of;

static bool in_shard(int slot, const void *ctx)
{
    const shard_of *x = ctx;
    return x->slot_shard[slot] == x->shard;
}

int64_t drill_cluster_next_seq_of(const char *prefix, int64_t from, int stride,
                                  const int16_t slot_shard[STORE_CLUSTER_SLOTS], int shard)
{
    const shard_of x = {.slot_shard = slot_shard, .shard = shard};
    return next_seq_where(prefix, from, stride, in_shard, &x);
}

void drill_cluster_slot_shards(const int16_t owner[STORE_CLUSTER_SLOTS],
                               const drill_target *nodes, int n, const int *node_shard,
                               int plan_nodes, const int *slot_first, const int *slot_last,
                               int nshards, int16_t out[STORE_CLUSTER_SLOTS])
{
    for (int slot = 0; slot < STORE_CLUSTER_SLOTS; slot++) {
        int p = owner[slot], i = p >= 0 && p < n ? nodes[p].index : -1;
        int s = i >= 0 && i < plan_nodes && node_shard ? node_shard[i] : -1;
        for (int k = 0; s < 0 && slot_first && slot_last && k < nshards; k++)
            if (slot >= slot_first[k] && slot <= slot_last[k])
                s = k;
        out[slot] = (int16_t)(s >= 0 && s < nshards ? s : -1);
    }
}

void drill_cluster_slot_map(const store_cluster_view *const *views, int nviews,
                            const drill_target *nodes, int n, int16_t owner[STORE_CLUSTER_SLOTS])
{
    for (int s = 0; s < STORE_CLUSTER_SLOTS; s++) {
        unsigned long long best = 0;
        owner[s] = -1;
        for (int v = 0; v < nviews; v++) {
            const store_cluster_node *o = views[v] ? store_cluster_slot_owner(views[v], s) : NULL;
            if (!o)
                continue;
            int idx = drill_load_index_of(nodes, n, o->ip, o->port);
            if (idx >= 0 && (owner[s] < 0 || o->config_epoch > best)) {
                owner[s] = (int16_t)idx;
                best = o->config_epoch;
            }
        }
    }
}

int drill_cluster_diff(const store_cluster_view *prev, const store_cluster_view *cur,
                       drill_cluster_emit_fn emit, void *ctx)
{
    if (!prev || !cur)
        return 0;
    int n = 0;
    char detail[160];
    const store_cluster_node *me = store_cluster_myself(cur);
    const store_cluster_node *was = store_cluster_find(prev, me->id);
    if (was) {
        bool master = me->flags & STORE_CLUSTER_MASTER, wasm = was->flags & STORE_CLUSTER_MASTER;
        if (master && !wasm) {
            snprintf(detail, sizeof(detail), "epoch %llu, %d slots", me->config_epoch,
                     me->nslots);
            emit(ctx, "+promoted", me, detail);
            n++;
        } else if (!master && wasm) {
            const store_cluster_node *m = store_cluster_master_of(cur, me);
            snprintf(detail, sizeof(detail), "replica of %s:%d", m ? m->ip : "?",
                     m ? m->port : 0);
            emit(ctx, "+demoted", me, detail);
            n++;
        }
    }
    for (int i = 0; i < cur->nnodes; i++) {
        const store_cluster_node *x = &cur->nodes[i];
        const store_cluster_node *p = store_cluster_find(prev, x->id);
        if (x == me || !p)
            continue;
        snprintf(detail, sizeof(detail), "%s:%d %s", x->ip, x->port,
                 x->flags & STORE_CLUSTER_MASTER ? "master" : "replica");
        if ((x->flags & STORE_CLUSTER_PFAIL) && !(p->flags & STORE_CLUSTER_PFAIL)) {
            emit(ctx, "+pfail", x, detail);
            n++;
        }
        if ((x->flags & STORE_CLUSTER_FAIL) && !(p->flags & STORE_CLUSTER_FAIL)) {
            emit(ctx, "+fail", x, detail);
            n++;
        } else if (!(x->flags & STORE_CLUSTER_FAIL) && (p->flags & STORE_CLUSTER_FAIL)) {
            emit(ctx, "-fail", x, detail);
            n++;
        }
    }
    return n;
}

/* ==== small utilities ==== */

static char *dup_str(const char *s, bool *oom)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    *oom |= !d;
    return d;
}

static void wipe_free(char *s)
{
    if (!s)
        return;
    volatile char *v = s;
    while (*v)
        *v++ = '\0';
    free(s);
}

/* Sleep MS, waking every SLICE_MS to look at STOP; false when stopped. */
static bool nap(long long ms, atomic_bool *stop)
{
    long long end = mrd_now_ms() + ms;
    while (!atomic_load(stop)) {
        long long left = end - mrd_now_ms();
        if (left <= 0)
            return true;
        mrd_sleep_ms(left < SLICE_MS ? left : SLICE_MS);
    }
    return false;
}

/* The settings both handles copy. */
typedef struct common {
    int64_t t0_ms;
    drill_target *nodes;
    int nnodes;
    int nshards;
    int *slot_first, *slot_last;
    int plan_nodes;
    int *node_host, *node_shard;
    char **node_name;
    char *user, *pass, *prefix;
} common;

static int *dup_ints(const int *a, int n, bool *oom)
{
    if (!a || n <= 0)
        return NULL;
    int *c = malloc(sizeof(*c) * (size_t)n);
    if (!c)
        *oom = true;
    else
        memcpy(c, a, sizeof(*c) * (size_t)n);
    return c;
}

static void common_free(common *c)
{
    for (int i = 0; c->nodes && i < c->nnodes; i++)
        free((char *)(uintptr_t)c->nodes[i].address);
    free(c->nodes);
    free(c->slot_first);
    free(c->slot_last);
    free(c->node_host);
    free(c->node_shard);
    for (int i = 0; c->node_name && i < c->plan_nodes; i++)
        free(c->node_name[i]);
    free(c->node_name);
    free(c->user);
    wipe_free(c->pass);
    free(c->prefix);
}

static mrd_rc common_copy(const drill_cluster_opts *o, common *c, mrd_error *err)
{
    memset(c, 0, sizeof(*c));
    if (!o->nodes || o->nnodes < 1 || !o->user || !o->pass)
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "drill cluster: nodes, a user and a password are required");
    bool oom = false;
    c->t0_ms = o->t0_ms;
    c->nnodes = o->nnodes;
    c->nodes = calloc((size_t)o->nnodes, sizeof(*c->nodes));
    oom |= !c->nodes;
    for (int i = 0; c->nodes && i < o->nnodes; i++) {
        c->nodes[i] = o->nodes[i];
        c->nodes[i].address = dup_str(o->nodes[i].address ? o->nodes[i].address : "", &oom);
    }
    c->nshards = o->nshards;
    c->slot_first = dup_ints(o->slot_first, o->nshards, &oom);
    c->slot_last = dup_ints(o->slot_last, o->nshards, &oom);
    c->plan_nodes = o->plan_nodes;
    c->node_host = dup_ints(o->node_host, o->plan_nodes, &oom);
    c->node_shard = dup_ints(o->node_shard, o->plan_nodes, &oom);
    if (o->node_name && o->plan_nodes > 0) {
        c->node_name = calloc((size_t)o->plan_nodes, sizeof(*c->node_name));
        oom |= !c->node_name;
        for (int i = 0; c->node_name && i < o->plan_nodes; i++)
            c->node_name[i] = dup_str(o->node_name[i] ? o->node_name[i] : "?", &oom);
    }
    c->user = dup_str(o->user, &oom);
    c->pass = dup_str(o->pass, &oom);
    c->prefix = dup_str(o->prefix, &oom);
    if (oom) {
        common_free(c);
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    return MRD_OK;
}

/* ==== writer ==== */

/* One thread's state: its shard and its own connection to each node. */
typedef struct shard_writer {
    struct drill_cwriter *w;
    int shard;
    pthread_t thread;
    bool started;
    store_conn **conns; /* by position in w->c.nodes */
} shard_writer;

struct drill_cwriter {
    common c;
    int rate;
    int wait_replicas;
    int wait_timeout_ms;
    int command_timeout_ms;
    atomic_bool stop;
    atomic_bool stale;       /* a writer saw an error: refresh the map now */
    pthread_mutex_t lock;    /* owner[], writes */
    int16_t owner[STORE_CLUSTER_SLOTS]; /* position in c.nodes, -1 */
    int16_t slot_shard[STORE_CLUSTER_SLOTS]; /* whose writer writes the
                                                slot's keys (set once, at
                                                the start), -1 none */
    int writers;             /* shards with a writer: they share the rate */
    drill_write *writes;
    int64_t nwrites, capw;
    /* router */
    pthread_t router;
    bool router_started;
    store_conn **rconns;
    long long *retry_at;     /* per node: no connect attempt before */
    store_cluster_view **views;
    shard_writer *shards;
};

/* The position in c.nodes of the node at IP:PORT, -1 none. */
static int position_of(const common *c, const char *ip, int port)
{
    for (int i = 0; i < c->nnodes; i++)
        if (c->nodes[i].port == port && strcmp(c->nodes[i].address, ip) == 0)
            return i;
    return -1;
}

/* Read every node's view and rebuild the slot map. */
static void router_refresh(drill_cwriter *w)
{
    int n = w->c.nnodes;
    for (int i = 0; i < n && !atomic_load(&w->stop); i++) {
        long long now = mrd_now_ms();
        mrd_error err;
        bool ok = false;
        if (!w->rconns[i] && now >= w->retry_at[i] &&
            store_conn_open(w->c.nodes[i].address, w->c.nodes[i].port, w->c.user, w->c.pass,
                            DRILL_CLUSTER_CONNECT_MS, &w->rconns[i], &err) != MRD_OK)
            w->retry_at[i] = now + 1000;
        char *text = NULL;
        if (w->rconns[i] &&
            store_cmdl(w->rconns[i], &text, &err, "CLUSTER", "NODES", NULL) == MRD_OK && text)
            ok = store_cluster_nodes_parse(text, strlen(text), w->views[i], &err) == MRD_OK;
        else if (w->rconns[i]) {
            store_conn_close(&w->rconns[i]);
            w->retry_at[i] = now + 1000;
        }
        free(text);
        if (!ok)
            w->views[i]->nnodes = -1; /* left out below */
    }
    const store_cluster_view *vs[DRILL_CLUSTER_MAX_NODES];
    int nv = 0;
    for (int i = 0; i < n && nv < DRILL_CLUSTER_MAX_NODES; i++)
        if (w->views[i]->nnodes > 0)
            vs[nv++] = w->views[i];
    if (nv == 0)
        return;
    /* positions, not plan indexes: a copy of the targets with .index = i */
    drill_target pos[DRILL_CLUSTER_MAX_NODES];
    for (int i = 0; i < n && i < DRILL_CLUSTER_MAX_NODES; i++)
        pos[i] = (drill_target){.address = w->c.nodes[i].address, .port = w->c.nodes[i].port,
                                .index = i};
    int16_t owner[STORE_CLUSTER_SLOTS];
    drill_cluster_slot_map(vs, nv, pos, n < DRILL_CLUSTER_MAX_NODES ? n : DRILL_CLUSTER_MAX_NODES,
                           owner);
    pthread_mutex_lock(&w->lock);
    memcpy(w->owner, owner, sizeof(owner));
    pthread_mutex_unlock(&w->lock);
}

static void *router_main(void *arg)
{
    drill_cwriter *w = arg;
    long long last = mrd_now_ms();
    while (nap(DRILL_CLUSTER_MIN_REFRESH_MS, &w->stop)) {
        long long now = mrd_now_ms();
        if (!atomic_load(&w->stale) && now - last < DRILL_CLUSTER_REFRESH_MS)
            continue;
        atomic_store(&w->stale, false);
        router_refresh(w);
        last = now;
    }
    for (int i = 0; i < w->c.nnodes; i++)
        store_conn_close(&w->rconns[i]);
    return NULL;
}

/* Drop the connection to node position P and ask for a new map. */
static void writer_drop(shard_writer *sw, int p, const char *why)
{
    store_conn_close(&sw->conns[p]);
    atomic_store(&sw->w->stale, true);
    mrd_debug("drill cluster writer (shard %d): %s", sw->shard + 1, why);
}

/* One SET (and WAIT) of seq W->seq to the master of SLOT, following up to
 * three redirections. */
static void write_once(shard_writer *sw, drill_write *wr, const char *key, int slot)
{
    drill_cwriter *w = sw->w;
    pthread_mutex_lock(&w->lock);
    int p = w->owner[slot];
    pthread_mutex_unlock(&w->lock);
    if (p < 0) {
        atomic_store(&w->stale, true);
        return;
    }
    char val[32];
    snprintf(val, sizeof(val), "%" PRId64, wr->seq);
    bool asking = false;
    for (int hop = 0; hop < 4; hop++) {
        mrd_error err;
        wr->leader = (int16_t)w->c.nodes[p].index;
        if (!sw->conns[p] &&
            store_conn_open(w->c.nodes[p].address, w->c.nodes[p].port, w->c.user, w->c.pass,
                            w->command_timeout_ms, &sw->conns[p], &err) != MRD_OK) {
            writer_drop(sw, p, err.msg);
            return;
        }
        if (asking && store_cmdl(sw->conns[p], NULL, &err, "ASKING", NULL) != MRD_OK) {
            writer_drop(sw, p, err.msg);
            return;
        }
        if (hop == 0)
            wr->t_ms = mrd_now_ms() - w->c.t0_ms;
        if (store_cmdl(sw->conns[p], NULL, &err, "SET", key, val, NULL) != MRD_OK) {
            const char *msg = err.msg;
            const char *name = store_conn_name(sw->conns[p]);
            if (strncmp(msg, name, strlen(name)) == 0 && msg[strlen(name)] == ':')
                msg += strlen(name) + 2;
            store_cluster_redirect rd;
            int to = store_cluster_redirect_parse(msg, &rd) ? position_of(&w->c, rd.ip, rd.port)
                                                            : -1;
            if (to < 0) {
                writer_drop(sw, p, err.msg);
                return;
            }
            if (!rd.ask) {
                pthread_mutex_lock(&w->lock);
                w->owner[slot] = (int16_t)to;
                pthread_mutex_unlock(&w->lock);
                atomic_store(&w->stale, true); /* other slots moved too */
            }
            asking = rd.ask;
            p = to;
            continue;
        }
        wr->state = DRILL_W_WRITTEN;
        if (w->wait_replicas > 0) {
            char n[16], t[16], *got = NULL;
            snprintf(n, sizeof(n), "%d", w->wait_replicas);
            snprintf(t, sizeof(t), "%d", w->wait_timeout_ms);
            if (store_cmdl(sw->conns[p], &got, &err, "WAIT", n, t, NULL) != MRD_OK) {
                writer_drop(sw, p, err.msg);
                return;
            }
            long acked = got ? strtol(got, NULL, 10) : 0;
            free(got);
            if (acked < w->wait_replicas)
                return;
        }
        wr->state = DRILL_W_ACKED;
        return;
    }
    atomic_store(&w->stale, true);
}

static void record_write(drill_cwriter *w, const drill_write *wr)
{
    pthread_mutex_lock(&w->lock);
    if (w->nwrites == w->capw) {
        int64_t cap = w->capw ? w->capw * 2 : 4096;
        drill_write *p = realloc(w->writes, sizeof(*p) * (size_t)cap);
        if (p) {
            w->writes = p;
            w->capw = cap;
        }
    }
    if (w->nwrites < w->capw)
        w->writes[w->nwrites++] = *wr;
    pthread_mutex_unlock(&w->lock);
}

static void *shard_main(void *arg)
{
    shard_writer *sw = arg;
    drill_cwriter *w = sw->w;
    int s = sw->shard, ns = w->c.nshards;
    /* the shard's share of the rate; the stride keeps every writer's
     * sequence numbers its own (seq = s + 1 modulo ns) */
    int64_t period_ns = (int64_t)1000000000 * w->writers / w->rate;
    int64_t seq = s + 1;
    int64_t due = (int64_t)mrd_now_ms() * 1000000;
    char key[160];
    while (!atomic_load(&w->stop)) {
        long long wait_ms = (due / 1000000) - mrd_now_ms();
        if (wait_ms > 0 && !nap(wait_ms, &w->stop))
            break;
        int64_t next = drill_cluster_next_seq_of(w->c.prefix, seq, ns, w->slot_shard, s);
        if (next < 0)
            break;
        seq = next + ns;
        snprintf(key, sizeof(key), "%s:%" PRId64, w->c.prefix, next);
        drill_write wr = {.seq = next, .leader = -1, .shard = (int16_t)s,
                          .t_ms = mrd_now_ms() - w->c.t0_ms};
        write_once(sw, &wr, key, store_cluster_keyslot(key, strlen(key)));
        wr.done_ms = mrd_now_ms() - w->c.t0_ms;
        record_write(w, &wr);
        due = drill_load_pace_next(due, (int64_t)mrd_now_ms() * 1000000, period_ns);
    }
    for (int i = 0; i < w->c.nnodes; i++)
        store_conn_close(&sw->conns[i]);
    return NULL;
}

mrd_rc drill_cwriter_start(const drill_cluster_opts *o, drill_cwriter **out, mrd_error *err)
{
    *out = NULL;
    if (!o->prefix || o->nshards < 1 || !o->slot_first || !o->slot_last || o->rate < o->nshards)
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "drill cluster writer: a key prefix, the shards' slot ranges and "
                             "a rate of at least one write per second per shard are required");
    if (o->nnodes > DRILL_CLUSTER_MAX_NODES)
        return mrd_error_set(err, MRD_ERR_INVALID, "drill cluster writer: more than %d nodes",
                             DRILL_CLUSTER_MAX_NODES);
    drill_cwriter *w = calloc(1, sizeof(*w));
    if (!w)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&w->lock, NULL);
    atomic_init(&w->stop, false);
    atomic_init(&w->stale, false);
    mrd_rc rc = common_copy(o, &w->c, err);
    if (rc != MRD_OK) {
        pthread_mutex_destroy(&w->lock);
        free(w);
        return rc;
    }
    w->rate = o->rate;
    w->wait_replicas = o->wait_replicas > 0 ? o->wait_replicas : 0;
    w->wait_timeout_ms = o->wait_timeout_ms > 0 ? o->wait_timeout_ms : 1000;
    w->command_timeout_ms = w->wait_timeout_ms + 500;
    memset(w->owner, 0xff, sizeof(w->owner)); /* -1 */
    int n = w->c.nnodes;
    w->rconns = calloc((size_t)n, sizeof(*w->rconns));
    w->retry_at = calloc((size_t)n, sizeof(*w->retry_at));
    w->views = calloc((size_t)n, sizeof(*w->views));
    w->shards = calloc((size_t)o->nshards, sizeof(*w->shards));
    bool oom = !w->rconns || !w->retry_at || !w->views || !w->shards;
    for (int i = 0; !oom && i < n; i++)
        oom = !(w->views[i] = store_cluster_view_new());
    for (int s = 0; !oom && s < o->nshards; s++) {
        w->shards[s] = (shard_writer){.w = w, .shard = s};
        oom = !(w->shards[s].conns = calloc((size_t)n, sizeof(store_conn *)));
    }
    if (oom) {
        drill_cwriter_free(&w);
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    router_refresh(w);
    /* each shard's keys from its slots in this first map, not its plan
     * range: after a scale they are any set (a fresh cluster's are that
     * range) */
    drill_cluster_slot_shards(w->owner, w->c.nodes, n, w->c.node_shard, w->c.plan_nodes,
                              w->c.slot_first, w->c.slot_last, o->nshards, w->slot_shard);
    bool *owns = calloc((size_t)o->nshards, sizeof(*owns));
    if (!owns) {
        drill_cwriter_free(&w);
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    for (int slot = 0; slot < STORE_CLUSTER_SLOTS; slot++)
        if (w->slot_shard[slot] >= 0)
            owns[w->slot_shard[slot]] = true;
    for (int s = 0; s < o->nshards; s++)
        w->writers += owns[s];
    rc = MRD_OK;
    if (pthread_create(&w->router, NULL, router_main, w) != 0)
        rc = mrd_error_set(err, MRD_ERR_PROCESS, "cannot start the router thread: %s",
                           strerror(errno));
    else
        w->router_started = true;
    for (int s = 0; rc == MRD_OK && s < o->nshards; s++) {
        if (!owns[s]) /* no slot: nothing to write (a shard not filled yet) */
            continue;
        if (pthread_create(&w->shards[s].thread, NULL, shard_main, &w->shards[s]) != 0)
            rc = mrd_error_set(err, MRD_ERR_PROCESS, "cannot start a writer thread: %s",
                               strerror(errno));
        else
            w->shards[s].started = true;
    }
    free(owns);
    if (rc != MRD_OK) {
        drill_cwriter_free(&w);
        return rc;
    }
    *out = w;
    return MRD_OK;
}

void drill_cwriter_stop(drill_cwriter *w)
{
    if (!w)
        return;
    atomic_store(&w->stop, true);
    for (int s = 0; w->shards && s < w->c.nshards; s++)
        if (w->shards[s].started) {
            pthread_join(w->shards[s].thread, NULL);
            w->shards[s].started = false;
        }
    if (w->router_started) {
        pthread_join(w->router, NULL);
        w->router_started = false;
    }
}

void drill_cwriter_free(drill_cwriter **wp)
{
    if (!wp || !*wp)
        return;
    drill_cwriter *w = *wp;
    drill_cwriter_stop(w);
    for (int i = 0; i < w->c.nnodes; i++) {
        if (w->rconns)
            store_conn_close(&w->rconns[i]);
        if (w->views)
            store_cluster_view_free(&w->views[i]);
    }
    for (int s = 0; w->shards && s < w->c.nshards; s++) {
        for (int i = 0; w->shards[s].conns && i < w->c.nnodes; i++)
            store_conn_close(&w->shards[s].conns[i]);
        free(w->shards[s].conns);
    }
    free(w->shards);
    free(w->rconns);
    free(w->retry_at);
    free(w->views);
    free(w->writes);
    common_free(&w->c);
    pthread_mutex_destroy(&w->lock);
    free(w);
    *wp = NULL;
}

mrd_rc drill_cwriter_writes(drill_cwriter *w, drill_write **out, int64_t *n, mrd_error *err)
{
    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&w->lock);
    mrd_rc rc = MRD_OK;
    if (w->nwrites > 0) {
        *out = malloc(sizeof(**out) * (size_t)w->nwrites);
        if (*out) {
            memcpy(*out, w->writes, sizeof(**out) * (size_t)w->nwrites);
            *n = w->nwrites;
        } else {
            rc = mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
        }
    }
    pthread_mutex_unlock(&w->lock);
    return rc;
}

/* ==== read-back ==== */

/* Every node's view of the slot map (NULL: it did not answer), merged:
 * OWNER[slot] = position in NODES, -1 none.  False when no node answered. */
static bool read_slot_map(const drill_target *nodes, int n, const char *user, const char *pass,
                          int timeout_ms, int16_t *owner)
{
    store_cluster_view **views = calloc((size_t)n, sizeof(*views));
    const store_cluster_view **seen = calloc((size_t)n, sizeof(*seen));
    drill_target *pos = calloc((size_t)n, sizeof(*pos));
    int nseen = 0;
    for (int i = 0; views && seen && pos && i < n; i++) {
        pos[i] = (drill_target){.address = nodes[i].address, .port = nodes[i].port, .index = i};
        store_conn *c = NULL;
        char *text = NULL;
        mrd_error e;
        if (store_conn_open(nodes[i].address, nodes[i].port, user, pass, timeout_ms, &c, &e) ==
                MRD_OK &&
            store_cmdl(c, &text, &e, "CLUSTER", "NODES", NULL) == MRD_OK && text &&
            (views[i] = store_cluster_view_new()) &&
            store_cluster_nodes_parse(text, strlen(text), views[i], &e) == MRD_OK)
            seen[nseen++] = views[i];
        free(text);
        store_conn_close(&c);
    }
    if (nseen > 0)
        drill_cluster_slot_map(seen, nseen, pos, n, owner);
    for (int i = 0; views && i < n; i++)
        store_cluster_view_free(&views[i]);
    free(views);
    free(seen);
    free(pos);
    return nseen > 0;
}

mrd_rc drill_cluster_verify(const drill_target *nodes, int nnodes, const char *user,
                            const char *pass, const char *prefix, const drill_write *w,
                            int64_t n, int timeout_ms, drill_verify_result *out, int *owners,
                            mrd_error *err)
{
    memset(out, 0, sizeof(*out));
    if (owners)
        *owners = 0;
    if (nnodes < 1 || nnodes > DRILL_CLUSTER_MAX_NODES)
        return mrd_error_set(err, MRD_ERR_INVALID, "drill cluster read-back: 1 to %d nodes",
                             DRILL_CLUSTER_MAX_NODES);
    int16_t *owner = malloc(sizeof(*owner) * STORE_CLUSTER_SLOTS);
    int16_t *at = malloc(sizeof(*at) * (size_t)(n > 0 ? n : 1)); /* per write: its owner */
    drill_write *mine = malloc(sizeof(*mine) * (size_t)(n > 0 ? n : 1));
    if (!owner || !at || !mine) {
        free(owner);
        free(at);
        free(mine);
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    mrd_rc rc = MRD_OK;
    if (!read_slot_map(nodes, nnodes, user, pass, timeout_ms, owner))
        rc = mrd_error_set(err, MRD_ERR_STATE, "no node of the cluster answered CLUSTER NODES");
    bool *owns = calloc((size_t)nnodes, sizeof(*owns));
    if (rc == MRD_OK && !owns)
        rc = mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    for (int s = 0; rc == MRD_OK && s < STORE_CLUSTER_SLOTS; s++)
        if (owner[s] >= 0 && !owns[owner[s]]) {
            owns[owner[s]] = true;
            if (owners)
                (*owners)++;
        }
    char key[160];
    for (int64_t i = 0; rc == MRD_OK && i < n; i++) {
        int len = snprintf(key, sizeof(key), "%s:%" PRId64, prefix, w[i].seq);
        at[i] = len > 0 && (size_t)len < sizeof(key)
                    ? owner[store_cluster_keyslot(key, (size_t)len)]
                    : -1;
        if (at[i] >= 0)
            continue;
        out->checked++; /* no node serves its slot: not there */
        out->acked_writes_lost += w[i].state == DRILL_W_ACKED;
        out->unacked_writes_lost += w[i].state == DRILL_W_WRITTEN;
    }
    for (int p = 0; rc == MRD_OK && p < nnodes; p++) {
        int64_t k = 0;
        for (int64_t i = 0; owns[p] && i < n; i++)
            if (at[i] == p)
                mine[k++] = w[i];
        if (k == 0)
            continue;
        drill_verify_result v;
        rc = drill_load_verify(nodes[p].address, nodes[p].port, user, pass, prefix, mine, k,
                               timeout_ms, &v, err);
        out->checked += v.checked;
        out->acked_writes_lost += v.acked_writes_lost;
        out->unacked_writes_lost += v.unacked_writes_lost;
        out->errors_present += v.errors_present;
    }
    free(owns);
    free(owner);
    free(at);
    free(mine);
    return rc;
}

/* ==== watcher ==== */

typedef struct poller {
    struct drill_cwatch *w;
    int pos;                /* position in w->c.nodes */
    pthread_t thread;
    bool started;
    atomic_bool tried;
    store_cluster_view *views[2]; /* previous and current */
    int state;              /* cluster_state: -1 unknown, 0 ok, 1 fail */
} poller;

struct drill_cwatch {
    common c;
    drill_timeline *tl;     /* borrowed */
    atomic_bool stop;
    poller *pollers;
};

/* The plan node index of view node X, -1 none. */
static int plan_index(const common *c, const store_cluster_node *x)
{
    int p = x ? position_of(c, x->ip, x->port) : -1;
    return p >= 0 ? c->nodes[p].index : -1;
}

static void on_change(void *ctx, const char *name, const store_cluster_node *about,
                      const char *detail)
{
    poller *pl = ctx;
    const common *c = &pl->w->c;
    int me = c->nodes[pl->pos].index, who = plan_index(c, about);
    int shard = who >= 0 && who < c->plan_nodes && c->node_shard ? c->node_shard[who] : -1;
    int host = me < c->plan_nodes && c->node_host ? c->node_host[me] : -1;
    char text[160];
    if (who >= 0 && who < c->plan_nodes && c->node_name)
        snprintf(text, sizeof(text), "%s%s%s (shard %d)", c->node_name[who],
                 strcmp(name, "+promoted") == 0 || strcmp(name, "+demoted") == 0 ? ": " : " ",
                 strcmp(name, "+promoted") == 0 || strcmp(name, "+demoted") == 0
                     ? detail
                     : (about->flags & STORE_CLUSTER_MASTER ? "master" : "replica"),
                 shard + 1);
    else
        snprintf(text, sizeof(text), "%s", detail);
    drill_timeline_add(pl->w->tl, mrd_now_ms(), host, me, shard, name, text);
}

static void poll_once(poller *pl, store_conn **conn)
{
    drill_cwatch *w = pl->w;
    const drill_target *t = &w->c.nodes[pl->pos];
    mrd_error err;
    if (!*conn && store_conn_open(t->address, t->port, w->c.user, w->c.pass,
                                  DRILL_CLUSTER_CONNECT_MS, conn, &err) != MRD_OK) {
        pl->views[0]->nnodes = 0; /* a restarted node starts a new history */
        return;
    }
    char *nodes = NULL, *info = NULL;
    store_cluster_info ci;
    if (store_cmdl(*conn, &nodes, &err, "CLUSTER", "NODES", NULL) != MRD_OK ||
        store_cmdl(*conn, &info, &err, "CLUSTER", "INFO", NULL) != MRD_OK || !nodes || !info ||
        store_cluster_nodes_parse(nodes, strlen(nodes), pl->views[1], &err) != MRD_OK ||
        store_cluster_info_parse(info, strlen(info), &ci, &err) != MRD_OK) {
        store_conn_close(conn);
        pl->views[0]->nnodes = 0;
        free(nodes);
        free(info);
        return;
    }
    free(nodes);
    free(info);
    drill_cluster_diff(pl->views[0]->nnodes > 0 ? pl->views[0] : NULL, pl->views[1], on_change,
                       pl);
    int state = ci.ok ? 0 : 1;
    if (state != pl->state && (pl->state >= 0 || state == 1)) {
        int me = t->index;
        int host = me < w->c.plan_nodes && w->c.node_host ? w->c.node_host[me] : -1;
        char text[160];
        snprintf(text, sizeof(text), "%s: cluster_state:%s, %lld slots ok",
                 me < w->c.plan_nodes && w->c.node_name ? w->c.node_name[me] : t->address,
                 ci.state, ci.slots_ok);
        drill_timeline_add(w->tl, mrd_now_ms(), host, me, -1,
                           state ? "+cluster-fail" : "+cluster-ok", text);
    }
    pl->state = state;
    store_cluster_view *swap = pl->views[0];
    pl->views[0] = pl->views[1];
    pl->views[1] = swap;
}

static void *poller_main(void *arg)
{
    poller *pl = arg;
    store_conn *conn = NULL;
    while (!atomic_load(&pl->w->stop)) {
        long long next = mrd_now_ms() + DRILL_CLUSTER_POLL_MS;
        poll_once(pl, &conn);
        atomic_store(&pl->tried, true);
        long long left = next - mrd_now_ms();
        if (left > 0 && !nap(left, &pl->w->stop))
            break;
    }
    store_conn_close(&conn);
    return NULL;
}

mrd_rc drill_cwatch_start(const drill_cluster_opts *o, drill_timeline *tl, drill_cwatch **out,
                          mrd_error *err)
{
    *out = NULL;
    if (!tl)
        return mrd_error_set(err, MRD_ERR_INVALID, "drill cluster watcher: no timeline");
    drill_cwatch *w = calloc(1, sizeof(*w));
    if (!w)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    atomic_init(&w->stop, false);
    w->tl = tl;
    mrd_rc rc = common_copy(o, &w->c, err);
    if (rc != MRD_OK) {
        free(w);
        return rc;
    }
    w->pollers = calloc((size_t)w->c.nnodes, sizeof(*w->pollers));
    bool oom = !w->pollers;
    for (int i = 0; !oom && i < w->c.nnodes; i++) {
        poller *pl = &w->pollers[i];
        *pl = (poller){.w = w, .pos = i, .state = -1};
        atomic_init(&pl->tried, false);
        oom = !(pl->views[0] = store_cluster_view_new()) ||
              !(pl->views[1] = store_cluster_view_new());
    }
    if (oom) {
        drill_cwatch_free(&w);
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < w->c.nnodes; i++) {
        if (pthread_create(&w->pollers[i].thread, NULL, poller_main, &w->pollers[i]) != 0) {
            rc = mrd_error_set(err, MRD_ERR_PROCESS, "cannot start a watcher thread: %s",
                               strerror(errno));
            break;
        }
        w->pollers[i].started = true;
    }
    long long deadline = mrd_now_ms() + 2 * DRILL_CLUSTER_CONNECT_MS + 500;
    for (int i = 0; rc == MRD_OK && i < w->c.nnodes; i++)
        while (!atomic_load(&w->pollers[i].tried) && mrd_now_ms() < deadline)
            mrd_sleep_ms(2);
    if (rc != MRD_OK) {
        drill_cwatch_free(&w);
        return rc;
    }
    *out = w;
    return MRD_OK;
}

void drill_cwatch_stop(drill_cwatch *w)
{
    if (!w)
        return;
    atomic_store(&w->stop, true);
    for (int i = 0; w->pollers && i < w->c.nnodes; i++)
        if (w->pollers[i].started) {
            pthread_join(w->pollers[i].thread, NULL);
            w->pollers[i].started = false;
        }
}

void drill_cwatch_free(drill_cwatch **wp)
{
    if (!wp || !*wp)
        return;
    drill_cwatch *w = *wp;
    drill_cwatch_stop(w);
    for (int i = 0; w->pollers && i < w->c.nnodes; i++) {
        store_cluster_view_free(&w->pollers[i].views[0]);
        store_cluster_view_free(&w->pollers[i].views[1]);
    }
    free(w->pollers);
    common_free(&w->c);
    free(w);
    *wp = NULL;
}
