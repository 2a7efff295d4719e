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
 * other processes still reconcile, and nothing is ever restarted.
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
    char error[256];        /* why it was not: Redis' own error */
} reconcile_change;

typedef struct reconcile_report {
    reconcile_change *changes; /* new; reconcile_report_free() */
    int nchanges;
    int refused;               /* changes the server refused */
    int unreachable;           /* processes that could not be asked */
} reconcile_report;

/* The settings the processes of C should run with: the topology's, with
 * the sentinel quorum the plan resolves (0 in a file means the majority). */
void reconcile_wanted(const orch_ctx *c, mrd_settings *out);

/* Whether LIVE (as CONFIG GET or SENTINEL MASTER reports ROW's directive)
 * differs from WANT; when it does, FROM and TO (N bytes each) get both
 * values as a topology file writes them ("268435456" -> "256mb"). */
bool reconcile_differs(const mrd_setting *row, const char *live, const mrd_settings *want,
                       char *from, char *to, size_t n);

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

/* One line per change: "  HOST  changed: maxmemory 256mb -> 128mb (live)"
 * or "... refused by Redis: ERR ...". */
void reconcile_print(FILE *out, const orch_ctx *c, const reconcile_report *r);

#endif
