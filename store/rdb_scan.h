/* rdb_scan.h - count the keys an RDB file holds, without loading it.
 *
 * A backup's manifest records how many keys its snapshot holds, so that a
 * restore can check the key count (issue 17).  store_rdb_scan() walks an
 * RDB from start to end, as Redis 7.0's loader (rdbLoadRio) reads it, but
 * skips every value instead of building it: memory use is one fixed read
 * buffer, whatever the file says, and the cost is one pass over the bytes
 * (the CRC64 needs them all anyway).
 *
 * Reads RDB versions 1 to 10 (10 is what Redis 7.0 writes), every object
 * type Redis 7.0 writes or loads (0-5, 7, 9-19: strings, lists, sets,
 * sorted sets, hashes in all their encodings, streams with consumer groups,
 * module values of version 2) and every opcode (AUX, RESIZEDB, EXPIRETIME,
 * EXPIRETIME_MS, SELECTDB, FREQ, IDLE, MODULE_AUX, FUNCTION, FUNCTION2,
 * EOF).  Module values of version 1 (type 6, before Redis 5) carry no
 * annotations to skip them by: refused. */
#ifndef MRD_STORE_RDB_SCAN_H
#define MRD_STORE_RDB_SCAN_H

#include <stdio.h>

#include "err.h"

#define STORE_RDB_SCAN_DBS 16 /* databases counted one by one */

typedef struct store_rdb_summary {
    int rdb_version;                       /* from the "REDIS00NN" header */
    long long keys;                        /* key/value entries, all databases */
    long long expires;                     /* of which with an expire time */
    long long db_keys[STORE_RDB_SCAN_DBS]; /* per database 0..15 (dbs above
                                            * 15 are counted in keys only) */
    char repl_id[41];                      /* aux "repl-id", "" when absent */
    long long repl_offset;                 /* aux "repl-offset", -1 when absent */
    long long bytes;                       /* file size read */
} store_rdb_summary;

/* Walk the RDB that F reads, from its current position to its end (a file,
 * a pipe, fmemopen() memory: only fread is used), and fill OUT (entirely,
 * also on error: what was counted up to the error).  F stays open and the
 * caller's.  Not thread safe on the same F; otherwise reentrant.
 *
 * KEYS is what DBSIZE would report, summed over databases, right after
 * Redis loaded the file and before any expiry: every key/value entry, keys
 * whose expire time has passed included (a master loading the file drops
 * those; a replica keeps them), a list, set, sorted set or hash whose
 * element count is 0 excluded (Redis skips those "empty keys").  An empty
 * collection in a packed encoding (ziplist, listpack, intset, quicklist
 * nodes) is counted: finding it would mean decoding the blob, and no Redis
 * writes one.  Duplicate keys (Redis refuses the file) are not detected.
 *
 * Checks that the file is whole: the header is "REDIS" and a version 1..10,
 * every item is well formed and inside the file, the EOF opcode comes
 * last, followed by the CRC64 of everything before it (version 5 and
 * later), which must match unless it is 0 (saved with rdbchecksum no), and
 * nothing follows.
 *
 * Errors: MRD_ERR_PARSE with a sentence that names what is wrong and its
 * byte offset in the file ("RDB: unknown object type 0x42 at byte 1234",
 * "RDB: the file ends inside ... at byte N: it is truncated", "RDB: CRC64
 * mismatch ..."); MRD_ERR_IO when a read fails; MRD_ERR_NOMEM when the read
 * buffer cannot be allocated; MRD_ERR_INVALID when F or OUT is NULL. */
mrd_rc store_rdb_scan(FILE *f, store_rdb_summary *out, mrd_error *err);

/* store_rdb_scan() on the file at PATH (opened and closed here).
 * MRD_ERR_IO when it cannot be opened, with the path and errno's text. */
mrd_rc store_rdb_scan_file(const char *path, store_rdb_summary *out, mrd_error *err);

#endif
