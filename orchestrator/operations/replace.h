/* replace.h - a host that never comes back, replaced on a spare host
 * (`meridian heal`).
 *
 * A host is *lost* when its agent and every process the plan puts on it
 * (nodes, sentinel) are unreachable from here.  `meridian heal` records
 * when it first saw that (STATE/replacements.json, "lost"); once it has
 * lasted agent.replace_after_s, and the rest of the deployment can act
 * (sentinel mode: a majority of the sentinels name one master, which
 * answers as master, with no failover running; cluster mode: every
 * shard has a live master and a majority of the slot-owning masters
 * answer), it replaces the host, one host at a time:
 *
 *   1. fence: record "SPARE stands in for HOST from generation G" (G one
 *      above the deployment's) before anything else changes.  From then
 *      on every manifest carries G and the replacement, and an agent whose
 *      host is listed as replaced stops its nodes instead of rejoining
 *      (agent/fence.c), whether it learns it from its own manifest or from
 *      a peer's answer to GET /v1/fence;
 *   2. the plan puts the lost host's nodes and sentinel on the spare
 *      (plan_build_ex()); deploy's host phase writes every host's manifest
 *      and sets the spare up through the topology's transport;
 *   3. the spare's agent restores each node from a peer's snapshot (the
 *      manifest marks them "restore"), so the master sends only the delta;
 *      this waits until the spare's agent says it is ready;
 *   4. the deployment forgets the old host: SENTINEL RESET on each
 *      sentinel that still lists it, one at a time, never during a
 *      failover; in cluster mode CLUSTER FORGET of its nodes on every node;
 *   5. the replacement is marked done.
 *
 * Each step is idempotent and the record is written before the step that
 * depends on it, so a heal killed at any point finishes the replacement
 * on its next run.  A host that answers again before replace_after_s is
 * healed in place as before (its record is dropped).  Which spare: the
 * planner's choice (plan_choose_spare(): same zone, else same region,
 * else a region that keeps the plan's rules); with none, nothing is done
 * and the report says what would fix it (CRITICAL). */
#ifndef MRD_REPLACE_H
#define MRD_REPLACE_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "err.h"
#include "health.h"
#include "orch.h"
#include "status.h"

/* `meridian heal` waits this long at most for a lost host to reach
 * agent.replace_after_s, rather than leave it to the next cron run. */
#define REPLACE_WAIT_MAX_MS 60000
/* The spare's agent restores its nodes within this (a snapshot of the
 * whole dataset crosses the network). */
#define REPLACE_READY_TIMEOUT_MS 600000

typedef struct replace_opts {
    int wait_max_ms;      /* see REPLACE_WAIT_MAX_MS; 0: do not wait */
    int ready_timeout_ms; /* see REPLACE_READY_TIMEOUT_MS */
    FILE *progress;       /* +host-lost / +host-replaced and steps; NULL quiet */
    /* Called once a host is fenced, before its spare is set up (drills
     * measure from here); NULL: none. */
    void (*fenced)(void *arg, int lost, int spare);
    /* Called once the spare's agent says it is ready, before the old host
     * is forgotten; NULL: none. */
    void (*ready)(void *arg, int lost, int spare);
    void *arg;
} replace_opts;

/* What became of one lost host. */
typedef enum replace_outcome {
    REPLACE_WAITING = 0, /* lost for less than replace_after_s */
    REPLACE_BLOCKED,     /* lost long enough, but nothing may be done now
                            (no safe spare: CRITICAL; the rest cannot act) */
    REPLACE_REPLACED,    /* replaced on a spare (this run or finished now) */
    REPLACE_FAILED,      /* a step failed; the next run resumes it */
    REPLACE_BACK,        /* answered again before replace_after_s */
} replace_outcome;

typedef struct replace_item {
    char host[MRD_NAME_MAX];
    char spare[MRD_NAME_MAX]; /* "" when none */
    const char *match;        /* "same zone", ... (static); NULL none */
    int generation;           /* the replacement's; 0 none */
    replace_outcome outcome;
    mrd_health code;
    long long unreachable_ms; /* seen unreachable this long */
    long long detect_ms;      /* first seen lost -> fenced; -1 unknown */
    long long ready_ms;       /* fenced -> the spare's nodes ready; -1 */
    long long forget_ms;      /* ready -> the old host forgotten; -1 */
    char text[512];           /* one sentence for the operator */
} replace_item;

typedef struct replace_report {
    replace_item items[64];
    int n;
    mrd_health code;          /* the worst item's; OK when none */
    bool skipped;             /* the state dir's lock was held */
} replace_report;

/* Find lost hosts in C's deployment and replace those lost long enough,
 * as above.  Fails only when it could not look (then R says why too). */
mrd_rc replace_run(orch_ctx *c, const replace_opts *o, replace_report *r, mrd_error *err);

/* May the rest of C's deployment act without host LOST, as R (a status
 * probe from where heal runs) shows it?  Sentinel mode: a majority of the
 * sentinels answer and name one master, which answers as master and is
 * not on LOST (a failover of a lost master has finished).  Cluster mode:
 * every shard that owns slots has a live master off LOST, and a majority
 * of them answer.  A machine on the minority side of a partition sees
 * neither.  Otherwise WHY (N bytes) says what it waits for.  Pure. */
bool replace_can_act(const orch_ctx *c, const st_report *r, int lost, char *why, size_t n);

/* The report as `meridian heal --json` shows it under "hosts_lost": an
 * array of {"host", "outcome", "code", "spare", "match", "generation",
 * "unreachable_ms", "detect_ms", "ready_ms", "forget_ms", "text"}. */
json_t *replace_report_json(const replace_report *r);

/* "waiting", "blocked", "replaced", "failed", "back" */
const char *replace_outcome_name(replace_outcome o);

#endif
