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

/* L's kind, index and name for domain KIND/INDEX; every count 0. */
void plan_loss_init(const mrd_plan *p, mrd_domain_loss *l, mrd_domain_kind kind, int index);

#endif
