/* snapshot_internal.h - store/ and its tests only: the snapshot fetch over
 * a socket that is already connected.
 *
 * store_snapshot_fetch() is this plus the connect; tests/fuzz/
 * fuzz_snapshot.c drives the protocol side (reply lines, keepalives, both
 * payload forms, the EOF mark across reads, trailer and CRC64, the atomic
 * install) through a socket pair, with no server. */
#ifndef MRD_STORE_SNAPSHOT_INTERNAL_H
#define MRD_STORE_SNAPSHOT_INTERNAL_H

#include "snapshot.h"

/* store_snapshot_fetch() over FD, a connected stream or seqpacket socket
 * (taken: closed before returning, on every path).  NAME names the source
 * in errors ("cannot fetch a snapshot from NAME: ...").  Same arguments
 * otherwise, same errors but MRD_ERR_CONNECT. */
mrd_rc store__snapshot_fetch_fd(int fd, const char *name, const char *user,
                                const char *pass, const char *dest, int timeout_ms,
                                store_snapshot *out, mrd_error *err);

#endif
