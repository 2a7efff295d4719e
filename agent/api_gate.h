/* api_gate.h - the agent API's front door.
 *
 * One thread owns the listening socket.  It accepts every connection and
 * watches it, with poll(), until the whole request head has arrived: it
 * reads the head with MSG_PEEK, so the bytes stay in the socket, and asks
 * api_request_parse_head() and api_request_check_head() about them.
 *
 *   - a refused head is answered here (api_request_render_refusal(): JSON,
 *     Connection: close), then the connection's input is drained for
 *     linger_ms so that closing it does not reset the answer away;
 *   - an accepted head whose class has room (api.h, "Capacity") is handed,
 *     unread, to ops->admit (libmicrohttpd reads it again);
 *   - a head that misses head_deadline_ms gets 408, one that comes in more
 *     than head_max_pieces reads 400;
 *   - a new connection whose head is already there is served (or
 *     refused) at once, without a slot;
 *   - past pending_max (or pending_per_client for one source address)
 *     pending connections, the one nearest its deadline (that address's
 *     oldest) is closed with 503, preferring those that had their chance
 *     to send a head (part of it came, or head_grace_ms passed).
 *
 * A pending connection costs a socket and a slot: no thread, no buffer
 * (the peeked bytes are parsed from one scratch buffer).  poll() wakes for
 * a pending connection only when it has more bytes than last seen
 * (SO_RCVLOWAT), so a client that sends nothing costs nothing.
 *
 * With TLS (api.h) the head is encrypted, so the gate waits instead for
 * the client's first TLS record, a whole ClientHello
 * (api_request_parse_hello()), under the same deadline, pieces and
 * pending rules, and answers nothing: every refusal above (a plain HTTP
 * request included) closes the connection without a byte, after the same
 * draining.  It cannot tell a request's class yet: a connection is handed
 * over while fewer than connection_limit connections the HTTP server
 * holds have not shown their head yet (ops->active), or once one of those
 * made room (ops->make_room), else closed; the server applies the
 * classes once it has decrypted the head (api_gate_room()), and closes
 * the connections whose head misses its deadline (ops->sweep).
 *
 * Thread safety: start and stop from one thread; api_gate_stats() from
 * any. */
#ifndef MRD_API_GATE_H
#define MRD_API_GATE_H

#include <netinet/in.h>
#include <stdbool.h>

#include "api.h"
#include "api_request.h"
#include "err.h"

typedef struct api_gate_ops {
    void *ctx;
    /* Take over FD (non-blocking; its head, accepted as V, still unread)
     * from PEER.  Called on the gate's thread.  FD belongs to admit in
     * every case: false when it could not be served (FD closed). */
    bool (*admit)(void *ctx, int fd, const struct sockaddr_in *peer, const api_verdict *v);
    /* Connections taken over by admit and not yet closed (any thread);
     * with TLS, those whose request head has not been read yet. */
    int (*active)(void *ctx);
    /* Optional: called on the gate's thread every round, at NOW (the
     * mrd_now_ms() clock); closes what the HTTP server holds past a
     * deadline of its own and returns when it wants to be called next. */
    long long (*sweep)(void *ctx, long long now);
    /* Optional, TLS: when active() says there is no room, close one of
     * those connections (the one that has waited longest for its head);
     * false when it could not (the new connection is closed instead). */
    bool (*make_room)(void *ctx);
} api_gate_ops;

/* How many requests of V's class may be answered at once under LIM (api.h,
 * "Capacity"): all connection_limit for GET /v1/health, less
 * reserve_health for requests with the token, less reserve_token too for
 * the others.  Pure. */
int api_gate_room(const api_limits *lim, const api_verdict *v);

/* Make *BUSY the 503 (Retry-After: 1) that a request V finds when its
 * class has no room.  Pure. */
void api_gate_busy(const api_verdict *v, api_verdict *busy);

typedef struct api_gate api_gate; /* opaque */

/* Serve LISTEN_FD (bound and listening; taken over, closed by
 * api_gate_stop() or on failure).  POLICY and the strings it points to
 * must outlive the gate; LIM and OPS are copied.  WHERE ("address:port")
 * names the server in log lines.  TLS: wait for ClientHellos, not
 * request heads, and answer nothing (above).  *out is new. */
mrd_rc api_gate_start(int listen_fd, const char *where, const api_policy *policy,
                      const api_limits *lim, bool tls, const api_gate_ops *ops,
                      api_gate **out, mrd_error *err);

/* Stop the thread, close the listening socket and every pending
 * connection, free, NULL *g.  Connections already admitted are not
 * touched.  Accepts NULL. */
void api_gate_stop(api_gate **g);

/* Copy the counters (admitted, refused, ...) into *OUT. */
void api_gate_stats(const api_gate *g, api_stats *out);

#endif
