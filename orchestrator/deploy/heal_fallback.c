/* heal_fallback.c - heal over ssh: when an agent's API does not answer,
 * run its check --heal on the host over the transport
 * (deploy_heal_fallback, deploy.h). */
#include "deploy_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct heal_job {
    orch_ctx *c;
    int host;
    agent_result *res;
    FILE *diag;
    pthread_mutex_t *lock;
    bool done;
} heal_job;

/* Run `meridian-agent check --heal --json` on the host over the transport
 * and take its report as the agent's answer. */
static void *heal_over_transport(void *arg)
{
    heal_job *hj = arg;
    orch_ctx *c = hj->c;
    const mrd_host *h = &c->topo->hosts[hj->host];
    agent_result *r = hj->res;
    remote_paths p;
    mrd_error err;
    mrd_error_clear(&err);
    tp_result res = {0};
    json_t *body = NULL;
    if (remote_paths_get(c, hj->host, &p, &err) == MRD_OK) {
        const char *argv[] = {p.bin, "check", "--manifest", p.manifest, "--heal", "--json", NULL};
        if (c->tp->ops->exec(c->tp, h, argv, NULL, 0, AGENT_HEAL_TIMEOUT_MS, &res, &err) ==
            MRD_OK) {
            body = json_loadb(res.out, res.out_len, 0, NULL);
            if (!json_is_object(body) || !json_is_integer(json_object_get(body, "code"))) {
                json_decref(body);
                body = NULL;
                cmd_failed(&err, "meridian-agent check --heal", &res);
            }
        }
    }
    tp_result_free(&res);
    pthread_mutex_lock(hj->lock);
    if (body) {
        if (hj->diag)
            fprintf(hj->diag, "meridian: %s: %s; ran meridian-agent check --heal over %s "
                              "instead\n",
                    h->name, r->error[0] ? r->error : "the agent's API did not answer",
                    c->tp->ops->name);
        json_decref(r->body);
        r->body = body;
        r->http_status = 200;
        r->error[0] = '\0';
        hj->done = true;
    } else {
        size_t len = strlen(r->error);
        snprintf(r->error + len, sizeof(r->error) - len, "; over %s: %s", c->tp->ops->name,
                 err.msg);
    }
    pthread_mutex_unlock(hj->lock);
    return NULL;
}

int deploy_heal_fallback(orch_ctx *c, agent_result *res, FILE *diag)
{
    if (!orch_remote(c) || !res)
        return 0;
    int n = c->topo->nhosts, healed = 0;
    heal_job *jobs = calloc((size_t)n, sizeof(*jobs));
    pthread_t *th = calloc((size_t)n, sizeof(*th));
    bool *started = calloc((size_t)n, sizeof(*started));
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    if (!jobs || !th || !started) {
        free(jobs);
        free(th);
        free(started);
        return 0;
    }
    for (int i = 0; i < n; i++) {
        if (res[i].http_status != 0 || res[i].skipped)
            continue;
        jobs[i] = (heal_job){.c = c, .host = i, .res = &res[i], .diag = diag, .lock = &lock};
        started[i] = pthread_create(&th[i], NULL, heal_over_transport, &jobs[i]) == 0;
        if (!started[i])
            heal_over_transport(&jobs[i]);
    }
    for (int i = 0; i < n; i++) {
        if (started[i])
            pthread_join(th[i], NULL);
        healed += jobs[i].done;
    }
    free(jobs);
    free(th);
    free(started);
    return healed;
}
