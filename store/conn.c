#include "conn_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "log.h"

#define STORE_MAX_ARGS 32

static mrd_rc reply_error(const store_conn *c, const char *text, mrd_error *err)
{
    bool auth = strncmp(text, "NOAUTH", 6) == 0 || strncmp(text, "WRONGPASS", 9) == 0 ||
                strncmp(text, "NOPERM", 6) == 0;
    return mrd_error_set(err, auth ? MRD_ERR_AUTH : MRD_ERR_PROTOCOL, "%s: %s", c->name,
                         text);
}

static mrd_rc io_error(const store_conn *c, mrd_error *err)
{
    bool timeout = c->ctx->err == REDIS_ERR_IO && strstr(c->ctx->errstr, "temporarily");
    return mrd_error_set(err, timeout ? MRD_ERR_TIMEOUT : MRD_ERR_CONNECT, "%s: %s",
                         c->name, c->ctx->errstr);
}

mrd_rc store__append(store_conn *c, mrd_error *err, int argc, const char *const argv[])
{
    if (!c->ctx || c->ctx->err)
        return mrd_error_set(err, MRD_ERR_CONNECT, "%s: connection lost", c->name);
    size_t lens[STORE_MAX_ARGS];
    if (argc > STORE_MAX_ARGS)
        return mrd_error_set(err, MRD_ERR_INVALID, "too many command arguments");
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    /* hiredis takes char ** for historical reasons; it does not write. */
    union {
        const char *const *in;
        const char **out;
    } args = {.in = argv};
    if (redisAppendCommandArgv(c->ctx, argc, args.out, lens) != REDIS_OK)
        return io_error(c, err);
    return MRD_OK;
}

/* One reply off the wire; error replies become mrd_rc. */
static mrd_rc read_reply(store_conn *c, redisReply **reply, mrd_error *err)
{
    void *r = NULL;
    *reply = NULL;
    if (redisGetReply(c->ctx, &r) != REDIS_OK || !r)
        return io_error(c, err);
    redisReply *rr = r;
    if (rr->type == REDIS_REPLY_ERROR) {
        mrd_rc rc = reply_error(c, rr->str, err);
        freeReplyObject(rr);
        return rc;
    }
    *reply = rr;
    return MRD_OK;
}

mrd_rc store__reply(store_conn *c, redisReply **reply, mrd_error *err)
{
    *reply = NULL;
    if (c->auth_pending) {
        /* AUTH went out with the first command: its reply comes first. */
        redisReply *auth;
        c->auth_pending = false;
        mrd_rc rc = read_reply(c, &auth, err);
        if (rc != MRD_OK) {
            if (rc == MRD_ERR_PROTOCOL && err)
                err->code = MRD_ERR_AUTH;
            /* the queued command's reply would be NOAUTH: the connection is
             * unusable, and saying so once is enough */
            redisFree(c->ctx);
            c->ctx = NULL;
            return rc == MRD_ERR_PROTOCOL ? MRD_ERR_AUTH : rc;
        }
        freeReplyObject(auth);
    }
    return read_reply(c, reply, err);
}

mrd_rc store__command(store_conn *c, redisReply **reply, mrd_error *err, int argc,
                      const char *const argv[])
{
    *reply = NULL;
    mrd_rc rc = store__append(c, err, argc, argv);
    return rc == MRD_OK ? store__reply(c, reply, err) : rc;
}

static char source_addr[64];

void store_set_source(const char *source)
{
    snprintf(source_addr, sizeof(source_addr), "%s", source ? source : "");
}

const char *store_source(void)
{
    return source_addr[0] ? source_addr : NULL;
}

mrd_rc store_conn_open(const char *address, int port, const char *user,
                       const char *pass, int timeout_ms, store_conn **out,
                       mrd_error *err)
{
    if (store_source())
        return store_conn_open_from(address, port, store_source(), user, pass, timeout_ms,
                                    out, err);
    *out = NULL;
    store_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    snprintf(c->name, sizeof(c->name), "%s:%d", address, port);
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    c->ctx = redisConnectWithTimeout(address, port, tv);
    if (!c->ctx || c->ctx->err) {
        mrd_error_set(err, MRD_ERR_CONNECT, "cannot connect to %s: %s", c->name,
                      c->ctx ? c->ctx->errstr : "out of memory");
        store_conn_close(&c);
        return MRD_ERR_CONNECT;
    }
    redisSetTimeout(c->ctx, tv);
    c->timeout_ms = timeout_ms;
    if (user) {
        /* AUTH is queued and travels with the first command: one round trip
         * for both.  A refusal is reported by that command as MRD_ERR_AUTH. */
        const char *argv[] = {"AUTH", user, pass};
        mrd_rc rc = store__append(c, err, 3, argv);
        if (rc != MRD_OK) {
            store_conn_close(&c);
            return rc;
        }
        c->auth_pending = true;
    }
    *out = c;
    return MRD_OK;
}

/* Wait up to TIMEOUT_MS for C's non-blocking connect to finish. */
static mrd_rc wait_connected(store_conn *c, const char *source, int timeout_ms,
                             mrd_error *err)
{
    long long deadline = mrd_now_ms() + timeout_ms;
    for (;;) {
        long long left = deadline - mrd_now_ms();
        struct pollfd pfd = {.fd = c->ctx->fd, .events = POLLOUT};
        int ready = left > 0 ? poll(&pfd, 1, (int)left) : 0;
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready < 0)
            return mrd_error_set(err, MRD_ERR_CONNECT, "cannot connect to %s from %s: %s",
                                 c->name, source, strerror(errno));
        if (ready == 0)
            return mrd_error_set(err, MRD_ERR_CONNECT,
                                 "cannot connect to %s from %s: no answer within %d ms",
                                 c->name, source, timeout_ms);
        int soerr = 0;
        socklen_t len = sizeof(soerr);
        if (getsockopt(c->ctx->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
            soerr = errno;
        if (soerr)
            return mrd_error_set(err, MRD_ERR_CONNECT, "cannot connect to %s from %s: %s",
                                 c->name, source, strerror(soerr));
        return MRD_OK;
    }
}

mrd_rc store_conn_open_from(const char *address, int port, const char *source_address,
                            const char *user, const char *pass, int timeout_ms,
                            store_conn **out, mrd_error *err)
{
    *out = NULL;
    store_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    snprintf(c->name, sizeof(c->name), "%s:%d", address, port);
    const char *source = source_address ? source_address : "the default address";
    /* hiredis 0.14 binds only on its non-blocking path: connect without
     * blocking, wait with poll(), then switch the socket to blocking mode
     * with send/receive timeouts, which is what redisConnectWithTimeout
     * leaves behind. */
    c->ctx = source_address ? redisConnectBindNonBlock(address, port, source_address)
                            : redisConnectNonBlock(address, port);
    mrd_rc rc = MRD_OK;
    if (!c->ctx || c->ctx->err)
        rc = mrd_error_set(err, MRD_ERR_CONNECT, "cannot connect to %s from %s: %s",
                           c->name, source, c->ctx ? c->ctx->errstr : "out of memory");
    if (rc == MRD_OK)
        rc = wait_connected(c, source, timeout_ms, err);
    if (rc == MRD_OK) {
        int flags = fcntl(c->ctx->fd, F_GETFL);
        if (flags < 0 || fcntl(c->ctx->fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
            rc = mrd_error_set(err, MRD_ERR_CONNECT, "cannot connect to %s: fcntl: %s",
                               c->name, strerror(errno));
    }
    if (rc != MRD_OK) {
        store_conn_close(&c);
        return rc;
    }
    c->ctx->flags |= REDIS_BLOCK | REDIS_CONNECTED;
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    if (redisSetTimeout(c->ctx, tv) != REDIS_OK) {
        mrd_error_set(err, MRD_ERR_CONNECT, "cannot connect to %s: %s", c->name,
                      c->ctx->errstr);
        store_conn_close(&c);
        return MRD_ERR_CONNECT;
    }
    c->timeout_ms = timeout_ms;
    if (user) {
        const char *argv[] = {"AUTH", user, pass};
        rc = store__append(c, err, 3, argv);
        if (rc != MRD_OK) {
            store_conn_close(&c);
            return rc;
        }
        c->auth_pending = true;
    }
    *out = c;
    return MRD_OK;
}

void store_conn_close(store_conn **c)
{
    if (!c || !*c)
        return;
    if ((*c)->ctx)
        redisFree((*c)->ctx);
    free(*c);
    *c = NULL;
}

const char *store_conn_name(const store_conn *c)
{
    return c->name;
}

mrd_rc store_cmd(store_conn *c, char **out, mrd_error *err, int argc,
                 const char *const argv[])
{
    if (out)
        *out = NULL;
    redisReply *r;
    mrd_rc rc = store__command(c, &r, err, argc, argv);
    if (rc != MRD_OK)
        return rc;
    char *text = NULL;
    switch (r->type) {
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_STRING:
        text = strdup(r->str);
        break;
    case REDIS_REPLY_INTEGER: {
        char buf[32];
        snprintf(buf, sizeof(buf), "%lld", r->integer);
        text = strdup(buf);
        break;
    }
    case REDIS_REPLY_NIL:
        break;
    default:
        freeReplyObject(r);
        return mrd_error_set(err, MRD_ERR_PROTOCOL, "%s: %s answered with an array",
                             c->name, argv[0]);
    }
    bool oom = (r->type != REDIS_REPLY_NIL) && !text;
    freeReplyObject(r);
    if (oom)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    if (out)
        *out = text;
    else
        free(text);
    return MRD_OK;
}

mrd_rc store_cmdl(store_conn *c, char **out, mrd_error *err, const char *arg0, ...)
{
    const char *argv[STORE_MAX_ARGS];
    int argc = 0;
    va_list ap;
    va_start(ap, arg0);
    for (const char *a = arg0; a && argc < STORE_MAX_ARGS; a = va_arg(ap, const char *))
        argv[argc++] = a;
    va_end(ap);
    return store_cmd(c, out, err, argc, argv);
}

mrd_rc store_ping(store_conn *c, mrd_error *err)
{
    char *pong = NULL;
    mrd_rc rc = store_cmdl(c, &pong, err, "PING", NULL);
    if (rc == MRD_OK && (!pong || strcmp(pong, "PONG") != 0))
        rc = mrd_error_set(err, MRD_ERR_PROTOCOL, "%s: PING answered %s", c->name,
                           pong ? pong : "nil");
    free(pong);
    return rc;
}

mrd_rc store_info_text(store_conn *c, const char *section, char **text, mrd_error *err)
{
    return section ? store_cmdl(c, text, err, "INFO", section, NULL)
                   : store_cmdl(c, text, err, "INFO", NULL);
}
