/* certs.c - private CA, host certificates and their checks (OpenSSL 3.0
 * libcrypto; no call deprecated in 3.0: CMake builds this library with
 * OPENSSL_API_COMPAT=30000 and OPENSSL_NO_DEPRECATED, so one would not
 * compile). */
#include "certs.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "fsutil.h"

/* A PEM certificate or key is a few KiB; anything larger is not one. */
#define PEM_MAX_BYTES (256 * 1024)

/* ==== HELPERS ========================================================== */

/* The reason of the most recent OpenSSL error ("" when none), and the
 * error queue emptied, so no stale error is reported by a later call. */
static const char *ossl_reason(char *buf, size_t n)
{
    unsigned long e, last = 0;
    while ((e = ERR_get_error()) != 0)
        last = e;
    buf[0] = '\0';
    if (last) {
        const char *r = ERR_reason_error_string(last);
        snprintf(buf, n, "%s", r ? r : "unknown OpenSSL error");
    }
    return buf;
}

/* MRD_ERR_NOMEM with "WHAT failed: <OpenSSL's reason>". */
static mrd_rc ossl_fail(mrd_error *err, const char *what)
{
    char r[160];
    ossl_reason(r, sizeof(r));
    return mrd_error_set(err, MRD_ERR_NOMEM, "%s failed%s%s", what, r[0] ? ": " : "", r);
}

/* MRD_ERR_INVALID unless DAYS is a validity period WHAT may have. */
static mrd_rc check_days(const char *what, int days, mrd_error *err)
{
    if (days >= MRD_CERT_MIN_DAYS && days <= MRD_CERT_MAX_DAYS)
        return MRD_OK;
    return mrd_error_set(err, MRD_ERR_INVALID, "%s is valid for %d to %d days, not %d",
                         what, MRD_CERT_MIN_DAYS, MRD_CERT_MAX_DAYS, days);
}

/* RFC 5280's upper bound of a common name (ub-common-name), which OpenSSL
 * enforces: a longer name cannot be a certificate's subject. */
#define MRD_CERT_CN_MAX 64

/* Letters, digits, '-' and '.', 1 to MRD_CERT_CN_MAX characters: what a
 * common name and a DNS SAN may hold here (no ',' or ':' to confuse the
 * extension syntax of add_ext). */
static bool valid_dns_name(const char *s)
{
    size_t len = s ? strlen(s) : 0;
    if (len == 0 || len > MRD_CERT_CN_MAX)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'))
            return false;
    return true;
}

static bool valid_address(const char *s)
{
    unsigned char raw[16];
    return s && (inet_pton(AF_INET, s, raw) == 1 || inet_pton(AF_INET6, s, raw) == 1);
}

/* ASN1_TIME to UTC seconds. */
static bool asn1_to_time(const ASN1_TIME *t, time_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
        return false;
    *out = timegm(&tm);
    return true;
}

/* The first certificate of the PEM file PATH into *OUT (caller frees). */
static mrd_rc load_cert(const char *path, X509 **out, mrd_error *err)
{
    char *text = NULL;
    size_t len = 0;
    *out = NULL;
    MRD_TRY(mrd_read_file(path, PEM_MAX_BYTES, &text, &len, err));
    X509 *x = NULL;
    BIO *b = BIO_new_mem_buf(text, (int)len);
    if (b)
        x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    free(text);
    if (!x) {
        char r[160];
        ossl_reason(r, sizeof(r));
        return mrd_error_set(err, MRD_ERR_PARSE, "%s is not a PEM certificate%s%s", path,
                             r[0] ? ": " : "", r);
    }
    *out = x;
    return MRD_OK;
}

/* The private key in PATH into *OUT (caller frees).  The file is opened
 * once and its mode checked on that descriptor: a key readable by group or
 * others is refused (MRD_ERR_STATE) before a byte of it is read.  The
 * bytes read are wiped before they are freed. */
static mrd_rc load_key(const char *path, EVP_PKEY **out, mrd_error *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mrd_error_set(err, errno == ENOENT ? MRD_ERR_NOT_FOUND : MRD_ERR_IO,
                             "cannot read key %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > PEM_MAX_BYTES) {
        close(fd);
        return mrd_error_set(err, MRD_ERR_IO, "cannot read key %s: not a regular file "
                             "of at most %d bytes", path, PEM_MAX_BYTES);
    }
    if ((st.st_mode & 077) != 0) {
        close(fd);
        return mrd_error_set(err, MRD_ERR_STATE, "world-readable key %s (mode %04o): "
                             "chmod 600 it", path, (unsigned)(st.st_mode & 07777));
    }
    size_t cap = (size_t)st.st_size + 1, len = 0;
    char *text = OPENSSL_secure_malloc(cap);
    if (!text) {
        close(fd);
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory reading key %s", path);
    }
    while (len < cap - 1) {
        ssize_t r = read(fd, text + len, cap - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    EVP_PKEY *k = NULL;
    BIO *b = BIO_new_mem_buf(text, (int)len);
    if (b)
        k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIO_free(b);
    OPENSSL_secure_clear_free(text, cap);
    if (!k) {
        char r[160];
        ossl_reason(r, sizeof(r));
        return mrd_error_set(err, MRD_ERR_PARSE, "key %s is not a PEM private key%s%s",
                             path, r[0] ? ": " : "", r);
    }
    *out = k;
    return MRD_OK;
}

/* A new EC P-256 key into *OUT (caller frees). */
static mrd_rc new_key(EVP_PKEY **out, mrd_error *err)
{
    *out = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    return *out ? MRD_OK : ossl_fail(err, "generating an EC P-256 key");
}

/* Write KEY (PKCS#8 PEM, unencrypted) to PATH, mode 0600, replacing it
 * atomically.  The PEM text lives in a secure-memory BIO, wiped when it is
 * freed. */
static mrd_rc write_key(const char *path, EVP_PKEY *key, mrd_error *err)
{
    BIO *b = BIO_new(BIO_s_secmem());
    if (!b || PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) != 1) {
        BIO_free(b);
        return ossl_fail(err, "encoding a private key");
    }
    char *data = NULL;
    long len = BIO_get_mem_data(b, &data);
    mrd_rc rc = len > 0 ? mrd_write_atomic(path, data, (size_t)len, 0600, err)
                        : ossl_fail(err, "encoding a private key");
    BIO_free(b);
    return rc;
}

/* CERT as PEM to PATH, mode 0644: replacing it, or with NEW_ONLY only when
 * PATH does not exist (MRD_ERR_STATE when it does). */
static mrd_rc write_cert(const char *path, X509 *cert, bool new_only, mrd_error *err)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (!b || PEM_write_bio_X509(b, cert) != 1) {
        BIO_free(b);
        return ossl_fail(err, "encoding a certificate");
    }
    char *data = NULL;
    long len = BIO_get_mem_data(b, &data);
    mrd_rc rc;
    bool created = false;
    if (len <= 0)
        rc = ossl_fail(err, "encoding a certificate");
    else if (!new_only)
        rc = mrd_write_atomic(path, data, (size_t)len, 0644, err);
    else if ((rc = mrd_write_new(path, data, (size_t)len, 0644, &created, err)) ==
                 MRD_OK && !created)
        rc = mrd_error_set(err, MRD_ERR_STATE, "%s appeared while it was being created: "
                           "another meridian wrote it; it is left as it is", path);
    BIO_free(b);
    return rc;
}

/* Add the extension NID with the value VALUE (openssl.cnf syntax) to X,
 * in the context of ISSUER. */
static bool add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    bool ok = ext && X509_add_ext(x, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok;
}

/* A random positive serial of 159 bits (RFC 5280: at most 20 bytes). */
static bool set_random_serial(X509 *x)
{
    unsigned char raw[20];
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return false;
    raw[0] &= 0x7f;
    raw[0] |= 0x40; /* never zero, always 20 bytes */
    BIGNUM *bn = BN_bin2bn(raw, sizeof(raw), NULL);
    bool ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
    BN_free(bn);
    return ok;
}

/* A new version-3 certificate for KEY: subject CN=CN, random serial, valid
 * from MRD_CERT_BACKDATE_S seconds ago for DAYS days. */
static X509 *new_cert(EVP_PKEY *key, const char *cn, int days)
{
    X509 *x = X509_new();
    X509_NAME *name = x ? X509_get_subject_name(x) : NULL;
    if (!x || X509_set_version(x, X509_VERSION_3) != 1 || !set_random_serial(x) ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                    (const unsigned char *)cn, -1, -1, 0) ||
        !X509_time_adj_ex(X509_getm_notBefore(x), 0, -MRD_CERT_BACKDATE_S, NULL) ||
        !X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL) ||
        X509_set_pubkey(x, key) != 1) {
        X509_free(x);
        return NULL;
    }
    return x;
}

/* ==== CREATING ========================================================= */

/* DIR/ca.crt and DIR/ca.key into CRT and KEY (PATH_MAX bytes each). */
static mrd_rc ca_paths(const char *dir, char *crt, char *key, mrd_error *err)
{
    if (mrd_path_fmt(crt, PATH_MAX, "%s/ca.crt", dir) != MRD_OK ||
        mrd_path_fmt(key, PATH_MAX, "%s/ca.key", dir) != MRD_OK)
        return mrd_error_set(err, MRD_ERR_INVALID, "path too long: %s", dir);
    return MRD_OK;
}

mrd_rc mrd_ca_create(const char *dir, const char *common_name, int validity_days,
                     mrd_error *err)
{
    MRD_TRY(check_days("a CA", validity_days, err));
    if (!valid_dns_name(common_name))
        return mrd_error_set(err, MRD_ERR_INVALID, "CA name \"%s\" must be 1 to %d "
                             "letters, digits, '-' or '.'", common_name ? common_name : "",
                             MRD_CERT_CN_MAX);
    char crt_path[PATH_MAX], key_path[PATH_MAX];
    MRD_TRY(ca_paths(dir, crt_path, key_path, err));
    if (mrd_path_exists(crt_path))
        return mrd_error_set(err, MRD_ERR_STATE, "a CA exists already (%s): meridian "
                             "never replaces it, every host certificate depends on it",
                             crt_path);

    EVP_PKEY *key = NULL;
    MRD_TRY(new_key(&key, err));
    mrd_rc rc = MRD_OK;
    X509 *x = new_cert(key, common_name, validity_days);
    if (!x || X509_set_issuer_name(x, X509_get_subject_name(x)) != 1 ||
        !add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE") ||
        !add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") ||
        !add_ext(x, x, NID_subject_key_identifier, "hash") ||
        X509_sign(x, key, EVP_sha256()) <= 0)
        rc = ossl_fail(err, "making the CA certificate");
    if (rc == MRD_OK)
        rc = write_key(key_path, key, err);
    if (rc == MRD_OK)
        rc = write_cert(crt_path, x, true, err);
    X509_free(x);
    EVP_PKEY_free(key);
    return rc;
}

mrd_rc mrd_cert_issue(const char *ca_dir, const char *out_cert, const char *out_key,
                      const char *host_name, const char *address, int validity_days,
                      mrd_error *err)
{
    MRD_TRY(check_days("a certificate", validity_days, err));
    if (!valid_dns_name(host_name))
        return mrd_error_set(err, MRD_ERR_INVALID, "host name \"%s\" cannot go in a "
                             "certificate: it must be 1 to %d letters, digits, '-' or '.'",
                             host_name ? host_name : "", MRD_CERT_CN_MAX);
    if (!valid_address(address))
        return mrd_error_set(err, MRD_ERR_INVALID, "address \"%s\" of %s is not an IPv4 "
                             "or IPv6 address", address ? address : "", host_name);
    char crt_path[PATH_MAX], key_path[PATH_MAX];
    MRD_TRY(ca_paths(ca_dir, crt_path, key_path, err));
    /* Each SAN a separate entry: "IP:<address>,DNS:<name>"; neither holds
     * a ',' (checked above). */
    char san[sizeof("IP:,DNS:") + MRD_CERT_ADDR_LEN + MRD_CERT_NAME_LEN];
    snprintf(san, sizeof(san), "IP:%s,DNS:%s", address, host_name);

    X509 *ca = NULL, *x = NULL;
    EVP_PKEY *ca_key = NULL, *key = NULL;
    mrd_rc rc = load_cert(crt_path, &ca, err);
    if (rc == MRD_OK)
        rc = load_key(key_path, &ca_key, err);
    if (rc == MRD_OK && X509_check_private_key(ca, ca_key) != 1) {
        ERR_clear_error();
        rc = mrd_error_set(err, MRD_ERR_INVALID, "CA key %s is not the key of %s",
                           key_path, crt_path);
    }
    if (rc == MRD_OK)
        rc = new_key(&key, err);
    if (rc != MRD_OK)
        goto out;
    x = new_cert(key, host_name, validity_days);
    if (!x || X509_set_issuer_name(x, X509_get_subject_name(ca)) != 1 ||
        !add_ext(x, ca, NID_basic_constraints, "critical,CA:FALSE") ||
        !add_ext(x, ca, NID_key_usage, "critical,digitalSignature,keyEncipherment") ||
        !add_ext(x, ca, NID_ext_key_usage, "serverAuth,clientAuth") ||
        !add_ext(x, ca, NID_subject_alt_name, san) ||
        !add_ext(x, ca, NID_subject_key_identifier, "hash") ||
        !add_ext(x, ca, NID_authority_key_identifier, "keyid:always") ||
        X509_sign(x, ca_key, EVP_sha256()) <= 0) {
        rc = ossl_fail(err, "making the certificate");
        goto out;
    }
    rc = write_key(out_key, key, err);
    if (rc == MRD_OK)
        rc = write_cert(out_cert, x, false, err);
out:
    X509_free(x);
    EVP_PKEY_free(key);
    EVP_PKEY_free(ca_key);
    X509_free(ca);
    return rc;
}

/* ==== READING ========================================================== */

/* The common name in NAME into BUF ("" when there is none). */
static void name_cn(const X509_NAME *name, char *buf, size_t n)
{
    buf[0] = '\0';
    int i = name ? X509_NAME_get_index_by_NID(name, NID_commonName, -1) : -1;
    if (i < 0)
        return;
    const ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
    unsigned char *utf8 = NULL;
    int len = ASN1_STRING_to_UTF8(&utf8, s);
    if (len >= 0)
        snprintf(buf, n, "%.*s", len, (const char *)utf8);
    OPENSSL_free(utf8);
}

/* The subjectAltNames of X into INFO. */
static void read_sans(X509 *x, mrd_cert_info *info)
{
    GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        if (g->type == GEN_IPADD) {
            const ASN1_OCTET_STRING *ip = g->d.iPAddress;
            int len = ASN1_STRING_length(ip);
            int af = len == 4 ? AF_INET : len == 16 ? AF_INET6 : 0;
            if (!af)
                continue;
            if (info->n_ips == MRD_CERT_MAX_SANS) {
                info->sans_truncated = true;
                continue;
            }
            if (inet_ntop(af, ASN1_STRING_get0_data(ip), info->ips[info->n_ips],
                          MRD_CERT_ADDR_LEN))
                info->n_ips++;
        } else if (g->type == GEN_DNS) {
            if (info->n_dns == MRD_CERT_MAX_SANS) {
                info->sans_truncated = true;
                continue;
            }
            const ASN1_IA5STRING *s = g->d.dNSName;
            snprintf(info->dns[info->n_dns++], MRD_CERT_NAME_LEN, "%.*s",
                     ASN1_STRING_length(s), (const char *)ASN1_STRING_get0_data(s));
        }
    }
    GENERAL_NAMES_free(names);
}

/* X as INFO; false when its dates cannot be read. */
static bool cert_facts(X509 *x, mrd_cert_info *info)
{
    memset(info, 0, sizeof(*info));
    if (!asn1_to_time(X509_get0_notBefore(x), &info->not_before) ||
        !asn1_to_time(X509_get0_notAfter(x), &info->not_after))
        return false;
    name_cn(X509_get_subject_name(x), info->subject_cn, sizeof(info->subject_cn));
    name_cn(X509_get_issuer_name(x), info->issuer_cn, sizeof(info->issuer_cn));
    info->is_ca = (X509_get_extension_flags(x) & EXFLAG_CA) != 0;
    read_sans(x, info);
    ERR_clear_error();
    return true;
}

mrd_rc mrd_cert_info_read(const char *path, mrd_cert_info *info, mrd_error *err)
{
    memset(info, 0, sizeof(*info));
    X509 *x = NULL;
    MRD_TRY(load_cert(path, &x, err));
    bool ok = cert_facts(x, info);
    X509_free(x);
    if (!ok)
        return mrd_error_set(err, MRD_ERR_PARSE, "certificate %s has dates that cannot "
                             "be read", path);
    return MRD_OK;
}

long mrd_cert_days_left(const mrd_cert_info *info, time_t now)
{
    long long s = (long long)info->not_after - (long long)now;
    long long d = s / 86400;
    if (s % 86400 < 0)
        d--; /* round toward minus infinity: -1 on the first day after */
    return (long)d;
}

bool mrd_cert_needs_renewal(const mrd_cert_info *info, time_t now,
                            int renew_before_days)
{
    return (long long)info->not_after - (long long)now <=
           (long long)renew_before_days * 86400;
}

/* ==== CHECKING ========================================================= */

/* "IP:a, IP:b, DNS:c" into BUF, "none" when there are none. */
static void sans_text(const mrd_cert_info *info, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < info->n_ips + info->n_dns && used < n; i++) {
        const char *v = i < info->n_ips ? info->ips[i] : info->dns[i - info->n_ips];
        int w = snprintf(buf + used, n - used, "%s%s:%s", i ? ", " : "",
                         i < info->n_ips ? "IP" : "DNS", v);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    if (!buf[0])
        snprintf(buf, n, "none");
}

/* UTC "YYYY-MM-DD HH:MM:SS UTC" of T into BUF. */
static const char *utc_text(time_t t, char *buf, size_t n)
{
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(buf, n, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        snprintf(buf, n, "%lld", (long long)t);
    return buf;
}

/* The verdict and its sentence; returns RC. */
static mrd_rc refuse(mrd_cert_verdict *verdict, mrd_cert_verdict v, char *why, size_t n,
                     mrd_rc rc, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static mrd_rc refuse(mrd_cert_verdict *verdict, mrd_cert_verdict v, char *why, size_t n,
                     mrd_rc rc, const char *fmt, ...)
{
    *verdict = v;
    if (n > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, n, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* Verify CERT against a store that holds only CA, at time NOW.  0 when it
 * chains, else the X509_V_ERR_ code and *depth where it failed. */
static int verify_chain(X509 *ca, X509 *cert, time_t now, int *depth)
{
    *depth = 0;
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int code = X509_V_ERR_OUT_OF_MEM;
    if (store && ctx && X509_STORE_add_cert(store, ca) == 1 &&
        X509_STORE_CTX_init(ctx, store, cert, NULL) == 1) {
        X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), now);
        if (X509_verify_cert(ctx) == 1) {
            code = 0;
        } else {
            code = X509_STORE_CTX_get_error(ctx);
            *depth = X509_STORE_CTX_get_error_depth(ctx);
            if (code == X509_V_OK)
                code = X509_V_ERR_UNSPECIFIED;
        }
    }
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    ERR_clear_error();
    return code;
}

/* Whether a failure of verify_chain says CERT was not signed by the CA
 * (rather than something wrong with the CA itself). */
static bool is_wrong_issuer(int code, int depth)
{
    switch (code) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    case X509_V_ERR_AKID_SKID_MISMATCH:
        return true;
    default:
        return depth == 0;
    }
}

mrd_rc mrd_cert_check(const char *ca_path, const char *cert_path, const char *key_path,
                      const char *host_name, const char *address, time_t now,
                      mrd_cert_verdict *verdict, char *why, size_t n)
{
    mrd_cert_verdict ignored;
    if (!verdict)
        verdict = &ignored;
    *verdict = MRD_CERT_OK;
    if (n > 0)
        why[0] = '\0';
    mrd_error e;
    mrd_error_clear(&e);

    /* The key first: an exposed key is refused before anything is read
     * from it, whatever else is wrong. */
    EVP_PKEY *key = NULL;
    X509 *cert = NULL, *ca = NULL;
    mrd_rc rc = load_key(key_path, &key, &e);
    if (rc != MRD_OK) {
        refuse(verdict, rc == MRD_ERR_STATE ? MRD_CERT_KEY_EXPOSED : MRD_CERT_UNREADABLE,
               why, n, rc, "certificate %s for %s: %s", cert_path, host_name, e.msg);
        goto out;
    }
    if ((rc = load_cert(cert_path, &cert, &e)) != MRD_OK ||
        (rc = load_cert(ca_path, &ca, &e)) != MRD_OK) {
        refuse(verdict, MRD_CERT_UNREADABLE, why, n, rc, "%s for %s: %s",
               cert ? "CA certificate" : "certificate", host_name, e.msg);
        goto out;
    }

    mrd_cert_info info, ca_info;
    char a[64], b[64], sans[600];
    int depth = 0, code;
    if (!cert_facts(cert, &info) || !cert_facts(ca, &ca_info)) {
        rc = refuse(verdict, MRD_CERT_UNREADABLE, why, n, MRD_ERR_PARSE,
                    "certificate %s for %s or CA %s has dates that cannot be read",
                    cert_path, host_name, ca_path);
    } else if (X509_check_private_key(cert, key) != 1) {
        rc = refuse(verdict, MRD_CERT_KEY_MISMATCH, why, n, MRD_ERR_INVALID,
                    "key %s is not the key of certificate %s for %s: give the key that "
                    "was made with it, or issue both again", key_path, cert_path,
                    host_name);
    } else if (now < info.not_before) {
        rc = refuse(verdict, MRD_CERT_NOT_YET_VALID, why, n, MRD_ERR_INVALID,
                    "certificate %s for %s is not valid before %s (now %s): check the "
                    "clock", cert_path, host_name, utc_text(info.not_before, a, sizeof(a)),
                    utc_text(now, b, sizeof(b)));
    } else if (now >= info.not_after) { /* OpenSSL's rule: not_after is out */
        rc = refuse(verdict, MRD_CERT_EXPIRED, why, n, MRD_ERR_INVALID,
                    "certificate %s for %s expired on %s: renew it", cert_path, host_name,
                    utc_text(info.not_after, a, sizeof(a)));
    } else if ((code = verify_chain(ca, cert, now, &depth)) != 0) {
        if (is_wrong_issuer(code, depth))
            rc = refuse(verdict, MRD_CERT_WRONG_CA, why, n, MRD_ERR_INVALID,
                        "certificate %s for %s was not issued by the CA %s (its issuer is "
                        "CN=%s, the CA is CN=%s): %s", cert_path, host_name, ca_path,
                        info.issuer_cn, ca_info.subject_cn,
                        X509_verify_cert_error_string(code));
        else
            rc = refuse(verdict, MRD_CERT_BAD_CA, why, n, MRD_ERR_INVALID,
                        "CA %s cannot vouch for certificate %s for %s: %s", ca_path,
                        cert_path, host_name, X509_verify_cert_error_string(code));
    } else if (X509_check_purpose(cert, X509_PURPOSE_SSL_SERVER, 0) != 1 ||
               X509_check_purpose(cert, X509_PURPOSE_SSL_CLIENT, 0) != 1) {
        rc = refuse(verdict, MRD_CERT_WRONG_USAGE, why, n, MRD_ERR_INVALID,
                    "certificate %s for %s is not valid for both TLS servers and TLS "
                    "clients (extendedKeyUsage needs serverAuth and clientAuth: Redis "
                    "uses it to make connections too)", cert_path, host_name);
    } else if (X509_check_ip_asc(cert, address, 0) != 1) {
        sans_text(&info, sans, sizeof(sans));
        rc = refuse(verdict, MRD_CERT_WRONG_ADDRESS, why, n, MRD_ERR_INVALID,
                    "certificate %s for %s does not name its address %s "
                    "(subjectAltName: %s)", cert_path, host_name, address, sans);
    }
out:
    ERR_clear_error();
    X509_free(ca);
    X509_free(cert);
    EVP_PKEY_free(key);
    return rc;
}

mrd_rc mrd_tls_host_file(const char *secrets, const char *host, bool key, char *buf,
                         size_t n, mrd_error *err)
{
    if (mrd_path_fmt(buf, n, "%s/" MRD_TLS_HOSTS_DIR "/%s.%s", secrets, host,
                     key ? "key" : "crt") != MRD_OK)
        return mrd_error_set(err, MRD_ERR_INVALID, "the path of %s's certificate is too long",
                             host);
    return MRD_OK;
}

mrd_rc mrd_tls_ca_file(const char *secrets, char *buf, size_t n, mrd_error *err)
{
    if (mrd_path_fmt(buf, n, "%s/" MRD_TLS_CA_CERT, secrets) != MRD_OK)
        return mrd_error_set(err, MRD_ERR_INVALID, "the path of the CA certificate is too long");
    return MRD_OK;
}
