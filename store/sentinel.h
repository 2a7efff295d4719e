/* sentinel.h - questions and commands for a redis-sentinel. */
#ifndef MRD_STORE_SENTINEL_H
#define MRD_STORE_SENTINEL_H

#include <stdbool.h>

#include "conn.h"
#include "err.h"

/* One instance as a sentinel sees it (SENTINEL MASTER / REPLICAS /
 * SENTINELS return these as flat field/value lists). */
typedef struct sentinel_entry {
    char name[96];
    char ip[64];
    int port;
    char runid[48];
    char flags[160];          /* "slave", "s_down,slave", "master,o_down", ... */
    bool down;                /* flags hold s_down, o_down or disconnected */
    bool failover_in_progress;/* master only: failover_in_progress flag */
    char master_link_status[8];/* replicas: "ok" / "err" */
    int replica_priority;
    long long repl_offset;
    long long info_refresh_ms;/* ms since its last INFO reply ("info-refresh");
                                 -1 unknown */
    int num_other_sentinels;  /* master only */
    /* master only: the settings a SENTINEL SET changes, as the sentinel
     * reports them ("" when absent) */
    char quorum[16];
    char down_after_ms[24];   /* down-after-milliseconds */
    char failover_timeout[24];/* failover-timeout */
} sentinel_entry;

/* The value of the SENTINEL MASTER field NAME ("quorum",
 * "down-after-milliseconds", "failover-timeout") of E, borrowed; NULL
 * when E does not hold that field. */
const char *sentinel_entry_setting(const sentinel_entry *e, const char *name);

/* SENTINEL GET-MASTER-ADDR-BY-NAME.  MRD_ERR_NOT_FOUND when the sentinel
 * does not monitor MASTER. */
mrd_rc sentinel_master_addr(store_conn *c, const char *master, char *ip, size_t n,
                            int *port, mrd_error *err);

/* SENTINEL MASTER. */
mrd_rc sentinel_master(store_conn *c, const char *master, sentinel_entry *out,
                       mrd_error *err);

/* SENTINEL REPLICAS or SENTINELS (WHAT), at most MAX entries into OUT;
 * *n gets how many. */
mrd_rc sentinel_list(store_conn *c, const char *what, const char *master,
                     sentinel_entry *out, int max, int *n, mrd_error *err);

#define SENTINEL_VIEW_MAX 64

/* What one sentinel believes about MASTER, asked in one round trip. */
typedef struct sentinel_view {
    char leader_ip[64];
    int leader_port;
    sentinel_entry master;    /* SENTINEL MASTER: flags, failover state */
    sentinel_entry replicas[SENTINEL_VIEW_MAX];
    int nreplicas;
    sentinel_entry sentinels[SENTINEL_VIEW_MAX]; /* the others, not itself */
    int nsentinels;
} sentinel_view;

/* GET-MASTER-ADDR-BY-NAME, REPLICAS, SENTINELS and MASTER pipelined.  OUT is large
 * (allocate it on the heap). */
mrd_rc sentinel_get_view(store_conn *c, const char *master, sentinel_view *out,
                         mrd_error *err);

#endif
