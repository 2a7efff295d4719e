/* rollout.c - a rolling restart of every process (rollout.h). */
#include "rollout.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_client.h"
#include "conn.h"
#include "deploy.h"
#include "fsutil.h"
#include "info.h"
#include "manifest.h"
#include "log.h"
#include "switchover.h"

#define RO_PROBE_TIMEOUT_MS 1000
#define RO_POLL_MS 200
#define RO_COOLDOWN_MAX_MS 120000 /* a switchover waits out a cooldown this long */
#define RO_NOT_NOW_MAX_MS 60000   /* an agent that answers "not now" is asked again */

const char *ro_kind_name(ro_kind k)
{
    static const char *const names[] = {"agents", "replica", "sentinel", "switchover"};
    return (unsigned)k < sizeof(names) / sizeof(names[0]) ? names[k] : "unknown";
}

/* ==== the plan (pure) ==== */

static void add(ro_plan *p, ro_kind k, int node, int host, int shard)
{
    if (p->n < ROLLOUT_MAX_STEPS)
        p->steps[p->n++] = (ro_step){.kind = k, .node = node, .host = host, .shard = shard,
                                     .ms = -1, .partial = -1, .pause_ms = -1};
}

static int region_of(const orch_ctx *c, int node)
{
    return c->topo->hosts[c->plan->nodes[node].host].region;
}

/* The replica of SHARD (led by LEADER) to hand over to: in the leader's
 * region first, then the plan's preferred (lowest) replica priority. */
static int handover_target(const orch_ctx *c, int shard, int leader)
{
    const mrd_plan_shard *ps = &c->plan->shards[shard];
    int best = -1;
    for (int i = ps->first; i < ps->first + ps->nnodes; i++) {
        if (i == leader || c->plan->nodes[i].replica_priority <= 0)
            continue;
        bool here = region_of(c, i) == region_of(c, leader);
        bool best_here = best >= 0 && region_of(c, best) == region_of(c, leader);
        if (best < 0 || (here && !best_here) ||
            (here == best_here &&
             c->plan->nodes[i].replica_priority < c->plan->nodes[best].replica_priority))
            best = i;
    }
    return best;
}

mrd_rc rollout_plan(const orch_ctx *c, const st_report *r, ro_plan *out, char *why, size_t n)
{
    const mrd_plan *p = c->plan;
    memset(out, 0, sizeof(*out));
    if (1 + p->nnodes + c->topo->nhosts + p->nshards > ROLLOUT_MAX_STEPS) {
        snprintf(why, n, "more than %d steps", ROLLOUT_MAX_STEPS);
        return MRD_ERR_INVALID;
    }
    int leader[MRD_MF_MAX_SHARDS];
    if (p->nshards > MRD_MF_MAX_SHARDS) {
        snprintf(why, n, "more than %d shards", MRD_MF_MAX_SHARDS);
        return MRD_ERR_INVALID;
    }
    for (int s = 0; s < p->nshards; s++) {
        leader[s] = s < r->nshards ? r->shards[s].master : -1;
        if (p->shards[s].retiring)
            continue;
        if (leader[s] < 0) {
            snprintf(why, n, "shard %d has no master serving now: run `meridian heal` first",
                     s + 1);
            return MRD_ERR_STATE;
        }
        if (handover_target(c, s, leader[s]) < 0) {
            snprintf(why, n, "shard %d has no promotable replica to hand its leader over to",
                     s + 1);
            return MRD_ERR_STATE;
        }
    }
    add(out, RO_AGENTS, -1, -1, -1);
    /* replicas outside their leader's region first, then those in it */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < p->nnodes; i++) {
            int s = p->nodes[i].shard;
            if (p->shards[s].retiring || i == leader[s])
                continue;
            bool here = region_of(c, i) == region_of(c, leader[s]);
            if (here == (pass == 1))
                add(out, RO_REPLICA, i, p->nodes[i].host, s);
        }
    for (int h = 0; h < c->topo->nhosts; h++)
        if (p->hosts[h].sentinel)
            add(out, RO_SENTINEL, -1, h, -1);
    for (int s = 0; s < p->nshards; s++) {
        if (p->shards[s].retiring)
            continue;
        int to = handover_target(c, s, leader[s]);
        add(out, RO_SWITCHOVER, to, p->nodes[to].host, s);
        add(out, RO_REPLICA, leader[s], p->nodes[leader[s]].host, s);
    }
    return MRD_OK;
}

/* ==== the run ==== */

typedef struct ro_run {
    orch_ctx *c;
    const rollout_opts *o;
    rollout_report *r;
    long long t0;
} ro_run;

static void say(const ro_run *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const ro_run *x, const char *fmt, ...)
{
    if (!x->o->progress)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(x->o->progress, "rollout  +%.3f s  ", (double)(mrd_now_ms() - x->t0) / 1000.0);
    vfprintf(x->o->progress, fmt, ap);
    fputc('\n', x->o->progress);
    fflush(x->o->progress);
    va_end(ap);
}

/* "replica euw-a1" / "sentinel aps-a1" / "switchover shard 1 to euw-b1" */
static void step_name(const orch_ctx *c, const ro_step *s, char *buf, size_t n)
{
    char node[64] = "";
    if (s->node >= 0)
        plan_node_name(c->plan, s->node, node, sizeof(node));
    switch (s->kind) {
    case RO_AGENTS:
        snprintf(buf, n, "agents (manifests and meridian-agent on every host)");
        break;
    case RO_REPLICA:
        snprintf(buf, n, "replica %s", node);
        break;
    case RO_SENTINEL:
        snprintf(buf, n, "sentinel %s", c->topo->hosts[s->host].name);
        break;
    case RO_SWITCHOVER:
        snprintf(buf, n, "switchover of shard %d's leader to %s", s->shard + 1, node);
        break;
    }
}

/* ---- the state file ---- */

static mrd_rc state_path(const orch_ctx *c, char *buf, size_t n)
{
    return mrd_path_fmt(buf, n, "%s/%s", c->state_dir, ROLLOUT_STATE_FILE);
}

static mrd_rc state_save(const ro_run *x, mrd_error *err)
{
    char path[MRD_PATH_MAX];
    if (state_path(x->c, path, sizeof(path)) != MRD_OK)
        return mrd_error_set(err, MRD_ERR_INVALID, "state dir %s is too long", x->c->state_dir);
    json_t *steps = json_array();
    const ro_plan *p = &x->r->plan;
    for (int i = 0; i < p->n; i++) {
        const ro_step *s = &p->steps[i];
        json_array_append_new(steps, json_pack("{s:s,s:i,s:i,s:i,s:b,s:I,s:i,s:I,s:s}", "kind",
                                               ro_kind_name(s->kind), "node", s->node, "host",
                                               s->host, "shard", s->shard, "done", s->done,
                                               "ms", (json_int_t)s->ms, "partial", s->partial,
                                               "pause_ms", (json_int_t)s->pause_ms, "detail",
                                               s->detail));
    }
    json_t *j = json_pack("{s:s,s:o}", "topology", x->c->topo->name, "steps", steps);
    return mrd_write_json_atomic(path, j, JSON_INDENT(1), 0600, err);
}

/* The steps of a rollout a killed run left, into P: true when there is
 * one that fits C's plan. */
static bool state_load(const orch_ctx *c, ro_plan *p)
{
    char path[MRD_PATH_MAX];
    if (state_path(c, path, sizeof(path)) != MRD_OK)
        return false;
    json_t *j = json_load_file(path, 0, NULL);
    json_t *steps = json_object_get(j, "steps");
    const char *topo = json_string_value(json_object_get(j, "topology"));
    bool ok = json_is_array(steps) && json_array_size(steps) <= ROLLOUT_MAX_STEPS && topo &&
              strcmp(topo, c->topo->name) == 0;
    memset(p, 0, sizeof(*p));
    size_t i;
    json_t *e;
    json_array_foreach(ok ? steps : NULL, i, e) {
        const char *k = json_string_value(json_object_get(e, "kind"));
        int kind = -1;
        for (int t = RO_AGENTS; k && t <= RO_SWITCHOVER; t++)
            if (strcmp(k, ro_kind_name((ro_kind)t)) == 0)
                kind = t;
        ro_step s = {.kind = (ro_kind)kind,
                     .node = (int)json_integer_value(json_object_get(e, "node")),
                     .host = (int)json_integer_value(json_object_get(e, "host")),
                     .shard = (int)json_integer_value(json_object_get(e, "shard")),
                     .done = json_is_true(json_object_get(e, "done")),
                     .ms = json_integer_value(json_object_get(e, "ms")),
                     .partial = (int)json_integer_value(json_object_get(e, "partial")),
                     .pause_ms = json_integer_value(json_object_get(e, "pause_ms"))};
        const char *detail = json_string_value(json_object_get(e, "detail"));
        snprintf(s.detail, sizeof(s.detail), "%s", detail ? detail : "");
        /* each kind with what it needs, on a node where the plan has it */
        switch (kind) {
        case RO_AGENTS:
            ok = true;
            break;
        case RO_SENTINEL:
            ok = s.host >= 0 && s.host < c->topo->nhosts && c->plan->hosts[s.host].sentinel;
            break;
        case RO_REPLICA:
        case RO_SWITCHOVER:
            ok = s.node >= 0 && s.node < c->plan->nnodes && s.shard >= 0 &&
                 s.shard < c->plan->nshards && c->plan->nodes[s.node].shard == s.shard &&
                 c->plan->nodes[s.node].host == s.host;
            break;
        default:
            ok = false;
        }
        if (!ok)
            break;
        p->steps[p->n++] = s;
    }
    json_decref(j);
    return ok && p->n > 0;
}

/* ---- waiting ---- */

/* Status OK again within TIMEOUT_MS; WHY says what was last wrong. */
static bool wait_ok(const orch_ctx *c, long long timeout_ms, char *why, size_t n)
{
    long long start = mrd_now_ms();
    for (;;) {
        st_report *r = NULL;
        mrd_error err;
        bool ok = status_probe(c, RO_PROBE_TIMEOUT_MS, &r, &err) == MRD_OK &&
                  r->health == MRD_HEALTH_OK;
        snprintf(why, n, "%s", r ? r->summary : err.msg);
        status_free(&r);
        if (ok)
            return true;
        if (mrd_now_ms() - start > timeout_ms)
            return false;
        mrd_sleep_ms(RO_POLL_MS);
    }
}

/* Host H's agent answers GET /v1/health (ready or not) within TIMEOUT_MS. */
static bool agent_answers(const orch_ctx *c, int h, long long timeout_ms)
{
    long long start = mrd_now_ms();
    for (;;) {
        agent_result *res = NULL;
        mrd_error err;
        bool ok = agent_health_all(c, NULL, &res, &err) == MRD_OK && res[h].http_status != 0;
        agent_results_free(&res, c->topo->nhosts);
        if (ok)
            return true;
        if (mrd_now_ms() - start > timeout_ms)
            return false;
        mrd_sleep_ms(RO_POLL_MS);
    }
}

/* ---- steps ---- */

/* Every manifest as the topology says (no setting pinned), then every
 * agent restarted with this build, one host at a time. */
static mrd_rc do_agents(ro_run *x, ro_step *s, mrd_error *err)
{
    deploy_opts d = {.parallel = 0, .verify_timeout_ms = 60000, .progress = NULL};
    if (deploy_hosts(x->c, &d) != 0)
        return mrd_error_set(err, MRD_ERR_STATE,
                             "writing the manifests failed; run `meridian deploy` to see why");
    int n = 0;
    for (int h = 0; h < x->c->topo->nhosts; h++) {
        if (!orch_host_used(x->c, h))
            continue;
        char how[160] = "";
        MRD_TRY(deploy_agent_halt(x->c, h, how, sizeof(how), err));
        MRD_TRY(deploy_agent_start(x->c, h, err));
        if (!agent_answers(x->c, h, ROLLOUT_AGENT_TIMEOUT_MS))
            return mrd_error_set(err, MRD_ERR_TIMEOUT,
                                 "the agent on %s did not answer within %d s of its restart",
                                 x->c->topo->hosts[h].name, ROLLOUT_AGENT_TIMEOUT_MS / 1000);
        n++;
    }
    snprintf(s->detail, sizeof(s->detail), "%d agents restarted; Redis and Sentinel untouched",
             n);
    return MRD_OK;
}

/* POST /v1/restart for the node of S (RO_REPLICA) or the host's sentinel. */
static mrd_rc do_restart(ro_run *x, ro_step *s, mrd_error *err)
{
    int port = s->kind == RO_REPLICA ? x->c->plan->nodes[s->node].port : 0;
    agent_result res;
    long long start = mrd_now_ms();
    for (;;) {
        MRD_TRY(agent_restart_proc(x->c, NULL, s->host, port, &res, err));
        /* 503: not now (a failover ending, a heal pass holding the lock) */
        if (res.http_status != 503 || mrd_now_ms() - start > RO_NOT_NOW_MAX_MS)
            break;
        agent_result_clear(&res);
        mrd_sleep_ms(1000);
    }
    const char *detail = json_string_value(json_object_get(res.body, "detail"));
    const char *error = json_string_value(json_object_get(res.body, "error"));
    json_t *partial = json_object_get(res.body, "partial_resync");
    mrd_rc rc = MRD_OK;
    if (res.http_status != 200)
        rc = mrd_error_set(err, MRD_ERR_STATE, "the agent on %s answered %d: %s",
                           x->c->topo->hosts[s->host].name, res.http_status,
                           error    ? error
                           : detail ? detail
                           : res.error[0] ? res.error
                                          : "no answer");
    s->partial = json_is_true(partial) ? 1 : json_is_false(partial) ? 0 : -1;
    snprintf(s->detail, sizeof(s->detail), "%s", detail ? detail : "");
    agent_result_clear(&res);
    return rc;
}

static mrd_rc do_switchover(ro_run *x, ro_step *s, mrd_error *err)
{
    const char *to = x->c->topo->hosts[s->host].name;
    switchover_opts so = {.to = to, .shard = s->shard, .apply = true,
                          .progress = x->o->progress};
    switchover_report sr;
    long long start = mrd_now_ms();
    for (;;) {
        int rc = switchover_run(x->c, &so, &sr);
        if (rc == 0)
            break;
        if (sr.retry_after_ms > 0 && mrd_now_ms() - start < RO_COOLDOWN_MAX_MS) {
            say(x, "waiting %.1f s for the failover cooldown", (double)sr.retry_after_ms / 1000.0);
            mrd_sleep_ms(sr.retry_after_ms + 100);
            continue;
        }
        return mrd_error_set(err, MRD_ERR_STATE, "switchover %s: %s", sw_outcome_name(sr.outcome),
                             sr.reason);
    }
    s->pause_ms = sr.pause_ms;
    if (sr.outcome == SW_OUT_NOTHING)
        snprintf(s->detail, sizeof(s->detail), "%s", sr.reason);
    else if (sr.pause_ms >= 0)
        snprintf(s->detail, sizeof(s->detail), "%s -> %s, writes paused %lld ms", sr.from_name,
                 sr.to_name, sr.pause_ms);
    else
        snprintf(s->detail, sizeof(s->detail), "%s -> %s", sr.from_name, sr.to_name);
    return MRD_OK;
}

/* Step S, then status OK again. */
static mrd_rc run_step(ro_run *x, ro_step *s, mrd_error *err)
{
    long long start = mrd_now_ms();
    mrd_rc rc;
    switch (s->kind) {
    case RO_AGENTS:
        rc = do_agents(x, s, err);
        break;
    case RO_SWITCHOVER:
        rc = do_switchover(x, s, err);
        break;
    default:
        rc = do_restart(x, s, err);
        break;
    }
    char why[512];
    if (rc == MRD_OK && !wait_ok(x->c, ROLLOUT_READY_TIMEOUT_MS, why, sizeof(why)))
        rc = mrd_error_set(err, MRD_ERR_TIMEOUT, "status not OK within %d s after it: %s",
                           ROLLOUT_READY_TIMEOUT_MS / 1000, why);
    s->ms = mrd_now_ms() - start;
    return rc;
}

/* --upgrade: what each node runs now ("use-a1 /usr/bin/redis-server
 * 7.0.15, ..."), into R->upgrade. */
static void note_servers(ro_run *x)
{
    char admin[MRD_SECRET_LEN];
    mrd_error err;
    size_t len = 0;
    if (orch_secret(x->c, "admin", admin, sizeof(admin), &err) != MRD_OK)
        return;
    for (int i = 0; i < x->c->plan->nnodes && len + 1 < sizeof(x->r->upgrade); i++) {
        store_conn *k = NULL;
        char *text = NULL, exe[160] = "?", ver[32] = "?", name[64];
        const mrd_host *h = &x->c->topo->hosts[x->c->plan->nodes[i].host];
        if (store_conn_open(h->address, x->c->plan->nodes[i].port, "admin", admin,
                            RO_PROBE_TIMEOUT_MS, &k, &err) == MRD_OK &&
            store_info_text(k, "server", &text, &err) == MRD_OK) {
            store_info_field(text, strlen(text), "executable", exe, sizeof(exe));
            store_info_field(text, strlen(text), "redis_version", ver, sizeof(ver));
        }
        free(text);
        store_conn_close(&k);
        plan_node_name(x->c->plan, i, name, sizeof(name));
        int w = snprintf(x->r->upgrade + len, sizeof(x->r->upgrade) - len, "%s%s %s %s",
                         len ? ", " : "", name, exe, ver);
        if (w > 0)
            len += (size_t)w;
    }
    memset(admin, 0, sizeof(admin));
}

int rollout_run(orch_ctx *c, const rollout_opts *o, rollout_report *r)
{
    memset(r, 0, sizeof(*r));
    ro_run x = {.c = c, .o = o, .r = r, .t0 = mrd_now_ms()};
    mrd_error err;
    mrd_error_clear(&err);
    ro_plan *p = &r->plan;
    r->resumed = state_load(c, p);
    if (!r->resumed) {
        st_report *st = NULL;
        if (status_probe(c, RO_PROBE_TIMEOUT_MS, &st, &err) != MRD_OK) {
            snprintf(r->reason, sizeof(r->reason), "could not read the deployment: %s", err.msg);
            return 3;
        }
        bool healthy = st->health == MRD_HEALTH_OK;
        if (!healthy)
            snprintf(r->reason, sizeof(r->reason),
                     "the deployment is not healthy (%s: %s); a rollout starts only from OK",
                     mrd_health_name(st->health), st->summary);
        mrd_rc prc = healthy ? rollout_plan(c, st, p, r->reason, sizeof(r->reason)) : MRD_OK;
        status_free(&st);
        if (!healthy || prc != MRD_OK)
            return 2;
    }
    char name[160];
    if (!o->apply) {
        for (int i = 0; i < p->n; i++)
            if (!p->steps[i].done) {
                step_name(c, &p->steps[i], name, sizeof(name));
                say(&x, "[%d/%d] would restart: %s", i + 1, p->n, name);
            }
        snprintf(r->reason, sizeof(r->reason), "%d step%s to take%s", p->n,
                 p->n == 1 ? "" : "s", r->resumed ? " (a killed rollout's, resumed)" : "");
        return 1;
    }
    if (state_save(&x, &err) != MRD_OK) {
        snprintf(r->reason, sizeof(r->reason), "cannot write the state: %s", err.msg);
        return 2;
    }
    if (r->resumed) {
        int done = 0;
        for (int i = 0; i < p->n; i++)
            done += p->steps[i].done;
        say(&x, "resuming a rollout that was stopped: %d of %d steps were done", done, p->n);
    }
    for (int i = 0; i < p->n; i++) {
        ro_step *s = &p->steps[i];
        if (s->done)
            continue;
        step_name(c, s, name, sizeof(name));
        char why[512];
        if (!wait_ok(c, ROLLOUT_READY_TIMEOUT_MS, why, sizeof(why))) {
            snprintf(r->reason, sizeof(r->reason), "step %d (%s) not started: status not OK "
                     "within %d s: %s; run the rollout again once it is",
                     i + 1, name, ROLLOUT_READY_TIMEOUT_MS / 1000, why);
            break;
        }
        say(&x, "[%d/%d] %s", i + 1, p->n, name);
        r->attempted++;
        if (run_step(&x, s, &err) != MRD_OK) {
            snprintf(r->reason, sizeof(r->reason), "step %d (%s): %s; run the rollout again to "
                     "go on from it", i + 1, name, err.msg);
            state_save(&x, NULL);
            break;
        }
        s->done = true;
        state_save(&x, NULL);
        say(&x, "[%d/%d] %s: done in %.1f s%s%s%s", i + 1, p->n, name, (double)s->ms / 1000.0,
            s->kind == RO_REPLICA ? (s->partial == 1   ? ", partial resync"
                                     : s->partial == 0 ? ", FULL SYNC"
                                                       : "")
                                  : "",
            s->detail[0] ? "; " : "", s->detail);
    }
    bool pause_known = false;
    for (int i = 0; i < p->n; i++) {
        const ro_step *s = &p->steps[i];
        r->done += s->done;
        r->full_syncs += s->kind == RO_REPLICA && s->done && s->partial == 0;
        r->syncs_unknown += s->kind == RO_REPLICA && s->done && s->partial < 0;
        pause_known |= s->kind == RO_SWITCHOVER && s->pause_ms >= 0;
        r->pause_ms += s->pause_ms > 0 ? s->pause_ms : 0;
    }
    if (!pause_known)
        r->pause_ms = -1;
    if (o->upgrade)
        note_servers(&x);
    r->ms = mrd_now_ms() - x.t0;
    if (r->done < p->n)
        return 2;
    char path[MRD_PATH_MAX];
    if (state_path(c, path, sizeof(path)) == MRD_OK)
        unlink(path);
    return 0;
}

json_t *rollout_report_json(const orch_ctx *c, const rollout_report *r)
{
    json_t *steps = json_array();
    for (int i = 0; i < r->plan.n; i++) {
        const ro_step *s = &r->plan.steps[i];
        char node[64] = "";
        if (s->node >= 0)
            plan_node_name(c->plan, s->node, node, sizeof(node));
        json_array_append_new(
            steps,
            json_pack("{s:s,s:o,s:o,s:b,s:o,s:o,s:o,s:s}", "step", ro_kind_name(s->kind), "host",
                      s->host >= 0 ? json_string(c->topo->hosts[s->host].name) : json_null(),
                      "node", node[0] ? json_string(node) : json_null(), "done", s->done, "ms",
                      s->ms >= 0 ? json_integer(s->ms) : json_null(), "partial_resync",
                      s->kind != RO_REPLICA || s->partial < 0 ? json_null()
                                                              : json_boolean(s->partial == 1),
                      "pause_ms", s->pause_ms >= 0 ? json_integer(s->pause_ms) : json_null(),
                      "detail", s->detail));
    }
    return json_pack("{s:b,s:i,s:i,s:o,s:i,s:i,s:o,s:I,s:b,s:o,s:o}", "done",
                     r->plan.n > 0 && r->done == r->plan.n, "steps_done", r->done, "steps_total",
                     r->plan.n, "steps", steps, "full_syncs", r->full_syncs, "syncs_unknown",
                     r->syncs_unknown, "pause_ms",
                     r->pause_ms >= 0 ? json_integer(r->pause_ms) : json_null(), "ms",
                     (json_int_t)r->ms, "resumed", r->resumed,
                     "reason", r->reason[0] ? json_string(r->reason) : json_null(), "servers",
                     r->upgrade[0] ? json_string(r->upgrade) : json_null());
}
