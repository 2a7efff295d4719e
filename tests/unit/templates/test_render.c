/* test_render.c - template substitution and the embedded templates. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "render.h"

/* ==== HELPERS ========================================================== */

static char *render_ok(const char *tpl, const mrd_vars *v)
{
    char *out = (char *)"sentinel";
    mrd_error err;
    mrd_error_clear(&err);
    mrd_rc rc = tpl_render(tpl, strlen(tpl), "t.conf", v, &out, &err);
    if (rc != MRD_OK)
        fail_msg("render failed: %s", err.msg);
    assert_non_null(out);
    return out;
}

static void assert_renders(const char *tpl, const mrd_vars *v,
                           const char *expected)
{
    char *out = render_ok(tpl, v);
    assert_string_equal(out, expected);
    free(out);
}

/* Render TPL expecting RC; return the formatted "file:line:col: msg". */
static void render_fails(const char *tpl, const mrd_vars *v, mrd_rc rc,
                         char *formatted, size_t n, mrd_error *err)
{
    char *out = (char *)"sentinel";
    assert_int_equal(tpl_render(tpl, strlen(tpl), "t.conf", v, &out, err), rc);
    assert_null(out);
    assert_int_equal(err->code, rc);
    mrd_error_format(err, formatted, n);
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* ==== SUBSTITUTION ===================================================== */

static void test_substitution(void **state)
{
    (void)state;
    mrd_vars *v = vars_new();
    assert_non_null(v);
    assert_int_equal(vars_set(v, "port", "16379"), MRD_OK);
    assert_int_equal(vars_set(v, "bind", "127.0.1.1"), MRD_OK);

    assert_renders("port {{port}}\n", v, "port 16379\n");
    assert_renders("{{port}}", v, "16379");
    assert_renders("", v, "");
    assert_renders("no variables at all\n", v, "no variables at all\n");
    /* Single braces and stray closers are text. */
    assert_renders("{ a } {port} }} {x}{", v, "{ a } {port} }} {x}{");
    vars_free(&v);
    assert_null(v);
    vars_free(&v);
    vars_free(NULL);
}

static void test_repeated_and_adjacent(void **state)
{
    (void)state;
    mrd_vars *v = vars_new();
    assert_int_equal(vars_set(v, "a", "x"), MRD_OK);
    assert_int_equal(vars_set(v, "b", "yy"), MRD_OK);
    assert_int_equal(vars_set(v, "empty", ""), MRD_OK);
    assert_renders("{{a}}-{{a}}-{{a}}", v, "x-x-x");
    assert_renders("{{a}}{{b}}{{a}}", v, "xyyx");
    assert_renders("[{{empty}}]{{empty}}", v, "[]");
    assert_renders("bind {{b}} {{a}}\nport {{b}}\n", v, "bind yy x\nport yy\n");
    vars_free(&v);
}

static void test_missing_variable(void **state)
{
    (void)state;
    mrd_vars *v = vars_new();
    assert_int_equal(vars_set(v, "port", "16379"), MRD_OK);
    char msg[600];
    mrd_error err;

    render_fails("# header\nport {{port}}\n  bind {{foo}}\n", v, MRD_ERR_INVALID,
                 msg, sizeof(msg), &err);
    assert_string_equal(err.file, "t.conf");
    assert_int_equal(err.line, 3);
    assert_int_equal(err.column, 8);
    assert_string_equal(msg, "t.conf:3:8: template variable {{foo}} is not set");

    /* First column, first line; and a NULL map knows no variable. */
    render_fails("{{port}}", NULL, MRD_ERR_INVALID, msg, sizeof(msg), &err);
    assert_string_equal(msg, "t.conf:1:1: template variable {{port}} is not set");

    /* The error names the template given to tpl_render. */
    char *out = NULL;
    const char *tpl = "a\nb\nc {{x}}";
    assert_int_equal(tpl_render(tpl, strlen(tpl), "redis.conf", v, &out, &err),
                     MRD_ERR_INVALID);
    mrd_error_format(&err, msg, sizeof(msg));
    assert_string_equal(msg, "redis.conf:3:3: template variable {{x}} is not set");
    assert_null(out);

    /* NULL err is accepted. */
    assert_int_equal(tpl_render(tpl, strlen(tpl), "t", v, &out, NULL),
                     MRD_ERR_INVALID);
    vars_free(&v);
}

static void test_syntax_errors(void **state)
{
    (void)state;
    mrd_vars *v = vars_new();
    assert_int_equal(vars_set(v, "port", "1"), MRD_OK);
    char msg[600];
    mrd_error err;

    render_fails("x\nport {{port\nbind {{port}}\n", v, MRD_ERR_PARSE, msg,
                 sizeof(msg), &err);
    assert_int_equal(err.line, 2);
    assert_int_equal(err.column, 6);
    assert_string_equal(msg, "t.conf:2:6: unterminated {{: close it with }} "
                             "on the same line");

    render_fails("port {{port}", v, MRD_ERR_PARSE, msg, sizeof(msg), &err);
    assert_non_null(strstr(msg, "t.conf:1:6: unterminated {{"));
    render_fails("port {{", v, MRD_ERR_PARSE, msg, sizeof(msg), &err);
    assert_non_null(strstr(msg, "t.conf:1:6: unterminated {{"));
    vars_free(&v);
}

static void test_bad_names(void **state)
{
    (void)state;
    mrd_vars *v = vars_new();
    assert_int_equal(vars_set(v, "port", "1"), MRD_OK);
    char msg[600];
    mrd_error err;

    render_fails("a {{ port }}", v, MRD_ERR_PARSE, msg, sizeof(msg), &err);
    assert_string_equal(msg, "t.conf:1:3: bad template variable {{ port }}: "
                             "names use only a-z, 0-9 and _, with no spaces");
    render_fails("{{Port}}", v, MRD_ERR_PARSE, msg, sizeof(msg), &err);
    assert_non_null(strstr(msg, "bad template variable {{Port}}"));
    render_fails("{{}}", v, MRD_ERR_PARSE, msg, sizeof(msg), &err);
    assert_non_null(strstr(msg, "bad template variable {{}}"));
    render_fails("\n\n  {{a-b}}", v, MRD_ERR_PARSE, msg, sizeof(msg), &err);
    assert_non_null(strstr(msg, "t.conf:3:3: bad template variable {{a-b}}"));
    render_fails("{{{port}}}", v, MRD_ERR_PARSE, msg, sizeof(msg), &err);
    assert_non_null(strstr(msg, "bad template variable {{{port}}"));
    vars_free(&v);
}

/* ==== VARIABLES ======================================================== */

static void test_newlines(void **state)
{
    (void)state;
    mrd_vars *v = vars_new();
    assert_int_equal(vars_set(v, "admin_pass", "secret"), MRD_OK);
    assert_int_equal(vars_set(v, "admin_pass", "x\nuser evil on nopass +@all"),
                     MRD_ERR_INVALID);
    assert_int_equal(vars_set(v, "admin_pass", "x\r"), MRD_ERR_INVALID);
    assert_int_equal(vars_set(v, "admin_pass", "\n"), MRD_ERR_INVALID);
    assert_int_equal(vars_setf(v, "admin_pass", "%s\n", "x"), MRD_ERR_INVALID);
    /* A refused value leaves the old one in place. */
    assert_string_equal(vars_get(v, "admin_pass"), "secret");
    /* Only the suffix counts: "lines" alone or "_lines_x" are not blocks. */
    assert_int_equal(vars_set(v, "lines", "a\nb"), MRD_ERR_INVALID);
    assert_int_equal(vars_set(v, "known_lines_x", "a\nb"), MRD_ERR_INVALID);

    const char *block = "sentinel known-replica demo 127.0.1.2 16379\n"
                        "sentinel known-sentinel demo 127.0.2.1 26379 abc";
    assert_int_equal(vars_set(v, "known_lines", block), MRD_OK);
    assert_int_equal(vars_set(v, "_lines", "a\nb"), MRD_OK);
    assert_renders("before\n{{known_lines}}\nafter\n", v,
                   "before\nsentinel known-replica demo 127.0.1.2 16379\n"
                   "sentinel known-sentinel demo 127.0.2.1 26379 abc\nafter\n");
    assert_int_equal(vars_set(v, "known_lines", ""), MRD_OK);
    assert_renders("before\n{{known_lines}}\nafter\n", v, "before\n\nafter\n");
    vars_free(&v);
}

static void test_replace_and_get(void **state)
{
    (void)state;
    mrd_vars *v = vars_new();
    assert_null(vars_get(v, "port"));
    assert_null(vars_get(NULL, "port"));
    assert_int_equal(vars_set(v, "port", "1"), MRD_OK);
    assert_int_equal(vars_set(v, "port", "16379"), MRD_OK);
    assert_string_equal(vars_get(v, "port"), "16379");
    assert_renders("{{port}}", v, "16379");

    assert_int_equal(vars_set_int(v, "port", -42), MRD_OK);
    assert_string_equal(vars_get(v, "port"), "-42");
    assert_int_equal(vars_set_int(v, "big", LLONG_MAX), MRD_OK);
    assert_string_equal(vars_get(v, "big"), "9223372036854775807");
    assert_int_equal(vars_setf(v, "addr", "%s:%d", "127.0.1.1", 16379), MRD_OK);
    assert_string_equal(vars_get(v, "addr"), "127.0.1.1:16379");
    /* The map keeps its own copy. */
    char value[8];
    snprintf(value, sizeof(value), "abc");
    assert_int_equal(vars_set(v, "copy", value), MRD_OK);
    value[0] = 'X';
    assert_string_equal(vars_get(v, "copy"), "abc");

    assert_int_equal(vars_set(v, "Port", "1"), MRD_ERR_INVALID);
    assert_int_equal(vars_set(v, "", "1"), MRD_ERR_INVALID);
    assert_int_equal(vars_set(v, "a-b", "1"), MRD_ERR_INVALID);
    assert_int_equal(vars_set(v, "a b", "1"), MRD_ERR_INVALID);
    assert_int_equal(vars_set(v, NULL, "1"), MRD_ERR_INVALID);
    assert_int_equal(vars_set(v, "a", NULL), MRD_ERR_INVALID);
    assert_int_equal(vars_set(NULL, "a", "1"), MRD_ERR_INVALID);
    vars_free(&v);
}

static void test_many_variables(void **state)
{
    (void)state;
    mrd_vars *v = vars_new();
    char name[32];
    for (int i = 0; i < 500; i++) {
        snprintf(name, sizeof(name), "var_%d", i);
        assert_int_equal(vars_set_int(v, name, i * 7), MRD_OK);
    }
    for (int i = 0; i < 500; i++) {
        snprintf(name, sizeof(name), "var_%d", i);
        char expect[32];
        snprintf(expect, sizeof(expect), "%d", i * 7);
        assert_string_equal(vars_get(v, name), expect);
    }
    assert_renders("{{var_0}} {{var_499}} {{var_250}}", v, "0 3493 1750");

    /* A large template with a large value renders in one pass. */
    size_t n = 20000;
    char *big = malloc(n * 8 + 1);
    assert_non_null(big);
    big[0] = '\0';
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(big + len, "{{v}}\n", 6);
        len += 6;
    }
    big[len] = '\0';
    assert_int_equal(vars_set(v, "v", "0123456789"), MRD_OK);
    char *out = render_ok(big, v);
    assert_int_equal(strlen(out), n * 11);
    free(out);
    free(big);
    vars_free(&v);
}

/* ==== EMBEDDED TEMPLATES =============================================== */

static const char *const redis_vars[][2] = {
    { "host", "us-east-a1" },
    { "region", "us-east" },
    { "zone", "us-east-a" },
    { "bind", "127.0.1.2" },
    { "port", "16379" },
    /* TLS on: the node's port is its tls-port */
    { "plain_port", "0" },
    { "tls_port", "16379" },
    { "tls_cert_file", "/s/tls/hosts/us-east-a1.crt" },
    { "tls_key_file", "/s/tls/hosts/us-east-a1.key" },
    { "tls_ca_cert_file", "/s/tls/ca.crt" },
    { "tls_replication", "yes" },
    { "tls_cluster", "yes" },
    { "dir", "/state/127.0.1.2/redis" },
    { "pidfile", "/state/127.0.1.2/run/redis.pid" },
    { "logfile", "/state/127.0.1.2/log/redis.log" },
    { "replicaof_line", "replicaof 127.0.1.1 16379" },
    { "replica_priority", "100" },
    { "maxmemory", "256mb" },
    { "repl_backlog_size", "64mb" },
    { "io_threads", "4" },
    /* store.persistence "none" (the agent writes a choice as Redis does) */
    { "appendonly", "no" },
    { "min_replicas_to_write", "1" },
    { "min_replicas_max_lag", "5" },
    { "cluster_enabled", "no" },
    { "cluster_node_timeout", "5000" },
    { "cluster_port", "0" },
    { "cluster_replica_no_failover", "no" },
    { "admin_pass", "AP" },
    { "replication_pass", "RP" },
    { "sentinel_pass", "SP" },
    { "app_pass", "XP" },
};

static const char *const sentinel_vars[][2] = {
    { "host", "us-east-a1" },
    { "region", "us-east" },
    { "zone", "us-east-a" },
    { "bind", "127.0.1.1" },
    { "port", "26379" },
    /* TLS off */
    { "plain_port", "26379" },
    { "tls_port", "0" },
    { "tls_cert_file", "" },
    { "tls_key_file", "" },
    { "tls_ca_cert_file", "" },
    { "tls_replication", "no" },
    { "dir", "/state/127.0.1.1/sentinel" },
    { "pidfile", "/state/127.0.1.1/run/sentinel.pid" },
    { "logfile", "/state/127.0.1.1/log/sentinel.log" },
    { "master_name", "demo" },
    { "leader_address", "127.0.1.1" },
    { "leader_port", "16379" },
    { "quorum", "2" },
    { "down_after_milliseconds", "1000" },
    { "failover_timeout", "6000" },
    { "sentinel_myid", "0123456789abcdef0123456789abcdef01234567" },
    { "known_lines", "sentinel known-replica demo 127.0.1.2 16379\n"
                     "sentinel known-sentinel demo 127.0.2.1 26379 "
                     "1123456789abcdef0123456789abcdef01234567" },
    { "admin_pass", "AP" },
    { "sentinel_pass", "SP" },
    { "app_pass", "XP" },
};

#define NVARS(a) (sizeof(a) / sizeof((a)[0]))

/* A map of every variable in LIST except the one at SKIP (-1: none). */
static mrd_vars *vars_from(const char *const list[][2], size_t n, int skip)
{
    mrd_vars *v = vars_new();
    assert_non_null(v);
    for (size_t i = 0; i < n; i++)
        if ((int)i != skip)
            assert_int_equal(vars_set(v, list[i][0], list[i][1]), MRD_OK);
    return v;
}

static char *render_builtin_ok(const char *name, const mrd_vars *v)
{
    char *out = NULL;
    mrd_error err;
    mrd_error_clear(&err);
    if (tpl_render_builtin(name, v, &out, &err) != MRD_OK)
        fail_msg("%s: %s", name, err.msg);
    assert_non_null(out);
    assert_null(strstr(out, "{{"));
    assert_null(strstr(out, "}}"));
    return out;
}

/* Every variable the agent sets is used, and none other is needed: drop
 * any one and rendering names it. */
static void assert_uses_exactly(const char *tpl, const char *const list[][2],
                                size_t n)
{
    for (size_t i = 0; i < n; i++) {
        mrd_vars *v = vars_from(list, n, (int)i);
        char *out = NULL;
        mrd_error err;
        assert_int_equal(tpl_render_builtin(tpl, v, &out, &err), MRD_ERR_INVALID);
        assert_null(out);
        assert_string_equal(err.file, tpl);
        char expect[128];
        snprintf(expect, sizeof(expect), "template variable {{%s}} is not set",
                 list[i][0]);
        assert_string_equal(err.msg, expect);
        vars_free(&v);
    }
}

static void test_builtin_lookup(void **state)
{
    (void)state;
    size_t len = 0;
    const char *text = tpl_builtin("redis.conf", &len);
    assert_non_null(text);
    assert_true(len > 100);
    assert_int_equal(strlen(text), len);
    assert_non_null(tpl_builtin("sentinel.conf", NULL));
    assert_null(tpl_builtin("nope.conf", &len));
    assert_null(tpl_builtin("redis.conf.tpl", &len));
    assert_null(tpl_builtin(NULL, &len));

    char *out = (char *)"sentinel";
    mrd_error err;
    assert_int_equal(tpl_render_builtin("nope.conf", NULL, &out, &err),
                     MRD_ERR_NOT_FOUND);
    assert_null(out);
    assert_non_null(strstr(err.msg, "nope.conf"));
}

static void test_redis_conf(void **state)
{
    (void)state;
    mrd_vars *v = vars_from(redis_vars, NVARS(redis_vars), -1);
    char *out = render_builtin_ok("redis.conf", v);

    const char *lines[] = {
        "# redis-server 7.0 store node on host us-east-a1 (region us-east, "
        "zone us-east-a)\n",
        "generated by meridian; do not edit",
        "\nbind 127.0.1.2\n",
        "\nport 0\n",
        "\ntls-port 16379\n",
        "\ntls-cert-file \"/s/tls/hosts/us-east-a1.crt\"\n",
        "\ntls-key-file \"/s/tls/hosts/us-east-a1.key\"\n",
        "\ntls-ca-cert-file \"/s/tls/ca.crt\"\n",
        "\ntls-auth-clients no\n",
        "\ntls-replication yes\n",
        "\ntls-cluster yes\n",
        "\nprotected-mode yes\n",
        "\ndaemonize no\n",
        "\nsupervised no\n",
        "\npidfile /state/127.0.1.2/run/redis.pid\n",
        "\nlogfile /state/127.0.1.2/log/redis.log\n",
        "\ndir /state/127.0.1.2/redis\n",
        "\ndbfilename dump.rdb\n",
        "\nsave \"\"\n",
        "\nappendonly no\n",
        "\nappendfsync everysec\n",
        "\nappenddirname appendonlydir\n",
        "\nbind-source-addr 127.0.1.2\n",
        "\nreplica-announce-ip 127.0.1.2\n",
        "\nreplica-announce-port 16379\n",
        "\nreplicaof 127.0.1.1 16379\n",
        "\nmasteruser replication\n",
        "\nmasterauth RP\n",
        "\nreplica-priority 100\n",
        "\nreplica-read-only yes\n",
        "\nrepl-diskless-sync yes\n",
        "\nrepl-diskless-sync-delay 0\n",
        "\nrepl-backlog-size 64mb\n",
        "\nrepl-backlog-ttl 0\n",
        "\nmin-replicas-to-write 1\n",
        "\nmin-replicas-max-lag 5\n",
        "\nio-threads 4\n",
        "\nmaxmemory 256mb\n",
        "\nmaxmemory-policy noeviction\n",
        "\ncluster-enabled no\n",
        "\ncluster-config-file nodes.conf\n",
        "\ncluster-node-timeout 5000\n",
        "\ncluster-port 0\n",
        "\ncluster-announce-ip 127.0.1.2\n",
        "\ncluster-announce-port 0\n",
        "\ncluster-announce-tls-port 16379\n",
        "\ncluster-announce-bus-port 0\n",
        "\ncluster-allow-replica-migration no\n",
        "\ncluster-replica-validity-factor 0\n",
        "\ncluster-replica-no-failover no\n",
        "\ncluster-require-full-coverage no\n",
        "\nuser default off\n",
        "\nuser admin on >AP ~* &* +@all\n",
        "\nuser replication on >RP -@all +psync +sync +replconf +ping\n",
        "\nuser sentinel on >SP allchannels -@all +multi +slaveof +ping +exec "
        "+subscribe +config|rewrite +role +publish +info +client|setname "
        "+client|kill +script|kill\n",
        "\nuser app on >XP ~* &* +@all -@admin -@dangerous +info +role\n",
    };
    for (size_t i = 0; i < NVARS(lines); i++)
        if (!strstr(out, lines[i]))
            fail_msg("redis.conf lacks: %s", lines[i]);
    assert_int_equal(out[strlen(out) - 1], '\n');
    free(out);

    /* The leader's variant. */
    assert_int_equal(vars_set(v, "replicaof_line",
                              "# this node starts as the leader"), MRD_OK);
    out = render_builtin_ok("redis.conf", v);
    assert_null(strstr(out, "\nreplicaof "));
    assert_non_null(strstr(out, "\n# this node starts as the leader\n"));
    free(out);

    /* store.persistence "aof": the AOF on, fsynced once a second, in the
     * folder the agent moves aside by name; still no RDB saves */
    assert_int_equal(vars_set(v, "appendonly", "yes"), MRD_OK);
    out = render_builtin_ok("redis.conf", v);
    assert_non_null(strstr(out, "\nappendonly yes\n"));
    assert_null(strstr(out, "\nappendonly no\n"));
    assert_non_null(strstr(out, "\nappendfsync everysec\n"));
    assert_non_null(strstr(out, "\nappenddirname appendonlydir\n"));
    assert_non_null(strstr(out, "\nsave \"\"\n"));
    free(out);
    vars_free(&v);

    assert_uses_exactly("redis.conf", redis_vars, NVARS(redis_vars));
}

static void test_sentinel_conf(void **state)
{
    (void)state;
    mrd_vars *v = vars_from(sentinel_vars, NVARS(sentinel_vars), -1);
    char *out = render_builtin_ok("sentinel.conf", v);

    const char *lines[] = {
        "# redis-sentinel 7.0 on host us-east-a1 (region us-east, zone "
        "us-east-a)\n",
        "generated by meridian; do not edit",
        "\nbind 127.0.1.1\n",
        "\nport 26379\n",
        "\ntls-port 0\n",
        "\ntls-cert-file \"\"\n",
        "\ntls-replication no\n",
        "\ndaemonize no\n",
        "\npidfile /state/127.0.1.1/run/sentinel.pid\n",
        "\nlogfile /state/127.0.1.1/log/sentinel.log\n",
        "\ndir /state/127.0.1.1/sentinel\n",
        "\nbind-source-addr 127.0.1.1\n",
        "\nsentinel announce-ip 127.0.1.1\n",
        "\nsentinel announce-port 26379\n",
        "\nsentinel resolve-hostnames no\n",
        "\nsentinel deny-scripts-reconfig yes\n",
        "\nsentinel myid 0123456789abcdef0123456789abcdef01234567\n",
        "\nsentinel monitor demo 127.0.1.1 16379 2\n",
        "\nsentinel down-after-milliseconds demo 1000\n",
        "\nsentinel failover-timeout demo 6000\n",
        "\nsentinel parallel-syncs demo 1\n",
        "\nsentinel auth-user demo sentinel\n",
        "\nsentinel auth-pass demo SP\n",
        "\nsentinel sentinel-user sentinel\n",
        "\nsentinel sentinel-pass SP\n",
        "\nsentinel known-replica demo 127.0.1.2 16379\n"
        "sentinel known-sentinel demo 127.0.2.1 26379 "
        "1123456789abcdef0123456789abcdef01234567\n",
        "\nuser default off\n",
        "\nuser admin on >AP allchannels +@all\n",
        "\nuser sentinel on >SP allchannels +@all\n",
        "\nuser app on >XP allchannels -@all +auth +hello +ping "
        "+client|setname +subscribe +psubscribe +unsubscribe +punsubscribe "
        "+sentinel|get-master-addr-by-name +sentinel|master +sentinel|masters "
        "+sentinel|replicas +sentinel|slaves +sentinel|sentinels +role\n",
    };
    for (size_t i = 0; i < NVARS(lines); i++)
        if (!strstr(out, lines[i]))
            fail_msg("sentinel.conf lacks: %s", lines[i]);

    /* Sentinel rejects lines naming a master it does not monitor yet. */
    const char *monitor = strstr(out, "\nsentinel monitor ");
    const char *after[] = { "\nsentinel down-after-milliseconds ",
                            "\nsentinel failover-timeout ",
                            "\nsentinel parallel-syncs ",
                            "\nsentinel auth-user ", "\nsentinel auth-pass ",
                            "\nsentinel known-replica ",
                            "\nsentinel known-sentinel " };
    assert_non_null(monitor);
    for (size_t i = 0; i < NVARS(after); i++) {
        const char *p = strstr(out, after[i]);
        assert_non_null(p);
        assert_true(p > monitor);
    }
    /* ...and nothing before the monitor line names the master. */
    assert_true(strstr(out, " demo") == monitor + strlen("\nsentinel monitor"));
    size_t full_lines = count_lines(out);
    free(out);

    /* No known peers yet: the block is empty and nothing else changes. */
    assert_int_equal(vars_set(v, "known_lines", ""), MRD_OK);
    out = render_builtin_ok("sentinel.conf", v);
    assert_null(strstr(out, "\nsentinel known-"));
    assert_int_equal(count_lines(out), full_lines - 1);
    free(out);
    vars_free(&v);

    assert_uses_exactly("sentinel.conf", sentinel_vars, NVARS(sentinel_vars));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_substitution),
        cmocka_unit_test(test_repeated_and_adjacent),
        cmocka_unit_test(test_missing_variable),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_bad_names),
        cmocka_unit_test(test_newlines),
        cmocka_unit_test(test_replace_and_get),
        cmocka_unit_test(test_many_variables),
        cmocka_unit_test(test_builtin_lookup),
        cmocka_unit_test(test_redis_conf),
        cmocka_unit_test(test_sentinel_conf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
