/* test_retire.c - the pure half of agent/retire.c: which folders of a host
 * root are nodes the manifest no longer lists (retire_folder_port,
 * retire_is_leftover), the facts read from a node's INFO and CLUSTER
 * NODES (retire_facts_from, on real Redis captures in tests/fixtures/),
 * the decision (retire_decide: by scenario and by invariant over every
 * combination of facts) and the sentences (retire_explain).  No I/O
 * besides reading fixtures. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "retire.h"

#ifndef MRD_SOURCE_DIR
#error "MRD_SOURCE_DIR must name the source tree (see tests/unit/agent/retire.cmake)"
#endif

#define FIXTURES MRD_SOURCE_DIR "/tests/fixtures/"
#define STORE_PORT 16379

/* ==== HELPERS ========================================================== */

/* A fixture in a buffer of exactly its size (no NUL after it: a read past
 * the length is an ASan report). */
static char *load(const char *name, size_t *len)
{
    char path[1024], *text = NULL;
    snprintf(path, sizeof(path), "%s%s", FIXTURES, name);
    mrd_error err;
    if (mrd_read_file(path, 1 << 20, &text, len, &err) != MRD_OK)
        fail_msg("cannot read %s: %s", path, err.msg);
    char *exact = malloc(*len ? *len : 1);
    assert_non_null(exact);
    memcpy(exact, text, *len);
    free(text);
    return exact;
}

/* A manifest of two hosts, "here" (self) and "there", on store port
 * STORE_PORT.  Node ports on "here" are HERE[0..NHERE-1]; "there" has a
 * node on 16381 and one on 16382. */
static mrd_manifest *manifest_with(const int *here, int nhere)
{
    mrd_manifest *m = calloc(1, sizeof(*m));
    assert_non_null(m);
    snprintf(m->mode, sizeof(m->mode), "cluster");
    m->settings.store.port = STORE_PORT;
    m->nhosts = 2;
    m->self = 0;
    snprintf(m->hosts[0].host, sizeof(m->hosts[0].host), "here");
    snprintf(m->hosts[1].host, sizeof(m->hosts[1].host), "there");
    for (int i = 0; i < nhere; i++)
        m->nodes[m->nnodes++] = (mrd_mf_node){.host = 0, .port = here[i]};
    m->nodes[m->nnodes++] = (mrd_mf_node){.host = 1, .port = 16381};
    m->nodes[m->nnodes++] = (mrd_mf_node){.host = 1, .port = 16382};
    return m;
}

/* ==== FOLDER NAMES ===================================================== */

static void test_folder_port_names(void **state)
{
    (void)state;
    assert_int_equal(retire_folder_port("redis", STORE_PORT), STORE_PORT);
    assert_int_equal(retire_folder_port("redis-16380", STORE_PORT), 16380);
    assert_int_equal(retire_folder_port("redis-1", STORE_PORT), 1);
    assert_int_equal(retire_folder_port("redis-65535", STORE_PORT), 65535);
    /* the round trip with manifest_node_label */
    char label[24];
    for (int port = 16370; port < 16390; port++) {
        manifest_node_label(port, STORE_PORT, label, sizeof(label));
        assert_int_equal(retire_folder_port(label, STORE_PORT), port);
    }
}

static void test_folder_port_not_node_folders(void **state)
{
    (void)state;
    static const char *const others[] = {
        "retired", "sentinel", "data", "manifest.json", "agent.log", "heal.lock",
        "heal-state.json", "redis-", "redis-0", "redis-016380", "redis-+16380",
        "redis--1", "redis- 16380", "redis-16380 ", "redis-16380x", "redis-65536",
        "redis-123456", "redis-99999999999999999999", "redis-16380.1700000000",
        "redis-16380.1700000000-2", "redisx", "Redis", "REDIS-16380", "redis_16380",
        "xredis-16380", "",
        /* the store port's node lives in "redis", never "redis-PORT" */
        "redis-16379",
    };
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
        if (retire_folder_port(others[i], STORE_PORT) != 0)
            fail_msg("\"%s\" taken for a node folder", others[i]);
}

static void test_leftover_given_manifest(void **state)
{
    (void)state;
    const int here[] = {STORE_PORT, 16380};
    mrd_manifest *m = manifest_with(here, 2);
    int port = -1;
    /* this host's own nodes */
    assert_false(retire_is_leftover(m, "redis", true, &port));
    assert_false(retire_is_leftover(m, "redis-16380", true, &port));
    /* a node of another host, or of no host: not this host's any more */
    assert_true(retire_is_leftover(m, "redis-16381", true, &port));
    assert_int_equal(port, 16381);
    assert_true(retire_is_leftover(m, "redis-16390", true, &port));
    assert_int_equal(port, 16390);
    assert_true(retire_is_leftover(m, "redis-16390", true, NULL));
    /* a file, or anything that is not a node folder's name */
    assert_false(retire_is_leftover(m, "redis-16390", false, &port));
    assert_false(retire_is_leftover(m, "retired", true, &port));
    assert_false(retire_is_leftover(m, "sentinel", true, &port));
    assert_false(retire_is_leftover(m, "redis-16390.1700000000", true, &port));
    assert_false(retire_is_leftover(m, "manifest.json", false, &port));
    free(m);
}

static void test_leftover_store_port_folder(void **state)
{
    (void)state;
    /* the host keeps only its node on 16380: "redis" (store.port) is left */
    const int here[] = {16380};
    mrd_manifest *m = manifest_with(here, 1);
    int port = -1;
    assert_true(retire_is_leftover(m, "redis", true, &port));
    assert_int_equal(port, STORE_PORT);
    assert_false(retire_is_leftover(m, "redis-16380", true, &port));
    free(m);
    /* a host with no node left at all */
    m = manifest_with(NULL, 0);
    assert_true(retire_is_leftover(m, "redis", true, &port));
    assert_true(retire_is_leftover(m, "redis-16380", true, &port));
    free(m);
}

/* ==== FACTS FROM REPLIES =============================================== */

static retire_facts facts_of(const char *info_fixture, const char *nodes_fixture, pid_t pid,
                             bool cluster, mrd_rc want)
{
    size_t ilen, nlen = 0;
    char *info = load(info_fixture, &ilen);
    char *nodes = nodes_fixture ? load(nodes_fixture, &nlen) : NULL;
    retire_facts f = {.cluster = cluster, .proc_alive = true};
    mrd_error err;
    mrd_error_clear(&err);
    mrd_rc rc = retire_facts_from(info, ilen, nodes, nlen, pid, &f, &err);
    if (rc != want)
        fail_msg("%s/%s: rc %d, want %d (%s)", info_fixture, nodes_fixture ? nodes_fixture : "-",
                 (int)rc, (int)want, err.msg);
    free(info);
    free(nodes);
    return f;
}

static void test_facts_leader_with_keys(void **state)
{
    (void)state;
    retire_facts f = facts_of("info/leader.txt", NULL, 4812, false, MRD_OK);
    assert_true(f.reachable);
    assert_true(f.same_process);
    assert_false(f.busy);
    assert_int_equal(f.keys, 1);
    assert_true(f.proc_alive); /* left alone */
    assert_int_equal(retire_decide(&f), RETIRE_KEEP);
}

static void test_facts_every_database_counts(void **state)
{
    (void)state;
    /* db0:keys=1234 and db1:keys=99 */
    retire_facts f = facts_of("info/leader_mixed_states.txt", NULL, 777, false, MRD_OK);
    assert_int_equal(f.keys, 1333);
    assert_int_equal(retire_decide(&f), RETIRE_KEEP);
}

static void test_facts_another_process(void **state)
{
    (void)state;
    retire_facts f = facts_of("info/leader.txt", NULL, 4813, false, MRD_OK);
    assert_true(f.reachable);
    assert_false(f.same_process);
    assert_int_equal(retire_decide(&f), RETIRE_WAIT);
}

static void test_facts_loading_replica(void **state)
{
    (void)state;
    /* loading:1, master_sync_in_progress:1, no key yet */
    retire_facts f = facts_of("info/replica_syncing.txt", NULL, 5120, false, MRD_OK);
    assert_true(f.busy);
    assert_int_equal(f.keys, 0);
    assert_int_equal(retire_decide(&f), RETIRE_WAIT);
}

static void test_facts_cluster_slots_and_importing(void **state)
{
    (void)state;
    /* myself owns 5461-10922 and imports slots 100 and 102 */
    retire_facts f =
        facts_of("info/leader.txt", "cluster/nodes-importing.txt", 4812, true, MRD_OK);
    assert_int_equal(f.slots, 10922 - 5461 + 1);
    assert_int_equal(f.importing, 2);
    assert_int_equal(retire_decide(&f), RETIRE_KEEP);
    /* the same replies outside cluster mode: slots are not asked */
    f = facts_of("info/leader.txt", NULL, 4812, false, MRD_OK);
    assert_int_equal(f.slots, 0);
}

static void test_facts_cluster_replica(void **state)
{
    (void)state;
    /* a replica owns no slot; this one holds a copy of one key */
    retire_facts f = facts_of("info/replica.txt", "cluster/nodes-replica.txt", 4827, true, MRD_OK);
    assert_int_equal(f.slots, 0);
    assert_int_equal(f.importing, 0);
    assert_int_equal(f.keys, 1);
    assert_int_equal(retire_decide(&f), RETIRE_KEEP);
}

static void test_facts_empty_node(void **state)
{
    (void)state;
    static const char info[] = "# Server\r\nprocess_id:42\r\n\r\n# Persistence\r\nloading:0\r\n"
                               "\r\n# Replication\r\nrole:master\r\nconnected_slaves:0\r\n"
                               "\r\n# Keyspace\r\n";
    static const char nodes[] = "b225d5554bc163cd231d4803245dfed46c42e1ff 127.0.0.1:19303@19353 "
                                "myself,master - 0 0 0 connected\n";
    retire_facts f = {.cluster = true, .proc_alive = true};
    assert_int_equal(retire_facts_from(info, strlen(info), nodes, strlen(nodes), 42, &f, NULL),
                     MRD_OK);
    assert_true(f.reachable && f.same_process && !f.busy);
    assert_int_equal(f.keys, 0);
    assert_int_equal(f.slots, 0);
    assert_int_equal(retire_decide(&f), RETIRE_STOP);
}

static void test_facts_malformed(void **state)
{
    (void)state;
    static const char bad_keys[] = "process_id:42\r\n# Keyspace\r\ndb0:keys=x,expires=0\r\n";
    static const char overflow[] = "process_id:42\r\n# Keyspace\r\ndb0:keys=99999999999999999999,"
                                   "expires=0\r\n";
    static const char good[] = "process_id:42\r\n# Keyspace\r\ndb3:keys=2,expires=0\r\n";
    retire_facts f = {.proc_alive = true};
    assert_int_equal(retire_facts_from(bad_keys, strlen(bad_keys), NULL, 0, 42, &f, NULL),
                     MRD_ERR_PARSE);
    assert_false(f.reachable);
    assert_int_equal(retire_decide(&f), RETIRE_WAIT);
    assert_int_equal(retire_facts_from(overflow, strlen(overflow), NULL, 0, 42, &f, NULL),
                     MRD_ERR_PARSE);
    /* cluster mode needs CLUSTER NODES, and one that parses */
    f.cluster = true;
    assert_int_equal(retire_facts_from(good, strlen(good), NULL, 0, 42, &f, NULL),
                     MRD_ERR_PARSE);
    assert_false(f.reachable);
    assert_int_equal(retire_facts_from(good, strlen(good), "garbage\n", 8, 42, &f, NULL),
                     MRD_ERR_PARSE);
    assert_false(f.reachable);
    f.cluster = false;
    assert_int_equal(retire_facts_from(good, strlen(good), NULL, 0, 42, &f, NULL), MRD_OK);
    assert_int_equal(f.keys, 2);
}

/* ==== DECIDING ========================================================= */

static retire_facts empty_running(bool cluster)
{
    return (retire_facts){.cluster = cluster, .proc_alive = true, .reachable = true,
                          .same_process = true};
}

static void test_decide_scenarios(void **state)
{
    (void)state;
    retire_facts f = {.cluster = true};
    assert_int_equal(retire_decide(&f), RETIRE_MOVE); /* not running */
    f = empty_running(true);
    assert_int_equal(retire_decide(&f), RETIRE_STOP);
    f.slots = 120;
    assert_int_equal(retire_decide(&f), RETIRE_KEEP);
    f = empty_running(true);
    f.keys = 5000;
    assert_int_equal(retire_decide(&f), RETIRE_KEEP);
    f = empty_running(true);
    f.importing = 1;
    assert_int_equal(retire_decide(&f), RETIRE_KEEP);
    f = empty_running(true);
    f.reachable = false; /* connect failed, the process lives */
    assert_int_equal(retire_decide(&f), RETIRE_WAIT);
    /* sentinel mode: no slot test (a stray count is ignored) */
    f = empty_running(false);
    f.slots = 7;
    assert_int_equal(retire_decide(&f), RETIRE_STOP);
    f.keys = 1;
    assert_int_equal(retire_decide(&f), RETIRE_KEEP);
    /* busy with keys already: kept; busy and empty: not final, wait */
    f = empty_running(false);
    f.busy = true;
    assert_int_equal(retire_decide(&f), RETIRE_WAIT);
    f.keys = 3;
    assert_int_equal(retire_decide(&f), RETIRE_KEEP);
}

/* Every combination of facts: a node is stopped only when it runs, is the
 * one answering, is not busy and holds nothing; moved only when it does
 * not run; never stopped blind. */
static void test_decide_invariants(void **state)
{
    (void)state;
    for (unsigned bits = 0; bits < (1u << 8); bits++) {
        retire_facts f = {
            .cluster = bits & 1,
            .proc_alive = bits & 2,
            .reachable = bits & 4,
            .same_process = bits & 8,
            .busy = bits & 16,
            .slots = bits & 32 ? 120 : 0,
            .importing = bits & 64 ? 1 : 0,
            .keys = bits & 128 ? 5000 : 0,
        };
        retire_action a = retire_decide(&f);
        bool holds = f.keys > 0 || (f.cluster && (f.slots > 0 || f.importing > 0));
        bool judged = f.proc_alive && f.reachable && f.same_process;
        assert_true(a == RETIRE_MOVE || a == RETIRE_STOP || a == RETIRE_KEEP ||
                    a == RETIRE_WAIT);
        assert_int_equal(a == RETIRE_MOVE, !f.proc_alive);
        if (a == RETIRE_STOP)
            assert_true(judged && !holds && !f.busy);
        if (judged && !holds && !f.busy)
            assert_int_equal(a, RETIRE_STOP);
        if (judged && holds)
            assert_int_equal(a, RETIRE_KEEP);
        if (f.proc_alive && !judged)
            assert_int_equal(a, RETIRE_WAIT);
    }
}

static void test_action_names(void **state)
{
    (void)state;
    assert_string_equal(retire_action_name(RETIRE_MOVE), "move");
    assert_string_equal(retire_action_name(RETIRE_STOP), "stop");
    assert_string_equal(retire_action_name(RETIRE_KEEP), "keep");
    assert_string_equal(retire_action_name(RETIRE_WAIT), "wait");
    assert_string_equal(retire_action_name((retire_action)42), "unknown");
}

/* ==== SENTENCES ======================================================== */

static void test_explain(void **state)
{
    (void)state;
    char buf[512];
    retire_facts f = empty_running(true);
    f.slots = 120;
    f.keys = 5000;
    retire_explain("redis-16382", 16382, &f, RETIRE_KEEP, 77, NULL, buf, sizeof(buf));
    assert_non_null(strstr(buf, "node redis-16382 is not in the manifest but still owns 120 "
                                "slots and holds 5000 keys: not stopped; move its slots"));
    f.slots = 1;
    f.keys = 0;
    retire_explain("redis-16382", 16382, &f, RETIRE_KEEP, 77, NULL, buf, sizeof(buf));
    assert_non_null(strstr(buf, "still owns 1 slot: not stopped"));
    f = empty_running(false);
    f.keys = 1;
    retire_explain("redis", 16379, &f, RETIRE_KEEP, 77, NULL, buf, sizeof(buf));
    assert_non_null(strstr(buf, "node redis (port 16379) is not in the manifest but still "
                                "holds 1 key: not stopped"));
    assert_non_null(strstr(buf, "(kill 77)"));
    f = empty_running(true);
    f.reachable = false;
    retire_explain("redis-16382", 16382, &f, RETIRE_WAIT, 77, "connection refused", buf,
                   sizeof(buf));
    assert_non_null(strstr(buf, "runs (pid 77) but does not answer as the admin user: "
                                "connection refused: not stopped"));
    f = empty_running(true);
    retire_explain("redis-16382", 16382, &f, RETIRE_STOP, 77, NULL, buf, sizeof(buf));
    assert_non_null(strstr(buf, "holds no key and no slot: it is to be stopped (pid 77) and "
                                "its folder moved to retired/"));
    f.proc_alive = false;
    retire_explain("redis-16382", 16382, &f, RETIRE_MOVE, 0, NULL, buf, sizeof(buf));
    assert_non_null(strstr(buf, "does not run: its folder is to be moved to retired/"));
    /* a small buffer is cut, never overrun */
    char small[16];
    retire_explain("redis-16382", 16382, &f, RETIRE_MOVE, 0, NULL, small, sizeof(small));
    assert_int_equal(strlen(small), sizeof(small) - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_folder_port_names),
        cmocka_unit_test(test_folder_port_not_node_folders),
        cmocka_unit_test(test_leftover_given_manifest),
        cmocka_unit_test(test_leftover_store_port_folder),
        cmocka_unit_test(test_facts_leader_with_keys),
        cmocka_unit_test(test_facts_every_database_counts),
        cmocka_unit_test(test_facts_another_process),
        cmocka_unit_test(test_facts_loading_replica),
        cmocka_unit_test(test_facts_cluster_slots_and_importing),
        cmocka_unit_test(test_facts_cluster_replica),
        cmocka_unit_test(test_facts_empty_node),
        cmocka_unit_test(test_facts_malformed),
        cmocka_unit_test(test_decide_scenarios),
        cmocka_unit_test(test_decide_invariants),
        cmocka_unit_test(test_action_names),
        cmocka_unit_test(test_explain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
