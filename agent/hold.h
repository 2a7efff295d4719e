/* hold.h - a store node kept out of Sentinel's choice for a while.
 *
 * A switchover (orchestrator/operations/switchover.h) must make the
 * sentinels promote exactly one replica.  Sentinel promotes the replica
 * with the lowest replica-priority above 0, so the switchover asks the
 * agent of every other replica to *hold* it at replica-priority 0 for the
 * switchover's duration:
 *
 *   POST /v1/hold?port=P&ttl_ms=N   hold node P of this host at
 *                                   replica-priority 0 for N ms (1..
 *                                   HOLD_TTL_MAX_MS); again to extend
 *   POST /v1/hold?port=P&ttl_ms=0   lift it: the manifest's priority back
 *
 * In cluster mode, where Redis ignores replica-priority, a hold also sets
 * cluster-replica-no-failover yes (and a lift no): `meridian restore`
 * holds a shard's replicas while its master loads a backup.
 *
 * A hold is recorded in ROOT/holds.json (wall clock, written atomically)
 * *before* the node's priority is set, and the heal pass reads it when it
 * compares the node's live settings with the manifest (after its probe),
 * so a pass never "repairs" a held node back to its promotable priority
 * in the middle of a switchover.  A hold ends by itself at its expiry,
 * whatever happened to the switchover that asked for it (kill -9
 * included): the next pass sees the drift and sets the manifest's
 * priority back.  Holds survive an agent restart (the file). */
#ifndef MRD_HOLD_H
#define MRD_HOLD_H

#include <stdbool.h>

#include <jansson.h>

#include "err.h"
#include "supervise.h"

#define HOLD_FILE "holds.json"
#define HOLD_TTL_MAX_MS 300000 /* a switchover's longest hold */

/* Is node PORT of the host whose root is ROOT held at NOW_MS (wall
 * clock)?  A missing or unreadable file holds nothing. */
bool hold_active(const char *root, int port, long long now_ms);

/* Record that node PORT is held until UNTIL_MS (wall clock); UNTIL_MS 0
 * drops its hold.  Expired holds are dropped on the way. */
mrd_rc hold_put(const char *root, int port, long long until_ms, mrd_error *err);

/* POST /v1/hold on host H with the query values PORT and TTL_MS (either
 * may be NULL): validate, record, set the node's replica-priority (0, or
 * the manifest's when lifting; CONFIG SET only, never written to the
 * config file).  Returns the answer (new object) and its HTTP status in
 * *STATUS: 200 {"port", "replica_priority", "until_ms"}, 400 a bad or
 * missing value, 404 no node of this host on PORT, 500 the file could not
 * be written or the node did not take the setting (the hold stays
 * recorded: the next pass applies it or it expires). */
json_t *hold_request(const sv_host *h, const char *port, const char *ttl_ms, int *status);

#endif
