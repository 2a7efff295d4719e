/* deploy.h - put a topology on its hosts, verify it, take it away. */
#ifndef MRD_DEPLOY_H
#define MRD_DEPLOY_H

#include <stdbool.h>
#include <stdio.h>

#include "agent_client.h"
#include "orch.h"

typedef struct deploy_opts {
    int parallel;        /* hosts handled at once; <= 0: all */
    int verify_timeout_ms; /* also bounds the wait for another deploy, if < 30 s */
    FILE *progress;      /* per-host progress lines; NULL: quiet */
} deploy_opts;

/* Exit code of deploy and destroy when another deploy or destroy of the
 * same state dir held its lock for all of the wait (EX_TEMPFAIL: run it
 * again later). */
#define DEPLOY_EXIT_BUSY 75

/* Deploy and destroy of one state dir run one at a time: each holds the
 * state dir's lock (an flock on the folder, dropped by the kernel when
 * the process exits, kill -9 included; STATE/deploy.lock names the
 * holder).  A second one waits up to 30 s (deploy: or its verify
 * timeout, when shorter), saying so, then exits DEPLOY_EXIT_BUSY naming
 * the holder's pid. */

/* Exit codes of deploy: 0 healthy, 1 deployed but not verified healthy
 * in time, 2 a host failed (the others are deployed; a re-run finishes
 * the job), DEPLOY_EXIT_BUSY another deploy or destroy is running.  The
 * progress lines say, host by host, what this run did: "agent started"
 * only for an agent it started. */
int deploy_run(orch_ctx *c, const deploy_opts *o);

/* Deploy's host phase alone: every host's manifest and agent as C's plan
 * says (a host the plan does not use is left alone), then wait until the
 * agents answer.  0, or 2 with what failed said on O->progress. */
int deploy_hosts(orch_ctx *c, const deploy_opts *o);

/* Stop every process of the topology by its pid file and remove the state
 * dir (and, over ssh, each host's root folder, systemd unit and cron
 * entry).  With YES false, only print what would be stopped (no lock
 * taken).  0 on success; 1 when a host could not be stopped (the state is
 * kept), or when part of the state could not be removed (each entry left
 * is named, with its reason); DEPLOY_EXIT_BUSY another deploy or destroy
 * is running. */
int destroy_run(orch_ctx *c, bool yes, FILE *out);

/* For every host whose agent gave no HTTP answer to POST /v1/heal
 * (RES[i].http_status 0), run `meridian-agent check --heal --json` on the
 * host over the transport instead (ssh only: the local transport's agents
 * are on this machine) and put its report in RES[i].  Says so on DIAG.
 * Returns how many hosts answered that way. */
int deploy_heal_fallback(orch_ctx *c, agent_result *res, FILE *diag);

/* Run `meridian-agent ARGS... --manifest MANIFEST` on host H through the
 * transport: this machine's agent binary on the local transport, the
 * uploaded one over ssh.  *res as the transport's exec gives it. */
mrd_rc deploy_agent_exec(orch_ctx *c, int host, const char *const *args, tp_result *res,
                         mrd_error *err);

/* Stop host H's agent abruptly, its nodes left running: SIGKILL, or
 * `systemctl stop` where deploy runs it under systemd (which would start a
 * killed one again).  HOW says what was done. */
mrd_rc deploy_agent_halt(orch_ctx *c, int host, char *how, size_t n, mrd_error *err);

/* Start host H's agent again the way deploy started it: detached (run
 * --daemon), or `systemctl start` of its unit. */
mrd_rc deploy_agent_start(orch_ctx *c, int host, mrd_error *err);

/* The manifest of host H as canonical JSON text (new string); its paths
 * are the host's (over ssh this connects to resolve "~/"). */
mrd_rc deploy_manifest_text(const orch_ctx *c, int host, char **out, mrd_error *err);

/* Deterministic 40-hex-digit sentinel id for HOST of TOPOLOGY, so that a
 * redeploy renders the same manifest. */
void deploy_sentinel_myid(const char *topology, const char *host, char out[41]);

#endif
