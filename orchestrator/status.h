/* status.h - probe every node and sentinel of a deployment concurrently
 * and judge its health.
 *
 * Health follows the monitoring-plugin convention (the exit code of
 * `meridian status`): OK, WARNING (degraded but serving), CRITICAL (no
 * writable leader, or no sentinel majority agreeing on one), UNKNOWN
 * (could not tell: no credentials). */
#ifndef MRD_STATUS_H
#define MRD_STATUS_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "orch.h"

typedef enum st_health {
    ST_OK = 0,
    ST_WARNING = 1,
    ST_CRITICAL = 2,
    ST_UNKNOWN = 3,
} st_health;

/* A replica lagging more than this is not counted as serving. */
#define ST_MAX_LAG_BYTES (1024 * 1024)

typedef struct st_node {
    bool reachable;      /* answered PING as the admin user */
    bool is_master;
    char master_host[64];
    int master_port;
    bool link_up;
    long long offset;    /* master_repl_offset or slave_repl_offset */
    long long lag_bytes; /* leader offset - own offset; -1 unknown */
    bool healthy;
    char problem[160];   /* why not healthy, "" when healthy */
} st_node;

typedef struct st_sentinel {
    int host;            /* index into topology hosts */
    bool reachable;
    char leader[96];     /* "ADDR:PORT" it names, "" when none */
    int replicas_ok;     /* replicas it knows and does not flag down */
    int sentinels_ok;    /* other sentinels it knows and does not flag down */
    bool ok;
    char problem[160];
} st_sentinel;

typedef struct st_report {
    st_health health;
    int leader;          /* host index, -1 when none */
    char summary[256];
    st_node *nodes;      /* one per host */
    st_sentinel *sentinels;
    int nsentinels;
} st_report;

/* Probe the deployment described by C (each connection within TIMEOUT_MS).
 * Never fails on an unreachable node: that is a finding.  Fails only when
 * the credentials cannot be read (report health UNKNOWN) or on OOM. */
mrd_rc status_probe(const orch_ctx *c, int timeout_ms, st_report **out, mrd_error *err);

void status_free(st_report **r);

const char *status_health_name(st_health h);

/* The object documented for `meridian status --json` (new reference). */
json_t *status_to_json(const orch_ctx *c, const st_report *r);

/* Human-readable table. */
void status_print(FILE *out, const orch_ctx *c, const st_report *r);

#endif
