/* rollout.h - restart every node and sentinel of a deployment, one at a
 * time, without losing a write or a copy (`meridian rollout`).
 *
 * What it picks up: the settings deploy reported as "needs restart"
 * (--restart: deploy keeps them at their running value in the manifests
 * until a rollout writes them), a new redis-server (--upgrade: the
 * topology's store.redis_server, or a new binary at the same path), and a
 * new meridian-agent build.  The steps, planned once from the plan and
 * who leads now (rollout_plan(), pure) and persisted in
 * STATE/rollout.json before the first one runs:
 *
 *   agents     every host's manifest written with the topology's values
 *              and its agent restarted with this build, one host at a
 *              time, each answering before the next; Redis and Sentinel
 *              keep running (the agent adopts them);
 *   replica    POST /v1/restart?port=P on its agent: stopped, its config
 *              rendered from the new manifest, restored from a peer's
 *              snapshot so the master sends only the delta (a partial
 *              resync), started, caught up; every replica of every shard,
 *              one at a time, the leader's region last;
 *   sentinel   POST /v1/restart?sentinel=1, one at a time, each naming
 *              the leader again before the next;
 *   switchover each shard's leader hands over to a caught-up replica
 *              (its own region first: the plan's region keeps the leader),
 *              as `meridian switchover` does: writes paused briefly;
 *   replica    the old leader, now a replica, restarted as the others.
 *
 * One step runs at a time, each only once status is OK (a resumed run
 * checks it before its first step too).  A
 * run killed at any step (kill -9) resumes at the step it was in (a
 * restart asked twice restarts twice; a switchover finishes its own state
 * file); a step that fails stops the run with the reason, and the next
 * run goes on from it.  The state file is removed when every step is done. */
#ifndef MRD_ROLLOUT_H
#define MRD_ROLLOUT_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "err.h"
#include "manifest.h"
#include "orch.h"
#include "status.h"

#define ROLLOUT_STATE_FILE "rollout.json"
/* agents, every node, every sentinel and a switchover per shard */
#define ROLLOUT_MAX_STEPS (1 + MRD_MF_MAX_NODES + MRD_MF_MAX_HOSTS + MRD_MF_MAX_SHARDS)
#define ROLLOUT_READY_TIMEOUT_MS 120000 /* status OK again after a step */
#define ROLLOUT_AGENT_TIMEOUT_MS 30000  /* a restarted agent answers */

typedef enum ro_kind {
    RO_AGENTS = 0,  /* manifests and agents (one step for every host) */
    RO_REPLICA,     /* restart a store node that is a replica */
    RO_SENTINEL,    /* restart a host's sentinel */
    RO_SWITCHOVER,  /* a shard's leader hands over to NODE */
} ro_kind;

typedef struct ro_step {
    ro_kind kind;
    int node;          /* RO_REPLICA: the plan node; RO_SWITCHOVER: the target */
    int host;          /* RO_SENTINEL: the host; else the node's host */
    int shard;         /* RO_REPLICA, RO_SWITCHOVER */
    bool done;
    /* what it did */
    long long ms;      /* -1 not run */
    int partial;       /* RO_REPLICA: 1 partial resync, 0 a full sync, -1 unknown */
    long long pause_ms;/* RO_SWITCHOVER: writes paused on the old leader; -1 */
    char detail[200];
} ro_step;

typedef struct ro_plan {
    ro_step steps[ROLLOUT_MAX_STEPS];
    int n;
} ro_plan;

/* The steps for C's plan as R (a status probe) shows who leads each shard
 * (pure): agents; every replica, the leaders' regions last; every
 * sentinel; then per shard a switchover to a replica (the leader's region
 * first, then the plan's lowest replica priority) and the restart of the
 * old leader.  A shard with no master or no replica to hand over to
 * fails with WHY (N bytes). */
mrd_rc rollout_plan(const orch_ctx *c, const st_report *r, ro_plan *out, char *why, size_t n);

typedef struct rollout_opts {
    bool apply;        /* --yes; false: print the steps */
    bool upgrade;      /* --upgrade: say what redis-server each node runs */
    FILE *progress;    /* one line per step; NULL quiet */
} rollout_opts;

typedef struct rollout_report {
    ro_plan plan;
    bool resumed;
    int done;              /* steps done (this run and before) */
    int attempted;         /* steps this run started */
    int full_syncs;        /* replica restarts that needed a full sync */
    int syncs_unknown;     /* ... whose agent could not tell */
    long long pause_ms;    /* total writes paused by the switchovers; -1
                              unknown (cluster mode: Redis pauses itself) */
    long long ms;
    char reason[400];      /* why it stopped or was refused; "" done */
    char upgrade[400];     /* --upgrade: the servers' executables after */
} rollout_report;

/* Run it; the caller holds the state dir's lock.  0 done, 1 dry run
 * (steps listed), 2 refused or a step failed (R->reason; the next run
 * resumes), 3 could not look. */
int rollout_run(orch_ctx *c, const rollout_opts *o, rollout_report *r);

/* `meridian rollout --json`: {"done", "steps": [{"step", "host", "node",
 * "done", "ms", "partial_resync", "pause_ms", "detail"}], "full_syncs",
 * "syncs_unknown", "pause_ms", "ms", "resumed", "reason", "servers"} (new reference). */
json_t *rollout_report_json(const orch_ctx *c, const rollout_report *r);

/* "agents", "replica", "sentinel", "switchover" */
const char *ro_kind_name(ro_kind k);

#endif
