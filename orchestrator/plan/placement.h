/* placement.h - where a deployed cluster's nodes run (pure: JSON text in,
 * struct out, and back; no I/O).
 *
 * A cluster deployment's plan is not a function of its topology alone.
 * Growing from 3 shards to 5 keeps the 9 nodes where they run and places
 * only the 6 new ones (the fewest moves), where a plan made from nothing
 * would place all 15 afresh, most of them elsewhere.  So deploy records
 * the plan it deployed in STATE/placement.json, and every command plans
 * from the topology and that record (plan_build_from()):
 *
 *   {"version": 1, "topology": "local-cluster", "shards": 5,
 *    "nodes": [{"host": "use-a1", "port": 16379, "bus_port": 26379,
 *               "shard": 1, "master": true}, ...]}
 *
 * Shards count from 1, as everywhere an operator reads them; "shards"
 * includes shards that a shrink is still retiring.  "master" is the plan's
 * master (where a shard's master belongs), not the live one. */
#ifndef MRD_PLACEMENT_H
#define MRD_PLACEMENT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "err.h"
#include "topology.h"

#define MRD_PLACEMENT_VERSION 1

typedef struct mrd_placed_node {
    char host[MRD_NAME_MAX]; /* the host's name in the topology */
    int port;
    int bus_port;
    int shard;               /* 0-based here; 1-based in the file */
    bool master;
} mrd_placed_node;

typedef struct mrd_placement {
    int nshards;
    mrd_placed_node *nodes;  /* shard by shard, as the plan lists them */
    int nnodes;
} mrd_placement;

/* Parse a placement file's TEXT (LEN bytes); PATH names it in errors.
 * MRD_ERR_PARSE with the file and what is wrong: not JSON, another
 * version, a field missing or out of range, nodes not listed shard by
 * shard, a shard with no node or not exactly one master, two nodes on one
 * host and port.  *OUT is filled (placement_free() it) only on success. */
mrd_rc placement_parse(const char *text, size_t len, const char *path, mrd_placement *out,
                       mrd_error *err);

/* The file's JSON for TOPOLOGY and PL (new reference; NULL on OOM). */
json_t *placement_to_json(const char *topology, const mrd_placement *pl);

void placement_free(mrd_placement *pl);

#endif
