#include "manifest.h"

#include <stdlib.h>
#include <string.h>

#include "fsutil.h"

/* ==== small jansson helpers ==== */

static mrd_rc get_str(json_t *obj, const char *key, char *buf, size_t n,
                      mrd_error *err)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        return mrd_error_set(err, MRD_ERR_INVALID, "manifest: \"%s\" must be a string",
                             key);
    if (mrd_path_fmt(buf, n, "%s", json_string_value(v)) != MRD_OK)
        return mrd_error_set(err, MRD_ERR_INVALID, "manifest: \"%s\" is too long", key);
    return MRD_OK;
}

static mrd_rc get_int(json_t *obj, const char *key, int *out, mrd_error *err)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > 1000000000)
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "manifest: \"%s\" must be a non-negative integer", key);
    *out = (int)json_integer_value(v);
    return MRD_OK;
}

static mrd_rc get_bool(json_t *obj, const char *key, bool *out, mrd_error *err)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_boolean(v))
        return mrd_error_set(err, MRD_ERR_INVALID, "manifest: \"%s\" must be a boolean",
                             key);
    *out = json_is_true(v);
    return MRD_OK;
}

static mrd_rc parse_host(json_t *o, mrd_mf_host *h, mrd_error *err)
{
    if (!json_is_object(o))
        return mrd_error_set(err, MRD_ERR_INVALID, "manifest: a host must be an object");
    MRD_TRY(get_str(o, "host", h->host, sizeof(h->host), err));
    MRD_TRY(get_str(o, "region", h->region, sizeof(h->region), err));
    MRD_TRY(get_str(o, "zone", h->zone, sizeof(h->zone), err));
    MRD_TRY(get_str(o, "address", h->address, sizeof(h->address), err));
    MRD_TRY(get_int(o, "sentinel_port", &h->sentinel_port, err));
    MRD_TRY(get_int(o, "agent_port", &h->agent_port, err));
    MRD_TRY(get_str(o, "sentinel_myid", h->sentinel_myid, sizeof(h->sentinel_myid), err));
    return MRD_OK;
}

static int host_index(const mrd_manifest *m, const char *name)
{
    for (int i = 0; i < m->nhosts; i++)
        if (strcmp(m->hosts[i].host, name) == 0)
            return i;
    return -1;
}

/* A port two nodes of one host both use (their own or their cluster bus
 * port; 0 is no bus port), or 0. */
static int port_clash(const mrd_mf_node *a, const mrd_mf_node *b)
{
    int pa[2] = {a->port, a->bus_port}, pb[2] = {b->port, b->bus_port};
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++)
            if (pa[i] && pa[i] == pb[j])
                return pa[i];
    return 0;
}

static mrd_rc parse_node(json_t *o, mrd_manifest *m, int shard, mrd_error *err)
{
    if (!json_is_object(o))
        return mrd_error_set(err, MRD_ERR_INVALID, "manifest: a node must be an object");
    if (m->nnodes == MRD_MF_MAX_NODES)
        return mrd_error_set(err, MRD_ERR_INVALID, "manifest: more than %d nodes",
                             MRD_MF_MAX_NODES);
    mrd_mf_node *nd = &m->nodes[m->nnodes];
    char host[MRD_MF_NAME];
    MRD_TRY(get_str(o, "host", host, sizeof(host), err));
    MRD_TRY(get_int(o, "port", &nd->port, err));
    MRD_TRY(get_int(o, "replica_priority", &nd->replica_priority, err));
    MRD_TRY(get_bool(o, "master", &nd->master, err));
    nd->restore = false; /* emitted only when true */
    if (json_object_get(o, "restore"))
        MRD_TRY(get_bool(o, "restore", &nd->restore, err));
    nd->bus_port = 0; /* sentinel mode has no cluster bus: the key is absent */
    if (json_object_get(o, "bus_port"))
        MRD_TRY(get_int(o, "bus_port", &nd->bus_port, err));
    nd->shard = shard;
    if ((nd->host = host_index(m, host)) < 0)
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "manifest: shard \"%s\" names host \"%s\", which is not "
                             "among \"hosts\"",
                             m->shards[shard].name, host);
    if (nd->port < 1 || nd->port > 65535 || nd->bus_port > 65535)
        return mrd_error_set(err, MRD_ERR_INVALID, "manifest: node %s:%d: port out of range",
                             host, nd->port);
    if (nd->bus_port == nd->port)
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "manifest: node %s:%d uses its port as its bus port", host,
                             nd->port);
    for (int i = 0; i < m->nnodes; i++) {
        int clash = m->nodes[i].host != nd->host ? 0 : port_clash(&m->nodes[i], nd);
        if (clash)
            return mrd_error_set(err, MRD_ERR_INVALID,
                                 "manifest: two nodes on host \"%s\" use port %d", host, clash);
    }
    m->nnodes++;
    return MRD_OK;
}

static mrd_rc parse_shard(json_t *o, mrd_manifest *m, mrd_error *err)
{
    if (!json_is_object(o))
        return mrd_error_set(err, MRD_ERR_INVALID, "manifest: a shard must be an object");
    int s = m->nshards;
    mrd_mf_shard *sh = &m->shards[s];
    MRD_TRY(get_str(o, "name", sh->name, sizeof(sh->name), err));
    json_t *nodes = json_object_get(o, "nodes");
    if (!json_is_array(nodes) || json_array_size(nodes) == 0)
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "manifest: shard \"%s\": \"nodes\" must be a non-empty array",
                             sh->name);
    sh->first = m->nnodes;
    sh->master = -1;
    size_t i;
    json_t *n;
    json_array_foreach(nodes, i, n) {
        MRD_TRY(parse_node(n, m, s, err));
        if (!m->nodes[m->nnodes - 1].master)
            continue;
        if (sh->master >= 0)
            return mrd_error_set(err, MRD_ERR_INVALID,
                                 "manifest: shard \"%s\" has more than one master",
                                 sh->name);
        sh->master = m->nnodes - 1;
    }
    sh->nnodes = m->nnodes - sh->first;
    if (sh->master < 0)
        return mrd_error_set(err, MRD_ERR_INVALID, "manifest: shard \"%s\" has no master",
                             sh->name);
    m->nshards++;
    return MRD_OK;
}

/* What this agent can run: its mode (one shard and sentinels in sentinel
 * mode; bus ports and no sentinel in cluster mode), and no more nodes on
 * its host than it starts. */
static mrd_rc check_runnable(const mrd_manifest *m, mrd_error *err)
{
    bool cluster = strcmp(m->mode, "cluster") == 0;
    if (!cluster && strcmp(m->mode, "sentinel") != 0)
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "manifest: mode \"%s\" is not supported by this agent "
                             "(it runs \"sentinel\" and \"cluster\"): upgrade meridian-agent",
                             m->mode);
    if (!cluster && m->nshards != 1)
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "manifest: sentinel mode has exactly one shard, not %d",
                             m->nshards);
    for (int i = 0; i < m->nnodes; i++)
        if (cluster != (m->nodes[i].bus_port != 0))
            return mrd_error_set(err, MRD_ERR_INVALID,
                                 "manifest: node %s:%d %s a cluster bus port (\"bus_port\") "
                                 "in %s mode",
                                 m->hosts[m->nodes[i].host].host, m->nodes[i].port,
                                 cluster ? "needs" : "has", m->mode);
    for (int i = 0; cluster && i < m->nhosts; i++)
        if (m->hosts[i].sentinel_port)
            return mrd_error_set(err, MRD_ERR_INVALID,
                                 "manifest: host \"%s\" has a sentinel in cluster mode",
                                 m->hosts[i].host);
    int here = manifest_host_nodes(m, m->self, NULL, 0);
    if (here > MRD_MF_MAX_HOST_NODES)
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "manifest: host \"%s\" has %d nodes, more than the %d one "
                             "agent starts: spread them over more hosts",
                             m->host, here, MRD_MF_MAX_HOST_NODES);
    /* a node's port is its own on its host */
    for (int i = 0; i < m->nnodes; i++) {
        const mrd_mf_host *h = &m->hosts[m->nodes[i].host];
        int ports[2] = {m->nodes[i].port, m->nodes[i].bus_port};
        for (int k = 0; k < 2; k++)
            if (ports[k] && (ports[k] == h->sentinel_port || ports[k] == h->agent_port))
                return mrd_error_set(err, MRD_ERR_INVALID,
                                     "manifest: node %s:%d uses the host's %s port (%d)",
                                     h->host, ports[0],
                                     ports[k] == h->sentinel_port ? "sentinel" : "agent",
                                     ports[k]);
    }
    return MRD_OK;
}

/* Version 4's "generation" and "replaced" (version 3: generation 1, none). */
static mrd_rc parse_generation(json_t *root, mrd_manifest *m, mrd_error *err)
{
    m->generation = 1;
    m->nreplaced = 0;
    if (m->version < 4)
        return MRD_OK;
    MRD_TRY(get_int(root, "generation", &m->generation, err));
    if (m->generation < 1)
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "manifest: \"generation\" must be 1 or more, not %d",
                             m->generation);
    json_t *list = json_object_get(root, "replaced");
    if (!json_is_array(list) || json_array_size(list) > MRD_MF_MAX_HOSTS)
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "manifest: \"replaced\" must be an array of at most %d "
                             "replacements",
                             MRD_MF_MAX_HOSTS);
    size_t i;
    json_t *o;
    json_array_foreach(list, i, o) {
        mrd_mf_replaced *r = &m->replaced[i];
        if (!json_is_object(o))
            return mrd_error_set(err, MRD_ERR_INVALID,
                                 "manifest: a replacement must be an object");
        MRD_TRY(get_str(o, "host", r->host, sizeof(r->host), err));
        MRD_TRY(get_str(o, "by", r->by, sizeof(r->by), err));
        MRD_TRY(get_int(o, "generation", &r->generation, err));
        if (!r->host[0] || !r->by[0] || strcmp(r->host, r->by) == 0)
            return mrd_error_set(err, MRD_ERR_INVALID,
                                 "manifest: replacement of \"%s\" by \"%s\": a replacement "
                                 "names two different hosts",
                                 r->host, r->by);
        if (r->generation < 2 || r->generation > m->generation)
            return mrd_error_set(err, MRD_ERR_INVALID,
                                 "manifest: replacement of \"%s\" has generation %d, "
                                 "outside 2..%d (the manifest's generation)",
                                 r->host, r->generation, m->generation);
        if (manifest_replaced(m, r->host))
            return mrd_error_set(err, MRD_ERR_INVALID,
                                 "manifest: host \"%s\" is replaced twice", r->host);
        m->nreplaced++;
    }
    return MRD_OK;
}

/* A replaced host that is still among "hosts" runs nothing: it is fenced. */
static mrd_rc check_fenced_idle(const mrd_manifest *m, mrd_error *err)
{
    for (int i = 0; i < m->nreplaced; i++) {
        int h = host_index(m, m->replaced[i].host);
        if (h < 0)
            continue;
        if (m->hosts[h].sentinel_port || manifest_host_nodes(m, h, NULL, 0) > 0)
            return mrd_error_set(err, MRD_ERR_INVALID,
                                 "manifest: host \"%s\" was replaced by \"%s\" "
                                 "(generation %d) but still has %s on it",
                                 m->replaced[i].host, m->replaced[i].by,
                                 m->replaced[i].generation,
                                 m->hosts[h].sentinel_port ? "a sentinel" : "nodes");
    }
    return MRD_OK;
}

static mrd_rc parse_root(json_t *root, mrd_manifest *m, mrd_error *err)
{
    if (!json_is_object(root))
        return mrd_error_set(err, MRD_ERR_INVALID, "manifest: not a JSON object");
    MRD_TRY(get_int(root, "version", &m->version, err));
    if (m->version < MRD_MANIFEST_VERSION_MIN || m->version > MRD_MANIFEST_VERSION)
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "manifest version %d is not supported (expected %d to %d): "
                             "redeploy with a matching meridian",
                             m->version, MRD_MANIFEST_VERSION_MIN, MRD_MANIFEST_VERSION);
    MRD_TRY(parse_generation(root, m, err));
    m->version = MRD_MANIFEST_VERSION; /* read as version 4 from here on */
    MRD_TRY(get_str(root, "topology", m->topology, sizeof(m->topology), err));
    MRD_TRY(get_str(root, "mode", m->mode, sizeof(m->mode), err));
    MRD_TRY(get_str(root, "host", m->host, sizeof(m->host), err));
    MRD_TRY(get_str(root, "root", m->root, sizeof(m->root), err));
    MRD_TRY(get_str(root, "secrets_dir", m->secrets_dir, sizeof(m->secrets_dir), err));

    json_t *settings = json_object_get(root, "settings");
    if (!json_is_object(settings))
        return mrd_error_set(err, MRD_ERR_INVALID, "manifest: \"settings\" must be an object");
    MRD_TRY(mrd_settings_from_json(settings, &m->settings, err));

    json_t *hosts = json_object_get(root, "hosts");
    if (!json_is_array(hosts) || json_array_size(hosts) == 0 ||
        json_array_size(hosts) > MRD_MF_MAX_HOSTS)
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "manifest: \"hosts\" must be an array of 1 to %d hosts",
                             MRD_MF_MAX_HOSTS);
    size_t i;
    json_t *p;
    json_array_foreach(hosts, i, p) {
        MRD_TRY(parse_host(p, &m->hosts[i], err));
        if (host_index(m, m->hosts[i].host) >= 0)
            return mrd_error_set(err, MRD_ERR_INVALID, "manifest: host \"%s\" is listed twice",
                                 m->hosts[i].host);
        m->nhosts++;
    }
    if ((m->self = host_index(m, m->host)) < 0)
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "manifest: host \"%s\" is not among its hosts", m->host);

    json_t *shards = json_object_get(root, "shards");
    if (!json_is_array(shards) || json_array_size(shards) == 0 ||
        json_array_size(shards) > MRD_MF_MAX_SHARDS)
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "manifest: \"shards\" must be an array of 1 to %d shards",
                             MRD_MF_MAX_SHARDS);
    json_array_foreach(shards, i, p)
        MRD_TRY(parse_shard(p, m, err));

    json_t *hooks = json_object_get(root, "webhooks");
    if (!json_is_array(hooks))
        return mrd_error_set(err, MRD_ERR_INVALID, "manifest: \"webhooks\" must be an array");
    if (json_array_size(hooks) > 0) {
        m->webhooks = calloc(json_array_size(hooks), sizeof(char *));
        if (!m->webhooks)
            return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    json_array_foreach(hooks, i, p) {
        if (!json_is_string(p))
            return mrd_error_set(err, MRD_ERR_INVALID, "manifest: webhooks must be strings");
        if (!(m->webhooks[i] = strdup(json_string_value(p))))
            return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
        m->nwebhooks++;
    }
    MRD_TRY(check_fenced_idle(m, err));
    return check_runnable(m, err);
}

mrd_rc manifest_parse(const char *text, size_t len, mrd_manifest **out, mrd_error *err)
{
    *out = NULL;
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return mrd_error_at(err, MRD_ERR_PARSE, "manifest", jerr.line, jerr.column, "%s",
                            jerr.text);
    mrd_manifest *m = calloc(1, sizeof(*m));
    mrd_rc rc = m ? parse_root(root, m, err) : mrd_error_set(err, MRD_ERR_NOMEM, "oom");
    json_decref(root);
    if (rc != MRD_OK) {
        manifest_free(&m);
        return rc;
    }
    *out = m;
    return MRD_OK;
}

/* An older manifest's SETTINGS into OUT: a setting added since (that the
 * writing meridian did not know) has its default, which is what the
 * deployment runs with until the next deploy renders it. */
static mrd_rc settings_with_defaults(json_t *settings, mrd_settings *out,
                                     mrd_error *err)
{
    mrd_settings defaults;
    mrd_settings_defaults(&defaults);
    json_t *full = mrd_settings_to_json(&defaults);
    if (!full)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    const char *section, *key;
    json_t *keys, *v;
    json_object_foreach(settings, section, keys) {
        json_t *into = json_object_get(full, section);
        if (!into || !json_is_object(keys)) { /* refused by the strict parse */
            json_object_set(full, section, keys);
            continue;
        }
        json_object_foreach(keys, key, v)
            json_object_set(into, key, v);
    }
    mrd_rc rc = mrd_settings_from_json(full, out, err);
    json_decref(full);
    return rc;
}

mrd_rc manifest_settings_parse(const char *text, size_t len, mrd_settings *out,
                               mrd_error *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return mrd_error_at(err, MRD_ERR_PARSE, "manifest", jerr.line, jerr.column, "%s",
                            jerr.text);
    int version = 0;
    mrd_rc rc = json_is_object(root) ? get_int(root, "version", &version, err)
                                     : mrd_error_set(err, MRD_ERR_INVALID,
                                                     "manifest: not a JSON object");
    json_t *settings = json_object_get(root, "settings");
    if (rc == MRD_OK && (version < 2 || !json_is_object(settings)))
        rc = mrd_error_set(err, MRD_ERR_INVALID,
                           "manifest version %d has no settings table", version);
    if (rc == MRD_OK)
        rc = settings_with_defaults(settings, out, err);
    json_decref(root);
    return rc;
}

mrd_rc manifest_load(const char *path, mrd_manifest **out, mrd_error *err)
{
    char *text = NULL;
    size_t len = 0;
    *out = NULL;
    mrd_rc rc = mrd_read_file(path, 1 << 20, &text, &len, err);
    if (rc != MRD_OK)
        return rc;
    rc = manifest_parse(text, len, out, err);
    free(text);
    if (rc != MRD_OK && err)
        snprintf(err->file, sizeof(err->file), "%s", path);
    return rc;
}

json_t *manifest_to_json(const mrd_manifest *m)
{
    json_t *hosts = json_array();
    for (int i = 0; i < m->nhosts; i++) {
        const mrd_mf_host *h = &m->hosts[i];
        json_array_append_new(
            hosts, json_pack("{s:s,s:s,s:s,s:s,s:i,s:i,s:s}", "host", h->host, "region",
                             h->region, "zone", h->zone, "address", h->address,
                             "sentinel_port", h->sentinel_port, "agent_port", h->agent_port,
                             "sentinel_myid", h->sentinel_myid));
    }
    json_t *shards = json_array();
    for (int s = 0; s < m->nshards; s++) {
        const mrd_mf_shard *sh = &m->shards[s];
        json_t *nodes = json_array();
        for (int i = sh->first; i < sh->first + sh->nnodes; i++) {
            const mrd_mf_node *nd = &m->nodes[i];
            json_t *o = json_pack("{s:s,s:i,s:i,s:b}", "host", m->hosts[nd->host].host,
                                  "port", nd->port, "replica_priority", nd->replica_priority,
                                  "master", nd->master);
            if (nd->bus_port)
                json_object_set_new(o, "bus_port", json_integer(nd->bus_port));
            if (nd->restore)
                json_object_set_new(o, "restore", json_true());
            json_array_append_new(nodes, o);
        }
        json_array_append_new(shards, json_pack("{s:s,s:o}", "name", sh->name, "nodes", nodes));
    }
    json_t *hooks = json_array();
    for (int i = 0; i < m->nwebhooks; i++)
        json_array_append_new(hooks, json_string(m->webhooks[i]));
    json_t *replaced = json_array();
    for (int i = 0; i < m->nreplaced; i++)
        json_array_append_new(replaced, json_pack("{s:s,s:s,s:i}", "host", m->replaced[i].host,
                                                  "by", m->replaced[i].by, "generation",
                                                  m->replaced[i].generation));
    return json_pack("{s:i,s:s,s:s,s:s,s:s,s:s,s:i,s:o,s:o,s:o,s:o,s:o}", "version",
                     MRD_MANIFEST_VERSION, "topology", m->topology, "mode", m->mode, "host",
                     m->host, "root", m->root, "secrets_dir", m->secrets_dir, "generation",
                     m->generation >= 1 ? m->generation : 1, "replaced", replaced,
                     "settings", mrd_settings_to_json(&m->settings), "hosts", hosts,
                     "shards", shards, "webhooks", hooks);
}

void manifest_free(mrd_manifest **m)
{
    if (!m || !*m)
        return;
    for (int i = 0; i < (*m)->nwebhooks; i++)
        free((*m)->webhooks[i]);
    free((*m)->webhooks);
    free(*m);
    *m = NULL;
}

const mrd_mf_replaced *manifest_replaced(const mrd_manifest *m, const char *host)
{
    for (int i = 0; i < m->nreplaced; i++)
        if (strcmp(m->replaced[i].host, host) == 0)
            return &m->replaced[i];
    return NULL;
}

const mrd_mf_host *manifest_self(const mrd_manifest *m)
{
    return &m->hosts[m->self];
}

const char *manifest_node_address(const mrd_manifest *m, int i)
{
    return m->hosts[m->nodes[i].host].address;
}

int manifest_host_nodes(const mrd_manifest *m, int host, int *out, int max)
{
    int n = 0;
    for (int i = 0; i < m->nnodes; i++)
        if (m->nodes[i].host == host) {
            if (n < max)
                out[n] = i;
            n++;
        }
    return n;
}

int manifest_find_node(const mrd_manifest *m, const char *address, int port)
{
    for (int i = 0; i < m->nnodes; i++)
        if (m->nodes[i].port == port && strcmp(manifest_node_address(m, i), address) == 0)
            return i;
    return -1;
}

static const struct {
    const char *what;
    const char *rel;
} layout[] = {
    {"manifest", "manifest.json"},
    {"agent.pid", "agent.pid"},
    {"agent.log", "agent.log"},
    {"agent.lock", "agent.lock"},
    {"sentinel.conf", "sentinel/sentinel.conf"},
    {"sentinel.pid", "sentinel/sentinel.pid"},
    {"sentinel.log", "sentinel/sentinel.log"},
    {"sentinel.dir", "sentinel"},
};

mrd_rc manifest_path(const mrd_manifest *m, const char *what, char *buf, size_t n)
{
    for (size_t i = 0; i < sizeof(layout) / sizeof(layout[0]); i++)
        if (strcmp(layout[i].what, what) == 0)
            return mrd_path_fmt(buf, n, "%s/%s", m->root, layout[i].rel);
    return MRD_ERR_NOT_FOUND;
}

static const struct {
    const char *what;
    const char *rel;
} node_layout[] = {
    {"redis.conf", "/redis.conf"}, {"redis.pid", "/redis.pid"}, {"redis.log", "/redis.log"},
    {"redis.data", "/data"},       {"redis.dir", ""},
};

void manifest_node_label(int port, int store_port, char *buf, size_t n)
{
    if (port == store_port)
        snprintf(buf, n, "redis");
    else
        snprintf(buf, n, "redis-%d", port);
}

mrd_rc manifest_node_path(const mrd_manifest *m, int node, const char *what, char *buf,
                          size_t n)
{
    char dir[32];
    manifest_node_label(m->nodes[node].port, m->settings.store.port, dir, sizeof(dir));
    for (size_t i = 0; i < sizeof(node_layout) / sizeof(node_layout[0]); i++)
        if (strcmp(node_layout[i].what, what) == 0)
            return mrd_path_fmt(buf, n, "%s/%s%s", m->root, dir, node_layout[i].rel);
    return MRD_ERR_NOT_FOUND;
}

mrd_rc manifest_secret_path(const char *secrets_dir, const char *name, char *buf,
                            size_t n)
{
    bool token = strcmp(name, "agent.token") == 0;
    return mrd_path_fmt(buf, n, "%s/%s%s", secrets_dir, name, token ? "" : ".pass");
}
