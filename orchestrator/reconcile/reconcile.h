/* reconcile.h - bring running nodes and sentinels to the topology's
 * settings, and tell where they differ (drift).
 *
 * Redis and Sentinel keep their settings in their own config files, which
 * they rewrite themselves (CONFIG REWRITE, failovers), so a redeploy does
 * not re-render them: a changed setting reaches a running process only
 * through CONFIG SET / SENTINEL SET.  reconcile_run() asks every node
 * (CONFIG GET) and every sentinel (SENTINEL MASTER) for the settings the
 * table marks as changeable live, compares them with the topology, and
 * applies each difference one process at a time (CONFIG SET then CONFIG
 * REWRITE on a node, SENTINEL SET on a sentinel, which saves its own
 * file).  A value Redis refuses is reported with Redis' own error; the
 * other processes still reconcile, and nothing is ever restarted.  A
 * master its agent has fenced (min-replicas-to-write
 * MRD_FENCE_MIN_REPLICAS: cut off from a majority) keeps its fence: only
 * the agent lifts it, and reconcile reports it as "fenced by its agent".
 *
 * Settings that cannot change live are not here: deploy pins them to the
 * running value and says "needs restart" (see deploy/deploy.c). */
#ifndef MRD_RECONCILE_H
#define MRD_RECONCILE_H

#include <stdbool.h>
#include <stdio.h>

#include "orch.h"
#include "settings.h"

typedef struct reconcile_change {
    int host;               /* topology host index */
    bool sentinel;          /* the host's sentinel, else a redis-server: */
    int node;               /* ... plan node NODE on HOST; -1 a sentinel */
    const mrd_setting *row;
    char from[64], to[64];  /* values as a topology file writes them */
    bool applied;           /* set live (apply mode) */
    bool fenced;            /* left alone: the node is fenced by its agent
                               (reconcile_fenced()); never applied */
    char error[256];        /* why it was not: Redis' own error */
} reconcile_change;

typedef struct reconcile_report {
    reconcile_change *changes; /* new; reconcile_report_free() */
    int nchanges;
    int refused;               /* changes the server refused */
    int unreachable;           /* processes that could not be asked */
    int fenced;                /* changes left alone (fenced by its agent);
                                  counted in NCHANGES too */
} reconcile_report;

/* The settings the processes of C should run with: the topology's, with
 * the sentinel quorum the plan resolves (0 in a file means the majority). */
void reconcile_wanted(const orch_ctx *c, mrd_settings *out);

/* Whether LIVE (a node's value of ROW's directive as CONFIG GET reports
 * it; NULL unknown) is its agent's self-fence: ROW is
 * consistency.min_replicas_to_write and LIVE is at least
 * MRD_FENCE_MIN_REPLICAS (common/settings.h).  Such a value is the
 * agent's to lift once the node reaches a majority again: reconcile never
 * sets it back (that would let an isolated master accept writes the
 * majority side never sees) and status does not call it drift.  Pure. */
bool reconcile_fenced(const mrd_setting *row, const char *live);

/* Whether LIVE (as CONFIG GET or SENTINEL MASTER reports ROW's directive)
 * differs from WANT in a way reconcile sets back: never when LIVE is
 * unknown (NULL) or an agent's fence (reconcile_fenced()).  When it does,
 * FROM and TO (N bytes each) get both values as a topology file writes
 * them ("268435456" -> "256mb").  Pure. */
bool reconcile_differs(const mrd_setting *row, const char *live, const mrd_settings *want,
                       char *from, char *to, size_t n);

/* BYTES as a topology file would write it, in BUF (N bytes): the largest
 * whole unit ("256mb", "1gb", "1536kb"), else the plain count ("1000",
 * "0").  Pure. */
void reconcile_human_size(long long bytes, char *buf, size_t n);

/* Compare every node and sentinel with the topology; with APPLY, set each
 * difference live, one process at a time.  BEFORE (may be NULL): the
 * settings the deployment ran with before this deploy; a value that
 * changed from BEFORE and that a process already runs with (its agent,
 * restarted with the new manifest, set a safety setting first) is
 * reported as changed too.  Fills *R (zeroed first).  Fails only on OOM
 * or unreadable credentials. */
mrd_rc reconcile_run(const orch_ctx *c, bool apply, const mrd_settings *before,
                     reconcile_report *r, mrd_error *err);

void reconcile_report_free(reconcile_report *r);

/* Before a redeploy writes manifests: read the settings the deployment
 * runs with (the first host manifest that can be read) and, for every
 * setting that cannot change live and differs in the topology, keep the
 * running value in C's topology (replanning when the placement depends on
 * it) and say "needs restart" on OUT.  A first deploy pins nothing.
 * *PINNED gets how many were kept; *BEFORE the settings found, when
 * *HAVE_BEFORE. */
mrd_rc reconcile_pin(orch_ctx *c, FILE *out, int *pinned, mrd_settings *before,
                     bool *have_before, mrd_error *err);

/* One line per change: "  HOST  changed: maxmemory 256mb -> 128mb (live)",
 * "... not changed: ...: ERR ..." (Redis' own error) or "... not
 * changed: ...: fenced by its agent ...". */
void reconcile_print(FILE *out, const orch_ctx *c, const reconcile_report *r);

#endif
