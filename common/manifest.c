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

static mrd_rc parse_peer(json_t *o, mrd_peer *p, mrd_error *err)
{
    if (!json_is_object(o))
        return mrd_error_set(err, MRD_ERR_INVALID, "manifest: a peer must be an object");
    MRD_TRY(get_str(o, "host", p->host, sizeof(p->host), err));
    MRD_TRY(get_str(o, "region", p->region, sizeof(p->region), err));
    MRD_TRY(get_str(o, "zone", p->zone, sizeof(p->zone), err));
    MRD_TRY(get_str(o, "address", p->address, sizeof(p->address), err));
    MRD_TRY(get_int(o, "store_port", &p->store_port, err));
    MRD_TRY(get_int(o, "sentinel_port", &p->sentinel_port, err));
    MRD_TRY(get_int(o, "agent_port", &p->agent_port, err));
    MRD_TRY(get_int(o, "replica_priority", &p->replica_priority, err));
    MRD_TRY(get_bool(o, "leader", &p->leader, err));
    MRD_TRY(get_str(o, "sentinel_myid", p->sentinel_myid, sizeof(p->sentinel_myid), err));
    return MRD_OK;
}

static mrd_rc parse_root(json_t *root, mrd_manifest *m, mrd_error *err)
{
    if (!json_is_object(root))
        return mrd_error_set(err, MRD_ERR_INVALID, "manifest: not a JSON object");
    MRD_TRY(get_int(root, "version", &m->version, err));
    if (m->version != MRD_MANIFEST_VERSION)
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "manifest version %d is not supported (expected %d): "
                             "redeploy with a matching meridian",
                             m->version, MRD_MANIFEST_VERSION);
    MRD_TRY(get_str(root, "topology", m->topology, sizeof(m->topology), err));
    MRD_TRY(get_str(root, "master_name", m->master_name, sizeof(m->master_name), err));
    MRD_TRY(get_str(root, "host", m->host, sizeof(m->host), err));
    MRD_TRY(get_str(root, "root", m->root, sizeof(m->root), err));
    MRD_TRY(get_str(root, "secrets_dir", m->secrets_dir, sizeof(m->secrets_dir), err));

    json_t *settings = json_object_get(root, "settings");
    if (!json_is_object(settings))
        return mrd_error_set(err, MRD_ERR_INVALID, "manifest: \"settings\" must be an object");
    MRD_TRY(mrd_settings_from_json(settings, &m->settings, err));

    json_t *peers = json_object_get(root, "peers");
    if (!json_is_array(peers) || json_array_size(peers) == 0 ||
        json_array_size(peers) > MRD_MF_MAX_PEERS)
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "manifest: \"peers\" must be an array of 1 to %d hosts",
                             MRD_MF_MAX_PEERS);
    m->self = -1;
    size_t i;
    json_t *p;
    json_array_foreach(peers, i, p) {
        MRD_TRY(parse_peer(p, &m->peers[i], err));
        if (strcmp(m->peers[i].host, m->host) == 0)
            m->self = (int)i;
    }
    m->npeers = (int)json_array_size(peers);
    if (m->self < 0)
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "manifest: host \"%s\" is not among its peers", m->host);

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
    return MRD_OK;
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
    json_t *peers = json_array();
    for (int i = 0; i < m->npeers; i++) {
        const mrd_peer *p = &m->peers[i];
        json_array_append_new(
            peers, json_pack("{s:s,s:s,s:s,s:s,s:i,s:i,s:i,s:i,s:b,s:s}", "host", p->host,
                             "region", p->region, "zone", p->zone, "address", p->address,
                             "store_port", p->store_port, "sentinel_port",
                             p->sentinel_port, "agent_port", p->agent_port,
                             "replica_priority", p->replica_priority, "leader",
                             p->leader, "sentinel_myid", p->sentinel_myid));
    }
    json_t *hooks = json_array();
    for (int i = 0; i < m->nwebhooks; i++)
        json_array_append_new(hooks, json_string(m->webhooks[i]));
    return json_pack("{s:i,s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:o}", "version",
                     MRD_MANIFEST_VERSION, "topology", m->topology, "master_name",
                     m->master_name, "host", m->host, "root", m->root, "secrets_dir",
                     m->secrets_dir, "settings", mrd_settings_to_json(&m->settings), "peers",
                     peers, "webhooks", hooks);
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

const mrd_peer *manifest_self(const mrd_manifest *m)
{
    return &m->peers[m->self];
}

static const struct {
    const char *what;
    const char *rel;
} layout[] = {
    {"manifest", "manifest.json"},      {"agent.pid", "agent.pid"},
    {"agent.log", "agent.log"},         {"agent.lock", "agent.lock"},
    {"redis.conf", "redis/redis.conf"}, {"redis.pid", "redis/redis.pid"},
    {"redis.log", "redis/redis.log"},   {"redis.data", "redis/data"},
    {"redis.dir", "redis"},             {"sentinel.conf", "sentinel/sentinel.conf"},
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

mrd_rc manifest_secret_path(const char *secrets_dir, const char *name, char *buf,
                            size_t n)
{
    bool token = strcmp(name, "agent.token") == 0;
    return mrd_path_fmt(buf, n, "%s/%s%s", secrets_dir, name, token ? "" : ".pass");
}
