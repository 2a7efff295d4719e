/* orch.h - what every orchestrator command starts from: the topology, its
 * plan, the state directory and the transport that reaches the hosts. */
#ifndef MRD_ORCH_H
#define MRD_ORCH_H

#include <stdbool.h>

#include "err.h"
#include "plan.h"
#include "secret.h"
#include "topology.h"
#include "transport.h"

typedef struct orch_ctx {
    mrd_topology *topo;            /* owned */
    mrd_plan *plan;                /* owned */
    const mrd_transport_ops *tp;   /* borrowed */
    char state_dir[MRD_PATH_MAX];  /* --state or the XDG default */
    char secrets_dir[MRD_PATH_MAX];
    char agent_bin[MRD_PATH_MAX];  /* meridian-agent to run on hosts */
} orch_ctx;

/* Load TOPOLOGY_PATH, plan it and refuse an unsafe layout.  STATE may be
 * NULL for the default ($XDG_STATE_HOME/meridian/<name>, else
 * ~/.local/state/meridian/<name>).  *out is new; orch_close() it. */
mrd_rc orch_open(const char *topology_path, const char *state, orch_ctx **out,
                 mrd_error *err);
void orch_close(orch_ctx **c);

/* The root folder of host H under the state dir. */
mrd_rc orch_host_root(const orch_ctx *c, int host, char *buf, size_t n);
/* "ROOT/manifest.json" of host H. */
mrd_rc orch_manifest_path(const orch_ctx *c, int host, char *buf, size_t n);

/* Read a generated secret ("admin", "app", ...) from the state dir. */
mrd_rc orch_secret(const orch_ctx *c, const char *name, char *buf, size_t n,
                   mrd_error *err);

#endif
