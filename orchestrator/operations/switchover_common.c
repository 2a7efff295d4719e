/* switchover_common.c - what every mode's switchover shares: the states,
 * the choice of target, what a resumed run does, the report (pure). */
#include "switchover.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "health.h"
#include "log.h"
#include "switchover_int.h"

static const char *const state_names[SW__COUNT] = {
    [SW_HOLD] = "hold",         [SW_PAUSE] = "pause",     [SW_CATCHUP] = "catchup",
    [SW_FAILOVER] = "failover", [SW_PROMOTED] = "promoted", [SW_VERIFY] = "verify",
    [SW_RELEASE] = "release",   [SW_DONE] = "done",
};

const char *sw_state_name(sw_state s)
{
    return (unsigned)s < SW__COUNT ? state_names[s] : "unknown";
}

int sw_state_parse(const char *name)
{
    for (int i = 0; name && i < SW__COUNT; i++)
        if (strcmp(state_names[i], name) == 0)
            return i;
    return -1;
}

sw_resume sw_resume_decide(sw_state s, bool target_is_master, bool failover_running)
{
    if (s < SW_FAILOVER)
        return SW_RESUME_ROLLBACK; /* nothing was asked of the sentinels */
    if (target_is_master)
        return SW_RESUME_ON;
    if (failover_running)
        return SW_RESUME_WAIT;
    /* asked, over, and the target does not lead: before verifying, the
     * failover failed (the old leader serves); from verifying on, the
     * target had led and another failover moved the leader since */
    return s >= SW_VERIFY ? SW_RESUME_DROP : SW_RESUME_ROLLBACK;
}

const char *sw_outcome_name(sw_outcome o)
{
    static const char *const names[] = {"done", "nothing", "planned", "refused", "failed"};
    return (unsigned)o < sizeof(names) / sizeof(names[0]) ? names[o] : "unknown";
}

/* Does TO name host H or its region? */
static bool node_at(const orch_ctx *c, int node, const char *to, bool *by_host)
{
    const mrd_host *h = &c->topo->hosts[c->plan->nodes[node].host];
    if (strcmp(h->name, to) == 0) {
        *by_host = true;
        return true;
    }
    return strcmp(c->topo->regions[h->region].name, to) == 0;
}

int switchover_choose(const orch_ctx *c, const st_report *r, int shard, const char *to,
                      char *why, size_t n)
{
    const mrd_plan *p = c->plan;
    if (shard < 0 || shard >= p->nshards) {
        snprintf(why, n, "no shard %d (the plan has %d)", shard + 1, p->nshards);
        return -1;
    }
    bool known = false;
    for (int h = 0; h < c->topo->nhosts && !known; h++)
        known = strcmp(c->topo->hosts[h].name, to) == 0;
    for (int g = 0; g < c->topo->nregions && !known; g++)
        known = strcmp(c->topo->regions[g].name, to) == 0;
    if (!known) {
        snprintf(why, n, "\"%s\" is neither a host nor a region of %s", to, c->topo->name);
        return -1;
    }
    int master = r->shards && shard < r->nshards ? r->shards[shard].master : -1;
    if (master < 0) {
        snprintf(why, n, "shard %d has no master serving now: a switchover needs a "
                         "healthy leader (run `meridian status`)", shard + 1);
        return -1;
    }
    bool by_host = false;
    if (node_at(c, master, to, &by_host))
        return -2;
    const mrd_plan_shard *ps = &p->shards[shard];
    int best = -1, seen = 0;
    char last[200] = "";
    for (int i = ps->first; i < ps->first + ps->nnodes; i++) {
        by_host = false;
        if (i == master || !node_at(c, i, to, &by_host))
            continue;
        seen++;
        const st_node *s = &r->nodes[i];
        char name[64];
        plan_node_name(p, i, name, sizeof(name));
        if (p->nodes[i].replica_priority <= 0)
            snprintf(last, sizeof(last), "%s is never promoted (replica-priority 0 in the plan)",
                     name);
        else if (!s->reachable)
            snprintf(last, sizeof(last), "%s does not answer", name);
        else if (s->is_master)
            snprintf(last, sizeof(last), "%s is a master, not a replica of the leader", name);
        else if (s->master_port != p->nodes[master].port ||
                 strcmp(s->master_host, c->topo->hosts[p->nodes[master].host].address) != 0)
            snprintf(last, sizeof(last), "%s does not replicate from the leader", name);
        else if (!s->link_up)
            snprintf(last, sizeof(last), "%s has its replication link down", name);
        else if (s->lag_bytes < 0 || s->lag_bytes > MRD_CAUGHT_UP_LAG_BYTES)
            snprintf(last, sizeof(last), "%s is not caught up (%lld bytes behind)", name,
                     s->lag_bytes);
        else if (best < 0 || s->lag_bytes < r->nodes[best].lag_bytes ||
                 (s->lag_bytes == r->nodes[best].lag_bytes &&
                  p->nodes[i].replica_priority < p->nodes[best].replica_priority))
            best = i;
    }
    if (best >= 0)
        return best;
    if (!seen)
        snprintf(why, n, "shard %d has no node on %s", shard + 1, to);
    else
        snprintf(why, n, "no caught-up replica of shard %d on %s: %s", shard + 1, to, last);
    return -1;
}

json_t *switchover_report_json(const switchover_report *r)
{
    json_t *j = json_object();
    json_object_set_new(j, "outcome", json_string(sw_outcome_name(r->outcome)));
    json_object_set_new(j, "shard", json_integer(r->shard + 1));
    json_object_set_new(j, "from", r->from_name[0] ? json_string(r->from_name) : json_null());
    json_object_set_new(j, "to", r->to_name[0] ? json_string(r->to_name) : json_null());
    json_object_set_new(j, "from_region",
                        r->from_region[0] ? json_string(r->from_region) : json_null());
    json_object_set_new(j, "to_region", r->to_region[0] ? json_string(r->to_region) : json_null());
    json_object_set_new(j, "resumed", json_boolean(r->resumed));
    json_object_set_new(j, "resumed_from",
                        r->resumed_from[0] ? json_string(r->resumed_from) : json_null());
    const struct {
        const char *key;
        long long v;
    } ms[] = {{"pause_ms", r->pause_ms},
              {"catchup_ms", r->catchup_ms},
              {"promote_ms", r->promote_ms},
              {"verify_ms", r->verify_ms},
              {"total_ms", r->total_ms}};
    for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++)
        json_object_set_new(j, ms[i].key, ms[i].v >= 0 ? json_integer(ms[i].v) : json_null());
    json_object_set_new(j, "failed_state",
                        r->failed_state[0] ? json_string(r->failed_state) : json_null());
    json_object_set_new(j, "reason", r->reason[0] ? json_string(r->reason) : json_null());
    return j;
}

void switchover_say(FILE *out, long long t0, const char *fmt, ...)
{
    if (!out)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(out, "switchover  +%.3f s  ", (double)(mrd_now_ms() - t0) / 1000.0);
    vfprintf(out, fmt, ap);
    fputc('\n', out);
    fflush(out);
    va_end(ap);
}
