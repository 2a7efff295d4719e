/* hold.c - replica-priority holds (hold.h). */
#include "hold.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "fsutil.h"
#include "log.h"

#define HOLD_MAX_FILE 65536
#define HOLD_CONN_TIMEOUT_MS 1000

static mrd_rc hold_file(const char *root, char *buf, size_t n)
{
    return mrd_path_fmt(buf, n, "%s/%s", root, HOLD_FILE);
}

/* ROOT's holds as {"PORT": until_ms, ...} (new object; empty when the file
 * is missing or unreadable). */
static json_t *holds_load(const char *root)
{
    char path[MRD_MF_PATH + 16];
    char *text = NULL;
    size_t len = 0;
    json_t *o = NULL;
    if (hold_file(root, path, sizeof(path)) == MRD_OK &&
        mrd_read_file(path, HOLD_MAX_FILE, &text, &len, NULL) == MRD_OK)
        o = json_loadb(text, len, 0, NULL);
    free(text);
    if (!json_is_object(o)) {
        json_decref(o);
        o = json_object();
    }
    return o;
}

bool hold_active(const char *root, int port, long long now_ms)
{
    char key[16];
    snprintf(key, sizeof(key), "%d", port);
    json_t *o = holds_load(root);
    json_t *v = json_object_get(o, key);
    bool held = json_is_integer(v) && json_integer_value(v) > now_ms;
    json_decref(o);
    return held;
}

mrd_rc hold_put(const char *root, int port, long long until_ms, mrd_error *err)
{
    char path[MRD_MF_PATH + 16], key[16];
    if (hold_file(root, path, sizeof(path)) != MRD_OK)
        return mrd_error_set(err, MRD_ERR_INVALID, "host root %s is too long", root);
    json_t *o = holds_load(root);
    long long now = mrd_wall_ms();
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(o, tmp, k, v) {
        if (!json_is_integer(v) || json_integer_value(v) <= now)
            json_object_del(o, k);
    }
    snprintf(key, sizeof(key), "%d", port);
    if (until_ms > now)
        json_object_set_new(o, key, json_integer(until_ms));
    else
        json_object_del(o, key);
    return mrd_write_json_atomic(path, o, JSON_SORT_KEYS | JSON_COMPACT, 0600, err);
}

/* A decimal in [MIN, MAX] from S, else -1. */
static long long parse_ll(const char *s, long long min, long long max)
{
    char *end;
    if (!s || !*s)
        return -1;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    return v;
}

static json_t *refuse(int *status, int code, const char *msg)
{
    *status = code;
    return json_pack("{s:s}", "error", msg);
}

json_t *hold_request(const sv_host *h, const char *port_s, const char *ttl_s, int *status)
{
    const mrd_manifest *m = h->m;
    long long port = parse_ll(port_s, 1, 65535);
    long long ttl = parse_ll(ttl_s, 0, HOLD_TTL_MAX_MS);
    char msg[320];
    if (port < 0)
        return refuse(status, 400, "port must be the port of a node of this host (1-65535)");
    if (ttl < 0) {
        snprintf(msg, sizeof(msg), "ttl_ms must be 0 (lift the hold) to %d milliseconds",
                 HOLD_TTL_MAX_MS);
        return refuse(status, 400, msg);
    }
    int node = -1;
    for (int i = 0; i < m->nnodes; i++)
        if (m->nodes[i].host == m->self && m->nodes[i].port == port)
            node = i;
    if (node < 0) {
        snprintf(msg, sizeof(msg), "no node of this host listens on port %lld", port);
        return refuse(status, 404, msg);
    }

    mrd_error err;
    mrd_error_clear(&err);
    long long until = ttl ? mrd_wall_ms() + ttl : 0;
    /* recorded first: a pass that sees the new priority sees the hold */
    if (hold_put(m->root, (int)port, until, &err) != MRD_OK) {
        snprintf(msg, sizeof(msg), "could not record the hold: %s", err.msg);
        return refuse(status, 500, msg);
    }
    int prio = ttl ? 0 : m->nodes[node].replica_priority;
    char val[16];
    snprintf(val, sizeof(val), "%d", prio);
    store_conn *c = NULL;
    mrd_rc rc = store_conn_open(manifest_node_address(m, node), (int)port, "admin",
                                h->secrets.admin, HOLD_CONN_TIMEOUT_MS, &c, &err);
    if (rc == MRD_OK)
        rc = store_cmdl(c, NULL, &err, "CONFIG", "SET", "replica-priority", val, NULL);
    /* Redis Cluster ignores replica-priority: its replicas are held with
     * cluster-replica-no-failover (a restore's seed in cluster mode) */
    bool cluster = strcmp(m->mode, "cluster") == 0;
    if (rc == MRD_OK && cluster)
        rc = store_cmdl(c, NULL, &err, "CONFIG", "SET", "cluster-replica-no-failover",
                        ttl ? "yes" : "no", NULL);
    store_conn_close(&c);
    if (rc != MRD_OK) {
        snprintf(msg, sizeof(msg), "the node on port %lld did not take replica-priority %d: %s",
                 port, prio, err.msg);
        return refuse(status, 500, msg);
    }
    mrd_info("hold: node on port %lld %s%s", port,
             ttl ? "held at replica-priority 0" : "released to its manifest priority",
             !cluster ? "" : ttl ? ", cluster-replica-no-failover yes"
                                 : ", cluster-replica-no-failover no");
    *status = 200;
    return json_pack("{s:I,s:i,s:I}", "port", (json_int_t)port, "replica_priority", prio,
                     "until_ms", (json_int_t)until);
}
