/* front.c - the planner's front end: a plan built, printed and turned
 * into JSON with its spare layer (spare.c: which spare would replace each
 * host) on top of the placement and matrix (plan.c).  It calls both; they
 * never call it, nor each other in a circle (ctest unit.layout). */
#include "plan_int.h"

#include <stdio.h>

mrd_rc plan_build(const mrd_topology *t, mrd_plan **out, mrd_error *err)
{
    return plan_build_ex(t, NULL, NULL, out, err);
}

mrd_rc plan_build_from(const mrd_topology *t, const mrd_placement *prev, mrd_plan **out,
                       mrd_error *err)
{
    return plan_build_ex(t, prev, NULL, out, err);
}

mrd_rc plan_build_ex(const mrd_topology *t, const mrd_placement *prev,
                     const mrd_replacements *repl, mrd_plan **out, mrd_error *err)
{
    MRD_TRY(plan_build_bare(t, prev, repl, out, err));
    mrd_rc rc = plan_host_losses(*out, prev, repl, err);
    if (rc != MRD_OK)
        plan_free(out);
    return rc;
}

static json_t *shard_json(const mrd_plan *p, int s)
{
    const mrd_plan_shard *sh = &p->shards[s];
    json_t *nodes = json_array();
    for (int i = sh->first; i < sh->first + sh->nnodes; i++)
        json_array_append_new(nodes, json_pack("{s:s,s:i,s:s,s:i}", "host",
                                               plan_node_host(p, i)->name, "port",
                                               p->nodes[i].port, "role",
                                               p->nodes[i].master ? "master" : "replica",
                                               "replica_priority",
                                               p->nodes[i].replica_priority));
    return json_pack("{s:s,s:s,s:[i,i],s:i,s:b,s:b,s:o}", "name", sh->name, "master",
                     plan_node_host(p, sh->master)->name, "slots", sh->slot_first,
                     sh->slot_last, "slot_count", sh->nslots, "added", sh->added, "retiring",
                     sh->retiring, "nodes", nodes);
}

void plan_print(FILE *out, const mrd_plan *p)
{
    p->mode->print(out, p);
    if (plan_has_spares(p))
        plan_print_spares(out, p);
}

json_t *plan_to_json(const mrd_plan *p)
{
    const mrd_topology *t = p->topo;
    json_t *hosts = json_array(), *shards = json_array(), *losses = json_array();
    if (!hosts || !shards || !losses)
        goto fail;
    for (int h = 0; h < t->nhosts; h++) {
        json_t *e = p->mode->host_json(p, h);
        if (plan_host_spare_json(p, h, e) != 0) {
            json_decref(e);
            goto fail;
        }
        if (json_array_append_new(hosts, e) != 0) /* stolen, on failure too */
            goto fail;
    }
    for (int s = 0; s < p->nshards; s++)
        if (json_array_append_new(shards, shard_json(p, s)) != 0)
            goto fail;
    for (int i = 0; i < p->nlosses; i++)
        if (json_array_append_new(losses, plan_loss_to_json(p, &p->losses[i])) != 0)
            goto fail;
    json_t *root = p->mode->to_json(p, hosts, shards, losses);
    if (!root || json_object_set_new(root, "generation", json_integer(p->generation)) != 0 ||
        json_object_set_new(root, "host_losses", plan_host_losses_json(p)) != 0) {
        json_decref(root);
        return NULL;
    }
    return root;
fail:
    json_decref(hosts);
    json_decref(shards);
    json_decref(losses);
    return NULL;
}
