/* test_tls.c - store/tls.c's setup and the refusals that need no TLS
 * server: every store_set_tls() error names its file, a failed setup
 * never lets a connection go plaintext, a silent server times the
 * handshake out, a plaintext or closing one is named as such, and in
 * plaintext mode a server that closes before saying
 * anything is reported as one that may require TLS.
 *
 * The "servers" are listening sockets of this process on 127.0.0.1 (the
 * kernel completes a connect into the backlog; accept() and close() are
 * the whole server).  The TLS path against real servers is
 * integration.tls_store.  Certificates come from common/certs.c into a
 * mkdtemp folder under /tmp, removed afterwards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "certs.h"
#include "conn.h"
#include "fsutil.h"
#include "tls.h"

typedef struct fixture {
    char dir[64];
    char ca_dir[128], ca[160], crt[160], key[160], crt2[160], key2[160];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/mrd-ut-tls-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    *state = f;
    snprintf(f->ca_dir, sizeof(f->ca_dir), "%s/ca", f->dir);
    snprintf(f->ca, sizeof(f->ca), "%s/ca/ca.crt", f->dir);
    snprintf(f->crt, sizeof(f->crt), "%s/client.crt", f->dir);
    snprintf(f->key, sizeof(f->key), "%s/client.key", f->dir);
    snprintf(f->crt2, sizeof(f->crt2), "%s/other.crt", f->dir);
    snprintf(f->key2, sizeof(f->key2), "%s/other.key", f->dir);
    mrd_error err;
    if (mrd_mkdir_p(f->ca_dir, 0700, &err) != MRD_OK ||
        mrd_ca_create(f->ca_dir, "ut-ca", 2, &err) != MRD_OK ||
        mrd_cert_issue(f->ca_dir, f->crt, f->key, "ut-client", "127.0.0.1", 2, &err) !=
            MRD_OK ||
        mrd_cert_issue(f->ca_dir, f->crt2, f->key2, "ut-other", "127.0.0.2", 2, &err) !=
            MRD_OK) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    store_set_tls(NULL, NULL, NULL, NULL);
    mrd_rm_rf(f->dir, NULL);
    free(f);
    return 0;
}

/* A listening socket on 127.0.0.1; its port in *PORT. */
static int listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 4), 0);
    socklen_t sl = sizeof(a);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &sl), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static void test_setup_errors(void **state)
{
    fixture *f = *state;
    mrd_error err;
    assert_false(store_tls_on());

    assert_int_equal(store_set_tls(f->ca, f->crt, NULL, &err), MRD_ERR_INVALID);
    assert_non_null(strstr(err.msg, "needs both"));

    char missing[200];
    snprintf(missing, sizeof(missing), "%s/nowhere.crt", f->dir);
    assert_int_equal(store_set_tls(missing, NULL, NULL, &err), MRD_ERR_IO);
    assert_non_null(strstr(err.msg, missing));
    assert_non_null(strstr(err.msg, "No such file"));

    /* a key is not a certificate */
    assert_int_equal(store_set_tls(f->key, NULL, NULL, &err), MRD_ERR_IO);
    assert_non_null(strstr(err.msg, f->key));
    assert_non_null(strstr(err.msg, "as the TLS CA certificate"));

    assert_int_equal(store_set_tls(f->ca, f->crt, f->key2, &err), MRD_ERR_IO);
    assert_non_null(strstr(err.msg, "is not the key of the certificate"));
    assert_non_null(strstr(err.msg, f->key2));

    assert_int_equal(store_set_tls(f->ca, f->crt, f->key, &err), MRD_OK);
    assert_true(store_tls_on());
    assert_int_equal(store_set_tls(f->ca, NULL, NULL, &err), MRD_OK);
    assert_int_equal(store_set_tls(NULL, NULL, NULL, &err), MRD_OK);
    assert_false(store_tls_on());
}

/* A setup that failed leaves TLS on and every connection refused: a
 * caller that ignored the error still never talks plaintext. */
static void test_failed_setup_never_plaintext(void **state)
{
    fixture *f = *state;
    char missing[200];
    snprintf(missing, sizeof(missing), "%s/nowhere.crt", f->dir);
    assert_int_equal(store_set_tls(missing, NULL, NULL, NULL), MRD_ERR_IO);
    assert_true(store_tls_on());
    int port;
    int lfd = listener(&port);
    store_conn *c = NULL;
    mrd_error err;
    assert_int_equal(store_conn_open("127.0.0.1", port, "u", "secret", 1000, &c, &err),
                     MRD_ERR_CONNECT);
    assert_null(c);
    assert_non_null(strstr(err.msg, "TLS is not set up"));
    assert_non_null(strstr(err.msg, missing));
    /* the server got the connection and not one byte */
    int s = accept(lfd, NULL, NULL);
    assert_true(s >= 0);
    char b;
    assert_int_equal(recv(s, &b, 1, 0), 0);
    close(s);
    close(lfd);
}

/* A server that accepts and says nothing: the handshake times out with a
 * sentence that names the likely cause. */
static void test_handshake_timeout(void **state)
{
    fixture *f = *state;
    assert_int_equal(store_set_tls(f->ca, NULL, NULL, NULL), MRD_OK);
    int port;
    int lfd = listener(&port);
    store_conn *c = NULL;
    mrd_error err;
    assert_int_equal(store_conn_open("127.0.0.1", port, NULL, NULL, 200, &c, &err),
                     MRD_ERR_CONNECT);
    char name[64];
    snprintf(name, sizeof(name), "cannot connect to 127.0.0.1:%d: ", port);
    assert_non_null(strstr(err.msg, name));
    assert_non_null(strstr(err.msg, "did not answer the TLS handshake within 200 ms"));
    assert_non_null(strstr(err.msg, "is TLS enabled on it?"));
    close(lfd);
}

/* A one-connection "server" on a thread: accept, read what the client
 * sends first, write REPLY (may be empty), close. */
typedef struct one_shot {
    int lfd;
    const char *reply;
    pthread_t t;
} one_shot;

static void *one_shot_run(void *arg)
{
    one_shot *o = arg;
    int s = accept(o->lfd, NULL, NULL);
    if (s >= 0) {
        char buf[4096];
        (void)!recv(s, buf, sizeof(buf), 0);
        if (o->reply[0])
            (void)!send(s, o->reply, strlen(o->reply), MSG_NOSIGNAL);
        close(s);
    }
    return NULL;
}

/* Under TLS, a server that answers the ClientHello with REPLY and closes:
 * the connect fails with a sentence holding WANT. */
static void handshake_meets(const char *reply, const char *want)
{
    int port;
    one_shot o = {.lfd = listener(&port), .reply = reply};
    assert_int_equal(pthread_create(&o.t, NULL, one_shot_run, &o), 0);
    store_conn *c = NULL;
    mrd_error err;
    assert_int_equal(store_conn_open("127.0.0.1", port, NULL, NULL, 2000, &c, &err),
                     MRD_ERR_CONNECT);
    pthread_join(o.t, NULL);
    close(o.lfd);
    char name[64];
    snprintf(name, sizeof(name), "cannot connect to 127.0.0.1:%d: ", port);
    assert_non_null(strstr(err.msg, name));
    if (!strstr(err.msg, want))
        fail_msg("\"%s\" does not say \"%s\"", err.msg, want);
}

static void test_handshake_refused(void **state)
{
    fixture *f = *state;
    assert_int_equal(store_set_tls(f->ca, NULL, NULL, NULL), MRD_OK);
    /* a plaintext Redis answers the ClientHello as a command */
    handshake_meets("-ERR unknown command\r\n",
                    "the server did not answer the TLS handshake (wrong version number): "
                    "is TLS enabled on it?");
    handshake_meets("", "the server closed the connection during the TLS handshake: is "
                        "TLS enabled on it?");
}

/* Plaintext mode, a server that closes after the client's first bytes
 * without answering, as a TLS-only Redis does. */
static void test_plain_close_hint(void **state)
{
    (void)state;
    int port;
    int lfd = listener(&port);
    store_conn *c = NULL;
    mrd_error err;
    assert_int_equal(store_conn_open("127.0.0.1", port, "u", "secret", 1000, &c, &err),
                     MRD_OK);
    int s = accept(lfd, NULL, NULL);
    assert_true(s >= 0);
    close(s);
    assert_int_equal(store_ping(c, &err), MRD_ERR_CONNECT);
    char name[64];
    snprintf(name, sizeof(name), "127.0.0.1:%d: ", port);
    assert_non_null(strstr(err.msg, name));
    assert_non_null(strstr(err.msg, "connection closed; the server may require TLS"));
    /* and then, as ever, the connection is lost */
    assert_int_equal(store_ping(c, &err), MRD_ERR_CONNECT);
    assert_non_null(strstr(err.msg, "connection lost"));
    store_conn_close(&c);
    close(lfd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_setup_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_setup_never_plaintext, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handshake_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handshake_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plain_close_hint, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
