/* test_fence_peers.c - fence_ask_peers() (agent/fence.c), the agent's own
 * GET /v1/fence of its peers, against an agent API server (agent/api.c)
 * in this process on 127.0.0.2, ports 24180-24199: over HTTPS when the
 * manifest says tls.enabled, verified against the CA in the manifest's
 * secrets folder; over plain HTTP otherwise, and never the one for the
 * other. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api_serve.h"
#include "fence.h"
#include "fsutil.h"
#include "log.h"
#include "tls_fixture.h"

#define PORT_BASE 24180
#define PORT_TRIES 20
#define TOKEN "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* ==== THE PEER ========================================================= */

/* What the peer's agent answers: its manifest is of generation 3 and says
 * use-a9 was replaced by use-b1. */
static json_t *peer_fence(void *ctx)
{
    (void)ctx;
    return json_pack("{s:s,s:s,s:i,s:[{s:s,s:s,s:i}]}", "topology", "demo", "host", "use-b1",
                     "generation", 3, "replaced", "host", "use-a9", "by", "use-b1",
                     "generation", 3);
}

/* The peer's agent on 127.0.0.2, over HTTPS with TLS's files (NULL: HTTP). */
static api_server *peer_start(const api_tls *tls, int *port)
{
    api_handlers h = api_serve_idle_handlers();
    h.fence = peer_fence;
    api_serve_opts o = {.address = "127.0.0.2", .base = PORT_BASE, .tries = PORT_TRIES,
                        .token = TOKEN, .h = &h, .tls = tls};
    return api_serve(&o, port);
}

/* ==== THIS HOST ======================================================== */

/* use-a1's manifest (new, free()): two hosts, use-a1 (127.0.0.1, itself)
 * and use-b1 (127.0.0.2:PEER_PORT, which runs a sentinel); the secrets
 * folder SECRETS; generation 2. */
static mrd_manifest *self_manifest(const char *secrets, int peer_port, bool tls)
{
    mrd_manifest *m = calloc(1, sizeof(*m));
    assert_non_null(m);
    m->version = MRD_MANIFEST_VERSION;
    snprintf(m->topology, sizeof(m->topology), "demo");
    snprintf(m->mode, sizeof(m->mode), "sentinel");
    snprintf(m->host, sizeof(m->host), "use-a1");
    snprintf(m->secrets_dir, sizeof(m->secrets_dir), "%s", secrets);
    m->generation = 2;
    mrd_settings_defaults(&m->settings);
    m->settings.tls.enabled = tls;
    m->nhosts = 2;
    m->hosts[0] = (mrd_mf_host){.host = "use-a1", .address = "127.0.0.1", .agent_port = 1};
    m->hosts[1] = (mrd_mf_host){.host = "use-b1",
                                .address = "127.0.0.2",
                                .sentinel_port = 26379,
                                .agent_port = peer_port};
    return m;
}

/* Put the CA certificate FROM as SECRETS/tls/ca.crt. */
static void install_ca(const char *from, const char *secrets)
{
    char *pem = NULL;
    size_t len = 0;
    char path[TLS_FIXTURE_PATH + 32];
    mrd_error err;
    assert_int_equal(mrd_read_file(from, 65536, &pem, &len, &err), MRD_OK);
    snprintf(path, sizeof(path), "%s/%s", secrets, MRD_TLS_DIR);
    assert_int_equal(mrd_mkdir_p(path, 0700, &err), MRD_OK);
    snprintf(path, sizeof(path), "%s/%s", secrets, MRD_TLS_CA_CERT);
    assert_int_equal(mrd_write_atomic(path, pem, len, 0644, &err), MRD_OK);
    free(pem);
}

/* ==== TESTS ============================================================ */

/* With TLS on: the peer's answer comes over HTTPS when its certificate
 * chains to the CA of this host's secrets; not with another CA, and not
 * from a peer that speaks plain HTTP. */
static void test_peers_over_tls(void **state)
{
    (void)state;
    tls_fixture f;
    tls_fixture_make(&f, "use-b1", "127.0.0.2");
    char secrets[TLS_FIXTURE_PATH + 16];
    snprintf(secrets, sizeof(secrets), "%s/secrets", f.dir);
    install_ca(f.ca, secrets);
    api_tls files = {.cert_file = f.cert, .key_file = f.key};
    int port;
    api_server *peer = peer_start(&files, &port);
    mrd_manifest *m = self_manifest(secrets, port, true);
    fence_view out[4];
    assert_int_equal(fence_ask_peers(m, TOKEN, 3000, out, 4), 1);
    assert_string_equal(out[0].host, "use-b1");
    assert_int_equal(out[0].generation, 3);
    assert_int_equal(out[0].nreplaced, 1);
    assert_string_equal(out[0].replaced[0].host, "use-a9");

    /* this host trusts another CA: the peer is not heard */
    install_ca(f.other_ca, secrets);
    assert_int_equal(fence_ask_peers(m, TOKEN, 3000, out, 4), 0);
    install_ca(f.ca, secrets);
    api_stop(&peer);

    /* a peer that serves plain HTTP: no fallback */
    peer = peer_start(NULL, &port);
    m->hosts[1].agent_port = port;
    assert_int_equal(fence_ask_peers(m, TOKEN, 3000, out, 4), 0);
    /* and with TLS off, the same peer answers */
    m->settings.tls.enabled = false;
    assert_int_equal(fence_ask_peers(m, TOKEN, 3000, out, 4), 1);
    api_stop(&peer);

    /* TLS off, a peer that serves HTTPS: not heard either */
    peer = peer_start(&files, &port);
    m->hosts[1].agent_port = port;
    assert_int_equal(fence_ask_peers(m, TOKEN, 3000, out, 4), 0);
    api_stop(&peer);
    free(m);
    tls_fixture_remove(&f);
}

int main(void)
{
    mrd_log_init("test_fence_peers", NULL, MRD_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_peers_over_tls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
