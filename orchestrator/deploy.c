#include "deploy.h"

#include <errno.h>
#include <libgen.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "manifest.h"
#include "status.h"

#define STATUS_PROBE_TIMEOUT_MS 1000
#define VERIFY_POLL_MS 20

/* ==== context ==== */

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

mrd_rc orch_open(const char *topology_path, const char *state, orch_ctx **out,
                 mrd_error *err)
{
    *out = NULL;
    orch_ctx *c = calloc(1, sizeof(*c));
    if (!c)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    mrd_rc rc = topology_load(topology_path, &c->topo, err);
    if (rc == MRD_OK)
        rc = plan_build(c->topo, &c->plan, err);
    if (rc == MRD_OK)
        rc = plan_check(c->plan, err);
    if (rc == MRD_OK && c->topo->transport.kind != MRD_TRANSPORT_LOCAL)
        rc = mrd_error_at(err, MRD_ERR_INVALID, topology_path, 0, 0,
                          "the ssh transport is not available yet: use "
                          "\"transport\": {\"kind\": \"local\"}");
    if (rc == MRD_OK)
        rc = state ? mrd_path_fmt(c->state_dir, sizeof(c->state_dir), "%s", state)
                   : default_state_dir(c->topo->name, c->state_dir, sizeof(c->state_dir),
                                       err);
    if (rc == MRD_OK)
        rc = mrd_path_fmt(c->secrets_dir, sizeof(c->secrets_dir), "%s/secrets",
                          c->state_dir);
    if (rc == MRD_OK)
        rc = find_agent(c->agent_bin, sizeof(c->agent_bin), err);
    if (rc != MRD_OK) {
        if (err && err->code == MRD_OK)
            mrd_error_set(err, rc, "path too long");
        orch_close(&c);
        return rc;
    }
    c->tp = transport_local();
    *out = c;
    return MRD_OK;
}

void orch_close(orch_ctx **c)
{
    if (!c || !*c)
        return;
    plan_free(&(*c)->plan);
    topology_free(&(*c)->topo);
    free(*c);
    *c = NULL;
}

mrd_rc orch_host_root(const orch_ctx *c, int host, char *buf, size_t n)
{
    return mrd_path_fmt(buf, n, "%s/hosts/%s", c->state_dir, c->topo->hosts[host].name);
}

mrd_rc orch_manifest_path(const orch_ctx *c, int host, char *buf, size_t n)
{
    return mrd_path_fmt(buf, n, "%s/hosts/%s/manifest.json", c->state_dir,
                        c->topo->hosts[host].name);
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

/* ==== manifests ==== */

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

static void fill_manifest(const orch_ctx *c, int host, mrd_manifest *m)
{
    const mrd_topology *t = c->topo;
    memset(m, 0, sizeof(*m));
    m->version = MRD_MANIFEST_VERSION;
    snprintf(m->topology, sizeof(m->topology), "%s", t->name);
    snprintf(m->master_name, sizeof(m->master_name), "%s", t->name);
    snprintf(m->host, sizeof(m->host), "%s", t->hosts[host].name);
    orch_host_root(c, host, m->root, sizeof(m->root));
    snprintf(m->secrets_dir, sizeof(m->secrets_dir), "%s", c->secrets_dir);
    m->store.port = t->store.port;
    snprintf(m->store.maxmemory, sizeof(m->store.maxmemory), "%s", t->store.maxmemory);
    snprintf(m->store.repl_backlog, sizeof(m->store.repl_backlog), "%s",
             t->store.repl_backlog);
    m->store.min_replicas_to_write = t->consistency.min_replicas_to_write;
    m->store.min_replicas_max_lag_s = t->consistency.min_replicas_max_lag_s;
    m->store.wait_replicas = t->consistency.wait_replicas;
    m->sentinel.quorum = c->plan->quorum;
    m->sentinel.down_after_ms = t->sentinel.down_after_ms;
    m->sentinel.failover_timeout_ms = t->sentinel.failover_timeout_ms;
    m->agent.port = t->agent.port;
    m->agent.interval_ms = t->agent.interval_ms;
    m->agent.metrics_open = t->agent.metrics_open;
    m->self = host;
    m->npeers = t->nhosts;
    for (int i = 0; i < t->nhosts && i < MRD_MF_MAX_PEERS; i++) {
        const mrd_host *h = &t->hosts[i];
        mrd_peer *p = &m->peers[i];
        snprintf(p->host, sizeof(p->host), "%s", h->name);
        snprintf(p->region, sizeof(p->region), "%s", t->regions[h->region].name);
        snprintf(p->zone, sizeof(p->zone), "%s", t->zones[h->zone].name);
        snprintf(p->address, sizeof(p->address), "%s", h->address);
        p->store_port = t->store.port;
        p->agent_port = t->agent.port;
        p->replica_priority = c->plan->hosts[i].replica_priority;
        p->leader = c->plan->hosts[i].leader;
        if (c->plan->hosts[i].sentinel) {
            p->sentinel_port = t->sentinel.port;
            deploy_sentinel_myid(t->name, h->name, p->sentinel_myid);
        }
    }
    /* webhooks are borrowed from the topology for serialisation only */
    m->webhooks = t->webhooks;
    m->nwebhooks = t->nwebhooks;
}

mrd_rc deploy_manifest_text(const orch_ctx *c, int host, char **out, mrd_error *err)
{
    mrd_manifest *m = malloc(sizeof(*m));
    if (!m)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    fill_manifest(c, host, m);
    json_t *j = manifest_to_json(m);
    free(m); /* not manifest_free(): the webhooks are the topology's */
    *out = j ? json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    json_decref(j);
    return *out ? MRD_OK : mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
}

/* ==== per-host deploy ==== */

typedef enum host_outcome {
    HOST_UNCHANGED = 0,
    HOST_STARTED,
    HOST_RESTARTED,
    HOST_FAILED,
} host_outcome;

typedef struct host_job {
    orch_ctx *c;
    FILE *progress;
    pthread_mutex_t *lock;
    host_outcome outcome;
    mrd_error err;
} host_job;

static void progress(host_job *j, int host, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void progress(host_job *j, int host, const char *fmt, ...)
{
    if (!j->progress)
        return;
    pthread_mutex_lock(j->lock);
    fprintf(j->progress, "  %-12s ", j->c->topo->hosts[host].name);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(j->progress, fmt, ap);
    va_end(ap);
    fputc('\n', j->progress);
    fflush(j->progress);
    pthread_mutex_unlock(j->lock);
}

/* Exit status of `meridian-agent ARG --manifest M` on the host. */
static int agent_cmd(orch_ctx *c, int host, const char *verb, const char *extra,
                     const char *manifest, mrd_error *err)
{
    const char *argv[] = {c->agent_bin, verb, "--manifest", manifest, extra, NULL};
    int status = -1;
    if (c->tp->run(&c->topo->hosts[host], argv, NULL, &status, err) != MRD_OK)
        return -1;
    return status;
}

static host_outcome deploy_host(orch_ctx *c, int host, host_job *j)
{
    const mrd_host *h = &c->topo->hosts[host];
    char root[MRD_PATH_MAX], mpath[MRD_PATH_MAX], log[MRD_PATH_MAX];
    char *want = NULL, *have = NULL;
    host_outcome out = HOST_FAILED;
    mrd_error *err = &j->err;

    if (orch_host_root(c, host, root, sizeof(root)) != MRD_OK ||
        orch_manifest_path(c, host, mpath, sizeof(mpath)) != MRD_OK ||
        mrd_path_fmt(log, sizeof(log), "%s/agent.log", root) != MRD_OK) {
        mrd_error_set(err, MRD_ERR_INVALID, "state path too long");
        return HOST_FAILED;
    }
    if (deploy_manifest_text(c, host, &want, err) != MRD_OK)
        return HOST_FAILED;
    mrd_rc got = c->tp->get_file(h, mpath, &have, NULL);
    bool same = got == MRD_OK && strcmp(have, want) == 0;
    bool alive = got == MRD_OK && agent_cmd(c, host, "alive", NULL, mpath, NULL) == 0;
    if (same && alive) {
        progress(j, host, "agent running, manifest unchanged");
        out = HOST_UNCHANGED;
        goto done;
    }
    if (c->tp->mkdir_p(h, root, 0700, err) != MRD_OK)
        goto done;
    if (!same) {
        if (c->tp->put_file(h, mpath, want, strlen(want), 0600, err) != MRD_OK)
            goto done;
        progress(j, host, "manifest %s", got == MRD_OK ? "updated" : "written");
    }
    if (alive) {
        /* A changed manifest: restart the agent only; its nodes keep running. */
        if (agent_cmd(c, host, "stop", "--agent-only", mpath, err) != 0) {
            if (err->code == MRD_OK)
                mrd_error_set(err, MRD_ERR_PROCESS, "could not stop the old agent");
            goto done;
        }
    }
    const char *argv[] = {c->agent_bin, "run", "--manifest", mpath, NULL};
    if (c->tp->spawn_daemon(h, argv, log, err) != MRD_OK)
        goto done;
    progress(j, host, "agent %s", alive ? "restarted with the new manifest" : "started");
    out = alive ? HOST_RESTARTED : HOST_STARTED;
done:
    if (out == HOST_FAILED) {
        char buf[600];
        mrd_error_format(err, buf, sizeof(buf));
        progress(j, host, "FAILED: %s", buf);
    }
    free(want);
    free(have);
    return out;
}

typedef struct pool {
    orch_ctx *c;
    host_job *jobs;
    atomic_int next;
} pool;

static void *pool_worker(void *arg)
{
    pool *p = arg;
    int i;
    while ((i = atomic_fetch_add(&p->next, 1)) < p->c->topo->nhosts)
        p->jobs[i].outcome = deploy_host(p->c, i, &p->jobs[i]);
    return NULL;
}

/* Run deploy_host for every host, PARALLEL at a time. */
static void deploy_hosts(orch_ctx *c, host_job *jobs, int parallel)
{
    int n = c->topo->nhosts;
    if (parallel <= 0 || parallel > n)
        parallel = n;
    pool p = {.c = c, .jobs = jobs};
    atomic_init(&p.next, 0);
    pthread_t th[64];
    int started = 0;
    for (int i = 0; i < parallel && i < 64; i++)
        if (pthread_create(&th[started], NULL, pool_worker, &p) == 0)
            started++;
    if (started == 0)
        pool_worker(&p);
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
}

/* Poll status until healthy or the deadline; print what is still pending
 * whenever it changes. */
static st_health verify(orch_ctx *c, int timeout_ms, FILE *out, bool *first_ok)
{
    long long start = mrd_now_ms(), deadline = start + timeout_ms;
    char last[256] = "";
    st_health health = ST_UNKNOWN;
    for (int round = 0;; round++) {
        st_report *r = NULL;
        mrd_error err;
        if (status_probe(c, STATUS_PROBE_TIMEOUT_MS, &r, &err) == MRD_OK) {
            health = r->health;
            if (round == 0)
                *first_ok = health == ST_OK;
            if (out && health != ST_OK && strcmp(last, r->summary) != 0) {
                fprintf(out, "  verify       %.1f s: %s\n",
                        (double)(mrd_now_ms() - start) / 1000.0, r->summary);
                fflush(out);
                snprintf(last, sizeof(last), "%s", r->summary);
            }
            if (health == ST_OK || mrd_now_ms() >= deadline) {
                if (out && health != ST_OK)
                    status_print(out, c, r);
                status_free(&r);
                return health;
            }
            status_free(&r);
        } else if (mrd_now_ms() >= deadline) {
            return ST_UNKNOWN;
        }
        mrd_sleep_ms(VERIFY_POLL_MS);
    }
}

static mrd_rc ensure_secrets(orch_ctx *c, FILE *out, mrd_error *err)
{
    static const char *const names[] = {"admin", "replication", "sentinel", "app",
                                        "agent.token"};
    mrd_rc rc = mrd_mkdir_p(c->secrets_dir, 0700, err);
    if (rc != MRD_OK)
        return rc;
    chmod(c->state_dir, 0700);
    int created = 0;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char path[MRD_PATH_MAX], buf[MRD_SECRET_LEN];
        bool made;
        if (manifest_secret_path(c->secrets_dir, names[i], path, sizeof(path)) != MRD_OK)
            return mrd_error_set(err, MRD_ERR_INVALID, "secrets path too long");
        rc = mrd_secret_ensure(path, buf, sizeof(buf), &made, err);
        memset(buf, 0, sizeof(buf));
        if (rc != MRD_OK)
            return rc;
        created += made;
    }
    if (created && out)
        fprintf(out, "  credentials  generated %d secrets in %s (mode 0600)\n", created,
                c->secrets_dir);
    return MRD_OK;
}

int deploy_run(orch_ctx *c, const deploy_opts *o)
{
    FILE *out = o->progress;
    long long t0 = mrd_now_ms();
    mrd_error err;
    if (out)
        fprintf(out, "deploy %s: %d hosts, state %s\n", c->topo->name, c->topo->nhosts,
                c->state_dir);
    if (ensure_secrets(c, out, &err) != MRD_OK) {
        char buf[600];
        mrd_error_format(&err, buf, sizeof(buf));
        fprintf(stderr, "meridian: %s\n", buf);
        return 2;
    }
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    host_job *jobs = calloc((size_t)c->topo->nhosts, sizeof(*jobs));
    if (!jobs)
        return 2;
    for (int i = 0; i < c->topo->nhosts; i++)
        jobs[i] = (host_job){.c = c, .progress = out, .lock = &lock};
    deploy_hosts(c, jobs, o->parallel);

    int failed = 0, changed = 0;
    for (int i = 0; i < c->topo->nhosts; i++) {
        failed += jobs[i].outcome == HOST_FAILED;
        changed += jobs[i].outcome != HOST_UNCHANGED;
    }
    free(jobs);
    if (failed) {
        if (out)
            fprintf(out, "deploy incomplete: %d of %d hosts failed; fix them and run "
                         "deploy again\n", failed, c->topo->nhosts);
        return 2;
    }
    bool first_ok = false;
    st_health h = verify(c, o->verify_timeout_ms, out, &first_ok);
    double secs = (double)(mrd_now_ms() - t0) / 1000.0;
    if (h != ST_OK) {
        if (out)
            fprintf(out, "deploy not verified: still %s after %.1f s (see the table above "
                         "and the logs under %s/hosts)\n",
                    status_health_name(h), secs, c->state_dir);
        return 1;
    }
    if (out) {
        if (changed == 0 && first_ok)
            fprintf(out, "no changes: %d hosts already deployed and healthy (%.1f s)\n",
                    c->topo->nhosts, secs);
        else
            fprintf(out, "deployed and verified in %.1f s: leader %s, %d replicas linked, "
                         "%d sentinels agree\n",
                    secs, c->topo->hosts[c->plan->leader].name, c->topo->nhosts - 1,
                    c->plan->nsentinels);
    }
    return 0;
}

/* ==== destroy ==== */

static void report_pidfile(orch_ctx *c, int host, const char *root, const char *rel,
                           FILE *out)
{
    char path[MRD_PATH_MAX], *text = NULL;
    if (mrd_path_fmt(path, sizeof(path), "%s/%s", root, rel) != MRD_OK)
        return;
    if (c->tp->get_file(&c->topo->hosts[host], path, &text, NULL) == MRD_OK) {
        text[strcspn(text, "\n")] = '\0';
        fprintf(out, "  %-12s would stop %s (pid %s)\n", c->topo->hosts[host].name, rel,
                text);
    }
    free(text);
}

int destroy_run(orch_ctx *c, bool yes, FILE *out)
{
    int rc = 0;
    if (!mrd_path_exists(c->state_dir)) {
        fprintf(out, "nothing to destroy: %s does not exist\n", c->state_dir);
        return 0;
    }
    for (int i = 0; i < c->topo->nhosts; i++) {
        char root[MRD_PATH_MAX], mpath[MRD_PATH_MAX];
        mrd_error err;
        orch_host_root(c, i, root, sizeof(root));
        orch_manifest_path(c, i, mpath, sizeof(mpath));
        if (!yes) {
            report_pidfile(c, i, root, "agent.pid", out);
            report_pidfile(c, i, root, "redis/redis.pid", out);
            report_pidfile(c, i, root, "sentinel/sentinel.pid", out);
            continue;
        }
        if (mrd_path_exists(mpath)) {
            mrd_error_clear(&err);
            int st = agent_cmd(c, i, "stop", NULL, mpath, &err);
            if (st != 0) {
                fprintf(out, "  %-12s FAILED to stop: %s\n", c->topo->hosts[i].name,
                        err.msg[0] ? err.msg : "see the agent log");
                rc = 1;
                continue;
            }
            fprintf(out, "  %-12s stopped\n", c->topo->hosts[i].name);
        }
    }
    if (!yes) {
        fprintf(out, "would remove %s\nrun again with --yes to do it\n", c->state_dir);
        return 0;
    }
    if (rc != 0) {
        fprintf(out, "state kept in %s because a host could not be stopped\n", c->state_dir);
        return rc;
    }
    mrd_error err;
    if (mrd_rm_rf(c->state_dir, &err) != MRD_OK) {
        fprintf(out, "cannot remove %s: %s\n", c->state_dir, err.msg);
        return 1;
    }
    fprintf(out, "destroyed %s: every process stopped, %s removed\n", c->topo->name,
            c->state_dir);
    return 0;
}
