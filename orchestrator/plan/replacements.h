/* replacements.h - the deployment's replacement record (pure: JSON text
 * in, struct out, and back; no I/O).
 *
 * When a host is lost for good (its agent and every process unreachable
 * for longer than agent.replace_after_s), a spare host (topology
 * "spare": true) stands in for it.  The orchestrator records each such
 * replacement in STATE/replacements.json, and every plan is built from the
 * topology, the placement and this record (plan_build_ex()):
 *
 *   {"version": 1, "generation": 2,
 *    "replaced": [{"host": "use-b1", "by": "use-b9", "generation": 2,
 *                  "at_ms": 1700000000000, "done": true}],
 *    "lost": [{"host": "euw-a1", "since_ms": 1700000000000}]}
 *
 * The deployment's generation starts at 1 and grows by one per
 * replacement; a replaced host is fenced (its agent must never start its
 * nodes again).  A spare that stands in and is lost later is replaced in
 * turn: it is then the "by" of one replacement and the "host" of a later
 * one, and the planner follows the chain.  "lost" is bookkeeping: the
 * hosts the orchestrator currently sees unreachable, and since when.
 *
 * Not thread-safe; a record is plain data owned by its holder. */
#ifndef MRD_REPLACEMENTS_H
#define MRD_REPLACEMENTS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "err.h"
#include "topology.h"

#define MRD_REPLACEMENTS_VERSION 1

typedef struct mrd_replacement {
    char host[MRD_NAME_MAX]; /* the lost host (topology name) */
    char by[MRD_NAME_MAX];   /* the spare that stands in for it */
    int generation;          /* the deployment generation this made */
    long long at_ms;         /* unix ms when it was fenced */
    bool done;               /* spare ready and old entries forgotten */
} mrd_replacement;

typedef struct mrd_lost_host {
    char host[MRD_NAME_MAX];
    long long since_ms;      /* unix ms the orchestrator first saw it unreachable */
} mrd_lost_host;

typedef struct mrd_replacements {
    int generation;          /* 1 + number of replacements ever made */
    mrd_replacement *items;  /* in generation order */
    int n;
    mrd_lost_host *lost;
    int nlost;
} mrd_replacements;

/* Parse a record's TEXT (LEN bytes); PATH names it in errors.
 * MRD_ERR_PARSE with the file and what is wrong: not JSON, another
 * version, a field missing or of the wrong type, a host replaced twice, a
 * spare standing in twice, a host standing in for itself or after it was
 * itself replaced (fenced hosts never come back as spares), generations
 * not increasing (each above 1, the top-level one at least the last), a
 * host listed as lost twice.  MRD_ERR_NOMEM.  *OUT is filled
 * (replacements_free() it) only on success; on error it is left as
 * replacements_init() makes it. */
mrd_rc replacements_parse(const char *text, size_t len, const char *path, mrd_replacements *out,
                          mrd_error *err);

/* The file's JSON for R (new reference; NULL on OOM). */
json_t *replacements_to_json(const mrd_replacements *r);

/* Free R's arrays and zero it (generation 0).  Accepts NULL. */
void replacements_free(mrd_replacements *r);

/* Generation 1, no replacement, no lost host. */
void replacements_init(mrd_replacements *r);

/* The index in r->items of the replacement of HOST (as the lost host),
 * or -1; and of the one SPARE stands in by.  R may be NULL (-1). */
int replacements_find(const mrd_replacements *r, const char *host);
int replacements_find_by(const mrd_replacements *r, const char *spare);

/* Record that BY stands in for HOST from now on (generation =
 * ++r->generation), fenced at AT_MS, not done.  It does not check the
 * rules replacements_parse() enforces: the caller chose BY with
 * plan_choose_spare().  MRD_ERR_NOMEM (R unchanged). */
mrd_rc replacements_add(mrd_replacements *r, const char *host, const char *by, long long at_ms);

/* Lost-host bookkeeping: set HOST lost since SINCE_MS (a host already
 * listed keeps its since_ms); clear it (nothing when not listed).
 * MRD_ERR_NOMEM (R unchanged). */
mrd_rc replacements_lost_set(mrd_replacements *r, const char *host, long long since_ms);
void replacements_lost_clear(mrd_replacements *r, const char *host);

#endif
