/* api.h - the agent's HTTP API (libmicrohttpd), on the host's address and
 * the topology's agent port.
 *
 *   GET  /v1/health  200 when every node of the host is ready, else 503;
 *                    no token (load balancers call it)
 *   GET  /v1/nodes   role, link, lag, pid, data dir state of each node
 *   POST /v1/heal    run one check-and-heal pass; its report
 *   GET  /metrics    Prometheus text exposition (token unless metrics_open)
 *
 * Protected endpoints need "Authorization: Bearer <token>", compared in
 * constant time: missing or wrong -> 401.  A malformed request or a body
 * over API_MAX_BODY -> 400, an unknown path -> 404, a known path with the
 * wrong method -> 405; every error body is {"error": "..."}.
 *
 * The API knows nothing of healing: it calls the handlers below, which the
 * agent implements.  Each connection has its own thread, so a long POST
 * /v1/heal never delays /v1/health, and the heal loop never waits for the
 * API (handlers take the agent's own locks). */
#ifndef MRD_API_H
#define MRD_API_H

#include <stdbool.h>

#include <jansson.h>

#include "err.h"

#define API_MAX_BODY 4096 /* bytes; POST /v1/heal takes an optional {} body */

typedef struct api_handlers {
    void *ctx;
    /* GET /v1/health: new object; *ready decides 200 or 503. */
    json_t *(*health)(void *ctx, bool *ready);
    /* GET /v1/nodes: new object. */
    json_t *(*nodes)(void *ctx);
    /* POST /v1/heal: run a pass; new object; *http_status is 200, or 409
     * when another pass holds the lock and did not finish in time. */
    json_t *(*heal)(void *ctx, int *http_status);
    /* GET /metrics: new NUL-terminated text (malloc). */
    char *(*metrics)(void *ctx);
} api_handlers;

typedef struct api_server api_server; /* opaque */

/* Listen on ADDRESS:PORT.  TOKEN is copied.  H is copied; H->ctx must
 * outlive the server.  *out is new; api_stop() it. */
mrd_rc api_start(const char *address, int port, const char *token, bool metrics_open,
                 const api_handlers *h, api_server **out, mrd_error *err);

/* Stop listening, wait for running requests, free, NULL *s.  Accepts NULL. */
void api_stop(api_server **s);

#endif
