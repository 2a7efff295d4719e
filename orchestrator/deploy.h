/* deploy.h - put a topology on its hosts, verify it, take it away. */
#ifndef MRD_DEPLOY_H
#define MRD_DEPLOY_H

#include <stdbool.h>
#include <stdio.h>

#include "orch.h"

typedef struct deploy_opts {
    int parallel;        /* hosts handled at once; <= 0: all */
    int verify_timeout_ms;
    FILE *progress;      /* per-host progress lines; NULL: quiet */
} deploy_opts;

/* Exit codes of deploy: 0 healthy, 1 deployed but not verified healthy
 * in time, 2 a host failed. */
int deploy_run(orch_ctx *c, const deploy_opts *o);

/* Stop every process of the topology by its pid file and remove the state
 * dir.  With YES false, only print what would be stopped.  0 on success. */
int destroy_run(orch_ctx *c, bool yes, FILE *out);

/* The manifest of host H as canonical JSON text (new string). */
mrd_rc deploy_manifest_text(const orch_ctx *c, int host, char **out, mrd_error *err);

/* Deterministic 40-hex-digit sentinel id for HOST of TOPOLOGY, so that a
 * redeploy renders the same manifest. */
void deploy_sentinel_myid(const char *topology, const char *host, char out[41]);

#endif
