#include "supervise.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "certs.h"
#include "conn.h"
#include "fsutil.h"
#include "log.h"
#include "proc.h"
#include "render.h"
#include "sentinel.h"
#include "tls.h"

/* ==== loading ==== */

static mrd_rc load_secret(const mrd_manifest *m, const char *name, char *buf,
                          size_t n, mrd_error *err)
{
    char path[MRD_MF_PATH];
    if (manifest_secret_path(m->secrets_dir, name, path, sizeof(path)) != MRD_OK)
        return mrd_error_set(err, MRD_ERR_INVALID, "secrets path too long");
    return mrd_secret_read(path, buf, n, err);
}

/* NODE: the manifest's node index for SV_REDIS, -1 for the sentinel. */
static mrd_rc init_proc(const mrd_manifest *m, sv_proc *p, sv_kind kind, int node)
{
    memset(p, 0, sizeof(*p));
    p->kind = kind;
    p->node = node;
    if (kind == SV_SENTINEL) {
        snprintf(p->label, sizeof(p->label), "sentinel");
        p->program = "redis-sentinel";
        p->port = manifest_self(m)->sentinel_port;
        MRD_TRY(manifest_path(m, "sentinel.conf", p->conf, sizeof(p->conf)));
        MRD_TRY(manifest_path(m, "sentinel.pid", p->pidfile, sizeof(p->pidfile)));
        MRD_TRY(manifest_path(m, "sentinel.log", p->logfile, sizeof(p->logfile)));
        return manifest_path(m, "sentinel.dir", p->dir, sizeof(p->dir));
    }
    p->program = m->settings.store.redis_server; /* a name on PATH, or a path */
    p->port = m->nodes[node].port;
    manifest_node_label(p->port, m->settings.store.port, p->label, sizeof(p->label));
    MRD_TRY(manifest_node_path(m, node, "redis.conf", p->conf, sizeof(p->conf)));
    MRD_TRY(manifest_node_path(m, node, "redis.pid", p->pidfile, sizeof(p->pidfile)));
    MRD_TRY(manifest_node_path(m, node, "redis.log", p->logfile, sizeof(p->logfile)));
    return manifest_node_path(m, node, "redis.data", p->dir, sizeof(p->dir));
}

/* One process per node of this host (the manifest parser refuses more
 * than MRD_MF_MAX_HOST_NODES), then the sentinel. */
static mrd_rc init_procs(sv_host *h)
{
    const mrd_manifest *m = h->m;
    int nodes[MRD_MF_MAX_HOST_NODES];
    int n = manifest_host_nodes(m, m->self, nodes, MRD_MF_MAX_HOST_NODES);
    if (n > MRD_MF_MAX_HOST_NODES)
        return MRD_ERR_INVALID;
    for (int i = 0; i < n; i++)
        MRD_TRY(init_proc(m, &h->procs[h->nprocs++], SV_REDIS, nodes[i]));
    if (manifest_self(m)->sentinel_port)
        MRD_TRY(init_proc(m, &h->procs[h->nprocs++], SV_SENTINEL, -1));
    return MRD_OK;
}

mrd_rc sv_open(const char *manifest_path, sv_host **out, mrd_error *err)
{
    *out = NULL;
    sv_host *h = calloc(1, sizeof(*h));
    if (!h)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    mrd_rc rc = manifest_load(manifest_path, &h->m, err);
    if (rc == MRD_OK)
        rc = load_secret(h->m, "admin", h->secrets.admin, sizeof(h->secrets.admin), err);
    if (rc == MRD_OK)
        rc = load_secret(h->m, "replication", h->secrets.replication,
                         sizeof(h->secrets.replication), err);
    if (rc == MRD_OK)
        rc = load_secret(h->m, "sentinel", h->secrets.sentinel,
                         sizeof(h->secrets.sentinel), err);
    if (rc == MRD_OK)
        rc = load_secret(h->m, "app", h->secrets.app, sizeof(h->secrets.app), err);
    if (rc == MRD_OK)
        rc = init_procs(h);
    if (rc != MRD_OK) {
        if (err && err->code == MRD_OK)
            mrd_error_set(err, rc, "manifest paths are too long");
        sv_close(&h);
        return rc;
    }
    *out = h;
    return MRD_OK;
}

mrd_rc sv_tls_start(const sv_host *h, mrd_error *err)
{
    const mrd_manifest *m = h->m;
    if (!m->settings.tls.enabled)
        return MRD_OK;
    char ca[MRD_MF_PATH], cert[MRD_MF_PATH], key[MRD_MF_PATH];
    MRD_TRY(mrd_tls_ca_file(m->secrets_dir, ca, sizeof(ca), err));
    MRD_TRY(mrd_tls_host_file(m->secrets_dir, m->host, false, cert, sizeof(cert), err));
    MRD_TRY(mrd_tls_host_file(m->secrets_dir, m->host, true, key, sizeof(key), err));
    return store_set_tls(ca, cert, key, err);
}

void sv_close(sv_host **h)
{
    if (!h || !*h)
        return;
    manifest_free(&(*h)->m);
    /* secrets do not linger in freed memory */
    memset(&(*h)->secrets, 0, sizeof((*h)->secrets));
    free(*h);
    *h = NULL;
}

sv_proc *sv_find(sv_host *h, sv_kind kind)
{
    for (int i = 0; i < h->nprocs; i++)
        if (h->procs[i].kind == kind)
            return &h->procs[i];
    return NULL;
}

sv_proc *sv_label(sv_host *h, const char *label)
{
    for (int i = 0; i < h->nprocs; i++)
        if (strcmp(h->procs[i].label, label) == 0)
            return &h->procs[i];
    return NULL;
}

sv_proc *sv_node(sv_host *h, int node)
{
    for (int i = 0; i < h->nprocs; i++)
        if (h->procs[i].kind == SV_REDIS && h->procs[i].node == node)
            return &h->procs[i];
    return NULL;
}

/* ==== rendering ==== */

/* The TLS lines: the process's port is its tls-port and the plain port
 * is 0 when TLS is on; the certificate files are this host's under the
 * secrets folder (common/certs.h).  Off, every line says so. */
static mrd_rc set_tls(mrd_vars *v, const sv_host *h, const sv_proc *p)
{
    bool on = h->m->settings.tls.enabled;
    char cert[MRD_MF_PATH] = "", key[MRD_MF_PATH] = "", ca[MRD_MF_PATH] = "";
    if (on && (mrd_tls_host_file(h->m->secrets_dir, h->m->host, false, cert, sizeof(cert),
                                 NULL) != MRD_OK ||
               mrd_tls_host_file(h->m->secrets_dir, h->m->host, true, key, sizeof(key),
                                 NULL) != MRD_OK ||
               mrd_tls_ca_file(h->m->secrets_dir, ca, sizeof(ca), NULL) != MRD_OK))
        return MRD_ERR_INVALID;
    /* the values are written inside double quotes: a quote or a backslash
     * in a path would end them early */
    if (strpbrk(h->m->secrets_dir, "\"\\"))
        return MRD_ERR_INVALID;
    mrd_rc rc = vars_set_int(v, "plain_port", on ? 0 : p->port);
    rc = rc ? rc : vars_set_int(v, "tls_port", on ? p->port : 0);
    rc = rc ? rc : vars_set(v, "tls_cert_file", cert);
    rc = rc ? rc : vars_set(v, "tls_key_file", key);
    rc = rc ? rc : vars_set(v, "tls_ca_cert_file", ca);
    rc = rc ? rc : vars_set(v, "tls_replication", on ? "yes" : "no");
    rc = rc ? rc : vars_set(v, "tls_cluster", on ? "yes" : "no");
    return rc;
}

static mrd_rc set_common(mrd_vars *v, const sv_host *h, const sv_proc *p)
{
    const mrd_mf_host *self = manifest_self(h->m);
    mrd_rc rc = set_tls(v, h, p);
    rc = rc ? rc : vars_set(v, "host", self->host);
    rc = rc ? rc : vars_set(v, "region", self->region);
    rc = rc ? rc : vars_set(v, "zone", self->zone);
    rc = rc ? rc : vars_set(v, "bind", self->address);
    rc = rc ? rc : vars_set_int(v, "port", p->port);
    rc = rc ? rc : vars_set(v, "dir", p->dir);
    rc = rc ? rc : vars_set(v, "pidfile", p->pidfile);
    rc = rc ? rc : vars_set(v, "logfile", p->logfile);
    rc = rc ? rc : vars_set(v, "admin_pass", h->secrets.admin);
    rc = rc ? rc : vars_set(v, "sentinel_pass", h->secrets.sentinel);
    rc = rc ? rc : vars_set(v, "app_pass", h->secrets.app);
    return rc;
}

/* One template variable per setting that lands in the file LANDS names
 * (MRD_LANDS_REDIS or _SENTINEL): the directive with '-' as '_'
 * ("repl-backlog-size" is {{repl_backlog_size}}), the value as the
 * topology file writes it, except a choice, which is written as Redis
 * spells it (store.persistence "aof" is {{appendonly}} "yes").  Ports are
 * the process's own ({{port}}). */
static mrd_rc set_settings(mrd_vars *v, const mrd_manifest *m, unsigned lands)
{
    size_t n;
    const mrd_setting *rows = mrd_settings_table(&n);
    mrd_rc rc = MRD_OK;
    for (size_t i = 0; rc == MRD_OK && i < n; i++) {
        const mrd_setting *row = &rows[i];
        if (!(row->lands & lands) || !row->directive ||
            strcmp(mrd_setting_type_name(row), "port") == 0)
            continue;
        char name[64], value[64];
        snprintf(name, sizeof(name), "%s", row->directive);
        for (char *c = name; *c; c++)
            if (*c == '-')
                *c = '_';
        if (row->type != MRD_SETTING_CHOICE)
            mrd_setting_format(row, &m->settings, value, sizeof(value));
        else if (!mrd_setting_live_value(row, &m->settings, value, sizeof(value)))
            return MRD_ERR_INVALID; /* not one of the row's choices */
        rc = vars_set(v, name, value);
    }
    return rc;
}

static mrd_rc set_redis(mrd_vars *v, const sv_host *h, const sv_proc *p, int leader,
                        int priority, bool from_snapshot)
{
    const mrd_manifest *m = h->m;
    mrd_rc rc = MRD_OK;
    if (leader < 0 || leader >= m->nnodes)
        return MRD_ERR_INVALID;
    int bus_port = m->nodes[p->node].bus_port;
    bool cluster = bus_port != 0; /* cluster mode */
    if (cluster)
        rc = vars_set(v, "replicaof_line",
                      "# cluster mode: CLUSTER REPLICATE or nodes.conf names the master");
    else if (leader == p->node)
        rc = vars_set(v, "replicaof_line", "# this node starts as the leader");
    else
        rc = vars_setf(v, "replicaof_line", "replicaof %s %d",
                       manifest_node_address(m, leader), m->nodes[leader].port);
    rc = rc ? rc : vars_set_int(v, "replica_priority", priority);
    rc = rc ? rc : vars_set(v, "cluster_enabled", cluster ? "yes" : "no");
    /* priority 0, never promote, is cluster mode's no-failover */
    rc = rc ? rc : vars_set(v, "cluster_replica_no_failover",
                            cluster && priority == 0 ? "yes" : "no");
    rc = rc ? rc : vars_set_int(v, "cluster_port", bus_port); /* 0: Redis' default */
    rc = rc ? rc : set_settings(v, m, MRD_LANDS_REDIS);
    /* Redis 7.0 with appendonly yes loads its AOF folder and never
     * dump.rdb: a node started from a fetched snapshot starts without it
     * (supervise.h) */
    if (from_snapshot)
        rc = rc ? rc : vars_set(v, "appendonly", "no");
    rc = rc ? rc : vars_set(v, "replication_pass", h->secrets.replication);
    return rc;
}

/* Sentinels start knowing every replica and every other sentinel, so the
 * group agrees at once instead of after discovery (INFO every 10 s,
 * hello messages every 2 s). */
static mrd_rc known_lines(const sv_host *h, int leader, char **out)
{
    const mrd_manifest *m = h->m;
    const mrd_mf_shard *sh = &m->shards[m->nodes[leader].shard];
    mrd_buf buf; /* no cap: the manifest bounds the nodes, hosts and names */
    mrd_buf_init(&buf, SIZE_MAX);
    mrd_rc rc = MRD_OK;
    /* One line each, with no newline after the last. */
    for (int i = sh->first; i < sh->first + sh->nnodes && rc == MRD_OK; i++)
        if (i != leader)
            rc = mrd_buf_addf(&buf, "%ssentinel known-replica %s %s %d",
                              mrd_buf_len(&buf) ? "\n" : "", sh->name,
                              manifest_node_address(m, i), m->nodes[i].port);
    for (int i = 0; i < m->nhosts && rc == MRD_OK; i++) {
        const mrd_mf_host *o = &m->hosts[i];
        if (i != m->self && o->sentinel_port)
            rc = mrd_buf_addf(&buf, "%ssentinel known-sentinel %s %s %d %s",
                              mrd_buf_len(&buf) ? "\n" : "", sh->name, o->address,
                              o->sentinel_port, o->sentinel_myid);
    }
    if (rc == MRD_OK && !(*out = mrd_buf_take(&buf)))
        rc = MRD_ERR_NOMEM;
    mrd_buf_free(&buf);
    return rc;
}

static mrd_rc set_sentinel(mrd_vars *v, const sv_host *h, int leader)
{
    const mrd_manifest *m = h->m;
    char *known = NULL;
    if (leader < 0 || leader >= m->nnodes)
        return MRD_ERR_INVALID;
    mrd_rc rc = known_lines(h, leader, &known);
    rc = rc ? rc : vars_set(v, "known_lines", known);
    free(known);
    rc = rc ? rc : vars_set(v, "master_name", m->shards[m->nodes[leader].shard].name);
    rc = rc ? rc : vars_set(v, "leader_address", manifest_node_address(m, leader));
    rc = rc ? rc : vars_set_int(v, "leader_port", m->nodes[leader].port);
    rc = rc ? rc : set_settings(v, m, MRD_LANDS_SENTINEL);
    rc = rc ? rc : vars_set(v, "sentinel_myid", manifest_self(m)->sentinel_myid);
    return rc;
}

mrd_rc sv_render(const sv_host *h, const sv_proc *p, int leader, int priority,
                 bool from_snapshot, mrd_error *err)
{
    mrd_vars *v = vars_new();
    char *text = NULL;
    if (!v)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    mrd_rc rc = set_common(v, h, p);
    if (rc == MRD_OK)
        rc = p->kind == SV_REDIS ? set_redis(v, h, p, leader, priority, from_snapshot)
                                 : set_sentinel(v, h, leader);
    if (rc != MRD_OK)
        mrd_error_set(err, rc, "%s/%s: cannot set template variables", h->m->host,
                      p->label);
    if (rc == MRD_OK)
        rc = tpl_render_builtin(p->kind == SV_REDIS ? "redis.conf" : "sentinel.conf", v,
                                &text, err);
    if (rc == MRD_OK)
        rc = mrd_mkdir_p(p->dir, 0700, err);
    if (rc == MRD_OK)
        rc = mrd_write_atomic(p->conf, text, strlen(text), 0600, err);
    if (text) /* holds passwords */
        memset(text, 0, strlen(text));
    free(text);
    vars_free(&v);
    return rc;
}

mrd_rc sv_render_missing(sv_host *h, int *created, mrd_error *err)
{
    const mrd_manifest *m = h->m;
    *created = 0;
    for (int i = 0; i < h->nprocs; i++) {
        const sv_proc *p = &h->procs[i];
        if (mrd_path_exists(p->conf))
            continue;
        /* the sentinel monitors the one shard of sentinel mode */
        int shard = p->kind == SV_REDIS ? m->nodes[p->node].shard : 0;
        int priority = p->kind == SV_REDIS ? m->nodes[p->node].replica_priority : 0;
        MRD_TRY(sv_render(h, p, m->shards[shard].master, priority, false, err));
        mrd_info("%s/%s: rendered %s", h->m->host, h->procs[i].label, h->procs[i].conf);
        (*created)++;
    }
    return MRD_OK;
}

/* ==== running ==== */

/* Whether PID runs P's program.  A store node's process counts when its
 * program's base name starts with "redis-server" or is store.redis_server's
 * base name: a node started before an upgrade changed the program (another
 * path, another name) is still adopted. */
static bool runs_program(const sv_proc *p, pid_t pid)
{
    if (p->kind == SV_SENTINEL)
        return mrd_pid_is(pid, p->program);
    const char *base = strrchr(p->program, '/');
    return mrd_pid_is(pid, "redis-server") || mrd_pid_is(pid, base ? base + 1 : p->program);
}

int sv_refresh(sv_host *h)
{
    int running = 0;
    for (int i = 0; i < h->nprocs; i++) {
        sv_proc *p = &h->procs[i];
        if (p->pid && runs_program(p, p->pid)) {
            running++;
            continue;
        }
        p->pid = 0;
        p->child = false;
        pid_t pid;
        if (mrd_pidfile_read(p->pidfile, &pid, NULL) == MRD_OK && runs_program(p, pid)) {
            p->pid = pid;
            running++;
        }
    }
    return running;
}

mrd_rc sv_start(sv_host *h, sv_proc *p, mrd_spawn_mode mode, mrd_error *err)
{
    if (p->pid)
        return MRD_OK;
    MRD_TRY(mrd_mkdir_p(p->dir, 0700, err));
    const char *argv[] = {p->program, p->conf, NULL};
    pid_t pid;
    MRD_TRY(mrd_spawn(argv, p->logfile, mode, &pid, err));
    p->pid = pid;
    p->child = mode == MRD_SPAWN_CHILD;
    mrd_info("%s/%s: started pid %d on %s:%d", h->m->host, p->label, (int)pid,
             manifest_self(h->m)->address, p->port);
    return MRD_OK;
}

/* True when ADDRESS:PORT accepts a TCP connection within TIMEOUT_MS. */
static bool port_open(const char *address, int port, int timeout_ms)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, address, &sa.sin_addr) != 1)
        return false;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    bool ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    if (!ok && errno == EINPROGRESS) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int soerr = 0;
        socklen_t len = sizeof(soerr);
        ok = poll(&pfd, 1, timeout_ms) == 1 &&
             getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr == 0;
    }
    close(fd);
    return ok;
}

bool sv_wait_master(const sv_host *h, int node, int timeout_ms)
{
    const mrd_manifest *m = h->m;
    int master = m->shards[m->nodes[node].shard].master;
    long long deadline = mrd_now_ms() + timeout_ms;
    while (!port_open(manifest_node_address(m, master), m->nodes[master].port, 100)) {
        if (mrd_now_ms() >= deadline)
            return false;
        mrd_sleep_ms(SV_PEER_POLL_MS);
    }
    return true;
}

/* Open an admin connection to this host's sentinel, retrying while it
 * starts (at most RETRY_MS). */
static mrd_rc sentinel_conn(const sv_host *h, const sv_proc *p, int retry_ms,
                            store_conn **c, mrd_error *err)
{
    long long deadline = mrd_now_ms() + retry_ms;
    mrd_rc rc;
    do {
        rc = store_conn_open(manifest_self(h->m)->address, p->port, "admin",
                             h->secrets.admin, 200, c, err);
        if (rc == MRD_OK && (rc = store_ping(*c, err)) != MRD_OK)
            store_conn_close(c);
        if (rc == MRD_OK || rc == MRD_ERR_AUTH)
            return rc;
        mrd_sleep_ms(SV_PEER_POLL_MS);
    } while (mrd_now_ms() < deadline);
    return rc;
}

static mrd_rc set_period(store_conn *c, const char *which, int ms, mrd_error *err)
{
    char period[16];
    snprintf(period, sizeof(period), "%d", ms);
    return store_cmdl(c, NULL, err, "SENTINEL", "DEBUG", which, period, NULL);
}

/* True when the sentinel sees every replica on another host and every
 * other sentinel of the manifest, none of them flagged down.  This host's
 * own nodes do not count: one restored from a peer (a spare standing in)
 * starts only with the heal pass, after the bootstrap. */
static bool sentinel_sees_all(const sv_host *h, store_conn *c, sentinel_view *v)
{
    const mrd_manifest *m = h->m;
    const mrd_mf_shard *sh = &m->shards[0]; /* sentinel mode: one shard */
    int replicas = 0, sentinels = 0, up = 0;
    for (int i = sh->first; i < sh->first + sh->nnodes; i++)
        replicas += i != sh->master && m->nodes[i].host != m->self;
    for (int i = 0; i < m->nhosts; i++)
        sentinels += i != m->self && m->hosts[i].sentinel_port;
    if (sentinel_get_view(c, sh->name, v, NULL) != MRD_OK)
        return false;
    for (int i = 0; i < v->nreplicas; i++)
        up += !v->replicas[i].down;
    for (int i = 0; i < v->nsentinels; i++)
        up += !v->sentinels[i].down;
    return up >= replicas + sentinels;
}

mrd_rc sv_bootstrap_sentinel(const sv_host *h, const sv_proc *p, mrd_error *err)
{
    store_conn *c = NULL;
    sentinel_view *v = malloc(sizeof(*v));
    if (!v)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    mrd_rc rc = sentinel_conn(h, p, 2000, &c, err);
    if (rc == MRD_OK)
        rc = set_period(c, "ping-period", SV_SENTINEL_BOOT_PING_MS, err);
    if (rc == MRD_OK)
        rc = set_period(c, "info-period", SV_SENTINEL_INFO_PERIOD_MS, err);
    long long deadline = mrd_now_ms() + SV_SENTINEL_BOOT_MAX_MS;
    bool all = false;
    while (rc == MRD_OK && !(all = sentinel_sees_all(h, c, v)) && mrd_now_ms() < deadline)
        mrd_sleep_ms(SV_SENTINEL_BOOT_PING_MS);
    if (rc == MRD_OK)
        rc = set_period(c, "ping-period", SV_SENTINEL_PING_PERIOD_MS, err);
    if (rc == MRD_OK)
        mrd_info("%s/sentinel: %s; ping period %d ms", h->m->host,
                 all ? "sees every replica and sentinel"
                     : "does not see every replica and sentinel yet",
                 SV_SENTINEL_PING_PERIOD_MS);
    store_conn_close(&c);
    free(v);
    return rc;
}

mrd_rc sv_stop_all(sv_host *h, int timeout_ms, mrd_error *err)
{
    mrd_rc rc = MRD_OK;
    sv_refresh(h);
    /* Sentinel first, so it does not see its node go down and react. */
    for (int i = h->nprocs - 1; i >= 0; i--) {
        sv_proc *p = &h->procs[i];
        if (!p->pid)
            continue;
        mrd_rc r = mrd_proc_stop(p->pid, timeout_ms, err);
        if (r == MRD_OK)
            mrd_info("%s/%s: stopped pid %d", h->m->host, p->label, (int)p->pid);
        else
            rc = r;
        p->pid = 0;
    }
    return rc;
}

int sv_reap(sv_host *h)
{
    int exited = 0;
    for (int i = 0; i < h->nprocs; i++) {
        sv_proc *p = &h->procs[i];
        int status;
        if (!p->pid || !p->child || waitpid(p->pid, &status, WNOHANG) != p->pid)
            continue;
        if (WIFSIGNALED(status))
            mrd_warn("%s/%s: pid %d killed by signal %d", h->m->host, p->label,
                     (int)p->pid, WTERMSIG(status));
        else
            mrd_warn("%s/%s: pid %d exited with status %d", h->m->host, p->label,
                     (int)p->pid, WEXITSTATUS(status));
        p->pid = 0;
        p->child = false;
        exited++;
    }
    return exited;
}
