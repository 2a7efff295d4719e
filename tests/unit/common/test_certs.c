/* test_certs.c - common/certs.c: the private CA, host certificates, what
 * mrd_cert_info_read says of them, and every refusal of mrd_cert_check.
 *
 * Each test gets its own mkdtemp folder under /tmp holding a CA (ca/) and
 * one host certificate (hosts/euw-a1.{crt,key}, for 127.0.2.1), made by
 * the functions under test, and removes it afterwards.  Time is never
 * waited for: the checks take NOW, so "expired" is a NOW past not_after. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certs.h"
#include "fsutil.h"

#define CA_DAYS 3650
#define HOST_DAYS 90
#define DAY_S 86400

/* ==== FIXTURE ========================================================== */

typedef struct fixture {
    char dir[64];
    char ca_dir[128], ca_crt[160], ca_key[160];
    char crt[160], key[160]; /* hosts/euw-a1.{crt,key}, for 127.0.2.1 */
} fixture;

static void path_in(const fixture *f, char *buf, size_t n, const char *name)
{
    assert_int_equal(mrd_path_fmt(buf, n, "%s/%s", f->dir, name), MRD_OK);
}

static void assert_ok(mrd_rc rc, const mrd_error *err)
{
    if (rc != MRD_OK)
        fail_msg("%s: %s", mrd_strerror(rc), err->msg);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/mrd-ut-certs-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    *state = f;
    path_in(f, f->ca_dir, sizeof(f->ca_dir), "ca");
    path_in(f, f->ca_crt, sizeof(f->ca_crt), "ca/ca.crt");
    path_in(f, f->ca_key, sizeof(f->ca_key), "ca/ca.key");
    path_in(f, f->crt, sizeof(f->crt), "hosts/euw-a1.crt");
    path_in(f, f->key, sizeof(f->key), "hosts/euw-a1.key");
    char hosts[128];
    path_in(f, hosts, sizeof(hosts), "hosts");
    mrd_error err;
    if (mrd_mkdir_p(f->ca_dir, 0700, &err) != MRD_OK ||
        mrd_mkdir_p(hosts, 0700, &err) != MRD_OK ||
        mrd_ca_create(f->ca_dir, "meridian-test-ca", CA_DAYS, &err) != MRD_OK ||
        mrd_cert_issue(f->ca_dir, f->crt, f->key, "euw-a1", "127.0.2.1", HOST_DAYS,
                       &err) != MRD_OK) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

static int teardown(void **state)
{
    fixture *f = *state;
    int rc = nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return rc;
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_mode & 07777;
}

static void assert_contains(const char *haystack, const char *needle)
{
    if (!strstr(haystack, needle))
        fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);
}

static int entries_in(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static time_t now_s(void)
{
    return time(NULL);
}

/* mrd_cert_check of the fixture's CA with CRT and KEY for euw-a1 at
 * ADDRESS and NOW; asserts verdict V and return code RC, and that the
 * sentence names the host and never holds key material. */
static void check_gives(const fixture *f, const char *ca, const char *crt,
                        const char *key, const char *address, time_t now,
                        mrd_cert_verdict v, mrd_rc rc, char *why, size_t n)
{
    mrd_cert_verdict got = (mrd_cert_verdict)-1;
    mrd_rc r = mrd_cert_check(ca ? ca : f->ca_crt, crt, key, "euw-a1", address, now,
                              &got, why, n);
    if (got != v || r != rc)
        fail_msg("verdict %d rc %d, expected %d and %d: %s", got, r, v, rc, why);
    if (v == MRD_CERT_OK) {
        assert_string_equal(why, "");
        return;
    }
    assert_contains(why, "euw-a1");
    assert_null(strstr(why, "PRIVATE KEY"));
    assert_null(strstr(why, "BEGIN"));
}

/* ==== CREATING AND READING ============================================= */

static void test_files_and_modes(void **state)
{
    fixture *f = *state;
    assert_int_equal(mode_of(f->ca_key), 0600);
    assert_int_equal(mode_of(f->ca_crt), 0644);
    assert_int_equal(mode_of(f->key), 0600);
    assert_int_equal(mode_of(f->crt), 0644);
    char *text = NULL;
    assert_ok(mrd_read_file(f->key, 4096, &text, NULL, NULL), NULL);
    assert_non_null(strstr(text, "-----BEGIN PRIVATE KEY-----")); /* PKCS#8 */
    free(text);
    /* No temporary file is left next to them. */
    assert_int_equal(entries_in(f->ca_dir), 2);
}

static void test_ca_info(void **state)
{
    fixture *f = *state;
    mrd_cert_info info;
    mrd_error err;
    time_t now = now_s();
    assert_ok(mrd_cert_info_read(f->ca_crt, &info, &err), &err);
    assert_true(info.is_ca);
    assert_string_equal(info.subject_cn, "meridian-test-ca");
    assert_string_equal(info.issuer_cn, "meridian-test-ca");
    assert_int_equal(info.n_ips, 0);
    assert_int_equal(info.n_dns, 0);
    /* Valid from a few minutes ago for CA_DAYS days. */
    assert_true(info.not_before <= now - MRD_CERT_BACKDATE_S + 5);
    assert_true(info.not_before >= now - MRD_CERT_BACKDATE_S - 60);
    assert_true(info.not_after >= now + (time_t)CA_DAYS * DAY_S - 60);
    assert_true(info.not_after <= now + (time_t)CA_DAYS * DAY_S + 5);
}

static void test_host_info(void **state)
{
    fixture *f = *state;
    mrd_cert_info info;
    mrd_error err;
    time_t now = now_s();
    assert_ok(mrd_cert_info_read(f->crt, &info, &err), &err);
    assert_false(info.is_ca);
    assert_string_equal(info.subject_cn, "euw-a1");
    assert_string_equal(info.issuer_cn, "meridian-test-ca");
    assert_int_equal(info.n_ips, 1);
    assert_string_equal(info.ips[0], "127.0.2.1");
    assert_int_equal(info.n_dns, 1);
    assert_string_equal(info.dns[0], "euw-a1");
    assert_false(info.sans_truncated);
    assert_true(info.not_after >= now + (time_t)HOST_DAYS * DAY_S - 60);
    assert_true(info.not_after <= now + (time_t)HOST_DAYS * DAY_S + 5);
    assert_true(info.not_before < now && info.not_before >= now - MRD_CERT_BACKDATE_S - 60);
    /* HOST_DAYS - 1 once a second has passed since the issue. */
    long left = mrd_cert_days_left(&info, now);
    assert_true(left == HOST_DAYS - 1 || left == HOST_DAYS);
}

static void test_ipv6_host(void **state)
{
    fixture *f = *state;
    char crt[200], key[200], why[600];
    path_in(f, crt, sizeof(crt), "hosts/v6.crt");
    path_in(f, key, sizeof(key), "hosts/v6.key");
    mrd_error err;
    assert_ok(mrd_cert_issue(f->ca_dir, crt, key, "euw-a1", "::1", 30, &err), &err);
    mrd_cert_info info;
    assert_ok(mrd_cert_info_read(crt, &info, &err), &err);
    assert_int_equal(info.n_ips, 1);
    assert_string_equal(info.ips[0], "::1");
    check_gives(f, NULL, crt, key, "::1", now_s(), MRD_CERT_OK, MRD_OK, why, sizeof(why));
    check_gives(f, NULL, crt, key, "127.0.2.1", now_s(), MRD_CERT_WRONG_ADDRESS,
                MRD_ERR_INVALID, why, sizeof(why));
}

static void test_info_of_bad_files(void **state)
{
    fixture *f = *state;
    mrd_cert_info info;
    mrd_error err;
    char p[200];
    path_in(f, p, sizeof(p), "absent.crt");
    assert_int_equal(mrd_cert_info_read(p, &info, &err), MRD_ERR_NOT_FOUND);
    assert_contains(err.msg, p);
    path_in(f, p, sizeof(p), "garbage.crt");
    assert_ok(mrd_write_atomic(p, "not a certificate\n", 18, 0644, &err), &err);
    assert_int_equal(mrd_cert_info_read(p, &info, &err), MRD_ERR_PARSE);
    assert_contains(err.msg, "is not a PEM certificate");
    /* A key is not a certificate either. */
    assert_int_equal(mrd_cert_info_read(f->key, &info, &err), MRD_ERR_PARSE);
}

static void test_ca_never_replaced(void **state)
{
    fixture *f = *state;
    char *before = NULL, *after = NULL;
    mrd_error err;
    assert_ok(mrd_read_file(f->ca_crt, 65536, &before, NULL, &err), &err);
    assert_int_equal(mrd_ca_create(f->ca_dir, "other", 10, &err), MRD_ERR_STATE);
    assert_contains(err.msg, f->ca_crt);
    assert_ok(mrd_read_file(f->ca_crt, 65536, &after, NULL, &err), &err);
    assert_string_equal(before, after);
    free(before);
    free(after);
    /* A key left alone by an interrupted create is replaced. */
    char dir[200], key[220];
    path_in(f, dir, sizeof(dir), "ca2");
    assert_ok(mrd_mkdir_p(dir, 0700, &err), &err);
    snprintf(key, sizeof(key), "%s/ca.key", dir);
    assert_ok(mrd_write_atomic(key, "half\n", 5, 0600, &err), &err);
    assert_ok(mrd_ca_create(dir, "ca2", 10, &err), &err);
    assert_int_equal(mode_of(key), 0600);
}

static void test_bad_arguments(void **state)
{
    fixture *f = *state;
    mrd_error err;
    char crt[200], key[200], dir[200];
    path_in(f, crt, sizeof(crt), "x.crt");
    path_in(f, key, sizeof(key), "x.key");
    path_in(f, dir, sizeof(dir), "x");
    assert_int_equal(mrd_cert_issue(f->ca_dir, crt, key, "euw-a1", "euw-a1", 30, &err),
                     MRD_ERR_INVALID);
    assert_contains(err.msg, "is not an IPv4 or IPv6 address");
    assert_int_equal(mrd_cert_issue(f->ca_dir, crt, key, "euw-a1,IP:1.2.3.4", "127.0.2.1",
                                    30, &err), MRD_ERR_INVALID);
    assert_int_equal(mrd_cert_issue(f->ca_dir, crt, key, "", "127.0.2.1", 30, &err),
                     MRD_ERR_INVALID);
    char long_name[80];
    memset(long_name, 'a', 65);
    long_name[65] = '\0';
    assert_int_equal(mrd_cert_issue(f->ca_dir, crt, key, long_name, "127.0.2.1", 30, &err),
                     MRD_ERR_INVALID);
    long_name[64] = '\0';
    assert_ok(mrd_cert_issue(f->ca_dir, crt, key, long_name, "127.0.2.1", 30, &err), &err);
    assert_int_equal(mrd_cert_issue(f->ca_dir, crt, key, "euw-a1", "127.0.2.1", 0, &err),
                     MRD_ERR_INVALID);
    assert_int_equal(mrd_cert_issue(f->ca_dir, crt, key, "euw-a1", "127.0.2.1",
                                    MRD_CERT_MAX_DAYS + 1, &err), MRD_ERR_INVALID);
    assert_int_equal(mrd_ca_create(dir, "x", -1, &err), MRD_ERR_INVALID);
    assert_int_equal(mrd_ca_create(dir, "a b", 10, &err), MRD_ERR_INVALID);
    /* No CA there. */
    assert_int_equal(mrd_cert_issue(dir, crt, key, "euw-a1", "127.0.2.1", 30, &err),
                     MRD_ERR_NOT_FOUND);
}

static void test_issue_refuses_exposed_ca_key(void **state)
{
    fixture *f = *state;
    mrd_error err;
    char crt[200], key[200];
    path_in(f, crt, sizeof(crt), "x.crt");
    path_in(f, key, sizeof(key), "x.key");
    assert_int_equal(chmod(f->ca_key, 0640), 0);
    assert_int_equal(mrd_cert_issue(f->ca_dir, crt, key, "euw-a1", "127.0.2.1", 30, &err),
                     MRD_ERR_STATE);
    assert_contains(err.msg, "world-readable key");
    assert_contains(err.msg, "chmod 600");
    assert_false(mrd_path_exists(crt));
    assert_false(mrd_path_exists(key));
}

static void test_reissue_replaces(void **state)
{
    fixture *f = *state;
    mrd_error err;
    char *old_key = NULL, *new_key = NULL, why[600];
    assert_ok(mrd_read_file(f->key, 4096, &old_key, NULL, &err), &err);
    assert_ok(mrd_cert_issue(f->ca_dir, f->crt, f->key, "euw-a1", "127.0.2.1", 10, &err),
              &err);
    assert_ok(mrd_read_file(f->key, 4096, &new_key, NULL, &err), &err);
    assert_string_not_equal(old_key, new_key);
    free(old_key);
    free(new_key);
    mrd_cert_info info;
    assert_ok(mrd_cert_info_read(f->crt, &info, &err), &err);
    long left = mrd_cert_days_left(&info, now_s());
    assert_true(left == 9 || left == 10);
    check_gives(f, NULL, f->crt, f->key, "127.0.2.1", now_s(), MRD_CERT_OK, MRD_OK, why,
                sizeof(why));
}

/* ==== CHECKING ========================================================= */

static void test_check_passes(void **state)
{
    fixture *f = *state;
    char why[600];
    check_gives(f, NULL, f->crt, f->key, "127.0.2.1", now_s(), MRD_CERT_OK, MRD_OK, why,
                sizeof(why));
    /* The verdict and WHY are optional. */
    assert_int_equal(mrd_cert_check(f->ca_crt, f->crt, f->key, "euw-a1", "127.0.2.1",
                                    now_s(), NULL, NULL, 0), MRD_OK);
}

static void test_check_refuses_readable_key(void **state)
{
    fixture *f = *state;
    char why[600];
    static const mode_t modes[] = {0644, 0640, 0604, 0660};
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        assert_int_equal(chmod(f->key, modes[i]), 0);
        check_gives(f, NULL, f->crt, f->key, "127.0.2.1", now_s(), MRD_CERT_KEY_EXPOSED,
                    MRD_ERR_STATE, why, sizeof(why));
        assert_contains(why, "world-readable key");
        assert_contains(why, f->key);
        assert_contains(why, f->crt);
        assert_contains(why, "chmod 600 it");
    }
    assert_int_equal(chmod(f->key, 0400), 0);
    check_gives(f, NULL, f->crt, f->key, "127.0.2.1", now_s(), MRD_CERT_OK, MRD_OK, why,
                sizeof(why));
}

static void test_check_refuses_other_key(void **state)
{
    fixture *f = *state;
    char crt[200], key[200], why[600];
    mrd_error err;
    path_in(f, crt, sizeof(crt), "hosts/euw-a2.crt");
    path_in(f, key, sizeof(key), "hosts/euw-a2.key");
    assert_ok(mrd_cert_issue(f->ca_dir, crt, key, "euw-a1", "127.0.2.1", 30, &err), &err);
    check_gives(f, NULL, f->crt, key, "127.0.2.1", now_s(), MRD_CERT_KEY_MISMATCH,
                MRD_ERR_INVALID, why, sizeof(why));
    assert_contains(why, key);
    assert_contains(why, f->crt);
    assert_contains(why, "is not the key of certificate");
}

static void test_check_refuses_other_ca(void **state)
{
    fixture *f = *state;
    char dir[200], crt[200], key[200], why[600];
    mrd_error err;
    path_in(f, dir, sizeof(dir), "other-ca");
    path_in(f, crt, sizeof(crt), "hosts/other.crt");
    path_in(f, key, sizeof(key), "hosts/other.key");
    assert_ok(mrd_mkdir_p(dir, 0700, &err), &err);
    assert_ok(mrd_ca_create(dir, "someone-else", 30, &err), &err);
    assert_ok(mrd_cert_issue(dir, crt, key, "euw-a1", "127.0.2.1", 30, &err), &err);
    check_gives(f, NULL, crt, key, "127.0.2.1", now_s(), MRD_CERT_WRONG_CA,
                MRD_ERR_INVALID, why, sizeof(why));
    assert_contains(why, crt);
    assert_contains(why, f->ca_crt);
    assert_contains(why, "its issuer is CN=someone-else, the CA is CN=meridian-test-ca");
    /* A CA of the same name is still another CA. */
    char dir2[200];
    path_in(f, dir2, sizeof(dir2), "same-name-ca");
    assert_ok(mrd_mkdir_p(dir2, 0700, &err), &err);
    assert_ok(mrd_ca_create(dir2, "meridian-test-ca", 30, &err), &err);
    assert_ok(mrd_cert_issue(dir2, crt, key, "euw-a1", "127.0.2.1", 30, &err), &err);
    check_gives(f, NULL, crt, key, "127.0.2.1", now_s(), MRD_CERT_WRONG_CA,
                MRD_ERR_INVALID, why, sizeof(why));
    /* A host certificate given as the CA. */
    check_gives(f, f->crt, f->crt, f->key, "127.0.2.1", now_s(), MRD_CERT_WRONG_CA,
                MRD_ERR_INVALID, why, sizeof(why));
}

static void test_check_refuses_wrong_address(void **state)
{
    fixture *f = *state;
    char crt[200], key[200], why[600];
    mrd_error err;
    path_in(f, crt, sizeof(crt), "hosts/wrong.crt");
    path_in(f, key, sizeof(key), "hosts/wrong.key");
    assert_ok(mrd_cert_issue(f->ca_dir, crt, key, "euw-a1", "127.0.9.9", 30, &err), &err);
    check_gives(f, NULL, crt, key, "127.0.2.1", now_s(), MRD_CERT_WRONG_ADDRESS,
                MRD_ERR_INVALID, why, sizeof(why));
    char want[400];
    snprintf(want, sizeof(want), "certificate %s for euw-a1 does not name its address "
             "127.0.2.1 (subjectAltName: IP:127.0.9.9, DNS:euw-a1)", crt);
    assert_string_equal(why, want);
}

static void test_check_refuses_out_of_time(void **state)
{
    fixture *f = *state;
    char why[600];
    mrd_cert_info info;
    mrd_error err;
    assert_ok(mrd_cert_info_read(f->crt, &info, &err), &err);
    check_gives(f, NULL, f->crt, f->key, "127.0.2.1", info.not_after + 1, MRD_CERT_EXPIRED,
                MRD_ERR_INVALID, why, sizeof(why));
    assert_contains(why, f->crt);
    assert_contains(why, "expired on");
    assert_contains(why, "renew it");
    check_gives(f, NULL, f->crt, f->key, "127.0.2.1", info.not_before - 1,
                MRD_CERT_NOT_YET_VALID, MRD_ERR_INVALID, why, sizeof(why));
    assert_contains(why, f->crt);
    assert_contains(why, "is not valid before");
    /* not_before is inside, not_after outside (OpenSSL's rule, which
     * Redis applies). */
    check_gives(f, NULL, f->crt, f->key, "127.0.2.1", info.not_after, MRD_CERT_EXPIRED,
                MRD_ERR_INVALID, why, sizeof(why));
    check_gives(f, NULL, f->crt, f->key, "127.0.2.1", info.not_after - 1, MRD_CERT_OK,
                MRD_OK, why, sizeof(why));
    check_gives(f, NULL, f->crt, f->key, "127.0.2.1", info.not_before, MRD_CERT_OK,
                MRD_OK, why, sizeof(why));
}

static void test_check_refuses_expired_ca(void **state)
{
    fixture *f = *state;
    char dir[200], ca[220], crt[200], key[200], why[600];
    mrd_error err;
    path_in(f, dir, sizeof(dir), "short-ca");
    path_in(f, crt, sizeof(crt), "hosts/long.crt");
    path_in(f, key, sizeof(key), "hosts/long.key");
    snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
    assert_ok(mrd_mkdir_p(dir, 0700, &err), &err);
    assert_ok(mrd_ca_create(dir, "short", 1, &err), &err);
    assert_ok(mrd_cert_issue(dir, crt, key, "euw-a1", "127.0.2.1", 30, &err), &err);
    check_gives(f, ca, crt, key, "127.0.2.1", now_s(), MRD_CERT_OK, MRD_OK, why,
                sizeof(why));
    check_gives(f, ca, crt, key, "127.0.2.1", now_s() + 2 * DAY_S, MRD_CERT_BAD_CA,
                MRD_ERR_INVALID, why, sizeof(why));
    assert_contains(why, ca);
    assert_contains(why, "certificate has expired");
}

/* CRT re-signed by the CA of F with extendedKeyUsage serverAuth only, as
 * an operator's web-server certificate would be. */
static void make_server_only(const fixture *f, const char *crt)
{
    FILE *fp = fopen(crt, "r");
    assert_non_null(fp);
    X509 *x = PEM_read_X509(fp, NULL, NULL, NULL);
    fclose(fp);
    fp = fopen(f->ca_key, "r");
    assert_non_null(fp);
    EVP_PKEY *ca_key = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
    fclose(fp);
    assert_non_null(x);
    assert_non_null(ca_key);
    X509_EXTENSION_free(X509_delete_ext(x, X509_get_ext_by_NID(x, NID_ext_key_usage, -1)));
    X509_EXTENSION *eku = X509V3_EXT_conf_nid(NULL, NULL, NID_ext_key_usage, "serverAuth");
    assert_non_null(eku);
    assert_int_equal(X509_add_ext(x, eku, -1), 1);
    X509_EXTENSION_free(eku);
    assert_true(X509_sign(x, ca_key, EVP_sha256()) > 0);
    fp = fopen(crt, "w");
    assert_non_null(fp);
    assert_int_equal(PEM_write_X509(fp, x), 1);
    fclose(fp);
    X509_free(x);
    EVP_PKEY_free(ca_key);
}

static void test_check_refuses_server_only(void **state)
{
    fixture *f = *state;
    char why[600];
    make_server_only(f, f->crt);
    check_gives(f, NULL, f->crt, f->key, "127.0.2.1", now_s(), MRD_CERT_WRONG_USAGE,
                MRD_ERR_INVALID, why, sizeof(why));
    assert_contains(why, f->crt);
    assert_contains(why, "clientAuth");
}

static void test_check_unreadable(void **state)
{
    fixture *f = *state;
    char absent[200], garbage[200], why[600];
    mrd_error err;
    path_in(f, absent, sizeof(absent), "absent");
    path_in(f, garbage, sizeof(garbage), "garbage");
    assert_ok(mrd_write_atomic(garbage, "junk\n", 5, 0600, &err), &err);
    check_gives(f, NULL, f->crt, absent, "127.0.2.1", now_s(), MRD_CERT_UNREADABLE,
                MRD_ERR_NOT_FOUND, why, sizeof(why));
    assert_contains(why, absent);
    check_gives(f, NULL, f->crt, garbage, "127.0.2.1", now_s(), MRD_CERT_UNREADABLE,
                MRD_ERR_PARSE, why, sizeof(why));
    assert_contains(why, "is not a PEM private key");
    check_gives(f, NULL, absent, f->key, "127.0.2.1", now_s(), MRD_CERT_UNREADABLE,
                MRD_ERR_NOT_FOUND, why, sizeof(why));
    assert_contains(why, absent);
    check_gives(f, garbage, f->crt, f->key, "127.0.2.1", now_s(), MRD_CERT_UNREADABLE,
                MRD_ERR_PARSE, why, sizeof(why));
    assert_contains(why, "CA certificate for euw-a1");
    /* A small WHY is cut, not overrun. */
    char tiny[8];
    assert_int_equal(mrd_cert_check(f->ca_crt, absent, f->key, "euw-a1", "127.0.2.1",
                                    now_s(), NULL, tiny, sizeof(tiny)), MRD_ERR_NOT_FOUND);
    assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
}

/* ==== RENEWAL ========================================================== */

static void test_days_left_and_renewal(void **state)
{
    (void)state;
    const time_t t0 = 1700000000;
    mrd_cert_info info;
    memset(&info, 0, sizeof(info));
    info.not_before = t0 - 10 * DAY_S;
    info.not_after = t0 + 30 * DAY_S;
    assert_int_equal(mrd_cert_days_left(&info, t0), 30);
    assert_int_equal(mrd_cert_days_left(&info, t0 + 1), 29);
    assert_int_equal(mrd_cert_days_left(&info, info.not_after - 1), 0);
    assert_int_equal(mrd_cert_days_left(&info, info.not_after), 0);
    assert_int_equal(mrd_cert_days_left(&info, info.not_after + 1), -1);
    assert_int_equal(mrd_cert_days_left(&info, info.not_after + DAY_S), -1);
    assert_int_equal(mrd_cert_days_left(&info, info.not_after + DAY_S + 1), -2);

    /* Renew when it expires within the threshold. */
    assert_true(mrd_cert_needs_renewal(&info, t0, 30)); /* 30 days left: within 30 */
    assert_false(mrd_cert_needs_renewal(&info, t0 - 1, 30));
    assert_false(mrd_cert_needs_renewal(&info, t0, 29));
    assert_true(mrd_cert_needs_renewal(&info, t0, 31));
    assert_false(mrd_cert_needs_renewal(&info, t0, 0));
    assert_false(mrd_cert_needs_renewal(&info, info.not_after - 1, 0));
    assert_true(mrd_cert_needs_renewal(&info, info.not_after, 0)); /* as OpenSSL */
    assert_true(mrd_cert_needs_renewal(&info, info.not_after + 1, 0));
    assert_true(mrd_cert_needs_renewal(&info, info.not_after + 100 * DAY_S, 30));
    /* A threshold beyond the validity always renews; no overflow. */
    assert_true(mrd_cert_needs_renewal(&info, t0, MRD_CERT_MAX_DAYS));
    info.not_after = (time_t)INT32_MAX * 4;
    assert_false(mrd_cert_needs_renewal(&info, t0, MRD_CERT_MAX_DAYS));
}

static void test_renewal_of_issued(void **state)
{
    fixture *f = *state;
    mrd_cert_info info;
    mrd_error err;
    time_t now = now_s();
    assert_ok(mrd_cert_info_read(f->crt, &info, &err), &err);
    assert_false(mrd_cert_needs_renewal(&info, now, HOST_DAYS - 1));
    assert_true(mrd_cert_needs_renewal(&info, now, HOST_DAYS + 1));
    assert_true(mrd_cert_needs_renewal(&info, now + (HOST_DAYS - 20) * (time_t)DAY_S, 30));
}

int main(void)
{
#define FIX(t) cmocka_unit_test_setup_teardown(t, setup, teardown)
    const struct CMUnitTest tests[] = {
        FIX(test_files_and_modes),
        FIX(test_ca_info),
        FIX(test_host_info),
        FIX(test_ipv6_host),
        FIX(test_info_of_bad_files),
        FIX(test_ca_never_replaced),
        FIX(test_bad_arguments),
        FIX(test_issue_refuses_exposed_ca_key),
        FIX(test_reissue_replaces),
        FIX(test_check_passes),
        FIX(test_check_refuses_readable_key),
        FIX(test_check_refuses_other_key),
        FIX(test_check_refuses_other_ca),
        FIX(test_check_refuses_wrong_address),
        FIX(test_check_refuses_out_of_time),
        FIX(test_check_refuses_expired_ca),
        FIX(test_check_refuses_server_only),
        FIX(test_check_unreadable),
        cmocka_unit_test(test_days_left_and_renewal),
        FIX(test_renewal_of_issued),
    };
#undef FIX
    return cmocka_run_group_tests_name("certs", tests, NULL, NULL);
}
