/* test_agent_client_tls.c - the agent client over TLS, against the agent's
 * own API server (agent/api.c) serving HTTPS in this process.
 *
 * Both backends: the plain health client of `meridian status` (OpenSSL
 * over non-blocking sockets, all agents at once) and libcurl (heal, and
 * health through agent_client_curl()).  The certificates come from
 * certs.h (tls_fixture.h); the servers listen on 127.0.0.1 and 127.0.0.2,
 * ports 24150-24179. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/api_serve.h"
#include "agent_client.h"
#include "log.h"
#include "loopback.h"
#include "tls_fixture.h"

#define PORT_BASE 24150
#define PORT_TRIES 30
#define TOKEN "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* ==== AN AGENT API SERVER ============================================== */

static atomic_int health_calls, heal_calls;

static json_t *stub_health(void *ctx, bool *ready)
{
    (void)ctx;
    atomic_fetch_add(&health_calls, 1);
    *ready = true;
    return json_pack("{s:s,s:b}", "host", "use-a1", "ready", true);
}

static json_t *stub_heal(void *ctx, int *http_status)
{
    (void)ctx;
    atomic_fetch_add(&heal_calls, 1);
    *http_status = 200;
    return json_pack("{s:s,s:i,s:s,s:s,s:[]}", "host", "use-a1", "code", 0, "status", "ok",
                     "summary", "fine", "actions");
}

/* An API server on ADDRESS with TLS's files (NULL: plain HTTP). */
static api_server *serve(const char *address, const api_tls *tls, int *port)
{
    api_handlers h = api_serve_idle_handlers();
    h.health = stub_health;
    h.heal = stub_heal;
    api_serve_opts o = {.address = address, .base = PORT_BASE, .tries = PORT_TRIES,
                        .token = TOKEN, .h = &h, .tls = tls};
    return api_serve(&o, port);
}

static void release(agent_result *r, int n)
{
    for (int i = 0; i < n; i++)
        agent_result_clear(&r[i]);
}

/* "agent on NAME (127.0.0.1:PORT): TLS: " + REST is in ERROR. */
static void assert_tls_error(const char *error, const char *name, const char *address,
                             int port, const char *rest)
{
    char want[256];
    snprintf(want, sizeof(want), "agent on %s (%s:%d): TLS: %s", name, address, port, rest);
    if (strncmp(error, want, strlen(want)) != 0)
        fail_msg("error \"%s\", want it to start with \"%s\"", error, want);
}

/* ==== THE PLAIN HEALTH CLIENT ========================================== */

/* Trusting the deployment's CA: every agent answers over HTTPS, all at
 * once (two that never shake hands cost one timeout, not two); https is
 * what messages name. */
static void test_plain_health_tls(void **state)
{
    (void)state;
    tls_fixture f;
    tls_fixture_make(&f, "use-a1", "127.0.0.1");
    api_tls files = {.cert_file = f.cert, .key_file = f.key};
    int p1, p2;
    api_server *a = serve("127.0.0.1", &files, &p1);
    api_server *b = serve("127.0.0.1", &files, &p2);
    mrd_error err;
    mrd_error_clear(&err);
    assert_string_equal(agent_client_scheme(), "http");
    assert_int_equal(agent_client_set_tls(f.ca, &err), MRD_OK);
    assert_string_equal(agent_client_scheme(), "https");

    int p3, p4;
    int q1 = loopback_listener(&p3), q2 = loopback_listener(&p4); /* never accept */
    const agent_target t[4] = {{"use-a1", "127.0.0.1", p1},
                               {"use-a2", "127.0.0.1", p2},
                               {"euw-a1", "127.0.0.1", p3},
                               {"euw-a2", "127.0.0.1", p4}};
    agent_result out[4];
    agent_timeouts to = {.request_ms = 1000, .connect_ms = 1000};
    atomic_store(&health_calls, 0);
    long long t0 = mrd_now_ms();
    assert_int_equal(agent_client_default()->health_all(t, 4, &to, out, &err), MRD_OK);
    long long took = mrd_now_ms() - t0;
    for (int i = 0; i < 2; i++) {
        if (out[i].error[0])
            fail_msg("%s", out[i].error);
        assert_int_equal(out[i].http_status, 200);
        assert_true(json_is_true(json_object_get(out[i].body, "ready")));
    }
    for (int i = 2; i < 4; i++) {
        assert_int_equal(out[i].http_status, 0);
        assert_non_null(strstr(out[i].error, "accepted the connection but did not answer"));
    }
    if (took > 1800)
        fail_msg("4 agents, 2 silent, took %lld ms with a 1000 ms deadline", took);
    assert_int_equal(atomic_load(&health_calls), 2);
    release(out, 4);
    close(q1);
    close(q2);
    api_stop(&a);
    api_stop(&b);
    assert_int_equal(agent_client_set_tls(NULL, &err), MRD_OK);
    tls_fixture_remove(&f);
}

/* Refusals, each a sentence naming the agent and the cause, each its own
 * agent's, in one batch: a certificate of another CA, a certificate for
 * another address, an agent that speaks plain HTTP (no fallback), next to
 * one that answers. */
static void test_plain_health_tls_refusals(void **state)
{
    (void)state;
    tls_fixture f;
    tls_fixture_make(&f, "use-a1", "127.0.0.1");
    api_tls good = {.cert_file = f.cert, .key_file = f.key};
    api_tls other = {.cert_file = f.other_cert, .key_file = f.other_key};
    int p_good, p_other, p_addr, p_plain;
    api_server *s_good = serve("127.0.0.1", &good, &p_good);
    api_server *s_other = serve("127.0.0.1", &other, &p_other);
    /* the right CA, but the certificate names 127.0.0.1, not 127.0.0.2 */
    api_server *s_addr = serve("127.0.0.2", &good, &p_addr);
    api_server *s_plain = serve("127.0.0.1", NULL, &p_plain);
    mrd_error err;
    assert_int_equal(agent_client_set_tls(f.ca, &err), MRD_OK);

    const agent_target t[4] = {{"use-a1", "127.0.0.1", p_good},
                               {"euw-b1", "127.0.0.1", p_other},
                               {"euw-b2", "127.0.0.2", p_addr},
                               {"aps-a1", "127.0.0.1", p_plain}};
    agent_result out[4];
    agent_timeouts to = {.request_ms = 2000, .connect_ms = 1000};
    atomic_store(&health_calls, 0);
    assert_int_equal(agent_client_default()->health_all(t, 4, &to, out, &err), MRD_OK);
    for (int i = 0; i < 4; i++)
        print_message("%s: %d %s\n", t[i].host, out[i].http_status, out[i].error);
    assert_int_equal(out[0].http_status, 200);
    assert_string_equal(out[0].error, "");
    assert_tls_error(out[1].error, "euw-b1", "127.0.0.1", p_other,
                     "certificate verify failed: unable to get local issuer certificate");
    assert_tls_error(out[2].error, "euw-b2", "127.0.0.2", p_addr,
                     "certificate verify failed: IP address mismatch");
    assert_tls_error(out[3].error, "aps-a1", "127.0.0.1", p_plain, "handshake failed: ");
    for (int i = 1; i < 4; i++) {
        assert_int_equal(out[i].http_status, 0);
        assert_null(out[i].body);
    }
    /* only the good agent was asked: no request went out in plain text */
    assert_int_equal(atomic_load(&health_calls), 1);
    release(out, 4);

    /* the other way round: TLS off, an HTTPS agent gives no HTTP answer */
    assert_int_equal(agent_client_set_tls(NULL, &err), MRD_OK);
    assert_int_equal(agent_client_default()->health_all(t, 1, &to, out, &err), MRD_OK);
    assert_int_equal(out[0].http_status, 0);
    assert_non_null(strstr(out[0].error, "answered something that is not HTTP"));
    release(out, 1);
    api_stop(&s_good);
    api_stop(&s_other);
    api_stop(&s_addr);
    api_stop(&s_plain);
    tls_fixture_remove(&f);
}

/* A CA file that cannot be read: the client cannot work, and says which
 * file; an empty path is refused. */
static void test_tls_ca_missing(void **state)
{
    (void)state;
    mrd_error err;
    mrd_error_clear(&err);
    assert_int_equal(agent_client_set_tls("", &err), MRD_ERR_INVALID);
    assert_int_equal(agent_client_set_tls("/nonexistent/tls/ca.crt", &err), MRD_OK);
    const agent_target t[1] = {{"use-a1", "127.0.0.1", PORT_BASE}};
    agent_result out[1];
    agent_timeouts to = {.request_ms = 500, .connect_ms = 500};
    assert_int_equal(agent_client_default()->health_all(t, 1, &to, out, &err),
                     MRD_ERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, "/nonexistent/tls/ca.crt"));
    print_message("plain: %s\n", err.msg);
    assert_int_equal(agent_client_curl()->health_all(t, 1, &to, out, &err), MRD_ERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, "/nonexistent/tls/ca.crt"));
    print_message("curl: %s\n", err.msg);
    assert_int_equal(agent_client_set_tls(NULL, &err), MRD_OK);
}

/* ==== LIBCURL ========================================================== */

/* Heal with the token and health through libcurl over HTTPS; another CA's
 * certificate, and one for another address, are refused with a sentence. */
static void test_curl_tls(void **state)
{
    (void)state;
    tls_fixture f;
    tls_fixture_make(&f, "use-a1", "127.0.0.1");
    api_tls good = {.cert_file = f.cert, .key_file = f.key};
    api_tls other = {.cert_file = f.other_cert, .key_file = f.other_key};
    int p_good, p_other, p_addr;
    api_server *s_good = serve("127.0.0.1", &good, &p_good);
    api_server *s_other = serve("127.0.0.1", &other, &p_other);
    api_server *s_addr = serve("127.0.0.2", &good, &p_addr);
    mrd_error err;
    assert_int_equal(agent_client_set_tls(f.ca, &err), MRD_OK);
    const agent_target t[3] = {{"use-a1", "127.0.0.1", p_good},
                               {"euw-b1", "127.0.0.1", p_other},
                               {"euw-b2", "127.0.0.2", p_addr}};
    agent_result out[3];
    agent_timeouts to = {.request_ms = 3000, .connect_ms = 1000};
    atomic_store(&heal_calls, 0);
    assert_int_equal(agent_client_curl()->heal_all(t, 3, TOKEN, &to, out, &err), MRD_OK);
    print_message("curl: %s\ncurl: %s\n", out[1].error, out[2].error);
    assert_int_equal(out[0].http_status, 200);
    assert_string_equal(out[0].error, "");
    assert_string_equal(json_string_value(json_object_get(out[0].body, "status")), "ok");
    assert_int_equal(out[1].http_status, 0);
    assert_tls_error(out[1].error, "euw-b1", "127.0.0.1", p_other,
                     "certificate verify failed: unable to get local issuer certificate");
    assert_null(strstr(out[1].error, TOKEN));
    assert_int_equal(out[2].http_status, 0);
    assert_tls_error(out[2].error, "euw-b2", "127.0.0.2", p_addr,
                     "certificate verify failed: no alternative certificate subject name");
    assert_int_equal(atomic_load(&heal_calls), 1);
    release(out, 3);
    assert_int_equal(agent_client_curl()->health_all(t, 1, &to, out, &err), MRD_OK);
    assert_int_equal(out[0].http_status, 200);
    release(out, 1);
    api_stop(&s_good);
    api_stop(&s_other);
    api_stop(&s_addr);
    assert_int_equal(agent_client_set_tls(NULL, &err), MRD_OK);
    tls_fixture_remove(&f);
}

/* What the orchestrator calls at start-up: the topology's tls.enabled
 * decides, the CA is the state dir's. */
static void test_set_tls_for(void **state)
{
    (void)state;
    static const char topo[] =
        "{\"name\":\"t\",\"survive\":\"none\",\"store\":{\"leader_region\":\"r1\"},"
        "\"sentinel\":{\"count\":1},\"consistency\":{\"wait_replicas\":0},"
        "\"tls\":{\"enabled\":true},"
        "\"regions\":[{\"name\":\"r1\",\"zones\":[{\"name\":\"z1\",\"hosts\":["
        "{\"name\":\"a1\",\"address\":\"127.0.1.1\"}]}]}]}";
    orch_ctx c = {0};
    mrd_error err;
    assert_int_equal(topology_parse(topo, strlen(topo), "t.json", &c.topo, &err), MRD_OK);
    snprintf(c.secrets_dir, sizeof(c.secrets_dir), "/nonexistent/state/secrets");
    assert_int_equal(agent_client_set_tls_for(&c, &err), MRD_OK);
    assert_string_equal(agent_client_scheme(), "https");
    const agent_target t[1] = {{"a1", "127.0.0.1", PORT_BASE}};
    agent_result out[1];
    agent_timeouts to = {.request_ms = 500, .connect_ms = 500};
    assert_int_equal(agent_client_default()->health_all(t, 1, &to, out, &err),
                     MRD_ERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, "/nonexistent/state/secrets/tls/ca.crt"));
    c.topo->settings.tls.enabled = false;
    assert_int_equal(agent_client_set_tls_for(&c, &err), MRD_OK);
    assert_string_equal(agent_client_scheme(), "http");
    topology_free(&c.topo);
}

int main(void)
{
    mrd_log_init("test_agent_client_tls", NULL, MRD_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_health_tls),
        cmocka_unit_test(test_plain_health_tls_refusals),
        cmocka_unit_test(test_tls_ca_missing),
        cmocka_unit_test(test_set_tls_for),
        cmocka_unit_test(test_curl_tls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
