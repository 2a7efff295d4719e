/* drill_cluster.h - what a drill needs in cluster mode: a cluster-aware
 * writer, and a watcher that turns what the nodes show into timeline
 * events.
 *
 *   writer   one thread per shard, as a cluster client with a connection
 *            per node: it writes "SET <prefix>:<seq> <seq>" for keys of
 *            its shard's slots as the router's first slot map gives them
 *            (after a scale a shard owns any set of slots, not its plan
 *            range; a shard that owns none gets no thread), sends each to the master
 *            its slot map names, follows MOVED (the map is corrected) and
 *            ASK (ASKING, once), runs WAIT <wait_replicas> on that master
 *            and records a drill_write (shard = the key's plan shard,
 *            leader = the node it went to).  A router thread keeps the slot
 *            map: every node's CLUSTER NODES, each slot given to the owner
 *            with the highest config epoch (Redis' own rule, so the view
 *            of a cut-off old master loses to the cluster's), at once when
 *            a writer saw an error, else every second.  One thread per
 *            shard: a master that stalls (a partition) delays only its own
 *            shard's writes.
 *   verify   after the drill: every write read back from the node that
 *            owns its slot now (drill_cluster_verify()).
 *   watcher  one thread per node polling CLUSTER NODES and CLUSTER INFO
 *            every DRILL_CLUSTER_POLL_MS; each change becomes an event of
 *            the drill's timeline (drill_load.h's drill_timeline_new()):
 *            "+pfail"/"+fail"/"-fail" (the node's opinion of another),
 *            "+promoted"/"+demoted" (its own role, with its config epoch),
 *            "+cluster-fail"/"+cluster-ok" (its cluster_state).
 *
 * Times as in drill_load.h: ms since the T0_MS the caller passes.
 * Passwords are copied, wiped on free; every string of the options is
 * copied by *_start(). */
#ifndef MRD_DRILL_CLUSTER_H
#define MRD_DRILL_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include "cluster.h"
#include "drill.h"
#include "drill_load.h"
#include "err.h"

#define DRILL_CLUSTER_POLL_MS 100       /* watcher: one poll per node */
#define DRILL_CLUSTER_REFRESH_MS 1000   /* router: slot map without errors */
#define DRILL_CLUSTER_MIN_REFRESH_MS 100 /* router: at most this often */
#define DRILL_CLUSTER_CONNECT_MS 300    /* router and watcher connections */
#define DRILL_CLUSTER_MAX_NODES 512     /* nodes a writer or watcher takes */

/* ==== pure helpers (no I/O; unit-tested) ==== */

/* The first sequence number >= FROM, stepping by STRIDE (>= 1), whose key
 * "<PREFIX>:<seq>" hashes to a slot in SLOT_FIRST..SLOT_LAST; -1 when
 * none within 1,000,000 steps (an empty range). */
int64_t drill_cluster_next_seq(const char *prefix, int64_t from, int stride, int slot_first,
                               int slot_last);

/* The same for the slots SLOT_SHARD gives SHARD (drill_cluster_slot_shards()):
 * the first sequence number >= FROM, stepping by STRIDE, whose key hashes
 * to a slot with SLOT_SHARD[slot] == SHARD; -1 when none within 1,000,000
 * steps (the shard has no slot). */
int64_t drill_cluster_next_seq_of(const char *prefix, int64_t from, int stride,
                                  const int16_t slot_shard[STORE_CLUSTER_SLOTS], int shard);

/* Which shard's writer writes each slot's keys, into OUT: the plan shard
 * (NODE_SHARD[plan node], PLAN_NODES entries) of the node OWNER[slot]
 * names.  OWNER holds positions in NODES (N entries, whose .index is a
 * plan node), -1 none: drill_cluster_slot_map() of a copy of NODES with
 * .index = position, as the writer's router keeps it.  A slot OWNER does
 * not place goes to the shard whose plan range SLOT_FIRST[s]..SLOT_LAST[s]
 * holds it (both may be NULL: none).  -1 for a slot neither places, or
 * placed in a shard at or beyond NSHARDS (the writer's shards: a retiring
 * shard gets no keys). */
void drill_cluster_slot_shards(const int16_t owner[STORE_CLUSTER_SLOTS],
                               const drill_target *nodes, int n, const int *node_shard,
                               int plan_nodes, const int *slot_first, const int *slot_last,
                               int nshards, int16_t out[STORE_CLUSTER_SLOTS]);

/* The slot map of several views: OWNER[slot] = the index (drill_target
 * .index) among NODES[0..N) of the owner with the highest config epoch
 * any view gives the slot, -1 when no view assigns it (or its owner is
 * not among NODES).  A NULL view is skipped. */
void drill_cluster_slot_map(const store_cluster_view *const *views, int nviews,
                            const drill_target *nodes, int n, int16_t owner[STORE_CLUSTER_SLOTS]);

/* What changed between two polls of one node.  ABOUT is the node of CUR
 * the change concerns (myself for "+promoted"/"+demoted"). */
typedef void (*drill_cluster_emit_fn)(void *ctx, const char *name,
                                      const store_cluster_node *about, const char *detail);

/* Call EMIT for each change from PREV to CUR (both views of the same
 * node; PREV NULL: none, the first poll): another node gaining "fail?"
 * (+pfail), gaining "fail" (+fail), losing "fail" (-fail); myself turning
 * master (+promoted, detail "epoch E, N slots") or replica (+demoted,
 * detail "replica of IP:PORT").  Returns how many. */
int drill_cluster_diff(const store_cluster_view *prev, const store_cluster_view *cur,
                       drill_cluster_emit_fn emit, void *ctx);

/* ==== writer ==== */

typedef struct drill_cluster_opts {
    int64_t t0_ms;             /* the drill's start (mrd_now_ms()) */
    const drill_target *nodes; /* every node; .index is its plan node index */
    int nnodes;
    const int *slot_first;     /* writer: per plan shard, its plan range
                                  (what a fresh cluster gives it): only for
                                  slots the first slot map does not place */
    const int *slot_last;
    int nshards;               /* writer: the first NSHARDS plan shards get
                                  one writer each (retiring ones, the last,
                                  none) */
    /* per plan node index, its host, shard and name (watcher: all three;
     * writer: the shard, to tell whose slots are whose) */
    const int *node_host;
    const int *node_shard;
    const char *const *node_name;
    int plan_nodes;            /* entries of the three arrays above */
    const char *user;          /* writer: "app"; watcher: "admin" */
    const char *pass;
    const char *prefix;        /* writer: keys "<prefix>:<seq>" */
    int rate;                  /* writer: writes per second, all shards */
    int wait_replicas;         /* writer: WAIT after each SET (0: none) */
    int wait_timeout_ms;       /* 0: 1000 */
} drill_cluster_opts;

typedef struct drill_cwriter drill_cwriter; /* opaque */

/* Start the router (its first slot map is read before this returns) and
 * one writer per shard that owns a slot in it (drill_cluster_slot_shards()),
 * which share the rate.  Errors: MRD_ERR_INVALID (no nodes, shards,
 * prefix, user or password; rate < number of shards), MRD_ERR_NOMEM,
 * MRD_ERR_PROCESS (threads).  Unreachable nodes are not errors.  *out is
 * new; drill_cwriter_free() it. */
mrd_rc drill_cwriter_start(const drill_cluster_opts *o, drill_cwriter **out, mrd_error *err);

void drill_cwriter_stop(drill_cwriter *w);   /* joins the threads; idempotent */
void drill_cwriter_free(drill_cwriter **w);  /* stops if needed; accepts NULL */

/* A copy of every write so far (grouped by when each was recorded, not
 * sorted).  *out is new (caller free()s; NULL when *n is 0). */
mrd_rc drill_cwriter_writes(drill_cwriter *w, drill_write **out, int64_t *n, mrd_error *err);

/* ==== read-back ==== */

/* Read back the writes W[0..N) of a cluster writer (keys "<PREFIX>:<seq>")
 * through the cluster as it is now, as a cluster client would: every node
 * of NODES[0..NNODES) that answers gives its CLUSTER NODES, each slot goes
 * to the owner drill_cluster_slot_map() names, and each owner reads back
 * the keys of its slots (drill_load_verify(), USER and PASS: "admin";
 * TIMEOUT_MS bounds each connect and batch).  A write whose slot no node
 * serves counts as not there.  *OUT sums the owners' results; *OWNERS
 * (may be NULL) gets how many nodes own slots.  Nodes that do not answer
 * are not errors.  Errors: MRD_ERR_STATE (no node answered), those of
 * drill_load_verify() for the first owner that could not be read (the
 * slot map may have changed under it: the caller may try again),
 * MRD_ERR_NOMEM. */
mrd_rc drill_cluster_verify(const drill_target *nodes, int nnodes, const char *user,
                            const char *pass, const char *prefix, const drill_write *w,
                            int64_t n, int timeout_ms, drill_verify_result *out, int *owners,
                            mrd_error *err);

/* ==== watcher ==== */

typedef struct drill_cwatch drill_cwatch; /* opaque */

/* Start one poller per node of O (user/pass: admin), recording into TL
 * (borrowed: it must outlive the watcher).  Returns once every poller has
 * tried once.  Errors: MRD_ERR_INVALID, MRD_ERR_NOMEM, MRD_ERR_PROCESS. */
mrd_rc drill_cwatch_start(const drill_cluster_opts *o, drill_timeline *tl, drill_cwatch **out,
                          mrd_error *err);

void drill_cwatch_stop(drill_cwatch *w);
void drill_cwatch_free(drill_cwatch **w);

#endif
