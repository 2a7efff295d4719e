/* conn.c - authenticated connections (see conn.h): commands formatted by
 * hiredis into an output buffer, sent over a wire (plaintext or TLS), the
 * replies parsed by hiredis' reader. */
#include "conn_internal.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STORE_MAX_ARGS 32
#define STORE_OUT_MAX ((size_t)1 << 30) /* bytes queued and not sent (a MIGRATE batch) */
#define STORE_READ_LEN 16384            /* bytes read at a time, as hiredis */

static mrd_rc reply_error(const store_conn *c, const char *text, mrd_error *err)
{
    bool auth = strncmp(text, "NOAUTH", 6) == 0 || strncmp(text, "WRONGPASS", 9) == 0 ||
                strncmp(text, "NOPERM", 6) == 0;
    return mrd_error_set(err, auth ? MRD_ERR_AUTH : MRD_ERR_PROTOCOL, "%s: %s", c->name,
                         text);
}

/* The wire failed (ST): the connection is lost from now on. */
static mrd_rc io_error(store_conn *c, wire_status st, mrd_error *err)
{
    c->lost = true;
    return mrd_error_set(err, st == WIRE_TIMEOUT ? MRD_ERR_TIMEOUT : MRD_ERR_CONNECT, "%s: %s",
                         c->name, wire_error(c->w));
}

static mrd_rc lost(const store_conn *c, mrd_error *err)
{
    return mrd_error_set(err, MRD_ERR_CONNECT, "%s: connection lost", c->name);
}

mrd_rc store__format(mrd_buf *out, int argc, const char *const argv[], const size_t *lens)
{
    /* hiredis takes char ** for historical reasons; it does not write. */
    union {
        const char *const *in;
        const char **out;
    } args = {.in = argv};
    char *cmd = NULL;
    int n = redisFormatCommandArgv(&cmd, argc, args.out, lens);
    if (n < 0)
        return MRD_ERR_NOMEM;
    mrd_rc rc = mrd_buf_add(out, cmd, (size_t)n);
    explicit_bzero(cmd, (size_t)n);
    redisFreeCommand(cmd);
    return rc;
}

void store__wipe(mrd_buf *out)
{
    if (mrd_buf_len(out) > 0)
        explicit_bzero(out->p, out->len);
    mrd_buf_reset(out);
}

mrd_rc store__append_argv(store_conn *c, mrd_error *err, int argc, const char *const argv[],
                          const size_t *lens)
{
    if (c->lost)
        return lost(c, err);
    mrd_rc rc = store__format(&c->out, argc, argv, lens);
    if (rc == MRD_ERR_NOMEM)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    if (rc != MRD_OK)
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "%s: more than %zu bytes of commands queued", c->name,
                             (size_t)STORE_OUT_MAX);
    return MRD_OK;
}

mrd_rc store__append(store_conn *c, mrd_error *err, int argc, const char *const argv[])
{
    if (argc > STORE_MAX_ARGS)
        return mrd_error_set(err, MRD_ERR_INVALID, "too many command arguments");
    return store__append_argv(c, err, argc, argv, NULL);
}

mrd_rc store__flush(store_conn *c, mrd_error *err)
{
    if (c->lost)
        return lost(c, err);
    size_t len = mrd_buf_len(&c->out);
    if (c->out_pos < len) {
        wire_status st = wire_write_all(c->w, mrd_buf_str(&c->out) + c->out_pos,
                                        len - c->out_pos, c->io_timeout_ms);
        if (st != WIRE_OK)
            return io_error(c, st, err);
    }
    c->out_pos = 0;
    store__wipe(&c->out);
    return MRD_OK;
}

/* The next reply off the wire, waiting at most TIMEOUT_MS for each read.
 * A timeout leaves the connection usable; the caller decides. */
static mrd_rc receive(store_conn *c, int timeout_ms, redisReply **reply, mrd_error *err)
{
    *reply = NULL;
    for (;;) {
        void *r = NULL;
        if (redisReaderGetReply(c->reader, &r) != REDIS_OK) {
            c->lost = true;
            return mrd_error_set(err, MRD_ERR_CONNECT, "%s: %s", c->name, c->reader->errstr);
        }
        if (r) {
            *reply = r;
            return MRD_OK;
        }
        char buf[STORE_READ_LEN];
        size_t got = 0;
        wire_status st = wire_read_some(c->w, buf, sizeof(buf), &got, timeout_ms);
        if (st == WIRE_TIMEOUT)
            return mrd_error_set(err, MRD_ERR_TIMEOUT, "%s: %s", c->name, wire_error(c->w));
        if (st != WIRE_OK)
            return io_error(c, st, err);
        if (redisReaderFeed(c->reader, buf, got) != REDIS_OK) {
            c->lost = true;
            return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
        }
    }
}

mrd_rc store__next_reply(store_conn *c, int timeout_ms, redisReply **reply, mrd_error *err)
{
    *reply = NULL;
    MRD_TRY(store__flush(c, err));
    return receive(c, timeout_ms, reply, err);
}

/* One reply of a command; error replies become mrd_rc. */
static mrd_rc read_reply(store_conn *c, redisReply **reply, mrd_error *err)
{
    redisReply *r = NULL;
    *reply = NULL;
    mrd_rc rc = receive(c, c->io_timeout_ms, &r, err);
    if (rc == MRD_ERR_TIMEOUT)
        c->lost = true; /* its reply may still come: the next one would be off by one */
    if (rc != MRD_OK)
        return rc;
    if (r->type == REDIS_REPLY_ERROR) {
        rc = reply_error(c, r->str, err);
        freeReplyObject(r);
        return rc;
    }
    *reply = r;
    return MRD_OK;
}

mrd_rc store__reply(store_conn *c, redisReply **reply, mrd_error *err)
{
    *reply = NULL;
    MRD_TRY(store__flush(c, err));
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
            c->lost = true;
            wire_free(&c->w);
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

/* Connect to ADDRESS:PORT from SOURCE (NULL: the kernel's choice); FROM
 * names the source in errors (NULL: not named). */
static mrd_rc open_conn(const char *address, int port, const char *source, const char *from,
                        const char *user, const char *pass, int timeout_ms, store_conn **out,
                        mrd_error *err)
{
    *out = NULL;
    store_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    snprintf(c->name, sizeof(c->name), "%s:%d", address, port);
    mrd_buf_init(&c->out, STORE_OUT_MAX);
    c->timeout_ms = c->io_timeout_ms = timeout_ms;
    c->w = wire_new(address, port, source);
    c->reader = redisReaderCreate();
    if (!c->w || !c->reader) {
        store_conn_close(&c);
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    if (wire_connect(c->w, timeout_ms) != WIRE_OK) {
        if (from)
            mrd_error_set(err, MRD_ERR_CONNECT, "cannot connect to %s from %s: %s", c->name,
                          from, wire_error(c->w));
        else
            mrd_error_set(err, MRD_ERR_CONNECT, "cannot connect to %s: %s", c->name,
                          wire_error(c->w));
        store_conn_close(&c);
        return MRD_ERR_CONNECT;
    }
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

mrd_rc store_conn_open(const char *address, int port, const char *user,
                       const char *pass, int timeout_ms, store_conn **out,
                       mrd_error *err)
{
    if (store_source())
        return store_conn_open_from(address, port, store_source(), user, pass, timeout_ms,
                                    out, err);
    return open_conn(address, port, NULL, NULL, user, pass, timeout_ms, out, err);
}

mrd_rc store_conn_open_from(const char *address, int port, const char *source_address,
                            const char *user, const char *pass, int timeout_ms,
                            store_conn **out, mrd_error *err)
{
    return open_conn(address, port, source_address,
                     source_address ? source_address : "the default address", user, pass,
                     timeout_ms, out, err);
}

void store_conn_close(store_conn **c)
{
    if (!c || !*c)
        return;
    wire_free(&(*c)->w);
    if ((*c)->reader)
        redisReaderFree((*c)->reader);
    store__wipe(&(*c)->out);
    mrd_buf_free(&(*c)->out);
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
