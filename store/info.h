/* info.h - parse Redis INFO text (pure: bytes in, struct out, no I/O). */
#ifndef MRD_STORE_INFO_H
#define MRD_STORE_INFO_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

#define STORE_MAX_REPLICAS 32

/* One "slaveN:" line of a master's INFO replication section. */
typedef struct store_replica_info {
    char ip[64];
    int port;
    char state[16];     /* "online", "wait_bgsave", "send_bulk", ... */
    long long offset;   /* acknowledged replication offset */
    long long lag_s;    /* seconds since the last ack */
} store_replica_info;

/* The databases whose keys store_info_parse() counts (Redis' default
 * `databases 16`). */
#define STORE_INFO_DBS 16

typedef struct store_info {
    char redis_version[32];
    long long process_id;
    bool is_master;          /* role:master */
    bool loading;            /* loading:1 */
    /* replica side */
    char master_host[64];
    int master_port;
    bool link_up;            /* master_link_status:up */
    bool sync_in_progress;   /* master_sync_in_progress:1 */
    long long slave_repl_offset;
    int replica_priority;
    /* master side */
    int connected_slaves;
    store_replica_info slaves[STORE_MAX_REPLICAS];
    int nslaves;
    long long master_repl_offset;
    char master_replid[41];
    /* stats */
    long long sync_full;
    long long sync_partial_ok;
    long long sync_partial_err;
    long long total_net_repl_output_bytes;
    long long total_net_repl_input_bytes;
    long long keys;          /* db0 keys, 0 when absent */
    long long keys_total;    /* keys of databases 0 to STORE_INFO_DBS - 1 */
} store_info;

/* Parse the text of INFO (any sections; missing fields stay zero).
 * MRD_ERR_PARSE when the text has no "role:" line in a replication
 * section that it claims to have, or a field holds a malformed number. */
mrd_rc store_info_parse(const char *text, size_t len, store_info *out, mrd_error *err);

/* Copy the value of KEY ("role", "master_link_status", ...) into BUF.
 * False when absent or when BUF is too small. */
bool store_info_field(const char *text, size_t len, const char *key, char *buf,
                      size_t n);

/* The number in the value of KEY, as INFO and CLUSTER INFO print it.
 * *FOUND (may be NULL) says whether KEY is there; an absent KEY leaves
 * *OUT alone and is MRD_OK.  MRD_ERR_PARSE when the value is not a
 * decimal number that fits a long long. */
mrd_rc store_info_number(const char *text, size_t len, const char *key, long long *out,
                         bool *found, mrd_error *err);

#endif
