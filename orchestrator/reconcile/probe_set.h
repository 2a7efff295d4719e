/* probe_set.h - one question to every server of a deployment, set up in
 * one place.
 *
 * Each plan node is asked INFO replication and, in the same round trip,
 * the settings that change live (CONFIG GET of the MRD_LANDS_REDIS live
 * rows); each sentinel its view of the shard it monitors (SENTINEL
 * MASTER / REPLICAS / SENTINELS), which holds the sentinel settings.
 * `meridian status` (health and drift) and reconcile (drift and apply)
 * ask the same set; store_probe_all() asks them all concurrently.
 *
 * Not thread-safe; one set per caller. */
#ifndef MRD_PROBE_SET_H
#define MRD_PROBE_SET_H

#include <stdbool.h>
#include <stddef.h>

#include "orch.h"
#include "probe.h"
#include "settings.h"

typedef struct probe_set {
    store_probe *probes;   /* nnodes + nsentinels: the plan's nodes in plan
                              order, then the sentinels in host order */
    int nnodes;            /* probes[i], i < nnodes, is plan node i */
    int nsentinels;
    int *sentinel_host;    /* host of the i-th sentinel (probes[nnodes + i]) */
    sentinel_view *views;  /* the sentinels' answers */
    /* the settings that change live, compared for drift */
    const mrd_setting *node_rows[STORE_PROBE_MAX_CONFIG];
    size_t nnode_rows;     /* probes[i].config_values[k] is node_rows[k]'s */
    const mrd_setting *sentinel_rows[STORE_PROBE_MAX_CONFIG];
    size_t nsentinel_rows;
    const char *names[STORE_PROBE_MAX_CONFIG + 1]; /* node_rows' directives */
} probe_set;

/* A probe set for every node of C's plan and, with SENTINELS, every
 * sentinel (about the plan's first shard: sentinel mode has one), all
 * authenticating as "admin" with PASS (borrowed: keep it until the probes
 * have run).  *out is new; probe_set_free() it.  Fails only on OOM. */
mrd_rc probe_set_new(const orch_ctx *c, const char *pass, bool sentinels, probe_set **out,
                     mrd_error *err);

/* Ask every server, each within TIMEOUT_MS; per-probe results are in
 * ps->probes[i].rc.  Fails only on OOM. */
mrd_rc probe_set_run(probe_set *ps, int timeout_ms);

/* The live value of sentinel_rows[K] that the I-th sentinel reports
 * (borrowed from its view), NULL when it did not answer or has none. */
const char *probe_set_sentinel_value(const probe_set *ps, int i, size_t k);

/* Free *PS (probes, their results, views) and NULL it.  Accepts NULL. */
void probe_set_free(probe_set **ps);

#endif
