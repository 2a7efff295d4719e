/* conn_internal.h - store/ only: the hiredis context behind a store_conn. */
#ifndef MRD_STORE_CONN_INTERNAL_H
#define MRD_STORE_CONN_INTERNAL_H

#include <stdbool.h>

#include <hiredis/hiredis.h>

#include "conn.h"

struct store_conn {
    redisContext *ctx;
    char name[96];
    bool auth_pending; /* AUTH sent with the next command, reply not read */
    int timeout_ms;    /* the read/write timeout it was opened with */
};

/* Run ARGV and return the raw reply (caller freeReplyObject()s it).  I/O
 * failures and error replies are turned into mrd_rc as in store_cmd(). */
mrd_rc store__command(store_conn *c, redisReply **reply, mrd_error *err, int argc,
                      const char *const argv[]);

/* Queue ARGV without waiting for its reply (pipelining); collect replies
 * in order with store__reply(). */
mrd_rc store__append(store_conn *c, mrd_error *err, int argc, const char *const argv[]);
mrd_rc store__reply(store_conn *c, redisReply **reply, mrd_error *err);

/* The pipelined questions of a sentinel view, as compound literals of
 * argv arrays: GET-MASTER-ADDR-BY-NAME, REPLICAS, SENTINELS, MASTER. */
#define STORE__VIEW_NCOMMANDS 4
#define STORE__VIEW_COMMANDS(master)                                               \
    (const char *const[]){"SENTINEL", "GET-MASTER-ADDR-BY-NAME", (master)},        \
        (const char *const[]){"SENTINEL", "REPLICAS", (master)},                   \
        (const char *const[]){"SENTINEL", "SENTINELS", (master)},                  \
        (const char *const[]){"SENTINEL", "MASTER", (master)}

struct sentinel_view;
/* Parse the replies of a view (takes ownership of R[0..NCOMMANDS)). */
mrd_rc store__parse_view(const char *name, const char *master,
                         redisReply *r[STORE__VIEW_NCOMMANDS], struct sentinel_view *out,
                         mrd_error *err);

#endif
