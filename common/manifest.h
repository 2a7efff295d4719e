/* manifest.h - the agent wire contract: what one host runs.
 *
 * The orchestrator writes one manifest per host (JSON, mode 0600, it names
 * secret files but holds no secret); the agent on that host reads it and
 * owns every process it describes.  Paths in a manifest are absolute and
 * valid on the host.  Layout of a host root:
 *   ROOT/manifest.json  ROOT/agent.pid  ROOT/agent.log  ROOT/agent.lock
 *   ROOT/redis/{redis.conf,redis.pid,redis.log,data/}
 *   ROOT/sentinel/{sentinel.conf,sentinel.pid,sentinel.log}
 *   SECRETS/{admin,replication,sentinel,app}.pass  SECRETS/agent.token
 */
#ifndef MRD_MANIFEST_H
#define MRD_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "err.h"
#include "settings.h"

/* 2: the settings follow the settings table ("settings": {"store": ...}). */
#define MRD_MANIFEST_VERSION 2
#define MRD_MF_NAME 64
#define MRD_MF_PATH 1024
#define MRD_MF_MAX_PEERS 64

/* Another host of the same topology (the manifest lists every host,
 * itself included, so an agent can find sentinels and snapshot sources). */
typedef struct mrd_peer {
    char host[MRD_MF_NAME];
    char region[MRD_MF_NAME];
    char zone[MRD_MF_NAME];
    char address[MRD_MF_NAME];
    int store_port;
    int sentinel_port; /* 0: this host runs no sentinel */
    int agent_port;
    int replica_priority;
    bool leader;               /* the initial leader in the plan */
    char sentinel_myid[41];    /* "" when no sentinel */
} mrd_peer;

typedef struct mrd_manifest {
    int version;
    char topology[MRD_MF_NAME];
    char master_name[MRD_MF_NAME];
    char host[MRD_MF_NAME]; /* this host: also peers[self] */
    int self;               /* index of this host in peers */
    char root[MRD_MF_PATH];
    char secrets_dir[MRD_MF_PATH];

    mrd_settings settings; /* every topology setting (see settings.h), with
                              sentinel.quorum resolved by the plan */

    mrd_peer peers[MRD_MF_MAX_PEERS];
    int npeers;

    char **webhooks;
    int nwebhooks;
} mrd_manifest;

/* Parse a manifest.  *out is new; manifest_free() it. */
mrd_rc manifest_parse(const char *text, size_t len, mrd_manifest **out,
                      mrd_error *err);
mrd_rc manifest_load(const char *path, mrd_manifest **out, mrd_error *err);

/* New JSON object for M (canonical key order, so equal manifests
 * serialise to equal bytes). */
json_t *manifest_to_json(const mrd_manifest *m);

/* Free and NULL *m.  Accepts NULL. */
void manifest_free(mrd_manifest **m);

/* This host's own peer entry (borrowed). */
const mrd_peer *manifest_self(const mrd_manifest *m);

/* Derived paths (see the layout above).  Return MRD_ERR_INVALID when BUF
 * is too small.  WHAT is one of: "manifest", "agent.pid", "agent.log",
 * "agent.lock", "redis.conf", "redis.pid", "redis.log", "redis.data",
 * "sentinel.conf", "sentinel.pid", "sentinel.log", "sentinel.dir". */
mrd_rc manifest_path(const mrd_manifest *m, const char *what, char *buf, size_t n);

/* Secret file of NAME ("admin", "replication", "sentinel", "app",
 * "agent.token") in SECRETS_DIR. */
mrd_rc manifest_secret_path(const char *secrets_dir, const char *name, char *buf,
                            size_t n);

#endif
