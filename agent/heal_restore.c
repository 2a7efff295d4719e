/* heal_restore.c - rebuilding a lost node as a replica of its shard's
 * master, shared by the modes (see heal_int.h): source choice, snapshot
 * fetch, the AOF of the node's previous life set aside, start, readiness,
 * resync kind, the AOF turned on (store.persistence "aof"), and the
 * failure, backoff and flap bookkeeping.  What differs between modes (how
 * the node is told whom to follow, what "ready" changes) comes through
 * heal_restore_hooks. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "heal_int.h"
#include "info.h"
#include "log.h"
#include "snapshot.h"

/* ==== source choice ==== */

int heal_choose_source(const heal_source *c, int n, int master)
{
    int best = -1;
    for (int i = 0; i < n; i++) {
        if (!c[i].healthy)
            continue;
        if (best < 0 || (c[i].same_region && !c[best].same_region) ||
            (c[i].same_region == c[best].same_region && c[i].lag < c[best].lag))
            best = i;
    }
    return best >= 0 ? c[best].node : master;
}

static bool probe_info(const store_probe *p, store_info *out)
{
    return p->rc == MRD_OK && p->info &&
           store_info_parse(p->info, strlen(p->info), out, NULL) == MRD_OK;
}

/* The snapshot source for RQ's node (a node index); -1 when the master's
 * INFO was not seen (its offset is what lags are measured against). */
static int choose_source(const heal_ctx *hc, const heal_node *hn, const heal_restore_req *rq)
{
    const mrd_manifest *m = hc->h->m;
    const mrd_mf_host *self = manifest_self(m);
    store_info lead, info;
    if (!probe_info(&rq->probes[rq->master - rq->sh->first], &lead))
        return -1;
    heal_source cand[MRD_MF_MAX_NODES];
    int n = 0;
    for (int i = rq->sh->first; i < rq->sh->first + rq->sh->nnodes && n < MRD_MF_MAX_NODES;
         i++) {
        if (i == hn->node || i == rq->master)
            continue;
        bool ok = probe_info(&rq->probes[i - rq->sh->first], &info) && !info.is_master &&
                  info.link_up &&
                  strcmp(info.master_host, manifest_node_address(m, rq->master)) == 0 &&
                  info.master_port == m->nodes[rq->master].port;
        cand[n++] = (heal_source){
            .node = i,
            .healthy = ok,
            .same_region = strcmp(heal_node_host(m, i)->region, self->region) == 0,
            .lag = ok ? lead.master_repl_offset - info.slave_repl_offset : 0,
        };
    }
    return heal_choose_source(cand, n, rq->master);
}

/* ==== the steps ==== */

static mrd_rc master_stats(const heal_ctx *hc, int master, store_info *out)
{
    store_conn *c = NULL;
    char *text = NULL;
    mrd_rc rc = heal_node_conn(hc, master, &c, NULL);
    if (rc == MRD_OK)
        rc = store_info_text(c, NULL, &text, NULL);
    if (rc == MRD_OK)
        rc = store_info_parse(text, strlen(text), out, NULL);
    free(text);
    store_conn_close(&c);
    return rc;
}

/* Remove temporary files a killed restore may have left in DIR. */
static void clean_partial(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) {
            char path[MRD_MF_PATH];
            if (mrd_path_fmt(path, sizeof(path), "%s/%s", dir, e->d_name) == MRD_OK)
                unlink(path);
        }
    closedir(d);
}

/* Wait for the restored node HN to link up and catch up with MASTER.  On
 * success, fill *lag and return MRD_OK. */
static mrd_rc wait_ready(const heal_ctx *hc, const heal_node *hn, int master, long long *lag,
                         mrd_error *err)
{
    long long deadline = mrd_now_ms() + HEAL_SYNC_TIMEOUT_MS;
    while (mrd_now_ms() < deadline) {
        store_conn *c = NULL;
        char *text = NULL;
        store_info me, lead;
        bool ok = heal_node_conn(hc, hn->node, &c, NULL) == MRD_OK &&
                  store_info_text(c, "replication", &text, NULL) == MRD_OK &&
                  store_info_parse(text, strlen(text), &me, NULL) == MRD_OK && me.link_up &&
                  !me.sync_in_progress && master_stats(hc, master, &lead) == MRD_OK;
        free(text);
        store_conn_close(&c);
        if (ok) {
            *lag = lead.master_repl_offset > me.slave_repl_offset
                       ? lead.master_repl_offset - me.slave_repl_offset
                       : 0;
            if (*lag <= MRD_CAUGHT_UP_LAG_BYTES)
                return MRD_OK;
        }
        mrd_sleep_ms(50);
    }
    return mrd_error_set(err, MRD_ERR_TIMEOUT,
                         "not linked and caught up with %s within %d s",
                         heal_node_host(hc->h->m, master)->host, HEAL_SYNC_TIMEOUT_MS / 1000);
}

/* ==== the AOF of the node's previous life (see heal_int.h) ==== */

/* The unix time of a kept-aside AOF folder's NAME into *T; false when
 * NAME is not one. */
static bool lost_time(const char *name, long long *t)
{
    size_t pl = strlen(HEAL_AOF_LOST_PREFIX);
    if (strncmp(name, HEAL_AOF_LOST_PREFIX, pl) != 0 || !name[pl])
        return false;
    long long v = 0;
    for (const char *d = name + pl; *d; d++) {
        if (*d < '0' || *d > '9' || v > (LLONG_MAX - 9) / 10)
            return false;
        v = v * 10 + (*d - '0');
    }
    *t = v;
    return true;
}

int heal_aof_lost_prune(const char *const *names, int n, int keep, int *drop)
{
    int k = 0;
    for (int i = 0; i < n; i++) {
        long long t, u;
        if (!lost_time(names[i], &t))
            continue;
        int newer = 0; /* kept-aside folders newer than this one (the first of equals) */
        for (int j = 0; j < n; j++)
            if (j != i && lost_time(names[j], &u) && (u > t || (u == t && j < i)))
                newer++;
        if (newer >= keep)
            drop[k++] = i;
    }
    return k;
}

/* Remove the kept-aside AOF folders of DIR beyond the HEAL_AOF_LOST_KEEP
 * newest; their names go to GONE (N bytes, "" for none). */
static void prune_lost(const char *dir, char *gone, size_t n)
{
    enum { MAX_ENTRIES = 256 };
    char *names[MAX_ENTRIES];
    int count = 0, drop[MAX_ENTRIES];
    size_t len = 0;
    gone[0] = '\0';
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) && count < MAX_ENTRIES)
        if (strncmp(e->d_name, HEAL_AOF_LOST_PREFIX, strlen(HEAL_AOF_LOST_PREFIX)) == 0 &&
            (names[count] = strdup(e->d_name)))
            count++;
    closedir(d);
    int ndrop =
        heal_aof_lost_prune((const char *const *)names, count, HEAL_AOF_LOST_KEEP, drop);
    for (int i = 0; i < ndrop; i++) {
        char path[MRD_MF_PATH];
        if (mrd_path_fmt(path, sizeof(path), "%s/%s", dir, names[drop[i]]) != MRD_OK ||
            mrd_rm_rf(path, NULL) != MRD_OK)
            continue;
        int w = snprintf(gone + len, n - len, "%s%s", len ? ", " : "", names[drop[i]]);
        if (w > 0 && (size_t)w < n - len)
            len += (size_t)w;
    }
    for (int i = 0; i < count; i++)
        free(names[i]);
}

/* heal_int.h */
mrd_rc heal_aof_set_aside(heal_step *ps, const char *dir, mrd_error *err)
{
    char from[MRD_MF_PATH], to[MRD_MF_PATH], gone[256];
    MRD_TRY(mrd_path_fmt(from, sizeof(from), "%s/%s", dir, HEAL_AOF_DIR));
    if (!mrd_path_exists(from))
        return MRD_OK;
    long long now_s = mrd_wall_ms() / 1000;
    int tries = 0;
    /* a folder of the same second (two restores within it) is not
     * overwritten: the next second's name */
    do
        MRD_TRY(mrd_path_fmt(to, sizeof(to), "%s/%s%lld", dir, HEAL_AOF_LOST_PREFIX,
                             now_s + tries));
    while (mrd_path_exists(to) && ++tries < 10);
    if (rename(from, to) != 0)
        return mrd_error_set(err, MRD_ERR_IO,
                             "could not move the node's old AOF folder %s aside to %s: %s; "
                             "it must never be loaded again",
                             from, to, strerror(errno));
    prune_lost(dir, gone, sizeof(gone));
    heal_act(ps, "+aof-set-aside", ps->hn->proc->label,
             "the AOF of the node's previous life is not loaded (it may lack the last "
             "second of writes, and the shard moved on): moved to %s%s%s",
             to, gone[0] ? "; removed the older " : "", gone);
    return MRD_OK;
}

/* heal_int.h */
mrd_rc heal_aof_on(const heal_ctx *hc, const heal_node *hn, char *detail, size_t n,
                   mrd_error *err)
{
    store_conn *c = NULL;
    long long t0 = mrd_now_ms();
    mrd_rc rc = heal_node_conn(hc, hn->node, &c, err);
    if (rc == MRD_OK)
        rc = store_cmdl(c, NULL, err, "CONFIG", "SET", "appendonly", "yes", NULL);
    if (rc == MRD_OK)
        rc = store_cmdl(c, NULL, err, "CONFIG", "REWRITE", NULL);
    bool done = false;
    char status[16] = "";
    while (rc == MRD_OK && !done && mrd_now_ms() - t0 < HEAL_AOF_REWRITE_WAIT_MS) {
        char *text = NULL;
        long long running = 1, scheduled = 1;
        if (store_info_text(c, "persistence", &text, NULL) == MRD_OK) {
            size_t len = strlen(text);
            store_info_number(text, len, "aof_rewrite_in_progress", &running, NULL, NULL);
            store_info_number(text, len, "aof_rewrite_scheduled", &scheduled, NULL, NULL);
            done = running == 0 && scheduled == 0 &&
                   store_info_field(text, len, "aof_last_bgrewrite_status", status,
                                    sizeof(status));
        }
        free(text);
        if (!done)
            mrd_sleep_ms(50);
    }
    store_conn_close(&c);
    if (rc != MRD_OK)
        return rc;
    if (done && strcmp(status, "ok") != 0)
        return mrd_error_set(err, MRD_ERR_IO,
                             "appendonly yes, but its AOF rewrite failed "
                             "(aof_last_bgrewrite_status:%s; a full disk?)",
                             status);
    if (done)
        snprintf(detail, n, ", appendonly yes (AOF written in %.2f s)",
                 (double)(mrd_now_ms() - t0) / 1000.0);
    else
        snprintf(detail, n, ", appendonly yes (its AOF rewrite still runs after %d s)",
                 HEAL_AOF_REWRITE_WAIT_MS / 1000);
    return MRD_OK;
}

/* ==== bookkeeping ==== */

static void note_failure(heal_node *hn)
{
    hn->failures++;
    long long delay = HEAL_BACKOFF_FIRST_MS;
    for (int i = 1; i < hn->failures && delay < HEAL_BACKOFF_MAX_MS; i++)
        delay *= 2;
    if (delay > HEAL_BACKOFF_MAX_MS)
        delay = HEAL_BACKOFF_MAX_MS;
    hn->next_try_ms = mrd_wall_ms() + delay;
}

/* Remember a restore; true when the node now flaps (too many restores in
 * the window), which starts a backoff. */
static bool note_restore(heal_node *hn)
{
    long long now = mrd_wall_ms();
    memmove(&hn->restores[1], &hn->restores[0],
            sizeof(hn->restores[0]) * (HEAL_FLAP_COUNT - 1));
    hn->restores[0] = now;
    return hn->restores[HEAL_FLAP_COUNT - 1] &&
           now - hn->restores[HEAL_FLAP_COUNT - 1] < HEAL_FLAP_WINDOW_MS;
}

/* ==== the restore ==== */

void heal_restore(heal_step *ps, const heal_restore_req *rq)
{
    heal_ctx *hc = ps->hc;
    heal_node *hn = ps->hn;
    sv_host *h = hc->h;
    const mrd_manifest *m = h->m;
    sv_proc *redis = hn->proc;
    const char *label = redis->label;
    const char *pre = rq->shard;
    const char *word = rq->hooks->master_word;
    int master = rq->master;
    const mrd_mf_host *lh = heal_node_host(m, master);
    mrd_error err;
    mrd_error_clear(&err);
    long long t0 = mrd_now_ms();
    ps->acted = true;
    heal_act(ps, ps->restart ? "+restart" : "+replica-lost", label, "%s%s; %s is %s (%s:%d)",
        pre, ps->restart ? "restart requested: stopped, rebuilt from a peer's snapshot" : rq->why,
        word, lh->host, lh->address, m->nodes[master].port);

    if (redis->pid && mrd_proc_stop(redis->pid, 5000, &err) != MRD_OK)
        goto failed;
    redis->pid = 0;
    int src = choose_source(hc, hn, rq);
    if (src < 0) {
        mrd_error_set(&err, MRD_ERR_STATE, "no healthy snapshot source answers");
        goto failed;
    }
    const mrd_mf_host *sh = heal_node_host(m, src);
    char dump[MRD_MF_PATH];
    if (mrd_mkdir_p(redis->dir, 0700, &err) != MRD_OK ||
        mrd_path_fmt(dump, sizeof(dump), "%s/dump.rdb", redis->dir) != MRD_OK ||
        heal_aof_set_aside(ps, redis->dir, &err) != MRD_OK)
        goto failed;
    clean_partial(redis->dir);
    store_snapshot snap;
    if (store_snapshot_fetch(sh->address, m->nodes[src].port, "replication",
                             h->secrets.replication, dump, HEAL_FETCH_TIMEOUT_MS, &snap,
                             &err) != MRD_OK)
        goto failed;
    hn->snapshot_bytes += snap.bytes;
    heal_act(ps, "+snapshot-fetched", label,
        "%sfrom %s %s%s%s(%s:%d): %.1f MB in %.2f s, replication offset %lld", pre, sh->host,
        src == master ? "the " : "", src == master ? word : "", src == master ? " " : "",
        sh->address, m->nodes[src].port, (double)snap.bytes / 1e6,
        (double)snap.duration_ms / 1000.0, snap.repl_offset);

    store_info before, after;
    bool stats = master_stats(hc, master, &before) == MRD_OK;
    if (rq->hooks->prepare(ps, master, &err) != MRD_OK ||
        sv_start(h, redis, hc->child_mode ? MRD_SPAWN_CHILD : MRD_SPAWN_DAEMON,
                 &err) != MRD_OK)
        goto failed;
    long long lag = 0;
    if (wait_ready(hc, hn, master, &lag, &err) != MRD_OK)
        goto failed;
    if (stats && master_stats(hc, master, &after) == MRD_OK) {
        if (after.sync_full > before.sync_full) {
            hn->syncs_full++;
            heal_act(ps, "+full-resync", label,
                "%sthe %s sent the whole dataset (its backlog no longer covered the "
                "snapshot's offset %lld): sync_full %lld -> %lld",
                pre, word, snap.repl_offset, before.sync_full, after.sync_full);
        } else if (after.sync_partial_ok > before.sync_partial_ok) {
            hn->syncs_partial++;
            heal_act(ps, "+partial-resync", label,
                "%sthe %s sent only the writes since the snapshot: sync_partial_ok "
                "%lld -> %lld, sync_full unchanged at %lld",
                pre, word, before.sync_partial_ok, after.sync_partial_ok, after.sync_full);
        }
    }
    char extra[160] = "", aof[96] = "";
    if (strcmp(m->settings.store.persistence, "aof") == 0 &&
        heal_aof_on(hc, hn, aof, sizeof(aof), &err) != MRD_OK)
        goto failed;
    if (rq->hooks->ready(ps, extra, sizeof(extra), &err) != MRD_OK)
        goto failed;
    heal_act(ps, "+replica-ready", label,
        "%slinked to %s, lag %lld bytes%s%s; restored in %.2f s", pre, lh->host, lag, extra,
        aof, (double)(mrd_now_ms() - t0) / 1000.0);
    hn->failures = 0;
    hn->next_try_ms = 0;
    hn->heals_ok++;
    if (!ps->restart && note_restore(hn)) {
        hn->next_try_ms = mrd_wall_ms() + HEAL_BACKOFF_FIRST_MS;
        heal_act(ps, "+backoff", label,
            "restored %d times within %d minutes: the node keeps dying; the next "
            "restore waits %d s",
            HEAL_FLAP_COUNT, HEAL_FLAP_WINDOW_MS / 60000, HEAL_BACKOFF_FIRST_MS / 1000);
    }
    snprintf(ps->summary, sizeof(ps->summary), "restored %s from %s", label, sh->host);
    return;
failed:
    hn->heals_failed++;
    note_failure(hn);
    ps->failed = true;
    heal_act(ps, "+heal-failed", label, "%s%s; next attempt in %lld s", pre, err.msg,
        (hn->next_try_ms - mrd_wall_ms()) / 1000);
    snprintf(ps->summary, sizeof(ps->summary), "could not restore %s: %s", label, err.msg);
}
