/* netfault.h - network faults for drills.
 *
 * A region partition is an nftables table of its own ("inet meridian_<name>")
 * installed on every host of the region.  It holds the set of addresses
 * inside the partition (the region's hosts, plus a probe client's address
 * on loopback test hosts) and drops every TCP packet on the topology's
 * ports (store, sentinel, agent) between an inside address and any other,
 * in both directions, on the input and output hooks, while the region's
 * processes keep running.  Only those ports: ssh still reaches the hosts
 * (the drill removes the table the way it installed it), and other
 * deployments sharing the loopback addresses (tests running side by side)
 * are not cut off.  Dropping (not rejecting) is what a real partition
 * does: connections time out.
 *
 * The scripts are built here and run with `nft -f -` through the
 * transport, as root or through `sudo -n`.  On loopback test hosts every
 * "host" is this machine: the region's hosts then add the same rules to
 * the one table twice, which drops nothing more, and one delete removes
 * them all.  The drill removes the table on every exit path; one left by a
 * drill that was SIGKILLed is removed by the next partition drill's
 * preflight, on every host. */
#ifndef MRD_NETFAULT_H
#define MRD_NETFAULT_H

#include <stddef.h>

#include "err.h"
#include "transport.h"

/* The script that cuts the N addresses of INSIDE (dotted IPv4) off from
 * every other address for TCP on the NPORTS ports PORTS, in the table of
 * TOPOLOGY, into BUF.  MRD_ERR_INVALID for an address that is not IPv4,
 * none at all, or a script longer than LEN. */
mrd_rc netfault_partition_script(const char *topology, const char *const *inside, int n,
                                 const int *ports, int nports, char *buf, size_t len,
                                 mrd_error *err);

/* The script that removes the topology's table, with no error when there
 * is none. */
void netfault_heal_script(const char *topology, char *buf, size_t len);

/* Run SCRIPT with `nft -f -` on HOST through TP (`sudo -n nft` unless
 * USER is root).  MRD_ERR_STATE with what nft or sudo said when it fails
 * (nftables missing, not root). */
mrd_rc netfault_apply(mrd_tp *tp, const mrd_host *host, const char *user, const char *script,
                      mrd_error *err);

#endif
