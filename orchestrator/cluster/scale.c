/* scale.c - move slots to the plan's quotas, preview the move, retire
 * nodes (see scale.h). */
#include "scale.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "conn.h"
#include "fsutil.h"
#include "info.h"
#include "log.h"
#include "manifest.h"
#include "reshard.h"
#include "secret.h"
#include "slots.h"

#define SCALE_CONNECT_TIMEOUT_MS 1000
#define SCALE_REPLICAS_WAIT_MS 60000  /* added shards' replicas link */
#define SCALE_PROGRESS_MS 1000
#define SCALE_ROUNDS 3                /* plan, move, look again */
#define SCALE_POLL_MS 100

/* ==== what runs ==== */

typedef struct snode {
    const char *address;
    int port;
    store_conn *conn;
    store_cluster_view *view; /* its CLUSTER NODES */
    bool seen;
} snode;

typedef struct open_move {
    int slot, from, to;       /* plan shards */
} open_move;

typedef struct look {
    orch_ctx *c;
    const mrd_plan *p;
    char admin[MRD_SECRET_LEN];
    snode *n;                 /* per plan node */
    int *master;              /* per shard: plan node of its live master, -1 */
    int owner[RESHARD_SLOTS]; /* per slot: the plan shard serving it, -1 */
    open_move *open;          /* slots some master migrates or imports */
    int nopen;
} look;

static void look_free(look *l)
{
    for (int i = 0; l->n && i < l->p->nnodes; i++) {
        store_conn_close(&l->n[i].conn);
        store_cluster_view_free(&l->n[i].view);
    }
    free(l->n);
    free(l->master);
    free(l->open);
    memset(l->admin, 0, sizeof(l->admin));
    l->n = NULL;
    l->master = NULL;
    l->open = NULL;
}

static mrd_rc look_init(look *l, orch_ctx *c, mrd_error *err)
{
    memset(l, 0, sizeof(*l));
    l->c = c;
    l->p = c->plan;
    MRD_TRY(orch_secret(c, "admin", l->admin, sizeof(l->admin), err));
    l->n = calloc((size_t)l->p->nnodes, sizeof(*l->n));
    l->master = calloc((size_t)l->p->nshards, sizeof(int));
    l->open = calloc(RESHARD_SLOTS, sizeof(*l->open));
    if (!l->n || !l->master || !l->open)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    for (int i = 0; i < l->p->nnodes; i++) {
        l->n[i] = (snode){.address = plan_node_host(l->p, i)->address,
                          .port = l->p->nodes[i].port,
                          .view = store_cluster_view_new()};
        if (!l->n[i].view)
            return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    return MRD_OK;
}

static const store_cluster_node *me(const snode *x)
{
    return store_cluster_myself(x->view);
}

/* "use-a1:16380" */
static const char *name_of(const look *l, int i, char *buf, size_t n)
{
    snprintf(buf, n, "%s:%d", plan_node_host(l->p, i)->name, l->p->nodes[i].port);
    return buf;
}

/* The plan node at O's address, -1 when none (or O NULL). */
static int node_of(const look *l, const store_cluster_node *o)
{
    for (int i = 0; o && i < l->p->nnodes; i++)
        if (l->n[i].port == o->port && strcmp(l->n[i].address, o->ip) == 0)
            return i;
    return -1;
}

static void look_one(look *l, snode *x)
{
    char *text = NULL;
    mrd_error e;
    x->seen = false;
    if (!x->conn && store_conn_open(x->address, x->port, "admin", l->admin,
                                    SCALE_CONNECT_TIMEOUT_MS, &x->conn, &e) != MRD_OK)
        return;
    if (store_cmdl(x->conn, &text, &e, "CLUSTER", "NODES", NULL) == MRD_OK && text &&
        store_cluster_nodes_parse(text, strlen(text), x->view, &e) == MRD_OK)
        x->seen = true;
    else
        store_conn_close(&x->conn);
    free(text);
}

/* Add the open move of SLOT (FROM to TO), once. */
static void add_open(look *l, int slot, int from, int to)
{
    for (int k = 0; k < l->nopen; k++)
        if (l->open[k].slot == slot)
            return;
    l->open[l->nopen++] = (open_move){.slot = slot, .from = from, .to = to};
}

/* Look at every node: each shard's live master (its node that owns slots
 * in its own view, else its planned master while that is a master), each
 * slot's shard by its master's own view, open moves between masters of
 * the plan.  MRD_ERR_STATE when a slot is served by a node outside the
 * plan, or an open move involves one. */
static mrd_rc look_all(look *l, mrd_error *err)
{
    const mrd_plan *p = l->p;
    for (int i = 0; i < p->nnodes; i++)
        look_one(l, &l->n[i]);
    for (int slot = 0; slot < RESHARD_SLOTS; slot++)
        l->owner[slot] = -1;
    l->nopen = 0;
    for (int s = 0; s < p->nshards; s++) {
        const mrd_plan_shard *sh = &p->shards[s];
        l->master[s] = -1;
        for (int i = sh->first; i < sh->first + sh->nnodes; i++)
            if (l->n[i].seen && (me(&l->n[i])->flags & STORE_CLUSTER_MASTER) &&
                me(&l->n[i])->nslots > 0)
                l->master[s] = i;
        const snode *pm = &l->n[sh->master];
        if (l->master[s] < 0 && pm->seen && (me(pm)->flags & STORE_CLUSTER_MASTER))
            l->master[s] = sh->master;
    }
    char a[96];
    for (int s = 0; s < p->nshards; s++) {
        if (l->master[s] < 0)
            continue;
        const snode *m = &l->n[l->master[s]];
        const store_cluster_view *v = m->view;
        for (int slot = 0; slot < RESHARD_SLOTS; slot++) {
            const store_cluster_node *o = store_cluster_slot_owner(v, slot);
            if (o == me(m))
                l->owner[slot] = s;
            else if (o && node_of(l, o) < 0)
                return mrd_error_set(err, MRD_ERR_STATE,
                                     "slot %d is served by %s:%d, which is not a node of this "
                                     "deployment (as %s sees it): meridian moves no slot of "
                                     "a node it does not run",
                                     slot, o->ip, o->port, name_of(l, l->master[s], a, sizeof(a)));
            uint16_t to = v->migrating_to[slot], from = v->importing_from[slot];
            int other = to != STORE_CLUSTER_NONE     ? node_of(l, &v->nodes[to])
                        : from != STORE_CLUSTER_NONE ? node_of(l, &v->nodes[from])
                                                     : -2;
            if (other == -2)
                continue;
            if (other < 0)
                return mrd_error_set(err, MRD_ERR_STATE,
                                     "%s has slot %d open with a node outside this "
                                     "deployment: close it with CLUSTER SETSLOT %d STABLE "
                                     "after moving its keys back",
                                     name_of(l, l->master[s], a, sizeof(a)), slot, slot);
            int os = p->nodes[other].shard;
            if (to != STORE_CLUSTER_NONE)
                add_open(l, slot, s, os);
            else
                add_open(l, slot, os, s);
        }
    }
    return MRD_OK;
}

/* ==== preview ==== */

static void human_bytes(long long b, char *buf, size_t n)
{
    if (b >= 10LL << 30)
        snprintf(buf, n, "%.0f GB", (double)b / (1 << 30));
    else if (b >= 10LL << 20)
        snprintf(buf, n, "%.0f MB", (double)b / (1 << 20));
    else
        snprintf(buf, n, "%.1f MB", (double)b / (1 << 20));
}

/* Bytes per key of shard S's master (INFO memory's dataset over DBSIZE),
 * 0 when it cannot tell. */
static double bytes_per_key(look *l, int s)
{
    const snode *m = &l->n[l->master[s]];
    char *info = NULL, *keys = NULL;
    long long dataset = 0, n = 0;
    bool found;
    mrd_error e;
    if (m->conn && store_info_text(m->conn, "memory", &info, &e) == MRD_OK)
        store_info_number(info, strlen(info), "used_memory_dataset", &dataset, &found, &e);
    if (m->conn && store_cmdl(m->conn, &keys, &e, "DBSIZE", NULL) == MRD_OK && keys)
        n = strtoll(keys, NULL, 10);
    free(info);
    free(keys);
    return n > 0 && dataset > 0 ? (double)dataset / (double)n : 0;
}

/* Keys per slot of the slots RP moves, asked of their giving masters. */
static void count_keys(look *l, const reshard_plan *rp, long long *keys)
{
    int *slots = malloc(RESHARD_SLOTS * sizeof(int));
    long long *got = malloc(RESHARD_SLOTS * sizeof(long long));
    for (int s = 0; slots && got && s < l->p->nshards; s++) {
        int n = 0;
        for (int k = 0; k < rp->nmoves; k++)
            if (rp->moves[k].from == s)
                slots[n++] = rp->moves[k].slot;
        mrd_error e;
        snode *m = l->master[s] >= 0 ? &l->n[l->master[s]] : NULL;
        if (n == 0 || !m || !m->conn)
            continue;
        if (store_slot_count_keys(m->conn, slots, n, got, &e) != MRD_OK) {
            store_conn_close(&m->conn);
            continue;
        }
        for (int k = 0; k < n; k++)
            keys[slots[k]] = got[k];
    }
    free(slots);
    free(got);
}

/* The moves from L's last look to every shard's quota, with the keys of
 * the slots they move (asked of the givers), so that the order picks the
 * emptiest first and last slots.  *RP is filled (reshard_plan_free()). */
static mrd_rc plan_moves(look *l, reshard_plan *rp, mrd_error *err)
{
    int quota[MRD_MF_MAX_SHARDS];
    for (int s = 0; s < l->p->nshards; s++)
        quota[s] = l->p->shards[s].nslots;
    MRD_TRY(reshard_plan_moves(l->owner, quota, l->p->nshards, NULL, rp, err));
    if (rp->nmoves == 0)
        return MRD_OK;
    long long *keys = calloc(RESHARD_SLOTS, sizeof(long long));
    if (!keys) {
        reshard_plan_free(rp);
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    count_keys(l, rp, keys);
    reshard_plan_free(rp);
    mrd_rc rc = reshard_plan_moves(l->owner, quota, l->p->nshards, keys, rp, err);
    free(keys);
    return rc;
}

/* The region of shard S's master: live, else planned. */
static int master_region(const look *l, int s)
{
    int m = l->master[s] >= 0 ? l->master[s] : l->p->shards[s].master;
    return plan_node_host(l->p, m)->region;
}

/* Is a set of slot-owning masters (OWNS[s]) safe: does losing any region
 * leave a majority of them?  *WORST gets a region that fails. */
static bool owners_safe(const look *l, const bool *owns, int *worst, int *left, int *total)
{
    const mrd_topology *t = l->p->topo;
    *total = 0;
    for (int s = 0; s < l->p->nshards; s++)
        *total += owns[s];
    for (int r = 0; r < t->nregions; r++) {
        int in = 0;
        for (int s = 0; s < l->p->nshards; s++)
            in += owns[s] && master_region(l, s) == r;
        if (*total - in < mrd_majority(*total)) {
            *worst = r;
            *left = *total - in;
            return false;
        }
    }
    return true;
}

/* The sentence about the layouts between steps: which count of
 * slot-owning masters no region's loss survives, and for how long. */
static void print_windows(FILE *out, const look *l, const reshard_plan *rp)
{
    const mrd_topology *t = l->p->topo;
    if (t->survive < MRD_SURVIVE_REGION)
        return;
    bool owns[MRD_MF_MAX_SHARDS] = {false};
    for (int slot = 0; slot < RESHARD_SLOTS; slot++)
        if (l->owner[slot] >= 0)
            owns[l->owner[slot]] = true;
    int unsafe_steps = 0, worst = -1, left = 0, total = 0, structural = 0;
    long long window_keys = 0;
    for (int k = 0; k < rp->nmoves; k++) {
        const reshard_move *m = &rp->moves[k];
        if (m->phase == RESHARD_BULK)
            continue;
        structural++;
        if (m->phase == RESHARD_FIRST)
            owns[m->to] = true;
        else
            owns[m->from] = false;
        bool last = k + 1 == rp->nmoves || rp->moves[k + 1].phase != m->phase;
        int w, lf, tt;
        if (!last && !owners_safe(l, owns, &w, &lf, &tt)) {
            if (unsafe_steps++ == 0) {
                worst = w;
                left = lf;
                total = tt;
            }
            window_keys += rp->moves[k + 1].keys;
        }
    }
    if (unsafe_steps == 0) {
        fprintf(out, "  %-12s every step keeps a majority of the slot-owning masters outside "
                     "any region\n", "safety");
        return;
    }
    fprintf(out,
            "  %-12s while %d masters own slots (between the %d %s that add or remove "
            "one), losing region %s leaves %d of %d, below the majority of %d: no order "
            "avoids it, so those moves go back to back with the emptiest slots (%lld keys); "
            "every other step is safe\n",
            "safety", total, structural, structural == 1 ? "move" : "moves",
            t->regions[worst].name, left, total, mrd_majority(total), window_keys);
}

mrd_rc cluster_scale_preview(orch_ctx *c, FILE *out, int *moves, mrd_error *err)
{
    const mrd_plan *p = c->plan;
    *moves = 0;
    look l;
    mrd_rc rc = look_init(&l, c, err);
    if (rc == MRD_OK)
        rc = look_all(&l, err);
    reshard_plan rp = {0};
    if (rc == MRD_OK)
        rc = plan_moves(&l, &rp, err);
    if (rc == MRD_OK && out) {
        const mrd_topology *t = p->topo;
        int S = p->nshards - p->nretiring, was = p->nshards - p->nadded;
        if (p->nadded || p->nretiring)
            fprintf(out, "  %-12s from %d shards to %d: %d added, %d retired; the nodes of "
                         "the %d others stay where they run\n",
                    "scale", was, S, p->nadded, p->nretiring, p->nshards - p->nadded - p->nretiring);
        for (int s = 0; s < p->nshards; s++) {
            const mrd_plan_shard *sh = &p->shards[s];
            if (!sh->added && !sh->retiring)
                continue;
            for (int i = sh->first; i < sh->first + sh->nnodes; i++) {
                const mrd_host *h = plan_node_host(p, i);
                char name[96];
                fprintf(out, "  %-12s %-22s shard %d %-8s %s / %s\n",
                        sh->added ? "new node" : "retire node", name_of(&l, i, name, sizeof(name)),
                        s + 1, i == sh->master ? "master" : "replica", t->regions[h->region].name,
                        t->zones[h->zone].name);
            }
        }
        long long bytes = 0;
        for (int from = 0; from < p->nshards; from++) {
            double per_key = rp.gives[from] && l.master[from] >= 0 ? bytes_per_key(&l, from) : 0;
            for (int to = 0; to < p->nshards; to++) {
                int n = 0;
                long long k = 0;
                for (int i = 0; i < rp.nmoves; i++)
                    if (rp.moves[i].from == from && rp.moves[i].to == to) {
                        n++;
                        k += rp.moves[i].keys;
                    }
                if (n == 0)
                    continue;
                char b[32];
                human_bytes((long long)(per_key * (double)k), b, sizeof(b));
                bytes += (long long)(per_key * (double)k);
                fprintf(out, "  %-12s shard %d -> shard %d: %d slots, %lld keys (about %s)\n",
                        "move slots", from + 1, to + 1, n, k, b);
            }
        }
        if (rp.nmoves) {
            char b[32];
            human_bytes(bytes, b, sizeof(b));
            int pairs = 0; /* workers: one per pair of shards (run_moves) */
            for (int i = 0; i < rp.nmoves; i++)
                pairs += rp.moves[i].phase == RESHARD_BULK &&
                         (i == 0 || rp.moves[i - 1].phase != RESHARD_BULK ||
                          rp.moves[i - 1].from != rp.moves[i].from ||
                          rp.moves[i - 1].to != rp.moves[i].to);
            double secs = ((double)rp.keys / SCALE_ESTIMATE_KEYS_PER_S +
                           (double)rp.nmoves * SCALE_ESTIMATE_MS_PER_SLOT / 1000.0) /
                          (pairs ? pairs : 1);
            fprintf(out, "  %-12s %d slots, %lld keys, about %s; estimated %.0f s (%d "
                         "workers in parallel; about %d ms a slot and %d keys/s each)\n",
                    "total", rp.nmoves, rp.keys, b, secs < 1 ? 1 : secs, pairs,
                    SCALE_ESTIMATE_MS_PER_SLOT, SCALE_ESTIMATE_KEYS_PER_S);
            print_windows(out, &l, &rp);
        }
        if (l.nopen)
            fprintf(out, "  %-12s %d slot %s left open by an earlier run: finished first\n",
                    "open moves", l.nopen, l.nopen == 1 ? "move" : "moves");
        fflush(out);
    }
    *moves = rp.nmoves + l.nopen;
    reshard_plan_free(&rp);
    look_free(&l);
    return rc;
}

bool cluster_scale_drained(orch_ctx *c)
{
    look l;
    mrd_error e;
    bool drained = look_init(&l, c, &e) == MRD_OK && look_all(&l, &e) == MRD_OK;
    /* every slot served, in its master's own view, by a shard that stays
     * (a slot nobody answering serves may be a retiring master's that did
     * not answer), and no move open to or from a retiring shard */
    for (int slot = 0; drained && slot < RESHARD_SLOTS; slot++)
        drained = l.owner[slot] >= 0 && !c->plan->shards[l.owner[slot]].retiring;
    for (int k = 0; drained && k < l.nopen; k++)
        drained = !c->plan->shards[l.open[k].from].retiring &&
                  !c->plan->shards[l.open[k].to].retiring;
    look_free(&l);
    return drained;
}

/* ==== moving ==== */

/* What every worker adds to, and the first failure. */
typedef struct progress {
    pthread_mutex_t lock;
    int *slots_in, *slots_out;  /* per shard */
    int slots;
    long long keys;
    bool failed;
    mrd_error err;
} progress;

/* One worker: its own connection to every shard's master. */
typedef struct mover {
    look *l;
    progress *pg;
    store_conn **conn;         /* per shard */
    const reshard_move *moves; /* its share */
    int nmoves;
    pthread_t thread;
    bool finished;             /* under pg->lock */
} mover;

static store_conn *conn_to(mover *w, int s, mrd_error *err)
{
    if (w->conn[s])
        return w->conn[s];
    const snode *m = &w->l->n[w->l->master[s]];
    if (store_conn_open(m->address, m->port, "admin", w->l->admin, SCALE_CONNECT_TIMEOUT_MS,
                        &w->conn[s], err) != MRD_OK)
        return NULL;
    return w->conn[s];
}

/* CLUSTER SETSLOT SLOT WHAT [ID] on shard S's master; MRD_OK also when
 * Redis answers an error containing OK_IF (may be NULL), *HIT then true. */
static mrd_rc setslot(mover *w, int s, int slot, const char *what, const char *id,
                      const char *ok_if, bool *hit, mrd_error *err)
{
    char sl[16], who[96];
    snprintf(sl, sizeof(sl), "%d", slot);
    if (hit)
        *hit = false;
    mrd_error e;
    store_conn *c = conn_to(w, s, &e);
    if (c && store_cmdl(c, NULL, &e, "CLUSTER", "SETSLOT", sl, what, id, NULL) == MRD_OK)
        return MRD_OK;
    if (c && ok_if && e.code == MRD_ERR_PROTOCOL && strstr(e.msg, ok_if)) {
        if (hit)
            *hit = true;
        return MRD_OK;
    }
    if (c && e.code != MRD_ERR_PROTOCOL)
        store_conn_close(&w->conn[s]);
    return mrd_error_set(err, e.code, "CLUSTER SETSLOT %d %s on %s: %s", slot, what,
                         name_of(w->l, w->l->master[s], who, sizeof(who)), e.msg);
}

static void add_keys(mover *w, int n)
{
    pthread_mutex_lock(&w->pg->lock);
    w->pg->keys += n;
    pthread_mutex_unlock(&w->pg->lock);
}

/* MIGRATE KEYS[0..N) from shard FROM's master to TO's: BUSYKEY (a copy an
 * interrupted MIGRATE left on the destination; the source's is the one
 * clients see) again with REPLACE, a timeout again with twice the
 * timeout; what still fails is tried key by key, to name the key. */
static mrd_rc migrate_batch(mover *w, int slot, int from, int to, char **keys,
                            const size_t *lens, int n, mrd_error *err)
{
    const snode *dst = &w->l->n[w->l->master[to]];
    int timeout = SCALE_MIGRATE_TIMEOUT_MS;
    bool replace = false;
    mrd_error e;
    for (;;) {
        store_conn *c = conn_to(w, from, &e);
        if (c && store_migrate_keys(c, dst->address, dst->port, "admin", w->l->admin, timeout,
                                    replace, keys, lens, n, &e) == MRD_OK)
            return MRD_OK;
        if (c && e.code != MRD_ERR_PROTOCOL)
            store_conn_close(&w->conn[from]); /* its reply may still come */
        if (c && !replace && strstr(e.msg, "BUSYKEY")) {
            replace = true;
            continue;
        }
        bool slow = !c || e.code == MRD_ERR_TIMEOUT || strstr(e.msg, "IOERR");
        if (slow && timeout < SCALE_MIGRATE_MAX_TIMEOUT_MS) {
            timeout *= 2;
            continue;
        }
        break;
    }
    char a[96], b[96];
    name_of(w->l, w->l->master[from], a, sizeof(a));
    name_of(w->l, w->l->master[to], b, sizeof(b));
    if (n > 1) /* which key: one at a time, with the longest timeout */
        for (int i = 0; i < n; i++)
            if (migrate_batch(w, slot, from, to, &keys[i], &lens[i], 1, err) != MRD_OK)
                return err->code;
    return mrd_error_set(err, e.code,
                         "key \"%.100s\" of slot %d could not move from %s to %s (waited up to "
                         "%d ms): %s; the slot stays open, so clients still reach every key "
                         "(ASK), and the next deploy resumes it",
                         keys[0], slot, a, b, timeout, e.msg);
}

/* Move SLOT from shard FROM to shard TO, or finish an earlier run's move
 * of it: each step is skipped where it is done already. */
static mrd_rc move_slot(mover *w, int slot, int from, int to, mrd_error *err)
{
    look *l = w->l;
    const char *src_id = me(&l->n[l->master[from]])->id;
    const char *dst_id = me(&l->n[l->master[to]])->id;
    bool owned_by_dst, not_owner;
    MRD_TRY(setslot(w, to, slot, "IMPORTING", src_id, "already the owner", &owned_by_dst, err));
    MRD_TRY(setslot(w, from, slot, "MIGRATING", dst_id, "not the owner", &not_owner, err));
    while (!not_owner) {
        char **keys = NULL;
        size_t *lens = NULL;
        int n = 0;
        mrd_error e;
        store_conn *c = conn_to(w, from, &e);
        if (!c || store_slot_keys(c, slot, SCALE_BATCH_KEYS, &keys, &lens, &n, &e) != MRD_OK) {
            if (c)
                store_conn_close(&w->conn[from]);
            char a[96];
            return mrd_error_set(err, e.code, "CLUSTER GETKEYSINSLOT %d on %s: %s", slot,
                                 name_of(l, l->master[from], a, sizeof(a)), e.msg);
        }
        if (n == 0) {
            store_slot_keys_free(keys, 0);
            break;
        }
        mrd_rc rc = migrate_batch(w, slot, from, to, keys, lens, n, err);
        store_slot_keys_free(keys, n);
        MRD_TRY(rc);
        add_keys(w, n);
    }
    /* the destination first (it takes the slot, bumping its epoch), then
     * the source (which then redirects with MOVED), then everyone else */
    MRD_TRY(setslot(w, to, slot, "NODE", dst_id, NULL, NULL, err));
    MRD_TRY(setslot(w, from, slot, "NODE", dst_id, NULL, NULL, err));
    for (int s = 0; s < l->p->nshards; s++)
        if (s != from && s != to && l->master[s] >= 0 &&
            me(&l->n[l->master[s]])->flags & STORE_CLUSTER_MASTER)
            setslot(w, s, slot, "NODE", dst_id, NULL, NULL, err); /* gossip would tell it */
    pthread_mutex_lock(&w->pg->lock);
    w->pg->slots_in[to]++;
    w->pg->slots_out[from]++;
    w->pg->slots++;
    pthread_mutex_unlock(&w->pg->lock);
    return MRD_OK;
}

static bool stopped(mover *w)
{
    pthread_mutex_lock(&w->pg->lock);
    bool f = w->pg->failed;
    pthread_mutex_unlock(&w->pg->lock);
    return f;
}

static void fail(mover *w, const mrd_error *e)
{
    pthread_mutex_lock(&w->pg->lock);
    if (!w->pg->failed) {
        w->pg->failed = true;
        w->pg->err = *e;
    }
    pthread_mutex_unlock(&w->pg->lock);
}

static void *mover_main(void *arg)
{
    mover *w = arg;
    for (int k = 0; k < w->nmoves && !stopped(w); k++) {
        mrd_error e;
        const reshard_move *m = &w->moves[k];
        if (move_slot(w, m->slot, m->from, m->to, &e) != MRD_OK)
            fail(w, &e);
    }
    pthread_mutex_lock(&w->pg->lock);
    w->finished = true;
    pthread_mutex_unlock(&w->pg->lock);
    return NULL;
}

static void mover_close(mover *w, int nshards)
{
    for (int s = 0; w->conn && s < nshards; s++)
        store_conn_close(&w->conn[s]);
    free(w->conn);
    w->conn = NULL;
}

/* Progress: per shard taking or giving slots, and the rate. */
static void print_progress(FILE *out, const look *l, progress *pg, const reshard_plan *rp,
                           long long t0)
{
    if (!out)
        return;
    pthread_mutex_lock(&pg->lock);
    double secs = (double)(mrd_now_ms() - t0) / 1000.0;
    double rate = secs > 0 ? (double)pg->keys / secs : 0;
    long long left = rp->keys - pg->keys;
    fprintf(out, "  %-12s %.1f s: %d of %d slots, %lld keys (%lld when planned), %.0f keys/s",
            "reshard", secs, pg->slots, rp->nmoves, pg->keys, rp->keys, rate);
    if (rate > 0 && left > 0)
        fprintf(out, ", about %.0f s left", (double)left / rate);
    for (int s = 0; s < l->p->nshards; s++) {
        if (rp->takes[s])
            fprintf(out, "; shard %d filling %d/%d", s + 1, pg->slots_in[s], rp->takes[s]);
        else if (rp->gives[s] && l->p->shards[s].retiring)
            fprintf(out, "; shard %d draining %d/%d", s + 1, pg->slots_out[s], rp->gives[s]);
    }
    fputc('\n', out);
    fflush(out);
    pthread_mutex_unlock(&pg->lock);
}

/* Run MOVES[0..N): with PARALLEL, one worker per pair of giving and
 * taking shard (a source's MIGRATEs to two destinations overlap their
 * round trips), else one worker in order. */
static mrd_rc run_moves(look *l, progress *pg, const reshard_plan *rp, const reshard_move *moves,
                        int n, bool parallel, FILE *out, long long t0, mrd_error *err)
{
    int S = l->p->nshards, nw = 0;
    mover *w = calloc((size_t)(n ? n : 1), sizeof(*w));
    if (!w)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    for (int k = 0; k < n;) {
        int end = k + 1;
        while (end < n && (!parallel || (moves[end].from == moves[k].from &&
                                         moves[end].to == moves[k].to)))
            end++;
        w[nw] = (mover){.l = l, .pg = pg, .moves = moves + k, .nmoves = end - k,
                        .conn = calloc((size_t)S, sizeof(store_conn *))};
        if (!w[nw].conn)
            break;
        nw++;
        k = end;
    }
    int started = 0;
    for (int i = 0; i < nw; i++)
        if (pthread_create(&w[i].thread, NULL, mover_main, &w[i]) == 0)
            started = i + 1;
        else
            break;
    long long last = mrd_now_ms();
    for (;;) {
        int busy = 0;
        pthread_mutex_lock(&pg->lock);
        for (int i = 0; i < started; i++)
            busy += !w[i].finished;
        pthread_mutex_unlock(&pg->lock);
        if (busy == 0)
            break;
        mrd_sleep_ms(SCALE_POLL_MS);
        if (mrd_now_ms() - last >= SCALE_PROGRESS_MS) {
            print_progress(out, l, pg, rp, t0);
            last = mrd_now_ms();
        }
    }
    for (int i = 0; i < started; i++)
        pthread_join(w[i].thread, NULL);
    for (int i = 0; i < nw; i++)
        mover_close(&w[i], S);
    free(w);
    if (started < nw && !pg->failed)
        return mrd_error_set(err, MRD_ERR_PROCESS, "cannot start a worker thread");
    if (pg->failed)
        return mrd_error_set(err, pg->err.code, "%s", pg->err.msg);
    return MRD_OK;
}

/* Shard S's master has every one of its replicas online (INFO
 * replication), so slots given to it are copied outside its region from
 * the first key. */
static bool replicas_online(look *l, int s)
{
    const mrd_plan_shard *sh = &l->p->shards[s];
    snode *m = l->master[s] >= 0 ? &l->n[l->master[s]] : NULL;
    char *info = NULL;
    mrd_error e;
    if (!m || !m->conn || store_info_text(m->conn, "replication", &info, &e) != MRD_OK)
        return false;
    int online = 0;
    for (const char *q = info; (q = strstr(q, "state=online")) != NULL; q++)
        online++;
    free(info);
    return online >= sh->nnodes - 1;
}

/* Wait until every shard RP gives slots to that owns none yet has its
 * replicas online. */
static mrd_rc wait_receivers(look *l, const reshard_plan *rp, FILE *out, mrd_error *err)
{
    long long start = mrd_now_ms();
    for (int s = 0; s < l->p->nshards; s++) {
        if (!rp->takes[s])
            continue;
        if (l->master[s] < 0)
            return mrd_error_set(err, MRD_ERR_STATE,
                                 "shard %d should take %d slots but has no master that "
                                 "answers: see `meridian status`",
                                 s + 1, rp->takes[s]);
        bool said = false;
        while (!replicas_online(l, s)) {
            if (mrd_now_ms() - start >= SCALE_REPLICAS_WAIT_MS)
                return mrd_error_set(err, MRD_ERR_TIMEOUT,
                                     "shard %d's replicas did not come online within %d s; "
                                     "no slot was given to it",
                                     s + 1, SCALE_REPLICAS_WAIT_MS / 1000);
            if (!said && out) {
                fprintf(out, "  %-12s waiting for shard %d's replicas to link before it "
                             "takes slots\n", "reshard", s + 1);
                said = true;
            }
            mrd_sleep_ms(SCALE_POLL_MS);
        }
    }
    return MRD_OK;
}

static mrd_rc progress_init(progress *pg, int nshards, mrd_error *err)
{
    memset(pg, 0, sizeof(*pg));
    pthread_mutex_init(&pg->lock, NULL);
    pg->slots_in = calloc((size_t)nshards, sizeof(int));
    pg->slots_out = calloc((size_t)nshards, sizeof(int));
    if (!pg->slots_in || !pg->slots_out)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    return MRD_OK;
}

static void progress_free(progress *pg)
{
    free(pg->slots_in);
    free(pg->slots_out);
    pthread_mutex_destroy(&pg->lock);
}

/* Finish the open moves L's last look found; *DONE gets how many. */
static mrd_rc finish_open(look *l, progress *pg, FILE *out, int *done, mrd_error *err)
{
    reshard_move *open = calloc((size_t)l->nopen, sizeof(*open));
    for (int k = 0; open && k < l->nopen; k++)
        open[k] = (reshard_move){.slot = l->open[k].slot, .from = l->open[k].from,
                                 .to = l->open[k].to};
    /* no progress lines (OUT NULL to run_moves): a plan of the moves only */
    reshard_plan once = {.moves = open, .nmoves = l->nopen};
    if (out)
        fprintf(out, "  %-12s finishing %d slot %s an earlier run left open\n", "reshard",
                l->nopen, l->nopen == 1 ? "move" : "moves");
    mrd_rc rc = !open ? mrd_error_set(err, MRD_ERR_NOMEM, "out of memory")
                      : run_moves(l, pg, &once, open, l->nopen, false, NULL, mrd_now_ms(), err);
    *done = pg->slots;
    reshard_plan_free(&once);
    return rc;
}

mrd_rc cluster_finish_open(orch_ctx *c, FILE *out, int *done, mrd_error *err)
{
    *done = 0;
    look l;
    progress pg;
    mrd_rc rc = look_init(&l, c, err);
    if (rc == MRD_OK)
        rc = look_all(&l, err);
    if (rc == MRD_OK && l.nopen) {
        rc = progress_init(&pg, l.p->nshards, err);
        if (rc == MRD_OK)
            rc = finish_open(&l, &pg, out, done, err);
        progress_free(&pg);
    }
    look_free(&l);
    return rc;
}

/* One round: look, finish open moves, plan, move phase by phase.  *MOVED
 * gets how many slots moved (0: every shard owns its quota). */
static mrd_rc reshard_round(look *l, FILE *out, scale_report *r, int *moved, mrd_error *err)
{
    *moved = 0;
    MRD_TRY(look_all(l, err));
    progress pg;
    reshard_plan rp = {0};
    long long t0 = mrd_now_ms();
    mrd_rc rc = progress_init(&pg, l->p->nshards, err);
    if (rc == MRD_OK && l->nopen) {
        int done = 0;
        rc = finish_open(l, &pg, out, &done, err);
        r->repaired += done;
        r->keys += pg.keys;
        if (rc == MRD_OK)
            rc = look_all(l, err);
    }
    if (rc == MRD_OK)
        rc = plan_moves(l, &rp, err);
    if (rc == MRD_OK && rp.nmoves > 0)
        rc = wait_receivers(l, &rp, out, err);
    if (rc == MRD_OK && rp.nmoves > 0) {
        progress_free(&pg);
        rc = progress_init(&pg, l->p->nshards, err);
        t0 = mrd_now_ms();
        int first = 0, last = 0;
        while (first < rp.nmoves && rp.moves[first].phase == RESHARD_FIRST)
            first++;
        while (last < rp.nmoves - first && rp.moves[rp.nmoves - 1 - last].phase == RESHARD_LAST)
            last++;
        if (rc == MRD_OK && first)
            rc = run_moves(l, &pg, &rp, rp.moves, first, false, out, t0, err);
        if (rc == MRD_OK)
            rc = run_moves(l, &pg, &rp, rp.moves + first, rp.nmoves - first - last, true, out,
                           t0, err);
        if (rc == MRD_OK && last)
            rc = run_moves(l, &pg, &rp, rp.moves + rp.nmoves - last, last, false, out, t0, err);
        print_progress(out, l, &pg, &rp, t0);
        *moved = pg.slots;
        r->slots += pg.slots;
        r->keys += pg.keys;
    }
    reshard_plan_free(&rp);
    progress_free(&pg);
    return rc;
}

mrd_rc cluster_reshard(orch_ctx *c, FILE *out, scale_report *r, mrd_error *err)
{
    memset(r, 0, sizeof(*r));
    long long start = mrd_now_ms();
    look l;
    mrd_rc rc = look_init(&l, c, err);
    for (int round = 0; rc == MRD_OK && round < SCALE_ROUNDS; round++) {
        int moved = 0;
        rc = reshard_round(&l, out, r, &moved, err);
        if (moved == 0)
            break;
    }
    r->ms = mrd_now_ms() - start;
    look_free(&l);
    return rc;
}

/* ==== retiring ==== */

/* Does ADDR ("address:port") answer a TCP connection? */
static bool answers(const char *addr, const char *admin)
{
    char host[64];
    int port = 0;
    const char *colon = strrchr(addr, ':');
    if (!colon || (size_t)(colon - addr) >= sizeof(host))
        return false;
    snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
    port = atoi(colon + 1);
    store_conn *conn = NULL;
    mrd_error e;
    if (store_conn_open(host, port, "admin", admin, SCALE_CONNECT_TIMEOUT_MS, &conn, &e) !=
        MRD_OK)
        return false;
    bool up = store_ping(conn, &e) == MRD_OK || e.code == MRD_ERR_AUTH;
    store_conn_close(&conn);
    return up;
}

mrd_rc cluster_forget(orch_ctx *c, char (*gone)[80], int n, int timeout_ms, int *forgotten,
                      mrd_error *err)
{
    *forgotten = 0;
    if (n == 0)
        return MRD_OK;
    look l;
    MRD_TRY(look_init(&l, c, err));
    long long start = mrd_now_ms();
    mrd_rc rc = MRD_OK;
    for (int k = 0; rc == MRD_OK && k < n; k++)
        while (answers(gone[k], l.admin)) {
            if (mrd_now_ms() - start >= timeout_ms) {
                rc = mrd_error_set(err, MRD_ERR_TIMEOUT,
                                   "retired node %s still runs after %d s: its agent stops "
                                   "it only once it owns no slot and holds no key; see its "
                                   "agent log",
                                   gone[k], timeout_ms / 1000);
                break;
            }
            mrd_sleep_ms(SCALE_POLL_MS);
        }
    for (int i = 0; rc == MRD_OK && i < l.p->nnodes; i++) {
        snode *x = &l.n[i];
        look_one(&l, x);
        if (!x->seen)
            continue;
        for (int j = 0; j < x->view->nnodes; j++) {
            const store_cluster_node *o = &x->view->nodes[j];
            char addr[80];
            snprintf(addr, sizeof(addr), "%s:%d", o->ip, o->port);
            bool retired = false;
            for (int k = 0; k < n && !retired; k++)
                retired = strcmp(addr, gone[k]) == 0;
            mrd_error e;
            if (!retired || o->nslots > 0 || (o->flags & STORE_CLUSTER_MYSELF))
                continue;
            if (store_cmdl(x->conn, NULL, &e, "CLUSTER", "FORGET", o->id, NULL) == MRD_OK)
                (*forgotten)++;
            else if (!strstr(e.msg, "Unknown node"))
                mrd_warn("CLUSTER FORGET %s on %s:%d: %s", o->id, x->address, x->port, e.msg);
        }
    }
    look_free(&l);
    return rc;
}
