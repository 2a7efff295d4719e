/* heal.c - the heal pass's front end (see heal_int.h): the lock, the
 * per-node state, deciding, the report, the API views and the metrics. */
#include "heal.h"

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

#include "fsutil.h"
#include "heal_int.h"
#include "log.h"

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

/* ==== state ==== */

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
        /* before nodes and shards the file held the host's one node's
         * state at its top level: it is the node on store.port's */
        if (!all && hn->proc->port == hc->h->m->settings.store.port)
            o = j;
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

void heal_state_save(const heal_ctx *hc)
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
    hc->mode = strcmp(h->m->mode, "cluster") == 0 ? &heal_mode_cluster : &heal_mode_sentinel;
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

/* Observe node HN: the process facts here, the rest through the mode. */
mrd_rc heal_observe(heal_ctx *hc, heal_node *hn, heal_obs *o, mrd_error *err)
{
    memset(o, 0, sizeof(*o));
    o->hn = hn;
    sv_reap(hc->h);
    sv_refresh(hc->h);
    MRD_TRY(hc->mode->observe(hc, o, err));
    heal_facts *f = &o->f;
    f->proc_alive = hn->proc->pid != 0;
    f->data_dir_ok = mrd_path_exists(hn->proc->dir);
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

/* ==== the crash fast path ==== */

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
    int lock = heal_lock_take(hc->h->m, 0);
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
        char died[48];
        snprintf(died, sizeof(died), "%s %d",
                 WIFSIGNALED(status) ? "signal" : "exit status",
                 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        /* what the last observation found (an API call may be updating it) */
        int to[HEAL_FAST_MAX], nto;
        pthread_mutex_lock(&hc->mu);
        bool leader = hn->last_self_leader;
        nto = hn->nfast_to;
        memcpy(to, hn->fast_to, sizeof(to));
        pthread_mutex_unlock(&hc->mu);
        /* The process is gone (we reaped it), so the leader cannot still be
         * answering; ask once per the store's cooldown, never twice. */
        char detail[512] = "";
        bool asked = false;
        if (leader && m->settings.agent.crash_fast_path &&
            heal_fast_path_due(hn->failover_asked_ms, now, hc->mode->fast_path_cooldown_ms(m)))
            asked = hc->mode->fail_over_now(hc, hn, to, nto, died, detail, sizeof(detail));
        if (asked) {
            hn->failover_asked_ms = now;
            pthread_mutex_lock(&hc->mu);
            hn->last_self_leader = false;
            pthread_mutex_unlock(&hc->mu);
            events_emit(hc->ev, "+leader-crashed", redis->label, "%s (%lld ms)", detail,
                        mrd_now_ms() - t0);
            heal_state_save(hc);
        } else {
            mrd_warn("%s/%s: pid %d %s %d%s%s", m->host, redis->label, (int)pid,
                     WIFSIGNALED(status) ? "killed by signal" : "exited with status",
                     WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
                     detail[0] ? ": " : "", detail);
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

static json_t *node_json(const heal_obs *o, heal_action a)
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

/* Why a node whose action is A is not ready: the mode's words where they
 * name its authority, else the words every mode shares ("" for none). */
static const char *heal_reason(const heal_ctx *hc, heal_action a)
{
    const char *mode = hc->mode->reason(a);
    if (mode)
        return mode;
    switch (a) {
    case HEAL_WAIT_SYNC: return "replica is syncing or catching up";
    case HEAL_RESTORE: return "lost: needs a restore";
    case HEAL_BACKOFF: return "lost; backing off after failed or repeated restores";
    case HEAL_REPAIR: return "a safety setting differs from the manifest";
    default: return "";
    }
}

/* The observations of one pass (or of a /v1/nodes call): one per node of
 * this host, and the action each node's facts decide. */
typedef struct round {
    heal_obs obs[MRD_MF_MAX_HOST_NODES];
    heal_action actions[MRD_MF_MAX_HOST_NODES];
    int n;        /* observed so far (all of hc->nnodes on success) */
} round;

static void round_free(const heal_ctx *hc, round *r)
{
    for (int i = 0; i < r->n; i++)
        hc->mode->obs_free(&r->obs[i]);
    r->n = 0;
}

static mrd_rc observe_all(heal_ctx *hc, round *r, mrd_error *err)
{
    r->n = 0;
    for (int i = 0; i < hc->nnodes; i++) {
        mrd_rc rc = heal_observe(hc, &hc->nodes[i], &r->obs[i], err);
        if (rc != MRD_OK) {
            round_free(hc, r);
            return rc;
        }
        r->actions[i] = heal_decide(&r->obs[i].f, hc->mode->down_after_ms(hc->h->m));
        r->n++;
    }
    return MRD_OK;
}

/* The /v1/nodes array of a round: each node, then the host's own
 * processes (sentinel mode: the sentinel). */
static json_t *round_json(const heal_ctx *hc, const round *r)
{
    json_t *nodes = json_array();
    for (int i = 0; i < r->n; i++)
        json_array_append_new(nodes, node_json(&r->obs[i], r->actions[i]));
    if (r->n > 0)
        hc->mode->host_json(hc, &r->obs[0], nodes);
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
        const heal_obs *o = &r->obs[i];
        heal_node *hn = o->hn;
        heal_action a = r->actions[i];
        hn->ready = a == HEAL_NONE;
        if (a == HEAL_REPAIR)
            snprintf(hn->reason, sizeof(hn->reason), "%s: %s", heal_reason(hc, a), o->drift);
        else
            snprintf(hn->reason, sizeof(hn->reason), "%s", heal_reason(hc, a));
        hn->g_up = o->f.reachable;
        hn->g_master = o->f.is_master;
        hn->last_self_leader = o->f.self_is_leader && o->f.reachable && o->f.is_master;
        hn->nfast_to = hn->last_self_leader ? o->nfast_to : 0;
        memcpy(hn->fast_to, o->fast_to, sizeof(hn->fast_to));
        hn->g_link = o->f.link_up;
        hn->g_lag = o->f.lag_bytes;
    }
    if (r->n > 0)
        hc->mode->host_state(hc, &r->obs[0], &hc->g_host_up, &hc->host_ready, hc->host_reason,
                             sizeof(hc->host_reason));
    pthread_mutex_unlock(&hc->mu);
}

static mrd_health code_for(const heal_step *ps, heal_action a)
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

/* Act on one node's observation, and on the host's own processes when
 * HOST_LOST (the first node's part of the pass does that). */
static void act_on(heal_step *ps, heal_action a, bool host_lost)
{
    const heal_obs *o = ps->o;
    if (!o->f.data_dir_ok && (o->f.proc_alive || o->f.reachable)) {
        /* a live node: give it its folder back for its next restart */
        if (mrd_mkdir_p(ps->hn->proc->dir, 0700, NULL) == MRD_OK)
            heal_act(ps, "+datadir-recreated", ps->hn->proc->label,
                     "the node runs but its data dir was gone; recreated it");
    }
    if (host_lost)
        ps->hc->mode->host_act(ps);
    ps->hc->mode->act(ps, a);
}

/* ==== nodes not in the manifest (retire.h) ==== */

/* May this pass retire?  The agent's own passes may; a cron-mode check
 * only when no agent runs for the host: a running agent retires by its own
 * manifest, which is not the one on disk until it is restarted with it,
 * and a node of that manifest stopped under it would be one it restores. */
static bool may_retire(const heal_ctx *hc, pid_t *agent)
{
    char path[MRD_MF_PATH];
    pid_t pid;
    *agent = 0;
    if (hc->child_mode)
        return true;
    if (manifest_path(hc->h->m, "agent.pid", path, sizeof(path)) == MRD_OK &&
        mrd_pidfile_read(path, &pid, NULL) == MRD_OK && pid != getpid() &&
        mrd_pid_is(pid, "meridian-agent"))
        *agent = pid;
    return *agent == 0;
}

/* Log a leftover's sentence, unless the last pass logged the same one less
 * than HEAL_LEFTOVER_RELOG_MS ago (a host that is not ready is passed over
 * every few hundred ms); LAST[N] is the last pass's list.  Returns when it
 * was logged. */
static long long log_leftover(const heal_ctx *hc, const heal_leftover *last, int n,
                              const retire_node *rn, const char *text)
{
    long long now = mrd_now_ms();
    for (int i = 0; i < n; i++)
        if (last[i].port == rn->port && strcmp(last[i].reason, text) == 0 &&
            now - last[i].logged_ms < HEAL_LEFTOVER_RELOG_MS)
            return last[i].logged_ms;
    if (rn->action == RETIRE_KEEP)
        mrd_errorlog("%s/%s: %s", hc->h->m->host, rn->label, text);
    else
        mrd_warn("%s/%s: %s", hc->h->m->host, rn->label, text);
    return now;
}

/* Find, judge and (when the pass acts and may) retire the node folders of
 * the host that the manifest does not list.  Their entries go to OUT (the
 * report's "leftovers"); what the pass did or could not do to SUMMARY (N
 * bytes, appended with "; "); *FOUND says whether there were any, *ACTED
 * whether one was retired.  The ones left stay in hc->leftovers. */
static void leftovers_pass(heal_ctx *hc, bool do_act, json_t *actions, json_t *out,
                             char *summary, size_t n, bool *found, bool *acted)
{
    const sv_host *h = hc->h;
    retire_node *rn = calloc(RETIRE_MAX, sizeof(*rn));
    heal_leftover *left = calloc(RETIRE_MAX, sizeof(*left));
    heal_leftover last[RETIRE_MAX];
    mrd_error err;
    int nleft = 0, nlast;
    *found = *acted = false;
    if (!rn || !left) {
        free(rn);
        free(left);
        return;
    }
    int nf = retire_find(h, rn, RETIRE_MAX, &err);
    if (nf < 0)
        mrd_warn("%s: cannot look for nodes that are not in the manifest: %s", h->m->host,
                 err.msg);
    if (nf > RETIRE_MAX)
        mrd_warn("%s: %d node folders are not in the manifest; judging the first %d this "
                 "pass", h->m->host, nf, RETIRE_MAX);
    pid_t agent = 0;
    bool act = do_act && may_retire(hc, &agent);
    pthread_mutex_lock(&hc->mu);
    nlast = hc->nleftovers;
    memcpy(last, hc->leftovers, sizeof(last));
    pthread_mutex_unlock(&hc->mu);
    heal_step ps = {.hc = hc, .actions = actions};
    for (int i = 0; i < nf && i < RETIRE_MAX; i++) {
        retire_node *r = &rn[i];
        char text[384], to[MRD_MF_PATH] = "";
        *found = true;
        retire_observe(h, r, HEAL_PROBE_TIMEOUT_MS);
        retire_explain(r->label, r->port, &r->f, r->action, r->pid, r->why, text,
                       sizeof(text));
        bool retirable = r->action == RETIRE_MOVE || r->action == RETIRE_STOP;
        bool retired = false;
        if (retirable && act) {
            pid_t pid = r->pid;
            retire_action was = r->action;
            if (retire_act(h, r, RETIRE_STOP_MS, to, sizeof(to), &err) == MRD_OK) {
                retired = *acted = true;
                if (was == RETIRE_STOP)
                    heal_act(&ps, "+retired", r->label,
                             "not in the manifest, held no key%s: stopped pid %d; folder "
                             "moved to %s", r->f.cluster ? " and no slot" : "", (int)pid, to);
                else
                    heal_act(&ps, "+retired", r->label,
                             "not in the manifest, not running: folder moved to %s", to);
                snprintf(text, sizeof(text), "retired %s (not in the manifest)", r->label);
            } else if (r->action == RETIRE_KEEP || r->action == RETIRE_WAIT) {
                /* counted again with its writes paused: not empty after all */
                retire_explain(r->label, r->port, &r->f, r->action, r->pid, r->why, text,
                               sizeof(text));
            } else {
                snprintf(text, sizeof(text), "node %s is not in the manifest; retiring it "
                         "failed: %s; tried again at the next pass", r->label, err.msg);
                r->action = RETIRE_WAIT;
            }
        } else if (retirable && do_act) {
            snprintf(text, sizeof(text), "node %s is not in the manifest: the running agent "
                     "(pid %d) retires it", r->label, (int)agent);
        } else if (retirable) { /* check without --heal: say what --heal does */
            size_t tl = strlen(text);
            snprintf(text + tl, sizeof(text) - tl, " (by check --heal)");
        }
        if (!retired) { /* the host is not ready until it is resolved */
            heal_leftover *l = &left[nleft++];
            l->port = r->port;
            snprintf(l->reason, sizeof(l->reason), "%s", text);
            l->logged_ms = log_leftover(hc, last, nlast, r, text);
        }
        size_t sl = strlen(summary);
        snprintf(summary + sl, n - sl, "%s%s", sl ? "; " : "", text);
        json_array_append_new(out, json_pack("{s:s,s:i,s:i,s:s,s:b,s:s}", "folder", r->label,
                                             "port", r->port, "pid", (int)r->pid, "action",
                                             retire_action_name(r->action), "retired", retired,
                                             "detail", text));
    }
    pthread_mutex_lock(&hc->mu);
    memcpy(hc->leftovers, left, sizeof(hc->leftovers));
    hc->nleftovers = nleft;
    if (hc->nnodes == 0) /* a host left with no node: this was all there is */
        hc->observed = true;
    pthread_mutex_unlock(&hc->mu);
    free(rn);
    free(left);
}

mrd_rc heal_pass(heal_ctx *hc, bool do_act, int lock_wait_ms, json_t **report,
                 mrd_health *code, mrd_error *err)
{
    *report = NULL;
    *code = MRD_HEALTH_UNKNOWN;
    long long t0 = mrd_now_ms();
    int lock = heal_lock_take(hc->h->m, lock_wait_ms);
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
    bool host_lost = r.n > 0 && hc->mode->host_lost(hc, &r.obs[0]);
    bool acted = false;
    mrd_health c = MRD_HEALTH_OK;
    char summary[1536] = "";
    size_t slen = 0;
    heal_step passes[MRD_MF_MAX_HOST_NODES];
    for (int i = 0; i < r.n; i++) {
        passes[i] = (heal_step){.hc = hc, .o = &r.obs[i], .hn = r.obs[i].hn, .actions = actions};
        if (do_act)
            act_on(&passes[i], r.actions[i], host_lost && i == 0);
        acted |= passes[i].acted;
    }
    /* After the host's own nodes: a leftover's stop may take seconds. */
    json_t *leftovers = json_array();
    char lsum[1024] = "";
    bool found_leftovers, retired;
    leftovers_pass(hc, do_act, actions, leftovers, lsum, sizeof(lsum), &found_leftovers,
                     &retired);
    acted |= retired;
    if (acted) { /* observe again: the report shows the result */
        round_free(hc, &r);
        if (observe_all(hc, &r, err) != MRD_OK)
            r.n = 0;
    }
    for (int i = 0; i < hc->nnodes; i++) {
        heal_step *ps = &passes[i];
        heal_action a = i < r.n ? r.actions[i] : HEAL_WAIT_SYNC;
        c = mrd_health_worst(c, i < r.n ? code_for(ps, a) : MRD_HEALTH_UNKNOWN);
        if (!ps->summary[0] && a == HEAL_REPAIR)
            snprintf(ps->summary, sizeof(ps->summary), "%s: %s", heal_reason(hc, a),
                     r.obs[i].drift);
        else if (!ps->summary[0] && a != HEAL_NONE)
            snprintf(ps->summary, sizeof(ps->summary), "%s", heal_reason(hc, a));
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
    if (c == MRD_HEALTH_OK && (host_lost || found_leftovers))
        c = MRD_HEALTH_WARNING;
    if (lsum[0]) {
        int w = snprintf(summary + slen, sizeof(summary) - slen, "%s%s", slen ? "; " : "",
                         lsum);
        if (w > 0 && (size_t)w < sizeof(summary) - slen)
            slen += (size_t)w;
    }
    if (!summary[0] && host_lost && !do_act)
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
    heal_state_save(hc);
    json_t *nodes = r.n > 0 ? round_json(hc, &r) : json_array();
    *report = json_pack("{s:s,s:i,s:s,s:s,s:I,s:o,s:o,s:o}", "host", m->host, "code", (int)c,
                        "status", mrd_health_name(c), "summary", summary, "duration_ms",
                        (json_int_t)dur, "actions", actions, "nodes", nodes, "leftovers",
                        leftovers);
    *code = c;
    round_free(hc, &r);
    close(lock);
    return *report ? MRD_OK : mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
}

/* ==== API views ==== */

json_t *heal_health(heal_ctx *hc, bool *ready)
{
    pthread_mutex_lock(&hc->mu);
    bool has_sentinel = sv_find(hc->h, SV_SENTINEL) != NULL;
    bool observed = hc->observed;
    *ready = observed && (!has_sentinel || hc->host_ready) && hc->nleftovers == 0;
    /* A node the manifest does not list and the last pass could not retire
     * makes the host not ready.  `meridian status` and deploy verification
     * read each node's entry by port, so a node that is ready otherwise
     * carries the first such sentence; the leftovers have entries too. */
    const char *leftover = hc->nleftovers > 0 ? hc->leftovers[0].reason : NULL;
    json_t *nodes = json_array();
    for (int i = 0; i < hc->nnodes; i++) {
        const heal_node *hn = &hc->nodes[i];
        bool node_ready = observed && hn->ready && !leftover;
        const char *reason = !observed ? "not checked yet"
                             : hn->ready && leftover ? leftover
                                                     : hn->reason;
        *ready = *ready && hn->ready;
        json_array_append_new(nodes, json_pack("{s:s,s:i,s:b,s:s}", "kind", "redis", "port",
                                               hn->proc->port, "ready", node_ready, "reason",
                                               reason));
    }
    for (int i = 0; observed && i < hc->nleftovers; i++)
        json_array_append_new(nodes, json_pack("{s:s,s:i,s:b,s:s}", "kind", "leftover", "port",
                                               hc->leftovers[i].port, "ready", false, "reason",
                                               hc->leftovers[i].reason));
    if (has_sentinel)
        json_array_append_new(nodes,
                              json_pack("{s:s,s:b,s:s}", "kind", "sentinel", "ready",
                                        observed && hc->host_ready, "reason",
                                        observed ? hc->host_reason : "not checked yet"));
    pthread_mutex_unlock(&hc->mu);
    return json_pack("{s:s,s:b,s:o}", "host", hc->h->m->host, "ready", *ready, "nodes",
                     nodes);
}

json_t *heal_nodes(heal_ctx *hc)
{
    /* Observe under the heal lock (a pass changes the processes); when a
     * pass is running, answer from the last observation instead of waiting. */
    int lock = heal_lock_take(hc->h->m, 200);
    if (lock >= 0) {
        round r;
        if (observe_all(hc, &r, NULL) == MRD_OK) {
            remember(hc, &r);
            round_free(hc, &r);
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
        fprintf(f, "meridian_sentinel_up{host=\"%s\"} %d\n", host, hc->g_host_up);
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
