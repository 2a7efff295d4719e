#define _GNU_SOURCE /* memmem */
#include "deploy.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_client.h"
#include "fsutil.h"
#include "lock.h"
#include "log.h"
#include "manifest.h"
#include "render.h"
#include "reconcile.h"
#include "status.h"

#define STATUS_PROBE_TIMEOUT_MS 1000
#define VERIFY_POLL_MS 20
/* A deploy or destroy waits this long for another one of the same state
 * dir to finish, then gives up (DEPLOY_EXIT_BUSY); deploy --timeout
 * shortens it.  A fresh 6-host deploy on loopback takes about 0.3 s; one
 * over ssh with --install-packages can take minutes, and then the second
 * one should rather be told. */
#define DEPLOY_LOCK_WAIT_MS 30000
/* STATE/deploy.lock names the holder ("PID deploy") of the state dir's
 * lock, which is an flock on the folder itself (common/lock.h). */
#define DEPLOY_LOCK_RECORD "deploy.lock"

static bool remote(const orch_ctx *c)
{
    return c->tp && c->tp->ops->remote;
}

/* Where host H's agent finds its secrets: the state dir's on the local
 * transport; its own copy, ROOT/secrets, on a remote host. */
static mrd_rc host_secrets_dir(const orch_ctx *c, const char *root, char *buf, size_t n)
{
    return remote(c) ? mrd_path_fmt(buf, n, "%s/secrets", root)
                     : mrd_path_fmt(buf, n, "%s", c->secrets_dir);
}

/* The meridian-agent that runs on host H: this machine's on the local
 * transport, the uploaded ROOT/bin/meridian-agent on a remote host. */
static mrd_rc host_agent_bin(const orch_ctx *c, const char *root, char *buf, size_t n)
{
    return remote(c) ? mrd_path_fmt(buf, n, "%s/bin/meridian-agent", root)
                     : mrd_path_fmt(buf, n, "%s", c->agent_bin);
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


/* ROOT and SECRETS are host H's root and secrets folders on the host. */
static void fill_manifest(const orch_ctx *c, int host, const char *root, const char *secrets,
                          mrd_manifest *m)
{
    const mrd_topology *t = c->topo;
    memset(m, 0, sizeof(*m));
    m->version = MRD_MANIFEST_VERSION;
    snprintf(m->topology, sizeof(m->topology), "%s", t->name);
    snprintf(m->master_name, sizeof(m->master_name), "%s", t->name);
    snprintf(m->host, sizeof(m->host), "%s", t->hosts[host].name);
    snprintf(m->root, sizeof(m->root), "%s", root);
    snprintf(m->secrets_dir, sizeof(m->secrets_dir), "%s", secrets);
    m->settings = t->settings;
    m->settings.sentinel.quorum = c->plan->quorum; /* 0 in the file means the majority */
    m->self = host;
    m->npeers = t->nhosts;
    for (int i = 0; i < t->nhosts && i < MRD_MF_MAX_PEERS; i++) {
        const mrd_host *h = &t->hosts[i];
        mrd_peer *p = &m->peers[i];
        snprintf(p->host, sizeof(p->host), "%s", h->name);
        snprintf(p->region, sizeof(p->region), "%s", t->regions[h->region].name);
        snprintf(p->zone, sizeof(p->zone), "%s", t->zones[h->zone].name);
        snprintf(p->address, sizeof(p->address), "%s", h->address);
        p->store_port = t->settings.store.port;
        p->agent_port = t->settings.agent.port;
        p->replica_priority = c->plan->hosts[i].replica_priority;
        p->leader = c->plan->hosts[i].leader;
        if (c->plan->hosts[i].sentinel) {
            p->sentinel_port = t->settings.sentinel.port;
            deploy_sentinel_myid(t->name, h->name, p->sentinel_myid);
        }
    }
    /* webhooks are borrowed from the topology for serialisation only */
    m->webhooks = t->webhooks;
    m->nwebhooks = t->nwebhooks;
}

/* The manifest of host H, whose root folder is ROOT, as canonical JSON. */
static mrd_rc manifest_text(const orch_ctx *c, int host, const char *root, char **out,
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

/* ==== per-host deploy ==== */

typedef enum host_outcome {
    HOST_UNCHANGED = 0, /* its agent ran with this manifest: nothing done */
    HOST_STARTED,       /* this run started its agent */
    HOST_RESTARTED,     /* this run restarted its agent (new manifest or
                           new meridian-agent) */
    HOST_RUNNING,       /* this run went to start the agent, but one was
                           running already, unseen when deploy looked (no
                           manifest yet, or started since): its start was
                           refused (one agent per host) and it is left */
    HOST_FAILED,
} host_outcome;

/* What every host's job reads (never written while the jobs run). */
typedef struct deploy_shared {
    char *agent;           /* the meridian-agent binary, remote transports only */
    size_t agent_len;
    char agent_stamp[64];  /* "SIZE FNV1A64\n": which binary a host has */
    bool install_packages;
} deploy_shared;

typedef struct host_job {
    orch_ctx *c;
    const deploy_shared *sh;
    FILE *progress;
    pthread_mutex_t *lock;
    bool yes;             /* destroy: act, not only list */
    long long t0;         /* when the deploy started */
    bool answered;        /* its agent answered /v1/health */
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

/* The last non-empty line of TEXT (at most N - 1 bytes of it) in BUF. */
static void last_line(const char *text, char *buf, size_t n)
{
    buf[0] = '\0';
    if (!text)
        return;
    size_t len = strlen(text);
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
        len--;
    size_t start = len;
    while (start > 0 && text[start - 1] != '\n')
        start--;
    snprintf(buf, n, "%.*s", (int)(len - start), text + start);
}

/* Record in ERR that WHAT exited with RES->status, with its last line of
 * stderr (or stdout). */
static mrd_rc cmd_failed(mrd_error *err, const char *what, const tp_result *res)
{
    char line[300];
    last_line(res->err && res->err[0] ? res->err : res->out, line, sizeof(line));
    if (res->status == 127 && !line[0])
        return mrd_error_set(err, MRD_ERR_PROCESS, "%s: command not found", what);
    return mrd_error_set(err, MRD_ERR_PROCESS, "%s exited with status %d%s%s", what,
                         res->status, line[0] ? ": " : "", line);
}

/* Exit status of `BIN VERB --manifest M [EXTRA]` on the host; -1 with ERR
 * set when it could not be run.  A status other than 0 sets ERR too. */
static int agent_cmd(orch_ctx *c, int host, const char *bin, const char *verb,
                     const char *extra, const char *manifest, mrd_error *err)
{
    const char *argv[] = {bin, verb, "--manifest", manifest, extra, NULL};
    tp_result res;
    if (tp_exec(c->tp, &c->topo->hosts[host], argv, &res, err) != MRD_OK)
        return -1;
    int status = res.status;
    if (status != 0) {
        char what[64];
        snprintf(what, sizeof(what), "meridian-agent %s", verb);
        cmd_failed(err, what, &res);
    }
    tp_result_free(&res);
    return status;
}

static mrd_rc run_daemon(orch_ctx *c, int host, mrd_error *err);

/* Start host H's agent detached (`BIN run --daemon`, whose exit status is
 * the agent's own verdict: 0 once it holds its lock and pid file) and say
 * what this run did.  RESTARTED (NULL for a first start) says why it
 * replaces an agent stopped just before, e.g. "with the new manifest";
 * HOW ends the progress line.  When the start is refused because an
 * agent is running (one agent per host: it holds the host's lock) that
 * deploy did not see (the host had no manifest, or something else started
 * it since deploy looked), that agent is left and reported as running,
 * never as started by us. */
static host_outcome start_agent(orch_ctx *c, int host, const char *bin, const char *manifest,
                                const char *restarted, const char *how, host_job *j)
{
    mrd_error err;
    mrd_error_clear(&err);
    if (run_daemon(c, host, &err) == MRD_OK) {
        if (restarted)
            progress(j, host, "agent restarted %s%s", restarted, how);
        else
            progress(j, host, "agent started%s", how);
        return restarted ? HOST_RESTARTED : HOST_STARTED;
    }
    if (agent_cmd(c, host, bin, "alive", NULL, manifest, NULL) == 0) {
        progress(j, host, "agent not started by this deploy: one was already running for "
                          "this host (it holds the host's lock); left as it is");
        return HOST_RUNNING;
    }
    j->err = err;
    return HOST_FAILED;
}

/* The local transport: this machine's meridian-agent, the state dir's
 * secrets, an agent started detached (run --daemon). */
static host_outcome deploy_host_local(orch_ctx *c, int host, host_job *j)
{
    const mrd_host *h = &c->topo->hosts[host];
    char root[MRD_PATH_MAX], mpath[MRD_PATH_MAX];
    char *want = NULL, *have = NULL;
    host_outcome out = HOST_FAILED;
    mrd_error *err = &j->err;

    if (orch_host_root_ex(c, host, root, sizeof(root), err) != MRD_OK)
        return HOST_FAILED;
    if (mrd_path_fmt(mpath, sizeof(mpath), "%s/manifest.json", root) != MRD_OK) {
        mrd_error_set(err, MRD_ERR_INVALID, "state path too long");
        return HOST_FAILED;
    }
    if (manifest_text(c, host, root, &want, err) != MRD_OK)
        return HOST_FAILED;
    mrd_rc got = tp_get_file(c->tp, h, mpath, &have, NULL);
    bool same = got == MRD_OK && strcmp(have, want) == 0;
    bool alive =
        got == MRD_OK && agent_cmd(c, host, c->agent_bin, "alive", NULL, mpath, NULL) == 0;
    if (same && alive) {
        progress(j, host, "agent running, manifest unchanged");
        out = HOST_UNCHANGED;
        goto done;
    }
    if (tp_mkdir_p(c->tp, h, root, 0700, err) != MRD_OK)
        goto done;
    if (!same) {
        if (tp_put_file(c->tp, h, mpath, want, strlen(want), 0600, err) != MRD_OK)
            goto done;
        progress(j, host, "manifest %s", got == MRD_OK ? "updated" : "written");
    }
    if (alive) {
        /* A changed manifest: restart the agent only; its nodes keep running. */
        if (agent_cmd(c, host, c->agent_bin, "stop", "--agent-only", mpath, err) != 0)
            goto done;
    }
    out = start_agent(c, host, c->agent_bin, mpath, alive ? "with the new manifest" : NULL,
                      "", j);
done:
    free(want);
    free(have);
    return out;
}

/* ==== remote hosts: preparation ==== */

#define REDIS_MIN_MAJOR 7           /* Redis 7.0: REPLCONF rdb-only, ACL selectors */
#define INSTALL_TIMEOUT_MS 600000   /* apt-get update + install */
#define AGENT_ANSWER_TIMEOUT_MS 20000 /* a started agent answers /v1/health */
#define AGENT_ANSWER_POLL_MS 20

/* Paths of one remote host. */
typedef struct remote_paths {
    char root[MRD_PATH_MAX];
    char manifest[MRD_PATH_MAX];
    char bin_dir[MRD_PATH_MAX];
    char bin[MRD_PATH_MAX];      /* ROOT/bin/meridian-agent */
    char stamp[MRD_PATH_MAX];    /* ROOT/bin/meridian-agent.stamp */
    char secrets[MRD_PATH_MAX];  /* ROOT/secrets */
    char log[MRD_PATH_MAX];
    char unit[MRD_PATH_MAX];     /* /etc/systemd/system/meridian-T-H.service */
    char unit_name[160];
} remote_paths;

static mrd_rc remote_paths_get(orch_ctx *c, int host, remote_paths *p, mrd_error *err)
{
    MRD_TRY(orch_host_root_ex(c, host, p->root, sizeof(p->root), err));
    snprintf(p->unit_name, sizeof(p->unit_name), "meridian-%s-%s.service", c->topo->name,
             c->topo->hosts[host].name);
    if (mrd_path_fmt(p->manifest, sizeof(p->manifest), "%s/manifest.json", p->root) ||
        mrd_path_fmt(p->bin_dir, sizeof(p->bin_dir), "%s/bin", p->root) ||
        host_agent_bin(c, p->root, p->bin, sizeof(p->bin)) ||
        mrd_path_fmt(p->stamp, sizeof(p->stamp), "%s.stamp", p->bin) ||
        host_secrets_dir(c, p->root, p->secrets, sizeof(p->secrets)) ||
        mrd_path_fmt(p->log, sizeof(p->log), "%s/agent.log", p->root) ||
        mrd_path_fmt(p->unit, sizeof(p->unit), "/etc/systemd/system/%s", p->unit_name))
        return mrd_error_set(err, MRD_ERR_INVALID, "host root %s is too long", p->root);
    return MRD_OK;
}

/* "SIZE FNV1A64\n" of DATA: cheap, and enough to tell two builds apart. */
static void binary_stamp(const char *data, size_t len, char *buf, size_t n)
{
    unsigned long long h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)data[i]) * 1099511628211ULL;
    snprintf(buf, n, "%zu %016llx\n", len, h);
}

/* One remote command answers for both programs: each must be on PATH
 * ("missing PROG" otherwise); redis-server prints its version, and so
 * does redis-sentinel unless both are the same binary (Debian links both
 * to redis-check-rdb), which saves starting Redis twice. */
static const char REDIS_PROBE[] =
    "for p in redis-server redis-sentinel; do "
    "command -v \"$p\" >/dev/null || { echo \"missing $p\"; exit 3; }; done; "
    "s=$(command -v redis-server); t=$(command -v redis-sentinel); "
    "\"$s\" --version || exit 4; "
    "if [ \"$(readlink -f \"$s\")\" = \"$(readlink -f \"$t\")\" ]; then echo same binary; "
    "else \"$t\" --version; fi";

/* "7.0.15" and the major version from the " v=" of TEXT; NULL when none. */
static const char *parse_redis_version(const char *text, char *ver, size_t n, int *major)
{
    const char *v = text ? strstr(text, " v=") : NULL;
    int minor = 0, patch = 0;
    if (!v || sscanf(v, " v=%d.%d.%d", major, &minor, &patch) < 2)
        return NULL;
    snprintf(ver, n, "%d.%d.%d", *major, minor, patch);
    return v + 3;
}

/* Versions of redis-server and redis-sentinel on the host; MRD_ERR_NOT_FOUND
 * when one is not installed (ERR says which). */
static mrd_rc redis_versions(orch_ctx *c, int host, char ver[2][32], int major[2],
                             mrd_error *err)
{
    const char *argv[] = {"sh", "-c", REDIS_PROBE, NULL};
    tp_result res;
    MRD_TRY(tp_exec(c->tp, &c->topo->hosts[host], argv, &res, err));
    mrd_rc rc = MRD_OK;
    const char *missing = strstr(res.out, "missing ");
    const char *rest = NULL;
    if (missing) {
        char prog[40];
        snprintf(prog, sizeof(prog), "%.*s", (int)strcspn(missing + 8, "\n"), missing + 8);
        rc = mrd_error_set(err, MRD_ERR_NOT_FOUND, "%s is not installed (not on PATH)", prog);
    } else if (!(rest = parse_redis_version(res.out, ver[0], sizeof(ver[0]), &major[0]))) {
        char line[200];
        last_line(res.err[0] ? res.err : res.out, line, sizeof(line));
        rc = mrd_error_set(err, MRD_ERR_NOT_FOUND, "redis-server does not run (%s)",
                           line[0] ? line : "no version");
    } else if (strstr(rest, "same binary")) {
        memcpy(ver[1], ver[0], sizeof(ver[1]));
        major[1] = major[0];
    } else if (!parse_redis_version(rest, ver[1], sizeof(ver[1]), &major[1])) {
        rc = mrd_error_set(err, MRD_ERR_NOT_FOUND, "redis-sentinel does not run");
    }
    tp_result_free(&res);
    return rc;
}

/* apt-get install the store's packages (and the agent's libraries). */
static mrd_rc install_packages(orch_ctx *c, int host, host_job *j)
{
    const mrd_host *h = &c->topo->hosts[host];
    bool root = strcmp(c->topo->transport.user, "root") == 0;
    /* Debian 12 names; the agent binary needs the three libraries. */
    const char *update[] = {"sudo", "-n", "env", "DEBIAN_FRONTEND=noninteractive",
                            "apt-get", "update", "-q", NULL};
    const char *install[] = {"sudo", "-n", "env", "DEBIAN_FRONTEND=noninteractive",
                             "apt-get", "install", "-y", "-q", "--no-install-recommends",
                             "redis-server", "redis-sentinel", "libhiredis0.14",
                             "libjansson4", "libmicrohttpd12", NULL};
    const char *const *steps[] = {update + (root ? 2 : 0), install + (root ? 2 : 0)};
    progress(j, host, "installing redis-server and redis-sentinel with apt-get%s",
             root ? "" : " (sudo -n)");
    for (int i = 0; i < 2; i++) {
        tp_result res;
        MRD_TRY(c->tp->ops->exec(c->tp, h, steps[i], NULL, 0, INSTALL_TIMEOUT_MS, &res,
                                 &j->err));
        if (res.status != 0) {
            cmd_failed(&j->err, i == 0 ? "apt-get update" : "apt-get install", &res);
            tp_result_free(&res);
            return j->err.code;
        }
        tp_result_free(&res);
    }
    return MRD_OK;
}

/* redis-server and redis-sentinel of a supported version, installed when
 * missing and the operator allowed it. */
static mrd_rc check_redis(orch_ctx *c, int host, host_job *j)
{
    static const char *const progs[] = {"redis-server", "redis-sentinel"};
    char ver[2][32];
    for (int attempt = 0;; attempt++) {
        int major[2] = {0, 0};
        mrd_rc rc = redis_versions(c, host, ver, major, &j->err);
        for (int i = 0; i < 2 && rc == MRD_OK; i++)
            if (major[i] < REDIS_MIN_MAJOR)
                rc = mrd_error_set(&j->err, MRD_ERR_NOT_FOUND, "%s %s is too old", progs[i],
                                   ver[i]);
        if (rc == MRD_OK) {
            progress(j, host, "redis-server %s, redis-sentinel %s", ver[0], ver[1]);
            return MRD_OK;
        }
        if (rc != MRD_ERR_NOT_FOUND)
            return rc;
        if (!j->sh->install_packages || attempt > 0) {
            char why[sizeof(j->err.msg)];
            snprintf(why, sizeof(why), "%s", j->err.msg);
            return mrd_error_set(&j->err, MRD_ERR_NOT_FOUND,
                                 "%s: install redis-server and redis-sentinel %d.0 or later "
                                 "(Debian 12: apt-get install redis-server redis-sentinel), "
                                 "or pass --install-packages",
                                 why, REDIS_MIN_MAJOR);
        }
        MRD_TRY(install_packages(c, host, j));
    }
}

/* Copy every secret the agent needs into the host's own secrets folder,
 * those that differ; *written says how many.  FRESH (the host has no
 * manifest yet): write them without reading first, which saves a round
 * trip per secret on a first deploy. */
static mrd_rc put_secrets(orch_ctx *c, int host, const remote_paths *p, bool fresh,
                          int *written, mrd_error *err)
{
    static const char *const names[] = {"admin", "replication", "sentinel", "app",
                                        "agent.token"};
    const mrd_host *h = &c->topo->hosts[host];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char src[MRD_PATH_MAX], dst[MRD_PATH_MAX], *text = NULL;
        size_t len = 0;
        if (manifest_secret_path(c->secrets_dir, names[i], src, sizeof(src)) != MRD_OK ||
            manifest_secret_path(p->secrets, names[i], dst, sizeof(dst)) != MRD_OK)
            return mrd_error_set(err, MRD_ERR_INVALID, "secrets path too long");
        MRD_TRY(mrd_read_file(src, 4096, &text, &len, err));
        char *have = NULL;
        mrd_rc rc = MRD_OK;
        bool same = !fresh && tp_get_file(c->tp, h, dst, &have, NULL) == MRD_OK &&
                    strlen(have) == len && memcmp(have, text, len) == 0;
        if (!same) {
            rc = tp_put_file(c->tp, h, dst, text, len, 0600, err);
            *written += rc == MRD_OK;
        }
        if (have)
            memset(have, 0, strlen(have));
        free(have);
        memset(text, 0, len);
        free(text);
        MRD_TRY(rc);
    }
    return MRD_OK;
}

/* Lines of the user's crontab except meridian's entry for MANIFEST, plus
 * ENTRY when it is not NULL; run `crontab -` with the result. */
static mrd_rc crontab_update(orch_ctx *c, int host, const char *manifest, const char *entry,
                             mrd_error *err)
{
    const mrd_host *h = &c->topo->hosts[host];
    const char *list[] = {"crontab", "-l", NULL};
    tp_result res;
    MRD_TRY(tp_exec(c->tp, h, list, &res, err));
    if (res.status == 127) {
        tp_result_free(&res);
        return mrd_error_set(err, MRD_ERR_NOT_FOUND, "crontab is not installed");
    }
    size_t cap = (res.status == 0 ? res.out_len : 0) + (entry ? strlen(entry) : 0) + 2;
    char *text = calloc(1, cap), *w = text;
    if (!text) {
        tp_result_free(&res);
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    /* "no crontab for USER" (status 1) is an empty crontab */
    for (char *line = res.status == 0 ? res.out : NULL, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        size_t len = next ? (size_t)(next - line) + 1 : strlen(line);
        next = next ? next + 1 : NULL;
        if (memmem(line, len, manifest, strlen(manifest)) == NULL) {
            memcpy(w, line, len);
            w += len;
            if (line[len - 1] != '\n')
                *w++ = '\n';
        }
    }
    tp_result_free(&res);
    if (entry)
        w += snprintf(w, cap - (size_t)(w - text), "%s", entry);
    const char *install[] = {"crontab", "-", NULL};
    mrd_rc rc = c->tp->ops->exec(c->tp, h, install, text, (size_t)(w - text), 0, &res, err);
    free(text);
    if (rc == MRD_OK && res.status != 0)
        rc = cmd_failed(err, "crontab -", &res);
    tp_result_free(&res);
    return rc;
}

/* The cron entry of the rendered template: its command lines, preceded
 * by one comment naming the manifest (so the next deploy finds it). */
static mrd_rc cron_entry(orch_ctx *c, int host, const remote_paths *p, char **out,
                         mrd_error *err)
{
    mrd_vars *v = vars_new();
    char *text = NULL;
    *out = NULL;
    if (!v)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    mrd_rc rc = vars_set(v, "agent_bin", p->bin);
    if (rc == MRD_OK)
        rc = vars_set(v, "manifest", p->manifest);
    if (rc == MRD_OK)
        rc = vars_set(v, "root", p->root);
    if (rc == MRD_OK)
        rc = tpl_render_builtin("meridian-agent.cron", v, &text, err);
    vars_free(&v);
    if (rc != MRD_OK)
        return err && err->code ? rc : mrd_error_set(err, rc, "cannot render the cron entry");
    size_t cap = strlen(text) + strlen(p->manifest) + 128;
    char *entry = malloc(cap);
    if (!entry) {
        free(text);
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    int w = snprintf(entry, cap, "# meridian %s/%s (managed by meridian deploy): %s\n",
                     c->topo->name, c->topo->hosts[host].name, p->manifest);
    /* keep the non-comment lines of the template */
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (line[0] && line[0] != '#')
            w += snprintf(entry + w, cap - (size_t)w, "%s\n", line);
    }
    free(text);
    *out = entry;
    return MRD_OK;
}

/* Install the systemd unit (as root) and the cron entry, then (re)start
 * the agent through systemd. */
static mrd_rc start_systemd(orch_ctx *c, int host, const remote_paths *p, host_job *j)
{
    const mrd_host *h = &c->topo->hosts[host];
    mrd_error *err = &j->err;
    mrd_vars *v = vars_new();
    char *unit = NULL;
    if (!v)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    mrd_rc rc = vars_set(v, "user", c->topo->transport.user);
    if (rc == MRD_OK)
        rc = vars_set(v, "agent_bin", p->bin);
    if (rc == MRD_OK)
        rc = vars_set(v, "manifest", p->manifest);
    if (rc == MRD_OK)
        rc = vars_set(v, "root", p->root);
    if (rc == MRD_OK)
        rc = vars_set(v, "secrets_dir", p->secrets);
    if (rc == MRD_OK)
        rc = tpl_render_builtin("meridian-agent.service", v, &unit, err);
    vars_free(&v);
    if (rc != MRD_OK)
        return err->code ? rc : mrd_error_set(err, rc, "cannot render the systemd unit");
    rc = tp_put_file(c->tp, h, p->unit, unit, strlen(unit), 0644, err);
    free(unit);
    MRD_TRY(rc);
    const char *reload[] = {"systemctl", "daemon-reload", NULL};
    const char *enable[] = {"systemctl", "enable", "--quiet", p->unit_name, NULL};
    const char *restart[] = {"systemctl", "restart", p->unit_name, NULL};
    const char *const *steps[] = {reload, enable, restart};
    for (int i = 0; i < 3; i++) {
        tp_result res;
        MRD_TRY(tp_exec(c->tp, h, steps[i], &res, err));
        if (res.status != 0) {
            char what[200];
            snprintf(what, sizeof(what), "systemctl %s", steps[i][1]);
            rc = cmd_failed(err, what, &res);
        }
        tp_result_free(&res);
        MRD_TRY(rc);
    }
    progress(j, host, "systemd unit %s installed and started", p->unit_name);
    return MRD_OK;
}

/* ==== the agent of one host, for other commands (drills) ==== */

mrd_rc deploy_agent_exec(orch_ctx *c, int host, const char *const *args, tp_result *res,
                         mrd_error *err)
{
    char root[MRD_PATH_MAX], bin[MRD_PATH_MAX], manifest[MRD_PATH_MAX];
    const char *argv[16];
    int n = 0;
    MRD_TRY(orch_host_root_ex(c, host, root, sizeof(root), err));
    if (host_agent_bin(c, root, bin, sizeof(bin)) != MRD_OK ||
        mrd_path_fmt(manifest, sizeof(manifest), "%s/manifest.json", root) != MRD_OK)
        return mrd_error_set(err, MRD_ERR_INVALID, "host root %s is too long", root);
    argv[n++] = bin;
    for (int i = 0; args[i] && n < 12; i++)
        argv[n++] = args[i];
    argv[n++] = "--manifest";
    argv[n++] = manifest;
    argv[n] = NULL;
    return tp_exec(c->tp, &c->topo->hosts[host], argv, res, err);
}

/* Does deploy run host H's agent under systemd?  It does for a root login
 * on a host that runs systemd, where it installed the unit. */
static bool agent_under_systemd(orch_ctx *c, int host, const remote_paths *p)
{
    tp_filestat st;
    const mrd_host *h = &c->topo->hosts[host];
    return remote(c) && strcmp(c->topo->transport.user, "root") == 0 &&
           tp_stat(c->tp, h, "/run/systemd/system", &st, NULL) == MRD_OK && st.is_dir &&
           tp_stat(c->tp, h, p->unit, &st, NULL) == MRD_OK;
}

/* `systemctl VERB UNIT` on host H. */
static mrd_rc systemctl(orch_ctx *c, int host, const char *verb, const char *unit,
                        mrd_error *err)
{
    const char *argv[] = {"systemctl", verb, unit, NULL};
    tp_result res;
    MRD_TRY(tp_exec(c->tp, &c->topo->hosts[host], argv, &res, err));
    char what[200];
    snprintf(what, sizeof(what), "systemctl %s %s", verb, unit);
    mrd_rc rc = res.status == 0 ? MRD_OK : cmd_failed(err, what, &res);
    tp_result_free(&res);
    return rc;
}

mrd_rc deploy_agent_halt(orch_ctx *c, int host, char *how, size_t n, mrd_error *err)
{
    remote_paths p;
    MRD_TRY(remote_paths_get(c, host, &p, err));
    if (agent_under_systemd(c, host, &p)) {
        /* SIGKILL would have systemd start it again 2 s later */
        MRD_TRY(systemctl(c, host, "stop", p.unit_name, err));
        snprintf(how, n, "stopped %s (systemd)", p.unit_name);
        return MRD_OK;
    }
    const char *args[] = {"fault", "--kill", "agent", NULL};
    tp_result res;
    MRD_TRY(deploy_agent_exec(c, host, args, &res, err));
    mrd_rc rc = MRD_OK;
    if (res.status == 0)
        snprintf(how, n, "%.*s", (int)strcspn(res.out, "\n"), res.out);
    else
        rc = cmd_failed(err, "meridian-agent fault --kill agent", &res);
    tp_result_free(&res);
    return rc;
}

/* `meridian-agent run --daemon` on host H: the agent's own verdict. */
static mrd_rc run_daemon(orch_ctx *c, int host, mrd_error *err)
{
    const char *args[] = {"run", "--daemon", NULL};
    tp_result res;
    MRD_TRY(deploy_agent_exec(c, host, args, &res, err));
    mrd_rc rc = res.status == 0 ? MRD_OK : cmd_failed(err, "meridian-agent run", &res);
    tp_result_free(&res);
    return rc;
}

mrd_rc deploy_agent_start(orch_ctx *c, int host, mrd_error *err)
{
    remote_paths p;
    MRD_TRY(remote_paths_get(c, host, &p, err));
    if (agent_under_systemd(c, host, &p))
        return systemctl(c, host, "start", p.unit_name, err);
    return run_daemon(c, host, err);
}

/* Wait until every agent started on a host answers GET
 * /v1/health (ready or not), all hosts at once: an agent answers only
 * once its nodes run, and a sentinel host's agent first waits a little
 * for its peers, so waiting host by host would serialise those waits.  A
 * host whose agent does not answer in time is failed, with the last line
 * of its log. */
static void wait_agents_answer(orch_ctx *c, host_job *jobs)
{
    const mrd_topology *t = c->topo;
    int n = t->nhosts, pending = 0;
    agent_target *targets = calloc((size_t)n, sizeof(*targets));
    agent_result *res = calloc((size_t)n, sizeof(*res));
    int *idx = calloc((size_t)n, sizeof(*idx));
    if (!targets || !res || !idx)
        goto out;
    agent_timeouts to = {.request_ms = AGENT_HEALTH_TIMEOUT_MS,
                         .connect_ms = AGENT_CONNECT_TIMEOUT_MS};
    long long start = mrd_now_ms();
    for (;;) {
        pending = 0;
        for (int i = 0; i < n; i++)
            if (jobs[i].outcome == HOST_STARTED || jobs[i].outcome == HOST_RESTARTED ||
                jobs[i].outcome == HOST_RUNNING) {
                if (jobs[i].answered)
                    continue;
                targets[pending] = (agent_target){.host = t->hosts[i].name,
                                                  .address = t->hosts[i].address,
                                                  .port = t->settings.agent.port};
                idx[pending++] = i;
            }
        if (pending == 0 || mrd_now_ms() - start >= AGENT_ANSWER_TIMEOUT_MS)
            break;
        mrd_error err;
        if (agent_client_default()->health_all(targets, pending, &to, res, &err) != MRD_OK)
            break;
        for (int k = 0; k < pending; k++) {
            host_job *j = &jobs[idx[k]];
            if (res[k].http_status > 0) {
                j->answered = true;
                progress(j, idx[k], "agent answers http://%s:%d/v1/health (%s) %.2f s after "
                                    "the deploy started",
                         targets[k].address, targets[k].port,
                         res[k].http_status == 200 ? "ready" : "starting its nodes",
                         (double)(mrd_now_ms() - j->t0) / 1000.0);
            } else {
                snprintf(j->err.msg, sizeof(j->err.msg), "%s", res[k].error);
            }
            json_decref(res[k].body);
        }
        mrd_sleep_ms(AGENT_ANSWER_POLL_MS);
    }
    for (int k = 0; k < pending; k++) {
        host_job *j = &jobs[idx[k]];
        remote_paths p;
        char *log = NULL, line[300] = "", last[sizeof(j->err.msg)];
        snprintf(last, sizeof(last), "%s", j->err.msg);
        mrd_error perr;
        if (remote_paths_get(c, idx[k], &p, &perr) == MRD_OK &&
            tp_get_file(c->tp, &t->hosts[idx[k]], p.log, &log, NULL) == MRD_OK)
            last_line(log, line, sizeof(line));
        free(log);
        mrd_error_set(&j->err, MRD_ERR_TIMEOUT,
                      "the agent did not answer within %d s (%s); last line of its log: %s",
                      AGENT_ANSWER_TIMEOUT_MS / 1000, last, line[0] ? line : "(empty)");
        j->outcome = HOST_FAILED;
        progress(j, idx[k], "FAILED: %s", j->err.msg);
    }
out:
    free(targets);
    free(res);
    free(idx);
}

/* A remote host: connect, check Redis, put the agent, its secrets and
 * its manifest on the host, start the agent, see it answer. */
static host_outcome deploy_host_remote(orch_ctx *c, int host, host_job *j)
{
    const mrd_host *h = &c->topo->hosts[host];
    mrd_error *err = &j->err;
    remote_paths p;
    char *want = NULL, *have = NULL, *stamp = NULL;
    host_outcome out = HOST_FAILED;
    char desc[400];

    if (tp_connect(c->tp, h, err) != MRD_OK)
        return HOST_FAILED;
    c->tp->ops->describe(c->tp, h, desc, sizeof(desc));
    progress(j, host, "connected: %s", desc);
    if (remote_paths_get(c, host, &p, err) != MRD_OK ||
        manifest_text(c, host, p.root, &want, err) != MRD_OK)
        return HOST_FAILED;
    mrd_rc got = tp_get_file(c->tp, h, p.manifest, &have, NULL);
    bool same = got == MRD_OK && strcmp(have, want) == 0;
    bool bin_same = tp_get_file(c->tp, h, p.stamp, &stamp, NULL) == MRD_OK &&
                    strcmp(stamp, j->sh->agent_stamp) == 0;
    bool alive = got == MRD_OK && agent_cmd(c, host, p.bin, "alive", NULL, p.manifest, NULL) == 0;
    if (same && bin_same && alive) {
        progress(j, host, "agent running, manifest and agent unchanged");
        out = HOST_UNCHANGED;
        goto done;
    }
    if (check_redis(c, host, j) != MRD_OK)
        goto done;
    if (tp_mkdir_p(c->tp, h, p.root, 0700, err) != MRD_OK ||
        tp_mkdir_p(c->tp, h, p.bin_dir, 0700, err) != MRD_OK ||
        tp_mkdir_p(c->tp, h, p.secrets, 0700, err) != MRD_OK)
        goto done;
    if (!bin_same) {
        if (tp_put_file(c->tp, h, p.bin, j->sh->agent, j->sh->agent_len, 0755, err) != MRD_OK ||
            tp_put_file(c->tp, h, p.stamp, j->sh->agent_stamp, strlen(j->sh->agent_stamp),
                        0644, err) != MRD_OK)
            goto done;
        progress(j, host, "meridian-agent uploaded to %s (%zu kB, mode 0755)", p.bin,
                 j->sh->agent_len / 1024);
    }
    int written = 0;
    if (put_secrets(c, host, &p, got == MRD_ERR_NOT_FOUND, &written, err) != MRD_OK)
        goto done;
    if (written)
        progress(j, host, "secrets copied to %s (%d files, mode 0600)", p.secrets, written);
    if (!same) {
        if (tp_put_file(c->tp, h, p.manifest, want, strlen(want), 0600, err) != MRD_OK)
            goto done;
        progress(j, host, "manifest %s (mode 0600)", got == MRD_OK ? "updated" : "written");
    }
    if (alive && agent_cmd(c, host, p.bin, "stop", "--agent-only", p.manifest, err) != 0)
        goto done;
    tp_filestat st;
    bool systemd = tp_stat(c->tp, h, "/run/systemd/system", &st, NULL) == MRD_OK && st.is_dir;
    /* systemctl restart always (re)starts it */
    host_outcome started = alive ? HOST_RESTARTED : HOST_STARTED;
    if (systemd && strcmp(c->topo->transport.user, "root") == 0) {
        if (start_systemd(c, host, &p, j) != MRD_OK)
            goto done;
    } else {
        started = start_agent(c, host, p.bin, p.manifest,
                              !alive ? NULL
                              : !same ? "with the new manifest"
                                      : "with the new meridian-agent",
                              systemd ? " (not root: no systemd unit, started directly)"
                                      : " (no systemd on the host: started directly, detached)",
                              j);
        if (started == HOST_FAILED)
            goto done;
    }
    if (systemd) {
        char *entry = NULL;
        mrd_error cerr;
        if (cron_entry(c, host, &p, &entry, &cerr) != MRD_OK ||
            crontab_update(c, host, p.manifest, entry, &cerr) != MRD_OK)
            progress(j, host, "warning: cron entry not installed: %s", cerr.msg);
        else
            progress(j, host, "cron entry installed: meridian-agent check --heal every minute");
        free(entry);
    }
    out = started; /* answers: wait_agents_answer() */
done:
    free(want);
    free(have);
    free(stamp);
    return out;
}

static host_outcome deploy_host(orch_ctx *c, int host, host_job *j)
{
    host_outcome out = remote(c) ? deploy_host_remote(c, host, j) : deploy_host_local(c, host, j);
    if (out == HOST_FAILED) {
        char buf[600];
        if (j->err.code == MRD_OK)
            mrd_error_set(&j->err, MRD_ERR_STATE, "failed (no detail)");
        mrd_error_format(&j->err, buf, sizeof(buf));
        progress(j, host, "FAILED: %s", buf);
    }
    return out;
}

typedef struct pool {
    orch_ctx *c;
    host_job *jobs;
    host_outcome (*fn)(orch_ctx *c, int host, host_job *j);
    atomic_int next;
} pool;

static void *pool_worker(void *arg)
{
    pool *p = arg;
    int i;
    while ((i = atomic_fetch_add(&p->next, 1)) < p->c->topo->nhosts)
        p->jobs[i].outcome = p->fn(p->c, i, &p->jobs[i]);
    return NULL;
}

/* Run FN for every host, PARALLEL at a time. */
static void run_hosts(orch_ctx *c, host_job *jobs, int parallel,
                      host_outcome (*fn)(orch_ctx *c, int host, host_job *j))
{
    int n = c->topo->nhosts;
    if (parallel <= 0 || parallel > n)
        parallel = n;
    pool p = {.c = c, .jobs = jobs, .fn = fn};
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

/* Healthy as status judges it, and every agent says its node is ready:
 * "deployed and verified" must not be followed by a status that shows an
 * agent still reporting a replica as syncing.  Otherwise *summary says
 * which agent is not ready yet. */
static st_health verified(const orch_ctx *c, st_report *r)
{
    if (r->health != ST_OK)
        return r->health;
    for (int i = 0; i < c->topo->nhosts; i++) {
        const st_node *n = &r->nodes[i];
        if (n->ready == 1)
            continue;
        snprintf(r->summary, sizeof(r->summary), "healthy; waiting for the agent on %s: %s",
                 c->topo->hosts[i].name,
                 n->ready == 0 ? (n->ready_reason[0] ? n->ready_reason : "not ready")
                               : n->ready_reason[0] ? n->ready_reason : "no answer");
        return ST_WARNING;
    }
    return ST_OK;
}

/* Poll status (the agents' readiness included) until verified or the
 * deadline; print what is still pending whenever it changes. */
static st_health verify(orch_ctx *c, int timeout_ms, FILE *out, bool *first_ok)
{
    long long start = mrd_now_ms(), deadline = start + timeout_ms;
    char last[256] = "";
    st_health health = ST_UNKNOWN;
    status_opts opts = {.timeout_ms = STATUS_PROBE_TIMEOUT_MS, .ask_agents = true};
    for (int round = 0;; round++) {
        st_report *r = NULL;
        mrd_error err;
        if (status_probe_ex(c, &opts, &r, &err) == MRD_OK) {
            health = verified(c, r);
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

/* What this run did to the agents, e.g. "6 agents started" or "1 agent
 * started, 5 unchanged". */
static void outcomes_summary(const host_job *jobs, int n, char *buf, size_t len)
{
    static const struct {
        host_outcome o;
        const char *what;
    } kinds[] = {
        {HOST_STARTED, "started"},
        {HOST_RESTARTED, "restarted"},
        {HOST_RUNNING, "found running"},
        {HOST_UNCHANGED, "unchanged"},
        {HOST_FAILED, "failed"},
    };
    size_t used = 0;
    buf[0] = '\0';
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        int count = 0;
        for (int i = 0; i < n; i++)
            count += jobs[i].outcome == kinds[k].o;
        if (count == 0)
            continue;
        int w = snprintf(buf + used, len - used, "%s%d%s %s", used ? ", " : "", count,
                         used ? "" : count == 1 ? " agent" : " agents", kinds[k].what);
        if (w < 0 || (size_t)w >= len - used)
            break;
        used += (size_t)w;
    }
}

/* "ssh: 6 connections to 6 hosts (1 per host)" */
static void print_connections(orch_ctx *c, FILE *out)
{
    if (!out || !remote(c))
        return;
    int total = 0, most = 0;
    for (int i = 0; i < c->topo->nhosts; i++) {
        int n = c->tp->ops->connections(c->tp, &c->topo->hosts[i]);
        total += n;
        most = n > most ? n : most;
    }
    fprintf(out, "  %-12s %d connections to %d hosts (at most %d per host)\n",
            c->tp->ops->name, total, c->topo->nhosts, most);
}

/* ==== the state dir's lock ==== */

/* Take the state dir's lock for WHAT ("deploy", "destroy"), so that
 * deploys and destroys of one state dir run one at a time: a second one
 * says on OUT that it waits, waits up to WAIT_MS, then gives up with a
 * sentence on stderr.  CREATE: make the state dir (0700) first;
 * a destroy that removed it while we waited makes us make it again.  The
 * lock is an flock on the folder: the kernel drops it when we exit, kill
 * -9 included.  Returns 0 with *l held; DEPLOY_EXIT_BUSY when another one
 * held it all along; -1 when the state dir does not exist (only without
 * CREATE); 2 on any other error (said on stderr). */
static int state_lock(orch_ctx *c, const char *what, bool create, int wait_ms, FILE *out,
                      mrd_lock **l)
{
    mrd_error err;
    mrd_lock_holder who = {0};
    mrd_rc rc = MRD_ERR_NOT_FOUND;
    bool said = false;
    for (int attempt = 0; attempt < 3 && rc == MRD_ERR_NOT_FOUND; attempt++) {
        mrd_error_clear(&err);
        if (create && mrd_mkdir_p(c->state_dir, 0700, &err) != MRD_OK) {
            rc = err.code;
            break;
        }
        rc = mrd_lock_take(c->state_dir, DEPLOY_LOCK_RECORD, what, 0, l, &who, &err);
        if (rc == MRD_ERR_TIMEOUT) {
            if (out && !said) {
                char pid[32] = "pid unknown";
                if (who.pid > 0)
                    snprintf(pid, sizeof(pid), "pid %d", (int)who.pid);
                fprintf(out, "waiting for another %s of %s (%s) to finish, at most %.0f s\n",
                        who.what[0] ? who.what : "deploy or destroy", c->topo->name, pid,
                        wait_ms / 1000.0);
                fflush(out);
                said = true;
            }
            rc = mrd_lock_take(c->state_dir, DEPLOY_LOCK_RECORD, what, wait_ms, l, &who,
                               &err);
        }
        if (rc == MRD_ERR_NOT_FOUND && !create)
            return -1;
    }
    if (rc == MRD_OK)
        return 0;
    if (rc == MRD_ERR_TIMEOUT) {
        char pid[32] = "pid unknown";
        if (who.pid > 0)
            snprintf(pid, sizeof(pid), "pid %d", (int)who.pid);
        fprintf(stderr,
                "meridian: another %s of %s is running (%s, state %s); waited %.0f s for "
                "it. Run %s again once it has finished.\n",
                who.what[0] ? who.what : "deploy or destroy", c->topo->name, pid,
                c->state_dir, wait_ms / 1000.0, what);
        return DEPLOY_EXIT_BUSY;
    }
    char buf[600];
    mrd_error_format(&err, buf, sizeof(buf));
    fprintf(stderr, "meridian: cannot lock the state dir: %s\n", buf);
    return 2;
}

static int deploy_locked(orch_ctx *c, const deploy_opts *o)
{
    FILE *out = o->progress;
    long long t0 = mrd_now_ms();
    mrd_error err;
    deploy_shared sh = {.install_packages = c->opts.install_packages};
    if (out) {
        if (remote(c))
            fprintf(out, "deploy %s: %d hosts over %s as %s (port %d), host roots %s/hosts/HOST, "
                         "credentials in %s\n",
                    c->topo->name, c->topo->nhosts, c->tp->ops->name, c->topo->transport.user,
                    c->topo->transport.port, c->remote_root, c->state_dir);
        else
            fprintf(out, "deploy %s: %d hosts, state %s\n", c->topo->name, c->topo->nhosts,
                    c->state_dir);
    }
    mrd_rc rc = ensure_secrets(c, out, &err);
    int pinned = 0; /* settings that need a restart: kept as they run */
    mrd_settings before;  /* what the deployment ran with */
    bool have_before = false;
    if (rc == MRD_OK)
        rc = reconcile_pin(c, out, &pinned, &before, &have_before, &err);
    if (rc == MRD_OK && remote(c)) {
        rc = mrd_read_file(c->agent_bin, 256u << 20, &sh.agent, &sh.agent_len, &err);
        if (rc == MRD_OK)
            binary_stamp(sh.agent, sh.agent_len, sh.agent_stamp, sizeof(sh.agent_stamp));
    }
    if (rc != MRD_OK) {
        char buf[600];
        mrd_error_format(&err, buf, sizeof(buf));
        fprintf(stderr, "meridian: %s\n", buf);
        free(sh.agent);
        return 2;
    }
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    host_job *jobs = calloc((size_t)c->topo->nhosts, sizeof(*jobs));
    if (!jobs) {
        free(sh.agent);
        return 2;
    }
    for (int i = 0; i < c->topo->nhosts; i++)
        jobs[i] = (host_job){.c = c, .sh = &sh, .progress = out, .lock = &lock, .t0 = t0};
    run_hosts(c, jobs, o->parallel, deploy_host);
    free(sh.agent);
    wait_agents_answer(c, jobs); /* every transport: an operator expects the
                                    agents up (their API) when deploy returns */

    int failed = 0, changed = 0;
    char did[200];
    for (int i = 0; i < c->topo->nhosts; i++) {
        failed += jobs[i].outcome == HOST_FAILED;
        changed += jobs[i].outcome != HOST_UNCHANGED;
    }
    outcomes_summary(jobs, c->topo->nhosts, did, sizeof(did));
    print_connections(c, out);
    if (failed) {
        if (out) {
            if (failed == c->topo->nhosts)
                fprintf(out, "deploy failed: no host was deployed. Fix these and run deploy "
                             "again:\n");
            else
                fprintf(out, "deploy incomplete: %d of %d hosts failed; the others are "
                             "deployed. Fix these and run deploy again:\n",
                        failed, c->topo->nhosts);
            for (int i = 0; i < c->topo->nhosts; i++)
                if (jobs[i].outcome == HOST_FAILED)
                    fprintf(out, "  %-12s %s\n", c->topo->hosts[i].name, jobs[i].err.msg);
        }
        free(jobs);
        return 2;
    }
    free(jobs);
    /* settings that change live: set them on every node and sentinel */
    reconcile_report rr;
    if (reconcile_run(c, true, have_before ? &before : NULL, &rr, &err) != MRD_OK) {
        if (out)
            fprintf(out, "deploy incomplete: could not compare the running settings: %s\n",
                    err.msg);
        return 2;
    }
    if (out)
        reconcile_print(out, c, &rr);
    int live_changes = rr.nchanges, refused = rr.refused;
    reconcile_report_free(&rr);
    if (refused > 0) {
        /* what Redis refused stays as it runs: verification would only wait
         * for a drift that will not go away */
        if (out)
            fprintf(out, "deploy incomplete: %d setting change(s) refused (see above); "
                         "nothing was restarted. Fix the value and deploy again\n",
                    refused);
        return 2;
    }
    bool first_ok = false;
    st_health h = verify(c, o->verify_timeout_ms, out, &first_ok);
    double secs = (double)(mrd_now_ms() - t0) / 1000.0;
    if (h != ST_OK) {
        if (out)
            fprintf(out, "deploy not verified: still %s after %.1f s (see the table above "
                         "and the agent logs under %s/hosts)\n",
                    status_health_name(h), secs, remote(c) ? c->remote_root : c->state_dir);
        return 1;
    }
    if (pinned > 0) {
        if (out)
            fprintf(out, "deployed, but %d setting(s) need a restart and were not applied "
                         "(see above)\n", pinned);
        return 1;
    }
    if (out) {
        if (changed == 0 && live_changes == 0 && first_ok)
            fprintf(out, "no changes: %d hosts already deployed and healthy (%.1f s)\n",
                    c->topo->nhosts, secs);
        else
            fprintf(out, "deployed and verified in %.1f s (%s): leader %s, %d replicas "
                         "linked, %d sentinels agree\n",
                    secs, did, c->topo->hosts[c->plan->leader].name, c->topo->nhosts - 1,
                    c->plan->nsentinels);
    }
    return 0;
}

int deploy_run(orch_ctx *c, const deploy_opts *o)
{
    mrd_lock *l = NULL;
    /* --timeout bounds this wait too, when it is shorter */
    int wait_ms = o->verify_timeout_ms > 0 && o->verify_timeout_ms < DEPLOY_LOCK_WAIT_MS
                      ? o->verify_timeout_ms
                      : DEPLOY_LOCK_WAIT_MS;
    int rc = state_lock(c, "deploy", true, wait_ms, o->progress, &l);
    if (rc != 0)
        return rc;
    rc = deploy_locked(c, o);
    mrd_lock_release(&l);
    return rc;
}

/* ==== destroy ==== */

static void report_pidfile(host_job *j, int host, const char *root, const char *rel)
{
    orch_ctx *c = j->c;
    char path[MRD_PATH_MAX], *text = NULL;
    if (mrd_path_fmt(path, sizeof(path), "%s/%s", root, rel) != MRD_OK)
        return;
    if (tp_get_file(c->tp, &c->topo->hosts[host], path, &text, NULL) == MRD_OK) {
        text[strcspn(text, "\n")] = '\0';
        progress(j, host, "would stop %s (pid %s)", rel, text);
    }
    free(text);
}

/* Stop host H's agent and nodes (the local transport keeps the files
 * for the state dir's removal). */
static host_outcome destroy_host_local(orch_ctx *c, int host, host_job *j)
{
    char root[MRD_PATH_MAX], mpath[MRD_PATH_MAX];
    if (orch_host_root_ex(c, host, root, sizeof(root), &j->err) != MRD_OK ||
        mrd_path_fmt(mpath, sizeof(mpath), "%s/manifest.json", root) != MRD_OK)
        return HOST_FAILED;
    if (!j->yes) {
        report_pidfile(j, host, root, "agent.pid");
        report_pidfile(j, host, root, "redis/redis.pid");
        report_pidfile(j, host, root, "sentinel/sentinel.pid");
        return HOST_UNCHANGED;
    }
    if (!mrd_path_exists(mpath))
        return HOST_UNCHANGED;
    if (agent_cmd(c, host, c->agent_bin, "stop", NULL, mpath, &j->err) != 0) {
        progress(j, host, "FAILED to stop: %s", j->err.msg[0] ? j->err.msg : "see the agent log");
        return HOST_FAILED;
    }
    progress(j, host, "stopped");
    return HOST_STARTED;
}

/* Remote host H: take the agent out of systemd and cron, stop it and its
 * nodes, remove the host's root folder. */
static host_outcome destroy_host_remote(orch_ctx *c, int host, host_job *j)
{
    const mrd_host *h = &c->topo->hosts[host];
    mrd_error *err = &j->err;
    remote_paths p;
    tp_filestat st;
    if (tp_connect(c->tp, h, err) != MRD_OK || remote_paths_get(c, host, &p, err) != MRD_OK)
        goto fail;
    if (!j->yes) {
        report_pidfile(j, host, p.root, "agent.pid");
        report_pidfile(j, host, p.root, "redis/redis.pid");
        report_pidfile(j, host, p.root, "sentinel/sentinel.pid");
        if (tp_stat(c->tp, h, p.root, &st, NULL) == MRD_OK)
            progress(j, host, "would remove %s", p.root);
        return HOST_UNCHANGED;
    }
    if (tp_stat(c->tp, h, p.unit, &st, NULL) == MRD_OK) {
        const char *disable[] = {"systemctl", "disable", "--now", "--quiet", p.unit_name, NULL};
        const char *reload[] = {"systemctl", "daemon-reload", NULL};
        tp_result res;
        if (tp_exec(c->tp, h, disable, &res, err) != MRD_OK)
            goto fail;
        mrd_rc rc = res.status == 0 ? MRD_OK : cmd_failed(err, "systemctl disable", &res);
        tp_result_free(&res);
        if (rc != MRD_OK || tp_remove_tree(c->tp, h, p.unit, err) != MRD_OK ||
            tp_exec(c->tp, h, reload, &res, err) != MRD_OK)
            goto fail;
        tp_result_free(&res);
        progress(j, host, "systemd unit %s removed", p.unit_name);
    }
    if (tp_stat(c->tp, h, "/run/systemd/system", &st, NULL) == MRD_OK) {
        mrd_error cerr;
        if (crontab_update(c, host, p.manifest, NULL, &cerr) != MRD_OK &&
            cerr.code != MRD_ERR_NOT_FOUND)
            progress(j, host, "warning: cron entry not removed: %s", cerr.msg);
    }
    if (tp_stat(c->tp, h, p.manifest, &st, NULL) != MRD_OK) {
        progress(j, host, "nothing deployed in %s", p.root);
        if (tp_stat(c->tp, h, p.root, &st, NULL) == MRD_OK &&
            tp_remove_tree(c->tp, h, p.root, err) != MRD_OK)
            goto fail;
        return HOST_UNCHANGED;
    }
    if (agent_cmd(c, host, p.bin, "stop", NULL, p.manifest, err) != 0)
        goto fail;
    if (tp_remove_tree(c->tp, h, p.root, err) != MRD_OK)
        goto fail;
    progress(j, host, "stopped; %s removed", p.root);
    return HOST_STARTED;
fail:
    progress(j, host, "FAILED: %s", err->msg[0] ? err->msg : "see the agent log");
    return HOST_FAILED;
}

static int destroy_locked(orch_ctx *c, bool yes, bool state, FILE *out);

int destroy_run(orch_ctx *c, bool yes, FILE *out)
{
    bool state = mrd_path_exists(c->state_dir);
    if (!state && !remote(c)) {
        fprintf(out, "nothing to destroy: %s does not exist\n", c->state_dir);
        return 0;
    }
    mrd_lock *l = NULL;
    if (yes && state) {
        int rc = state_lock(c, "destroy", false, DEPLOY_LOCK_WAIT_MS, out, &l);
        if (rc == -1 && !remote(c)) { /* another destroy removed it meanwhile */
            fprintf(out, "nothing to destroy: %s does not exist\n", c->state_dir);
            return 0;
        }
        if (rc > 0) /* busy, or the lock failed (said on stderr) */
            return rc == DEPLOY_EXIT_BUSY ? rc : 1;
        state = rc == 0;
    }
    int rc = destroy_locked(c, yes, state, out);
    mrd_lock_release(&l); /* the folder is gone with it, or kept */
    return rc;
}

/* destroy_run() once it holds the lock; STATE: the state dir exists. */
static int destroy_locked(orch_ctx *c, bool yes, bool state, FILE *out)
{
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    host_job *jobs = calloc((size_t)c->topo->nhosts, sizeof(*jobs));
    if (!jobs)
        return 1;
    for (int i = 0; i < c->topo->nhosts; i++)
        jobs[i] = (host_job){.c = c, .progress = out, .lock = &lock, .yes = yes};
    /* The local transport stops hosts one by one, as it always did; remote
     * hosts are stopped all at once (listed one by one). */
    run_hosts(c, jobs, remote(c) && yes ? 0 : 1,
              remote(c) ? destroy_host_remote : destroy_host_local);
    int failed = 0;
    for (int i = 0; i < c->topo->nhosts; i++)
        failed += jobs[i].outcome == HOST_FAILED;
    free(jobs);
    if (!yes) {
        fprintf(out, "would remove %s\nrun again with --yes to do it\n", c->state_dir);
        return 0;
    }
    if (failed) {
        fprintf(out, "state kept in %s because %d host%s could not be stopped\n", c->state_dir,
                failed, failed == 1 ? "" : "s");
        return 1;
    }
    mrd_error err;
    mrd_error_clear(&err);
    if (state && mrd_rm_rf(c->state_dir, &err) != MRD_OK) {
        /* err says which entries stayed and why (mrd_rm_rf) */
        fprintf(out, "destroy incomplete: every process of %s is stopped, but %s is not "
                     "removed: %s\nWhat is left may hold passwords: remove it by hand, or fix "
                     "what stops the removal and run destroy again.\n",
                c->topo->name, c->state_dir, err.msg);
        return 1;
    }
    fprintf(out, "destroyed %s: every process stopped, %s removed\n", c->topo->name,
            remote(c) ? "host roots and credentials" : c->state_dir);
    return 0;
}

/* ==== heal over ssh ==== */

typedef struct heal_job {
    orch_ctx *c;
    int host;
    agent_result *res;
    FILE *diag;
    pthread_mutex_t *lock;
    bool done;
} heal_job;

/* Run `meridian-agent check --heal --json` on the host over the transport
 * and take its report as the agent's answer. */
static void *heal_over_transport(void *arg)
{
    heal_job *hj = arg;
    orch_ctx *c = hj->c;
    const mrd_host *h = &c->topo->hosts[hj->host];
    agent_result *r = hj->res;
    remote_paths p;
    mrd_error err;
    mrd_error_clear(&err);
    tp_result res = {0};
    json_t *body = NULL;
    if (remote_paths_get(c, hj->host, &p, &err) == MRD_OK) {
        const char *argv[] = {p.bin, "check", "--manifest", p.manifest, "--heal", "--json", NULL};
        if (c->tp->ops->exec(c->tp, h, argv, NULL, 0, AGENT_HEAL_TIMEOUT_MS, &res, &err) ==
            MRD_OK) {
            body = json_loadb(res.out, res.out_len, 0, NULL);
            if (!json_is_object(body) || !json_is_integer(json_object_get(body, "code"))) {
                json_decref(body);
                body = NULL;
                cmd_failed(&err, "meridian-agent check --heal", &res);
            }
        }
    }
    tp_result_free(&res);
    pthread_mutex_lock(hj->lock);
    if (body) {
        if (hj->diag)
            fprintf(hj->diag, "meridian: %s: %s; ran meridian-agent check --heal over %s "
                              "instead\n",
                    h->name, r->error[0] ? r->error : "the agent's API did not answer",
                    c->tp->ops->name);
        json_decref(r->body);
        r->body = body;
        r->http_status = 200;
        r->error[0] = '\0';
        hj->done = true;
    } else {
        size_t len = strlen(r->error);
        snprintf(r->error + len, sizeof(r->error) - len, "; over %s: %s", c->tp->ops->name,
                 err.msg);
    }
    pthread_mutex_unlock(hj->lock);
    return NULL;
}

int deploy_heal_fallback(orch_ctx *c, agent_result *res, FILE *diag)
{
    if (!remote(c) || !res)
        return 0;
    int n = c->topo->nhosts, healed = 0;
    heal_job *jobs = calloc((size_t)n, sizeof(*jobs));
    pthread_t *th = calloc((size_t)n, sizeof(*th));
    bool *started = calloc((size_t)n, sizeof(*started));
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    if (!jobs || !th || !started) {
        free(jobs);
        free(th);
        free(started);
        return 0;
    }
    for (int i = 0; i < n; i++) {
        if (res[i].http_status != 0)
            continue;
        jobs[i] = (heal_job){.c = c, .host = i, .res = &res[i], .diag = diag, .lock = &lock};
        started[i] = pthread_create(&th[i], NULL, heal_over_transport, &jobs[i]) == 0;
        if (!started[i])
            heal_over_transport(&jobs[i]);
    }
    for (int i = 0; i < n; i++) {
        if (started[i])
            pthread_join(th[i], NULL);
        healed += jobs[i].done;
    }
    free(jobs);
    free(th);
    free(started);
    return healed;
}
