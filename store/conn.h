/* conn.h - an authenticated connection to a redis-server or redis-sentinel.
 *
 * hiredis stays in store/: it formats the commands and parses the replies,
 * while the bytes go over meridian's own socket, through OpenSSL when
 * store_set_tls() (tls.h) is on.  Every connection authenticates as an
 * ACL user (the default user is disabled on meridian's nodes); passwords
 * are passed in memory, never logged. */
#ifndef MRD_STORE_CONN_H
#define MRD_STORE_CONN_H

#include <stddef.h>

#include "err.h"

typedef struct store_conn store_conn; /* opaque */

/* Connect to ADDRESS:PORT within TIMEOUT_MS (also the per-command timeout;
 * with TLS it bounds the connect and the handshake together) and, when
 * USER is not NULL, authenticate as USER with PASS.  The AUTH is pipelined
 * with the first command, so a refusal is reported by that command
 * (MRD_ERR_AUTH); call store_ping() to check credentials alone.
 * Errors here: MRD_ERR_CONNECT (refused, unreachable, timeout, a TLS
 * handshake or certificate refused: "cannot connect to ADDRESS:PORT: ...").
 * *out is new; store_conn_close() it. */
mrd_rc store_conn_open(const char *address, int port, const char *user,
                       const char *pass, int timeout_ms, store_conn **out,
                       mrd_error *err);

/* store_conn_open from a chosen local address: the outgoing socket is
 * bound to SOURCE_ADDRESS (port chosen by the kernel) before it connects,
 * so the server sees that address as the client's.  Used by a writer
 * that must live inside a partitioned region (127.0.R.250 on the local
 * layout), where only traffic from the region's own addresses passes.
 * SOURCE_ADDRESS NULL connects from the default address.  TIMEOUT_MS
 * bounds the connect and is the per-command timeout; AUTH is pipelined
 * as with store_conn_open.  Errors: MRD_ERR_CONNECT (cannot bind the
 * source address, refused, unreachable, timeout).  *out is new;
 * store_conn_close() it. */
mrd_rc store_conn_open_from(const char *address, int port, const char *source_address,
                            const char *user, const char *pass, int timeout_ms,
                            store_conn **out, mrd_error *err);

/* Make every later connection of this process (store_conn_open, probes,
 * snapshot fetches) leave from SOURCE (an IPv4 address of this host), or
 * from the kernel's choice again with NULL.  An agent sets its host's
 * address: on loopback test hosts (127.0.R.H) connections would otherwise
 * leave from 127.0.0.1, outside the host's region, and a simulated
 * partition of the region would not cut the agent off.  Not thread-safe:
 * call it once at start-up. */
void store_set_source(const char *source);

/* The address set by store_set_source(), or NULL (borrowed). */
const char *store_source(void);

/* Close and NULL *c.  Accepts NULL. */
void store_conn_close(store_conn **c);

/* "ADDRESS:PORT" of the connection (borrowed). */
const char *store_conn_name(const store_conn *c);

/* Run ARGV (ARGC words) and return a scalar reply as text in *out (new,
 * caller frees; NULL for a nil reply): status and bulk replies as they
 * are, integers in decimal.  An error reply is MRD_ERR_PROTOCOL with the
 * server's text (NOAUTH/WRONGPASS/NOPERM as MRD_ERR_AUTH); an array reply
 * is MRD_ERR_PROTOCOL.  OUT may be NULL when the value is not needed. */
mrd_rc store_cmd(store_conn *c, char **out, mrd_error *err, int argc,
                 const char *const argv[]);

/* store_cmd with the words as a NULL-terminated list. */
mrd_rc store_cmdl(store_conn *c, char **out, mrd_error *err, const char *arg0, ...)
    __attribute__((sentinel));

/* PING; MRD_OK when the answer is PONG. */
mrd_rc store_ping(store_conn *c, mrd_error *err);

/* INFO [SECTION] text in *text (new). SECTION may be NULL. */
mrd_rc store_info_text(store_conn *c, const char *section, char **text,
                       mrd_error *err);

#endif
