/* heal_cluster_view.c - reading a cluster-mode observation: a node's
 * probe and INFO, a manifest node in a CLUSTER NODES view and its id, an
 * INFO-only probe.  Every file of the mode (heal_cluster*.c) uses these;
 * a leaf, calling none of them, so none calls another in a circle (ctest
 * unit.layout). */
#include <string.h>

#include "heal_cluster_int.h"
#include "info.h"

/* ==== observing ==== */

const store_probe *heal_cl_node_probe(const observation *o, int node)
{
    return &o->probes[node - o->shard->first];
}

bool heal_cl_node_info(const observation *o, int node, store_info *out)
{
    const store_probe *p = heal_cl_node_probe(o, node);
    return p->rc == MRD_OK && p->info &&
           store_info_parse(p->info, strlen(p->info), out, NULL) == MRD_OK;
}

/* Read the view of node I (its probe's CLUSTER NODES) into o->view. */
bool heal_cl_take_view(observation *o, int i)
{
    const store_probe *p = heal_cl_node_probe(o, i);
    if (p->rc != MRD_OK || !p->cluster_nodes)
        return false;
    if (!o->view && !(o->view = store_cluster_view_new()))
        return false;
    if (store_cluster_nodes_parse(p->cluster_nodes, strlen(p->cluster_nodes), o->view,
                                  NULL) != MRD_OK)
        return false;
    o->view_node = i;
    return true;
}

/* The view node of manifest node I in V, or NULL. */
const store_cluster_node *heal_cl_in_view(const mrd_manifest *m, const store_cluster_view *v,
                                          int i)
{
    return store_cluster_find_addr(v, manifest_node_address(m, i), m->nodes[i].port);
}

/* An INFO probe, with nothing else, of the node at ADDRESS:PORT. */
store_probe heal_cl_ping_probe(const heal_ctx *hc, const char *address, int port)
{
    return (store_probe){.kind = STORE_PROBE_INFO, .address = address, .port = port,
                         .user = "admin", .pass = hc->h->secrets.admin};
}

/* The id of node I in the observation's view ("" when absent). */
const char *heal_cl_view_id(const heal_ctx *hc, const observation *o, int i)
{
    const store_cluster_node *n = o->view ? heal_cl_in_view(hc->h->m, o->view, i) : NULL;
    return n ? n->id : "";
}
