/* topology.h - read and validate a topology file (regions/NAME.json).
 *
 * A topology describes failure domains (regions > zones > hosts) and the
 * settings of the store, the sentinels and the agents.  topology_parse()
 * takes bytes and does no I/O, so it is unit-tested from fixtures;
 * topology_load() reads a file and calls it.
 *
 * Errors name the file, line and column of the offending key or value and
 * say what to change.  Unknown keys are errors: a typo must never be
 * silently ignored.
 *
 * The returned structure is plain data, read-only after loading; every
 * array is owned by the topology and freed by topology_free().
 */
#ifndef MRD_TOPOLOGY_H
#define MRD_TOPOLOGY_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "settings.h"

#define MRD_ADDR_MAX 64   /* dotted IPv4 address or host name */
#define MRD_PATH_MAX 4096
#define MRD_MAX_SENTINELS 15

typedef enum mrd_mode {
    MRD_MODE_SENTINEL = 0, /* one leader, replicas, sentinels */
    MRD_MODE_CLUSTER,      /* shards of masters and replicas: Redis Cluster */
} mrd_mode;

typedef enum mrd_transport_kind {
    MRD_TRANSPORT_LOCAL = 0, /* every host is a loopback address here */
    MRD_TRANSPORT_SSH,
} mrd_transport_kind;

/* The failure domain whose loss the layout must survive.  The planner
 * refuses a layout that does not survive the loss of any single domain of
 * this kind.  Ordered: surviving a region implies surviving a zone. */
typedef enum mrd_survive {
    MRD_SURVIVE_NONE = 0, /* "none": development layouts, e.g. one host */
    MRD_SURVIVE_ZONE,     /* "zone" */
    MRD_SURVIVE_REGION,   /* "region" (default) */
} mrd_survive;

typedef struct mrd_transport {
    mrd_transport_kind kind;
    /* ssh only (defaults: user "meridian", port 22,
     * identity "~/.ssh/id_ed25519", known_hosts "~/.ssh/known_hosts";
     * "~/" is kept as written, expanded by the ssh transport) */
    char user[MRD_NAME_MAX];
    char identity[MRD_PATH_MAX];
    char known_hosts[MRD_PATH_MAX];
    int port;
    /* where each host keeps its files: ROOT/hosts/<host>; "" means
     * "~/.local/state/meridian/<name>"; absolute or "~/" (the remote
     * user's home, resolved on the host) */
    char root[MRD_PATH_MAX];
} mrd_transport;

typedef struct mrd_region {
    char name[MRD_NAME_MAX];
    int first_zone; /* index into topology.zones */
    int nzones;
} mrd_region;

typedef struct mrd_zone {
    char name[MRD_NAME_MAX];
    int region;     /* index into topology.regions */
    int first_host; /* index into topology.hosts */
    int nhosts;
} mrd_zone;

typedef struct mrd_host {
    char name[MRD_NAME_MAX];
    char address[MRD_ADDR_MAX];
    int region; /* index into topology.regions */
    int zone;   /* index into topology.zones */
    bool spare; /* "spare": true: the planner places nothing on it; it
                   stands in for a host that is lost for good (see
                   orchestrator/plan/replacements.h) */
} mrd_host;

typedef struct mrd_topology {
    char path[MRD_PATH_MAX]; /* as given to topology_parse/load */
    char name[MRD_NAME_MAX]; /* also the Sentinel master name */
    mrd_mode mode;
    mrd_survive survive;
    mrd_transport transport;

    /* store, sentinel, consistency, agent and cluster: one field per row
     * of the settings table (common/settings.c), with its defaults */
    mrd_settings settings;

    char **webhooks; /* notify.webhooks: http(s) URLs */
    int nwebhooks;

    mrd_region *regions;
    int nregions;
    mrd_zone *zones; /* all zones, in file order */
    int nzones;
    mrd_host *hosts; /* all hosts, in file order */
    int nhosts;
} mrd_topology;

/* Parse and validate TEXT (LEN bytes, need not be NUL-terminated).
 * PATH is used only in error messages.  On success *out is a new topology
 * the caller frees with topology_free().  On error *out is NULL and err
 * holds file, line, column and a sentence saying what to change. */
mrd_rc topology_parse(const char *text, size_t len, const char *path,
                      mrd_topology **out, mrd_error *err);

/* Read PATH and parse it. */
mrd_rc topology_load(const char *path, mrd_topology **out, mrd_error *err);

/* Free and NULL *t.  Accepts NULL and *t == NULL. */
void topology_free(mrd_topology **t);

/* Fill every setting with its documented default (regions, zones and
 * hosts are left alone).  The parser starts from these; tests that build
 * a topology in C do too. */
void topology_set_defaults(mrd_topology *t);

/* Hosts that are not spares: the ones the planner places on.  The
 * parser refuses a topology with none. */
int topology_placeable_hosts(const mrd_topology *t);

/* Index of the named region/host, or -1. */
int topology_find_region(const mrd_topology *t, const char *name);
int topology_find_host(const mrd_topology *t, const char *name);

/* Parse a Redis memory size ("0", "512", "64kb", "64mb", "1gb", case-
 * insensitive; k/m/g without b are powers of 1000 as in redis.conf).
 * Returns -1 when malformed. */
long long topology_parse_size(const char *s);

/* "none" / "zone" / "region" */
const char *topology_survive_name(mrd_survive s);

#endif
