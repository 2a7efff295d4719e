/* form.c - form the Redis Cluster of a cluster-mode deployment (see
 * form.h): look at every node, refuse what only a destructive step could
 * fix, take the missing steps, look again. */
#include "form.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "conn.h"
#include "fsutil.h"
#include "log.h"
#include "secret.h"

#define FORM_CONNECT_TIMEOUT_MS 1000

/* One node of the plan, as the last look saw it. */
typedef struct fnode {
    int node;                 /* index into the plan's nodes */
    const char *address;
    int port, bus_port;
    store_conn *conn;
    store_cluster_view *view; /* its CLUSTER NODES */
    store_cluster_info info;  /* its CLUSTER INFO */
    long long keys;           /* DBSIZE */
    bool seen;                /* the last look got all three */
} fnode;

typedef struct former {
    orch_ctx *c;
    const mrd_plan *p;
    fnode *n;                 /* one per plan node, in plan order */
    int nn;
    char admin[MRD_SECRET_LEN];
    form_report *r;
    FILE *out;
    char waiting[256];        /* what the last round waits for */
    bool looked;              /* maybe_go_fast() decided */
    bool fast;                /* node timeout lowered while forming */
} former;

/* What a round found. */
typedef enum round_result {
    ROUND_DONE = 0, /* formed: nothing left to do */
    ROUND_ACTED,    /* took steps: look again */
    ROUND_WAIT,     /* waits for the cluster (f->waiting says for what) */
    ROUND_FAILED,   /* refused or a command failed (err says why) */
} round_result;

static round_result waiting(former *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static round_result waiting(former *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->waiting, sizeof(f->waiting), fmt, ap);
    va_end(ap);
    return ROUND_WAIT;
}

static void say(const former *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const former *f, const char *fmt, ...)
{
    if (!f->out)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(f->out, "  %-12s ", "cluster");
    vfprintf(f->out, fmt, ap);
    fputc('\n', f->out);
    fflush(f->out);
    va_end(ap);
}

/* "use-a1:16380" */
static const char *name_of(const former *f, const fnode *x, char *buf, size_t n)
{
    snprintf(buf, n, "%s:%d", plan_node_host(f->p, x->node)->name, x->port);
    return buf;
}

static const store_cluster_node *me(const fnode *x)
{
    return store_cluster_myself(x->view);
}

/* ==== looking ==== */

static mrd_rc look_one(former *f, fnode *x, mrd_error *err)
{
    if (!x->conn)
        MRD_TRY(store_conn_open(x->address, x->port, "admin", f->admin,
                                FORM_CONNECT_TIMEOUT_MS, &x->conn, err));
    char *nodes = NULL, *info = NULL, *keys = NULL;
    mrd_rc rc = store_cmdl(x->conn, &nodes, err, "CLUSTER", "NODES", NULL);
    if (rc == MRD_OK)
        rc = store_cmdl(x->conn, &info, err, "CLUSTER", "INFO", NULL);
    if (rc == MRD_OK)
        rc = store_cmdl(x->conn, &keys, err, "DBSIZE", NULL);
    if (rc == MRD_OK && (!nodes || !info || !keys))
        rc = mrd_error_set(err, MRD_ERR_PROTOCOL, "an empty reply");
    if (rc == MRD_OK)
        rc = store_cluster_nodes_parse(nodes, strlen(nodes), x->view, err);
    if (rc == MRD_OK)
        rc = store_cluster_info_parse(info, strlen(info), &x->info, err);
    if (rc == MRD_OK)
        x->keys = strtoll(keys, NULL, 10);
    free(nodes);
    free(info);
    free(keys);
    if (rc != MRD_OK)
        store_conn_close(&x->conn); /* a new connection next time */
    return rc;
}

/* Look at every node.  A node that does not answer yet (its agent is still
 * starting it) is waited for; a refused password is a failure. */
static round_result look(former *f, mrd_error *err)
{
    round_result res = ROUND_DONE;
    for (int i = 0; i < f->nn; i++) {
        fnode *x = &f->n[i];
        mrd_error e;
        x->seen = look_one(f, x, &e) == MRD_OK;
        if (x->seen)
            continue;
        char who[96];
        if (e.code == MRD_ERR_AUTH) {
            mrd_error_set(err, MRD_ERR_AUTH, "%s refused the admin user: %s",
                          name_of(f, x, who, sizeof(who)), e.msg);
            return ROUND_FAILED;
        }
        if (res == ROUND_DONE)
            res = waiting(f, "%s does not answer: %s", name_of(f, x, who, sizeof(who)), e.msg);
    }
    return res;
}

/* ==== deciding ==== */

/* X's view knows Y by its real id (not a handshake). */
static bool knows(const fnode *x, const fnode *y)
{
    const store_cluster_node *n = store_cluster_find_addr(x->view, y->address, y->port);
    return n && !(n->flags & STORE_CLUSTER_HANDSHAKE) &&
           strcmp(n->id, me(y)->id) == 0;
}

/* Shard S's master now: the node of the shard that owns slots of its range
 * in its own view; the planned master when nobody owns any yet.  NULL with
 * ERR set when the layout is one meridian does not change. */
static fnode *shard_master(former *f, int s, mrd_error *err)
{
    const mrd_plan_shard *sh = &f->p->shards[s];
    fnode *owner = NULL;
    char a[96], b[96];
    for (int i = sh->first; i < sh->first + sh->nnodes; i++) {
        fnode *x = &f->n[i];
        if (me(x)->nslots == 0)
            continue;
        if (owner) {
            mrd_error_set(err, MRD_ERR_STATE,
                          "shard %d has two masters that own slots, %s and %s: meridian "
                          "moves no slot; see `meridian status`",
                          s + 1, name_of(f, owner, a, sizeof(a)), name_of(f, x, b, sizeof(b)));
            return NULL;
        }
        owner = x;
    }
    if (owner)
        return owner;
    fnode *m = &f->n[sh->master];
    if (me(m)->flags & STORE_CLUSTER_SLAVE) {
        mrd_error_set(err, MRD_ERR_STATE,
                      "shard %d owns no slot and its planned master %s is a replica: "
                      "meridian does not reset a node; see `meridian status`",
                      s + 1, name_of(f, m, a, sizeof(a)));
        return NULL;
    }
    return m;
}

/* Refuse what only a destructive step could fix: a node that must become
 * a replica must not hold keys while it owns nothing.  (Which slots a
 * shard owns is not forming's business: after a scale they are any slots,
 * and scale.c moves them to the plan's quotas.) */
static bool layout_ok(former *f, mrd_error *err)
{
    char a[96], b[96];
    for (int s = 0; s < f->p->nshards; s++) {
        const mrd_plan_shard *sh = &f->p->shards[s];
        fnode *m = shard_master(f, s, err);
        if (!m)
            return false;
        for (int i = sh->first; i < sh->first + sh->nnodes; i++) {
            fnode *x = &f->n[i];
            if (x == m || !(me(x)->flags & STORE_CLUSTER_MASTER) || x->keys == 0)
                continue;
            mrd_error_set(err, MRD_ERR_STATE,
                          "%s should replicate %s but is a master holding %lld keys and no "
                          "slots: meridian never empties a node that holds data; move or "
                          "delete its keys, then deploy again",
                          name_of(f, x, a, sizeof(a)), name_of(f, m, b, sizeof(b)),
                          x->keys);
            return false;
        }
    }
    return true;
}

/* ==== acting ==== */

static bool send(former *f, fnode *x, mrd_error *err, const char *arg0, ...)
    __attribute__((sentinel));
static bool send(former *f, fnode *x, mrd_error *err, const char *arg0, ...)
{
    const char *argv[8];
    int argc = 0;
    va_list ap;
    va_start(ap, arg0);
    for (const char *a = arg0; a && argc < 8; a = va_arg(ap, const char *))
        argv[argc++] = a;
    va_end(ap);
    mrd_error e;
    if (store_cmd(x->conn, NULL, &e, argc, argv) == MRD_OK)
        return true;
    char who[96];
    mrd_error_set(err, e.code, "%s %s on %s: %s", argv[0], argc > 1 ? argv[1] : "",
                  name_of(f, x, who, sizeof(who)), e.msg);
    return false;
}

/* Step 1: a fresh planned master (alone, epoch 0, no slots) gets the
 * epoch shard + 1, as redis-cli --cluster create does. */
static round_result set_epochs(former *f, mrd_error *err)
{
    round_result res = ROUND_DONE;
    for (int s = 0; s < f->p->nshards; s++) {
        fnode *m = &f->n[f->p->shards[s].master];
        if (m->view->nnodes != 1 || m->info.current_epoch != 0 || me(m)->nslots != 0)
            continue;
        char epoch[16];
        snprintf(epoch, sizeof(epoch), "%d", s + 1);
        if (!send(f, m, err, "CLUSTER", "SET-CONFIG-EPOCH", epoch, NULL))
            return ROUND_FAILED;
        f->r->epochs++;
        res = ROUND_ACTED;
    }
    return res;
}

/* Step 2: every node meets every node it does not know yet (not even as
 * a handshake): all handshakes at once, where one seed's MEETs would
 * leave the rest to gossip (seconds for nine nodes).  Then everyone must
 * know everyone by its real id. */
static round_result meet(former *f, mrd_error *err)
{
    int sent = 0;
    for (int i = 0; i < f->nn; i++)
        for (int j = 0; j < f->nn; j++) {
            fnode *x = &f->n[i], *y = &f->n[j];
            if (i == j || store_cluster_find_addr(x->view, y->address, y->port))
                continue;
            char port[8], bus[8];
            snprintf(port, sizeof(port), "%d", y->port);
            snprintf(bus, sizeof(bus), "%d", y->bus_port);
            if (!send(f, x, err, "CLUSTER", "MEET", y->address, port, bus, NULL))
                return ROUND_FAILED;
            sent++;
        }
    if (sent) {
        f->r->met += sent;
        return ROUND_ACTED;
    }
    for (int i = 0; i < f->nn; i++)
        for (int j = 0; j < f->nn; j++)
            if (i != j && !knows(&f->n[i], &f->n[j])) {
                char a[96], b[96];
                return waiting(f, "%s does not know %s yet", name_of(f, &f->n[i], a, sizeof(a)),
                               name_of(f, &f->n[j], b, sizeof(b)));
            }
    return ROUND_DONE;
}

/* Is SLOT owned in any node's view?  A node just met does not know the
 * slot map yet: a slot unowned in its view may be served elsewhere, and
 * giving it to that node would take it (and its keys) from its owner. */
static bool owned_anywhere(const former *f, int slot)
{
    for (int i = 0; i < f->nn; i++)
        if (store_cluster_slot_owner(f->n[i].view, slot))
            return true;
    return false;
}

/* Step 3: each shard's master gets the slots of its range that no node
 * sees owned (a fresh cluster's, or slots a lost master owned alone). */
static round_result assign_slots(former *f, mrd_error *err)
{
    round_result res = ROUND_DONE;
    for (int s = 0; s < f->p->nshards; s++) {
        const mrd_plan_shard *sh = &f->p->shards[s];
        fnode *m = shard_master(f, s, err);
        if (!m)
            return ROUND_FAILED;
        for (int slot = sh->slot_first; slot <= sh->slot_last;) {
            if (owned_anywhere(f, slot)) {
                slot++;
                continue;
            }
            int end = slot;
            while (end + 1 <= sh->slot_last && !owned_anywhere(f, end + 1))
                end++;
            char from[8], to[8];
            snprintf(from, sizeof(from), "%d", slot);
            snprintf(to, sizeof(to), "%d", end);
            if (!send(f, m, err, "CLUSTER", "ADDSLOTSRANGE", from, to, NULL))
                return ROUND_FAILED;
            f->r->ranges++;
            f->r->slots += end - slot + 1;
            res = ROUND_ACTED;
            slot = end + 1;
        }
    }
    return res;
}

/* Step 4: every other node of a shard replicates the shard's master, once
 * it knows that master. */
static round_result replicate(former *f, mrd_error *err)
{
    round_result res = ROUND_DONE;
    for (int s = 0; s < f->p->nshards; s++) {
        const mrd_plan_shard *sh = &f->p->shards[s];
        fnode *m = shard_master(f, s, err);
        if (!m)
            return ROUND_FAILED;
        for (int i = sh->first; i < sh->first + sh->nnodes; i++) {
            fnode *x = &f->n[i];
            if (x == m || strcmp(me(x)->master_id, me(m)->id) == 0)
                continue;
            char a[96], b[96];
            if (!knows(x, m)) {
                if (res == ROUND_DONE)
                    res = waiting(f, "%s does not know its master %s yet",
                                  name_of(f, x, a, sizeof(a)), name_of(f, m, b, sizeof(b)));
                continue;
            }
            if (me(x)->flags & STORE_CLUSTER_SLAVE)
                say(f, "%s replicated another node; now %s, its shard's master",
                    name_of(f, x, a, sizeof(a)), name_of(f, m, b, sizeof(b)));
            if (!send(f, x, err, "CLUSTER", "REPLICATE", me(m)->id, NULL))
                return ROUND_FAILED;
            f->r->replicated++;
            res = ROUND_ACTED;
        }
    }
    return res;
}

/* Step 5: every node says ok, covers every slot, and agrees with the first
 * node's slot map. */
static round_result settled(former *f)
{
    char a[96];
    for (int i = 0; i < f->nn; i++) {
        const fnode *x = &f->n[i];
        if (x->info.slots_assigned != STORE_CLUSTER_SLOTS)
            return waiting(f, "%s sees %lld of %d slots assigned", name_of(f, x, a, sizeof(a)),
                           x->info.slots_assigned, STORE_CLUSTER_SLOTS);
        int slot;
        if (!store_cluster_slots_agree(f->n[0].view, x->view, &slot))
            return waiting(f, "%s disagrees on the owner of slot %d",
                           name_of(f, x, a, sizeof(a)), slot);
        if (!x->info.ok)
            return waiting(f, "%s says cluster_state:%s", name_of(f, x, a, sizeof(a)),
                           x->info.state);
    }
    return ROUND_DONE;
}

/* CLUSTER-NODE-TIMEOUT (ms) on every node; false with ERR set when a node
 * refused. */
static bool set_node_timeout(former *f, int ms, mrd_error *err)
{
    char v[16];
    snprintf(v, sizeof(v), "%d", ms);
    for (int i = 0; i < f->nn; i++)
        if (!send(f, &f->n[i], err, "CONFIG", "SET", "cluster-node-timeout", v, NULL))
            return false;
    return true;
}

/* A fresh cluster (no node owns a slot yet, so none holds data) forms with
 * a short node timeout: a node learns a master's slots only from that
 * master's own messages, and it pings each node once its last answer is
 * older than half the node timeout (2.5 s at the default 5000 ms), which is
 * what forming waits for.  Set back when the run ends; a run killed before
 * that leaves drift that the next deploy's reconcile sets back. */
static bool maybe_go_fast(former *f, mrd_error *err)
{
    int want = f->c->topo->settings.cluster.node_timeout_ms;
    if (f->fast || f->looked || want <= FORM_NODE_TIMEOUT_MS)
        return true;
    f->looked = true;
    for (int i = 0; i < f->nn; i++)
        if (me(&f->n[i])->nslots > 0)
            return true;
    if (!set_node_timeout(f, FORM_NODE_TIMEOUT_MS, err))
        return false;
    f->fast = true;
    return true;
}

static round_result round_once(former *f, mrd_error *err)
{
    round_result res = look(f, err);
    if (res != ROUND_DONE)
        return res;
    if (!layout_ok(f, err) || !maybe_go_fast(f, err))
        return ROUND_FAILED;
    round_result (*const steps[])(former *, mrd_error *) = {set_epochs, meet, assign_slots,
                                                           replicate};
    for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++)
        if ((res = steps[k](f, err)) != ROUND_DONE)
            return res;
    return settled(f);
}

/* ==== the run ==== */

static void former_free(former *f)
{
    for (int i = 0; i < f->nn; i++) {
        store_conn_close(&f->n[i].conn);
        store_cluster_view_free(&f->n[i].view);
    }
    free(f->n);
    memset(f->admin, 0, sizeof(f->admin));
}

static mrd_rc former_init(former *f, orch_ctx *c, FILE *out, form_report *r, mrd_error *err)
{
    *f = (former){.c = c, .p = c->plan, .out = out, .r = r};
    MRD_TRY(orch_secret(c, "admin", f->admin, sizeof(f->admin), err));
    f->n = calloc((size_t)f->p->nnodes, sizeof(*f->n));
    if (!f->n)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    for (int i = 0; i < f->p->nnodes; i++) {
        fnode *x = &f->n[f->nn++];
        *x = (fnode){.node = i,
                     .address = plan_node_host(f->p, i)->address,
                     .port = f->p->nodes[i].port,
                     .bus_port = f->p->nodes[i].bus_port,
                     .view = store_cluster_view_new()};
        if (!x->view)
            return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    return MRD_OK;
}

mrd_rc cluster_form(orch_ctx *c, int timeout_ms, FILE *out, form_report *r, mrd_error *err)
{
    memset(r, 0, sizeof(*r));
    r->nodes = c->plan->nnodes;
    long long start = mrd_now_ms();
    former f;
    mrd_rc rc = former_init(&f, c, out, r, err);
    char said[256] = "";
    while (rc == MRD_OK) {
        round_result res = round_once(&f, err);
        if (res == ROUND_DONE)
            break;
        if (res == ROUND_FAILED) {
            rc = err->code != MRD_OK ? err->code : MRD_ERR_STATE;
            break;
        }
        if (res == ROUND_WAIT && strcmp(said, f.waiting) != 0 &&
            mrd_now_ms() - start >= 1000) { /* only what lasts is news */
            say(&f, "%.1f s: waiting: %s", (double)(mrd_now_ms() - start) / 1000.0, f.waiting);
            snprintf(said, sizeof(said), "%s", f.waiting);
        }
        if (mrd_now_ms() - start >= timeout_ms) {
            rc = mrd_error_set(err, MRD_ERR_TIMEOUT,
                               "the cluster did not form within %.1f s: %s",
                               (double)timeout_ms / 1000.0, f.waiting);
            break;
        }
        if (res == ROUND_WAIT)
            mrd_sleep_ms(FORM_POLL_MS);
    }
    if (f.fast) { /* even after a failure: what the topology says */
        mrd_error e;
        if (!set_node_timeout(&f, c->topo->settings.cluster.node_timeout_ms, &e) &&
            rc == MRD_OK)
            rc = mrd_error_set(err, e.code, "%s", e.msg);
    }
    r->ms = mrd_now_ms() - start;
    former_free(&f);
    return rc;
}

void form_report_text(const form_report *r, char *buf, size_t n)
{
    if (r->met + r->ranges + r->replicated + r->epochs == 0) {
        snprintf(buf, n, "no changes: %d nodes already formed", r->nodes);
        return;
    }
    snprintf(buf, n, "%d MEET%s, assigned %d slots in %d range%s, %d replica%s attached",
             r->met, r->met == 1 ? "" : "s", r->slots, r->ranges, r->ranges == 1 ? "" : "s",
             r->replicated, r->replicated == 1 ? "" : "s");
}
