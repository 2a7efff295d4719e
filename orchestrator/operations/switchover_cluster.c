/* switchover_cluster.c - cluster mode's switchover: a coordinated CLUSTER
 * FAILOVER sent to the chosen replica (Redis pauses the master's clients
 * and waits for the replica's offset itself), then the shard's master is
 * recorded where it now runs (STATE/placement.json "master"), so that
 * `meridian heal` and `rebalance` keep it there.
 *
 * STATE/switchover.json says "state": "failover" while the failover is
 * asked; a run killed then is finished (switchover_finish_killed()) by
 * the next switchover, heal or rebalance --yes: the placement is recorded
 * when the target leads, else the file is dropped.  Redis ends a manual
 * failover by itself (5 s), so nothing stays paused. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "placement.h"
#include "rebalance_run.h"
#include "switchover_int.h"

#define SWC_CONN_TIMEOUT_MS 1000

static mrd_rc swc_state_path(const orch_ctx *c, char *buf, size_t n)
{
    return mrd_path_fmt(buf, n, "%s/%s", c->state_dir, SWITCHOVER_STATE_FILE);
}

/* The placement of C's plan with shard SHARD's master on node TO (*OUT
 * new: placement_free() it). */
static mrd_rc moved_placement(const orch_ctx *c, int shard, int to, mrd_placement *out,
                              mrd_error *err)
{
    MRD_TRY(plan_placement(c->plan, false, out, err));
    const mrd_plan_node *pn = &c->plan->nodes[to];
    const char *host = c->topo->hosts[pn->host].name;
    for (int i = 0; i < out->nnodes; i++)
        if (out->nodes[i].shard == shard)
            out->nodes[i].master =
                strcmp(out->nodes[i].host, host) == 0 && out->nodes[i].port == pn->port;
    return MRD_OK;
}

/* Would the plan with shard SHARD's master on TO keep the plan's rules?
 * WHY says which loss it would not survive. */
static bool layout_safe(const orch_ctx *c, int shard, int to, char *why, size_t n)
{
    mrd_placement pl = {0};
    mrd_plan *p = NULL;
    mrd_error err;
    bool ok = moved_placement(c, shard, to, &pl, &err) == MRD_OK &&
              plan_build_ex(c->topo, &pl, &c->repl, &p, &err) == MRD_OK;
    if (!ok)
        snprintf(why, n, "cannot plan the move: %s", err.msg);
    int bad = ok ? plan_first_unsafe(p, p->losses) : -1;
    if (bad >= 0) {
        snprintf(why, n,
                 "with shard %d's master there, the loss of %s %s would stop the cluster "
                 "(half or more of the masters in one domain); choose another target",
                 shard + 1, p->losses[bad].kind == MRD_DOMAIN_REGION ? "region" : "zone",
                 p->losses[bad].name);
        ok = false;
    }
    plan_free(&p);
    placement_free(&pl);
    return ok;
}

/* Record that shard SHARD's master belongs on TO. */
static mrd_rc record(orch_ctx *c, int shard, int to, mrd_error *err)
{
    mrd_placement pl = {0};
    MRD_TRY(moved_placement(c, shard, to, &pl, err));
    mrd_rc rc = orch_replan(c, &pl, err);
    placement_free(&pl);
    return rc == MRD_OK ? orch_placement_save(c, c->plan, false, err) : rc;
}

static void names(const orch_ctx *c, int from, int to, switchover_report *r)
{
    const mrd_plan *p = c->plan;
    r->from = from;
    r->to = to;
    plan_node_name(p, from, r->from_name, sizeof(r->from_name));
    plan_node_name(p, to, r->to_name, sizeof(r->to_name));
    snprintf(r->from_region, sizeof(r->from_region), "%s",
             c->topo->regions[c->topo->hosts[p->nodes[from].host].region].name);
    snprintf(r->to_region, sizeof(r->to_region), "%s",
             c->topo->regions[c->topo->hosts[p->nodes[to].host].region].name);
}

/* The killed run's failover may still run (Redis gives a manual failover
 * 5 s) or spread: its result is judged once every view agrees, or once
 * this long after it was asked, as rebalance_take() waits for a move. */
static long long finish_limit_ms(const orch_ctx *c)
{
    return REBAL_STEP_BASE_MS + 2LL * c->topo->settings.cluster.node_timeout_ms;
}

int switchover_finish_killed(orch_ctx *c, FILE *progress, mrd_error *err)
{
    char path[MRD_PATH_MAX];
    if (c->topo->mode != MRD_MODE_CLUSTER || swc_state_path(c, path, sizeof(path)) != MRD_OK)
        return 0;
    json_t *j = json_load_file(path, 0, NULL);
    if (!j)
        return 0;
    int shard = (int)json_integer_value(json_object_get(j, "shard"));
    int to = (int)json_integer_value(json_object_get(j, "to"));
    long long asked = json_integer_value(json_object_get(j, "asked_ms"));
    json_decref(j);
    if (shard < 0 || shard >= c->plan->nshards || to < 0 || to >= c->plan->nnodes) {
        unlink(path);
        return 0;
    }
    long long t0 = mrd_now_ms();
    st_report *st = NULL;
    for (;;) {
        if (status_probe(c, SWC_CONN_TIMEOUT_MS, &st, err) != MRD_OK)
            return -1; /* the file stays: the next acting command tries again */
        if ((st->has_rebalance && st->rebalance.settled) ||
            mrd_wall_ms() - asked >= finish_limit_ms(c))
            break;
        status_free(&st);
        mrd_sleep_ms(REBAL_POLL_MS);
    }
    int found = 0;
    char name[64];
    plan_node_name(c->plan, to, name, sizeof(name));
    if (st->shards[shard].master != to) {
        switchover_say(progress, t0,
                       "a killed switchover of shard %d to %s did not move it: nothing "
                       "to record", shard + 1, name);
    } else if (record(c, shard, to, err) != MRD_OK) {
        found = -1;
    } else {
        orch_failover_note(c);
        switchover_say(progress, t0,
                       "a killed switchover had moved shard %d's master to %s: recorded in "
                       "the placement", shard + 1, name);
        found = 1;
    }
    status_free(&st);
    if (found >= 0)
        unlink(path);
    return found;
}

int switchover_cluster(orch_ctx *c, const switchover_opts *o, switchover_report *r)
{
    long long t0 = mrd_now_ms();
    mrd_error err;
    mrd_error_clear(&err);
    /* a dry run holds no lock and changes nothing: the file may be a
     * running switchover's */
    int killed = o->apply ? switchover_finish_killed(c, o->progress, &err) : 0;
    if (killed < 0) {
        r->outcome = SW_OUT_REFUSED;
        snprintf(r->reason, sizeof(r->reason),
                 "a killed switchover left %s/%s, which could not be finished: %s",
                 c->state_dir, SWITCHOVER_STATE_FILE, err.msg);
        return 2;
    }
    if (killed > 0) {
        r->resumed = true;
        snprintf(r->resumed_from, sizeof(r->resumed_from), "failover");
    }
    r->shard = o->shard;
    st_report *st = NULL;
    if (status_probe(c, SWC_CONN_TIMEOUT_MS, &st, &err) != MRD_OK) {
        r->outcome = SW_OUT_REFUSED;
        snprintf(r->reason, sizeof(r->reason), "could not read the cluster: %s", err.msg);
        return 2;
    }
    char why[300];
    int to = switchover_choose(c, st, o->shard, o->to, why, sizeof(why));
    int from = o->shard >= 0 && o->shard < st->nshards ? st->shards[o->shard].master : -1;
    bool ok = true;
    if (to == -2) {
        plan_node_name(c->plan, from, r->from_name, sizeof(r->from_name));
        snprintf(r->reason, sizeof(r->reason), "shard %d's master %s is on %s already",
                 o->shard + 1, r->from_name, o->to);
        r->outcome = SW_OUT_NOTHING;
    } else if (to < 0) {
        snprintf(r->reason, sizeof(r->reason), "%s", why);
        ok = false;
    } else if (names(c, from, to, r), st->health != MRD_HEALTH_OK) {
        snprintf(r->reason, sizeof(r->reason),
                 "the cluster is not healthy (%s: %s); a switchover starts only from OK",
                 mrd_health_name(st->health), st->summary);
        ok = false;
    } else if (!layout_safe(c, o->shard, to, why, sizeof(why))) {
        snprintf(r->reason, sizeof(r->reason), "%s", why);
        ok = false;
    }
    /* No cooldown to refuse on: Redis' masters refuse a second vote only
     * for a failover of the same master within 2 x node timeout, and
     * rebalance_take() asks again while they do (REBAL_MF_RETRY_MS), so
     * consecutive shards (a rollout) go one after the other at once. */
    status_free(&st);
    if (!ok) {
        r->outcome = SW_OUT_REFUSED;
        return 2;
    }
    if (to == -2)
        return 0;
    if (!o->apply) {
        snprintf(r->reason, sizeof(r->reason),
                 "would send CLUSTER FAILOVER (coordinated) to %s (%s), which takes shard %d "
                 "over from %s (%s), and record the shard's master there",
                 r->to_name, r->to_region, o->shard + 1, r->from_name, r->from_region);
        r->outcome = SW_OUT_PLANNED;
        return 1;
    }
    char path[MRD_PATH_MAX], text[200];
    int len = snprintf(text, sizeof(text),
                       "{\"shard\": %d, \"from\": %d, \"to\": %d, \"state\": \"failover\", "
                       "\"asked_ms\": %lld}\n",
                       o->shard, from, to, mrd_wall_ms());
    if (swc_state_path(c, path, sizeof(path)) != MRD_OK ||
        mrd_write_atomic(path, text, (size_t)len, 0600, &err) != MRD_OK) {
        r->outcome = SW_OUT_REFUSED;
        snprintf(r->reason, sizeof(r->reason), "cannot write the state: %s", err.msg);
        return 2;
    }
    switchover_say(o->progress, t0, "shard %d: %s (%s) -> %s (%s): CLUSTER FAILOVER",
                   o->shard + 1, r->from_name, r->from_region, r->to_name, r->to_region);
    char admin[MRD_SECRET_LEN];
    rebalance_report rr;
    memset(&rr, 0, sizeof(rr));
    rebal_decision d = {.kind = REBAL_MOVE, .shard = o->shard, .from = from, .to = to,
                        .node = -1, .lag_bytes = 0};
    snprintf(d.text, sizeof(d.text), "move shard %d's master %s to %s", o->shard + 1,
             r->from_name, r->to_name);
    long long sent = mrd_now_ms();
    bool looked = orch_secret(c, "admin", admin, sizeof(admin), &err) == MRD_OK &&
                  rebalance_take(c, admin, &d, &rr, &err);
    memset(admin, 0, sizeof(admin));
    if (!looked || rr.outcome == REBAL_OUT_FAILED || rr.nsteps == 0) {
        /* the views may agree later with the target leading: recorded
         * then, else the file is dropped (kept when nothing answers) */
        mrd_error fe;
        if (switchover_finish_killed(c, o->progress, &fe) == 1) {
            r->promote_ms = mrd_now_ms() - sent;
            r->outcome = SW_OUT_DONE; /* the move spread late, and is recorded */
            return 0;
        }
        r->outcome = SW_OUT_FAILED;
        snprintf(r->failed_state, sizeof(r->failed_state), "failover");
        snprintf(r->reason, sizeof(r->reason), "%s", looked ? rr.error : err.msg);
        return 2;
    }
    r->promote_ms = mrd_now_ms() - sent;
    orch_failover_note(c);
    if (record(c, o->shard, to, &err) != MRD_OK) {
        r->outcome = SW_OUT_FAILED;
        snprintf(r->failed_state, sizeof(r->failed_state), "record");
        snprintf(r->reason, sizeof(r->reason),
                 "%s leads shard %d, but its placement could not be recorded (%s): the "
                 "next switchover, heal or rebalance records it (the state file stays)",
                 r->to_name, o->shard + 1, err.msg);
        return 2;
    }
    unlink(path);
    switchover_say(o->progress, t0, "%s leads shard %d; every view agrees (%lld ms); recorded "
                                    "in the placement",
                   r->to_name, o->shard + 1, r->promote_ms);
    r->outcome = SW_OUT_DONE;
    return 0;
}
