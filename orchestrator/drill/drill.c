#include "drill.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conn.h"
#include "deploy.h"
#include "drill_cluster.h"
#include "drill_load.h"
#include "drill_report.h"
#include "drill_scale.h"
#include "drill_total_loss.h"
#include "fsutil.h"
#include "info.h"
#include "lock.h"
#include "log.h"
#include "manifest.h"
#include "netfault.h"
#include "proc.h"
#include "replace.h"
#include "rollout.h"
#include "status.h"
#include "switchover.h"

#define DRILL_WARMUP_MS 2000       /* writes before the fault */
#define DRILL_AFTER_FAULT_MS 3000  /* faults that move no leader: observe this long */
#define DRILL_FAILOVER_SLACK_MS 5000 /* beyond down_after + failover_timeout */
#define DRILL_HEAL_TIMEOUT_MS 90000
#define DRILL_POLL_MS 50
#define DRILL_WAIT_TIMEOUT_MS 1000 /* WAIT timeout of the writer */
#define DRILL_TAIL_MS 1000         /* writes after the topology is ready again */
#define DRILL_PREFLIGHT_WAIT_MS 15000 /* a converging topology gets this long */
#define DRILL_SETTLE_MS 1000       /* a failover is seen: observe this much longer */

/* ==== the drill's own state ==== */

/* SIGINT/SIGTERM: the drill stops at its next step and undoes the fault. */
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* One node's replication counters and the process they belong to: a node
 * that restarts during the drill starts counting again from zero. */
typedef struct sync_counts {
    long long pid; /* 0: did not answer */
    long long full, partial;
} sync_counts;

typedef struct drill {
    orch_ctx *c;
    const drill_opts *o;
    drill_record rec;
    long long t0;            /* monotonic ms at the start */
    int master;              /* node index of the master before the fault */
    int target_host;         /* host-level scenarios (and the target node's host) */
    int target_node;         /* node-level scenarios: kill-leader, replica-loss */
    int target_region;       /* region-level scenarios */
    bool region_has_leader;
    bool partitioned;        /* an nftables table is in place */
    bool agents_stopped;     /* region-outage: agents to restart */
    bool host_down;          /* host-loss: the old host to bring back */
    long long fault_wall_ms; /* host-loss: the fault, wall clock */
    int lb_node;             /* host-loss: the leader when the host was
                                fenced, and its replication counters then */
    store_info lb0;
    sync_counts syncs0[MRD_MF_MAX_NODES];
    char admin[MRD_SECRET_LEN];
    const struct drill_mode *mode;
    /* cluster mode */
    int target_shard;        /* kill-leader, replica-loss: the shard */
    int shard_master0[MRD_MF_MAX_NODES]; /* per shard, its master at the start */
    int nshards;
    uint8_t faulted[MRD_MF_MAX_NODES];   /* per node: the fault hits it */
    bool shard_faulted[MRD_MF_MAX_NODES];
    drill_cwriter *cwriter;
    drill_cwatch *cwatch;
    drill_timeline *tl;      /* host-loss marks its own events */
} drill;

/* The options of every writer and timeline a mode may start. */
typedef struct load_setup {
    drill_cluster_opts co;   /* cluster writer (user app) */
    drill_cluster_opts wo;   /* cluster watcher (user admin) */
    drill_timeline_opts to;  /* sentinels' timeline */
    drill_load_opts lo;      /* sentinel-mode writer */
} load_setup;

/* What differs between the modes, chosen once by the topology's mode (as
 * status_mode.h): the front end (drill_run) never tests the mode. */
typedef struct drill_mode {
    const char *detect_event, *failover_event;
    long long (*cooldown_ms)(const mrd_topology *t); /* between two failovers */
    mrd_rc (*choose_target)(drill *d, mrd_error *err);
    bool (*ready)(const st_report *r);   /* fit for a drill; healed */
    /* the start's facts from the preflight's report: masters */
    void (*note_start)(drill *d, const st_report *r);
    /* why a drill would not survive the fault (a sentence), MRD_OK fit */
    mrd_rc (*preflight)(drill *d, const st_report *r, mrd_error *err);
    bool (*moves_leader)(const drill *d);
    void (*fault_window)(const drill *d, long long *limit_ms, long long *hold_ms);
    /* the preflight's refusal (on stderr) when the cooldown has LEFT_MS to run */
    void (*cooldown_refused)(const mrd_topology *t, long long left_ms);
    /* the start's part of the record, and the drill's opening line; false
     * when out of memory */
    bool (*note_record)(drill *d);
    /* start the timeline and the writer; ERR set on failure */
    mrd_rc (*start_load)(drill *d, const load_setup *ls, drill_timeline **tl,
                         drill_load **load, mrd_error *err);
    /* the writes the main writer made (a new array the caller frees) */
    void (*main_writes)(drill *d, drill_load *load, drill_write **w, int64_t *n);
    /* read the writes back from the healed topology (FINAL, NULL when it
     * did not answer); note rec.leader_after; the leader after (-1 none) */
    int (*verify)(drill *d, const st_report *final, const drill_write *w, int64_t n,
                  const char *prefix);
    bool isolated_writer; /* a partition that cuts off the leader: a writer inside */
    bool heal_after;      /* healed: run `meridian heal` (opts.heal) as well */
} drill_mode;


static long long now_rel(const drill *d)
{
    return mrd_now_ms() - d->t0;
}

static void say(const drill *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(const drill *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    drill_vsay(d->t0, fmt, ap);
    va_end(ap);
}

static const mrd_host *host(const drill *d, int i)
{
    return &d->c->topo->hosts[i];
}

/* The host of node N. */
static const mrd_host *node_host(const drill *d, int n)
{
    return plan_node_host(d->c->plan, n);
}

/* What `meridian-agent fault --kill` calls node N on its host: "redis" for
 * the node on store.port, "redis-PORT" for any other. */
static const char *node_label(const drill *d, int n, char *buf, size_t len)
{
    manifest_node_label(d->c->plan->nodes[n].port, d->c->topo->settings.store.port, buf, len);
    return buf;
}

/* Node N's name in reports (plan_node_name). */
static void node_name(const drill *d, int n, char *buf, size_t len)
{
    plan_node_name(d->c->plan, n, buf, len);
}

/* Run `meridian-agent fault --kill WHAT [--wipe-data]` on host H through
 * the transport; say what it did.  False with ERR set when WHAT was not
 * all running or the command failed. */
static bool host_fault(drill *d, int h, const char *what, bool wipe, mrd_error *err)
{
    const char *args[] = {"fault", "--kill", what, wipe ? "--wipe-data" : NULL, NULL};
    tp_result res;
    if (deploy_agent_exec(d->c, h, args, &res, err) != MRD_OK)
        return false;
    for (char *save = NULL, *line = strtok_r(res.out, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save))
        say(d, "%s: %s", host(d, h)->name, line);
    bool ok = res.status == 0;
    if (!ok) {
        int n = (int)strcspn(res.err, "\n");
        mrd_error_set(err, MRD_ERR_STATE, "%s: %s: %.*s", host(d, h)->name,
                      res.status == 3 ? "not running" : "meridian-agent fault failed", n,
                      n ? res.err : what);
    }
    tp_result_free(&res);
    return ok;
}

/* ==== choosing the target ==== */

/* A replica node of the master's shard, outside the master's region if
 * there is one. */
static int replica_default(const drill *d)
{
    const mrd_plan *p = d->c->plan;
    const mrd_plan_shard *sh = &p->shards[p->nodes[d->master].shard];
    int lr = node_host(d, d->master)->region;
    for (int i = sh->first; i < sh->first + sh->nnodes; i++)
        if (i != d->master && node_host(d, i)->region != lr)
            return i;
    for (int i = sh->first; i < sh->first + sh->nnodes; i++)
        if (i != d->master)
            return i;
    return -1;
}

static int sentinel_default(const drill *d)
{
    const mrd_topology *t = d->c->topo;
    int lr = node_host(d, d->master)->region;
    for (int i = 0; i < t->nhosts; i++)
        if (d->c->plan->hosts[i].sentinel && t->hosts[i].region != lr)
            return i;
    for (int i = 0; i < t->nhosts; i++)
        if (d->c->plan->hosts[i].sentinel)
            return i;
    return -1;
}

/* The REGION of region-outage and partition, into d->target_region;
 * MRD_ERR_USAGE with a sentence when it names none. */
static mrd_rc choose_region(drill *d, mrd_error *err)
{
    const mrd_topology *t = d->c->topo;
    const char *arg = d->o->arg;
    if (!arg)
        return mrd_error_set(err, MRD_ERR_USAGE, "%s needs a REGION (one of the "
                             "topology's regions, e.g. %s)",
                             drill_scenario_name(d->o->scenario), t->regions[0].name);
    d->target_region = topology_find_region(t, arg);
    if (d->target_region < 0)
        return mrd_error_set(err, MRD_ERR_USAGE, "no region \"%s\" in %s", arg, t->name);
    return MRD_OK;
}

/* The HOST of host-loss, into d->target_host: a host that runs something
 * and that a spare can replace; MRD_ERR_USAGE with a sentence otherwise. */
static mrd_rc choose_lost_host(drill *d, mrd_error *err)
{
    orch_ctx *c = d->c;
    const mrd_topology *t = c->topo;
    const char *arg = d->o->arg;
    if (!arg)
        return mrd_error_set(err, MRD_ERR_USAGE,
                             "host-loss needs a HOST (one that runs a node, e.g. %s)",
                             plan_node_host(c->plan, 0)->name);
    int h = topology_find_host(t, arg);
    if (h < 0)
        return mrd_error_set(err, MRD_ERR_USAGE, "no host \"%s\" in %s", arg, t->name);
    if (!orch_host_used(c, h))
        return mrd_error_set(err, MRD_ERR_USAGE, "%s runs nothing (%s): name a host that runs "
                             "a node", arg, t->hosts[h].spare ? "a spare" : "replaced");
    char why[300];
    if (plan_choose_spare(t, c->have_placement ? &c->placement : NULL, &c->repl, h, why,
                          sizeof(why)) < 0)
        return mrd_error_set(err, MRD_ERR_USAGE, "nothing could replace %s: %s", arg, why);
    d->target_host = h;
    return MRD_OK;
}

/* rec.target: the target node's name, else its host's, else the region. */
static void name_target(drill *d)
{
    const mrd_topology *t = d->c->topo;
    if (d->target_node >= 0) {
        d->target_host = d->c->plan->nodes[d->target_node].host;
        node_name(d, d->target_node, d->rec.target, sizeof(d->rec.target));
    } else {
        snprintf(d->rec.target, sizeof(d->rec.target), "%s",
                 d->target_host >= 0 ? t->hosts[d->target_host].name
                                     : t->regions[d->target_region].name);
    }
}

/* Resolve the scenario's target; MRD_ERR_USAGE with a sentence when the
 * argument names nothing usable. */
static mrd_rc choose_target(drill *d, mrd_error *err)
{
    const mrd_topology *t = d->c->topo;
    const char *arg = d->o->arg;
    const mrd_plan *p = d->c->plan;
    d->target_host = d->target_node = d->target_region = -1;
    switch (d->o->scenario) {
    case DRILL_KILL_LEADER:
        if (arg)
            return mrd_error_set(err, MRD_ERR_USAGE, "kill-leader takes no argument");
        d->target_node = d->master;
        break;
    case DRILL_REPLICA_LOSS:
        if (arg) {
            int h = topology_find_host(t, arg);
            if (h < 0)
                return mrd_error_set(err, MRD_ERR_USAGE, "no host \"%s\" in %s", arg, t->name);
            d->target_node = plan_node_on(p, p->nodes[d->master].shard, h);
            if (d->target_node < 0)
                return mrd_error_set(err, MRD_ERR_USAGE, "%s runs no node of %s", arg,
                                     p->shards[p->nodes[d->master].shard].name);
        } else if ((d->target_node = replica_default(d)) < 0) {
            return mrd_error_set(err, MRD_ERR_USAGE, "%s has no replica to lose", t->name);
        }
        if (d->target_node == d->master)
            return mrd_error_set(err, MRD_ERR_USAGE,
                                 "%s runs the leader: use kill-leader, or name a replica",
                                 arg);
        break;
    case DRILL_SENTINEL_LOSS:
        d->target_host = arg ? topology_find_host(t, arg) : sentinel_default(d);
        if (d->target_host < 0 || !d->c->plan->hosts[d->target_host].sentinel)
            return mrd_error_set(err, MRD_ERR_USAGE, "%s runs no sentinel of %s",
                                 arg ? arg : "no host", t->name);
        break;
    case DRILL_REGION_OUTAGE:
    case DRILL_PARTITION:
        MRD_TRY(choose_region(d, err));
        d->region_has_leader = node_host(d, d->master)->region == d->target_region;
        break;
    case DRILL_HOST_LOSS:
        MRD_TRY(choose_lost_host(d, err));
        d->region_has_leader = p->nodes[d->master].host == d->target_host;
        break;
    case DRILL_SWITCHOVER:
        if (!arg)
            return mrd_error_set(err, MRD_ERR_USAGE,
                                 "switchover needs a HOST or a REGION to move the leader to");
        d->target_host = topology_find_host(t, arg);
        if (d->target_host < 0)
            MRD_TRY(choose_region(d, err));
        break;
    case DRILL_SENTINEL_FAILOVER:
    case DRILL_ROLLOUT:
        if (arg)
            return mrd_error_set(err, MRD_ERR_USAGE, "%s takes no argument",
                                 drill_scenario_name(d->o->scenario));
        d->target_node = d->master;
        break;
    default:
        return mrd_error_set(err, MRD_ERR_USAGE, "unknown scenario");
    }
    name_target(d);
    return MRD_OK;
}

/* ==== the failover cooldown ==== */

/* The last failover a drill caused is kept in the state dir
 * (orch_failover_note()).  Returns the milliseconds left, 0 when a
 * failover is possible. */
static long long cooldown_left(const drill *d)
{
    return orch_failover_cooldown_left(d->c, d->mode->cooldown_ms(d->c->topo));
}

static void cooldown_note(const drill *d)
{
    orch_failover_note(d->c);
}

/* ==== sync counters ==== */

/* Every node's counters, OUT[node]. */
static void sync_read(const drill *d, sync_counts *out)
{
    const mrd_plan *p = d->c->plan;
    for (int i = 0; i < p->nnodes && i < MRD_MF_MAX_NODES; i++) {
        store_conn *conn = NULL;
        char *text = NULL;
        store_info info;
        out[i] = (sync_counts){0};
        if (store_conn_open(node_host(d, i)->address, p->nodes[i].port, "admin", d->admin, 300,
                            &conn, NULL) == MRD_OK &&
            store_info_text(conn, NULL, &text, NULL) == MRD_OK &&
            store_info_parse(text, strlen(text), &info, NULL) == MRD_OK)
            out[i] = (sync_counts){info.process_id, info.sync_full, info.sync_partial_ok};
        free(text);
        store_conn_close(&conn);
    }
}

/* Resyncs the masters (MASTERS[node]: a master before or after the
 * drill) served during it.
 * Replicas are left out: one that serves a heal's snapshot counts that
 * SYNC as a full sync, but it sends nothing over the leader's links. */
static void sync_delta(const drill *d, const sync_counts *before, const sync_counts *after,
                       const bool *masters, long long *full, long long *partial)
{
    *full = *partial = 0;
    for (int i = 0; i < d->c->plan->nnodes && i < MRD_MF_MAX_NODES; i++) {
        if (!masters[i])
            continue;
        bool same = before[i].pid && before[i].pid == after[i].pid;
        *full += after[i].full - (same ? before[i].full : 0);
        *partial += after[i].partial - (same ? before[i].partial : 0);
    }
}

/* ==== faults ==== */

/* The user nft runs as on the hosts: the ssh login, or whoever runs the
 * drill on the local transport. */
static const char *fault_user(const drill *d)
{
    if (d->c->tp->ops->remote)
        return d->c->topo->transport.user;
    return geteuid() == 0 ? "root" : "";
}

/* Run the nft SCRIPT on every host of the target region, or on every host
 * when ALL (removing a table left anywhere).  Stops at the first failure
 * unless ALL. */
static mrd_rc nft_on_hosts(drill *d, const char *script, bool all, mrd_error *err)
{
    const mrd_topology *t = d->c->topo;
    mrd_rc rc = MRD_OK;
    for (int i = 0; i < t->nhosts; i++) {
        if ((!all && t->hosts[i].region != d->target_region) || !orch_host_used(d->c, i))
            continue; /* an idle spare or a replaced host has no ports to cut */
        mrd_rc r = netfault_apply(d->c->tp, &t->hosts[i], fault_user(d), script, err);
        if (r != MRD_OK && !all)
            return r;
        rc = rc ? rc : r;
    }
    return rc;
}

/* The probe client inside a partition of the leader's region: an address
 * of that region this machine can send from, "127.0.R.250" next to the
 * loopback test hosts' 127.0.R.H.  False for real hosts elsewhere: the
 * drill then cannot write from inside the partition. */
static bool isolated_source(const drill *d, char *buf, size_t n)
{
    unsigned a, b, c, h;
    if (sscanf(node_host(d, d->master)->address, "%u.%u.%u.%u", &a, &b, &c, &h) != 4 || a != 127)
        return false;
    snprintf(buf, n, "%u.%u.%u.250", a, b, c);
    return true;
}

#define DRILL_PARTITION_PORTS (2 * MRD_MF_MAX_HOST_NODES + 2)

/* Add PORT to PORTS (*N of them) unless it is there or the list is full. */
static void add_port(int *ports, int *n, int port)
{
    for (int i = 0; i < *n; i++)
        if (ports[i] == port)
            return;
    if (*n < DRILL_PARTITION_PORTS)
        ports[(*n)++] = port;
}

static mrd_rc partition(drill *d, mrd_error *err)
{
    const mrd_topology *t = d->c->topo;
    const char *inside[MRD_MF_MAX_HOSTS + 1];
    int n = 0;
    char probe[32];
    for (int i = 0; i < t->nhosts && n < MRD_MF_MAX_HOSTS; i++)
        if (t->hosts[i].region == d->target_region)
            inside[n++] = t->hosts[i].address;
    if (d->region_has_leader && isolated_source(d, probe, sizeof(probe)))
        inside[n++] = probe;
    /* every node's port (store.port, and another for each further node on
     * a host) and in cluster mode its cluster bus port, then the
     * sentinels' and the agents' */
    int ports[DRILL_PARTITION_PORTS];
    int nports = 0;
    bool sentinels = false;
    for (int i = 0; i < d->c->plan->nnodes; i++) {
        add_port(ports, &nports, d->c->plan->nodes[i].port);
        if (d->c->plan->nodes[i].bus_port > 0)
            add_port(ports, &nports, d->c->plan->nodes[i].bus_port);
    }
    for (int i = 0; i < t->nhosts; i++)
        sentinels |= d->c->plan->hosts[i].sentinel;
    if (sentinels)
        add_port(ports, &nports, t->settings.sentinel.port);
    add_port(ports, &nports, t->settings.agent.port);
    char script[8192], list[256] = "";
    MRD_TRY(netfault_partition_script(t->name, inside, n, ports, nports, script,
                                      sizeof(script), err));
    d->partitioned = true; /* a host may hold the table even when another failed */
    MRD_TRY(nft_on_hosts(d, script, false, err));
    for (int i = 0, used = 0; i < nports; i++) {
        int w = snprintf(list + used, sizeof(list) - (size_t)used, "%s%d", i ? ", " : "",
                         ports[i]);
        if (w > 0 && (size_t)w < sizeof(list) - (size_t)used)
            used += w;
    }
    say(d, "partitioned %s (%d addresses) from every other address on ports %s",
        t->regions[d->target_region].name, n, list);
    return MRD_OK;
}

/* Every process of host H as `fault --kill` names them: its nodes, then
 * its sentinel ("redis,redis-16380,sentinel"). */
static void host_processes(const drill *d, int h, char *buf, size_t len)
{
    const mrd_plan *p = d->c->plan;
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < p->nnodes; i++) {
        char label[32];
        if (p->nodes[i].host != h)
            continue;
        int w = snprintf(buf + used, len - used, "%s%s", used ? "," : "",
                         node_label(d, i, label, sizeof(label)));
        if (w > 0 && (size_t)w < len - used)
            used += (size_t)w;
    }
    if (p->hosts[h].sentinel)
        snprintf(buf + used, len - used, "%ssentinel", used ? "," : "");
}

/* Stop host H's agent abruptly (its processes left running); say how. */
static void halt_agent(drill *d, int h)
{
    char how[200];
    mrd_error err;
    if (deploy_agent_halt(d->c, h, how, sizeof(how), &err) == MRD_OK)
        say(d, "%s: %s", host(d, h)->name, how);
    else
        say(d, "%s: agent not stopped: %s", host(d, h)->name, err.msg);
}

/* SIGKILL every node and the sentinel of host H. */
static void kill_host_processes(drill *d, int h)
{
    mrd_error err;
    char what[256];
    host_processes(d, h, what, sizeof(what));
    if (!host_fault(d, h, what, false, &err))
        say(d, "%s", err.msg);
}

/* The switchover drill's "fault": `meridian switchover --to ARG --yes`
 * as the operator runs it, its progress on stderr. */
/* The state dir's lock, which the operations' callers hold (as the CLI
 * does), taken for the drill's operation; NULL with ERR set when another
 * deploy, switchover or rollout holds it for 10 s. */
static mrd_lock *operation_lock(drill *d, const char *what, mrd_error *err)
{
    mrd_lock *l = NULL;
    mrd_lock_holder who = {0};
    if (mrd_lock_take(d->c->state_dir, "drill.lock", what, 10000, &l, &who, err) != MRD_OK)
        return NULL;
    return l;
}

static mrd_rc planned_switchover(drill *d, mrd_error *err)
{
    drill_planned *x = &d->rec.planned;
    mrd_lock *l = operation_lock(d, "drill switchover", err);
    if (!l)
        return err->code;
    switchover_opts so = {.to = d->o->arg, .shard = 0, .apply = true, .progress = stderr};
    switchover_report sr;
    switchover_run(d->c, &so, &sr);
    mrd_lock_release(&l);
    snprintf(x->operation, sizeof(x->operation), "switchover");
    snprintf(x->outcome, sizeof(x->outcome), "%s", sw_outcome_name(sr.outcome));
    snprintf(x->from, sizeof(x->from), "%s", sr.from_name);
    snprintf(x->to, sizeof(x->to), "%s", sr.to_name);
    snprintf(x->reason, sizeof(x->reason), "%s", sr.reason);
    x->pause_ms = sr.pause_ms;
    x->op_ms = sr.total_ms;
    if (sr.outcome != SW_OUT_DONE)
        return mrd_error_set(err, MRD_ERR_STATE, "switchover %s: %s", x->outcome, sr.reason);
    return MRD_OK;
}

/* The rollout drill's "fault": `meridian rollout --yes`, its progress on
 * stderr; each step's time in the record. */
static mrd_rc planned_rollout(drill *d, mrd_error *err)
{
    drill_planned *x = &d->rec.planned;
    rollout_opts ro = {.apply = true, .progress = stderr};
    rollout_report *r = calloc(1, sizeof(*r));
    if (!r)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    mrd_lock *l = operation_lock(d, "drill rollout", err);
    if (!l) {
        free(r);
        return err->code;
    }
    int rc = rollout_run(d->c, &ro, r);
    mrd_lock_release(&l);
    snprintf(x->operation, sizeof(x->operation), "rollout");
    snprintf(x->outcome, sizeof(x->outcome), "%s", rc == 0 ? "done" : "failed");
    snprintf(x->reason, sizeof(x->reason), "%s", rc == 0 ? "" : r->reason);
    node_name(d, d->master, x->from, sizeof(x->from));
    x->pause_ms = r->pause_ms;
    x->op_ms = r->ms;
    size_t len = 0;
    for (int i = 0; i < r->plan.n && len + 1 < sizeof(x->steps); i++) {
        const ro_step *s = &r->plan.steps[i];
        char who[64];
        if (s->kind == RO_AGENTS)
            snprintf(who, sizeof(who), "agents");
        else if (s->kind == RO_SENTINEL)
            snprintf(who, sizeof(who), "sentinel %s", host(d, s->host)->name);
        else if (s->kind == RO_SWITCHOVER)
            snprintf(who, sizeof(who), "switchover");
        else
            node_name(d, s->node, who, sizeof(who));
        int w = snprintf(x->steps + len, sizeof(x->steps) - len, "%s%s %.1f s%s", len ? ", " : "",
                         who, (double)s->ms / 1000.0,
                         s->kind == RO_REPLICA ? (s->partial == 1   ? " partial"
                                                  : s->partial == 0 ? " FULL"
                                                                    : "")
                                               : "");
        if (w > 0)
            len += (size_t)w;
        x->full_syncs += s->kind == RO_REPLICA && s->partial == 0;
        x->partial_syncs += s->kind == RO_REPLICA && s->partial == 1;
    }
    free(r);
    if (rc != 0)
        return mrd_error_set(err, MRD_ERR_STATE, "rollout failed: %s", x->reason);
    return MRD_OK;
}

/* The baseline: SENTINEL FAILOVER sent by hand to one sentinel, nothing
 * else (no pause, no hold: Sentinel chooses the replica). */
static mrd_rc sentinel_failover_by_hand(drill *d, mrd_error *err)
{
    drill_planned *x = &d->rec.planned;
    int h = sentinel_default(d);
    snprintf(x->operation, sizeof(x->operation), "sentinel-failover");
    node_name(d, d->master, x->from, sizeof(x->from));
    x->pause_ms = -1;
    long long start = mrd_now_ms();
    store_conn *k = NULL;
    mrd_rc rc = h < 0 ? mrd_error_set(err, MRD_ERR_STATE, "no sentinel to ask")
                      : store_conn_open(host(d, h)->address, d->c->topo->settings.sentinel.port,
                                        "admin", d->admin, 1000, &k, err);
    if (rc == MRD_OK)
        rc = store_cmdl(k, NULL, err, "SENTINEL", "FAILOVER", d->c->plan->shards[0].name, NULL);
    store_conn_close(&k);
    x->op_ms = mrd_now_ms() - start;
    snprintf(x->outcome, sizeof(x->outcome), "%s", rc == MRD_OK ? "done" : "failed");
    if (rc != MRD_OK)
        snprintf(x->reason, sizeof(x->reason), "%s", err->msg);
    else
        say(d, "sent SENTINEL FAILOVER to the sentinel on %s", host(d, h)->name);
    return rc;
}

static mrd_rc apply_fault(drill *d, mrd_error *err)
{
    const mrd_topology *t = d->c->topo;
    int h = d->target_host;
    char label[32];
    switch (d->o->scenario) {
    case DRILL_KILL_LEADER:
        return host_fault(d, h, node_label(d, d->target_node, label, sizeof(label)), false, err)
                   ? MRD_OK
                   : err->code;
    case DRILL_REPLICA_LOSS:
        return host_fault(d, h, node_label(d, d->target_node, label, sizeof(label)), true, err)
                   ? MRD_OK
                   : err->code;
    case DRILL_SENTINEL_LOSS:
        return host_fault(d, h, "sentinel", false, err) ? MRD_OK : err->code;
    case DRILL_REGION_OUTAGE:
        /* agents first, so none of them reacts to its nodes going away */
        for (int i = 0; i < t->nhosts; i++)
            if (t->hosts[i].region == d->target_region)
                halt_agent(d, i);
        d->agents_stopped = true;
        for (int i = 0; i < t->nhosts; i++)
            if (t->hosts[i].region == d->target_region)
                kill_host_processes(d, i);
        return MRD_OK;
    case DRILL_HOST_LOSS:
        d->fault_wall_ms = mrd_wall_ms();
        halt_agent(d, h);
        d->host_down = true;
        kill_host_processes(d, h);
        return MRD_OK;
    case DRILL_PARTITION:
        return partition(d, err);
    case DRILL_SWITCHOVER:
        return planned_switchover(d, err);
    case DRILL_SENTINEL_FAILOVER:
        return sentinel_failover_by_hand(d, err);
    case DRILL_ROLLOUT:
        return planned_rollout(d, err);
    default:
        return mrd_error_set(err, MRD_ERR_USAGE, "unknown scenario");
    }
}

/* Undo the fault: heal the partition, restart the stopped agents (which
 * start their sentinels and restore their nodes as replicas).  Safe to call
 * twice; called on every exit path. */
static void undo_fault(drill *d)
{
    mrd_error err;
    if (d->partitioned) {
        char script[256];
        netfault_heal_script(d->c->topo->name, script, sizeof(script));
        if (nft_on_hosts(d, script, false, &err) == MRD_OK)
            say(d, "partition removed");
        else
            say(d, "could not remove the partition: %s (run on the region's hosts: nft "
                   "delete table inet meridian_%s)", err.msg, d->c->topo->name);
        d->partitioned = false;
    }
    if (d->agents_stopped) {
        const mrd_topology *t = d->c->topo;
        for (int i = 0; i < t->nhosts; i++) {
            if (t->hosts[i].region != d->target_region)
                continue;
            if (deploy_agent_start(d->c, i, &err) == MRD_OK)
                say(d, "restarted the agent of %s", t->hosts[i].name);
            else
                say(d, "could not restart the agent of %s: %s", t->hosts[i].name, err.msg);
        }
        d->agents_stopped = false;
    }
    if (d->host_down) {
        /* the old host returns: replaced by now, its agent must fence it */
        const char *name = d->c->topo->hosts[d->target_host].name;
        if (deploy_agent_start(d->c, d->target_host, &err) == MRD_OK)
            say(d, "the old host %s is back: its agent started", name);
        else
            say(d, "could not start the agent of %s again: %s", name, err.msg);
        d->host_down = false;
    }
}

/* ==== host-loss: the replacement ==== */

/* Node N's INFO into OUT. */
static bool node_info(const drill *d, int n, store_info *out)
{
    store_conn *conn = NULL;
    char *text = NULL;
    bool ok = store_conn_open(node_host(d, n)->address, d->c->plan->nodes[n].port, "admin",
                              d->admin, 1000, &conn, NULL) == MRD_OK &&
              store_info_text(conn, NULL, &text, NULL) == MRD_OK &&
              store_info_parse(text, strlen(text), out, NULL) == MRD_OK;
    free(text);
    store_conn_close(&conn);
    return ok;
}

/* replace_opts.fenced: the host is fenced; the spare is not set up yet.
 * Keep the leader's replication counters (sentinel mode's master, or in
 * cluster mode the master of the first shard with a node on the lost
 * host) to tell what it sends the spare. */
static void on_fenced(void *arg, int lost, int spare)
{
    drill *d = arg;
    (void)spare;
    st_report *r = NULL;
    mrd_error err;
    d->lb_node = -1;
    if (status_probe(d->c, 1000, &r, &err) != MRD_OK)
        return;
    for (int s = 0; s < r->nshards && d->lb_node < 0; s++)
        if (plan_node_on(d->c->plan, s, spare) >= 0 || d->nshards == 0)
            d->lb_node = r->shards[s].master >= 0 ? r->shards[s].master : r->master;
    if (d->lb_node < 0)
        d->lb_node = r->master;
    status_free(&r);
    if (d->lb_node >= 0 && !node_info(d, d->lb_node, &d->lb0))
        d->lb_node = -1;
    drill_timeline_mark(d->tl, "+host-lost", d->c->topo->hosts[lost].name);
}

/* replace_opts.ready: the spare's nodes are restored.  What the leader
 * sent since the fence, less what it streamed to the replicas it had then
 * (each got the stream, MASTER_REPL_OFFSET's growth): what went to the
 * spare's node, its psync (the writes since its snapshot) and the stream
 * since it linked. */
static void on_ready(void *arg, int lost, int spare)
{
    drill *d = arg;
    drill_host_loss *x = &d->rec.host_loss;
    (void)lost;
    (void)spare;
    x->ready_ms = mrd_wall_ms() - d->fault_wall_ms;
    store_info after;
    if (d->lb_node < 0 || !node_info(d, d->lb_node, &after) ||
        after.process_id != d->lb0.process_id)
        return;
    long long sent = after.total_net_repl_output_bytes - d->lb0.total_net_repl_output_bytes;
    long long others = d->lb0.connected_slaves *
                       (after.master_repl_offset - d->lb0.master_repl_offset);
    x->leader_bytes = sent > others ? sent - others : 0;
}

/* The size of the RDB files the spare's nodes were restored from: what a
 * full sync would have sent (local transport: the files are here); -1
 * when unknown. */
static int64_t restored_rdb_bytes(const drill *d, int spare)
{
    if (orch_remote(d->c))
        return -1;
    char root[MRD_PATH_MAX];
    if (orch_host_root(d->c, spare, root, sizeof(root)) != MRD_OK)
        return -1;
    int64_t sum = 0;
    const mrd_plan *p = d->c->plan;
    for (int i = 0; i < p->nnodes; i++) {
        if (p->nodes[i].host != spare)
            continue;
        char label[32], path[MRD_PATH_MAX];
        struct stat st;
        manifest_node_label(p->nodes[i].port, d->c->topo->settings.store.port, label,
                            sizeof(label));
        if (mrd_path_fmt(path, sizeof(path), "%s/%s/data/dump.rdb", root, label) != MRD_OK ||
            stat(path, &st) != 0)
            return -1;
        sum += st.st_size;
    }
    return sum;
}

/* Heal, as `meridian heal` does, with agent.replace_after_s shrunk: the
 * lost host is fenced and replaced on a spare.  Fills rec.host_loss. */
static void replace_phase(drill *d)
{
    orch_ctx *c = d->c;
    drill_host_loss *x = &d->rec.host_loss;
    const char *name = c->topo->hosts[d->target_host].name;
    c->topo->settings.agent.replace_after_s = x->replace_after_s;
    replace_opts ro = {.wait_max_ms = (x->replace_after_s + 60) * 1000,
                       .ready_timeout_ms = DRILL_HEAL_TIMEOUT_MS,
                       .progress = stderr,
                       .fenced = on_fenced,
                       .ready = on_ready,
                       .arg = d};
    d->lb_node = -1;
    say(d, "heal: waiting agent.replace_after_s (%d s) before replacing %s", x->replace_after_s,
        name);
    replace_report *rr = calloc(1, sizeof(*rr));
    mrd_error err;
    if (!rr || replace_run(c, &ro, rr, &err) != MRD_OK) {
        say(d, "heal could not look for lost hosts: %s", rr ? err.msg : "out of memory");
        free(rr);
        return;
    }
    for (int i = 0; i < rr->n; i++)
        if (strcmp(rr->items[i].host, name) == 0)
            say(d, "heal: %s %s", replace_outcome_name(rr->items[i].outcome), rr->items[i].text);
    free(rr);
    int k = replacements_find(&c->repl, name);
    if (k < 0)
        return;
    const mrd_replacement *rp = &c->repl.items[k];
    snprintf(x->spare, sizeof(x->spare), "%s", rp->by);
    x->generation = rp->generation;
    x->replaced = rp->done;
    x->detect_ms = rp->at_ms - d->fault_wall_ms;
    if (!x->replaced)
        return;
    drill_timeline_mark(d->tl, "+host-replaced", rp->by);
    x->full_sync_bytes = restored_rdb_bytes(d, topology_find_host(c->topo, rp->by));
}

/* The old host is back (undo_fault started its agent): it must start no
 * node and its agent must say it was replaced.  Looks for up to 10 s. */
static void check_old_host(drill *d)
{
    drill_host_loss *x = &d->rec.host_loss;
    const mrd_topology *t = d->c->topo;
    const mrd_host *h = &t->hosts[d->target_host];
    agent_target at = {.host = h->name, .address = h->address, .port = t->settings.agent.port};
    agent_timeouts to = {.request_ms = 1000, .connect_ms = 1000};
    for (long long end = mrd_now_ms() + 10000; mrd_now_ms() < end && !interrupted;) {
        agent_result res = {0};
        mrd_error err;
        const char *status = NULL, *by = NULL;
        if (agent_client_default()->health_all(&at, 1, &to, &res, &err) == MRD_OK) {
            status = json_string_value(json_object_get(res.body, "status"));
            by = json_string_value(json_object_get(res.body, "replaced_by"));
        }
        bool retired = res.http_status == 503 && status && strcmp(status, "retired") == 0;
        int up = 0;
        for (int i = 0; retired && i < MRD_MF_MAX_HOST_NODES; i++) {
            store_conn *conn = NULL;
            up += store_conn_open(h->address, t->settings.store.port + i, "admin", d->admin, 300,
                                  &conn, NULL) == MRD_OK;
            store_conn_close(&conn);
        }
        if (retired)
            snprintf(x->old_host, sizeof(x->old_host),
                     "agent answers 503 retired (replaced by %s); %d node%s answering", by ? by : "?",
                     up, up == 1 ? "" : "s");
        else
            snprintf(x->old_host, sizeof(x->old_host), "agent %s",
                     res.http_status ? "answers, not retired" : "does not answer yet");
        json_decref(res.body);
        if (retired) {
            x->old_host_fenced = up == 0;
            say(d, "the old host %s: %s", h->name, x->old_host);
            return;
        }
        mrd_sleep_ms(200);
    }
    say(d, "the old host %s: %s", h->name, x->old_host);
}

/* ==== waiting ==== */

/* Poll status until the mode calls it ready; *LAST (may be NULL) gets the
 * last report (the caller status_free()s it), NULL when none came. */
static bool wait_ready(drill *d, int timeout_ms, st_report **last)
{
    long long deadline = mrd_now_ms() + timeout_ms;
    char seen[256] = "";
    if (last)
        *last = NULL;
    while (!interrupted) {
        st_report *r = NULL;
        mrd_error err;
        if (status_probe(d->c, 500, &r, &err) == MRD_OK) {
            bool ok = d->mode->ready(r);
            if (!ok && strcmp(seen, r->summary) != 0) {
                say(d, "heal: %s", r->summary);
                snprintf(seen, sizeof(seen), "%s", r->summary);
            }
            if (last) {
                status_free(last);
                *last = r;
            } else {
                status_free(&r);
            }
            if (ok)
                return true;
        }
        if (mrd_now_ms() >= deadline)
            return false;
        mrd_sleep_ms(DRILL_POLL_MS * 4);
    }
    return false;
}

/* ==== sentinel mode ==== */

static long long sentinel_cooldown(const mrd_topology *t)
{
    return 2LL * t->settings.sentinel.failover_timeout_ms;
}

static bool sentinel_ready(const st_report *r)
{
    return r->health == MRD_HEALTH_OK;
}

static void sentinel_note_start(drill *d, const st_report *r)
{
    d->master = r->master;
}

static mrd_rc sentinel_preflight(drill *d, const st_report *r, mrd_error *err)
{
    (void)d;
    (void)r;
    (void)err;
    return MRD_OK;
}

/* Does the fault move the leader, so the drill waits for a failover? */
static bool sentinel_moves_leader(const drill *d)
{
    switch (d->o->scenario) {
    case DRILL_KILL_LEADER:
    case DRILL_SWITCHOVER:
    case DRILL_SENTINEL_FAILOVER:
    case DRILL_ROLLOUT:
        return true;
    case DRILL_REGION_OUTAGE:
    case DRILL_PARTITION:
    case DRILL_HOST_LOSS:
        return d->region_has_leader;
    default:
        return false;
    }
}

void drill_fault_window(const mrd_topology *t, bool moves_leader, bool isolates_leader,
                        long long *limit_ms, long long *hold_ms)
{
    /* In long long before adding: the parser takes each setting up to
     * INT_MAX, and the sum of two ints overflowed. */
    *limit_ms = moves_leader ? (long long)t->settings.sentinel.down_after_ms +
                                   t->settings.sentinel.failover_timeout_ms + DRILL_FAILOVER_SLACK_MS
                             : DRILL_AFTER_FAULT_MS;
    *hold_ms = isolates_leader ? ((long long)t->settings.consistency.min_replicas_max_lag_s + 2) * 1000
                               : 0;
}

static void sentinel_fault_window(const drill *d, long long *limit_ms, long long *hold_ms)
{
    drill_fault_window(d->c->topo, sentinel_moves_leader(d),
                       d->o->scenario == DRILL_PARTITION && d->region_has_leader, limit_ms,
                       hold_ms);
}

static void sentinel_cooldown_refused(const mrd_topology *t, long long left_ms)
{
    fprintf(stderr, "meridian: preflight: the sentinels refuse another failover of %s "
                    "for %.1f s more (2 x failover-timeout after the last one): wait, "
                    "or pass --wait\n", t->name, (double)left_ms / 1000.0);
}

static bool sentinel_note_record(drill *d)
{
    say(d, "%s %s: leader %s, %d writes/s for at least %d s", d->rec.scenario,
        d->rec.target, d->rec.leader_before, d->o->rate, d->o->duration_s);
    return true;
}

static mrd_rc sentinel_start_load(drill *d, const load_setup *ls, drill_timeline **tl,
                                  drill_load **load, mrd_error *err)
{
    (void)d;
    mrd_rc rc = drill_timeline_start(&ls->to, tl, err);
    if (rc == MRD_OK)
        rc = drill_load_start(&ls->lo, load, err);
    return rc;
}

static void sentinel_main_writes(drill *d, drill_load *load, drill_write **w, int64_t *n)
{
    (void)d;
    drill_load_writes(load, w, n, NULL);
}

static int sentinel_verify(drill *d, const st_report *final, const drill_write *w, int64_t n,
                           const char *prefix)
{
    const mrd_plan *p = d->c->plan;
    int leader_after = final ? final->master : -1;
    if (leader_after >= 0) {
        node_name(d, leader_after, d->rec.leader_after, sizeof(d->rec.leader_after));
        drill_verify_result v = {0};
        mrd_error err;
        if (drill_load_verify(node_host(d, leader_after)->address, p->nodes[leader_after].port, "admin",
                              d->admin, prefix, w, n, 5000, &v, &err) == MRD_OK) {
            d->rec.r.acked_writes_lost = v.acked_writes_lost;
            d->rec.r.unacked_writes_lost = v.unacked_writes_lost;
        } else {
            say(d, "cannot read the writes back: %s", err.msg);
            d->rec.r.healed = false;
        }
    }
    return leader_after;
}

static const drill_mode mode_sentinel = {
    .detect_event = "+odown",
    .failover_event = "+switch-master",
    .cooldown_ms = sentinel_cooldown,
    .choose_target = choose_target,
    .ready = sentinel_ready,
    .note_start = sentinel_note_start,
    .preflight = sentinel_preflight,
    .moves_leader = sentinel_moves_leader,
    .fault_window = sentinel_fault_window,
    .cooldown_refused = sentinel_cooldown_refused,
    .note_record = sentinel_note_record,
    .start_load = sentinel_start_load,
    .main_writes = sentinel_main_writes,
    .verify = sentinel_verify,
    .isolated_writer = true,
};

/* ==== cluster mode ==== */

static long long cluster_cooldown(const mrd_topology *t)
{
    /* a node votes for a replica of the same master at most once per
     * 2 x node timeout (cluster.c, clusterSendFailoverAuthIfNeeded) */
    return 2LL * t->settings.cluster.node_timeout_ms;
}

/* Fit for a drill, healed: every shard serves slots with linked replicas
 * and every node is healthy.  Masters away from their planned regions
 * (after a failover, until a rebalance) are allowed: the report shows each
 * shard's region.  A retiring shard that owns no slots is left out, its
 * nodes too (a shrink stops them); a shard that owns none otherwise (a
 * grow that has not filled it) is not fit: it would take no writes. */
static bool cluster_ready(const st_report *r)
{
    for (int s = 0; s < r->nshards; s++)
        if (r->shards[s].state != ST_SHARD_RETIRING &&
            (r->shards[s].master < 0 || r->shards[s].problem[0] ||
             r->shards[s].slots_owned == 0))
            return false;
    for (int i = 0; i < r->nnodes; i++)
        if (!r->nodes[i].healthy && r->shards[r->nodes[i].shard].state != ST_SHARD_RETIRING)
            return false;
    return r->health != MRD_HEALTH_CRITICAL && r->health != MRD_HEALTH_UNKNOWN;
}

/* The shards the drill writes to, faults and reports: all but the retiring
 * ones (the plan's last), which get no writer (their slots move away). */
static void cluster_note_start(drill *d, const st_report *r)
{
    int n = r->nshards - d->c->plan->nretiring;
    d->nshards = n < MRD_MF_MAX_NODES ? n : MRD_MF_MAX_NODES;
    for (int s = 0; s < d->nshards; s++)
        d->shard_master0[s] = r->shards[s].master;
    d->master = d->nshards ? d->shard_master0[0] : -1;
}

/* A replica of shard S (a node that is not its master now) on host H, -1. */
static int cluster_replica_on(const drill *d, int s, int h)
{
    const mrd_plan_shard *sh = &d->c->plan->shards[s];
    for (int i = sh->first; i < sh->first + sh->nnodes; i++)
        if (i != d->shard_master0[s] && d->c->plan->nodes[i].host == h)
            return i;
    return -1;
}

static mrd_rc cluster_choose_target(drill *d, mrd_error *err)
{
    const mrd_topology *t = d->c->topo;
    const mrd_plan *p = d->c->plan;
    const char *arg = d->o->arg;
    d->target_host = d->target_node = d->target_region = d->target_shard = -1;
    switch (d->o->scenario) {
    case DRILL_KILL_LEADER: {
        long s = 1;
        if (arg) {
            char *end;
            errno = 0;
            s = strtol(arg, &end, 10);
            if (errno || end == arg || *end || s < 1 || s > d->nshards)
                return mrd_error_set(err, MRD_ERR_USAGE,
                                     "kill-leader takes a SHARD number, 1 to %d (\"%s\")",
                                     d->nshards, arg);
        }
        d->target_shard = (int)s - 1;
        d->target_node = d->shard_master0[d->target_shard];
        if (d->target_node < 0)
            return mrd_error_set(err, MRD_ERR_USAGE, "shard %ld has no master to kill", s);
        break;
    }
    case DRILL_REPLICA_LOSS:
        if (arg) {
            int h = topology_find_host(t, arg);
            if (h < 0)
                return mrd_error_set(err, MRD_ERR_USAGE, "no host \"%s\" in %s", arg, t->name);
            for (int s = 0; s < d->nshards && d->target_node < 0; s++)
                if ((d->target_node = cluster_replica_on(d, s, h)) >= 0)
                    d->target_shard = s;
            if (d->target_node < 0)
                return mrd_error_set(err, MRD_ERR_USAGE,
                                     "%s runs no replica (only masters, or no node): use "
                                     "kill-leader, or name another host", arg);
        } else {
            /* shard 1's replica outside its master's region */
            int m = d->shard_master0[0];
            const mrd_plan_shard *sh = &p->shards[0];
            for (int i = sh->first; i < sh->first + sh->nnodes; i++)
                if (i != m && (d->target_node < 0 ||
                               node_host(d, i)->region != node_host(d, m)->region))
                    d->target_node = i;
            d->target_shard = 0;
            if (d->target_node < 0)
                return mrd_error_set(err, MRD_ERR_USAGE, "%s has no replica to lose", t->name);
        }
        break;
    case DRILL_SWITCHOVER:
    case DRILL_SENTINEL_FAILOVER:
    case DRILL_ROLLOUT:
        return mrd_error_set(err, MRD_ERR_USAGE,
                             "the %s drill runs in sentinel mode (its writer follows the "
                             "sentinels); in cluster mode run `meridian %s` and measure with "
                             "your own cluster client",
                             drill_scenario_name(d->o->scenario),
                             d->o->scenario == DRILL_ROLLOUT ? "rollout --yes"
                                                             : "switchover --shard N --yes");
    case DRILL_SENTINEL_LOSS:
        return mrd_error_set(err, MRD_ERR_USAGE,
                             "%s runs in cluster mode, without sentinels: try kill-leader, "
                             "replica-loss, region-outage or partition", t->name);
    case DRILL_REGION_OUTAGE:
    case DRILL_PARTITION:
        MRD_TRY(choose_region(d, err));
        break;
    case DRILL_HOST_LOSS:
        MRD_TRY(choose_lost_host(d, err));
        break;
    default:
        return mrd_error_set(err, MRD_ERR_USAGE, "unknown scenario");
    }
    /* what the fault hits */
    bool host_loss = d->o->scenario == DRILL_HOST_LOSS;
    for (int i = 0; i < p->nnodes && i < MRD_MF_MAX_NODES; i++)
        d->faulted[i] = i == d->target_node ||
                        (d->target_region >= 0 && node_host(d, i)->region == d->target_region) ||
                        (host_loss && p->nodes[i].host == d->target_host);
    for (int s = 0; s < d->nshards; s++) {
        d->shard_faulted[s] = d->shard_master0[s] >= 0 && d->faulted[d->shard_master0[s]];
        d->region_has_leader |= (d->target_region >= 0 || host_loss) && d->shard_faulted[s];
    }
    name_target(d);
    return MRD_OK;
}

/* Refuse a fault the cluster would not survive: a shard whose master the
 * fault hits needs a healthy replica the fault spares, and a region's
 * loss must leave a majority of the masters to vote replicas in. */
static mrd_rc cluster_preflight(drill *d, const st_report *r, mrd_error *err)
{
    const mrd_topology *t = d->c->topo;
    const mrd_plan *p = d->c->plan;
    int left = 0;
    for (int s = 0; s < d->nshards; s++) {
        left += !d->shard_faulted[s];
        if (!d->shard_faulted[s])
            continue;
        bool spare = false;
        const mrd_plan_shard *sh = &p->shards[s];
        for (int i = sh->first; i < sh->first + sh->nnodes; i++)
            spare |= i != d->shard_master0[s] && r->nodes[i].healthy && !d->faulted[i] &&
                     p->nodes[i].host != p->nodes[d->shard_master0[s]].host;
        if (!spare)
            return mrd_error_set(err, MRD_ERR_STATE,
                                 "preflight: shard %d has no healthy replica outside %s to "
                                 "promote: the drill would stop it for good; run meridian heal "
                                 "first", s + 1, d->rec.target);
    }
    if (d->target_region >= 0 && left < mrd_majority(d->nshards))
        return mrd_error_set(err, MRD_ERR_STATE,
                             "preflight: %s holds %d of the %d masters: losing it leaves too "
                             "few to vote replicas in, and the whole cluster would stop; run "
                             "meridian rebalance (or drill another region)",
                             t->regions[d->target_region].name, d->nshards - left, d->nshards);
    return MRD_OK;
}

static bool cluster_moves_leader(const drill *d)
{
    for (int s = 0; s < d->nshards; s++)
        if (d->shard_faulted[s])
            return true;
    return false;
}

static void cluster_fault_window(const drill *d, long long *limit_ms, long long *hold_ms)
{
    long long nt = d->c->topo->settings.cluster.node_timeout_ms;
    *limit_ms = cluster_moves_leader(d) ? 2 * nt + DRILL_FAILOVER_SLACK_MS : DRILL_AFTER_FAULT_MS;
    /* a cut-off master refuses writes once it misses the majority for a
     * node timeout */
    *hold_ms = d->o->scenario == DRILL_PARTITION && d->region_has_leader ? nt + 2000 : 0;
}

/* Cluster mode: the per-shard part of the record, before (FINAL NULL)
 * and after the drill. */
static void cluster_shards_note(drill *d, const st_report *final)
{
    const mrd_topology *t = d->c->topo;
    const mrd_plan *p = d->c->plan;
    for (int s = 0; s < d->nshards; s++) {
        drill_shard *x = &d->rec.shards[s];
        int m = final ? final->shards[s].master : d->shard_master0[s];
        char *who = final ? x->master_after : x->master_before;
        char *where = final ? x->region_after : x->region_before;
        if (!final) {
            snprintf(x->name, sizeof(x->name), "%s", p->shards[s].name);
            snprintf(x->region_planned, sizeof(x->region_planned), "%s",
                     t->regions[plan_node_host(p, p->shards[s].master)->region].name);
            x->faulted = d->shard_faulted[s];
        }
        if (m >= 0) {
            node_name(d, m, who, sizeof(x->master_after));
            snprintf(where, sizeof(x->region_after), "%s",
                     t->regions[node_host(d, m)->region].name);
        }
    }
}

/* Cluster mode: read every shard's keys back from its master now. */
static void cluster_verify(drill *d, const st_report *final, const drill_write *w, int64_t n,
                           const char *prefix)
{
    drill_write *mine = malloc(sizeof(*mine) * (size_t)(n > 0 ? n : 1));
    if (!mine) {
        d->rec.r.healed = false;
        return;
    }
    for (int s = 0; s < d->nshards; s++) {
        int64_t k = 0;
        for (int64_t i = 0; i < n; i++)
            if (w[i].shard == s)
                mine[k++] = w[i];
        int m = final->shards[s].master;
        drill_verify_result v = {0};
        mrd_error err;
        if (m < 0 || drill_load_verify(node_host(d, m)->address, d->c->plan->nodes[m].port,
                                       "admin", d->admin, prefix, mine, k, 5000, &v,
                                       &err) != MRD_OK) {
            say(d, "cannot read shard %d's writes back: %s", s + 1,
                m < 0 ? "it has no master" : err.msg);
            d->rec.r.healed = false;
            continue;
        }
        d->rec.shards[s].acked_writes_lost = v.acked_writes_lost;
        d->rec.shards[s].unacked_writes_lost = v.unacked_writes_lost;
        d->rec.r.acked_writes_lost += v.acked_writes_lost;
        d->rec.r.unacked_writes_lost += v.unacked_writes_lost;
    }
    free(mine);
}

static void cluster_cooldown_refused(const mrd_topology *t, long long left_ms)
{
    fprintf(stderr, "meridian: preflight: the nodes of %s refuse another failover "
                    "vote for %.1f s more (2 x node timeout after the last failover): "
                    "wait, or pass --wait\n", t->name, (double)left_ms / 1000.0);
}

static bool cluster_note_record(drill *d)
{
    const mrd_plan *p = d->c->plan;
    d->rec.nshards = d->nshards;
    d->rec.shards = calloc((size_t)(d->nshards ? d->nshards : 1), sizeof(drill_shard));
    if (!d->rec.shards)
        return false;
    snprintf(d->rec.detect_event, sizeof(d->rec.detect_event), "%s", d->mode->detect_event);
    snprintf(d->rec.failover_event, sizeof(d->rec.failover_event), "%s",
             d->mode->failover_event);
    d->rec.node_faulted = d->faulted;
    d->rec.nnodes_faulted = p->nnodes < MRD_MF_MAX_NODES ? p->nnodes : MRD_MF_MAX_NODES;
    cluster_shards_note(d, NULL);
    if (d->target_shard >= 0)
        node_name(d, d->shard_master0[d->target_shard], d->rec.leader_before,
                  sizeof(d->rec.leader_before));
    say(d, "%s %s: %d shards, %d writes/s for at least %d s", d->rec.scenario,
        d->rec.target, d->nshards, d->o->rate, d->o->duration_s);
    return true;
}

static mrd_rc cluster_start_load(drill *d, const load_setup *ls, drill_timeline **tl,
                                 drill_load **load, mrd_error *err)
{
    (void)load;
    mrd_rc rc = drill_timeline_new(d->t0, tl, err);
    if (rc == MRD_OK)
        rc = drill_cwatch_start(&ls->wo, *tl, &d->cwatch, err);
    if (rc == MRD_OK)
        rc = drill_cwriter_start(&ls->co, &d->cwriter, err);
    return rc;
}

static void cluster_main_writes(drill *d, drill_load *load, drill_write **w, int64_t *n)
{
    (void)load;
    drill_cwriter_writes(d->cwriter, w, n, NULL);
}

static int cluster_verify_all(drill *d, const st_report *final, const drill_write *w,
                              int64_t n, const char *prefix)
{
    int leader_after = final ? final->master : -1;
    if (final) {
        cluster_shards_note(d, final);
        leader_after = final->shards[d->target_shard >= 0 ? d->target_shard : 0].master;
        cluster_verify(d, final, w, n, prefix);
    }
    if (leader_after >= 0)
        node_name(d, leader_after, d->rec.leader_after, sizeof(d->rec.leader_after));
    return leader_after;
}

static const drill_mode mode_cluster = {
    .detect_event = "+fail",
    .failover_event = "+promoted",
    .cooldown_ms = cluster_cooldown,
    .choose_target = cluster_choose_target,
    .ready = cluster_ready,
    .note_start = cluster_note_start,
    .preflight = cluster_preflight,
    .moves_leader = cluster_moves_leader,
    .fault_window = cluster_fault_window,
    .cooldown_refused = cluster_cooldown_refused,
    .note_record = cluster_note_record,
    .start_load = cluster_start_load,
    .main_writes = cluster_main_writes,
    .verify = cluster_verify_all,
    .heal_after = true,
};

/* ==== the drill ==== */

typedef struct targets {
    drill_target sentinels[MRD_MF_MAX_HOSTS];
    int nsentinels;
    drill_target nodes[MRD_MF_MAX_NODES];
    int nnodes;
} targets;

/* The store nodes (recorded by node index) and the sentinels (by host). */
static void make_targets(const drill *d, targets *tg)
{
    const mrd_topology *t = d->c->topo;
    const mrd_plan *p = d->c->plan;
    memset(tg, 0, sizeof(*tg));
    for (int i = 0; i < p->nnodes && i < MRD_MF_MAX_NODES; i++)
        tg->nodes[tg->nnodes++] = (drill_target){.address = node_host(d, i)->address,
                                                 .port = p->nodes[i].port, .index = i};
    for (int i = 0; i < t->nhosts && i < MRD_MF_MAX_HOSTS; i++)
        if (p->hosts[i].sentinel)
            tg->sentinels[tg->nsentinels++] = (drill_target){
                .address = t->hosts[i].address, .port = t->settings.sentinel.port, .index = i};
}

/* The failover the fault calls for has happened: sentinel mode, the
 * first +switch-master; cluster mode, a +promoted of every shard whose
 * master the fault hit.  *AT gets when (the last of them). */
static bool failover_seen(const drill *d, drill_timeline *tl, int64_t *at, char *what,
                          size_t n)
{
    drill_event ev;
    if (d->nshards == 0 || d->mode != &mode_cluster) {
        if (!drill_timeline_first(tl, d->mode->failover_event, d->rec.fault_ms, &ev))
            return false;
        *at = ev.t_ms;
        snprintf(what, n, "%s", ev.detail);
        return true;
    }
    drill_event *evs = NULL;
    int64_t nev = 0;
    if (drill_timeline_events(tl, &evs, &nev, NULL) != MRD_OK)
        return false;
    bool all = true;
    int64_t last = -1;
    what[0] = '\0';
    for (int s = 0; s < d->nshards && all; s++) {
        if (!d->shard_faulted[s])
            continue;
        int64_t first = -1;
        for (int64_t i = 0; i < nev && first < 0; i++)
            if (evs[i].shard == s && evs[i].t_ms >= d->rec.fault_ms &&
                strcmp(evs[i].name, d->mode->failover_event) == 0) {
                first = evs[i].t_ms;
                size_t used = strlen(what);
                snprintf(what + used, n - used, "%s%s", used ? "; " : "", evs[i].detail);
            }
        all = first >= 0;
        last = first > last ? first : last;
    }
    free(evs);
    if (all)
        *at = last;
    return all;
}

/* Keep the fault in place until the failover (if any) is seen and, for a
 * partition of the leader's region, until the isolated leader has had
 * time to refuse writes (the mode's fault window). */
static void observe_fault(drill *d, drill_timeline *tl)
{
    long long limit, hold;
    d->mode->fault_window(d, &limit, &hold);
    bool moves = d->mode->moves_leader(d);
    while (!interrupted) {
        long long since = now_rel(d) - d->rec.fault_ms;
        int64_t at;
        char what[256];
        if (d->rec.failover_seen_ms < 0 && moves &&
            failover_seen(d, tl, &at, what, sizeof(what))) {
            d->rec.failover_seen_ms = at;
            say(d, "%s after %lld ms: %s", d->mode->failover_event,
                (long long)(at - d->rec.fault_ms), what);
        }
        bool done = moves ? d->rec.failover_seen_ms >= 0 && since >= DRILL_SETTLE_MS
                          : since >= DRILL_AFTER_FAULT_MS;
        if ((done && since >= hold) || since >= limit)
            break;
        mrd_sleep_ms(DRILL_POLL_MS);
    }
}

/* Two nodes accepted writes as leader at once: the isolated old leader
 * still accepted a write after the main writer's first write on another
 * leader. */
static bool split_brain(const drill *d)
{
    int64_t first_new = -1, last_isolated = -1;
    for (int64_t i = 0; i < d->rec.nwrites; i++) {
        const drill_write *w = &d->rec.writes[i];
        bool ok = w->state != DRILL_W_ERROR;
        if (!ok)
            continue;
        if (w->isolated && w->t_ms > last_isolated)
            last_isolated = w->t_ms;
        if (!w->isolated && w->leader >= 0 && w->leader != d->master && w->t_ms > d->rec.fault_ms &&
            (first_new < 0 || w->t_ms < first_new))
            first_new = w->t_ms;
    }
    return first_new >= 0 && last_isolated >= first_new;
}

static int finish_report(drill *d)
{
    const mrd_topology *t = d->c->topo;
    const mrd_plan *p = d->c->plan;
    const char *hosts[MRD_MF_MAX_HOSTS], *nodes[MRD_MF_MAX_NODES];
    char node_names[MRD_MF_MAX_NODES][96];
    for (int i = 0; i < t->nhosts && i < MRD_MF_MAX_HOSTS; i++)
        hosts[i] = t->hosts[i].name;
    for (int i = 0; i < p->nnodes && i < MRD_MF_MAX_NODES; i++) {
        node_name(d, i, node_names[i], sizeof(node_names[i]));
        nodes[i] = node_names[i];
    }
    drill_names names = {.hosts = hosts, .nhosts = t->nhosts < MRD_MF_MAX_HOSTS ? t->nhosts : MRD_MF_MAX_HOSTS,
                         .nodes = nodes, .nnodes = p->nnodes < MRD_MF_MAX_NODES ? p->nnodes : MRD_MF_MAX_NODES};
    mrd_error err;
    if (drill_report_publish(&d->rec, t->settings.consistency.wait_replicas, &names,
                             d->o->out_dir, d->o->json, &err) != MRD_OK)
        say(d, "cannot write the report: %s", err.msg);
    if (d->o->out_dir)
        say(d, "report in %s (report.json, report.txt, timeline.svg)", d->o->out_dir);
    return d->rec.r.pass ? 0 : 2;
}

/* Remove a partition table an earlier drill left behind (one killed with
 * kill -9 could not): on every host.  A drill that is no partition does
 * not need nftables, so its failure to run nft is not an error. */
static mrd_rc clear_leftover_partition(drill *d, mrd_error *err)
{
    char script[256];
    netfault_heal_script(d->c->topo->name, script, sizeof(script));
    mrd_error e;
    mrd_rc rc = nft_on_hosts(d, script, true, &e);
    if (rc != MRD_OK && d->o->scenario == DRILL_PARTITION) {
        *err = e;
        return rc;
    }
    return MRD_OK;
}

int drill_run(orch_ctx *c, const drill_opts *o)
{
    if (o->scenario == DRILL_SCALE) /* no fault, no heal: a flow of its own */
        return drill_scale_run(c, o);
    if (o->scenario == DRILL_TOTAL_LOSS) /* backup, kill all, restore: its own too */
        return drill_total_loss_run(c, o);
    drill d = {.c = c, .o = o, .t0 = mrd_now_ms(), .master = -1};
    const mrd_topology *t = c->topo;
    d.mode = t->mode == MRD_MODE_CLUSTER ? &mode_cluster : &mode_sentinel;
    mrd_error err;
    int rc = 3;
    drill_load *load = NULL, *isolated = NULL;
    drill_timeline *tl = NULL;
    snprintf(d.rec.topology, sizeof(d.rec.topology), "%s", t->name);
    snprintf(d.rec.scenario, sizeof(d.rec.scenario), "%s", drill_scenario_name(o->scenario));
    d.rec.fault_ms = d.rec.failover_seen_ms = d.rec.restore_ms = d.rec.ready_ms = -1;

    char app[MRD_SECRET_LEN];
    if (orch_secret(c, "admin", d.admin, sizeof(d.admin), &err) != MRD_OK ||
        orch_secret(c, "app", app, sizeof(app), &err) != MRD_OK) {
        fprintf(stderr, "meridian: %s\n", err.msg);
        return 3;
    }
    struct sigaction sa = {.sa_handler = on_signal}, old_int, old_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    /* nftables works on every host (partition drills), and no table of an
     * earlier drill that was killed is left anywhere (every drill) */
    if (clear_leftover_partition(&d, &err) != MRD_OK) {
        fprintf(stderr, "meridian: partition drills need nftables and root on every "
                        "host: %s\n", err.msg);
        rc = 1;
        goto out;
    }

    /* ---- preflight ---- */
    st_report *r = NULL;
    if (status_probe(c, 1000, &r, &err) != MRD_OK) {
        fprintf(stderr, "meridian: %s\n", err.msg);
        goto out;
    }
    bool healthy = d.mode->ready(r);
    if (!healthy) {
        /* just after a heal or a deploy the sentinels (or the cluster's
         * nodes) may still be catching up: give a converging topology a
         * moment */
        say(&d, "preflight: %s is not healthy yet (%s); waiting up to %d s", t->name,
            r->summary, DRILL_PREFLIGHT_WAIT_MS / 1000);
        status_free(&r);
        healthy = wait_ready(&d, DRILL_PREFLIGHT_WAIT_MS, &r);
    }
    if (!healthy) {
        fprintf(stderr, "meridian: preflight: %s is not healthy (%s): run meridian heal "
                        "first\n", t->name, r ? r->summary : "no answer");
        status_free(&r);
        rc = 1;
        goto out;
    }
    d.mode->note_start(&d, r);
    if (d.mode->choose_target(&d, &err) != MRD_OK) {
        status_free(&r);
        fprintf(stderr, "meridian: %s\n", err.msg);
        rc = 64;
        goto out;
    }
    mrd_rc pre = d.mode->preflight(&d, r, &err);
    status_free(&r);
    if (pre != MRD_OK) {
        fprintf(stderr, "meridian: %s\n", err.msg);
        rc = 1;
        goto out;
    }
    long long left = d.mode->moves_leader(&d) ? cooldown_left(&d) : 0;
    if (left > 0 && !o->wait_cooldown) {
        d.mode->cooldown_refused(t, left);
        rc = 1;
        goto out;
    }
    if (left > 0) {
        say(&d, "waiting %.1f s for the failover cooldown", (double)left / 1000.0);
        for (long long end = mrd_now_ms() + left; mrd_now_ms() < end && !interrupted;)
            mrd_sleep_ms(DRILL_POLL_MS);
        d.t0 = mrd_now_ms();
    }
    node_name(&d, d.master, d.rec.leader_before, sizeof(d.rec.leader_before));
    if (!d.mode->note_record(&d))
        goto out;
    sync_read(&d, d.syncs0);

    /* ---- load and timeline ---- */
    targets tg;
    make_targets(&d, &tg);
    char prefix[96], iprefix[96];
    snprintf(prefix, sizeof(prefix), "drill:%lld", mrd_wall_ms());
    snprintf(iprefix, sizeof(iprefix), "%s:isolated", prefix);
    /* a fresh cluster's ranges: the writer takes each shard's slots from
     * the live slot map, these only for slots it does not place */
    int slot_first[MRD_MF_MAX_NODES], slot_last[MRD_MF_MAX_NODES];
    int node_host_of[MRD_MF_MAX_NODES], node_shard[MRD_MF_MAX_NODES];
    const char *nnames[MRD_MF_MAX_NODES];
    char nname_buf[MRD_MF_MAX_NODES][64];
    for (int s = 0; s < d.nshards; s++) {
        slot_first[s] = c->plan->shards[s].slot_first;
        slot_last[s] = c->plan->shards[s].slot_last;
    }
    for (int i = 0; i < tg.nnodes; i++) {
        node_host_of[i] = c->plan->nodes[i].host;
        node_shard[i] = c->plan->nodes[i].shard;
        node_name(&d, i, nname_buf[i], sizeof(nname_buf[i]));
        nnames[i] = nname_buf[i];
    }
    load_setup ls = {0};
    ls.co = (drill_cluster_opts){.t0_ms = d.t0, .nodes = tg.nodes, .nnodes = tg.nnodes,
                             .slot_first = slot_first, .slot_last = slot_last,
                             .nshards = d.nshards, .node_host = node_host_of,
                             .node_shard = node_shard, .node_name = nnames,
                             .plan_nodes = tg.nnodes, .user = "app", .pass = app,
                             .prefix = prefix, .rate = o->rate,
                             .wait_replicas = t->settings.consistency.wait_replicas,
                             .wait_timeout_ms = DRILL_WAIT_TIMEOUT_MS};
    ls.wo = ls.co;
    ls.wo.user = "admin";
    ls.wo.pass = d.admin;
    ls.to = (drill_timeline_opts){.t0_ms = d.t0, .sentinels = tg.sentinels,
                              .nsentinels = tg.nsentinels, .user = "admin", .pass = d.admin};
    ls.lo = (drill_load_opts){.t0_ms = d.t0, .master = t->name, .sentinels = tg.sentinels,
                          .nsentinels = tg.nsentinels, .nodes = tg.nodes, .nnodes = tg.nnodes,
                          .user = "app", .pass = app, .prefix = prefix, .rate = o->rate,
                          .wait_replicas = t->settings.consistency.wait_replicas,
                          .wait_timeout_ms = DRILL_WAIT_TIMEOUT_MS};
    if (o->scenario == DRILL_SWITCHOVER || o->scenario == DRILL_SENTINEL_FAILOVER ||
        o->scenario == DRILL_ROLLOUT)
        d.rec.planned = (drill_planned){.present = true, .pause_ms = -1, .op_ms = -1};
    if (o->scenario == DRILL_HOST_LOSS)
        d.rec.host_loss = (drill_host_loss){
            .present = true,
            .replace_after_s = o->replace_after_s > 0 ? o->replace_after_s
                                                      : DRILL_REPLACE_AFTER_S,
            .detect_ms = -1, .ready_ms = -1, .leader_bytes = -1, .full_sync_bytes = -1};
    if (d.mode->start_load(&d, &ls, &tl, &load, &err) != MRD_OK) {
        fprintf(stderr, "meridian: cannot start the load: %s\n", err.msg);
        goto out;
    }
    char source[32] = "";
    bool probe = d.mode->isolated_writer && o->scenario == DRILL_PARTITION && d.region_has_leader;
    if (probe && !isolated_source(&d, source, sizeof(source))) {
        say(&d, "no writer inside the partition: %s is not a loopback test host, so the "
                "isolated leader's refusal is not measured", node_host(&d, d.master)->address);
    } else if (probe) {
        /* a client inside the cut-off region, writing to the old leader */
        drill_load_opts io = ls.lo;
        io.prefix = iprefix;
        io.rate = o->rate < 50 ? o->rate : 50;
        io.wait_replicas = 0;
        io.source_address = source;
        io.fixed_address = node_host(&d, d.master)->address;
        io.fixed_port = c->plan->nodes[d.master].port;
        if (drill_load_start(&io, &isolated, &err) != MRD_OK) {
            fprintf(stderr, "meridian: cannot start the isolated writer: %s\n", err.msg);
            goto out;
        }
    }
    d.tl = tl;
    for (long long end = mrd_now_ms() + DRILL_WARMUP_MS; mrd_now_ms() < end && !interrupted;)
        mrd_sleep_ms(DRILL_POLL_MS);

    /* ---- fault ---- */
    d.rec.fault_ms = now_rel(&d);
    drill_timeline_mark(tl, "fault", d.rec.target);
    if (apply_fault(&d, &err) != MRD_OK) {
        say(&d, "the fault could not be applied: %s", err.msg);
        goto out;
    }
    if (o->scenario == DRILL_HOST_LOSS)
        replace_phase(&d); /* heal as cron would, the host kept down */
    observe_fault(&d, tl);

    /* ---- restore, heal ---- */
    d.rec.restore_ms = now_rel(&d);
    drill_timeline_mark(tl, "restore", NULL);
    undo_fault(&d);
    if (o->scenario == DRILL_HOST_LOSS && d.rec.host_loss.replaced)
        check_old_host(&d);
    if (isolated)
        drill_load_stop(isolated);
    st_report *final = NULL;
    d.rec.r.healed = wait_ready(&d, DRILL_HEAL_TIMEOUT_MS, &final);
    if (d.rec.r.healed && d.mode->heal_after && o->heal) {
        /* what `meridian heal` does (rebalance included, where it runs),
         * so the drill ends with the topology as the operator's heal
         * leaves it */
        say(&d, "meridian heal: %s", o->heal(c) <= 1 ? "done" : "reported a problem");
        d.rec.r.healed = wait_ready(&d, DRILL_HEAL_TIMEOUT_MS, &final);
    }
    if (d.rec.r.healed) {
        d.rec.ready_ms = now_rel(&d);
        drill_timeline_mark(tl, "ready", NULL);
        say(&d, "healed: back to plan %lld ms after the restore",
            (long long)(d.rec.ready_ms - d.rec.restore_ms));
        if (d.mode->moves_leader(&d) && d.rec.failover_seen_ms >= 0)
            cooldown_note(&d);
    } else {
        say(&d, "not healed within %d s", DRILL_HEAL_TIMEOUT_MS / 1000);
    }
    long long until = d.t0 + (long long)o->duration_s * 1000;
    if (until < mrd_now_ms() + DRILL_TAIL_MS)
        until = mrd_now_ms() + DRILL_TAIL_MS;
    while (mrd_now_ms() < until && !interrupted)
        mrd_sleep_ms(DRILL_POLL_MS);
    drill_load_stop(load);
    drill_cwriter_stop(d.cwriter);
    drill_cwatch_stop(d.cwatch);
    drill_timeline_stop(tl);
    d.rec.end_ms = now_rel(&d);

    /* ---- verify ---- */
    drill_write *main_w = NULL, *iso_w = NULL;
    int64_t nmain = 0, niso = 0;
    d.mode->main_writes(&d, load, &main_w, &nmain);
    if (isolated)
        drill_load_writes(isolated, &iso_w, &niso, NULL);
    d.rec.nwrites = nmain + niso;
    d.rec.writes = calloc((size_t)(d.rec.nwrites ? d.rec.nwrites : 1), sizeof(drill_write));
    if (d.rec.writes) {
        if (nmain)
            memcpy(d.rec.writes, main_w, (size_t)nmain * sizeof(drill_write));
        if (niso)
            memcpy(d.rec.writes + nmain, iso_w, (size_t)niso * sizeof(drill_write));
    }
    drill_timeline_events(tl, &d.rec.events, &d.rec.nevents, NULL);
    int leader_after = d.mode->verify(&d, final, main_w, nmain, prefix);
    if (d.rec.planned.present && !d.rec.planned.to[0]) /* Sentinel chose it */
        snprintf(d.rec.planned.to, sizeof(d.rec.planned.to), "%s", d.rec.leader_after);
    sync_counts syncs1[MRD_MF_MAX_NODES];
    bool masters[MRD_MF_MAX_NODES] = {false};
    if (d.master >= 0)
        masters[d.master] = true;
    if (leader_after >= 0)
        masters[leader_after] = true;
    for (int s = 0; s < d.nshards; s++) { /* sentinel mode: none */
        if (d.shard_master0[s] >= 0)
            masters[d.shard_master0[s]] = true;
        if (final && final->shards[s].master >= 0)
            masters[final->shards[s].master] = true;
    }
    long long full, partial;
    sync_read(&d, syncs1);
    sync_delta(&d, d.syncs0, syncs1, masters, &full, &partial);
    d.rec.r.full_syncs = full;
    d.rec.r.partial_syncs = partial;
    if (o->scenario == DRILL_ROLLOUT) { /* every node restarted: counters reset */
        d.rec.r.full_syncs = d.rec.planned.full_syncs;
        d.rec.r.partial_syncs = d.rec.planned.partial_syncs;
    }
    d.rec.r.split_brain = split_brain(&d);
    if (d.rec.host_loss.present)
        d.rec.host_loss.layout_ok = final && final->live_unsafe < 0 &&
                                    plan_check(c->plan, &err) == MRD_OK;
    status_free(&final);
    free(main_w);
    free(iso_w);
    rc = interrupted ? 3 : finish_report(&d);
out:
    undo_fault(&d);
    drill_load_free(&isolated);
    drill_load_free(&load);
    drill_cwriter_free(&d.cwriter);
    drill_cwatch_free(&d.cwatch);
    drill_timeline_free(&tl);
    free(d.rec.writes);
    free(d.rec.events);
    free(d.rec.shards);
    memset(app, 0, sizeof(app));
    memset(d.admin, 0, sizeof(d.admin));
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (interrupted)
        fprintf(stderr, "meridian: drill interrupted; the fault was undone\n");
    return rc;
}
