/* orch.h - what every orchestrator command starts from: the topology, its
 * plan, the state directory and the transport that reaches the hosts. */
#ifndef MRD_ORCH_H
#define MRD_ORCH_H

#include <stdbool.h>

#include "err.h"
#include "plan.h"
#include "replacements.h"
#include "secret.h"
#include "topology.h"
#include "transport.h"

/* What the command line says about reaching hosts. */
typedef struct orch_opts {
    bool accept_new_host_keys; /* ssh: trust an unknown host key, record it */
    bool install_packages;     /* ssh deploy: apt-get redis when missing */
} orch_opts;

typedef struct orch_ctx {
    mrd_topology *topo;            /* owned */
    mrd_plan *plan;                /* owned */
    mrd_tp *tp;                    /* owned: reaches the hosts */
    orch_opts opts;
    char state_dir[MRD_PATH_MAX];  /* --state or the XDG default */
    char secrets_dir[MRD_PATH_MAX];
    char agent_bin[MRD_PATH_MAX];  /* meridian-agent here (run by the local
                                      transport, uploaded by ssh) */
    /* ssh: transport.root or ~/.local/state/meridian/<name>; "~/" is the
     * remote user's home.  Host H lives in REMOTE_ROOT/hosts/H. */
    char remote_root[MRD_PATH_MAX];
    /* cluster mode: STATE/placement.json, the plan deploy last recorded
     * (placement.h); the plan is built from it and the topology */
    mrd_placement placement;
    bool have_placement;
    /* STATE/replacements.json: the hosts replaced on spares, the
     * deployment's generation, hosts seen lost (replacements.h); the plan
     * puts a replaced host's nodes on its spare.  Empty (generation 1)
     * when the file does not exist. */
    mrd_replacements repl;
} orch_ctx;

/* The hosts are other machines (ssh): deploy puts the agent binary and the
 * secrets on them, and host roots are under remote_root. */
static inline bool orch_remote(const orch_ctx *c)
{
    return c->tp && c->tp->ops->remote;
}

/* Load TOPOLOGY_PATH, plan it (from the deployed placement, when the
 * state dir records one) and refuse an unsafe layout.  STATE may be
 * NULL for the default ($XDG_STATE_HOME/meridian/<name>, else
 * ~/.local/state/meridian/<name>).  *out is new; orch_close() it.
 * The transport is opened but connects to nothing yet. */
mrd_rc orch_open(const char *topology_path, const char *state, orch_ctx **out,
                 mrd_error *err);
/* Same with options (O may be NULL). */
mrd_rc orch_open_ex(const char *topology_path, const char *state, const orch_opts *o,
                    orch_ctx **out, mrd_error *err);
void orch_close(orch_ctx **c);

/* T's plan as a command that reaches no host sees it (`meridian plan`):
 * from the placement recorded in STATE (NULL: the default state dir) when
 * there is one, whose path then goes to PATH (N bytes; "" when none). */
mrd_rc orch_plan_from_state(const mrd_topology *t, const char *state, mrd_plan **out,
                            char *path, size_t n, mrd_error *err);

/* "STATE/placement.json" */
mrd_rc orch_placement_path(const orch_ctx *c, char *buf, size_t n);

/* Make PL (stolen: PL is zeroed) C's placement and build C's plan anew
 * from it and the topology (PL NULL: from the topology alone). */
mrd_rc orch_replan(orch_ctx *c, mrd_placement *pl, mrd_error *err);

/* Record P's placement in the state dir (atomically, mode 0600), as it is
 * (retiring shards included) or WITHOUT_RETIRING; it becomes C's. */
mrd_rc orch_placement_save(orch_ctx *c, const mrd_plan *p, bool without_retiring,
                           mrd_error *err);

/* "STATE/replacements.json" */
mrd_rc orch_replacements_path(const orch_ctx *c, char *buf, size_t n);

/* Record C's replacements (c->repl) in the state dir, atomically, mode
 * 0600. */
mrd_rc orch_replacements_save(const orch_ctx *c, mrd_error *err);

/* Host H runs something in C's plan: a node or a sentinel.  An idle spare
 * and a host replaced by a spare do not; commands leave them alone. */
bool orch_host_used(const orch_ctx *c, int h);

/* The root folder of host H: STATE/hosts/H on the local transport,
 * REMOTE_ROOT/hosts/H on the host over ssh ("~/" resolved on the host,
 * which connects to it).  orch_host_root_ex says why it failed. */
mrd_rc orch_host_root(const orch_ctx *c, int host, char *buf, size_t n);
mrd_rc orch_host_root_ex(const orch_ctx *c, int host, char *buf, size_t n, mrd_error *err);
/* "ROOT/manifest.json" of host H. */
mrd_rc orch_manifest_path(const orch_ctx *c, int host, char *buf, size_t n);

/* The failovers meridian causes (drills, switchovers) are noted in
 * STATE/drill-state.json ("last_failover_ms", wall clock): a sentinel
 * refuses a second failover of the same master within 2 x
 * failover-timeout, a cluster node a second vote within 2 x node timeout.
 * orch_failover_cooldown_left() returns what is left of COOLDOWN_MS since
 * the last one, 0 when none; orch_failover_note() notes one now. */
long long orch_failover_cooldown_left(const orch_ctx *c, long long cooldown_ms);
void orch_failover_note(const orch_ctx *c);

/* With tls.enabled: every later Redis connection of this process uses TLS
 * and verifies the servers with the state dir's CA certificate
 * (store_set_tls).  orch_open() calls it; so does deploy once it has made
 * the CA.  A CA that cannot be read is an error, and TLS stays on,
 * refusing every connection: never plaintext.  Without TLS (or once deploy
 * kept a running deployment's plaintext): plaintext. */
mrd_rc orch_tls_start(const orch_ctx *c, mrd_error *err);

/* Read a generated secret ("admin", "app", ...) from the state dir. */
mrd_rc orch_secret(const orch_ctx *c, const char *name, char *buf, size_t n,
                   mrd_error *err);

#endif
