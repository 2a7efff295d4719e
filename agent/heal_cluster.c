/* heal_cluster.c - the heal pass's cluster mode (see heal_int.h).
 *
 * A node's master is the node of its shard that the cluster says serves
 * the shard's slots: in the node's own view (CLUSTER NODES) when it
 * answers, else in the first of its shard's peers' that answers.  The
 * cluster itself fails a lost master over (its replicas vote); the agent
 * never restarts a crashed master as a master.
 *
 * Acting:
 * - a lost node (process dead; its data and nodes.conf gone with it or
 *   not) is restored through heal_restore(): a peer's snapshot, then a
 *   nodes.conf written before its first start that says "myself,slave
 *   <the shard's master now>" (taken from a live node's CLUSTER NODES,
 *   never from the plan), then its config (no replicaof: nodes.conf names
 *   the master; cluster-replica-no-failover yes, so that it cannot win an
 *   election before it has caught up, set back to no once it is ready,
 *   and by HEAL_REPAIR after an interrupted restore).  Never started
 *   blank: a blank node would be an empty
 *   master that meets no one, and a stale nodes.conf of a crashed master
 *   would make it claim its slots with an empty dataset.
 * - a master whose process dies under this agent (its child, reaped by
 *   the loop's heal_watch) is failed over at once: the crash fast path
 *   asks a caught-up replica for CLUSTER FAILOVER FORCE (see
 *   cluster_fail_over_now; it still needs the masters' votes).
 * - a replica of this host whose master has not answered for node-timeout
 *   while a majority of the masters answer and have lost it too (a region
 *   outage took the master's agent with it) is asked for CLUSTER FAILOVER
 *   FORCE when it is the replica to promote (see "the replica-side
 *   failover request").
 * - a crashed master waits (HEAL_WAIT_FAILOVER / HEAL_ASK_FAILOVER: the
 *   cluster elects a replica by itself after cluster-node-timeout; while a
 *   view still lists it with its slots it is "the master", and
 *   heal_decide never restores the master; once flagged fail and before a
 *   replica owns its slots no view names a master: HEAL_WAIT_SENTINELS),
 *   then, once a replica owns the slots, it is a lost replica like any
 *   other and rejoins as the new master's replica.
 * - a replica of a node outside its shard is repointed (CLUSTER REPLICATE
 *   the shard's master: a replica's data is a copy).  A replica still
 *   following its shard's old master is left to the cluster, which moves
 *   it itself once it learns the failover; a master the cluster does not
 *   name is left to the cluster's epochs (it may hold data).
 * - a master owning slots that reaches fewer than a majority of the
 *   masters owning slots (its own view's; asked every pass) is fenced:
 *   min-replicas-to-write HEAL_FENCE_MIN_REPLICAS until a majority answers
 *   again or it is no longer such a master (see fence()); a fence no agent
 *   holds is repaired as drift once the node is not isolated.
 * - a running node whose nodes.conf is missing or damaged keeps its
 *   cluster state in memory: CLUSTER SAVECONFIG writes it back (nothing
 *   else is safe, and nothing else is needed: Redis rewrites the file on
 *   every change of its state anyway).
 * meridian never sends CLUSTER RESET, FLUSHALL or CLUSTER FAILOVER
 * TAKEOVER. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cluster.h"
#include "fsutil.h"
#include "heal_int.h"
#include "info.h"
#include "log.h"
#include "probe.h"

/* A replica being restored may not win an election until it is ready. */
#define NO_FAILOVER "cluster-replica-no-failover"

/* nodes.conf is small (one line per node); a larger file is damaged. */
#define NODES_CONF_MAX (1024 * 1024)

/* ==== observing ==== */

/* What one pass saw of one node of this host and its shard. */
typedef struct observation {
    heal_obs *b;
    const mrd_mf_shard *shard;
    int leader;              /* node index of the shard's master now; -1 */
    store_probe *probes;     /* the shard's nodes, in manifest order: INFO,
                                CLUSTER NODES, CLUSTER INFO */
    store_cluster_view *view;/* the view the leader was read from; NULL */
    int view_node;           /* whose view that is (node index); -1 */
    heal_conf conf;          /* the node's own nodes.conf */
    store_cluster_view *old; /* ... parsed, when intact; NULL */
    char shard_tag[MRD_MF_NAME + 16]; /* "shard NAME: " for event details */
    int nprobes;             /* probes: the shard's nodes, then the
                                other masters remembered from the last
                                pass (hn->fence_peers): INFO only */
    /* the fence (see judge_isolation) */
    bool isolated;           /* a master owning slots that reaches fewer
                                than a majority of the masters owning slots */
    int masters, reached;    /* ... of them in its own view, and answered */
    char reach[256];         /* "itself, euw-a1; not aps-a1 (...)" */
    long live_min_replicas;  /* its min-replicas-to-write; -1 unknown */
    bool drift_no_failover, drift_min_replicas;
    /* the replica-side failover request: the verdict for this node, and
     * +failover-requested's detail when it is HEAL_RFAIL_ASK */
    heal_rfail rfail;
    char rfail_detail[448];
    /* set by the restore's prepare hook, for +replica-ready */
    char new_id[STORE_CLUSTER_ID_LEN + 1];
    heal_id_from id_from;
} observation;

static const store_probe *node_probe(const observation *o, int node)
{
    return &o->probes[node - o->shard->first];
}

static bool node_info(const observation *o, int node, store_info *out)
{
    const store_probe *p = node_probe(o, node);
    return p->rc == MRD_OK && p->info &&
           store_info_parse(p->info, strlen(p->info), out, NULL) == MRD_OK;
}

static void cluster_obs_free(heal_obs *b)
{
    observation *o = b->mode_data;
    if (!o)
        return;
    for (int i = 0; o->probes && i < o->nprobes; i++)
        store_probe_clear(&o->probes[i]);
    free(o->probes);
    store_cluster_view_free(&o->view);
    store_cluster_view_free(&o->old);
    free(o);
    b->mode_data = NULL;
}

/* The view node of manifest node I in V, or NULL. */
static const store_cluster_node *in_view(const mrd_manifest *m, const store_cluster_view *v,
                                         int i)
{
    return store_cluster_find_addr(v, manifest_node_address(m, i), m->nodes[i].port);
}

/* ==== pure ==== */

int heal_cluster_master(const store_cluster_view *v, const char *const *ip, const int *port,
                        int n)
{
    for (int i = 0; i < n; i++) {
        const store_cluster_node *x = store_cluster_find_addr(v, ip[i], port[i]);
        if (x && (x->flags & STORE_CLUSTER_MASTER) && x->nslots > 0 &&
            !(x->flags & STORE_CLUSTER_FAIL))
            return i;
    }
    return -1;
}

bool heal_cluster_isolated(const store_cluster_view *v, const bool *answered, int *masters,
                           int *reached)
{
    *masters = *reached = 0;
    const store_cluster_node *me = store_cluster_myself(v);
    if (!me || !(me->flags & STORE_CLUSTER_MASTER) || me->nslots == 0)
        return false;
    for (int i = 0; i < v->nnodes; i++) {
        const store_cluster_node *x = &v->nodes[i];
        if (!(x->flags & STORE_CLUSTER_MASTER) || x->nslots == 0)
            continue;
        (*masters)++;
        *reached += x == me || answered[i];
    }
    return *reached < mrd_majority(*masters);
}

int heal_cluster_failover_target(const heal_fo_candidate *c, int n)
{
    long long best = -1;
    for (int i = 0; i < n; i++)
        if (c[i].answered && !c[i].no_failover && c[i].offset > best)
            best = c[i].offset;
    int pick = -1;
    for (int i = 0; i < n; i++) {
        if (!c[i].answered || c[i].no_failover || c[i].offset != best)
            continue;
        if (c[i].planned)
            return i;
        if (pick < 0)
            pick = i;
    }
    return pick;
}

heal_rfail heal_cluster_rfail_decide(const heal_rfail_facts *f)
{
    if (!f->enabled)
        return HEAL_RFAIL_OFF;
    if (f->lost_since_ms <= 0)
        return HEAL_RFAIL_MASTER_ANSWERS;
    if (f->now_ms - f->lost_since_ms < f->node_timeout_ms)
        return HEAL_RFAIL_TOO_SOON;
    if (!heal_fast_path_due(f->asked_ms, f->now_ms, 2LL * f->node_timeout_ms))
        return HEAL_RFAIL_COOLDOWN;
    int k = heal_cluster_failover_target(f->c, f->n);
    if (k < 0 || k != f->self)
        return HEAL_RFAIL_NOT_CHOSEN;
    if (f->masters < 0)
        return HEAL_RFAIL_PROBE;
    if (f->masters_lost_it < f->masters / 2 + 1)
        return HEAL_RFAIL_NO_MAJORITY;
    return HEAL_RFAIL_ASK;
}

const char *heal_cluster_rfail_name(heal_rfail r)
{
    switch (r) {
    case HEAL_RFAIL_ASK: return "ask";
    case HEAL_RFAIL_OFF: return "off";
    case HEAL_RFAIL_MASTER_ANSWERS: return "master-answers";
    case HEAL_RFAIL_TOO_SOON: return "too-soon";
    case HEAL_RFAIL_COOLDOWN: return "cooldown";
    case HEAL_RFAIL_NOT_CHOSEN: return "not-chosen";
    case HEAL_RFAIL_PROBE: return "probe";
    case HEAL_RFAIL_NO_MAJORITY: return "no-majority";
    }
    return "unknown";
}

const char *heal_cluster_lost_by(const store_cluster_view *v, const char *ip, int port)
{
    const store_cluster_node *me = store_cluster_myself(v);
    const store_cluster_node *x = store_cluster_find_addr(v, ip, port);
    if (!me || !(me->flags & STORE_CLUSTER_MASTER) || me->nslots <= 0 || !x || x == me ||
        !(x->flags & STORE_CLUSTER_MASTER) || x->nslots <= 0)
        return NULL;
    if (x->flags & STORE_CLUSTER_FAIL)
        return "fail";
    if (x->flags & STORE_CLUSTER_PFAIL)
        return "fail?";
    return x->connected ? NULL : "disconnected";
}

heal_conf heal_cluster_conf_judge(const char *text, size_t len, const char *ip, int port,
                                  store_cluster_view *out)
{
    if (!text)
        return HEAL_CONF_MISSING;
    if (store_cluster_nodes_parse(text, len, out, NULL) != MRD_OK)
        return HEAL_CONF_DAMAGED;
    const store_cluster_node *me = store_cluster_myself(out);
    /* another node's file (copied by hand), or one from before the node
     * had its address: not its identity */
    if (!me || me->port != port || (me->ip[0] && strcmp(me->ip, ip) != 0))
        return HEAL_CONF_DAMAGED;
    return HEAL_CONF_OK;
}

heal_id_from heal_cluster_node_id(const store_cluster_view *old, const store_cluster_view *peer,
                                  const char *ip, int port, char out[STORE_CLUSTER_ID_LEN + 1])
{
    const store_cluster_node *n = old ? store_cluster_myself(old) : NULL;
    if (n) {
        snprintf(out, STORE_CLUSTER_ID_LEN + 1, "%s", n->id);
        return HEAL_ID_NODES_CONF;
    }
    n = peer ? store_cluster_find_addr(peer, ip, port) : NULL;
    if (n && !(n->flags & STORE_CLUSTER_MYSELF)) {
        snprintf(out, STORE_CLUSTER_ID_LEN + 1, "%s", n->id);
        return HEAL_ID_CLUSTER_VIEW;
    }
    out[0] = '\0';
    return HEAL_ID_NEW;
}

const char *heal_cluster_id_from_name(heal_id_from f)
{
    switch (f) {
    case HEAL_ID_NODES_CONF: return "its own, from its nodes.conf";
    case HEAL_ID_CLUSTER_VIEW: return "the one the cluster knows at its address";
    case HEAL_ID_NEW: return "a new one";
    }
    return "";
}

/* ==== the replica-side failover request ====
 *
 * A region outage takes a master's agent with it, so no crash fast path
 * fires, and Redis alone needs 1 to 1.5 x node-timeout before it flags the
 * master PFAIL (a ping goes out once the last pong is node-timeout/2 old
 * and PFAIL comes node-timeout after it), then FAIL, then the election
 * delay (500 ms + 0-500 ms + 1 s x rank).  So the agent of a surviving
 * replica asks its own node for CLUSTER FAILOVER FORCE once, from its own
 * probes (heal_cluster_rfail_decide):
 * - the master has not answered for node-timeout, counted from the first
 *   probe it did not answer (never from its last answer: the request is
 *   never earlier than node-timeout after the loss, as Redis' own PFAIL);
 * - the replica is the one to promote: the most data among the live
 *   replicas of that master, the planned region among equals, never one
 *   with cluster-replica-no-failover yes (FORCE would ignore the setting);
 * - a majority of the slot-owning masters answer the agent and their
 *   views show the master disconnected, fail? or fail: the majority side
 *   lost it too, so a link that only this replica lost is never the
 *   reason, and the request does not race Redis' own judgement;
 * - at most once per shard per 2 x node-timeout; off with the topology's
 *   agent.crash_fast_path (it is part of the fast path).
 * FORCE skips the election delay and the handshake with the lost master
 * but still needs the votes of a majority of the slot-owning masters
 * (they vote for a FORCE request before they flag the master FAIL, once
 * per master per 2 x node-timeout): a replica on a minority side cannot
 * win, and of two replicas asking, one at most.  Never TAKEOVER.
 *
 * Data: the promoted replica has what it had when it lost the master, as
 * in Redis' own election, which also waits at least node-timeout.  An
 * isolated old master keeps acknowledging writes (its same-region replica
 * answers WAIT 1) until it fences itself (Redis' CLUSTERDOWN after 1 to
 * 1.5 x node-timeout, or the agent's fence): those writes are lost however
 * late the promotion comes, since the majority side stopped receiving
 * them when it lost the master. */

static const char *planned_region(const mrd_manifest *m, const mrd_mf_shard *sh, int dead);

/* This host's last request for SHARD (monotonic ms; 0: none). */
static long long shard_asked_ms(const heal_ctx *hc, int shard)
{
    long long t = 0;
    for (int i = 0; i < hc->nnodes; i++)
        if (hc->h->m->nodes[hc->nodes[i].node].shard == shard &&
            hc->nodes[i].failover_req_ms > t)
            t = hc->nodes[i].failover_req_ms;
    return t;
}

/* The live replicas of MASTER in this round's probes, into C (the shard's
 * size at most); *SELF gets this node's index in C (-1 when absent). */
static int live_replicas(const heal_ctx *hc, const observation *o, int master,
                         heal_fo_candidate *c, int *self)
{
    const mrd_manifest *m = hc->h->m;
    const char *region = planned_region(m, o->shard, master);
    int n = 0;
    *self = -1;
    for (int i = o->shard->first; i < o->shard->first + o->shard->nnodes; i++) {
        store_info r;
        if (i == master || !node_info(o, i, &r) || r.is_master ||
            strcmp(r.master_host, manifest_node_address(m, master)) != 0 ||
            r.master_port != m->nodes[master].port)
            continue;
        const store_cluster_node *v = in_view(m, o->view, i);
        const char *nf = i == o->b->hn->node ? node_probe(o, i)->config_values[0] : NULL;
        if (i == o->b->hn->node)
            *self = n;
        c[n++] = (heal_fo_candidate){
            .node = i, .answered = true, .offset = r.slave_repl_offset,
            .planned = strcmp(heal_node_host(m, i)->region, region) == 0,
            .no_failover = !v || (v->flags & STORE_CLUSTER_NOFAILOVER) ||
                           (nf && strcmp(nf, "yes") == 0)};
    }
    return n;
}

/* Probe the slot-owning masters of o->view other than the lost MASTER:
 * *LOST_IT gets how many answered and lost it too; returns how many
 * slot-owning masters there are (the lost one included), and what each
 * said goes to SAID ("euw-a1 disconnected, aps-a1 fail?"). */
static int probe_masters(const heal_ctx *hc, const observation *o, int master, int *lost_it,
                         char *said, size_t n)
{
    const mrd_manifest *m = hc->h->m;
    const store_cluster_view *v = o->view;
    const char *lost_ip = manifest_node_address(m, master);
    int lost_port = m->nodes[master].port, masters = 0, np = 0;
    store_probe *p = calloc((size_t)v->nnodes, sizeof(*p));
    store_cluster_view *pv = store_cluster_view_new();
    *lost_it = 0;
    said[0] = '\0';
    for (int i = 0; p && pv && i < v->nnodes; i++) {
        const store_cluster_node *x = &v->nodes[i];
        if (!(x->flags & STORE_CLUSTER_MASTER) || x->nslots <= 0)
            continue;
        masters++;
        if (x->port == lost_port && strcmp(x->ip, lost_ip) == 0)
            continue;
        p[np++] = (store_probe){.kind = STORE_PROBE_INFO, .address = x->ip, .port = x->port,
                                .user = "admin", .pass = hc->h->secrets.admin, .cluster = true};
    }
    if (!p || !pv || store_probe_all(p, np, HEAL_PROBE_TIMEOUT_MS) != MRD_OK)
        np = 0; /* out of memory: no majority */
    size_t used = 0;
    for (int i = 0; i < np; i++) {
        const char *word = "no answer";
        if (p[i].rc == MRD_OK && p[i].cluster_nodes &&
            store_cluster_nodes_parse(p[i].cluster_nodes, strlen(p[i].cluster_nodes), pv,
                                      NULL) == MRD_OK) {
            const char *lost = heal_cluster_lost_by(pv, lost_ip, lost_port);
            *lost_it += lost != NULL;
            word = lost ? lost : "still connected to it";
        }
        int k = manifest_find_node(m, p[i].address, p[i].port);
        int w = snprintf(said + used, n - used, "%s%s %s", used ? ", " : "",
                         k >= 0 ? heal_node_host(m, k)->host : p[i].address, word);
        if (w > 0 && (size_t)w < n - used)
            used += (size_t)w;
        store_probe_clear(&p[i]);
    }
    free(p);
    store_cluster_view_free(&pv);
    return masters;
}

/* For a replica of this host (o->b->hn): keep track of whether its master
 * answers, and decide whether this pass asks it for CLUSTER FAILOVER
 * FORCE (o->rfail, o->rfail_detail).  T_PROBE: when this round's probes
 * were sent (monotonic ms). */
static void watch_master(const heal_ctx *hc, observation *o, long long t_probe)
{
    const mrd_manifest *m = hc->h->m;
    heal_node *hn = o->b->hn;
    store_info self;
    int master = -1;
    const store_cluster_node *mv = NULL;
    o->rfail = HEAL_RFAIL_MASTER_ANSWERS;
    if (o->view && o->view_node == hn->node && node_info(o, hn->node, &self) &&
        !self.is_master)
        master = manifest_find_node(m, self.master_host, self.master_port);
    if (master >= 0 && master != hn->node && m->nodes[master].shard == m->nodes[hn->node].shard)
        mv = in_view(m, o->view, master);
    /* lost: it did not answer this round and still owns the shard's slots
     * (no replica has taken them over) */
    if (!mv || !(mv->flags & STORE_CLUSTER_MASTER) || mv->nslots <= 0 ||
        node_probe(o, master)->rc == MRD_OK) {
        hn->master_lost_since_ms = 0;
        return;
    }
    if (!hn->master_lost_since_ms || hn->master_lost != master) {
        hn->master_lost = master;
        hn->master_lost_since_ms = t_probe;
    }
    heal_fo_candidate c[MRD_MF_MAX_NODES];
    heal_rfail_facts f = {.enabled = m->settings.agent.crash_fast_path,
                          .node_timeout_ms = m->settings.cluster.node_timeout_ms,
                          .lost_since_ms = hn->master_lost_since_ms, .now_ms = mrd_now_ms(),
                          .asked_ms = shard_asked_ms(hc, m->nodes[hn->node].shard), .c = c,
                          .masters = -1};
    f.n = live_replicas(hc, o, master, c, &f.self);
    o->rfail = heal_cluster_rfail_decide(&f);
    if (o->rfail != HEAL_RFAIL_PROBE)
        return;
    char said[256];
    f.masters = probe_masters(hc, o, master, &f.masters_lost_it, said, sizeof(said));
    f.now_ms = mrd_now_ms();
    o->rfail = heal_cluster_rfail_decide(&f);
    const mrd_mf_host *mh = heal_node_host(m, master), *me = heal_node_host(m, hn->node);
    if (o->rfail != HEAL_RFAIL_ASK) {
        mrd_info("%s/%s: %smaster %s unreachable for %lld ms, no failover request: %d of %d "
                 "slot-owning masters answer and lost it too (%s)", m->host, hn->proc->label,
                 o->shard_tag, mh->host, f.now_ms - f.lost_since_ms, f.masters_lost_it,
                 f.masters, said);
        return;
    }
    snprintf(o->rfail_detail, sizeof(o->rfail_detail),
             "%smaster %s (%s:%d) unreachable for %lld ms (node timeout %d ms); %d of %d "
             "slot-owning masters answer and lost it too (%s); asked %s (%s:%d, %s%s) for "
             "CLUSTER FAILOVER FORCE: replication offset %lld, %d live replica(s)",
             o->shard_tag, mh->host, manifest_node_address(m, master), m->nodes[master].port,
             f.now_ms - f.lost_since_ms, f.node_timeout_ms, f.masters_lost_it, f.masters, said,
             me->host, manifest_node_address(m, hn->node), m->nodes[hn->node].port, me->region,
             c[f.self].planned ? ", the planned region" : "", c[f.self].offset, f.n);
}

/* The verdict of watch_master() is to ask: CLUSTER FAILOVER FORCE on this
 * node (never TAKEOVER). */
static void request_failover(heal_step *ps)
{
    observation *o = ps->o->mode_data;
    if (o->rfail != HEAL_RFAIL_ASK)
        return;
    store_conn *c = NULL;
    mrd_error err;
    mrd_error_clear(&err);
    mrd_rc rc = heal_node_conn(ps->hc, ps->hn->node, &c, &err);
    if (rc == MRD_OK)
        rc = store_cmdl(c, NULL, &err, "CLUSTER", "FAILOVER", "FORCE", NULL);
    store_conn_close(&c);
    if (rc != MRD_OK) {
        ps->failed = true;
        heal_act(ps, "+heal-failed", ps->hn->proc->label, "%s; it failed: %s", o->rfail_detail,
                 err.msg);
        return;
    }
    ps->hn->failover_req_ms = mrd_now_ms();
    ps->acted = true;
    heal_act(ps, "+failover-requested", ps->hn->proc->label, "%s", o->rfail_detail);
}

/* The shard's master in view V: the node of the shard that the view has
 * as a master owning slots and not failed; -1 when none. */
static int leader_in(const mrd_manifest *m, const observation *o, const store_cluster_view *v)
{
    const char *ip[MRD_MF_MAX_NODES];
    int port[MRD_MF_MAX_NODES];
    int n = 0;
    for (int i = o->shard->first; i < o->shard->first + o->shard->nnodes; i++, n++) {
        ip[n] = manifest_node_address(m, i);
        port[n] = m->nodes[i].port;
    }
    int k = heal_cluster_master(v, ip, port, n);
    return k < 0 ? -1 : o->shard->first + k;
}

/* Read and judge the nodes.conf in node HN's data dir into o->conf and,
 * when intact, o->old. */
static void read_conf(const heal_ctx *hc, const heal_node *hn, observation *o)
{
    const mrd_manifest *m = hc->h->m;
    char path[MRD_MF_PATH], *text = NULL;
    size_t len = 0;
    o->conf = HEAL_CONF_MISSING;
    if (mrd_path_fmt(path, sizeof(path), "%s/nodes.conf", hn->proc->dir) != MRD_OK)
        return;
    if (!mrd_path_exists(path))
        return;
    if (mrd_read_file(path, NODES_CONF_MAX, &text, &len, NULL) != MRD_OK ||
        !(o->old = store_cluster_view_new())) {
        free(text);
        o->conf = HEAL_CONF_DAMAGED;
        return;
    }
    o->conf = heal_cluster_conf_judge(text, len, manifest_node_address(m, hn->node),
                                      m->nodes[hn->node].port, o->old);
    free(text);
    if (o->conf != HEAL_CONF_OK)
        store_cluster_view_free(&o->old);
}

/* Read the view of node I (its probe's CLUSTER NODES) into o->view. */
static bool take_view(observation *o, int i)
{
    const store_probe *p = node_probe(o, i);
    if (p->rc != MRD_OK || !p->cluster_nodes)
        return false;
    if (!o->view && !(o->view = store_cluster_view_new()))
        return false;
    if (store_cluster_nodes_parse(p->cluster_nodes, strlen(p->cluster_nodes), o->view,
                                  NULL) != MRD_OK)
        return false;
    o->view_node = i;
    return true;
}

/* For the crash fast path, of a master (this node, INFO SELF): the
 * replicas of its shard that could take over from it at once without a
 * loss, as this round saw them: replicas of it, linked, at most
 * MRD_CAUGHT_UP_LAG_BYTES behind, and allowed to fail over (not flagged
 * nofailover in the view: a replica still being restored).  In manifest
 * order, into o->b->fast_to. */
static void fit_to_take_over(const heal_ctx *hc, observation *o, const store_info *self)
{
    const mrd_manifest *m = hc->h->m;
    int me = o->b->hn->node;
    heal_obs *b = o->b;
    for (int i = o->shard->first;
         i < o->shard->first + o->shard->nnodes && b->nfast_to < HEAL_FAST_MAX; i++) {
        store_info r;
        if (i == me || !node_info(o, i, &r) || r.is_master || !r.link_up ||
            strcmp(r.master_host, manifest_node_address(m, me)) != 0 ||
            r.master_port != m->nodes[me].port)
            continue;
        long long lag = self->master_repl_offset - r.slave_repl_offset;
        const store_cluster_node *v = o->view ? in_view(m, o->view, i) : NULL;
        if (lag > MRD_CAUGHT_UP_LAG_BYTES || !v || (v->flags & STORE_CLUSTER_NOFAILOVER))
            continue;
        b->fast_to[b->nfast_to++] = i;
    }
}

/* An INFO probe, with nothing else, of the node at ADDRESS:PORT. */
static store_probe ping_probe(const heal_ctx *hc, const char *address, int port)
{
    return (store_probe){.kind = STORE_PROBE_INFO, .address = address, .port = port,
                         .user = "admin", .pass = hc->h->secrets.admin};
}

/* Append to o->reach (the +fenced and -fenced details) the name of the
 * view's node X: its host's, or its address when the manifest does not
 * have it. */
static void describe(const mrd_manifest *m, observation *o, const store_cluster_node *x,
                     bool first, bool answered)
{
    size_t len = strlen(o->reach);
    int k = manifest_find_node(m, x->ip, x->port);
    char name[128];
    if (k >= 0)
        snprintf(name, sizeof(name), "%s", heal_node_host(m, k)->host);
    else
        snprintf(name, sizeof(name), "%s:%d", x->ip[0] ? x->ip : "?", x->port);
    snprintf(o->reach + len, sizeof(o->reach) - len, "%s%s", first ? (answered ? "" : "not ")
             : ", ", name);
}

/* The fence's question, for a node of this host that its own view (this
 * round's) shows as a master owning slots: how many of the masters
 * owning slots in that view answer?  They answered in this round when
 * they are of its shard or were masters at the last pass (remembered in
 * hn->fence_peers); the others (the first pass, a new master) are asked
 * now, in a second round with the pass's probe timeout.  The agent's
 * connections leave from this host's address (store_set_source), so a
 * partition that cuts the node off cuts the agent off the same way. */
static mrd_rc judge_isolation(heal_ctx *hc, observation *o)
{
    const mrd_manifest *m = hc->h->m;
    heal_node *hn = o->b->hn;
    const store_cluster_view *v = o->view;
    hn->nfence_peers = 0;
    if (!m->settings.agent.fence || !o->b->f.reachable || o->view_node != hn->node)
        return MRD_OK;
    const store_cluster_node *me = store_cluster_myself(v);
    if (!me || !(me->flags & STORE_CLUSTER_MASTER) || me->nslots == 0)
        return MRD_OK;
    bool *answered = calloc((size_t)v->nnodes, sizeof(*answered));
    store_probe *late = calloc((size_t)v->nnodes, sizeof(*late));
    int *late_of = calloc((size_t)v->nnodes, sizeof(*late_of));
    if (!answered || !late || !late_of) {
        free(answered);
        free(late);
        free(late_of);
        return MRD_ERR_NOMEM;
    }
    int nlate = 0;
    for (int i = 0; i < v->nnodes; i++) {
        const store_cluster_node *x = &v->nodes[i];
        if (x == me || !(x->flags & STORE_CLUSTER_MASTER) || x->nslots == 0)
            continue;
        int k = x->ip[0] ? manifest_find_node(m, x->ip, x->port) : -1;
        const store_probe *p = NULL;
        if (k >= o->shard->first && k < o->shard->first + o->shard->nnodes)
            p = node_probe(o, k);
        for (int j = o->shard->nnodes; !p && k >= 0 && j < o->nprobes; j++)
            if (strcmp(o->probes[j].address, manifest_node_address(m, k)) == 0 &&
                o->probes[j].port == m->nodes[k].port)
                p = &o->probes[j];
        if (k >= 0 && m->nodes[k].shard != m->nodes[hn->node].shard &&
            hn->nfence_peers < HEAL_FENCE_MAX_PEERS)
            hn->fence_peers[hn->nfence_peers++] = k;
        if (p)
            answered[i] = p->rc == MRD_OK;
        else if (x->ip[0]) { /* not asked yet */
            late_of[nlate] = i;
            late[nlate++] = ping_probe(hc, x->ip, x->port);
        }
    }
    mrd_rc rc = nlate ? store_probe_all(late, nlate, HEAL_PROBE_TIMEOUT_MS) : MRD_OK;
    for (int j = 0; j < nlate; j++) {
        answered[late_of[j]] = rc == MRD_OK && late[j].rc == MRD_OK;
        store_probe_clear(&late[j]);
    }
    if (rc == MRD_OK) {
        o->isolated = heal_cluster_isolated(v, answered, &o->masters, &o->reached);
        /* "itself, use-b1; not euw-a1, aps-a1" */
        snprintf(o->reach, sizeof(o->reach), "itself");
        for (int pass = 0; pass < 2; pass++) {
            bool first = pass == 1;
            for (int i = 0; i < v->nnodes; i++) {
                const store_cluster_node *x = &v->nodes[i];
                if (x == me || !(x->flags & STORE_CLUSTER_MASTER) || x->nslots == 0 ||
                    answered[i] != (pass == 0))
                    continue;
                if (first) { /* the unreached, after a "; " */
                    size_t len = strlen(o->reach);
                    snprintf(o->reach + len, sizeof(o->reach) - len, "; ");
                }
                describe(hc->h->m, o, x, first, pass == 0);
                first = false;
            }
        }
    }
    free(answered);
    free(late);
    free(late_of);
    return rc;
}

/* Compare the node's live safety settings (CONFIG GET in its probe) with
 * the manifest: cluster-replica-no-failover (the manifest never wants
 * yes: a restore interrupted before the node was ready) and
 * min-replicas-to-write (a fence left by an agent that died, a CONFIG SET
 * by hand), the latter never while the node is isolated or this agent
 * holds its fence (heal_fence_drift). */
static void check_drift(const heal_ctx *hc, observation *o)
{
    const mrd_manifest *m = hc->h->m;
    heal_obs *b = o->b;
    const store_probe *self = node_probe(o, b->hn->node);
    const char *nf = self->config_values[0], *mr = self->config_values[1];
    o->live_min_replicas = -1;
    if (mr) {
        char *end;
        long v = strtol(mr, &end, 10);
        o->live_min_replicas = *end == '\0' && end != mr && v >= 0 ? v : -1;
    }
    o->drift_no_failover = nf && strcmp(nf, "yes") == 0;
    o->drift_min_replicas = heal_fence_drift(o->isolated, b->hn->fenced, o->live_min_replicas,
                                             m->settings.consistency.min_replicas_to_write);
    snprintf(b->drift, sizeof(b->drift), "%s%s", o->drift_no_failover ? NO_FAILOVER " yes "
             "(manifest: no)" : "", o->drift_no_failover && o->drift_min_replicas ? ", " : "");
    if (o->drift_min_replicas) {
        size_t len = strlen(b->drift);
        snprintf(b->drift + len, sizeof(b->drift) - len, "min-replicas-to-write %ld "
                 "(manifest: %d)", o->live_min_replicas,
                 m->settings.consistency.min_replicas_to_write);
    }
    b->f.settings_drift = o->drift_no_failover || o->drift_min_replicas;
}

/* Observe node B->hn: every node of its shard (INFO, CLUSTER NODES and
 * CLUSTER INFO; its own with its safety settings) and the other masters
 * its own view had at the last pass (INFO), in one concurrent round; for
 * a master owning slots, whether it is cut off (judge_isolation). */
static mrd_rc cluster_observe(heal_ctx *hc, heal_obs *b, mrd_error *err)
{
    const mrd_manifest *m = hc->h->m;
    heal_node *hn = b->hn;
    observation *o = calloc(1, sizeof(*o));
    if (!o)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    b->mode_data = o;
    o->b = b;
    o->shard = &m->shards[m->nodes[hn->node].shard];
    o->leader = -1;
    o->view_node = -1;
    snprintf(o->shard_tag, sizeof(o->shard_tag), "shard %s: ", o->shard->name);
    read_conf(hc, hn, o);
    int npeers = m->settings.agent.fence ? hn->nfence_peers : 0;
    o->probes = calloc((size_t)(o->shard->nnodes + npeers), sizeof(*o->probes));
    if (!o->probes) {
        cluster_obs_free(b);
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    static const char *const safety[] = {NO_FAILOVER, "min-replicas-to-write", NULL};
    int k = 0;
    for (int i = o->shard->first; i < o->shard->first + o->shard->nnodes; i++, k++)
        o->probes[k] = (store_probe){.kind = STORE_PROBE_INFO,
                                     .address = manifest_node_address(m, i),
                                     .port = m->nodes[i].port, .user = "admin",
                                     .pass = hc->h->secrets.admin, .cluster = true,
                                     .config = i == hn->node ? safety : NULL};
    for (int j = 0; j < npeers; j++, k++)
        o->probes[k] = ping_probe(hc, manifest_node_address(m, hn->fence_peers[j]),
                                  m->nodes[hn->fence_peers[j]].port);
    o->nprobes = k;
    long long t_probe = mrd_now_ms();
    mrd_rc rc = store_probe_all(o->probes, o->nprobes, HEAL_PROBE_TIMEOUT_MS);
    if (rc != MRD_OK) {
        cluster_obs_free(b);
        return mrd_error_set(err, rc, "out of memory");
    }

    /* the node's own view first, then its peers' in manifest order */
    if (take_view(o, hn->node))
        o->leader = leader_in(m, o, o->view);
    for (int i = o->shard->first; o->leader < 0 && i < o->shard->first + o->shard->nnodes; i++)
        if (i != hn->node && take_view(o, i))
            o->leader = leader_in(m, o, o->view);

    heal_facts *f = &b->f;
    f->have_leader = o->leader >= 0;
    f->self_is_leader = o->leader == hn->node;
    f->lag_bytes = -1;
    store_info self, lead;
    if (node_info(o, hn->node, &self)) {
        f->reachable = true;
        f->is_master = self.is_master;
        f->link_up = self.link_up;
        if (o->leader >= 0) {
            f->follows_leader =
                strcmp(self.master_host, manifest_node_address(m, o->leader)) == 0 &&
                self.master_port == m->nodes[o->leader].port;
            if (!self.is_master && node_info(o, o->leader, &lead))
                f->lag_bytes = lead.master_repl_offset > self.slave_repl_offset
                                   ? lead.master_repl_offset - self.slave_repl_offset
                                   : 0;
        }
        if (f->self_is_leader && self.is_master)
            fit_to_take_over(hc, o, &self);
    }
    if (judge_isolation(hc, o) != MRD_OK) {
        cluster_obs_free(b);
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    if (f->reachable)
        check_drift(hc, o);
    watch_master(hc, o, t_probe);
    return MRD_OK;
}

/* ==== acting ==== */

/* The id of node I in the observation's view ("" when absent). */
static const char *view_id(const heal_ctx *hc, const observation *o, int i)
{
    const store_cluster_node *n = o->view ? in_view(hc->h->m, o->view, i) : NULL;
    return n ? n->id : "";
}

/* Before the first start: nodes.conf saying "myself,slave <MASTER's id>"
 * with every other node of a live peer's view, then the config (cluster
 * mode renders no replicaof; the plan's replica priority). */
static mrd_rc restore_prepare(heal_step *ps, int master, mrd_error *err)
{
    heal_ctx *hc = ps->hc;
    const mrd_manifest *m = hc->h->m;
    observation *o = ps->o->mode_data;
    int self = ps->hn->node;
    store_cluster_info ci;
    const store_probe *vp = o->view && o->view_node >= 0 ? node_probe(o, o->view_node) : NULL;
    if (!vp || o->view_node == self || !vp->cluster_info ||
        store_cluster_info_parse(vp->cluster_info, strlen(vp->cluster_info), &ci, NULL) !=
            MRD_OK)
        return mrd_error_set(err, MRD_ERR_STATE,
                             "no live peer's view of the cluster to write nodes.conf from");
    const char *ip = manifest_node_address(m, self);
    o->id_from = heal_cluster_node_id(o->old, o->view, ip, m->nodes[self].port, o->new_id);
    if (o->id_from == HEAL_ID_NEW)
        MRD_TRY(store_cluster_new_id(o->new_id, err));
    store_cluster_replica_spec spec = {
        .id = o->new_id,
        .ip = ip,
        .port = m->nodes[self].port,
        .bus_port = m->nodes[self].bus_port,
        .master_id = view_id(hc, o, master),
        .current_epoch = (unsigned long long)ci.current_epoch,
    };
    char path[MRD_MF_PATH];
    mrd_buf buf;
    mrd_buf_init(&buf, NODES_CONF_MAX);
    mrd_rc rc = mrd_path_fmt(path, sizeof(path), "%s/nodes.conf", ps->hn->proc->dir);
    if (rc != MRD_OK)
        mrd_error_set(err, rc, "%s: the data dir's path is too long", ps->hn->proc->label);
    if (rc == MRD_OK)
        rc = store_cluster_replica_conf(o->view, &spec, &buf, err);
    if (rc == MRD_OK)
        rc = mrd_write_atomic(path, mrd_buf_str(&buf), mrd_buf_len(&buf), 0600, err);
    mrd_buf_free(&buf);
    MRD_TRY(rc);
    /* priority 0: cluster-replica-no-failover yes until it is ready */
    return sv_render(hc->h, ps->hn->proc, master, 0, err);
}

/* cluster-replica-no-failover VALUE on node HN, kept across restarts. */
static mrd_rc set_no_failover(const heal_ctx *hc, const heal_node *hn, const char *value,
                              mrd_error *err)
{
    store_conn *c = NULL;
    mrd_rc rc = heal_node_conn(hc, hn->node, &c, err);
    if (rc == MRD_OK)
        rc = store_cmdl(c, NULL, err, "CONFIG", "SET", NO_FAILOVER, value, NULL);
    if (rc == MRD_OK)
        rc = store_cmdl(c, NULL, err, "CONFIG", "REWRITE", NULL);
    store_conn_close(&c);
    return rc;
}

/* A node with a new id is unknown to the others: they answer its pings
 * but never add an id they have not met (verified on Redis 7.0.15, see
 * store/cluster.h), so it meets its master, whose gossip spreads it. */
static mrd_rc meet_master(heal_step *ps, int master, mrd_error *err)
{
    const mrd_manifest *m = ps->hc->h->m;
    char port[8], bus[8];
    snprintf(port, sizeof(port), "%d", m->nodes[master].port);
    snprintf(bus, sizeof(bus), "%d", m->nodes[master].bus_port);
    store_conn *c = NULL;
    mrd_rc rc = heal_node_conn(ps->hc, ps->hn->node, &c, err);
    if (rc == MRD_OK)
        rc = store_cmdl(c, NULL, err, "CLUSTER", "MEET", manifest_node_address(m, master), port,
                        bus, NULL);
    store_conn_close(&c);
    return rc;
}

/* Caught up: it may win an election again. */
static mrd_rc restore_ready(heal_step *ps, char *detail, size_t n, mrd_error *err)
{
    const observation *o = ps->o->mode_data;
    if (o->id_from == HEAL_ID_NEW)
        MRD_TRY(meet_master(ps, o->leader, err));
    MRD_TRY(set_no_failover(ps->hc, ps->hn, "no", err));
    snprintf(detail, n, ", node id %.8s (%s%s), may fail over again", o->new_id,
             heal_cluster_id_from_name(o->id_from),
             o->id_from == HEAL_ID_NEW ? ", met the master" : "");
    return MRD_OK;
}

/* Drifted safety settings, once the node is caught up (and not isolated):
 * a node left unable to fail over (a restore interrupted before it was
 * ready), a fence left by an agent that died or by a `check` run, a change
 * by hand.  CONFIG SET, then CONFIG REWRITE so a restart keeps the
 * manifest's values (a change by hand may have been rewritten). */
static void repair(heal_step *ps)
{
    const observation *o = ps->o->mode_data;
    const mrd_manifest *m = ps->hc->h->m;
    mrd_error err;
    mrd_error_clear(&err);
    mrd_rc rc = MRD_OK;
    if (o->drift_min_replicas)
        rc = heal_set_min_replicas(ps->hc, ps->hn,
                                   m->settings.consistency.min_replicas_to_write, &err);
    if (rc == MRD_OK) /* set_no_failover rewrites the config, this one too */
        rc = set_no_failover(ps->hc, ps->hn, "no", &err);
    if (rc != MRD_OK) {
        ps->failed = true;
        heal_act(ps, "+heal-failed", ps->hn->proc->label, "%scould not repair %s: %s",
            o->shard_tag, ps->o->drift, err.msg);
        return;
    }
    ps->acted = true;
    heal_act(ps, "+setting-repaired", ps->hn->proc->label,
        "%slive %s; set back to the manifest's values%s", o->shard_tag, ps->o->drift,
        o->drift_no_failover ? ": it may fail over again" : "");
}

/* ==== the fence ==== */

/* A master owning slots that reaches fewer than a majority of the masters
 * owning slots (judge_isolation) is cut off: the majority side elects one
 * of its replicas after cluster-node-timeout, and every write it takes
 * meanwhile is lost when the partition heals.  Redis fences it itself
 * (CLUSTERDOWN) only once it has flagged the other masters PFAIL, 1 to
 * 1.5 x node-timeout after the cut; the agent fences it at its next pass
 * (about agent.interval_ms + the probe timeout): min-replicas-to-write
 * HEAL_FENCE_MIN_REPLICAS, so that it answers NOREPLICAS.  Lifted when a
 * majority answers again, or when it is no longer a master owning slots
 * (the partition healed and the cluster made it a replica of the promoted
 * one: a fence left on a replica would refuse every write once it is
 * promoted).  A partition shorter than the node timeout ends with the
 * master still the master: lifting the fence is right then.  After a
 * longer one Redis itself refuses writes for a rejoin delay (the node
 * timeout, 0.5 to 5 s) while the cluster's new configuration reaches it,
 * so a lift that races with the node's demotion accepts nothing.
 *
 * No CONFIG REWRITE, as in sentinel mode: the fence is the running
 * process's state.  A node restarted (never as a master: a restore makes
 * it a replica) must not come back fenced, since it would refuse every
 * write once promoted.  A fence this agent cannot lift (it died, or a
 * `check` run set it) is repaired by a later pass as drift, once the node
 * is no longer isolated (heal_fence_drift).
 *
 * The agent's own connections leave from this host's address, so a
 * partition of the host's region cuts the agent off exactly as it cuts
 * the node off.  A false alarm (the agent cannot reach the other masters
 * but the node can, e.g. a firewall rule on the agent alone) refuses
 * writes until a pass reaches them again and loses nothing; a fence that
 * comes late loses what Redis' own window loses. */
static void fence(heal_step *ps)
{
    heal_ctx *hc = ps->hc;
    heal_node *hn = ps->hn;
    const mrd_manifest *m = hc->h->m;
    const observation *o = ps->o->mode_data;
    if (!ps->o->f.reachable)
        return;
    mrd_error err;
    mrd_error_clear(&err);
    bool live_fenced = o->live_min_replicas >= HEAL_FENCE_MIN_REPLICAS;
    switch (heal_fence_next(m->settings.agent.fence, o->isolated, hn->fenced, live_fenced)) {
    case HEAL_FENCE_SET:
        if (heal_set_min_replicas(hc, hn, HEAL_FENCE_MIN_REPLICAS, &err) != MRD_OK) {
            ps->failed = true;
            heal_act(ps, "+heal-failed", hn->proc->label, "%scould not fence it: %s",
                o->shard_tag, err.msg);
            return;
        }
        hn->fenced = true;
        ps->acted = true;
        heal_act(ps, "+fenced", hn->proc->label,
            "%sa master that reaches %d of %d masters owning slots (%s): refusing writes "
            "(min-replicas-to-write %d) until it reaches a majority again",
            o->shard_tag, o->reached, o->masters, o->reach, HEAL_FENCE_MIN_REPLICAS);
        break;
    case HEAL_FENCE_ADOPT:
        hn->fenced = true;
        mrd_info("%s/%s: %sfenced already while isolated (%d of %d masters); keeping it",
                 m->host, hn->proc->label, o->shard_tag, o->reached, o->masters);
        break;
    case HEAL_FENCE_LIFT:
        if (heal_set_min_replicas(hc, hn, m->settings.consistency.min_replicas_to_write,
                                  &err) != MRD_OK) {
            ps->failed = true;
            heal_act(ps, "+heal-failed", hn->proc->label, "%scould not lift its fence: %s",
                o->shard_tag, err.msg);
            return;
        }
        hn->fenced = false;
        ps->acted = true;
        if (!m->settings.agent.fence)
            heal_act(ps, "-fenced", hn->proc->label,
                "%sagent.fence is off: min-replicas-to-write %d", o->shard_tag,
                m->settings.consistency.min_replicas_to_write);
        else if (o->masters > 0)
            heal_act(ps, "-fenced", hn->proc->label,
                "%sreaches %d of %d masters owning slots again (%s): min-replicas-to-write %d",
                o->shard_tag, o->reached, o->masters, o->reach,
                m->settings.consistency.min_replicas_to_write);
        else
            heal_act(ps, "-fenced", hn->proc->label,
                "%sno longer a master owning slots%s: min-replicas-to-write %d", o->shard_tag,
                ps->o->f.is_master ? "" : " (now a replica)",
                m->settings.consistency.min_replicas_to_write);
        break;
    case HEAL_FENCE_KEEP:
        break;
    }
}

static const heal_restore_hooks restore_hooks = {
    .master_word = "master",
    .prepare = restore_prepare,
    .ready = restore_ready,
};

static void restore(heal_step *ps)
{
    const observation *o = ps->o->mode_data;
    const heal_facts *f = &ps->o->f;
    const store_cluster_node *me = o->old ? store_cluster_myself(o->old) : NULL;
    char why[160];
    snprintf(why, sizeof(why), "process not running%s%s",
             !f->data_dir_ok                ? " and data dir missing"
             : o->conf == HEAL_CONF_MISSING ? " and nodes.conf missing"
             : o->conf == HEAL_CONF_DAMAGED ? " and nodes.conf damaged"
                                            : "",
             me && (me->flags & STORE_CLUSTER_MASTER) && me->nslots > 0
                 ? " (it was the master; the cluster promoted a replica)"
                 : "");
    heal_restore(ps, &(heal_restore_req){.why = why, .shard = o->shard_tag,
                                         .master = o->leader, .probes = o->probes,
                                         .sh = o->shard, .hooks = &restore_hooks});
}

/* A replica of a node outside its shard (or of one the manifest does not
 * have): CLUSTER REPLICATE the shard's master.  Only replicas: a master
 * may hold data, and its own shard's epochs settle it. */
static void repoint(heal_step *ps)
{
    heal_ctx *hc = ps->hc;
    const mrd_manifest *m = hc->h->m;
    observation *o = ps->o->mode_data;
    const char *label = ps->hn->proc->label;
    store_info self;
    if (ps->o->f.is_master || !node_info(o, ps->hn->node, &self))
        return; /* left to the cluster; reported as not ready */
    int followed = manifest_find_node(m, self.master_host, self.master_port);
    if (followed >= 0 && m->nodes[followed].shard == m->nodes[ps->hn->node].shard)
        return; /* its shard's old master: the cluster moves it by itself */
    const char *id = view_id(hc, o, o->leader);
    store_conn *c = NULL;
    mrd_error err;
    mrd_error_clear(&err);
    mrd_rc rc = id[0] ? heal_node_conn(hc, ps->hn->node, &c, &err)
                      : mrd_error_set(&err, MRD_ERR_STATE, "the master's id is not in the view");
    if (rc == MRD_OK)
        rc = store_cmdl(c, NULL, &err, "CLUSTER", "REPLICATE", id, NULL);
    store_conn_close(&c);
    if (rc != MRD_OK) {
        ps->failed = true;
        heal_act(ps, "+heal-failed", label, "%scould not repoint it to the master: %s",
            o->shard_tag, err.msg);
        return;
    }
    ps->acted = true;
    heal_act(ps, "+repointed", label, "%sfollowed %s:%d, outside its shard; now a replica of %s",
        o->shard_tag, self.master_host, self.master_port, heal_node_host(m, o->leader)->host);
}

/* A running node whose nodes.conf is gone or damaged: CLUSTER SAVECONFIG
 * writes its in-memory state back.  Never a restart, a reset or a new
 * file of ours: the node is serving, and its memory is the truth. */
static void keep_conf(heal_step *ps)
{
    observation *o = ps->o->mode_data;
    if (o->conf == HEAL_CONF_OK || !ps->o->f.reachable)
        return;
    store_conn *c = NULL;
    mrd_error err;
    mrd_error_clear(&err);
    mrd_rc rc = heal_node_conn(ps->hc, ps->hn->node, &c, &err);
    if (rc == MRD_OK)
        rc = store_cmdl(c, NULL, &err, "CLUSTER", "SAVECONFIG", NULL);
    store_conn_close(&c);
    if (rc != MRD_OK) {
        ps->failed = true;
        heal_act(ps, "+heal-failed", ps->hn->proc->label, "%snodes.conf %s; CLUSTER SAVECONFIG "
            "failed: %s", o->shard_tag, o->conf == HEAL_CONF_MISSING ? "missing" : "damaged",
            err.msg);
        return;
    }
    ps->acted = true;
    heal_act(ps, "+nodes-conf-saved", ps->hn->proc->label,
        "%sthe node runs but its nodes.conf was %s; rewritten from its memory "
        "(CLUSTER SAVECONFIG)", o->shard_tag,
        o->conf == HEAL_CONF_MISSING ? "missing" : "damaged");
}

static void cluster_act(heal_step *ps, heal_action a)
{
    keep_conf(ps);
    fence(ps);
    request_failover(ps);
    switch (a) {
    case HEAL_RESTORE:
        restore(ps);
        break;
    case HEAL_REPOINT:
        repoint(ps);
        break;
    case HEAL_REPAIR:
        repair(ps);
        break;
    default:
        /* HEAL_WAIT_FAILOVER, HEAL_ASK_FAILOVER: the cluster elects a
         * replica by itself after cluster-node-timeout.  The lost master's
         * own pass does not ask: it cannot tell a dead master from one it
         * cannot reach, and FORCE skips the handshake that makes a live
         * master's failover lose nothing; the crash fast path, which
         * reaped the process, asks, and so does a replica's pass once a
         * majority of the masters have lost the master too
         * (request_failover) */
        break;
    }
}

/* ==== the agent's start ==== */

bool heal_cluster_may_start_blank(const sv_host *h, int node, int timeout_ms)
{
    const mrd_manifest *m = h->m;
    const mrd_mf_shard *sh = &m->shards[m->nodes[node].shard];
    store_probe *p = calloc((size_t)sh->nnodes, sizeof(*p));
    if (!p)
        return false; /* cannot tell: leave it to the heal pass */
    int n = 0;
    for (int i = sh->first; i < sh->first + sh->nnodes; i++)
        if (i != node)
            p[n++] = (store_probe){.kind = STORE_PROBE_INFO,
                                   .address = manifest_node_address(m, i),
                                   .port = m->nodes[i].port, .user = "admin",
                                   .pass = h->secrets.admin, .cluster = true};
    bool formed = store_probe_all(p, n, timeout_ms) != MRD_OK;
    for (int i = 0; i < n; i++) {
        store_cluster_info ci;
        formed |= p[i].rc == MRD_OK && p[i].cluster_info &&
                  store_cluster_info_parse(p[i].cluster_info, strlen(p[i].cluster_info), &ci,
                                           NULL) == MRD_OK &&
                  ci.slots_assigned > 0;
        store_probe_clear(&p[i]);
    }
    free(p);
    return !formed;
}

/* ==== the host ==== */

/* A cluster-mode host runs its nodes only. */
static bool cluster_host_lost(const heal_ctx *hc, const heal_obs *b)
{
    (void)hc;
    (void)b;
    return false;
}

static void cluster_host_act(heal_step *ps)
{
    (void)ps;
}

static void cluster_host_json(const heal_ctx *hc, const heal_obs *b, json_t *nodes)
{
    (void)hc;
    (void)b;
    (void)nodes;
}

static bool cluster_host_state(const heal_ctx *hc, const heal_obs *b, bool *up, bool *ready,
                               char *reason, size_t n)
{
    (void)hc;
    (void)b;
    (void)up;
    (void)ready;
    (void)reason;
    (void)n;
    return false;
}

/* ==== the crash fast path ==== */

/* The region the plan fails SHARD over to when node DEAD, its master,
 * is lost: its first replica's in the manifest (the planner puts it
 * outside the master's region), or, when that replica is the node that
 * died (it was promoted before), the planned master's. */
static const char *planned_region(const mrd_manifest *m, const mrd_mf_shard *sh, int dead)
{
    int first = -1;
    for (int i = sh->first; i < sh->first + sh->nnodes && first < 0; i++)
        if (i != sh->master)
            first = i;
    int to = first < 0 || first == dead ? sh->master : first;
    return heal_node_host(m, to)->region;
}

/* The master (HN) died on a live host: ask one of the replicas the last
 * pass found caught up (TO) for CLUSTER FAILOVER FORCE now, rather than
 * wait for cluster-node-timeout (PFAIL, then FAIL, then an election).
 * FORCE skips only the handshake with the master, which is dead: the
 * replica still needs the votes of a majority of the slot-owning masters,
 * which vote for a FORCE request even before they flag the master FAIL
 * (CLUSTERMSG_FLAG0_FORCEACK), and each of them once per master per 2 x
 * node-timeout.  So it is the cluster's own election, started early;
 * never TAKEOVER (no votes).  Each candidate is asked for its offset
 * first (one INFO round, HEAL_FAST_TIMEOUT_MS), and the one with the most
 * data is chosen (heal_cluster_failover_target). */
static bool cluster_fail_over_now(const heal_ctx *hc, const heal_node *hn, const int *to,
                                  int nto, const char *died, char *detail, size_t n)
{
    const mrd_manifest *m = hc->h->m;
    const mrd_mf_shard *sh = &m->shards[m->nodes[hn->node].shard];
    if (nto <= 0) {
        snprintf(detail, n, "shard %s: no replica was caught up at the last pass; the cluster "
                 "fails over by itself", sh->name);
        return false;
    }
    store_probe p[HEAL_FAST_MAX];
    heal_fo_candidate c[HEAL_FAST_MAX];
    const char *region = planned_region(m, sh, hn->node);
    for (int i = 0; i < nto; i++) {
        p[i] = (store_probe){.kind = STORE_PROBE_INFO, .address = manifest_node_address(m, to[i]),
                             .port = m->nodes[to[i]].port, .user = "admin",
                             .pass = hc->h->secrets.admin};
        c[i] = (heal_fo_candidate){.node = to[i],
                                   .planned = strcmp(heal_node_host(m, to[i])->region,
                                                     region) == 0};
    }
    if (store_probe_all(p, nto, HEAL_FAST_TIMEOUT_MS) != MRD_OK) {
        snprintf(detail, n, "shard %s: out of memory", sh->name);
        return false;
    }
    for (int i = 0; i < nto; i++) {
        store_info r;
        c[i].answered = p[i].rc == MRD_OK && p[i].info &&
                        store_info_parse(p[i].info, strlen(p[i].info), &r, NULL) == MRD_OK &&
                        !r.is_master;
        c[i].offset = c[i].answered ? r.slave_repl_offset : -1;
        store_probe_clear(&p[i]);
    }
    int k = heal_cluster_failover_target(c, nto);
    if (k < 0) {
        snprintf(detail, n, "shard %s: none of the %d caught-up replica(s) answered; the "
                 "cluster fails over by itself", sh->name, nto);
        return false;
    }
    int target = c[k].node;
    const mrd_mf_host *th = heal_node_host(m, target);
    store_conn *conn = NULL;
    mrd_error err;
    mrd_error_clear(&err);
    mrd_rc rc = store_conn_open(manifest_node_address(m, target), m->nodes[target].port, "admin",
                                hc->h->secrets.admin, HEAL_FAST_TIMEOUT_MS, &conn, &err);
    if (rc == MRD_OK)
        rc = store_cmdl(conn, NULL, &err, "CLUSTER", "FAILOVER", "FORCE", NULL);
    store_conn_close(&conn);
    if (rc != MRD_OK) {
        snprintf(detail, n, "shard %s: CLUSTER FAILOVER FORCE on %s (%s:%d) failed: %s",
                 sh->name, th->host, manifest_node_address(m, target), m->nodes[target].port,
                 err.msg);
        return false;
    }
    snprintf(detail, n, "shard %s: the master's process died (%s); asked %s (%s:%d, %s%s) for "
             "CLUSTER FAILOVER FORCE at once: replication offset %lld, %d caught-up "
             "replica(s)", sh->name, died, th->host, manifest_node_address(m, target),
             m->nodes[target].port, th->region, c[k].planned ? ", the planned region" : "",
             c[k].offset, nto);
    return true;
}

/* A master votes once per master per 2 x node-timeout. */
static long long cluster_fast_path_cooldown_ms(const mrd_manifest *m)
{
    return 2LL * m->settings.cluster.node_timeout_ms;
}

static int cluster_down_after_ms(const mrd_manifest *m)
{
    return m->settings.cluster.node_timeout_ms;
}

static const char *cluster_reason(heal_action a)
{
    switch (a) {
    case HEAL_NONE: return "";
    case HEAL_WAIT_SYNC: return "replica is syncing or catching up";
    case HEAL_WAIT_RECONFIG: return "does not follow its shard's master yet";
    case HEAL_WAIT_SENTINELS: return "the cluster names no master for its shard";
    case HEAL_WAIT_FAILOVER: return "the master is lost; waiting for the cluster to fail over";
    case HEAL_ASK_FAILOVER: return "the master is lost; waiting for the cluster to fail over";
    case HEAL_RESTORE: return "lost: needs a restore";
    case HEAL_BACKOFF: return "lost; backing off after failed or repeated restores";
    case HEAL_REPOINT: return "does not replicate its shard's master";
    case HEAL_REPAIR: return "a safety setting differs from the manifest";
    }
    return "";
}

const heal_mode heal_mode_cluster = {
    .name = "cluster",
    .observe = cluster_observe,
    .obs_free = cluster_obs_free,
    .act = cluster_act,
    .host_lost = cluster_host_lost,
    .host_act = cluster_host_act,
    .host_json = cluster_host_json,
    .host_state = cluster_host_state,
    .fail_over_now = cluster_fail_over_now,
    .fast_path_cooldown_ms = cluster_fast_path_cooldown_ms,
    .down_after_ms = cluster_down_after_ms,
    .reason = cluster_reason,
};
