/* test_catalog.c - backup ids, object names, manifests and retention. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "catalog.h"

static void test_ids(void **state)
{
    (void)state;
    char id[CATALOG_ID_LEN];
    catalog_id(1764703812, id); /* 2025-12-02 19:30:12 UTC */
    assert_string_equal(id, "20251202T193012Z");
    time_t t = 0;
    assert_true(catalog_id_parse(id, &t));
    assert_int_equal(t, 1764703812);
    /* what is not an id catalog_id() makes */
    static const char *const bad[] = {"", "20251202T193012", "20251202T193012ZZ",
                                      "20251302T193012Z", "20251202X193012Z",
                                      "2025120aT193012Z", "20250230T000000Z", "../../x/yyyyyyyy"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(catalog_id_parse(bad[i], NULL));
}

static void test_names(void **state)
{
    (void)state;
    char buf[128];
    assert_int_equal(catalog_folder("prod/", "shop", buf, sizeof(buf)), MRD_OK);
    assert_string_equal(buf, "prod/shop/");
    assert_int_equal(catalog_object("", "shop", "20251202T193012Z", 2, buf, sizeof(buf)),
                     MRD_OK);
    assert_string_equal(buf, "shop/20251202T193012Z/shard-2.rdb");
    assert_int_equal(catalog_object("p/", "shop", "20251202T193012Z", -1, buf, sizeof(buf)),
                     MRD_OK);
    assert_string_equal(buf, "p/shop/20251202T193012Z/manifest.json");
    assert_int_equal(catalog_object("p/", "shop", "20251202T193012Z", -1, buf, 20),
                     MRD_ERR_INVALID);
}

static catalog_manifest sample(catalog_shard *shards)
{
    memset(shards, 0, 2 * sizeof(*shards));
    for (int i = 0; i < 2; i++) {
        catalog_shard *s = &shards[i];
        s->shard = i;
        snprintf(s->object, sizeof(s->object), "p/shop/20251202T193012Z/shard-%d.rdb", i);
        s->bytes = 1000 + i;
        memset(s->sha256, 'a' + i, 64);
        s->keys = 10 * (i + 1);
        s->expires = i;
        snprintf(s->source_host, sizeof(s->source_host), "use-a%d", i + 1);
        snprintf(s->source_address, sizeof(s->source_address), "127.0.1.%d", i + 1);
        s->source_port = 16379;
        memset(s->repl_id, 'f', 40);
        s->repl_offset = 12345 + i;
        s->rdb_version = 10;
    }
    shards[1].nranges = 2;
    shards[1].ranges[0][0] = 0;
    shards[1].ranges[0][1] = 99;
    shards[1].ranges[1][0] = 200;
    shards[1].ranges[1][1] = 16383;
    return (catalog_manifest){.id = "20251202T193012Z", .topology = "shop", .mode = "cluster",
                              .created = 1764703812, .duration_ms = 2500, .keys = 30,
                              .bytes = 2001, .shards = shards, .nshards = 2};
}

static void test_manifest_round_trip(void **state)
{
    (void)state;
    catalog_shard shards[2];
    catalog_manifest m = sample(shards);
    json_t *j = catalog_manifest_to_json(&m);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "created")),
                        "2025-12-02T19:30:12Z");
    char *text = json_dumps(j, 0);
    catalog_manifest back;
    mrd_error err;
    assert_int_equal(catalog_manifest_parse(text, strlen(text), "m.json", &back, &err), MRD_OK);
    assert_string_equal(back.id, m.id);
    assert_string_equal(back.mode, "cluster");
    assert_int_equal(back.keys, 30);
    assert_int_equal(back.nshards, 2);
    assert_memory_equal(&back.shards[0], &shards[0], sizeof(shards[0]));
    assert_memory_equal(&back.shards[1], &shards[1], sizeof(shards[1]));
    catalog_manifest_free(&back);
    assert_null(back.shards);
    free(text);
    json_decref(j);
}

/* Each mutation of a valid manifest is refused with a sentence naming it. */
static void test_manifest_refusals(void **state)
{
    (void)state;
    catalog_shard shards[2];
    catalog_manifest m = sample(shards);
    static const struct {
        const char *path, *value, *why;
    } cases[] = {
        {"format", "2", "no \"format\": 1"},
        {"id", "\"x\"", "no valid \"id\""},
        {"keys", "31", "not the sum"},
        {"keys", "-1", "lacks one of"},
        {"shards", "[]", "1 to 1024 shards"},
        {"shards/0/sha256", "\"abc\"", "64 hex digits"},
        {"shards/0/sha256",
         "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"",
         "64 hex digits"},
        {"shards/0/shard", "1", "numbered 0, 1"},
        {"shards/1/slots", "[[5, 1]]", "slot range"},
        {"shards/1/slots", "[[0, 16384]]", "slot range"},
        {"shards/0/source", "{}", "lacks one of"},
        {"shards/0/repl_offset", "-2", "lacks one of"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *j = catalog_manifest_to_json(&m);
        json_t *parent = j;
        char path[64];
        snprintf(path, sizeof(path), "%s", cases[i].path);
        char *key = path, *slash;
        while ((slash = strchr(key, '/'))) {
            *slash = '\0';
            parent = json_is_array(parent) ? json_array_get(parent, (size_t)atoi(key))
                                           : json_object_get(parent, key);
            key = slash + 1;
        }
        json_error_t jerr;
        json_t *v = json_loads(cases[i].value, JSON_DECODE_ANY, &jerr);
        assert_non_null(v);
        json_object_set_new(parent, key, v);
        char *text = json_dumps(j, 0);
        catalog_manifest back;
        mrd_error err;
        assert_int_equal(catalog_manifest_parse(text, strlen(text), "m.json", &back, &err),
                         MRD_ERR_PARSE);
        if (!strstr(err.msg, cases[i].why) || !strstr(err.msg, "m.json"))
            fail_msg("%s=%s: %s", cases[i].path, cases[i].value, err.msg);
        assert_null(back.shards);
        free(text);
        json_decref(j);
    }
    catalog_manifest back;
    mrd_error err;
    assert_int_equal(catalog_manifest_parse("{", 1, "m.json", &back, &err), MRD_ERR_PARSE);
    assert_non_null(strstr(err.msg, "m.json is not JSON"));
}

static void test_group(void **state)
{
    (void)state;
    const char *keys[] = {
        "p/shop/20251201T000000Z/shard-0.rdb", "p/shop/20251201T000000Z/manifest.json",
        "p/shop/20251203T000000Z/shard-0.rdb", /* interrupted: no manifest */
        "p/shop/20251202T000000Z/shard-0.rdb", "p/shop/20251202T000000Z/manifest.json",
        "p/shop/notes.txt",                    /* not a backup */
        "p/shop/2025120XT000000Z/shard-0.rdb", /* not an id */
        "p/other/20251202T000000Z/manifest.json", /* another topology */
    };
    long long sizes[] = {100, 1, 50, 200, 2, 9, 9, 9};
    catalog_entry *e;
    size_t n;
    mrd_error err;
    assert_int_equal(catalog_group("p/shop/", keys, sizes, 8, &e, &n, &err), MRD_OK);
    assert_int_equal(n, 3);
    assert_string_equal(e[0].id, "20251203T000000Z");
    assert_false(e[0].complete);
    assert_string_equal(e[1].id, "20251202T000000Z");
    assert_true(e[1].complete);
    assert_int_equal(e[1].bytes, 202);
    assert_int_equal(e[1].objects, 2);
    assert_string_equal(e[2].id, "20251201T000000Z");
    free(e);
}

static catalog_entry entry(const char *id, bool complete)
{
    catalog_entry e = {.complete = complete};
    snprintf(e.id, sizeof(e.id), "%s", id);
    catalog_id_parse(id, &e.created);
    return e;
}

static void test_retention(void **state)
{
    (void)state;
    time_t now;
    catalog_id_parse("20251230T000000Z", &now);
    catalog_entry e[] = {
        entry("20251230T000000Z", true),  /* current */
        entry("20251229T000000Z", false), /* interrupted */
        entry("20251228T000000Z", true),
        entry("20251210T000000Z", true),
        entry("20251101T000000Z", true),
        entry("20251001T000000Z", true),
    };
    bool del[6];
    /* keep 3, 30 days: the 4th and 5th complete ones are old and go, and
     * the interrupted one */
    assert_int_equal(catalog_retention(e, 6, "20251230T000000Z", 3, 30, now, del), 3);
    assert_false(del[0]);
    assert_true(del[1]);
    assert_false(del[2]);
    assert_false(del[3]);
    assert_true(del[4]);
    assert_true(del[5]);
    /* 60 days keeps the one of 2025-11-01 however many newer ones exist */
    assert_int_equal(catalog_retention(e, 6, "20251230T000000Z", 1, 60, now, del), 2);
    assert_true(del[1]);
    assert_false(del[2]);
    assert_false(del[3]);
    assert_false(del[4]);
    assert_true(del[5]);
    /* keep_last 1 and 0 days: only the current one stays */
    assert_int_equal(catalog_retention(e, 6, "20251230T000000Z", 1, 0, now, del), 5);
    assert_false(del[0]);
    /* the current backup is kept even when it is not the newest id */
    assert_int_equal(catalog_retention(e + 2, 4, "20251101T000000Z", 1, 0, now, del), 2);
    assert_false(del[0]);
    assert_true(del[1]);
    assert_false(del[2]);
    assert_true(del[3]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_manifest_round_trip),
        cmocka_unit_test(test_manifest_refusals),
        cmocka_unit_test(test_group),
        cmocka_unit_test(test_retention),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
