/* cluster.h - Redis Cluster's views (pure: bytes in, struct out, no I/O),
 * the questions callers ask of them, and the nodes.conf of a restored
 * replica.
 *
 * A view is what one node printed for CLUSTER NODES (or holds in its
 * nodes.conf, the same format plus a "vars" line): every node it knows,
 * their flags and roles, and which node owns each hash slot.  Status
 * compares the views of a shard's nodes; the agent's heal builds a lost
 * replica's nodes.conf from a healthy peer's view, so that the new node
 * starts as `myself,slave <master-id>`, keeps the replication id of the
 * RDB it loads and gets a partial resync (DESIGN.md, "Redis facts").
 *
 * The format is Redis 7.0's (cluster.c: clusterGenNodeDescription() writes
 * it, clusterLoadConfig() reads it), one line per node:
 *
 *   <id> <ip>:<port>@<bus-port>[,<hostname>] <flags> <master-id|-> \
 *       <ping-sent-ms> <pong-recv-ms> <config-epoch> <connected|disconnected> \
 *       <slot>...
 *
 * where a slot item is N, A-B, or (on myself's line only) an open
 * migration [N->-<id>] / import [N-<-<id>].
 *
 * Not thread-safe per view; the functions keep no state of their own. */
#ifndef MRD_STORE_CLUSTER_H
#define MRD_STORE_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

#define STORE_CLUSTER_SLOTS 16384     /* hash slots, fixed by Redis */
#define STORE_CLUSTER_MAX_NODES 512   /* more nodes in a view is an error */
#define STORE_CLUSTER_ID_LEN 40       /* a node id: 40 lowercase hex digits */
#define STORE_CLUSTER_NONE 0xFFFF     /* no node, in the slot maps below */

/* A node's flags, one bit per word Redis prints (representClusterNodeFlags();
 * "noflags" is the empty set). */
typedef enum store_cluster_flag {
    STORE_CLUSTER_MYSELF = 1u << 0,     /* the node that printed the view */
    STORE_CLUSTER_MASTER = 1u << 1,
    STORE_CLUSTER_SLAVE = 1u << 2,
    STORE_CLUSTER_PFAIL = 1u << 3,      /* "fail?": this viewer's suspicion */
    STORE_CLUSTER_FAIL = 1u << 4,       /* "fail": a majority of masters agreed */
    STORE_CLUSTER_HANDSHAKE = 1u << 5,  /* met, not yet known by its real id */
    STORE_CLUSTER_NOADDR = 1u << 6,     /* address unknown */
    STORE_CLUSTER_NOFAILOVER = 1u << 7, /* replica that never fails over */
} store_cluster_flag;

typedef struct store_cluster_node {
    char id[STORE_CLUSTER_ID_LEN + 1];
    char ip[64];              /* "" for a node whose address is unknown */
    char hostname[256];       /* cluster-announce-hostname, "" when none */
    int port;                 /* 0..65535 */
    int bus_port;             /* 0..65535 */
    unsigned flags;           /* store_cluster_flag bits */
    char master_id[STORE_CLUSTER_ID_LEN + 1]; /* "" for "-" */
    long long ping_sent_ms;   /* unix ms of an unanswered ping, 0 when none */
    long long pong_recv_ms;   /* unix ms of the last pong */
    unsigned long long config_epoch; /* a replica shows its master's */
    bool connected;           /* link-state "connected" */
    int nslots;               /* slots this node owns in the view */
} store_cluster_node;

/* One node's view.  Large (about 300 KB): get it from
 * store_cluster_view_new() or allocate it on the heap. */
typedef struct store_cluster_view {
    store_cluster_node nodes[STORE_CLUSTER_MAX_NODES]; /* in the text's order */
    int nnodes;
    int myself;               /* index of the "myself" node */
    /* Per slot, the index in nodes[] of: its owner; the node myself is
     * migrating it to; the node myself is importing it from.
     * STORE_CLUSTER_NONE when none. */
    uint16_t owner[STORE_CLUSTER_SLOTS];
    uint16_t migrating_to[STORE_CLUSTER_SLOTS];
    uint16_t importing_from[STORE_CLUSTER_SLOTS];
    /* The "vars" line of a nodes.conf (never in CLUSTER NODES). */
    bool has_vars;
    unsigned long long current_epoch;
    unsigned long long last_vote_epoch;
} store_cluster_view;

/* A new zeroed view the caller frees with store_cluster_view_free(); NULL
 * when out of memory. */
store_cluster_view *store_cluster_view_new(void);

/* Free *V (NULL accepted) and set *V to NULL. */
void store_cluster_view_free(store_cluster_view **v);

/* ==== CLUSTER NODES ==================================================== */

/* Parse the text of CLUSTER NODES, or of a nodes.conf, LEN bytes of TEXT
 * (no NUL needed; nothing past LEN is read).  Lines end in "\n" or
 * "\r\n"; blank lines are skipped, as Redis' loader does.  OUT is filled
 * entirely.
 *
 * MRD_ERR_PARSE, with a sentence naming the line and what is wrong, when
 * a line has fewer than 8 fields, an id is not 40 lowercase hex digits,
 * the address is not ip:port@bus-port[,hostname] with ports 0..65535, a
 * flag is unknown, a number is malformed, the link state is neither
 * connected nor disconnected, a slot item is malformed or out of range,
 * two lines have the same id, two lines claim the same slot, a node that
 * is not a master owns slots, a migration names a node the view does not
 * list, the text holds a control character, more than
 * STORE_CLUSTER_MAX_NODES nodes are listed, or there is not exactly one
 * "myself".  A master id that the view does not list is not an error
 * (store_cluster_master_of() then answers NULL). */
mrd_rc store_cluster_nodes_parse(const char *text, size_t len, store_cluster_view *out,
                                 mrd_error *err);

/* ==== QUESTIONS ======================================================== */

/* The node that printed the view (borrowed). */
const store_cluster_node *store_cluster_myself(const store_cluster_view *v);

/* The owner of SLOT (borrowed); NULL when the slot is unassigned or SLOT
 * is out of 0..16383. */
const store_cluster_node *store_cluster_slot_owner(const store_cluster_view *v, int slot);

/* Slots whose owner has none of the flags in EXCLUDE: 0 counts every
 * assigned slot (cluster_slots_assigned), STORE_CLUSTER_FAIL |
 * STORE_CLUSTER_PFAIL counts those CLUSTER INFO calls ok. */
int store_cluster_slots_covered(const store_cluster_view *v, unsigned exclude);

/* True when A and B give every slot the same owner (by node id; both
 * unassigned counts as the same).  Otherwise false, and *FIRST (may be
 * NULL) gets the first slot where they differ. */
bool store_cluster_slots_agree(const store_cluster_view *a, const store_cluster_view *b,
                               int *first);

/* The node with id ID (borrowed), NULL when absent. */
const store_cluster_node *store_cluster_find(const store_cluster_view *v, const char *id);

/* The node at IP:PORT (borrowed), NULL when absent.  The client port,
 * not the bus port. */
const store_cluster_node *store_cluster_find_addr(const store_cluster_view *v,
                                                  const char *ip, int port);

/* The master of NODE's shard (borrowed): NODE itself when it is a master,
 * the node its master id names when it is a replica; NULL when that
 * master is not in the view, or NODE is neither. */
const store_cluster_node *store_cluster_master_of(const store_cluster_view *v,
                                                  const store_cluster_node *node);

/* The replicas of MASTER, in the view's order: up to MAX pointers
 * (borrowed) into OUT (may be NULL when MAX is 0).  Returns how many the
 * view holds, which may exceed MAX (as snprintf does). */
int store_cluster_replicas(const store_cluster_view *v, const store_cluster_node *master,
                           const store_cluster_node **out, int max);

/* ==== KEYS AND REDIRECTIONS ============================================ */

/* The hash slot of the key KEY (LEN bytes), as Redis computes it
 * (cluster.c keyHashSlot()): CRC16-CCITT (XMODEM) of the key, or of the
 * part between the first "{" and the next "}" when that part is not
 * empty, modulo 16384.  Pure. */
int store_cluster_keyslot(const char *key, size_t len);

/* A redirection a cluster node answered instead of running a command. */
typedef struct store_cluster_redirect {
    bool ask;      /* ASK (one command, after ASKING), else MOVED (the slot
                      has a new owner) */
    int slot;
    char ip[64];
    int port;
} store_cluster_redirect;

/* Parse an error reply "MOVED <slot> <ip>:<port>" or "ASK <slot>
 * <ip>:<port>" (a leading "-" is allowed; an IPv6 address is the part
 * before the last ':').  True with OUT filled when MSG is one; false, OUT
 * unspecified, for any other text (CLUSTERDOWN, READONLY, ...).  Pure. */
bool store_cluster_redirect_parse(const char *msg, store_cluster_redirect *out);

/* ==== CLUSTER INFO ===================================================== */

typedef struct store_cluster_info {
    char state[8];                  /* "ok" or "fail" */
    bool ok;                        /* cluster_state:ok */
    long long slots_assigned;
    long long slots_ok;
    long long slots_pfail;
    long long slots_fail;
    long long known_nodes;
    long long size;                 /* masters serving at least one slot */
    long long current_epoch;
    long long my_epoch;
} store_cluster_info;

/* Parse the text of CLUSTER INFO (LEN bytes, "key:value" lines as INFO).
 * OUT is filled entirely.  MRD_ERR_PARSE when cluster_state is missing or
 * neither ok nor fail, or one of the numbers above is missing, malformed
 * or negative; fields not listed here are ignored. */
mrd_rc store_cluster_info_parse(const char *text, size_t len, store_cluster_info *out,
                                mrd_error *err);

/* ==== NODES.CONF FOR A RESTORED REPLICA ================================ */

/* Who the restored replica is. */
typedef struct store_cluster_replica_spec {
    const char *id;          /* the lost node's id, or store_cluster_new_id()'s */
    const char *ip;          /* where it will listen (announced address) */
    int port;
    int bus_port;            /* its cluster-port */
    const char *master_id;   /* the master it must replicate */
    unsigned long long current_epoch; /* the peer's cluster_current_epoch */
} store_cluster_replica_spec;

/* Pure: append to OUT the text of a nodes.conf with which redis-server
 * 7.0 starts as SPEC's replica: a first line
 * "<id> <ip>:<port>@<bus> myself,slave <master-id> 0 0 <epoch> connected",
 * then every node of PEER (the view a healthy node of the cluster
 * printed) except those it replaces, then
 * "vars currentEpoch <N> lastVoteEpoch 0".  Every line ends in "\n".
 *
 * Written before the node's first start, with the RDB of a peer of the
 * shard beside it, this makes the node load that RDB as a cached master
 * and ask the master for a partial resync (DESIGN.md).  Verified on Redis
 * 7.0.15 with the lost node's id at a new address, a new id at a new
 * address, and a new id at the lost node's address.  With the lost id the
 * others only update its address; a new id is unknown to them (a node
 * answers the PING of an unknown id but does not add it): introduce it
 * with CLUSTER MEET once it runs, which keeps its replication as it is.
 * The lost node's entry then stays in the others' views (noaddr when the
 * new node took its address) until meridian forgets it.
 *
 * What is copied, and why (cluster.c, clusterLoadConfig()):
 * - PEER's nodes with SPEC's id or at SPEC's ip:port are left out: they
 *   are the lost node, which this one replaces (Redis then updates the
 *   address of a reused id, and marks a replaced id noaddr).
 * - handshake nodes are left out (their ids are temporary; Redis' own
 *   clusterSaveConfig() leaves them out too).
 * - "myself" is removed from the peer's flags; "fail?" is removed (it is
 *   the peer's own suspicion, which the new node forms itself); "fail"
 *   is kept (the cluster agreed on it; a reachable node clears it).
 * - ping-sent and pong-received are written 0: a non-zero value makes the
 *   loader believe a ping is pending since its start.
 * - open migrations are left out: on load they become the new node's own.
 *
 * MRD_ERR_INVALID, OUT unchanged, when an id is not 40 lowercase hex
 * digits, the ip is empty or holds a space, a port is out of 1..65535,
 * PEER has no master with MASTER_ID or it is marked fail, handshake or
 * noaddr, SPEC's id is
 * the master's or the peer's own, or a node this one would replace owns
 * slots.  MRD_ERR_INVALID or MRD_ERR_NOMEM from OUT's cap or allocation
 * (1 MiB is always enough). */
mrd_rc store_cluster_replica_conf(const store_cluster_view *peer,
                                  const store_cluster_replica_spec *spec, mrd_buf *out,
                                  mrd_error *err);

/* Not pure: a new random node id (40 lowercase hex digits and a NUL) from
 * getrandom(2), as Redis makes its own.  MRD_ERR_IO when the kernel gives
 * no random bytes. */
mrd_rc store_cluster_new_id(char out[STORE_CLUSTER_ID_LEN + 1], mrd_error *err);

#endif
