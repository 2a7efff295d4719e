/* tls_internal.h - store/ only: the OpenSSL client session under a wire
 * (wire.c) when store_set_tls() is on.
 *
 * wire.c owns the socket and the plaintext path; this backend owns every
 * OpenSSL call.  Every function is non-blocking: TLS_WANT_READ or
 * TLS_WANT_WRITE say which readiness of the socket to poll() for before
 * calling the same function again with the same arguments.  Sessions of
 * several threads share the process' SSL_CTX read-only; one session is
 * used by one thread at a time.  A WHY buffer receives a sentence for
 * TLS_FAILED, phrased to follow "cannot connect to ADDRESS:PORT: " (it does
 * not name the server itself). */
#ifndef MRD_STORE_TLS_INTERNAL_H
#define MRD_STORE_TLS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "tls.h"

typedef struct tls_session tls_session; /* opaque */

typedef enum tls_status {
    TLS_DONE = 0,   /* the operation completed */
    TLS_WANT_READ,  /* poll for POLLIN, then call again */
    TLS_WANT_WRITE, /* poll for POLLOUT, then call again */
    TLS_CLOSED,     /* the server closed the connection (once it had sent data;
                       before that a close is TLS_FAILED with a likely cause) */
    TLS_FAILED,     /* WHY says why; the session is unusable */
} tls_status;

/* A client session over FD (a connected socket, non-blocking, still owned
 * by the caller) to a server dialled as ADDRESS: its certificate must chain
 * to the CA of store_set_tls() and name ADDRESS (an IP literal is checked
 * against the IP subjectAltNames, a name against the DNS ones; a name is
 * also sent as SNI).  Writes never raise SIGPIPE.  NULL with WHY when TLS
 * is not set up (store_set_tls() failed) or out of memory.  New: close it
 * with store__tls_close(). */
tls_session *store__tls_open(int fd, const char *address, char *why, size_t n);

/* Advance the handshake: TLS_DONE once it completed and the server's
 * certificate verified.  A server that closes the connection during the
 * handshake is TLS_FAILED ("... is TLS enabled on it?"). */
tls_status store__tls_handshake(tls_session *s, char *why, size_t n);

/* Read up to N (> 0) decrypted bytes: TLS_DONE with *GOT > 0. */
tls_status store__tls_read(tls_session *s, void *buf, size_t n, size_t *got, char *why,
                           size_t wn);

/* Write up to N (> 0) bytes: TLS_DONE with *DONE > 0 (at least one record;
 * partial writes are on). */
tls_status store__tls_write(tls_session *s, const void *buf, size_t n, size_t *done,
                            char *why, size_t wn);

/* True when the session holds decrypted bytes not read yet: read them
 * before waiting on the socket, which has nothing more to say. */
bool store__tls_pending(const tls_session *s);

/* Free *S (the socket is left to the caller) and NULL it.  Accepts NULL. */
void store__tls_close(tls_session **s);

#endif
