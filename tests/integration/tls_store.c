/* tls_store - the cases of integration.tls_store (tests/integration/
 * tls_store.sh): store/ over TLS against real redis-server processes.
 *
 *   tls_store certs DIR   make the certificates the servers and the cases use:
 *                         DIR/ca/ca.{crt,key}      the deployment's CA
 *                         DIR/other/ca.{crt,key}   an unrelated CA
 *                         DIR/server.{crt,key}     by DIR/ca, for 127.0.0.1
 *                                                  and the name localhost
 *                         DIR/client.{crt,key}     by DIR/ca, a client's
 *   tls_store CASE        run one case: every check it makes is printed
 *                         ("ok - ..." or "FAIL - ...", with the sentences
 *                         the errors carried); exit 0 when all passed, 1
 *                         when one failed, 64 on bad usage
 *
 * The cases read the layout from the environment: TLS_DIR (as made by
 * "certs"), TLS_PORT (a TLS-only server on 127.0.0.1 and 127.0.0.3, no
 * client certificates asked), REPLICA_PORT (its replica, TLS-only, on
 * 127.0.0.1), PLAIN_PORT (a plaintext server on 127.0.0.1), MTLS_PORT (a
 * TLS-only server on 127.0.0.1 that requires a client certificate),
 * PASS_FILE (the password of the ACL user "admin" on all of them, one
 * line) and OUT_DIR (where snapshots go).  The password never travels in
 * argv. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certs.h"
#include "conn.h"
#include "fsutil.h"
#include "probe.h"
#include "pubsub.h"
#include "snapshot.h"
#include "tls.h"

#define CONN_TIMEOUT_MS 3000
#define CERT_DAYS 2

static int failures;
static const char *dir, *pass;
static int tls_port, replica_port, plain_port, mtls_port;
static char ca[4096], other_ca[4096], client_crt[4096], client_key[4096];

static void check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void check(bool ok, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%s - ", ok ? "ok" : "FAIL");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    failures += !ok;
}

/* True when the error's sentence holds every one of the NULL-terminated
 * WORDS. */
static bool says(const mrd_error *err, ...) __attribute__((sentinel));

static bool says(const mrd_error *err, ...)
{
    va_list ap;
    va_start(ap, err);
    bool all = true;
    for (const char *w = va_arg(ap, const char *); w; w = va_arg(ap, const char *))
        all = all && strstr(err->msg, w) != NULL;
    va_end(ap);
    return all;
}

static void tls_with(const char *ca_file, const char *crt, const char *key)
{
    mrd_error err;
    mrd_error_clear(&err);
    mrd_rc rc = store_set_tls(ca_file, crt, key, &err);
    if (rc != MRD_OK) {
        fprintf(stderr, "tls_store: store_set_tls: %s\n", err.msg);
        exit(1);
    }
}

static mrd_rc open_admin(const char *address, int port, store_conn **c, mrd_error *err)
{
    mrd_error_clear(err);
    return store_conn_open(address, port, "admin", pass, CONN_TIMEOUT_MS, c, err);
}

/* A snapshot of 127.0.0.1:PORT fetched as admin into OUT_DIR/FILE. */
static mrd_rc fetch(int port, const char *file, int timeout_ms, store_snapshot *s,
                    mrd_error *err)
{
    char dest[4200];
    snprintf(dest, sizeof(dest), "%s/%s", getenv("OUT_DIR"), file);
    mrd_error_clear(err);
    return store_snapshot_fetch("127.0.0.1", port, "admin", pass, dest, timeout_ms, s, err);
}

/* ==== CASES ==== */

/* A command round trip over TLS, AUTH pipelined with it; a wrong password
 * refused as such; the source address kept under TLS; the server found
 * by name (DNS subjectAltName, SNI). */
static void case_conn(void)
{
    tls_with(ca, NULL, NULL);
    check(store_tls_on(), "store_tls_on() after store_set_tls(CA)");
    store_conn *c = NULL;
    mrd_error err;
    mrd_rc rc = open_admin("127.0.0.1", tls_port, &c, &err);
    check(rc == MRD_OK, "connect over TLS (%s)", rc ? err.msg : "ok");
    char *v = NULL;
    rc = c ? store_cmdl(c, NULL, &err, "SET", "tls:key", "over tls", NULL) : rc;
    if (rc == MRD_OK)
        rc = store_cmdl(c, &v, &err, "GET", "tls:key", NULL);
    check(rc == MRD_OK && v && strcmp(v, "over tls") == 0,
          "AUTH + SET + GET round trip over TLS (%s)", rc ? err.msg : v ? v : "nil");
    free(v);
    char *info = NULL;
    rc = c ? store_info_text(c, "server", &info, &err) : rc;
    check(rc == MRD_OK && info && strstr(info, "redis_version:"),
          "INFO server over TLS (%zu bytes)", info ? strlen(info) : 0);
    free(info);
    store_conn_close(&c);

    mrd_error_clear(&err);
    rc = store_conn_open("127.0.0.1", tls_port, "admin", "not-the-password", CONN_TIMEOUT_MS,
                         &c, &err);
    if (rc == MRD_OK)
        rc = store_ping(c, &err);
    check(rc == MRD_ERR_AUTH && says(&err, "127.0.0.1:", "WRONGPASS", NULL),
          "a wrong password over TLS is MRD_ERR_AUTH (%s)", err.msg);
    store_conn_close(&c);

    /* from another loopback address: the server sees it */
    store_set_source("127.0.0.4");
    rc = open_admin("127.0.0.1", tls_port, &c, &err);
    store_set_source(NULL);
    char *me = NULL;
    if (rc == MRD_OK)
        rc = store_cmdl(c, &me, &err, "CLIENT", "INFO", NULL);
    check(rc == MRD_OK && me && strstr(me, "addr=127.0.0.4:"),
          "store_set_source() holds under TLS (%s)", rc ? err.msg : "addr=127.0.0.4");
    free(me);
    store_conn_close(&c);

    rc = open_admin("localhost", tls_port, &c, &err);
    if (rc == MRD_OK)
        rc = store_ping(c, &err);
    check(rc == MRD_OK, "connect by name (localhost: its DNS subjectAltName) (%s)",
          rc ? err.msg : "ok");
    store_conn_close(&c);
}

/* Probes over TLS, all at once: the master, its replica, and a plaintext
 * server in the same batch (refused, the others unaffected). */
static void case_probe(void)
{
    tls_with(ca, NULL, NULL);
    const char *config[] = {"maxmemory", "tls-replication", NULL};
    store_probe p[3] = {
        {.kind = STORE_PROBE_INFO, .address = "127.0.0.1", .port = tls_port,
         .user = "admin", .pass = pass, .config = config},
        {.kind = STORE_PROBE_INFO, .address = "127.0.0.1", .port = replica_port,
         .user = "admin", .pass = pass},
        {.kind = STORE_PROBE_INFO, .address = "127.0.0.1", .port = plain_port,
         .user = "admin", .pass = pass},
    };
    check(store_probe_all(p, 3, CONN_TIMEOUT_MS) == MRD_OK, "store_probe_all ran");
    check(p[0].rc == MRD_OK && p[0].info && strstr(p[0].info, "role:master"),
          "probe of the TLS master: role:master (%s)", p[0].rc ? p[0].err.msg : "ok");
    check(p[0].config_values[1] && strcmp(p[0].config_values[1], "yes") == 0,
          "its CONFIG GET came in the same round trip (tls-replication %s)",
          p[0].config_values[1] ? p[0].config_values[1] : "missing");
    check(p[1].rc == MRD_OK && p[1].info && strstr(p[1].info, "role:slave") &&
              strstr(p[1].info, "master_link_status:up"),
          "probe of the TLS replica: role:slave, link up (%s)",
          p[1].rc ? p[1].err.msg : "ok");
    /* a plaintext Redis takes the ClientHello for the start of an inline
     * command: it answers an error when the hello holds a newline, else
     * waits for one */
    check((p[2].rc == MRD_ERR_CONNECT || p[2].rc == MRD_ERR_TIMEOUT) &&
              says(&p[2].err, "127.0.0.1:", "TLS handshake", "is TLS enabled on it?", NULL),
          "the plaintext server in the batch is refused (%s)", p[2].err.msg);
    for (int i = 0; i < 3; i++)
        store_probe_clear(&p[i]);
}

/* Pub/sub over TLS: a pattern subscription gets a message another
 * connection publishes, and the answer to a PING. */
static void case_pubsub(void)
{
    tls_with(ca, NULL, NULL);
    store_conn *sub = NULL, *pub = NULL;
    mrd_error err;
    mrd_rc rc = open_admin("127.0.0.1", tls_port, &sub, &err);
    if (rc == MRD_OK)
        rc = store_psubscribe(sub, "tls.*", &err);
    check(rc == MRD_OK, "PSUBSCRIBE over TLS (%s)", rc ? err.msg : "ok");
    if (rc == MRD_OK)
        rc = open_admin("127.0.0.1", tls_port, &pub, &err);
    char *n = NULL;
    if (rc == MRD_OK)
        rc = store_cmdl(pub, &n, &err, "PUBLISH", "tls.news", "hello over tls", NULL);
    check(rc == MRD_OK && n && strcmp(n, "1") == 0, "PUBLISH reached one subscriber (%s)",
          rc ? err.msg : n ? n : "nil");
    free(n);
    char ch[64] = "", pl[64] = "";
    if (rc == MRD_OK)
        rc = store_next_message(sub, CONN_TIMEOUT_MS, ch, sizeof(ch), pl, sizeof(pl), &err);
    check(rc == MRD_OK && strcmp(ch, "tls.news") == 0 && strcmp(pl, "hello over tls") == 0,
          "the subscriber got it (%s %s %s)", rc ? err.msg : "", ch, pl);
    if (rc == MRD_OK)
        rc = store_next_message(sub, 0, ch, sizeof(ch), pl, sizeof(pl), &err);
    check(rc == MRD_ERR_TIMEOUT, "then nothing more (%s)", err.msg);
    rc = store_pubsub_ping(sub, &err);
    if (rc == MRD_OK)
        rc = store_next_message(sub, CONN_TIMEOUT_MS, ch, sizeof(ch), pl, sizeof(pl), &err);
    check(rc == MRD_OK && ch[0] == '\0', "a PING on the subscription is answered (%s)",
          rc ? err.msg : "pong");
    store_conn_close(&sub);
    store_conn_close(&pub);
}

/* A snapshot fetched over TLS from the replica and from the master; the
 * script checks the files. */
static void case_snapshot(void)
{
    tls_with(ca, NULL, NULL);
    const struct {
        const char *what, *file;
        int port;
    } from[] = {{"replica", "replica.rdb", replica_port}, {"master", "master.rdb", tls_port}};
    for (size_t i = 0; i < sizeof(from) / sizeof(from[0]); i++) {
        store_snapshot s;
        mrd_error err;
        mrd_rc rc = fetch(from[i].port, from[i].file, STORE_SNAPSHOT_TIMEOUT_MS, &s, &err);
        check(rc == MRD_OK && s.bytes > 0 && s.repl_id[0],
              "snapshot of the %s over TLS (%s)", from[i].what, rc ? err.msg : "ok");
        if (rc == MRD_OK)
            printf("%s bytes=%lld repl_id=%s\n", from[i].what, s.bytes, s.repl_id);
    }
}

/* The server's certificate is signed by a CA we were not given. */
static void case_wrong_ca(void)
{
    tls_with(other_ca, NULL, NULL);
    store_conn *c = NULL;
    mrd_error err;
    mrd_rc rc = open_admin("127.0.0.1", tls_port, &c, &err);
    char name[64];
    snprintf(name, sizeof(name), "127.0.0.1:%d", tls_port);
    check(rc == MRD_ERR_CONNECT && !c &&
              says(&err, name, "certificate verify failed",
                   "is not signed by the CA in", other_ca, NULL),
          "refused with another CA (%s)", err.msg);
    rc = fetch(replica_port, "wrong-ca.rdb", 2000, NULL, &err);
    check(rc == MRD_ERR_CONNECT && says(&err, "cannot fetch a snapshot from 127.0.0.1:",
                                        "is not signed by the CA in", NULL),
          "a snapshot fetch is refused too (%s)", err.msg);
}

/* The server is reached through an address its certificate does not name. */
static void case_wrong_address(void)
{
    tls_with(ca, NULL, NULL);
    store_conn *c = NULL;
    mrd_error err;
    mrd_rc rc = open_admin("127.0.0.3", tls_port, &c, &err);
    char name[64];
    snprintf(name, sizeof(name), "127.0.0.3:%d", tls_port);
    check(rc == MRD_ERR_CONNECT && !c &&
              says(&err, name, "IP address mismatch", "its certificate is not for 127.0.0.3",
                   NULL),
          "refused through an address not in its certificate (%s)", err.msg);
    store_probe p = {.kind = STORE_PROBE_INFO, .address = "127.0.0.3", .port = tls_port,
                     .user = "admin", .pass = pass};
    store_probe_all(&p, 1, CONN_TIMEOUT_MS);
    check(p.rc == MRD_ERR_CONNECT && says(&p.err, "not for 127.0.0.3", NULL),
          "a probe is refused too (%s)", p.err.msg);
    store_probe_clear(&p);
}

/* TLS on, a plaintext server: refused, never plaintext instead. */
static void case_plain_server(void)
{
    tls_with(ca, NULL, NULL);
    store_conn *c = NULL;
    mrd_error err;
    mrd_rc rc = open_admin("127.0.0.1", plain_port, &c, &err);
    check(rc == MRD_ERR_CONNECT && !c &&
              says(&err, "127.0.0.1:", "is TLS enabled on it?", NULL),
          "a plaintext server is refused under TLS (%s)", err.msg);
    rc = fetch(plain_port, "plain.rdb", 2000, NULL, &err);
    check(rc == MRD_ERR_CONNECT && says(&err, "is TLS enabled on it?", NULL),
          "a snapshot fetch from it is refused too (%s)", err.msg);
    /* the server itself is fine: plaintext, asked for, works */
    tls_with(NULL, NULL, NULL);
    check(!store_tls_on(), "store_set_tls(NULL) turns TLS off");
    rc = open_admin("127.0.0.1", plain_port, &c, &err);
    if (rc == MRD_OK)
        rc = store_ping(c, &err);
    check(rc == MRD_OK, "the same server answers in plaintext mode (%s)", rc ? err.msg : "ok");
    store_conn_close(&c);
}

/* TLS off, a TLS-only server: a clean refusal that says why. */
static void case_tls_server_in_plain(void)
{
    store_conn *c = NULL;
    mrd_error err;
    mrd_rc rc = open_admin("127.0.0.1", tls_port, &c, &err);
    if (rc == MRD_OK)
        rc = store_ping(c, &err);
    check(rc == MRD_ERR_CONNECT &&
              says(&err, "127.0.0.1:", "connection closed; the server may require TLS", NULL),
          "plaintext to a TLS-only server fails cleanly (%s)", err.msg);
    store_conn_close(&c);
    store_probe p = {.kind = STORE_PROBE_INFO, .address = "127.0.0.1", .port = tls_port,
                     .user = "admin", .pass = pass};
    store_probe_all(&p, 1, CONN_TIMEOUT_MS);
    check(p.rc == MRD_ERR_CONNECT && says(&p.err, "the server may require TLS", NULL),
          "so does a probe (%s)", p.err.msg);
    store_probe_clear(&p);
    rc = fetch(tls_port, "in-plain.rdb", 2000, NULL, &err);
    check(rc == MRD_ERR_IO && says(&err, "the server may require TLS", NULL),
          "and a snapshot fetch (%s)", err.msg);
}

/* A server that requires client certificates: refused without one,
 * served with one. */
static void case_client_cert(void)
{
    tls_with(ca, NULL, NULL);
    store_conn *c = NULL;
    mrd_error err;
    mrd_rc rc = open_admin("127.0.0.1", mtls_port, &c, &err);
    if (rc == MRD_OK) /* TLS 1.3: the server's refusal comes after the handshake */
        rc = store_ping(c, &err);
    check(rc == MRD_ERR_CONNECT && says(&err, "127.0.0.1:", "client certificate", NULL),
          "without a client certificate: refused (%s)", err.msg);
    store_conn_close(&c);
    tls_with(ca, client_crt, client_key);
    rc = open_admin("127.0.0.1", mtls_port, &c, &err);
    if (rc == MRD_OK)
        rc = store_ping(c, &err);
    check(rc == MRD_OK, "with one: served (%s)", rc ? err.msg : "ok");
    store_conn_close(&c);
}

/* ==== MAIN ==== */

static int make_certs(const char *d)
{
    char ca_dir[4096], other_dir[4096], crt[4200], key[4200];
    snprintf(ca_dir, sizeof(ca_dir), "%s/ca", d);
    snprintf(other_dir, sizeof(other_dir), "%s/other", d);
    mrd_error err;
    mrd_error_clear(&err);
    if (mrd_mkdir_p(ca_dir, 0700, &err) != MRD_OK ||
        mrd_mkdir_p(other_dir, 0700, &err) != MRD_OK ||
        mrd_ca_create(ca_dir, "meridian-tls-test", CERT_DAYS, &err) != MRD_OK ||
        mrd_ca_create(other_dir, "unrelated-ca", CERT_DAYS, &err) != MRD_OK)
        goto fail;
    snprintf(crt, sizeof(crt), "%s/server.crt", d);
    snprintf(key, sizeof(key), "%s/server.key", d);
    if (mrd_cert_issue(ca_dir, crt, key, "localhost", "127.0.0.1", CERT_DAYS, &err) != MRD_OK)
        goto fail;
    snprintf(crt, sizeof(crt), "%s/client.crt", d);
    snprintf(key, sizeof(key), "%s/client.key", d);
    if (mrd_cert_issue(ca_dir, crt, key, "meridian-client", "127.0.0.9", CERT_DAYS, &err) !=
        MRD_OK)
        goto fail;
    return 0;
fail:
    fprintf(stderr, "tls_store: %s\n", err.msg);
    return 1;
}

static int env_port(const char *name)
{
    const char *s = getenv(name);
    char *end = NULL;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || end == s || *end || errno || v < 1 || v > 65535) {
        fprintf(stderr, "tls_store: %s must be a port\n", name);
        exit(64);
    }
    return (int)v;
}

static const struct {
    const char *name;
    void (*run)(void);
} cases[] = {
    {"conn", case_conn},
    {"probe", case_probe},
    {"pubsub", case_pubsub},
    {"snapshot", case_snapshot},
    {"wrong_ca", case_wrong_ca},
    {"wrong_address", case_wrong_address},
    {"plain_server", case_plain_server},
    {"tls_server_in_plain", case_tls_server_in_plain},
    {"client_cert", case_client_cert},
};

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "certs") == 0)
        return make_certs(argv[2]);
    size_t k = 0;
    while (argc == 2 && k < sizeof(cases) / sizeof(cases[0]) && strcmp(cases[k].name, argv[1]))
        k++;
    if (argc != 2 || k == sizeof(cases) / sizeof(cases[0])) {
        fprintf(stderr, "usage: tls_store certs DIR | tls_store CASE (conn, probe, pubsub, "
                        "snapshot, wrong_ca, wrong_address, plain_server, "
                        "tls_server_in_plain, client_cert)\n");
        return 64;
    }
    dir = getenv("TLS_DIR");
    const char *pass_file = getenv("PASS_FILE");
    if (!dir || !pass_file || !getenv("OUT_DIR")) {
        fprintf(stderr, "tls_store: TLS_DIR, PASS_FILE and OUT_DIR must be set\n");
        return 64;
    }
    tls_port = env_port("TLS_PORT");
    replica_port = env_port("REPLICA_PORT");
    plain_port = env_port("PLAIN_PORT");
    mtls_port = env_port("MTLS_PORT");
    snprintf(ca, sizeof(ca), "%s/ca/ca.crt", dir);
    snprintf(other_ca, sizeof(other_ca), "%s/other/ca.crt", dir);
    snprintf(client_crt, sizeof(client_crt), "%s/client.crt", dir);
    snprintf(client_key, sizeof(client_key), "%s/client.key", dir);
    char *p = NULL;
    size_t len = 0;
    mrd_error err;
    mrd_error_clear(&err);
    if (mrd_read_file(pass_file, 4096, &p, &len, &err) != MRD_OK) {
        fprintf(stderr, "tls_store: %s\n", err.msg);
        return 1;
    }
    while (len > 0 && (p[len - 1] == '\n' || p[len - 1] == '\r'))
        p[--len] = '\0';
    pass = p;
    cases[k].run();
    explicit_bzero(p, len);
    free(p);
    return failures ? 1 : 0;
}
