#include "pubsub.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "conn_internal.h"
#include "log.h"

/* Copy a reply string (binary-safe, may hold NULs) as a C string. */
static void copy_str(char *dst, size_t n, const redisReply *r)
{
    if (n == 0)
        return;
    size_t len = r->len < n - 1 ? r->len : n - 1;
    memcpy(dst, r->str, len);
    dst[len] = '\0';
}

static bool is_string(const redisReply *r)
{
    return r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS;
}

static bool word_is(const redisReply *r, const char *word)
{
    return is_string(r) && strcasecmp(r->str, word) == 0;
}

mrd_rc store_psubscribe(store_conn *c, const char *pattern, mrd_error *err)
{
    const char *argv[] = {"PSUBSCRIBE", pattern};
    redisReply *r;
    mrd_rc rc = store__command(c, &r, err, 2, argv);
    if (rc != MRD_OK)
        return rc;
    /* The confirmation is ["psubscribe", PATTERN, count].  On a connection
     * that already listens, messages may come first: skip them. */
    for (;;) {
        bool confirmed = r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
                         word_is(r->element[0], "psubscribe");
        bool message = r->type == REDIS_REPLY_ARRAY && r->elements >= 3 &&
                       (word_is(r->element[0], "pmessage") ||
                        word_is(r->element[0], "message"));
        freeReplyObject(r);
        if (confirmed)
            return MRD_OK;
        if (!message)
            return mrd_error_set(err, MRD_ERR_PROTOCOL,
                                 "%s: unexpected answer to PSUBSCRIBE %s", c->name, pattern);
        rc = store__reply(c, &r, err);
        if (rc != MRD_OK)
            return rc;
    }
}

/* What one reply read in subscriber mode is. */
typedef enum sub_reply {
    SUB_MESSAGE = 0, /* a published message (or a pong): copied out */
    SUB_OTHER,       /* a confirmation, a pong, ...: skip */
    SUB_ERROR,       /* an error reply */
} sub_reply;

static sub_reply classify(const redisReply *r, char *channel, size_t cn, char *payload,
                          size_t pn)
{
    if (r->type == REDIS_REPLY_ERROR)
        return SUB_ERROR;
    /* a PING's answer: ["pong", ARG] when subscribed, +PONG otherwise */
    bool pong_array = r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
                      word_is(r->element[0], "pong") && is_string(r->element[1]);
    if (pong_array || (r->type == REDIS_REPLY_STATUS && strcasecmp(r->str, "PONG") == 0)) {
        if (cn)
            channel[0] = '\0';
        if (pong_array)
            copy_str(payload, pn, r->element[1]);
        else if (pn)
            payload[0] = '\0';
        return SUB_MESSAGE;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3)
        return SUB_OTHER;
    redisReply *const *e = r->element;
    /* ["pmessage", pattern, channel, payload] or ["message", channel, payload] */
    if (r->elements == 4 && word_is(e[0], "pmessage") && is_string(e[2]) && is_string(e[3])) {
        copy_str(channel, cn, e[2]);
        copy_str(payload, pn, e[3]);
        return SUB_MESSAGE;
    }
    if (r->elements == 3 && word_is(e[0], "message") && is_string(e[1]) && is_string(e[2])) {
        copy_str(channel, cn, e[1]);
        copy_str(payload, pn, e[2]);
        return SUB_MESSAGE;
    }
    return SUB_OTHER;
}

mrd_rc store_next_message(store_conn *c, int timeout_ms, char *channel, size_t cn,
                          char *payload, size_t pn, mrd_error *err)
{
    if (c->lost)
        return mrd_error_set(err, MRD_ERR_CONNECT, "%s: connection lost", c->name);
    long long deadline = mrd_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        /* What already arrived first (one read may bring several
         * messages), then what comes before the deadline. */
        long long left = deadline - mrd_now_ms();
        redisReply *r = NULL;
        mrd_rc rc = store__next_reply(c, left > 0 ? (int)left : 0, &r, err);
        if (rc == MRD_ERR_TIMEOUT)
            return mrd_error_set(err, MRD_ERR_TIMEOUT, "%s: no message within %d ms",
                                 c->name, timeout_ms);
        if (rc != MRD_OK)
            return rc;
        sub_reply kind = classify(r, channel, cn, payload, pn);
        if (kind == SUB_ERROR)
            mrd_error_set(err, MRD_ERR_PROTOCOL, "%s: %s", c->name, r->str);
        freeReplyObject(r);
        if (kind == SUB_MESSAGE)
            return MRD_OK;
        if (kind == SUB_ERROR)
            return MRD_ERR_PROTOCOL;
    }
}

mrd_rc store_pubsub_ping(store_conn *c, mrd_error *err)
{
    const char *argv[] = {"PING"};
    MRD_TRY(store__append(c, err, 1, argv));
    /* send now: nobody would otherwise, a subscriber only reads */
    return store__flush(c, err);
}
