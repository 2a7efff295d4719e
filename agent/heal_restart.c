/* heal_restart.c - a requested restart of one process of this host, one
 * step of a rolling restart (see heal.h).  The heal path does the work: a
 * store node is restored as in a pass (heal_restore() through the mode's
 * act, with the step marked as a restart), the sentinel is started by the
 * mode's host step with its own config.  Only the lock, the checks and
 * the report are here. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "heal_int.h"
#include "log.h"

#define RESTART_STOP_TIMEOUT_MS 5000 /* SIGTERM, then SIGKILL (as a restore's stop) */

/* ==== deciding (pure) ==== */

heal_restart_verdict heal_restart_decide(const heal_facts *f)
{
    if (f->self_is_leader || (f->reachable && f->is_master))
        return HEAL_RESTART_LEADER;
    if (!f->have_leader || f->failover_in_progress || (f->proc_alive && !f->reachable))
        return HEAL_RESTART_NOT_NOW;
    return HEAL_RESTART_GO;
}

/* ==== the report ==== */

json_t *heal_refusal(const char *label, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return json_pack("{s:s,s:o}", "error", msg, "process",
                     label ? json_string(label) : json_null());
}

/* The detail of a step: its summary, else its last event's detail. */
static const char *step_detail(const heal_step *ps)
{
    if (ps->summary[0])
        return ps->summary;
    json_t *last = json_array_get(ps->actions, json_array_size(ps->actions) - 1);
    const char *d = json_string_value(json_object_get(last, "detail"));
    return d ? d : "";
}

/* ==== a store node ==== */

static heal_restart_status restart_node(heal_ctx *hc, heal_node *hn, heal_step *ps,
                                        json_t **refused)
{
    const mrd_manifest *m = hc->h->m;
    switch (heal_restart_decide(&ps->o->f)) {
    case HEAL_RESTART_LEADER:
        *refused = heal_refusal(hn->proc->label,
                           "%s/%s is the leader of its shard; switch it over first",
                           m->host, hn->proc->label);
        return HEAL_RESTART_REFUSED;
    case HEAL_RESTART_NOT_NOW:
        *refused = heal_refusal(hn->proc->label,
                           "%s/%s cannot be restarted now: %s; try again once the heal pass "
                           "reports it ready",
                           m->host, hn->proc->label,
                           !ps->o->f.have_leader ? "no majority agrees on its shard's master"
                           : ps->o->f.failover_in_progress ? "a failover is under way"
                                                           : "it runs but does not answer");
        return HEAL_RESTART_LATER;
    case HEAL_RESTART_GO:
        break;
    }
    ps->restart = true;
    hc->mode->act(ps, HEAL_RESTORE);
    return ps->acted && !ps->failed ? HEAL_RESTART_DONE : HEAL_RESTART_FAILED;
}

/* ==== the sentinel ==== */

/* Stop it (the caller then observes, and the mode's host step starts it
 * again with its own sentinel.conf and bootstraps it: sv_bootstrap_sentinel
 * waits until it sees every replica and sentinel again).  False when it
 * cannot be restarted so. */
static bool stop_sentinel(sv_proc *snt, heal_step *ps, mrd_error *err)
{
    if (!mrd_path_exists(snt->conf)) {
        heal_act(ps, "+heal-failed", snt->label,
                 "its sentinel.conf is missing: the heal pass re-creates it");
        return false;
    }
    sv_refresh(ps->hc->h);
    if (snt->pid && mrd_proc_stop(snt->pid, RESTART_STOP_TIMEOUT_MS, err) != MRD_OK) {
        heal_act(ps, "+heal-failed", snt->label, "could not stop pid %d: %s", (int)snt->pid,
                 err->msg);
        return false;
    }
    heal_act(ps, "+restart", snt->label,
             "restart requested: stopped pid %d; starts again with its own sentinel.conf",
             (int)snt->pid);
    snt->pid = 0;
    snt->child = false;
    return true;
}

/* ==== the call ==== */

mrd_rc heal_restart(heal_ctx *hc, int port, int lock_wait_ms, json_t **report,
                    heal_restart_status *status, mrd_error *err)
{
    const mrd_manifest *m = hc->h->m;
    long long t0 = mrd_now_ms();
    *report = NULL;
    heal_node *hn = NULL;
    for (int i = 0; i < hc->nnodes && port > 0; i++)
        if (hc->nodes[i].proc->port == port)
            hn = &hc->nodes[i];
    sv_proc *snt = port == 0 ? sv_find(hc->h, SV_SENTINEL) : NULL;
    if ((port > 0 && !hn) || (port == 0 && (!snt || hc->nnodes == 0))) {
        *status = HEAL_RESTART_UNKNOWN;
        *report = port > 0 ? heal_refusal(NULL, "%s has no store node on port %d", m->host, port)
                           : heal_refusal(NULL, "%s runs no sentinel", m->host);
        return *report ? MRD_OK : mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    const char *label = hn ? hn->proc->label : snt->label;
    int lock = heal_lock_take(m, lock_wait_ms);
    if (lock < 0) {
        *status = HEAL_RESTART_BUSY;
        *report = heal_refusal(label, "%s: another heal pass or restart is running (%s/heal.lock)",
                          m->host, m->root);
        return *report ? MRD_OK : mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    mrd_info("%s/%s: restart requested", m->host, label);

    /* the sentinel's step reads the host's first node's observation */
    heal_node *seen = hn ? hn : &hc->nodes[0];
    heal_obs o;
    json_t *acts = json_array();
    json_t *refused = NULL;
    heal_step ps = {.hc = hc, .o = &o, .hn = seen, .actions = acts};
    long syncs_partial = seen->syncs_partial, syncs_full = seen->syncs_full;
    mrd_rc rc = MRD_OK;
    if (snt) {
        *status = HEAL_RESTART_FAILED;
        if (stop_sentinel(snt, &ps, err) && (rc = heal_observe(hc, seen, &o, err)) == MRD_OK) {
            hc->mode->host_act(&ps);
            hc->mode->obs_free(&o);
            if (ps.acted && !ps.failed)
                *status = HEAL_RESTART_DONE;
        }
    } else if ((rc = heal_observe(hc, hn, &o, err)) == MRD_OK) {
        *status = restart_node(hc, hn, &ps, &refused);
        hc->mode->obs_free(&o);
    }
    heal_state_save(hc);
    close(lock);
    if (rc != MRD_OK) { /* out of memory while observing */
        json_decref(acts);
        return rc;
    }
    if (refused) {
        json_decref(acts);
        *report = refused;
        return MRD_OK;
    }
    json_t *partial = json_null();
    if (hn && seen->syncs_partial > syncs_partial)
        partial = json_true();
    else if (hn && seen->syncs_full > syncs_full)
        partial = json_false();
    long long ms = mrd_now_ms() - t0;
    *report = json_pack("{s:s,s:b,s:I,s:o,s:s,s:o}", "process", label, "restarted",
                        *status == HEAL_RESTART_DONE, "ms", (json_int_t)ms, "partial_resync",
                        partial, "detail", step_detail(&ps), "events", acts);
    mrd_info("%s/%s: restart %s in %lld ms", m->host, label,
             *status == HEAL_RESTART_DONE ? "done" : "failed", ms);
    return *report ? MRD_OK : mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
}
