/* snapshot.h - fetch an RDB snapshot from a peer over the replication
 * protocol and install it atomically; read the header of an RDB.
 *
 * Heal restores a lost replica from a snapshot of a healthy peer: the RDB
 * a replica sends for `REPLCONF rdb-only 1` + `SYNC` (what `redis-cli --rdb`
 * does) carries the aux fields repl-id and repl-offset, so a node started
 * from it with `replicaof <leader>` in its config asks the leader only for
 * the delta (partial resync).  See DESIGN.md, "heal". */
#ifndef MRD_STORE_SNAPSHOT_H
#define MRD_STORE_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Default idle timeout for store_snapshot_fetch(): a master that prepares
 * the payload sends a "\n" keepalive every second, so a few seconds of
 * silence already means trouble. */
#define STORE_SNAPSHOT_TIMEOUT_MS 10000

typedef struct store_snapshot {
    long long bytes;          /* RDB payload size written */
    char repl_id[41];         /* aux "repl-id", "" when absent */
    long long repl_offset;    /* aux "repl-offset", -1 when absent */
    int rdb_version;          /* from the "REDIS00NN" header */
    long long duration_ms;
} store_snapshot;

/* Fetch an RDB snapshot from ADDRESS:PORT over the replication protocol
 * (AUTH USER PASS, REPLCONF capa eof, REPLCONF rdb-only 1, SYNC), as
 * redis-cli --rdb does (plus "capa eof"), and install it atomically at
 * DEST (temporary file "DEST.tmp.XXXXXX" in DEST's folder, fsync, check,
 * rename, fsync of the folder, mode 0600).  DEST's folder must exist.
 *
 * Handles both payload forms: "$<len>\r\n" + len bytes, and diskless
 * "$EOF:<40 random bytes>\r\n" + data ending with the same 40 bytes; and
 * the "\n" keepalives a master sends while it prepares the payload.  The
 * payload streams to the temporary file: it is never held in memory.
 * Announcing "capa eof" lets a source with repl-diskless-sync yes (the 7.0
 * default) stream from its fork without writing an RDB to its own disk;
 * it then waits repl-diskless-sync-delay (default 5 s) before it starts,
 * sending keepalives meanwhile.  With repl-diskless-sync no, the source
 * runs a BGSAVE to its own dump file and sends that ($<len> form).
 *
 * Checks before the rename: the header is "REDIS" + 4 digits, the size
 * matches the announced one (or the EOF mark was seen), the payload holds
 * at least a header, an EOF opcode and a checksum, it ends with the EOF
 * opcode (0xFF), and its CRC64 matches the trailing checksum (unless the
 * server saves with rdbchecksum no, which writes a zero checksum).  A
 * failed or partial fetch leaves DEST untouched (old content intact) and
 * removes the temporary file.
 *
 * Over TLS when store_set_tls() is on, verified as every connection is
 * (tls.h).
 *
 * USER NULL: no AUTH (PASS ignored).  The password is never logged nor put
 * in an error.  TIMEOUT_MS (> 0; STORE_SNAPSHOT_TIMEOUT_MS is a sane value)
 * bounds the connect and each read or write (an idle timeout), not the
 * whole transfer.  OUT (may be NULL) gets the payload size, the header's
 * fields and the duration.  REPLCONF errors other than NOAUTH/WRONGPASS/
 * NOPERM are ignored as redis-cli does (servers before 7.0 do not know
 * rdb-only).  A replica whose own link is down answers SYNC with
 * NOMASTERLINK: choose another source.
 *
 * Errors are sentences starting "cannot fetch a snapshot from ADDR:PORT: ":
 * MRD_ERR_CONNECT (refused, unreachable, TLS refused), MRD_ERR_AUTH
 * (NOAUTH, WRONGPASS, NOPERM), MRD_ERR_PROTOCOL (an error reply such as NOMASTERLINK, or an
 * unexpected reply line), MRD_ERR_TIMEOUT (no byte for TIMEOUT_MS),
 * MRD_ERR_IO (the connection closed early, a file operation failed),
 * MRD_ERR_PARSE (the payload is not a complete, intact RDB),
 * MRD_ERR_INVALID (bad arguments). */
mrd_rc store_snapshot_fetch(const char *address, int port, const char *user,
                            const char *pass, const char *dest, int timeout_ms,
                            store_snapshot *out, mrd_error *err);

/* Pure: read the RDB header and the aux fields at its start (repl-id,
 * repl-offset) from BUF (the first LEN bytes of an RDB, e.g. 4096).
 * Reading stops at the first opcode that is not an aux field (SELECTDB,
 * module aux, functions, EOF...) or at the end of BUF: a field cut by the
 * end of BUF is left absent, which is not an error.  Handles RDB string
 * encodings (6/14/32/64-bit lengths, integer-encoded strings 0xC0/0xC1/
 * 0xC2, LZF-compressed strings).  OUT is filled entirely (bytes and
 * duration_ms are 0).  MRD_ERR_PARSE when the header is not an RDB, or
 * when a length encoding is invalid, repl-id is not 40 hex digits or
 * repl-offset is not a number. */
mrd_rc store_rdb_inspect(const unsigned char *buf, size_t len, store_snapshot *out,
                         mrd_error *err);

/* Pure: the CRC64 Redis uses for RDB checksums (Jones polynomial,
 * reflected, init 0).  Start with CRC 0 and feed the chunks in order.
 * store_rdb_crc64(0, "123456789", 9) == 0xe9c6d914c4b8d9ca. */
uint64_t store_rdb_crc64(uint64_t crc, const void *buf, size_t len);

#endif
