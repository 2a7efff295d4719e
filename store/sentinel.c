#include "sentinel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn_internal.h"

/* Parse (and free) a GET-MASTER-ADDR-BY-NAME reply. */
static mrd_rc parse_master_addr(const char *name, redisReply *r, const char *master,
                                char *ip, size_t n, int *port, mrd_error *err)
{
    if (r->type == REDIS_REPLY_NIL) {
        freeReplyObject(r);
        return mrd_error_set(err, MRD_ERR_NOT_FOUND, "%s does not monitor %s", name,
                             master);
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_STRING) {
        freeReplyObject(r);
        return mrd_error_set(err, MRD_ERR_PROTOCOL, "%s: unexpected master address reply",
                             name);
    }
    snprintf(ip, n, "%s", r->element[0]->str);
    char *end;
    long p = strtol(r->element[1]->str, &end, 10);
    *port = (*end == '\0' && p > 0 && p < 65536) ? (int)p : 0;
    freeReplyObject(r);
    return *port ? MRD_OK
                 : mrd_error_set(err, MRD_ERR_PROTOCOL, "%s: bad master port", name);
}

mrd_rc sentinel_master_addr(store_conn *c, const char *master, char *ip, size_t n,
                            int *port, mrd_error *err)
{
    const char *argv[] = {"SENTINEL", "GET-MASTER-ADDR-BY-NAME", master};
    redisReply *r;
    mrd_rc rc = store__command(c, &r, err, 3, argv);
    return rc == MRD_OK ? parse_master_addr(store_conn_name(c), r, master, ip, n, port, err)
                        : rc;
}

static bool has_flag(const char *flags, const char *flag)
{
    size_t n = strlen(flag);
    for (const char *p = flags; (p = strstr(p, flag)); p += n)
        if ((p == flags || p[-1] == ',') && (p[n] == '\0' || p[n] == ','))
            return true;
    return false;
}

/* Fill E from a flat [field, value, field, value, ...] array. */
static mrd_rc parse_entry(const redisReply *r, sentinel_entry *e, mrd_error *err)
{
    memset(e, 0, sizeof(*e));
    e->info_refresh_ms = -1;
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2)
        return mrd_error_set(err, MRD_ERR_PROTOCOL, "unexpected sentinel entry");
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *k = r->element[i], *v = r->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        const char *key = k->str, *val = v->str;
        if (strcmp(key, "name") == 0)
            snprintf(e->name, sizeof(e->name), "%s", val);
        else if (strcmp(key, "ip") == 0)
            snprintf(e->ip, sizeof(e->ip), "%s", val);
        else if (strcmp(key, "port") == 0)
            e->port = (int)strtol(val, NULL, 10);
        else if (strcmp(key, "runid") == 0)
            snprintf(e->runid, sizeof(e->runid), "%s", val);
        else if (strcmp(key, "flags") == 0)
            snprintf(e->flags, sizeof(e->flags), "%s", val);
        else if (strcmp(key, "master-link-status") == 0)
            snprintf(e->master_link_status, sizeof(e->master_link_status), "%s", val);
        else if (strcmp(key, "slave-priority") == 0)
            e->replica_priority = (int)strtol(val, NULL, 10);
        else if (strcmp(key, "slave-repl-offset") == 0)
            e->repl_offset = strtoll(val, NULL, 10);
        else if (strcmp(key, "info-refresh") == 0)
            e->info_refresh_ms = strtoll(val, NULL, 10);
        else if (strcmp(key, "num-other-sentinels") == 0)
            e->num_other_sentinels = (int)strtol(val, NULL, 10);
        else if (strcmp(key, "quorum") == 0)
            snprintf(e->quorum, sizeof(e->quorum), "%s", val);
        else if (strcmp(key, "down-after-milliseconds") == 0)
            snprintf(e->down_after_ms, sizeof(e->down_after_ms), "%s", val);
        else if (strcmp(key, "failover-timeout") == 0)
            snprintf(e->failover_timeout, sizeof(e->failover_timeout), "%s", val);
    }
    e->down = has_flag(e->flags, "s_down") || has_flag(e->flags, "o_down") ||
              has_flag(e->flags, "disconnected");
    e->failover_in_progress = has_flag(e->flags, "failover_in_progress");
    return MRD_OK;
}

const char *sentinel_entry_setting(const sentinel_entry *e, const char *name)
{
    const char *v = strcmp(name, "quorum") == 0                    ? e->quorum
                    : strcmp(name, "down-after-milliseconds") == 0 ? e->down_after_ms
                    : strcmp(name, "failover-timeout") == 0        ? e->failover_timeout
                                                                   : NULL;
    return v && v[0] ? v : NULL;
}

mrd_rc sentinel_master(store_conn *c, const char *master, sentinel_entry *out,
                       mrd_error *err)
{
    const char *argv[] = {"SENTINEL", "MASTER", master};
    redisReply *r;
    mrd_rc rc = store__command(c, &r, err, 3, argv);
    if (rc != MRD_OK)
        return rc;
    rc = parse_entry(r, out, err);
    freeReplyObject(r);
    return rc;
}

/* Parse (and free) an array of entries. */
static mrd_rc parse_list(const char *name, redisReply *r, const char *what,
                         sentinel_entry *out, int max, int *n, mrd_error *err)
{
    mrd_rc rc = MRD_OK;
    *n = 0;
    if (r->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(r);
        return mrd_error_set(err, MRD_ERR_PROTOCOL, "%s: SENTINEL %s: not an array", name,
                             what);
    }
    for (size_t i = 0; i < r->elements && *n < max && rc == MRD_OK; i++)
        if ((rc = parse_entry(r->element[i], &out[*n], err)) == MRD_OK)
            (*n)++;
    freeReplyObject(r);
    return rc;
}

mrd_rc sentinel_list(store_conn *c, const char *what, const char *master,
                     sentinel_entry *out, int max, int *n, mrd_error *err)
{
    const char *argv[] = {"SENTINEL", what, master};
    redisReply *r;
    *n = 0;
    mrd_rc rc = store__command(c, &r, err, 3, argv);
    return rc == MRD_OK ? parse_list(store_conn_name(c), r, what, out, max, n, err) : rc;
}

mrd_rc store__parse_view(const char *name, const char *master,
                         redisReply *r[STORE__VIEW_NCOMMANDS], sentinel_view *out,
                         mrd_error *err)
{
    mrd_rc rc = parse_master_addr(name, r[0], master, out->leader_ip,
                                  sizeof(out->leader_ip), &out->leader_port, err);
    r[0] = NULL;
    if (rc == MRD_OK)
        rc = parse_list(name, r[1], "REPLICAS", out->replicas, SENTINEL_VIEW_MAX,
                        &out->nreplicas, err);
    else
        freeReplyObject(r[1]);
    r[1] = NULL;
    if (rc == MRD_OK)
        rc = parse_list(name, r[2], "SENTINELS", out->sentinels, SENTINEL_VIEW_MAX,
                        &out->nsentinels, err);
    else
        freeReplyObject(r[2]);
    r[2] = NULL;
    if (rc == MRD_OK)
        rc = parse_entry(r[3], &out->master, err);
    freeReplyObject(r[3]);
    r[3] = NULL;
    return rc;
}

mrd_rc sentinel_get_view(store_conn *c, const char *master, sentinel_view *out,
                         mrd_error *err)
{
    const char *const *cmds[STORE__VIEW_NCOMMANDS] = {STORE__VIEW_COMMANDS(master)};
    redisReply *r[STORE__VIEW_NCOMMANDS] = {NULL};
    mrd_rc rc = MRD_OK;
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < STORE__VIEW_NCOMMANDS && rc == MRD_OK; i++)
        rc = store__append(c, err, 3, cmds[i]);
    for (int i = 0; i < STORE__VIEW_NCOMMANDS && rc == MRD_OK; i++)
        rc = store__reply(c, &r[i], err);
    if (rc != MRD_OK) {
        for (int i = 0; i < STORE__VIEW_NCOMMANDS; i++)
            if (r[i])
                freeReplyObject(r[i]);
        return rc;
    }
    return store__parse_view(store_conn_name(c), master, r, out, err);
}
