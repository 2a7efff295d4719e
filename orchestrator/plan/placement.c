/* placement.c - the placement record's JSON (see placement.h). */
#include "placement.h"

#include <stdlib.h>
#include <string.h>

#include "manifest.h"

static mrd_rc bad(mrd_error *err, const char *path, const char *what, int node)
{
    if (node >= 0)
        return mrd_error_at(err, MRD_ERR_PARSE, path, 0, 0,
                            "node %d: %s: the placement record is damaged; restore it from a "
                            "backup of the state dir, or remove it to plan from the topology "
                            "alone",
                            node + 1, what);
    return mrd_error_at(err, MRD_ERR_PARSE, path, 0, 0,
                        "%s: the placement record is damaged; restore it from a backup of the "
                        "state dir, or remove it to plan from the topology alone",
                        what);
}

static bool port_ok(json_t *v)
{
    return json_is_integer(v) && json_integer_value(v) >= 1 && json_integer_value(v) <= 65535;
}

static mrd_rc parse_nodes(json_t *nodes, const char *path, mrd_placement *pl, mrd_error *err)
{
    size_t n = json_array_size(nodes);
    pl->nodes = calloc(n ? n : 1, sizeof(*pl->nodes));
    if (!pl->nodes)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(nodes, i);
        json_t *host = json_object_get(o, "host"), *port = json_object_get(o, "port");
        json_t *bus = json_object_get(o, "bus_port"), *shard = json_object_get(o, "shard");
        json_t *master = json_object_get(o, "master");
        if (!json_is_object(o) || !json_is_string(host) ||
            json_string_length(host) >= MRD_NAME_MAX || json_string_length(host) == 0)
            return bad(err, path, "\"host\" must be a host's name", (int)i);
        if (!port_ok(port) || !port_ok(bus))
            return bad(err, path, "\"port\" and \"bus_port\" must be ports (1 to 65535)",
                       (int)i);
        if (!json_is_integer(shard) || json_integer_value(shard) < 1 ||
            json_integer_value(shard) > pl->nshards)
            return bad(err, path, "\"shard\" must be 1 to \"shards\"", (int)i);
        if (!json_is_boolean(master))
            return bad(err, path, "\"master\" must be true or false", (int)i);
        mrd_placed_node *x = &pl->nodes[pl->nnodes++];
        snprintf(x->host, sizeof(x->host), "%s", json_string_value(host));
        x->port = (int)json_integer_value(port);
        x->bus_port = (int)json_integer_value(bus);
        x->shard = (int)json_integer_value(shard) - 1;
        x->master = json_is_true(master);
        for (int k = 0; k < pl->nnodes - 1; k++)
            if (strcmp(pl->nodes[k].host, x->host) == 0 && pl->nodes[k].port == x->port)
                return bad(err, path, "two nodes on one host and port", (int)i);
        if (i > 0 && x->shard < pl->nodes[i - 1].shard)
            return bad(err, path, "nodes must be listed shard by shard", (int)i);
    }
    for (int s = 0; s < pl->nshards; s++) {
        int copies = 0, masters = 0;
        for (int i = 0; i < pl->nnodes; i++) {
            copies += pl->nodes[i].shard == s;
            masters += pl->nodes[i].shard == s && pl->nodes[i].master;
        }
        if (copies == 0 || masters != 1) {
            char what[96];
            snprintf(what, sizeof(what), "shard %d must have nodes and exactly one master",
                     s + 1);
            return bad(err, path, what, -1);
        }
    }
    return MRD_OK;
}

mrd_rc placement_parse(const char *text, size_t len, const char *path, mrd_placement *out,
                       mrd_error *err)
{
    memset(out, 0, sizeof(*out));
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return mrd_error_at(err, MRD_ERR_PARSE, path, je.line, je.column,
                            "%s: the placement record is damaged; restore it from a backup of "
                            "the state dir, or remove it to plan from the topology alone",
                            je.text);
    mrd_placement pl = {0};
    json_t *version = json_object_get(root, "version"), *shards = json_object_get(root, "shards");
    json_t *nodes = json_object_get(root, "nodes");
    mrd_rc rc = MRD_OK;
    if (!json_is_integer(version) || json_integer_value(version) != MRD_PLACEMENT_VERSION)
        rc = bad(err, path, "\"version\" must be 1 (written by another meridian?)", -1);
    else if (!json_is_integer(shards) || json_integer_value(shards) < 1 ||
             json_integer_value(shards) > MRD_MF_MAX_SHARDS)
        rc = bad(err, path, "\"shards\" must be 1 to 64", -1);
    else if (!json_is_array(nodes) || json_array_size(nodes) > MRD_MF_MAX_NODES)
        rc = bad(err, path, "\"nodes\" must be a list of at most 512 nodes", -1);
    if (rc == MRD_OK) {
        pl.nshards = (int)json_integer_value(shards);
        rc = parse_nodes(nodes, path, &pl, err);
    }
    json_decref(root);
    if (rc != MRD_OK) {
        placement_free(&pl);
        return rc;
    }
    *out = pl;
    return MRD_OK;
}

json_t *placement_to_json(const char *topology, const mrd_placement *pl)
{
    json_t *nodes = json_array();
    for (int i = 0; nodes && i < pl->nnodes; i++) {
        const mrd_placed_node *x = &pl->nodes[i];
        if (json_array_append_new(nodes, json_pack("{s:s,s:i,s:i,s:i,s:b}", "host", x->host,
                                                   "port", x->port, "bus_port", x->bus_port,
                                                   "shard", x->shard + 1, "master",
                                                   x->master)) != 0) {
            json_decref(nodes);
            return NULL;
        }
    }
    return nodes ? json_pack("{s:i,s:s,s:i,s:o}", "version", MRD_PLACEMENT_VERSION, "topology",
                             topology, "shards", pl->nshards, "nodes", nodes)
                 : NULL;
}

void placement_free(mrd_placement *pl)
{
    free(pl->nodes);
    memset(pl, 0, sizeof(*pl));
}
