#include "heal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conn.h"
#include "fsutil.h"
#include "info.h"
#include "log.h"
#include "probe.h"
#include "sentinel.h"
#include "snapshot.h"

#define PROBE_TIMEOUT_MS 1000
#define HEAL_MAX_ACTIONS 32

/* ==== decisions (pure) ==== */

heal_action heal_decide(const heal_facts *f, int down_after_ms)
{
    /* A node that answers is alive, whatever its pid file says (the file
     * may be gone with its folder), and a live node keeps its data in
     * memory: a missing data dir is recreated, not a reason to restore.  A
     * dead node is lost when its process is gone, or when its data dir is
     * gone too (host rebuilt). */
    bool lost = !f->proc_alive && !f->reachable;
    if (lost) {
        if (!f->have_leader)
            return HEAL_WAIT_SENTINELS;
        if (f->self_is_leader)
            return !f->failover_in_progress && f->down_ms >= down_after_ms
                       ? HEAL_ASK_FAILOVER
                       : HEAL_WAIT_FAILOVER;
        if (f->failover_in_progress)
            return HEAL_WAIT_FAILOVER; /* the leader is about to change */
        return f->backing_off ? HEAL_BACKOFF : HEAL_RESTORE;
    }
    if (!f->reachable)
        return HEAL_WAIT_SYNC; /* alive but busy, e.g. loading a large RDB */
    if (!f->have_leader)
        return HEAL_WAIT_SENTINELS;
    if (f->self_is_leader && !f->is_master)
        return HEAL_WAIT_RECONFIG;
    if (!f->self_is_leader) {
        if (f->is_master || !f->follows_leader)
            return f->failover_in_progress ? HEAL_WAIT_RECONFIG : HEAL_REPOINT;
        if (!f->link_up || f->lag_bytes < 0 || f->lag_bytes > MRD_CAUGHT_UP_LAG_BYTES)
            return HEAL_WAIT_SYNC;
    }
    return f->settings_drift ? HEAL_REPAIR : HEAL_NONE;
}

const char *heal_action_name(heal_action a)
{
    static const char *const names[] = {
        [HEAL_NONE] = "none",
        [HEAL_WAIT_SYNC] = "wait-sync",
        [HEAL_WAIT_RECONFIG] = "wait-reconfig",
        [HEAL_WAIT_SENTINELS] = "wait-sentinels",
        [HEAL_WAIT_FAILOVER] = "wait-failover",
        [HEAL_ASK_FAILOVER] = "ask-failover",
        [HEAL_RESTORE] = "restore",
        [HEAL_BACKOFF] = "backoff",
        [HEAL_REPOINT] = "repoint",
        [HEAL_REPAIR] = "repair",
    };
    return (unsigned)a < sizeof(names) / sizeof(names[0]) ? names[a] : "unknown";
}

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


/* ==== state ==== */

/* One store node of this host: what the last observation said of it, and
 * what is kept across passes (persisted in ROOT/heal-state.json, keyed by
 * port, since cron-mode runs are short-lived). */
typedef struct heal_node {
    int node;                     /* index in the manifest's nodes */
    sv_proc *proc;                /* its process (the host's) */

    /* last observation, for /v1/health and the gauges */
    bool ready;
    char reason[160];
    bool g_up, g_master, g_link;
    long long g_lag;

    /* persisted */
    long long down_since_ms;      /* wall clock; 0: up */
    int failures;                 /* consecutive failed restores */
    long long next_try_ms;        /* wall clock before which no restore */
    long long restores[HEAL_FLAP_COUNT]; /* wall clock of recent restores */
    long long failover_asked_ms;  /* wall clock of the last ask */

    bool last_self_leader;        /* the last pass saw this node serve as the
                                     master the sentinels name */
    bool fenced;                  /* writes refused: isolated from a majority */

    /* metrics */
    long heals_ok, heals_failed;
    long long snapshot_bytes;
    long syncs_partial, syncs_full;
} heal_node;

struct heal_ctx {
    sv_host *h;
    events *ev;
    bool child_mode;
    pthread_mutex_t mu; /* guards the observation fields below */

    heal_node nodes[MRD_MF_MAX_HOST_NODES]; /* this host's, in manifest order */
    int nnodes;

    bool observed;
    bool sentinel_ready;
    char sentinel_reason[160];
    bool g_sentinel_up;
    json_t *last_nodes;           /* /v1/nodes of the last observation */
    long long last_heal_ms;
};

static void state_path(const heal_ctx *hc, char *buf, size_t n)
{
    mrd_path_fmt(buf, n, "%s/heal-state.json", hc->h->m->root);
}

static void state_load(heal_ctx *hc)
{
    char path[MRD_MF_PATH];
    state_path(hc, path, sizeof(path));
    json_t *j = json_load_file(path, 0, NULL);
    if (!j)
        return;
    json_t *all = json_object_get(j, "nodes");
    for (int n = 0; n < hc->nnodes; n++) {
        heal_node *hn = &hc->nodes[n];
        char port[16];
        snprintf(port, sizeof(port), "%d", hn->proc->port);
        json_t *o = json_object_get(all, port);
        if (!json_is_object(o))
            continue;
        hn->down_since_ms = json_integer_value(json_object_get(o, "down_since_ms"));
        hn->failures = (int)json_integer_value(json_object_get(o, "failures"));
        hn->next_try_ms = json_integer_value(json_object_get(o, "next_try_ms"));
        hn->failover_asked_ms = json_integer_value(json_object_get(o, "failover_asked_ms"));
        json_t *r = json_object_get(o, "restores");
        for (int i = 0; i < HEAL_FLAP_COUNT; i++)
            hn->restores[i] = json_integer_value(json_array_get(r, (size_t)i));
    }
    json_decref(j);
}

static void state_save(const heal_ctx *hc)
{
    char path[MRD_MF_PATH];
    state_path(hc, path, sizeof(path));
    json_t *all = json_object();
    for (int n = 0; n < hc->nnodes; n++) {
        const heal_node *hn = &hc->nodes[n];
        json_t *r = json_array();
        for (int i = 0; i < HEAL_FLAP_COUNT; i++)
            json_array_append_new(r, json_integer(hn->restores[i]));
        char port[16];
        snprintf(port, sizeof(port), "%d", hn->proc->port);
        json_object_set_new(all, port,
                            json_pack("{s:I,s:i,s:I,s:I,s:o}", "down_since_ms",
                                      (json_int_t)hn->down_since_ms, "failures", hn->failures,
                                      "next_try_ms", (json_int_t)hn->next_try_ms,
                                      "failover_asked_ms", (json_int_t)hn->failover_asked_ms,
                                      "restores", r));
    }
    json_t *j = json_pack("{s:o}", "nodes", all);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    if (text)
        mrd_write_atomic(path, text, strlen(text), 0600, NULL);
    free(text);
    json_decref(j);
}

heal_ctx *heal_new(sv_host *h, events *ev, bool child_mode)
{
    heal_ctx *hc = calloc(1, sizeof(*hc));
    if (!hc)
        return NULL;
    hc->h = h;
    hc->ev = ev;
    hc->child_mode = child_mode;
    for (int i = 0; i < h->nprocs && hc->nnodes < MRD_MF_MAX_HOST_NODES; i++)
        if (h->procs[i].kind == SV_REDIS)
            hc->nodes[hc->nnodes++] = (heal_node){.node = h->procs[i].node,
                                                  .proc = &h->procs[i]};
    pthread_mutex_init(&hc->mu, NULL);
    state_load(hc);
    return hc;
}

void heal_free(heal_ctx **hc)
{
    if (!hc || !*hc)
        return;
    pthread_mutex_destroy(&(*hc)->mu);
    json_decref((*hc)->last_nodes);
    free(*hc);
    *hc = NULL;
}

/* ==== observing ==== */

/* What one pass saw of one node of this host, its shard and the
 * sentinels. */
typedef struct observation {
    heal_facts f;
    heal_node *hn;            /* the node observed */
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
    char drift[256];          /* "replica-priority 0 (manifest: 110), ..." */
} observation;

static void observation_free(observation *o)
{
    for (int i = 0; i < o->nprobes; i++)
        store_probe_clear(&o->probes[i]);
    free(o->probes);
    free(o->views);
    free(o->view_host);
    memset(o, 0, sizeof(*o));
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
        return m->nodes[hn->node].replica_priority;
    case SAFE_MIN_REPLICAS:
        return hn->fenced ? HEAL_FENCE_MIN_REPLICAS
                          : m->settings.consistency.min_replicas_to_write;
    default:
        return m->settings.consistency.min_replicas_max_lag_s;
    }
}

/* Compare the node's live safety settings (CONFIG GET in the probe) with
 * what the manifest wants; describe the differences in o->drift. */
static void check_drift(const heal_ctx *hc, const store_probe *self, observation *o)
{
    size_t len = 0;
    for (int i = 0; i < SAFE_COUNT; i++) {
        const char *live = self->config_values[i];
        int want = safety_wanted(hc, o->hn, i);
        char *end;
        if (!live)
            continue; /* not reported: cannot judge */
        long v = strtol(live, &end, 10);
        if (*end == '\0' && end != live && v == want)
            continue;
        int w = snprintf(o->drift + len, sizeof(o->drift) - len, "%s%s %s (manifest: %d)",
                         len ? ", " : "", safety_settings[i], live, want);
        if (w > 0 && (size_t)w < sizeof(o->drift) - len)
            len += (size_t)w;
    }
    o->f.settings_drift = o->drift[0] != '\0';
}

/* The master a majority of the shard's sentinels name: o->leader (a node
 * index, -1 when none or not in the manifest) and o->votes. */
static void count_votes(const mrd_manifest *m, observation *o)
{
    for (int i = 0; i < o->nviews; i++) {
        if (view_probe(o, i)->rc != MRD_OK)
            continue;
        int votes = 0;
        for (int j = 0; j < o->nviews; j++)
            votes += view_probe(o, j)->rc == MRD_OK &&
                     strcmp(o->views[i].leader_ip, o->views[j].leader_ip) == 0 &&
                     o->views[i].leader_port == o->views[j].leader_port;
        if (votes <= o->votes)
            continue;
        o->votes = votes;
        int n = manifest_find_node(m, o->views[i].leader_ip, o->views[i].leader_port);
        o->leader = n >= 0 && &m->shards[m->nodes[n].shard] == o->shard ? n : -1;
    }
}

/* Observe node HN: every node of its shard (INFO; its own with the safety
 * settings' CONFIG GET) and every sentinel (its view of the shard), in one
 * concurrent round. */
static mrd_rc observe(heal_ctx *hc, heal_node *hn, observation *o, mrd_error *err)
{
    const mrd_manifest *m = hc->h->m;
    memset(o, 0, sizeof(*o));
    o->hn = hn;
    o->shard = &m->shards[m->nodes[hn->node].shard];
    o->leader = -1;
    o->own_view = -1;
    for (int i = 0; i < m->nhosts; i++)
        o->nsentinels += m->hosts[i].sentinel_port != 0;
    o->probes = calloc((size_t)(o->shard->nnodes + o->nsentinels), sizeof(*o->probes));
    o->views = calloc((size_t)(o->nsentinels + 1), sizeof(*o->views));
    o->view_host = calloc((size_t)(o->nsentinels + 1), sizeof(*o->view_host));
    if (!o->probes || !o->views || !o->view_host) {
        observation_free(o);
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
    sv_reap(hc->h);
    sv_refresh(hc->h);
    mrd_rc rc = store_probe_all(o->probes, k, PROBE_TIMEOUT_MS);
    if (rc != MRD_OK) {
        observation_free(o);
        return mrd_error_set(err, rc, "out of memory");
    }

    count_votes(m, o);
    for (int i = 0; i < o->nviews; i++)
        if (view_probe(o, i)->rc == MRD_OK) {
            o->sentinels_reachable++;
            o->f.failover_in_progress |= o->views[i].master.failover_in_progress;
        }
    for (int i = 0; i < o->shard->nnodes; i++)
        o->nodes_reachable += o->probes[i].rc == MRD_OK;
    o->f.have_leader = o->leader >= 0 && o->votes >= mrd_majority(o->nsentinels);
    if (!o->f.have_leader)
        o->leader = -1;

    /* this host's processes */
    sv_proc *redis = hn->proc, *snt = sv_find(hc->h, SV_SENTINEL);
    heal_facts *f = &o->f;
    f->proc_alive = redis->pid != 0;
    f->data_dir_ok = mrd_path_exists(redis->dir);
    f->self_is_leader = o->leader == hn->node;
    f->lag_bytes = -1;
    store_info self, lead;
    if (node_info(o, hn->node, &self)) {
        f->reachable = true;
        check_drift(hc, node_probe(o, hn->node), o); /* hn->fenced: under the heal lock */
        f->is_master = self.is_master;
        f->link_up = self.link_up;
        if (o->leader >= 0) {
            f->follows_leader = strcmp(self.master_host, manifest_node_address(m, o->leader)) == 0 &&
                                self.master_port == m->nodes[o->leader].port;
            if (!self.is_master && node_info(o, o->leader, &lead))
                f->lag_bytes = lead.master_repl_offset > self.slave_repl_offset
                                   ? lead.master_repl_offset - self.slave_repl_offset
                                   : 0;
        }
    }
    o->own_sentinel_alive = snt && snt->pid;

    long long now = mrd_wall_ms();
    pthread_mutex_lock(&hc->mu);
    if (f->proc_alive)
        hn->down_since_ms = 0;
    else if (!hn->down_since_ms)
        hn->down_since_ms = now;
    f->down_ms = f->proc_alive ? 0 : now - hn->down_since_ms;
    f->backing_off = hn->next_try_ms > now;
    pthread_mutex_unlock(&hc->mu);
    return MRD_OK;
}

/* ==== acting ==== */

typedef struct pass {
    heal_ctx *hc;
    observation *o;
    heal_node *hn;  /* the node this part of the pass is about */
    json_t *actions;
    bool acted;  /* something was changed */
    bool failed; /* something could not be healed */
    char summary[256];
} pass;

static void act(pass *ps, const char *event, const char *proc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Record an action: the report, the log and the webhooks. */
static void act(pass *ps, const char *event, const char *proc, const char *fmt, ...)
{
    char node[160], detail[512];
    snprintf(node, sizeof(node), "%s/%s", ps->hc->h->m->host, proc);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    events_emit(ps->hc->ev, event, node, "%s", detail);
    if (json_array_size(ps->actions) < HEAL_MAX_ACTIONS)
        json_array_append_new(ps->actions, json_pack("{s:s,s:s,s:s}", "event", event,
                                                     "node", node, "detail", detail));
}

/* The host holding node I. */
static const mrd_mf_host *node_host(const mrd_manifest *m, int i)
{
    return &m->hosts[m->nodes[i].host];
}

/* The snapshot source: a healthy replica of the leader in this region with
 * the least lag, else one in another region, else the leader. */
static int choose_source(const heal_ctx *hc, const observation *o)
{
    const mrd_manifest *m = hc->h->m;
    const mrd_mf_host *self = manifest_self(m);
    store_info lead, info;
    if (!node_info(o, o->leader, &lead))
        return -1;
    int best = -1;
    bool best_local = false;
    long long best_lag = 0;
    for (int i = o->shard->first; i < o->shard->first + o->shard->nnodes; i++) {
        if (i == o->hn->node || i == o->leader || !node_info(o, i, &info) || info.is_master ||
            !info.link_up || strcmp(info.master_host, manifest_node_address(m, o->leader)) != 0 ||
            info.master_port != m->nodes[o->leader].port)
            continue;
        long long lag = lead.master_repl_offset - info.slave_repl_offset;
        bool local = strcmp(node_host(m, i)->region, self->region) == 0;
        if (best < 0 || (local && !best_local) || (local == best_local && lag < best_lag)) {
            best = i;
            best_local = local;
            best_lag = lag;
        }
    }
    return best >= 0 ? best : o->leader;
}

/* An admin connection to node I. */
static mrd_rc node_conn(const heal_ctx *hc, int i, store_conn **c, mrd_error *err)
{
    const mrd_manifest *m = hc->h->m;
    return store_conn_open(manifest_node_address(m, i), m->nodes[i].port, "admin",
                           hc->h->secrets.admin, PROBE_TIMEOUT_MS, c, err);
}

static mrd_rc leader_stats(const heal_ctx *hc, int leader, store_info *out)
{
    store_conn *c = NULL;
    char *text = NULL;
    mrd_rc rc = node_conn(hc, leader, &c, NULL);
    if (rc == MRD_OK)
        rc = store_info_text(c, NULL, &text, NULL);
    if (rc == MRD_OK)
        rc = store_info_parse(text, strlen(text), out, NULL);
    free(text);
    store_conn_close(&c);
    return rc;
}

/* Remove temporary files a killed restore may have left in DIR. */
static void clean_partial(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) {
            char path[MRD_MF_PATH];
            if (mrd_path_fmt(path, sizeof(path), "%s/%s", dir, e->d_name) == MRD_OK)
                unlink(path);
        }
    closedir(d);
}

/* Wait for the restored node HN to link up and catch up with LEADER.  On
 * success, fill *lag and return MRD_OK. */
static mrd_rc wait_ready(const heal_ctx *hc, const heal_node *hn, int leader, long long *lag,
                         mrd_error *err)
{
    long long deadline = mrd_now_ms() + HEAL_SYNC_TIMEOUT_MS;
    while (mrd_now_ms() < deadline) {
        store_conn *c = NULL;
        char *text = NULL;
        store_info me, lead;
        bool ok = node_conn(hc, hn->node, &c, NULL) == MRD_OK &&
                  store_info_text(c, "replication", &text, NULL) == MRD_OK &&
                  store_info_parse(text, strlen(text), &me, NULL) == MRD_OK && me.link_up &&
                  !me.sync_in_progress && leader_stats(hc, leader, &lead) == MRD_OK;
        free(text);
        store_conn_close(&c);
        if (ok) {
            *lag = lead.master_repl_offset > me.slave_repl_offset
                       ? lead.master_repl_offset - me.slave_repl_offset
                       : 0;
            if (*lag <= MRD_CAUGHT_UP_LAG_BYTES)
                return MRD_OK;
        }
        mrd_sleep_ms(50);
    }
    return mrd_error_set(err, MRD_ERR_TIMEOUT,
                         "not linked and caught up with %s within %d s",
                         node_host(hc->h->m, leader)->host, HEAL_SYNC_TIMEOUT_MS / 1000);
}

/* Restore the plan's replica priority once the node is ready. */
static mrd_rc restore_priority(const heal_ctx *hc, const heal_node *hn, mrd_error *err)
{
    char prio[16];
    snprintf(prio, sizeof(prio), "%d", hc->h->m->nodes[hn->node].replica_priority);
    store_conn *c = NULL;
    mrd_rc rc = node_conn(hc, hn->node, &c, err);
    if (rc == MRD_OK)
        rc = store_cmdl(c, NULL, err, "CONFIG", "SET", "replica-priority", prio, NULL);
    if (rc == MRD_OK)
        rc = store_cmdl(c, NULL, err, "CONFIG", "REWRITE", NULL);
    store_conn_close(&c);
    return rc;
}

static void note_failure(heal_node *hn)
{
    hn->failures++;
    long long delay = HEAL_BACKOFF_FIRST_MS;
    for (int i = 1; i < hn->failures && delay < HEAL_BACKOFF_MAX_MS; i++)
        delay *= 2;
    if (delay > HEAL_BACKOFF_MAX_MS)
        delay = HEAL_BACKOFF_MAX_MS;
    hn->next_try_ms = mrd_wall_ms() + delay;
}

/* Remember a restore; true when the node now flaps (too many restores in
 * the window), which starts a backoff. */
static bool note_restore(heal_node *hn)
{
    long long now = mrd_wall_ms();
    memmove(&hn->restores[1], &hn->restores[0],
            sizeof(hn->restores[0]) * (HEAL_FLAP_COUNT - 1));
    hn->restores[0] = now;
    return hn->restores[HEAL_FLAP_COUNT - 1] &&
           now - hn->restores[HEAL_FLAP_COUNT - 1] < HEAL_FLAP_WINDOW_MS;
}

static void restore(pass *ps, const char *why)
{
    heal_ctx *hc = ps->hc;
    heal_node *hn = ps->hn;
    sv_host *h = hc->h;
    const mrd_manifest *m = h->m;
    observation *o = ps->o;
    sv_proc *redis = hn->proc;
    const char *label = redis->label;
    int leader = o->leader;
    const mrd_mf_host *lh = node_host(m, leader);
    mrd_error err;
    mrd_error_clear(&err);
    long long t0 = mrd_now_ms();
    ps->acted = true;
    act(ps, "+replica-lost", label, "%s; leader is %s (%s:%d)", why, lh->host, lh->address,
        m->nodes[leader].port);

    if (redis->pid && mrd_proc_stop(redis->pid, 5000, &err) != MRD_OK)
        goto failed;
    redis->pid = 0;
    int src = choose_source(hc, o);
    if (src < 0) {
        mrd_error_set(&err, MRD_ERR_STATE, "no healthy snapshot source answers");
        goto failed;
    }
    const mrd_mf_host *sh = node_host(m, src);
    char dump[MRD_MF_PATH];
    if (mrd_mkdir_p(redis->dir, 0700, &err) != MRD_OK ||
        mrd_path_fmt(dump, sizeof(dump), "%s/dump.rdb", redis->dir) != MRD_OK)
        goto failed;
    clean_partial(redis->dir);
    store_snapshot snap;
    if (store_snapshot_fetch(sh->address, m->nodes[src].port, "replication",
                             h->secrets.replication, dump, HEAL_FETCH_TIMEOUT_MS, &snap,
                             &err) != MRD_OK)
        goto failed;
    hn->snapshot_bytes += snap.bytes;
    act(ps, "+snapshot-fetched", label,
        "from %s %s(%s:%d): %.1f MB in %.2f s, replication offset %lld", sh->host,
        src == leader ? "the leader " : "", sh->address, m->nodes[src].port,
        (double)snap.bytes / 1e6, (double)snap.duration_ms / 1000.0, snap.repl_offset);

    store_info before, after;
    bool stats = leader_stats(hc, leader, &before) == MRD_OK;
    /* replicaof the leader in the config (needed for a partial resync),
     * and not promotable until ready */
    if (sv_render(h, redis, leader, 0, &err) != MRD_OK ||
        sv_start(h, redis, hc->child_mode ? MRD_SPAWN_CHILD : MRD_SPAWN_DAEMON,
                 &err) != MRD_OK)
        goto failed;
    long long lag = 0;
    if (wait_ready(hc, hn, leader, &lag, &err) != MRD_OK)
        goto failed;
    if (stats && leader_stats(hc, leader, &after) == MRD_OK) {
        if (after.sync_full > before.sync_full) {
            hn->syncs_full++;
            act(ps, "+full-resync", label,
                "the leader sent the whole dataset (its backlog no longer covered the "
                "snapshot's offset %lld): sync_full %lld -> %lld",
                snap.repl_offset, before.sync_full, after.sync_full);
        } else if (after.sync_partial_ok > before.sync_partial_ok) {
            hn->syncs_partial++;
            act(ps, "+partial-resync", label,
                "the leader sent only the writes since the snapshot: sync_partial_ok "
                "%lld -> %lld, sync_full unchanged at %lld",
                before.sync_partial_ok, after.sync_partial_ok, after.sync_full);
        }
    }
    if (restore_priority(hc, hn, &err) != MRD_OK)
        goto failed;
    act(ps, "+replica-ready", label,
        "linked to %s, lag %lld bytes, promotable again (replica-priority %d); restored "
        "in %.2f s",
        lh->host, lag, m->nodes[hn->node].replica_priority,
        (double)(mrd_now_ms() - t0) / 1000.0);
    hn->failures = 0;
    hn->next_try_ms = 0;
    hn->heals_ok++;
    if (note_restore(hn)) {
        hn->next_try_ms = mrd_wall_ms() + HEAL_BACKOFF_FIRST_MS;
        act(ps, "+backoff", label,
            "restored %d times within %d minutes: the node keeps dying; the next "
            "restore waits %d s",
            HEAL_FLAP_COUNT, HEAL_FLAP_WINDOW_MS / 60000, HEAL_BACKOFF_FIRST_MS / 1000);
    }
    snprintf(ps->summary, sizeof(ps->summary), "restored %s from %s", label, sh->host);
    return;
failed:
    hn->heals_failed++;
    note_failure(hn);
    ps->failed = true;
    act(ps, "+heal-failed", label, "%s; next attempt in %lld s", err.msg,
        (hn->next_try_ms - mrd_wall_ms()) / 1000);
    snprintf(ps->summary, sizeof(ps->summary), "could not restore %s: %s", label, err.msg);
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
                                    hc->h->secrets.admin, o ? PROBE_TIMEOUT_MS : 300, &c,
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

static void ask_failover(pass *ps)
{
    heal_ctx *hc = ps->hc;
    heal_node *hn = ps->hn;
    const mrd_manifest *m = hc->h->m;
    observation *o = ps->o;
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
    act(ps, "+leader-lost", hn->proc->label,
        "the leader's process has been down %lld ms (down-after %d ms); asked "
        "the sentinel on %s to fail over",
        o->f.down_ms, m->settings.sentinel.down_after_ms, who);
}

/* A stale master or a replica of the wrong node: REPLICAOF the leader the
 * sentinel majority names (a stale master's writes since the split are
 * lost either way: they never reached the majority side), and CONFIG
 * REWRITE so a restart keeps it. */
static void repoint(pass *ps)
{
    heal_ctx *hc = ps->hc;
    const mrd_manifest *m = hc->h->m;
    int leader = ps->o->leader;
    const char *label = ps->hn->proc->label;
    char port[16];
    snprintf(port, sizeof(port), "%d", m->nodes[leader].port);
    store_conn *c = NULL;
    mrd_error err;
    mrd_rc rc = node_conn(hc, ps->hn->node, &c, &err);
    if (rc == MRD_OK)
        rc = store_cmdl(c, NULL, &err, "REPLICAOF", manifest_node_address(m, leader), port,
                        NULL);
    if (rc == MRD_OK)
        rc = store_cmdl(c, NULL, &err, "CONFIG", "REWRITE", NULL);
    store_conn_close(&c);
    if (rc != MRD_OK) {
        ps->failed = true;
        act(ps, "+heal-failed", label, "could not repoint it to the leader: %s", err.msg);
        return;
    }
    ps->acted = true;
    if (ps->o->f.is_master)
        act(ps, "+demoted", label,
            "a master the sentinel majority does not name (they name %s): now its replica",
            node_host(m, leader)->host);
    else
        act(ps, "+repointed", label, "followed another node; now a replica of %s",
            node_host(m, leader)->host);
}

/* Set the node's drifted safety settings back to the manifest's values
 * (CONFIG SET, then CONFIG REWRITE so a restart keeps them). */
static void repair(pass *ps)
{
    heal_ctx *hc = ps->hc;
    const char *label = ps->hn->proc->label;
    store_conn *c = NULL;
    mrd_error err;
    mrd_error_clear(&err);
    mrd_rc rc = node_conn(hc, ps->hn->node, &c, &err);
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
        act(ps, "+heal-failed", label, "could not repair %s: %s", ps->o->drift, err.msg);
        return;
    }
    ps->acted = true;
    act(ps, "+setting-repaired", label, "live %s; set back to the manifest's values%s",
        ps->o->drift,
        strstr(ps->o->drift, "replica-priority") ? ": promotable again" : "");
}

/* Restart this host's sentinel; re-create its config from the majority's
 * view (the current leader of the shard it monitors) when the file is
 * gone. */
static void heal_sentinel(pass *ps)
{
    heal_ctx *hc = ps->hc;
    sv_host *h = hc->h;
    observation *o = ps->o;
    sv_proc *snt = sv_find(h, SV_SENTINEL);
    mrd_error err;
    mrd_error_clear(&err);
    bool fresh = !mrd_path_exists(snt->conf);
    if (fresh) {
        if (o->leader < 0) {
            ps->failed = true;
            act(ps, "+heal-failed", "sentinel",
                "config missing and no sentinel majority names a leader to monitor");
            return;
        }
        if (sv_render(h, snt, o->leader, 0, &err) != MRD_OK)
            goto failed;
    }
    if (sv_start(h, snt, hc->child_mode ? MRD_SPAWN_CHILD : MRD_SPAWN_DAEMON, &err) !=
            MRD_OK ||
        sv_bootstrap_sentinel(h, snt, &err) != MRD_OK)
        goto failed;
    ps->acted = true;
    act(ps, "+sentinel-restarted", "sentinel", "%s", fresh
        ? "config re-created from the other sentinels' view of the leader"
        : "restarted with its own config");
    return;
failed:
    ps->failed = true;
    act(ps, "+heal-failed", "sentinel", "%s", err.msg);
}

/* SENTINEL RESET this host's sentinel when it lists replicas of the shard
 * that the manifest does not have - one sentinel at a time: only when every
 * other sentinel sees every replica, and never during a failover. */
static void reset_stale(pass *ps)
{
    heal_ctx *hc = ps->hc;
    const mrd_manifest *m = hc->h->m;
    observation *o = ps->o;
    const mrd_mf_shard *sh = o->shard;
    if (o->own_view < 0 || o->leader < 0 || o->f.failover_in_progress ||
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
                                hc->h->secrets.admin, PROBE_TIMEOUT_MS, &c, &err);
    if (rc == MRD_OK)
        rc = store_cmdl(c, NULL, &err, "SENTINEL", "RESET", sh->name, NULL);
    store_conn_close(&c);
    if (rc != MRD_OK) {
        act(ps, "+heal-failed", "sentinel", "SENTINEL RESET failed: %s", err.msg);
        ps->failed = true;
        return;
    }
    ps->acted = true;
    act(ps, "+sentinel-reset", "sentinel", "it listed %d replica(s) not in the manifest "
        "(first: %s); reset, waiting up to %d s for it to see every replica again",
        nstale, seen[stale[0]], HEAL_RESET_SETTLE_MS / 1000);
    sv_proc *snt = sv_find(hc->h, SV_SENTINEL);
    mrd_error_clear(&err);
    sv_bootstrap_sentinel(hc->h, snt, &err);
}

/* ==== fencing and the crash fast path ==== */

static int take_heal_lock(const heal_ctx *hc, int wait_ms);

static mrd_rc set_min_replicas(const heal_ctx *hc, const heal_node *hn, int n,
                               mrd_error *err)
{
    char val[16];
    snprintf(val, sizeof(val), "%d", n);
    store_conn *c = NULL;
    mrd_rc rc = node_conn(hc, hn->node, &c, err);
    if (rc == MRD_OK)
        rc = store_cmdl(c, NULL, err, "CONFIG", "SET", "min-replicas-to-write", val, NULL);
    store_conn_close(&c);
    return rc;
}

/* A master that can reach neither a majority of sentinels nor a majority
 * of its shard's nodes is cut off: the others are electing a new leader, so
 * every write it accepts would be lost when the partition heals.  It fences
 * itself (min-replicas-to-write above any replica count: writes fail with
 * NOREPLICAS) until it sees a majority again.  With the sentinels down but
 * the nodes reachable nobody can fail over, so it keeps writing. */
static void fence(pass *ps)
{
    heal_ctx *hc = ps->hc;
    heal_node *hn = ps->hn;
    const mrd_manifest *m = hc->h->m;
    const observation *o = ps->o;
    int nnodes = o->shard->nnodes;
    bool cut_off = o->f.reachable && o->f.is_master &&
                   o->sentinels_reachable < mrd_majority(o->nsentinels) &&
                   o->nodes_reachable < mrd_majority(nnodes);
    mrd_error err;
    if (cut_off && !hn->fenced) {
        if (set_min_replicas(hc, hn, HEAL_FENCE_MIN_REPLICAS, &err) == MRD_OK) {
            hn->fenced = true;
            ps->acted = true;
            act(ps, "+fenced", hn->proc->label,
                "a master that reaches %d of %d sentinels and %d of %d nodes: refusing "
                "writes until it sees a majority again",
                o->sentinels_reachable, o->nsentinels, o->nodes_reachable, nnodes);
        }
    } else if (!cut_off && hn->fenced && o->f.reachable) {
        if (set_min_replicas(hc, hn, m->settings.consistency.min_replicas_to_write, &err) ==
            MRD_OK) {
            hn->fenced = false;
            ps->acted = true;
            act(ps, "-fenced", hn->proc->label,
                "sees a majority again: min-replicas-to-write %d",
                m->settings.consistency.min_replicas_to_write);
        }
    }
}

/* The crash fast path for one node. */
static void watch_node(heal_ctx *hc, heal_node *hn)
{
    sv_proc *redis = hn->proc;
    if (!redis->pid || !redis->child)
        return;
    /* peek without reaping: the common case costs one syscall */
    siginfo_t info = {0};
    if (waitid(P_PID, (id_t)redis->pid, &info, WEXITED | WNOHANG | WNOWAIT) != 0 ||
        info.si_pid == 0)
        return;
    /* a pass running in another thread reaps and reacts itself */
    int lock = take_heal_lock(hc, 0);
    if (lock < 0)
        return;
    int status;
    pid_t pid = redis->pid;
    if (waitpid(pid, &status, WNOHANG) == pid) {
        long long t0 = mrd_now_ms();
        redis->pid = 0;
        redis->child = false;
        const mrd_manifest *m = hc->h->m;
        long long now = mrd_wall_ms();
        bool recent = hn->failover_asked_ms &&
                      now - hn->failover_asked_ms < 2LL * m->settings.sentinel.failover_timeout_ms;
        /* The process is gone (we reaped it), so the leader cannot still be
         * answering; ask once per Sentinel cooldown, never twice. */
        char who[MRD_MF_NAME] = "";
        if (hn->last_self_leader && m->settings.agent.crash_fast_path && !recent &&
            request_failover(hc, &m->shards[m->nodes[hn->node].shard], NULL, who,
                             sizeof(who))) {
            hn->failover_asked_ms = now;
            hn->last_self_leader = false;
            events_emit(hc->ev, "+leader-crashed", redis->label,
                        "%s/%s: the leader's process died (%s %d); asked the sentinel on "
                        "%s to fail over at once (%lld ms)",
                        m->host, redis->label, WIFSIGNALED(status) ? "signal" : "exit status",
                        WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), who,
                        mrd_now_ms() - t0);
            state_save(hc);
        } else {
            mrd_warn("%s/%s: pid %d %s %d", m->host, redis->label, (int)pid,
                     WIFSIGNALED(status) ? "killed by signal" : "exited with status",
                     WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        }
    }
    close(lock);
}

void heal_watch(heal_ctx *hc)
{
    for (int i = 0; i < hc->nnodes; i++)
        watch_node(hc, &hc->nodes[i]);
}

/* ==== the pass ==== */

static json_t *node_json(const observation *o, heal_action a)
{
    const sv_proc *redis = o->hn->proc;
    const heal_facts *f = &o->f;
    const char *role = !f->reachable ? "down" : f->is_master ? "leader" : "replica";
    return json_pack("{s:s,s:i,s:i,s:b,s:s,s:o,s:o,s:s,s:b,s:s}", "kind", "redis", "port",
                     redis->port, "pid", (int)redis->pid, "up", f->reachable, "role", role,
                     "link",
                     f->reachable && !f->is_master ? json_string(f->link_up ? "up" : "down")
                                                   : json_null(),
                     "lag_bytes", f->lag_bytes >= 0 ? json_integer(f->lag_bytes) : json_null(),
                     "data_dir", f->data_dir_ok ? "ok" : "missing", "ready", a == HEAL_NONE,
                     "action", heal_action_name(a));
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
                     p->rc == MRD_OK && o->f.have_leader);
}

static const char *wait_reason(heal_action a)
{
    switch (a) {
    case HEAL_NONE: return "";
    case HEAL_WAIT_SYNC: return "replica is syncing or catching up";
    case HEAL_WAIT_RECONFIG: return "does not follow the leader the sentinels name yet";
    case HEAL_WAIT_SENTINELS: return "no sentinel majority agrees on a leader";
    case HEAL_WAIT_FAILOVER: return "the leader is lost; waiting for the sentinels to fail over";
    case HEAL_ASK_FAILOVER: return "the leader is lost; a failover was requested";
    case HEAL_RESTORE: return "lost: needs a restore";
    case HEAL_BACKOFF: return "lost; backing off after failed or repeated restores";
    case HEAL_REPOINT: return "does not follow the leader the sentinels name: repointed";
    case HEAL_REPAIR: return "a safety setting differs from the manifest";
    }
    return "";
}

/* The observations of one pass (or of a /v1/nodes call): one per node of
 * this host, and the action each node's facts decide. */
typedef struct round {
    observation obs[MRD_MF_MAX_HOST_NODES];
    heal_action actions[MRD_MF_MAX_HOST_NODES];
    int n;        /* observed so far (all of hc->nnodes on success) */
} round;

static void round_free(round *r)
{
    for (int i = 0; i < r->n; i++)
        observation_free(&r->obs[i]);
    r->n = 0;
}

static mrd_rc observe_all(heal_ctx *hc, round *r, mrd_error *err)
{
    r->n = 0;
    for (int i = 0; i < hc->nnodes; i++) {
        mrd_rc rc = observe(hc, &hc->nodes[i], &r->obs[i], err);
        if (rc != MRD_OK) {
            round_free(r);
            return rc;
        }
        r->actions[i] = heal_decide(&r->obs[i].f, hc->h->m->settings.sentinel.down_after_ms);
        r->n++;
    }
    return MRD_OK;
}

/* The /v1/nodes array of a round: each node, then the sentinel. */
static json_t *round_json(const heal_ctx *hc, const round *r)
{
    json_t *nodes = json_array();
    for (int i = 0; i < r->n; i++)
        json_array_append_new(nodes, node_json(&r->obs[i], r->actions[i]));
    if (sv_find(hc->h, SV_SENTINEL) && r->n > 0 && r->obs[0].own_view >= 0)
        json_array_append_new(nodes, sentinel_json(hc, &r->obs[0]));
    return nodes;
}

/* Update the cached readiness, gauges and nodes from a round. */
static void remember(heal_ctx *hc, const round *r)
{
    json_t *nodes = round_json(hc, r);
    pthread_mutex_lock(&hc->mu);
    json_decref(hc->last_nodes);
    hc->last_nodes = nodes;
    hc->observed = true;
    for (int i = 0; i < r->n; i++) {
        const observation *o = &r->obs[i];
        heal_node *hn = o->hn;
        heal_action a = r->actions[i];
        hn->ready = a == HEAL_NONE;
        if (a == HEAL_REPAIR)
            snprintf(hn->reason, sizeof(hn->reason), "%s: %s", wait_reason(a), o->drift);
        else
            snprintf(hn->reason, sizeof(hn->reason), "%s", wait_reason(a));
        hn->g_up = o->f.reachable;
        hn->g_master = o->f.is_master;
        hn->last_self_leader = o->f.self_is_leader && o->f.reachable && o->f.is_master;
        hn->g_link = o->f.link_up;
        hn->g_lag = o->f.lag_bytes;
    }
    if (r->n > 0 && r->obs[0].own_view >= 0) {
        const observation *o = &r->obs[0];
        bool up = view_probe(o, o->own_view)->rc == MRD_OK;
        hc->g_sentinel_up = up;
        hc->sentinel_ready = up && o->f.have_leader;
        snprintf(hc->sentinel_reason, sizeof(hc->sentinel_reason), "%s",
                 !up ? "not answering" : o->f.have_leader ? "" : "no majority leader");
    }
    pthread_mutex_unlock(&hc->mu);
}

/* Hold ROOT/heal.lock, waiting at most WAIT_MS.  Returns the fd or -1. */
static int take_heal_lock(const heal_ctx *hc, int wait_ms)
{
    char path[MRD_MF_PATH];
    if (mrd_path_fmt(path, sizeof(path), "%s/heal.lock", hc->h->m->root) != MRD_OK)
        return -1;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    long long deadline = mrd_now_ms() + wait_ms;
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK || mrd_now_ms() >= deadline) {
            close(fd);
            return -1;
        }
        mrd_sleep_ms(20);
    }
    return fd;
}

static mrd_health code_for(const pass *ps, heal_action a)
{
    if (ps->failed)
        return MRD_HEALTH_CRITICAL;
    switch (a) {
    case HEAL_NONE:
        return ps->acted ? MRD_HEALTH_WARNING : MRD_HEALTH_OK;
    case HEAL_WAIT_SYNC:
    case HEAL_WAIT_RECONFIG:
    case HEAL_REPOINT:
    case HEAL_REPAIR:
    case HEAL_RESTORE: /* check without --heal: degraded, still serving */
        return MRD_HEALTH_WARNING;
    case HEAL_WAIT_SENTINELS:
    case HEAL_WAIT_FAILOVER:
    case HEAL_ASK_FAILOVER: /* no writable leader (or none agreed) */
    case HEAL_BACKOFF:
        return MRD_HEALTH_CRITICAL;
    }
    return MRD_HEALTH_UNKNOWN;
}

/* Act on one node's observation, and on this host's sentinel when
 * SENTINEL_LOST (the first node's part of the pass does that). */
static void act_on(pass *ps, heal_action a, bool sentinel_lost)
{
    const observation *o = ps->o;
    if (!o->f.data_dir_ok && (o->f.proc_alive || o->f.reachable)) {
        /* a live node: give it its folder back for its next restart */
        if (mrd_mkdir_p(ps->hn->proc->dir, 0700, NULL) == MRD_OK)
            act(ps, "+datadir-recreated", ps->hn->proc->label,
                "the node runs but its data dir was gone; recreated it");
    }
    if (sentinel_lost)
        heal_sentinel(ps);
    fence(ps);
    switch (a) {
    case HEAL_RESTORE:
        restore(ps, o->f.data_dir_ok ? "process not running"
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
        reset_stale(ps);
        break;
    default:
        break;
    }
}

mrd_rc heal_pass(heal_ctx *hc, bool do_act, int lock_wait_ms, json_t **report,
                 mrd_health *code, mrd_error *err)
{
    *report = NULL;
    *code = MRD_HEALTH_UNKNOWN;
    long long t0 = mrd_now_ms();
    int lock = take_heal_lock(hc, lock_wait_ms);
    if (lock < 0)
        return mrd_error_set(err, MRD_ERR_STATE,
                             "%s: another heal pass is running (%s/heal.lock)",
                             hc->h->m->host, hc->h->m->root);
    round r;
    mrd_rc rc = observe_all(hc, &r, err);
    if (rc != MRD_OK) {
        close(lock);
        return rc;
    }
    const mrd_manifest *m = hc->h->m;
    json_t *actions = json_array();
    bool sentinel_lost = false;
    if (r.n > 0)
        sentinel_lost = sv_find(hc->h, SV_SENTINEL) && !r.obs[0].own_sentinel_alive;
    bool acted = false;
    mrd_health c = MRD_HEALTH_OK;
    char summary[256] = "";
    size_t slen = 0;
    pass passes[MRD_MF_MAX_HOST_NODES];
    for (int i = 0; i < r.n; i++) {
        passes[i] = (pass){.hc = hc, .o = &r.obs[i], .hn = r.obs[i].hn, .actions = actions};
        if (do_act)
            act_on(&passes[i], r.actions[i], sentinel_lost && i == 0);
        acted |= passes[i].acted;
    }
    if (acted) { /* observe again: the report shows the result */
        round_free(&r);
        if (observe_all(hc, &r, err) != MRD_OK)
            r.n = 0;
    }
    for (int i = 0; i < hc->nnodes; i++) {
        pass *ps = &passes[i];
        heal_action a = i < r.n ? r.actions[i] : HEAL_WAIT_SYNC;
        c = mrd_health_worst(c, i < r.n ? code_for(ps, a) : MRD_HEALTH_UNKNOWN);
        if (!ps->summary[0] && a == HEAL_REPAIR)
            snprintf(ps->summary, sizeof(ps->summary), "%s: %s", wait_reason(a),
                     r.obs[i].drift);
        else if (!ps->summary[0] && a != HEAL_NONE)
            snprintf(ps->summary, sizeof(ps->summary), "%s", wait_reason(a));
        if (!ps->summary[0])
            continue;
        /* one node: its summary; several: each that has one, by label */
        int w = hc->nnodes == 1
                    ? snprintf(summary + slen, sizeof(summary) - slen, "%s", ps->summary)
                    : snprintf(summary + slen, sizeof(summary) - slen, "%s%s: %s",
                               slen ? "; " : "", ps->hn->proc->label, ps->summary);
        if (w > 0 && (size_t)w < sizeof(summary) - slen)
            slen += (size_t)w;
    }
    if (c == MRD_HEALTH_OK && sentinel_lost)
        c = MRD_HEALTH_WARNING;
    if (!summary[0] && sentinel_lost && !do_act)
        snprintf(summary, sizeof(summary), "sentinel is not running");
    else if (!summary[0])
        snprintf(summary, sizeof(summary), "%s", acted ? "healed" : "every node is ready");
    long long dur = mrd_now_ms() - t0;
    if (r.n > 0)
        remember(hc, &r);
    pthread_mutex_lock(&hc->mu);
    if (acted)
        hc->last_heal_ms = dur;
    pthread_mutex_unlock(&hc->mu);
    state_save(hc);
    json_t *nodes = r.n > 0 ? round_json(hc, &r) : json_array();
    *report = json_pack("{s:s,s:i,s:s,s:s,s:I,s:o,s:o}", "host", m->host, "code", (int)c,
                        "status", mrd_health_name(c), "summary", summary, "duration_ms",
                        (json_int_t)dur, "actions", actions, "nodes", nodes);
    *code = c;
    round_free(&r);
    close(lock);
    return *report ? MRD_OK : mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
}

/* ==== API views ==== */

json_t *heal_health(heal_ctx *hc, bool *ready)
{
    pthread_mutex_lock(&hc->mu);
    bool has_sentinel = sv_find(hc->h, SV_SENTINEL) != NULL;
    bool observed = hc->observed;
    *ready = observed && (!has_sentinel || hc->sentinel_ready);
    json_t *nodes = json_array();
    for (int i = 0; i < hc->nnodes; i++) {
        const heal_node *hn = &hc->nodes[i];
        *ready = *ready && hn->ready;
        json_array_append_new(nodes, json_pack("{s:s,s:i,s:b,s:s}", "kind", "redis", "port",
                                               hn->proc->port, "ready", observed && hn->ready,
                                               "reason",
                                               observed ? hn->reason : "not checked yet"));
    }
    if (has_sentinel)
        json_array_append_new(nodes,
                              json_pack("{s:s,s:b,s:s}", "kind", "sentinel", "ready",
                                        observed && hc->sentinel_ready, "reason",
                                        observed ? hc->sentinel_reason : "not checked yet"));
    pthread_mutex_unlock(&hc->mu);
    return json_pack("{s:s,s:b,s:o}", "host", hc->h->m->host, "ready", *ready, "nodes",
                     nodes);
}

json_t *heal_nodes(heal_ctx *hc)
{
    /* Observe under the heal lock (a pass changes the processes); when a
     * pass is running, answer from the last observation instead of waiting. */
    int lock = take_heal_lock(hc, 200);
    if (lock >= 0) {
        round r;
        if (observe_all(hc, &r, NULL) == MRD_OK) {
            remember(hc, &r);
            round_free(&r);
        }
        close(lock);
    }
    pthread_mutex_lock(&hc->mu);
    json_t *nodes = hc->last_nodes ? json_deep_copy(hc->last_nodes) : json_array();
    pthread_mutex_unlock(&hc->mu);
    return json_pack("{s:s,s:b,s:o}", "host", hc->h->m->host, "fresh", lock >= 0, "nodes",
                     nodes);
}

char *heal_metrics(heal_ctx *hc)
{
    const char *host = hc->h->m->host;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    pthread_mutex_lock(&hc->mu);
#define GAUGE(name, help) fprintf(f, "# HELP " name " " help "\n# TYPE " name " gauge\n")
#define COUNTER(name, help) fprintf(f, "# HELP " name " " help "\n# TYPE " name " counter\n")
/* every node's sample of one metric: LABELS and VALUE may use hn */
#define EACH(fmt, ...)                                                                   \
    for (int i = 0; i < hc->nnodes; i++) {                                               \
        const heal_node *hn = &hc->nodes[i];                                             \
        fprintf(f, fmt, host, hn->proc->port, __VA_ARGS__);                              \
    }
    GAUGE("meridian_node_up", "Whether the store node answers as the admin user.");
    EACH("meridian_node_up{host=\"%s\",port=\"%d\"} %d\n", hn->g_up);
    GAUGE("meridian_node_role", "The store node's role (1 for the current role).");
    EACH("meridian_node_role{host=\"%s\",port=\"%d\",role=\"leader\"} %d\n",
         hn->g_up && hn->g_master);
    EACH("meridian_node_role{host=\"%s\",port=\"%d\",role=\"replica\"} %d\n",
         hn->g_up && !hn->g_master);
    GAUGE("meridian_link_up", "Whether a replica's link to its leader is up.");
    EACH("meridian_link_up{host=\"%s\",port=\"%d\"} %d\n", hn->g_up && hn->g_link);
    GAUGE("meridian_lag_bytes", "Replication lag behind the leader, in bytes.");
    EACH("meridian_lag_bytes{host=\"%s\",port=\"%d\"} %lld\n", hn->g_lag > 0 ? hn->g_lag : 0);
    GAUGE("meridian_node_ready", "Whether the store node counts as serving.");
    EACH("meridian_node_ready{host=\"%s\",port=\"%d\"} %d\n", hc->observed && hn->ready);
    if (sv_find(hc->h, SV_SENTINEL)) {
        GAUGE("meridian_sentinel_up", "Whether this host's sentinel answers.");
        fprintf(f, "meridian_sentinel_up{host=\"%s\"} %d\n", host, hc->g_sentinel_up);
    }
    COUNTER("meridian_heals_total", "Restores of the store node, by outcome.");
    EACH("meridian_heals_total{host=\"%s\",port=\"%d\",outcome=\"ok\"} %ld\n", hn->heals_ok);
    EACH("meridian_heals_total{host=\"%s\",port=\"%d\",outcome=\"failed\"} %ld\n",
         hn->heals_failed);
    GAUGE("meridian_last_heal_duration_seconds", "Duration of the last pass that acted.");
    fprintf(f, "meridian_last_heal_duration_seconds{host=\"%s\"} %.3f\n", host,
            (double)hc->last_heal_ms / 1000.0);
    COUNTER("meridian_snapshot_bytes_fetched_total", "RDB snapshot bytes fetched for restores.");
    EACH("meridian_snapshot_bytes_fetched_total{host=\"%s\",port=\"%d\"} %lld\n",
         hn->snapshot_bytes);
    COUNTER("meridian_syncs_seen_total", "Resyncs the leader did for restored nodes, by kind.");
    EACH("meridian_syncs_seen_total{host=\"%s\",port=\"%d\",kind=\"partial\"} %ld\n",
         hn->syncs_partial);
    EACH("meridian_syncs_seen_total{host=\"%s\",port=\"%d\",kind=\"full\"} %ld\n",
         hn->syncs_full);
#undef EACH
#undef GAUGE
#undef COUNTER
    pthread_mutex_unlock(&hc->mu);
    fclose(f);
    return buf;
}
