/* tls.c - the OpenSSL client side of every connection when TLS is on (see
 * tls.h for the contract, tls_internal.h for what wire.c uses).
 *
 * One SSL_CTX per process, built by store_set_tls() before any thread
 * runs and only read afterwards (OpenSSL 3 reference-counts it
 * atomically).  Each session reads and writes its socket through a small
 * BIO of its own rather than OpenSSL's socket BIO: that one writes with
 * write(2), which raises SIGPIPE on a connection the server reset, and the
 * orchestrator does not ignore SIGPIPE; ours uses send(MSG_NOSIGNAL).
 *
 * OpenSSL 3.0's API only (the library compiles with OPENSSL_NO_DEPRECATED). */
#include "tls_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#define TLS_ADDRESS_LEN 256 /* a DNS name (253) or an IP literal */
#define TLS_DATE_LEN 32     /* "2026-01-31 23:59 UTC" */

struct tls_session {
    SSL *ssl;
    int fd;                 /* the socket (the caller's) */
    bool eof;               /* the socket read returned 0 */
    bool failed;            /* a fatal error: no close_notify on close */
    bool got_data;          /* a read returned application data */
    char address[TLS_ADDRESS_LEN];
    /* what the verify callback saw of the first certificate that failed */
    int bad_depth;          /* 0 the server's, 1+ a CA's; -1 none */
    char bad_date[TLS_DATE_LEN]; /* its notAfter (expired) or notBefore */
};

static SSL_CTX *tls_ctx;          /* NULL: plaintext, or the setup failed */
static BIO_METHOD *tls_bio;       /* the socket BIO of every session */
static bool tls_enabled;          /* store_set_tls() was given a CA file */
static bool tls_client_cert;      /* a client certificate is presented */
static char tls_ca[4096];         /* the CA file, for messages */
static char tls_setup_error[600]; /* why tls_ctx is NULL while enabled */

/* ==== SOCKET BIO ==== */

static int bio_write(BIO *b, const char *buf, size_t n, size_t *done)
{
    tls_session *s = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    for (;;) {
        ssize_t w = send(s->fd, buf, n, MSG_NOSIGNAL);
        if (w >= 0) {
            *done = (size_t)w;
            return 1;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            BIO_set_retry_write(b);
        return 0;
    }
}

static int bio_read(BIO *b, char *buf, size_t n, size_t *got)
{
    tls_session *s = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    for (;;) {
        ssize_t r = recv(s->fd, buf, n, 0);
        if (r > 0) {
            *got = (size_t)r;
            return 1;
        }
        if (r == 0) {
            s->eof = true; /* BIO_eof() tells OpenSSL: an unexpected EOF */
            return 0;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            BIO_set_retry_read(b);
        return 0;
    }
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)num;
    tls_session *s = BIO_get_data(b);
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1;
    case BIO_CTRL_EOF:
        return s->eof;
    case BIO_C_GET_FD:
        if (ptr)
            *(int *)ptr = s->fd;
        return s->fd;
    default:
        return 0;
    }
}

static bool bio_method_ready(void)
{
    if (tls_bio)
        return true;
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK |
                                     BIO_TYPE_DESCRIPTOR,
                                 "meridian socket");
    if (!m || BIO_meth_set_write_ex(m, bio_write) != 1 ||
        BIO_meth_set_read_ex(m, bio_read) != 1 || BIO_meth_set_ctrl(m, bio_ctrl) != 1) {
        BIO_meth_free(m);
        return false;
    }
    tls_bio = m; /* kept for the life of the process */
    return true;
}

/* ==== SETUP ==== */

/* The reason of the oldest error in the thread's OpenSSL queue; the queue
 * is emptied. */
static const char *openssl_reason(char *buf, size_t n)
{
    unsigned long e = ERR_peek_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    if (r)
        snprintf(buf, n, "%s", r);
    else if (e)
        ERR_error_string_n(e, buf, n);
    else
        snprintf(buf, n, "unknown error");
    ERR_clear_error();
    return buf;
}

/* MRD_ERR_IO naming WHAT (PATH) when PATH cannot be opened for reading. */
static mrd_rc readable(const char *path, const char *what, mrd_error *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return mrd_error_set(err, MRD_ERR_IO, "cannot read the %s %s: %s", what, path,
                             strerror(errno));
    fclose(f);
    return MRD_OK;
}

/* Never prompt for a key's passphrase on the terminal: an encrypted key
 * fails to load instead. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return 0;
}

static void date_of(const ASN1_TIME *t, char *buf, size_t n)
{
    struct tm tm;
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1 || strftime(buf, n, "%Y-%m-%d %H:%M UTC", &tm) == 0)
        snprintf(buf, n, "an unreadable date");
}

/* Note the first certificate that fails, for the message; the verdict is
 * OpenSSL's (PREVERIFY_OK is returned as it is). */
static int verify_note(int preverify_ok, X509_STORE_CTX *ctx)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(ctx, SSL_get_ex_data_X509_STORE_CTX_idx());
    tls_session *s = ssl ? SSL_get_app_data(ssl) : NULL;
    if (preverify_ok || !s || s->bad_depth >= 0)
        return preverify_ok;
    s->bad_depth = X509_STORE_CTX_get_error_depth(ctx);
    const X509 *cert = X509_STORE_CTX_get_current_cert(ctx);
    int e = X509_STORE_CTX_get_error(ctx);
    if (cert && e == X509_V_ERR_CERT_NOT_YET_VALID)
        date_of(X509_get0_notBefore(cert), s->bad_date, sizeof(s->bad_date));
    else if (cert)
        date_of(X509_get0_notAfter(cert), s->bad_date, sizeof(s->bad_date));
    return preverify_ok;
}

static mrd_rc build_ctx(const char *ca_file, const char *cert_file, const char *key_file,
                        SSL_CTX **out, mrd_error *err)
{
    char why[256];
    *out = NULL;
    if (!cert_file != !key_file)
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "a TLS client certificate needs both a certificate file and "
                             "its key file (got only the %s)",
                             cert_file ? "certificate" : "key");
    MRD_TRY(readable(ca_file, "CA certificate", err));
    if (cert_file) {
        MRD_TRY(readable(cert_file, "client certificate", err));
        MRD_TRY(readable(key_file, "client key", err));
    }
    ERR_clear_error();
    if (!bio_method_ready())
        return mrd_error_set(err, MRD_ERR_NOMEM, "cannot set up TLS: %s",
                             openssl_reason(why, sizeof(why)));
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
        SSL_CTX_free(ctx);
        return mrd_error_set(err, MRD_ERR_NOMEM, "cannot set up TLS: %s",
                             openssl_reason(why, sizeof(why)));
    }
    /* partial writes: a write step reports each record it sent */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_note);
    mrd_rc rc = MRD_OK;
    if (SSL_CTX_load_verify_file(ctx, ca_file) != 1)
        rc = mrd_error_set(err, MRD_ERR_IO,
                           "cannot use %s as the TLS CA certificate: %s (a PEM certificate "
                           "is expected)",
                           ca_file, openssl_reason(why, sizeof(why)));
    else if (cert_file && SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1)
        rc = mrd_error_set(err, MRD_ERR_IO,
                           "cannot use %s as the TLS client certificate: %s (a PEM "
                           "certificate is expected)",
                           cert_file, openssl_reason(why, sizeof(why)));
    else if (cert_file && (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
                           SSL_CTX_check_private_key(ctx) != 1)) {
        /* OpenSSL compares the key with the certificate as it loads it */
        unsigned long e = ERR_peek_last_error();
        if (e == 0 || (ERR_GET_LIB(e) == ERR_LIB_X509 &&
                       ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH))
            rc = mrd_error_set(err, MRD_ERR_IO,
                               "the TLS client key %s is not the key of the certificate %s",
                               key_file, cert_file);
        else
            rc = mrd_error_set(err, MRD_ERR_IO,
                               "cannot use %s as the TLS client key: %s (an unencrypted PEM "
                               "key is expected)",
                               key_file, openssl_reason(why, sizeof(why)));
    }
    ERR_clear_error();
    if (rc != MRD_OK) {
        SSL_CTX_free(ctx);
        return rc;
    }
    *out = ctx;
    return MRD_OK;
}

mrd_rc store_set_tls(const char *ca_file, const char *cert_file, const char *key_file,
                     mrd_error *err)
{
    SSL_CTX_free(tls_ctx);
    tls_ctx = NULL;
    tls_setup_error[0] = '\0';
    tls_enabled = ca_file != NULL;
    if (!ca_file)
        return MRD_OK;
    snprintf(tls_ca, sizeof(tls_ca), "%s", ca_file);
    mrd_error local;
    mrd_error *e = err ? err : &local;
    mrd_rc rc = build_ctx(ca_file, cert_file, key_file, &tls_ctx, e);
    tls_client_cert = rc == MRD_OK && cert_file;
    if (rc != MRD_OK) /* stay on: connections fail with this, never go plaintext */
        snprintf(tls_setup_error, sizeof(tls_setup_error), "TLS is not set up (%s)", e->msg);
    return rc;
}

bool store_tls_on(void)
{
    return tls_enabled;
}

/* ==== SESSIONS ==== */

static bool is_ip_literal(const char *address)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, address, buf) == 1 || inet_pton(AF_INET6, address, buf) == 1;
}

tls_session *store__tls_open(int fd, const char *address, char *why, size_t n)
{
    if (!tls_ctx) {
        snprintf(why, n, "%s", tls_setup_error[0] ? tls_setup_error : "TLS is not set up");
        return NULL;
    }
    tls_session *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(why, n, "out of memory");
        return NULL;
    }
    s->fd = fd;
    s->bad_depth = -1;
    snprintf(s->address, sizeof(s->address), "%s", address);
    ERR_clear_error();
    s->ssl = SSL_new(tls_ctx);
    BIO *b = s->ssl ? BIO_new(tls_bio) : NULL;
    if (!b) {
        char r[200];
        snprintf(why, n, "cannot start a TLS session: %s", openssl_reason(r, sizeof(r)));
        SSL_free(s->ssl);
        free(s);
        return NULL;
    }
    BIO_set_data(b, s);
    BIO_set_init(b, 1);
    SSL_set_bio(s->ssl, b, b); /* the session owns the BIO, not the socket */
    SSL_set_app_data(s->ssl, s);
    /* The certificate must be for the address dialled: an IP literal
     * against its IP subjectAltNames, a name against its DNS ones. */
    X509_VERIFY_PARAM *param = SSL_get0_param(s->ssl);
    bool ok;
    if (is_ip_literal(address)) {
        ok = X509_VERIFY_PARAM_set1_ip_asc(param, address) == 1;
    } else {
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        ok = X509_VERIFY_PARAM_set1_host(param, address, 0) == 1 &&
             SSL_set_tlsext_host_name(s->ssl, s->address) == 1; /* SNI: names only */
    }
    if (!ok) {
        char r[200];
        snprintf(why, n, "cannot check a TLS certificate against %s: %s", address,
                 openssl_reason(r, sizeof(r)));
        store__tls_close(&s);
        return NULL;
    }
    SSL_set_connect_state(s->ssl);
    return s;
}

/* Why verifying the server's certificate failed, after "certificate verify
 * failed (REASON): ". */
static void verify_hint(const tls_session *s, long v, char *buf, size_t n)
{
    switch (v) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
        snprintf(buf, n, "the server's certificate is not signed by the CA in %s", tls_ca);
        return;
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
    case X509_V_ERR_HOSTNAME_MISMATCH:
        snprintf(buf, n, "its certificate is not for %s", s->address);
        return;
    case X509_V_ERR_CERT_HAS_EXPIRED:
        if (s->bad_depth > 0)
            snprintf(buf, n, "the CA certificate expired on %s: renew the CA in %s",
                     s->bad_date, tls_ca);
        else
            snprintf(buf, n, "the server's certificate expired on %s: renew it",
                     s->bad_date);
        return;
    case X509_V_ERR_CERT_NOT_YET_VALID:
        snprintf(buf, n, "the %s certificate is valid only from %s: check the clocks",
                 s->bad_depth > 0 ? "CA" : "server's", s->bad_date);
        return;
    case X509_V_ERR_INVALID_PURPOSE:
        snprintf(buf, n, "the server's certificate is not for TLS servers "
                         "(extendedKeyUsage)");
        return;
    default:
        snprintf(buf, n, "checked against the CA in %s", tls_ca);
        return;
    }
}

/* What to add to an OpenSSL reason the server's alert caused. */
static const char *alert_hint(int reason)
{
    switch (reason) {
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
        return ": the server requires a client certificate";
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
        return ": the server does not accept this client's certificate";
    default:
        return "";
    }
}

/* A close (or a reset) by the server.  During the handshake, or after it
 * but before the server sent any data, a failure that says what it likely
 * means: a TLS 1.3 server checks the client's certificate only once the
 * client has finished its handshake, and a server that refuses it closes
 * at once (its alert often lost to the reset our pipelined command
 * causes).  Afterwards just TLS_CLOSED. */
static tls_status closed(tls_session *s, bool handshake, char *why, size_t n)
{
    ERR_clear_error();
    if (!handshake && s->got_data)
        return TLS_CLOSED;
    s->failed = true;
    if (handshake)
        snprintf(why, n, "the server closed the connection during the TLS handshake: is "
                         "TLS enabled on it?");
    else
        snprintf(why, n, "the server closed the connection right after the TLS handshake: "
                         "%s",
                 tls_client_cert ? "does it accept this client's certificate?"
                                 : "does it require a client certificate?");
    return TLS_FAILED;
}

/* What OK (the 0 or -1 of an SSL call) means; SYS is errno right after the
 * call. */
static tls_status outcome(tls_session *s, int ok, int sys, bool handshake, char *why,
                          size_t n)
{
    int e = SSL_get_error(s->ssl, ok);
    if (e == SSL_ERROR_WANT_READ)
        return TLS_WANT_READ;
    if (e == SSL_ERROR_WANT_WRITE)
        return TLS_WANT_WRITE;
    if (e == SSL_ERROR_ZERO_RETURN)
        return closed(s, handshake, why, n);
    const char *what = handshake ? "the TLS handshake failed" : "TLS error";
    unsigned long q = ERR_peek_error();
    if (e == SSL_ERROR_SYSCALL && q == 0) {
        if (sys == 0 || s->eof || sys == ECONNRESET || sys == EPIPE)
            return closed(s, handshake, why, n);
        s->failed = true;
        snprintf(why, n, "%s: %s", what, strerror(sys));
        return TLS_FAILED;
    }
    int reason = ERR_GET_LIB(q) == ERR_LIB_SSL ? ERR_GET_REASON(q) : 0;
    if (reason == SSL_R_UNEXPECTED_EOF_WHILE_READING)
        return closed(s, handshake, why, n);
    s->failed = true;
    char r[200], hint[TLS_ADDRESS_LEN + 4200];
    openssl_reason(r, sizeof(r));
    long v = SSL_get_verify_result(s->ssl);
    if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED && v != X509_V_OK) {
        verify_hint(s, v, hint, sizeof(hint));
        snprintf(why, n, "%s: certificate verify failed (%s): %s", what,
                 X509_verify_cert_error_string(v), hint);
    } else if (handshake && (reason == SSL_R_WRONG_VERSION_NUMBER ||
                             reason == SSL_R_PACKET_LENGTH_TOO_LONG ||
                             reason == SSL_R_HTTP_REQUEST)) {
        snprintf(why, n, "the server did not answer the TLS handshake (%s): is TLS enabled "
                         "on it?",
                 r);
    } else {
        snprintf(why, n, "%s: %s%s", what, r, alert_hint(reason));
    }
    return TLS_FAILED;
}

tls_status store__tls_handshake(tls_session *s, char *why, size_t n)
{
    ERR_clear_error();
    errno = 0;
    int ok = SSL_connect(s->ssl);
    int sys = errno;
    return ok == 1 ? TLS_DONE : outcome(s, ok, sys, true, why, n);
}

tls_status store__tls_read(tls_session *s, void *buf, size_t n, size_t *got, char *why,
                           size_t wn)
{
    *got = 0;
    ERR_clear_error();
    errno = 0;
    int ok = SSL_read_ex(s->ssl, buf, n, got);
    int sys = errno;
    if (ok != 1)
        return outcome(s, ok, sys, false, why, wn);
    s->got_data = true;
    return TLS_DONE;
}

tls_status store__tls_write(tls_session *s, const void *buf, size_t n, size_t *done,
                            char *why, size_t wn)
{
    *done = 0;
    ERR_clear_error();
    errno = 0;
    int ok = SSL_write_ex(s->ssl, buf, n, done);
    int sys = errno;
    return ok == 1 ? TLS_DONE : outcome(s, ok, sys, false, why, wn);
}

bool store__tls_pending(const tls_session *s)
{
    return SSL_pending(s->ssl) > 0;
}

void store__tls_close(tls_session **s)
{
    if (!s || !*s)
        return;
    if ((*s)->ssl) {
        /* a close_notify when the session is sound; never waits */
        if (!(*s)->failed && SSL_is_init_finished((*s)->ssl))
            SSL_shutdown((*s)->ssl);
        ERR_clear_error();
        SSL_free((*s)->ssl);
    }
    free(*s);
    *s = NULL;
}
