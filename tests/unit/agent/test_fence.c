/* test_fence.c - the pure half of agent/fence.c: is this host replaced by a
 * spare (fence_decide), from its own manifest, its marker and its peers'
 * GET /v1/fence answers; the answer's JSON both ways (fence_view_json,
 * fence_view_parse) and the marker's (fence_marker_parse).  No I/O. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fence.h"

/* ==== HELPERS ========================================================== */

/* A view from HOST at GENERATION listing N replacements "lost>by@gen". */
static fence_view view(const char *host, int generation, int n, ...)
{
    fence_view v;
    memset(&v, 0, sizeof(v));
    snprintf(v.host, sizeof(v.host), "%s", host);
    v.generation = generation;
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        const char *lost = va_arg(ap, const char *);
        const char *by = va_arg(ap, const char *);
        int gen = va_arg(ap, int);
        snprintf(v.replaced[i].host, sizeof(v.replaced[i].host), "%s", lost);
        snprintf(v.replaced[i].by, sizeof(v.replaced[i].by), "%s", by);
        v.replaced[i].generation = gen;
    }
    va_end(ap);
    v.nreplaced = n;
    return v;
}

static void assert_fenced(const fence_verdict *v, const char *by, int generation,
                          const char *source)
{
    assert_true(v->fenced);
    assert_string_equal(v->by, by);
    assert_int_equal(v->generation, generation);
    assert_string_equal(v->source, source);
}

/* ==== THE DECISION ===================================================== */

/* Nothing says so: not fenced (a first deploy, every peer at generation 1). */
static void test_decide_nobody_says(void **state)
{
    (void)state;
    fence_view own = view("use-b1", 1, 0);
    fence_view peers[2] = {view("use-a1", 1, 0), view("euw-a1", 1, 0)};
    fence_verdict v;
    assert_false(fence_decide("use-b1", &own, NULL, peers, 2, &v));
    assert_false(v.fenced);
    assert_false(v.drop_marker);
    /* no peer answered: fail open */
    assert_false(fence_decide("use-b1", &own, NULL, NULL, 0, &v));
}

/* A peer of a higher generation lists this host as replaced. */
static void test_decide_peer_newer(void **state)
{
    (void)state;
    fence_view own = view("use-b1", 1, 0);
    fence_view peers[2] = {view("use-a1", 1, 0),
                           view("euw-a1", 2, 1, "use-b1", "use-b9", 2)};
    fence_verdict v;
    assert_true(fence_decide("use-b1", &own, NULL, peers, 2, &v));
    assert_fenced(&v, "use-b9", 2, "euw-a1");
    assert_false(v.drop_marker);
    /* it lists another host: not us */
    peers[1] = view("euw-a1", 2, 1, "aps-a1", "aps-a9", 2);
    assert_false(fence_decide("use-b1", &own, NULL, peers, 2, &v));
}

/* A peer at our generation or below is ignored, whatever it lists: it
 * knows no more than our own manifest does. */
static void test_decide_peer_not_newer(void **state)
{
    (void)state;
    fence_view own = view("use-b1", 2, 0);
    fence_view peers[2] = {view("use-a1", 2, 1, "use-b1", "use-b9", 2),
                           view("euw-a1", 1, 1, "use-b1", "use-b9", 2)};
    fence_verdict v;
    assert_false(fence_decide("use-b1", &own, NULL, peers, 2, &v));
}

/* Our own manifest lists us: fenced, whatever the peers say. */
static void test_decide_own_manifest(void **state)
{
    (void)state;
    fence_view own = view("use-b1", 2, 1, "use-b1", "use-b9", 2);
    fence_verdict v;
    assert_true(fence_decide("use-b1", &own, NULL, NULL, 0, &v));
    assert_fenced(&v, "use-b9", 2, "manifest");
}

/* The marker keeps a restarted host fenced with every peer unreachable,
 * until a manifest of a higher generation that uses the host again. */
static void test_decide_marker(void **state)
{
    (void)state;
    fence_marker mk = {.generation = 2};
    snprintf(mk.by, sizeof(mk.by), "use-b9");
    fence_view own = view("use-b1", 1, 0);
    fence_verdict v;
    assert_true(fence_decide("use-b1", &own, &mk, NULL, 0, &v));
    assert_fenced(&v, "use-b9", 2, "marker");
    assert_false(v.drop_marker);
    /* a manifest of the marker's generation: still fenced */
    own = view("use-b1", 2, 0);
    assert_true(fence_decide("use-b1", &own, &mk, NULL, 0, &v));
    assert_false(v.drop_marker);
    /* a newer manifest that does not list us: the marker goes */
    own = view("use-b1", 3, 1, "aps-a1", "use-b1", 3);
    assert_false(fence_decide("use-b1", &own, &mk, NULL, 0, &v));
    assert_true(v.drop_marker);
    /* ... unless a newer peer fences us again */
    fence_view peer = view("use-a1", 4, 1, "use-b1", "use-b8", 4);
    assert_true(fence_decide("use-b1", &own, &mk, &peer, 1, &v));
    assert_fenced(&v, "use-b8", 4, "use-a1");
    assert_true(v.drop_marker);
    /* a newer manifest that lists us: fenced by it, the marker stays */
    own = view("use-b1", 3, 1, "use-b1", "use-b9", 2);
    assert_true(fence_decide("use-b1", &own, &mk, NULL, 0, &v));
    assert_false(v.drop_marker);
    assert_fenced(&v, "use-b9", 2, "manifest");
}

/* Several sources: the replacement of the highest generation is the one
 * reported (a chain: use-b1 replaced at 2, then again at 3). */
static void test_decide_newest_wins(void **state)
{
    (void)state;
    fence_view own = view("use-b1", 2, 1, "use-b1", "use-b9", 2);
    fence_view peers[3] = {view("use-a1", 3, 1, "use-b1", "use-b8", 3),
                           view("euw-a1", 4, 1, "use-b1", "use-b7", 2),
                           view("aps-a1", 3, 0)};
    fence_verdict v;
    assert_true(fence_decide("use-b1", &own, NULL, peers, 3, &v));
    assert_fenced(&v, "use-b8", 3, "use-a1");
}

/* Every combination of the sources: fenced exactly when one of them says
 * so by the rules above (an invariant over 2^5 cases). */
static void test_decide_every_combination(void **state)
{
    (void)state;
    for (int bits = 0; bits < 32; bits++) {
        bool own_lists = bits & 1, marker = bits & 2, marker_old = bits & 4,
             peer_newer = bits & 8, peer_lists = bits & 16;
        fence_view own = own_lists ? view("h", 3, 1, "h", "s", 3) : view("h", 3, 0);
        fence_marker mk = {.generation = marker_old ? 2 : 3};
        snprintf(mk.by, sizeof(mk.by), "s");
        int pg = peer_newer ? 4 : 3;
        fence_view peer = peer_lists ? view("p", pg, 1, "h", "s2", pg) : view("p", pg, 0);
        fence_verdict v;
        bool got = fence_decide("h", &own, marker ? &mk : NULL, &peer, 1, &v);
        bool want = own_lists || (marker && (!marker_old || own_lists)) ||
                    (peer_newer && peer_lists);
        if (got != want)
            fail_msg("case %d: fenced %d, expected %d", bits, got, want);
        assert_int_equal(v.drop_marker, marker && marker_old && !own_lists);
        if (peer_newer && peer_lists)
            assert_int_equal(v.generation, 4);
    }
}

/* ==== THE ANSWER AND THE MARKER ======================================== */


/* fence_view_json of a manifest parses back to the manifest's view. */
static void test_view_round_trip(void **state)
{
    (void)state;
    mrd_manifest m;
    memset(&m, 0, sizeof(m));
    snprintf(m.topology, sizeof(m.topology), "shop");
    snprintf(m.host, sizeof(m.host), "use-a2");
    m.generation = 2;
    m.nreplaced = 1;
    snprintf(m.replaced[0].host, sizeof(m.replaced[0].host), "use-c1");
    snprintf(m.replaced[0].by, sizeof(m.replaced[0].by), "use-a2");
    m.replaced[0].generation = 2;
    json_t *j = fence_view_json(&m);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    assert_string_equal(text, "{\"topology\":\"shop\",\"host\":\"use-a2\",\"generation\":2,"
                              "\"replaced\":[{\"host\":\"use-c1\",\"by\":\"use-a2\","
                              "\"generation\":2}]}");
    fence_view v, mine;
    mrd_error err;
    assert_int_equal(fence_view_parse(text, strlen(text), "shop", &v, &err), MRD_OK);
    fence_view_of(&m, &mine);
    assert_memory_equal(&v, &mine, sizeof(v));
    free(text);
    /* a zeroed manifest's generation is 1 */
    m.generation = 0;
    fence_view_of(&m, &mine);
    assert_int_equal(mine.generation, 1);
}

static void view_fails(const char *text, mrd_rc code, const char *msg)
{
    fence_view v;
    mrd_error err;
    mrd_error_clear(&err);
    assert_int_equal(fence_view_parse(text, strlen(text), "shop", &v, &err), code);
    if (!strstr(err.msg, msg))
        fail_msg("expected \"%s\" in \"%s\"", msg, err.msg);
    assert_int_equal(v.nreplaced, 0);
}

static void test_view_refusals(void **state)
{
    (void)state;
    view_fails("{", MRD_ERR_PARSE, "");
    view_fails("[]", MRD_ERR_INVALID, "not a JSON object");
    view_fails("{\"topology\":\"other\",\"host\":\"x\",\"generation\":5,\"replaced\":[]}",
               MRD_ERR_INVALID, "the answer is of deployment \"other\", not \"shop\"");
    view_fails("{\"host\":\"x\",\"generation\":5,\"replaced\":[]}", MRD_ERR_INVALID,
               "\"topology\" must be a string");
    view_fails("{\"topology\":\"shop\",\"generation\":5,\"replaced\":[]}", MRD_ERR_INVALID,
               "\"host\" must be a string");
    view_fails("{\"topology\":\"shop\",\"host\":\"x\",\"generation\":0,\"replaced\":[]}",
               MRD_ERR_INVALID, "\"generation\" must be an integer of 1 or more");
    view_fails("{\"topology\":\"shop\",\"host\":\"x\",\"generation\":\"2\",\"replaced\":[]}",
               MRD_ERR_INVALID, "\"generation\" must be an integer of 1 or more");
    view_fails("{\"topology\":\"shop\",\"host\":\"x\",\"generation\":2}", MRD_ERR_INVALID,
               "\"replaced\" must be an array");
    view_fails("{\"topology\":\"shop\",\"host\":\"x\",\"generation\":2,\"replaced\":[3]}",
               MRD_ERR_INVALID, "a replacement must be an object");
    view_fails("{\"topology\":\"shop\",\"host\":\"x\",\"generation\":2,"
               "\"replaced\":[{\"host\":\"a\",\"generation\":2}]}",
               MRD_ERR_INVALID, "\"by\" must be a string");
    char huge[300], text[512];
    memset(huge, 'h', sizeof(huge) - 1);
    huge[sizeof(huge) - 1] = '\0';
    snprintf(text, sizeof(text),
             "{\"topology\":\"shop\",\"host\":\"%s\",\"generation\":2,\"replaced\":[]}", huge);
    view_fails(text, MRD_ERR_INVALID, "\"host\" must be a string of fewer than 64 bytes");
}

static void test_marker_parse(void **state)
{
    (void)state;
    fence_marker mk;
    mrd_error err;
    const char *ok = "{\"host\":\"use-b1\",\"by\":\"use-b9\",\"generation\":2,\"at_ms\":1}";
    assert_int_equal(fence_marker_parse(ok, strlen(ok), &mk, &err), MRD_OK);
    assert_int_equal(mk.generation, 2);
    assert_string_equal(mk.by, "use-b9");
    assert_int_equal(fence_marker_parse("x", 1, &mk, &err), MRD_ERR_PARSE);
    const char *bad = "{\"by\":\"use-b9\"}";
    assert_int_equal(fence_marker_parse(bad, strlen(bad), &mk, &err), MRD_ERR_INVALID);
    bad = "{\"generation\":2}";
    assert_int_equal(fence_marker_parse(bad, strlen(bad), &mk, &err), MRD_ERR_INVALID);
}

static void test_sentence(void **state)
{
    (void)state;
    fence_verdict v = {.fenced = true, .generation = 2};
    snprintf(v.by, sizeof(v.by), "use-b9");
    char buf[256];
    fence_sentence(&v, buf, sizeof(buf));
    assert_string_equal(buf,
                        "this host was replaced by use-b9 at generation 2: its nodes stay "
                        "stopped");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decide_nobody_says),
        cmocka_unit_test(test_decide_peer_newer),
        cmocka_unit_test(test_decide_peer_not_newer),
        cmocka_unit_test(test_decide_own_manifest),
        cmocka_unit_test(test_decide_marker),
        cmocka_unit_test(test_decide_newest_wins),
        cmocka_unit_test(test_decide_every_combination),
        cmocka_unit_test(test_view_round_trip),
        cmocka_unit_test(test_view_refusals),
        cmocka_unit_test(test_marker_parse),
        cmocka_unit_test(test_sentence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
