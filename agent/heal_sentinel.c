/* heal_sentinel.c - the heal pass's sentinel mode (see heal_int.h).
 *
 * A node's master is the one a majority of all the sentinels name for its
 * shard; a lost replica is restored from a peer's snapshot as a replica of
 * it; a lost master is failed over by the sentinels (asked once it has
 * been down longer than down-after, or at once by the crash fast path); a
 * stale master or a replica of the wrong node is repointed; drifted safety
 * settings are repaired; a master cut off from a majority fences itself;
 * the host's sentinel is restarted, and reset when it lists replicas the
 * manifest does not have. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "heal_int.h"
#include "hold.h"
#include "info.h"
#include "log.h"
#include "probe.h"
#include "sentinel.h"

/* ==== observing ==== */

/* What one pass saw of one node of this host, its shard and the
 * sentinels. */
typedef struct observation {
    heal_obs *b;              /* the front end's part: facts, node, drift */
    const mrd_mf_shard *shard;
    int leader;               /* node index the sentinel majority names; -1 */
    int votes, nsentinels;
    store_probe *probes;      /* [0, shard->nnodes): INFO of the shard's
                                 nodes, in order; then the sentinels */
    int nprobes;
    sentinel_view *views;     /* one per host with a sentinel */
    int *view_host;           /* host index of views[i] */
    int nviews;
    bool own_sentinel_alive;
    int own_view;             /* index into views of this host's sentinel, -1 */
    int sentinels_reachable;
    int nodes_reachable;      /* the shard's nodes that answered, this one
                                 included */
} observation;

static observation *obs_of(const heal_obs *b)
{
    return b->mode_data;
}

/* The probe of the shard's node NODE (a manifest node index). */
static const store_probe *node_probe(const observation *o, int node)
{
    return &o->probes[node - o->shard->first];
}

/* The probe of sentinel view V. */
static const store_probe *view_probe(const observation *o, int v)
{
    return &o->probes[o->shard->nnodes + v];
}

static bool node_info(const observation *o, int node, store_info *out)
{
    const store_probe *p = node_probe(o, node);
    return p->rc == MRD_OK && p->info &&
           store_info_parse(p->info, strlen(p->info), out, NULL) == MRD_OK;
}

/* The live settings the plan's safety depends on, compared every pass:
 * replica-priority (0 makes Sentinel skip the replica in a failover, so a
 * region loss may leave nothing to promote) and the min-replicas pair (a
 * leader that refuses every write, or accepts writes no replica has). */
enum { SAFE_PRIORITY, SAFE_MIN_REPLICAS, SAFE_MAX_LAG, SAFE_COUNT };
static const char *const safety_settings[SAFE_COUNT + 1] = {
    [SAFE_PRIORITY] = "replica-priority",
    [SAFE_MIN_REPLICAS] = "min-replicas-to-write",
    [SAFE_MAX_LAG] = "min-replicas-max-lag",
    [SAFE_COUNT] = NULL,
};

/* What the manifest (and a fence this agent holds) wants for setting I of
 * node HN. */
static int safety_wanted(const heal_ctx *hc, const heal_node *hn, int i)
{
    const mrd_manifest *m = hc->h->m;
    switch (i) {
    case SAFE_PRIORITY:
        /* a switchover holds the other replicas out of Sentinel's choice */
        return hold_active(m->root, m->nodes[hn->node].port, mrd_wall_ms())
                   ? 0
                   : m->nodes[hn->node].replica_priority;
    case SAFE_MIN_REPLICAS:
        return hn->fenced ? HEAL_FENCE_MIN_REPLICAS
                          : m->settings.consistency.min_replicas_to_write;
    default:
        return m->settings.consistency.min_replicas_max_lag_s;
    }
}

/* Compare the node's live safety settings (CONFIG GET in the probe) with
 * what the manifest wants; describe the differences in o->b->drift. */
static void check_drift(const heal_ctx *hc, const store_probe *self, observation *o)
{
    size_t len = 0;
    for (int i = 0; i < SAFE_COUNT; i++) {
        const char *live = self->config_values[i];
        int want = safety_wanted(hc, o->b->hn, i);
        char *end;
        if (!live)
            continue; /* not reported: cannot judge */
        long v = strtol(live, &end, 10);
        if (*end == '\0' && end != live && v == want)
            continue;
        int w = snprintf(o->b->drift + len, sizeof(o->b->drift) - len, "%s%s %s (manifest: %d)",
                         len ? ", " : "", safety_settings[i], live, want);
        if (w > 0 && (size_t)w < sizeof(o->b->drift) - len)
            len += (size_t)w;
    }
    o->b->f.settings_drift = o->b->drift[0] != '\0';
}

/* The master a majority of the shard's sentinels name: o->leader (a node
 * index, -1 when none or not in the manifest) and o->votes. */
static void count_votes(const mrd_manifest *m, observation *o)
{
    char named[MRD_MF_MAX_HOSTS][96];
    const char *names[MRD_MF_MAX_HOSTS];
    int n = 0;
    for (int i = 0; i < o->nviews && n < MRD_MF_MAX_HOSTS; i++, n++) {
        snprintf(named[n], sizeof(named[n]), "%s:%d", o->views[i].leader_ip,
                 o->views[i].leader_port);
        names[n] = view_probe(o, i)->rc == MRD_OK ? named[n] : NULL;
    }
    int v = mrd_plurality(names, n, &o->votes);
    if (v < 0)
        return;
    int node = manifest_find_node(m, o->views[v].leader_ip, o->views[v].leader_port);
    o->leader = node >= 0 && &m->shards[m->nodes[node].shard] == o->shard ? node : -1;
}

/* Observe node HN: every node of its shard (INFO; its own with the safety
 * settings' CONFIG GET) and every sentinel (its view of the shard), in one
 * concurrent round. */
static void sentinel_obs_free(heal_obs *b)
{
    observation *o = b->mode_data;
    if (!o)
        return;
    for (int i = 0; i < o->nprobes; i++)
        store_probe_clear(&o->probes[i]);
    free(o->probes);
    free(o->views);
    free(o->view_host);
    free(o);
    b->mode_data = NULL;
}

/* Observe node B->hn: every node of its shard (INFO; its own with the
 * safety settings' CONFIG GET) and every sentinel (its view of the shard),
 * in one concurrent round.  The master is the one a majority of all the
 * sentinels name. */
static mrd_rc sentinel_observe(heal_ctx *hc, heal_obs *b, mrd_error *err)
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
    o->own_view = -1;
    for (int i = 0; i < m->nhosts; i++)
        o->nsentinels += m->hosts[i].sentinel_port != 0;
    o->probes = calloc((size_t)(o->shard->nnodes + o->nsentinels), sizeof(*o->probes));
    o->views = calloc((size_t)(o->nsentinels + 1), sizeof(*o->views));
    o->view_host = calloc((size_t)(o->nsentinels + 1), sizeof(*o->view_host));
    if (!o->probes || !o->views || !o->view_host) {
        sentinel_obs_free(b);
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    const char *admin = hc->h->secrets.admin;
    int k = 0;
    for (int i = o->shard->first; i < o->shard->first + o->shard->nnodes; i++)
        o->probes[k++] = (store_probe){.kind = STORE_PROBE_INFO,
                                       .address = manifest_node_address(m, i),
                                       .port = m->nodes[i].port, .user = "admin",
                                       .pass = admin,
                                       .config = i == hn->node ? safety_settings : NULL};
    for (int i = 0; i < m->nhosts; i++) {
        if (!m->hosts[i].sentinel_port)
            continue;
        if (i == m->self)
            o->own_view = o->nviews;
        o->view_host[o->nviews] = i;
        o->probes[k++] = (store_probe){.kind = STORE_PROBE_SENTINEL,
                                       .address = m->hosts[i].address,
                                       .port = m->hosts[i].sentinel_port,
                                       .user = "admin", .pass = admin,
                                       .master = o->shard->name,
                                       .view = &o->views[o->nviews++]};
    }
    o->nprobes = k;
    mrd_rc rc = store_probe_all(o->probes, k, HEAL_PROBE_TIMEOUT_MS);
    if (rc != MRD_OK) {
        sentinel_obs_free(b);
        return mrd_error_set(err, rc, "out of memory");
    }

    count_votes(m, o);
    for (int i = 0; i < o->nviews; i++)
        if (view_probe(o, i)->rc == MRD_OK) {
            o->sentinels_reachable++;
            b->f.failover_in_progress |= o->views[i].master.failover_in_progress;
        }
    for (int i = 0; i < o->shard->nnodes; i++)
        o->nodes_reachable += o->probes[i].rc == MRD_OK;
    b->f.have_leader = o->leader >= 0 && o->votes >= mrd_majority(o->nsentinels);
    if (!b->f.have_leader)
        o->leader = -1;

    heal_facts *f = &b->f;
    f->self_is_leader = o->leader == hn->node;
    f->lag_bytes = -1;
    store_info self, lead;
    if (node_info(o, hn->node, &self)) {
        f->reachable = true;
        check_drift(hc, node_probe(o, hn->node), o); /* hn->fenced: under the heal lock */
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
    }
    sv_proc *snt = sv_find(hc->h, SV_SENTINEL);
    o->own_sentinel_alive = snt && snt->pid;
    return MRD_OK;
}

/* ==== restoring a lost replica (heal_restore.c, with these hooks) ==== */

/* Restore the plan's replica priority once the node is ready. */
static mrd_rc restore_priority(const heal_ctx *hc, const heal_node *hn, mrd_error *err)
{
    char prio[16];
    /* a node a switchover holds stays at 0 (safety_wanted()) */
    snprintf(prio, sizeof(prio), "%d", safety_wanted(hc, hn, SAFE_PRIORITY));
    store_conn *c = NULL;
    mrd_rc rc = heal_node_conn(hc, hn->node, &c, err);
    if (rc == MRD_OK)
        rc = store_cmdl(c, NULL, err, "CONFIG", "SET", "replica-priority", prio, NULL);
    if (rc == MRD_OK)
        rc = store_cmdl(c, NULL, err, "CONFIG", "REWRITE", NULL);
    store_conn_close(&c);
    return rc;
}

/* replicaof the leader in the config (needed for a partial resync), and
 * not promotable until ready. */
static mrd_rc restore_prepare(heal_step *ps, int leader, mrd_error *err)
{
    return sv_render(ps->hc->h, ps->hn->proc, leader, 0, true, err);
}

static mrd_rc restore_ready(heal_step *ps, char *detail, size_t n, mrd_error *err)
{
    MRD_TRY(restore_priority(ps->hc, ps->hn, err));
    snprintf(detail, n, ", promotable again (replica-priority %d)",
             ps->hc->h->m->nodes[ps->hn->node].replica_priority);
    return MRD_OK;
}

static const heal_restore_hooks restore_hooks = {
    .master_word = "leader",
    .prepare = restore_prepare,
    .ready = restore_ready,
};

static void restore(heal_step *ps, const char *why)
{
    const observation *o = ps->o->mode_data;
    heal_restore(ps, &(heal_restore_req){.why = why, .shard = "", .master = o->leader,
                                         .probes = o->probes, .sh = o->shard,
                                         .hooks = &restore_hooks});
}

/* Ask the first sentinel that answers to fail SHARD over now; its host's
 * name goes to WHO.  With an observation O, only the sentinels it saw
 * answer are asked; without one (the crash fast path), every sentinel,
 * each with a short timeout. */
static bool request_failover(const heal_ctx *hc, const mrd_mf_shard *shard,
                             const observation *o, char *who, size_t n)
{
    const mrd_manifest *m = hc->h->m;
    for (int i = 0; i < m->nhosts; i++) {
        const mrd_mf_host *sh = &m->hosts[i];
        if (!sh->sentinel_port)
            continue;
        if (o) { /* only those the observation saw answer */
            int v = 0;
            while (v < o->nviews && o->view_host[v] != i)
                v++;
            if (v == o->nviews || view_probe(o, v)->rc != MRD_OK)
                continue;
        }
        store_conn *c = NULL;
        mrd_rc rc = store_conn_open(sh->address, sh->sentinel_port, "admin",
                                    hc->h->secrets.admin, o ? HEAL_PROBE_TIMEOUT_MS : 300, &c,
                                    NULL);
        if (rc == MRD_OK)
            rc = store_cmdl(c, NULL, NULL, "SENTINEL", "FAILOVER", shard->name, NULL);
        store_conn_close(&c);
        if (rc == MRD_OK) {
            snprintf(who, n, "%s", sh->host);
            return true;
        }
    }
    return false;
}

static void ask_failover(heal_step *ps)
{
    heal_ctx *hc = ps->hc;
    heal_node *hn = ps->hn;
    const mrd_manifest *m = hc->h->m;
    observation *o = ps->o->mode_data;
    long long now = mrd_wall_ms();
    /* Sentinel refuses a second failover of a master within
     * 2 x failover-timeout; asking more often is noise. */
    if (hn->failover_asked_ms &&
        now - hn->failover_asked_ms < 2LL * m->settings.sentinel.failover_timeout_ms)
        return;
    char who[MRD_MF_NAME];
    if (!request_failover(hc, o->shard, o, who, sizeof(who)))
        return;
    hn->failover_asked_ms = now;
    ps->acted = true;
    heal_act(ps, "+leader-lost", hn->proc->label,
        "the leader's process has been down %lld ms (down-after %d ms); asked "
        "the sentinel on %s to fail over",
        o->b->f.down_ms, m->settings.sentinel.down_after_ms, who);
}

/* A stale master or a replica of the wrong node: REPLICAOF the leader the
 * sentinel majority names (a stale master's writes since the split are
 * lost either way: they never reached the majority side), and CONFIG
 * REWRITE so a restart keeps it. */
static void repoint(heal_step *ps)
{
    heal_ctx *hc = ps->hc;
    const mrd_manifest *m = hc->h->m;
    int leader = obs_of(ps->o)->leader;
    const char *label = ps->hn->proc->label;
    char port[16];
    snprintf(port, sizeof(port), "%d", m->nodes[leader].port);
    store_conn *c = NULL;
    mrd_error err;
    mrd_rc rc = heal_node_conn(hc, ps->hn->node, &c, &err);
    if (rc == MRD_OK)
        rc = store_cmdl(c, NULL, &err, "REPLICAOF", manifest_node_address(m, leader), port,
                        NULL);
    if (rc == MRD_OK)
        rc = store_cmdl(c, NULL, &err, "CONFIG", "REWRITE", NULL);
    store_conn_close(&c);
    if (rc != MRD_OK) {
        ps->failed = true;
        heal_act(ps, "+heal-failed", label, "could not repoint it to the leader: %s", err.msg);
        return;
    }
    ps->acted = true;
    if (ps->o->f.is_master)
        heal_act(ps, "+demoted", label,
            "a master the sentinel majority does not name (they name %s): now its replica",
            heal_node_host(m, leader)->host);
    else
        heal_act(ps, "+repointed", label, "followed another node; now a replica of %s",
            heal_node_host(m, leader)->host);
}

/* Set the node's drifted safety settings back to the manifest's values
 * (CONFIG SET, then CONFIG REWRITE so a restart keeps them). */
static void repair(heal_step *ps)
{
    heal_ctx *hc = ps->hc;
    const char *label = ps->hn->proc->label;
    store_conn *c = NULL;
    mrd_error err;
    mrd_error_clear(&err);
    mrd_rc rc = heal_node_conn(hc, ps->hn->node, &c, &err);
    for (int i = 0; rc == MRD_OK && i < SAFE_COUNT; i++) {
        char want[16];
        snprintf(want, sizeof(want), "%d", safety_wanted(hc, ps->hn, i));
        rc = store_cmdl(c, NULL, &err, "CONFIG", "SET", safety_settings[i], want, NULL);
    }
    if (rc == MRD_OK)
        rc = store_cmdl(c, NULL, &err, "CONFIG", "REWRITE", NULL);
    store_conn_close(&c);
    if (rc != MRD_OK) {
        ps->failed = true;
        heal_act(ps, "+heal-failed", label, "could not repair %s: %s", ps->o->drift, err.msg);
        return;
    }
    ps->acted = true;
    heal_act(ps, "+setting-repaired", label, "live %s; set back to the manifest's values%s",
        ps->o->drift,
        strstr(ps->o->drift, "replica-priority") ? ": promotable again" : "");
}

/* Restart this host's sentinel; re-create its config from the majority's
 * view (the current leader of the shard it monitors) when the file is
 * gone. */
static void heal_sentinel(heal_step *ps)
{
    heal_ctx *hc = ps->hc;
    sv_host *h = hc->h;
    observation *o = ps->o->mode_data;
    sv_proc *snt = sv_find(h, SV_SENTINEL);
    mrd_error err;
    mrd_error_clear(&err);
    bool fresh = !mrd_path_exists(snt->conf);
    if (fresh) {
        if (o->leader < 0) {
            ps->failed = true;
            heal_act(ps, "+heal-failed", "sentinel",
                "config missing and no sentinel majority names a leader to monitor");
            return;
        }
        if (sv_render(h, snt, o->leader, 0, false, &err) != MRD_OK)
            goto failed;
    }
    if (sv_start(h, snt, hc->child_mode ? MRD_SPAWN_CHILD : MRD_SPAWN_DAEMON, &err) !=
            MRD_OK ||
        sv_bootstrap_sentinel(h, snt, &err) != MRD_OK)
        goto failed;
    ps->acted = true;
    heal_act(ps, "+sentinel-restarted", "sentinel", "%s", fresh
        ? "config re-created from the other sentinels' view of the leader"
        : "restarted with its own config");
    return;
failed:
    ps->failed = true;
    heal_act(ps, "+heal-failed", "sentinel", "%s", err.msg);
}

/* SENTINEL RESET this host's sentinel when it lists replicas of the shard
 * that the manifest does not have - one sentinel at a time: only when every
 * other sentinel sees every replica, and never during a failover. */
static void reset_stale(heal_step *ps)
{
    heal_ctx *hc = ps->hc;
    const mrd_manifest *m = hc->h->m;
    observation *o = ps->o->mode_data;
    const mrd_mf_shard *sh = o->shard;
    if (o->own_view < 0 || o->leader < 0 || o->b->f.failover_in_progress ||
        view_probe(o, o->own_view)->rc != MRD_OK)
        return;
    char expected_buf[MRD_MF_MAX_NODES][96], seen_buf[SENTINEL_VIEW_MAX][96];
    const char *expected[MRD_MF_MAX_NODES], *seen[SENTINEL_VIEW_MAX];
    int nexp = 0, stale[SENTINEL_VIEW_MAX];
    for (int i = sh->first; i < sh->first + sh->nnodes; i++)
        if (i != o->leader) {
            snprintf(expected_buf[nexp], 96, "%s:%d", manifest_node_address(m, i),
                     m->nodes[i].port);
            expected[nexp] = expected_buf[nexp];
            nexp++;
        }
    for (int v = 0; v < o->nviews; v++) {
        if (v == o->own_view)
            continue;
        int up = 0;
        for (int i = 0; i < o->views[v].nreplicas; i++)
            up += !o->views[v].replicas[i].down;
        if (view_probe(o, v)->rc != MRD_OK || up < nexp)
            return; /* another sentinel is not complete: maybe mid-reset */
    }
    const sentinel_view *own = &o->views[o->own_view];
    for (int i = 0; i < own->nreplicas; i++) {
        snprintf(seen_buf[i], 96, "%s:%d", own->replicas[i].ip, own->replicas[i].port);
        seen[i] = seen_buf[i];
    }
    int nstale = heal_stale_replicas(seen, own->nreplicas, expected, nexp, stale);
    if (nstale == 0)
        return;
    const mrd_mf_host *self = manifest_self(m);
    store_conn *c = NULL;
    mrd_error err;
    mrd_rc rc = store_conn_open(self->address, self->sentinel_port, "admin",
                                hc->h->secrets.admin, HEAL_PROBE_TIMEOUT_MS, &c, &err);
    if (rc == MRD_OK)
        rc = store_cmdl(c, NULL, &err, "SENTINEL", "RESET", sh->name, NULL);
    store_conn_close(&c);
    if (rc != MRD_OK) {
        heal_act(ps, "+heal-failed", "sentinel", "SENTINEL RESET failed: %s", err.msg);
        ps->failed = true;
        return;
    }
    ps->acted = true;
    heal_act(ps, "+sentinel-reset", "sentinel", "it listed %d replica(s) not in the manifest "
        "(first: %s); reset, waiting up to %d s for it to see every replica again",
        nstale, seen[stale[0]], HEAL_RESET_SETTLE_MS / 1000);
    sv_proc *snt = sv_find(hc->h, SV_SENTINEL);
    mrd_error_clear(&err);
    sv_bootstrap_sentinel(hc->h, snt, &err);
}

/* A master that can reach neither a majority of sentinels nor a majority
 * of its shard's nodes is cut off: the others are electing a new leader, so
 * every write it accepts would be lost when the partition heals.  It fences
 * itself (min-replicas-to-write above any replica count: writes fail with
 * NOREPLICAS) until it sees a majority again.  With the sentinels down but
 * the nodes reachable nobody can fail over, so it keeps writing.  Off (and
 * a fence this agent holds lifted) with agent.fence false. */
static void fence(heal_step *ps)
{
    heal_ctx *hc = ps->hc;
    heal_node *hn = ps->hn;
    const mrd_manifest *m = hc->h->m;
    const observation *o = ps->o->mode_data;
    int nnodes = o->shard->nnodes;
    bool cut_off = m->settings.agent.fence && o->b->f.reachable && o->b->f.is_master &&
                   o->sentinels_reachable < mrd_majority(o->nsentinels) &&
                   o->nodes_reachable < mrd_majority(nnodes);
    mrd_error err;
    if (cut_off && !hn->fenced) {
        if (heal_set_min_replicas(hc, hn, HEAL_FENCE_MIN_REPLICAS, &err) == MRD_OK) {
            hn->fenced = true;
            ps->acted = true;
            heal_act(ps, "+fenced", hn->proc->label,
                "a master that reaches %d of %d sentinels and %d of %d nodes: refusing "
                "writes until it sees a majority again",
                o->sentinels_reachable, o->nsentinels, o->nodes_reachable, nnodes);
        }
    } else if (!cut_off && hn->fenced && o->b->f.reachable) {
        if (heal_set_min_replicas(hc, hn, m->settings.consistency.min_replicas_to_write, &err) ==
            MRD_OK) {
            hn->fenced = false;
            ps->acted = true;
            heal_act(ps, "-fenced", hn->proc->label,
                "sees a majority again: min-replicas-to-write %d",
                m->settings.consistency.min_replicas_to_write);
        }
    }
}

/* This host's sentinel, as observation O (any of the pass's) saw it. */
static json_t *sentinel_json(const heal_ctx *hc, const observation *o)
{
    const sv_proc *snt = sv_find(hc->h, SV_SENTINEL);
    const store_probe *p = view_probe(o, o->own_view);
    char leader[96] = "";
    if (p->rc == MRD_OK)
        snprintf(leader, sizeof(leader), "%s:%d", o->views[o->own_view].leader_ip,
                 o->views[o->own_view].leader_port);
    return json_pack("{s:s,s:i,s:i,s:b,s:o,s:b}", "kind", "sentinel", "port", snt->port,
                     "pid", (int)snt->pid, "up", p->rc == MRD_OK, "leader",
                     leader[0] ? json_string(leader) : json_null(), "ready",
                     p->rc == MRD_OK && o->b->f.have_leader);
}


/* ==== stale sentinel entries (pure) ==== */

int heal_stale_replicas(const char *const *seen, int n, const char *const *expected,
                        int m, int *stale)
{
    int k = 0;
    for (int i = 0; i < n; i++) {
        bool known = false;
        for (int j = 0; j < m && !known; j++)
            known = strcmp(seen[i], expected[j]) == 0;
        /* a second entry for the same address is stale too */
        for (int j = 0; j < i && known; j++)
            known = strcmp(seen[i], seen[j]) != 0;
        if (!known)
            stale[k++] = i;
    }
    return k;
}


/* ==== the mode's table ==== */

static void sentinel_act(heal_step *ps, heal_action a)
{
    const heal_facts *f = &ps->o->f;
    fence(ps);
    switch (a) {
    case HEAL_RESTORE:
        restore(ps, f->data_dir_ok ? "process not running"
                                   : "process not running and data dir missing");
        break;
    case HEAL_ASK_FAILOVER:
        ask_failover(ps);
        break;
    case HEAL_REPOINT:
        repoint(ps);
        break;
    case HEAL_REPAIR:
        repair(ps);
        break;
    case HEAL_NONE:
        /* the host's sentinel, once a pass: in the first node's step */
        if (ps->hn == &ps->hc->nodes[0])
            reset_stale(ps);
        break;
    default:
        break;
    }
}

static bool sentinel_host_lost(const heal_ctx *hc, const heal_obs *b)
{
    return sv_find(hc->h, SV_SENTINEL) && !obs_of(b)->own_sentinel_alive;
}

static void sentinel_host_json(const heal_ctx *hc, const heal_obs *b, json_t *nodes)
{
    if (sv_find(hc->h, SV_SENTINEL) && obs_of(b)->own_view >= 0)
        json_array_append_new(nodes, sentinel_json(hc, obs_of(b)));
}

static bool sentinel_host_state(const heal_ctx *hc, const heal_obs *b, bool *up, bool *ready,
                                char *reason, size_t n)
{
    const observation *o = obs_of(b);
    if (!sv_find(hc->h, SV_SENTINEL) || o->own_view < 0)
        return false;
    *up = view_probe(o, o->own_view)->rc == MRD_OK;
    *ready = *up && b->f.have_leader;
    snprintf(reason, n, "%s", !*up ? "not answering" : b->f.have_leader ? "" : "no majority leader");
    return true;
}

/* Every sentinel may be asked: the fast path does not observe (TO, the
 * observation's choice, is cluster mode's). */
static bool sentinel_fail_over_now(const heal_ctx *hc, const heal_node *hn, const int *to,
                                   int nto, const char *died, char *detail, size_t n)
{
    (void)to;
    (void)nto;
    const mrd_manifest *m = hc->h->m;
    char who[MRD_MF_NAME];
    if (!request_failover(hc, &m->shards[m->nodes[hn->node].shard], NULL, who, sizeof(who))) {
        snprintf(detail, n, "no sentinel took SENTINEL FAILOVER");
        return false;
    }
    snprintf(detail, n, "%s/%s: the leader's process died (%s); asked the sentinel on %s to "
             "fail over at once", m->host, hn->proc->label, died, who);
    return true;
}

/* Sentinel refuses a second failover of a master within 2 x
 * failover-timeout. */
static long long sentinel_fast_path_cooldown_ms(const mrd_manifest *m)
{
    return 2LL * m->settings.sentinel.failover_timeout_ms;
}

static int sentinel_down_after_ms(const mrd_manifest *m)
{
    return m->settings.sentinel.down_after_ms;
}

static const char *sentinel_reason(heal_action a)
{
    switch (a) {
    case HEAL_WAIT_RECONFIG: return "does not follow the leader the sentinels name yet";
    case HEAL_WAIT_SENTINELS: return "no sentinel majority agrees on a leader";
    case HEAL_WAIT_FAILOVER: return "the leader is lost; waiting for the sentinels to fail over";
    case HEAL_ASK_FAILOVER: return "the leader is lost; a failover was requested";
    case HEAL_REPOINT: return "does not follow the leader the sentinels name: repointed";
    default: return NULL; /* the front end's words (heal_reason) */
    }
}

const heal_mode heal_mode_sentinel = {
    .name = "sentinel",
    .observe = sentinel_observe,
    .obs_free = sentinel_obs_free,
    .act = sentinel_act,
    .host_lost = sentinel_host_lost,
    .host_act = heal_sentinel,
    .host_json = sentinel_host_json,
    .host_state = sentinel_host_state,
    .fail_over_now = sentinel_fail_over_now,
    .fast_path_cooldown_ms = sentinel_fast_path_cooldown_ms,
    .down_after_ms = sentinel_down_after_ms,
    .reason = sentinel_reason,
};
