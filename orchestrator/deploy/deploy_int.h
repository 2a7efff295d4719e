/* deploy_int.h - what the files of orchestrator/deploy/ share; for them
 * only (the library's API is deploy.h).
 *
 *   deploy.c         the deploy command: secrets, every host, verify
 *   manifest.c       the manifest of each host
 *   setup.c          deploy one host (local, remote)
 *   agent_ctl.c      the agent of one host: exec, halt, start
 *   destroy.c        the destroy command
 *   heal_fallback.c  heal over the transport when an agent's API is silent
 *   state_lock.c     the state dir's lock (deploy, destroy)
 *   hosts.c          host paths, per-host jobs, progress lines
 *   tls.c            the CA and host certificates: made, checked, renewed */
#ifndef MRD_DEPLOY_INT_H
#define MRD_DEPLOY_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

#include "deploy.h"
#include "lock.h"
#include "manifest.h"

/* A deploy or destroy waits this long for another one of the same state
 * dir to finish, then gives up (DEPLOY_EXIT_BUSY); deploy --timeout
 * shortens it.  A fresh 6-host deploy on loopback takes about 0.3 s; one
 * over ssh with --install-packages can take minutes, and then the second
 * one should rather be told. */
#define DEPLOY_LOCK_WAIT_MS 30000

typedef enum host_outcome {
    HOST_UNCHANGED = 0, /* its agent ran with this manifest: nothing done */
    HOST_STARTED,       /* this run started its agent */
    HOST_RESTARTED,     /* this run restarted its agent (new manifest or
                           new meridian-agent) */
    HOST_RUNNING,       /* this run went to start the agent, but one was
                           running already, unseen when deploy looked (no
                           manifest yet, or started since): its start was
                           refused (one agent per host) and it is left */
    HOST_FAILED,
    HOST_SKIPPED,       /* runs nothing in the plan (an idle spare, a host
                           a spare replaced): left alone */
} host_outcome;

/* What every host's job reads (never written while the jobs run). */
typedef struct deploy_shared {
    char *agent;           /* the meridian-agent binary, remote transports only */
    size_t agent_len;
    char agent_stamp[64];  /* "SIZE FNV1A64\n": which binary a host has */
    bool install_packages;
} deploy_shared;

typedef struct host_job {
    orch_ctx *c;
    const deploy_shared *sh;
    FILE *progress;
    pthread_mutex_t *lock;
    bool yes;             /* destroy: act, not only list */
    long long t0;         /* when the deploy started */
    bool answered;        /* its agent answered /v1/health */
    host_outcome outcome;
    mrd_error err;
} host_job;

/* Paths of one remote host. */
typedef struct remote_paths {
    char root[MRD_PATH_MAX];
    char manifest[MRD_PATH_MAX];
    char bin_dir[MRD_PATH_MAX];
    char bin[MRD_PATH_MAX];      /* ROOT/bin/meridian-agent */
    char stamp[MRD_PATH_MAX];    /* ROOT/bin/meridian-agent.stamp */
    char secrets[MRD_PATH_MAX];  /* ROOT/secrets */
    char log[MRD_PATH_MAX];
    char unit[MRD_PATH_MAX];     /* /etc/systemd/system/meridian-T-H.service */
    char unit_name[160];
} remote_paths;

/* ==== hosts.c ==== */

/* Where host H's agent finds its secrets: the state dir's on the local
 * transport; its own copy, ROOT/secrets, on a remote host. */
mrd_rc host_secrets_dir(const orch_ctx *c, const char *root, char *buf, size_t n);
/* The meridian-agent that runs on host H: this machine's on the local
 * transport, the uploaded ROOT/bin/meridian-agent on a remote host. */
mrd_rc host_agent_bin(const orch_ctx *c, const char *root, char *buf, size_t n);
mrd_rc remote_paths_get(orch_ctx *c, int host, remote_paths *p, mrd_error *err);
/* One progress line for HOST, "  HOST  TEXT" (nothing without j->progress). */
void progress(host_job *j, int host, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The last non-empty line of TEXT (at most N - 1 bytes of it) in BUF. */
void last_line(const char *text, char *buf, size_t n);
/* Record in ERR that WHAT exited with RES->status, with its last line of
 * stderr (or stdout). */
mrd_rc cmd_failed(mrd_error *err, const char *what, const tp_result *res);
/* Exit status of `BIN VERB --manifest M [EXTRA]` on the host; -1 with ERR
 * set when it could not be run.  A status other than 0 sets ERR too. */
int agent_cmd(orch_ctx *c, int host, const char *bin, const char *verb, const char *extra,
              const char *manifest, mrd_error *err);
/* Run FN for every host, PARALLEL at a time. */
void run_hosts(orch_ctx *c, host_job *jobs, int parallel,
               host_outcome (*fn)(orch_ctx *c, int host, host_job *j));

/* ==== manifest.c ==== */

/* The manifest of host H, whose root folder is ROOT, as canonical JSON. */
mrd_rc manifest_text(const orch_ctx *c, int host, const char *root, char **out,
                     mrd_error *err);

/* ==== setup.c ==== */

/* Deploy host H (local or remote, as the transport is); a failure is
 * said on its progress line and kept in j->err. */
host_outcome deploy_host(orch_ctx *c, int host, host_job *j);
/* Lines of the user's crontab except meridian's entry for MANIFEST, plus
 * ENTRY when it is not NULL; run `crontab -` with the result. */
mrd_rc crontab_update(orch_ctx *c, int host, const char *manifest, const char *entry,
                      mrd_error *err);

/* ==== agent_ctl.c ==== */

/* `meridian-agent run --daemon` on host H: the agent's own verdict. */
mrd_rc run_daemon(orch_ctx *c, int host, mrd_error *err);

/* ==== hosts_phase.c ==== */

/* Every host: manifest, secrets, agent (re)started, O->parallel at a
 * time; then wait for the agents to answer.  0, or 2 with what failed
 * printed.  DID gets what happened to the agents ("6 agents started");
 * *CHANGED counts the hosts that were not unchanged. */
int deploy_hosts_phase(orch_ctx *c, const deploy_opts *o, const deploy_shared *sh,
                       long long t0, char *did, size_t didlen, int *changed);

/* ==== scale_steps.c ==== */

/* Before the hosts: refuse an unsafe layout, print the plan diff of a
 * scale, check that every host answers, and when the retiring shards are
 * drained already (an earlier run was killed after the drain) go on with
 * the plan without them (GONE, MRD_MF_MAX_NODES entries, gets their
 * nodes).  0 or 2. */
int deploy_scale_before(orch_ctx *c, FILE *out, char (*gone)[80], int *ngone);

/* After forming: move slots to every shard's quota; retire the shards
 * the plan retires (new manifests without them, so their agents stop
 * them), forget retired nodes (GONE[0..NGONE) too), record the placement.
 * 0, or 2 printed. */
int deploy_scale_after(orch_ctx *c, const deploy_opts *o, const deploy_shared *sh, FILE *out,
                       char (*gone)[80], int ngone, int *changed);

/* ==== tls.c ==== */

/* Each call deploy_tls_reload() makes to a node is bounded by this. */
#define DEPLOY_TLS_CALL_MS 3000

/* The certificates this deploy changed on hosts already running. */
typedef struct deploy_tls {
    bool renewed[MRD_MF_MAX_HOSTS]; /* by topology host index */
    int nrenewed;
} deploy_tls;

/* With tls.enabled, before any host is touched: make meridian's CA at the
 * first deploy, or copy the operator's (tls.ca_file); then give every host
 * a certificate in the state dir's secrets (common/certs.h layout): one
 * issued where there is none, where it no longer fits (another address, a
 * key that does not match, another CA) or where it expires within
 * tls.renew_days; or the operator's from tls.cert_dir, checked first
 * (signed by the CA, valid now, the host's address in subjectAltName, the
 * key mode 0600) and refused, naming the file, before anything changes.
 * *T gets the running hosts whose certificate changed.  Progress lines on
 * OUT (may be NULL).  Without tls.enabled: nothing. */
mrd_rc deploy_tls_prepare(orch_ctx *c, FILE *out, deploy_tls *t, mrd_error *err);

/* After the hosts got their files: every host in T loads its new
 * certificate without downtime: CONFIG SET tls-cert-file on each node,
 * then its sentinel and its agent restart (they read certificates at start
 * only).  Stops at the first failure, which ERR names. */
mrd_rc deploy_tls_reload(orch_ctx *c, const deploy_tls *t, FILE *out, mrd_error *err);

/* ==== state_lock.c ==== */

/* Take the state dir's lock for WHAT ("deploy", "destroy"); see
 * state_lock.c.  0 with *l held; DEPLOY_EXIT_BUSY, -1 or 2 otherwise. */
int state_lock(orch_ctx *c, const char *what, bool create, int wait_ms, FILE *out,
               mrd_lock **l);

#endif
