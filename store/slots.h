/* slots.h - moving hash slots between Redis Cluster masters, with Redis'
 * own primitives (the procedure of Redis' cluster specification, "Live
 * reconfiguration"):
 *
 *   destination  CLUSTER SETSLOT <slot> IMPORTING <source-id>
 *   source       CLUSTER SETSLOT <slot> MIGRATING <destination-id>
 *   source       CLUSTER GETKEYSINSLOT <slot> <count>      until empty:
 *   source       MIGRATE <ip> <port> "" 0 <timeout> AUTH2 <user> <pass>
 *                        KEYS <key>...                     (a batch)
 *   every master CLUSTER SETSLOT <slot> NODE <destination-id>
 *                                                 (destination first)
 *
 * While a slot migrates, its source answers for the keys it still holds
 * and sends ASK for the others, so clients reach every key throughout.
 * MIGRATE moves a batch atomically on the source (it blocks while it
 * copies, then deletes what the destination acknowledged), so a
 * client killed in the middle loses no key.  The password of MIGRATE's
 * AUTH2 travels only in the command (Redis 7 redacts it from SLOWLOG and
 * MONITOR), never in argv or logs. */
#ifndef MRD_STORE_SLOTS_H
#define MRD_STORE_SLOTS_H

#include <stdbool.h>

#include "conn.h"
#include "err.h"

/* Up to MAX keys of SLOT the node holds (CLUSTER GETKEYSINSLOT): *KEYS
 * new (store_slot_keys_free()), each KEYS[i] *LENS[i] bytes (binary safe;
 * NUL-terminated too), *N how many (0: none left).  *LENS is part of
 * *KEYS' allocation: do not free it. */
mrd_rc store_slot_keys(store_conn *c, int slot, int max, char ***keys, size_t **lens, int *n,
                       mrd_error *err);
void store_slot_keys_free(char **keys, int n);

/* CLUSTER COUNTKEYSINSLOT for each of SLOTS[0..N), pipelined: OUT[i].
 * After a failure the connection is unusable: close it. */
mrd_rc store_slot_count_keys(store_conn *c, const int *slots, int n, long long *out,
                             mrd_error *err);

/* MIGRATE KEYS[0..N) (LENS[i] bytes each) from C's node to IP:PORT as USER/PASS, waiting at
 * most TIMEOUT_MS for the destination (C's own read timeout is raised to
 * match for this command).  REPLACE overwrites keys the destination
 * already holds.  Redis' error as MRD_ERR_PROTOCOL ("IOERR error or
 * timeout ...", "BUSYKEY ...", "ERR Target instance replied with error:
 * ..."); "NOKEY" (none of the keys was there any more) is MRD_OK. */
mrd_rc store_migrate_keys(store_conn *c, const char *ip, int port, const char *user,
                          const char *pass, int timeout_ms, bool replace,
                          char *const *keys, const size_t *lens, int n, mrd_error *err);

#endif
