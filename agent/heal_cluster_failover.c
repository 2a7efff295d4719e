/* heal_cluster_failover.c - the failovers cluster mode's agent asks for
 * (see heal_cluster.c, heal_cluster_int.h): the crash fast path's target
 * (a master that died under this agent) and the replica-side failover
 * request (a master lost with its agent). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "heal_cluster_int.h"
#include "info.h"
#include "log.h"
#include "probe.h"

/* ==== pure ==== */

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
    if (f->masters_lost_it < mrd_majority(f->masters))
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
bool heal_cl_fail_over_now(const heal_ctx *hc, const heal_node *hn, const int *to,
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
        if (i == master || !heal_cl_node_info(o, i, &r) || r.is_master ||
            strcmp(r.master_host, manifest_node_address(m, master)) != 0 ||
            r.master_port != m->nodes[master].port)
            continue;
        const store_cluster_node *v = heal_cl_in_view(m, o->view, i);
        const char *nf = i == o->b->hn->node ? heal_cl_node_probe(o, i)->config_values[0] : NULL;
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
void heal_cl_watch_master(const heal_ctx *hc, observation *o, long long t_probe)
{
    const mrd_manifest *m = hc->h->m;
    heal_node *hn = o->b->hn;
    store_info self;
    int master = -1;
    const store_cluster_node *mv = NULL;
    o->rfail = HEAL_RFAIL_MASTER_ANSWERS;
    if (o->view && o->view_node == hn->node && heal_cl_node_info(o, hn->node, &self) &&
        !self.is_master)
        master = manifest_find_node(m, self.master_host, self.master_port);
    if (master >= 0 && master != hn->node && m->nodes[master].shard == m->nodes[hn->node].shard)
        mv = heal_cl_in_view(m, o->view, master);
    /* lost: it did not answer this round and still owns the shard's slots
     * (no replica has taken them over) */
    if (!mv || !(mv->flags & STORE_CLUSTER_MASTER) || mv->nslots <= 0 ||
        heal_cl_node_probe(o, master)->rc == MRD_OK) {
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

/* The verdict of heal_cl_watch_master() is to ask: CLUSTER FAILOVER FORCE on this
 * node (never TAKEOVER). */
void heal_cl_request_failover(heal_step *ps)
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

