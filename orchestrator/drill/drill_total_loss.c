/* drill_total_loss.c - the total-loss drill: backup, kill everything,
 * restore, count what was lost.  See drill_total_loss.h. */
#include "drill_total_loss.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_client.h"
#include "backup_run.h"
#include "conn.h"
#include "deploy.h"
#include "drill_load.h"
#include "drill_report.h"
#include "log.h"
#include "manifest.h"
#include "status.h"

#define TL_POLL_MS 50
#define TL_HOLD_REQUEST_MS 5000
#define TL_LOCK_WAIT_MS 10000

/* SIGINT/SIGTERM before the kill: the drill stops, nothing broken. */
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

typedef struct tl_drill {
    orch_ctx *c;
    const drill_opts *o;
    long long t0;             /* monotonic ms at the start */
    drill_record rec;
    int master;               /* the leader at the start */
    char admin[MRD_SECRET_LEN];
    char app[MRD_SECRET_LEN];
    char prefix[96];
    drill_target sentinels[MRD_MF_MAX_HOSTS];
    int nsentinels;
    drill_target nodes[MRD_MF_MAX_NODES];
    int nnodes;
    uint8_t killed[MRD_MF_MAX_NODES]; /* SIGKILLed at least once */
    uint8_t *present;         /* the read-back, one flag per record write */
    drill_load *load;
    drill_timeline *tl;
    mrd_lock *lock;           /* STATE/backup's */
} tl_drill;

static long long now_rel(const tl_drill *d)
{
    return mrd_now_ms() - d->t0;
}

static void say(const tl_drill *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(const tl_drill *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    drill_vsay(d->t0, fmt, ap);
    va_end(ap);
}

static void sleep_for(long long ms)
{
    for (long long end = mrd_now_ms() + ms; mrd_now_ms() < end;)
        mrd_sleep_ms(TL_POLL_MS);
}

/* ==== preflight ==== */

/* Poll status until OK, at most TIMEOUT_MS; *SUMMARY (N bytes) gets the
 * last summary seen. */
static bool wait_healthy(const tl_drill *d, int timeout_ms, int *master, char *summary,
                         size_t n)
{
    long long deadline = mrd_now_ms() + timeout_ms;
    snprintf(summary, n, "no answer");
    for (;;) {
        st_report *r = NULL;
        bool ok = false;
        if (status_probe(d->c, 1000, &r, NULL) == MRD_OK) {
            ok = r->health == MRD_HEALTH_OK;
            if (master)
                *master = r->master;
            snprintf(summary, n, "%s", r->summary);
        }
        status_free(&r);
        if (ok)
            return true;
        if (mrd_now_ms() >= deadline)
            return false;
        mrd_sleep_ms(TL_POLL_MS * 4);
    }
}

/* Refuse what cannot be drilled.  -1 to go on, else the exit code (the
 * refusal printed). */
static int preflight(tl_drill *d)
{
    orch_ctx *c = d->c;
    const mrd_topology *t = c->topo;
    mrd_error err;
    if (t->mode == MRD_MODE_CLUSTER) {
        fprintf(stderr, "meridian: %s runs in cluster mode: the total-loss drill restores a "
                        "backup, and restore is sentinel-only for now; try kill-leader, "
                        "region-outage or host-loss\n", t->name);
        return 64;
    }
    if (d->o->arg) {
        fprintf(stderr, "meridian: total-loss takes no argument (\"%s\"): it kills every node "
                        "of every region\n", d->o->arg);
        return 64;
    }
    if (!t->settings.backup.endpoint[0] || !t->settings.backup.bucket[0]) {
        fprintf(stderr, "meridian: preflight: %s has no backup section: the total-loss drill "
                        "restores from a backup it takes; add \"backup\": {\"endpoint\": ..., "
                        "\"bucket\": ...} (see regions/README.md)\n", t->path);
        return 1;
    }
    s3_client *s3 = NULL;
    if (backup_store_open(c, &s3, &err) != MRD_OK) {
        fprintf(stderr, "meridian: preflight: the backup storage: %s\n", err.msg);
        return 1;
    }
    s3_close(&s3);
    char summary[256];
    if (!wait_healthy(d, 0, &d->master, summary, sizeof(summary))) {
        say(d, "preflight: %s is not healthy yet (%s); waiting up to %d s", t->name, summary,
            DRILL_TL_PREFLIGHT_WAIT_MS / 1000);
        if (!wait_healthy(d, DRILL_TL_PREFLIGHT_WAIT_MS, &d->master, summary,
                          sizeof(summary))) {
            fprintf(stderr, "meridian: preflight: %s is not healthy (%s): run meridian heal "
                            "first\n", t->name, summary);
            return 1;
        }
    }
    if (d->master < 0) {
        fprintf(stderr, "meridian: preflight: no leader of %s: run meridian heal first\n",
                t->name);
        return 1;
    }
    long long left =
        orch_failover_cooldown_left(c, 2LL * t->settings.sentinel.failover_timeout_ms);
    if (left > 0 && !d->o->wait_cooldown) {
        fprintf(stderr, "meridian: preflight: the sentinels refuse another failover of %s "
                        "for %.1f s more (2 x failover-timeout after the last one): wait, "
                        "or pass --wait\n", t->name, (double)left / 1000.0);
        return 1;
    }
    if (left > 0) {
        say(d, "waiting %.1f s for the failover cooldown", (double)left / 1000.0);
        sleep_for(left);
    }
    if (backup_lock(c, TL_LOCK_WAIT_MS, &d->lock, &err) != MRD_OK) {
        fprintf(stderr, "meridian: preflight: %s\n", err.msg);
        return 1;
    }
    if (orch_secret(c, "admin", d->admin, sizeof(d->admin), &err) != MRD_OK ||
        orch_secret(c, "app", d->app, sizeof(d->app), &err) != MRD_OK) {
        fprintf(stderr, "meridian: %s\n", err.msg);
        return 3;
    }
    return -1;
}

/* ==== load ==== */

static mrd_rc start_load(tl_drill *d, mrd_error *err)
{
    const mrd_topology *t = d->c->topo;
    const mrd_plan *p = d->c->plan;
    for (int i = 0; i < p->nnodes && i < MRD_MF_MAX_NODES; i++)
        d->nodes[d->nnodes++] = (drill_target){.address = plan_node_host(p, i)->address,
                                                .port = p->nodes[i].port, .index = i};
    for (int i = 0; i < t->nhosts && i < MRD_MF_MAX_HOSTS; i++)
        if (p->hosts[i].sentinel)
            d->sentinels[d->nsentinels++] = (drill_target){
                .address = t->hosts[i].address, .port = t->settings.sentinel.port, .index = i};
    drill_timeline_opts to = {.t0_ms = d->t0, .sentinels = d->sentinels,
                              .nsentinels = d->nsentinels, .user = "admin", .pass = d->admin};
    drill_load_opts lo = {.t0_ms = d->t0, .master = t->name, .sentinels = d->sentinels,
                          .nsentinels = d->nsentinels, .nodes = d->nodes, .nnodes = d->nnodes,
                          .user = "app", .pass = d->app, .prefix = d->prefix,
                          .rate = d->o->rate,
                          .wait_replicas = t->settings.consistency.wait_replicas,
                          .wait_timeout_ms = 1000};
    MRD_TRY(drill_timeline_start(&to, &d->tl, err));
    return drill_load_start(&lo, &d->load, err);
}

/* ==== backup ==== */

/* backup_run() as `meridian backup` runs it; fills the record's backup
 * part.  False when it failed. */
static bool take_backup(tl_drill *d)
{
    drill_total_loss *x = &d->rec.total_loss;
    json_t *res = NULL;
    mrd_error err;
    say(d, "backup: meridian backup under the load");
    fflush(stderr);
    drill_timeline_mark(d->tl, "backup", NULL);
    x->backup_start_ms = now_rel(d);
    backup_opts bo = {.progress = stderr};
    mrd_rc rc = backup_run(d->c, &bo, &res, &err);
    x->backup_end_ms = now_rel(d);
    if (rc != MRD_OK) {
        snprintf(x->error, sizeof(x->error), "%s", err.msg);
        drill_timeline_mark(d->tl, "backup-failed", NULL);
        say(d, "the backup failed: %s; nothing is killed", err.msg);
        return false;
    }
    const char *id = json_string_value(json_object_get(res, "id"));
    snprintf(x->backup_id, sizeof(x->backup_id), "%s", id ? id : "?");
    x->backup_keys = json_integer_value(json_object_get(res, "keys"));
    x->backup_ms = json_integer_value(json_object_get(res, "duration_ms"));
    json_decref(res);
    drill_timeline_mark(d->tl, "backed-up", x->backup_id);
    say(d, "backup %s: %lld keys in %.2f s", x->backup_id, (long long)x->backup_keys,
        (double)x->backup_ms / 1000.0);
    return true;
}

/* ==== kill ==== */

/* Hold (TTL_MS > 0) or release (0) every node but the leader at
 * replica-priority 0 through its agent. */
static void hold_replicas(tl_drill *d, int ttl_ms)
{
    const mrd_plan *p = d->c->plan;
    for (int i = 0; i < p->nnodes; i++) {
        if (i == d->master)
            continue;
        char path[96];
        snprintf(path, sizeof(path), "/v1/hold?port=%d&ttl_ms=%d", p->nodes[i].port, ttl_ms);
        agent_result res = {0};
        mrd_error err;
        bool ok = agent_post(d->c, p->nodes[i].host, path, TL_HOLD_REQUEST_MS, &res, &err) ==
                      MRD_OK &&
                  res.http_status == 200;
        if (!ok && ttl_ms > 0)
            say(d, "could not hold %s:%d at replica-priority 0 (%s)", plan_node_host(p, i)->name,
                p->nodes[i].port, res.error[0] ? res.error : "the agent refused");
        json_decref(res.body);
    }
}

/* Does node N answer? */
static bool node_answers(const tl_drill *d, int n)
{
    store_conn *k = NULL;
    bool up = store_conn_open(d->nodes[n].address, d->nodes[n].port, "admin", d->admin,
                              DRILL_TL_PROBE_MS, &k, NULL) == MRD_OK;
    store_conn_close(&k);
    return up;
}

/* SIGKILL the nodes WANT[i] of host H in one `meridian-agent fault
 * --kill` (through the transport); the ones it killed are marked. */
static void kill_on_host(tl_drill *d, int h, const bool *want)
{
    const mrd_plan *p = d->c->plan;
    char list[256] = "";
    int order[MRD_MF_MAX_HOST_NODES], n = 0;
    size_t used = 0;
    for (int i = 0; i < d->nnodes && n < MRD_MF_MAX_HOST_NODES; i++) {
        char label[32];
        if (!want[i] || p->nodes[i].host != h)
            continue;
        manifest_node_label(p->nodes[i].port, d->c->topo->settings.store.port, label,
                            sizeof(label));
        int w = snprintf(list + used, sizeof(list) - used, "%s%s", used ? "," : "", label);
        if (w > 0 && (size_t)w < sizeof(list) - used) {
            used += (size_t)w;
            order[n++] = i;
        }
    }
    if (!n)
        return;
    const char *args[] = {"fault", "--kill", list, NULL};
    tp_result res;
    mrd_error err;
    const char *name = d->c->topo->hosts[h].name;
    if (deploy_agent_exec(d->c, h, args, &res, &err) != MRD_OK) {
        say(d, "%s: cannot run meridian-agent fault: %s", name, err.msg);
        return;
    }
    /* one line per process, in LIST's order: "killed redis-server pid N",
     * or "not running: redis-server" for a node already down */
    int k = 0;
    for (char *save = NULL, *line = strtok_r(res.out, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save), k++) {
        say(d, "%s: %s", name, line);
        if (k < n && strncmp(line, "killed ", 7) == 0)
            d->killed[order[k]] = 1;
    }
    if (res.status != 0 && res.status != 3)
        say(d, "%s: meridian-agent fault exited %d: %.*s", name, res.status,
            (int)strcspn(res.err, "\n"), res.err);
    tp_result_free(&res);
}

/* Kill every node: the leader first, then the replicas host by host;
 * probe and kill again what answers.  Fills fault_ms, kill_end_ms,
 * nodes_killed.
 *
 * Why the leader first: an agent rebuilds a lost replica from a snapshot
 * only while the shard's leader answers (heal_restore.c).  Replicas
 * killed first would be rebuilt from the still living leader within the
 * kill's few hundred ms, and such a node, killed again, leaves its agent
 * waiting for it to link (up to HEAL_SYNC_TIMEOUT_MS).  With the leader
 * gone first, the agents' restores fail at once (and back off) until the
 * restore seeds the leader.  The replicas, held at replica-priority 0,
 * cannot be promoted meanwhile: the crash fast path's SENTINEL FAILOVER
 * gets NOGOODSLAVE. */
static void kill_everything(tl_drill *d)
{
    drill_total_loss *x = &d->rec.total_loss;
    const mrd_topology *t = d->c->topo;
    bool want[MRD_MF_MAX_NODES];
    hold_replicas(d, DRILL_TL_HOLD_MS);
    d->rec.fault_ms = now_rel(d);
    drill_timeline_mark(d->tl, "fault", "every redis-server of every region");
    say(d, "fault: SIGKILL every redis-server of every region, the leader first (sentinels "
           "and agents keep running)");
    for (int i = 0; i < d->nnodes; i++)
        want[i] = i == d->master;
    kill_on_host(d, d->c->plan->nodes[d->master].host, want);
    for (int i = 0; i < d->nnodes; i++)
        want[i] = i != d->master;
    for (int h = 0; h < t->nhosts; h++)
        kill_on_host(d, h, want);
    /* whatever answers (an agent's restart we did not foresee) is killed
     * again */
    for (int round = 0; round < DRILL_TL_KILL_ROUNDS; round++) {
        int up = 0;
        for (int i = 0; i < d->nnodes; i++)
            up += want[i] = node_answers(d, i);
        if (up == 0)
            break;
        say(d, "%d node%s answer%s again: killing %s again", up, up == 1 ? "" : "s",
            up == 1 ? "s" : "", up == 1 ? "it" : "them");
        for (int h = 0; h < t->nhosts; h++)
            kill_on_host(d, h, want);
    }
    x->kill_end_ms = now_rel(d);
    x->nodes_killed = 0;
    for (int i = 0; i < d->nnodes; i++)
        x->nodes_killed += d->killed[i];
    int up = 0;
    for (int i = 0; i < d->nnodes; i++)
        up += node_answers(d, i);
    drill_timeline_mark(d->tl, "all-down", NULL);
    say(d, "%d of %d nodes killed; %d answer%s", x->nodes_killed, x->nodes_total, up,
        up == 1 ? "s" : "");
}

/* ==== restore ==== */

/* restore_run() of the backup, as `meridian restore --from ID --yes`;
 * then status OK.  Fills restore_ms (the mark), ready_ms, the record's
 * restore part and healed. */
static void restore(tl_drill *d)
{
    drill_total_loss *x = &d->rec.total_loss;
    json_t *res = NULL;
    mrd_error err;
    d->rec.restore_ms = now_rel(d);
    drill_timeline_mark(d->tl, "restore", x->backup_id);
    say(d, "restore: meridian restore --from %s --yes", x->backup_id);
    fflush(stderr);
    restore_opts ro = {.from = x->backup_id, .apply = true, .force = false,
                       .progress = stderr};
    if (restore_run(d->c, &ro, &res, &err) != MRD_OK) {
        snprintf(x->error, sizeof(x->error), "%s", err.msg);
        say(d, "the restore failed: %s", err.msg);
        hold_replicas(d, 0);
        return;
    }
    x->restored = true;
    x->restore_ms = json_integer_value(json_object_get(res, "duration_ms"));
    x->restore_writable_ms = json_integer_value(json_object_get(res, "writable_ms"));
    x->keys_restored = json_integer_value(json_object_get(res, "keys_loaded"));
    json_decref(res);
    hold_replicas(d, 0); /* restore_run released them; a hold it missed expires anyway */
    char summary[256];
    d->rec.r.healed = wait_healthy(d, DRILL_TL_READY_TIMEOUT_MS, NULL, summary,
                                   sizeof(summary));
    if (d->rec.r.healed) {
        d->rec.ready_ms = now_rel(d);
        drill_timeline_mark(d->tl, "ready", NULL);
        say(d, "healthy %.1f s after the kill", (double)(d->rec.ready_ms - d->rec.fault_ms) /
                                                     1000.0);
    } else {
        say(d, "not healthy within %d s: %s", DRILL_TL_READY_TIMEOUT_MS / 1000, summary);
    }
}

/* ==== verify and report ==== */

/* Read every write back from the leader now; fills present and the lost
 * counts. */
static void read_back(tl_drill *d)
{
    drill_record *rec = &d->rec;
    st_report *r = NULL;
    mrd_error err;
    int leader = -1;
    if (status_probe(d->c, 1000, &r, &err) == MRD_OK)
        leader = r->master;
    status_free(&r);
    if (leader < 0) {
        say(d, "cannot read the writes back: no leader");
        return;
    }
    plan_node_name(d->c->plan, leader, rec->leader_after, sizeof(rec->leader_after));
    uint8_t *present = calloc((size_t)(rec->nwrites > 0 ? rec->nwrites : 1), 1);
    if (!present ||
        drill_load_present(d->nodes[leader].address, d->nodes[leader].port, "admin", d->admin,
                           d->prefix, rec->writes, rec->nwrites, DRILL_TL_VERIFY_MS, present,
                           &err) != MRD_OK) {
        say(d, "cannot read the writes back: %s", present ? err.msg : "out of memory");
        free(present);
        return;
    }
    d->present = present;
    rec->total_loss.write_present = present;
    for (int64_t i = 0; i < rec->nwrites; i++) {
        rec->r.acked_writes_lost += rec->writes[i].state == DRILL_W_ACKED && !present[i];
        rec->r.unacked_writes_lost += rec->writes[i].state == DRILL_W_WRITTEN && !present[i];
    }
}

static int finish_report(tl_drill *d)
{
    const mrd_topology *t = d->c->topo;
    const mrd_plan *p = d->c->plan;
    const char *hosts[MRD_MF_MAX_HOSTS], *nodes[MRD_MF_MAX_NODES];
    char names[MRD_MF_MAX_NODES][96];
    int nh = t->nhosts < MRD_MF_MAX_HOSTS ? t->nhosts : MRD_MF_MAX_HOSTS;
    for (int i = 0; i < nh; i++)
        hosts[i] = t->hosts[i].name;
    for (int i = 0; i < d->nnodes; i++) {
        plan_node_name(p, i, names[i], sizeof(names[i]));
        nodes[i] = names[i];
    }
    drill_names dn = {.hosts = hosts, .nhosts = nh, .nodes = nodes, .nnodes = d->nnodes};
    mrd_error err;
    if (drill_report_publish(&d->rec, t->settings.consistency.wait_replicas, &dn, d->o->out_dir,
                             d->o->json, &err) != MRD_OK)
        say(d, "cannot write the report: %s", err.msg);
    if (d->o->out_dir)
        say(d, "report in %s (report.json, report.txt, timeline.svg)", d->o->out_dir);
    return d->rec.r.pass ? 0 : 2;
}

/* ==== the drill ==== */

/* Everything after the preflight; the exit code. */
static int body(tl_drill *d)
{
    drill_record *rec = &d->rec;
    mrd_error err;
    plan_node_name(d->c->plan, d->master, rec->leader_before, sizeof(rec->leader_before));
    say(d, "total-loss: leader %s, %d nodes, %d writes/s for at least %d s",
        rec->leader_before, d->c->plan->nnodes, d->o->rate, d->o->duration_s);
    if (start_load(d, &err) != MRD_OK) {
        fprintf(stderr, "meridian: cannot start the load: %s\n", err.msg);
        return 3;
    }
    sleep_for(DRILL_TL_WARMUP_MS);
    drill_load_progress pg;
    drill_load_get_progress(d->load, &pg);
    if (pg.acked == 0) {
        fprintf(stderr, "meridian: preflight: no write was acknowledged within %d s (WAIT %d): "
                        "run meridian status\n",
                DRILL_TL_WARMUP_MS / 1000, d->c->topo->settings.consistency.wait_replicas);
        return 1;
    }
    if (interrupted)
        return 3;
    bool backed_up = take_backup(d);
    if (backed_up && !interrupted) {
        sleep_for(DRILL_TL_AFTER_BACKUP_MS);
        if (!interrupted) {
            kill_everything(d);
            if (interrupted)
                say(d, "interrupted: restoring first, every node is down");
            restore(d);
            orch_failover_note(d->c); /* the sentinels tried one (no replica to promote) */
        }
    }
    long long until = d->t0 + (long long)d->o->duration_s * 1000;
    if (until < mrd_now_ms() + DRILL_TL_TAIL_MS)
        until = mrd_now_ms() + DRILL_TL_TAIL_MS;
    sleep_for(until - mrd_now_ms());
    drill_load_stop(d->load);
    drill_timeline_stop(d->tl);
    rec->end_ms = now_rel(d);
    drill_load_writes(d->load, &rec->writes, &rec->nwrites, NULL);
    drill_timeline_events(d->tl, &rec->events, &rec->nevents, NULL);
    if (rec->fault_ms >= 0)
        read_back(d);
    else if (interrupted) /* before the kill: nothing was broken */
        return 3;
    return finish_report(d);
}

int drill_total_loss_run(orch_ctx *c, const drill_opts *o)
{
    tl_drill *d = calloc(1, sizeof(*d));
    if (!d) {
        fprintf(stderr, "meridian: out of memory\n");
        return 3;
    }
    d->c = c;
    d->o = o;
    d->t0 = mrd_now_ms();
    d->master = -1;
    drill_record *rec = &d->rec;
    snprintf(rec->topology, sizeof(rec->topology), "%s", c->topo->name);
    snprintf(rec->scenario, sizeof(rec->scenario), "%s", drill_scenario_name(DRILL_TOTAL_LOSS));
    snprintf(rec->target, sizeof(rec->target), "every region");
    rec->fault_ms = rec->failover_seen_ms = rec->restore_ms = rec->ready_ms = -1;
    snprintf(d->prefix, sizeof(d->prefix), "drill:%lld", mrd_wall_ms());
    rec->total_loss = (drill_total_loss){.present = true,
                                         .backup_start_ms = -1, .backup_end_ms = -1,
                                         .backup_ms = -1, .backup_keys = -1,
                                         .kill_end_ms = -1, .nodes_total = c->plan->nnodes,
                                         .restore_ms = -1, .restore_writable_ms = -1,
                                         .keys_restored = -1};
    snprintf(rec->total_loss.key_prefix, sizeof(rec->total_loss.key_prefix), "%s", d->prefix);

    struct sigaction sa = {.sa_handler = on_signal}, old_int, old_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    int rc = preflight(d);
    if (rc < 0)
        rc = body(d);
    drill_load_free(&d->load);
    drill_timeline_free(&d->tl);
    mrd_lock_release(&d->lock);
    free(rec->writes);
    free(rec->events);
    free(d->present);
    memset(d->admin, 0, sizeof(d->admin));
    memset(d->app, 0, sizeof(d->app));
    free(d);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    return rc;
}
