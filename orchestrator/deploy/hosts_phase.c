/* hosts_phase.c - deploy's hosts phase (deploy_int.h): every host set up
 * in parallel, then the agents' first answers.  deploy.c runs it, and so
 * does scale_steps.c (again, after a scale's drain), which deploy.c runs:
 * in a leaf of its own, so the two never call each other in a circle
 * (ctest unit.layout). */
#include "deploy_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_client.h"
#include "log.h"

#define AGENT_ANSWER_TIMEOUT_MS 20000 /* a started agent answers /v1/health */
#define AGENT_ANSWER_POLL_MS 20

/* Wait until every agent started on a host answers GET
 * /v1/health (ready or not), all hosts at once: an agent answers only
 * once its nodes run, and a sentinel host's agent first waits a little
 * for its peers, so waiting host by host would serialise those waits.  A
 * host whose agent does not answer in time is failed, with the last line
 * of its log. */
static void wait_agents_answer(orch_ctx *c, host_job *jobs)
{
    const mrd_topology *t = c->topo;
    int n = t->nhosts, pending = 0;
    agent_target *targets = calloc((size_t)n, sizeof(*targets));
    agent_result *res = calloc((size_t)n, sizeof(*res));
    int *idx = calloc((size_t)n, sizeof(*idx));
    if (!targets || !res || !idx)
        goto out;
    agent_timeouts to = {.request_ms = AGENT_HEALTH_TIMEOUT_MS,
                         .connect_ms = AGENT_CONNECT_TIMEOUT_MS};
    long long start = mrd_now_ms();
    for (;;) {
        pending = 0;
        for (int i = 0; i < n; i++)
            if (jobs[i].outcome == HOST_STARTED || jobs[i].outcome == HOST_RESTARTED ||
                jobs[i].outcome == HOST_RUNNING) {
                if (jobs[i].answered)
                    continue;
                targets[pending] = (agent_target){.host = t->hosts[i].name,
                                                  .address = t->hosts[i].address,
                                                  .port = t->settings.agent.port};
                idx[pending++] = i;
            }
        if (pending == 0 || mrd_now_ms() - start >= AGENT_ANSWER_TIMEOUT_MS)
            break;
        mrd_error err;
        if (agent_client_default()->health_all(targets, pending, &to, res, &err) != MRD_OK)
            break;
        for (int k = 0; k < pending; k++) {
            host_job *j = &jobs[idx[k]];
            if (res[k].http_status > 0) {
                j->answered = true;
                progress(j, idx[k], "agent answers %s://%s:%d/v1/health (%s) %.2f s after "
                                    "the deploy started",
                         agent_client_scheme(), targets[k].address, targets[k].port,
                         res[k].http_status == 200 ? "ready" : "starting its nodes",
                         (double)(mrd_now_ms() - j->t0) / 1000.0);
            } else {
                snprintf(j->err.msg, sizeof(j->err.msg), "%s", res[k].error);
            }
            json_decref(res[k].body);
        }
        mrd_sleep_ms(AGENT_ANSWER_POLL_MS);
    }
    for (int k = 0; k < pending; k++) {
        host_job *j = &jobs[idx[k]];
        remote_paths p;
        char *log = NULL, line[300] = "", last[sizeof(j->err.msg)];
        snprintf(last, sizeof(last), "%s", j->err.msg);
        mrd_error perr;
        if (remote_paths_get(c, idx[k], &p, &perr) == MRD_OK &&
            tp_get_file(c->tp, &t->hosts[idx[k]], p.log, &log, NULL) == MRD_OK)
            last_line(log, line, sizeof(line));
        free(log);
        mrd_error_set(&j->err, MRD_ERR_TIMEOUT,
                      "the agent did not answer within %d s (%s); last line of its log: %s",
                      AGENT_ANSWER_TIMEOUT_MS / 1000, last, line[0] ? line : "(empty)");
        j->outcome = HOST_FAILED;
        progress(j, idx[k], "FAILED: %s", j->err.msg);
    }
out:
    free(targets);
    free(res);
    free(idx);
}

/* What this run did to the agents, e.g. "6 agents started" or "1 agent
 * started, 5 unchanged". */
static void outcomes_summary(const host_job *jobs, int n, char *buf, size_t len)
{
    static const struct {
        host_outcome o;
        const char *what;
    } kinds[] = {
        {HOST_STARTED, "started"},
        {HOST_RESTARTED, "restarted"},
        {HOST_RUNNING, "found running"},
        {HOST_UNCHANGED, "unchanged"},
        {HOST_FAILED, "failed"},
        {HOST_SKIPPED, "not in use"},
    };
    size_t used = 0;
    buf[0] = '\0';
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        int count = 0;
        for (int i = 0; i < n; i++)
            count += jobs[i].outcome == kinds[k].o;
        if (count == 0)
            continue;
        int w = snprintf(buf + used, len - used, "%s%d%s %s", used ? ", " : "", count,
                         used ? "" : count == 1 ? " agent" : " agents", kinds[k].what);
        if (w < 0 || (size_t)w >= len - used)
            break;
        used += (size_t)w;
    }
}

/* "ssh: 6 connections to 6 hosts (1 per host)" */
static void print_connections(orch_ctx *c, FILE *out)
{
    if (!out || !orch_remote(c))
        return;
    int total = 0, most = 0;
    for (int i = 0; i < c->topo->nhosts; i++) {
        int n = c->tp->ops->connections(c->tp, &c->topo->hosts[i]);
        total += n;
        most = n > most ? n : most;
    }
    fprintf(out, "  %-12s %d connections to %d hosts (at most %d per host)\n",
            c->tp->ops->name, total, c->topo->nhosts, most);
}

int deploy_hosts_phase(orch_ctx *c, const deploy_opts *o, const deploy_shared *sh, long long t0,
                       char *did, size_t didlen, int *changed)
{
    FILE *out = o->progress;
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    host_job *jobs = calloc((size_t)c->topo->nhosts, sizeof(*jobs));
    if (!jobs)
        return 2;
    for (int i = 0; i < c->topo->nhosts; i++)
        jobs[i] = (host_job){.c = c, .sh = sh, .progress = out, .lock = &lock, .t0 = t0};
    run_hosts(c, jobs, o->parallel, deploy_host);
    wait_agents_answer(c, jobs); /* every transport: an operator expects the
                                    agents up (their API) when deploy returns */
    int failed = 0;
    for (int i = 0; i < c->topo->nhosts; i++) {
        failed += jobs[i].outcome == HOST_FAILED;
        *changed += jobs[i].outcome != HOST_UNCHANGED && jobs[i].outcome != HOST_SKIPPED;
    }
    outcomes_summary(jobs, c->topo->nhosts, did, didlen);
    print_connections(c, out);
    if (failed && out) {
        if (failed == c->topo->nhosts)
            fprintf(out, "deploy failed: no host was deployed. Fix these and run deploy "
                         "again:\n");
        else
            fprintf(out, "deploy incomplete: %d of %d hosts failed; the others are "
                         "deployed. Fix these and run deploy again:\n",
                    failed, c->topo->nhosts);
        for (int i = 0; i < c->topo->nhosts; i++)
            if (jobs[i].outcome == HOST_FAILED)
                fprintf(out, "  %-12s %s\n", c->topo->hosts[i].name, jobs[i].err.msg);
    }
    free(jobs);
    return failed ? 2 : 0;
}
