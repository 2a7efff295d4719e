/* test_replacements.c - the replacement record: parse, round trip,
 * refusals, bookkeeping (orchestrator/plan/replacements.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replacements.h"

static mrd_rc parse(const char *text, mrd_replacements *r, mrd_error *err)
{
    mrd_error_clear(err);
    return replacements_parse(text, strlen(text), "replacements.json", r, err);
}

static void test_parse_and_round_trip(void **state)
{
    (void)state;
    const char *text =
        "{\"version\":1,\"generation\":3,"
        "\"replaced\":[{\"host\":\"use-b1\",\"by\":\"use-b9\",\"generation\":2,"
        "\"at_ms\":1700000000123,\"done\":true},"
        "{\"host\":\"use-b9\",\"by\":\"use-a9\",\"generation\":3,\"at_ms\":1700000100000,"
        "\"done\":false}],"
        "\"lost\":[{\"host\":\"euw-a1\",\"since_ms\":1700000200000}]}";
    mrd_replacements r;
    mrd_error err;
    assert_int_equal(parse(text, &r, &err), MRD_OK);
    assert_int_equal(r.generation, 3);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.items[0].host, "use-b1");
    assert_string_equal(r.items[0].by, "use-b9");
    assert_int_equal(r.items[0].generation, 2);
    assert_true(r.items[0].at_ms == 1700000000123LL);
    assert_true(r.items[0].done);
    assert_false(r.items[1].done);
    assert_int_equal(r.nlost, 1);
    assert_string_equal(r.lost[0].host, "euw-a1");
    assert_true(r.lost[0].since_ms == 1700000200000LL);
    /* the chain: use-b9 stands in for use-b1, then is replaced itself */
    assert_int_equal(replacements_find(&r, "use-b1"), 0);
    assert_int_equal(replacements_find(&r, "use-b9"), 1);
    assert_int_equal(replacements_find_by(&r, "use-b9"), 0);
    assert_int_equal(replacements_find_by(&r, "use-a9"), 1);
    assert_int_equal(replacements_find(&r, "nope"), -1);
    assert_int_equal(replacements_find(NULL, "use-b1"), -1);

    json_t *j = replacements_to_json(&r);
    assert_non_null(j);
    char *dumped = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    assert_non_null(dumped);
    mrd_replacements again;
    assert_int_equal(parse(dumped, &again, &err), MRD_OK);
    free(dumped);
    assert_int_equal(again.generation, r.generation);
    assert_int_equal(again.n, r.n);
    assert_int_equal(again.nlost, r.nlost);
    assert_memory_equal(again.items, r.items, sizeof(*r.items) * (size_t)r.n);
    assert_memory_equal(again.lost, r.lost, sizeof(*r.lost) * (size_t)r.nlost);
    replacements_free(&again);
    replacements_free(&r);
    assert_null(r.items);
    assert_int_equal(r.n, 0);
    replacements_free(NULL);
}

static void test_minimal_and_init(void **state)
{
    (void)state;
    mrd_replacements r;
    mrd_error err;
    assert_int_equal(parse("{\"version\":1,\"generation\":1}", &r, &err), MRD_OK);
    assert_int_equal(r.generation, 1);
    assert_int_equal(r.n, 0);
    assert_int_equal(r.nlost, 0);
    replacements_free(&r);

    replacements_init(&r);
    assert_int_equal(r.generation, 1);
    json_t *j = replacements_to_json(&r);
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(s, "{\"generation\":1,\"lost\":[],\"replaced\":[],\"version\":1}");
    free(s);
    json_decref(j);
}

static void test_add_and_lost(void **state)
{
    (void)state;
    mrd_replacements r;
    replacements_init(&r);
    assert_int_equal(replacements_add(&r, "use-b1", "use-b9", 1000), MRD_OK);
    assert_int_equal(r.generation, 2);
    assert_int_equal(r.items[0].generation, 2);
    assert_false(r.items[0].done);
    assert_int_equal(replacements_add(&r, "use-b9", "use-a9", 2000), MRD_OK);
    assert_int_equal(r.generation, 3);
    assert_int_equal(r.items[1].generation, 3);

    assert_int_equal(replacements_lost_set(&r, "euw-a1", 10), MRD_OK);
    assert_int_equal(replacements_lost_set(&r, "aps-a1", 20), MRD_OK);
    assert_int_equal(replacements_lost_set(&r, "euw-a1", 30), MRD_OK); /* keeps 10 */
    assert_int_equal(r.nlost, 2);
    assert_true(r.lost[0].since_ms == 10);
    replacements_lost_clear(&r, "euw-a1");
    replacements_lost_clear(&r, "not-there");
    assert_int_equal(r.nlost, 1);
    assert_string_equal(r.lost[0].host, "aps-a1");

    /* what add makes, parse accepts */
    json_t *j = replacements_to_json(&r);
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    mrd_replacements again;
    mrd_error err;
    assert_int_equal(parse(s, &again, &err), MRD_OK);
    free(s);
    assert_int_equal(again.n, 2);
    replacements_free(&again);
    replacements_free(&r);
}

static void expect_refused(const char *text, const char *needle)
{
    mrd_replacements r;
    mrd_error err;
    assert_int_equal(parse(text, &r, &err), MRD_ERR_PARSE);
    assert_string_equal(err.file, "replacements.json");
    if (!strstr(err.msg, needle))
        fail_msg("\"%s\" not in \"%s\"", needle, err.msg);
    assert_int_equal(r.n, 0);
    assert_null(r.items);
}

#define REC(gen, items) "{\"version\":1,\"generation\":" #gen ",\"replaced\":[" items "]}"
#define ITEM(h, b, g) "{\"host\":\"" h "\",\"by\":\"" b "\",\"generation\":" #g "}"

static void test_refusals(void **state)
{
    (void)state;
    expect_refused("{", "damaged");
    expect_refused("[]", "must be a JSON object");
    expect_refused("{\"version\":2,\"generation\":1}", "\"version\" must be 1");
    expect_refused("{\"version\":1,\"generation\":0}", "\"generation\" must be");
    expect_refused("{\"version\":1,\"generation\":1,\"replaced\":{}}", "must be lists");
    expect_refused(REC(2, "{\"host\":\"a\",\"generation\":2}"), "\"by\" must be");
    expect_refused(REC(2, "{\"host\":\"a\",\"by\":\"b\",\"generation\":1}"),
                   "\"generation\" must be an integer of at least 2");
    expect_refused(REC(2, "{\"host\":\"a\",\"by\":\"b\",\"generation\":2,\"done\":1}"),
                   "\"done\" must be true or false");
    expect_refused(REC(2, "{\"host\":\"a\",\"by\":\"b\",\"generation\":2,\"at_ms\":-1}"),
                   "\"at_ms\"");
    expect_refused(REC(2, ITEM("a", "a", 2)), "a stands in for itself");
    expect_refused(REC(3, ITEM("a", "s1", 2) "," ITEM("a", "s2", 3)), "host a is replaced twice");
    expect_refused(REC(3, ITEM("a", "s1", 2) "," ITEM("b", "s1", 3)), "spare s1 stands in twice");
    expect_refused(REC(3, ITEM("a", "s1", 3) "," ITEM("b", "s2", 3)), "generations must increase");
    expect_refused(REC(3, ITEM("a", "s1", 3) "," ITEM("b", "s2", 2)), "generations must increase");
    /* a fenced host never stands in afterwards (nor in a cycle) */
    expect_refused(REC(3, ITEM("a", "s1", 2) "," ITEM("s1", "a", 3)), "a stands in after it");
    expect_refused(REC(3, ITEM("a", "s1", 2) "," ITEM("b", "a", 3)), "a stands in after it");
    expect_refused(REC(2, ITEM("a", "s1", 3)), "below the last replacement's 3");
    expect_refused("{\"version\":1,\"generation\":1,\"lost\":[{\"host\":\"a\"},{\"host\":\"a\"}]}",
                   "lost host a is listed twice");
    expect_refused("{\"version\":1,\"generation\":1,\"lost\":[{\"since_ms\":1}]}",
                   "lost host 1: \"host\"");
    expect_refused("{\"version\":1,\"generation\":1,\"version\":1}", "damaged");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_and_round_trip),
        cmocka_unit_test(test_minimal_and_init),
        cmocka_unit_test(test_add_and_lost),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
