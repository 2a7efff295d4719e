#include "status.h"

#include <pthread.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "certs.h"
#include "record.h"
#include "cluster.h"
#include "info.h"
#include "log.h"
#include "reconcile.h"
#include "status_mode.h"

/* ==== the mode ==== */

/* The table of MODE: chosen here, once per probe; nothing else in status
 * asks which mode runs, except the output for its words and fields
 * (status_mode.h).  NULL when status cannot judge that mode yet. */
static const status_mode *status_mode_for(mrd_mode mode)
{
    switch (mode) {
    case MRD_MODE_SENTINEL:
        return &status_mode_sentinel;
    case MRD_MODE_CLUSTER:
        return &status_mode_cluster;
    default:
        return NULL;
    }
}

/* ==== probing ==== */

static void take_node(const store_probe *p, st_node *n)
{
    store_info info;
    mrd_error err;
    if (p->rc != MRD_OK) {
        snprintf(n->problem, sizeof(n->problem), "%s", p->err.msg);
        return;
    }
    if (store_info_parse(p->info, strlen(p->info), &info, &err) != MRD_OK) {
        snprintf(n->problem, sizeof(n->problem), "%s", err.msg);
        return;
    }
    n->reachable = true;
    n->is_master = info.is_master;
    snprintf(n->master_host, sizeof(n->master_host), "%s", info.master_host);
    n->master_port = info.master_port;
    n->link_up = info.link_up;
    n->replica_priority = info.is_master ? -1 : info.replica_priority;
    n->offset = info.is_master ? info.master_repl_offset : info.slave_repl_offset;
    char w[8] = "", b[8] = "";
    store_info_field(p->info, strlen(p->info), "aof_last_write_status", w, sizeof(w));
    store_info_field(p->info, strlen(p->info), "aof_last_bgrewrite_status", b, sizeof(b));
    n->aof_error = strcmp(w, "err") == 0 || strcmp(b, "err") == 0;
    if (p->cluster_nodes && !(n->cluster_nodes = strdup(p->cluster_nodes)))
        return; /* out of memory: judged as unknown */
    store_cluster_info ci;
    if (p->cluster_info &&
        store_cluster_info_parse(p->cluster_info, strlen(p->cluster_info), &ci, NULL) == MRD_OK) {
        snprintf(n->cluster_state, sizeof(n->cluster_state), "%s", ci.state);
        n->cluster_epoch = ci.current_epoch;
    }
}

static void take_sentinel(const store_probe *p, st_sentinel *s)
{
    const sentinel_view *v = p->view;
    if (p->rc != MRD_OK) {
        snprintf(s->problem, sizeof(s->problem), "%s", p->err.msg);
        return;
    }
    s->reachable = true;
    snprintf(s->leader, sizeof(s->leader), "%s:%d", v->leader_ip, v->leader_port);
    for (int i = 0; i < v->nreplicas; i++)
        s->replicas_ok += !v->replicas[i].down;
    for (int i = 0; i < v->nsentinels; i++)
        s->sentinels_ok += !v->sentinels[i].down;
}

/* The live settings (VALUES[i] of ROWS[i], NULL unknown) that differ
 * from the topology, as "maxmemory 64mb (topology: 128mb), ..." in OUT;
 * *FENCED (may be NULL: a sentinel) whether one of them is its agent's
 * fence, which is not drift. */
static void take_drift(const orch_ctx *c, const mrd_setting *const *rows, size_t nrows,
                       const char *const *values, char *out, size_t n, bool *fenced)
{
    mrd_settings want;
    reconcile_wanted(c, &want);
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < nrows; i++) {
        char from[64], to[64];
        if (fenced && reconcile_fenced(rows[i], values[i]))
            *fenced = true;
        if (!reconcile_differs(rows[i], values[i], &want, from, to, sizeof(from)))
            continue;
        int w = snprintf(out + len, n - len, "%s%s %s (topology: %s)", len ? ", " : "",
                         rows[i]->directive, from, to);
        if (w > 0 && (size_t)w < n - len)
            len += (size_t)w;
    }
}

/* ==== asking the agents ==== */

/* GET /v1/health of every agent, run in its own thread while the main
 * thread probes Redis: the two waits overlap, so asking the agents costs
 * one thread start, not a second round of network waits. */
typedef struct agent_job {
    const orch_ctx *c;
    const agent_client_ops *ops;
    agent_result *results; /* new, one per host */
    mrd_rc rc;
    mrd_error err;
} agent_job;

static void *agent_job_run(void *arg)
{
    agent_job *j = arg;
    j->rc = agent_health_all(j->c, j->ops, &j->results, &j->err);
    return NULL;
}

/* The host's agent's answer A about node N, which listens on PORT: the
 * agent's redis entry of that port (an entry without a port is the
 * host's one node). */
static void take_agent(const agent_result *a, int port, st_node *n)
{
    n->ready = -1;
    if (a->http_status == 0) {
        n->agent = ST_AGENT_DOWN;
        snprintf(n->ready_reason, sizeof(n->ready_reason), "%s", a->error);
        return;
    }
    n->agent = ST_AGENT_UP;
    size_t i;
    const json_t *node;
    json_array_foreach(json_object_get(a->body, "nodes"), i, node) {
        const char *kind = json_string_value(json_object_get(node, "kind"));
        const json_t *ready = json_object_get(node, "ready");
        const json_t *at = json_object_get(node, "port");
        if (!kind || strcmp(kind, "redis") != 0 || !json_is_boolean(ready) ||
            (json_is_integer(at) && json_integer_value(at) != port))
            continue;
        n->ready = json_is_true(ready);
        const char *reason = json_string_value(json_object_get(node, "reason"));
        snprintf(n->ready_reason, sizeof(n->ready_reason), "%s",
                 n->ready || !reason ? "" : reason);
        return;
    }
    snprintf(n->ready_reason, sizeof(n->ready_reason), "%s",
             a->error[0] ? a->error : "the agent's health names no redis node");
}

/* ==== judging ==== */

/* A WARNING finding WHAT: the summary when the report was OK, appended to
 * it otherwise (the health stays the worse). */
static void add_warning(st_report *r, const char *what)
{
    if (r->health == MRD_HEALTH_OK) {
        r->health = MRD_HEALTH_WARNING;
        snprintf(r->summary, sizeof(r->summary), "%s", what);
    } else {
        size_t sl = strlen(r->summary);
        snprintf(r->summary + sl, sizeof(r->summary) - sl, "; %s", what);
    }
}

/* An agent that is down stops healing, not serving: at least WARNING,
 * never CRITICAL by itself. */
static void judge_agents(const orch_ctx *c, st_report *r)
{
    const mrd_topology *t = c->topo;
    char names[160] = "";
    size_t len = 0;
    int down = 0;
    for (int i = 0; i < t->nhosts; i++) {
        if (r->hosts[i].agent != ST_AGENT_DOWN)
            continue;
        down++;
        if (len < sizeof(names)) {
            int w = snprintf(names + len, sizeof(names) - len, "%s%s", len ? ", " : "",
                             t->hosts[i].name);
            len += w > 0 ? (size_t)w : 0;
        }
    }
    if (down == 0)
        return;
    char what[224];
    snprintf(what, sizeof(what), down == 1 ? "agent on %s is down" : "agents on %s are down",
             names);
    add_warning(r, what);
}

/* A live setting that differs from the topology (changed behind
 * meridian's back, or a reconcile that did not finish): WARNING, naming the
 * first such process and setting. */
static void judge_drift(const orch_ctx *c, st_report *r)
{
    const mrd_topology *t = c->topo;
    int n = 0;
    char first[256] = "";
    for (int i = 0; i < r->nnodes; i++)
        if (r->nodes[i].drift[0] && n++ == 0) {
            char name[96];
            plan_node_name(c->plan, r->nodes[i].node, name, sizeof(name));
            snprintf(first, sizeof(first), "%s: %s", name, r->nodes[i].drift);
        }
    for (int i = 0; i < r->nsentinels; i++)
        if (r->sentinels[i].drift[0] && n++ == 0)
            snprintf(first, sizeof(first), "sentinel on %s: %s",
                     t->hosts[r->sentinels[i].host].name, r->sentinels[i].drift);
    if (n == 0)
        return;
    char what[256];
    snprintf(what, sizeof(what), "settings drift on %d process%s (%s%s)", n, n == 1 ? "" : "es",
             first, n > 1 ? ", ..." : "");
    add_warning(r, what);
}

/* A node its agent fenced (cut off from a majority, it refuses writes
 * until it reaches one again): WARNING, naming the first such node.  Not
 * drift: the agent lifts the fence, and reconcile leaves it alone. */
static void judge_fenced(const orch_ctx *c, st_report *r)
{
    int n = 0;
    char first[96] = "";
    for (int i = 0; i < r->nnodes; i++)
        if (r->nodes[i].fenced && n++ == 0)
            plan_node_name(c->plan, r->nodes[i].node, first, sizeof(first));
    if (n == 0)
        return;
    char what[256];
    snprintf(what, sizeof(what), "%s%s fenced by its agent (min-replicas-to-write %d or more: "
             "refuses writes until it reaches a majority again)", first,
             n > 1 ? " and others" : "", MRD_FENCE_MIN_REPLICAS);
    add_warning(r, what);
}

/* A node whose AOF cannot be written: it refuses writes (MISCONF) while
 * it cannot append, and a rewrite that failed leaves the AOF growing. */
static void judge_aof(const orch_ctx *c, st_report *r)
{
    int n = 0;
    char first[96] = "";
    for (int i = 0; i < r->nnodes; i++)
        if (r->nodes[i].aof_error && n++ == 0)
            plan_node_name(c->plan, r->nodes[i].node, first, sizeof(first));
    if (n == 0)
        return;
    char what[256];
    snprintf(what, sizeof(what), "%s%s cannot write its AOF (INFO persistence: "
             "aof_last_write_status or aof_last_bgrewrite_status err): a full disk? its log "
             "says why", first, n > 1 ? " and others" : "");
    add_warning(r, what);
}

/* Host H runs something in C's plan and nothing of it answers: its agent
 * and every node and sentinel on it. */
static bool host_lost(const orch_ctx *c, const st_report *r, int h)
{
    if (!orch_host_used(c, h) || r->hosts[h].agent != ST_AGENT_DOWN)
        return false;
    for (int i = 0; i < r->nnodes; i++)
        if (r->nodes[i].host == h && r->nodes[i].reachable)
            return false;
    for (int i = 0; i < r->nsentinels; i++)
        if (r->sentinels[i].host == h && r->sentinels[i].reachable)
            return false;
    return true;
}

/* A lost host: WARNING while a spare can replace it (which, and when),
 * CRITICAL when none keeps the layout safe (what would fix it). */
static void judge_lost_hosts(const orch_ctx *c, st_report *r)
{
    const mrd_topology *t = c->topo;
    for (int h = 0; h < t->nhosts; h++) {
        st_host *sh = &r->hosts[h];
        sh->lost = host_lost(c, r, h);
        if (!sh->lost)
            continue;
        long long since = -1;
        for (int k = 0; k < c->repl.nlost; k++)
            if (strcmp(c->repl.lost[k].host, t->hosts[h].name) == 0)
                since = c->repl.lost[k].since_ms;
        char seen[64] = "";
        if (since > 0)
            snprintf(seen, sizeof(seen), " for %.0f s", (double)(mrd_wall_ms() - since) / 1000.0);
        char why[300];
        int spare = plan_choose_spare(t, c->have_placement ? &c->placement : NULL, &c->repl, h,
                                      why, sizeof(why));
        if (spare < 0) {
            snprintf(sh->problem, sizeof(sh->problem),
                     "%s lost (agent and every process unreachable%s): %s", t->hosts[h].name,
                     seen, why);
            r->health = MRD_HEALTH_CRITICAL;
            snprintf(r->summary, sizeof(r->summary), "%s", sh->problem);
            continue;
        }
        snprintf(sh->problem, sizeof(sh->problem),
                 "%s unreachable (agent and every process%s): `meridian heal` replaces it on "
                 "%s (%s) once it has been unreachable for agent.replace_after_s (%d s)",
                 t->hosts[h].name, seen, t->hosts[spare].name,
                 plan_spare_match(t, h, spare), t->settings.agent.replace_after_s);
        add_warning(r, sh->problem);
    }
}

/* With TLS: every running host's certificate, as deploy gave it (the
 * state dir's copy), and the CA's; WARNING within STATUS_CERT_WARN_DAYS of
 * an end, naming the host. */
static void judge_certs(const orch_ctx *c, st_report *r)
{
    const mrd_topology *t = c->topo;
    if (!t->settings.tls.enabled)
        return;
    time_t now = time(NULL);
    char first[96] = "", path[MRD_PATH_MAX];
    long least = 0;
    int n = 0;
    for (int h = 0; h < t->nhosts; h++) {
        mrd_cert_info info;
        st_host *sh = &r->hosts[h];
        if (!orch_host_used(c, h) ||
            mrd_tls_host_file(c->secrets_dir, t->hosts[h].name, false, path, sizeof(path),
                              NULL) != MRD_OK ||
            mrd_cert_info_read(path, &info, NULL) != MRD_OK)
            continue;
        sh->has_cert = true;
        sh->cert_days = mrd_cert_days_left(&info, now);
        if (sh->cert_days >= STATUS_CERT_WARN_DAYS)
            continue;
        if (n++ == 0 || sh->cert_days < least) {
            least = sh->cert_days;
            snprintf(first, sizeof(first), "%s", t->hosts[h].name);
        }
    }
    char what[320];
    if (n > 0) {
        snprintf(what, sizeof(what),
                 least < 0 ? "the TLS certificate of %s%s has expired: `meridian deploy` "
                             "issues a new one"
                           : "the TLS certificate of %s%s expires in %ld days: `meridian "
                             "deploy` renews it",
                 first, n > 1 ? " (and others)" : "", least);
        add_warning(r, what);
    }
    mrd_cert_info ca;
    if (mrd_tls_ca_file(c->secrets_dir, path, sizeof(path), NULL) == MRD_OK &&
        mrd_cert_info_read(path, &ca, NULL) == MRD_OK &&
        mrd_cert_days_left(&ca, now) < STATUS_CERT_WARN_DAYS) {
        snprintf(what, sizeof(what),
                 "the TLS CA certificate %s expires in %ld days: every host certificate "
                 "depends on it",
                 path, mrd_cert_days_left(&ca, now));
        add_warning(r, what);
    }
}

/* With a backup section: the age of the last good backup this state dir
 * recorded; WARNING past backup.warn_after_h, or when there is none. */
static void judge_backup(const orch_ctx *c, st_report *r)
{
    const mrd_settings *s = &c->topo->settings;
    if (!s->backup.endpoint[0])
        return;
    r->has_backup = true;
    r->backup_age_s = -1;
    backup_last last;
    char what[320];
    if (backup_last_read(c->state_dir, &last, NULL) != MRD_OK) {
        snprintf(what, sizeof(what),
                 "no backup of %s is recorded in this state dir: run `meridian backup`",
                 c->topo->name);
        add_warning(r, what);
        return;
    }
    snprintf(r->backup_id, sizeof(r->backup_id), "%s", last.id);
    r->backup_age_s = (long long)time(NULL) - last.created;
    r->backup_keys = last.keys;
    if (r->backup_age_s > (long long)s->backup.warn_after_h * 3600) {
        snprintf(what, sizeof(what),
                 "the last good backup (%s) is %.1f hours old, more than backup.warn_after_h "
                 "(%d): is `meridian backup` still run?",
                 last.id, (double)r->backup_age_s / 3600.0, s->backup.warn_after_h);
        add_warning(r, what);
    }
}

mrd_rc status_probe(const orch_ctx *c, int timeout_ms, st_report **out, mrd_error *err)
{
    status_opts o = {.timeout_ms = timeout_ms};
    return status_probe_ex(c, &o, out, err);
}

mrd_rc status_probe_ex(const orch_ctx *c, const status_opts *o, st_report **out,
                       mrd_error *err)
{
    *out = NULL;
    const mrd_topology *t = c->topo;
    char admin[MRD_SECRET_LEN];
    const status_mode *mode = status_mode_for(t->mode);
    if (!mode)
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "status cannot judge a topology of this mode yet: only "
                             "\"sentinel\" mode deploys");
    mrd_rc rc = orch_secret(c, "admin", admin, sizeof(admin), err);
    if (rc != MRD_OK)
        return rc;

    const mrd_plan *pl = c->plan;
    int nn = pl->nnodes, ns = pl->nsentinels;
    probe_set *ps = NULL;
    rc = mode->probes(c, admin, &ps, err);
    if (rc != MRD_OK) {
        memset(admin, 0, sizeof(admin));
        return rc;
    }
    st_report *r = calloc(1, sizeof(*r));
    if (r) {
        r->nodes = calloc((size_t)(nn ? nn : 1), sizeof(*r->nodes));
        r->hosts = calloc((size_t)t->nhosts, sizeof(*r->hosts));
        r->sentinels = calloc((size_t)(ns ? ns : 1), sizeof(*r->sentinels));
        r->shards = calloc((size_t)pl->nshards, sizeof(*r->shards));
    }
    if (!r || !r->nodes || !r->hosts || !r->sentinels || !r->shards) {
        memset(admin, 0, sizeof(admin));
        probe_set_free(&ps);
        status_free(&r);
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    r->master = -1;
    r->live_unsafe = -1;
    r->nnodes = nn;
    r->nshards = pl->nshards;
    for (int s = 0; s < pl->nshards; s++)
        r->shards[s].master = -1;
    for (int i = 0; i < nn; i++) {
        r->nodes[i].node = i;
        r->nodes[i].host = pl->nodes[i].host;
        r->nodes[i].shard = pl->nodes[i].shard;
        r->nodes[i].ready = -1;
        r->nodes[i].replica_priority = -1;
        r->nodes[i].cluster_epoch = -1;
    }
    r->nsentinels = ps->nsentinels;
    for (int i = 0; i < ps->nsentinels; i++)
        r->sentinels[i].host = ps->sentinel_host[i];

    agent_job job = {.c = c, .ops = o->agents};
    pthread_t th;
    bool threaded = o->ask_agents && pthread_create(&th, NULL, agent_job_run, &job) == 0;
    rc = probe_set_run(ps, o->timeout_ms);
    memset(admin, 0, sizeof(admin));
    if (threaded)
        pthread_join(th, NULL);
    else if (o->ask_agents)
        agent_job_run(&job); /* no thread to spare: one after the other */
    for (int i = 0; i < nn; i++) {
        const store_probe *p = &ps->probes[i];
        take_node(p, &r->nodes[i]);
        if (p->rc == MRD_OK)
            take_drift(c, ps->node_rows, ps->nnode_rows, (const char *const *)p->config_values,
                       r->nodes[i].drift, sizeof(r->nodes[i].drift), &r->nodes[i].fenced);
    }
    for (int i = 0; i < r->nsentinels; i++) {
        take_sentinel(&ps->probes[nn + i], &r->sentinels[i]);
        const char *values[STORE_PROBE_MAX_CONFIG];
        for (size_t k = 0; k < ps->nsentinel_rows; k++)
            values[k] = probe_set_sentinel_value(ps, i, k);
        take_drift(c, ps->sentinel_rows, ps->nsentinel_rows, values, r->sentinels[i].drift,
                   sizeof(r->sentinels[i].drift), NULL);
    }
    probe_set_free(&ps);
    /* an agent answers for every node on its host */
    for (int i = 0; o->ask_agents && job.rc == MRD_OK && i < t->nhosts; i++)
        r->hosts[i].agent = job.results[i].skipped       ? ST_AGENT_UNASKED
                            : job.results[i].http_status ? ST_AGENT_UP
                                                         : ST_AGENT_DOWN;
    for (int i = 0; o->ask_agents && job.rc == MRD_OK && i < nn; i++)
        take_agent(&job.results[r->nodes[i].host], pl->nodes[i].port, &r->nodes[i]);
    for (int i = 0; o->ask_agents && job.rc != MRD_OK && i < nn; i++) {
        /* the client itself failed (OOM, libcurl): we could not ask */
        r->nodes[i].ready = -1;
        snprintf(r->nodes[i].ready_reason, sizeof(r->nodes[i].ready_reason), "%s",
                 job.err.msg);
    }
    agent_results_free(&job.results, t->nhosts);
    if (rc != MRD_OK) {
        status_free(&r);
        return mrd_error_set(err, rc, "out of memory");
    }
    mode->judge(c, r);
    judge_fenced(c, r);
    judge_aof(c, r);
    judge_drift(c, r);
    judge_agents(c, r);
    if (o->check_certs)
        judge_certs(c, r);
    if (o->check_backup)
        judge_backup(c, r);
    if (o->ask_agents)
        judge_lost_hosts(c, r);
    *out = r;
    return MRD_OK;
}

void status_free(st_report **r)
{
    if (!r || !*r)
        return;
    for (int i = 0; (*r)->nodes && i < (*r)->nnodes; i++)
        free((*r)->nodes[i].cluster_nodes);
    for (int s = 0; (*r)->shards && s < (*r)->nshards; s++)
        free((*r)->shards[s].ranges);
    free((*r)->shards);
    free((*r)->nodes);
    free((*r)->hosts);
    free((*r)->sentinels);
    free((*r)->live_losses);
    free(*r);
    *r = NULL;
}

/* ==== output ==== */

const char *status_shard_state_name(st_shard_state s)
{
    switch (s) {
    case ST_SHARD_DOWN:
        return "down";
    case ST_SHARD_FILLING:
        return "filling";
    case ST_SHARD_DRAINING:
        return "draining";
    case ST_SHARD_RETIRING:
        return "retiring";
    case ST_SHARD_UNBALANCED:
        return "unbalanced";
    case ST_SHARD_SERVING:
    default:
        return "serving";
    }
}

/* Cluster mode: what shard X owns, added to its JSON object O:
 * "slots_owned", "slot_quota", "slot_ranges" [[first, last], ...],
 * "state" and "scale" (a sentence, or null). */
static void shard_slots_json(json_t *o, const st_shard *x, const mrd_plan_shard *ps)
{
    json_t *ranges = json_array();
    for (int k = 0; ranges && k < x->nranges; k++)
        json_array_append_new(ranges, json_pack("[i,i]", x->ranges[k].first, x->ranges[k].last));
    json_object_set_new(o, "slots_owned", json_integer(x->slots_owned));
    json_object_set_new(o, "slot_quota", json_integer(ps->nslots));
    json_object_set_new(o, "slot_ranges", ranges ? ranges : json_null());
    json_object_set_new(o, "state", json_string(status_shard_state_name(x->state)));
    json_object_set_new(o, "scale", x->scale[0] ? json_string(x->scale) : json_null());
}

/* "leader" in sentinel mode, "master" in cluster mode (where each shard
 * has one), "replica", "down". */
static const char *node_role(const orch_ctx *c, const st_report *r, int i)
{
    if (!r->nodes[i].reachable)
        return "down";
    if (!r->nodes[i].is_master)
        return "replica";
    return c->topo->mode == MRD_MODE_CLUSTER ? "master" : "leader";
}

/* Plan node I as {"host", "region"}, null for -1 (new). */
static json_t *plan_node_json(const orch_ctx *c, int i)
{
    if (i < 0)
        return json_null();
    char name[96];
    plan_node_name(c->plan, i, name, sizeof(name));
    return json_pack("{s:s,s:s}", "host", name,
                     "region", c->topo->regions[plan_node_host(c->plan, i)->region].name);
}

/* What `meridian rebalance` would do next (new). */
static json_t *rebalance_json(const orch_ctx *c, const rebal_decision *d)
{
    bool step = d->kind == REBAL_MOVE || d->kind == REBAL_REPOINT;
    return json_pack("{s:b,s:s,s:o,s:i,s:i,s:o,s:o,s:o,s:s}", "needed", rebalance_needed(d),
                     "action", rebalance_kind_name(d->kind), "refusal",
                     d->kind == REBAL_REFUSED ? json_string(rebalance_why_name(d->why))
                                              : json_null(),
                     "off_plan", d->off_plan, "misplaced_replicas", d->misplaced, "shard",
                     step ? json_integer(d->shard + 1) : json_null(), "from",
                     plan_node_json(c, step ? (d->kind == REBAL_MOVE ? d->from : d->node) : -1),
                     "to", plan_node_json(c, step ? d->to : -1), "text", d->text);
}

/* Host H's part in the deployment: "serving", "stands in" (a spare
 * serving in a replaced host's place), "spare" (idle), "replaced", or
 * "lost" (R found it so). */
static const char *host_state(const orch_ctx *c, const st_report *r, int h)
{
    const mrd_plan_host *ph = &c->plan->hosts[h];
    if (r->hosts[h].lost)
        return "lost";
    if (ph->replaced_by >= 0)
        return "replaced";
    if (ph->stands_for >= 0)
        return "stands in";
    return ph->spare ? "spare" : "serving";
}

/* "hosts": every host with its part, and a lost host's sentence. */
static json_t *hosts_json(const orch_ctx *c, const st_report *r)
{
    const mrd_topology *t = c->topo;
    const mrd_plan *p = c->plan;
    json_t *arr = json_array();
    for (int h = 0; arr && h < t->nhosts; h++) {
        const mrd_plan_host *ph = &p->hosts[h];
        json_t *agent = r->hosts[h].agent == ST_AGENT_UNASKED
                            ? json_null()
                            : json_string(r->hosts[h].agent == ST_AGENT_UP ? "up" : "down");
        json_array_append_new(
            arr, json_pack("{s:s,s:s,s:s,s:o,s:s?,s:s?,s:o,s:s?}", "host", t->hosts[h].name,
                           "region", t->regions[t->hosts[h].region].name, "state",
                           host_state(c, r, h), "agent", agent, "stands_for",
                           ph->stands_for >= 0 ? t->hosts[ph->stands_for].name : NULL,
                           "replaced_by",
                           ph->replaced_by >= 0 ? t->hosts[ph->replaced_by].name : NULL,
                           "generation",
                           ph->generation > 0 ? json_integer(ph->generation) : json_null(),
                           "problem", r->hosts[h].problem[0] ? r->hosts[h].problem : NULL));
        if (r->hosts[h].has_cert)
            json_object_set_new(json_array_get(arr, json_array_size(arr) - 1),
                                "cert_expires_in_days", json_integer(r->hosts[h].cert_days));
    }
    return arr;
}

json_t *status_to_json(const orch_ctx *c, const st_report *r)
{
    const mrd_topology *t = c->topo;
    json_t *leader = json_null();
    if (r->master >= 0) {
        const mrd_host *h = plan_node_host(c->plan, r->master);
        leader = json_pack("{s:s,s:s,s:i,s:s}", "host", h->name, "address", h->address,
                           "port", c->plan->nodes[r->master].port, "region",
                           t->regions[h->region].name);
    }
    json_t *nodes = json_array();
    for (int i = 0; i < r->nnodes; i++) {
        const mrd_host *h = &t->hosts[r->nodes[i].host];
        const st_node *n = &r->nodes[i];
        json_t *link = json_null();
        if (n->reachable && !n->is_master)
            link = json_string(n->link_up ? "up" : "down");
        json_t *lag = n->lag_bytes >= 0 ? json_integer(n->lag_bytes) : json_null();
        json_t *ready = n->ready < 0 ? json_null() : json_boolean(n->ready);
        json_t *agent = n->agent == ST_AGENT_UNASKED ? json_null()
                        : json_string(n->agent == ST_AGENT_UP ? "up" : "down");
        json_t *reason = n->ready_reason[0] ? json_string(n->ready_reason) : json_null();
        json_t *prio = n->replica_priority >= 0 ? json_integer(n->replica_priority)
                                                 : json_null();
        json_t *promotable = n->reachable && !n->is_master && n->healthy
                                 ? json_boolean(n->promotable) : json_null();
        json_array_append_new(
            nodes, json_pack("{s:s,s:s,s:s,s:s,s:i,s:s,s:o,s:o,s:b,s:s,s:o,s:o,s:o,s:o,s:o}",
                             "host", h->name, "region", t->regions[h->region].name, "zone",
                             t->zones[h->zone].name, "address", h->address, "port",
                             c->plan->nodes[i].port, "role", node_role(c, r, i), "link", link,
                             "lag_bytes", lag, "healthy", n->healthy, "problem",
                             n->problem, "ready", ready, "agent", agent, "ready_reason",
                             reason, "replica_priority", prio, "promotable", promotable));
        json_t *o = json_array_get(nodes, json_array_size(nodes) - 1);
        json_object_set_new(o, "drift", n->drift[0] ? json_string(n->drift) : json_null());
        json_object_set_new(o, "fenced", json_boolean(n->fenced));
        json_object_set_new(o, "aof_error", json_boolean(n->aof_error));
        json_object_set_new(o, "shard", json_integer(n->shard + 1));
        if (t->mode == MRD_MODE_CLUSTER) {
            json_object_set_new(o, "cluster_state", n->cluster_state[0]
                                                        ? json_string(n->cluster_state)
                                                        : json_null());
            json_object_set_new(o, "slots", json_integer(n->slots));
            json_object_set_new(o, "slot_map_agrees",
                                n->reachable ? json_boolean(n->map_agrees) : json_null());
        }
    }
    json_t *shards = json_array();
    for (int s = 0; s < r->nshards; s++) {
        const st_shard *x = &r->shards[s];
        const mrd_plan_shard *ps = &c->plan->shards[s];
        json_t *master = json_null();
        if (x->master >= 0) {
            const mrd_host *h = plan_node_host(c->plan, x->master);
            master = json_pack("{s:s,s:s,s:i,s:s}", "host", h->name, "address", h->address,
                               "port", c->plan->nodes[x->master].port, "region",
                               t->regions[h->region].name);
        }
        json_array_append_new(
            shards, json_pack("{s:i,s:s,s:o,s:i,s:i,s:i,s:i,s:b,s:o}", "shard", s + 1, "name",
                              ps->name, "master", master, "slot_first", ps->slot_first,
                              "slot_last", ps->slot_last, "slots_served", x->slots_served,
                              "replicas_linked", x->replicas_linked, "replica_outside_region",
                              x->replica_outside,
                              "problem", x->problem[0] ? json_string(x->problem) : json_null()));
        if (t->mode == MRD_MODE_CLUSTER)
            shard_slots_json(json_array_get(shards, json_array_size(shards) - 1), x, ps);
    }
    json_t *sentinels = json_array();
    for (int i = 0; i < r->nsentinels; i++) {
        const st_sentinel *s = &r->sentinels[i];
        const mrd_host *h = &t->hosts[s->host];
        json_array_append_new(
            sentinels,
            json_pack("{s:s,s:s,s:s,s:i,s:o,s:b,s:s}", "host", h->name, "region",
                      t->regions[h->region].name, "address", h->address, "port",
                      t->settings.sentinel.port, "leader",
                      s->reachable ? json_string(s->leader) : json_null(), "ok", s->ok,
                      "problem", s->problem));
        json_object_set_new(json_array_get(sentinels, json_array_size(sentinels) - 1),
                            "drift", s->drift[0] ? json_string(s->drift) : json_null());
    }
    json_t *survival = json_null();
    if (r->live_losses) {
        json_t *losses = json_array();
        for (int i = 0; i < c->plan->nlosses; i++)
            json_array_append_new(losses, plan_loss_to_json(c->plan, &r->live_losses[i]));
        survival = json_pack("{s:b,s:o,s:o}", "ok", r->live_unsafe < 0, "reason",
                             r->live_unsafe >= 0
                                 ? json_string(r->live_losses[r->live_unsafe].reason)
                                 : json_null(),
                             "losses", losses);
    }
    json_t *out = json_pack("{s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:o}", "topology", t->name,
                            "mode", c->plan->mode->name, "health", mrd_health_name(r->health),
                            "summary", r->summary, "leader", leader, "shards", shards, "nodes",
                            nodes, "sentinels", sentinels, "survivability", survival);
    if (out) {
        json_object_set_new(out, "generation", json_integer(c->plan->generation));
        json_object_set_new(out, "hosts", hosts_json(c, r));
    }
    if (out && r->has_backup)
        json_object_set_new(out, "backup",
                            r->backup_id[0]
                                ? json_pack("{s:s,s:I,s:I}", "id", r->backup_id, "age_s",
                                            (json_int_t)r->backup_age_s, "keys",
                                            (json_int_t)r->backup_keys)
                                : json_null());
    if (out && r->has_rebalance)
        json_object_set_new(out, "rebalance", rebalance_json(c, &r->rebalance));
    if (out && t->mode == MRD_MODE_CLUSTER) {
        json_object_set_new(out, "slots_unassigned", json_integer(r->slots_unassigned));
        json_object_set_new(out, "slots_outside", json_integer(r->slots_outside));
    }
    return out;
}

/* The AGENT/READY cell: is the agent up, then its word on the node. */
static const char *agent_ready(const st_node *n)
{
    switch (n->agent) {
    case ST_AGENT_UP:
        return n->ready < 0 ? "up/?" : n->ready ? "up/ready" : "up/not-ready";
    case ST_AGENT_DOWN:
        return "down";
    case ST_AGENT_UNASKED:
    default:
        return "-";
    }
}

/* Shard X's slots for the table: "5461", or "1200/3277" when it owns
 * another count than its quota Q (SLOTS); its ranges when they fit in
 * RANGES ("0-5460", "0-99,200-5460"), else "3277 in 12 ranges"; "-" when
 * it owns none. */
static void shard_slots_cells(const st_shard *x, int q, char *slots, size_t ns, char *ranges,
                              size_t nr)
{
    if (x->slots_owned == q)
        snprintf(slots, ns, "%d", q);
    else
        snprintf(slots, ns, "%d/%d", x->slots_owned, q);
    size_t len = 0;
    ranges[0] = '\0';
    for (int k = 0; k < x->nranges; k++) {
        const st_range *g = &x->ranges[k];
        int w = g->first == g->last
                    ? snprintf(ranges + len, nr - len, "%s%d", k ? "," : "", g->first)
                    : snprintf(ranges + len, nr - len, "%s%d-%d", k ? "," : "", g->first,
                               g->last);
        if (w < 0 || (size_t)w >= nr - len) {
            snprintf(ranges, nr, "%d in %d ranges", x->slots_owned, x->nranges);
            return;
        }
        len += (size_t)w;
    }
    if (!x->nranges)
        snprintf(ranges, nr, "-");
}

/* Cluster mode: one line per shard. */
static void print_shards(FILE *out, const orch_ctx *c, const st_report *r)
{
    const mrd_topology *t = c->topo;
    fprintf(out, "\n%-6s %-10s %-20s %-21s %-10s %-9s %-8s %s\n", "SHARD", "SLOTS", "RANGES",
            "MASTER", "REGION", "REPLICAS", "OUTSIDE", "STATE");
    for (int s = 0; s < r->nshards; s++) {
        const st_shard *x = &r->shards[s];
        const mrd_plan_shard *ps = &c->plan->shards[s];
        char slots[24], ranges[21], master[80] = "-", replicas[16], state[352];
        const char *region = "-";
        shard_slots_cells(x, ps->nslots, slots, sizeof(slots), ranges, sizeof(ranges));
        if (x->master >= 0) {
            const mrd_host *h = plan_node_host(c->plan, x->master);
            snprintf(master, sizeof(master), "%s:%d", h->address,
                     c->plan->nodes[x->master].port);
            region = t->regions[h->region].name;
        }
        snprintf(replicas, sizeof(replicas), "%d/%d", x->replicas_linked, ps->nnodes - 1);
        snprintf(state, sizeof(state), "%s%s%s",
                 x->problem[0] ? x->problem : x->scale[0] ? "" : "ok",
                 x->problem[0] && x->scale[0] ? "; " : "", x->scale);
        fprintf(out, "%-6d %-10s %-20s %-21s %-10s %-9s %-8s %s\n", s + 1, slots, ranges,
                master, region, replicas, x->replica_outside ? "yes" : "no", state);
    }
    if (r->slots_problem[0])
        fprintf(out, "\nslots: %s\n", r->slots_problem);
}

/* The hosts that are not simply serving: spares, stand-ins, replaced and
 * lost hosts (nothing when every host serves). */
static void print_hosts(FILE *out, const orch_ctx *c, const st_report *r)
{
    const mrd_topology *t = c->topo;
    bool header = false;
    for (int h = 0; h < t->nhosts; h++) {
        const char *state = host_state(c, r, h);
        if (strcmp(state, "serving") == 0)
            continue;
        if (!header)
            fprintf(out, "\n%-12s %-10s %-12s %s\n", "HOST", "REGION", "ZONE", "PART");
        header = true;
        const mrd_plan_host *ph = &c->plan->hosts[h];
        char part[400];
        if (r->hosts[h].lost)
            snprintf(part, sizeof(part), "%s", r->hosts[h].problem);
        else if (ph->replaced_by >= 0)
            snprintf(part, sizeof(part), "replaced by %s at generation %d: fenced, runs nothing",
                     t->hosts[ph->replaced_by].name, ph->generation);
        else if (ph->stands_for >= 0)
            snprintf(part, sizeof(part), "spare standing in for %s since generation %d",
                     t->hosts[ph->stands_for].name, ph->generation);
        else
            snprintf(part, sizeof(part), "spare, idle");
        fprintf(out, "%-12s %-10s %-12s %s\n", t->hosts[h].name,
                t->regions[t->hosts[h].region].name, t->zones[t->hosts[h].zone].name, part);
    }
}

void status_print(FILE *out, const orch_ctx *c, const st_report *r)
{
    const mrd_topology *t = c->topo;
    fprintf(out, "%s: %s - %s\n\n", t->name, mrd_health_name(r->health), r->summary);
    fprintf(out, "%-12s %-10s %-12s %-21s %-8s %-5s %10s  %-12s  %s\n", "HOST", "REGION",
            "ZONE", "NODE", "ROLE", "LINK", "LAG", "AGENT/READY", "STATE");
    for (int i = 0; i < r->nnodes; i++) {
        const mrd_host *h = &t->hosts[r->nodes[i].host];
        const st_node *n = &r->nodes[i];
        char node[80], lag[24] = "-";
        snprintf(node, sizeof(node), "%s:%d", h->address, c->plan->nodes[i].port);
        if (n->lag_bytes >= 0)
            snprintf(lag, sizeof(lag), "%lld", n->lag_bytes);
        const char *link = !n->reachable || n->is_master ? "-" : n->link_up ? "up" : "down";
        char state[352];
        snprintf(state, sizeof(state), "%s%s%s", n->healthy ? "healthy" : "",
                 n->healthy && n->problem[0] ? "; " : "", n->problem);
        if (n->fenced)
            snprintf(state + strlen(state), sizeof(state) - strlen(state),
                     "%sfenced by its agent", state[0] ? "; " : "");
        if (n->drift[0])
            snprintf(state + strlen(state), sizeof(state) - strlen(state), "%sdrift: %s",
                     state[0] ? "; " : "", n->drift);
        if (n->agent == ST_AGENT_UP && n->ready == 0 && n->ready_reason[0])
            snprintf(state + strlen(state), sizeof(state) - strlen(state), "%snot ready: %s",
                     state[0] ? "; " : "", n->ready_reason);
        else if (n->agent == ST_AGENT_DOWN && n->ready_reason[0])
            /* why it gave no answer: "agent on ... is not answering: ...",
             * "agent on ...: TLS: certificate verify failed: ..." */
            snprintf(state + strlen(state), sizeof(state) - strlen(state), "%s%s",
                     state[0] ? "; " : "", n->ready_reason);
        fprintf(out, "%-12s %-10s %-12s %-21s %-8s %-5s %10s  %-12s  %s\n", h->name,
                t->regions[h->region].name, t->zones[h->zone].name, node, node_role(c, r, i),
                link, lag, agent_ready(n), state);
    }
    print_hosts(out, c, r);
    if (r->has_backup && r->backup_id[0])
        fprintf(out, "\nbackup: last good %s, %.1f hours ago (%lld keys)\n", r->backup_id,
                (double)r->backup_age_s / 3600.0, r->backup_keys);
    else if (r->has_backup)
        fprintf(out, "\nbackup: none recorded in this state dir\n");
    if (r->nsentinels == 0) {
        print_shards(out, c, r);
        return;
    }
    fprintf(out, "\n%-12s %-10s %-21s %-21s %s\n", "SENTINEL", "REGION", "ADDRESS",
            "NAMES LEADER", "STATE");
    for (int i = 0; i < r->nsentinels; i++) {
        const st_sentinel *s = &r->sentinels[i];
        const mrd_host *h = &t->hosts[s->host];
        char addr[80];
        snprintf(addr, sizeof(addr), "%s:%d", h->address, t->settings.sentinel.port);
        fprintf(out, "%-12s %-10s %-21s %-21s %s%s%s\n", h->name, t->regions[h->region].name,
                addr, s->reachable ? s->leader : "-", s->ok ? "ok" : s->problem,
                s->drift[0] ? "; drift: " : "", s->drift);
    }
}
