/* plan.h - placement and survivability (pure: no I/O).
 *
 * A plan is expressed in nodes and shards: a node is one redis-server on
 * one host and port, a shard one master and its replicas.  Each mode
 * places them through its own table of functions (plan_mode); the front
 * end (plan_build, plan_check, the JSON) never knows which.
 *
 * Sentinel mode places:
 *   - one shard, named as the topology, that the sentinels monitor;
 *   - one store node per host (spares aside) on store.port; the master on
 *     the first such host of the first zone of store.leader_region that
 *     has one, every other node a replica;
 *   - sentinel.count sentinels, at most one per host, spread round-robin
 *     over regions, then zones within a region, then hosts, so that no
 *     region and no zone holds more of them than it must;
 *   - replica priorities: replicas in the leader's region 100, others
 *     100 + 10 * (distance in region order) so failover prefers staying
 *     close to the old leader.  Never 0 (0 means "never promote").
 *
 * It then computes, for every region and every zone, what its loss leaves
 * (the survivability matrix).  plan_check() turns the matrix into a
 * verdict for the topology's `survive` level: MRD_ERR_UNSAFE with one
 * sentence naming the domain and the fix, e.g.
 *   "losing region us-east leaves 1 of 3 sentinels, below the majority of
 *    2: put a sentinel in a third region".
 *
 * Spare hosts (topology "spare": true) get nothing from either mode.  A
 * deployment's replacements (replacements.h) are applied last, in
 * generation order: everything the plan puts on a lost host moves to the
 * spare standing in for it (see plan_build_ex()), and the matrix is that
 * of the layout after them.
 *
 * A plan borrows its topology: keep the topology alive while the plan is.
 */
#ifndef MRD_PLAN_H
#define MRD_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "err.h"
#include "health.h"
#include "placement.h"
#include "replacements.h"
#include "topology.h"

typedef struct mrd_plan_host {
    bool sentinel;        /* runs a sentinel */
    bool spare;           /* an idle spare: a topology spare that stands in
                             for nobody and was not replaced itself */
    int stands_for;       /* -1, or the host index of the lost host whose
                             nodes and sentinel it holds */
    int replaced_by;      /* -1, or the host index of the spare standing in
                             for it (it is fenced: it runs nothing) */
    int generation;       /* the generation of the (latest) replacement it
                             takes part in, else 0 */
} mrd_plan_host;

/* One redis-server: on host HOST at PORT, in shard SHARD. */
typedef struct mrd_plan_node {
    int host;             /* index into topo->hosts */
    int shard;            /* index into the plan's shards */
    int port;             /* store.port + i for a host's i-th node */
    int replica_priority; /* replicas: from the plan; the master: 100 */
    bool master;          /* the shard's initial master */
    int bus_port;         /* cluster mode: its cluster bus port; 0 otherwise */
} mrd_plan_node;

/* One master and its replicas: nodes[first .. first + nnodes - 1]. */
typedef struct mrd_plan_shard {
    char name[64];        /* sentinel mode: the name Sentinel monitors */
    int first;
    int nnodes;
    int master;           /* node index of the initial master */
    int slot_first;       /* cluster mode: the slots a fresh cluster gives */
    int slot_last;        /* it, a contiguous range (empty, 0 and -1, when
                             retiring); sentinel mode: 0 and 16383 */
    int nslots;           /* how many slots it should own: the range's
                             size.  After a scale its slots are not that
                             range but any nslots slots (the fewest moved) */
    bool added;           /* cluster mode: new in this plan (not in the
                             placement it was built from) */
    bool retiring;        /* cluster mode: in the placement but beyond
                             cluster.shards: its slots move to the others,
                             then its nodes stop (nslots 0) */
} mrd_plan_shard;

typedef enum mrd_domain_kind {
    MRD_DOMAIN_REGION = 0,
    MRD_DOMAIN_ZONE,
} mrd_domain_kind;

/* What the loss of one failure domain leaves. */
typedef struct mrd_domain_loss {
    mrd_domain_kind kind;
    int index;                /* into topology.regions or .zones */
    const char *name;         /* borrowed from the topology */
    int sentinels_left;
    int majority;             /* sentinels needed to authorise a failover */
    int quorum;               /* sentinels needed to agree the leader is down */
    int replicas_left;        /* store replicas outside the domain (live:
                                 linked and caught up with the leader) */
    int promotable_left;      /* ... of which Sentinel may promote
                                 (replica-priority above 0); the plan's
                                 replicas all are */
    bool leader_lost;         /* the domain holds the master */
    bool failover_possible;   /* leader lost: sentinels_left >= majority and
                                 >= quorum and promotable_left >= 1 */
    bool writes_resume;       /* writes are accepted after the loss (after
                                 failover if the leader was lost), taking
                                 consistency.min_replicas_to_write into
                                 account */
    /* cluster mode (the sentinel fields above stay 0) */
    int masters_left;         /* slot-owning masters outside the domain */
    int masters_majority;     /* masters needed to vote a replica in */
    int shards_lost;          /* shards whose master is in the domain */
    int shards_stranded;      /* ... of which no replica is outside it */
    char reason[256];         /* why not, when !writes_resume; else "" */
} mrd_domain_loss;

/* What losing one host that holds nodes or a sentinel would lead to:
 * the spare plan_choose_spare() would put in its place. */
typedef struct mrd_host_loss {
    int host;                 /* index into topology.hosts */
    int spare;                /* the spare's host index, or -1 */
    const char *match;        /* plan_spare_match() of the two; NULL without */
    char fix[96];             /* without a spare: "add a spare in us-east" */
    char reason[256];         /* without a spare: why, and the fix; else "" */
} mrd_host_loss;

typedef struct plan_mode plan_mode;

typedef struct mrd_plan {
    const mrd_topology *topo; /* borrowed */
    const plan_mode *mode;    /* how this topology's mode places and judges */
    mrd_plan_host *hosts;     /* topo->nhosts entries, same order */
    mrd_plan_node *nodes;     /* shard by shard */
    int nnodes;
    mrd_plan_shard *shards;
    int nshards;              /* retiring ones included */
    int nretiring;            /* shards being retired (the last ones) */
    int nadded;               /* shards new in this plan (the last ones) */
    bool from_placement;      /* built from a deployed placement */
    int generation;           /* the deployment's: the replacement record's,
                                 1 without one */
    int nsentinels;
    int quorum;               /* sentinel.quorum or the majority */
    int majority;             /* mrd_majority(nsentinels) */
    mrd_domain_loss *losses;  /* regions first (file order), then zones */
    int nlosses;
    mrd_host_loss *host_losses; /* every host holding a node or a sentinel,
                                   in file order */
    int nhost_losses;
} mrd_plan;

/* What the live state holds, for the live matrix: where each shard's
 * master is now (after failovers), which sentinels answer and name it,
 * and which replicas are linked, caught up and promotable. */
typedef struct mrd_live_node {
    bool replica_ok;    /* a replica of its shard's master, linked and caught up */
    bool promotable;    /* ... with a replica-priority above 0 */
} mrd_live_node;

typedef struct mrd_live {
    int master;               /* node index of the (first) shard's master now */
    const int *shard_master;  /* cluster mode: per shard, the node index of
                                 its master now, -1 when it has none */
    const bool *sentinel_up;  /* per host: runs a sentinel that answers and
                                 names the master */
    const mrd_live_node *nodes; /* per node */
} mrd_live;

/* A mode's placement and judgement (as curl's vtls picks a TLS backend:
 * chosen once in plan_build, never calling each other). */
struct plan_mode {
    const char *name;
    /* Place nodes, shards and sentinels into P (its counts are set),
     * keeping what PREV (may be NULL) places where the mode can. */
    mrd_rc (*place)(const mrd_topology *t, const mrd_placement *prev, mrd_plan *p,
                    mrd_error *err);
    /* Fill L for the loss of domain KIND/INDEX: the plan's (LIVE NULL) or
     * the live state's. */
    void (*loss)(const mrd_plan *p, mrd_domain_loss *l, mrd_domain_kind kind, int index,
                 const mrd_live *live);
    /* Host H's entry in plan_to_json()'s "hosts" (new). */
    json_t *(*host_json)(const mrd_plan *p, int h);
    /* L as in plan_to_json()'s "losses" (new). */
    json_t *(*loss_json)(const mrd_plan *p, const mrd_domain_loss *l);
    /* plan_to_json()'s object around the arrays it built (stolen, on
     * failure too). */
    json_t *(*to_json)(const mrd_plan *p, json_t *hosts, json_t *shards, json_t *losses);
    /* The plan as `meridian plan` prints it. */
    void (*print)(FILE *out, const mrd_plan *p);
    /* Node I's replica priority on the host it is on now (a replacement
     * moved it); NULL keeps the priority it was placed with. */
    int (*priority)(const mrd_plan *p, int i);
};

extern const plan_mode plan_mode_sentinel;
extern const plan_mode plan_mode_cluster;

/* The plan as `meridian plan` prints it: placement, then the matrix;
 * with spares in the topology, then the spares and which one would stand
 * in for each host (the rest is as without spares). */
void plan_print(FILE *out, const mrd_plan *p);

/* The mode table of MODE; NULL when that mode cannot be deployed yet. */
const plan_mode *plan_mode_for(mrd_mode mode);

/* The host of node I. */
static inline const mrd_host *plan_node_host(const mrd_plan *p, int i)
{
    return &p->topo->hosts[p->nodes[i].host];
}

/* Node I's name for an operator: its host's name, with ":PORT" when it is
 * not the host's node on store.port ("euw-a1", "euw-a1:16380"). */
void plan_node_name(const mrd_plan *p, int i, char *buf, size_t n);

/* Host H runs something in P: a node or a sentinel.  An idle spare and a
 * host a spare replaced do not. */
bool plan_host_holds(const mrd_plan *p, int h);

/* The node of shard SHARD on host HOST, or -1. */
int plan_node_on(const mrd_plan *p, int shard, int host);

/* Build the placement and matrix.  Fails (MRD_ERR_INVALID) only when the
 * counts cannot be placed at all (more sentinels than hosts, mode not
 * supported yet); an unsafe but placeable layout still returns MRD_OK so
 * that `meridian plan` can show its matrix.  *out is new; plan_free() it. */
mrd_rc plan_build(const mrd_topology *t, mrd_plan **out, mrd_error *err);

/* plan_build_ex() without replacements. */
mrd_rc plan_build_from(const mrd_topology *t, const mrd_placement *prev, mrd_plan **out,
                       mrd_error *err);

/* plan_build() from a deployed placement PREV (NULL: as plan_build())
 * and the deployment's replacement record REPL (NULL: none).
 * Cluster mode keeps every node PREV places in a shard that stays (same
 * host, port and planned master) and places only what is new: the nodes
 * of shards beyond PREV's, on the least loaded hosts by the same rules
 * and ports free on their hosts; shards of PREV beyond cluster.shards
 * stay in the plan as retiring.  So a plan built from its own placement
 * is itself.  MRD_ERR_INVALID when PREV cannot be kept: a host it uses is
 * not in the topology, a shard of it has another number of copies than
 * cluster.replicas_per_shard asks, a port outside the host's range.
 * Sentinel mode ignores PREV.
 *
 * Neither mode places anything on a spare.  The layout each mode places
 * from the topology alone (sentinel mode always; cluster mode without
 * PREV) is the deployment's original one, replaced hosts included; what
 * cluster mode adds to PREV (the shards of a scale) goes on no replaced
 * host either.  Then each replacement of REPL, in generation order, moves
 * every node and the sentinel the plan puts on its lost host L to its
 * spare S: same port, bus port, shard and master flag; sentinel mode
 * gives a moved replica the priority S's region gets.  A chain (S lost in
 * turn and replaced by S2) is followed.  A replacement whose spare already
 * holds the nodes (PREV records them there) changes nothing, so a plan
 * built from its own placement and REPL is itself.  MRD_ERR_INVALID, with
 * a sentence, when a replacement cannot be applied: L or S not in the
 * topology, S not a spare, S standing in twice or after it was replaced,
 * L replaced twice, S already holding nodes while L holds some too,
 * generations not increasing; and when PREV puts nodes on a spare that
 * stands in for nobody. */
mrd_rc plan_build_ex(const mrd_topology *t, const mrd_placement *prev,
                     const mrd_replacements *repl, mrd_plan **out, mrd_error *err);

/* P's placement, to record (placement.h); with WITHOUT_RETIRING, as it
 * will be once its retiring shards are gone.  OUT is new (placement_free()
 * it). */
mrd_rc plan_placement(const mrd_plan *p, bool without_retiring, mrd_placement *out,
                      mrd_error *err);

/* MRD_OK when every domain of the topology's `survive` kind (and, for
 * "region", every zone too) can be lost with writes resuming; otherwise
 * MRD_ERR_UNSAFE with the first failing domain explained in err->msg
 * (err->file is the topology path). */
mrd_rc plan_check(const mrd_plan *p, mrd_error *err);

/* The index of the first loss in LOSSES (p->nlosses entries, in the
 * order of p->losses) that the topology's `survive` level covers and that
 * does not resume writes; -1 when there is none. */
int plan_first_unsafe(const mrd_plan *p, const mrd_domain_loss *losses);

/* The survivability matrix of the live state instead of the plan's (see
 * mrd_live).  Fills OUT (caller-allocated, p->nlosses entries, the order
 * of p->losses).  The reasons describe the state ("losing region us-east
 * now leaves no promotable replica outside it: 4 replicas there, none with
 * a replica-priority above 0"), not a change to the file. */
void plan_live_losses(const mrd_plan *p, const mrd_live *live, mrd_domain_loss *out);

/* The host index of the spare that should stand in for host LOST, given
 * the deployed placement PREV (NULL: none) and the replacement record
 * REPL (NULL: none), or -1 with WHY (N bytes; may be NULL) the sentence an
 * operator needs, e.g. "no spare keeps the layout safe for losing use-b1
 * (us-east): add a spare in us-east"; WHY is "" on success.
 * Candidates are idle spares only: topology spares standing in for no
 * host, not replaced and not listed lost in REPL.  They are tried in the
 * lost host's zone, then its region, then the other regions in file
 * order (file order within each), and the first whose replacement, added
 * to REPL, gives a plan that builds, passes plan_check() and loses no
 * failover the plan without it could make (in the domains `survive`
 * covers: e.g. no region ends up with two sentinels of three) is chosen.
 * -1 too when LOST is not a host index or was replaced already. */
int plan_choose_spare(const mrd_topology *t, const mrd_placement *prev,
                      const mrd_replacements *repl, int lost, char *why, size_t n);

/* "same zone" | "same region" | "other region": where host SPARE is
 * from host LOST (static strings). */
const char *plan_spare_match(const mrd_topology *t, int lost, int spare);

/* Free and NULL *p.  Accepts NULL. */
void plan_free(mrd_plan **p);

/* New JSON object: {"topology", "mode", "survive", "leader", "quorum",
 * "majority", "generation", "hosts": [{"host","region","zone","address",
 * "roles":[...], "replica_priority", "spare", "stands_for", "replaced_by"}],
 * "shards": [{"name","master","nodes":[{"host", "port","role",
 * "replica_priority"}]}], "losses": [{"kind","name","sentinels_left",
 * "majority","quorum","replicas_left","promotable_left","leader_lost","failover_possible",
 * "writes_resume","reason"}], "host_losses": [{"host","spare","match",
 * "reason"}]}; "spare" of a host is true for an idle spare; "stands_for",
 * "replaced_by" and a host loss's "spare" and "match" are host names or
 * null.  Cluster mode's hosts, losses and top level differ (see
 * cluster.c); the spare fields, "generation" and "host_losses" are the
 * same.  NULL on allocation failure. */
json_t *plan_to_json(const mrd_plan *p);

/* New JSON object for one loss, as in plan_to_json()'s "losses". */
json_t *plan_loss_to_json(const mrd_plan *p, const mrd_domain_loss *l);

#endif
