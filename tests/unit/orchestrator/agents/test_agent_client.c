/* test_agent_client.c - the agent client and the `meridian heal` report.
 *
 * The heal report is pure: canned agent answers in, JSON, text and exit
 * code out.  The libcurl backend is driven against sockets of this
 * process on 127.0.0.1 (an agent that answers, a closed port, an agent
 * that accepts and never answers), and the orchestrator-level calls
 * through a swapped function table. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_client.h"
#include "heal_report.h"
#include "log.h"
#include "loopback.h"

/* ==== HELPERS ========================================================== */

static agent_result answered(int status, const char *body)
{
    agent_result r = {.http_status = status};
    json_error_t jerr;
    r.body = json_loads(body, 0, &jerr);
    if (!r.body)
        fail_msg("bad canned JSON: %s", jerr.text);
    return r;
}

static agent_result unanswered(const char *error)
{
    agent_result r = {0};
    snprintf(r.error, sizeof(r.error), "%s", error);
    return r;
}

static void release(agent_result *r, int n)
{
    for (int i = 0; i < n; i++)
        json_decref(r[i].body);
}

/* The text heal_report_print() writes (new string). */
static char *printed(const json_t *report)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    heal_report_print(f, report);
    fclose(f);
    return buf;
}

static const json_t *host_of(const json_t *report, size_t i)
{
    const json_t *h = json_array_get(json_object_get(report, "hosts"), i);
    assert_non_null(h);
    return h;
}

static const char *str(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    assert_true(json_is_string(v));
    return json_string_value(v);
}

/* ==== REPORTS ========================================================== */

static const char *const HEALED =
    "{\"host\":\"euw-b1\",\"code\":1,\"status\":\"warning\","
    "\"summary\":\"healed euw-b1/redis in 1.2 s\",\"duration_ms\":1210,"
    "\"actions\":["
    "{\"event\":\"+replica-lost\",\"node\":\"euw-b1/redis\","
    "\"detail\":\"process not running; data dir missing\"},"
    "{\"event\":\"+snapshot-fetched\",\"node\":\"euw-b1/redis\","
    "\"detail\":\"from euw-a1: 38.2 MB in 0.4 s\"},"
    "{\"event\":\"+replica-ready\",\"node\":\"euw-b1/redis\","
    "\"detail\":\"link up, lag 0 bytes\"}],"
    "\"nodes\":[{\"kind\":\"redis\",\"ready\":true,\"reason\":\"\"}]}";

static const char *const QUIET =
    "{\"host\":\"euw-a1\",\"code\":0,\"status\":\"ok\",\"summary\":\"all 2 nodes ready\","
    "\"duration_ms\":3,\"actions\":[],\"nodes\":[]}";

static void test_report_healed_and_ok(void **state)
{
    (void)state;
    agent_result r[2] = {answered(200, QUIET), answered(200, HEALED)};
    const char *hosts[] = {"euw-a1", "euw-b1"};
    json_t *rep = heal_report_new("local", hosts, r, 2);
    assert_non_null(rep);
    assert_int_equal(heal_report_code(rep), MRD_HEALTH_WARNING);
    assert_string_equal(str(rep, "topology"), "local");
    assert_string_equal(str(rep, "status"), "warning");

    const json_t *b = host_of(rep, 1);
    assert_string_equal(str(b, "host"), "euw-b1");
    assert_int_equal(json_integer_value(json_object_get(b, "http_status")), 200);
    assert_int_equal(json_integer_value(json_object_get(b, "code")), 1);
    assert_string_equal(str(b, "status"), "warning");
    assert_string_equal(str(b, "summary"), "healed euw-b1/redis in 1.2 s");
    assert_true(json_is_null(json_object_get(b, "error")));
    assert_int_equal(json_array_size(json_object_get(b, "actions")), 3);

    char *text = printed(rep);
    assert_string_equal(
        text, "euw-a1            ok                 all 2 nodes ready\n"
              "euw-b1/redis      +replica-lost      process not running; data dir missing\n"
              "euw-b1/redis      +snapshot-fetched  from euw-a1: 38.2 MB in 0.4 s\n"
              "euw-b1/redis      +replica-ready     link up, lag 0 bytes\n"
              "euw-b1            warning            healed euw-b1/redis in 1.2 s\n"
              "\n"
              "local: warning - 2 hosts: 1 ok, 1 warning\n");
    free(text);
    /* the report owns copies: the agents' bodies can go first */
    release(r, 2);
    assert_int_equal(json_array_size(json_object_get(host_of(rep, 1), "actions")), 3);
    json_decref(rep);
}

static void test_report_unreachable_and_refused(void **state)
{
    (void)state;
    agent_result r[3] = {
        unanswered("agent on use-a1 (127.0.1.1:17379) is not answering: Connection refused"),
        answered(401, "{\"error\":\"missing or wrong token\"}"),
        answered(200, QUIET),
    };
    const char *hosts[] = {"use-a1", "use-b1", "euw-a1"};
    json_t *rep = heal_report_new("local", hosts, r, 3);
    assert_non_null(rep);
    assert_int_equal(heal_report_code(rep), MRD_HEALTH_UNKNOWN);

    const json_t *a = host_of(rep, 0);
    assert_true(json_is_null(json_object_get(a, "http_status")));
    assert_true(json_is_null(json_object_get(a, "summary")));
    assert_int_equal(json_integer_value(json_object_get(a, "code")), 3);
    assert_string_equal(str(a, "status"), "unknown");
    assert_int_equal(json_array_size(json_object_get(a, "actions")), 0);
    assert_string_equal(str(a, "error"),
                        "agent on use-a1 (127.0.1.1:17379) is not answering: Connection refused");
    const json_t *b = host_of(rep, 1);
    assert_int_equal(json_integer_value(json_object_get(b, "http_status")), 401);
    assert_string_equal(str(b, "error"), "the agent refused the token: redeploy to refresh it");

    char *text = printed(rep);
    assert_string_equal(
        text,
        "use-a1            unknown            agent on use-a1 (127.0.1.1:17379) is not "
        "answering: Connection refused\n"
        "use-b1            unknown            the agent refused the token: redeploy to refresh it\n"
        "euw-a1            ok                 all 2 nodes ready\n"
        "\n"
        "local: unknown - 3 hosts: 1 ok, 2 unknown\n");
    free(text);
    release(r, 3);
    json_decref(rep);
}

static void test_report_critical_outranks_unknown(void **state)
{
    (void)state;
    agent_result r[2] = {
        answered(200, "{\"code\":2,\"status\":\"critical\",\"summary\":\"no snapshot source\","
                      "\"actions\":[{\"event\":\"-heal-failed\",\"node\":\"aps-b1/redis\","
                      "\"detail\":\"no healthy replica or leader to copy from\"}]}"),
        unanswered("agent on aps-a1 (127.0.3.1:17379) is not answering: Connection refused"),
    };
    const char *hosts[] = {"aps-b1", "aps-a1"};
    json_t *rep = heal_report_new("local", hosts, r, 2);
    assert_int_equal(heal_report_code(rep), MRD_HEALTH_CRITICAL);
    assert_string_equal(str(rep, "status"), "critical");
    release(r, 2);
    json_decref(rep);
}

static void test_report_not_a_report(void **state)
{
    (void)state;
    agent_result r[7] = {
        answered(409, "{\"error\":\"another heal pass is running\"}"),
        answered(200, "{\"summary\":\"no code here\"}"),
        answered(200, "{\"code\":9}"),
        answered(500, "{\"error\":\"boom\"}"),
        answered(404, "{\"error\":\"no such path\"}"),
        {.http_status = 502},
        answered(409, QUIET), /* a 409 that carries a report counts */
    };
    snprintf(r[5].error, sizeof(r[5].error),
             "agent on x (127.0.0.1:1) answered HTTP 502 with a body that is not JSON");
    const char *hosts[] = {"h0", "h1", "h2", "h3", "h4", "h5", "h6"};
    json_t *rep = heal_report_new("t", hosts, r, 7);
    assert_non_null(rep);
    for (size_t i = 0; i < 6; i++) {
        const json_t *h = host_of(rep, i);
        assert_int_equal(json_integer_value(json_object_get(h, "code")), MRD_HEALTH_UNKNOWN);
        assert_true(json_is_string(json_object_get(h, "error")));
    }
    assert_non_null(strstr(str(host_of(rep, 0), "error"), "another heal pass is running"));
    assert_non_null(strstr(str(host_of(rep, 1), "error"), "without a heal report"));
    assert_string_equal(str(host_of(rep, 3), "error"), "the agent answered HTTP 500: boom");
    assert_non_null(strstr(str(host_of(rep, 4), "error"), "redeploy"));
    assert_non_null(strstr(str(host_of(rep, 5), "error"), "not JSON"));
    assert_int_equal(json_integer_value(json_object_get(host_of(rep, 6), "code")), MRD_HEALTH_OK);
    assert_int_equal(heal_report_code(rep), MRD_HEALTH_UNKNOWN);
    release(r, 7);
    json_decref(rep);
}

static void test_report_odd_actions(void **state)
{
    (void)state;
    /* Missing fields fall back; control characters never reach the terminal. */
    agent_result r[1] = {answered(
        200, "{\"code\":1,\"summary\":\"a\\u001b[2Jb\",\"actions\":["
             "{\"event\":\"+x\"},{\"node\":\"n/redis\",\"detail\":\"line\\nbreak\"},7]}")};
    const char *hosts[] = {"h"};
    json_t *rep = heal_report_new("t", hosts, r, 1);
    char *text = printed(rep);
    assert_string_equal(text, "h                 +x\n"
                              "n/redis           ?                  line?break\n"
                              "h                 warning            a?[2Jb\n"
                              "\n"
                              "t: warning - 1 host: 1 warning\n");
    free(text);
    release(r, 1);
    json_decref(rep);

    rep = heal_report_new("t", hosts, r, 0);
    assert_int_equal(heal_report_code(rep), MRD_HEALTH_OK);
    json_decref(rep);
    assert_int_equal(heal_report_code(NULL), MRD_HEALTH_UNKNOWN);
}

/* ==== THE LIBCURL BACKEND ============================================== */

typedef struct fake_agent {
    int fd;
    const char *status; /* "200 OK" */
    const char *body;
    char request[4096];
} fake_agent;

/* Accept one connection, read the request (headers and a 2-byte body when
 * there is one), send the canned answer. */
static void *fake_agent_run(void *arg)
{
    fake_agent *a = arg;
    int c = accept(a->fd, NULL, NULL);
    if (c < 0)
        return NULL;
    size_t len = 0;
    for (;;) {
        ssize_t r = read(c, a->request + len, sizeof(a->request) - 1 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
        a->request[len] = '\0';
        char *end = strstr(a->request, "\r\n\r\n");
        if (end && (strncmp(a->request, "POST", 4) != 0 || strlen(end + 4) >= 2))
            break;
    }
    char answer[1024];
    int n = snprintf(answer, sizeof(answer),
                     "HTTP/1.1 %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     a->status, strlen(a->body), a->body);
    ssize_t w = write(c, answer, (size_t)n);
    (void)w;
    close(c);
    return NULL;
}

#define REPORT_BODY                                                                            \
    "{\"host\":\"h0\",\"code\":0,\"status\":\"ok\",\"summary\":\"fine\",\"actions\":[]}"

static void test_curl_heal_all(void **state)
{
    (void)state;
    int p_ok, p_closed, p_silent;
    fake_agent ok = {.fd = loopback_listener(&p_ok), .status = "200 OK", .body = REPORT_BODY};
    int closed = loopback_listener(&p_closed);
    close(closed); /* nothing listens there any more: refused */
    int silent = loopback_listener(&p_silent); /* accepts (the kernel does), never answers */
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, fake_agent_run, &ok), 0);

    const agent_target t[3] = {{"h0", "127.0.0.1", p_ok},
                               {"h1", "127.0.0.1", p_closed},
                               {"h2", "127.0.0.1", p_silent}};
    agent_result out[3];
    agent_timeouts to = {.request_ms = 300, .connect_ms = 300};
    mrd_error err;
    mrd_error_clear(&err);
    long long t0 = mrd_now_ms();
    assert_int_equal(agent_client_curl()->heal_all(t, 3, "tok-123", &to, out, &err), MRD_OK);
    long long took = mrd_now_ms() - t0;
    pthread_join(th, NULL);

    /* concurrently: the silent agent's 300 ms, not the sum */
    assert_true(took < 1500);
    assert_int_equal(out[0].http_status, 200);
    assert_string_equal(out[0].error, "");
    assert_int_equal(json_integer_value(json_object_get(out[0].body, "code")), 0);
    assert_non_null(strstr(ok.request, "POST /v1/heal HTTP/1.1\r\n"));
    assert_non_null(strstr(ok.request, "Authorization: Bearer tok-123\r\n"));
    assert_non_null(strstr(ok.request, "\r\n\r\n{}"));

    char want[128];
    snprintf(want, sizeof(want),
             "agent on h1 (127.0.0.1:%d) is not answering: Connection refused", p_closed);
    assert_int_equal(out[1].http_status, 0);
    assert_null(out[1].body);
    assert_string_equal(out[1].error, want);

    snprintf(want, sizeof(want), "agent on h2 (127.0.0.1:%d) accepted the connection but",
             p_silent);
    assert_int_equal(out[2].http_status, 0);
    assert_non_null(strstr(out[2].error, want));
    for (int i = 0; i < 3; i++)
        assert_null(strstr(out[i].error, "tok-123"));
    release(out, 3);
    close(ok.fd);
    close(silent);
}

static void test_curl_health_all(void **state)
{
    (void)state;
    int p_ready, p_junk;
    fake_agent ready = {.fd = loopback_listener(&p_ready),
                        .status = "503 Service Unavailable",
                        .body = "{\"host\":\"h0\",\"ready\":false,\"nodes\":[{\"kind\":\"redis\","
                                "\"ready\":false,\"reason\":\"loading\"}]}"};
    fake_agent junk = {.fd = loopback_listener(&p_junk), .status = "200 OK", .body = "hello"};
    pthread_t th[2];
    assert_int_equal(pthread_create(&th[0], NULL, fake_agent_run, &ready), 0);
    assert_int_equal(pthread_create(&th[1], NULL, fake_agent_run, &junk), 0);
    const agent_target t[2] = {{"h0", "127.0.0.1", p_ready}, {"h1", "127.0.0.1", p_junk}};
    agent_result out[2];
    agent_timeouts to = {.request_ms = 1000, .connect_ms = 1000};
    assert_int_equal(agent_client_curl()->health_all(t, 2, &to, out, NULL), MRD_OK);
    pthread_join(th[0], NULL);
    pthread_join(th[1], NULL);
    assert_non_null(strstr(ready.request, "GET /v1/health HTTP/1.1\r\n"));
    assert_null(strstr(ready.request, "Authorization"));
    assert_int_equal(out[0].http_status, 503);
    assert_string_equal(out[0].error, "");
    assert_true(json_is_false(json_object_get(out[0].body, "ready")));
    assert_int_equal(out[1].http_status, 200);
    assert_null(out[1].body);
    assert_non_null(strstr(out[1].error, "answered HTTP 200 with a body that is not JSON"));
    release(out, 2);
    close(ready.fd);
    close(junk.fd);
    /* no targets: nothing to do */
    assert_int_equal(agent_client_curl()->health_all(t, 0, &to, out, NULL), MRD_OK);
}

/* ==== EVERY HOST OF A TOPOLOGY, THROUGH A SWAPPED TABLE ================ */

static const char *const TOPO =
    "{\"name\":\"t\",\"mode\":\"sentinel\",\"transport\":{\"kind\":\"local\"},"
    "\"survive\":\"none\","
    "\"store\":{\"port\":16379,\"leader_region\":\"r1\"},"
    "\"sentinel\":{\"count\":1,\"port\":26379},"
    "\"agent\":{\"port\":17555},"
    "\"regions\":[{\"name\":\"r1\",\"zones\":[{\"name\":\"z1\",\"hosts\":["
    "{\"name\":\"a1\",\"address\":\"127.0.1.1\"},{\"name\":\"a2\",\"address\":\"127.0.1.2\"}]}]}]}";

static struct {
    int calls;
    char token[80];
    agent_target targets[4];
    int n;
    int request_ms;
    char path[64];
} seen;

static mrd_rc fake_heal_all(const agent_target *t, int n, const char *token,
                            const agent_timeouts *to, agent_result *out, mrd_error *err)
{
    (void)err;
    seen.calls++;
    snprintf(seen.token, sizeof(seen.token), "%s", token);
    seen.n = n;
    seen.request_ms = to->request_ms;
    for (int i = 0; i < n && i < 4; i++) {
        seen.targets[i] = t[i];
        out[i] = (agent_result){.http_status = 200 + i, .body = json_object()};
    }
    return MRD_OK;
}

static mrd_rc fake_health_all(const agent_target *t, int n, const agent_timeouts *to,
                              agent_result *out, mrd_error *err)
{
    (void)t;
    (void)to;
    seen.calls++;
    seen.request_ms = to->request_ms;
    if (n > 1)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++)
        out[i] = (agent_result){.http_status = 200};
    return MRD_OK;
}

static mrd_rc fake_restart(const agent_target *t, const char *path, const char *token,
                           const agent_timeouts *to, agent_result *out, mrd_error *err)
{
    (void)err;
    seen.calls++;
    seen.targets[0] = *t;
    seen.request_ms = to->request_ms;
    snprintf(seen.path, sizeof(seen.path), "%s", path);
    snprintf(seen.token, sizeof(seen.token), "%s", token);
    *out = (agent_result){.http_status = 409,
                          .body = json_pack("{s:s}", "error", "switch it over first")};
    return MRD_OK;
}

static const agent_client_ops FAKE = {"fake", fake_heal_all, fake_health_all, fake_restart};

static void test_orch_calls_every_host(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_agent_client.XXXXXX";
    assert_non_null(mkdtemp(dir));
    orch_ctx c = {0};
    mrd_error err;
    assert_int_equal(topology_parse(TOPO, strlen(TOPO), "t.json", &c.topo, &err), MRD_OK);
    assert_int_equal(plan_build(c.topo, &c.plan, &err), MRD_OK);
    snprintf(c.secrets_dir, sizeof(c.secrets_dir), "%s", dir);

    /* no token yet: the call fails before asking anyone */
    agent_result dummy, *res = &dummy;
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(agent_heal_all(&c, &FAKE, &res, &err), MRD_ERR_NOT_FOUND);
    assert_null(res);
    assert_int_equal(seen.calls, 0);

    char path[MRD_PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/agent.token", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "s3cret\n", 7), 7);
    close(fd);

    assert_int_equal(agent_heal_all(&c, &FAKE, &res, &err), MRD_OK);
    assert_int_equal(seen.calls, 1);
    assert_string_equal(seen.token, "s3cret");
    assert_int_equal(seen.n, 2);
    assert_int_equal(seen.request_ms, AGENT_HEAL_TIMEOUT_MS);
    assert_string_equal(seen.targets[1].host, "a2");
    assert_string_equal(seen.targets[1].address, "127.0.1.2");
    assert_int_equal(seen.targets[1].port, 17555);
    assert_int_equal(res[0].http_status, 200);
    assert_int_equal(res[1].http_status, 201);
    agent_results_free(&res, 2);
    assert_null(res);
    agent_results_free(&res, 2);
    agent_results_free(NULL, 2);

    /* one restart: the path names the process, the token and the host */
    agent_result one;
    assert_int_equal(agent_restart_proc(&c, &FAKE, 1, 16379, &one, &err), MRD_OK);
    assert_string_equal(seen.path, "/v1/restart?port=16379");
    assert_string_equal(seen.token, "s3cret");
    assert_string_equal(seen.targets[0].address, "127.0.1.2");
    assert_int_equal(seen.targets[0].port, 17555);
    assert_int_equal(seen.request_ms, AGENT_RESTART_TIMEOUT_MS);
    assert_int_equal(one.http_status, 409);
    assert_string_equal(json_string_value(json_object_get(one.body, "error")),
                        "switch it over first");
    agent_result_clear(&one);
    assert_null(one.body);
    assert_int_equal(agent_restart_proc(&c, &FAKE, 0, 0, &one, &err), MRD_OK);
    assert_string_equal(seen.path, "/v1/restart?sentinel=1");
    agent_result_clear(&one);
    agent_result_clear(NULL);
    assert_int_equal(agent_restart_proc(&c, &FAKE, 2, 0, &one, &err), MRD_ERR_INVALID);
    assert_int_equal(agent_restart_proc(&c, &FAKE, 0, 70000, &one, &err), MRD_ERR_INVALID);
    static const agent_client_ops NO_RESTART = {"old", fake_heal_all, fake_health_all, NULL};
    assert_int_equal(agent_restart_proc(&c, &NO_RESTART, 0, 0, &one, &err), MRD_ERR_INVALID);

    /* a client that fails hands back no results */
    res = &dummy;
    assert_int_equal(agent_health_all(&c, &FAKE, &res, &err), MRD_ERR_NOMEM);
    assert_null(res);
    assert_int_equal(seen.request_ms, AGENT_HEALTH_TIMEOUT_MS);

    unlink(path);
    rmdir(dir);
    plan_free(&c.plan);
    topology_free(&c.topo);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_healed_and_ok),
        cmocka_unit_test(test_report_unreachable_and_refused),
        cmocka_unit_test(test_report_critical_outranks_unknown),
        cmocka_unit_test(test_report_not_a_report),
        cmocka_unit_test(test_report_odd_actions),
        cmocka_unit_test(test_curl_heal_all),
        cmocka_unit_test(test_curl_health_all),
        cmocka_unit_test(test_orch_calls_every_host),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
