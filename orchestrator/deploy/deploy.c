/* deploy.c - the deploy command: secrets, settings pinned or reconciled,
 * every host set up in parallel, then verified as status judges it. */
#include "deploy_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agent_client.h"
#include "form.h"
#include "fsutil.h"
#include "lock.h"
#include "log.h"
#include "manifest.h"
#include "reconcile.h"
#include "status.h"

#define STATUS_PROBE_TIMEOUT_MS 1000
#define VERIFY_POLL_MS 20

/* "SIZE FNV1A64\n" of DATA: cheap, and enough to tell two builds apart. */
static void binary_stamp(const char *data, size_t len, char *buf, size_t n)
{
    unsigned long long h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)data[i]) * 1099511628211ULL;
    snprintf(buf, n, "%zu %016llx\n", len, h);
}

/* Healthy as status judges it, and every agent says its node is ready:
 * "deployed and verified" must not be followed by a status that shows an
 * agent still reporting a replica as syncing.  Otherwise *summary says
 * which agent is not ready yet. */
static mrd_health verified(const orch_ctx *c, st_report *r)
{
    if (r->health != MRD_HEALTH_OK)
        return r->health;
    for (int i = 0; i < r->nnodes; i++) {
        const st_node *n = &r->nodes[i];
        if (n->ready == 1)
            continue;
        snprintf(r->summary, sizeof(r->summary), "healthy; waiting for the agent on %s: %s",
                 c->topo->hosts[n->host].name,
                 n->ready == 0 ? (n->ready_reason[0] ? n->ready_reason : "not ready")
                               : n->ready_reason[0] ? n->ready_reason : "no answer");
        return MRD_HEALTH_WARNING;
    }
    return MRD_HEALTH_OK;
}

/* An agent that does not answer during verification, though this run
 * found it running or started it: it may have died since (say, stopped by
 * the `meridian-agent stop` of a deploy killed with -9, which outlives
 * it).  Start it once per host; a live agent (holding its lock) makes the
 * start a harmless refusal. */
static void restart_down_agents(orch_ctx *c, const st_report *r, bool *tried, FILE *out)
{
    for (int h = 0; h < c->topo->nhosts; h++) {
        mrd_error err;
        if (tried[h] || r->hosts[h].agent != ST_AGENT_DOWN)
            continue;
        tried[h] = true;
        if (deploy_agent_start(c, h, &err) == MRD_OK && out) {
            fprintf(out, "  %-12s agent was not running; started\n", c->topo->hosts[h].name);
            fflush(out);
        }
    }
}

/* Poll status (the agents' readiness included) until verified or the
 * deadline; print what is still pending whenever it changes. */
static mrd_health verify(orch_ctx *c, int timeout_ms, FILE *out, bool *first_ok)
{
    long long start = mrd_now_ms(), deadline = start + timeout_ms;
    char last[256] = "";
    mrd_health health = MRD_HEALTH_UNKNOWN;
    status_opts opts = {.timeout_ms = STATUS_PROBE_TIMEOUT_MS, .ask_agents = true};
    bool *tried = calloc((size_t)c->topo->nhosts, sizeof(*tried));
    if (!tried)
        return MRD_HEALTH_UNKNOWN;
    for (int round = 0;; round++) {
        st_report *r = NULL;
        mrd_error err;
        if (status_probe_ex(c, &opts, &r, &err) == MRD_OK) {
            health = verified(c, r);
            if (health != MRD_HEALTH_OK)
                restart_down_agents(c, r, tried, out);
            if (round == 0)
                *first_ok = health == MRD_HEALTH_OK;
            if (out && health != MRD_HEALTH_OK && strcmp(last, r->summary) != 0) {
                fprintf(out, "  verify       %.1f s: %s\n",
                        (double)(mrd_now_ms() - start) / 1000.0, r->summary);
                fflush(out);
                snprintf(last, sizeof(last), "%s", r->summary);
            }
            if (health == MRD_HEALTH_OK || mrd_now_ms() >= deadline) {
                if (out && health != MRD_HEALTH_OK)
                    status_print(out, c, r);
                status_free(&r);
                free(tried);
                return health;
            }
            status_free(&r);
        } else if (mrd_now_ms() >= deadline) {
            free(tried);
            return MRD_HEALTH_UNKNOWN;
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

/* What every host's job reads: over a remote transport, the agent binary
 * to upload and its stamp. */
static mrd_rc shared_load(orch_ctx *c, deploy_shared *sh, mrd_error *err)
{
    *sh = (deploy_shared){.install_packages = c->opts.install_packages};
    if (!orch_remote(c))
        return MRD_OK;
    MRD_TRY(mrd_read_file(c->agent_bin, 256u << 20, &sh->agent, &sh->agent_len, err));
    binary_stamp(sh->agent, sh->agent_len, sh->agent_stamp, sizeof(sh->agent_stamp));
    return MRD_OK;
}

int deploy_hosts(orch_ctx *c, const deploy_opts *o)
{
    deploy_shared sh;
    mrd_error err;
    if (shared_load(c, &sh, &err) != MRD_OK) {
        if (o->progress)
            fprintf(o->progress, "  %-12s %s\n", "agent", err.msg);
        return 2;
    }
    char did[200];
    int changed = 0;
    int rc = deploy_hosts_phase(c, o, &sh, mrd_now_ms(), did, sizeof(did), &changed);
    if (rc == 0 && o->progress)
        fprintf(o->progress, "  %-12s %s\n", "hosts", did);
    free(sh.agent);
    return rc;
}

/* The hosts, then in cluster mode the cluster: formed, slots moved to the
 * plan's quotas, retired shards gone.  0, or 2 with what failed printed. */
static int roll_out(orch_ctx *c, const deploy_opts *o, const deploy_shared *sh, long long t0,
                    char *did, size_t didlen, int *changed, form_report *fr)
{
    FILE *out = o->progress;
    mrd_error err;
    char(*gone)[80] = calloc(MRD_MF_MAX_NODES, sizeof(*gone));
    int ngone = 0, rc = 0;
    if (!gone)
        return 2;
    if (c->topo->mode == MRD_MODE_CLUSTER)
        rc = deploy_scale_before(c, out, gone, &ngone);
    if (rc == 0)
        rc = deploy_hosts_phase(c, o, sh, t0, did, didlen, changed);
    if (rc == 0 && c->topo->mode == MRD_MODE_CLUSTER) {
        if (orch_placement_save(c, c->plan, false, &err) != MRD_OK ||
            cluster_form(c, o->verify_timeout_ms, out, fr, &err) != MRD_OK) {
            if (out)
                fprintf(out, "deploy incomplete: %s\n", err.msg);
            rc = 2;
        } else {
            if (out) {
                char what[200];
                form_report_text(fr, what, sizeof(what));
                fprintf(out, "  %-12s %s (%.2f s)\n", "cluster", what, (double)fr->ms / 1000.0);
            }
            rc = deploy_scale_after(c, o, sh, out, gone, ngone, changed);
        }
    }
    free(gone);
    return rc;
}

static int deploy_locked(orch_ctx *c, const deploy_opts *o)
{
    FILE *out = o->progress;
    long long t0 = mrd_now_ms();
    mrd_error err;
    deploy_shared sh = {.install_packages = c->opts.install_packages};
    if (out) {
        if (orch_remote(c))
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
    deploy_tls tls; /* after the pin: a running deployment keeps its tls.enabled */
    if (rc == MRD_OK)
        rc = deploy_tls_prepare(c, out, &tls, &err);
    /* the CA may be new, and the pin may have kept a running deployment's
     * tls.enabled: connections follow what the nodes run */
    if (rc == MRD_OK)
        rc = orch_tls_start(c, &err);
    if (rc == MRD_OK)
        rc = agent_client_set_tls_for(c, &err);
    if (rc == MRD_OK)
        rc = shared_load(c, &sh, &err);
    if (rc != MRD_OK) {
        char buf[600];
        mrd_error_format(&err, buf, sizeof(buf));
        fprintf(stderr, "meridian: %s\n", buf);
        free(sh.agent);
        return 2;
    }
    char did[200];
    int changed = 0;
    form_report fr = {0};
    int hrc = roll_out(c, o, &sh, t0, did, sizeof(did), &changed, &fr);
    free(sh.agent);
    if (hrc != 0)
        return hrc;
    if (deploy_tls_reload(c, &tls, out, &err) != MRD_OK) {
        if (out)
            fprintf(out, "deploy incomplete: a renewed certificate was not loaded: %s\n",
                    err.msg);
        return 2;
    }
    bool formed_now = fr.met + fr.ranges + fr.replicated + fr.epochs > 0;
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
    int live_changes = rr.nchanges - rr.fenced, refused = rr.refused;
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
    mrd_health h = verify(c, o->verify_timeout_ms, out, &first_ok);
    double secs = (double)(mrd_now_ms() - t0) / 1000.0;
    if (h != MRD_HEALTH_OK) {
        if (out)
            fprintf(out, "deploy not verified: still %s after %.1f s (see the table above "
                         "and the agent logs under %s/hosts)\n",
                    mrd_health_name(h), secs, orch_remote(c) ? c->remote_root : c->state_dir);
        return 1;
    }
    if (pinned > 0) {
        if (out)
            fprintf(out, "deployed, but %d setting(s) need a restart and were not applied "
                         "(see above)\n", pinned);
        return 1;
    }
    if (out) {
        if (changed == 0 && live_changes == 0 && !formed_now && first_ok)
            fprintf(out, "no changes: %d hosts already deployed and healthy (%.1f s)\n",
                    c->topo->nhosts, secs);
        else if (c->topo->mode == MRD_MODE_CLUSTER)
            fprintf(out, "deployed and verified in %.1f s (%s): %d shards serve all 16384 "
                         "slots, %d replicas linked, cluster_state ok on %d nodes\n",
                    secs, did, c->plan->nshards, c->plan->nnodes - c->plan->nshards,
                    c->plan->nnodes);
        else
            fprintf(out, "deployed and verified in %.1f s (%s): leader %s, %d replicas "
                         "linked, %d sentinels agree\n",
                    secs, did, plan_node_host(c->plan, c->plan->shards[0].master)->name,
                    c->plan->shards[0].nnodes - 1, c->plan->nsentinels);
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
