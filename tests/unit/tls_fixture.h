/* tls_fixture.h - TLS files as unit tests use them, made by certs.h in a
 * temporary folder: a deployment CA with a certificate for one host, and
 * a second CA, unrelated, with its own certificate for the same host (a
 * client that trusts it must refuse the first host, and the other way
 * round).  Include after <cmocka.h>. */
#ifndef MRD_TEST_TLS_FIXTURE_H
#define MRD_TEST_TLS_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "certs.h"
#include "fsutil.h"

#define TLS_FIXTURE_PATH 320

typedef struct tls_fixture {
    char dir[TLS_FIXTURE_PATH];       /* the temporary folder */
    char ca[TLS_FIXTURE_PATH];        /* DIR/ca/ca.crt: the deployment's CA */
    char cert[TLS_FIXTURE_PATH];      /* DIR/host.crt: the host's, issued by it */
    char key[TLS_FIXTURE_PATH];       /* DIR/host.key */
    char other_ca[TLS_FIXTURE_PATH];  /* DIR/other/ca.crt: another CA */
    char other_cert[TLS_FIXTURE_PATH]; /* DIR/other.crt: the same host's, by it */
    char other_key[TLS_FIXTURE_PATH]; /* DIR/other.key */
} tls_fixture;

/* Make F's files for host NAME at ADDRESS (valid 2 days). */
static inline void tls_fixture_make(tls_fixture *f, const char *name, const char *address)
{
    snprintf(f->dir, sizeof(f->dir), "%s/mrd-tls-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    char ca_dir[TLS_FIXTURE_PATH], other_dir[TLS_FIXTURE_PATH];
    snprintf(ca_dir, sizeof(ca_dir), "%s/ca", f->dir);
    snprintf(other_dir, sizeof(other_dir), "%s/other", f->dir);
    snprintf(f->ca, sizeof(f->ca), "%s/ca.crt", ca_dir);
    snprintf(f->other_ca, sizeof(f->other_ca), "%s/ca.crt", other_dir);
    snprintf(f->cert, sizeof(f->cert), "%s/host.crt", f->dir);
    snprintf(f->key, sizeof(f->key), "%s/host.key", f->dir);
    snprintf(f->other_cert, sizeof(f->other_cert), "%s/other.crt", f->dir);
    snprintf(f->other_key, sizeof(f->other_key), "%s/other.key", f->dir);
    assert_int_equal(mkdir(ca_dir, 0700), 0);
    assert_int_equal(mkdir(other_dir, 0700), 0);
    mrd_error err;
    mrd_error_clear(&err);
    if (mrd_ca_create(ca_dir, "meridian-test-ca", 2, &err) != MRD_OK ||
        mrd_ca_create(other_dir, "another-ca", 2, &err) != MRD_OK ||
        mrd_cert_issue(ca_dir, f->cert, f->key, name, address, 2, &err) != MRD_OK ||
        mrd_cert_issue(other_dir, f->other_cert, f->other_key, name, address, 2, &err) !=
            MRD_OK)
        fail_msg("tls fixture: %s", err.msg);
}

static inline void tls_fixture_remove(tls_fixture *f)
{
    mrd_error err;
    if (f->dir[0] && mrd_rm_rf(f->dir, &err) != MRD_OK)
        fail_msg("tls fixture: %s", err.msg);
    f->dir[0] = '\0';
}

#endif
