#include "probe.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "conn_internal.h"
#include "log.h"

/* AUTH + a view, or AUTH + INFO + CONFIG GET + CLUSTER NODES + CLUSTER INFO */
#define PROBE_MAX_REPLIES (1 + STORE__VIEW_NCOMMANDS > 5 ? 1 + STORE__VIEW_NCOMMANDS : 5)
#define PROBE_OUT_MAX 65536  /* AUTH and a handful of commands, formatted */
#define PROBE_READ_LEN 16384 /* bytes read at a time */

/* Where one probe is. */
typedef enum probe_state {
    PROBE_CONNECTING = 0, /* non-blocking connect (and TLS handshake) in progress */
    PROBE_WRITING,        /* flushing AUTH and the commands */
    PROBE_READING,        /* waiting for the replies */
    PROBE_DONE,           /* finished: rc says how */
} probe_state;

typedef struct probe_run {
    store_probe *p;
    wire *w;
    redisReader *reader;
    mrd_buf out;                      /* AUTH and the commands, formatted */
    size_t out_pos;                   /* sent so far */
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
                  wire_error(r->w));
    finish(r, MRD_ERR_CONNECT);
}

/* Queue one command; false when out of memory. */
static bool queue(probe_run *r, int argc, const char *const argv[])
{
    if (store__format(&r->out, argc, argv, NULL) != MRD_OK)
        return false;
    r->want++;
    return true;
}

/* Format AUTH and the probe's commands; false when out of memory. */
static bool queue_all(probe_run *r)
{
    store_probe *p = r->p;
    const char *auth[] = {"AUTH", p->user, p->pass};
    if (!queue(r, 3, auth))
        return false;
    if (p->kind == STORE_PROBE_SENTINEL) {
        const char *const *cmds[STORE__VIEW_NCOMMANDS] = {STORE__VIEW_COMMANDS(p->master)};
        for (int i = 0; i < STORE__VIEW_NCOMMANDS; i++)
            if (!queue(r, 3, cmds[i]))
                return false;
        return true;
    }
    /* persistence too: an AOF that cannot be written (a full disk) */
    const char *info[] = {"INFO", "replication", "persistence"};
    if (!queue(r, 3, info))
        return false;
    if (p->config && p->config[0]) {
        const char *argv[2 + STORE_PROBE_MAX_CONFIG] = {"CONFIG", "GET"};
        int argc = 2;
        for (int i = 0; i < STORE_PROBE_MAX_CONFIG && p->config[i]; i++)
            argv[argc++] = p->config[i];
        if (!queue(r, argc, argv))
            return false;
        r->config_at = r->want - 1;
    }
    const char *nodes[] = {"CLUSTER", "NODES"}, *cinfo[] = {"CLUSTER", "INFO"};
    return !p->cluster || (queue(r, 2, nodes) && queue(r, 2, cinfo));
}

static void step(probe_run *r);

static void start(probe_run *r)
{
    store_probe *p = r->p;
    snprintf(r->name, sizeof(r->name), "%s:%d", p->address, p->port);
    mrd_buf_init(&r->out, PROBE_OUT_MAX);
    r->state = PROBE_CONNECTING;
    r->w = wire_new(p->address, p->port, store_source());
    r->reader = redisReaderCreate();
    if (!r->w || !r->reader || !queue_all(r)) {
        mrd_error_set(&p->err, MRD_ERR_NOMEM, "out of memory");
        finish(r, MRD_ERR_NOMEM);
        return;
    }
    step(r); /* as far as it goes without waiting */
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

/* Advance R as far as it goes without blocking: connect (and the TLS
 * handshake), send everything, read until every reply is in or the socket
 * has nothing more (reading until then also drains what TLS buffered, so
 * nothing waits behind a poll()). */
static void step(probe_run *r)
{
    if (r->state == PROBE_CONNECTING) {
        wire_status st = wire_connect_step(r->w);
        if (st == WIRE_WANT)
            return;
        if (st != WIRE_OK) {
            fail_io(r, "connect to");
            return;
        }
        r->state = PROBE_WRITING;
    }
    if (r->state == PROBE_WRITING) {
        size_t len = mrd_buf_len(&r->out);
        while (r->out_pos < len) {
            size_t done = 0;
            wire_status st = wire_write_step(r->w, mrd_buf_str(&r->out) + r->out_pos,
                                             len - r->out_pos, &done);
            if (st == WIRE_WANT)
                return;
            if (st != WIRE_OK) {
                fail_io(r, "write to");
                return;
            }
            r->out_pos += done;
        }
        store__wipe(&r->out); /* it held the password */
        r->state = PROBE_READING;
    }
    while (r->state == PROBE_READING) {
        void *reply;
        while (r->got < r->want) {
            if (redisReaderGetReply(r->reader, &reply) != REDIS_OK) {
                mrd_error_set(&r->p->err, MRD_ERR_CONNECT, "cannot parse the reply of %s: %s",
                              r->name, r->reader->errstr);
                finish(r, MRD_ERR_CONNECT);
                return;
            }
            if (!reply)
                break;
            r->replies[r->got++] = reply;
        }
        if (r->got == r->want) {
            complete(r);
            return;
        }
        char buf[PROBE_READ_LEN];
        size_t got = 0;
        wire_status st = wire_read_step(r->w, buf, sizeof(buf), &got);
        if (st == WIRE_WANT)
            return;
        if (st != WIRE_OK) {
            fail_io(r, "read from");
            return;
        }
        if (redisReaderFeed(r->reader, buf, got) != REDIS_OK) {
            mrd_error_set(&r->p->err, MRD_ERR_NOMEM, "out of memory");
            finish(r, MRD_ERR_NOMEM);
        }
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
            pfds[i].fd = wire_fd(runs[i].w);
            pfds[i].events = wire_events(runs[i].w);
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
                step(&runs[i]);
    }
    for (int i = 0; i < n; i++) {
        if (runs[i].state != PROBE_DONE) {
            mrd_error_set(&probes[i].err, MRD_ERR_TIMEOUT, "%s: %s", runs[i].name,
                          wire_timeout(runs[i].w, timeout_ms));
            probes[i].rc = MRD_ERR_TIMEOUT;
        }
        for (int k = 0; k < runs[i].got; k++)
            if (runs[i].replies[k])
                freeReplyObject(runs[i].replies[k]);
        wire_free(&runs[i].w);
        if (runs[i].reader)
            redisReaderFree(runs[i].reader);
        store__wipe(&runs[i].out);
        mrd_buf_free(&runs[i].out);
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
