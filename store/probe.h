/* probe.h - ask many servers one question each, concurrently, from one
 * thread.
 *
 * Every probe connects without blocking (with TLS, its handshake too),
 * sends AUTH and its commands pipelined, and collects the replies; one
 * poll() loop drives them all, handshakes included, so probing N servers
 * costs about one round trip (a few with TLS), not N, and no thread.
 * Used by `meridian status` and deploy verification. */
#ifndef MRD_STORE_PROBE_H
#define MRD_STORE_PROBE_H

#include "err.h"
#include "sentinel.h"

typedef enum store_probe_kind {
    STORE_PROBE_INFO = 0, /* INFO replication persistence of a redis-server */
    STORE_PROBE_SENTINEL, /* a sentinel_view of master MASTER */
} store_probe_kind;

/* Settings one INFO probe may also read with CONFIG GET. */
#define STORE_PROBE_MAX_CONFIG 16

typedef struct store_probe {
    /* in */
    store_probe_kind kind;
    const char *address;
    int port;
    const char *user;
    const char *pass;
    const char *master;   /* STORE_PROBE_SENTINEL */
    sentinel_view *view;  /* STORE_PROBE_SENTINEL: caller-allocated result */
    const char *const *config; /* STORE_PROBE_INFO: NULL, or a NULL-terminated
                                  list of at most STORE_PROBE_MAX_CONFIG
                                  settings to CONFIG GET in the same round
                                  trip (borrowed) */
    bool cluster;         /* STORE_PROBE_INFO: also CLUSTER NODES and
                             CLUSTER INFO (cluster mode) */
    /* out */
    mrd_rc rc;            /* MRD_OK when every reply arrived and parsed */
    mrd_error err;
    char *info;           /* STORE_PROBE_INFO: INFO text (new) */
    char *config_values[STORE_PROBE_MAX_CONFIG]; /* value of config[i] (new);
                                  NULL when the server did not report it */
    char *cluster_nodes;  /* with CLUSTER: the CLUSTER NODES text (new) */
    char *cluster_info;   /* with CLUSTER: the CLUSTER INFO text (new) */
} store_probe;

/* Run every probe; returns when all are done or TIMEOUT_MS has passed
 * (those still waiting get MRD_ERR_TIMEOUT).  Per-probe results are in
 * probes[i].rc/err; the function itself fails only on OOM. */
mrd_rc store_probe_all(store_probe *probes, int n, int timeout_ms);

/* Free the results of P (info, config values, cluster texts) and NULL them; the inputs
 * are left as they are.  Accepts NULL. */
void store_probe_clear(store_probe *p);

#endif
