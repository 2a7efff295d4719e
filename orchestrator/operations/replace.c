/* replace.c - a host that never comes back, replaced on a spare host: the
 * steps replace.h lists. */
#include "replace.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "conn.h"
#include "deploy.h"
#include "lock.h"
#include "log.h"
#include "manifest.h"
#include "scale.h"
#include "sentinel.h"

#define REPLACE_LOCK_RECORD "replace.lock" /* names the state dir's lock holder */
#define REPLACE_PROBE_TIMEOUT_MS 500
#define REPLACE_POLL_MS 100
#define REPLACE_FORGET_TIMEOUT_MS 30000  /* one sentinel sees everything again */
#define REPLACE_CLUSTER_FORGET_MS 10000  /* the old nodes stay silent this long */

const char *replace_outcome_name(replace_outcome o)
{
    switch (o) {
    case REPLACE_WAITING:
        return "waiting";
    case REPLACE_BLOCKED:
        return "blocked";
    case REPLACE_REPLACED:
        return "replaced";
    case REPLACE_FAILED:
        return "failed";
    case REPLACE_BACK:
        return "back";
    }
    return "?";
}

static void say(const replace_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const replace_opts *o, const char *fmt, ...)
{
    if (!o->progress)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(o->progress, fmt, ap);
    va_end(ap);
    fputc('\n', o->progress);
    fflush(o->progress);
}

/* The item of HOST in R, added when new (NULL when R is full). */
static replace_item *item_of(replace_report *r, const char *host)
{
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->items[i].host, host) == 0)
            return &r->items[i];
    if (r->n >= (int)(sizeof(r->items) / sizeof(r->items[0])))
        return NULL;
    replace_item *it = &r->items[r->n++];
    *it = (replace_item){.detect_ms = -1, .ready_ms = -1, .forget_ms = -1};
    snprintf(it->host, sizeof(it->host), "%s", host);
    return it;
}

static void set_item(replace_item *it, replace_outcome o, mrd_health code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void set_item(replace_item *it, replace_outcome o, mrd_health code, const char *fmt, ...)
{
    if (!it)
        return;
    it->outcome = o;
    it->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(it->text, sizeof(it->text), fmt, ap);
    va_end(ap);
}

/* ==== looking ==== */

static mrd_rc probe(orch_ctx *c, st_report **r, mrd_error *err)
{
    status_opts so = {.timeout_ms = REPLACE_PROBE_TIMEOUT_MS, .ask_agents = true};
    return status_probe_ex(c, &so, r, err);
}

bool replace_can_act(const orch_ctx *c, const st_report *r, int lost, char *why, size_t n)
{
    const mrd_plan *p = c->plan;
    if (c->topo->mode == MRD_MODE_SENTINEL) {
        if (r->master < 0) {
            snprintf(why, n, "no majority of the sentinels names one master (a failover "
                             "running, or this machine sees only a minority)");
            return false;
        }
        const st_node *m = &r->nodes[r->master];
        if (!m->reachable || !m->is_master || m->host == lost) {
            snprintf(why, n, "the master the sentinels name does not answer as master yet "
                             "(a failover running)");
            return false;
        }
        int agree = 0;
        for (int i = 0; i < r->nsentinels; i++)
            agree += r->sentinels[i].reachable && r->sentinels[i].leader[0];
        if (agree < p->majority) {
            snprintf(why, n, "%d of %d sentinels answer, fewer than the majority of %d", agree,
                     p->nsentinels, p->majority);
            return false;
        }
        return true;
    }
    int owning = 0, live = 0;
    for (int s = 0; s < r->nshards; s++) {
        if (p->shards[s].retiring)
            continue;
        owning++;
        const st_shard *sh = &r->shards[s];
        if (sh->master < 0 || sh->state == ST_SHARD_DOWN ||
            !r->nodes[sh->master].reachable || r->nodes[sh->master].host == lost) {
            snprintf(why, n, "shard %d has no live master yet (its failover is running)",
                     s + 1);
            return false;
        }
        live++;
    }
    if (live < mrd_majority(owning)) {
        snprintf(why, n, "%d of %d masters answer, fewer than the majority of %d", live,
                 owning, mrd_majority(owning));
        return false;
    }
    return true;
}

/* ==== the steps of one replacement ==== */

/* The spare's agent says it is ready (every node restored). */
static mrd_rc wait_ready(orch_ctx *c, int spare, const replace_opts *o, mrd_error *err)
{
    const mrd_host *h = &c->topo->hosts[spare];
    agent_target t = {.host = h->name, .address = h->address, .port = c->topo->settings.agent.port};
    agent_timeouts to = {.request_ms = AGENT_HEALTH_TIMEOUT_MS,
                         .connect_ms = AGENT_CONNECT_TIMEOUT_MS};
    long long start = mrd_now_ms(), said = start;
    char last[200] = "";
    for (;;) {
        agent_result res = {0};
        MRD_TRY(agent_client_default()->health_all(&t, 1, &to, &res, err));
        const char *reason = json_string_value(json_object_get(res.body, "reason"));
        const char *status = json_string_value(json_object_get(res.body, "status"));
        snprintf(last, sizeof(last), "%s", reason ? reason : status ? status : res.error);
        bool ready = res.http_status == 200;
        json_decref(res.body);
        if (ready)
            return MRD_OK;
        long long now = mrd_now_ms();
        if (now - start >= o->ready_timeout_ms)
            return mrd_error_set(err, MRD_ERR_TIMEOUT,
                                 "the agent on %s was not ready within %d s: %s", h->name,
                                 o->ready_timeout_ms / 1000, last);
        if (now - said >= 5000) {
            say(o, "  %-12s restoring (%.0f s): %s", h->name, (double)(now - start) / 1000.0,
                last);
            said = now;
        }
        mrd_sleep_ms(REPLACE_POLL_MS);
    }
}

/* Is ADDR:PORT one of the nodes or sentinels C's plan runs? */
static bool in_plan(const orch_ctx *c, const char *addr, int port, bool sentinel)
{
    const mrd_plan *p = c->plan;
    if (sentinel) {
        for (int h = 0; h < c->topo->nhosts; h++)
            if (p->hosts[h].sentinel && strcmp(c->topo->hosts[h].address, addr) == 0 &&
                port == c->topo->settings.sentinel.port)
                return true;
        return false;
    }
    for (int i = 0; i < p->nnodes; i++)
        if (p->nodes[i].port == port && strcmp(plan_node_host(p, i)->address, addr) == 0)
            return true;
    return false;
}

/* How many entries of V (replicas and other sentinels) are not in C's
 * plan, and how many of the plan's are missing or flagged down. */
static void view_diff(const orch_ctx *c, const sentinel_view *v, int *stale, int *missing)
{
    *stale = 0;
    for (int i = 0; i < v->nreplicas; i++)
        *stale += !in_plan(c, v->replicas[i].ip, v->replicas[i].port, false);
    for (int i = 0; i < v->nsentinels; i++)
        *stale += !in_plan(c, v->sentinels[i].ip, v->sentinels[i].port, true);
    int up = 0;
    for (int i = 0; i < v->nreplicas; i++)
        up += !v->replicas[i].down && in_plan(c, v->replicas[i].ip, v->replicas[i].port, false);
    for (int i = 0; i < v->nsentinels; i++)
        up += !v->sentinels[i].down &&
              in_plan(c, v->sentinels[i].ip, v->sentinels[i].port, true);
    int want = (c->plan->shards[0].nnodes - 1) + (c->plan->nsentinels - 1);
    *missing = want > up ? want - up : 0;
}

/* Sentinel mode: every sentinel that still lists a replica or a sentinel
 * outside the plan (the old host's) is reset, one at a time: the next
 * only once the last one sees every replica and sentinel of the plan
 * again, and never while a failover runs. */
static mrd_rc sentinels_forget(orch_ctx *c, const replace_opts *o, int *resets, mrd_error *err)
{
    char admin[MRD_SECRET_LEN];
    MRD_TRY(orch_secret(c, "admin", admin, sizeof(admin), err));
    const char *name = c->plan->shards[0].name;
    mrd_rc rc = MRD_OK;
    sentinel_view *v = malloc(sizeof(*v));
    if (!v)
        rc = mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    for (int h = 0; rc == MRD_OK && h < c->topo->nhosts; h++) {
        if (!c->plan->hosts[h].sentinel)
            continue;
        const mrd_host *host = &c->topo->hosts[h];
        long long start = mrd_now_ms();
        bool reset = false;
        for (;;) {
            store_conn *sc = NULL;
            mrd_error e;
            int stale = 0, missing = 0;
            bool failover = false, looked = false;
            if (store_conn_open(host->address, c->topo->settings.sentinel.port, "admin", admin,
                                REPLACE_PROBE_TIMEOUT_MS, &sc, &e) == MRD_OK &&
                sentinel_get_view(sc, name, v, &e) == MRD_OK) {
                looked = true;
                failover = v->master.failover_in_progress;
                view_diff(c, v, &stale, &missing);
                if (stale > 0 && !failover && !reset &&
                    store_cmdl(sc, NULL, &e, "SENTINEL", "RESET", name, NULL) == MRD_OK) {
                    reset = true;
                    (*resets)++;
                    say(o, "  %-12s sentinel: SENTINEL RESET (it listed %d entr%s of the old "
                           "host)", host->name, stale, stale == 1 ? "y" : "ies");
                    stale = 0;
                    missing = 1; /* it forgot everything: wait until it sees it again */
                }
            }
            store_conn_close(&sc);
            if (looked && stale == 0 && missing == 0)
                break;
            if (mrd_now_ms() - start >= REPLACE_FORGET_TIMEOUT_MS) {
                if (!looked)
                    break; /* a sentinel down is heal's and status' finding, not ours */
                rc = mrd_error_set(err, MRD_ERR_TIMEOUT,
                                   "the sentinel on %s %s within %d s", host->name,
                                   stale ? "still lists the old host"
                                         : "did not see every replica and sentinel again",
                                   REPLACE_FORGET_TIMEOUT_MS / 1000);
                break;
            }
            mrd_sleep_ms(REPLACE_POLL_MS * 2);
        }
    }
    free(v);
    memset(admin, 0, sizeof(admin));
    return rc;
}

/* Cluster mode: CLUSTER FORGET the old host's nodes (ADDRESS and the
 * ports its nodes had, which the spare's nodes keep) on every node. */
static mrd_rc cluster_nodes_forget(orch_ctx *c, const char *address, int spare, int *forgotten,
                                   mrd_error *err)
{
    char(*gone)[80] = calloc(MRD_MF_MAX_NODES, sizeof(*gone));
    int n = 0;
    if (!gone)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    for (int i = 0; i < c->plan->nnodes && n < MRD_MF_MAX_NODES; i++)
        if (c->plan->nodes[i].host == spare)
            snprintf(gone[n++], 80, "%s:%d", address, c->plan->nodes[i].port);
    mrd_rc rc = cluster_forget(c, gone, n, REPLACE_CLUSTER_FORGET_MS, forgotten, err);
    free(gone);
    return rc;
}

/* Finish replacement K of c->repl (fenced already): steps 2 to 5. */
static mrd_rc finish(orch_ctx *c, int k, const replace_opts *o, replace_item *it, mrd_error *err)
{
    mrd_replacement *rp = &c->repl.items[k];
    int lost = topology_find_host(c->topo, rp->host);
    int spare = topology_find_host(c->topo, rp->by);
    if (lost < 0 || spare < 0)
        return mrd_error_set(err, MRD_ERR_STATE, "replacement of %s by %s: not in the topology",
                             rp->host, rp->by);
    long long t0 = mrd_now_ms();
    char address[MRD_ADDR_MAX];
    snprintf(address, sizeof(address), "%s", c->topo->hosts[lost].address);
    deploy_opts d = {.parallel = 0, .verify_timeout_ms = 60000, .progress = o->progress};
    if (deploy_hosts(c, &d) != 0)
        return mrd_error_set(err, MRD_ERR_STATE,
                             "the manifests of generation %d did not reach every host (see "
                             "above); the next heal goes on",
                             rp->generation);
    MRD_TRY(wait_ready(c, spare, o, err));
    long long ready = mrd_now_ms();
    if (o->ready)
        o->ready(o->arg, lost, spare);
    if (it)
        it->ready_ms = mrd_wall_ms() - rp->at_ms; /* fence -> ready, across runs too */
    say(o, "  %-12s ready: every node restored (%.1f s after the fence)", rp->by,
        (double)(mrd_wall_ms() - rp->at_ms) / 1000.0);
    int forgotten = 0;
    if (c->topo->mode == MRD_MODE_SENTINEL)
        MRD_TRY(sentinels_forget(c, o, &forgotten, err));
    else {
        MRD_TRY(cluster_nodes_forget(c, address, spare, &forgotten, err));
        MRD_TRY(orch_placement_save(c, c->plan, false, err));
    }
    if (it)
        it->forget_ms = mrd_now_ms() - ready;
    rp->done = true;
    MRD_TRY(orch_replacements_save(c, err));
    say(o, "+host-replaced %s by %s (generation %d): ready %.1f s after the fence, the old "
           "host forgotten (%d %s)",
        rp->host, rp->by, rp->generation, (double)(ready - t0) / 1000.0, forgotten,
        c->topo->mode == MRD_MODE_SENTINEL ? "sentinel resets" : "CLUSTER FORGETs");
    return MRD_OK;
}

/* Step 1 for host LOST, first seen unreachable at SINCE (wall ms): record
 * SPARE standing in for it at a new generation, and plan with it. */
static mrd_rc fence(orch_ctx *c, int lost, int spare, const replace_opts *o, replace_item *it,
                    mrd_error *err)
{
    const char *ln = c->topo->hosts[lost].name, *sn = c->topo->hosts[spare].name;
    long long now = mrd_wall_ms();
    MRD_TRY(replacements_add(&c->repl, ln, sn, now));
    replacements_lost_clear(&c->repl, ln);
    MRD_TRY(orch_replacements_save(c, err));
    MRD_TRY(orch_replan(c, c->have_placement ? &c->placement : NULL, err));
    it->generation = c->repl.generation;
    say(o, "+host-lost %s: its agent and every process unreachable for %.1f s "
           "(agent.replace_after_s %d); fenced at generation %d; %s (%s) stands in",
        ln, (double)it->unreachable_ms / 1000.0, c->topo->settings.agent.replace_after_s,
        c->repl.generation, sn, plan_spare_match(c->topo, lost, spare));
    if (o->fenced)
        o->fenced(o->arg, lost, spare);
    return MRD_OK;
}

/* ==== the run ==== */

/* Record (or drop) the lost hosts R shows in c->repl; save when it
 * changed.  Fills LOST (topology host indexes) and *NLOST. */
static mrd_rc note_lost(orch_ctx *c, const st_report *r, replace_report *rep, int *lost,
                        int *nlost, mrd_error *err)
{
    bool changed = false;
    long long now = mrd_wall_ms();
    *nlost = 0;
    for (int h = 0; h < c->topo->nhosts; h++) {
        const char *name = c->topo->hosts[h].name;
        bool was = false;
        for (int k = 0; k < c->repl.nlost; k++)
            was |= strcmp(c->repl.lost[k].host, name) == 0;
        if (r->hosts[h].lost) {
            lost[(*nlost)++] = h;
            if (!was) {
                MRD_TRY(replacements_lost_set(&c->repl, name, now));
                changed = true;
            }
        } else if (was) {
            replacements_lost_clear(&c->repl, name);
            changed = true;
            if (orch_host_used(c, h))
                set_item(item_of(rep, name), REPLACE_BACK, MRD_HEALTH_OK,
                         "%s answers again: healed in place, not replaced", name);
        }
    }
    return changed ? orch_replacements_save(c, err) : MRD_OK;
}

static long long lost_since(const orch_ctx *c, const char *host)
{
    for (int k = 0; k < c->repl.nlost; k++)
        if (strcmp(c->repl.lost[k].host, host) == 0)
            return c->repl.lost[k].since_ms;
    return mrd_wall_ms();
}

/* One look and at most one step: 1 when it should look again now, 0
 * when done, -1 on error. */
static int round_once(orch_ctx *c, const replace_opts *o, long long deadline,
                      replace_report *rep, mrd_error *err)
{
    st_report *r = NULL;
    if (probe(c, &r, err) != MRD_OK)
        return -1;
    int lost[64], nlost = 0;
    if (note_lost(c, r, rep, lost, &nlost, err) != MRD_OK) {
        status_free(&r);
        return -1;
    }
    int again = 0;
    for (int k = 0; k < nlost && !again; k++) {
        int h = lost[k];
        const char *name = c->topo->hosts[h].name;
        replace_item *it = item_of(rep, name);
        if (!it)
            break;
        long long after = (long long)c->topo->settings.agent.replace_after_s * 1000;
        it->unreachable_ms = mrd_wall_ms() - lost_since(c, name);
        char why[300];
        int spare = plan_choose_spare(c->topo, c->have_placement ? &c->placement : NULL,
                                      &c->repl, h, why, sizeof(why));
        if (spare >= 0) {
            snprintf(it->spare, sizeof(it->spare), "%s", c->topo->hosts[spare].name);
            it->match = plan_spare_match(c->topo, h, spare);
        }
        if (it->unreachable_ms < after) {
            long long left = after - it->unreachable_ms;
            set_item(it, REPLACE_WAITING, MRD_HEALTH_WARNING,
                     "%s: agent and every process unreachable for %.1f s; replaced %s%s%s in "
                     "%.1f s unless it answers again",
                     name, (double)it->unreachable_ms / 1000.0, spare >= 0 ? "on " : "",
                     spare >= 0 ? it->spare : "", spare >= 0 ? "" : "(no spare yet)",
                     (double)left / 1000.0);
            if (mrd_now_ms() + left <= deadline) {
                mrd_sleep_ms(left < 500 ? left : 500);
                again = 1;
            }
            continue;
        }
        if (spare < 0) {
            set_item(it, REPLACE_BLOCKED, MRD_HEALTH_CRITICAL,
                     "%s lost (unreachable for %.0f s) and not replaced: %s", name,
                     (double)it->unreachable_ms / 1000.0, why);
            continue;
        }
        if (!replace_can_act(c, r, h, why, sizeof(why))) {
            set_item(it, REPLACE_BLOCKED, MRD_HEALTH_WARNING,
                     "%s lost; replacing it on %s waits: %s", name, it->spare, why);
            if (mrd_now_ms() + 1000 <= deadline) {
                mrd_sleep_ms(1000);
                again = 1;
            }
            continue;
        }
        /* one host at a time: the next is looked at again afterwards */
        it->detect_ms = it->unreachable_ms;
        status_free(&r);
        mrd_error e;
        if (fence(c, h, spare, o, it, &e) != MRD_OK ||
            finish(c, replacements_find(&c->repl, name), o, it, &e) != MRD_OK) {
            set_item(it, REPLACE_FAILED, MRD_HEALTH_CRITICAL,
                     "replacing %s on %s did not finish: %s; the next heal goes on", name,
                     it->spare, e.msg);
            return 0;
        }
        set_item(it, REPLACE_REPLACED, MRD_HEALTH_WARNING,
                 "%s replaced by %s (%s, generation %d)", name, it->spare, it->match,
                 it->generation);
        return 1;
    }
    status_free(&r);
    return again;
}

mrd_rc replace_run(orch_ctx *c, const replace_opts *o, replace_report *r, mrd_error *err)
{
    memset(r, 0, sizeof(*r));
    mrd_lock *l = NULL;
    if (mrd_lock_take(c->state_dir, REPLACE_LOCK_RECORD, "replace", 0, &l, NULL, err) !=
        MRD_OK) {
        r->skipped = true; /* a deploy or destroy: it will be looked at next time */
        mrd_error_clear(err);
        return MRD_OK;
    }
    mrd_rc rc = MRD_OK;
    /* a replacement an earlier run started (killed, or a step failed) */
    for (int k = 0; k < c->repl.n; k++) {
        if (c->repl.items[k].done)
            continue;
        replace_item *it = item_of(r, c->repl.items[k].host);
        mrd_error e;
        if (it) {
            snprintf(it->spare, sizeof(it->spare), "%s", c->repl.items[k].by);
            it->generation = c->repl.items[k].generation;
        }
        say(o, "  %-12s finishing its replacement by %s (generation %d)",
            c->repl.items[k].host, c->repl.items[k].by, c->repl.items[k].generation);
        if (finish(c, k, o, it, &e) != MRD_OK) {
            set_item(it, REPLACE_FAILED, MRD_HEALTH_CRITICAL,
                     "replacing %s on %s did not finish: %s; the next heal goes on",
                     c->repl.items[k].host, c->repl.items[k].by, e.msg);
            goto out;
        }
        set_item(it, REPLACE_REPLACED, MRD_HEALTH_WARNING,
                 "%s replaced by %s (generation %d), finished by this run",
                 c->repl.items[k].host, c->repl.items[k].by, c->repl.items[k].generation);
    }
    long long deadline = mrd_now_ms() + o->wait_max_ms;
    for (int rounds = 0; rounds < 10000; rounds++) {
        int more = round_once(c, o, deadline, r, err);
        if (more < 0) {
            rc = err->code != MRD_OK ? err->code : MRD_ERR_STATE;
            break;
        }
        if (more == 0)
            break;
    }
out:
    for (int i = 0; i < r->n; i++)
        r->code = mrd_health_worst(r->code, r->items[i].code);
    mrd_lock_release(&l);
    return rc;
}

json_t *replace_report_json(const replace_report *r)
{
    json_t *arr = json_array();
    for (int i = 0; arr && i < r->n; i++) {
        const replace_item *it = &r->items[i];
#define MS_OR_NULL(v) ((v) >= 0 ? json_integer(v) : json_null())
        json_t *o = json_pack(
            "{s:s,s:s,s:i,s:s?,s:s?,s:o,s:I,s:o,s:o,s:o,s:s}", "host", it->host, "outcome",
            replace_outcome_name(it->outcome), "code", (int)it->code, "spare",
            it->spare[0] ? it->spare : NULL, "match", it->match, "generation",
            it->generation ? json_integer(it->generation) : json_null(), "unreachable_ms",
            (json_int_t)it->unreachable_ms, "detect_ms", MS_OR_NULL(it->detect_ms), "ready_ms",
            MS_OR_NULL(it->ready_ms), "forget_ms", MS_OR_NULL(it->forget_ms), "text", it->text);
#undef MS_OR_NULL
        if (!o || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}
