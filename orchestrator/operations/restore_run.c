/* restore_run.c - `meridian restore`: a backup into an empty deployment
 * (see backup_run.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_client.h"
#include "backup_run.h"
#include "catalog.h"
#include "conn.h"
#include "fsutil.h"
#include "info.h"
#include "log.h"
#include "rdb_scan.h"
#include "record.h"
#include "status.h"
#include "transport.h"

#define RESTORE_PROBE_MS 2000
#define RESTORE_HOLD_REQUEST_MS 5000
#define RESTORE_POLL_MS 500
#define MANIFEST_MAX (16 * 1024 * 1024)

/* ==== the backup ==== */

/* Split FROM ("ID" or "NAME/ID") into the topology NAME (default DEF) and ID. */
static mrd_rc parse_from(const char *from, const char *def, char *name, size_t nn,
                         char id[CATALOG_ID_LEN], mrd_error *err)
{
    const char *slash = strrchr(from, '/');
    const char *i = slash ? slash + 1 : from;
    size_t len = slash ? (size_t)(slash - from) : strlen(def);
    if (!catalog_id_parse(i, NULL) || len == 0 || len >= nn)
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "--from %s is not a backup id (\"20261202T193012Z\", as `meridian "
                             "backup --json` prints it) or TOPOLOGY/ID",
                             from);
    memcpy(name, slash ? from : def, len);
    name[len] = '\0';
    snprintf(id, CATALOG_ID_LEN, "%s", i);
    return MRD_OK;
}

/* Download shard S of M into DIR (kept when already there and intact),
 * check its checksum and keys.  PATH gets the file. */
static mrd_rc fetch_shard(s3_client *s3, const char *bucket, const catalog_shard *sh,
                          const char *dir, FILE *progress, char *path, size_t n,
                          mrd_error *err)
{
    if (mrd_path_fmt(path, n, "%s/shard-%d.rdb", dir, sh->shard) != MRD_OK)
        return mrd_error_set(err, MRD_ERR_INVALID, "the state dir's path is too long");
    char sha[65] = "";
    long long bytes = 0;
    struct stat st;
    bool have = stat(path, &st) == 0 && st.st_size == sh->bytes;
    if (!have) {
        char what[64];
        snprintf(what, sizeof(what), "shard %d: downloaded", sh->shard);
        long long t0 = mrd_now_ms();
        MRD_TRY(s3_get_file(s3, sh->object, path, NULL, NULL, sha, &bytes, err));
        if (progress) {
            double s = (double)(mrd_now_ms() - t0) / 1000.0;
            fprintf(progress, "  %s %.1f MB in %.2f s (%.1f MB/s)\n", what, (double)bytes / 1e6,
                    s, s > 0 ? (double)bytes / 1e6 / s : 0.0);
        }
    }
    mrd_rc rc = MRD_OK;
    if (have) {
        /* a file an interrupted restore left: its checksum decides */
        rc = backup_sha256_file(path, sha, err);
        bytes = st.st_size;
    }
    /* the checksum first: it names a damaged object for what it is */
    if (rc == MRD_OK && (strcmp(sha, sh->sha256) != 0 || bytes != sh->bytes))
        rc = mrd_error_set(err, MRD_ERR_PARSE,
                           "checksum mismatch: s3://%s/%s arrived as %lld bytes with sha256 "
                           "%s; the manifest says %lld bytes, sha256 %s: the object is "
                           "damaged, restore another backup",
                           bucket, sh->object, bytes, sha, sh->bytes, sh->sha256);
    store_rdb_summary sum;
    if (rc == MRD_OK && (rc = store_rdb_scan_file(path, &sum, err)) != MRD_OK)
        rc = mrd_error_prefix(err, "s3://%s/%s", bucket, sh->object);
    else if (rc == MRD_OK && sum.keys != sh->keys)
        rc = mrd_error_set(err, MRD_ERR_PARSE,
                           "s3://%s/%s holds %lld keys; the manifest says %lld", bucket,
                           sh->object, sum.keys, sh->keys);
    if (rc != MRD_OK)
        unlink(path);
    return rc;
}

/* ==== a restore under way ====
 *
 * STATE/backup/restore.json names the backup a restore is loading and
 * whether the master has it ("seeded").  A restore killed midway is run
 * again with the same --from: the nodes may then hold that backup's keys,
 * which is no reason to refuse; once seeded, it only waits and verifies. */

typedef struct pending {
    char id[CATALOG_ID_LEN];
    char from[64];
    bool seeded;
} pending;

static mrd_rc pending_path(const orch_ctx *c, char *buf, size_t n)
{
    return mrd_path_fmt(buf, n, "%s/" BACKUP_DIR "/restore.json", c->state_dir);
}

static bool pending_read(const orch_ctx *c, pending *p)
{
    char path[MRD_PATH_MAX], *text = NULL;
    size_t len = 0;
    memset(p, 0, sizeof(*p));
    if (pending_path(c, path, sizeof(path)) != MRD_OK ||
        mrd_read_file(path, 65536, &text, &len, NULL) != MRD_OK)
        return false;
    json_error_t jerr;
    json_t *j = json_loadb(text, len, 0, &jerr);
    free(text);
    const char *id = json_string_value(json_object_get(j, "id"));
    const char *from = json_string_value(json_object_get(j, "from"));
    bool ok = id && from && catalog_id_parse(id, NULL) && strlen(from) < sizeof(p->from);
    if (ok) {
        snprintf(p->id, sizeof(p->id), "%s", id);
        snprintf(p->from, sizeof(p->from), "%s", from);
        p->seeded = json_is_true(json_object_get(j, "seeded"));
    }
    json_decref(j);
    return ok;
}

static mrd_rc pending_write(const orch_ctx *c, const char *from, const char *id, bool seeded,
                            mrd_error *err)
{
    char path[MRD_PATH_MAX];
    if (pending_path(c, path, sizeof(path)) != MRD_OK)
        return mrd_error_set(err, MRD_ERR_INVALID, "the state dir's path is too long");
    return mrd_write_json_atomic(path,
                                 json_pack("{s:s,s:s,s:b}", "id", id, "from", from, "seeded",
                                           seeded),
                                 JSON_INDENT(2), 0600, err);
}

static void pending_clear(const orch_ctx *c)
{
    char path[MRD_PATH_MAX];
    if (pending_path(c, path, sizeof(path)) == MRD_OK)
        unlink(path);
}

/* ==== the deployment ==== */

static const mrd_host *node_host(const orch_ctx *c, int i)
{
    return &c->topo->hosts[c->plan->nodes[i].host];
}

/* Node I's INFO, parsed; false when it does not answer. */
static bool node_info(const orch_ctx *c, int i, const char *admin, store_info *out,
                      char **text)
{
    store_conn *k = NULL;
    char *t = NULL;
    bool ok = store_conn_open(node_host(c, i)->address, c->plan->nodes[i].port, "admin", admin,
                              RESTORE_PROBE_MS, &k, NULL) == MRD_OK &&
              store_info_text(k, NULL, &t, NULL) == MRD_OK &&
              store_info_parse(t, strlen(t), out, NULL) == MRD_OK;
    store_conn_close(&k);
    if (ok && text)
        *text = t;
    else
        free(t);
    return ok;
}

/* Whether every node of the deployment is empty or down; else ERR names
 * the first that holds keys. */
static mrd_rc check_empty(const orch_ctx *c, const char *admin, int *holding, mrd_error *err)
{
    *holding = 0;
    mrd_rc rc = MRD_OK;
    for (int i = 0; i < c->plan->nnodes; i++) {
        store_info in;
        if (!node_info(c, i, admin, &in, NULL) || in.keys_total == 0)
            continue;
        if ((*holding)++ == 0)
            rc = mrd_error_set(err, MRD_ERR_STATE,
                               "%s (%s:%d) holds %lld keys: a restore replaces the data of "
                               "every node; restore into an empty deployment (`meridian "
                               "destroy`, then `deploy`), or add --force to overwrite them",
                               node_host(c, i)->name, node_host(c, i)->address,
                               c->plan->nodes[i].port, in.keys_total);
    }
    return rc;
}

/* Hold (TTL_MS > 0) or release (0) every node of shard S but MASTER. */
static void hold_replicas(const orch_ctx *c, int s, int master, int ttl_ms, FILE *progress)
{
    const mrd_plan_shard *ps = &c->plan->shards[s];
    for (int i = ps->first; i < ps->first + ps->nnodes; i++) {
        if (i == master)
            continue;
        char path[96];
        snprintf(path, sizeof(path), "/v1/hold?port=%d&ttl_ms=%d", c->plan->nodes[i].port,
                 ttl_ms);
        agent_result res;
        mrd_error e;
        bool ok = agent_post(c, c->plan->nodes[i].host, path, RESTORE_HOLD_REQUEST_MS, &res,
                             &e) == MRD_OK &&
                  res.http_status == 200;
        const char *why = json_string_value(json_object_get(res.body, "error"));
        if (!ok && progress)
            fprintf(progress, "  could not %s %s:%d (a node that is down cannot be promoted "
                              "either): %s\n",
                    ttl_ms ? "hold" : "release", node_host(c, i)->name, c->plan->nodes[i].port,
                    why ? why : res.error[0] ? res.error : "no answer");
        json_decref(res.body);
    }
}

/* Put FILE on MASTER's host and have its agent load it. */
static mrd_rc seed(orch_ctx *c, int master, const char *file, bool force, json_t **answer,
                   mrd_error *err)
{
    const mrd_host *h = node_host(c, master);
    char root[MRD_PATH_MAX], dir[MRD_PATH_MAX], dest[MRD_PATH_MAX];
    MRD_TRY(orch_host_root_ex(c, c->plan->nodes[master].host, root, sizeof(root), err));
    if (mrd_path_fmt(dir, sizeof(dir), "%s/restore", root) != MRD_OK ||
        mrd_path_fmt(dest, sizeof(dest), "%s/%d.rdb", dir, c->plan->nodes[master].port) !=
            MRD_OK)
        return mrd_error_set(err, MRD_ERR_INVALID, "%s: its root's path is too long", h->name);
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        return mrd_error_set(err, MRD_ERR_IO, "cannot read %s: %s", file, strerror(errno));
    }
    void *data = st.st_size ? mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0)
                            : NULL;
    close(fd);
    if (data == MAP_FAILED)
        return mrd_error_set(err, MRD_ERR_IO, "cannot map %s: %s", file, strerror(errno));
    mrd_rc rc = tp_mkdir_p(c->tp, h, dir, 0700, err);
    if (rc == MRD_OK)
        rc = tp_put_file(c->tp, h, dest, data, (size_t)st.st_size, 0600, err);
    if (data)
        munmap(data, (size_t)st.st_size);
    if (rc != MRD_OK)
        return mrd_error_prefix(err, "cannot put the backup on %s", h->name);
    char path[96];
    snprintf(path, sizeof(path), "/v1/seed?port=%d%s", c->plan->nodes[master].port,
             force ? "&force=1" : "");
    agent_result res;
    MRD_TRY(agent_post(c, c->plan->nodes[master].host, path, RESTORE_SEED_TIMEOUT_MS, &res,
                       err));
    *answer = res.body;
    if (res.http_status == 200)
        return MRD_OK;
    const char *why = json_string_value(json_object_get(res.body, "error"));
    return mrd_error_set(err, MRD_ERR_STATE, "the agent on %s did not load the backup: %s",
                         h->name, why ? why : res.error[0] ? res.error : "no answer");
}

/* Wait until each of the NT masters accepts writes: it has as many
 * linked replicas as consistency.min_replicas_to_write asks (INFO
 * min_slaves_good_slaves; at most RESTORE_HEALTHY_TIMEOUT_MS). */
static mrd_rc wait_writable(const orch_ctx *c, const int *master, int nt, const char *admin,
                           mrd_error *err)
{
    long long want = c->topo->settings.consistency.min_replicas_to_write;
    long long deadline = mrd_now_ms() + RESTORE_HEALTHY_TIMEOUT_MS;
    for (int t = 0; want > 0 && t < nt;) {
        store_info in;
        char *text = NULL;
        long long good = -1;
        if (node_info(c, master[t], admin, &in, &text))
            store_info_number(text, strlen(text), "min_slaves_good_slaves", &good, NULL, NULL);
        free(text);
        if (good >= want) {
            t++;
            continue;
        }
        if (mrd_now_ms() >= deadline)
            return mrd_error_set(err, MRD_ERR_TIMEOUT,
                                 "%s:%d loaded the backup but has fewer than %lld linked "
                                 "replica%s after %d s (min_replicas_to_write): it refuses "
                                 "writes; see `meridian status`",
                                 node_host(c, master[t])->name, c->plan->nodes[master[t]].port,
                                 want, want == 1 ? "" : "s", RESTORE_HEALTHY_TIMEOUT_MS / 1000);
        mrd_sleep_ms(RESTORE_POLL_MS / 5);
    }
    return MRD_OK;
}

/* Wait until every node is healthy (at most RESTORE_HEALTHY_TIMEOUT_MS). */
static mrd_rc wait_healthy(const orch_ctx *c, FILE *progress, mrd_error *err)
{
    long long deadline = mrd_now_ms() + RESTORE_HEALTHY_TIMEOUT_MS, said = 0;
    for (;;) {
        st_report *r = NULL;
        int sick = -1;
        if (status_probe(c, RESTORE_PROBE_MS, &r, NULL) == MRD_OK) {
            sick = 0;
            for (int i = 0; i < r->nnodes; i++)
                sick += !r->nodes[i].healthy;
        }
        status_free(&r);
        if (sick == 0)
            return MRD_OK;
        if (mrd_now_ms() >= deadline)
            return mrd_error_set(err, MRD_ERR_TIMEOUT,
                                 "the backup is loaded, but %d node%s not healthy after %d s: "
                                 "see `meridian status`",
                                 sick, sick == 1 ? " is" : "s are",
                                 RESTORE_HEALTHY_TIMEOUT_MS / 1000);
        if (progress && mrd_now_ms() - said >= 5000) {
            said = mrd_now_ms();
            fprintf(progress, "  waiting for %d node%s to sync from the master\n", sick,
                    sick == 1 ? "" : "s");
        }
        mrd_sleep_ms(RESTORE_POLL_MS);
    }
}

/* "rdb_last_load_keys_loaded" and "_expired" of the master. */
static void load_counts(const char *text, long long *loaded, long long *expired)
{
    bool found;
    *loaded = *expired = -1;
    store_info_number(text, strlen(text), "rdb_last_load_keys_loaded", loaded, &found, NULL);
    store_info_number(text, strlen(text), "rdb_last_load_keys_expired", expired, &found, NULL);
}

/* ==== matching shards ==== */

/* Whether target shard T's live slots (R) are backup shard B's. */
static bool same_slots(const st_shard *t, const catalog_shard *b)
{
    if (t->nranges != b->nranges)
        return false;
    for (int i = 0; i < t->nranges; i++)
        if (t->ranges[i].first != b->ranges[i][0] || t->ranges[i].last != b->ranges[i][1])
            return false;
    return true;
}

/* For every shard of the deployment, its master now (MASTER) and the
 * backup shard that goes into it (MAP).  Sentinel mode: the one shard and
 * the master the sentinels name; cluster mode: the backup shard that owned
 * exactly the slots the deployment's shard owns. */
static mrd_rc match_shards(const orch_ctx *c, const st_report *r, const catalog_manifest *m,
                           int *master, int *map, int *nt, mrd_error *err)
{
    *nt = 0;
    for (int s = 0; s < c->plan->nshards; s++)
        *nt += !c->plan->shards[s].retiring;
    bool cluster = c->topo->mode == MRD_MODE_CLUSTER;
    if (strcmp(m->mode, cluster ? "cluster" : "sentinel") != 0 || m->nshards != *nt)
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "backup %s is of a %s-mode deployment with %d shard%s; %s is in "
                             "%s mode with %d: restore into the same layout",
                             m->id, m->mode, m->nshards, m->nshards == 1 ? "" : "s",
                             c->topo->name, cluster ? "cluster" : "sentinel", *nt);
    if (!cluster) {
        master[0] = r->master;
        map[0] = 0;
        if (r->master < 0)
            return mrd_error_set(err, MRD_ERR_STATE,
                                 "no majority of the sentinels names a master of %s: deploy "
                                 "it first (`meridian deploy %s`: an empty deployment), then "
                                 "restore",
                                 c->topo->name, c->topo->path);
        return MRD_OK;
    }
    for (int t = 0; t < *nt; t++) {
        master[t] = r->shards[t].master;
        map[t] = -1;
        for (int b = 0; b < m->nshards && map[t] < 0; b++)
            if (same_slots(&r->shards[t], &m->shards[b]))
                map[t] = b;
        if (master[t] < 0)
            return mrd_error_set(err, MRD_ERR_STATE,
                                 "shard %d of %s has no master serving its slots: deploy it "
                                 "first (an empty deployment; `meridian status` says what is "
                                 "wrong), then restore",
                                 t + 1, c->topo->name);
        if (map[t] < 0)
            return mrd_error_set(err, MRD_ERR_INVALID,
                                 "shard %d of %s owns %d slots in %d range%s; no shard of backup "
                                 "%s owned exactly those: restore into a fresh deployment of "
                                 "the same cluster.shards, before any scale or slot move",
                                 t + 1, c->topo->name, r->shards[t].slots_owned,
                                 r->shards[t].nranges, r->shards[t].nranges == 1 ? "" : "s",
                                 m->id);
    }
    return MRD_OK;
}

/* ==== the run ==== */

mrd_rc restore_run(orch_ctx *c, const restore_opts *o, json_t **result, mrd_error *err)
{
    *result = NULL;
    const mrd_settings *set = &c->topo->settings;
    long long t0 = mrd_now_ms();
    char name[64], id[CATALOG_ID_LEN], key[1100], dir[MRD_PATH_MAX], admin[256];
    MRD_TRY(parse_from(o->from, c->topo->name, name, sizeof(name), id, err));
    if (catalog_object(set->backup.prefix, name, id, -1, key, sizeof(key)) != MRD_OK ||
        mrd_path_fmt(dir, sizeof(dir), "%s/restore/%s", c->state_dir, id) != MRD_OK)
        return mrd_error_set(err, MRD_ERR_INVALID, "backup.prefix is too long");
    s3_client *s3 = NULL;
    MRD_TRY(backup_store_open(c, &s3, err));
    char *text = NULL;
    size_t len = 0;
    catalog_manifest m = {0};
    st_report *r = NULL;
    json_t *shards = json_array();
    int *master = calloc(CATALOG_MAX_SHARDS, sizeof(int)), *map = calloc(CATALOG_MAX_SHARDS,
                                                                        sizeof(int));
    char (*files)[MRD_PATH_MAX] = calloc(CATALOG_MAX_SHARDS, MRD_PATH_MAX);
    int nt = 0;
    char where[1200];
    snprintf(where, sizeof(where), "s3://%s/%s", set->backup.bucket, key);
    mrd_rc rc = master && map && files ? s3_get_bytes(s3, key, MANIFEST_MAX, &text, &len, err)
                                       : mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    if (rc == MRD_ERR_NOT_FOUND)
        rc = mrd_error_set(err, rc, "no backup %s of %s: %s has no manifest (`meridian backup "
                                    "%s --list` shows the backups)",
                           id, name, where, c->topo->path);
    if (rc == MRD_OK)
        rc = catalog_manifest_parse(text, len, where, &m, err);
    if (rc == MRD_OK)
        rc = orch_secret(c, "admin", admin, sizeof(admin), err);
    if (rc == MRD_OK)
        rc = status_probe(c, RESTORE_PROBE_MS, &r, err);
    if (rc == MRD_OK)
        rc = match_shards(c, r, &m, master, map, &nt, err);
    pending p;
    bool resume = pending_read(c, &p) && strcmp(p.id, id) == 0 && strcmp(p.from, name) == 0;
    int holding = 0;
    if (rc == MRD_OK && (rc = check_empty(c, admin, &holding, err)) != MRD_OK &&
        (o->force || resume)) {
        if (o->progress && resume)
            fprintf(o->progress, "resuming the interrupted restore of %s (the keys on the "
                                 "nodes are its own)\n",
                    id);
        else if (o->progress)
            fprintf(o->progress, "WARNING: --force: %s; %d node%s will lose their data\n",
                    err->msg, holding, holding == 1 ? "" : "s");
        rc = MRD_OK;
    }
    if (rc == MRD_OK && o->progress)
        fprintf(o->progress, "restore %s: backup %s of %s (%lld keys, %.1f MB) into %d shard%s\n",
                c->topo->name, id, name, m.keys, (double)m.bytes / 1e6, nt,
                nt == 1 ? "" : "s");
    for (int t = 0; rc == MRD_OK && t < nt; t++) {
        const catalog_shard *b = &m.shards[map[t]];
        json_array_append_new(shards,
                              json_pack("{s:i,s:i,s:s,s:i,s:I,s:I}", "shard", t + 1,
                                        "backup_shard", b->shard, "master",
                                        node_host(c, master[t])->name, "port",
                                        c->plan->nodes[master[t]].port, "keys",
                                        (json_int_t)b->keys, "bytes", (json_int_t)b->bytes));
    }
    if (rc == MRD_OK && !o->apply) {
        *result = json_pack("{s:s,s:s,s:I,s:O,s:b}", "id", id, "topology", name, "keys",
                            (json_int_t)m.keys, "shards", shards, "applied", 0);
        if (!*result)
            rc = mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
        goto out;
    }
    bool seeded = resume && p.seeded;
    if (rc == MRD_OK && !seeded)
        rc = mrd_mkdir_p(dir, 0700, err);
    for (int t = 0; rc == MRD_OK && !seeded && t < nt; t++)
        rc = fetch_shard(s3, set->backup.bucket, &m.shards[map[t]], dir, o->progress, files[t],
                         MRD_PATH_MAX, err);
    long long writable_ms = -1, loaded = 0, expired = 0;
    if (rc == MRD_OK && !seeded)
        rc = pending_write(c, name, id, false, err);
    for (int t = 0; rc == MRD_OK && !seeded && t < nt; t++) {
        json_t *answer = NULL;
        hold_replicas(c, c->plan->nodes[master[t]].shard, master[t], RESTORE_HOLD_MS,
                      o->progress);
        rc = seed(c, master[t], files[t], o->force || holding > 0 || resume, &answer, err);
        hold_replicas(c, c->plan->nodes[master[t]].shard, master[t], 0, o->progress);
        if (rc == MRD_OK && o->progress)
            fprintf(o->progress, "  %s:%d loaded %lld keys in %lld ms\n",
                    node_host(c, master[t])->name, c->plan->nodes[master[t]].port,
                    (long long)json_integer_value(json_object_get(answer, "keys")),
                    (long long)json_integer_value(json_object_get(answer, "ms")));
        json_decref(answer);
    }
    if (rc == MRD_OK && !seeded)
        rc = pending_write(c, name, id, true, err);
    if (rc == MRD_OK && !seeded && (rc = wait_writable(c, master, nt, admin, err)) == MRD_OK) {
        writable_ms = mrd_now_ms() - t0;
        if (o->progress)
            fprintf(o->progress, "  writable after %.1f s (the masters loaded, with the linked "
                                 "replicas min_replicas_to_write asks)\n",
                    (double)writable_ms / 1000.0);
    }
    /* every master loaded its shard's keys, counting those that had
     * expired meanwhile */
    for (int t = 0; rc == MRD_OK && t < nt; t++) {
        store_info in;
        char *info = NULL;
        long long l = -1, e = -1;
        if (node_info(c, master[t], admin, &in, &info))
            load_counts(info, &l, &e);
        free(info);
        const catalog_shard *b = &m.shards[map[t]];
        if (l < 0 || l + e != b->keys)
            rc = mrd_error_set(err, MRD_ERR_STATE,
                               "%s:%d loaded %lld keys (%lld more had expired); shard %d of "
                               "backup %s holds %lld",
                               node_host(c, master[t])->name, c->plan->nodes[master[t]].port,
                               l, e, b->shard, id, b->keys);
        loaded += l;
        expired += e;
    }
    if (rc == MRD_OK)
        rc = wait_healthy(c, o->progress, err);
    long long healthy_ms = mrd_now_ms() - t0;
    if (rc == MRD_OK) {
        mrd_rm_rf(dir, NULL);
        pending_clear(c);
        *result = json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:O,s:b,s:b}", "id", id,
                            "topology", name, "keys", (json_int_t)m.keys, "keys_loaded",
                            (json_int_t)loaded, "keys_expired", (json_int_t)expired,
                            "writable_ms", (json_int_t)writable_ms, "healthy_ms",
                            (json_int_t)healthy_ms, "duration_ms",
                            (json_int_t)(mrd_now_ms() - t0), "shards", shards, "applied", 1,
                            "resumed", resume);
        if (!*result)
            rc = mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
out:
    explicit_bzero(admin, sizeof(admin));
    json_decref(shards);
    free(text);
    free(master);
    free(map);
    free(files);
    catalog_manifest_free(&m);
    status_free(&r);
    s3_close(&s3);
    return rc;
}
