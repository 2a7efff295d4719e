/* orch.c - the context every orchestrator command starts from (orch.h):
 * the topology and its plan, the state dir, the transport, where each
 * host's files live, the generated secrets. */
#include "orch.h"

#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "certs.h"
#include "fsutil.h"
#include "log.h"
#include "manifest.h"
#include "tls.h"

static mrd_rc default_state_dir(const char *name, char *buf, size_t n, mrd_error *err)
{
    const char *xdg = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");
    mrd_rc rc;
    if (xdg && xdg[0] == '/')
        rc = mrd_path_fmt(buf, n, "%s/meridian/%s", xdg, name);
    else if (home && home[0] == '/')
        rc = mrd_path_fmt(buf, n, "%s/.local/state/meridian/%s", home, name);
    else
        return mrd_error_set(err, MRD_ERR_USAGE,
                             "neither XDG_STATE_HOME nor HOME is set: pass --state DIR");
    return rc == MRD_OK ? MRD_OK : mrd_error_set(err, MRD_ERR_INVALID, "state path too long");
}

/* PATH made absolute against the working folder: the paths under the
 * state dir go into manifests, which agents read after a chdir("/"). */
static mrd_rc absolute_path(const char *path, char *buf, size_t n, mrd_error *err)
{
    if (path[0] == '/')
        return mrd_path_fmt(buf, n, "%s", path) == MRD_OK
                   ? MRD_OK
                   : mrd_error_set(err, MRD_ERR_INVALID, "state path too long");
    char cwd[MRD_PATH_MAX];
    if (!getcwd(cwd, sizeof(cwd)))
        return mrd_error_set(err, MRD_ERR_IO, "cannot tell the working folder for %s: %s",
                             path, strerror(errno));
    return mrd_path_fmt(buf, n, "%s%s%s", cwd, strcmp(cwd, "/") == 0 ? "" : "/", path) ==
                   MRD_OK
               ? MRD_OK
               : mrd_error_set(err, MRD_ERR_INVALID, "state path too long");
}

/* meridian-agent next to this executable, unless MERIDIAN_AGENT names one. */
static mrd_rc find_agent(char *buf, size_t n, mrd_error *err)
{
    const char *env = getenv("MERIDIAN_AGENT");
    if (env && env[0])
        return mrd_path_fmt(buf, n, "%s", env);
    char self[MRD_PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (len < 0)
        return mrd_error_set(err, MRD_ERR_IO, "cannot find my own executable: %s",
                             strerror(errno));
    self[len] = '\0';
    return mrd_path_fmt(buf, n, "%s/meridian-agent", dirname(self));
}

mrd_rc orch_placement_path(const orch_ctx *c, char *buf, size_t n)
{
    return mrd_path_fmt(buf, n, "%s/placement.json", c->state_dir);
}

static mrd_rc read_placement(const char *path, mrd_placement *out, bool *have,
                             mrd_error *err)
{
    char *text = NULL;
    size_t len = 0;
    *have = false;
    if (!mrd_path_exists(path))
        return MRD_OK;
    MRD_TRY(mrd_read_file(path, 16u << 20, &text, &len, err));
    mrd_rc rc = placement_parse(text, len, path, out, err);
    free(text);
    *have = rc == MRD_OK;
    return rc;
}

mrd_rc orch_replacements_path(const orch_ctx *c, char *buf, size_t n)
{
    return mrd_path_fmt(buf, n, "%s/replacements.json", c->state_dir);
}

/* DIR/replacements.json into OUT, or OUT empty when there is none. */
static mrd_rc read_replacements(const char *dir, mrd_replacements *out, mrd_error *err)
{
    char path[MRD_PATH_MAX], *text = NULL;
    size_t len = 0;
    replacements_init(out);
    if (mrd_path_fmt(path, sizeof(path), "%s/replacements.json", dir) != MRD_OK)
        return mrd_error_set(err, MRD_ERR_INVALID, "state path too long");
    if (!mrd_path_exists(path))
        return MRD_OK;
    MRD_TRY(mrd_read_file(path, 4u << 20, &text, &len, err));
    replacements_free(out);
    mrd_rc rc = replacements_parse(text, len, path, out, err);
    free(text);
    if (rc != MRD_OK)
        replacements_init(out);
    return rc;
}

mrd_rc orch_replacements_save(const orch_ctx *c, mrd_error *err)
{
    char path[MRD_PATH_MAX];
    if (orch_replacements_path(c, path, sizeof(path)) != MRD_OK)
        return mrd_error_set(err, MRD_ERR_INVALID, "state path too long");
    json_t *j = replacements_to_json(&c->repl);
    char *text = j ? json_dumps(j, JSON_INDENT(1)) : NULL;
    json_decref(j);
    mrd_rc rc = text ? mrd_write_atomic(path, text, strlen(text), 0600, err)
                     : mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    free(text);
    return rc;
}

bool orch_host_used(const orch_ctx *c, int h)
{
    return plan_host_holds(c->plan, h);
}

/* STATE/placement.json, in cluster mode, when it exists. */
static mrd_rc load_placement(orch_ctx *c, mrd_error *err)
{
    char path[MRD_PATH_MAX];
    if (c->topo->mode != MRD_MODE_CLUSTER)
        return MRD_OK;
    if (orch_placement_path(c, path, sizeof(path)) != MRD_OK)
        return mrd_error_set(err, MRD_ERR_INVALID, "state path too long");
    return read_placement(path, &c->placement, &c->have_placement, err);
}

mrd_rc orch_plan_from_state(const mrd_topology *t, const char *state, mrd_plan **out,
                            char *path, size_t n, mrd_error *err)
{
    char dir[MRD_PATH_MAX];
    mrd_placement pl = {0};
    bool have = false;
    path[0] = '\0';
    MRD_TRY(state ? absolute_path(state, dir, sizeof(dir), err)
                  : default_state_dir(t->name, dir, sizeof(dir), err));
    if (t->mode == MRD_MODE_CLUSTER) {
        if (mrd_path_fmt(path, n, "%s/placement.json", dir) != MRD_OK)
            return mrd_error_set(err, MRD_ERR_INVALID, "state path too long");
        MRD_TRY(read_placement(path, &pl, &have, err));
    }
    if (!have)
        path[0] = '\0';
    mrd_replacements repl;
    mrd_rc rc = read_replacements(dir, &repl, err);
    if (rc == MRD_OK) {
        rc = plan_build_ex(t, have ? &pl : NULL, &repl, out, err);
        if (rc == MRD_OK && repl.n > 0 && !path[0])
            mrd_path_fmt(path, n, "%s/replacements.json", dir);
    }
    replacements_free(&repl);
    placement_free(&pl);
    return rc;
}

mrd_rc orch_replan(orch_ctx *c, mrd_placement *pl, mrd_error *err)
{
    mrd_plan *p = NULL;
    MRD_TRY(plan_build_ex(c->topo, pl, &c->repl, &p, err));
    plan_free(&c->plan);
    c->plan = p;
    if (pl != &c->placement) {
        placement_free(&c->placement);
        c->have_placement = pl != NULL;
        if (pl) {
            c->placement = *pl;
            memset(pl, 0, sizeof(*pl));
        }
    }
    return MRD_OK;
}

mrd_rc orch_placement_save(orch_ctx *c, const mrd_plan *p, bool without_retiring,
                           mrd_error *err)
{
    mrd_placement pl;
    char path[MRD_PATH_MAX];
    if (orch_placement_path(c, path, sizeof(path)) != MRD_OK)
        return mrd_error_set(err, MRD_ERR_INVALID, "state path too long");
    MRD_TRY(plan_placement(p, without_retiring, &pl, err));
    json_t *j = placement_to_json(c->topo->name, &pl);
    char *text = j ? json_dumps(j, JSON_INDENT(1)) : NULL;
    json_decref(j);
    mrd_rc rc = text ? mrd_write_atomic(path, text, strlen(text), 0600, err)
                     : mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    free(text);
    if (rc != MRD_OK) {
        placement_free(&pl);
        return rc;
    }
    placement_free(&c->placement); /* C's plan stays as it is */
    c->placement = pl;
    c->have_placement = true;
    return MRD_OK;
}

mrd_rc orch_open(const char *topology_path, const char *state, orch_ctx **out,
                 mrd_error *err)
{
    return orch_open_ex(topology_path, state, NULL, out, err);
}

mrd_rc orch_open_ex(const char *topology_path, const char *state, const orch_opts *o,
                    orch_ctx **out, mrd_error *err)
{
    *out = NULL;
    orch_ctx *c = calloc(1, sizeof(*c));
    if (!c)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    if (o)
        c->opts = *o;
    mrd_rc rc = topology_load(topology_path, &c->topo, err);
    if (rc == MRD_OK)
        rc = state ? absolute_path(state, c->state_dir, sizeof(c->state_dir), err)
                   : default_state_dir(c->topo->name, c->state_dir, sizeof(c->state_dir),
                                       err);
    replacements_init(&c->repl);
    if (rc == MRD_OK)
        rc = load_placement(c, err);
    if (rc == MRD_OK)
        rc = read_replacements(c->state_dir, &c->repl, err);
    if (rc == MRD_OK)
        rc = plan_build_ex(c->topo, c->have_placement ? &c->placement : NULL, &c->repl,
                           &c->plan, err);
    if (rc == MRD_OK)
        rc = plan_check(c->plan, err);
    if (rc == MRD_OK)
        rc = mrd_path_fmt(c->secrets_dir, sizeof(c->secrets_dir), "%s/secrets",
                          c->state_dir);
    /* a CA not made yet (before the first deploy) leaves TLS on and every
     * connection refused, naming the file; deploy starts it again */
    if (rc == MRD_OK)
        (void)orch_tls_start(c, NULL);
    if (rc == MRD_OK)
        rc = find_agent(c->agent_bin, sizeof(c->agent_bin), err);
    if (rc == MRD_OK)
        rc = c->topo->transport.root[0]
                 ? mrd_path_fmt(c->remote_root, sizeof(c->remote_root), "%s",
                                c->topo->transport.root)
                 : mrd_path_fmt(c->remote_root, sizeof(c->remote_root),
                                "~/.local/state/meridian/%s", c->topo->name);
    if (rc == MRD_OK) {
        transport_opts to = {.accept_new_host_keys = c->opts.accept_new_host_keys};
        rc = transport_open(c->topo, &to, &c->tp, err);
    }
    if (rc != MRD_OK) {
        if (err && err->code == MRD_OK)
            mrd_error_set(err, rc, "path too long");
        orch_close(&c);
        return rc;
    }
    *out = c;
    return MRD_OK;
}

void orch_close(orch_ctx **c)
{
    if (!c || !*c)
        return;
    transport_close(&(*c)->tp);
    plan_free(&(*c)->plan);
    placement_free(&(*c)->placement);
    replacements_free(&(*c)->repl);
    topology_free(&(*c)->topo);
    free(*c);
    *c = NULL;
}

mrd_rc orch_host_root_ex(const orch_ctx *c, int host, char *buf, size_t n, mrd_error *err)
{
    const char *name = c->topo->hosts[host].name;
    if (!orch_remote(c))
        return mrd_path_fmt(buf, n, "%s/hosts/%s", c->state_dir, name) == MRD_OK
                   ? MRD_OK
                   : mrd_error_set(err, MRD_ERR_INVALID, "state path too long");
    mrd_rc rc;
    if (strncmp(c->remote_root, "~/", 2) == 0) {
        char home[MRD_PATH_MAX];
        MRD_TRY(c->tp->ops->home(c->tp, &c->topo->hosts[host], home, sizeof(home), err));
        rc = mrd_path_fmt(buf, n, "%s%s%s/hosts/%s", home,
                          home[0] && home[strlen(home) - 1] == '/' ? "" : "/",
                          c->remote_root + 2, name);
    } else {
        rc = mrd_path_fmt(buf, n, "%s/hosts/%s", c->remote_root, name);
    }
    return rc == MRD_OK ? MRD_OK : mrd_error_set(err, MRD_ERR_INVALID, "host root too long");
}

mrd_rc orch_host_root(const orch_ctx *c, int host, char *buf, size_t n)
{
    return orch_host_root_ex(c, host, buf, n, NULL);
}

mrd_rc orch_manifest_path(const orch_ctx *c, int host, char *buf, size_t n)
{
    char root[MRD_PATH_MAX];
    MRD_TRY(orch_host_root(c, host, root, sizeof(root)));
    return mrd_path_fmt(buf, n, "%s/manifest.json", root);
}

mrd_rc orch_secret(const orch_ctx *c, const char *name, char *buf, size_t n,
                   mrd_error *err)
{
    char path[MRD_PATH_MAX];
    if (manifest_secret_path(c->secrets_dir, name, path, sizeof(path)) != MRD_OK)
        return mrd_error_set(err, MRD_ERR_INVALID, "secrets path too long");
    mrd_rc rc = mrd_secret_read(path, buf, n, err);
    if (rc == MRD_ERR_NOT_FOUND)
        mrd_error_set(err, rc, "no credentials in %s: is %s deployed (see --state)?",
                      c->secrets_dir, c->topo->name);
    return rc;
}

static mrd_rc failover_note_path(const orch_ctx *c, char *buf, size_t n)
{
    return mrd_path_fmt(buf, n, "%s/drill-state.json", c->state_dir);
}

long long orch_failover_cooldown_left(const orch_ctx *c, long long cooldown_ms)
{
    char path[MRD_PATH_MAX];
    if (failover_note_path(c, path, sizeof(path)) != MRD_OK)
        return 0;
    json_t *j = json_load_file(path, 0, NULL);
    long long last = j ? json_integer_value(json_object_get(j, "last_failover_ms")) : 0;
    json_decref(j);
    long long left = last + cooldown_ms - mrd_wall_ms();
    return last && left > 0 ? left : 0;
}

void orch_failover_note(const orch_ctx *c)
{
    char path[MRD_PATH_MAX];
    if (failover_note_path(c, path, sizeof(path)) != MRD_OK)
        return;
    char text[64];
    int n = snprintf(text, sizeof(text), "{\"last_failover_ms\": %lld}\n", mrd_wall_ms());
    mrd_write_atomic(path, text, (size_t)n, 0600, NULL);
}

mrd_rc orch_tls_start(const orch_ctx *c, mrd_error *err)
{
    if (!c->topo->settings.tls.enabled) /* off, or pinned off by deploy */
        return store_set_tls(NULL, NULL, NULL, err);
    char ca[MRD_PATH_MAX];
    MRD_TRY(mrd_tls_ca_file(c->secrets_dir, ca, sizeof(ca), err));
    return store_set_tls(ca, NULL, NULL, err);
}
