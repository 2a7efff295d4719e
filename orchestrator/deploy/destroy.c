/* destroy.c - stop every process of a topology and remove what deploy
 * put on its hosts (destroy_run, deploy.h). */
#include "deploy_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "manifest.h"

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

/* What a dry run reports for host H under ROOT: its agent, each of its
 * nodes (redis/ or redis-PORT/) and its sentinel. */
static void report_pidfiles(const orch_ctx *c, host_job *j, int host, const char *root)
{
    const mrd_plan *p = c->plan;
    report_pidfile(j, host, root, "agent.pid");
    for (int i = 0; i < p->nnodes; i++) {
        char rel[64];
        if (p->nodes[i].host != host)
            continue;
        manifest_node_label(p->nodes[i].port, c->topo->settings.store.port, rel, sizeof(rel));
        snprintf(rel + strlen(rel), sizeof(rel) - strlen(rel), "/redis.pid");
        report_pidfile(j, host, root, rel);
    }
    report_pidfile(j, host, root, "sentinel/sentinel.pid");
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
        report_pidfiles(c, j, host, root);
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
        report_pidfiles(c, j, host, p.root);
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
    if (!state && !orch_remote(c)) {
        fprintf(out, "nothing to destroy: %s does not exist\n", c->state_dir);
        return 0;
    }
    mrd_lock *l = NULL;
    if (yes && state) {
        int rc = state_lock(c, "destroy", false, DEPLOY_LOCK_WAIT_MS, out, &l);
        if (rc == -1 && !orch_remote(c)) { /* another destroy removed it meanwhile */
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
    run_hosts(c, jobs, orch_remote(c) && yes ? 0 : 1,
              orch_remote(c) ? destroy_host_remote : destroy_host_local);
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
            orch_remote(c) ? "host roots and credentials" : c->state_dir);
    return 0;
}
