/* api_serve.h - the agent's API server (agent/api.h) as tests start it: on
 * the first free port of a range, with do-nothing handlers for the
 * endpoints a test does not look at.  Include after <cmocka.h>. */
#ifndef MRD_TEST_API_SERVE_H
#define MRD_TEST_API_SERVE_H

#include <stdlib.h>
#include <string.h>

#include "api.h"

static inline json_t *api_serve_idle_health(void *ctx, bool *ready)
{
    (void)ctx;
    *ready = true;
    return json_object();
}

static inline json_t *api_serve_idle_nodes(void *ctx)
{
    (void)ctx;
    return json_object();
}

static inline json_t *api_serve_idle_heal(void *ctx, int *http_status)
{
    (void)ctx;
    *http_status = 200;
    return json_object();
}

static inline char *api_serve_idle_metrics(void *ctx)
{
    (void)ctx;
    return strdup("");
}

/* Handlers that answer 200 {} (metrics: nothing) and need no context. */
static inline api_handlers api_serve_idle_handlers(void)
{
    return (api_handlers){.health = api_serve_idle_health,
                          .nodes = api_serve_idle_nodes,
                          .heal = api_serve_idle_heal,
                          .metrics = api_serve_idle_metrics};
}

/* What to start: api_start_tls()'s arguments but the port. */
typedef struct api_serve_opts {
    const char *address;  /* "127.0.0.1" */
    int base, tries;      /* the ports tried: BASE .. BASE + TRIES - 1 */
    const char *token;
    bool metrics_open;
    const api_handlers *h;
    const api_limits *lim; /* NULL: the defaults */
    const api_tls *tls;    /* NULL: plain HTTP */
} api_serve_opts;

/* Start O's server on the first free port of its range (*PORT gets it).
 * Any other failure, or no free port, fails the test. */
static inline api_server *api_serve(const api_serve_opts *o, int *port)
{
    for (int p = o->base; p < o->base + o->tries; p++) {
        api_server *srv = NULL;
        mrd_error err;
        mrd_error_clear(&err);
        mrd_rc rc = api_start_tls(o->address, p, o->token, o->metrics_open, o->h, o->lim,
                                  o->tls, &srv, &err);
        if (rc == MRD_OK) {
            *port = p;
            return srv;
        }
        if (rc != MRD_ERR_IO || !strstr(err.msg, "in use"))
            fail_msg("api_start_tls on %s:%d: %s", o->address, p, err.msg);
    }
    fail_msg("no free port on %s in %d-%d", o->address, o->base, o->base + o->tries - 1);
    return NULL;
}

#endif
