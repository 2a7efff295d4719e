/* conn_internal.h - store/ only: the hiredis context behind a store_conn. */
#ifndef MRD_STORE_CONN_INTERNAL_H
#define MRD_STORE_CONN_INTERNAL_H

#include <hiredis/hiredis.h>

#include "conn.h"

struct store_conn {
    redisContext *ctx;
    char name[96];
};

/* Run ARGV and return the raw reply (caller freeReplyObject()s it).  I/O
 * failures and error replies are turned into mrd_rc as in store_cmd(). */
mrd_rc store__command(store_conn *c, redisReply **reply, mrd_error *err, int argc,
                      const char *const argv[]);

#endif
