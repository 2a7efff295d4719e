/* catalog.h - what a backup is in object storage: its id, the names of
 * its objects, its manifest, and which old backups retention deletes.
 *
 * A backup of topology NAME with id ID is a folder of objects:
 *
 *   PREFIX NAME/ID/shard-0.rdb      one RDB per shard, as fetched from a
 *   PREFIX NAME/ID/shard-1.rdb      replica of it (cluster mode: N)
 *   PREFIX NAME/ID/manifest.json    written last: a backup without it is
 *                                   incomplete (interrupted) and is never
 *                                   restored from; the next backup deletes it
 *
 * The id is the UTC time the backup started, "20261202T193012Z", so ids
 * sort as times do.  Pure: no I/O. */
#ifndef MRD_CATALOG_H
#define MRD_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "err.h"

#define CATALOG_ID_LEN 17          /* "20261202T193012Z" and its NUL */
#define CATALOG_MANIFEST "manifest.json"
#define CATALOG_FORMAT 1           /* the manifest's "format" */
#define CATALOG_MAX_SHARDS 1024
#define CATALOG_MAX_RANGES 64      /* slot ranges kept per shard */

/* The id of a backup started at T (UTC): "YYYYMMDDTHHMMSSZ". */
void catalog_id(time_t t, char id[CATALOG_ID_LEN]);

/* Whether ID is an id catalog_id() makes; *T (may be NULL) gets its time. */
bool catalog_id_parse(const char *id, time_t *t);

/* The folder of backups of topology NAME under PREFIX: "PREFIX NAME/"
 * (no space).  MRD_ERR_INVALID when BUF (N bytes) is too small. */
mrd_rc catalog_folder(const char *prefix, const char *name, char *buf, size_t n);

/* The object of shard SHARD of backup ID, or its manifest (SHARD -1). */
mrd_rc catalog_object(const char *prefix, const char *name, const char *id, int shard,
                      char *buf, size_t n);

/* One shard of a backup. */
typedef struct catalog_shard {
    int shard;
    char object[1024];     /* its object's key */
    long long bytes;
    char sha256[65];       /* hex */
    long long keys;        /* key/value entries in the RDB, every database */
    long long expires;     /* of which with an expire time */
    char source_host[64];  /* the replica it was fetched from */
    char source_address[64];
    int source_port;
    char repl_id[41];      /* the RDB's replication id and offset */
    long long repl_offset;
    int rdb_version;
    int nranges;           /* cluster mode: the slots it owned, [first, last] */
    int ranges[CATALOG_MAX_RANGES][2];
} catalog_shard;

/* A backup's manifest. */
typedef struct catalog_manifest {
    char id[CATALOG_ID_LEN];
    char topology[64];
    char mode[16];         /* "sentinel", "cluster" */
    long long created;     /* unix seconds: when it started */
    long long duration_ms;
    long long keys;        /* the shards' sum */
    long long bytes;
    catalog_shard *shards; /* owned (catalog_manifest_free) */
    int nshards;
} catalog_manifest;

/* M as JSON (new reference), NULL on OOM. */
json_t *catalog_manifest_to_json(const catalog_manifest *m);

/* Parse a manifest (TEXT, LEN bytes; NAME names it in errors).  *out is
 * filled; catalog_manifest_free() it.  MRD_ERR_PARSE with a sentence
 * naming NAME and the field when it is not a manifest of this format. */
mrd_rc catalog_manifest_parse(const char *text, size_t len, const char *name,
                              catalog_manifest *out, mrd_error *err);

void catalog_manifest_free(catalog_manifest *m);

/* One backup folder as a listing shows it. */
typedef struct catalog_entry {
    char id[CATALOG_ID_LEN];
    time_t created;        /* from the id */
    bool complete;         /* its manifest is there */
    long long bytes;       /* its objects' sizes */
    int objects;
} catalog_entry;

/* Group the object keys KEYS (N, with sizes SIZES) under FOLDER into
 * backups: one entry per id (keys that are not FOLDER ID/... with a valid
 * id are ignored), newest first.  *out is new (free()); *nout its length. */
mrd_rc catalog_group(const char *folder, const char *const *keys, const long long *sizes,
                     size_t n, catalog_entry **out, size_t *nout, mrd_error *err);

/* Retention, after backup CURRENT was written and verified: which entries
 * of E (N, newest first, as catalog_group gives) to delete, in DEL (N).
 *   - a complete backup is kept while it is one of the KEEP_LAST newest
 *     complete ones or younger than KEEP_DAYS days at NOW (the newest
 *     complete one, CURRENT, is always kept);
 *   - an incomplete one (an interrupted backup) other than CURRENT is
 *     deleted: backups run one at a time (the state dir's lock).
 * Returns how many are to be deleted. */
int catalog_retention(const catalog_entry *e, size_t n, const char *current, int keep_last,
                      int keep_days, time_t now, bool *del);

#endif
