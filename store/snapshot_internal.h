/* snapshot_internal.h - store/ and its tests only: the snapshot fetch over
 * a socket that is already connected, and the RDB reading pieces that
 * snapshot.c (store_rdb_inspect) and rdb_scan.c (store_rdb_scan) share.
 *
 * store_snapshot_fetch() is this plus the connect; tests/fuzz/
 * fuzz_snapshot.c drives the protocol side (reply lines, keepalives, both
 * payload forms, the EOF mark across reads, trailer and CRC64, the atomic
 * install) through a socket pair, with no server. */
#ifndef MRD_STORE_SNAPSHOT_INTERNAL_H
#define MRD_STORE_SNAPSHOT_INTERNAL_H

#include "snapshot.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* store_snapshot_fetch() over FD, a connected stream or seqpacket socket
 * (taken: closed before returning, on every path).  NAME names the source
 * in errors ("cannot fetch a snapshot from NAME: ...").  Same arguments
 * otherwise, same errors but MRD_ERR_CONNECT. */
mrd_rc store__snapshot_fetch_fd(int fd, const char *name, const char *user,
                                const char *pass, const char *dest, int timeout_ms,
                                store_snapshot *out, mrd_error *err);

/* ==== RDB FORMAT (store__rdb_*: snapshot.c) ==== */

#define RDB_HEADER_LEN 9     /* "REDIS" + 4 version digits */
#define RDB_CHECKSUM_SINCE 5 /* versions before 5 have no CRC64 */
#define RDB_OPCODE_AUX 0xFA
#define RDB_OPCODE_EOF 0xFF
#define RDB_ENC_INT8 0 /* the kinds of an encoded string (length 11xxxxxx) */
#define RDB_ENC_INT16 1
#define RDB_ENC_INT32 2
#define RDB_ENC_LZF 3
#define RDB_REPL_ID_LEN 40

/* Bytes in memory and the next one to read. */
typedef struct rdb_cursor {
    const unsigned char *p;
    size_t len;
    size_t pos;
} rdb_cursor;

typedef enum rdb_status {
    RDB_READ_OK,
    RDB_READ_SHORT, /* the buffer ends inside the item */
    RDB_READ_BAD,   /* the item is malformed */
} rdb_status;

/* A string read from an RDB: kept in TEXT (NUL-terminated) when shorter
 * than TEXT (every aux key and value this module looks at is), otherwise
 * only skipped; LEN is its decoded length either way. */
typedef struct rdb_str {
    char text[64];
    size_t len;
    bool kept;
} rdb_str;

/* True when P (LEN bytes) starts with "REDIS" and 4 digits; *VERSION (may
 * be NULL) gets the number. */
bool store__rdb_header_ok(const unsigned char *p, size_t len, int *version);

/* An RDB length at C: 00xxxxxx (6 bits), 01xxxxxx xxxxxxxx (14 bits, big
 * endian), 0x80 + 32 bits or 0x81 + 64 bits (big endian), or 11xxxxxx: an
 * encoded string whose kind (RDB_ENC_*) is the low 6 bits, *ENCODED set.
 * C advances past it only on RDB_READ_OK (on SHORT or BAD it is left
 * anywhere inside the item: discard it). */
rdb_status store__rdb_read_len(rdb_cursor *c, uint64_t *v, bool *encoded);

/* An RDB string at C (length-prefixed, integer-encoded or LZF), into *S
 * as rdb_str says.  SHORT when C ends inside it (also for a long string
 * whose bytes are not all in C), BAD for an unknown encoding or LZF data
 * that does not expand to its announced length. */
rdb_status store__rdb_read_string(rdb_cursor *c, rdb_str *s);

/* What an aux field KEY = VAL says: "repl-id" (40 hex digits) into
 * REPL_ID, "repl-offset" (a non-negative number) into *REPL_OFFSET; other
 * keys are ignored.  MRD_ERR_PARSE when one of those two is malformed. */
mrd_rc store__rdb_aux_field(const rdb_str *key, const rdb_str *val,
                            char repl_id[RDB_REPL_ID_LEN + 1], long long *repl_offset,
                            mrd_error *err);

#endif
