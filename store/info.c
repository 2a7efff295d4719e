#define _GNU_SOURCE /* memmem */
#include "info.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Find KEY at the start of a line; return the value and its length. */
static const char *find_value(const char *text, size_t len, const char *key,
                              size_t *vlen)
{
    size_t klen = strlen(key);
    const char *end = text + len;
    for (const char *line = text; line < end;) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        const char *eol = nl ? nl : end;
        if ((size_t)(eol - line) > klen && memcmp(line, key, klen) == 0 &&
            line[klen] == ':') {
            const char *v = line + klen + 1;
            const char *ve = eol;
            if (ve > v && ve[-1] == '\r')
                ve--;
            *vlen = (size_t)(ve - v);
            return v;
        }
        line = nl ? nl + 1 : end;
    }
    return NULL;
}

bool store_info_field(const char *text, size_t len, const char *key, char *buf,
                      size_t n)
{
    size_t vlen;
    const char *v = find_value(text, len, key, &vlen);
    if (!v || vlen >= n)
        return false;
    memcpy(buf, v, vlen);
    buf[vlen] = '\0';
    return true;
}

static bool to_ll(const char *s, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return false;
    *out = v;
    return true;
}

mrd_rc store_info_number(const char *text, size_t len, const char *key, long long *out,
                         bool *found, mrd_error *err)
{
    char buf[64];
    bool present = store_info_field(text, len, key, buf, sizeof(buf));
    if (found)
        *found = present;
    if (!present)
        return MRD_OK;
    if (!to_ll(buf, out))
        return mrd_error_set(err, MRD_ERR_PARSE, "INFO field %s is not a number: %s",
                             key, buf);
    return MRD_OK;
}

/* Numeric field: absent leaves *out alone; malformed is an error. */
static mrd_rc num(const char *text, size_t len, const char *key, long long *out,
                  mrd_error *err)
{
    return store_info_number(text, len, key, out, NULL, err);
}

/* "ip=127.0.1.2,port=16379,state=online,offset=123,lag=0" */
static mrd_rc parse_slave(const char *v, store_replica_info *r, mrd_error *err)
{
    for (const char *kv = v; *kv;) {
        const char *comma = strchr(kv, ',');
        size_t kvlen = comma ? (size_t)(comma - kv) : strlen(kv);
        const char *eq = memchr(kv, '=', kvlen);
        if (!eq)
            return mrd_error_set(err, MRD_ERR_PARSE, "malformed replica entry: %s", v);
        char key[16], val[128];
        snprintf(key, sizeof(key), "%.*s", (int)(eq - kv), kv);
        snprintf(val, sizeof(val), "%.*s", (int)(kvlen - (size_t)(eq - kv) - 1), eq + 1);
        long long n = 0;
        bool numeric = strcmp(key, "port") == 0 || strcmp(key, "offset") == 0 ||
                       strcmp(key, "lag") == 0;
        if (numeric && !to_ll(val, &n))
            return mrd_error_set(err, MRD_ERR_PARSE, "malformed replica entry: %s", v);
        if (strcmp(key, "ip") == 0)
            snprintf(r->ip, sizeof(r->ip), "%s", val);
        else if (strcmp(key, "state") == 0)
            snprintf(r->state, sizeof(r->state), "%s", val);
        else if (strcmp(key, "port") == 0)
            r->port = (int)n;
        else if (strcmp(key, "offset") == 0)
            r->offset = n;
        else if (strcmp(key, "lag") == 0)
            r->lag_s = n;
        kv += kvlen + (comma ? 1 : 0);
    }
    return MRD_OK;
}

mrd_rc store_info_parse(const char *text, size_t len, store_info *out, mrd_error *err)
{
    memset(out, 0, sizeof(*out));
    char buf[256];
    long long n;

    store_info_field(text, len, "redis_version", out->redis_version,
                     sizeof(out->redis_version));
    MRD_TRY(num(text, len, "process_id", &out->process_id, err));
    if (memmem(text, len, "# Replication", 13) &&
        !store_info_field(text, len, "role", buf, sizeof(buf)))
        return mrd_error_set(err, MRD_ERR_PARSE,
                             "INFO has a replication section without a role line");
    if (store_info_field(text, len, "role", buf, sizeof(buf))) {
        if (strcmp(buf, "master") != 0 && strcmp(buf, "slave") != 0)
            return mrd_error_set(err, MRD_ERR_PARSE, "unknown role in INFO: %s", buf);
        out->is_master = strcmp(buf, "master") == 0;
    }
    n = 0;
    MRD_TRY(num(text, len, "loading", &n, err));
    out->loading = n != 0;

    store_info_field(text, len, "master_host", out->master_host,
                     sizeof(out->master_host));
    n = 0;
    MRD_TRY(num(text, len, "master_port", &n, err));
    out->master_port = (int)n;
    if (store_info_field(text, len, "master_link_status", buf, sizeof(buf)))
        out->link_up = strcmp(buf, "up") == 0;
    n = 0;
    MRD_TRY(num(text, len, "master_sync_in_progress", &n, err));
    out->sync_in_progress = n != 0;
    MRD_TRY(num(text, len, "slave_repl_offset", &out->slave_repl_offset, err));
    n = 0;
    MRD_TRY(num(text, len, "slave_priority", &n, err));
    out->replica_priority = (int)n;

    n = 0;
    MRD_TRY(num(text, len, "connected_slaves", &n, err));
    out->connected_slaves = (int)n;
    for (int i = 0; i < STORE_MAX_REPLICAS; i++) {
        char key[16];
        snprintf(key, sizeof(key), "slave%d", i);
        if (!store_info_field(text, len, key, buf, sizeof(buf)))
            break;
        MRD_TRY(parse_slave(buf, &out->slaves[out->nslaves], err));
        out->nslaves++;
    }
    MRD_TRY(num(text, len, "master_repl_offset", &out->master_repl_offset, err));
    store_info_field(text, len, "master_replid", out->master_replid,
                     sizeof(out->master_replid));

    MRD_TRY(num(text, len, "sync_full", &out->sync_full, err));
    MRD_TRY(num(text, len, "sync_partial_ok", &out->sync_partial_ok, err));
    MRD_TRY(num(text, len, "sync_partial_err", &out->sync_partial_err, err));
    MRD_TRY(num(text, len, "total_net_repl_output_bytes", &out->total_net_repl_output_bytes,
            err));
    MRD_TRY(num(text, len, "total_net_repl_input_bytes", &out->total_net_repl_input_bytes,
            err));
    /* "db0:keys=12,expires=0,avg_ttl=0", one line per database with keys */
    for (int db = 0; db < STORE_INFO_DBS; db++) {
        char name[8];
        snprintf(name, sizeof(name), "db%d", db);
        if (!store_info_field(text, len, name, buf, sizeof(buf)))
            continue;
        char *end;
        long long keys = 0;
        if (strncmp(buf, "keys=", 5) != 0 || (keys = strtoll(buf + 5, &end, 10), end == buf + 5))
            return mrd_error_set(err, MRD_ERR_PARSE, "malformed %s line: %s", name, buf);
        if (keys < 0 || keys > LLONG_MAX - out->keys_total)
            return mrd_error_set(err, MRD_ERR_PARSE,
                                 "%s counts %lld keys: negative, or the sum of the databases' "
                                 "keys overflows",
                                 name, keys);
        if (db == 0)
            out->keys = keys;
        out->keys_total += keys;
    }
    return MRD_OK;
}
