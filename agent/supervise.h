/* supervise.h - the processes of one host: its store nodes (one
 * redis-server per node the manifest puts here, on its own port) and, when
 * the plan puts one here, its redis-sentinel.
 *
 * The agent renders their configuration from the manifest (only when a
 * file is missing: redis-server and redis-sentinel rewrite their own
 * files after a failover, and that state must survive), starts them as
 * its children, adopts ones that already run (their pid file names a live
 * process of the right program: for a store node, redis-server under any
 * name that starts so, or store.redis_server's base name), and stops them
 * by pid. */
#ifndef MRD_SUPERVISE_H
#define MRD_SUPERVISE_H

#include <stdbool.h>
#include <sys/types.h>

#include "err.h"
#include "manifest.h"
#include "proc.h"
#include "secret.h"

typedef enum sv_kind {
    SV_REDIS = 0, /* redis-server: the store node */
    SV_SENTINEL,  /* redis-sentinel */
} sv_kind;

typedef struct sv_proc {
    sv_kind kind;
    int node;           /* SV_REDIS: its index in the manifest's nodes; -1 */
    char label[24];     /* "redis" (the node on store.port), "redis-PORT",
                           "sentinel": names it in logs and events */
    const char *program;/* store.redis_server (a name on PATH or an absolute
                           path; borrowed from the manifest) / "redis-sentinel" */
    int port;
    pid_t pid;          /* 0 when not running */
    bool child;         /* started by this agent: waitpid() reaps it */
    char conf[MRD_MF_PATH];
    char pidfile[MRD_MF_PATH];
    char logfile[MRD_MF_PATH];
    char dir[MRD_MF_PATH];   /* working/data directory */
} sv_proc;

typedef struct sv_secrets {
    char admin[MRD_SECRET_LEN];
    char replication[MRD_SECRET_LEN];
    char sentinel[MRD_SECRET_LEN];
    char app[MRD_SECRET_LEN];
} sv_secrets;

typedef struct sv_host {
    mrd_manifest *m;     /* owned */
    sv_secrets secrets;
    sv_proc procs[MRD_MF_MAX_HOST_NODES + 1]; /* nodes in manifest order, then
                                                 the sentinel */
    int nprocs;
} sv_host;

/* Load the manifest at PATH and the secrets it names.  *out is new;
 * sv_close() it. */
mrd_rc sv_open(const char *manifest_path, sv_host **out, mrd_error *err);

/* With the manifest's tls.enabled: every later Redis connection of this
 * process (probes, heal, snapshot fetches) uses TLS, verifying the servers
 * with the secrets folder's CA and presenting this host's certificate
 * (store_set_tls).  An unreadable file is an error naming it, and TLS stays
 * on, refusing every connection.  Without TLS: nothing. */
mrd_rc sv_tls_start(const sv_host *h, mrd_error *err);
void sv_close(sv_host **h);

/* Render each process's config if it does not exist yet.  *created gets
 * how many were written. */
mrd_rc sv_render_missing(sv_host *h, int *created, mrd_error *err);

/* The AOF folder of a store node, in its data dir: redis.conf's
 * appenddirname (templates/redis.conf.tpl says it explicitly). */
#define SV_AOF_DIR "appendonlydir"

/* Render P's config (overwriting it) for LEADER (the index of a node of
 * the manifest: the master of P's shard, or, for the sentinel, of the
 * shard it monitors) and, for a store node, replica priority PRIORITY (0:
 * never promote, used while a restored node loads; in cluster mode that
 * is cluster-replica-no-failover yes).
 *
 * FROM_SNAPSHOT (a store node's first start from a fetched dump.rdb):
 * appendonly no, whatever store.persistence says.  Redis 7.0 with
 * appendonly yes loads only its AOF folder, never dump.rdb: without a
 * folder it starts empty, with a fresh random replication id, and the
 * master sends it everything (a full sync); with an old folder it loads
 * that stale data first.  The restore turns the AOF on once the node is
 * synced (heal_restore.c). */
mrd_rc sv_render(const sv_host *h, const sv_proc *p, int leader, int priority,
                 bool from_snapshot, mrd_error *err);

/* Refresh procs[].pid from pid files (adopting processes this agent did
 * not start).  Returns how many are running. */
int sv_refresh(sv_host *h);

/* Start P if it is not running, as a child (the agent's loop, which reaps
 * it and knows at once when it dies) or as a daemon (cron-mode checks, which
 * exit).  P's config must be current: a store node that ran before is
 * never restarted as it was (without persistence a crashed leader would
 * come back empty and its replicas would copy the empty dataset; with an
 * AOF it would come back without up to a second of acknowledged writes,
 * after its shard moved on); the heal pass renders its config as a
 * replica of the current leader first. */
mrd_rc sv_start(sv_host *h, sv_proc *p, mrd_spawn_mode mode, mrd_error *err);

/* Wait until the initial master of node NODE's shard accepts connections,
 * at most TIMEOUT_MS.  A replica retries a failed connection to its leader
 * only once per second (replicationCron), so a fresh replica started
 * before its leader listens would take a second longer to sync.  False on
 * timeout. */
#define SV_PEER_POLL_MS 10
bool sv_wait_master(const sv_host *h, int node, int timeout_ms);

/* Sentinel pings every instance, and retries a broken link, once per
 * ping period (1000 ms by default), and it makes its first connections
 * 1 ms after it starts: a peer that is not listening yet costs a whole
 * period.  So the agent runs its sentinel at SV_SENTINEL_BOOT_PING_MS until
 * it sees every replica and sentinel of the manifest (at most
 * SV_SENTINEL_BOOT_MAX_MS), then at SV_SENTINEL_PING_PERIOD_MS, so links
 * also come back within 300 ms after a restart or a healed partition.
 * Not lower: when the master is down, Sentinel only promotes a replica
 * whose last INFO is younger than 5 x ping period, and it INFOs replicas
 * once a second then; at 100 ms (a 500 ms window) failovers were aborted
 * with -failover-abort-no-good-slave.  SENTINEL DEBUG settings are runtime
 * only, so this is applied after every start. */
#define SV_SENTINEL_BOOT_PING_MS 20
#define SV_SENTINEL_BOOT_MAX_MS 5000
#define SV_SENTINEL_PING_PERIOD_MS 300
/* Sentinel INFOs replicas every 10 s, and every 1 s once a failover has
 * started; it sends the first of those in the tick that starts the
 * failover, just before SLAVEOF NO ONE, so it notices the promotion a
 * whole second later.  INFO every SV_SENTINEL_INFO_PERIOD_MS in normal
 * times makes that first INFO rarely due, and the promotion is seen at the
 * next regular one instead: 0 to 1 s, not always 1 s (a few INFO per
 * second per sentinel). */
#define SV_SENTINEL_INFO_PERIOD_MS 1000
mrd_rc sv_bootstrap_sentinel(const sv_host *h, const sv_proc *p, mrd_error *err);

/* Stop every process by pid (SIGTERM, then SIGKILL after TIMEOUT_MS). */
mrd_rc sv_stop_all(sv_host *h, int timeout_ms, mrd_error *err);

/* Reap exited children; log each exit.  Returns how many exited. */
int sv_reap(sv_host *h);

/* The first process of KIND, or NULL. */
sv_proc *sv_find(sv_host *h, sv_kind kind);

/* The process labelled LABEL ("redis", "redis-PORT", "sentinel"), or NULL. */
sv_proc *sv_label(sv_host *h, const char *label);

/* The process of manifest node NODE, or NULL when it is not on this host. */
sv_proc *sv_node(sv_host *h, int node);

#endif
