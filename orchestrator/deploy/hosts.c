/* hosts.c - what deploy, destroy and the agent control share (deploy_int.h):
 * where a host's files live, per-host jobs run in parallel with their
 * progress lines, running meridian-agent on a host. */
#include "deploy_int.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "fsutil.h"

/* Where host H's agent finds its secrets: the state dir's on the local
 * transport; its own copy, ROOT/secrets, on a remote host. */
mrd_rc host_secrets_dir(const orch_ctx *c, const char *root, char *buf, size_t n)
{
    return orch_remote(c) ? mrd_path_fmt(buf, n, "%s/secrets", root)
                     : mrd_path_fmt(buf, n, "%s", c->secrets_dir);
}

/* The meridian-agent that runs on host H: this machine's on the local
 * transport, the uploaded ROOT/bin/meridian-agent on a remote host. */
mrd_rc host_agent_bin(const orch_ctx *c, const char *root, char *buf, size_t n)
{
    return orch_remote(c) ? mrd_path_fmt(buf, n, "%s/bin/meridian-agent", root)
                     : mrd_path_fmt(buf, n, "%s", c->agent_bin);
}

mrd_rc remote_paths_get(orch_ctx *c, int host, remote_paths *p, mrd_error *err)
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

void progress(host_job *j, int host, const char *fmt, ...)
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
void last_line(const char *text, char *buf, size_t n)
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
mrd_rc cmd_failed(mrd_error *err, const char *what, const tp_result *res)
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
int agent_cmd(orch_ctx *c, int host, const char *bin, const char *verb,
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
void run_hosts(orch_ctx *c, host_job *jobs, int parallel,
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
