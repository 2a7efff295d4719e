/* heal_seed.c - a restore's step on this host: one store node starts as
 * its shard's leader with the data of a backup (see heal.h, heal_seed()).
 *
 * `meridian restore` puts the backup's RDB at ROOT/restore/PORT.rdb with
 * the transport, then asks the agent of the host that runs the shard's
 * leader: the node stops, the file becomes its dump.rdb, and it starts
 * with a config that makes it the master (Redis loads dump.rdb at start,
 * whatever `save` says).  The replicas then sync from it as from any
 * restarted master.  Everything happens under the heal lock, so no pass
 * and no crash fast path sees the stop as a crash. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsutil.h"
#include "heal_int.h"
#include "info.h"
#include "log.h"
#include "snapshot.h"

#define SEED_STOP_TIMEOUT_MS 5000    /* SIGTERM, then SIGKILL (as a restore's stop) */
#define SEED_LOAD_TIMEOUT_MS 1800000 /* loading a large RDB: 30 minutes at most */
#define SEED_POLL_MS 50

/* ==== deciding (pure) ==== */

heal_seed_verdict heal_seed_decide(const heal_facts *f, long long keys, bool force)
{
    if (!f->have_leader)
        return HEAL_SEED_NOT_NOW;
    if (!f->self_is_leader)
        return HEAL_SEED_NOT_LEADER;
    if (f->reachable && keys != 0 && !force)
        return HEAL_SEED_HOLDS_DATA;
    return HEAL_SEED_GO;
}

/* ==== the steps ==== */

/* Node HN's INFO, parsed; false when it does not answer. */
static bool node_info(const heal_ctx *hc, const heal_node *hn, store_info *out)
{
    store_conn *c = NULL;
    char *text = NULL;
    bool ok = heal_node_conn(hc, hn->node, &c, NULL) == MRD_OK &&
              store_info_text(c, NULL, &text, NULL) == MRD_OK &&
              store_info_parse(text, strlen(text), out, NULL) == MRD_OK;
    free(text);
    store_conn_close(&c);
    return ok;
}

/* Whether P still runs.  A child of this agent that exited is reaped here:
 * the heal lock keeps heal_watch() from doing it. */
static bool running(sv_proc *p)
{
    int st;
    if (p->child && waitpid(p->pid, &st, WNOHANG) == p->pid) {
        p->pid = 0;
        p->child = false;
    }
    return p->pid > 0 && mrd_pid_alive(p->pid);
}

/* Wait until node HN answers as a master that finished loading. */
static mrd_rc wait_loaded(const heal_ctx *hc, heal_node *hn, store_info *out,
                          mrd_error *err)
{
    long long deadline = mrd_now_ms() + SEED_LOAD_TIMEOUT_MS;
    for (;;) {
        if (node_info(hc, hn, out) && !out->loading && out->is_master)
            return MRD_OK;
        if (mrd_now_ms() >= deadline)
            return mrd_error_set(err, MRD_ERR_TIMEOUT,
                                 "%s did not finish loading its data within %d s",
                                 hn->proc->label, SEED_LOAD_TIMEOUT_MS / 1000);
        if (!running(hn->proc))
            return mrd_error_set(err, MRD_ERR_STATE,
                                 "%s exited while it loaded the backup: see %s",
                                 hn->proc->label, hn->proc->logfile);
        mrd_sleep_ms(SEED_POLL_MS);
    }
}

/* Stop node HN, install FILE as its dump.rdb, start it as the master
 * (with store.persistence aof: its old AOF set aside, started with
 * appendonly no so that Redis loads dump.rdb, then the AOF turned on).
 * Events go to ACTS. */
static mrd_rc seed_node(heal_ctx *hc, heal_node *hn, const char *file, json_t *acts,
                        store_info *loaded, mrd_error *err)
{
    sv_host *h = hc->h;
    sv_proc *redis = hn->proc;
    const mrd_manifest *m = h->m;
    char dump[MRD_MF_PATH];
    sv_refresh(h);
    if (redis->pid) {
        MRD_TRY(mrd_proc_stop(redis->pid, SEED_STOP_TIMEOUT_MS, err));
        redis->pid = 0;
        redis->child = false;
    }
    MRD_TRY(mrd_mkdir_p(redis->dir, 0700, err));
    heal_step ps = {.hc = hc, .hn = hn, .actions = acts};
    MRD_TRY(heal_aof_set_aside(&ps, redis->dir, err));
    MRD_TRY(mrd_path_fmt(dump, sizeof(dump), "%s/dump.rdb", redis->dir));
    if (rename(file, dump) != 0)
        return mrd_error_set(err, MRD_ERR_IO, "cannot move %s to %s: %s", file, dump,
                             strerror(errno));
    MRD_TRY(sv_render(h, redis, hn->node, m->nodes[hn->node].replica_priority, true, err));
    MRD_TRY(sv_start(h, redis, hc->child_mode ? MRD_SPAWN_CHILD : MRD_SPAWN_DAEMON, err));
    MRD_TRY(wait_loaded(hc, hn, loaded, err));
    char aof[160] = "";
    if (strcmp(m->settings.store.persistence, "aof") == 0)
        MRD_TRY(heal_aof_on(hc, hn, aof, sizeof(aof), err));
    return MRD_OK;
}

/* ==== the call ==== */

mrd_rc heal_seed(heal_ctx *hc, int port, bool force, int lock_wait_ms, json_t **report,
                 heal_restart_status *status, mrd_error *err)
{
    const mrd_manifest *m = hc->h->m;
    long long t0 = mrd_now_ms();
    *report = NULL;
    heal_node *hn = NULL;
    for (int i = 0; i < hc->nnodes; i++)
        if (hc->nodes[i].proc->port == port)
            hn = &hc->nodes[i];
    char file[MRD_MF_PATH];
    if (!hn || mrd_path_fmt(file, sizeof(file), "%s/" HEAL_SEED_DIR "/%d.rdb", m->root,
                            port) != MRD_OK) {
        *status = HEAL_RESTART_UNKNOWN;
        *report = heal_refusal(NULL, "%s has no store node on port %d", m->host, port);
        return *report ? MRD_OK : mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    const char *label = hn->proc->label;
    int lock = heal_lock_take(m, lock_wait_ms);
    if (lock < 0) {
        *status = HEAL_RESTART_BUSY;
        *report = heal_refusal(label, "%s: another heal pass or restart is running (%s/heal.lock)",
                          m->host, m->root);
        return *report ? MRD_OK : mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    mrd_info("%s/%s: seed requested%s", m->host, label, force ? " (forced)" : "");

    heal_obs o;
    mrd_rc rc = heal_observe(hc, hn, &o, err);
    if (rc != MRD_OK) {
        close(lock);
        return rc;
    }
    store_info before = {0};
    long long keys = o.f.reachable && node_info(hc, hn, &before) ? before.keys_total : 0;
    heal_seed_verdict verdict = heal_seed_decide(&o.f, keys, force);
    hc->mode->obs_free(&o);
    *status = HEAL_RESTART_REFUSED;
    if (!mrd_path_exists(file))
        *report = heal_refusal(label, "%s/%s: no backup was put at %s", m->host, label, file);
    else if (verdict == HEAL_SEED_NOT_NOW)
        *report = heal_refusal(label, "%s/%s: no majority agrees on its shard's master", m->host,
                          label);
    else if (verdict == HEAL_SEED_NOT_LEADER)
        *report = heal_refusal(label,
                          "%s/%s is not its shard's master: the backup goes to the master",
                          m->host, label);
    else if (verdict == HEAL_SEED_HOLDS_DATA)
        *report = heal_refusal(label, "%s/%s holds %lld keys: a restore would replace them",
                          m->host, label, keys);
    if (*report) {
        close(lock);
        return MRD_OK;
    }

    store_info loaded = {0};
    mrd_error why;
    mrd_error_clear(&why);
    json_t *acts = json_array();
    rc = seed_node(hc, hn, file, acts, &loaded, &why);
    if (rc == MRD_OK) {
        hn->failures = 0;
        hn->next_try_ms = 0;
        hn->down_since_ms = 0;
        pthread_mutex_lock(&hc->mu);
        hn->last_self_leader = true;
        pthread_mutex_unlock(&hc->mu);
        events_emit(hc->ev, "+seeded", label, "started as the master with %lld keys in %lld ms",
                    loaded.keys_total, mrd_now_ms() - t0);
    } else {
        mrd_warn("%s/%s: seed failed: %s", m->host, label, why.msg);
    }
    heal_state_save(hc);
    close(lock);
    *status = rc == MRD_OK ? HEAL_RESTART_DONE : HEAL_RESTART_FAILED;
    *report = rc == MRD_OK
                  ? json_pack("{s:s,s:b,s:I,s:I,s:I,s:O}", "process", label, "seeded", 1,
                              "keys", (json_int_t)loaded.keys_total, "replication_offset",
                              (json_int_t)loaded.master_repl_offset, "ms",
                              (json_int_t)(mrd_now_ms() - t0), "events", acts)
                  : heal_refusal(label, "%s/%s: %s", m->host, label, why.msg);
    json_decref(acts);
    return *report ? MRD_OK : mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
}
