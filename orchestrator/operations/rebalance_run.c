/* rebalance_run.c - look, decide one step (cluster/rebalance.c), take it,
 * wait until every view agrees, look again (see rebalance_run.h). */
#include "rebalance_run.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "log.h"
#include "secret.h"
#include "status.h"

#define REBAL_CONNECT_TIMEOUT_MS 1000

const char *rebalance_outcome_name(rebal_outcome o)
{
    switch (o) {
    case REBAL_OUT_PLANNED:
        return "planned";
    case REBAL_OUT_REFUSED:
        return "refused";
    case REBAL_OUT_FAILED:
        return "failed";
    case REBAL_OUT_BALANCED:
    default:
        return "balanced";
    }
}

static void failed(rebalance_report *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void failed(rebalance_report *r, const char *fmt, ...)
{
    r->outcome = REBAL_OUT_FAILED;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->error, sizeof(r->error), fmt, ap);
    va_end(ap);
}

/* ==== looking ==== */

/* Every node read again (INFO, CLUSTER NODES, CLUSTER INFO), judged, and
 * the next step decided: *out new, status_free() it. */
static mrd_rc look(const orch_ctx *c, st_report **out, mrd_error *err)
{
    MRD_TRY(status_probe(c, REBAL_CONNECT_TIMEOUT_MS, out, err));
    if (!(*out)->has_rebalance) {
        status_free(out);
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    return MRD_OK;
}

/* Node I's own id, from its CLUSTER NODES in R; false when unknown. */
static bool node_id(const st_report *r, int i, char id[STORE_CLUSTER_ID_LEN + 1])
{
    const char *text = r->nodes[i].cluster_nodes;
    store_cluster_view *v = text ? store_cluster_view_new() : NULL;
    bool ok = v && store_cluster_nodes_parse(text, strlen(text), v, NULL) == MRD_OK;
    if (ok)
        snprintf(id, STORE_CLUSTER_ID_LEN + 1, "%s", store_cluster_myself(v)->id);
    store_cluster_view_free(&v);
    return ok;
}

/* Node I of R replicates node M (INFO), linked. */
static bool follows(const orch_ctx *c, const st_report *r, int i, int m)
{
    const st_node *n = &r->nodes[i];
    return n->reachable && !n->is_master && n->link_up && n->master_port == c->plan->nodes[m].port &&
           strcmp(n->master_host, plan_node_host(c->plan, m)->address) == 0;
}

/* ==== acting ==== */

/* ARGV on plan node I, as admin. */
static mrd_rc send(const orch_ctx *c, int i, const char *admin, int argc, const char *const *argv,
                   mrd_error *err)
{
    store_conn *conn = NULL;
    const mrd_host *h = plan_node_host(c->plan, i);
    mrd_rc rc = store_conn_open(h->address, c->plan->nodes[i].port, "admin", admin,
                                REBAL_CONNECT_TIMEOUT_MS, &conn, err);
    if (rc == MRD_OK)
        rc = store_cmd(conn, NULL, err, argc, argv);
    store_conn_close(&conn);
    return rc;
}

bool rebalance_take(const orch_ctx *c, const char *admin, const rebal_decision *d,
                 rebalance_report *r, mrd_error *err)
{
    const mrd_plan *p = c->plan;
    long long start = mrd_now_ms();
    int limit = REBAL_STEP_BASE_MS + 2 * c->topo->settings.cluster.node_timeout_ms;
    char name[96], target_id[STORE_CLUSTER_ID_LEN + 1] = "";
    mrd_error e;
    if (d->kind == REBAL_REPOINT) {
        st_report *now = NULL;
        if (look(c, &now, err) != MRD_OK)
            return false;
        bool known = node_id(now, d->to, target_id);
        status_free(&now);
        if (!known) {
            failed(r, "cannot read the id of shard %d's master", d->shard + 1);
            return true;
        }
    }
    const char *failover[] = {"CLUSTER", "FAILOVER"};
    const char *replicate[] = {"CLUSTER", "REPLICATE", target_id};
    int node = d->kind == REBAL_MOVE ? d->to : d->node;
    int attempts = 0;
    long long sent = 0;
    char waiting[400] = "no look yet";
    bool again = true;
    for (;;) {
        if (again) {
            again = false;
            if (send(c, node, admin, d->kind == REBAL_MOVE ? 2 : 3,
                     d->kind == REBAL_MOVE ? failover : replicate, &e) != MRD_OK) {
                plan_node_name(p, node, name, sizeof(name));
                failed(r, "%s on %s: %s",
                       d->kind == REBAL_MOVE ? "CLUSTER FAILOVER" : "CLUSTER REPLICATE", name,
                       e.msg);
                return true;
            }
            attempts++;
            sent = mrd_now_ms();
        }
        st_report *now = NULL;
        if (look(c, &now, err) != MRD_OK)
            return false;
        const rebal_decision *v = &now->rebalance;
        /* nothing changed and a fresh look decides the same move: Redis'
         * masters refused their votes; ask again */
        bool retry = d->kind == REBAL_MOVE && v->kind == REBAL_MOVE && v->shard == d->shard &&
                     v->from == d->from && v->to == d->to &&
                     mrd_now_ms() - sent >= REBAL_MF_RETRY_MS;
        bool done = v->settled &&
                    (d->kind == REBAL_MOVE
                         ? now->shards[d->shard].master == d->to && follows(c, now, d->from, d->to)
                         : follows(c, now, d->node, d->to));
        if (!v->settled)
            snprintf(waiting, sizeof(waiting), "%s", v->unsettled);
        else if (!done)
            snprintf(waiting, sizeof(waiting), "the views agree, but not on the step yet");
        status_free(&now);
        long long ms = mrd_now_ms() - start;
        if (done) {
            if (r->nsteps < REBAL_MAX_STEPS)
                r->steps[r->nsteps++] = (rebal_step){.kind = d->kind,
                                                     .shard = d->shard,
                                                     .from = d->from,
                                                     .to = d->to,
                                                     .node = d->node,
                                                     .lag_bytes = d->lag_bytes,
                                                     .ms = ms,
                                                     .attempts = attempts};
            return true;
        }
        if (ms >= limit) {
            failed(r, "%s did not spread to every view within %.1f s (%d attempt%s): %s",
                   d->text, (double)limit / 1000.0, attempts, attempts == 1 ? "" : "s",
                   waiting);
            return true;
        }
        again = retry;
        if (!again)
            mrd_sleep_ms(REBAL_POLL_MS);
    }
}

/* ==== the run ==== */

mrd_rc rebalance_run(const orch_ctx *c, const rebalance_opts *o, rebalance_report *r,
                     mrd_error *err)
{
    memset(r, 0, sizeof(*r));
    if (c->topo->mode != MRD_MODE_CLUSTER)
        return mrd_error_set(err, MRD_ERR_STATE,
                             "rebalance moves the masters of a Redis Cluster; sentinel mode "
                             "has one leader, which Sentinel places: nothing to do");
    char admin[MRD_SECRET_LEN];
    MRD_TRY(orch_secret(c, "admin", admin, sizeof(admin), err));
    long long start = mrd_now_ms(), settle_from = -1;
    mrd_rc rc = MRD_OK;
    bool first = true;
    for (;;) {
        st_report *now = NULL;
        if ((rc = look(c, &now, err)) != MRD_OK)
            break;
        rebal_decision d = now->rebalance;
        status_free(&now);
        if (first)
            r->first = d;
        first = false;
        r->last = d;
        if (d.kind == REBAL_BALANCED) {
            r->outcome = REBAL_OUT_BALANCED;
            break;
        }
        if (d.kind == REBAL_REFUSED) {
            bool spreading = d.why == REBAL_WHY_UNSETTLED || d.why == REBAL_WHY_FAILING;
            if (settle_from < 0)
                settle_from = mrd_now_ms();
            if (spreading && mrd_now_ms() - settle_from < o->settle_ms) {
                mrd_sleep_ms(REBAL_POLL_MS);
                continue;
            }
            r->outcome = REBAL_OUT_REFUSED;
            break;
        }
        settle_from = -1;
        if (!o->apply) {
            r->outcome = REBAL_OUT_PLANNED;
            break;
        }
        if (r->nsteps >= REBAL_MAX_STEPS) {
            failed(r, "%d steps taken and the cluster is still off plan: it keeps moving; "
                      "see `meridian status`",
                   r->nsteps);
            break;
        }
        if (o->timeout_ms > 0 && mrd_now_ms() - start >= o->timeout_ms) {
            failed(r, "not done within --timeout %.0f s: next would be to %s",
                   o->timeout_ms / 1000.0, d.text);
            break;
        }
        int before = r->nsteps;
        if (!rebalance_take(c, admin, &d, r, err)) {
            rc = err->code != MRD_OK ? err->code : MRD_ERR_STATE;
            break;
        }
        if (r->outcome == REBAL_OUT_FAILED)
            break;
        if (o->progress && r->nsteps > before) {
            char line[400];
            rebalance_step_text(c, &r->steps[r->nsteps - 1], line, sizeof(line));
            fprintf(o->progress, "  %-12s %s\n", "rebalance", line);
            fflush(o->progress);
        }
    }
    memset(admin, 0, sizeof(admin));
    r->ms = mrd_now_ms() - start;
    return rc;
}

/* ==== output ==== */

/* "aps-a1 (ap-south)" */
static const char *who(const orch_ctx *c, int i, char *buf, size_t n)
{
    char name[96];
    plan_node_name(c->plan, i, name, sizeof(name));
    snprintf(buf, n, "%s (%s)", name, c->topo->regions[plan_node_host(c->plan, i)->region].name);
    return buf;
}

void rebalance_step_text(const orch_ctx *c, const rebal_step *s, char *buf, size_t n)
{
    char a[128], b[128];
    if (s->kind == REBAL_REPOINT)
        snprintf(buf, n, "shard %d: replica %s now follows %s, in %.2f s", s->shard + 1,
                 who(c, s->node, a, sizeof(a)), who(c, s->to, b, sizeof(b)),
                 (double)s->ms / 1000.0);
    else
        snprintf(buf, n, "shard %d: master %s -> %s in %.2f s, lag before %lld bytes%s",
                 s->shard + 1, who(c, s->from, a, sizeof(a)), who(c, s->to, b, sizeof(b)),
                 (double)s->ms / 1000.0, s->lag_bytes,
                 s->attempts > 1 ? " (asked again: the masters had voted for this shard "
                                   "less than 2 x node timeout before)"
                                 : "");
}

static json_t *node_json(const orch_ctx *c, int i)
{
    if (i < 0)
        return json_null();
    const mrd_host *h = plan_node_host(c->plan, i);
    return json_pack("{s:s,s:s,s:s,s:i}", "host", h->name, "region",
                     c->topo->regions[h->region].name, "address", h->address, "port",
                     c->plan->nodes[i].port);
}

json_t *rebalance_report_json(const orch_ctx *c, const rebalance_report *r)
{
    json_t *moves = json_array();
    for (int i = 0; i < r->nsteps; i++) {
        const rebal_step *s = &r->steps[i];
        char text[400];
        rebalance_step_text(c, s, text, sizeof(text));
        json_array_append_new(
            moves, json_pack("{s:s,s:s,s:i,s:o,s:o,s:o,s:I}", "action", rebalance_kind_name(s->kind),
                             "text", text,
                             "shard", s->shard + 1, "from",
                             node_json(c, s->kind == REBAL_MOVE ? s->from : s->node), "to",
                             node_json(c, s->to), "lag_bytes",
                             s->lag_bytes >= 0 ? json_integer(s->lag_bytes) : json_null(), "ms",
                             (json_int_t)s->ms));
    }
    const rebal_decision *d = &r->last;
    json_t *next = json_null();
    if (d->kind == REBAL_MOVE || d->kind == REBAL_REPOINT)
        next = json_pack("{s:s,s:i,s:o,s:o,s:o,s:s}", "action", rebalance_kind_name(d->kind),
                         "shard", d->shard + 1, "from",
                         node_json(c, d->kind == REBAL_MOVE ? d->from : d->node), "to",
                         node_json(c, d->to), "lag_bytes",
                         d->lag_bytes >= 0 ? json_integer(d->lag_bytes) : json_null(), "text",
                         d->text);
    const char *reason = r->outcome == REBAL_OUT_REFUSED ? d->text
                         : r->outcome == REBAL_OUT_FAILED ? r->error
                                                          : NULL;
    return json_pack("{s:s,s:o,s:o,s:s,s:i,s:o,s:I}", "outcome",
                     rebalance_outcome_name(r->outcome), "reason",
                     reason ? json_string(reason) : json_null(), "next", next, "refusal",
                     r->outcome == REBAL_OUT_REFUSED ? rebalance_why_name(d->why) : "",
                     "off_plan", d->off_plan, "moves", moves, "ms", (json_int_t)r->ms);
}
