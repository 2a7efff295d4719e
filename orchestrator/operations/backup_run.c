/* backup_run.c - `meridian backup`: every shard's RDB from a healthy
 * replica to object storage, the manifest last, then retention (see
 * backup_run.h). */
#include "backup_run.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "catalog.h"
#include "fsutil.h"
#include "log.h"
#include "rdb_scan.h"
#include "record.h"
#include "snapshot.h"
#include "status.h"

#define BACKUP_PROBE_MS 2000     /* each node's probe when choosing sources */
#define PROGRESS_EVERY_MS 1000   /* a progress line at most this often */
#define MANIFEST_MAX (16 * 1024 * 1024)

/* ==== shared with restore_run.c ==== */

mrd_rc backup_lock(const orch_ctx *c, int wait_ms, mrd_lock **out, mrd_error *err)
{
    char dir[MRD_PATH_MAX];
    if (mrd_path_fmt(dir, sizeof(dir), "%s/" BACKUP_DIR, c->state_dir) != MRD_OK)
        return mrd_error_set(err, MRD_ERR_INVALID, "the state dir's path is too long");
    MRD_TRY(mrd_mkdir_p(dir, 0700, err));
    mrd_lock_holder who = {0};
    mrd_rc rc = mrd_lock_take(dir, "backup.lock", "backup", wait_ms, out, &who, err);
    if (rc == MRD_ERR_TIMEOUT)
        mrd_error_set(err, rc,
                      "another %s of %s is running (pid %d); run this again once it has "
                      "finished",
                      who.what[0] ? who.what : "backup or restore", c->topo->name,
                      (int)who.pid);
    return rc;
}

mrd_rc backup_store_open(const orch_ctx *c, s3_client **out, mrd_error *err)
{
    const mrd_settings *s = &c->topo->settings;
    if (!s->backup.endpoint[0])
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "%s has no backup section: add \"backup\": {\"endpoint\": ..., "
                             "\"bucket\": ...} (see regions/README.md)",
                             c->topo->path);
    s3_config cfg = {.timeout_ms = 0};
    snprintf(cfg.endpoint, sizeof(cfg.endpoint), "%s", s->backup.endpoint);
    snprintf(cfg.bucket, sizeof(cfg.bucket), "%s", s->backup.bucket);
    snprintf(cfg.region, sizeof(cfg.region), "%s", s->backup.region);
    mrd_rc rc = s3_credentials_load(s->backup.credentials_file, &cfg, err);
    if (rc == MRD_OK)
        rc = s3_open(&cfg, out, err);
    explicit_bzero(cfg.secret_key, sizeof(cfg.secret_key));
    explicit_bzero(cfg.session_token, sizeof(cfg.session_token));
    return rc;
}

/* ==== progress ==== */

typedef struct progress {
    FILE *out;
    const char *what;  /* "shard 0: uploaded" */
    long long t0, last;
    long long shown;   /* the bytes the last line showed */
} progress;

static void progress_line(progress *p, long long done, long long total, bool last)
{
    long long now = mrd_now_ms();
    if (!p->out || (!last && now - p->last < PROGRESS_EVERY_MS) || (last && p->shown == done))
        return;
    p->last = now;
    p->shown = done;
    double s = (double)(now - p->t0) / 1000.0;
    fprintf(p->out, "  %s %.1f/%.1f MB (%.1f MB/s)\n", p->what, (double)done / 1e6,
            (double)total / 1e6, s > 0 ? (double)done / 1e6 / s : 0.0);
    fflush(p->out);
}

static void on_progress(void *ctx, long long done, long long total)
{
    progress_line(ctx, done, total, false);
}

/* ==== one shard ==== */

mrd_rc backup_sha256_file(const char *path, char hex[65], mrd_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return mrd_error_set(err, MRD_ERR_IO, "cannot read %s: %s", path, strerror(errno));
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    mrd_rc rc = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1
                    ? MRD_OK
                    : mrd_error_set(err, MRD_ERR_NOMEM, "cannot start a SHA-256");
    static unsigned char buf[1 << 16];
    size_t n;
    while (rc == MRD_OK && (n = fread(buf, 1, sizeof(buf), f)) > 0)
        if (EVP_DigestUpdate(md, buf, n) != 1)
            rc = mrd_error_set(err, MRD_ERR_IO, "SHA-256 of %s failed", path);
    if (rc == MRD_OK && ferror(f))
        rc = mrd_error_set(err, MRD_ERR_IO, "cannot read %s: %s", path, strerror(errno));
    unsigned char d[32];
    unsigned int dl = 0;
    if (rc == MRD_OK && EVP_DigestFinal_ex(md, d, &dl) != 1)
        rc = mrd_error_set(err, MRD_ERR_IO, "SHA-256 of %s failed", path);
    for (unsigned i = 0; rc == MRD_OK && i < dl; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    EVP_MD_CTX_free(md);
    fclose(f);
    return rc;
}

/* The node of shard S that a backup fetches from: a reachable replica
 * linked to the shard's master, the least lag first.  -1 when none. */
static int choose_source(const orch_ctx *c, const st_report *r, int s)
{
    int master = c->topo->mode == MRD_MODE_CLUSTER ? r->shards[s].master : r->master;
    if (master < 0)
        return -1;
    const char *maddr = c->topo->hosts[c->plan->nodes[master].host].address;
    int best = -1;
    for (int i = 0; i < r->nnodes; i++) {
        const st_node *n = &r->nodes[i];
        if (n->shard != s || i == master || !n->reachable || n->is_master || !n->link_up ||
            strcmp(n->master_host, maddr) != 0 || n->master_port != c->plan->nodes[master].port)
            continue;
        if (best < 0 || (n->lag_bytes >= 0 && n->lag_bytes < r->nodes[best].lag_bytes))
            best = i;
    }
    return best;
}

/* Fetch, check, count, upload and read back shard S from node SRC. */
static mrd_rc backup_shard(orch_ctx *c, const backup_opts *o, s3_client *s3, const char *id,
                           const char *work, int s, int src, const st_report *r,
                           catalog_shard *out, mrd_error *err)
{
    const mrd_settings *set = &c->topo->settings;
    const mrd_host *h = &c->topo->hosts[c->plan->nodes[src].host];
    int port = c->plan->nodes[src].port;
    char pass[256], path[MRD_PATH_MAX];
    memset(out, 0, sizeof(*out));
    out->shard = s;
    snprintf(out->source_host, sizeof(out->source_host), "%s", h->name);
    snprintf(out->source_address, sizeof(out->source_address), "%s", h->address);
    out->source_port = port;
    if (mrd_path_fmt(path, sizeof(path), "%s/shard-%d.rdb", work, s) != MRD_OK ||
        catalog_object(set->backup.prefix, c->topo->name, id, s, out->object,
                       sizeof(out->object)) != MRD_OK)
        return mrd_error_set(err, MRD_ERR_INVALID, "shard %d: a path is too long", s);
    MRD_TRY(orch_secret(c, "replication", pass, sizeof(pass), err));
    if (o->progress)
        fprintf(o->progress, "  shard %d: fetching the snapshot of %s (%s:%d)...\n", s,
                h->name, h->address, port);
    store_snapshot snap;
    mrd_rc rc = store_snapshot_fetch(h->address, port, "replication", pass, path,
                                     BACKUP_FETCH_TIMEOUT_MS, &snap, err);
    explicit_bzero(pass, sizeof(pass));
    if (rc != MRD_OK)
        return mrd_error_prefix(err, "shard %d", s);
    if (o->progress)
        fprintf(o->progress, "  shard %d: fetched %.1f MB in %.2f s (%.1f MB/s), checked\n",
                s, (double)snap.bytes / 1e6, (double)snap.duration_ms / 1000.0,
                snap.duration_ms > 0 ? (double)snap.bytes / 1e3 / (double)snap.duration_ms
                                     : 0.0);
    store_rdb_summary sum;
    if ((rc = store_rdb_scan_file(path, &sum, err)) != MRD_OK)
        return mrd_error_prefix(err, "shard %d: the snapshot of %s", s, h->name);
    MRD_TRY(backup_sha256_file(path, out->sha256, err));
    out->bytes = snap.bytes;
    out->keys = sum.keys;
    out->expires = sum.expires;
    snprintf(out->repl_id, sizeof(out->repl_id), "%s", snap.repl_id);
    out->repl_offset = snap.repl_offset;
    out->rdb_version = snap.rdb_version;
    if (c->topo->mode == MRD_MODE_CLUSTER)
        for (int i = 0; i < r->shards[s].nranges && i < CATALOG_MAX_RANGES; i++) {
            out->ranges[i][0] = r->shards[s].ranges[i].first;
            out->ranges[i][1] = r->shards[s].ranges[i].last;
            out->nranges = i + 1;
        }

    char what[64];
    snprintf(what, sizeof(what), "shard %d: uploaded", s);
    progress p = {.out = o->progress, .what = what, .t0 = mrd_now_ms()};
    if ((rc = s3_put_file(s3, out->object, path, out->sha256, on_progress, &p, err)) != MRD_OK)
        return rc;
    progress_line(&p, out->bytes, out->bytes, true);
    s3_object back;
    MRD_TRY(s3_head(s3, out->object, &back, err));
    if (back.size != out->bytes || strcmp(back.sha256, out->sha256) != 0)
        return mrd_error_set(err, MRD_ERR_IO,
                             "s3://%s/%s reads back as %lld bytes, sha256 %s; %lld bytes, "
                             "sha256 %s were sent",
                             set->backup.bucket, out->object, back.size,
                             back.sha256[0] ? back.sha256 : "(none)", out->bytes, out->sha256);
    unlink(path);
    return MRD_OK;
}

/* ==== retention ==== */

/* Delete every object of backup ID in FOLDER (OBJS, N listed). */
static mrd_rc delete_backup(s3_client *s3, const char *folder, const char *id,
                            const s3_object *objs, size_t n, mrd_error *err)
{
    char pre[1100];
    snprintf(pre, sizeof(pre), "%s%s/", folder, id);
    size_t pl = strlen(pre);
    /* the manifest first: a half-deleted backup must not look complete */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n; i++) {
            if (strncmp(objs[i].key, pre, pl) != 0 ||
                (strcmp(objs[i].key + pl, CATALOG_MANIFEST) == 0) != (pass == 0))
                continue;
            MRD_TRY(s3_delete(s3, objs[i].key, err));
        }
    return MRD_OK;
}

/* The objects in FOLDER (*objs, *n: new) and the backups they make (*e,
 * *ne: new, newest first). */
static mrd_rc list_backups(s3_client *s3, const char *folder, s3_object **objs, size_t *n,
                           catalog_entry **e, size_t *ne, mrd_error *err)
{
    *e = NULL;
    *ne = 0;
    MRD_TRY(s3_list(s3, folder, objs, n, err));
    const char **keys = calloc(*n ? *n : 1, sizeof(*keys));
    long long *sizes = calloc(*n ? *n : 1, sizeof(*sizes));
    mrd_rc rc = keys && sizes ? MRD_OK : mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    for (size_t i = 0; rc == MRD_OK && i < *n; i++) {
        keys[i] = (*objs)[i].key;
        sizes[i] = (*objs)[i].size;
    }
    if (rc == MRD_OK)
        rc = catalog_group(folder, keys, sizes, *n, e, ne, err);
    free(keys);
    free(sizes);
    return rc;
}

/* After backup ID verified: old backups, interrupted ones and abandoned
 * multipart uploads go.  DELETED gets the ids deleted. */
static mrd_rc retention(const orch_ctx *c, s3_client *s3, const char *folder, const char *id,
                        json_t *deleted, int *aborted, mrd_error *err)
{
    const mrd_settings *set = &c->topo->settings;
    s3_object *objs = NULL;
    size_t n = 0, ne = 0;
    catalog_entry *e = NULL;
    mrd_rc rc = list_backups(s3, folder, &objs, &n, &e, &ne, err);
    bool *del = rc == MRD_OK ? calloc(ne ? ne : 1, sizeof(*del)) : NULL;
    if (rc == MRD_OK && !del)
        rc = mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    if (rc == MRD_OK)
        catalog_retention(e, ne, id, set->backup.keep_last, set->backup.keep_days, time(NULL),
                          del);
    for (size_t i = 0; rc == MRD_OK && i < ne; i++)
        if (del[i] && (rc = delete_backup(s3, folder, e[i].id, objs, n, err)) == MRD_OK)
            json_array_append_new(deleted, json_string(e[i].id));
    s3_upload *up = NULL;
    size_t nup = 0;
    if (rc == MRD_OK && (rc = s3_list_uploads(s3, folder, &up, &nup, err)) == MRD_OK)
        for (size_t i = 0; rc == MRD_OK && i < nup; i++)
            if ((rc = s3_abort_upload(s3, up[i].key, up[i].upload_id, err)) == MRD_OK)
                (*aborted)++;
    if (rc == MRD_ERR_UNSUPPORTED) {
        /* a server without ListMultipartUploads keeps no uploads to list */
        *aborted = -1;
        rc = MRD_OK;
    }
    free(up);
    free(del);
    free(e);
    free(objs);
    return rc;
}

/* ==== the run ==== */

static json_t *shard_result(const catalog_shard *s)
{
    return json_pack("{s:i,s:s,s:I,s:I,s:s,s:s,s:i}", "shard", s->shard, "object", s->object,
                     "bytes", (json_int_t)s->bytes, "keys", (json_int_t)s->keys, "sha256",
                     s->sha256, "source", s->source_host, "port", s->source_port);
}

mrd_rc backup_run(orch_ctx *c, const backup_opts *o, json_t **result, mrd_error *err)
{
    *result = NULL;
    const mrd_settings *set = &c->topo->settings;
    long long t0 = mrd_now_ms();
    s3_client *s3 = NULL;
    MRD_TRY(backup_store_open(c, &s3, err));
    catalog_manifest m = {0};
    snprintf(m.topology, sizeof(m.topology), "%s", c->topo->name);
    snprintf(m.mode, sizeof(m.mode), "%s",
             c->topo->mode == MRD_MODE_CLUSTER ? "cluster" : "sentinel");
    char folder[1024], manifest_key[1100], work[MRD_PATH_MAX];
    st_report *r = NULL;
    json_t *deleted = json_array();
    int aborted = 0;
    mrd_rc rc = catalog_folder(set->backup.prefix, c->topo->name, folder, sizeof(folder)) ==
                            MRD_OK &&
                        mrd_path_fmt(work, sizeof(work), "%s/" BACKUP_DIR "/work",
                                     c->state_dir) == MRD_OK
                    ? MRD_OK
                    : mrd_error_set(err, MRD_ERR_INVALID, "backup.prefix is too long");
    /* the storage first: a wrong key or bucket is found before any replica
     * forks for a snapshot; and the id must be new there (ids are seconds:
     * a backup right after another waits for the next second) */
    s3_object *seen = NULL;
    size_t nseen = 0;
    if (rc == MRD_OK)
        rc = s3_list(s3, folder, &seen, &nseen, err);
    for (bool taken = true; rc == MRD_OK && taken;) {
        m.created = (long long)time(NULL);
        catalog_id((time_t)m.created, m.id);
        char pre[1100];
        snprintf(pre, sizeof(pre), "%s%s/", folder, m.id);
        taken = false;
        for (size_t i = 0; i < nseen && !taken; i++)
            taken = strncmp(seen[i].key, pre, strlen(pre)) == 0;
        if (taken)
            mrd_sleep_ms(1000 - (int)(mrd_wall_ms() % 1000) + 10);
    }
    free(seen);
    if (rc == MRD_OK &&
        catalog_object(set->backup.prefix, c->topo->name, m.id, -1, manifest_key,
                       sizeof(manifest_key)) != MRD_OK)
        rc = mrd_error_set(err, MRD_ERR_INVALID, "backup.prefix is too long");
    if (rc == MRD_OK && o->progress)
        fprintf(o->progress, "backup %s: %s to s3://%s/%s\n", c->topo->name, m.id,
                set->backup.bucket, folder);
    if (rc == MRD_OK) {
        mrd_rm_rf(work, NULL); /* what an interrupted backup left */
        rc = mrd_mkdir_p(work, 0700, err);
    }
    if (rc == MRD_OK)
        rc = status_probe(c, BACKUP_PROBE_MS, &r, err);
    int nshards = 0;
    for (int s = 0; rc == MRD_OK && s < c->plan->nshards; s++)
        nshards += !c->plan->shards[s].retiring;
    if (rc == MRD_OK && !(m.shards = calloc((size_t)nshards, sizeof(*m.shards))))
        rc = mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    for (int s = 0; rc == MRD_OK && s < nshards; s++) {
        int src = choose_source(c, r, s);
        if (src < 0) {
            rc = mrd_error_set(err, MRD_ERR_STATE,
                               "shard %d has no healthy replica to back up from (a replica "
                               "linked to a master the deployment agrees on); the leader is "
                               "never used, it would fork: run `meridian status`",
                               s);
            break;
        }
        rc = backup_shard(c, o, s3, m.id, work, s, src, r, &m.shards[s], err);
        if (rc == MRD_OK) {
            m.nshards = s + 1;
            m.keys += m.shards[s].keys;
            m.bytes += m.shards[s].bytes;
        }
    }
    /* the manifest last: only now does the backup look complete */
    m.duration_ms = mrd_now_ms() - t0;
    json_t *mj = rc == MRD_OK ? catalog_manifest_to_json(&m) : NULL;
    char *text = mj ? json_dumps(mj, JSON_INDENT(2)) : NULL;
    if (rc == MRD_OK && !text)
        rc = mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    if (rc == MRD_OK)
        rc = s3_put_bytes(s3, manifest_key, text, strlen(text), "application/json", err);
    s3_object back;
    if (rc == MRD_OK && (rc = s3_head(s3, manifest_key, &back, err)) == MRD_OK &&
        back.size != (long long)strlen(text))
        rc = mrd_error_set(err, MRD_ERR_IO, "s3://%s/%s reads back as %lld bytes, not %zu",
                           set->backup.bucket, manifest_key, back.size, strlen(text));
    if (rc == MRD_OK) {
        backup_last last = {.created = m.created, .keys = m.keys, .bytes = m.bytes};
        snprintf(last.id, sizeof(last.id), "%s", m.id);
        snprintf(last.bucket, sizeof(last.bucket), "%s", set->backup.bucket);
        snprintf(last.folder, sizeof(last.folder), "%s", folder);
        rc = backup_last_write(c->state_dir, &last, err);
    }
    if (rc == MRD_OK && o->progress)
        fprintf(o->progress, "  manifest written: %lld keys, %.1f MB in %d shard%s\n", m.keys,
                (double)m.bytes / 1e6, m.nshards, m.nshards == 1 ? "" : "s");
    /* retention only after the new backup is verified; its failure does not
     * undo the backup, it is reported */
    char why[512] = "";
    if (rc == MRD_OK) {
        mrd_error rerr;
        if (retention(c, s3, folder, m.id, deleted, &aborted, &rerr) != MRD_OK)
            snprintf(why, sizeof(why), "%s", rerr.msg);
        if (why[0] && o->progress)
            fprintf(o->progress, "  retention: %s (the next backup tries again)\n", why);
        else if (o->progress && (json_array_size(deleted) || aborted > 0))
            fprintf(o->progress, "  retention: %zu old backup%s deleted, %d abandoned upload%s "
                                 "aborted\n",
                    json_array_size(deleted), json_array_size(deleted) == 1 ? "" : "s",
                    aborted, aborted == 1 ? "" : "s");
    }
    if (rc == MRD_OK) {
        json_t *shards = json_array();
        for (int s = 0; s < m.nshards; s++)
            json_array_append_new(shards, shard_result(&m.shards[s]));
        *result = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:o,s:O,s:i,s:o}", "id", m.id,
                            "topology", m.topology, "bucket", set->backup.bucket, "manifest",
                            manifest_key, "keys", (json_int_t)m.keys, "bytes",
                            (json_int_t)m.bytes, "duration_ms",
                            (json_int_t)(mrd_now_ms() - t0), "shards", shards, "deleted",
                            deleted, "aborted_uploads", aborted > 0 ? aborted : 0,
                            "retention_error",
                            why[0] ? json_string(why) : json_null());
        if (!*result)
            rc = mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    mrd_rm_rf(work, NULL);
    json_decref(deleted);
    free(text);
    json_decref(mj);
    catalog_manifest_free(&m);
    status_free(&r);
    s3_close(&s3);
    return rc;
}

mrd_rc backup_list(orch_ctx *c, json_t **result, mrd_error *err)
{
    *result = NULL;
    const mrd_settings *set = &c->topo->settings;
    char folder[1024];
    if (catalog_folder(set->backup.prefix, c->topo->name, folder, sizeof(folder)) != MRD_OK)
        return mrd_error_set(err, MRD_ERR_INVALID, "backup.prefix is too long");
    s3_client *s3 = NULL;
    MRD_TRY(backup_store_open(c, &s3, err));
    s3_object *objs = NULL;
    size_t n = 0, ne = 0;
    catalog_entry *e = NULL;
    mrd_rc rc = list_backups(s3, folder, &objs, &n, &e, &ne, err);
    json_t *list = json_array();
    for (size_t i = 0; rc == MRD_OK && i < ne; i++) {
        char when[32];
        struct tm tm;
        gmtime_r(&e[i].created, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        json_array_append_new(list, json_pack("{s:s,s:s,s:b,s:I,s:i}", "id", e[i].id,
                                              "created", when, "complete", e[i].complete,
                                              "bytes", (json_int_t)e[i].bytes, "objects",
                                              e[i].objects));
    }
    if (rc == MRD_OK)
        *result = json_pack("{s:s,s:s,s:O}", "bucket", set->backup.bucket, "folder", folder,
                            "backups", list);
    json_decref(list);
    free(e);
    free(objs);
    s3_close(&s3);
    return rc;
}
