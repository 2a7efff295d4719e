/* status_mode.h - what `meridian status` does differently per mode (internal
 * to status/ and its tests).
 *
 * As curl's vtls chooses a TLS backend: status.c (the front end) picks a
 * mode's table once, by the topology's mode, and calls through it for
 * what to probe and how to judge; the modes never call each other.  What
 * every mode shares (probing, reading INFO and sentinel answers, drift,
 * agents, output) lives in status.c.  Its output still asks the mode in a
 * few places, for words and fields only, never for a judgement: a master
 * is a "leader" in sentinel mode, a "master" in cluster mode, and cluster
 * mode's JSON adds its fields (each node's cluster_state, slots and
 * slot_map_agrees, each shard's slot ranges, slots_unassigned and
 * slots_outside).
 * Sentinel mode is sentinel.c, Redis Cluster cluster.c. */
#ifndef MRD_STATUS_MODE_H
#define MRD_STATUS_MODE_H

#include "orch.h"
#include "probe_set.h"
#include "status.h"

typedef struct status_mode {
    const char *name;
    /* The servers to ask: a probe set of C's plan (new, *out; the caller
     * probe_set_free()s it), authenticating as admin with PASS (borrowed
     * until the probes have run).  Fails only on OOM. */
    mrd_rc (*probes)(const orch_ctx *c, const char *pass, probe_set **out, mrd_error *err);
    /* Judge R, whose nodes and sentinels hold what the probes found
     * (reachable, role, offsets, links, what each sentinel names): set
     * r->master, each node's lag, healthy, promotable and problem, each
     * sentinel's ok and problem, r->health and r->summary, and the live
     * survivability matrix.  Pure: reads C's topology and plan, no I/O. */
    void (*judge)(const orch_ctx *c, st_report *r);
} status_mode;

/* Sentinel mode (sentinel.c): one shard whose master a majority of
 * sentinels names. */
extern const status_mode status_mode_sentinel;

/* Cluster mode (cluster.c): shards whose masters serve the slots that
 * most nodes' slot maps give them. */
extern const status_mode status_mode_cluster;

#endif
