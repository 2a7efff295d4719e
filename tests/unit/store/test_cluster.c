/* test_cluster.c - Redis Cluster's views (store/cluster.h).
 *
 * tests/fixtures/cluster/ holds real Redis 7.0.15 captures (the exact
 * bulk strings CLUSTER NODES and CLUSTER INFO returned) of a 3-master
 * cluster on 127.0.0.1 ports 19300-19302 (bus ports +50) with a replica
 * of 19300: healthy from a master and from the replica, a slot being
 * migrated / imported, a hostname announced, a slot moved (split ranges),
 * a master suspected (fail?) and failed, a fresh node, a replaced node
 * (noaddr), and a node's own nodes.conf.  restore/ holds peers' views and
 * the nodes.conf rendered from restore/peer.txt with which a restored
 * replica got a partial resync from the real master. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "fsutil.h"

#ifndef MRD_SOURCE_DIR
#error "MRD_SOURCE_DIR must name the source tree (see tests/unit/store/cluster.cmake)"
#endif

#define FIXTURES MRD_SOURCE_DIR "/tests/fixtures/cluster/"

/* The captured cluster's nodes. */
#define ID_A "b872b2de5e1582e95490cfd3a56da327970809b7" /* 19300 master 0-5460 */
#define ID_B "e25f17cafbbcdd66b5b8b69e2c5b3ba56b8bbce7" /* 19301 master */
#define ID_C "1042d6dad90ff80e67276804b874c8b4e8fc41a2" /* 19302 master */
#define ID_R "b225d5554bc163cd231d4803245dfed46c42e1ff" /* replica of A */
#define ID_N1 "535247ab94a6783294731632d80bf21a898c3224" /* a restored replica */
#define ID_NEW "0123456789abcdef0123456789abcdef01234567"

/* ==== HELPERS ========================================================== */

/* A fixture in a buffer of exactly its size (no NUL after it: a read
 * past the length is an ASan report). */
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

/* A new view of fixture NAME, which must parse. */
static store_cluster_view *view_of(const char *name)
{
    size_t len;
    char *text = load(name, &len);
    store_cluster_view *v = store_cluster_view_new();
    assert_non_null(v);
    mrd_error err;
    mrd_error_clear(&err);
    if (store_cluster_nodes_parse(text, len, v, &err) != MRD_OK)
        fail_msg("%s does not parse: %s", name, err.msg);
    free(text);
    return v;
}

/* TEXT (NUL-terminated) must fail to parse with exactly MSG. */
static void parse_fails(const char *text, const char *msg)
{
    store_cluster_view *v = store_cluster_view_new();
    assert_non_null(v);
    mrd_error err;
    mrd_error_clear(&err);
    assert_int_equal(store_cluster_nodes_parse(text, strlen(text), v, &err), MRD_ERR_PARSE);
    assert_int_equal(err.code, MRD_ERR_PARSE);
    assert_string_equal(err.msg, msg);
    store_cluster_view_free(&v);
    assert_null(v);
}

static int index_of(const store_cluster_view *v, const char *id)
{
    const store_cluster_node *n = store_cluster_find(v, id);
    assert_non_null(n);
    return (int)(n - v->nodes);
}

static void assert_address(const store_cluster_node *n, const char *ip, int port, int bus)
{
    assert_string_equal(n->ip, ip);
    assert_int_equal(n->port, port);
    assert_int_equal(n->bus_port, bus);
}

static const char *owner_id(const store_cluster_view *v, int slot)
{
    const store_cluster_node *n = store_cluster_slot_owner(v, slot);
    return n ? n->id : "(none)";
}

/* ==== CLUSTER NODES: REAL CAPTURES ===================================== */

static void test_healthy_from_master(void **state)
{
    (void)state;
    store_cluster_view *v = view_of("nodes-master.txt");
    assert_int_equal(v->nnodes, 4);
    const store_cluster_node *me = store_cluster_myself(v);
    assert_ptr_equal(me, &v->nodes[1]); /* the second line */
    assert_string_equal(me->id, ID_A);
    assert_address(me, "127.0.0.1", 19300, 19350);
    assert_string_equal(me->hostname, "");
    assert_int_equal(me->flags, STORE_CLUSTER_MYSELF | STORE_CLUSTER_MASTER);
    assert_string_equal(me->master_id, "");
    assert_int_equal(me->ping_sent_ms, 0);
    assert_int_equal(me->pong_recv_ms, 1796184803000LL);
    assert_int_equal(me->config_epoch, 1);
    assert_true(me->connected);
    assert_int_equal(me->nslots, 5461);

    const store_cluster_node *r = &v->nodes[0];
    assert_string_equal(r->id, ID_R);
    assert_int_equal(r->flags, STORE_CLUSTER_SLAVE);
    assert_string_equal(r->master_id, ID_A);
    assert_int_equal(r->pong_recv_ms, 1796184803548LL);
    assert_int_equal(r->nslots, 0);
    assert_int_equal(store_cluster_find(v, ID_C)->config_epoch, 3);
    assert_int_equal(store_cluster_find(v, ID_B)->config_epoch, 0);

    assert_string_equal(owner_id(v, 0), ID_A);
    assert_string_equal(owner_id(v, 5460), ID_A);
    assert_string_equal(owner_id(v, 5461), ID_B);
    assert_string_equal(owner_id(v, 10922), ID_B);
    assert_string_equal(owner_id(v, 10923), ID_C);
    assert_string_equal(owner_id(v, 16383), ID_C);
    assert_int_equal(store_cluster_slots_covered(v, 0), 16384);
    for (int s = 0; s < STORE_CLUSTER_SLOTS; s++)
        if (v->migrating_to[s] != STORE_CLUSTER_NONE ||
            v->importing_from[s] != STORE_CLUSTER_NONE)
            fail_msg("slot %d is migrating or importing in a steady view", s);
    assert_false(v->has_vars);
    store_cluster_view_free(&v);
}

static void test_healthy_from_replica(void **state)
{
    (void)state;
    store_cluster_view *v = view_of("nodes-replica.txt");
    const store_cluster_node *me = store_cluster_myself(v);
    assert_string_equal(me->id, ID_R);
    assert_int_equal(me->flags, STORE_CLUSTER_MYSELF | STORE_CLUSTER_SLAVE);
    /* A replica prints its master's config epoch. */
    assert_int_equal(me->config_epoch, 1);
    assert_string_equal(store_cluster_master_of(v, me)->id, ID_A);
    store_cluster_view *m = view_of("nodes-master.txt");
    int first = -1;
    assert_true(store_cluster_slots_agree(v, m, &first));
    assert_int_equal(first, -1); /* untouched when they agree */
    store_cluster_view_free(&m);
    store_cluster_view_free(&v);
}

static void test_migrating_and_importing(void **state)
{
    (void)state;
    store_cluster_view *v = view_of("nodes-migrating.txt");
    int b = index_of(v, ID_B);
    assert_int_equal(v->migrating_to[100], b);
    assert_int_equal(v->migrating_to[101], b);
    assert_int_equal(v->migrating_to[102], STORE_CLUSTER_NONE);
    assert_int_equal(v->importing_from[100], STORE_CLUSTER_NONE);
    /* A slot being migrated still belongs to its source. */
    assert_string_equal(owner_id(v, 100), ID_A);
    assert_int_equal(store_cluster_myself(v)->nslots, 5461);
    store_cluster_view_free(&v);

    v = view_of("nodes-importing.txt");
    int a = index_of(v, ID_A);
    assert_int_equal(v->importing_from[100], a);
    assert_int_equal(v->importing_from[102], a);
    assert_int_equal(v->importing_from[101], STORE_CLUSTER_NONE);
    assert_int_equal(v->migrating_to[100], STORE_CLUSTER_NONE);
    assert_string_equal(owner_id(v, 100), ID_A);
    store_cluster_view_free(&v);
}

static void test_hostname(void **state)
{
    (void)state;
    store_cluster_view *v = view_of("nodes-hostname.txt");
    const store_cluster_node *n = store_cluster_find(v, ID_B);
    assert_address(n, "127.0.0.1", 19301, 19351);
    assert_string_equal(n->hostname, "shard1.example");
    assert_string_equal(store_cluster_find(v, ID_A)->hostname, "");
    store_cluster_view_free(&v);
}

static void test_split_ranges(void **state)
{
    (void)state;
    store_cluster_view *v = view_of("nodes-split.txt");
    assert_string_equal(owner_id(v, 9999), ID_B);
    assert_string_equal(owner_id(v, 10000), ID_C);
    assert_string_equal(owner_id(v, 10001), ID_B);
    assert_int_equal(store_cluster_find(v, ID_B)->nslots, 5461);
    assert_int_equal(store_cluster_find(v, ID_C)->nslots, 5462);
    assert_int_equal(store_cluster_slots_covered(v, 0), 16384);
    store_cluster_view_free(&v);
}

static void test_suspected_and_failed_master(void **state)
{
    (void)state;
    store_cluster_view *v = view_of("nodes-pfail.txt");
    const store_cluster_node *c = store_cluster_find(v, ID_C);
    assert_int_equal(c->flags, STORE_CLUSTER_MASTER | STORE_CLUSTER_PFAIL);
    assert_false(c->connected);
    assert_int_equal(c->ping_sent_ms, 1796184821629LL);
    assert_int_equal(store_cluster_slots_covered(v, 0), 16384);
    assert_int_equal(store_cluster_slots_covered(v, STORE_CLUSTER_PFAIL), 10922);
    assert_int_equal(store_cluster_slots_covered(v, STORE_CLUSTER_FAIL), 16384);
    store_cluster_view_free(&v);

    v = view_of("nodes-fail.txt");
    c = store_cluster_find(v, ID_C);
    assert_int_equal(c->flags, STORE_CLUSTER_MASTER | STORE_CLUSTER_FAIL);
    assert_int_equal(store_cluster_slots_covered(v, STORE_CLUSTER_FAIL | STORE_CLUSTER_PFAIL),
                     10922);
    store_cluster_view_free(&v);
}

static void test_fresh_node(void **state)
{
    (void)state;
    store_cluster_view *v = view_of("nodes-fresh.txt");
    assert_int_equal(v->nnodes, 1);
    assert_int_equal(v->myself, 0);
    assert_int_equal(store_cluster_myself(v)->port, 19309);
    assert_int_equal(store_cluster_slots_covered(v, 0), 0);
    assert_null(store_cluster_slot_owner(v, 0));
    store_cluster_view_free(&v);
}

static void test_replaced_node_without_address(void **state)
{
    (void)state;
    store_cluster_view *v = view_of("nodes-noaddr.txt");
    const store_cluster_node *n = store_cluster_find(v, ID_N1);
    assert_address(n, "", 0, 0);
    assert_int_equal(n->flags,
                     STORE_CLUSTER_SLAVE | STORE_CLUSTER_FAIL | STORE_CLUSTER_NOADDR);
    assert_string_equal(n->master_id, ID_A);
    store_cluster_view_free(&v);
}

static void test_nodes_conf_with_vars(void **state)
{
    (void)state;
    store_cluster_view *v = view_of("nodes-conf.txt");
    assert_true(v->has_vars);
    assert_int_equal(v->current_epoch, 3);
    assert_int_equal(v->last_vote_epoch, 0);
    assert_int_equal(v->nnodes, 6);
    assert_string_equal(store_cluster_myself(v)->id, ID_A);
    store_cluster_view_free(&v);

    parse_fails(ID_A " 127.0.0.1:1@2 myself,master - 0 0 0 connected\nvars currentEpoch\n",
                "cluster nodes line 2: vars \"currentEpoch\" has no value");
    parse_fails(ID_A " 127.0.0.1:1@2 myself,master - 0 0 0 connected\n"
                     "vars currentEpoch 3 lastVoteEpoch x\n",
                "cluster nodes line 2: vars lastVoteEpoch \"x\" is not a number");
    /* Unknown variables are skipped, as Redis does. */
    const char *t = ID_A " 127.0.0.1:1@2 myself,master - 0 0 0 connected\n"
                         "vars someday 1 currentEpoch 7\n";
    v = store_cluster_view_new();
    assert_int_equal(store_cluster_nodes_parse(t, strlen(t), v, NULL), MRD_OK);
    assert_int_equal(v->current_epoch, 7);
    store_cluster_view_free(&v);
}

/* "\r\n" line ends and blank lines change nothing. */
static void test_crlf_and_blank_lines(void **state)
{
    (void)state;
    size_t len;
    char *lf = load("nodes-split.txt", &len);
    char *crlf = malloc(2 * len + 2);
    assert_non_null(crlf);
    size_t n = 0;
    crlf[n++] = '\n';
    for (size_t i = 0; i < len; i++) {
        if (lf[i] == '\n')
            crlf[n++] = '\r';
        crlf[n++] = lf[i];
    }
    store_cluster_view *a = view_of("nodes-split.txt");
    store_cluster_view *b = store_cluster_view_new();
    mrd_error err;
    assert_int_equal(store_cluster_nodes_parse(crlf, n, b, &err), MRD_OK);
    assert_int_equal(b->nnodes, a->nnodes);
    for (int i = 0; i < a->nnodes; i++)
        assert_string_equal(b->nodes[i].id, a->nodes[i].id);
    assert_string_equal(b->nodes[3].ip, "127.0.0.1");
    assert_true(b->nodes[3].connected); /* "connected\r" would not be */
    assert_true(store_cluster_slots_agree(a, b, NULL));
    store_cluster_view_free(&a);
    store_cluster_view_free(&b);
    free(crlf);
    free(lf);
}

/* LEN bounds the text: a cut in the last line is what the parser sees. */
static void test_length_bounds_the_text(void **state)
{
    (void)state;
    size_t len;
    char *text = load("nodes-master.txt", &len);
    store_cluster_view *v = store_cluster_view_new();
    mrd_error err;
    /* The last line ends "connected 5461-10922\n": cut after "5461-1",
     * then after "5461". */
    size_t cut = len - 5;
    assert_memory_equal(text + cut - 6, "5461-1", 6);
    assert_int_equal(store_cluster_nodes_parse(text, cut, v, &err), MRD_ERR_PARSE);
    assert_string_equal(err.msg, "cluster nodes line 4: \"5461-1\" is not a slot or a range "
                                 "of slots in 0..16383");
    assert_int_equal(store_cluster_nodes_parse(text, cut - 2, v, &err), MRD_OK);
    assert_string_equal(owner_id(v, 5461), ID_B);
    assert_string_equal(owner_id(v, 5462), "(none)");
    /* Cut inside the last line's link state. */
    cut = (size_t)(strstr(text + len - 40, "connected") - text) + 4;
    assert_int_equal(store_cluster_nodes_parse(text, cut, v, &err), MRD_ERR_PARSE);
    assert_string_equal(err.msg, "cluster nodes line 4: the link state \"conn\" is neither "
                                 "connected nor disconnected");
    store_cluster_view_free(&v);
    free(text);
}

/* ==== CLUSTER NODES: MALFORMED ========================================= */

#define ME ID_A " 127.0.0.1:19300@19350 myself,master - 0 0 1 connected 0-5460\n"

static void test_malformed_fields(void **state)
{
    (void)state;
    parse_fails("", "cluster nodes: no node is flagged myself (0 nodes listed)");
    parse_fails(ID_B " 127.0.0.1:1@2 master - 0 0 0 connected\n",
                "cluster nodes: no node is flagged myself (1 nodes listed)");
    parse_fails(ME "\n" ID_B " 127.0.0.1:1@2 master - 0 0\n",
                "cluster nodes line 3: a node line has at least 8 fields, this one 6");
    parse_fails("B872b2de5e1582e95490cfd3a56da327970809b7 127.0.0.1:1@2 myself - 0 0 0 connected",
                "cluster nodes line 1: the node id \"B872b2de5e1582e95490cfd3a56da327970809b7\" "
                "is not 40 hex digits");
    parse_fails("b872b2de 127.0.0.1:1@2 myself - 0 0 0 connected",
                "cluster nodes line 1: the node id \"b872b2de\" is not 40 hex digits");
    parse_fails(ID_A " 127.0.0.1:19300 myself - 0 0 0 connected",
                "cluster nodes line 1: the address \"127.0.0.1:19300\" is not ip:port@bus-port");
    parse_fails(ID_A " 127.0.0.1@19300 myself - 0 0 0 connected",
                "cluster nodes line 1: the address \"127.0.0.1@19300\" is not ip:port@bus-port");
    parse_fails(ID_A " 127.0.0.1:65536@1 myself - 0 0 0 connected",
                "cluster nodes line 1: the ports of \"127.0.0.1:65536@1\" are not numbers in "
                "0..65535");
    parse_fails(ID_A " 127.0.0.1:1@-1 myself - 0 0 0 connected",
                "cluster nodes line 1: the ports of \"127.0.0.1:1@-1\" are not numbers in "
                "0..65535");
    parse_fails(ID_A " 1234567890123456789012345678901234567890123456789012345678901234:1@2 "
                     "myself - 0 0 0 connected",
                "cluster nodes line 1: the address \"1234567890123456789012345678901234567890"
                "12345678901234567890\" is too long");
    parse_fails(ID_A " 127.0.0.1:1@2 myself,bogus - 0 0 0 connected",
                "cluster nodes line 1: unknown flag in \"myself,bogus\"");
    parse_fails(ID_A " 127.0.0.1:1@2 myself, - 0 0 0 connected",
                "cluster nodes line 1: unknown flag in \"myself,\"");
    parse_fails(ID_A " 127.0.0.1:1@2 myself x 0 0 0 connected",
                "cluster nodes line 1: the master id \"x\" is neither - nor 40 hex digits");
    parse_fails(ID_A " 127.0.0.1:1@2 myself - -5 0 0 connected",
                "cluster nodes line 1: the ping-sent time \"-5\" is not a number");
    parse_fails(ID_A " 127.0.0.1:1@2 myself - 0 9223372036854775808 0 connected",
                "cluster nodes line 1: the pong-received time \"9223372036854775808\" is not "
                "a number");
    parse_fails(ID_A " 127.0.0.1:1@2 myself - 0 0 1e3 connected",
                "cluster nodes line 1: the config epoch \"1e3\" is not a number");
    parse_fails(ID_A " 127.0.0.1:1@2 myself - 0 0 0 up",
                "cluster nodes line 1: the link state \"up\" is neither connected nor "
                "disconnected");
    parse_fails(ID_A " 127.0.0.1:1@2\tmyself - 0 0 0 connected",
                "cluster nodes line 1: it holds a control character");
}

static void test_malformed_nodes(void **state)
{
    (void)state;
    parse_fails(ME ID_A " 127.0.0.1:1@2 master - 0 0 0 connected\n",
                "cluster nodes line 2: node " ID_A " is listed twice");
    parse_fails(ME ID_B " 127.0.0.1:1@2 myself,slave " ID_A " 0 0 0 connected\n",
                "cluster nodes line 2: a second node is flagged myself");
    /* A NUL is a control character too (and never ends the text early). */
    const char nul[] = ID_A " 127.0.0.1:1@2 myself,master - 0 0 0 connected\n\0\n";
    store_cluster_view *v = store_cluster_view_new();
    mrd_error err;
    assert_int_equal(store_cluster_nodes_parse(nul, sizeof(nul) - 1, v, &err), MRD_ERR_PARSE);
    assert_string_equal(err.msg, "cluster nodes line 2: it holds a control character");
    store_cluster_view_free(&v);
}

static void test_malformed_slots(void **state)
{
    (void)state;
    parse_fails(ID_A " 127.0.0.1:1@2 myself,master - 0 0 0 connected 16384",
                "cluster nodes line 1: \"16384\" is not a slot or a range of slots in "
                "0..16383");
    parse_fails(ID_A " 127.0.0.1:1@2 myself,master - 0 0 0 connected 5-3",
                "cluster nodes line 1: \"5-3\" is not a slot or a range of slots in 0..16383");
    parse_fails(ID_A " 127.0.0.1:1@2 myself,master - 0 0 0 connected 1-",
                "cluster nodes line 1: \"1-\" is not a slot or a range of slots in 0..16383");
    parse_fails(ID_A " 127.0.0.1:1@2 myself,master - 0 0 0 connected -1",
                "cluster nodes line 1: \"-1\" is not a slot or a range of slots in 0..16383");
    parse_fails(ME ID_R " 127.0.0.1:1@2 slave " ID_A " 0 0 0 connected 6000",
                "cluster nodes line 2: node " ID_R " owns slots but is not a master");
    parse_fails(ME ID_B " 127.0.0.1:1@2 master - 0 0 0 connected 5000-6000",
                "cluster nodes line 2: slot 5000 is owned by both " ID_A " and " ID_B);
    parse_fails(ID_A " 127.0.0.1:1@2 myself,master - 0 0 0 connected [100->-" ID_B "]",
                "cluster nodes line 1: \"[100->-" ID_B "]\" names a node that is not listed");
    parse_fails(ID_A " 127.0.0.1:1@2 myself,master - 0 0 0 connected [100-x-" ID_A "]",
                "cluster nodes line 1: \"[100-x-" ID_A "]\" is not [slot->-id] nor "
                "[slot-<-id]");
    parse_fails(ID_A " 127.0.0.1:1@2 myself,master - 0 0 0 connected [16384->-" ID_A "]",
                "cluster nodes line 1: \"[16384->-" ID_A "]\" is not [slot->-id] nor "
                "[slot-<-id]");
    parse_fails(ID_A " 127.0.0.1:1@2 myself,master - 0 0 0 connected [",
                "cluster nodes line 1: \"[\" is not [slot->-id] nor [slot-<-id]");
    parse_fails(ID_A " 127.0.0.1:1@2 myself,master - 0 0 0 connected [1->-]",
                "cluster nodes line 1: \"[1->-]\" names a node that is not listed");
}

/* N nodes: myself and N - 1 masters without slots, with made-up ids. */
static char *many_nodes(int n, size_t *len)
{
    size_t cap = (size_t)n * 128;
    char *t = malloc(cap);
    assert_non_null(t);
    size_t used = 0;
    for (int i = 0; i < n; i++)
        used += (size_t)snprintf(t + used, cap - used,
                                 "%040x 10.0.%d.%d:6379@16379 %s - 0 0 0 connected\n", i + 1,
                                 i / 256, i % 256, i == 0 ? "myself,master" : "master");
    *len = used;
    return t;
}

static void test_node_cap(void **state)
{
    (void)state;
    size_t len;
    store_cluster_view *v = store_cluster_view_new();
    mrd_error err;
    char *t = many_nodes(STORE_CLUSTER_MAX_NODES, &len);
    assert_int_equal(store_cluster_nodes_parse(t, len, v, &err), MRD_OK);
    assert_int_equal(v->nnodes, STORE_CLUSTER_MAX_NODES);
    assert_int_equal(store_cluster_find_addr(v, "10.0.1.255", 6379)->id[39], '0');
    free(t);
    t = many_nodes(STORE_CLUSTER_MAX_NODES + 1, &len);
    assert_int_equal(store_cluster_nodes_parse(t, len, v, &err), MRD_ERR_PARSE);
    assert_string_equal(err.msg, "cluster nodes line 513: more than 512 nodes");
    free(t);
    store_cluster_view_free(&v);
}

/* ==== QUESTIONS ======================================================== */

static void test_slot_owner_bounds(void **state)
{
    (void)state;
    store_cluster_view *v = view_of("nodes-master.txt");
    assert_null(store_cluster_slot_owner(v, -1));
    assert_null(store_cluster_slot_owner(v, STORE_CLUSTER_SLOTS));
    assert_non_null(store_cluster_slot_owner(v, STORE_CLUSTER_SLOTS - 1));
    store_cluster_view_free(&v);
}

static void test_slots_agree(void **state)
{
    (void)state;
    store_cluster_view *m = view_of("nodes-master.txt");
    store_cluster_view *s = view_of("nodes-split.txt");
    store_cluster_view *f = view_of("nodes-fresh.txt");
    int first = -1;
    assert_true(store_cluster_slots_agree(m, m, &first));
    assert_false(store_cluster_slots_agree(m, s, &first));
    assert_int_equal(first, 10000);
    assert_false(store_cluster_slots_agree(s, m, &first));
    assert_int_equal(first, 10000);
    /* Unassigned against assigned, both ways. */
    assert_false(store_cluster_slots_agree(f, m, &first));
    assert_int_equal(first, 0);
    assert_false(store_cluster_slots_agree(m, f, NULL));
    assert_true(store_cluster_slots_agree(f, f, NULL));
    /* Same owners at other indexes: compared by id. */
    store_cluster_view *r = view_of("nodes-replica.txt");
    assert_int_not_equal(index_of(r, ID_A), index_of(m, ID_A));
    assert_true(store_cluster_slots_agree(m, r, NULL));
    store_cluster_view_free(&r);
    store_cluster_view_free(&f);
    store_cluster_view_free(&s);
    store_cluster_view_free(&m);
}

static void test_find(void **state)
{
    (void)state;
    store_cluster_view *v = view_of("nodes-master.txt");
    assert_ptr_equal(store_cluster_find(v, ID_C), &v->nodes[2]);
    assert_null(store_cluster_find(v, ID_NEW));
    assert_null(store_cluster_find(v, ""));
    assert_ptr_equal(store_cluster_find_addr(v, "127.0.0.1", 19301), &v->nodes[3]);
    assert_null(store_cluster_find_addr(v, "127.0.0.1", 19351)); /* a bus port */
    assert_null(store_cluster_find_addr(v, "127.0.0.2", 19301));
    store_cluster_view_free(&v);
}

static void test_master_of(void **state)
{
    (void)state;
    store_cluster_view *v = view_of("nodes-master.txt");
    const store_cluster_node *a = store_cluster_find(v, ID_A);
    assert_ptr_equal(store_cluster_master_of(v, a), a);
    assert_ptr_equal(store_cluster_master_of(v, store_cluster_find(v, ID_R)), a);
    store_cluster_view_free(&v);

    /* A replica of an unlisted master, and a node that is neither. */
    const char *t = ME ID_R " 127.0.0.1:1@2 slave " ID_NEW " 0 0 0 connected\n"
                       ID_B " 127.0.0.1:3@4 handshake - 0 0 0 disconnected\n";
    v = store_cluster_view_new();
    assert_int_equal(store_cluster_nodes_parse(t, strlen(t), v, NULL), MRD_OK);
    assert_null(store_cluster_master_of(v, store_cluster_find(v, ID_R)));
    assert_null(store_cluster_master_of(v, store_cluster_find(v, ID_B)));
    store_cluster_view_free(&v);
}

static void test_replicas(void **state)
{
    (void)state;
    store_cluster_view *v = view_of("nodes-noaddr.txt");
    const store_cluster_node *a = store_cluster_find(v, ID_A);
    const store_cluster_node *out[2] = {NULL, NULL};
    assert_int_equal(store_cluster_replicas(v, a, NULL, 0), 2);
    assert_int_equal(store_cluster_replicas(v, a, out, 1), 2);
    assert_string_equal(out[0]->id, ID_N1); /* the view's order */
    assert_null(out[1]);                  /* beyond MAX: untouched */
    assert_int_equal(store_cluster_replicas(v, a, out, 2), 2);
    assert_string_equal(out[1]->id, ID_R);
    assert_int_equal(store_cluster_replicas(v, store_cluster_find(v, ID_C), out, 2), 0);
    /* A replica has no replicas (its own master id is not asked for). */
    assert_int_equal(store_cluster_replicas(v, store_cluster_find(v, ID_R), out, 2), 0);
    store_cluster_view_free(&v);
}

/* ==== CLUSTER INFO ===================================================== */

static void info_of(const char *name, store_cluster_info *in)
{
    size_t len;
    char *text = load(name, &len);
    mrd_error err;
    memset(in, 0xA5, sizeof(*in)); /* the parser must fill it */
    if (store_cluster_info_parse(text, len, in, &err) != MRD_OK)
        fail_msg("%s does not parse: %s", name, err.msg);
    free(text);
}

static void test_info_captures(void **state)
{
    (void)state;
    store_cluster_info in;
    info_of("info-ok.txt", &in);
    assert_string_equal(in.state, "ok");
    assert_true(in.ok);
    assert_int_equal(in.slots_assigned, 16384);
    assert_int_equal(in.slots_ok, 16384);
    assert_int_equal(in.slots_pfail, 0);
    assert_int_equal(in.slots_fail, 0);
    assert_int_equal(in.known_nodes, 4);
    assert_int_equal(in.size, 3);
    assert_int_equal(in.current_epoch, 3);
    assert_int_equal(in.my_epoch, 1);

    info_of("info-fail.txt", &in);
    assert_string_equal(in.state, "fail");
    assert_false(in.ok);
    assert_int_equal(in.slots_ok, 10922);
    assert_int_equal(in.slots_fail, 5462);

    info_of("info-pfail.txt", &in);
    assert_true(in.ok);
    assert_int_equal(in.slots_pfail, 5462);

    info_of("info-replica.txt", &in);
    assert_int_equal(in.my_epoch, 1); /* a replica reports its master's */

    info_of("info-fresh.txt", &in);
    assert_false(in.ok);
    assert_int_equal(in.slots_assigned, 0);
    assert_int_equal(in.known_nodes, 1);
}

static void info_fails(const char *text, const char *msg)
{
    store_cluster_info in;
    mrd_error err;
    assert_int_equal(store_cluster_info_parse(text, strlen(text), &in, &err), MRD_ERR_PARSE);
    assert_string_equal(err.msg, msg);
}

#define INFO_TAIL                                                                   \
    "cluster_slots_ok:1\ncluster_slots_pfail:0\ncluster_slots_fail:0\n"             \
    "cluster_known_nodes:1\ncluster_size:1\ncluster_current_epoch:0\ncluster_my_epoch:0\n"

static void test_info_malformed(void **state)
{
    (void)state;
    info_fails("", "CLUSTER INFO has no cluster_state:ok or cluster_state:fail line");
    info_fails("cluster_state:maybe\ncluster_slots_assigned:1\n" INFO_TAIL,
               "CLUSTER INFO has no cluster_state:ok or cluster_state:fail line");
    info_fails("cluster_state:ok\n" INFO_TAIL,
               "CLUSTER INFO has no cluster_slots_assigned line with a number of 0 or more");
    info_fails("cluster_state:ok\ncluster_slots_assigned:-1\n" INFO_TAIL,
               "CLUSTER INFO has no cluster_slots_assigned line with a number of 0 or more");
    info_fails("cluster_state:ok\ncluster_slots_assigned:12x\n" INFO_TAIL,
               "INFO field cluster_slots_assigned is not a number: 12x");
    /* LF line ends, fields in any order, unknown fields ignored. */
    const char *t = "cluster_my_epoch:9\ncluster_state:ok\nfoo:bar\ncluster_slots_assigned:7\n"
                    "cluster_slots_ok:1\ncluster_slots_pfail:0\ncluster_slots_fail:0\n"
                    "cluster_known_nodes:1\ncluster_size:1\ncluster_current_epoch:0\n";
    store_cluster_info in;
    assert_int_equal(store_cluster_info_parse(t, strlen(t), &in, NULL), MRD_OK);
    assert_int_equal(in.my_epoch, 9);
    assert_int_equal(in.slots_assigned, 7);
}

/* ==== NODES.CONF FOR A RESTORED REPLICA ================================ */

static store_cluster_replica_spec spec_of(const char *id, int port, const char *master)
{
    return (store_cluster_replica_spec){.id = id, .ip = "127.0.0.1", .port = port,
                                        .bus_port = port + 50, .master_id = master,
                                        .current_epoch = 3};
}

/* Render from fixture PEER; the text is a new string. */
static char *render(const char *peer, const store_cluster_replica_spec *spec)
{
    store_cluster_view *v = view_of(peer);
    mrd_buf b;
    mrd_buf_init(&b, 1 << 20);
    mrd_error err;
    if (store_cluster_replica_conf(v, spec, &b, &err) != MRD_OK)
        fail_msg("render from %s failed: %s", peer, err.msg);
    store_cluster_view_free(&v);
    return mrd_buf_take(&b);
}

/* The file with which the real node got a partial resync: the lost
 * node's id at a new address, its old entry (slave,fail at 19304) left
 * out, the peer's myself flag and ping/pong times gone. */
static void test_conf_as_verified(void **state)
{
    (void)state;
    store_cluster_replica_spec spec = spec_of(ID_R, 19305, ID_A);
    char *text = render("restore/peer.txt", &spec);
    size_t len;
    char *want = load("restore/nodes.conf", &len);
    assert_int_equal(strlen(text), len);
    assert_memory_equal(text, want, len);
    free(want);
    free(text);
}

/* A new id at the lost node's address: the old entry goes, another failed
 * replica stays failed, and the result parses back to the same cluster. */
static void test_conf_round_trip(void **state)
{
    (void)state;
    store_cluster_replica_spec spec = spec_of(ID_NEW, 19306, ID_A);
    char *text = render("restore/peer-stale.txt", &spec);
    assert_null(strstr(text, ID_N1));
    assert_non_null(strstr(text, ID_R " 127.0.0.1:19305@19355 slave,fail " ID_A " 0 0 1 "
                                      "disconnected\n"));
    assert_non_null(strstr(text, ID_B " 127.0.0.1:19301@19351 master - 0 0 0 connected "
                                      "5461-9999 10001-10922\n"));
    assert_int_equal(strncmp(text, ID_NEW " 127.0.0.1:19306@19356 myself,slave " ID_A
                                   " 0 0 1 connected\n", 100),
                     0);
    const char *vars = "vars currentEpoch 3 lastVoteEpoch 0\n";
    assert_string_equal(text + strlen(text) - strlen(vars), vars);

    store_cluster_view *back = store_cluster_view_new();
    store_cluster_view *peer = view_of("restore/peer-stale.txt");
    mrd_error err;
    assert_int_equal(store_cluster_nodes_parse(text, strlen(text), back, &err), MRD_OK);
    assert_int_equal(back->nnodes, peer->nnodes); /* one left out, one added */
    const store_cluster_node *me = store_cluster_myself(back);
    assert_string_equal(me->id, ID_NEW);
    assert_string_equal(store_cluster_master_of(back, me)->id, ID_A);
    assert_true(store_cluster_slots_agree(back, peer, NULL));
    assert_true(back->has_vars);
    assert_int_equal(back->current_epoch, 3);
    store_cluster_view_free(&peer);
    store_cluster_view_free(&back);
    free(text);
}

static void test_conf_cleans_flags(void **state)
{
    (void)state;
    store_cluster_replica_spec spec = spec_of(ID_NEW, 19309, ID_A);
    char *text = render("nodes-pfail.txt", &spec);
    assert_non_null(strstr(text, ID_C " 127.0.0.1:19302@19352 master - 0 0 3 disconnected "));
    free(text);
    text = render("nodes-fail.txt", &spec);
    assert_non_null(strstr(text, ID_C " 127.0.0.1:19302@19352 master,fail - 0 0 3 "));
    free(text);
    /* Open migrations would become the new node's own. */
    text = render("nodes-migrating.txt", &spec);
    assert_null(strchr(text, '['));
    assert_non_null(strstr(text, " 0-5460\n"));
    free(text);
    text = render("nodes-hostname.txt", &spec);
    assert_non_null(strstr(text, " 127.0.0.1:19301@19351,shard1.example master "));
    free(text);
    text = render("nodes-noaddr.txt", &spec);
    assert_non_null(strstr(text, ID_N1 " :0@0 slave,fail,noaddr " ID_A " 0 0 1 "));
    free(text);
}

static void test_conf_drops_handshakes(void **state)
{
    (void)state;
    const char *t = ME ID_B " 127.0.0.1:1@2 handshake - 0 0 0 disconnected\n"
                       ID_C " 127.0.0.1:3@4 noflags - 0 0 0 disconnected\n";
    store_cluster_view *v = store_cluster_view_new();
    assert_int_equal(store_cluster_nodes_parse(t, strlen(t), v, NULL), MRD_OK);
    store_cluster_replica_spec spec = spec_of(ID_NEW, 19309, ID_A);
    mrd_buf b;
    mrd_buf_init(&b, 1 << 20);
    assert_int_equal(store_cluster_replica_conf(v, &spec, &b, NULL), MRD_OK);
    assert_null(strstr(mrd_buf_str(&b), ID_B));
    assert_non_null(strstr(mrd_buf_str(&b), ID_C " 127.0.0.1:3@4 noflags - 0 0 0 "));
    mrd_buf_free(&b);
    store_cluster_view_free(&v);
}

/* SPEC must be refused with exactly MSG, and OUT left as it was. */
static void conf_refused(const char *peer, const store_cluster_replica_spec *spec,
                         const char *msg)
{
    store_cluster_view *v = view_of(peer);
    mrd_buf b;
    mrd_buf_init(&b, 1 << 20);
    assert_int_equal(mrd_buf_adds(&b, "kept"), MRD_OK);
    mrd_error err;
    assert_int_equal(store_cluster_replica_conf(v, spec, &b, &err), MRD_ERR_INVALID);
    assert_string_equal(err.msg, msg);
    assert_string_equal(mrd_buf_str(&b), "kept");
    mrd_buf_free(&b);
    store_cluster_view_free(&v);
}

static void test_conf_refusals(void **state)
{
    (void)state;
    store_cluster_replica_spec s = spec_of("abc", 19309, ID_A);
    conf_refused("nodes-master.txt", &s,
                 "node ids are 40 lowercase hex digits: \"abc\", master \"" ID_A "\"");
    s = spec_of(ID_NEW, 19309, ID_NEW);
    conf_refused("nodes-master.txt", &s,
                 ID_NEW " is not a healthy master in the peer's view: ask a peer for the "
                        "shard's current master");
    s = spec_of(ID_NEW, 19309, ID_R); /* a replica */
    conf_refused("nodes-master.txt", &s,
                 ID_R " is not a healthy master in the peer's view: ask a peer for the "
                      "shard's current master");
    s = spec_of(ID_NEW, 19309, ID_C); /* failed */
    conf_refused("nodes-fail.txt", &s,
                 ID_C " is not a healthy master in the peer's view: ask a peer for the "
                      "shard's current master");
    s = spec_of(ID_A, 19309, ID_A);
    conf_refused("nodes-master.txt", &s,
                 "the restored replica " ID_A " at 127.0.0.1:19309 would replace node " ID_A
                 " at 127.0.0.1:19300, which is its master: give it the lost node's id or "
                 "a new one, and its own address");
    s = spec_of(ID_R, 19309, ID_A); /* the peer's own id */
    conf_refused("nodes-replica.txt", &s,
                 "the restored replica " ID_R " at 127.0.0.1:19309 would replace node " ID_R
                 " at 127.0.0.1:19303, which is the peer itself: give it the lost node's id "
                 "or a new one, and its own address");
    s = spec_of(ID_NEW, 19302, ID_A); /* a master's address */
    conf_refused("nodes-master.txt", &s,
                 "the restored replica " ID_NEW " at 127.0.0.1:19302 would replace node " ID_C
                 " at 127.0.0.1:19302, which is a master owning slots: give it the lost "
                 "node's id or a new one, and its own address");
    s = spec_of(ID_NEW, 19309, ID_A);
    s.ip = "";
    conf_refused("nodes-master.txt", &s,
                 "the restored replica's address \"\" is not an IP address");
    s.ip = "127.0.0.1 x";
    conf_refused("nodes-master.txt", &s,
                 "the restored replica's address \"127.0.0.1 x\" is not an IP address");
    s = spec_of(ID_NEW, 0, ID_A);
    conf_refused("nodes-master.txt", &s,
                 "the restored replica's ports 0 and 50 are not both in 1..65535");
}

/* A master the new node could not follow: in handshake (not written to
 * the file), without an address. */
static void test_conf_refuses_unreachable_master(void **state)
{
    (void)state;
    const char *flags[] = {"master,handshake", "master,noaddr"};
    for (size_t i = 0; i < 2; i++) {
        char t[512];
        snprintf(t, sizeof(t), "%s" ID_B " 127.0.0.1:1@2 %s - 0 0 0 connected 6000\n", ME,
                 flags[i]);
        store_cluster_view *v = store_cluster_view_new();
        assert_int_equal(store_cluster_nodes_parse(t, strlen(t), v, NULL), MRD_OK);
        store_cluster_replica_spec spec = spec_of(ID_NEW, 19309, ID_B);
        mrd_buf b;
        mrd_buf_init(&b, 1 << 20);
        mrd_error err;
        assert_int_equal(store_cluster_replica_conf(v, &spec, &b, &err), MRD_ERR_INVALID);
        assert_string_equal(err.msg, ID_B " is not a healthy master in the peer's view: ask "
                                          "a peer for the shard's current master");
        spec.master_id = ID_A; /* the same view, a master it can follow */
        assert_int_equal(store_cluster_replica_conf(v, &spec, &b, &err), MRD_OK);
        mrd_buf_free(&b);
        store_cluster_view_free(&v);
    }
}

static void test_conf_cap(void **state)
{
    (void)state;
    store_cluster_view *v = view_of("nodes-master.txt");
    store_cluster_replica_spec spec = spec_of(ID_NEW, 19309, ID_A);
    mrd_buf b;
    mrd_buf_init(&b, 100);
    assert_int_equal(mrd_buf_adds(&b, "kept"), MRD_OK);
    mrd_error err;
    assert_int_equal(store_cluster_replica_conf(v, &spec, &b, &err), MRD_ERR_INVALID);
    assert_string_equal(err.msg, "the nodes.conf of replica " ID_NEW " does not fit: invalid "
                                 "value");
    assert_string_equal(mrd_buf_str(&b), "kept");
    mrd_buf_free(&b);
    store_cluster_view_free(&v);
}

static void test_new_id(void **state)
{
    (void)state;
    char a[STORE_CLUSTER_ID_LEN + 1], b[STORE_CLUSTER_ID_LEN + 1];
    assert_int_equal(store_cluster_new_id(a, NULL), MRD_OK);
    assert_int_equal(store_cluster_new_id(b, NULL), MRD_OK);
    assert_int_equal(strlen(a), STORE_CLUSTER_ID_LEN);
    assert_int_equal(strspn(a, "0123456789abcdef"), STORE_CLUSTER_ID_LEN);
    assert_string_not_equal(a, b);
}

/* ==== KEYS AND REDIRECTIONS ============================================ */

static int slot_of(const char *k)
{
    return store_cluster_keyslot(k, strlen(k));
}

static void test_keyslot(void **state)
{
    (void)state;
    /* values redis-cli's CLUSTER KEYSLOT gives, and the CRC16 check value
     * of "123456789" (0x31C3) */
    assert_int_equal(slot_of("foo"), 12182);
    assert_int_equal(slot_of("bar"), 5061);
    assert_int_equal(slot_of("hello"), 866);
    assert_int_equal(slot_of("123456789"), 0x31C3 & 16383);
    assert_int_equal(slot_of(""), 0);
    /* hash tags: the first {...} that is not empty */
    assert_int_equal(slot_of("{user1000}.following"), slot_of("user1000"));
    assert_int_equal(slot_of("{bar}foo"), slot_of("bar"));
    assert_int_equal(slot_of("foo{bar}{zap}"), slot_of("bar"));
    assert_int_equal(slot_of("foo{{bar}}zap"), slot_of("{bar"));
    /* "{}" first, or no closing brace: the whole key */
    assert_int_equal(slot_of("foo{}{bar}"), 8363);
    assert_int_not_equal(slot_of("foo{bar"), slot_of("bar"));
    /* the length bounds the key */
    assert_int_equal(store_cluster_keyslot("foo-and-more", 3), 12182);
    for (int i = 0; i < 1000; i++) {
        char k[32];
        snprintf(k, sizeof(k), "drill:%d", i);
        int s = slot_of(k);
        assert_true(s >= 0 && s < STORE_CLUSTER_SLOTS);
    }
}

static void test_redirect(void **state)
{
    (void)state;
    store_cluster_redirect r;
    assert_true(store_cluster_redirect_parse("MOVED 3999 127.0.0.1:6381", &r));
    assert_false(r.ask);
    assert_int_equal(r.slot, 3999);
    assert_string_equal(r.ip, "127.0.0.1");
    assert_int_equal(r.port, 6381);
    assert_true(store_cluster_redirect_parse("-ASK 16383 127.0.2.1:15001", &r));
    assert_true(r.ask);
    assert_int_equal(r.slot, 16383);
    assert_string_equal(r.ip, "127.0.2.1");
    assert_int_equal(r.port, 15001);
    assert_true(store_cluster_redirect_parse("MOVED 0 ::1:7000", &r));
    assert_string_equal(r.ip, "::1");
    assert_int_equal(r.port, 7000);
    const char *bad[] = {"CLUSTERDOWN The cluster is down", "READONLY You can't write",
                         "MOVED", "MOVED 16384 127.0.0.1:1", "MOVED -1 127.0.0.1:1",
                         "MOVED 12 127.0.0.1", "MOVED 12 127.0.0.1:0",
                         "MOVED 12 127.0.0.1:70000", "MOVED 12 :6379", "MOVED x 1.2.3.4:5",
                         "MOVED 12 1.2.3.4:5 extra", "moved 12 1.2.3.4:5", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(store_cluster_redirect_parse(bad[i], &r));
    assert_false(store_cluster_redirect_parse(NULL, &r));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_healthy_from_master),
        cmocka_unit_test(test_healthy_from_replica),
        cmocka_unit_test(test_migrating_and_importing),
        cmocka_unit_test(test_hostname),
        cmocka_unit_test(test_split_ranges),
        cmocka_unit_test(test_suspected_and_failed_master),
        cmocka_unit_test(test_fresh_node),
        cmocka_unit_test(test_replaced_node_without_address),
        cmocka_unit_test(test_nodes_conf_with_vars),
        cmocka_unit_test(test_crlf_and_blank_lines),
        cmocka_unit_test(test_length_bounds_the_text),
        cmocka_unit_test(test_malformed_fields),
        cmocka_unit_test(test_malformed_nodes),
        cmocka_unit_test(test_malformed_slots),
        cmocka_unit_test(test_node_cap),
        cmocka_unit_test(test_slot_owner_bounds),
        cmocka_unit_test(test_slots_agree),
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_master_of),
        cmocka_unit_test(test_replicas),
        cmocka_unit_test(test_info_captures),
        cmocka_unit_test(test_info_malformed),
        cmocka_unit_test(test_conf_as_verified),
        cmocka_unit_test(test_conf_round_trip),
        cmocka_unit_test(test_conf_cleans_flags),
        cmocka_unit_test(test_conf_drops_handshakes),
        cmocka_unit_test(test_conf_refusals),
        cmocka_unit_test(test_conf_refuses_unreachable_master),
        cmocka_unit_test(test_conf_cap),
        cmocka_unit_test(test_new_id),
        cmocka_unit_test(test_keyslot),
        cmocka_unit_test(test_redirect),
    };
    return cmocka_run_group_tests_name("cluster", tests, NULL, NULL);
}
