/* drill_scale.c - the scale drill: a grow or shrink under the writer load.
 * See drill_scale.h. */
#include "drill_scale.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "deploy.h"
#include "drill_cluster.h"
#include "drill_load.h"
#include "drill_report.h"
#include "log.h"
#include "manifest.h"
#include "scale.h"

#define SCALE_POLL_MS 100 /* waiting for acknowledgements, warm-up, tail */

/* ==== pure parts ==== */

mrd_rc drill_scale_check(const mrd_topology *t, const mrd_plan *p, bool deployed, int moves,
                         mrd_error *err)
{
    if (t->mode != MRD_MODE_CLUSTER)
        return mrd_error_set(err, MRD_ERR_USAGE,
                             "%s runs in sentinel mode, one shard that does not grow: the "
                             "scale drill needs cluster mode; try kill-leader, replica-loss, "
                             "region-outage, partition or sentinel-loss",
                             t->name);
    if (!deployed)
        return mrd_error_set(err, MRD_ERR_STATE,
                             "%s is not deployed (its state dir records no placement): deploy "
                             "it first, then change cluster.shards and run the scale drill",
                             t->name);
    if (p->nadded == 0 && p->nretiring == 0 && moves == 0)
        return mrd_error_set(err, MRD_ERR_STATE,
                             "the topology asks for no change: %s runs %d shards, cluster.shards "
                             "is %d and no slot has to move; change cluster.shards, then run "
                             "the scale drill",
                             t->name, p->nshards, t->settings.cluster.shards);
    return MRD_OK;
}

void drill_scale_writer_slots(int w, int n, int *first, int *last)
{
    *first = (int)((long long)w * STORE_CLUSTER_SLOTS / n);
    *last = (int)((long long)(w + 1) * STORE_CLUSTER_SLOTS / n) - 1;
}

/* ==== the drill's state ==== */

typedef struct scale_drill {
    orch_ctx *c;
    const drill_opts *o;
    long long t0;                 /* monotonic ms at the start */
    drill_record rec;
    char admin[MRD_SECRET_LEN];
    char app[MRD_SECRET_LEN];
    char prefix[96];              /* keys "<prefix>:<seq>" */
    /* the scale plan's nodes, copied: the deploy may replace C's plan */
    drill_target nodes[MRD_MF_MAX_NODES];
    int nnodes;
    char node_names[MRD_MF_MAX_NODES][64];
    const char *node_name[MRD_MF_MAX_NODES];
    int node_host[MRD_MF_MAX_NODES];
    int node_shard[MRD_MF_MAX_NODES];
    int slot_first[MRD_MF_MAX_SHARDS], slot_last[MRD_MF_MAX_SHARDS]; /* per writer */
    drill_cwriter *writer;
    drill_cwatch *watch;
    drill_timeline *tl;
} scale_drill;

static long long now_rel(const scale_drill *d)
{
    return mrd_now_ms() - d->t0;
}

static void say(const scale_drill *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(const scale_drill *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    drill_vsay(d->t0, fmt, ap);
    va_end(ap);
}

/* ==== preflight ==== */

/* Refuse what cannot be drilled; fill the record's scale part.  -1 to go
 * on, else the exit code (the refusal printed). */
static int preflight(scale_drill *d)
{
    orch_ctx *c = d->c;
    const mrd_plan *p = c->plan;
    drill_scale *x = &d->rec.scale;
    mrd_error err;
    if (d->o->arg) {
        fprintf(stderr, "meridian: scale takes no argument (\"%s\"): it drills the change of "
                        "cluster.shards the topology file asks for\n", d->o->arg);
        return 64;
    }
    int moves = 0;
    mrd_rc look = MRD_OK;
    mrd_error lerr = {0};
    if (c->topo->mode == MRD_MODE_CLUSTER && c->have_placement)
        look = cluster_scale_preview(c, NULL, &moves, &lerr);
    /* a cluster that cannot be read is not "no change": say why below */
    if (drill_scale_check(c->topo, p, c->have_placement, look == MRD_OK ? moves : 1, &err) !=
        MRD_OK) {
        fprintf(stderr, "meridian: %s\n", err.msg);
        return err.code == MRD_ERR_USAGE ? 64 : 1;
    }
    if (look != MRD_OK) {
        fprintf(stderr, "meridian: preflight: cannot read the running cluster: %s\n", lerr.msg);
        return 1;
    }
    *x = (drill_scale){.present = true,
                       .shards_before = p->nshards - p->nadded,
                       .shards_after = p->nshards - p->nretiring,
                       .added = p->nadded,
                       .retiring = p->nretiring,
                       .slots_to_move = moves,
                       .writers = p->nshards - p->nretiring,
                       .rate = d->o->rate,
                       .deploy_exit = -1,
                       .masters_after = -1,
                       .load_ready_ms = -1};
    if (x->writers > MRD_MF_MAX_SHARDS)
        x->writers = MRD_MF_MAX_SHARDS;
    if (d->o->rate < x->writers) {
        fprintf(stderr, "meridian: --rate %d is below one write per second for each of the "
                        "%d writers (one per shard the scale leaves)\n",
                d->o->rate, x->writers);
        return 64;
    }
    return -1;
}

/* ==== load ==== */

/* Copy the scale plan's nodes, and give each writer its slots. */
static void note_nodes(scale_drill *d)
{
    const mrd_plan *p = d->c->plan;
    d->nnodes = p->nnodes < MRD_MF_MAX_NODES ? p->nnodes : MRD_MF_MAX_NODES;
    for (int i = 0; i < d->nnodes; i++) {
        d->nodes[i] = (drill_target){.address = plan_node_host(p, i)->address,
                                     .port = p->nodes[i].port, .index = i};
        plan_node_name(p, i, d->node_names[i], sizeof(d->node_names[i]));
        d->node_name[i] = d->node_names[i];
        d->node_host[i] = p->nodes[i].host;
        d->node_shard[i] = p->nodes[i].shard;
    }
    for (int k = 0; k < d->rec.scale.writers; k++)
        drill_scale_writer_slots(k, d->rec.scale.writers, &d->slot_first[k], &d->slot_last[k]);
}

static mrd_rc start_load(scale_drill *d, mrd_error *err)
{
    const mrd_topology *t = d->c->topo;
    drill_cluster_opts co = {.t0_ms = d->t0, .nodes = d->nodes, .nnodes = d->nnodes,
                             .slot_first = d->slot_first, .slot_last = d->slot_last,
                             .nshards = d->rec.scale.writers, .node_host = d->node_host,
                             .node_shard = d->node_shard, .node_name = d->node_name,
                             .plan_nodes = d->nnodes, .user = "app", .pass = d->app,
                             .prefix = d->prefix, .rate = d->o->rate,
                             .wait_replicas = t->settings.consistency.wait_replicas,
                             .wait_timeout_ms = 1000};
    drill_cluster_opts wo = co;
    /* the writers write their even share of the slots, wherever those
     * slots are served now (without node shards the writer keeps to the
     * ranges); the watcher names each node's shard */
    co.node_shard = NULL;
    wo.user = "admin";
    wo.pass = d->admin;
    MRD_TRY(drill_timeline_new(d->t0, &d->tl, err));
    MRD_TRY(drill_cwatch_start(&wo, d->tl, &d->watch, err));
    return drill_cwriter_start(&co, &d->writer, err);
}

/* Wait until every writer has an acknowledged write.  False (the writers
 * still waiting named in WHY, N bytes) after DRILL_SCALE_ACK_WAIT_MS. */
static bool wait_acked(scale_drill *d, char *why, size_t n)
{
    int writers = d->rec.scale.writers;
    long long deadline = mrd_now_ms() + DRILL_SCALE_ACK_WAIT_MS;
    bool acked[MRD_MF_MAX_SHARDS] = {false};
    for (;;) {
        drill_write *w = NULL;
        int64_t nw = 0;
        drill_cwriter_writes(d->writer, &w, &nw, NULL);
        for (int64_t i = 0; i < nw; i++)
            if (w[i].state == DRILL_W_ACKED && w[i].shard >= 0 && w[i].shard < writers)
                acked[w[i].shard] = true;
        free(w);
        int missing = 0;
        size_t used = 0;
        why[0] = '\0';
        for (int k = 0; k < writers; k++) {
            if (acked[k])
                continue;
            int m = snprintf(why + used, n - used, "%sslots %d-%d", missing++ ? ", " : "",
                             d->slot_first[k], d->slot_last[k]);
            if (m > 0 && (size_t)m < n - used)
                used += (size_t)m;
        }
        if (missing == 0)
            return true;
        if (mrd_now_ms() >= deadline)
            return false;
        mrd_sleep_ms(SCALE_POLL_MS);
    }
}

/* ==== the scale ==== */

/* deploy_run() as `meridian deploy` runs it. */
static void run_deploy(scale_drill *d)
{
    drill_scale *x = &d->rec.scale;
    FILE *progress = d->o->json ? stderr : stdout;
    deploy_opts dopts = {.verify_timeout_ms = (d->o->timeout_s > 0 ? d->o->timeout_s
                                                                  : DRILL_SCALE_DEPLOY_TIMEOUT_S) *
                                              1000,
                         .progress = progress};
    char what[64];
    snprintf(what, sizeof(what), "%d -> %d shards", x->shards_before, x->shards_after);
    say(d, "scale %s: meridian deploy, %d slots to move, the writers running", what,
        x->slots_to_move);
    fflush(stderr);
    d->rec.fault_ms = now_rel(d);
    drill_timeline_mark(d->tl, "scale", what);
    x->deploy_exit = deploy_run(d->c, &dopts);
    fflush(progress);
    d->rec.restore_ms = now_rel(d);
    snprintf(what, sizeof(what), "deploy exited %d", x->deploy_exit);
    drill_timeline_mark(d->tl, "deployed", what);
    say(d, "the deploy returned %d after %.1f s", x->deploy_exit,
        (double)(d->rec.restore_ms - d->rec.fault_ms) / 1000.0);
}

/* ==== read-back and report ==== */

/* Read every write back through the cluster; fills the record's lost
 * counts, masters_after and readback_complete. */
static void read_back(scale_drill *d)
{
    drill_scale *x = &d->rec.scale;
    drill_verify_result v = {0};
    mrd_error err;
    mrd_rc rc = MRD_ERR_STATE;
    for (int k = 0; k < DRILL_SCALE_VERIFY_TRIES && rc != MRD_OK; k++) {
        if (k > 0) {
            say(d, "read-back: %s; again in 1 s", err.msg);
            mrd_sleep_ms(1000);
        }
        rc = drill_cluster_verify(d->nodes, d->nnodes, "admin", d->admin, d->prefix,
                                  d->rec.writes, d->rec.nwrites, DRILL_SCALE_VERIFY_MS, &v,
                                  &x->masters_after, &err);
    }
    if (rc != MRD_OK) {
        say(d, "cannot read the writes back: %s", err.msg);
        x->masters_after = -1;
        return;
    }
    x->readback_complete = v.checked == d->rec.nwrites;
    d->rec.r.acked_writes_lost = v.acked_writes_lost;
    d->rec.r.unacked_writes_lost = v.unacked_writes_lost;
    say(d, "read back %lld writes from %d masters: %lld acknowledged lost",
        (long long)v.checked, x->masters_after, (long long)v.acked_writes_lost);
}

static int finish_report(scale_drill *d)
{
    const mrd_topology *t = d->c->topo;
    const char *hosts[MRD_MF_MAX_HOSTS];
    int nhosts = t->nhosts < MRD_MF_MAX_HOSTS ? t->nhosts : MRD_MF_MAX_HOSTS;
    for (int i = 0; i < nhosts; i++)
        hosts[i] = t->hosts[i].name;
    drill_names names = {.hosts = hosts, .nhosts = nhosts, .nodes = d->node_name,
                         .nnodes = d->nnodes};
    mrd_error err;
    if (drill_report_publish(&d->rec, t->settings.consistency.wait_replicas, &names,
                             d->o->out_dir, d->o->json, &err) != MRD_OK)
        say(d, "cannot write the report: %s", err.msg);
    if (d->o->out_dir)
        say(d, "report in %s (report.json, report.txt, timeline.svg)", d->o->out_dir);
    if (d->rec.r.pass)
        return 0;
    return d->rec.scale.deploy_exit == DEPLOY_EXIT_BUSY ? 1 : 2;
}

/* ==== the drill ==== */

/* Everything after the preflight; the exit code. */
static int drill_scale_body(scale_drill *d)
{
    drill_record *rec = &d->rec;
    mrd_error err;
    char why[512];
    note_nodes(d);
    say(d, "scale %d -> %d shards (%d added, %d retiring): %d writers, %d writes/s",
        rec->scale.shards_before, rec->scale.shards_after, rec->scale.added,
        rec->scale.retiring, rec->scale.writers, d->o->rate);
    if (start_load(d, &err) != MRD_OK) {
        fprintf(stderr, "meridian: cannot start the load: %s\n", err.msg);
        return 3;
    }
    if (!wait_acked(d, why, sizeof(why))) {
        fprintf(stderr, "meridian: preflight: no write to %s was acknowledged within %d s: the "
                        "cluster does not serve every slot with a linked replica; run "
                        "meridian status (and heal) before the scale\n",
                why, DRILL_SCALE_ACK_WAIT_MS / 1000);
        return 1;
    }
    rec->scale.load_ready_ms = now_rel(d);
    say(d, "every writer has an acknowledged write; %d s more before the scale",
        DRILL_SCALE_WARMUP_MS / 1000);
    mrd_sleep_ms(DRILL_SCALE_WARMUP_MS);

    run_deploy(d);

    long long until = d->t0 + (long long)d->o->duration_s * 1000;
    if (until < mrd_now_ms() + DRILL_SCALE_TAIL_MS)
        until = mrd_now_ms() + DRILL_SCALE_TAIL_MS;
    while (mrd_now_ms() < until)
        mrd_sleep_ms(SCALE_POLL_MS);
    drill_cwriter_stop(d->writer);
    drill_cwatch_stop(d->watch);
    drill_timeline_stop(d->tl);
    rec->end_ms = now_rel(d);
    drill_cwriter_writes(d->writer, &rec->writes, &rec->nwrites, NULL);
    drill_timeline_events(d->tl, &rec->events, &rec->nevents, NULL);
    read_back(d);
    return finish_report(d);
}

int drill_scale_run(orch_ctx *c, const drill_opts *o)
{
    scale_drill *d = calloc(1, sizeof(*d));
    if (!d) {
        fprintf(stderr, "meridian: out of memory\n");
        return 3;
    }
    d->c = c;
    d->o = o;
    d->t0 = mrd_now_ms();
    drill_record *rec = &d->rec;
    snprintf(rec->topology, sizeof(rec->topology), "%s", c->topo->name);
    snprintf(rec->scenario, sizeof(rec->scenario), "%s", drill_scenario_name(DRILL_SCALE));
    snprintf(rec->detect_event, sizeof(rec->detect_event), "+fail");
    snprintf(rec->failover_event, sizeof(rec->failover_event), "+promoted");
    rec->fault_ms = rec->failover_seen_ms = rec->restore_ms = rec->ready_ms = -1;
    snprintf(d->prefix, sizeof(d->prefix), "drill:%lld", mrd_wall_ms());

    mrd_error err;
    int rc = preflight(d);
    if (rc < 0 && (orch_secret(c, "admin", d->admin, sizeof(d->admin), &err) != MRD_OK ||
                   orch_secret(c, "app", d->app, sizeof(d->app), &err) != MRD_OK)) {
        fprintf(stderr, "meridian: %s\n", err.msg);
        rc = 3;
    }
    if (rc < 0) {
        snprintf(rec->target, sizeof(rec->target), "%d -> %d shards", rec->scale.shards_before,
                 rec->scale.shards_after);
        rc = drill_scale_body(d);
    }
    drill_cwriter_free(&d->writer);
    drill_cwatch_free(&d->watch);
    drill_timeline_free(&d->tl);
    free(rec->writes);
    free(rec->events);
    memset(d->admin, 0, sizeof(d->admin));
    memset(d->app, 0, sizeof(d->app));
    free(d);
    return rc;
}
