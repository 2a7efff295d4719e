/* conn_internal.h - store/ only: what is behind a store_conn.
 *
 * A store_conn is a wire (wire.h: a socket, with TLS when store_set_tls()
 * is on), hiredis' reader for the replies and an output buffer of
 * formatted commands not sent yet (pipelining: commands are sent when the
 * first reply is wanted).  hiredis does no I/O here: redisFormatCommandArgv
 * encodes, redisReaderFeed/redisReaderGetReply decode. */
#ifndef MRD_STORE_CONN_INTERNAL_H
#define MRD_STORE_CONN_INTERNAL_H

#include <stdbool.h>

#include <hiredis/hiredis.h>

#include "buf.h"
#include "conn.h"
#include "wire.h"

struct store_conn {
    wire *w;
    redisReader *reader;
    mrd_buf out;       /* formatted commands, sent from out_pos on */
    size_t out_pos;
    char name[96];
    bool auth_pending; /* AUTH sent with the next command, reply not read */
    bool lost;         /* an I/O or protocol error: unusable ("connection lost") */
    int timeout_ms;    /* the read/write timeout it was opened with */
    int io_timeout_ms; /* the one in force (slots.c raises it for MIGRATE) */
};

/* Run ARGV and return the raw reply (caller freeReplyObject()s it).  I/O
 * failures and error replies are turned into mrd_rc as in store_cmd(). */
mrd_rc store__command(store_conn *c, redisReply **reply, mrd_error *err, int argc,
                      const char *const argv[]);

/* Queue ARGV without waiting for its reply (pipelining); collect replies
 * in order with store__reply(), which sends what is queued first.
 * store__append_argv takes the words' lengths (binary-safe; LENS NULL:
 * strlen) and any number of words. */
mrd_rc store__append(store_conn *c, mrd_error *err, int argc, const char *const argv[]);
mrd_rc store__append_argv(store_conn *c, mrd_error *err, int argc, const char *const argv[],
                          const size_t *lens);
mrd_rc store__reply(store_conn *c, redisReply **reply, mrd_error *err);

/* Send what is queued, waiting for the socket as the I/O timeout allows.
 * Errors: MRD_ERR_CONNECT, MRD_ERR_TIMEOUT (the connection is lost). */
mrd_rc store__flush(store_conn *c, mrd_error *err);

/* The next reply as it is (error replies included, not turned into
 * mrd_rc), waiting at most TIMEOUT_MS (0: only what already arrived) for
 * it; what is queued is sent first.  MRD_ERR_TIMEOUT when none came (the
 * connection stays usable), MRD_ERR_CONNECT when it closed or broke. */
mrd_rc store__next_reply(store_conn *c, int timeout_ms, redisReply **reply, mrd_error *err);

/* Append ARGV (LENS NULL: strlen) to OUT as one RESP command, formatted by
 * hiredis.  MRD_ERR_NOMEM, or MRD_ERR_INVALID when OUT's cap is reached. */
mrd_rc store__format(mrd_buf *out, int argc, const char *const argv[], const size_t *lens);

/* Empty OUT, wiping what it held first (commands may carry passwords). */
void store__wipe(mrd_buf *out);

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
