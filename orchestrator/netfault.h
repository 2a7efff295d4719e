/* netfault.h - network faults for drills on the local transport.
 *
 * A region partition is an nftables table of its own ("inet meridian_<name>")
 * whose output hook drops every TCP packet to or from the topology's ports
 * (store, sentinel, agent) between the region's 127.0.R.0/24 and any other
 * address, in both directions, while the region's processes keep running.
 * Only the topology's ports: other deployments sharing the loopback
 * addresses (tests running side by side) are not cut off.  Dropping (not rejecting) is what a real partition does:
 * connections time out.  Removing the table heals it.  The drill removes
 * it on every exit path; a table left by a drill that was SIGKILLed is
 * removed by the next drill's preflight (netfault_heal_stale). */
#ifndef MRD_NETFAULT_H
#define MRD_NETFAULT_H

#include <stddef.h>

#include "err.h"

/* Cut CIDR ("127.0.1.0/24") off from every other address for TCP on the
 * N ports PORTS, in a table named after TOPOLOGY.  MRD_ERR_STATE when nft
 * is missing or not permitted. */
mrd_rc netfault_partition(const char *topology, const char *cidr, const int *ports, int n,
                          mrd_error *err);

/* Remove the topology's table; MRD_OK when there was none. */
mrd_rc netfault_heal(const char *topology, mrd_error *err);

/* The region CIDR for the local transport: the /24 shared by ADDRESSES (N
 * dotted IPv4 strings).  MRD_ERR_INVALID when they do not share one. */
mrd_rc netfault_region_cidr(const char *const *addresses, int n, char *buf, size_t len,
                            mrd_error *err);

#endif
