/* probe.h - ask many servers one question each, concurrently, from one
 * thread.
 *
 * Every probe connects without blocking, sends AUTH and its commands
 * pipelined, and collects the replies; one poll() loop drives them all, so
 * probing N servers costs about one round trip, not N, and no thread.
 * Used by `meridian status` and deploy verification. */
#ifndef MRD_STORE_PROBE_H
#define MRD_STORE_PROBE_H

#include "err.h"
#include "sentinel.h"

typedef enum store_probe_kind {
    STORE_PROBE_INFO = 0, /* INFO replication of a redis-server */
    STORE_PROBE_SENTINEL, /* a sentinel_view of master MASTER */
} store_probe_kind;

typedef struct store_probe {
    /* in */
    store_probe_kind kind;
    const char *address;
    int port;
    const char *user;
    const char *pass;
    const char *master;   /* STORE_PROBE_SENTINEL */
    sentinel_view *view;  /* STORE_PROBE_SENTINEL: caller-allocated result */
    /* out */
    mrd_rc rc;            /* MRD_OK when every reply arrived and parsed */
    mrd_error err;
    char *info;           /* STORE_PROBE_INFO: INFO text (new, caller frees) */
} store_probe;

/* Run every probe; returns when all are done or TIMEOUT_MS has passed
 * (those still waiting get MRD_ERR_TIMEOUT).  Per-probe results are in
 * probes[i].rc/err; the function itself fails only on OOM. */
mrd_rc store_probe_all(store_probe *probes, int n, int timeout_ms);

#endif
