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
        if (!f->link_up || f->lag_bytes < 0 || f->lag_bytes > HEAL_READY_LAG_BYTES)
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

const char *heal_code_name(heal_code c)
{
    static const char *const names[] = {"ok", "warning", "critical", "unknown"};
    return (unsigned)c < 4 ? names[c] : "unknown";
}

/* ==== state ==== */

struct heal_ctx {
    sv_host *h;
    events *ev;
    bool child_mode;
    pthread_mutex_t mu; /* guards the fields below */

    /* last observation, for /v1/health and the gauges */
    bool observed;
    bool node_ready, sentinel_ready;
    char node_reason[160], sentinel_reason[160];
    bool g_up, g_master, g_link;
    long long g_lag;
    bool g_sentinel_up;

    /* persisted in ROOT/heal-state.json (cron mode runs are short-lived) */
    long long down_since_ms;      /* wall clock; 0: up */
    int failures;                 /* consecutive failed restores */
    long long next_try_ms;        /* wall clock before which no restore */
    long long restores[HEAL_FLAP_COUNT]; /* wall clock of recent restores */
    long long failover_asked_ms;  /* wall clock of the last ask */

    json_t *last_nodes;           /* /v1/nodes of the last observation */
    bool last_self_leader;        /* the last pass saw this node serve as the
                                     leader the sentinels name */
    bool fenced;                  /* writes refused: isolated from a majority */

    /* metrics */
    long heals_ok, heals_failed;
    long long last_heal_ms;
    long long snapshot_bytes;
    long syncs_partial, syncs_full;
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
    hc->down_since_ms = json_integer_value(json_object_get(j, "down_since_ms"));
    hc->failures = (int)json_integer_value(json_object_get(j, "failures"));
    hc->next_try_ms = json_integer_value(json_object_get(j, "next_try_ms"));
    hc->failover_asked_ms = json_integer_value(json_object_get(j, "failover_asked_ms"));
    json_t *r = json_object_get(j, "restores");
    for (int i = 0; i < HEAL_FLAP_COUNT; i++)
        hc->restores[i] = json_integer_value(json_array_get(r, (size_t)i));
    json_decref(j);
}

static void state_save(const heal_ctx *hc)
{
    char path[MRD_MF_PATH];
    state_path(hc, path, sizeof(path));
    json_t *r = json_array();
    for (int i = 0; i < HEAL_FLAP_COUNT; i++)
        json_array_append_new(r, json_integer(hc->restores[i]));
    json_t *j = json_pack("{s:I,s:i,s:I,s:I,s:o}", "down_since_ms",
                          (json_int_t)hc->down_since_ms, "failures", hc->failures,
                          "next_try_ms", (json_int_t)hc->next_try_ms,
                          "failover_asked_ms", (json_int_t)hc->failover_asked_ms,
                          "restores", r);
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

typedef struct observation {
    heal_facts f;
    int leader;               /* peer index the sentinel majority names; -1 */
    int votes, nsentinels;
    store_probe *probes;      /* [0, npeers): INFO of every peer; then views */
    int nprobes;
    sentinel_view *views;     /* one per peer with a sentinel */
    int *view_peer;           /* peer index of views[i] */
    int nviews;
    bool own_sentinel_alive;
    int own_view;             /* index into views of this host's sentinel, -1 */
    int sentinels_reachable;
    int peers_reachable;      /* store nodes that answered, this one included */
    char drift[256];          /* "replica-priority 0 (manifest: 110), ..." */
} observation;

static void observation_free(observation *o)
{
    for (int i = 0; i < o->nprobes; i++)
        store_probe_clear(&o->probes[i]);
    free(o->probes);
    free(o->views);
    free(o->view_peer);
    memset(o, 0, sizeof(*o));
}

static bool peer_info(const observation *o, int peer, store_info *out)
{
    const store_probe *p = &o->probes[peer];
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

/* What the manifest (and a fence this agent holds) wants for setting I. */
static int safety_wanted(const heal_ctx *hc, int i)
{
    const mrd_manifest *m = hc->h->m;
    switch (i) {
    case SAFE_PRIORITY:
        return manifest_self(m)->replica_priority;
    case SAFE_MIN_REPLICAS:
        return hc->fenced ? HEAL_FENCE_MIN_REPLICAS : m->settings.consistency.min_replicas_to_write;
    default:
        return m->settings.consistency.min_replicas_max_lag_s;
    }
}

/* Compare this node's live safety settings (CONFIG GET in the probe) with
 * what the manifest wants; describe the differences in o->drift. */
static void check_drift(const heal_ctx *hc, const store_probe *self, observation *o)
{
    size_t len = 0;
    for (int i = 0; i < SAFE_COUNT; i++) {
        const char *live = self->config_values[i];
        int want = safety_wanted(hc, i);
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

static mrd_rc observe(heal_ctx *hc, observation *o, mrd_error *err)
{
    const mrd_manifest *m = hc->h->m;
    memset(o, 0, sizeof(*o));
    o->leader = -1;
    o->own_view = -1;
    for (int i = 0; i < m->npeers; i++)
        o->nsentinels += m->peers[i].sentinel_port != 0;
    o->probes = calloc((size_t)(m->npeers + o->nsentinels), sizeof(*o->probes));
    o->views = calloc((size_t)(o->nsentinels + 1), sizeof(*o->views));
    o->view_peer = calloc((size_t)(o->nsentinels + 1), sizeof(*o->view_peer));
    if (!o->probes || !o->views || !o->view_peer) {
        observation_free(o);
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    const char *admin = hc->h->secrets.admin;
    int k = 0;
    for (int i = 0; i < m->npeers; i++)
        o->probes[k++] = (store_probe){.kind = STORE_PROBE_INFO,
                                       .address = m->peers[i].address,
                                       .port = m->peers[i].store_port, .user = "admin",
                                       .pass = admin,
                                       .config = i == m->self ? safety_settings : NULL};
    for (int i = 0; i < m->npeers; i++) {
        if (!m->peers[i].sentinel_port)
            continue;
        if (i == m->self)
            o->own_view = o->nviews;
        o->view_peer[o->nviews] = i;
        o->probes[k++] = (store_probe){.kind = STORE_PROBE_SENTINEL,
                                       .address = m->peers[i].address,
                                       .port = m->peers[i].sentinel_port,
                                       .user = "admin", .pass = admin,
                                       .master = m->master_name,
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

    /* the leader a majority of sentinels name */
    for (int i = 0; i < o->nviews; i++) {
        if (o->probes[m->npeers + i].rc != MRD_OK)
            continue;
        int votes = 0;
        for (int j = 0; j < o->nviews; j++)
            votes += o->probes[m->npeers + j].rc == MRD_OK &&
                     strcmp(o->views[i].leader_ip, o->views[j].leader_ip) == 0 &&
                     o->views[i].leader_port == o->views[j].leader_port;
        if (votes <= o->votes)
            continue;
        o->votes = votes;
        o->leader = -1;
        for (int p = 0; p < m->npeers; p++)
            if (strcmp(m->peers[p].address, o->views[i].leader_ip) == 0 &&
                m->peers[p].store_port == o->views[i].leader_port)
                o->leader = p;
    }
    for (int i = 0; i < o->nviews; i++)
        if (o->probes[m->npeers + i].rc == MRD_OK) {
            o->sentinels_reachable++;
            o->f.failover_in_progress |= o->views[i].master.failover_in_progress;
        }
    for (int i = 0; i < m->npeers; i++)
        o->peers_reachable += o->probes[i].rc == MRD_OK;
    o->f.have_leader = o->leader >= 0 && o->votes >= o->nsentinels / 2 + 1;
    if (!o->f.have_leader)
        o->leader = -1;

    /* this host's processes */
    sv_proc *redis = sv_find(hc->h, SV_REDIS), *snt = sv_find(hc->h, SV_SENTINEL);
    heal_facts *f = &o->f;
    f->proc_alive = redis->pid != 0;
    f->data_dir_ok = mrd_path_exists(redis->dir);
    f->self_is_leader = o->leader == m->self;
    f->lag_bytes = -1;
    store_info self, lead;
    if (peer_info(o, m->self, &self)) {
        f->reachable = true;
        check_drift(hc, &o->probes[m->self], o); /* hc->fenced: under the heal lock */
        f->is_master = self.is_master;
        f->link_up = self.link_up;
        if (o->leader >= 0) {
            const mrd_peer *lp = &m->peers[o->leader];
            f->follows_leader = strcmp(self.master_host, lp->address) == 0 &&
                                self.master_port == lp->store_port;
            if (!self.is_master && peer_info(o, o->leader, &lead))
                f->lag_bytes = lead.master_repl_offset > self.slave_repl_offset
                                   ? lead.master_repl_offset - self.slave_repl_offset
                                   : 0;
        }
    }
    o->own_sentinel_alive = snt && snt->pid;

    long long now = mrd_wall_ms();
    pthread_mutex_lock(&hc->mu);
    if (f->proc_alive)
        hc->down_since_ms = 0;
    else if (!hc->down_since_ms)
        hc->down_since_ms = now;
    f->down_ms = f->proc_alive ? 0 : now - hc->down_since_ms;
    f->backing_off = hc->next_try_ms > now;
    pthread_mutex_unlock(&hc->mu);
    return MRD_OK;
}

/* ==== acting ==== */

typedef struct pass {
    heal_ctx *hc;
    observation *o;
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

/* The snapshot source: a healthy replica of the leader in this region with
 * the least lag, else one in another region, else the leader. */
static int choose_source(const heal_ctx *hc, const observation *o)
{
    const mrd_manifest *m = hc->h->m;
    const mrd_peer *self = manifest_self(m);
    store_info lead, info;
    if (!peer_info(o, o->leader, &lead))
        return -1;
    int best = -1;
    bool best_local = false;
    long long best_lag = 0;
    for (int i = 0; i < m->npeers; i++) {
        const mrd_peer *p = &m->peers[i];
        if (i == m->self || i == o->leader || !peer_info(o, i, &info) || info.is_master ||
            !info.link_up || strcmp(info.master_host, m->peers[o->leader].address) != 0 ||
            info.master_port != m->peers[o->leader].store_port)
            continue;
        long long lag = lead.master_repl_offset - info.slave_repl_offset;
        bool local = strcmp(p->region, self->region) == 0;
        if (best < 0 || (local && !best_local) || (local == best_local && lag < best_lag)) {
            best = i;
            best_local = local;
            best_lag = lag;
        }
    }
    return best >= 0 ? best : o->leader;
}

static mrd_rc leader_stats(const heal_ctx *hc, const mrd_peer *lp, store_info *out)
{
    store_conn *c = NULL;
    char *text = NULL;
    mrd_rc rc = store_conn_open(lp->address, lp->store_port, "admin", hc->h->secrets.admin,
                                PROBE_TIMEOUT_MS, &c, NULL);
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

/* Wait for the restored node to link up and catch up.  On success, fill
 * *lag and return MRD_OK. */
static mrd_rc wait_ready(const heal_ctx *hc, const mrd_peer *lp, long long *lag,
                         mrd_error *err)
{
    const mrd_peer *self = manifest_self(hc->h->m);
    long long deadline = mrd_now_ms() + HEAL_SYNC_TIMEOUT_MS;
    while (mrd_now_ms() < deadline) {
        store_conn *c = NULL;
        char *text = NULL;
        store_info me, lead;
        bool ok = store_conn_open(self->address, self->store_port, "admin",
                                  hc->h->secrets.admin, PROBE_TIMEOUT_MS, &c,
                                  NULL) == MRD_OK &&
                  store_info_text(c, "replication", &text, NULL) == MRD_OK &&
                  store_info_parse(text, strlen(text), &me, NULL) == MRD_OK && me.link_up &&
                  !me.sync_in_progress && leader_stats(hc, lp, &lead) == MRD_OK;
        free(text);
        store_conn_close(&c);
        if (ok) {
            *lag = lead.master_repl_offset > me.slave_repl_offset
                       ? lead.master_repl_offset - me.slave_repl_offset
                       : 0;
            if (*lag <= HEAL_READY_LAG_BYTES)
                return MRD_OK;
        }
        mrd_sleep_ms(50);
    }
    return mrd_error_set(err, MRD_ERR_TIMEOUT,
                         "not linked and caught up with %s within %d s", lp->host,
                         HEAL_SYNC_TIMEOUT_MS / 1000);
}

/* Restore the plan's replica priority once the node is ready. */
static mrd_rc restore_priority(const heal_ctx *hc, mrd_error *err)
{
    const mrd_peer *self = manifest_self(hc->h->m);
    char prio[16];
    snprintf(prio, sizeof(prio), "%d", self->replica_priority);
    store_conn *c = NULL;
    mrd_rc rc = store_conn_open(self->address, self->store_port, "admin",
                                hc->h->secrets.admin, PROBE_TIMEOUT_MS, &c, err);
    if (rc == MRD_OK)
        rc = store_cmdl(c, NULL, err, "CONFIG", "SET", "replica-priority", prio, NULL);
    if (rc == MRD_OK)
        rc = store_cmdl(c, NULL, err, "CONFIG", "REWRITE", NULL);
    store_conn_close(&c);
    return rc;
}

static void note_failure(heal_ctx *hc)
{
    hc->failures++;
    long long delay = HEAL_BACKOFF_FIRST_MS;
    for (int i = 1; i < hc->failures && delay < HEAL_BACKOFF_MAX_MS; i++)
        delay *= 2;
    if (delay > HEAL_BACKOFF_MAX_MS)
        delay = HEAL_BACKOFF_MAX_MS;
    hc->next_try_ms = mrd_wall_ms() + delay;
}

/* Remember a restore; true when the node now flaps (too many restores in
 * the window), which starts a backoff. */
static bool note_restore(heal_ctx *hc)
{
    long long now = mrd_wall_ms();
    memmove(&hc->restores[1], &hc->restores[0],
            sizeof(hc->restores[0]) * (HEAL_FLAP_COUNT - 1));
    hc->restores[0] = now;
    return hc->restores[HEAL_FLAP_COUNT - 1] &&
           now - hc->restores[HEAL_FLAP_COUNT - 1] < HEAL_FLAP_WINDOW_MS;
}

static void restore(pass *ps, const char *why)
{
    heal_ctx *hc = ps->hc;
    sv_host *h = hc->h;
    const mrd_manifest *m = h->m;
    observation *o = ps->o;
    sv_proc *redis = sv_find(h, SV_REDIS);
    const mrd_peer *lp = &m->peers[o->leader];
    mrd_error err;
    mrd_error_clear(&err);
    long long t0 = mrd_now_ms();
    ps->acted = true;
    act(ps, "+replica-lost", "redis", "%s; leader is %s (%s:%d)", why, lp->host,
        lp->address, lp->store_port);

    if (redis->pid && mrd_proc_stop(redis->pid, 5000, &err) != MRD_OK)
        goto failed;
    redis->pid = 0;
    int src = choose_source(hc, o);
    if (src < 0) {
        mrd_error_set(&err, MRD_ERR_STATE, "no healthy snapshot source answers");
        goto failed;
    }
    const mrd_peer *sp = &m->peers[src];
    char dump[MRD_MF_PATH];
    if (mrd_mkdir_p(redis->dir, 0700, &err) != MRD_OK ||
        mrd_path_fmt(dump, sizeof(dump), "%s/dump.rdb", redis->dir) != MRD_OK)
        goto failed;
    clean_partial(redis->dir);
    store_snapshot snap;
    if (store_snapshot_fetch(sp->address, sp->store_port, "replication",
                             h->secrets.replication, dump, HEAL_FETCH_TIMEOUT_MS, &snap,
                             &err) != MRD_OK)
        goto failed;
    hc->snapshot_bytes += snap.bytes;
    act(ps, "+snapshot-fetched", "redis",
        "from %s %s(%s:%d): %.1f MB in %.2f s, replication offset %lld", sp->host,
        src == o->leader ? "the leader " : "", sp->address, sp->store_port,
        (double)snap.bytes / 1e6, (double)snap.duration_ms / 1000.0, snap.repl_offset);

    store_info before, after;
    bool stats = leader_stats(hc, lp, &before) == MRD_OK;
    /* replicaof the leader in the config (needed for a partial resync),
     * and not promotable until ready */
    if (sv_render(h, redis, lp, 0, &err) != MRD_OK ||
        sv_start(h, redis, hc->child_mode ? MRD_SPAWN_CHILD : MRD_SPAWN_DAEMON,
                 &err) != MRD_OK)
        goto failed;
    long long lag = 0;
    if (wait_ready(hc, lp, &lag, &err) != MRD_OK)
        goto failed;
    if (stats && leader_stats(hc, lp, &after) == MRD_OK) {
        if (after.sync_full > before.sync_full) {
            hc->syncs_full++;
            act(ps, "+full-resync", "redis",
                "the leader sent the whole dataset (its backlog no longer covered the "
                "snapshot's offset %lld): sync_full %lld -> %lld",
                snap.repl_offset, before.sync_full, after.sync_full);
        } else if (after.sync_partial_ok > before.sync_partial_ok) {
            hc->syncs_partial++;
            act(ps, "+partial-resync", "redis",
                "the leader sent only the writes since the snapshot: sync_partial_ok "
                "%lld -> %lld, sync_full unchanged at %lld",
                before.sync_partial_ok, after.sync_partial_ok, after.sync_full);
        }
    }
    if (restore_priority(hc, &err) != MRD_OK)
        goto failed;
    act(ps, "+replica-ready", "redis",
        "linked to %s, lag %lld bytes, promotable again (replica-priority %d); restored "
        "in %.2f s",
        lp->host, lag, manifest_self(m)->replica_priority,
        (double)(mrd_now_ms() - t0) / 1000.0);
    hc->failures = 0;
    hc->next_try_ms = 0;
    hc->heals_ok++;
    if (note_restore(hc)) {
        hc->next_try_ms = mrd_wall_ms() + HEAL_BACKOFF_FIRST_MS;
        act(ps, "+backoff", "redis",
            "restored %d times within %d minutes: the node keeps dying; the next "
            "restore waits %d s",
            HEAL_FLAP_COUNT, HEAL_FLAP_WINDOW_MS / 60000, HEAL_BACKOFF_FIRST_MS / 1000);
    }
    snprintf(ps->summary, sizeof(ps->summary), "restored redis from %s", sp->host);
    return;
failed:
    hc->heals_failed++;
    note_failure(hc);
    ps->failed = true;
    act(ps, "+heal-failed", "redis", "%s; next attempt in %lld s", err.msg,
        (hc->next_try_ms - mrd_wall_ms()) / 1000);
    snprintf(ps->summary, sizeof(ps->summary), "could not restore redis: %s", err.msg);
}

static void ask_failover(pass *ps)
{
    heal_ctx *hc = ps->hc;
    const mrd_manifest *m = hc->h->m;
    observation *o = ps->o;
    long long now = mrd_wall_ms();
    /* Sentinel refuses a second failover of a master within
     * 2 x failover-timeout; asking more often is noise. */
    if (hc->failover_asked_ms &&
        now - hc->failover_asked_ms < 2LL * m->settings.sentinel.failover_timeout_ms)
        return;
    for (int i = 0; i < o->nviews; i++) {
        if (o->probes[m->npeers + i].rc != MRD_OK)
            continue;
        const mrd_peer *sp = &m->peers[o->view_peer[i]];
        store_conn *c = NULL;
        mrd_error err;
        mrd_rc rc = store_conn_open(sp->address, sp->sentinel_port, "admin",
                                    hc->h->secrets.admin, PROBE_TIMEOUT_MS, &c, &err);
        if (rc == MRD_OK)
            rc = store_cmdl(c, NULL, &err, "SENTINEL", "FAILOVER", m->master_name, NULL);
        store_conn_close(&c);
        if (rc == MRD_OK) {
            hc->failover_asked_ms = now;
            ps->acted = true;
            act(ps, "+leader-lost", "redis",
                "the leader's process has been down %lld ms (down-after %d ms); asked "
                "the sentinel on %s to fail over",
                o->f.down_ms, m->settings.sentinel.down_after_ms, sp->host);
            return;
        }
    }
}

/* A stale master or a replica of the wrong node: REPLICAOF the leader the
 * sentinel majority names (a stale master's writes since the split are
 * lost either way: they never reached the majority side), and CONFIG
 * REWRITE so a restart keeps it. */
static void repoint(pass *ps)
{
    heal_ctx *hc = ps->hc;
    const mrd_manifest *m = hc->h->m;
    const mrd_peer *self = manifest_self(m), *lp = &m->peers[ps->o->leader];
    char port[16];
    snprintf(port, sizeof(port), "%d", lp->store_port);
    store_conn *c = NULL;
    mrd_error err;
    mrd_rc rc = store_conn_open(self->address, self->store_port, "admin",
                                hc->h->secrets.admin, PROBE_TIMEOUT_MS, &c, &err);
    if (rc == MRD_OK)
        rc = store_cmdl(c, NULL, &err, "REPLICAOF", lp->address, port, NULL);
    if (rc == MRD_OK)
        rc = store_cmdl(c, NULL, &err, "CONFIG", "REWRITE", NULL);
    store_conn_close(&c);
    if (rc != MRD_OK) {
        ps->failed = true;
        act(ps, "+heal-failed", "redis", "could not repoint it to the leader: %s", err.msg);
        return;
    }
    ps->acted = true;
    if (ps->o->f.is_master)
        act(ps, "+demoted", "redis",
            "a master the sentinel majority does not name (they name %s): now its replica",
            lp->host);
    else
        act(ps, "+repointed", "redis", "followed another node; now a replica of %s",
            lp->host);
}

/* Set this node's drifted safety settings back to the manifest's values
 * (CONFIG SET, then CONFIG REWRITE so a restart keeps them). */
static void repair(pass *ps)
{
    heal_ctx *hc = ps->hc;
    const mrd_peer *self = manifest_self(hc->h->m);
    store_conn *c = NULL;
    mrd_error err;
    mrd_error_clear(&err);
    mrd_rc rc = store_conn_open(self->address, self->store_port, "admin",
                                hc->h->secrets.admin, PROBE_TIMEOUT_MS, &c, &err);
    for (int i = 0; rc == MRD_OK && i < SAFE_COUNT; i++) {
        char want[16];
        snprintf(want, sizeof(want), "%d", safety_wanted(hc, i));
        rc = store_cmdl(c, NULL, &err, "CONFIG", "SET", safety_settings[i], want, NULL);
    }
    if (rc == MRD_OK)
        rc = store_cmdl(c, NULL, &err, "CONFIG", "REWRITE", NULL);
    store_conn_close(&c);
    if (rc != MRD_OK) {
        ps->failed = true;
        act(ps, "+heal-failed", "redis", "could not repair %s: %s", ps->o->drift, err.msg);
        return;
    }
    ps->acted = true;
    act(ps, "+setting-repaired", "redis", "live %s; set back to the manifest's values%s",
        ps->o->drift,
        strstr(ps->o->drift, "replica-priority") ? ": promotable again" : "");
}

/* Restart this host's sentinel; re-create its config from the majority's
 * view (the current leader) when the file is gone. */
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
        if (sv_render(h, snt, &h->m->peers[o->leader], 0, &err) != MRD_OK)
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

/* SENTINEL RESET this host's sentinel when it lists replicas the manifest
 * does not have - one sentinel at a time: only when every other sentinel
 * sees every replica, and never during a failover. */
static void reset_stale(pass *ps)
{
    heal_ctx *hc = ps->hc;
    const mrd_manifest *m = hc->h->m;
    observation *o = ps->o;
    if (o->own_view < 0 || o->leader < 0 || o->f.failover_in_progress ||
        o->probes[m->npeers + o->own_view].rc != MRD_OK)
        return;
    char expected_buf[MRD_MF_MAX_PEERS][96], seen_buf[SENTINEL_VIEW_MAX][96];
    const char *expected[MRD_MF_MAX_PEERS], *seen[SENTINEL_VIEW_MAX];
    int nexp = 0, stale[SENTINEL_VIEW_MAX];
    for (int i = 0; i < m->npeers; i++)
        if (i != o->leader) {
            snprintf(expected_buf[nexp], 96, "%s:%d", m->peers[i].address,
                     m->peers[i].store_port);
            expected[nexp] = expected_buf[nexp];
            nexp++;
        }
    for (int v = 0; v < o->nviews; v++) {
        if (v == o->own_view)
            continue;
        int up = 0;
        for (int i = 0; i < o->views[v].nreplicas; i++)
            up += !o->views[v].replicas[i].down;
        if (o->probes[m->npeers + v].rc != MRD_OK || up < nexp)
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
    const mrd_peer *self = manifest_self(m);
    store_conn *c = NULL;
    mrd_error err;
    mrd_rc rc = store_conn_open(self->address, self->sentinel_port, "admin",
                                hc->h->secrets.admin, PROBE_TIMEOUT_MS, &c, &err);
    if (rc == MRD_OK)
        rc = store_cmdl(c, NULL, &err, "SENTINEL", "RESET", m->master_name, NULL);
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

static mrd_rc set_min_replicas(const heal_ctx *hc, int n, mrd_error *err)
{
    const mrd_peer *self = manifest_self(hc->h->m);
    char val[16];
    snprintf(val, sizeof(val), "%d", n);
    store_conn *c = NULL;
    mrd_rc rc = store_conn_open(self->address, self->store_port, "admin",
                                hc->h->secrets.admin, PROBE_TIMEOUT_MS, &c, err);
    if (rc == MRD_OK)
        rc = store_cmdl(c, NULL, err, "CONFIG", "SET", "min-replicas-to-write", val, NULL);
    store_conn_close(&c);
    return rc;
}

/* A master that can reach neither a majority of sentinels nor a majority
 * of the store nodes is cut off: the others are electing a new leader, so
 * every write it accepts would be lost when the partition heals.  It fences
 * itself (min-replicas-to-write above any replica count: writes fail with
 * NOREPLICAS) until it sees a majority again.  With the sentinels down but
 * the nodes reachable nobody can fail over, so it keeps writing. */
static void fence(pass *ps)
{
    heal_ctx *hc = ps->hc;
    const mrd_manifest *m = hc->h->m;
    const observation *o = ps->o;
    int smaj = o->nsentinels / 2 + 1, pmaj = m->npeers / 2 + 1;
    bool cut_off = o->f.reachable && o->f.is_master && o->sentinels_reachable < smaj &&
                   o->peers_reachable < pmaj;
    mrd_error err;
    if (cut_off && !hc->fenced) {
        if (set_min_replicas(hc, HEAL_FENCE_MIN_REPLICAS, &err) == MRD_OK) {
            hc->fenced = true;
            ps->acted = true;
            act(ps, "+fenced", "redis",
                "a master that reaches %d of %d sentinels and %d of %d nodes: refusing "
                "writes until it sees a majority again",
                o->sentinels_reachable, o->nsentinels, o->peers_reachable, m->npeers);
        }
    } else if (!cut_off && hc->fenced && o->f.reachable) {
        if (set_min_replicas(hc, m->settings.consistency.min_replicas_to_write, &err) == MRD_OK) {
            hc->fenced = false;
            ps->acted = true;
            act(ps, "-fenced", "redis", "sees a majority again: min-replicas-to-write %d",
                m->settings.consistency.min_replicas_to_write);
        }
    }
}

/* Ask the first sentinel that answers to fail MASTER over now. */
static bool request_failover(heal_ctx *hc, char *who, size_t n)
{
    const mrd_manifest *m = hc->h->m;
    for (int i = 0; i < m->npeers; i++) {
        const mrd_peer *sp = &m->peers[i];
        if (!sp->sentinel_port)
            continue;
        store_conn *c = NULL;
        mrd_rc rc = store_conn_open(sp->address, sp->sentinel_port, "admin",
                                    hc->h->secrets.admin, 300, &c, NULL);
        if (rc == MRD_OK)
            rc = store_cmdl(c, NULL, NULL, "SENTINEL", "FAILOVER", m->master_name, NULL);
        store_conn_close(&c);
        if (rc == MRD_OK) {
            snprintf(who, n, "%s", sp->host);
            return true;
        }
    }
    return false;
}

void heal_watch(heal_ctx *hc)
{
    sv_proc *redis = sv_find(hc->h, SV_REDIS);
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
        bool recent = hc->failover_asked_ms &&
                      now - hc->failover_asked_ms < 2LL * m->settings.sentinel.failover_timeout_ms;
        /* The process is gone (we reaped it), so the leader cannot still be
         * answering; ask once per Sentinel cooldown, never twice. */
        char who[MRD_MF_NAME] = "";
        if (hc->last_self_leader && m->settings.agent.crash_fast_path && !recent &&
            request_failover(hc, who, sizeof(who))) {
            hc->failover_asked_ms = now;
            hc->last_self_leader = false;
            events_emit(hc->ev, "+leader-crashed", "redis",
                        "%s/redis: the leader's process died (%s %d); asked the sentinel on "
                        "%s to fail over at once (%lld ms)",
                        m->host, WIFSIGNALED(status) ? "signal" : "exit status",
                        WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), who,
                        mrd_now_ms() - t0);
            state_save(hc);
        } else {
            mrd_warn("%s/redis: pid %d %s %d", m->host, (int)pid,
                     WIFSIGNALED(status) ? "killed by signal" : "exited with status",
                     WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        }
    }
    close(lock);
}

/* ==== the pass ==== */

static json_t *nodes_json(const heal_ctx *hc, const observation *o, heal_action a)
{
    const mrd_manifest *m = hc->h->m;
    sv_proc *redis = sv_find(hc->h, SV_REDIS), *snt = sv_find(hc->h, SV_SENTINEL);
    const heal_facts *f = &o->f;
    json_t *nodes = json_array();
    const char *role = !f->reachable ? "down" : f->is_master ? "leader" : "replica";
    json_array_append_new(
        nodes,
        json_pack("{s:s,s:i,s:i,s:b,s:s,s:o,s:o,s:s,s:b,s:s}", "kind", "redis", "port",
                  redis->port, "pid", (int)redis->pid, "up", f->reachable, "role", role,
                  "link",
                  f->reachable && !f->is_master ? json_string(f->link_up ? "up" : "down")
                                                : json_null(),
                  "lag_bytes", f->lag_bytes >= 0 ? json_integer(f->lag_bytes) : json_null(),
                  "data_dir", f->data_dir_ok ? "ok" : "missing", "ready", a == HEAL_NONE,
                  "action", heal_action_name(a)));
    if (snt) {
        const store_probe *p = &o->probes[m->npeers + o->own_view];
        char leader[96] = "";
        if (p->rc == MRD_OK)
            snprintf(leader, sizeof(leader), "%s:%d", o->views[o->own_view].leader_ip,
                     o->views[o->own_view].leader_port);
        json_array_append_new(
            nodes, json_pack("{s:s,s:i,s:i,s:b,s:o,s:b}", "kind", "sentinel", "port",
                             snt->port, "pid", (int)snt->pid, "up", p->rc == MRD_OK,
                             "leader", leader[0] ? json_string(leader) : json_null(),
                             "ready", p->rc == MRD_OK && o->f.have_leader));
    }
    return nodes;
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

/* Update the cached readiness, gauges and nodes from an observation. */
static void remember(heal_ctx *hc, const observation *o, heal_action a)
{
    const mrd_manifest *m = hc->h->m;
    json_t *nodes = nodes_json(hc, o, a);
    pthread_mutex_lock(&hc->mu);
    json_decref(hc->last_nodes);
    hc->last_nodes = nodes;
    hc->observed = true;
    hc->node_ready = a == HEAL_NONE;
    if (a == HEAL_REPAIR)
        snprintf(hc->node_reason, sizeof(hc->node_reason), "%s: %s", wait_reason(a),
                 o->drift);
    else
        snprintf(hc->node_reason, sizeof(hc->node_reason), "%s", wait_reason(a));
    hc->g_up = o->f.reachable;
    hc->g_master = o->f.is_master;
    hc->last_self_leader = o->f.self_is_leader && o->f.reachable && o->f.is_master;
    hc->g_link = o->f.link_up;
    hc->g_lag = o->f.lag_bytes;
    if (o->own_view >= 0) {
        bool up = o->probes[m->npeers + o->own_view].rc == MRD_OK;
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

static heal_code code_for(const pass *ps, heal_action a)
{
    if (ps->failed)
        return HEAL_CRITICAL;
    switch (a) {
    case HEAL_NONE:
        return ps->acted ? HEAL_WARNING : HEAL_OK;
    case HEAL_WAIT_SYNC:
    case HEAL_WAIT_RECONFIG:
    case HEAL_REPOINT:
    case HEAL_REPAIR:
    case HEAL_RESTORE: /* check without --heal: degraded, still serving */
        return HEAL_WARNING;
    case HEAL_WAIT_SENTINELS:
    case HEAL_WAIT_FAILOVER:
    case HEAL_ASK_FAILOVER: /* no writable leader (or none agreed) */
    case HEAL_BACKOFF:
        return HEAL_CRITICAL;
    }
    return HEAL_UNKNOWN;
}

mrd_rc heal_pass(heal_ctx *hc, bool do_act, int lock_wait_ms, json_t **report,
                 heal_code *code, mrd_error *err)
{
    *report = NULL;
    *code = HEAL_UNKNOWN;
    long long t0 = mrd_now_ms();
    int lock = take_heal_lock(hc, lock_wait_ms);
    if (lock < 0)
        return mrd_error_set(err, MRD_ERR_STATE,
                             "%s: another heal pass is running (%s/heal.lock)",
                             hc->h->m->host, hc->h->m->root);
    observation o;
    mrd_rc rc = observe(hc, &o, err);
    if (rc != MRD_OK) {
        close(lock);
        return rc;
    }
    const mrd_manifest *m = hc->h->m;
    pass ps = {.hc = hc, .o = &o, .actions = json_array()};
    heal_action a = heal_decide(&o.f, m->settings.sentinel.down_after_ms);
    bool sentinel_lost = sv_find(hc->h, SV_SENTINEL) && !o.own_sentinel_alive;

    if (do_act) {
        if (!o.f.data_dir_ok && (o.f.proc_alive || o.f.reachable)) {
            /* a live node: give it its folder back for its next restart */
            if (mrd_mkdir_p(sv_find(hc->h, SV_REDIS)->dir, 0700, NULL) == MRD_OK)
                act(&ps, "+datadir-recreated", "redis",
                    "the node runs but its data dir was gone; recreated it");
        }
        if (sentinel_lost)
            heal_sentinel(&ps);
        fence(&ps);
        switch (a) {
        case HEAL_RESTORE:
            restore(&ps, o.f.data_dir_ok ? "process not running"
                                         : "process not running and data dir missing");
            break;
        case HEAL_ASK_FAILOVER:
            ask_failover(&ps);
            break;
        case HEAL_REPOINT:
            repoint(&ps);
            break;
        case HEAL_REPAIR:
            repair(&ps);
            break;
        case HEAL_NONE:
            reset_stale(&ps);
            break;
        default:
            break;
        }
        if (ps.acted) { /* observe again: the report shows the result */
            observation_free(&o);
            if (observe(hc, &o, err) != MRD_OK)
                memset(&o, 0, sizeof(o));
            else
                a = heal_decide(&o.f, m->settings.sentinel.down_after_ms);
            ps.o = &o;
        }
    } else if (sentinel_lost) {
        snprintf(ps.summary, sizeof(ps.summary), "sentinel is not running");
    }

    heal_code c = code_for(&ps, a);
    if (c == HEAL_OK && sentinel_lost)
        c = HEAL_WARNING;
    if (!ps.summary[0] && a == HEAL_REPAIR)
        snprintf(ps.summary, sizeof(ps.summary), "%s: %s", wait_reason(a), o.drift);
    else if (!ps.summary[0])
        snprintf(ps.summary, sizeof(ps.summary), "%s",
                 a == HEAL_NONE ? (ps.acted ? "healed" : "every node is ready")
                                : wait_reason(a));
    long long dur = mrd_now_ms() - t0;
    if (o.probes)
        remember(hc, &o, a);
    pthread_mutex_lock(&hc->mu);
    if (ps.acted)
        hc->last_heal_ms = dur;
    pthread_mutex_unlock(&hc->mu);
    state_save(hc);
    json_t *nodes = o.probes ? nodes_json(hc, &o, a) : json_array();
    *report = json_pack("{s:s,s:i,s:s,s:s,s:I,s:o,s:o}", "host", m->host, "code", (int)c,
                        "status", heal_code_name(c), "summary", ps.summary, "duration_ms",
                        (json_int_t)dur, "actions", ps.actions, "nodes", nodes);
    *code = c;
    observation_free(&o);
    close(lock);
    return *report ? MRD_OK : mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
}

/* ==== API views ==== */

json_t *heal_health(heal_ctx *hc, bool *ready)
{
    pthread_mutex_lock(&hc->mu);
    bool has_sentinel = sv_find(hc->h, SV_SENTINEL) != NULL;
    bool observed = hc->observed;
    *ready = observed && hc->node_ready && (!has_sentinel || hc->sentinel_ready);
    json_t *nodes = json_array();
    json_array_append_new(nodes, json_pack("{s:s,s:b,s:s}", "kind", "redis", "ready",
                                           observed && hc->node_ready, "reason",
                                           observed ? hc->node_reason : "not checked yet"));
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
        observation o;
        if (observe(hc, &o, NULL) == MRD_OK) {
            remember(hc, &o, heal_decide(&o.f, hc->h->m->settings.sentinel.down_after_ms));
            observation_free(&o);
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
    GAUGE("meridian_node_up", "Whether the store node answers as the admin user.");
    fprintf(f, "meridian_node_up{host=\"%s\"} %d\n", host, hc->g_up);
    GAUGE("meridian_node_role", "The store node's role (1 for the current role).");
    fprintf(f, "meridian_node_role{host=\"%s\",role=\"leader\"} %d\n", host,
            hc->g_up && hc->g_master);
    fprintf(f, "meridian_node_role{host=\"%s\",role=\"replica\"} %d\n", host,
            hc->g_up && !hc->g_master);
    GAUGE("meridian_link_up", "Whether a replica's link to its leader is up.");
    fprintf(f, "meridian_link_up{host=\"%s\"} %d\n", host, hc->g_up && hc->g_link);
    GAUGE("meridian_lag_bytes", "Replication lag behind the leader, in bytes.");
    fprintf(f, "meridian_lag_bytes{host=\"%s\"} %lld\n", host, hc->g_lag > 0 ? hc->g_lag : 0);
    GAUGE("meridian_node_ready", "Whether the store node counts as serving.");
    fprintf(f, "meridian_node_ready{host=\"%s\"} %d\n", host, hc->observed && hc->node_ready);
    if (sv_find(hc->h, SV_SENTINEL)) {
        GAUGE("meridian_sentinel_up", "Whether this host's sentinel answers.");
        fprintf(f, "meridian_sentinel_up{host=\"%s\"} %d\n", host, hc->g_sentinel_up);
    }
    COUNTER("meridian_heals_total", "Restores of the store node, by outcome.");
    fprintf(f, "meridian_heals_total{host=\"%s\",outcome=\"ok\"} %ld\n", host, hc->heals_ok);
    fprintf(f, "meridian_heals_total{host=\"%s\",outcome=\"failed\"} %ld\n", host,
            hc->heals_failed);
    GAUGE("meridian_last_heal_duration_seconds", "Duration of the last pass that acted.");
    fprintf(f, "meridian_last_heal_duration_seconds{host=\"%s\"} %.3f\n", host,
            (double)hc->last_heal_ms / 1000.0);
    COUNTER("meridian_snapshot_bytes_fetched_total", "RDB snapshot bytes fetched for restores.");
    fprintf(f, "meridian_snapshot_bytes_fetched_total{host=\"%s\"} %lld\n", host,
            hc->snapshot_bytes);
    COUNTER("meridian_syncs_seen_total", "Resyncs the leader did for restored nodes, by kind.");
    fprintf(f, "meridian_syncs_seen_total{host=\"%s\",kind=\"partial\"} %ld\n", host,
            hc->syncs_partial);
    fprintf(f, "meridian_syncs_seen_total{host=\"%s\",kind=\"full\"} %ld\n", host,
            hc->syncs_full);
#undef GAUGE
#undef COUNTER
    pthread_mutex_unlock(&hc->mu);
    fclose(f);
    return buf;
}
