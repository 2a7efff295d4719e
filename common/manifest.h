/* manifest.h - the agent wire contract: what one host runs.
 *
 * The orchestrator writes one manifest per host (JSON, mode 0600, it names
 * secret files but holds no secret); the agent on that host reads it and
 * owns every process it describes.  Paths in a manifest are absolute and
 * valid on the host.  Layout of a host root:
 *   ROOT/manifest.json  ROOT/agent.pid  ROOT/agent.log  ROOT/agent.lock
 *   ROOT/redis/{redis.conf,redis.pid,redis.log,data/}   the node on store.port
 *   ROOT/redis-PORT/{...}                                any other node here
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

/* 2: the settings follow the settings table ("settings": {"store": ...}).
 * 3: nodes and shards: "hosts" (every host of the deployment) and "shards"
 *    (each with its nodes: a redis-server on a host and port), instead of
 *    one "peers" list with one store node per host and one master name.
 * 4: spare hosts: the deployment's "generation" (1, then one more per
 *    host replaced by a spare), "replaced" (every replacement so far) and
 *    a node's optional "restore": true (never started blank: rebuilt from
 *    a peer's snapshot).  A version 3 manifest is still read, as
 *    generation 1 with no replacement and no node to restore. */
#define MRD_MANIFEST_VERSION 4
#define MRD_MANIFEST_VERSION_MIN 3
#define MRD_MF_NAME 64
#define MRD_MF_PATH 1024
#define MRD_MF_MAX_HOSTS 64
#define MRD_MF_MAX_SHARDS 64
#define MRD_MF_MAX_NODES 512
/* The most nodes one agent starts on its host (ports store.port + i). */
#define MRD_MF_MAX_HOST_NODES 16

/* A host of the deployment (the manifest lists every host, itself
 * included, so an agent can find sentinels and snapshot sources). */
typedef struct mrd_mf_host {
    char host[MRD_MF_NAME];
    char region[MRD_MF_NAME];
    char zone[MRD_MF_NAME];
    char address[MRD_MF_NAME];
    int sentinel_port;         /* 0: this host runs no sentinel */
    int agent_port;
    char sentinel_myid[41];    /* "" when no sentinel */
} mrd_mf_host;

/* A node: one redis-server on one host and port, in one shard. */
typedef struct mrd_mf_node {
    int host;             /* index into hosts */
    int shard;            /* index into shards */
    int port;
    int bus_port;         /* cluster mode: its cluster bus port; 0 in
                             sentinel mode ("bus_port" absent) */
    int replica_priority; /* the plan's (the master's is 100 too) */
    bool master;          /* the shard's initial master in the plan */
    bool restore;         /* "restore": true (absent: false): the node stands
                             in for a lost one; where it never ran (no data,
                             no nodes.conf) it is rebuilt from a peer's
                             snapshot as a lost replica is, never started
                             blank */
} mrd_mf_node;

/* A shard: one master and its replicas.  Its nodes are
 * nodes[first .. first + nnodes - 1]. */
typedef struct mrd_mf_shard {
    char name[MRD_MF_NAME]; /* sentinel mode: the name Sentinel monitors */
    int first;
    int nnodes;
    int master;             /* node index of the initial master */
} mrd_mf_shard;

/* A replacement: host HOST was lost and BY, a spare, stands in for it
 * from generation GENERATION on.  HOST is fenced: its agent never starts
 * its nodes again (a manifest names it in "replaced" and puts no node and
 * no sentinel on it). */
typedef struct mrd_mf_replaced {
    char host[MRD_MF_NAME];
    char by[MRD_MF_NAME];
    int generation;          /* 2 .. the manifest's generation */
} mrd_mf_replaced;

typedef struct mrd_manifest {
    int version;            /* MRD_MANIFEST_VERSION once parsed (a version 3
                               file is read as version 4) */
    char topology[MRD_MF_NAME];
    char mode[16];          /* "sentinel" or "cluster" */
    char host[MRD_MF_NAME]; /* this host: also hosts[self] */
    int self;               /* index of this host in hosts */
    char root[MRD_MF_PATH];
    char secrets_dir[MRD_MF_PATH];
    int generation;         /* the deployment's generation (>= 1); written
                               as 1 when below (a manifest built from a
                               zeroed struct) */
    mrd_mf_replaced replaced[MRD_MF_MAX_HOSTS]; /* in the order written */
    int nreplaced;

    mrd_settings settings; /* every topology setting (see settings.h), with
                              sentinel.quorum resolved by the plan */

    mrd_mf_host hosts[MRD_MF_MAX_HOSTS];
    int nhosts;
    mrd_mf_shard shards[MRD_MF_MAX_SHARDS];
    int nshards;
    mrd_mf_node nodes[MRD_MF_MAX_NODES]; /* shard by shard */
    int nnodes;

    char **webhooks;
    int nwebhooks;
} mrd_manifest;

/* Parse a manifest (version 3 or 4).  *out is new; manifest_free() it.
 * Besides every key's type: a "replaced" entry must name two different
 * hosts, a generation from 2 to the manifest's, and a host replaced only
 * once; a host it names that is among "hosts" runs no node and no
 * sentinel.  MRD_ERR_PARSE (not JSON), MRD_ERR_INVALID, MRD_ERR_NOMEM. */
mrd_rc manifest_parse(const char *text, size_t len, mrd_manifest **out,
                      mrd_error *err);
mrd_rc manifest_load(const char *path, mrd_manifest **out, mrd_error *err);

/* Only the settings of a manifest of version 2 or later (the settings
 * table's layout, unchanged since), for comparing a deployment that runs
 * an older manifest with a new topology: MRD_ERR_INVALID for a version 1
 * manifest or a settings block that does not parse.  A setting added to
 * the table since that manifest was written has its default. */
mrd_rc manifest_settings_parse(const char *text, size_t len, mrd_settings *out,
                               mrd_error *err);

/* New JSON object for M (canonical key order, so equal manifests
 * serialise to equal bytes). */
json_t *manifest_to_json(const mrd_manifest *m);

/* Free and NULL *m.  Accepts NULL. */
void manifest_free(mrd_manifest **m);

/* The replacement of host HOST (as the lost host), or NULL (borrowed). */
const mrd_mf_replaced *manifest_replaced(const mrd_manifest *m, const char *host);

/* This host's own entry (borrowed). */
const mrd_mf_host *manifest_self(const mrd_manifest *m);

/* The address of node I (its host's). */
const char *manifest_node_address(const mrd_manifest *m, int i);

/* The indexes of the nodes on host HOST, in manifest order, into OUT (at
 * most MAX); returns how many there are (which may exceed MAX). */
int manifest_host_nodes(const mrd_manifest *m, int host, int *out, int max);

/* The node at ADDRESS:PORT, or -1. */
int manifest_find_node(const mrd_manifest *m, const char *address, int port);

/* Derived paths (see the layout above).  Return MRD_ERR_INVALID when BUF
 * is too small.  WHAT is one of: "manifest", "agent.pid", "agent.log",
 * "agent.lock", "sentinel.conf", "sentinel.pid", "sentinel.log",
 * "sentinel.dir". */
mrd_rc manifest_path(const mrd_manifest *m, const char *what, char *buf, size_t n);

/* The name of a host's node on PORT in logs, events, folders and
 * `meridian-agent fault --kill`: "redis" for the node on store.port
 * (STORE_PORT), "redis-PORT" for any other. */
void manifest_node_label(int port, int store_port, char *buf, size_t n);

/* A node's paths: WHAT is one of "redis.conf", "redis.pid", "redis.log",
 * "redis.data", "redis.dir".  A host's node on store.port lives in
 * ROOT/redis/, any other in ROOT/redis-PORT/. */
mrd_rc manifest_node_path(const mrd_manifest *m, int node, const char *what, char *buf,
                          size_t n);

/* Secret file of NAME ("admin", "replication", "sentinel", "app",
 * "agent.token") in SECRETS_DIR. */
mrd_rc manifest_secret_path(const char *secrets_dir, const char *name, char *buf,
                            size_t n);

#endif
