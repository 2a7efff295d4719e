/* plan_common.c - what the planner's front end (plan.c) and its cluster
 * mode (cluster.c) both call: small helpers for the sentences and the
 * loss records, and a node's name.  A leaf: it calls neither, so the two
 * never call each other in a circle (ctest unit.layout).  Pure. */
#include "plan.h"
#include "plan_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ==== SMALL HELPERS ==================================================== */

const char *plan_kind_name(mrd_domain_kind k)
{
    return k == MRD_DOMAIN_REGION ? "region" : "zone";
}

bool plan_host_in_domain(const mrd_host *h, mrd_domain_kind kind, int index)
{
    return kind == MRD_DOMAIN_REGION ? h->region == index : h->zone == index;
}

const char *plan_plural(int n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

void plan_set_reason(mrd_domain_loss *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(l->reason, sizeof(l->reason), fmt, ap);
    va_end(ap);
    if (n < 0)
        l->reason[0] = '\0';
}

void plan_loss_init(const mrd_plan *p, mrd_domain_loss *l, mrd_domain_kind kind, int index)
{
    const mrd_topology *t = p->topo;
    memset(l, 0, sizeof(*l));
    l->kind = kind;
    l->index = index;
    l->name = kind == MRD_DOMAIN_REGION ? t->regions[index].name : t->zones[index].name;
}

void plan_node_name(const mrd_plan *p, int i, char *buf, size_t n)
{
    if (p->nodes[i].port == p->topo->settings.store.port)
        snprintf(buf, n, "%s", plan_node_host(p, i)->name);
    else
        snprintf(buf, n, "%s:%d", plan_node_host(p, i)->name, p->nodes[i].port);
}

bool plan_host_takes_new(const mrd_plan *p, int h)
{
    return !p->topo->hosts[h].spare && p->hosts[h].replaced_by < 0;
}

bool plan_has_spares(const mrd_plan *p)
{
    return topology_placeable_hosts(p->topo) < p->topo->nhosts;
}

bool plan_host_holds(const mrd_plan *p, int h)
{
    if (p->hosts[h].sentinel)
        return true;
    for (int i = 0; i < p->nnodes; i++)
        if (p->nodes[i].host == h)
            return true;
    return false;
}
