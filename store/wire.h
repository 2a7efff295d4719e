/* wire.h - store/ only: the byte stream under every connection to a
 * server.
 *
 * A TCP socket (optionally bound to a source address), connected without
 * blocking, and, when store_set_tls() is on, a TLS session over it
 * (tls_internal.h).  It moves bytes only: hiredis formats the commands and
 * parses the replies above it (conn.c, probe.c), snapshot.c speaks the
 * replication protocol over it.
 *
 * Two ways to drive one:
 *   - step functions, which never block: WIRE_WANT says to poll() wire_fd()
 *     for wire_events() and call again; probe.c drives many at once this way;
 *   - waiting functions, which poll() one wire until done or a timeout.
 *
 * Reads drain what TLS buffered before looking at the socket, so a caller
 * that reads until WIRE_WANT never waits on a socket while decrypted bytes
 * sit in the session.  Writes never raise SIGPIPE.  Errors are in the
 * wire (wire_error()), phrased to follow "cannot connect to ADDRESS:PORT: "
 * or "ADDRESS:PORT: ": the wire does not name the server itself.  One
 * wire, one thread at a time. */
#ifndef MRD_STORE_WIRE_H
#define MRD_STORE_WIRE_H

#include <stddef.h>

typedef struct wire wire; /* opaque */

typedef enum wire_status {
    WIRE_OK = 0,  /* done (a read: at least one byte) */
    WIRE_WANT,    /* would block: poll wire_fd() for wire_events(), call again */
    WIRE_TIMEOUT, /* a waiting function's time ran out (wire_error() says so) */
    WIRE_CLOSED,  /* the server closed the connection */
    WIRE_FAILED,  /* wire_error() says why; the wire is unusable */
} wire_status;

/* Start connecting to ADDRESS:PORT without blocking, from SOURCE (an
 * address of this host; NULL: the kernel's choice), with TLS when
 * store_tls_on().  A failure to start (no such address, the source cannot
 * be bound, refused at once) is reported by the first wire_connect_step().
 * NULL only when out of memory.  New: wire_free() it. */
wire *wire_new(const char *address, int port, const char *source);

/* A plaintext wire over FD, an already connected stream or seqpacket
 * socket (taken: closed by wire_free(), made non-blocking); NAME stands
 * for the server.  NULL when out of memory (FD is closed then). */
wire *wire_from_fd(int fd, const char *name);

/* Advance the connect and, with TLS, the handshake: WIRE_OK when data can
 * flow, WIRE_WANT, or WIRE_FAILED. */
wire_status wire_connect_step(wire *w);

/* wire_connect_step() until it is done, within TIMEOUT_MS for the connect
 * and the handshake together: WIRE_OK, WIRE_FAILED, or WIRE_TIMEOUT (the
 * wire is unusable afterwards). */
wire_status wire_connect(wire *w, int timeout_ms);

/* Send up to N (> 0) bytes of BUF: WIRE_OK with *DONE > 0, WIRE_WANT,
 * WIRE_CLOSED or WIRE_FAILED. */
wire_status wire_write_step(wire *w, const void *buf, size_t n, size_t *done);

/* Receive up to N (> 0) bytes into BUF: WIRE_OK with *GOT > 0, WIRE_WANT,
 * WIRE_CLOSED or WIRE_FAILED. */
wire_status wire_read_step(wire *w, void *buf, size_t n, size_t *got);

/* Send all N bytes of BUF, waiting at most TIMEOUT_MS each time the socket
 * is full (an idle timeout).  WIRE_OK, WIRE_TIMEOUT, WIRE_CLOSED or
 * WIRE_FAILED. */
wire_status wire_write_all(wire *w, const void *buf, size_t n, int timeout_ms);

/* Receive what is there, up to N (> 0) bytes, waiting at most TIMEOUT_MS
 * (0: do not wait) for the first byte.  WIRE_OK with *GOT > 0,
 * WIRE_TIMEOUT (nothing came; the wire stays usable), WIRE_CLOSED or
 * WIRE_FAILED. */
wire_status wire_read_some(wire *w, void *buf, size_t n, size_t *got, int timeout_ms);

/* The socket, and the poll() events the last WIRE_WANT waits for. */
int wire_fd(const wire *w);
short wire_events(const wire *w);

/* Why the last call did not return WIRE_OK or WIRE_WANT (borrowed; "" when
 * nothing went wrong). */
const char *wire_error(const wire *w);

/* Record that the caller gave up on W after TIMEOUT_MS and return the
 * sentence (borrowed, as wire_error()): "no answer within N ms", or, in the
 * middle of a TLS handshake, "the server did not answer the TLS handshake
 * within N ms: is TLS enabled on it?" (a plaintext server waits for a
 * line that never comes). */
const char *wire_timeout(wire *w, int timeout_ms);

/* "; the server may require TLS" when W is plaintext and the server has
 * not sent a byte (a TLS-only server closes such a connection after our
 * first bytes), else "".  For a message about a close.  Static. */
const char *wire_close_hint(const wire *w);

/* Close and NULL *W.  Accepts NULL. */
void wire_free(wire **w);

#endif
