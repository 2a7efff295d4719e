/* status.h - probe every node and sentinel of a deployment concurrently
 * and judge its health.
 *
 * Health is common/health.h's mrd_health, the monitoring-plugin
 * convention (the exit code of `meridian status`): OK, WARNING (degraded
 * but serving), CRITICAL (no writable leader, or no sentinel majority
 * agreeing on one), UNKNOWN (could not tell: no credentials).
 *
 * `meridian status` also asks every host's agent for GET /v1/health while
 * the Redis probes run (one extra thread, joined after the probes), and
 * shows each node's readiness as its agent sees it.  An agent that is down
 * makes the health at least WARNING, never CRITICAL by itself: Redis and
 * Sentinel keep serving without it; only healing stops.
 *
 * The report is in nodes and shards: one st_node per plan node, its
 * master a node index.  What a mode asks and how it judges is its table
 * in status_mode.h (sentinel mode: sentinel.c), chosen once per probe. */
#ifndef MRD_STATUS_H
#define MRD_STATUS_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "agent_client.h"
#include "health.h"
#include "orch.h"
#include "plan.h"
#include "rebalance.h"

/* What a node's agent said about it. */
typedef enum st_agent {
    ST_AGENT_UNASKED = 0, /* the agents were not asked (deploy verification) */
    ST_AGENT_UP,          /* answered GET /v1/health */
    ST_AGENT_DOWN,        /* did not answer */
} st_agent;

/* One store node (a plan node: one redis-server on one host and port). */
typedef struct st_node {
    int node;            /* index into the plan's nodes; r->nodes[i].node == i */
    int host;            /* its host, index into topology hosts */
    int shard;           /* its shard, index into the plan's shards */
    bool reachable;      /* answered PING as the admin user */
    bool is_master;
    char master_host[64];
    int master_port;
    bool link_up;
    long long offset;    /* master_repl_offset or slave_repl_offset */
    long long lag_bytes; /* leader offset - own offset; -1 unknown */
    int replica_priority; /* live replica-priority of a replica; -1 unknown
                             or a master (INFO shows it for replicas only) */
    bool promotable;     /* a healthy replica Sentinel may promote: its
                            replica-priority is the plan's (0 never) */
    char drift[160];     /* live settings that differ from the topology:
                            "maxmemory 64mb (topology: 128mb)", "" none */
    bool fenced;         /* fenced by its agent: its min-replicas-to-write is
                            MRD_FENCE_MIN_REPLICAS or more (reconcile_fenced()),
                            so it refuses writes until it reaches a majority
                            again; a WARNING, not drift */
    bool aof_error;      /* INFO persistence: aof_last_write_status or
                            aof_last_bgrewrite_status is "err" (store.persistence
                            aof: a full disk?); a WARNING */
    bool healthy;
    char problem[160];   /* why not healthy, "" when healthy */
    st_agent agent;      /* the host's agent (as st_host.agent) */
    int ready;           /* the agent's word on this node: 1 ready, 0 not
                            ready, -1 unknown */
    char ready_reason[160]; /* the agent's reason when not ready; why unknown */
    /* cluster mode */
    char *cluster_nodes; /* its CLUSTER NODES text (owned), NULL unknown */
    char cluster_state[8]; /* "ok", "fail"; "" unknown */
    int slots;           /* slots it owns in its own view */
    long long cluster_epoch; /* its cluster_current_epoch; -1 unknown */
    bool map_agrees;     /* its slot map is the one most nodes have */
} st_node;

/* Where a shard's slots stand against its quota (cluster mode).  After a
 * scale a shard owns any set of slots, not its plan range: what it owns is
 * read from the slot map most nodes share, and only the count is judged. */
typedef enum st_shard_state {
    ST_SHARD_SERVING = 0, /* owns its quota, a live master serves it (sentinel
                             mode: always) */
    ST_SHARD_DOWN,        /* owns slots that no live master serves (CRITICAL) */
    ST_SHARD_FILLING,     /* new in this plan, owns fewer than its quota: a
                             scale moves slots in (WARNING) */
    ST_SHARD_DRAINING,    /* retiring and still owns slots: a shrink moves
                             them out (WARNING) */
    ST_SHARD_RETIRING,    /* retiring and owns none: its nodes stop, and a
                             stopped one is no finding; the plan lists it
                             until the deploy finishes (not a warning) */
    ST_SHARD_UNBALANCED,  /* owns another count than its quota: a scale left
                             unfinished, or slots moved by hand (WARNING) */
} st_shard_state;

/* "serving", "down", "filling", "draining", "retiring", "unbalanced". */
const char *status_shard_state_name(st_shard_state s);

/* Slots FIRST..LAST, both included. */
typedef struct st_range {
    int first, last;
} st_range;

/* One shard (cluster mode; sentinel mode: the one shard, master only). */
typedef struct st_shard {
    int master;          /* node index of its master now (the plan node of
                            the shard that owns the most of its slots, as
                            most nodes' slot maps say, and acts as a
                            master; a shard that owns none: the one of its
                            nodes those maps name a master), -1 when none */
    int slots_served;    /* the slots that master owns */
    int slots_owned;     /* cluster mode: the slots any node of the shard
                            owns in that map */
    st_range *ranges;    /* cluster mode: those slots, ascending (owned,
                            freed by status_free(); NULL when none) */
    int nranges;
    st_shard_state state;
    int replicas_linked; /* plan nodes of the shard linked to that master */
    bool replica_outside;/* ... one of them outside the master's region */
    char problem[160];   /* "" when none */
    char scale[160];     /* cluster mode: the scale it is in, a sentence
                            naming the shard ("shard 4 is being filled:
                            1200 of 3277 slots"); "" when serving */
} st_shard;

/* One host: its agent, which answers for every node on the host. */
typedef struct st_host {
    st_agent agent;
    bool lost;           /* runs something in the plan, and its agent and
                            every node and sentinel on it are unreachable
                            (asked agents only): `meridian heal` replaces
                            it on a spare after agent.replace_after_s */
    char problem[320];   /* a lost host's sentence (which spare, or what
                            would fix it), "" otherwise */
    bool has_cert;       /* tls.enabled and its certificate could be read */
    long cert_days;      /* then: whole days until it expires (negative
                            once it has) */
} st_host;

/* status warns when a certificate expires within this many days. */
#define STATUS_CERT_WARN_DAYS 30

typedef struct st_sentinel {
    int host;            /* index into topology hosts */
    bool reachable;
    char leader[96];     /* "ADDR:PORT" it names, "" when none */
    int replicas_ok;     /* replicas it knows and does not flag down */
    int sentinels_ok;    /* other sentinels it knows and does not flag down */
    bool ok;
    char problem[160];
    char drift[160];     /* as st_node.drift */
} st_sentinel;

typedef struct st_report {
    mrd_health health;
    int master;          /* node index of the master a majority of sentinels
                            name for the shard (sentinel mode: shard 0), -1
                            when none */
    char summary[512];
    st_node *nodes;      /* one per plan node, in plan order */
    int nnodes;
    st_host *hosts;      /* one per topology host, in topology order */
    st_shard *shards;    /* one per plan shard (retiring ones included) */
    int nshards;
    /* cluster mode: slots of the shared slot map that no shard owns */
    int slots_unassigned;  /* no node owns them (CRITICAL: no key in them
                              can be written) */
    int slots_outside;     /* a node outside the deployment owns them */
    char slots_problem[192]; /* the first of the two, a sentence; "" none */
    st_sentinel *sentinels;
    int nsentinels;
    mrd_domain_loss *live_losses; /* the survivability matrix of the live
                                     state (plan->nlosses entries); NULL
                                     when there is no agreed master */
    int live_unsafe;     /* index of the first loss it would not survive
                            (as plan_check judges), -1 none */
    bool has_backup;     /* backups are configured and check_backup asked */
    char backup_id[24];  /* then: the last good backup this state dir
                            recorded (record.h), "" when none */
    long long backup_age_s; /* its age; -1 when none */
    long long backup_keys;
    bool has_rebalance;  /* cluster mode: REBALANCE below was decided */
    rebal_decision rebalance; /* the step `meridian rebalance` would take
                            next (cluster/rebalance.h), from these views */
} st_report;

typedef struct status_opts {
    int timeout_ms;                /* each Redis connection */
    bool ask_agents;               /* also GET /v1/health of every agent */
    bool check_certs;              /* with TLS: WARNING when a host's or the
                                      CA's certificate expires within
                                      STATUS_CERT_WARN_DAYS (the status
                                      command; deploy renews them itself) */
    bool check_backup;             /* with a backup section: WARNING when the
                                      last good backup is older than
                                      backup.warn_after_h, or there is none
                                      (the status command) */
    const agent_client_ops *agents; /* NULL: agent_client_default() */
} status_opts;

/* Probe the deployment described by C as O says.  Never fails on an
 * unreachable node or agent: that is a finding.  Fails only when the
 * credentials cannot be read (report health UNKNOWN) or on OOM. */
mrd_rc status_probe_ex(const orch_ctx *c, const status_opts *o, st_report **out,
                       mrd_error *err);

/* The Redis probes only (each connection within TIMEOUT_MS), without
 * asking the agents: what deploy verification and redis-cli need. */
mrd_rc status_probe(const orch_ctx *c, int timeout_ms, st_report **out, mrd_error *err);

void status_free(st_report **r);

/* The object documented for `meridian status --json` (new reference). */
json_t *status_to_json(const orch_ctx *c, const st_report *r);

/* Human-readable table. */
void status_print(FILE *out, const orch_ctx *c, const st_report *r);

#endif
