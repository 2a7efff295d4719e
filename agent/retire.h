/* retire.h - node folders of this host that its manifest no longer lists.
 *
 * When a Redis Cluster shrinks, the orchestrator moves every hash slot off
 * the shards being removed, writes each host a manifest without their
 * nodes and restarts the agents with it.  Those nodes' folders
 * (ROOT/redis/ for the node on store.port, ROOT/redis-PORT/ for any other,
 * see manifest.h) are still in the host root, and their processes still
 * run: unsupervised, they would gossip themselves back into the cluster
 * after it forgets them.  Every heal pass looks for such "leftover"
 * folders (retire_find), observes each one (retire_observe), decides
 * (retire_decide, pure) and, when the pass acts, retires it (retire_act):
 *
 *   - its pid file names no live redis-server: the folder is moved to
 *     ROOT/retired/redis-PORT.<unix-seconds> (0700 folder).  No data is
 *     lost: meridian keeps no data on disk (save "", no AOF).
 *   - it runs, answers as the admin user, owns no hash slot (cluster mode:
 *     its own line of CLUSTER NODES; it imports none either) and holds no
 *     key (INFO keyspace, every database): it is stopped by its recorded
 *     pid (SIGTERM, SIGKILL after a bound), then its folder is moved.  The
 *     count is taken again with the node's writes paused (CLIENT PAUSE
 *     WRITE), so no write lands between the count and the stop.
 *   - it owns slots or holds keys: it is never stopped.  The pass reports
 *     it and the host is not ready until an operator moves its data away
 *     (or puts it back in the manifest).
 *   - it runs but cannot be judged (it does not answer, another process
 *     answers on its port, it is loading or syncing): it is left alone and
 *     judged again by the next pass; the host is not ready meanwhile.
 *
 * Only the process that supervises the host retires: `meridian-agent
 * check --heal` leaves it to a running agent (whose manifest may differ
 * from the one on disk until it is restarted with it, and which would
 * otherwise see a node of its own die).  `meridian-agent stop` (not
 * --agent-only) stops leftover processes too, with no slot or key test
 * (retire_stop_all): stop means every process of the host. */
#ifndef MRD_RETIRE_H
#define MRD_RETIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "err.h"
#include "manifest.h"
#include "supervise.h"

/* The folder retired nodes are moved to, in the host root. */
#define RETIRE_DIR "retired"
/* How long a retired node may take to exit after SIGTERM before it gets
 * SIGKILL (it holds nothing by then). */
#define RETIRE_STOP_MS 5000
/* How long a node's writes stay paused while it is counted and stopped:
 * longer than the stop may take (RETIRE_STOP_MS, then up to 2 s after
 * SIGKILL), so a paused node never accepts a write before it is gone. */
#define RETIRE_PAUSE_MS 10000
/* The most leftover folders one pass judges (more wait for later passes). */
#define RETIRE_MAX 16

/* What was observed about one leftover folder's node. */
typedef struct retire_facts {
    bool cluster;       /* cluster mode: slots count */
    bool proc_alive;    /* its pid file names a live redis-server */
    bool reachable;     /* it answered INFO (cluster mode: and CLUSTER NODES)
                           as the admin user, and both parsed */
    bool same_process;  /* INFO's process_id is the pid its pid file names */
    bool busy;          /* loading a dataset or syncing from its master: its
                           key count is not final */
    int slots;          /* cluster mode: the slots its own view gives it */
    int importing;      /* cluster mode: slots it is importing */
    long long keys;     /* keys in all its databases */
} retire_facts;

/* What a pass does with a leftover folder. */
typedef enum retire_action {
    RETIRE_MOVE = 0, /* not running: move its folder to retired/ */
    RETIRE_STOP,     /* running and empty: stop it by pid, then move */
    RETIRE_KEEP,     /* owns slots or holds keys: never stopped; the host
                        is not ready until an operator moves its data */
    RETIRE_WAIT,     /* running but not judged (no answer, another process
                        on its port, busy): left alone until a later pass;
                        the host is not ready meanwhile */
} retire_action;

/* ==== pure ==== */

/* The port of the node folder named NAME in a host root whose store port
 * is STORE_PORT (the inverse of manifest_node_label): "redis" is
 * STORE_PORT, "redis-PORT" is PORT (1..65535, plain decimal, no sign or
 * leading zero, not STORE_PORT, whose node lives in "redis").  0 for any
 * other name: "retired", "sentinel", "redis-16382.1700000000", ... */
int retire_folder_port(const char *name, int store_port);

/* Is the root entry NAME (a directory when IS_DIR; anything else is never
 * a node folder) the folder of a node that M does not put on its own
 * host?  *PORT (may be NULL) gets the folder's port. */
bool retire_is_leftover(const mrd_manifest *m, const char *name, bool is_dir, int *port);

/* Fill the facts that come from a node's replies: INFO text INFO (LEN
 * bytes; its server, replication, persistence and keyspace sections) and,
 * in cluster mode (F->cluster), its CLUSTER NODES text NODES (NLEN bytes).
 * PID is the pid its pid file names.  Sets reachable, same_process, busy,
 * slots, importing, keys; the other fields are left alone.
 * MRD_ERR_PARSE (reachable false) when a reply does not parse;
 * MRD_ERR_NOMEM. */
mrd_rc retire_facts_from(const char *info, size_t len, const char *nodes, size_t nlen,
                         pid_t pid, retire_facts *f, mrd_error *err);

/* Decide a leftover folder's action from its facts alone. */
retire_action retire_decide(const retire_facts *f);

/* Stable name of an action ("move", "stop", "keep", "wait"). */
const char *retire_action_name(retire_action a);

/* The sentence a pass reports for a node labelled LABEL ("redis-16382")
 * on PORT with facts F, action A and PID (0: none), into BUF (N bytes).
 * KEEP says what the node still holds and what to do; WAIT why it was not
 * judged (WHY: the connection's error, may be NULL or ""); MOVE and STOP
 * what retiring it means.  Pure. */
void retire_explain(const char *label, int port, const retire_facts *f, retire_action a,
                    pid_t pid, const char *why, char *buf, size_t n);

/* ==== with I/O ==== */

/* One leftover folder, as a pass sees it. */
typedef struct retire_node {
    int port;
    char label[24];          /* its folder's name: "redis", "redis-PORT" */
    char dir[MRD_MF_PATH];   /* ROOT/LABEL */
    pid_t pid;               /* the live redis-server its pid file names; 0 */
    retire_facts f;
    retire_action action;
    char why[256];           /* WAIT: what could not be read */
} retire_node;

/* The leftover folders of H's root, by port: up to MAX into OUT (port,
 * label and dir set).  Returns how many there are (which may exceed MAX),
 * or -1 with ERR when the root cannot be read. */
int retire_find(const sv_host *h, retire_node *out, int max, mrd_error *err);

/* Observe RN (its pid file; its INFO and, in cluster mode, CLUSTER NODES
 * as the admin user on this host's address, within TIMEOUT_MS) and decide
 * its action.  Never changes anything. */
void retire_observe(const sv_host *h, retire_node *rn, int timeout_ms);

/* Carry out RN's action when it is RETIRE_MOVE or RETIRE_STOP.  STOP
 * pauses the node's writes, counts again and, when the count still allows
 * it, stops the process by its pid (SIGTERM, SIGKILL after
 * STOP_TIMEOUT_MS); otherwise it resumes the writes, updates RN (facts,
 * action, why) and returns MRD_ERR_STATE.  Then the folder (minus its
 * stale pid file) is renamed to ROOT/retired/redis-PORT.<unix-seconds>
 * (".<unix-seconds>-2" and so on when that exists), whose path goes to
 * MOVED_TO (N bytes).  MRD_ERR_PROCESS when the process
 * did not exit, MRD_ERR_IO when the folder could not be moved (the next
 * pass tries again). */
mrd_rc retire_act(const sv_host *h, retire_node *rn, int stop_timeout_ms, char *moved_to,
                  size_t n, mrd_error *err);

/* `meridian-agent stop`: stop every leftover folder's live redis-server
 * by its pid file (SIGTERM, SIGKILL after TIMEOUT_MS), whatever it holds.
 * Folders stay; the next pass moves them.  The last failure's code. */
mrd_rc retire_stop_all(const sv_host *h, int timeout_ms, mrd_error *err);

#endif
