/* tls.h - TLS for every connection meridian makes to a Redis server or
 * sentinel.
 *
 * Off by default: connections are plaintext, as Redis' own default.  When
 * on, every connection of the process (store_conn_open*, probes, pub/sub,
 * snapshot fetches) goes through an OpenSSL client session: TLS 1.2 or
 * later, the server's certificate verified against one CA and against the
 * address connected to (its subjectAltName must hold that IP address, or
 * that name).  hiredis still formats the commands and parses the replies;
 * only the bytes go through OpenSSL.
 *
 * A connection never falls back to plaintext: a server that does not speak
 * TLS, or whose certificate does not verify, is an MRD_ERR_CONNECT whose
 * sentence names the server and the cause ("... certificate verify failed
 * (unable to get local issuer certificate): the server's certificate is
 * not signed by the CA in /x/ca.crt").  In plaintext mode, a server that
 * only speaks TLS is reported as such too ("the connection closed; the
 * server may require TLS"). */
#ifndef MRD_STORE_TLS_H
#define MRD_STORE_TLS_H

#include <stdbool.h>

#include "err.h"

/* Make every later connection of this process (store_conn_open*, probes,
 * pub/sub, snapshot fetches) use TLS, verifying the server against the CA
 * certificate in CA_FILE and the address connected to; CERT_FILE/KEY_FILE
 * (both or neither, may be NULL) are presented as a client certificate
 * (CERT_FILE may hold the chain after it).  NULL CA_FILE: plaintext again.
 * Call at start-up, before threads: the files are read here, once, and the
 * connections of every thread share what was read (read-only).
 *
 * Errors: MRD_ERR_INVALID (only one of CERT_FILE and KEY_FILE), MRD_ERR_IO
 * (a file cannot be read or is not PEM, the key is not the certificate's),
 * MRD_ERR_NOMEM; each a sentence naming the file.  After an error TLS
 * stays on but unusable: every connection fails with that sentence, so a
 * caller that ignores the error still never talks plaintext.  Call again
 * (with NULL for plaintext) to recover. */
mrd_rc store_set_tls(const char *ca_file, const char *cert_file, const char *key_file,
                     mrd_error *err);

/* True when connections use TLS (store_set_tls() with a CA file, even one
 * that failed to load). */
bool store_tls_on(void);

#endif
