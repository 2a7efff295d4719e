/* scale_steps.c - deploy's steps around a cluster scale (deploy_int.h):
 * before the hosts, the plan diff and the refusals; after forming, the
 * slot moves, the retirement of drained shards, the placement record. */
#include "deploy_int.h"

#include <stdio.h>

#include "log.h"
#include "manifest.h"
#include "scale.h"

/* A retired node stops once its agent restarted with a manifest without
 * it: this long at most before the FORGETs. */
#define RETIRED_STOP_TIMEOUT_MS 20000

/* Add the "address:port" of every node of C's retiring shards to GONE. */
static void add_retiring(const orch_ctx *c, char (*gone)[80], int *n)
{
    const mrd_plan *p = c->plan;
    for (int s = 0; s < p->nshards; s++)
        for (int i = p->shards[s].first;
             p->shards[s].retiring && i < p->shards[s].first + p->shards[s].nnodes &&
             *n < MRD_MF_MAX_NODES;
             i++)
            snprintf(gone[(*n)++], 80, "%s:%d", plan_node_host(p, i)->address,
                     p->nodes[i].port);
}

/* C's plan without its retiring shards (they own nothing any more). */
static mrd_rc drop_retiring(orch_ctx *c, mrd_error *err)
{
    mrd_placement pl;
    MRD_TRY(plan_placement(c->plan, true, &pl, err));
    mrd_rc rc = orch_replan(c, &pl, err);
    placement_free(&pl);
    return rc;
}

int deploy_scale_before(orch_ctx *c, FILE *out, char (*gone)[80], int *ngone)
{
    mrd_error err;
    const mrd_plan *p = c->plan;
    if (plan_check(p, &err) != MRD_OK) {
        char buf[600];
        mrd_error_format(&err, buf, sizeof(buf));
        fprintf(stderr, "meridian: %s\n", buf);
        return 2;
    }
    if (!p->nadded && !p->nretiring)
        return 0;
    int moves = 0;
    if (cluster_scale_preview(c, out, &moves, &err) != MRD_OK) {
        if (out)
            fprintf(out, "deploy refused before anything changed: %s\n", err.msg);
        return 2;
    }
    for (int h = 0; h < c->topo->nhosts; h++)
        if (tp_connect(c->tp, &c->topo->hosts[h], &err) != MRD_OK) {
            if (out)
                fprintf(out, "deploy refused before anything changed: host %s: %s\n",
                        c->topo->hosts[h].name, err.msg);
            return 2;
        }
    if (p->nretiring && cluster_scale_drained(c)) {
        add_retiring(c, gone, ngone);
        if (drop_retiring(c, &err) != MRD_OK) {
            if (out)
                fprintf(out, "deploy incomplete: %s\n", err.msg);
            return 2;
        }
    }
    return 0;
}

int deploy_scale_after(orch_ctx *c, const deploy_opts *o, const deploy_shared *sh, FILE *out,
                       char (*gone)[80], int ngone, int *changed)
{
    mrd_error err;
    scale_report sr;
    if (cluster_reshard(c, out, &sr, &err) != MRD_OK) {
        if (out)
            fprintf(out, "deploy incomplete: %s\n", err.msg);
        return 2;
    }
    if (out && sr.slots + sr.repaired > 0)
        fprintf(out, "  %-12s moved %d slot%s and %lld keys in %.1f s (%.0f keys/s)%s\n",
                "reshard", sr.slots + sr.repaired, sr.slots + sr.repaired == 1 ? "" : "s",
                sr.keys, (double)sr.ms / 1000.0,
                sr.ms > 0 ? (double)sr.keys * 1000.0 / (double)sr.ms : 0.0,
                sr.repaired ? ", finishing an earlier run's open moves" : "");
    *changed += sr.slots + sr.repaired;
    if (c->plan->nretiring) {
        add_retiring(c, gone, &ngone);
        char did[200];
        if (drop_retiring(c, &err) != MRD_OK) {
            if (out)
                fprintf(out, "deploy incomplete: %s\n", err.msg);
            return 2;
        }
        if (out)
            fprintf(out, "  %-12s the drained shards' nodes are retired: new manifests "
                         "without them\n", "retire");
        int rc = deploy_hosts_phase(c, o, sh, mrd_now_ms(), did, sizeof(did), changed);
        if (rc != 0)
            return rc;
    }
    int forgotten = 0;
    if (cluster_forget(c, gone, ngone, RETIRED_STOP_TIMEOUT_MS, &forgotten, &err) != MRD_OK) {
        if (out)
            fprintf(out, "deploy incomplete: %s\n", err.msg);
        return 2;
    }
    if (out && ngone)
        fprintf(out, "  %-12s %d retired %s stopped; %d CLUSTER FORGETs on the remaining "
                     "nodes\n", "retire", ngone, ngone == 1 ? "node" : "nodes", forgotten);
    if (orch_placement_save(c, c->plan, false, &err) != MRD_OK) {
        if (out)
            fprintf(out, "deploy incomplete: %s\n", err.msg);
        return 2;
    }
    return 0;
}

