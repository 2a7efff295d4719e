/* plan_int.h - what the planner's front end (plan.c) and its modes
 * (plan.c's sentinel mode, cluster.c) share.  Not for other modules. */
#ifndef MRD_PLAN_INT_H
#define MRD_PLAN_INT_H

#include <stdbool.h>

#include "plan.h"

/* Replica priorities (redis.conf replica-priority: lower is preferred by
 * Sentinel, 0 means never promote). */
#define PRIO_BASE 100
#define PRIO_PER_REGION_HOP 10

/* "region" / "zone" */
const char *plan_kind_name(mrd_domain_kind k);

/* Host H lies in domain KIND/INDEX. */
bool plan_host_in_domain(const mrd_host *h, mrd_domain_kind kind, int index);

/* ONE when N is 1, else MANY. */
const char *plan_plural(int n, const char *one, const char *many);

/* L->reason from FMT; bounded, never fails (cut short when too long). */
void plan_set_reason(mrd_domain_loss *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Host H may take what a plan adds to a deployed placement: it is no
 * spare and was not replaced. */
bool plan_host_takes_new(const mrd_plan *p, int h);

/* plan_build_ex() without host losses (p->host_losses NULL): what
 * plan_choose_spare() tries candidates with. */
mrd_rc plan_build_bare(const mrd_topology *t, const mrd_placement *prev,
                       const mrd_replacements *repl, mrd_plan **out, mrd_error *err);

/* P's host losses (spare.c), from the PREV and REPL P was built from. */
mrd_rc plan_host_losses(mrd_plan *p, const mrd_placement *prev, const mrd_replacements *repl,
                        mrd_error *err);

/* Does the topology have a spare?  Then plan_print() adds its sections. */
bool plan_has_spares(const mrd_plan *p);

/* The spares and host-loss sections of plan_print(); the spare fields
 * of host H's JSON entry E; the "host_losses" array (new). */
void plan_print_spares(FILE *out, const mrd_plan *p);
int plan_host_spare_json(const mrd_plan *p, int h, json_t *e);
json_t *plan_host_losses_json(const mrd_plan *p);

/* L's kind, index and name for domain KIND/INDEX; every count 0. */
void plan_loss_init(const mrd_plan *p, mrd_domain_loss *l, mrd_domain_kind kind, int index);

#endif
