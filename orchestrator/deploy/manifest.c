/* manifest.c - the manifest deploy writes for each host: what its agent
 * runs, with which settings, next to which peers. */
#include "deploy_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"

void deploy_sentinel_myid(const char *topology, const char *host, char out[41])
{
    /* FNV-1a over "topology/host", three differently seeded rounds. */
    char hex[49];
    for (int round = 0; round < 3; round++) {
        unsigned long long h = 1469598103934665603ULL ^ (unsigned long long)(round + 1);
        for (const char *s = topology; *s; s++)
            h = (h ^ (unsigned char)*s) * 1099511628211ULL;
        h = (h ^ '/') * 1099511628211ULL;
        for (const char *s = host; *s; s++)
            h = (h ^ (unsigned char)*s) * 1099511628211ULL;
        snprintf(hex + 16 * round, 17, "%016llx", h);
    }
    memcpy(out, hex, 40);
    out[40] = '\0';
}

/* ROOT and SECRETS are host H's root and secrets folders on the host. */
static void fill_manifest(const orch_ctx *c, int host, const char *root, const char *secrets,
                          mrd_manifest *m)
{
    const mrd_topology *t = c->topo;
    memset(m, 0, sizeof(*m));
    const mrd_plan *p = c->plan;
    m->version = MRD_MANIFEST_VERSION;
    snprintf(m->topology, sizeof(m->topology), "%s", t->name);
    snprintf(m->mode, sizeof(m->mode), "%s", p->mode->name);
    snprintf(m->host, sizeof(m->host), "%s", t->hosts[host].name);
    snprintf(m->root, sizeof(m->root), "%s", root);
    snprintf(m->secrets_dir, sizeof(m->secrets_dir), "%s", secrets);
    m->settings = t->settings;
    m->settings.sentinel.quorum = p->quorum; /* 0 in the file means the majority */
    m->self = host;
    m->nhosts = t->nhosts < MRD_MF_MAX_HOSTS ? t->nhosts : MRD_MF_MAX_HOSTS;
    for (int i = 0; i < m->nhosts; i++) {
        const mrd_host *h = &t->hosts[i];
        mrd_mf_host *mh = &m->hosts[i];
        snprintf(mh->host, sizeof(mh->host), "%s", h->name);
        snprintf(mh->region, sizeof(mh->region), "%s", t->regions[h->region].name);
        snprintf(mh->zone, sizeof(mh->zone), "%s", t->zones[h->zone].name);
        snprintf(mh->address, sizeof(mh->address), "%s", h->address);
        mh->agent_port = t->settings.agent.port;
        if (p->hosts[i].sentinel) {
            mh->sentinel_port = t->settings.sentinel.port;
            deploy_sentinel_myid(t->name, h->name, mh->sentinel_myid);
        }
    }
    m->nshards = p->nshards < MRD_MF_MAX_SHARDS ? p->nshards : MRD_MF_MAX_SHARDS;
    for (int s = 0; s < m->nshards; s++) {
        const mrd_plan_shard *ps = &p->shards[s];
        mrd_mf_shard *ms = &m->shards[s];
        snprintf(ms->name, sizeof(ms->name), "%s", ps->name);
        ms->first = ps->first;
        ms->nnodes = ps->nnodes;
        ms->master = ps->master;
    }
    m->nnodes = p->nnodes < MRD_MF_MAX_NODES ? p->nnodes : MRD_MF_MAX_NODES;
    for (int i = 0; i < m->nnodes; i++)
        m->nodes[i] = (mrd_mf_node){.host = p->nodes[i].host,
                                    .shard = p->nodes[i].shard,
                                    .port = p->nodes[i].port,
                                    .bus_port = p->nodes[i].bus_port,
                                    .replica_priority = p->nodes[i].replica_priority,
                                    .master = p->nodes[i].master,
                                    /* a spare standing in: its nodes join a
                                       running shard, from a peer's snapshot */
                                    .restore = p->hosts[p->nodes[i].host].stands_for >= 0};
    /* the fence: every replacement so far, so that every agent can tell a
     * replaced host that it was replaced */
    m->generation = p->generation;
    for (int k = 0; k < c->repl.n && m->nreplaced < MRD_MF_MAX_HOSTS; k++) {
        mrd_mf_replaced *r = &m->replaced[m->nreplaced++];
        snprintf(r->host, sizeof(r->host), "%s", c->repl.items[k].host);
        snprintf(r->by, sizeof(r->by), "%s", c->repl.items[k].by);
        r->generation = c->repl.items[k].generation;
    }
    /* webhooks are borrowed from the topology for serialisation only */
    m->webhooks = t->webhooks;
    m->nwebhooks = t->nwebhooks;
}

/* The manifest of host H, whose root folder is ROOT, as canonical JSON. */
mrd_rc manifest_text(const orch_ctx *c, int host, const char *root, char **out,
                     mrd_error *err)
{
    char secrets[MRD_PATH_MAX];
    *out = NULL;
    if (host_secrets_dir(c, root, secrets, sizeof(secrets)) != MRD_OK)
        return mrd_error_set(err, MRD_ERR_INVALID, "secrets path too long");
    mrd_manifest *m = malloc(sizeof(*m));
    if (!m)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    fill_manifest(c, host, root, secrets, m);
    json_t *j = manifest_to_json(m);
    free(m); /* not manifest_free(): the webhooks are the topology's */
    *out = j ? json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    json_decref(j);
    return *out ? MRD_OK : mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
}

mrd_rc deploy_manifest_text(const orch_ctx *c, int host, char **out, mrd_error *err)
{
    char root[MRD_PATH_MAX];
    *out = NULL;
    MRD_TRY(orch_host_root_ex(c, host, root, sizeof(root), err));
    return manifest_text(c, host, root, out, err);
}
