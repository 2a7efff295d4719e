/* test_topology.c - unit tests for regions/topology.c and regions/jsonpos.c.
 *
 *   test_topology            the unit tests: shipped and valid topologies,
 *                            topology_parse_size(), jsonpos
 *   test_topology CASE_DIR   one invalid fixture: parse CASE_DIR/input.json
 *                            (named "input.json" in messages) and compare
 *                            the formatted error with CASE_DIR/expected-error
 *
 * MRD_SOURCE_DIR (a compile definition) is the source tree's root.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonpos.h"
#include "topology.h"

#ifndef MRD_SOURCE_DIR
#error "compile with -DMRD_SOURCE_DIR=\"/path/to/source\""
#endif

#define VALID_DIR MRD_SOURCE_DIR "/tests/fixtures/topology/valid"
#define INVALID_DIR MRD_SOURCE_DIR "/tests/fixtures/topology/invalid"

/* ==== HELPERS =========================================================== */

/* Whole file, NUL-terminated (the NUL is not counted in *len); NULL when
 * unreadable. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0)
            break;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        if (len)
            *len = n;
    }
    return buf;
}

static mrd_topology *load_ok(const char *path)
{
    mrd_topology *t = NULL;
    mrd_error err;
    mrd_rc rc = topology_load(path, &t, &err);
    if (rc != MRD_OK) {
        char msg[1024];
        mrd_error_format(&err, msg, sizeof(msg));
        fail_msg("%s did not parse: %s", path, msg);
    }
    assert_non_null(t);
    return t;
}

/* Parse a string expected to fail; returns the formatted error. */
static const char *parse_fail(const char *text, mrd_rc want, char *buf,
                              size_t n)
{
    mrd_topology *t = (mrd_topology *)0x1;
    mrd_error err;
    mrd_rc rc = topology_parse(text, strlen(text), "t.json", &t, &err);
    assert_int_equal(rc, want);
    assert_int_equal(err.code, want);
    assert_null(t);
    mrd_error_format(&err, buf, n);
    return buf;
}

/* Every index range of T must be consistent. */
static void check_indexes(const mrd_topology *t)
{
    int z = 0, h = 0;
    for (int r = 0; r < t->nregions; r++) {
        assert_int_equal(t->regions[r].first_zone, z);
        assert_true(t->regions[r].nzones >= 1);
        for (int k = 0; k < t->regions[r].nzones; k++, z++) {
            assert_int_equal(t->zones[z].region, r);
            assert_int_equal(t->zones[z].first_host, h);
            assert_true(t->zones[z].nhosts >= 1);
            for (int j = 0; j < t->zones[z].nhosts; j++, h++) {
                assert_int_equal(t->hosts[h].region, r);
                assert_int_equal(t->hosts[h].zone, z);
            }
        }
    }
    assert_int_equal(z, t->nzones);
    assert_int_equal(h, t->nhosts);
}

/* ==== SHIPPED TOPOLOGIES ================================================ */

static void test_local_json(void **state)
{
    (void)state;
    const char *path = MRD_SOURCE_DIR "/regions/local.json";
    mrd_topology *t = load_ok(path);
    check_indexes(t);

    assert_string_equal(t->path, path);
    assert_string_equal(t->name, "local");
    assert_int_equal(t->mode, MRD_MODE_SENTINEL);
    assert_int_equal(t->survive, MRD_SURVIVE_REGION);
    assert_int_equal(t->transport.kind, MRD_TRANSPORT_LOCAL);

    assert_int_equal(t->settings.store.port, 16379);
    assert_string_equal(t->settings.store.leader_region, "us-east");
    assert_string_equal(t->settings.store.maxmemory, "256mb");
    assert_string_equal(t->settings.store.repl_backlog, "64mb");
    assert_true(mrd_parse_size(t->settings.store.repl_backlog) == 64LL * 1024 * 1024);

    assert_int_equal(t->settings.sentinel.count, 3);
    assert_int_equal(t->settings.sentinel.port, 26379);
    assert_int_equal(t->settings.sentinel.quorum, 0);
    assert_int_equal(t->settings.sentinel.down_after_ms, 1000);
    assert_int_equal(t->settings.sentinel.failover_timeout_ms, 6000);

    assert_int_equal(t->settings.consistency.min_replicas_to_write, 1);
    assert_int_equal(t->settings.consistency.min_replicas_max_lag_s, 5);
    assert_int_equal(t->settings.consistency.wait_replicas, 1);

    assert_int_equal(t->settings.agent.port, 17379);
    assert_int_equal(t->settings.agent.interval_ms, 1000);
    assert_false(t->settings.agent.metrics_open);
    assert_int_equal(t->nwebhooks, 0);

    assert_int_equal(t->nregions, 3);
    assert_int_equal(t->nzones, 6);
    assert_int_equal(t->nhosts, 6);
    static const char *const regions[] = {"us-east", "eu-west", "ap-south"};
    static const char *const zones[] = {"us-east-a",  "us-east-b",
                                        "eu-west-a",  "eu-west-b",
                                        "ap-south-a", "ap-south-b"};
    static const char *const hosts[] = {"use-a1", "use-b1", "euw-a1",
                                        "euw-b1", "aps-a1", "aps-b1"};
    for (int i = 0; i < 3; i++) {
        assert_string_equal(t->regions[i].name, regions[i]);
        assert_int_equal(t->regions[i].first_zone, 2 * i);
        assert_int_equal(t->regions[i].nzones, 2);
    }
    for (int i = 0; i < 6; i++) {
        char addr[32];
        snprintf(addr, sizeof(addr), "127.0.%d.%d", i / 2 + 1, i % 2 + 1);
        assert_string_equal(t->zones[i].name, zones[i]);
        assert_string_equal(t->hosts[i].name, hosts[i]);
        assert_string_equal(t->hosts[i].address, addr);
        assert_int_equal(t->hosts[i].zone, i);
        assert_int_equal(t->hosts[i].region, i / 2);
    }
    assert_int_equal(topology_find_region(t, "eu-west"), 1);
    assert_int_equal(topology_find_region(t, "ap-south"), 2);
    assert_int_equal(topology_find_region(t, "us-west"), -1);
    assert_int_equal(topology_find_host(t, "euw-b1"), 3);
    assert_int_equal(topology_find_host(t, "nope"), -1);
    assert_int_equal(topology_find_host(NULL, "euw-b1"), -1);
    assert_int_equal(topology_find_region(t, NULL), -1);
    topology_free(&t);
    assert_null(t);
}

static void test_example_ssh_json(void **state)
{
    (void)state;
    mrd_topology *t = load_ok(MRD_SOURCE_DIR "/regions/example-ssh.json");
    check_indexes(t);
    assert_int_equal(t->transport.kind, MRD_TRANSPORT_SSH);
    assert_string_equal(t->transport.user, "meridian");
    assert_string_equal(t->transport.identity, "~/.ssh/id_ed25519");
    assert_string_equal(t->transport.known_hosts, "~/.ssh/known_hosts");
    assert_int_equal(t->transport.port, 22);
    assert_int_equal(t->survive, MRD_SURVIVE_REGION);
    assert_int_equal(t->nregions, 3);
    assert_int_equal(t->nzones, 6);
    assert_int_equal(t->nhosts, 6);
    assert_string_equal(t->settings.store.leader_region, "us-east");
    for (int i = 0; i < t->nhosts; i++) {
        const char *a = t->hosts[i].address;
        assert_true(strncmp(a, "192.0.2.", 8) == 0 ||
                    strncmp(a, "198.51.100.", 11) == 0 ||
                    strncmp(a, "203.0.113.", 10) == 0);
    }
    assert_int_equal(t->nwebhooks, 1);
    assert_true(strncmp(t->webhooks[0], "https://", 8) == 0);
    topology_free(&t);
}

/* ==== VALID FIXTURES ==================================================== */

static void test_valid_minimal_defaults(void **state)
{
    (void)state;
    mrd_topology *t = load_ok(VALID_DIR "/minimal.json");
    check_indexes(t);
    assert_string_equal(t->name, "minimal");
    assert_int_equal(t->mode, MRD_MODE_SENTINEL);
    assert_int_equal(t->survive, MRD_SURVIVE_REGION);
    assert_int_equal(t->transport.kind, MRD_TRANSPORT_LOCAL);
    assert_string_equal(t->transport.user, "meridian");
    assert_string_equal(t->transport.identity, "~/.ssh/id_ed25519");
    assert_string_equal(t->transport.known_hosts, "~/.ssh/known_hosts");
    assert_int_equal(t->transport.port, 22);
    assert_int_equal(t->settings.store.port, 16379);
    assert_string_equal(t->settings.store.leader_region, "r1");
    assert_string_equal(t->settings.store.maxmemory, "256mb");
    assert_string_equal(t->settings.store.repl_backlog, "64mb");
    assert_true(mrd_parse_size(t->settings.store.repl_backlog) == 64LL * 1024 * 1024);
    assert_int_equal(t->settings.sentinel.count, 3);
    assert_int_equal(t->settings.sentinel.port, 26379);
    assert_int_equal(t->settings.sentinel.quorum, 0);
    assert_int_equal(t->settings.sentinel.down_after_ms, 5000);
    assert_int_equal(t->settings.sentinel.failover_timeout_ms, 60000);
    assert_int_equal(t->settings.consistency.min_replicas_to_write, 0);
    assert_int_equal(t->settings.consistency.min_replicas_max_lag_s, 10);
    assert_int_equal(t->settings.consistency.wait_replicas, 1);
    assert_int_equal(t->settings.agent.port, 17379);
    assert_int_equal(t->settings.agent.interval_ms, 5000);
    assert_false(t->settings.agent.metrics_open);
    assert_int_equal(t->settings.cluster.shards, 3);
    assert_int_equal(t->settings.cluster.replicas_per_shard, 1);
    assert_int_equal(t->nwebhooks, 0);
    assert_null(t->webhooks);
    assert_int_equal(t->nregions, 3);
    assert_int_equal(t->nzones, 3);
    assert_int_equal(t->nhosts, 3);
    topology_free(&t);
}

static void test_valid_full(void **state)
{
    (void)state;
    mrd_topology *t = load_ok(VALID_DIR "/full.json");
    check_indexes(t);
    assert_string_equal(t->name, "full.Topology_1");
    assert_int_equal(t->survive, MRD_SURVIVE_ZONE);
    assert_int_equal(t->transport.kind, MRD_TRANSPORT_SSH);
    assert_string_equal(t->transport.user, "ops");
    assert_string_equal(t->transport.identity, "/etc/meridian/id_rsa");
    assert_string_equal(t->transport.known_hosts, "/etc/meridian/known_hosts");
    assert_int_equal(t->transport.port, 2222);
    assert_int_equal(t->settings.store.port, 7000);
    assert_string_equal(t->settings.store.leader_region, "west");
    assert_string_equal(t->settings.store.maxmemory, "1GB");
    assert_string_equal(t->settings.store.repl_backlog, "100m");
    assert_true(mrd_parse_size(t->settings.store.repl_backlog) == 100LL * 1000 * 1000);
    assert_int_equal(t->settings.sentinel.count, 4);
    assert_int_equal(t->settings.sentinel.port, 7001);
    assert_int_equal(t->settings.sentinel.quorum, 3);
    assert_int_equal(t->settings.sentinel.down_after_ms, 100);
    assert_int_equal(t->settings.sentinel.failover_timeout_ms, 1000);
    assert_int_equal(t->settings.consistency.min_replicas_to_write, 3);
    assert_int_equal(t->settings.consistency.min_replicas_max_lag_s, 1);
    assert_int_equal(t->settings.consistency.wait_replicas, 3);
    assert_int_equal(t->settings.agent.port, 7002);
    assert_int_equal(t->settings.agent.interval_ms, 100);
    assert_true(t->settings.agent.metrics_open);
    assert_int_equal(t->settings.cluster.shards, 5);
    assert_int_equal(t->settings.cluster.replicas_per_shard, 2);
    assert_int_equal(t->nwebhooks, 2);
    assert_string_equal(t->webhooks[0], "http://10.0.0.9:8080/hook");
    assert_string_equal(t->webhooks[1], "https://hooks.example.com/x?y=1");

    /* uneven layout: west has 2 zones (2 + 1 hosts), east 1 zone */
    assert_int_equal(t->nregions, 2);
    assert_int_equal(t->nzones, 3);
    assert_int_equal(t->nhosts, 4);
    assert_int_equal(t->regions[0].nzones, 2);
    assert_int_equal(t->regions[1].first_zone, 2);
    assert_int_equal(t->zones[0].nhosts, 2);
    assert_int_equal(t->zones[1].first_host, 2);
    assert_int_equal(t->zones[2].first_host, 3);
    assert_string_equal(t->hosts[3].name, "e1");
    assert_int_equal(t->hosts[3].region, 1);
    assert_int_equal(t->hosts[3].zone, 2);
    topology_free(&t);
}

static void test_valid_cluster(void **state)
{
    (void)state;
    mrd_topology *t = load_ok(VALID_DIR "/cluster.json");
    check_indexes(t);
    assert_int_equal(t->mode, MRD_MODE_CLUSTER);
    assert_int_equal(t->settings.cluster.shards, 3);
    assert_int_equal(t->settings.cluster.replicas_per_shard, 1);
    assert_string_equal(t->settings.store.maxmemory, "0"); /* written as integer 0 */
    /* no store.leader_region: it means nothing in cluster mode */
    assert_string_equal(t->settings.store.leader_region, "");
    assert_int_equal(t->nhosts, 6);
    assert_int_equal(t->zones[1].nhosts, 2);
    topology_free(&t);
}

static void test_valid_single_host(void **state)
{
    (void)state;
    mrd_topology *t = load_ok(VALID_DIR "/single-host.json");
    check_indexes(t);
    assert_int_equal(t->survive, MRD_SURVIVE_NONE);
    assert_int_equal(t->settings.sentinel.count, 1);
    assert_int_equal(t->settings.sentinel.quorum, 1);
    assert_int_equal(t->settings.consistency.wait_replicas, 0);
    assert_int_equal(t->nhosts, 1);
    assert_string_equal(t->hosts[0].address, "127.0.0.1");
    topology_free(&t);
}

static void test_valid_comments(void **state)
{
    (void)state;
    mrd_topology *t = load_ok(VALID_DIR "/comments.json");
    check_indexes(t);
    assert_string_equal(t->name, "commented");
    assert_int_equal(t->settings.sentinel.count, 2);
    assert_int_equal(t->nhosts, 2);
    /* the key was written "\u0061ddress" */
    assert_string_equal(t->hosts[1].address, "127.0.2.1");
    topology_free(&t);
}

static void test_valid_spares(void **state)
{
    (void)state;
    mrd_topology *t = load_ok(VALID_DIR "/spares.json");
    check_indexes(t);
    assert_int_equal(t->nhosts, 8);
    assert_int_equal(topology_placeable_hosts(t), 6);
    const char *spares[] = {"use-b9", "aps-b9"};
    for (int i = 0; i < t->nhosts; i++) {
        bool want = strcmp(t->hosts[i].name, spares[0]) == 0 ||
                    strcmp(t->hosts[i].name, spares[1]) == 0;
        assert_int_equal(t->hosts[i].spare, want); /* "spare": false as absent */
    }
    topology_free(&t);
    /* the shipped topologies have no spare */
    t = load_ok(MRD_SOURCE_DIR "/regions/local.json");
    assert_int_equal(topology_placeable_hosts(t), t->nhosts);
    topology_free(&t);
}

/* Every file in valid/ parses, including ones added without a test. */
static void test_valid_dir_all_parse(void **state)
{
    (void)state;
    DIR *d = opendir(VALID_DIR);
    assert_non_null(d);
    int seen = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".json") != 0)
            continue;
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", VALID_DIR, e->d_name);
        mrd_topology *t = load_ok(path);
        check_indexes(t);
        topology_free(&t);
        seen++;
    }
    closedir(d);
    assert_true(seen >= 5);
}

/* ==== PARSER EDGES ====================================================== */

static void test_parse_not_nul_terminated(void **state)
{
    (void)state;
    size_t len;
    char *text = slurp(VALID_DIR "/minimal.json", &len);
    assert_non_null(text);
    /* garbage right after LEN must not be read */
    char *copy = malloc(len + 8);
    assert_non_null(copy);
    memcpy(copy, text, len);
    memcpy(copy + len, "garbage!", 8);
    mrd_topology *t = NULL;
    mrd_error err;
    assert_int_equal(topology_parse(copy, len, "m.json", &t, &err), MRD_OK);
    assert_string_equal(t->path, "m.json");
    topology_free(&t);

    /* and an error positioned at the very end stays inside LEN */
    char buf[1024];
    mrd_rc rc = topology_parse(copy, len - 3, "m.json", &t, &err);
    assert_int_equal(rc, MRD_ERR_PARSE);
    mrd_error_format(&err, buf, sizeof(buf));
    assert_non_null(strstr(buf, "invalid JSON"));
    free(copy);
    free(text);
}

static void test_parse_messages(void **state)
{
    (void)state;
    char buf[1024];
    /* errors without an mrd_error still return the code */
    mrd_topology *t = NULL;
    assert_int_equal(topology_parse("{", 1, "x", &t, NULL), MRD_ERR_PARSE);
    assert_null(t);

    assert_string_equal(
        parse_fail("{\"name\":\"a\",\"regions\":[],\"store\":{}}",
                   MRD_ERR_INVALID, buf, sizeof(buf)),
        "t.json:1:23: regions is empty: list at least one region");
    assert_string_equal(
        parse_fail("{\n\"name\": \"a\",\n\"nmae\": 1}", MRD_ERR_INVALID, buf,
                   sizeof(buf)),
        "t.json:3:1: unknown key \"nmae\" at the top level: expected one of "
        "name, mode, survive, transport, store, sentinel, consistency, agent, "
        "notify, cluster, tls, backup, regions; did you mean \"name\"?");
    /* far from every known key: no suggestion */
    parse_fail("{\"name\": \"a\", \"zzzzzz\": 1}", MRD_ERR_INVALID, buf,
               sizeof(buf));
    assert_null(strstr(buf, "did you mean"));
    /* UTF-8 counts one column per character, as jansson does */
    assert_string_equal(
        parse_fail("{\"name\": \"\xc3\xa9t\xc3\xa9\", \"x\": 1}",
                   MRD_ERR_INVALID, buf, sizeof(buf)),
        "t.json:1:17: unknown key \"x\" at the top level: expected one of "
        "name, mode, survive, transport, store, sentinel, consistency, agent, "
        "notify, cluster, tls, backup, regions");
    parse_fail("{\"name\": \"\xc3\xa9t\xc3\xa9\"}", MRD_ERR_INVALID, buf,
               sizeof(buf));
    assert_non_null(strstr(buf, "t.json:1:10: name \"\xc3\xa9t\xc3\xa9\" is "
                                "not a valid topology name"));
    /* a 64-character name is one too long */
    char doc[512];
    snprintf(doc, sizeof(doc), "{\"name\": \"%064d\"}", 0);
    parse_fail(doc, MRD_ERR_INVALID, buf, sizeof(buf));
    assert_non_null(strstr(buf, "is not a valid topology name"));
    snprintf(doc, sizeof(doc), "{\"name\": \"%063d\"}", 0);
    parse_fail(doc, MRD_ERR_INVALID, buf, sizeof(buf));
    assert_non_null(strstr(buf, "missing key \"regions\""));
}

/* Names become parts of paths (STATE/hosts/HOST, .../meridian/TOPOLOGY)
 * and words of command lines: "." and ".." and a leading '-' are refused,
 * names that merely contain dots or dashes are not.  The fixtures
 * invalid/{host,zone,region,topology}-name-* check each kind in place. */
static void test_names_as_path_parts(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        const char *why; /* NULL: accepted */
    } cases[] = {
        {".", "\".\" and \"..\" are not allowed"},
        {"..", "\".\" and \"..\" are not allowed"},
        {"-", "it must not start with '-'"},
        {"--", "it must not start with '-'"},
        {"-rf", "it must not start with '-'"},
        {"...", NULL},
        {".hidden", NULL},
        {"a.", NULL},
        {"a..b", NULL},
        {"a-", NULL},
        {"a--b", NULL},
        {"_", NULL},
        {"0", NULL},
    };
    char doc[256], buf[1024], want[128];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(doc, sizeof(doc), "{\"name\": \"%s\"}", cases[i].name);
        parse_fail(doc, MRD_ERR_INVALID, buf, sizeof(buf));
        if (cases[i].why) {
            snprintf(want, sizeof(want), "t.json:1:10: name \"%s\" is not a valid topology name: %s",
                     cases[i].name, cases[i].why);
            if (strncmp(buf, want, strlen(want)) != 0)
                fail_msg("name \"%s\"\n  got:  %s\n  want: %s...", cases[i].name, buf, want);
        } else if (!strstr(buf, "missing key \"regions\"")) {
            fail_msg("name \"%s\" should be accepted, got: %s", cases[i].name, buf);
        }
    }
}

static void test_load_errors(void **state)
{
    (void)state;
    mrd_topology *t = (mrd_topology *)0x1;
    mrd_error err;
    char buf[1024];
    mrd_rc rc = topology_load("/nonexistent/meridian/topology.json", &t, &err);
    assert_int_equal(rc, MRD_ERR_IO);
    assert_null(t);
    mrd_error_format(&err, buf, sizeof(buf));
    assert_string_equal(buf, "/nonexistent/meridian/topology.json: cannot "
                             "open the topology file: No such file or "
                             "directory");
    rc = topology_load(MRD_SOURCE_DIR "/regions", &t, &err);
    assert_int_equal(rc, MRD_ERR_IO);
    assert_non_null(strstr(err.msg, "Is a directory"));

    /* a fixture loads with its own path in the message */
    rc = topology_load(INVALID_DIR "/bad-port/input.json", &t, &err);
    assert_int_equal(rc, MRD_ERR_INVALID);
    assert_string_equal(err.file, INVALID_DIR "/bad-port/input.json");
    assert_int_equal(err.line, 3);
}

static void test_free_and_names(void **state)
{
    (void)state;
    mrd_topology *t = NULL;
    topology_free(NULL);
    topology_free(&t);
    assert_string_equal(topology_survive_name(MRD_SURVIVE_NONE), "none");
    assert_string_equal(topology_survive_name(MRD_SURVIVE_ZONE), "zone");
    assert_string_equal(topology_survive_name(MRD_SURVIVE_REGION), "region");
}

/* ==== SIZES ============================================================= */

static void test_parse_size(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        long long want;
    } cases[] = {
        {"0", 0},
        {"512", 512},
        {"512b", 512},
        {"1k", 1000},
        {"1kb", 1024},
        {"64KB", 65536},
        {"16kb", 16384},
        {"2m", 2000000},
        {"64mb", 67108864},
        {"64Mb", 67108864},
        {"1g", 1000000000},
        {"1gb", 1073741824},
        {"3GB", 3221225472LL},
        {"9223372036854775807", 9223372036854775807LL},
        {"", -1},
        {"mb", -1},
        {"-1", -1},
        {"+1", -1},
        {" 1", -1},
        {"1 ", -1},
        {"1 mb", -1},
        {"1.5gb", -1},
        {"1tb", -1},
        {"1kbb", -1},
        {"0x10", -1},
        {"9223372036854775808", -1},
        {"9223372036854775807kb", -1},
        {"8589934592gb", -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        long long got = topology_parse_size(cases[i].in);
        if (got != cases[i].want)
            fail_msg("topology_parse_size(\"%s\") = %lld, want %lld",
                     cases[i].in, got, cases[i].want);
    }
    assert_true(topology_parse_size(NULL) == -1);
}

/* ==== JSONPOS =========================================================== */

static const char jdoc[] =
    "{\n"
    "  \"a\": { \"b\": [10, {\"c\": \"x]}\\\"{\"}, [1, 2], 30] },\n"
    "  \"s\\\"q\": 1, \"\\u0070ort\": 2,\n"
    "  \"\xc3\xa9\xc3\xa9\": { \"deep\": [[[]], {\"k\": null}] },\n"
    "  \"last\"  :   true\n"
    "}\n";

static void expect_pos(const char *path, jsonpos_what what, int line, int col)
{
    jsonpos p;
    if (jsonpos_locate_path(jdoc, sizeof(jdoc) - 1, path, what, &p) != 0)
        fail_msg("%s not found", path);
    if (p.line != line || p.column != col)
        fail_msg("%s: got %d:%d, want %d:%d", path, p.line, p.column, line,
                 col);
    jsonpos q = jsonpos_at_offset(jdoc, sizeof(jdoc) - 1, p.offset);
    assert_int_equal(q.line, p.line);
    assert_int_equal(q.column, p.column);
}

static void expect_missing(const char *path)
{
    jsonpos p;
    if (jsonpos_locate_path(jdoc, sizeof(jdoc) - 1, path, JSONPOS_KEY, &p) !=
        -1)
        fail_msg("%s unexpectedly found at %d:%d", path, p.line, p.column);
}

static void test_jsonpos_locate(void **state)
{
    (void)state;
    expect_pos("", JSONPOS_VALUE, 1, 1);
    expect_pos("a", JSONPOS_KEY, 2, 3);
    expect_pos("a", JSONPOS_VALUE, 2, 8);
    expect_pos("a.b", JSONPOS_KEY, 2, 10);
    expect_pos("a.b", JSONPOS_VALUE, 2, 15);
    expect_pos("a.b[0]", JSONPOS_KEY, 2, 16);
    expect_pos("a.b[1]", JSONPOS_VALUE, 2, 20);
    expect_pos("a.b[1].c", JSONPOS_KEY, 2, 21);
    expect_pos("a.b[1].c", JSONPOS_VALUE, 2, 26);
    expect_pos("a.b[2]", JSONPOS_VALUE, 2, 37); /* skipped "x]}\"{" */
    expect_pos("a.b[2][1]", JSONPOS_VALUE, 2, 41);
    expect_pos("a.b[3]", JSONPOS_VALUE, 2, 45);
    expect_pos("port", JSONPOS_KEY, 3, 14); /* written "\u0070ort" */
    expect_pos("port", JSONPOS_VALUE, 3, 27);
    expect_pos("\xc3\xa9\xc3\xa9", JSONPOS_KEY, 4, 3);
    expect_pos("\xc3\xa9\xc3\xa9.deep", JSONPOS_KEY, 4, 11); /* 2 columns */
    expect_pos("\xc3\xa9\xc3\xa9.deep[1].k", JSONPOS_VALUE, 4, 32);
    expect_pos("last", JSONPOS_KEY, 5, 3);
    expect_pos("last", JSONPOS_VALUE, 5, 15);

    /* a key with a quote needs the step form */
    jsonpos_step q[] = {{"s\"q", 0}};
    jsonpos p;
    assert_int_equal(jsonpos_locate(jdoc, sizeof(jdoc) - 1, q, 1,
                                    JSONPOS_VALUE, &p), 0);
    assert_int_equal(p.line, 3);
    assert_int_equal(p.column, 11);

    expect_missing("nope");
    expect_missing("a.b[4]");
    expect_missing("a.b.c");   /* b is an array */
    expect_missing("a[0]");    /* a is an object */
    expect_missing("last.x");  /* true has no members */
    expect_missing("s");       /* prefix of a key is not the key */
    expect_missing("a..b");    /* malformed paths */
    expect_missing(".a");
    expect_missing("a[");
    expect_missing("a[x]");
    expect_missing("a]");
    assert_int_equal(jsonpos_locate_path(jdoc, sizeof(jdoc) - 1, NULL,
                                         JSONPOS_KEY, &p), -1);
}

static void test_jsonpos_tolerant(void **state)
{
    (void)state;
    jsonpos p;
    static const char *const bad[] = {
        "", "{", "{\"a\"", "{\"a\":", "{\"a\" 1}", "[", "{\"a\\", "\"",
        "{\"a\":[1,2", "{\"a\":{\"x\":\"unterminated", "}}}]]]",
        "{\"x\":1 \"a\":2}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(jsonpos_locate_path(bad[i], strlen(bad[i]), "a.b",
                                             JSONPOS_KEY, &p), -1);
        (void)jsonpos_token_start(bad[i], strlen(bad[i]), strlen(bad[i]));
    }
    /* LEN is respected: the member after LEN is not seen */
    const char *text = "{\"a\": 1, \"b\": 2}";
    assert_int_equal(jsonpos_locate_path(text, 9, "b", JSONPOS_KEY, &p), -1);
    assert_int_equal(jsonpos_locate_path(text, 9, "a", JSONPOS_VALUE, &p), 0);
    assert_int_equal(p.column, 7);
    /* deep nesting is skipped without recursion */
    size_t n = 200000;
    char *deep = malloc(2 * n + 32);
    assert_non_null(deep);
    size_t k = 0;
    k += (size_t)snprintf(deep, 32, "{\"x\": ");
    memset(deep + k, '[', n);
    memset(deep + k + n, ']', n);
    k += 2 * n;
    memcpy(deep + k, ", \"y\": 5}", 9);
    k += 9;
    assert_int_equal(jsonpos_locate_path(deep, k, "y", JSONPOS_VALUE, &p), 0);
    assert_int_equal(p.offset, k - 2);
    free(deep);
}

static void test_jsonpos_offsets(void **state)
{
    (void)state;
    const char *text = "{\"a\": \"x\xc3\xa9y\",\n  \"b\": 12345}";
    size_t len = strlen(text);
    jsonpos p = jsonpos_at_offset(text, len, 0);
    assert_int_equal(p.line, 1);
    assert_int_equal(p.column, 1);
    p = jsonpos_at_offset(text, len, 12); /* after the closing quote */
    assert_int_equal(p.column, 12);       /* é is one column */
    p = jsonpos_at_offset(text, len, len + 100); /* clamped */
    assert_int_equal(p.offset, len);
    assert_int_equal(p.line, 2);

    /* token starts: jansson reports the offset just past a token */
    assert_int_equal(jsonpos_token_start(text, len, 4), 1);  /* "a" */
    assert_int_equal(jsonpos_token_start(text, len, 3), 1);  /* inside "a" */
    assert_int_equal(jsonpos_token_start(text, len, 5), 4);  /* : */
    assert_int_equal(jsonpos_token_start(text, len, 6), 6);  /* whitespace */
    assert_int_equal(jsonpos_token_start(text, len, 12), 6); /* the string */
    size_t num = (size_t)(strstr(text, "12345") - text);
    assert_int_equal(jsonpos_token_start(text, len, num + 5), num);
    assert_int_equal(jsonpos_token_start(text, len, len), len - 1); /* } */
    assert_int_equal(jsonpos_token_start(text, len, 0), 0);
}

/* ==== ONE INVALID FIXTURE =============================================== */

static void test_invalid_case(void **state)
{
    const char *dir = *state;
    char path[4096], expected_path[4096];
    snprintf(path, sizeof(path), "%s/input.json", dir);
    snprintf(expected_path, sizeof(expected_path), "%s/expected-error", dir);

    size_t len;
    char *text = slurp(path, &len);
    if (!text)
        fail_msg("cannot read %s", path);
    char *expected = slurp(expected_path, NULL);
    if (!expected)
        fail_msg("cannot read %s", expected_path);
    size_t el = strlen(expected);
    while (el > 0 && (expected[el - 1] == '\n' || expected[el - 1] == '\r'))
        expected[--el] = '\0';

    mrd_topology *t = NULL;
    mrd_error err;
    mrd_rc rc = topology_parse(text, len, "input.json", &t, &err);
    if (rc == MRD_OK) {
        topology_free(&t);
        fail_msg("%s parsed, but should fail with: %s", path, expected);
    }
    assert_null(t);
    assert_true(rc == MRD_ERR_PARSE || rc == MRD_ERR_INVALID);
    assert_int_equal(err.code, rc);
    assert_true(err.line > 0 && err.column > 0);

    char got[1024];
    mrd_error_format(&err, got, sizeof(got));
    if (strcmp(got, expected) != 0)
        fail_msg("%s\n  got:  %s\n  want: %s", dir, got, expected);
    free(text);
    free(expected);
}

int main(int argc, char **argv)
{
    if (argc == 2) {
        const struct CMUnitTest one[] = {
            cmocka_unit_test_prestate(test_invalid_case, argv[1]),
        };
        return cmocka_run_group_tests_name("topology.invalid", one, NULL,
                                           NULL);
    }
    if (argc > 2) {
        fprintf(stderr, "usage: %s [FIXTURE_CASE_DIR]\n", argv[0]);
        return 2;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_local_json),
        cmocka_unit_test(test_example_ssh_json),
        cmocka_unit_test(test_valid_minimal_defaults),
        cmocka_unit_test(test_valid_full),
        cmocka_unit_test(test_valid_cluster),
        cmocka_unit_test(test_valid_single_host),
        cmocka_unit_test(test_valid_comments),
        cmocka_unit_test(test_valid_spares),
        cmocka_unit_test(test_valid_dir_all_parse),
        cmocka_unit_test(test_parse_not_nul_terminated),
        cmocka_unit_test(test_parse_messages),
        cmocka_unit_test(test_names_as_path_parts),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_free_and_names),
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_jsonpos_locate),
        cmocka_unit_test(test_jsonpos_tolerant),
        cmocka_unit_test(test_jsonpos_offsets),
    };
    return cmocka_run_group_tests_name("topology", tests, NULL, NULL);
}
