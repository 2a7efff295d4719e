/* settings.c - the settings table and the functions every consumer of it
 * shares (see settings.h). */
#include "settings.h"

#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"

#define PORT_MAX 65535
/* Redis' least repl-backlog-size; SIZE minimums are whole KiB (the
 * parser's "too small" message says them in kb) */
#define REPL_BACKLOG_MIN (16 * 1024)
#define MAX_SENTINELS 15
#define CLUSTER_SLOTS 16384
#define IO_THREADS_MAX 128 /* Redis' own bound */
#define CERT_DAYS_MAX 36500 /* common/certs.h MRD_CERT_MAX_DAYS */

#define AT_(field) offsetof(mrd_settings, field), sizeof(((mrd_settings *)0)->field)
#define AT(field) AT_(field), false, NULL, NULL
/* a row added after manifest version 3: a manifest may lack it (written by
 * an older meridian, which ran the default) */
#define AT_OPTIONAL(field) AT_(field), true, NULL, NULL
/* optional rows of the CHOICE and TEXT types */
#define AT_CHOICE(field, choices) AT_(field), true, choices, NULL
#define AT_TEXT(field, check) AT_(field), true, NULL, check

/* ==== THE TABLE ======================================================== */

static const mrd_choice persistence_choices[] = {
    {"none", "no"},
    {"aof", "yes"},
    {NULL, NULL},
};

static bool endpoint_ok(const char *name, const char *text, char *why, size_t n)
{
    const char *host = strncmp(text, "http://", 7) == 0    ? text + 7
                       : strncmp(text, "https://", 8) == 0 ? text + 8
                                                           : NULL;
    if (!*text || (host && *host && *host != '/'))
        return true;
    snprintf(why, n, "%s must be empty or a URL: \"http://\" or \"https://\" and a host",
             name);
    return false;
}

static bool prefix_ok(const char *name, const char *text, char *why, size_t n)
{
    if (text[0] != '/')
        return true;
    snprintf(why, n, "%s must not start with '/': object names are relative to the bucket",
             name);
    return false;
}

static bool region_ok(const char *name, const char *text, char *why, size_t n)
{
    size_t len = strlen(text);
    bool ok = len > 0;
    for (size_t i = 0; ok && i < len; i++)
        ok = (text[i] >= 'a' && text[i] <= 'z') || (text[i] >= '0' && text[i] <= '9') ||
             text[i] == '-';
    if (!ok)
        snprintf(why, n, "%s must be a region name: lower-case letters, digits and '-' "
                         "(\"us-east-1\")", name);
    return ok;
}

static const mrd_setting table[] = {
    /* ---- store ---- */
    {"store", "port", MRD_SETTING_INT, 1, PORT_MAX, "16379",
     "differs from `sentinel.port` and `agent.port`",
     MRD_LANDS_REDIS | MRD_LANDS_PLANNER, "port", MRD_APPLY_RESTART, AT(store.port)},
    {"store", "leader_region", MRD_SETTING_REGION, 0, 0, NULL,
     "sentinel mode: required, must name a region of this file (where the leader starts); "
     "cluster mode: not needed (its masters are spread over the regions)",
     MRD_LANDS_PLANNER, NULL, MRD_APPLY_PLAN, AT(store.leader_region)},
    {"store", "maxmemory", MRD_SETTING_SIZE, 0, 0, "256mb", "`\"0\"` means no limit",
     MRD_LANDS_REDIS, "maxmemory", MRD_APPLY_LIVE, AT(store.maxmemory)},
    {"store", "repl_backlog", MRD_SETTING_SIZE, REPL_BACKLOG_MIN, 0, "64mb",
     "at least `\"16kb\"`; must hold the writes made while a lost replica is rebuilt, "
     "or it needs a full resync",
     MRD_LANDS_REDIS, "repl-backlog-size", MRD_APPLY_LIVE, AT(store.repl_backlog)},
    {"store", "io_threads", MRD_SETTING_INT, 1, IO_THREADS_MAX, "1",
     "1 to 128; threads for socket reads and writes (Redis 7.0 cannot change it live: "
     "a rolling restart applies it)",
     MRD_LANDS_REDIS, "io-threads", MRD_APPLY_RESTART, AT_OPTIONAL(store.io_threads)},
    {"store", "redis_server", MRD_SETTING_PROGRAM, 0, 0, "redis-server",
     "the program the agent starts nodes with: a name looked up on `PATH`, or an "
     "absolute path (an upgrade: `meridian rollout --upgrade` restarts every node with it; "
     "sentinels run `redis-sentinel`)",
     MRD_LANDS_AGENT, NULL, MRD_APPLY_RESTART, AT_OPTIONAL(store.redis_server)},
    {"store", "persistence", MRD_SETTING_CHOICE, 0, 0, "none",
     "`\"none\"`: no data on disk, durability comes from the copies in other regions; "
     "`\"aof\"`: every node also appends its writes to disk (`appendfsync everysec`), "
     "which keeps at most about a second of writes through a power loss of every region "
     "(README: \"Persistence on disk\"; backups: \"Backups\")",
     MRD_LANDS_REDIS | MRD_LANDS_AGENT, "appendonly", MRD_APPLY_LIVE,
     AT_CHOICE(store.persistence, persistence_choices)},
    /* ---- sentinel ---- */
    {"sentinel", "count", MRD_SETTING_INT, 1, MAX_SENTINELS, "3",
     "1 to 15, and at most the number of hosts (one sentinel per host)",
     MRD_LANDS_PLANNER, NULL, MRD_APPLY_PLAN, AT(sentinel.count)},
    {"sentinel", "port", MRD_SETTING_INT, 1, PORT_MAX, "26379",
     "differs from `store.port` and `agent.port`",
     MRD_LANDS_SENTINEL | MRD_LANDS_PLANNER, "port", MRD_APPLY_RESTART,
     AT(sentinel.port)},
    {"sentinel", "quorum", MRD_SETTING_INT, 0, MAX_SENTINELS, "0",
     "0 to `count`; 0 means a majority of `count`",
     MRD_LANDS_SENTINEL | MRD_LANDS_PLANNER, "quorum", MRD_APPLY_LIVE, AT(sentinel.quorum)},
    {"sentinel", "down_after_ms", MRD_SETTING_INT, 100, INT_MAX, "5000", "at least 100",
     MRD_LANDS_SENTINEL | MRD_LANDS_AGENT, "down-after-milliseconds", MRD_APPLY_LIVE,
     AT(sentinel.down_after_ms)},
    {"sentinel", "failover_timeout_ms", MRD_SETTING_INT, 1000, INT_MAX, "60000",
     "at least 1000", MRD_LANDS_SENTINEL | MRD_LANDS_AGENT, "failover-timeout",
     MRD_APPLY_LIVE, AT(sentinel.failover_timeout_ms)},
    /* ---- consistency ---- */
    {"consistency", "min_replicas_to_write", MRD_SETTING_INT, 0, INT_MAX, "0",
     "0 to hosts − 1; the leader refuses writes with fewer replicas acknowledging",
     MRD_LANDS_REDIS | MRD_LANDS_PLANNER | MRD_LANDS_AGENT, "min-replicas-to-write",
     MRD_APPLY_LIVE, AT(consistency.min_replicas_to_write)},
    {"consistency", "min_replicas_max_lag_s", MRD_SETTING_INT, 1, INT_MAX, "10",
     "at least 1", MRD_LANDS_REDIS | MRD_LANDS_AGENT, "min-replicas-max-lag",
     MRD_APPLY_LIVE, AT(consistency.min_replicas_max_lag_s)},
    {"consistency", "wait_replicas", MRD_SETTING_INT, 0, INT_MAX, "1",
     "0 to hosts − 1; acknowledgements the drill writer `WAIT`s for",
     MRD_LANDS_PLANNER | MRD_LANDS_AGENT, NULL, MRD_APPLY_AGENT,
     AT(consistency.wait_replicas)},
    /* ---- agent ---- */
    {"agent", "port", MRD_SETTING_INT, 1, PORT_MAX, "17379",
     "differs from `store.port` and `sentinel.port`", MRD_LANDS_AGENT | MRD_LANDS_PLANNER,
     NULL, MRD_APPLY_AGENT, AT(agent.port)},
    {"agent", "interval_ms", MRD_SETTING_INT, 100, INT_MAX, "5000",
     "at least 100; the heal loop's period", MRD_LANDS_AGENT, NULL, MRD_APPLY_AGENT,
     AT(agent.interval_ms)},
    {"agent", "metrics_open", MRD_SETTING_BOOL, 0, 1, "false",
     "`true` serves `/metrics` without the agent token", MRD_LANDS_AGENT, NULL,
     MRD_APPLY_AGENT, AT(agent.metrics_open)},
    {"agent", "crash_fast_path", MRD_SETTING_BOOL, 0, 1, "true",
     "the leader's agent asks for a failover the moment the leader's process dies: a "
     "sentinel instead of waiting for `down_after_ms`; in cluster mode, a caught-up "
     "replica (`CLUSTER FAILOVER FORCE`) instead of waiting for `node_timeout_ms`, and "
     "a surviving replica's agent asks the same once a master lost with its agent has "
     "not answered for `node_timeout_ms` and a majority of the masters lost it too; "
     "`false` is for comparison drills",
     MRD_LANDS_AGENT, NULL, MRD_APPLY_AGENT, AT(agent.crash_fast_path)},
    {"agent", "fence", MRD_SETTING_BOOL, 0, 1, "true",
     "a master's agent makes it refuse writes (`min-replicas-to-write` above any replica "
     "count) while it cannot reach a majority: of the sentinels and of its shard's nodes; "
     "in cluster mode, of the masters owning slots, within about `interval_ms` + 1 s "
     "instead of Redis' 1 to 1.5 × `node_timeout_ms`; `false` is for comparison drills",
     MRD_LANDS_AGENT, NULL, MRD_APPLY_AGENT, AT(agent.fence)},
    {"agent", "replace_after_s", MRD_SETTING_INT, 1, INT_MAX, "300",
     "at least 1; `meridian heal` replaces a host on a spare once its agent and every "
     "process on it have been unreachable this long (a host back sooner is healed in "
     "place)",
     MRD_LANDS_HEAL, NULL, MRD_APPLY_NEXT_RUN, AT(agent.replace_after_s)},
    /* ---- cluster ---- */
    {"cluster", "shards", MRD_SETTING_INT, 1, CLUSTER_SLOTS, "3",
     "1 to 16384; at least 3 in cluster mode", MRD_LANDS_PLANNER, NULL, MRD_APPLY_SCALE,
     AT(cluster.shards)},
    {"cluster", "replicas_per_shard", MRD_SETTING_INT, 0, INT_MAX, "1", "at least 0",
     MRD_LANDS_PLANNER, NULL, MRD_APPLY_PLAN, AT(cluster.replicas_per_shard)},
    {"cluster", "node_timeout_ms", MRD_SETTING_INT, 100, INT_MAX, "5000",
     "at least 100; how long a node may not answer before the cluster counts it as "
     "failing; a master's failover takes about this plus 1 to 2 s of election "
     "(sentinel mode renders it too, where Redis ignores it)",
     MRD_LANDS_REDIS, "cluster-node-timeout", MRD_APPLY_LIVE, AT(cluster.node_timeout_ms)},
    /* ---- tls ---- */
    {"tls", "enabled", MRD_SETTING_BOOL, 0, 1, "false",
     "`true`: every node, sentinel and agent API listens on TLS only, on the ports above; "
     "replication, Sentinel's links and the cluster bus use TLS; meridian verifies every "
     "certificate and never falls back to plaintext.  Clients still log in with their ACL "
     "password and need only the CA certificate (`tls-auth-clients no`).  Chosen at the "
     "first deploy: a deployment changes it only by `destroy` and `deploy`",
     MRD_LANDS_REDIS | MRD_LANDS_SENTINEL | MRD_LANDS_AGENT | MRD_LANDS_PLANNER, NULL,
     MRD_APPLY_PLAN, AT_OPTIONAL(tls.enabled)},
    {"tls", "cert_days", MRD_SETTING_INT, 1, CERT_DAYS_MAX, "365",
     "1 to 36500; how long the host certificates meridian issues are valid",
     MRD_LANDS_DEPLOY, NULL, MRD_APPLY_NEXT_DEPLOY, AT_OPTIONAL(tls.cert_days)},
    {"tls", "renew_days", MRD_SETTING_INT, 1, CERT_DAYS_MAX, "30",
     "at least 1; `meridian deploy` renews a certificate it issued that expires within "
     "this many days, and reloads it on every node without a restart",
     MRD_LANDS_DEPLOY, NULL, MRD_APPLY_NEXT_DEPLOY, AT_OPTIONAL(tls.renew_days)},
    {"tls", "ca_file", MRD_SETTING_FILE, 0, 0, "",
     "empty: meridian makes its own CA at the first deploy (key mode 0600 in the state "
     "dir); else the operator's CA certificate, and `cert_dir` is required",
     MRD_LANDS_DEPLOY, NULL, MRD_APPLY_NEXT_DEPLOY, AT_OPTIONAL(tls.ca_file)},
    {"tls", "cert_dir", MRD_SETTING_FILE, 0, 0, "",
     "with `ca_file`: the folder holding `HOST.crt` and `HOST.key` (mode 0600) for every "
     "host, signed by that CA, each naming its host's address in subjectAltName",
     MRD_LANDS_DEPLOY, NULL, MRD_APPLY_NEXT_DEPLOY, AT_OPTIONAL(tls.cert_dir)},
    /* ---- backup ---- */
    {"backup", "endpoint", MRD_SETTING_TEXT, 0, 0, "",
     "empty: no backups; else the S3-compatible object storage, `http://` or `https://` "
     "and a host (`\"https://s3.eu-west-1.amazonaws.com\"`); requests are path-style",
     MRD_LANDS_BACKUP, NULL, MRD_APPLY_NEXT_BACKUP, AT_TEXT(backup.endpoint, endpoint_ok)},
    {"backup", "bucket", MRD_SETTING_TEXT, 0, 0, "",
     "required with `endpoint`: an existing bucket (3 to 63 lower-case letters, digits, "
     "`.` and `-`)",
     MRD_LANDS_BACKUP, NULL, MRD_APPLY_NEXT_BACKUP, AT_TEXT(backup.bucket, mrd_bucket_name_ok)},
    {"backup", "prefix", MRD_SETTING_TEXT, 0, 0, "",
     "prepended to every object name (`\"prod/\"`); backups live under "
     "`PREFIX` + the topology's name + `/`",
     MRD_LANDS_BACKUP, NULL, MRD_APPLY_NEXT_BACKUP, AT_TEXT(backup.prefix, prefix_ok)},
    {"backup", "region", MRD_SETTING_TEXT, 0, 0, "us-east-1",
     "the storage's region, part of every request's signature (AWS Signature V4)",
     MRD_LANDS_BACKUP, NULL, MRD_APPLY_NEXT_BACKUP, AT_TEXT(backup.region, region_ok)},
    {"backup", "credentials_file", MRD_SETTING_FILE, 0, 0, "",
     "a file of mode 0600 in the AWS credentials format (`aws_access_key_id = ...`, "
     "`aws_secret_access_key = ...`); empty: the `AWS_ACCESS_KEY_ID` and "
     "`AWS_SECRET_ACCESS_KEY` environment variables.  Never the keys themselves",
     MRD_LANDS_BACKUP, NULL, MRD_APPLY_NEXT_BACKUP, AT_OPTIONAL(backup.credentials_file)},
    {"backup", "keep_last", MRD_SETTING_INT, 1, INT_MAX, "7",
     "at least 1; a backup is deleted only when it is older than `keep_days` and this many "
     "newer backups verified",
     MRD_LANDS_BACKUP, NULL, MRD_APPLY_NEXT_BACKUP, AT_OPTIONAL(backup.keep_last)},
    {"backup", "keep_days", MRD_SETTING_INT, 0, INT_MAX, "30",
     "at least 0; backups younger than this are kept whatever `keep_last` says",
     MRD_LANDS_BACKUP, NULL, MRD_APPLY_NEXT_BACKUP, AT_OPTIONAL(backup.keep_days)},
    {"backup", "warn_after_h", MRD_SETTING_INT, 1, INT_MAX, "26",
     "at least 1; `status` warns when the last good backup is older than this many hours "
     "(a daily backup plus slack)",
     MRD_LANDS_BACKUP, NULL, MRD_APPLY_NEXT_BACKUP, AT_OPTIONAL(backup.warn_after_h)},
};

#define NROWS (sizeof(table) / sizeof(table[0]))

const mrd_setting *mrd_settings_table(size_t *n)
{
    *n = NROWS;
    return table;
}

const mrd_setting *mrd_setting_find(const char *section, const char *key)
{
    for (size_t i = 0; i < NROWS; i++)
        if (strcmp(table[i].section, section) == 0 && strcmp(table[i].key, key) == 0)
            return &table[i];
    return NULL;
}

/* One NULL-terminated key list per section, built once from the table. */
static const char *const sections[] = {"store", "sentinel", "consistency", "agent",
                                       "cluster", "tls", "backup"};
#define NSECTIONS (sizeof(sections) / sizeof(sections[0]))
static const char *section_keys[NSECTIONS][NROWS + 1];
static pthread_once_t section_keys_once = PTHREAD_ONCE_INIT;

static void build_section_keys(void)
{
    for (size_t s = 0; s < NSECTIONS; s++)
        for (size_t i = 0, k = 0; i < NROWS; i++)
            if (strcmp(table[i].section, sections[s]) == 0)
                section_keys[s][k++] = table[i].key;
}

const char *const *mrd_settings_keys(const char *section)
{
    pthread_once(&section_keys_once, build_section_keys);
    for (size_t s = 0; s < NSECTIONS; s++)
        if (strcmp(sections[s], section) == 0)
            return section_keys[s];
    return NULL;
}

/* ==== VALUES =========================================================== */

static void *at(mrd_settings *s, const mrd_setting *row)
{
    return (char *)s + row->offset;
}

static const void *cat(const mrd_settings *s, const mrd_setting *row)
{
    return (const char *)s + row->offset;
}

long long mrd_parse_size(const char *s)
{
    static const struct {
        const char *unit;
        long long mul;
    } units[] = {
        {"", 1},
        {"b", 1},
        {"k", 1000LL},
        {"kb", 1024LL},
        {"m", 1000LL * 1000},
        {"mb", 1024LL * 1024},
        {"g", 1000LL * 1000 * 1000},
        {"gb", 1024LL * 1024 * 1024},
    };
    if (!s || *s < '0' || *s > '9')
        return -1;
    long long v = 0;
    const char *p = s;
    while (*p >= '0' && *p <= '9') {
        int digit = *p - '0';
        if (v > (LLONG_MAX - digit) / 10)
            return -1;
        v = v * 10 + digit;
        p++;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcasecmp(p, units[i].unit) == 0) {
            if (v > LLONG_MAX / units[i].mul)
                return -1;
            return v * units[i].mul;
        }
    }
    return -1;
}

/* Whether TEXT (LEN bytes) fits TEXT row ROW: printable ASCII without
 * spaces, shorter than the field, and what the row's check() wants. */
static bool text_ok(const mrd_setting *row, const char *name, const char *text, size_t len,
                    char *why, size_t n)
{
    if (len >= row->size || strlen(text) != len) {
        snprintf(why, n, "%s must be a string of at most %zu bytes", name, row->size - 1);
        return false;
    }
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)text[i] <= ' ' || (unsigned char)text[i] >= 0x7f) {
            snprintf(why, n, "%s must not hold spaces, control or non-ASCII bytes", name);
            return false;
        }
    return !row->check || row->check(name, text, why, n);
}

/* Whether TEXT is one of CHOICE row ROW's values. */
static bool choice_ok(const mrd_setting *row, const char *name, const char *text, char *why,
                      size_t n)
{
    size_t len = (size_t)snprintf(why, n, "%s must be one of", name);
    for (const mrd_choice *c = row->choices; c->value; c++) {
        if (strcmp(c->value, text) == 0)
            return true;
        if (len < n)
            len += (size_t)snprintf(why + len, n - len, "%s \"%s\"",
                                    c == row->choices ? "" : c[1].value ? "," : " or",
                                    c->value);
    }
    return false;
}

/* Set ROW from the text form (the table's defaults are written so). */
static void set_text(mrd_settings *s, const mrd_setting *row, const char *text)
{
    switch (row->type) {
    case MRD_SETTING_INT:
        *(int *)at(s, row) = (int)strtol(text, NULL, 10);
        break;
    case MRD_SETTING_BOOL:
        *(bool *)at(s, row) = strcmp(text, "true") == 0;
        break;
    case MRD_SETTING_SIZE:
    case MRD_SETTING_REGION:
    case MRD_SETTING_PROGRAM:
    case MRD_SETTING_FILE:
    case MRD_SETTING_TEXT:
    case MRD_SETTING_CHOICE:
        snprintf(at(s, row), row->size, "%s", text);
        break;
    }
}

void mrd_settings_defaults(mrd_settings *s)
{
    memset(s, 0, sizeof(*s));
    for (size_t i = 0; i < NROWS; i++)
        if (table[i].def)
            set_text(s, &table[i], table[i].def);
}

mrd_rc mrd_setting_set_json(const mrd_setting *row, const json_t *v, mrd_settings *s,
                            char *why, size_t n)
{
    char name[96];
    snprintf(name, sizeof(name), "%s.%s", row->section, row->key);
    switch (row->type) {
    case MRD_SETTING_INT: {
        if (!json_is_integer(v) || json_integer_value(v) < row->min ||
            json_integer_value(v) > row->max) {
            if (row->max >= INT_MAX)
                snprintf(why, n, "%s must be an integer of at least %lld", name, row->min);
            else
                snprintf(why, n, "%s must be an integer from %lld to %lld", name, row->min,
                         row->max);
            return MRD_ERR_INVALID;
        }
        *(int *)at(s, row) = (int)json_integer_value(v);
        return MRD_OK;
    }
    case MRD_SETTING_BOOL:
        if (!json_is_boolean(v)) {
            snprintf(why, n, "%s must be true or false", name);
            return MRD_ERR_INVALID;
        }
        *(bool *)at(s, row) = json_is_true(v);
        return MRD_OK;
    case MRD_SETTING_SIZE: {
        const char *text = json_string_value(v);
        long long bytes = text ? mrd_parse_size(text) : -1;
        if (!text || json_string_length(v) >= row->size || bytes < 0) {
            snprintf(why, n,
                     "%s must be a memory size as a string: a number with an optional "
                     "unit b, k, kb, m, mb, g or gb (\"64mb\")",
                     name);
            return MRD_ERR_INVALID;
        }
        if (bytes < row->min) {
            snprintf(why, n, "%s \"%s\" is too small: at least %lld bytes", name, text,
                     row->min);
            return MRD_ERR_INVALID;
        }
        snprintf(at(s, row), row->size, "%s", text);
        return MRD_OK;
    }
    case MRD_SETTING_REGION: {
        const char *text = json_string_value(v);
        if (!text || json_string_length(v) == 0 || json_string_length(v) >= row->size) {
            snprintf(why, n, "%s must be a name: a non-empty string of at most %zu bytes",
                     name, row->size - 1);
            return MRD_ERR_INVALID;
        }
        snprintf(at(s, row), row->size, "%s", text);
        return MRD_OK;
    }
    case MRD_SETTING_PROGRAM:
    case MRD_SETTING_FILE: {
        bool program = row->type == MRD_SETTING_PROGRAM;
        const char *text = json_string_value(v);
        if (!text) {
            snprintf(why, n, "%s must be a string: %s", name,
                     program ? "a program name or an absolute path" : "a path");
            return MRD_ERR_INVALID;
        }
        size_t len = json_string_length(v);
        if (!(program ? mrd_setting_program_ok(name, text, len, why, n)
                      : mrd_setting_file_ok(name, text, len, why, n)))
            return MRD_ERR_INVALID;
        snprintf(at(s, row), row->size, "%s", text);
        return MRD_OK;
    }
    case MRD_SETTING_TEXT:
    case MRD_SETTING_CHOICE: {
        const char *text = json_string_value(v);
        bool ok = text && (row->type == MRD_SETTING_TEXT
                               ? text_ok(row, name, text, json_string_length(v), why, n)
                               : choice_ok(row, name, text, why, n));
        if (!text)
            row->type == MRD_SETTING_TEXT ? snprintf(why, n, "%s must be a string", name)
                                          : choice_ok(row, name, "", why, n);
        if (!ok)
            return MRD_ERR_INVALID;
        snprintf(at(s, row), row->size, "%s", text);
        return MRD_OK;
    }
    }
    snprintf(why, n, "%s has an unknown type", name);
    return MRD_ERR_INVALID;
}

json_t *mrd_setting_to_json(const mrd_setting *row, const mrd_settings *s)
{
    switch (row->type) {
    case MRD_SETTING_INT:
        return json_integer(*(const int *)cat(s, row));
    case MRD_SETTING_BOOL:
        return json_boolean(*(const bool *)cat(s, row));
    case MRD_SETTING_SIZE:
    case MRD_SETTING_REGION:
    case MRD_SETTING_PROGRAM:
    case MRD_SETTING_FILE:
    case MRD_SETTING_TEXT:
    case MRD_SETTING_CHOICE:
        return json_string(cat(s, row));
    }
    return json_null();
}

void mrd_setting_format(const mrd_setting *row, const mrd_settings *s, char *buf, size_t n)
{
    switch (row->type) {
    case MRD_SETTING_INT:
        snprintf(buf, n, "%d", *(const int *)cat(s, row));
        return;
    case MRD_SETTING_BOOL:
        snprintf(buf, n, "%s", *(const bool *)cat(s, row) ? "true" : "false");
        return;
    case MRD_SETTING_SIZE:
    case MRD_SETTING_REGION:
    case MRD_SETTING_PROGRAM:
    case MRD_SETTING_FILE:
    case MRD_SETTING_TEXT:
    case MRD_SETTING_CHOICE:
        snprintf(buf, n, "%s", (const char *)cat(s, row));
        return;
    }
}

bool mrd_setting_live_value(const mrd_setting *row, const mrd_settings *s, char *buf,
                            size_t n)
{
    if (!row->directive)
        return false;
    switch (row->type) {
    case MRD_SETTING_SIZE:
        snprintf(buf, n, "%lld", mrd_parse_size(cat(s, row)));
        return true;
    case MRD_SETTING_BOOL:
        snprintf(buf, n, "%s", *(const bool *)cat(s, row) ? "yes" : "no");
        return true;
    case MRD_SETTING_CHOICE:
        for (const mrd_choice *c = row->choices; c->value; c++)
            if (strcmp(c->value, cat(s, row)) == 0) {
                snprintf(buf, n, "%s", c->live);
                return true;
            }
        return false;
    case MRD_SETTING_INT:
    case MRD_SETTING_REGION:
    case MRD_SETTING_PROGRAM:
    case MRD_SETTING_FILE:
    case MRD_SETTING_TEXT:
        mrd_setting_format(row, s, buf, n);
        return true;
    }
    return false;
}

size_t mrd_settings_live_rows(unsigned lands, const mrd_setting **rows, size_t max)
{
    size_t k = 0;
    for (size_t i = 0; i < NROWS && k < max; i++)
        if ((table[i].lands & lands) && table[i].directive && table[i].apply == MRD_APPLY_LIVE)
            rows[k++] = &table[i];
    return k;
}

bool mrd_setting_differs(const mrd_setting *row, const mrd_settings *a,
                         const mrd_settings *b)
{
    char x[MRD_PROGRAM_MAX], y[MRD_PROGRAM_MAX]; /* the longest value */
    mrd_setting_format(row, a, x, sizeof(x));
    mrd_setting_format(row, b, y, sizeof(y));
    return strcmp(x, y) != 0;
}

json_t *mrd_settings_to_json(const mrd_settings *s)
{
    json_t *j = json_object();
    for (size_t i = 0; j && i < NROWS; i++) {
        json_t *sec = json_object_get(j, table[i].section);
        if (!sec) {
            sec = json_object();
            if (json_object_set_new(j, table[i].section, sec) != 0)
                sec = NULL;
        }
        /* a region the file did not name (cluster mode) stays absent */
        if (sec && table[i].type == MRD_SETTING_REGION && !*(const char *)cat(s, &table[i]))
            continue;
        if (!sec ||
            json_object_set_new(sec, table[i].key, mrd_setting_to_json(&table[i], s)) != 0) {
            json_decref(j);
            return NULL;
        }
    }
    return j;
}

mrd_rc mrd_settings_from_json(const json_t *j, mrd_settings *s, mrd_error *err)
{
    mrd_settings_defaults(s);
    const char *section;
    const json_t *keys;
    json_object_foreach((json_t *)(uintptr_t)j, section, keys) {
        if (!mrd_settings_keys(section) || !json_is_object(keys))
            return mrd_error_set(err, MRD_ERR_INVALID,
                                 "settings.%s is not a section of settings (an object)",
                                 section);
        const char *key;
        const json_t *v;
        json_object_foreach((json_t *)(uintptr_t)keys, key, v) {
            (void)v;
            if (!mrd_setting_find(section, key))
                return mrd_error_set(err, MRD_ERR_INVALID, "settings.%s.%s is not a setting",
                                     section, key);
        }
    }
    for (size_t i = 0; i < NROWS; i++) {
        const mrd_setting *row = &table[i];
        const json_t *v = json_object_get(json_object_get(j, row->section), row->key);
        char why[256];
        if (!v) {
            if (row->type == MRD_SETTING_REGION || row->optional)
                continue; /* a name the plan resolved elsewhere may be absent; an
                             optional row keeps its default */
            return mrd_error_set(err, MRD_ERR_INVALID, "settings.%s.%s is missing",
                                 row->section, row->key);
        }
        if (mrd_setting_set_json(row, v, s, why, sizeof(why)) != MRD_OK)
            return mrd_error_set(err, MRD_ERR_INVALID, "settings: %s", why);
    }
    return MRD_OK;
}

bool mrd_setting_program_ok(const char *name, const char *text, size_t len, char *why,
                            size_t n)
{
    if (len == 0 || len >= MRD_PROGRAM_MAX || strlen(text) != len) {
        snprintf(why, n, "%s must be a program name or an absolute path of 1 to %d bytes",
                 name, MRD_PROGRAM_MAX - 1);
        return false;
    }
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)text[i] <= ' ' || (unsigned char)text[i] >= 0x7f) {
            snprintf(why, n,
                     "%s must not hold spaces, control or non-ASCII bytes: it is run as one "
                     "word (a program name or an absolute path)",
                     name);
            return false;
        }
    if (strchr(text, '/') && (text[0] != '/' || text[len - 1] == '/')) {
        snprintf(why, n,
                 "%s must be a bare program name (looked up on PATH) or an absolute path "
                 "to a program, such as \"/opt/redis/bin/redis-server\"",
                 name);
        return false;
    }
    if (text[0] == '-') {
        snprintf(why, n, "%s must not start with '-' (it would read as an option)", name);
        return false;
    }
    return true;
}

bool mrd_setting_file_ok(const char *name, const char *text, size_t len, char *why,
                         size_t n)
{
    if (len >= MRD_PROGRAM_MAX || strlen(text) != len) {
        snprintf(why, n, "%s must be a path of at most %d bytes", name, MRD_PROGRAM_MAX - 1);
        return false;
    }
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)text[i] < ' ' || (unsigned char)text[i] == 0x7f) {
            snprintf(why, n, "%s must not hold control bytes", name);
            return false;
        }
    if (len && text[0] != '/' && strncmp(text, "~/", 2) != 0) {
        snprintf(why, n,
                 "%s must be an absolute path or one starting with \"~/\" (it is read on "
                 "the machine that runs meridian, whatever the working directory)",
                 name);
        return false;
    }
    return true;
}

bool mrd_bucket_name_ok(const char *name, const char *text, char *why, size_t n)
{
    size_t len = strlen(text);
    if (len == 0)
        return true;
    bool ok = len >= 3 && len <= 63 && !strstr(text, "..");
    for (size_t i = 0; ok && i < len; i++) {
        bool alnum = (text[i] >= 'a' && text[i] <= 'z') || (text[i] >= '0' && text[i] <= '9');
        ok = alnum || ((text[i] == '.' || text[i] == '-') && i > 0 && i < len - 1);
    }
    if (!ok)
        snprintf(why, n,
                 "%s must be a bucket name: 3 to 63 lower-case letters, digits, '.' and '-', "
                 "starting and ending with a letter or digit",
                 name);
    return ok;
}

/* ==== DOCUMENTATION ==================================================== */

const char *mrd_setting_type_name(const mrd_setting *row)
{
    switch (row->type) {
    case MRD_SETTING_INT:
        return row->min == 1 && row->max == PORT_MAX ? "port" : "integer";
    case MRD_SETTING_BOOL:
        return "boolean";
    case MRD_SETTING_SIZE:
        return "size";
    case MRD_SETTING_REGION:
        return "name";
    case MRD_SETTING_PROGRAM:
        return "program";
    case MRD_SETTING_FILE:
        return "path";
    case MRD_SETTING_TEXT:
        return "string";
    case MRD_SETTING_CHOICE:
        return "choice";
    }
    return "?";
}

void mrd_setting_lands_text(const mrd_setting *row, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = '\0';
    struct {
        unsigned bit;
        const char *what;
    } parts[] = {
        {MRD_LANDS_REDIS, "redis.conf"},
        {MRD_LANDS_SENTINEL, "sentinel.conf"},
        {MRD_LANDS_AGENT, "agent"},
        {MRD_LANDS_PLANNER, "planner"},
        {MRD_LANDS_HEAL, "`meridian heal`"},
        {MRD_LANDS_DEPLOY, "`meridian deploy`"},
        {MRD_LANDS_BACKUP, "`meridian backup`, `restore`, `status`"},
    };
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        if (!(row->lands & parts[i].bit))
            continue;
        bool conf = parts[i].bit == MRD_LANDS_REDIS || parts[i].bit == MRD_LANDS_SENTINEL;
        int w = conf && row->directive
                    ? snprintf(buf + len, n - len, "%s%s `%s`", len ? ", " : "",
                               parts[i].what, row->directive)
                    : snprintf(buf + len, n - len, "%s%s", len ? ", " : "", parts[i].what);
        if (w > 0 && (size_t)w < n - len)
            len += (size_t)w;
    }
}

const char *mrd_setting_apply_name(mrd_setting_apply a)
{
    switch (a) {
    case MRD_APPLY_LIVE:
        return "live";
    case MRD_APPLY_AGENT:
        return "agent restart";
    case MRD_APPLY_RESTART:
        return "needs restart";
    case MRD_APPLY_PLAN:
        return "new plan";
    case MRD_APPLY_SCALE:
        return "scale (online)";
    case MRD_APPLY_NEXT_RUN:
        return "next heal";
    case MRD_APPLY_NEXT_DEPLOY:
        return "next deploy";
    case MRD_APPLY_NEXT_BACKUP:
        return "next backup";
    }
    return "?";
}

char *mrd_settings_markdown(const char *section)
{
    mrd_buf b;
    mrd_buf_init(&b, 64 * 1024);
    mrd_rc rc = mrd_buf_adds(&b, "| key | type | default | constraints | lands in | a change |\n"
                                 "|---|---|---|---|---|---|\n");
    for (size_t i = 0; rc == MRD_OK && i < NROWS; i++) {
        const mrd_setting *row = &table[i];
        if (strcmp(row->section, section) != 0)
            continue;
        char def[80], lands[160];
        if (!row->def)
            snprintf(def, sizeof(def), "required");
        else if (row->type == MRD_SETTING_SIZE || row->type == MRD_SETTING_REGION ||
                 row->type == MRD_SETTING_PROGRAM || row->type == MRD_SETTING_FILE ||
                 row->type == MRD_SETTING_TEXT || row->type == MRD_SETTING_CHOICE)
            snprintf(def, sizeof(def), "`\"%s\"`", row->def);
        else
            snprintf(def, sizeof(def), "`%s`", row->def);
        mrd_setting_lands_text(row, lands, sizeof(lands));
        rc = mrd_buf_addf(&b, "| `%s` | %s | %s | %s | %s | %s |\n", row->key,
                          mrd_setting_type_name(row), def, row->doc, lands,
                          mrd_setting_apply_name(row->apply));
    }
    if (rc != MRD_OK) {
        mrd_buf_free(&b);
        return NULL;
    }
    return mrd_buf_take(&b);
}
