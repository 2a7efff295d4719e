/* pubsub.h - listen to a server's publish/subscribe channels.
 *
 * Used to follow a sentinel's event channels ("+sdown", "+switch-master",
 * ...).  A store_conn that has subscribed is in subscriber mode: it may
 * only receive messages afterwards (store_cmd on it would read a message
 * as its reply), so keep a dedicated connection for listening.
 *
 * Typical use:
 *
 *     store_conn *c;
 *     store_conn_open(addr, port, "admin", pass, 300, &c, &err);
 *     store_psubscribe(c, "*", &err);
 *     for (;;) {
 *         mrd_rc rc = store_next_message(c, 100, ch, sizeof(ch), pl, sizeof(pl), &err);
 *         if (rc == MRD_ERR_TIMEOUT) continue;     // nothing within 100 ms
 *         if (rc != MRD_OK) break;                 // connection lost: reopen
 *         if (!ch[0]) continue;                    // a pong (store_pubsub_ping)
 *         ...
 *     }
 */
#ifndef MRD_STORE_PUBSUB_H
#define MRD_STORE_PUBSUB_H

#include <stddef.h>

#include "conn.h"
#include "err.h"

/* PSUBSCRIBE PATTERN ("*" for every channel) and wait (within the
 * connection's timeout) for the server's confirmation.  When the
 * connection's AUTH is still pending (store_conn_open pipelines it), its
 * reply is read first: a refusal is MRD_ERR_AUTH.  Other errors:
 * MRD_ERR_CONNECT / MRD_ERR_TIMEOUT (I/O), MRD_ERR_PROTOCOL (an error
 * reply, e.g. NOPERM, or an unexpected confirmation).  May be called more
 * than once on the same connection to add patterns; messages that arrive
 * before a later pattern's confirmation are dropped. */
mrd_rc store_psubscribe(store_conn *c, const char *pattern, mrd_error *err);

/* Wait at most TIMEOUT_MS (0: do not wait, only what already arrived) for
 * the next published message and copy its channel into CHANNEL (CN bytes)
 * and its payload into PAYLOAD (PN bytes), both NUL-terminated and
 * truncated to fit.  Both "pmessage" (pattern subscriptions) and
 * "message" (channel subscriptions) are delivered; subscription
 * confirmations and other replies are skipped.
 *
 * The answer to store_pubsub_ping() is delivered like a message with an
 * empty CHANNEL (Sentinel's event channels never are) and the PING's argument
 * ("" here) as PAYLOAD.
 *
 * Returns MRD_OK with a message, MRD_ERR_TIMEOUT when none arrived in
 * time, MRD_ERR_CONNECT when the connection was closed or broke (close it
 * and open a new one: it is unusable afterwards), MRD_ERR_PROTOCOL on an
 * error reply. */
mrd_rc store_next_message(store_conn *c, int timeout_ms, char *channel, size_t cn,
                          char *payload, size_t pn, mrd_error *err);

/* Send PING on a subscribed connection without waiting for the answer,
 * which store_next_message() hands back as an empty-channel message.  A
 * subscriber only ever reads, so a peer that vanished without closing
 * the connection (a dropped-packet partition, a powered-off host) is
 * otherwise indistinguishable from a quiet one: a PING left unanswered
 * for longer than the caller's patience says the connection is dead.
 * Errors: MRD_ERR_CONNECT (the write failed), MRD_ERR_TIMEOUT (the
 * server read nothing for the connection's timeout). */
mrd_rc store_pubsub_ping(store_conn *c, mrd_error *err);

#endif
