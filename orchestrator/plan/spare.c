/* spare.c - which spare stands in for a lost host, and what `plan` says
 * about spares (pure: no I/O).
 *
 * A spare is judged by the plan it would make: the replacement is added to
 * the record, the plan built again, and plan_check() must pass.  Spares
 * are tried nearest first (zone, region, then the other regions in file
 * order), so a same-zone spare, which changes no failure domain's count,
 * wins whenever there is one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan_int.h"

/* ==== CHOICE ============================================================ */

const char *plan_spare_match(const mrd_topology *t, int lost, int spare)
{
    const mrd_host *l = &t->hosts[lost], *s = &t->hosts[spare];
    if (l->zone == s->zone)
        return "same zone";
    return l->region == s->region ? "same region" : "other region";
}

/* 0 same zone, 1 same region, 2 other region. */
static int distance(const mrd_topology *t, int lost, int spare)
{
    const mrd_host *l = &t->hosts[lost], *s = &t->hosts[spare];
    return l->zone == s->zone ? 0 : l->region == s->region ? 1 : 2;
}

/* Spare S neither stands in, nor was replaced, nor is lost now. */
static bool idle(const mrd_topology *t, const mrd_replacements *r, int s)
{
    const char *name = t->hosts[s].name;
    if (!t->hosts[s].spare || replacements_find(r, name) >= 0 ||
        replacements_find_by(r, name) >= 0)
        return false;
    for (int i = 0; r && i < r->nlost; i++)
        if (strcmp(r->lost[i].host, name) == 0)
            return false;
    return true;
}

/* Does CAND keep every failover BASE could make, for the domains the
 * survive level covers?  plan_check() judges a domain without the leader
 * by writes alone, and a fresh plan never needs more: its sentinels are
 * spread so that the leader's region holds the most (see plan.c).  A
 * replacement in another region can break that (two sentinels in one
 * region that is not the leader's), which only a failover would show. */
static bool keeps_failovers(const mrd_plan *base, const mrd_plan *cand)
{
    mrd_survive level = base->topo->survive;
    for (int i = 0; i < base->nlosses; i++) {
        const mrd_domain_loss *b = &base->losses[i];
        bool covered = b->kind == MRD_DOMAIN_REGION ? level >= MRD_SURVIVE_REGION
                                                    : level >= MRD_SURVIVE_ZONE;
        if (covered && b->failover_possible && !cand->losses[i].failover_possible)
            return false;
    }
    return true;
}

/* Does R with "BY stands in for HOST" added give a plan that passes
 * plan_check() and keeps BASE's failovers (keeps_failovers())?  False on
 * any failure, allocation included. */
static bool safe_with(const mrd_topology *t, const mrd_placement *prev,
                      const mrd_replacements *r, const mrd_plan *base, const char *host,
                      const char *by)
{
    mrd_replacements with;
    replacements_init(&with);
    if (r && r->n > 0) {
        with.items = malloc((size_t)r->n * sizeof(*with.items));
        if (!with.items)
            return false;
        memcpy(with.items, r->items, (size_t)r->n * sizeof(*with.items));
        with.n = r->n;
    }
    if (r)
        with.generation = r->generation;
    mrd_plan *p = NULL;
    bool ok = replacements_add(&with, host, by, 0) == MRD_OK &&
              plan_build_bare(t, prev, &with, &p, NULL) == MRD_OK &&
              plan_check(p, NULL) == MRD_OK && keeps_failovers(base, p);
    plan_free(&p);
    replacements_free(&with);
    return ok;
}

/* plan_choose_spare(), with the fix part of WHY also in FIX (FN bytes). */
static int choose(const mrd_topology *t, const mrd_placement *prev, const mrd_replacements *r,
                  int lost, char *why, size_t n, char *fix, size_t fn)
{
    char none[1];
    if (!why || n == 0) {
        why = none;
        n = sizeof(none);
    }
    why[0] = '\0';
    if (fix && fn)
        fix[0] = '\0';
    if (lost < 0 || lost >= t->nhosts) {
        snprintf(why, n, "host %d is not in the topology", lost);
        return -1;
    }
    const mrd_host *l = &t->hosts[lost];
    const char *region = t->regions[l->region].name;
    if (replacements_find(r, l->name) >= 0) {
        snprintf(why, n, "%s was replaced already: it is fenced and runs nothing", l->name);
        return -1;
    }
    mrd_plan *base = NULL;
    int candidates = 0, in_region = 0;
    for (int d = 0; d < 3; d++)
        for (int s = 0; s < t->nhosts; s++) {
            if (s == lost || !idle(t, r, s) || distance(t, lost, s) != d)
                continue;
            /* the plan as it is, built once and only when there is a
             * candidate (a topology without spares costs nothing) */
            if (!base && plan_build_bare(t, prev, r, &base, NULL) != MRD_OK) {
                snprintf(why, n, "the plan cannot be built: run meridian plan for why");
                return -1;
            }
            candidates++;
            in_region += d < 2;
            if (safe_with(t, prev, r, base, l->name, t->hosts[s].name)) {
                plan_free(&base);
                return s;
            }
        }
    plan_free(&base);
    /* a same-region spare in another zone that fails breaks the zones'
     * rule: only one in the lost host's zone keeps every count */
    char f[96];
    if (in_region > 0)
        snprintf(f, sizeof(f), "add a spare in zone %s", t->zones[l->zone].name);
    else
        snprintf(f, sizeof(f), "add a spare in %s", region);
    if (fix && fn)
        snprintf(fix, fn, "%s", f);
    if (candidates == 0)
        snprintf(why, n, "no idle spare can stand in for %s (%s): %s", l->name, region, f);
    else
        snprintf(why, n, "no spare keeps the layout safe for losing %s (%s): %s", l->name,
                 region, f);
    return -1;
}

int plan_choose_spare(const mrd_topology *t, const mrd_placement *prev,
                      const mrd_replacements *repl, int lost, char *why, size_t n)
{
    return choose(t, prev, repl, lost, why, n, NULL, 0);
}

/* ==== HOST LOSSES ======================================================= */

mrd_rc plan_host_losses(mrd_plan *p, const mrd_placement *prev, const mrd_replacements *repl,
                        mrd_error *err)
{
    const mrd_topology *t = p->topo;
    p->host_losses = calloc((size_t)t->nhosts, sizeof(*p->host_losses));
    if (!p->host_losses)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory building the plan");
    for (int h = 0; h < t->nhosts; h++) {
        if (!plan_host_holds(p, h))
            continue;
        mrd_host_loss *x = &p->host_losses[p->nhost_losses++];
        x->host = h;
        x->spare = choose(t, prev, repl, h, x->reason, sizeof(x->reason), x->fix,
                          sizeof(x->fix));
        x->match = x->spare >= 0 ? plan_spare_match(t, h, x->spare) : NULL;
    }
    return MRD_OK;
}

/* ==== OUTPUT ============================================================ */

/* What host H is, spare-wise, for an operator; "" for an ordinary host. */
static void spare_state(const mrd_plan *p, int h, char *buf, size_t n)
{
    const mrd_topology *t = p->topo;
    const mrd_plan_host *x = &p->hosts[h];
    buf[0] = '\0';
    if (x->spare)
        snprintf(buf, n, "spare (idle)");
    else if (x->replaced_by >= 0)
        snprintf(buf, n, "replaced by %s (generation %d): fenced, runs nothing",
                 t->hosts[x->replaced_by].name, x->generation);
    else if (x->stands_for >= 0)
        snprintf(buf, n, "%s stands in for %s (generation %d)", t->hosts[h].name,
                 t->hosts[x->stands_for].name, x->generation);
}

void plan_print_spares(FILE *out, const mrd_plan *p)
{
    const mrd_topology *t = p->topo;
    fprintf(out, "\n%-12s %-10s %-12s %s\n", "SPARE HOST", "REGION", "ZONE", "STATE");
    for (int h = 0; h < t->nhosts; h++) {
        char state[192];
        spare_state(p, h, state, sizeof(state));
        if (!state[0])
            continue;
        const mrd_host *host = &t->hosts[h];
        fprintf(out, "%-12s %-10s %-12s %s\n", host->name, t->regions[host->region].name,
                t->zones[host->zone].name, state);
    }
    fprintf(out, "\n%-12s %s\n", "HOST LOSS", "STANDS IN");
    for (int i = 0; i < p->nhost_losses; i++) {
        const mrd_host_loss *x = &p->host_losses[i];
        if (x->spare >= 0)
            fprintf(out, "%-12s %s (%s)\n", t->hosts[x->host].name, t->hosts[x->spare].name,
                    x->match);
        else
            fprintf(out, "%-12s none: %s\n", t->hosts[x->host].name, x->fix);
    }
}

static json_t *name_or_null(const mrd_topology *t, int h)
{
    return h >= 0 ? json_string(t->hosts[h].name) : json_null();
}

int plan_host_spare_json(const mrd_plan *p, int h, json_t *e)
{
    const mrd_plan_host *x = &p->hosts[h];
    if (!e || json_object_set_new(e, "spare", json_boolean(x->spare)) != 0 ||
        json_object_set_new(e, "stands_for", name_or_null(p->topo, x->stands_for)) != 0 ||
        json_object_set_new(e, "replaced_by", name_or_null(p->topo, x->replaced_by)) != 0)
        return -1;
    return 0;
}

json_t *plan_host_losses_json(const mrd_plan *p)
{
    const mrd_topology *t = p->topo;
    json_t *a = json_array();
    for (int i = 0; a && i < p->nhost_losses; i++) {
        const mrd_host_loss *x = &p->host_losses[i];
        json_t *e = json_pack("{s:s,s:o,s:o,s:s}", "host", t->hosts[x->host].name, "spare",
                              name_or_null(t, x->spare), "match",
                              x->match ? json_string(x->match) : json_null(), "reason",
                              x->reason);
        if (json_array_append_new(a, e) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}
