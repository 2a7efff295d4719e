/* catalog.c - backup ids, object names, manifests and retention (see
 * catalog.h).  Pure. */
#include "catalog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ==== ids and names ==== */

void catalog_id(time_t t, char id[CATALOG_ID_LEN])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    if (strftime(id, CATALOG_ID_LEN, "%Y%m%dT%H%M%SZ", &tm) == 0)
        id[0] = '\0';
}

bool catalog_id_parse(const char *id, time_t *t)
{
    if (strlen(id) != CATALOG_ID_LEN - 1 || id[8] != 'T' || id[15] != 'Z')
        return false;
    for (int i = 0; i < 15; i++)
        if (i != 8 && (id[i] < '0' || id[i] > '9'))
            return false;
    struct tm tm = {0};
    if (sscanf(id, "%4d%2d%2dT%2d%2d%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec) != 6)
        return false;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t v = timegm(&tm);
    char again[CATALOG_ID_LEN];
    catalog_id(v, again); /* refuses "20261302...", which timegm normalises */
    if (strcmp(again, id) != 0)
        return false;
    if (t)
        *t = v;
    return true;
}

mrd_rc catalog_folder(const char *prefix, const char *name, char *buf, size_t n)
{
    int w = snprintf(buf, n, "%s%s/", prefix, name);
    return w > 0 && (size_t)w < n ? MRD_OK : MRD_ERR_INVALID;
}

mrd_rc catalog_object(const char *prefix, const char *name, const char *id, int shard,
                      char *buf, size_t n)
{
    int w = shard < 0 ? snprintf(buf, n, "%s%s/%s/" CATALOG_MANIFEST, prefix, name, id)
                      : snprintf(buf, n, "%s%s/%s/shard-%d.rdb", prefix, name, id, shard);
    return w > 0 && (size_t)w < n ? MRD_OK : MRD_ERR_INVALID;
}

/* ==== the manifest ==== */

static json_t *shard_json(const catalog_shard *s)
{
    json_t *ranges = json_array();
    for (int i = 0; ranges && i < s->nranges; i++)
        json_array_append_new(ranges, json_pack("[i,i]", s->ranges[i][0], s->ranges[i][1]));
    return json_pack("{s:i,s:s,s:I,s:s,s:I,s:I,s:{s:s,s:s,s:i},s:s,s:I,s:i,s:o}", "shard",
                     s->shard, "object", s->object, "bytes", (json_int_t)s->bytes, "sha256",
                     s->sha256, "keys", (json_int_t)s->keys, "expires", (json_int_t)s->expires,
                     "source", "host", s->source_host, "address", s->source_address, "port",
                     s->source_port, "repl_id", s->repl_id, "repl_offset",
                     (json_int_t)s->repl_offset, "rdb_version", s->rdb_version, "slots",
                     ranges ? ranges : json_null());
}

json_t *catalog_manifest_to_json(const catalog_manifest *m)
{
    json_t *shards = json_array();
    for (int i = 0; shards && i < m->nshards; i++)
        if (json_array_append_new(shards, shard_json(&m->shards[i])) != 0) {
            json_decref(shards);
            shards = NULL;
        }
    if (!shards)
        return NULL;
    char when[32];
    time_t t = (time_t)m->created;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_pack("{s:i,s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:o}", "format", CATALOG_FORMAT,
                     "id", m->id, "topology", m->topology, "mode", m->mode, "created", when,
                     "created_unix", (json_int_t)m->created, "duration_ms",
                     (json_int_t)m->duration_ms, "keys", (json_int_t)m->keys, "bytes",
                     (json_int_t)m->bytes, "shards", shards);
}

/* Copy string KEY of O into BUF (N bytes); false when absent or too long. */
static bool get_str(const json_t *o, const char *key, char *buf, size_t n)
{
    const char *v = json_string_value(json_object_get(o, key));
    if (!v || strlen(v) >= n)
        return false;
    memcpy(buf, v, strlen(v) + 1);
    return true;
}

/* Integer KEY of O, at least 0 (repl_offset: at least -1). */
static bool get_int(const json_t *o, const char *key, long long min, long long *v)
{
    const json_t *j = json_object_get(o, key);
    if (!json_is_integer(j) || json_integer_value(j) < min)
        return false;
    *v = json_integer_value(j);
    return true;
}

static mrd_rc bad(const char *name, const char *what, mrd_error *err)
{
    return mrd_error_set(err, MRD_ERR_PARSE,
                         "%s is not a meridian backup manifest (format %d): %s", name,
                         CATALOG_FORMAT, what);
}

static mrd_rc parse_shard(const json_t *j, const char *name, catalog_shard *s, mrd_error *err)
{
    long long shard, port, version;
    const json_t *src = json_object_get(j, "source");
    if (!json_is_object(j) || !get_int(j, "shard", 0, &shard) || shard >= CATALOG_MAX_SHARDS)
        return bad(name, "a shard without a valid \"shard\"", err);
    s->shard = (int)shard;
    if (!get_str(j, "object", s->object, sizeof(s->object)) ||
        !get_int(j, "bytes", 0, &s->bytes) || !get_str(j, "sha256", s->sha256, sizeof(s->sha256)) ||
        strlen(s->sha256) != 64 || strspn(s->sha256, "0123456789abcdef") != 64 ||
        !get_int(j, "keys", 0, &s->keys) || !get_int(j, "expires", 0, &s->expires) ||
        !get_str(j, "repl_id", s->repl_id, sizeof(s->repl_id)) ||
        !get_int(j, "repl_offset", -1, &s->repl_offset) ||
        !get_int(j, "rdb_version", 1, &version) || version > 99 || !json_is_object(src) ||
        !get_str(src, "host", s->source_host, sizeof(s->source_host)) ||
        !get_str(src, "address", s->source_address, sizeof(s->source_address)) ||
        !get_int(src, "port", 1, &port) || port > 65535)
        return bad(name, "a shard lacks one of object, bytes, sha256 (64 hex digits), keys, "
                         "expires, repl_id, repl_offset, rdb_version, source",
                   err);
    s->rdb_version = (int)version;
    s->source_port = (int)port;
    const json_t *ranges = json_object_get(j, "slots");
    if (!json_is_array(ranges) || json_array_size(ranges) > CATALOG_MAX_RANGES)
        return bad(name, "a shard's \"slots\" is not a list of at most 64 ranges", err);
    s->nranges = (int)json_array_size(ranges);
    for (int i = 0; i < s->nranges; i++) {
        const json_t *r = json_array_get(ranges, (size_t)i);
        const json_t *a = json_array_get(r, 0), *b = json_array_get(r, 1);
        if (json_array_size(r) != 2 || !json_is_integer(a) || !json_is_integer(b) ||
            json_integer_value(a) < 0 || json_integer_value(b) < json_integer_value(a) ||
            json_integer_value(b) > 16383)
            return bad(name, "a slot range is not [first, last] within 0..16383", err);
        s->ranges[i][0] = (int)json_integer_value(a);
        s->ranges[i][1] = (int)json_integer_value(b);
    }
    return MRD_OK;
}

mrd_rc catalog_manifest_parse(const char *text, size_t len, const char *name,
                              catalog_manifest *out, mrd_error *err)
{
    memset(out, 0, sizeof(*out));
    json_error_t jerr;
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j)
        return mrd_error_set(err, MRD_ERR_PARSE, "%s is not JSON: %s (line %d)", name,
                             jerr.text, jerr.line);
    mrd_rc rc = MRD_OK;
    long long format;
    const json_t *shards = json_object_get(j, "shards");
    if (!json_is_object(j) || !get_int(j, "format", 0, &format) || format != CATALOG_FORMAT)
        rc = bad(name, "no \"format\": 1", err);
    else if (!get_str(j, "id", out->id, sizeof(out->id)) || !catalog_id_parse(out->id, NULL))
        rc = bad(name, "no valid \"id\"", err);
    else if (!get_str(j, "topology", out->topology, sizeof(out->topology)) ||
             !get_str(j, "mode", out->mode, sizeof(out->mode)) ||
             !get_int(j, "created_unix", 0, &out->created) ||
             !get_int(j, "duration_ms", 0, &out->duration_ms) ||
             !get_int(j, "keys", 0, &out->keys) || !get_int(j, "bytes", 0, &out->bytes))
        rc = bad(name, "it lacks one of topology, mode, created_unix, duration_ms, keys, bytes",
                 err);
    else if (!json_is_array(shards) || json_array_size(shards) == 0 ||
             json_array_size(shards) > CATALOG_MAX_SHARDS)
        rc = bad(name, "\"shards\" is not a list of 1 to 1024 shards", err);
    else if (!(out->shards = calloc(json_array_size(shards), sizeof(*out->shards))))
        rc = mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    out->nshards = out->shards ? (int)json_array_size(shards) : 0;
    long long keys = 0;
    for (int i = 0; rc == MRD_OK && i < out->nshards; i++) {
        rc = parse_shard(json_array_get(shards, (size_t)i), name, &out->shards[i], err);
        if (rc == MRD_OK && out->shards[i].shard != i)
            rc = bad(name, "the shards are not numbered 0, 1, ... in order", err);
        keys += rc == MRD_OK ? out->shards[i].keys : 0;
    }
    if (rc == MRD_OK && keys != out->keys)
        rc = bad(name, "\"keys\" is not the sum of its shards' keys", err);
    json_decref(j);
    if (rc != MRD_OK)
        catalog_manifest_free(out);
    return rc;
}

void catalog_manifest_free(catalog_manifest *m)
{
    if (!m)
        return;
    free(m->shards);
    m->shards = NULL;
    m->nshards = 0;
}

/* ==== listing and retention ==== */

static int newest_first(const void *a, const void *b)
{
    return -strcmp(((const catalog_entry *)a)->id, ((const catalog_entry *)b)->id);
}

mrd_rc catalog_group(const char *folder, const char *const *keys, const long long *sizes,
                     size_t n, catalog_entry **out, size_t *nout, mrd_error *err)
{
    *out = NULL;
    *nout = 0;
    catalog_entry *e = calloc(n ? n : 1, sizeof(*e));
    if (!e)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    size_t flen = strlen(folder), ne = 0;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(keys[i], folder, flen) != 0)
            continue;
        const char *rest = keys[i] + flen, *slash = strchr(rest, '/');
        char id[CATALOG_ID_LEN];
        if (!slash || slash - rest != CATALOG_ID_LEN - 1)
            continue;
        memcpy(id, rest, CATALOG_ID_LEN - 1);
        id[CATALOG_ID_LEN - 1] = '\0';
        time_t t;
        if (!catalog_id_parse(id, &t))
            continue;
        size_t k = 0;
        while (k < ne && strcmp(e[k].id, id) != 0)
            k++;
        if (k == ne) {
            memcpy(e[ne].id, id, sizeof(id));
            e[ne++].created = t;
        }
        e[k].objects++;
        e[k].bytes += sizes ? sizes[i] : 0;
        if (strcmp(slash + 1, CATALOG_MANIFEST) == 0)
            e[k].complete = true;
    }
    qsort(e, ne, sizeof(*e), newest_first);
    *out = e;
    *nout = ne;
    return MRD_OK;
}

int catalog_retention(const catalog_entry *e, size_t n, const char *current, int keep_last,
                      int keep_days, time_t now, bool *del)
{
    int complete = 0, deleted = 0;
    for (size_t i = 0; i < n; i++) {
        bool is_current = strcmp(e[i].id, current) == 0;
        if (!e[i].complete) {
            del[i] = !is_current;
        } else {
            complete++;
            bool young = now - e[i].created < (time_t)keep_days * 86400;
            del[i] = !is_current && complete > keep_last && !young;
        }
        deleted += del[i];
    }
    return deleted;
}
