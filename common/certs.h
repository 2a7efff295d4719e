/* certs.h - the TLS certificates of a deployment: a private CA, one
 * certificate per host, and the checks made before any of them is used.
 *
 * Keys are EC P-256, written in PEM (PKCS#8) to files of mode 0600,
 * atomically (temporary file, fsync, rename); a key is never put in a
 * message or a log line, only its path.  Certificates are PEM, mode 0644.
 * Every function is safe to call from several threads (OpenSSL 3 keeps no
 * state that needs locking here) but two writers of the same files must be
 * serialised by the caller (deploy holds its lock). */
#ifndef MRD_CERTS_H
#define MRD_CERTS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "err.h"

/* Where a deployment's TLS files live, relative to a secrets folder: the
 * orchestrator's (STATE/secrets) and every host's (SECRETS in
 * manifest.h) alike.  Meridian-managed or supplied by the operator
 * (topology "tls": "ca_file", "cert_dir"), deploy copies them here, so
 * everything downstream reads one layout.  Host files are named after the
 * host (mrd_tls_host_file): on the local transport every host's agent
 * shares the orchestrator's secrets folder. */
#define MRD_TLS_DIR "tls"               /* mode 0700 */
#define MRD_TLS_CA_CERT "tls/ca.crt"    /* the CA certificate, 0644 */
#define MRD_TLS_CA_KEY "tls/ca.key"     /* orchestrator only, 0600; absent when
                                           the operator supplied the CA */
#define MRD_TLS_HOSTS_DIR "tls/hosts"   /* HOST.crt (0644), HOST.key (0600) */

/* SECRETS/tls/hosts/HOST.crt, or .key when KEY, into BUF (N bytes).
 * MRD_ERR_INVALID when it does not fit. */
mrd_rc mrd_tls_host_file(const char *secrets, const char *host, bool key, char *buf,
                         size_t n, mrd_error *err);

/* SECRETS/tls/ca.crt into BUF (N bytes); MRD_ERR_INVALID when it does not
 * fit. */
mrd_rc mrd_tls_ca_file(const char *secrets, char *buf, size_t n, mrd_error *err);

/* Bounds of a validity period, in days. */
#define MRD_CERT_MIN_DAYS 1
#define MRD_CERT_MAX_DAYS 36500

/* How many IP and how many DNS subjectAltNames mrd_cert_info keeps. */
#define MRD_CERT_MAX_SANS 8

/* Room for a common name or a DNS name read from a certificate (RFC 1035:
 * 253 characters). */
#define MRD_CERT_NAME_LEN 256

/* Room for an address as text (INET6_ADDRSTRLEN). */
#define MRD_CERT_ADDR_LEN 46

/* New certificates start this many seconds in the past, so that a host
 * whose clock is a little behind the orchestrator's accepts them at once. */
#define MRD_CERT_BACKDATE_S 300

/* Create a self-signed CA in DIR (which must exist): DIR/ca.key (mode 0600)
 * and DIR/ca.crt (mode 0644), valid VALIDITY_DAYS days (MRD_CERT_MIN_DAYS to
 * MRD_CERT_MAX_DAYS, else MRD_ERR_INVALID), subject CN=COMMON_NAME,
 * basicConstraints CA:TRUE (critical), keyUsage keyCertSign and cRLSign,
 * a subjectKeyIdentifier and a random 159-bit serial.
 *
 * An existing DIR/ca.crt is never replaced (MRD_ERR_STATE): every host
 * certificate depends on it.  The key is written first, atomically, then
 * the certificate is linked into place (mrd_write_new), so a kill leaves
 * either both, or DIR/ca.key alone, which the next call replaces.
 * Errors: MRD_ERR_INVALID (arguments), MRD_ERR_STATE (a CA exists),
 * MRD_ERR_IO (files), MRD_ERR_NOMEM (OpenSSL failed, detail in msg). */
mrd_rc mrd_ca_create(const char *dir, const char *common_name, int validity_days,
                     mrd_error *err);

/* Issue a host certificate signed by the CA in CA_DIR (ca.crt, ca.key):
 * subject CN=HOST_NAME, subjectAltName IP:ADDRESS and DNS:HOST_NAME,
 * extendedKeyUsage serverAuth and clientAuth (Redis uses the same
 * certificate to accept connections and, for replication and the cluster
 * bus, to make them), keyUsage digitalSignature and keyEncipherment,
 * basicConstraints CA:FALSE, subject and authority key identifiers, valid
 * VALIDITY_DAYS days.  A new key is written to OUT_KEY (0600) and the
 * certificate to OUT_CERT (0644), each replaced atomically, the key first:
 * a kill in between leaves a new key with the old certificate, which
 * mrd_cert_check() reports as a mismatch and a new issue repairs.
 *
 * ADDRESS must be an IPv4 or IPv6 address and HOST_NAME 1 to 64 letters,
 * digits, '-' or '.' (64: the most a common name may hold), else
 * MRD_ERR_INVALID; so must COMMON_NAME of mrd_ca_create().  A CA key
 * readable by group or others is refused (MRD_ERR_STATE, saying to chmod
 * 600 it).
 * Errors: also MRD_ERR_NOT_FOUND (no CA), MRD_ERR_PARSE (CA files are not
 * PEM), MRD_ERR_IO, MRD_ERR_NOMEM. */
mrd_rc mrd_cert_issue(const char *ca_dir, const char *out_cert, const char *out_key,
                      const char *host_name, const char *address, int validity_days,
                      mrd_error *err);

/* What a certificate says. */
typedef struct mrd_cert_info {
    time_t not_before;                   /* UTC seconds */
    time_t not_after;                    /* UTC seconds */
    char subject_cn[MRD_CERT_NAME_LEN];  /* "" when there is none */
    char issuer_cn[MRD_CERT_NAME_LEN];   /* "" when there is none */
    bool is_ca;                          /* basicConstraints CA:TRUE */
    int n_ips;                           /* entries used in ips */
    char ips[MRD_CERT_MAX_SANS][MRD_CERT_ADDR_LEN];  /* IP SANs as text */
    int n_dns;                           /* entries used in dns */
    char dns[MRD_CERT_MAX_SANS][MRD_CERT_NAME_LEN];  /* DNS SANs */
    bool sans_truncated;                 /* more SANs than fit were left out */
} mrd_cert_info;

/* Read the first certificate of the PEM file PATH into *INFO.
 * Errors: MRD_ERR_NOT_FOUND, MRD_ERR_IO, MRD_ERR_PARSE (not a PEM
 * certificate, or dates OpenSSL cannot read). */
mrd_rc mrd_cert_info_read(const char *path, mrd_cert_info *info, mrd_error *err);

/* Whole days from NOW until INFO->not_after, rounded down: 0 on the last
 * day, negative once expired (-1 on the first day after). */
long mrd_cert_days_left(const mrd_cert_info *info, time_t now);

/* True when INFO expires within RENEW_BEFORE_DAYS days of NOW (or has
 * expired): not_after - now <= renew_before_days * 86400.  Pure.  With 0
 * days: from not_after on, the second OpenSSL (so Redis) refuses it. */
bool mrd_cert_needs_renewal(const mrd_cert_info *info, time_t now,
                            int renew_before_days);

/* Why a host's certificate cannot be used; one value per check of
 * mrd_cert_check(), in the order they are made. */
typedef enum mrd_cert_verdict {
    MRD_CERT_OK = 0,        /* every check passed */
    MRD_CERT_KEY_EXPOSED,   /* the key file is readable by group or others */
    MRD_CERT_UNREADABLE,    /* a file is missing, unreadable or not PEM */
    MRD_CERT_KEY_MISMATCH,  /* the key is not the certificate's */
    MRD_CERT_NOT_YET_VALID, /* NOW is before not_before */
    MRD_CERT_EXPIRED,       /* NOW is not_after or later (as OpenSSL has it) */
    MRD_CERT_WRONG_CA,      /* not signed by the CA given */
    MRD_CERT_BAD_CA,        /* the CA itself is unusable (expired, not a CA) */
    MRD_CERT_WRONG_USAGE,   /* not valid as both TLS server and TLS client */
    MRD_CERT_WRONG_ADDRESS, /* its subjectAltName lacks the host's address */
} mrd_cert_verdict;

/* Check, before deploying them, the files a host will use: the key
 * KEY_PATH is not readable by group or others and is CERT_PATH's key;
 * CERT_PATH is valid at NOW, chains to the CA in CA_PATH (a store that
 * holds only that CA, verified at time NOW), is valid for TLS servers and
 * clients, and its subjectAltName holds ADDRESS.  Reads files, changes
 * nothing.
 *
 * *VERDICT (VERDICT may be NULL) says which check failed first
 * (MRD_CERT_OK when none did) and WHY (N bytes, may be NULL when N is 0)
 * gets a sentence naming HOST_NAME and the file, e.g. "certificate
 * /x/hosts/euw-a1.crt for euw-a1 does not name its address 127.0.2.1
 * (subjectAltName: IP:127.0.9.9, DNS:euw-a1)"; "" when all passed.  The
 * key's content is never put in WHY.
 * Returns MRD_OK when all passed, MRD_ERR_STATE for an exposed key (as
 * mrd_secret_read), MRD_ERR_NOT_FOUND, MRD_ERR_IO or MRD_ERR_PARSE for an
 * unreadable file, MRD_ERR_INVALID for every other refusal. */
mrd_rc mrd_cert_check(const char *ca_path, const char *cert_path, const char *key_path,
                      const char *host_name, const char *address, time_t now,
                      mrd_cert_verdict *verdict, char *why, size_t n);

#endif
