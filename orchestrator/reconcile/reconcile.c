#include "reconcile.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "manifest.h"
#include "probe_set.h"

#define RECONCILE_PROBE_TIMEOUT_MS 2000

void reconcile_wanted(const orch_ctx *c, mrd_settings *out)
{
    *out = c->topo->settings;
    out->sentinel.quorum = c->plan->quorum;
}

void reconcile_human_size(long long bytes, char *buf, size_t n)
{
    static const struct {
        long long mul;
        const char *unit;
    } units[] = {{1024LL * 1024 * 1024, "gb"}, {1024LL * 1024, "mb"}, {1024, "kb"}};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (bytes > 0 && bytes % units[i].mul == 0) {
            snprintf(buf, n, "%lld%s", bytes / units[i].mul, units[i].unit);
            return;
        }
    snprintf(buf, n, "%lld", bytes);
}

bool reconcile_fenced(const mrd_setting *row, const char *live)
{
    if (!live || row->offset != offsetof(mrd_settings, consistency.min_replicas_to_write))
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(live, &end, 10);
    return errno == 0 && end != live && *end == '\0' && v >= MRD_FENCE_MIN_REPLICAS;
}

bool reconcile_differs(const mrd_setting *row, const char *live, const mrd_settings *want,
                       char *from, char *to, size_t n)
{
    char wanted[64];
    if (!live || reconcile_fenced(row, live) ||
        !mrd_setting_live_value(row, want, wanted, sizeof(wanted)) || strcmp(live, wanted) == 0)
        return false;
    mrd_setting_format(row, want, to, n);
    if (row->type == MRD_SETTING_SIZE)
        reconcile_human_size(strtoll(live, NULL, 10), from, n);
    else
        snprintf(from, n, "%s", live);
    return true;
}

static mrd_rc add_change(reconcile_report *r, int host, int node, const mrd_setting *row,
                         const char *from, const char *to)
{
    reconcile_change *grown = realloc(r->changes, (size_t)(r->nchanges + 1) * sizeof(*grown));
    if (!grown)
        return MRD_ERR_NOMEM;
    r->changes = grown;
    reconcile_change *ch = &r->changes[r->nchanges++];
    memset(ch, 0, sizeof(*ch));
    ch->host = host;
    ch->node = node;
    ch->sentinel = node < 0;
    ch->row = row;
    snprintf(ch->from, sizeof(ch->from), "%s", from);
    snprintf(ch->to, sizeof(ch->to), "%s", to);
    return MRD_OK;
}

/* Set the changes of one process [first, last) live, in one connection. */
static void apply_process(const orch_ctx *c, const char *admin, reconcile_report *r,
                          int first, int last)
{
    const reconcile_change *head = &r->changes[first];
    const mrd_host *h = &c->topo->hosts[head->host];
    int port = head->sentinel ? c->topo->settings.sentinel.port : c->plan->nodes[head->node].port;
    mrd_settings want;
    reconcile_wanted(c, &want);
    store_conn *conn = NULL;
    mrd_error err;
    mrd_rc rc = store_conn_open(h->address, port, "admin", admin, RECONCILE_PROBE_TIMEOUT_MS,
                                &conn, &err);
    bool set_any = false;
    for (int i = first; i < last; i++) {
        reconcile_change *ch = &r->changes[i];
        if (ch->applied || ch->fenced)
            continue; /* already runs it; its agent's fence */
        char value[64];
        mrd_setting_live_value(ch->row, &want, value, sizeof(value));
        if (rc == MRD_OK) {
            mrd_error_clear(&err);
            /* sentinel mode: the sentinels monitor the one shard */
            mrd_rc set = ch->sentinel
                             ? store_cmdl(conn, NULL, &err, "SENTINEL", "SET",
                                          c->plan->shards[0].name, ch->row->directive, value,
                                          NULL)
                             : store_cmdl(conn, NULL, &err, "CONFIG", "SET",
                                          ch->row->directive, value, NULL);
            ch->applied = set == MRD_OK;
            set_any |= ch->applied;
        }
        if (!ch->applied) {
            snprintf(ch->error, sizeof(ch->error), "%s", err.msg);
            r->refused++;
        }
    }
    /* a node keeps what it was given across a restart; a sentinel saves
     * its own file on SENTINEL SET */
    if (set_any && !head->sentinel &&
        store_cmdl(conn, NULL, &err, "CONFIG", "REWRITE", NULL) != MRD_OK)
        for (int i = first; i < last; i++)
            if (r->changes[i].applied)
                snprintf(r->changes[i].error, sizeof(r->changes[i].error),
                         "set live, but CONFIG REWRITE failed: %s", err.msg);
    store_conn_close(&conn);
}

mrd_rc reconcile_run(const orch_ctx *c, bool apply, const mrd_settings *before,
                     reconcile_report *r, mrd_error *err)
{
    memset(r, 0, sizeof(*r));
    char admin[MRD_SECRET_LEN];
    MRD_TRY(orch_secret(c, "admin", admin, sizeof(admin), err));

    probe_set *ps = NULL;
    mrd_rc rc = probe_set_new(c, admin, true, &ps, err);
    if (rc != MRD_OK) {
        memset(admin, 0, sizeof(admin));
        return rc;
    }
    rc = probe_set_run(ps, RECONCILE_PROBE_TIMEOUT_MS);

    mrd_settings want;
    reconcile_wanted(c, &want);
    char from[64], to[64];
    for (int i = 0; rc == MRD_OK && i < ps->nnodes + ps->nsentinels; i++) {
        bool snt = i >= ps->nnodes;
        int s = i - ps->nnodes; /* sentinel index when snt */
        int host = snt ? ps->sentinel_host[s] : c->plan->nodes[i].host;
        if (ps->probes[i].rc != MRD_OK) {
            r->unreachable++;
            continue;
        }
        size_t nrows = snt ? ps->nsentinel_rows : ps->nnode_rows;
        for (size_t k = 0; rc == MRD_OK && k < nrows; k++) {
            const mrd_setting *row = snt ? ps->sentinel_rows[k] : ps->node_rows[k];
            const char *live = snt ? probe_set_sentinel_value(ps, s, k)
                                   : ps->probes[i].config_values[k];
            if (!snt && reconcile_fenced(row, live)) {
                /* its agent fenced it: the agent lifts the fence once the
                 * node reaches a majority again, never reconcile */
                mrd_setting_format(row, &want, to, sizeof(to));
                rc = add_change(r, host, i, row, live, to);
                if (rc == MRD_OK) {
                    r->changes[r->nchanges - 1].fenced = true;
                    r->fenced++;
                }
            } else if (reconcile_differs(row, live, &want, from, to, sizeof(from))) {
                rc = add_change(r, host, snt ? -1 : i, row, from, to);
            } else if (live && before && mrd_setting_differs(row, before, &want)) {
                /* already runs the new value: its agent set it first */
                mrd_setting_format(row, before, from, sizeof(from));
                mrd_setting_format(row, &want, to, sizeof(to));
                rc = add_change(r, host, snt ? -1 : i, row, from, to);
                if (rc == MRD_OK)
                    r->changes[r->nchanges - 1].applied = true;
            }
        }
    }
    probe_set_free(&ps);

    /* one process at a time, in probe order: the nodes (plan order, which
     * is host order in sentinel mode), then the sentinels */
    for (int i = 0; apply && rc == MRD_OK && i < r->nchanges;) {
        int j = i, pending = 0;
        for (; j < r->nchanges && r->changes[j].host == r->changes[i].host &&
               r->changes[j].node == r->changes[i].node;
             j++)
            pending += !r->changes[j].applied && !r->changes[j].fenced;
        if (pending)
            apply_process(c, admin, r, i, j);
        i = j;
    }
    memset(admin, 0, sizeof(admin));
    if (rc != MRD_OK) {
        reconcile_report_free(r);
        return mrd_error_set(err, rc, "out of memory");
    }
    return MRD_OK;
}

/* The settings the deployment runs with, from the first readable host
 * manifest (of any version with a settings table: an upgrade's first
 * deploy reads the older manifests); false on a first deploy (none can be
 * read). */
static bool deployed_settings(orch_ctx *c, mrd_settings *out)
{
    for (int i = 0; i < c->topo->nhosts; i++) {
        char path[MRD_PATH_MAX], *text = NULL;
        if (!orch_host_used(c, i)) /* an idle spare, a replaced host: nothing */
            continue;
        if (orch_manifest_path(c, i, path, sizeof(path)) != MRD_OK ||
            tp_get_file(c->tp, &c->topo->hosts[i], path, &text, NULL) != MRD_OK)
            continue;
        bool ok = manifest_settings_parse(text, strlen(text), out, NULL) == MRD_OK;
        free(text);
        if (ok)
            return true;
    }
    return false;
}

mrd_rc reconcile_pin(orch_ctx *c, FILE *out, int *pinned, mrd_settings *before,
                     bool *have_before, mrd_error *err)
{
    *pinned = 0;
    mrd_settings running;
    if (!(*have_before = deployed_settings(c, &running)))
        return MRD_OK;
    *before = running;
    mrd_settings *want = &c->topo->settings;
    bool replan = false, scale = false;
    size_t n;
    const mrd_setting *rows = mrd_settings_table(&n);
    for (size_t i = 0; i < n; i++) {
        const mrd_setting *row = &rows[i];
        if (row->apply != MRD_APPLY_RESTART && row->apply != MRD_APPLY_PLAN &&
            row->apply != MRD_APPLY_SCALE)
            continue;
        if (!mrd_setting_differs(row, &running, want))
            continue;
        if (row->apply == MRD_APPLY_SCALE) { /* deploy carries it out */
            scale |= c->topo->mode == MRD_MODE_CLUSTER;
            continue;
        }
        char from[MRD_PROGRAM_MAX], to[MRD_PROGRAM_MAX]; /* the longest value */
        mrd_setting_format(row, &running, from, sizeof(from));
        mrd_setting_format(row, want, to, sizeof(to));
        if (out)
            fprintf(out, "  %-12s %s: %s.%s %s -> %s (not applied: the deployment keeps "
                         "%s %s)\n",
                    "settings", row->apply == MRD_APPLY_PLAN ? "needs a new plan"
                                                             : "needs restart",
                    row->section, row->key, from, to, from,
                    row->apply == MRD_APPLY_PLAN
                        ? "; a new deployment (destroy, deploy) takes the new value"
                        : "until a rollout");
        memcpy((char *)want + row->offset, (const char *)&running + row->offset, row->size);
        replan |= (row->lands & MRD_LANDS_PLANNER) != 0;
        (*pinned)++;
    }
    if (scale && !c->have_placement) {
        /* deployed before placements were recorded: it runs the plan its
         * own shard count gives from nothing */
        mrd_placement pl;
        int shards = want->cluster.shards;
        want->cluster.shards = running.cluster.shards;
        mrd_plan *p = NULL;
        mrd_rc rc = plan_build(c->topo, &p, err);
        want->cluster.shards = shards;
        if (rc == MRD_OK)
            rc = plan_placement(p, false, &pl, err);
        plan_free(&p);
        MRD_TRY(rc);
        return orch_replan(c, &pl, err);
    }
    if (!replan && !scale)
        return MRD_OK;
    return orch_replan(c, c->have_placement ? &c->placement : NULL, err);
}

void reconcile_report_free(reconcile_report *r)
{
    free(r->changes);
    memset(r, 0, sizeof(*r));
}

void reconcile_print(FILE *out, const orch_ctx *c, const reconcile_report *r)
{
    for (int i = 0; i < r->nchanges; i++) {
        const reconcile_change *ch = &r->changes[i];
        char name[96], where[96];
        snprintf(name, sizeof(name), "%s%s", ch->sentinel ? "sentinel " : "",
                 ch->row->directive);
        if (ch->node >= 0)
            plan_node_name(c->plan, ch->node, where, sizeof(where));
        else
            snprintf(where, sizeof(where), "%s", c->topo->hosts[ch->host].name);
        if (ch->fenced)
            fprintf(out, "  %-12s not changed: %s %s -> %s: fenced by its agent (it lifts "
                         "the fence once the node reaches a majority again)\n",
                    where, name, ch->from, ch->to);
        else if (ch->applied && !ch->error[0])
            fprintf(out, "  %-12s changed: %s %s -> %s (live)\n", where, name, ch->from,
                    ch->to);
        else
            fprintf(out, "  %-12s not changed: %s %s -> %s: %s\n", where, name, ch->from,
                    ch->to, ch->error[0] ? ch->error : "not applied");
    }
}
