#include "probe_set.h"

#include <stdlib.h>

mrd_rc probe_set_new(const orch_ctx *c, const char *pass, bool sentinels, probe_set **out,
                     mrd_error *err)
{
    *out = NULL;
    const mrd_topology *t = c->topo;
    const mrd_plan *pl = c->plan;
    int ns = sentinels ? pl->nsentinels : 0, np = pl->nnodes + ns;
    probe_set *ps = calloc(1, sizeof(*ps));
    if (ps) {
        ps->probes = calloc((size_t)(np ? np : 1), sizeof(*ps->probes));
        ps->sentinel_host = calloc((size_t)(ns ? ns : 1), sizeof(*ps->sentinel_host));
        ps->views = calloc((size_t)(ns ? ns : 1), sizeof(*ps->views));
    }
    if (!ps || !ps->probes || !ps->sentinel_host || !ps->views) {
        probe_set_free(&ps);
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    ps->nnode_rows = mrd_settings_live_rows(MRD_LANDS_REDIS, ps->node_rows,
                                            STORE_PROBE_MAX_CONFIG);
    ps->nsentinel_rows = mrd_settings_live_rows(MRD_LANDS_SENTINEL, ps->sentinel_rows,
                                                STORE_PROBE_MAX_CONFIG);
    for (size_t i = 0; i < ps->nnode_rows; i++)
        ps->names[i] = ps->node_rows[i]->directive;

    ps->nnodes = pl->nnodes;
    for (int i = 0; i < pl->nnodes; i++)
        ps->probes[i] = (store_probe){.kind = STORE_PROBE_INFO,
                                      .address = plan_node_host(pl, i)->address,
                                      .port = pl->nodes[i].port, .user = "admin",
                                      .pass = pass, .config = ps->names};
    for (int h = 0; ns && h < t->nhosts; h++) {
        if (!pl->hosts[h].sentinel)
            continue;
        int k = ps->nsentinels++;
        ps->sentinel_host[k] = h;
        ps->probes[pl->nnodes + k] = (store_probe){
            .kind = STORE_PROBE_SENTINEL, .address = t->hosts[h].address,
            .port = t->settings.sentinel.port, .user = "admin", .pass = pass,
            .master = pl->shards[0].name, .view = &ps->views[k]};
    }
    *out = ps;
    return MRD_OK;
}

mrd_rc probe_set_run(probe_set *ps, int timeout_ms)
{
    return store_probe_all(ps->probes, ps->nnodes + ps->nsentinels, timeout_ms);
}

const char *probe_set_sentinel_value(const probe_set *ps, int i, size_t k)
{
    const store_probe *p = &ps->probes[ps->nnodes + i];
    if (p->rc != MRD_OK || k >= ps->nsentinel_rows)
        return NULL;
    return sentinel_entry_setting(&p->view->master, ps->sentinel_rows[k]->directive);
}

void probe_set_free(probe_set **ps)
{
    if (!ps || !*ps)
        return;
    for (int i = 0; (*ps)->probes && i < (*ps)->nnodes + (*ps)->nsentinels; i++)
        store_probe_clear(&(*ps)->probes[i]);
    free((*ps)->probes);
    free((*ps)->sentinel_host);
    free((*ps)->views);
    free(*ps);
    *ps = NULL;
}
