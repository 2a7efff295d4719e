/* retire.c - node folders of this host that its manifest no longer lists
 * (see retire.h): finding them, judging them (pure), stopping and moving
 * them. */
#include "retire.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cluster.h"
#include "conn.h"
#include "fsutil.h"
#include "info.h"
#include "log.h"
#include "proc.h"

/* The largest INFO or CLUSTER NODES reply a node's judgement reads. */
#define RETIRE_REPLY_MAX (4 << 20)

/* ==== pure ==== */

int retire_folder_port(const char *name, int store_port)
{
    if (strcmp(name, "redis") == 0)
        return store_port;
    if (strncmp(name, "redis-", 6) != 0)
        return 0;
    const char *d = name + 6;
    /* plain decimal: no sign, no space, no leading zero, nothing after */
    if (d[0] < '1' || d[0] > '9' || strlen(d) > 5 || strspn(d, "0123456789") != strlen(d))
        return 0;
    long port = strtol(d, NULL, 10);
    if (port > 65535 || port == store_port)
        return 0;
    return (int)port;
}

bool retire_is_leftover(const mrd_manifest *m, const char *name, bool is_dir, int *port)
{
    int p = is_dir ? retire_folder_port(name, m->settings.store.port) : 0;
    if (p == 0)
        return false;
    for (int i = 0; i < m->nnodes; i++)
        if (m->nodes[i].host == m->self && m->nodes[i].port == p)
            return false;
    if (port)
        *port = p;
    return true;
}

/* The keys of every database in INFO's keyspace section: one
 * "dbN:keys=K,expires=E,avg_ttl=T" line per database that holds any. */
static mrd_rc keyspace_keys(const char *text, size_t len, long long *keys, mrd_error *err)
{
    *keys = 0;
    for (size_t at = 0; at < len;) {
        const char *line = text + at;
        const char *nl = memchr(line, '\n', len - at);
        size_t ll = nl ? (size_t)(nl - line) : len - at;
        at += ll + 1;
        size_t digits = ll > 2 && strncmp(line, "db", 2) == 0 ? strspn(line + 2, "0123456789") : 0;
        if (digits == 0 || digits + 2 >= ll || line[2 + digits] != ':')
            continue;
        const char *v = line + 3 + digits;
        size_t vl = ll - 3 - digits;
        char num[24];
        size_t nd = vl > 5 && strncmp(v, "keys=", 5) == 0 ? strspn(v + 5, "0123456789") : 0;
        if (nd == 0 || nd >= sizeof(num) || nd > vl - 5)
            return mrd_error_set(err, MRD_ERR_PARSE, "malformed keyspace line: %.*s",
                                 (int)(ll < 80 ? ll : 80), line);
        memcpy(num, v + 5, nd);
        num[nd] = '\0';
        errno = 0;
        long long k = strtoll(num, NULL, 10);
        if (errno != 0 || k < 0 || *keys > LLONG_MAX - k)
            return mrd_error_set(err, MRD_ERR_PARSE, "keyspace count out of range: %s", num);
        *keys += k;
    }
    return MRD_OK;
}

mrd_rc retire_facts_from(const char *info, size_t len, const char *nodes, size_t nlen,
                         pid_t pid, retire_facts *f, mrd_error *err)
{
    f->reachable = false;
    f->same_process = false;
    f->busy = false;
    f->slots = 0;
    f->importing = 0;
    f->keys = 0;
    store_info si;
    MRD_TRY(store_info_parse(info, len, &si, err));
    MRD_TRY(keyspace_keys(info, len, &f->keys, err));
    if (f->cluster) {
        if (!nodes)
            return mrd_error_set(err, MRD_ERR_PARSE, "no CLUSTER NODES reply");
        store_cluster_view *v = store_cluster_view_new();
        if (!v)
            return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
        mrd_rc rc = store_cluster_nodes_parse(nodes, nlen, v, err);
        if (rc == MRD_OK) {
            f->slots = store_cluster_myself(v)->nslots;
            for (int s = 0; s < STORE_CLUSTER_SLOTS; s++)
                f->importing += v->importing_from[s] != STORE_CLUSTER_NONE;
        }
        store_cluster_view_free(&v);
        MRD_TRY(rc);
    }
    f->reachable = true;
    f->same_process = pid > 0 && si.process_id == (long long)pid;
    f->busy = si.loading || (!si.is_master && si.sync_in_progress);
    return MRD_OK;
}

retire_action retire_decide(const retire_facts *f)
{
    if (!f->proc_alive)
        return RETIRE_MOVE; /* nothing runs: nothing to lose */
    if (!f->reachable || !f->same_process)
        return RETIRE_WAIT; /* cannot tell what it holds: never stop blind */
    /* What it holds is known even while it loads or syncs: a node that
     * already has keys or slots is kept whatever else is going on. */
    if (f->keys > 0 || (f->cluster && (f->slots > 0 || f->importing > 0)))
        return RETIRE_KEEP;
    if (f->busy)
        return RETIRE_WAIT; /* empty only for now: keys are on their way */
    return RETIRE_STOP;
}

const char *retire_action_name(retire_action a)
{
    static const char *const names[] = {
        [RETIRE_MOVE] = "move",
        [RETIRE_STOP] = "stop",
        [RETIRE_KEEP] = "keep",
        [RETIRE_WAIT] = "wait",
    };
    return (unsigned)a < sizeof(names) / sizeof(names[0]) ? names[a] : "unknown";
}

/* "120 slots", "1 slot" */
static const char *plural(long long n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

void retire_explain(const char *label, int port, const retire_facts *f, retire_action a,
                    pid_t pid, const char *why, char *buf, size_t n)
{
    char name[64];
    if (strcmp(label, "redis") == 0) /* the node on store.port: say which */
        snprintf(name, sizeof(name), "%s (port %d)", label, port);
    else
        snprintf(name, sizeof(name), "%s", label);
    switch (a) {
    case RETIRE_MOVE:
        snprintf(buf, n, "node %s is not in the manifest and does not run: its folder is "
                         "to be moved to %s/", name, RETIRE_DIR);
        return;
    case RETIRE_STOP:
        snprintf(buf, n, "node %s is not in the manifest and holds no key%s: it is to be "
                         "stopped (pid %d) and its folder moved to %s/", name,
                 f->cluster ? " and no slot" : "", (int)pid, RETIRE_DIR);
        return;
    case RETIRE_KEEP: {
        char holds[96];
        bool slots = f->cluster && f->slots > 0;
        if (slots && f->keys > 0)
            snprintf(holds, sizeof(holds), "owns %d %s and holds %lld %s", f->slots,
                     plural(f->slots, "slot", "slots"), f->keys, plural(f->keys, "key", "keys"));
        else if (slots)
            snprintf(holds, sizeof(holds), "owns %d %s", f->slots,
                     plural(f->slots, "slot", "slots"));
        else if (f->keys > 0)
            snprintf(holds, sizeof(holds), "holds %lld %s", f->keys,
                     plural(f->keys, "key", "keys"));
        else
            snprintf(holds, sizeof(holds), "is importing %d %s", f->importing,
                     plural(f->importing, "slot", "slots"));
        if (f->cluster)
            snprintf(buf, n, "node %s is not in the manifest but still %s: not stopped; move "
                             "its slots and keys to the shards that stay (or put it back in "
                             "this host's manifest): the first pass that finds it empty "
                             "retires it",
                     name, holds);
        else
            snprintf(buf, n, "node %s is not in the manifest but still %s: not stopped; make "
                             "sure its data lives on the manifest's nodes, then stop it "
                             "(kill %d) and the next pass moves its folder to %s/, or put it "
                             "back in this host's manifest",
                     name, holds, (int)pid, RETIRE_DIR);
        return;
    }
    case RETIRE_WAIT:
        if (!f->reachable)
            snprintf(buf, n, "node %s is not in the manifest and runs (pid %d) but does not "
                             "answer as the admin user%s%s: not stopped; judged again at the "
                             "next pass",
                     name, (int)pid, why && why[0] ? ": " : "", why ? why : "");
        else if (!f->same_process)
            snprintf(buf, n, "node %s is not in the manifest and runs (pid %d), but another "
                             "process answers on port %d: not stopped; judged again at the "
                             "next pass",
                     name, (int)pid, port);
        else
            snprintf(buf, n, "node %s is not in the manifest and is loading or syncing its "
                             "data: not stopped; judged again at the next pass",
                     name);
        return;
    }
    snprintf(buf, n, "node %s is not in the manifest", name);
}

/* ==== finding ==== */

static int by_port(const void *a, const void *b)
{
    const retire_node *x = a, *y = b;
    return (x->port > y->port) - (x->port < y->port);
}

int retire_find(const sv_host *h, retire_node *out, int max, mrd_error *err)
{
    const mrd_manifest *m = h->m;
    DIR *d = opendir(m->root);
    if (!d) {
        mrd_error_set(err, MRD_ERR_IO, "cannot read %s: %s", m->root, strerror(errno));
        return -1;
    }
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        char path[MRD_MF_PATH];
        struct stat st;
        int port;
        if (e->d_name[0] == '.' ||
            mrd_path_fmt(path, sizeof(path), "%s/%s", m->root, e->d_name) != MRD_OK ||
            lstat(path, &st) != 0 || !retire_is_leftover(m, e->d_name, S_ISDIR(st.st_mode), &port))
            continue;
        if (n < max) {
            retire_node *rn = &out[n];
            memset(rn, 0, sizeof(*rn));
            rn->port = port;
            snprintf(rn->label, sizeof(rn->label), "%s", e->d_name);
            snprintf(rn->dir, sizeof(rn->dir), "%s", path);
        }
        n++;
    }
    closedir(d);
    if (n > 0 && max > 0)
        qsort(out, (size_t)(n < max ? n : max), sizeof(*out), by_port);
    return n;
}

/* ==== observing ==== */

/* The live redis-server RN's pid file names, or 0. */
static pid_t recorded_pid(const retire_node *rn)
{
    char path[MRD_MF_PATH];
    pid_t pid;
    if (mrd_path_fmt(path, sizeof(path), "%s/redis.pid", rn->dir) != MRD_OK ||
        mrd_pidfile_read(path, &pid, NULL) != MRD_OK || !mrd_pid_is(pid, "redis-server"))
        return 0;
    return pid;
}

/* Read RN's facts over C (an admin connection to it). */
static mrd_rc read_facts(store_conn *c, retire_node *rn, mrd_error *err)
{
    char *info = NULL, *nodes = NULL;
    mrd_rc rc = store_cmdl(c, &info, err, "INFO", NULL);
    if (rc == MRD_OK && rn->f.cluster)
        rc = store_cmdl(c, &nodes, err, "CLUSTER", "NODES", NULL);
    if (rc == MRD_OK && (!info || (rn->f.cluster && !nodes)))
        rc = mrd_error_set(err, MRD_ERR_PROTOCOL, "empty reply");
    if (rc == MRD_OK)
        rc = retire_facts_from(info, strlen(info), nodes, nodes ? strlen(nodes) : 0, rn->pid,
                               &rn->f, err);
    free(info);
    free(nodes);
    return rc;
}

static mrd_rc connect_node(const sv_host *h, const retire_node *rn, int timeout_ms,
                           store_conn **c, mrd_error *err)
{
    return store_conn_open(manifest_self(h->m)->address, rn->port, "admin",
                           h->secrets.admin, timeout_ms, c, err);
}

void retire_observe(const sv_host *h, retire_node *rn, int timeout_ms)
{
    memset(&rn->f, 0, sizeof(rn->f));
    rn->why[0] = '\0';
    rn->f.cluster = strcmp(h->m->mode, "cluster") == 0;
    rn->pid = recorded_pid(rn);
    rn->f.proc_alive = rn->pid != 0;
    if (rn->f.proc_alive) {
        store_conn *c = NULL;
        mrd_error err;
        mrd_error_clear(&err);
        if (connect_node(h, rn, timeout_ms, &c, &err) != MRD_OK ||
            read_facts(c, rn, &err) != MRD_OK) {
            rn->f.reachable = false;
            snprintf(rn->why, sizeof(rn->why), "%s", err.msg);
        }
        store_conn_close(&c);
    }
    rn->action = retire_decide(&rn->f);
}

/* ==== acting ==== */

/* Stop RN's process, counted again with its writes paused: a write
 * accepted between the count and the stop would be lost with it. */
static mrd_rc stop_empty(const sv_host *h, retire_node *rn, int stop_timeout_ms,
                         mrd_error *err)
{
    store_conn *c = NULL;
    char pause[16];
    snprintf(pause, sizeof(pause), "%d", RETIRE_PAUSE_MS);
    mrd_rc rc = connect_node(h, rn, stop_timeout_ms, &c, err);
    if (rc == MRD_OK)
        rc = store_cmdl(c, NULL, err, "CLIENT", "PAUSE", pause, "WRITE", NULL);
    if (rc == MRD_OK)
        rc = read_facts(c, rn, err);
    if (rc != MRD_OK) {
        rn->f.reachable = false;
        snprintf(rn->why, sizeof(rn->why), "%s", err ? err->msg : "");
    }
    if (rc != MRD_OK || (rn->action = retire_decide(&rn->f)) != RETIRE_STOP) {
        if (c)
            store_cmdl(c, NULL, NULL, "CLIENT", "UNPAUSE", NULL);
        store_conn_close(&c);
        rn->action = retire_decide(&rn->f);
        return rc != MRD_OK ? rc
                            : mrd_error_set(err, MRD_ERR_STATE,
                                            "%s: counted again with writes paused: %s",
                                            rn->label, retire_action_name(rn->action));
    }
    store_conn_close(&c);
    return mrd_proc_stop(rn->pid, stop_timeout_ms, err);
}

/* Rename RN's folder into ROOT/retired/, as redis-PORT.<unix-seconds>. */
static mrd_rc move_folder(const sv_host *h, const retire_node *rn, char *moved_to, size_t n,
                          mrd_error *err)
{
    char dir[MRD_MF_PATH], pidfile[MRD_MF_PATH];
    if (mrd_path_fmt(dir, sizeof(dir), "%s/%s", h->m->root, RETIRE_DIR) != MRD_OK ||
        mrd_path_fmt(pidfile, sizeof(pidfile), "%s/redis.pid", rn->dir) != MRD_OK)
        return mrd_error_set(err, MRD_ERR_INVALID, "%s: path too long", h->m->root);
    MRD_TRY(mrd_mkdir_p(dir, 0700, err));
    /* the process is gone: a pid file left behind names a pid that may be
     * reused, and nothing should ever kill by it */
    if (unlink(pidfile) != 0 && errno != ENOENT)
        return mrd_error_set(err, MRD_ERR_IO, "cannot remove %s: %s", pidfile,
                             strerror(errno));
    long long secs = (long long)time(NULL);
    for (int k = 1; k <= 10; k++) {
        mrd_rc rc = k == 1 ? mrd_path_fmt(moved_to, n, "%s/redis-%d.%lld", dir, rn->port, secs)
                           : mrd_path_fmt(moved_to, n, "%s/redis-%d.%lld-%d", dir, rn->port,
                                          secs, k);
        if (rc != MRD_OK)
            return mrd_error_set(err, MRD_ERR_INVALID, "%s: path too long", dir);
        if (mrd_path_exists(moved_to))
            continue;
        if (rename(rn->dir, moved_to) == 0)
            return MRD_OK;
        if (errno != EEXIST && errno != ENOTEMPTY)
            return mrd_error_set(err, MRD_ERR_IO, "cannot move %s to %s: %s", rn->dir,
                                 moved_to, strerror(errno));
    }
    return mrd_error_set(err, MRD_ERR_IO, "cannot move %s: %s/redis-%d.%lld and the next "
                                          "names exist", rn->dir, dir, rn->port, secs);
}

mrd_rc retire_act(const sv_host *h, retire_node *rn, int stop_timeout_ms, char *moved_to,
                  size_t n, mrd_error *err)
{
    if (rn->action != RETIRE_MOVE && rn->action != RETIRE_STOP)
        return mrd_error_set(err, MRD_ERR_STATE, "%s: %s is not retired", rn->label,
                             retire_action_name(rn->action));
    if (rn->action == RETIRE_STOP)
        MRD_TRY(stop_empty(h, rn, stop_timeout_ms, err));
    else if ((rn->pid = recorded_pid(rn)) != 0) /* started since it was observed */
        return mrd_error_set(err, MRD_ERR_STATE, "%s: runs again (pid %d)", rn->label,
                             (int)rn->pid);
    return move_folder(h, rn, moved_to, n, err);
}

mrd_rc retire_stop_all(const sv_host *h, int timeout_ms, mrd_error *err)
{
    int n = retire_find(h, NULL, 0, err);
    if (n <= 0)
        return n < 0 ? err ? err->code : MRD_ERR_IO : MRD_OK;
    retire_node *found = calloc((size_t)n, sizeof(*found));
    if (!found)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    int cap = n;
    n = retire_find(h, found, cap, err); /* a folder may have come or gone since */
    mrd_rc rc = n < 0 ? err ? err->code : MRD_ERR_IO : MRD_OK;
    for (int i = 0; i < n && i < cap; i++) {
        retire_node *rn = &found[i];
        if (!(rn->pid = recorded_pid(rn)))
            continue;
        mrd_rc r = mrd_proc_stop(rn->pid, timeout_ms, err);
        if (r == MRD_OK)
            mrd_info("%s/%s: stopped pid %d (not in the manifest)", h->m->host, rn->label,
                     (int)rn->pid);
        else
            rc = r;
    }
    free(found);
    return rc;
}
