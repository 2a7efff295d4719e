#include "probe.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "conn_internal.h"
#include "log.h"

/* AUTH + a view, or AUTH + INFO + CONFIG GET + CLUSTER NODES + CLUSTER INFO */
#define PROBE_MAX_REPLIES (1 + STORE__VIEW_NCOMMANDS > 5 ? 1 + STORE__VIEW_NCOMMANDS : 5)

/* Where one probe is. */
typedef enum probe_state {
    PROBE_CONNECTING = 0, /* non-blocking connect in progress */
    PROBE_WRITING,        /* flushing AUTH and the commands */
    PROBE_READING,        /* waiting for the replies */
    PROBE_DONE,           /* finished: rc says how */
} probe_state;

typedef struct probe_run {
    store_probe *p;
    redisContext *ctx;
    probe_state state;
    int want;                         /* replies expected (AUTH included) */
    int got;
    int config_at;                    /* the CONFIG GET reply's index; 0 none */
    redisReply *replies[PROBE_MAX_REPLIES];
    char name[96];
} probe_run;

static void finish(probe_run *r, mrd_rc rc)
{
    r->state = PROBE_DONE;
    r->p->rc = rc;
}

static void fail_io(probe_run *r, const char *what)
{
    mrd_error_set(&r->p->err, MRD_ERR_CONNECT, "cannot %s %s: %s", what, r->name,
                  r->ctx && r->ctx->errstr[0] ? r->ctx->errstr : strerror(errno));
    finish(r, MRD_ERR_CONNECT);
}

static void start(probe_run *r)
{
    store_probe *p = r->p;
    snprintf(r->name, sizeof(r->name), "%s:%d", p->address, p->port);
    r->ctx = store_source() ? redisConnectBindNonBlock(p->address, p->port, store_source())
                            : redisConnectNonBlock(p->address, p->port);
    if (!r->ctx || r->ctx->err) {
        fail_io(r, "connect to");
        return;
    }
    const char *auth[] = {"AUTH", p->user, p->pass};
    size_t authlen[] = {4, strlen(p->user), strlen(p->pass)};
    union {
        const char *const *in;
        const char **out;
    } a = {.in = auth};
    redisAppendCommandArgv(r->ctx, 3, a.out, authlen);
    r->want = 1;
    if (p->kind == STORE_PROBE_INFO) {
        redisAppendCommand(r->ctx, "INFO replication");
        r->want++;
        if (p->config && p->config[0]) {
            const char *argv[2 + STORE_PROBE_MAX_CONFIG] = {"CONFIG", "GET"};
            int argc = 2;
            for (int i = 0; i < STORE_PROBE_MAX_CONFIG && p->config[i]; i++)
                argv[argc++] = p->config[i];
            redisAppendCommandArgv(r->ctx, argc, argv, NULL);
            r->want++;
            r->config_at = r->want - 1;
        }
        if (p->cluster) {
            redisAppendCommand(r->ctx, "CLUSTER NODES");
            redisAppendCommand(r->ctx, "CLUSTER INFO");
            r->want += 2;
        }
    } else {
        const char *const *cmds[STORE__VIEW_NCOMMANDS] = {STORE__VIEW_COMMANDS(p->master)};
        for (int i = 0; i < STORE__VIEW_NCOMMANDS; i++) {
            size_t lens[3] = {strlen(cmds[i][0]), strlen(cmds[i][1]), strlen(cmds[i][2])};
            union {
                const char *const *in;
                const char **out;
            } c = {.in = cmds[i]};
            redisAppendCommandArgv(r->ctx, 3, c.out, lens);
            r->want++;
        }
    }
    r->state = PROBE_CONNECTING;
}

/* CONFIG GET's flat name/value list into p->config_values, by name. */
static void take_config(store_probe *p, const redisReply *cfg)
{
    if (cfg->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t k = 0; k + 1 < cfg->elements; k += 2) {
        const redisReply *name = cfg->element[k], *val = cfg->element[k + 1];
        if (name->type != REDIS_REPLY_STRING || val->type != REDIS_REPLY_STRING)
            continue;
        for (int i = 0; i < STORE_PROBE_MAX_CONFIG && p->config[i]; i++)
            if (!p->config_values[i] && strcmp(p->config[i], name->str) == 0)
                p->config_values[i] = strdup(val->str);
    }
}

/* Turn the collected replies into the probe's result. */
static void complete(probe_run *r)
{
    store_probe *p = r->p;
    redisReply *auth = r->replies[0];
    if (auth->type == REDIS_REPLY_ERROR) {
        mrd_error_set(&p->err, MRD_ERR_AUTH, "%s: %s", r->name, auth->str);
        finish(r, MRD_ERR_AUTH);
        return;
    }
    for (int i = 1; i < r->want; i++)
        if (r->replies[i]->type == REDIS_REPLY_ERROR) {
            mrd_error_set(&p->err, MRD_ERR_PROTOCOL, "%s: %s", r->name, r->replies[i]->str);
            finish(r, MRD_ERR_PROTOCOL);
            return;
        }
    if (p->kind == STORE_PROBE_INFO) {
        redisReply *info = r->replies[1];
        if (info->type != REDIS_REPLY_STRING) {
            mrd_error_set(&p->err, MRD_ERR_PROTOCOL, "%s: INFO is not a string", r->name);
            finish(r, MRD_ERR_PROTOCOL);
            return;
        }
        p->info = strdup(info->str);
        if (!p->info) {
            finish(r, MRD_ERR_NOMEM);
            return;
        }
        if (r->config_at)
            take_config(p, r->replies[r->config_at]);
        if (p->cluster) {
            const redisReply *nodes = r->replies[r->want - 2], *ci = r->replies[r->want - 1];
            if (nodes->type != REDIS_REPLY_STRING || ci->type != REDIS_REPLY_STRING) {
                mrd_error_set(&p->err, MRD_ERR_PROTOCOL,
                              "%s: CLUSTER NODES or CLUSTER INFO is not a string", r->name);
                finish(r, MRD_ERR_PROTOCOL);
                return;
            }
            p->cluster_nodes = strdup(nodes->str);
            p->cluster_info = strdup(ci->str);
            if (!p->cluster_nodes || !p->cluster_info) {
                finish(r, MRD_ERR_NOMEM);
                return;
            }
        }
        finish(r, MRD_OK);
        return;
    }
    memset(p->view, 0, sizeof(*p->view));
    mrd_rc rc = store__parse_view(r->name, p->master, &r->replies[1], p->view, &p->err);
    finish(r, rc);
}

/* Advance R after poll() reported REVENTS on its socket. */
static void step(probe_run *r, short revents)
{
    if (r->state == PROBE_CONNECTING) {
        int soerr = 0;
        socklen_t len = sizeof(soerr);
        if (getsockopt(r->ctx->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0 || soerr) {
            errno = soerr;
            r->ctx->errstr[0] = '\0';
            fail_io(r, "connect to");
            return;
        }
        r->ctx->flags |= REDIS_CONNECTED;
        r->state = PROBE_WRITING;
    }
    if (r->state == PROBE_WRITING && (revents & POLLOUT)) {
        int done = 0;
        if (redisBufferWrite(r->ctx, &done) != REDIS_OK) {
            fail_io(r, "write to");
            return;
        }
        if (done)
            r->state = PROBE_READING;
    }
    if (r->state == PROBE_READING && (revents & (POLLIN | POLLHUP | POLLERR))) {
        if (redisBufferRead(r->ctx) != REDIS_OK) {
            fail_io(r, "read from");
            return;
        }
        void *reply;
        while (r->got < r->want) {
            if (redisGetReplyFromReader(r->ctx, &reply) != REDIS_OK) {
                fail_io(r, "parse the reply of");
                return;
            }
            if (!reply)
                break;
            r->replies[r->got++] = reply;
        }
        if (r->got == r->want)
            complete(r);
    }
}

mrd_rc store_probe_all(store_probe *probes, int n, int timeout_ms)
{
    probe_run *runs = calloc((size_t)n, sizeof(*runs));
    struct pollfd *pfds = calloc((size_t)n, sizeof(*pfds));
    if (!runs || !pfds) {
        free(runs);
        free(pfds);
        return MRD_ERR_NOMEM;
    }
    for (int i = 0; i < n; i++) {
        memset(&probes[i].err, 0, sizeof(probes[i].err));
        probes[i].info = NULL;
        memset(probes[i].config_values, 0, sizeof(probes[i].config_values));
        runs[i].p = &probes[i];
        start(&runs[i]);
    }
    long long deadline = mrd_now_ms() + timeout_ms;
    for (;;) {
        int active = 0;
        for (int i = 0; i < n; i++) {
            pfds[i].fd = -1;
            pfds[i].revents = 0;
            if (runs[i].state == PROBE_DONE)
                continue;
            pfds[i].fd = runs[i].ctx->fd;
            pfds[i].events = runs[i].state == PROBE_READING ? POLLIN : POLLOUT;
            active++;
        }
        long long left = deadline - mrd_now_ms();
        if (active == 0 || left <= 0)
            break;
        int ready = poll(pfds, (nfds_t)n, (int)left);
        if (ready < 0 && errno != EINTR)
            break;
        for (int i = 0; i < n && ready > 0; i++)
            if (pfds[i].fd >= 0 && pfds[i].revents)
                step(&runs[i], pfds[i].revents);
    }
    for (int i = 0; i < n; i++) {
        if (runs[i].state != PROBE_DONE) {
            mrd_error_set(&probes[i].err, MRD_ERR_TIMEOUT, "%s: no answer within %d ms",
                          runs[i].name, timeout_ms);
            probes[i].rc = MRD_ERR_TIMEOUT;
        }
        for (int k = 0; k < runs[i].got; k++)
            if (runs[i].replies[k])
                freeReplyObject(runs[i].replies[k]);
        if (runs[i].ctx)
            redisFree(runs[i].ctx);
    }
    free(runs);
    free(pfds);
    return MRD_OK;
}

void store_probe_clear(store_probe *p)
{
    if (!p)
        return;
    free(p->info);
    p->info = NULL;
    free(p->cluster_nodes);
    p->cluster_nodes = NULL;
    free(p->cluster_info);
    p->cluster_info = NULL;
    for (int i = 0; i < STORE_PROBE_MAX_CONFIG; i++) {
        free(p->config_values[i]);
        p->config_values[i] = NULL;
    }
}
