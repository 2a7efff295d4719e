/* settings.h - every topology setting as one row of one table.
 *
 * As Redis' config.c does with createIntConfig(), one row says all there
 * is to know about a setting: its section and key in the topology file,
 * its type and bounds, its default, the line the README documents it
 * with, where it lands (a redis.conf or sentinel.conf directive, the
 * agent, the planner) and how a change reaches a running deployment.
 * The topology parser, the defaults, the manifest, the template variables,
 * the README's key tables (`meridian settings --markdown`, checked by a
 * unit test) and deploy's reconcile all follow the table, so a new setting
 * is one row plus one struct field.
 *
 * Pure: no I/O.  The table is static and read-only (thread-safe). */
#ifndef MRD_SETTINGS_H
#define MRD_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "err.h"

#define MRD_NAME_MAX 64 /* names: [A-Za-z0-9._-], 1..63 characters, not "." or "..",
                           no leading '-' (they become paths and arguments) */
#define MRD_SIZE_MAX 32 /* Redis memory size strings: "64mb", "1gb", "0" */
#define MRD_PROGRAM_MAX 256 /* a program: a bare name looked up on PATH, or an
                               absolute path ("/opt/redis-7.2/bin/redis-server");
                               also a file setting's room (MRD_SETTING_FILE) */

/* The min-replicas-to-write an agent fences an isolated master with: more
 * than any topology has, so that the node refuses every write
 * (NOREPLICAS).  One value for both sides: the agent sets it and lifts it
 * (agent/heal.h); reconcile and status recognise it as the agent's fence,
 * never as drift, and never set it back themselves. */
#define MRD_FENCE_MIN_REPLICAS 1000

/* The values.  Both the topology (what the file says) and the manifest
 * (what one host runs) hold one. */
typedef struct mrd_settings {
    struct {
        int port;
        char leader_region[MRD_NAME_MAX];
        char maxmemory[MRD_SIZE_MAX];
        char repl_backlog[MRD_SIZE_MAX];
        int io_threads;
        char redis_server[MRD_PROGRAM_MAX];
        char persistence[8]; /* "none" | "aof" */
    } store;
    struct {
        int count;
        int port;
        int quorum; /* topology: 0 = majority; manifest: resolved by the plan */
        int down_after_ms;
        int failover_timeout_ms;
    } sentinel;
    struct {
        int min_replicas_to_write;
        int min_replicas_max_lag_s;
        int wait_replicas;
    } consistency;
    struct {
        int port;
        int interval_ms;
        bool metrics_open;
        bool crash_fast_path;
        bool fence;
        int replace_after_s;
    } agent;
    struct {
        int shards;
        int replicas_per_shard;
        int node_timeout_ms;
    } cluster;
    struct {
        bool enabled;
        int cert_days;
        int renew_days;
        char ca_file[MRD_PROGRAM_MAX];  /* "": meridian's own CA */
        char cert_dir[MRD_PROGRAM_MAX]; /* with ca_file: HOST.crt, HOST.key */
    } tls;
    struct {
        char endpoint[MRD_PROGRAM_MAX]; /* "": no backups configured */
        char bucket[64];
        char prefix[MRD_PROGRAM_MAX];
        char region[64];
        char credentials_file[MRD_PROGRAM_MAX]; /* "": the AWS_* environment */
        int keep_last;
        int keep_days;
        int warn_after_h;
    } backup;
} mrd_settings;

typedef enum mrd_setting_type {
    MRD_SETTING_INT = 0, /* an integer within [min, max] */
    MRD_SETTING_BOOL,    /* true or false */
    MRD_SETTING_SIZE,    /* a Redis memory size ("64mb"), at least min bytes */
    MRD_SETTING_REGION,  /* the name of a region of the file */
    MRD_SETTING_PROGRAM, /* a program to run: a bare name (looked up on PATH) or
                            an absolute path; no spaces or control bytes */
    MRD_SETTING_FILE,    /* a file or folder on the operator's machine: "" (none),
                            an absolute path or one starting with "~/" */
    MRD_SETTING_TEXT,    /* printable ASCII, no spaces, shorter than the field;
                            the row's check() says more */
    MRD_SETTING_CHOICE,  /* one of the row's choices */
} mrd_setting_type;

/* One value of an MRD_SETTING_CHOICE row and how Redis reports it. */
typedef struct mrd_choice {
    const char *value; /* as written in a topology file: "aof" */
    const char *live;  /* CONFIG GET's answer for the row's directive: "yes" */
} mrd_choice;

/* Where a setting lands (bits). */
#define MRD_LANDS_REDIS 0x1u    /* a redis.conf directive on every node */
#define MRD_LANDS_SENTINEL 0x2u /* a sentinel.conf directive on every sentinel */
#define MRD_LANDS_AGENT 0x4u    /* read by the agent from its manifest */
#define MRD_LANDS_PLANNER 0x8u  /* shapes the plan (placement, ports) */
#define MRD_LANDS_HEAL 0x10u    /* read by `meridian heal` (the operator side) */
#define MRD_LANDS_DEPLOY 0x20u  /* read by `meridian deploy` (the operator side) */
#define MRD_LANDS_BACKUP 0x40u  /* read by `meridian backup`, `restore` and `status` */

/* How a changed value reaches a running deployment. */
typedef enum mrd_setting_apply {
    MRD_APPLY_LIVE = 0, /* CONFIG SET + CONFIG REWRITE on every node, or
                           SENTINEL SET on every sentinel */
    MRD_APPLY_AGENT,    /* the agent restarts with its new manifest; Redis
                           and Sentinel are untouched */
    MRD_APPLY_RESTART,  /* Redis or Sentinel must restart (a rollout) */
    MRD_APPLY_PLAN,     /* changes the placement itself */
    MRD_APPLY_SCALE,    /* cluster mode: deploy adds or retires shards and
                           moves slots online (orchestrator/cluster/scale.c) */
    MRD_APPLY_NEXT_RUN, /* read by the next `meridian heal`; nothing runs it */
    MRD_APPLY_NEXT_DEPLOY, /* read by the next `meridian deploy` */
    MRD_APPLY_NEXT_BACKUP, /* read by the next `meridian backup` (and `status`) */
} mrd_setting_apply;

typedef struct mrd_setting {
    const char *section;   /* "store" */
    const char *key;       /* "maxmemory" */
    mrd_setting_type type;
    long long min, max;    /* INT: bounds; SIZE: min is the least bytes */
    const char *def;       /* the default as written in a file ("256mb",
                              "5000", "true"); NULL: required where used */
    const char *doc;       /* constraints and meaning, for the README */
    unsigned lands;        /* MRD_LANDS_* */
    const char *directive; /* the redis.conf or sentinel.conf directive
                              (also what CONFIG/SENTINEL SET takes), or NULL */
    mrd_setting_apply apply;
    size_t offset;         /* of the value in mrd_settings */
    size_t size;           /* of the value (the buffer, for strings) */
    bool optional;         /* a manifest may lack it (written by a meridian
                              older than the row): the default, which is what
                              that meridian ran */
    const mrd_choice *choices; /* CHOICE: the values, ending with {NULL, NULL} */
    /* TEXT: what the value must be beyond printable ASCII without spaces
     * (NULL: nothing more); on false, WHY (N bytes) says it, naming NAME */
    bool (*check)(const char *name, const char *text, char *why, size_t n);
} mrd_setting;

/* The table, in README order; *n gets its length. */
const mrd_setting *mrd_settings_table(size_t *n);

/* The row of SECTION.KEY, or NULL. */
const mrd_setting *mrd_setting_find(const char *section, const char *key);

/* The keys of SECTION, NULL-terminated, in table order (static). */
const char *const *mrd_settings_keys(const char *section);

/* Fill every setting with its default (a required one is left empty). */
void mrd_settings_defaults(mrd_settings *s);

/* Set ROW from the JSON value V.  MRD_ERR_INVALID with a sentence that
 * names the key and says what is wanted ("store.maxmemory must be ...")
 * in WHY (N bytes) when V has the wrong type or is out of bounds; S is
 * then unchanged. */
mrd_rc mrd_setting_set_json(const mrd_setting *row, const json_t *v, mrd_settings *s,
                            char *why, size_t n);

/* ROW's value in S as JSON (new reference). */
json_t *mrd_setting_to_json(const mrd_setting *row, const mrd_settings *s);

/* ROW's value as written in a topology file, without quotes ("256mb",
 * "5000", "true"). */
void mrd_setting_format(const mrd_setting *row, const mrd_settings *s, char *buf, size_t n);

/* ROW's value as Redis or Sentinel reports it (CONFIG GET, SENTINEL
 * MASTER): a size in bytes, an integer, "yes"/"no".  False when the row
 * has no directive. */
bool mrd_setting_live_value(const mrd_setting *row, const mrd_settings *s, char *buf,
                            size_t n);

/* The rows with a directive that land in LANDS (MRD_LANDS_REDIS or
 * _SENTINEL) and change live: what deploy reconciles and status compares.
 * At most MAX into ROWS; returns how many. */
size_t mrd_settings_live_rows(unsigned lands, const mrd_setting **rows, size_t max);

/* Whether A and B differ in ROW. */
bool mrd_setting_differs(const mrd_setting *row, const mrd_settings *a,
                         const mrd_settings *b);

/* {"store": {...}, "sentinel": {...}, ...}: every row (new reference). */
json_t *mrd_settings_to_json(const mrd_settings *s);

/* The inverse, as the manifest reads it: every row must be present and
 * valid.  MRD_ERR_INVALID naming the first that is not. */
mrd_rc mrd_settings_from_json(const json_t *j, mrd_settings *s, mrd_error *err);

/* Parse a Redis memory size ("0", "512", "64kb", "64mb", "1gb", case-
 * insensitive; k/m/g without b are powers of 1000 as in redis.conf).
 * Returns -1 when malformed. */
long long mrd_parse_size(const char *s);

/* Whether TEXT (LEN bytes) is a valid MRD_SETTING_PROGRAM value: 1 to
 * MRD_PROGRAM_MAX - 1 bytes, printable ASCII without spaces, and either a
 * bare name (no '/') or an absolute path that does not end in '/'.  On
 * false, WHY (N bytes) gets what is wrong, naming NAME. */
bool mrd_setting_program_ok(const char *name, const char *text, size_t len, char *why,
                            size_t n);

/* Whether TEXT (LEN bytes) is a valid MRD_SETTING_FILE value: empty, or
 * an absolute path or one starting with "~/", of at most MRD_PROGRAM_MAX - 1
 * bytes without control bytes.  On false, WHY (N bytes) gets what is
 * wrong, naming NAME. */
bool mrd_setting_file_ok(const char *name, const char *text, size_t len, char *why,
                         size_t n);

/* "integer", "port", "boolean", "size", "name", "program" or "path"
 * (static). */
const char *mrd_setting_type_name(const mrd_setting *row);

/* "redis.conf `maxmemory`, agent, ..." into BUF. */
void mrd_setting_lands_text(const mrd_setting *row, char *buf, size_t n);

/* How a change applies: "live", "agent restart", "needs restart" or "new
 * plan" (static). */
const char *mrd_setting_apply_name(mrd_setting_apply a);

/* The README table of SECTION (markdown, new string): key, type, default,
 * constraints, where it lands, live. */
char *mrd_settings_markdown(const char *section);

/* Whether TEXT is empty or an S3 bucket name: 3 to 63 lower-case letters,
 * digits, '.' and '-', starting and ending with a letter or digit, no
 * "..".  On false, WHY (N bytes) says what is wrong, naming NAME. */
bool mrd_bucket_name_ok(const char *name, const char *text, char *why, size_t n);

#endif
