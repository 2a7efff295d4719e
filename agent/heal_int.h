/* heal_int.h - what the heal pass's front end (heal.c) and its mode
 * implementations (heal_sentinel.c; cluster mode next) share.  Not for
 * other modules: they use heal.h.
 *
 * The front end owns the pass: the heal lock, the per-node state kept
 * across passes, deciding (heal_decide, pure), the report, the API views
 * and the metrics.  A mode (heal_mode) owns what depends on how the store
 * is run: how a node is observed (who names its master), how each action
 * is carried out, and the host's own processes besides its nodes (sentinel
 * mode: its sentinel).  The front end picks the mode once, in heal_new(),
 * as curl's vtls picks a TLS backend; modes never call each other. */
#ifndef MRD_HEAL_INT_H
#define MRD_HEAL_INT_H

#include <pthread.h>
#include <stdbool.h>

#include <jansson.h>

#include "conn.h"
#include "heal.h"

#define HEAL_PROBE_TIMEOUT_MS 1000
#define HEAL_MAX_ACTIONS 32

/* One store node of this host: what the last observation said of it, and
 * what is kept across passes (persisted in ROOT/heal-state.json, keyed by
 * port, since cron-mode runs are short-lived). */
typedef struct heal_node {
    int node;                     /* index in the manifest's nodes */
    sv_proc *proc;                /* its process (the host's) */

    /* last observation, for /v1/health and the gauges */
    bool ready;
    char reason[160];
    bool g_up, g_master, g_link;
    long long g_lag;

    /* persisted */
    long long down_since_ms;      /* wall clock; 0: up */
    int failures;                 /* consecutive failed restores */
    long long next_try_ms;        /* wall clock before which no restore */
    long long restores[HEAL_FLAP_COUNT]; /* wall clock of recent restores */
    long long failover_asked_ms;  /* wall clock of the last ask */

    bool last_self_leader;        /* the last pass saw this node serve as the
                                     master its shard's authority names */
    bool fenced;                  /* writes refused: isolated from a majority */

    /* metrics */
    long heals_ok, heals_failed;
    long long snapshot_bytes;
    long syncs_partial, syncs_full;
} heal_node;

typedef struct heal_mode heal_mode;

struct heal_ctx {
    sv_host *h;
    events *ev;
    bool child_mode;
    const heal_mode *mode;
    pthread_mutex_t mu; /* guards the observation fields below */

    heal_node nodes[MRD_MF_MAX_HOST_NODES]; /* this host's, in manifest order */
    int nnodes;

    bool observed;
    bool host_ready;              /* the host's own processes (the sentinel) */
    char host_reason[160];
    bool g_host_up;
    json_t *last_nodes;           /* /v1/nodes of the last observation */
    long long last_heal_ms;
};

/* What one pass saw of one node.  The front end fills the process facts
 * (proc_alive, data_dir_ok, down_ms, backing_off); the mode fills the rest
 * of F, DRIFT and its own part. */
typedef struct heal_obs {
    heal_facts f;
    heal_node *hn;
    char drift[256];     /* "replica-priority 0 (manifest: 110), ..." */
    void *mode_data;     /* the mode's own observation (owned) */
} heal_obs;

/* One node's part of a pass. */
typedef struct heal_step {
    heal_ctx *hc;
    heal_obs *o;
    heal_node *hn;
    json_t *actions;
    bool acted;  /* something was changed */
    bool failed; /* something could not be healed */
    char summary[256];
} heal_step;

/* A mode's observe and act steps. */
struct heal_mode {
    const char *name;
    /* Observe node O->hn: the mode's part of O (see heal_obs). */
    mrd_rc (*observe)(heal_ctx *hc, heal_obs *o, mrd_error *err);
    void (*obs_free)(heal_obs *o);
    /* Carry out action A for the node of PS (and what every pass does for
     * a node, such as fencing). */
    void (*act)(heal_step *ps, heal_action a);
    /* The host's own processes besides its nodes: lost (to be healed by
     * host_act), their /v1/nodes entries (appended to NODES) and their
     * readiness, judged from observation O (the host's first node's). */
    bool (*host_lost)(const heal_ctx *hc, const heal_obs *o);
    void (*host_act)(heal_step *ps);
    void (*host_json)(const heal_ctx *hc, const heal_obs *o, json_t *nodes);
    bool (*host_state)(const heal_ctx *hc, const heal_obs *o, bool *up, bool *ready,
                       char *reason, size_t n);
    /* The crash fast path: ask now for a failover of HN's shard, whose
     * master (HN) just died; the host that took the request goes to WHO. */
    bool (*fail_over_now)(const heal_ctx *hc, const heal_node *hn, char *who, size_t n);
    /* How long a lost master may stay down before a failover is asked for
     * (heal_decide's DOWN_AFTER_MS). */
    int (*down_after_ms)(const mrd_manifest *m);
    /* Why a node whose action is A is not ready, in the mode's words
     * (static; "" for HEAL_NONE). */
    const char *(*reason)(heal_action a);
};

extern const heal_mode heal_mode_sentinel;
extern const heal_mode heal_mode_cluster;

/* Record an action: the report, the log and the webhooks. */
void heal_act(heal_step *ps, const char *event, const char *proc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* An admin connection to node I of the manifest. */
mrd_rc heal_node_conn(const heal_ctx *hc, int i, store_conn **c, mrd_error *err);

/* The host holding node I. */
const mrd_mf_host *heal_node_host(const mrd_manifest *m, int i);

#endif
