/* switchover.c - a planned move of a shard's leader (switchover.h). */
#include "switchover.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_client.h"
#include "conn.h"
#include "fsutil.h"
#include "health.h"
#include "info.h"
#include "log.h"
#include "sentinel.h"
#include "switchover_int.h"

#define SW_CONN_TIMEOUT_MS 1000
#define SW_HOLD_REQUEST_MS 3000
#define SW_STATE_MAX 65536
#define SW_HOLD_TTL_MAX_MS 300000 /* the longest hold an agent takes (HOLD_TTL_MAX_MS) */

/* ==== the run ==== */

typedef struct sw_run {
    orch_ctx *c;
    const switchover_opts *o;
    switchover_report *r;
    char admin[MRD_SECRET_LEN];
    int shard, from, to;
    int sentinel_host;      /* the sentinel asked to fail over */
    sw_state state;
    long long id;           /* the run's start, wall clock */
    long long t0;           /* mrd_now_ms() at start */
    long long paused_at;    /* mrd_now_ms() of the first CLIENT PAUSE, 0 none */
    long long last_lease;   /* mrd_now_ms() of the last CLIENT PAUSE */
    long long failover_at;  /* mrd_now_ms() SENTINEL FAILOVER was sent */
    store_conn *leader;     /* to the old leader, for the pause */
} sw_run;

#define say(s, ...) switchover_say((s)->o->progress, (s)->t0, __VA_ARGS__)

static const char *node_addr(const sw_run *s, int node)
{
    return s->c->topo->hosts[s->c->plan->nodes[node].host].address;
}

static int node_port(const sw_run *s, int node)
{
    return s->c->plan->nodes[node].port;
}

/* While writes are paused every call is kept short, so that the lease is
 * renewed in time (SWITCHOVER_CALL_MS). */
static int call_timeout(const sw_run *s)
{
    return s->paused_at && s->state < SW_VERIFY ? SWITCHOVER_CALL_MS : SW_CONN_TIMEOUT_MS;
}

static mrd_rc node_open(const sw_run *s, int node, store_conn **out, mrd_error *err)
{
    return store_conn_open(node_addr(s, node), node_port(s, node), "admin", s->admin,
                           call_timeout(s), out, err);
}

static mrd_rc node_info(const sw_run *s, int node, store_info *out, mrd_error *err)
{
    store_conn *k = NULL;
    char *text = NULL;
    mrd_rc rc = node_open(s, node, &k, err);
    if (rc == MRD_OK)
        rc = store_info_text(k, "replication", &text, err);
    if (rc == MRD_OK)
        rc = store_info_parse(text, strlen(text), out, err);
    free(text);
    store_conn_close(&k);
    return rc;
}

/* INFO replication of the old leader, over the pause's connection. */
static mrd_rc leader_info(sw_run *s, store_info *out, mrd_error *err)
{
    char *text = NULL;
    if (!s->leader)
        MRD_TRY(node_open(s, s->from, &s->leader, err));
    mrd_rc rc = store_info_text(s->leader, "replication", &text, err);
    if (rc == MRD_OK)
        rc = store_info_parse(text, strlen(text), out, err);
    else
        store_conn_close(&s->leader);
    free(text);
    return rc;
}

static mrd_rc sentinel_open(const sw_run *s, int host, store_conn **out, mrd_error *err)
{
    return store_conn_open(s->c->topo->hosts[host].address, s->c->topo->settings.sentinel.port,
                           "admin", s->admin, call_timeout(s), out, err);
}

/* ---- the state file ---- */

static mrd_rc state_path(const sw_run *s, char *buf, size_t n)
{
    return mrd_path_fmt(buf, n, "%s/%s", s->c->state_dir, SWITCHOVER_STATE_FILE);
}

static mrd_rc state_save(sw_run *s, sw_state st, mrd_error *err)
{
    char path[MRD_PATH_MAX];
    if (state_path(s, path, sizeof(path)) != MRD_OK)
        return mrd_error_set(err, MRD_ERR_INVALID, "state dir %s is too long", s->c->state_dir);
    json_t *j = json_pack("{s:I,s:i,s:i,s:i,s:i,s:s}", "id", (json_int_t)s->id, "shard",
                          s->shard, "from", s->from, "to", s->to, "sentinel", s->sentinel_host,
                          "state", sw_state_name(st));
    mrd_rc rc = mrd_write_json_atomic(path, j, JSON_SORT_KEYS | JSON_INDENT(2), 0600, err);
    if (rc == MRD_OK)
        s->state = st;
    return rc;
}

static void state_drop(const sw_run *s)
{
    char path[MRD_PATH_MAX];
    if (state_path(s, path, sizeof(path)) == MRD_OK)
        unlink(path);
}

/* A switchover left behind by a killed run: true with its fields in S. */
static bool state_load(sw_run *s)
{
    char path[MRD_PATH_MAX];
    if (state_path(s, path, sizeof(path)) != MRD_OK)
        return false;
    json_t *j = json_load_file(path, 0, NULL);
    if (!j)
        return false;
    int st = sw_state_parse(json_string_value(json_object_get(j, "state")));
    int np = s->c->plan->nnodes;
    s->id = json_integer_value(json_object_get(j, "id"));
    s->shard = (int)json_integer_value(json_object_get(j, "shard"));
    s->from = (int)json_integer_value(json_object_get(j, "from"));
    s->to = (int)json_integer_value(json_object_get(j, "to"));
    s->sentinel_host = (int)json_integer_value(json_object_get(j, "sentinel"));
    json_decref(j);
    bool ok = st >= 0 && s->from >= 0 && s->from < np && s->to >= 0 && s->to < np &&
              s->shard >= 0 && s->shard < s->c->plan->nshards && s->from != s->to &&
              s->sentinel_host >= -1 && s->sentinel_host < s->c->topo->nhosts;
    if (ok)
        s->state = (sw_state)st;
    return ok;
}

/* ---- holds ---- */

/* Ask node NODE's agent to hold it for TTL_MS (0: lift). */
static mrd_rc hold(const sw_run *s, int node, int ttl_ms, mrd_error *err)
{
    char path[96];
    snprintf(path, sizeof(path), "/v1/hold?port=%d&ttl_ms=%d", node_port(s, node), ttl_ms);
    agent_result res;
    mrd_rc rc = agent_post(s->c, s->c->plan->nodes[node].host, path, SW_HOLD_REQUEST_MS, &res,
                           err);
    if (rc == MRD_OK && res.http_status != 200) {
        const char *why = json_string_value(json_object_get(res.body, "error"));
        rc = mrd_error_set(err, MRD_ERR_STATE, "the agent on %s did not %s node %d: %s",
                           s->c->topo->hosts[s->c->plan->nodes[node].host].name,
                           ttl_ms ? "hold" : "release", node_port(s, node),
                           why ? why : res.error[0] ? res.error : "no answer");
    }
    json_decref(res.body);
    return rc;
}

/* Every replica of the shard but the target, in plan order. */
static bool held_node(const sw_run *s, int i)
{
    return i != s->to && i != s->from;
}

static void release_all(sw_run *s)
{
    const mrd_plan_shard *ps = &s->c->plan->shards[s->shard];
    for (int i = ps->first; i < ps->first + ps->nnodes; i++) {
        mrd_error err;
        if (held_node(s, i) && hold(s, i, 0, &err) != MRD_OK)
            say(s, "warning: %s (the hold ends by itself within %d s)", err.msg,
                (SWITCHOVER_HOLD_TTL_MS + s->c->topo->settings.sentinel.failover_timeout_ms) /
                    1000);
    }
}

/* ---- the pause ---- */

/* (Re)new the pause on the old leader when the last lease is older than
 * SWITCHOVER_RENEW_MS (FORCE: now). */
static mrd_rc lease(sw_run *s, bool force, mrd_error *err)
{
    long long now = mrd_now_ms();
    if (!force && now - s->last_lease < SWITCHOVER_RENEW_MS)
        return MRD_OK;
    if (!s->leader)
        MRD_TRY(node_open(s, s->from, &s->leader, err));
    char ms[16];
    snprintf(ms, sizeof(ms), "%d", SWITCHOVER_LEASE_MS);
    mrd_rc rc = store_cmdl(s->leader, NULL, err, "CLIENT", "PAUSE", ms, "WRITE", NULL);
    if (rc != MRD_OK) {
        store_conn_close(&s->leader);
        return rc;
    }
    if (!s->paused_at)
        s->paused_at = now;
    s->last_lease = now;
    return MRD_OK;
}

static void unpause(sw_run *s)
{
    mrd_error err;
    mrd_rc rc = s->leader ? MRD_OK : node_open(s, s->from, &s->leader, &err);
    if (rc == MRD_OK)
        rc = store_cmdl(s->leader, NULL, &err, "CLIENT", "UNPAUSE", NULL);
    if (rc != MRD_OK)
        say(s, "warning: could not unpause %s: %s (the pause ends within %d ms)",
            s->r->from_name, err.msg, SWITCHOVER_LEASE_MS);
    else if (s->paused_at && s->r->pause_ms < 0)
        s->r->pause_ms = mrd_now_ms() - s->paused_at;
    store_conn_close(&s->leader);
}

/* Sleep one poll, keeping the pause (when there is one) alive. */
static mrd_rc wait_tick(sw_run *s, mrd_error *err)
{
    mrd_sleep_ms(SWITCHOVER_POLL_MS);
    return s->paused_at && s->state < SW_VERIFY ? lease(s, false, err) : MRD_OK;
}

/* ---- steps ---- */

typedef mrd_rc (*sw_step_fn)(sw_run *s, mrd_error *err);

/* Does the sentinel on host H show every held replica at priority 0 and
 * the target promotable, with no failover running? */
static bool sentinel_sees_holds(sw_run *s, int h, sentinel_view *v, char *why, size_t n)
{
    store_conn *k = NULL;
    mrd_error e;
    bool ok = sentinel_open(s, h, &k, &e) == MRD_OK &&
              sentinel_get_view(k, s->c->plan->shards[s->shard].name, v, &e) == MRD_OK;
    store_conn_close(&k);
    if (!ok) {
        snprintf(why, n, "the sentinel on %s does not answer: %s", s->c->topo->hosts[h].name,
                 e.msg);
        return false;
    }
    if (v->master.failover_in_progress) {
        snprintf(why, n, "the sentinel on %s runs a failover", s->c->topo->hosts[h].name);
        return false;
    }
    const mrd_plan_shard *ps = &s->c->plan->shards[s->shard];
    for (int i = ps->first; i < ps->first + ps->nnodes; i++) {
        if (i == s->from)
            continue;
        const sentinel_entry *e2 = NULL;
        for (int k2 = 0; k2 < v->nreplicas && !e2; k2++)
            if (v->replicas[k2].port == node_port(s, i) &&
                strcmp(v->replicas[k2].ip, node_addr(s, i)) == 0)
                e2 = &v->replicas[k2];
        char name[64];
        plan_node_name(s->c->plan, i, name, sizeof(name));
        if (i == s->to && (!e2 || e2->down || e2->replica_priority <= 0)) {
            snprintf(why, n, "the sentinel on %s does not see %s as a promotable replica yet",
                     s->c->topo->hosts[h].name, name);
            return false;
        }
        if (i != s->to && e2 && !e2->down && e2->replica_priority != 0) {
            snprintf(why, n, "the sentinel on %s still reads replica-priority %d for %s",
                     s->c->topo->hosts[h].name, e2->replica_priority, name);
            return false;
        }
    }
    return true;
}

/* The target's entry in the view V, NULL when the sentinel lists none. */
static const sentinel_entry *target_entry(const sw_run *s, const sentinel_view *v)
{
    for (int k = 0; k < v->nreplicas; k++)
        if (v->replicas[k].port == node_port(s, s->to) &&
            strcmp(v->replicas[k].ip, node_addr(s, s->to)) == 0)
            return &v->replicas[k];
    return NULL;
}

/* Wait until the chosen sentinel's last INFO of the target is
 * SWITCHOVER_INFO_ALIGN_MS old (a later one than that: wait for its next
 * one, at most SWITCHOVER_HOLD_SEEN_MS), reading the view into V.  Returns
 * how long it waited, -1 when the sentinel did not say (then not timed). */
static long long align_to_info(sw_run *s, sentinel_view *v)
{
    long long start = mrd_now_ms();
    while (mrd_now_ms() - start < SWITCHOVER_HOLD_SEEN_MS) {
        store_conn *k = NULL;
        mrd_error e;
        bool ok = sentinel_open(s, s->sentinel_host, &k, &e) == MRD_OK &&
                  sentinel_get_view(k, s->c->plan->shards[s->shard].name, v, &e) == MRD_OK;
        long long read_at = mrd_now_ms();
        store_conn_close(&k);
        const sentinel_entry *t = ok ? target_entry(s, v) : NULL;
        if (!t || t->info_refresh_ms < 0)
            return -1;
        long long age = t->info_refresh_ms + (mrd_now_ms() - read_at);
        if (age <= SWITCHOVER_INFO_ALIGN_MS) {
            mrd_sleep_ms(SWITCHOVER_INFO_ALIGN_MS - age);
            return mrd_now_ms() - start;
        }
        mrd_sleep_ms(50);
    }
    return -1;
}

static mrd_rc step_hold(sw_run *s, mrd_error *err)
{
    const mrd_plan_shard *ps = &s->c->plan->shards[s->shard];
    long long ttl = SWITCHOVER_HOLD_TTL_MS + (long long)s->c->topo->settings.sentinel.failover_timeout_ms;
    if (ttl > SW_HOLD_TTL_MAX_MS)
        ttl = SW_HOLD_TTL_MAX_MS;
    int n = 0;
    for (int i = ps->first; i < ps->first + ps->nnodes; i++)
        if (held_node(s, i)) {
            MRD_TRY(hold(s, i, (int)ttl, err));
            n++;
        }
    say(s, "held %d other replica%s at replica-priority 0", n, n == 1 ? "" : "s");
    sentinel_view *v = malloc(sizeof(*v));
    if (!v)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    char why[300] = "";
    long long start = mrd_now_ms();
    bool seen = false;
    while (!seen && mrd_now_ms() - start < SWITCHOVER_HOLD_SEEN_MS) {
        seen = sentinel_sees_holds(s, s->sentinel_host, v, why, sizeof(why));
        if (!seen)
            mrd_sleep_ms(100);
    }
    long long aligned = seen ? align_to_info(s, v) : -1;
    free(v);
    if (!seen)
        return mrd_error_set(err, MRD_ERR_TIMEOUT, "%s after %d s", why,
                             SWITCHOVER_HOLD_SEEN_MS / 1000);
    say(s, "the sentinel on %s can promote only %s%s", s->c->topo->hosts[s->sentinel_host].name,
        s->r->to_name,
        aligned >= 0 ? "; timed to its INFO cycle" : "; its INFO cycle not read: not timed");
    return MRD_OK;
}

static mrd_rc step_pause(sw_run *s, mrd_error *err)
{
    MRD_TRY(lease(s, true, err));
    say(s, "writes paused on %s (lease %d ms, renewed while needed)", s->r->from_name,
        SWITCHOVER_LEASE_MS);
    return MRD_OK;
}

static mrd_rc step_catchup(sw_run *s, mrd_error *err)
{
    long long start = mrd_now_ms();
    store_info li, ti;
    for (;;) {
        MRD_TRY(leader_info(s, &li, err));
        if (!li.is_master)
            return mrd_error_set(err, MRD_ERR_STATE, "%s is no longer a master",
                                 s->r->from_name);
        mrd_error te;
        if (node_info(s, s->to, &ti, &te) != MRD_OK)
            return mrd_error_set(err, te.code, "the target %s does not answer (%s)",
                                 s->r->to_name, te.msg);
        if (ti.is_master)
            return mrd_error_set(err, MRD_ERR_STATE, "%s became a master on its own",
                                 s->r->to_name);
        if (ti.link_up && ti.slave_repl_offset == li.master_repl_offset)
            break;
        if (mrd_now_ms() - start > SWITCHOVER_CATCHUP_MS)
            return mrd_error_set(err, MRD_ERR_TIMEOUT,
                                 "%s did not catch up with %s within %d ms (offset %lld of "
                                 "%lld, link %s)",
                                 s->r->to_name, s->r->from_name, SWITCHOVER_CATCHUP_MS,
                                 ti.slave_repl_offset, li.master_repl_offset,
                                 ti.link_up ? "up" : "down");
        MRD_TRY(wait_tick(s, err));
    }
    s->r->catchup_ms = mrd_now_ms() - s->paused_at;
    say(s, "%s caught up at offset %lld", s->r->to_name, li.master_repl_offset);
    return MRD_OK;
}

static mrd_rc step_failover(sw_run *s, mrd_error *err)
{
    MRD_TRY(lease(s, true, err));
    store_conn *k = NULL;
    mrd_rc rc = sentinel_open(s, s->sentinel_host, &k, err);
    if (rc == MRD_OK)
        rc = store_cmdl(k, NULL, err, "SENTINEL", "FAILOVER", s->c->plan->shards[s->shard].name,
                        NULL);
    store_conn_close(&k);
    if (rc != MRD_OK)
        return rc;
    s->failover_at = mrd_now_ms();
    say(s, "asked the sentinel on %s to fail over", s->c->topo->hosts[s->sentinel_host].name);
    return MRD_OK;
}

/* Is a failover of the shard running on any sentinel?  1 yes, 0 no (every
 * sentinel answered), -1 a sentinel could not be asked (it may be).  A
 * pause in place is kept alive between the sentinels (each may take the
 * whole call timeout). */
static int failover_running(sw_run *s)
{
    int running = 0;
    for (int h = 0; h < s->c->topo->nhosts && running != 1; h++) {
        if (!s->c->plan->hosts[h].sentinel)
            continue;
        mrd_error le;
        if (s->paused_at && s->state < SW_VERIFY)
            lease(s, false, &le); /* a failure shows in the next renewal */
        store_conn *k = NULL;
        sentinel_entry e;
        mrd_error err;
        if (sentinel_open(s, h, &k, &err) == MRD_OK &&
            sentinel_master(k, s->c->plan->shards[s->shard].name, &e, &err) == MRD_OK)
            running = e.failover_in_progress ? 1 : running;
        else
            running = -1;
        store_conn_close(&k);
    }
    return running;
}

static mrd_rc step_promoted(sw_run *s, mrd_error *err)
{
    long long limit = s->c->topo->settings.sentinel.failover_timeout_ms + 2000LL;
    long long start = mrd_now_ms(), answered = start, asked = 0;
    store_info ti;
    for (;;) {
        mrd_error e;
        long long now = mrd_now_ms();
        if (node_info(s, s->to, &ti, &e) == MRD_OK) {
            if (ti.is_master)
                break;
            answered = now;
        } else if (now - answered > SWITCHOVER_TARGET_DEAD_MS) {
            return mrd_error_set(err, MRD_ERR_CONNECT,
                                 "the target %s stopped answering during the failover (%s)",
                                 s->r->to_name, e.msg);
        }
        /* a failover the sentinel ended (aborted) without the target */
        if (now - asked >= 250) {
            asked = now;
            if (now - start > 500 && failover_running(s) == 0)
                return mrd_error_set(err, MRD_ERR_STATE,
                                     "the sentinels ended the failover without promoting %s",
                                     s->r->to_name);
        }
        if (now - start > limit)
            return mrd_error_set(err, MRD_ERR_TIMEOUT,
                                 "the sentinels did not promote %s within %lld ms",
                                 s->r->to_name, limit);
        MRD_TRY(wait_tick(s, err));
    }
    if (s->failover_at)
        s->r->promote_ms = mrd_now_ms() - s->failover_at;
    /* The old leader must never take a write again: its replica now.  A
     * write it held in the pause is answered READONLY. */
    char port[16];
    snprintf(port, sizeof(port), "%d", node_port(s, s->to));
    store_info li;
    /* the pause renewed first: the demotion comes well within its lease */
    mrd_rc rc = s->paused_at ? lease(s, true, err) : MRD_OK;
    if (rc == MRD_OK)
        rc = leader_info(s, &li, err);
    if (rc == MRD_OK && (li.is_master || strcmp(li.master_host, node_addr(s, s->to)) != 0 ||
                         li.master_port != node_port(s, s->to))) {
        rc = store_cmdl(s->leader, NULL, err, "REPLICAOF", node_addr(s, s->to), port, NULL);
        if (rc == MRD_OK)
            rc = store_cmdl(s->leader, NULL, err, "CONFIG", "REWRITE", NULL);
    }
    if (rc != MRD_OK)
        return rc;
    unpause(s);
    if (s->r->pause_ms >= 0)
        say(s, "%s leads; %s follows it; writes unpaused after %lld ms", s->r->to_name,
            s->r->from_name, s->r->pause_ms);
    else
        say(s, "%s leads; %s follows it", s->r->to_name, s->r->from_name);
    return MRD_OK;
}

/* Every sentinel names the target and runs no failover, and every other
 * node of the shard follows it with its link up?  WHY says what is
 * missing. */
static bool all_agree(sw_run *s, char *why, size_t n)
{
    for (int h = 0; h < s->c->topo->nhosts; h++) {
        if (!s->c->plan->hosts[h].sentinel)
            continue;
        store_conn *k = NULL;
        char ip[64] = "";
        int port = 0;
        mrd_error e;
        sentinel_entry me;
        const char *name = s->c->plan->shards[s->shard].name;
        bool ok = sentinel_open(s, h, &k, &e) == MRD_OK &&
                  sentinel_master_addr(k, name, ip, sizeof(ip), &port, &e) == MRD_OK &&
                  sentinel_master(k, name, &me, &e) == MRD_OK;
        store_conn_close(&k);
        if (!ok || port != node_port(s, s->to) || strcmp(ip, node_addr(s, s->to)) != 0) {
            snprintf(why, n, "the sentinel on %s names %s:%d", s->c->topo->hosts[h].name,
                     ok ? ip : "nothing", ok ? port : 0);
            return false;
        }
        if (me.failover_in_progress) {
            snprintf(why, n, "the sentinel on %s has not ended its failover",
                     s->c->topo->hosts[h].name);
            return false;
        }
    }
    const mrd_plan_shard *ps = &s->c->plan->shards[s->shard];
    for (int i = ps->first; i < ps->first + ps->nnodes; i++) {
        if (i == s->to)
            continue;
        store_info in;
        mrd_error e;
        char name[64];
        plan_node_name(s->c->plan, i, name, sizeof(name));
        if (node_info(s, i, &in, &e) != MRD_OK) {
            snprintf(why, n, "%s does not answer: %s", name, e.msg);
            return false;
        }
        if (in.is_master || !in.link_up || in.master_port != node_port(s, s->to) ||
            strcmp(in.master_host, node_addr(s, s->to)) != 0) {
            snprintf(why, n, "%s does not follow %s yet", name, s->r->to_name);
            return false;
        }
    }
    return true;
}

static mrd_rc step_verify(sw_run *s, mrd_error *err)
{
    long long limit = SWITCHOVER_VERIFY_MS + s->c->topo->settings.sentinel.failover_timeout_ms;
    long long start = mrd_now_ms();
    char why[300] = "";
    while (!all_agree(s, why, sizeof(why))) {
        if (mrd_now_ms() - start > limit)
            return mrd_error_set(err, MRD_ERR_TIMEOUT, "after %lld ms: %s", limit, why);
        mrd_sleep_ms(50);
    }
    s->r->verify_ms = mrd_now_ms() - start;
    say(s, "every sentinel names %s and every replica follows it", s->r->to_name);
    return MRD_OK;
}

static mrd_rc step_release(sw_run *s, mrd_error *err)
{
    const mrd_plan_shard *ps = &s->c->plan->shards[s->shard];
    for (int i = ps->first; i < ps->first + ps->nnodes; i++)
        if (held_node(s, i))
            MRD_TRY(hold(s, i, 0, err));
    say(s, "released the holds: the plan's replica priorities are back");
    return MRD_OK;
}

static const sw_step_fn steps[SW__COUNT] = {
    [SW_HOLD] = step_hold,         [SW_PAUSE] = step_pause,
    [SW_CATCHUP] = step_catchup,   [SW_FAILOVER] = step_failover,
    [SW_PROMOTED] = step_promoted, [SW_VERIFY] = step_verify,
    [SW_RELEASE] = step_release,   [SW_DONE] = NULL,
};

/* Undo what a switchover that did not get its failover changed. */
static void rollback(sw_run *s)
{
    unpause(s);
    release_all(s);
    state_drop(s);
    say(s, "rolled back: %s keeps leading, writes unpaused, holds released", s->r->from_name);
}

/* Run the states from S->state to the end.  Fails with the state that
 * failed in r->failed_state. */
static mrd_rc run_states(sw_run *s, mrd_error *err)
{
    while (s->state < SW_DONE) {
        sw_state st = s->state;
        MRD_TRY(state_save(s, st, err));
        mrd_rc rc = steps[st](s, err);
        if (rc != MRD_OK) {
            snprintf(s->r->failed_state, sizeof(s->r->failed_state), "%s", sw_state_name(st));
            return rc;
        }
        s->state = (sw_state)(st + 1);
    }
    state_drop(s);
    return MRD_OK;
}

static void names(sw_run *s)
{
    const mrd_plan *p = s->c->plan;
    s->r->from = s->from;
    s->r->to = s->to;
    s->r->shard = s->shard;
    plan_node_name(p, s->from, s->r->from_name, sizeof(s->r->from_name));
    plan_node_name(p, s->to, s->r->to_name, sizeof(s->r->to_name));
    snprintf(s->r->from_region, sizeof(s->r->from_region), "%s",
             s->c->topo->regions[s->c->topo->hosts[p->nodes[s->from].host].region].name);
    snprintf(s->r->to_region, sizeof(s->r->to_region), "%s",
             s->c->topo->regions[s->c->topo->hosts[p->nodes[s->to].host].region].name);
}

/* Finish a run killed in s->state (loaded from the file): true when it
 * ended with the target leading; false rolled back (start again). */
static bool resume(sw_run *s, mrd_error *err)
{
    names(s);
    s->r->resumed = true;
    snprintf(s->r->resumed_from, sizeof(s->r->resumed_from), "%s", sw_state_name(s->state));
    store_info ti;
    mrd_error e;
    bool target_master = node_info(s, s->to, &ti, &e) == MRD_OK && ti.is_master;
    sw_resume what = sw_resume_decide(s->state, target_master, failover_running(s) != 0);
    say(s, "a switchover of %s to %s was killed in state %s: %s", s->r->from_name,
        s->r->to_name, sw_state_name(s->state),
        what == SW_RESUME_ROLLBACK ? "rolling it back"
        : what == SW_RESUME_WAIT   ? "its failover runs, finishing it"
        : what == SW_RESUME_DROP   ? "the leader has moved on since, dropping it"
                                   : "finishing it");
    if (what == SW_RESUME_ROLLBACK) {
        rollback(s);
        return false;
    }
    if (what == SW_RESUME_DROP) {
        release_all(s);
        state_drop(s);
        return false;
    }
    if (s->state < SW_PROMOTED) {
        /* the pause of the killed run ended with its lease: take it again
         * until the old leader follows the target */
        mrd_error pe;
        if (!target_master && lease(s, true, &pe) != MRD_OK)
            say(s, "warning: could not pause %s: %s", s->r->from_name, pe.msg);
        s->state = SW_PROMOTED;
    }
    mrd_rc rc = run_states(s, err);
    if (rc != MRD_OK && s->state <= SW_PROMOTED && failover_running(s) == 0 &&
        !(node_info(s, s->to, &ti, &e) == MRD_OK && ti.is_master)) {
        rollback(s); /* the failover ended without the target */
        return false;
    }
    return rc == MRD_OK;
}

/* The sentinel to ask: one that names the leader and answers, preferring
 * the target's region (it hears the target's INFO first). */
static int choose_sentinel(const sw_run *s, const st_report *r)
{
    int best = -1;
    for (int i = 0; i < r->nsentinels; i++) {
        const st_sentinel *sn = &r->sentinels[i];
        char want[96];
        snprintf(want, sizeof(want), "%s:%d", node_addr(s, s->from), node_port(s, s->from));
        if (!sn->reachable || strcmp(sn->leader, want) != 0)
            continue;
        if (best < 0 || s->c->topo->hosts[sn->host].region ==
                            s->c->topo->hosts[s->c->plan->nodes[s->to].host].region)
            best = sn->host;
    }
    return best;
}

/* Refuse unless the deployment is healthy and no failover runs. */
static bool preflight(sw_run *s, const st_report *r)
{
    if (r->health != MRD_HEALTH_OK) {
        snprintf(s->r->reason, sizeof(s->r->reason),
                 "the deployment is not healthy (%s: %s); a switchover starts only from OK",
                 mrd_health_name(r->health), r->summary);
        return false;
    }
    if (failover_running(s)) {
        snprintf(s->r->reason, sizeof(s->r->reason),
                 "a failover of %s is running; try again in %d s",
                 s->c->plan->shards[s->shard].name,
                 2 * s->c->topo->settings.sentinel.failover_timeout_ms / 1000);
        return false;
    }
    long long left = orch_failover_cooldown_left(s->c, 2LL * s->c->topo->settings.sentinel
                                                                 .failover_timeout_ms);
    if (left > 0) {
        s->r->retry_after_ms = left;
        snprintf(s->r->reason, sizeof(s->r->reason),
                 "the last failover was less than 2 x failover-timeout ago: the sentinels "
                 "may still be settling; try again in %.1f s",
                 (double)left / 1000.0);
        return false;
    }
    return true;
}

static int sentinel_switchover(sw_run *s, mrd_error *err)
{
    switchover_report *r = s->r;
    if (!s->o->apply && state_load(s)) {
        /* a dry run holds no lock: the file may be a running switchover's */
        names(s);
        snprintf(r->reason, sizeof(r->reason),
                 "a switchover of %s to %s was left in state %s (killed, or still running): "
                 "run with --yes to finish it or roll it back",
                 r->from_name, r->to_name, sw_state_name(s->state));
        r->outcome = SW_OUT_PLANNED;
        return 1;
    }
    bool finished_killed = false;
    if (state_load(s)) {
        if (resume(s, err)) {
            /* then the move asked for now (nothing, when it was the same) */
            orch_failover_note(s->c);
            finished_killed = true;
        } else if (s->state >= SW_FAILOVER && r->failed_state[0]) {
            r->outcome = SW_OUT_FAILED;
            snprintf(r->reason, sizeof(r->reason), "resuming the killed switchover: %s",
                     err->msg);
            return 2;
        }
        if (!finished_killed) {
            /* rolled back: start again */
            r->resumed = true;
            memset(r->failed_state, 0, sizeof(r->failed_state));
        }
        s->state = SW_HOLD;
        s->paused_at = s->last_lease = s->failover_at = 0;
        r->pause_ms = r->catchup_ms = r->promote_ms = r->verify_ms = -1;
    }
    st_report *st = NULL;
    if (status_probe(s->c, SW_CONN_TIMEOUT_MS, &st, err) != MRD_OK) {
        r->outcome = SW_OUT_REFUSED;
        snprintf(r->reason, sizeof(r->reason), "could not read the deployment: %s", err->msg);
        return 2;
    }
    char why[300];
    s->shard = 0;
    int to = switchover_choose(s->c, st, s->shard, s->o->to, why, sizeof(why));
    s->from = st->shards[0].master;
    if (to == -2) {
        plan_node_name(s->c->plan, s->from, r->from_name, sizeof(r->from_name));
        snprintf(r->reason, sizeof(r->reason), "the leader %s is on %s %s", r->from_name,
                 s->o->to, finished_killed ? "now (a killed switchover finished)" : "already");
        r->outcome = finished_killed ? SW_OUT_DONE : SW_OUT_NOTHING;
        status_free(&st);
        return 0;
    }
    if (to < 0) {
        snprintf(r->reason, sizeof(r->reason), "%s", why);
        r->outcome = SW_OUT_REFUSED;
        status_free(&st);
        return 2;
    }
    s->to = to;
    names(s);
    bool ok = preflight(s, st);
    s->sentinel_host = ok ? choose_sentinel(s, st) : -1;
    status_free(&st);
    if (ok && s->sentinel_host < 0) {
        snprintf(r->reason, sizeof(r->reason), "no sentinel that answers names %s as leader",
                 r->from_name);
        ok = false;
    }
    if (!ok) {
        r->outcome = SW_OUT_REFUSED;
        return 2;
    }
    if (!s->o->apply) {
        snprintf(r->reason, sizeof(r->reason),
                 "would hold the other replicas at replica-priority 0, pause writes on %s "
                 "(%s), wait for %s (%s) to catch up, ask the sentinel on %s to fail over, "
                 "make %s its replica, unpause, verify and release the holds",
                 r->from_name, r->from_region, r->to_name, r->to_region,
                 s->c->topo->hosts[s->sentinel_host].name, r->from_name);
        r->outcome = SW_OUT_PLANNED;
        return 1;
    }
    s->id = mrd_wall_ms();
    s->state = SW_HOLD;
    say(s, "%s (%s) -> %s (%s)", r->from_name, r->from_region, r->to_name, r->to_region);
    if (run_states(s, err) == MRD_OK) {
        r->outcome = SW_OUT_DONE;
        orch_failover_note(s->c);
        return 0;
    }
    snprintf(r->reason, sizeof(r->reason), "%s: %s", r->failed_state, err->msg);
    store_info ti;
    mrd_error e;
    bool moved = node_info(s, s->to, &ti, &e) == MRD_OK && ti.is_master;
    if (s->state < SW_FAILOVER || (!moved && failover_running(s) == 0)) {
        rollback(s);
        r->outcome = SW_OUT_FAILED;
        return 2;
    }
    /* the failover was asked for and may still end with the target
     * leading: the state stays for the next run, which finishes it */
    unpause(s);
    r->outcome = SW_OUT_FAILED;
    snprintf(r->reason + strlen(r->reason), sizeof(r->reason) - strlen(r->reason),
             "; the failover was asked for: run the switchover again to finish it");
    return 2;
}

int switchover_run(orch_ctx *c, const switchover_opts *o, switchover_report *r)
{
    memset(r, 0, sizeof(*r));
    r->from = r->to = -1;
    r->pause_ms = r->catchup_ms = r->promote_ms = r->verify_ms = -1;
    sw_run s = {.c = c, .o = o, .r = r, .from = -1, .to = -1, .sentinel_host = -1,
                .t0 = mrd_now_ms()};
    mrd_error err;
    mrd_error_clear(&err);
    int rc;
    if (orch_secret(c, "admin", s.admin, sizeof(s.admin), &err) != MRD_OK) {
        r->outcome = SW_OUT_REFUSED;
        snprintf(r->reason, sizeof(r->reason), "%s", err.msg);
        rc = 2;
    } else if (c->topo->mode == MRD_MODE_CLUSTER) {
        rc = switchover_cluster(c, o, r);
    } else {
        rc = sentinel_switchover(&s, &err);
    }
    store_conn_close(&s.leader);
    memset(s.admin, 0, sizeof(s.admin));
    r->total_ms = mrd_now_ms() - s.t0;
    return rc;
}
