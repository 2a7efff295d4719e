/* heal_restore.c - rebuilding a lost node as a replica of its shard's
 * master, shared by the modes (see heal_int.h): source choice, snapshot
 * fetch, start, readiness, resync kind, and the failure, backoff and flap
 * bookkeeping.  What differs between modes (how the node is told whom to
 * follow, what "ready" changes) comes through heal_restore_hooks. */
#include <dirent.h>
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
        mrd_path_fmt(dump, sizeof(dump), "%s/dump.rdb", redis->dir) != MRD_OK)
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
    char extra[160] = "";
    if (rq->hooks->ready(ps, extra, sizeof(extra), &err) != MRD_OK)
        goto failed;
    heal_act(ps, "+replica-ready", label, "%slinked to %s, lag %lld bytes%s; restored in %.2f s",
        pre, lh->host, lag, extra, (double)(mrd_now_ms() - t0) / 1000.0);
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
