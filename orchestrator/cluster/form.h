/* form.h - form the Redis Cluster of a cluster-mode deployment.
 *
 * The agents start every node of the plan as an empty cluster node (a
 * master of nothing that knows only itself).  cluster_form() makes them one
 * cluster, as the plan says, talking to the nodes as the admin user:
 *
 *   1. every fresh planned master gets its own config epoch (the shard's
 *      number + 1), so the masters need not settle epoch collisions one
 *      gossip round at a time;
 *   2. every node MEETs every node it does not know yet (all handshakes
 *      at once, instead of leaving most to gossip); then every node must
 *      know every other one by its real id;
 *   3. each shard's master is given the shard's slots that nobody owns
 *      (ADDSLOTSRANGE);
 *   4. each other node of the shard REPLICATEs the shard's master (the
 *      node of the shard that owns its slots: after a failover that is not
 *      the planned one);
 *   5. done when every node says cluster_state:ok, every slot is covered
 *      and every node has the same slot map.
 *
 * A fresh cluster (no slot owned anywhere yet, so no data) forms with
 * cluster-node-timeout FORM_NODE_TIMEOUT_MS, set back to the topology's
 * when the run ends: nodes ping each other, and so learn who owns which
 * slots, every half node timeout.
 *
 * Every round re-reads every node's view (CLUSTER NODES) before it acts,
 * and each step is only taken where the view says it is missing, so a
 * second run changes nothing, and a run interrupted anywhere (kill -9)
 * is finished by the next one.  Nothing is ever taken from a node that
 * holds data: no CLUSTER RESET, FLUSHALL, TAKEOVER or slot move (slots
 * move in scale.c, after forming).  A layout that only such a step could
 * fix (a node that should be a replica but holds keys and no slots) is
 * refused with a sentence naming it, before anything is changed. */
#ifndef MRD_CLUSTER_FORM_H
#define MRD_CLUSTER_FORM_H

#include <stdio.h>

#include "err.h"
#include "orch.h"

/* What a run did. */
typedef struct form_report {
    int met;            /* CLUSTER MEETs sent */
    int epochs;         /* config epochs set on fresh masters */
    int ranges;         /* slot ranges assigned */
    int slots;          /* ... holding this many slots */
    int replicated;     /* CLUSTER REPLICATEs sent */
    int nodes;          /* nodes of the plan */
    long long ms;       /* how long it took */
} form_report;

/* A run's step at most waits this long between two looks. */
#define FORM_POLL_MS 20
/* cluster-node-timeout while a fresh cluster forms (see form.c). */
#define FORM_NODE_TIMEOUT_MS 500

/* Form (or finish forming) C's cluster; at most TIMEOUT_MS.  Progress
 * lines go to OUT (may be NULL).  MRD_ERR_TIMEOUT with what is still
 * missing; MRD_ERR_STATE for a layout it refuses to change; MRD_ERR_CONNECT
 * / MRD_ERR_AUTH for a node that does not answer as admin. */
mrd_rc cluster_form(orch_ctx *c, int timeout_ms, FILE *out, form_report *r,
                    mrd_error *err);

/* "no changes" when R did nothing, else e.g. "72 MEETs, assigned 16384
 * slots in 3 ranges, 6 replicas attached". */
void form_report_text(const form_report *r, char *buf, size_t n);

#endif
