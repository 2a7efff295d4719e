/* unit.rdb_scan: store_rdb_scan() (store/rdb_scan.c) on RDB files made by
 * the real redis-server 7.0.15 (tests/fixtures/rdb/, made by make.sh there:
 * each .rdb comes with the INFO keyspace Redis reported when it saved it),
 * and on hand-built RDBs for the types and opcodes 7.0 reads but no longer
 * writes.  Damage: every cut, flipped bytes, unknown types, hostile
 * lengths; the largest allocation is watched (malloc is wrapped, see
 * rdb_scan.cmake). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rdb_builder.h"
#include "rdb_scan.h"
#include "snapshot.h"

#define FIXTURES MRD_SOURCE_DIR "/tests/fixtures/rdb/"
#define MAX_ALLOC_ALLOWED (128 * 1024) /* the scan's window is 64 KiB */

/* ---- the largest malloc() the code under test asked for ---- */

void *__real_malloc(size_t n);
void *__wrap_malloc(size_t n);
static size_t max_alloc;

void *__wrap_malloc(size_t n)
{
    if (n > max_alloc)
        max_alloc = n;
    return __real_malloc(n);
}

/* ---- files ---- */

typedef struct blob {
    unsigned char *p;
    size_t n;
} blob;

static blob load(const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s%s", FIXTURES, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    blob b = {NULL, 0};
    size_t cap = 0;
    for (;;) {
        if (b.n == cap) {
            cap = cap ? 2 * cap : 65536;
            b.p = realloc(b.p, cap);
            assert_non_null(b.p);
        }
        size_t got = fread(b.p + b.n, 1, cap - b.n, f);
        if (got == 0)
            break;
        b.n += got;
    }
    fclose(f);
    return b;
}

/* store_rdb_scan() on N bytes at P through fmemopen(). */
static mrd_rc scan_mem(void *p, size_t n, store_rdb_summary *s, mrd_error *e)
{
    mrd_error_clear(e);
    if (n == 0) { /* fmemopen() refuses size 0 */
        FILE *f = tmpfile();
        assert_non_null(f);
        mrd_rc rc = store_rdb_scan(f, s, e);
        fclose(f);
        return rc;
    }
    FILE *f = fmemopen(p, n, "rb");
    assert_non_null(f);
    mrd_rc rc = store_rdb_scan(f, s, e);
    fclose(f);
    return rc;
}

/* Redis' own counts when it saved NAME.rdb (NAME.keyspace: INFO keyspace,
 * "dbN:keys=K,expires=E,avg_ttl=T" lines). */
typedef struct keyspace {
    long long keys, expires, db[16];
} keyspace;

static keyspace load_keyspace(const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s%s.keyspace", FIXTURES, name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    keyspace k;
    memset(&k, 0, sizeof(k));
    int db;
    long long keys, expires, ttl;
    while (fscanf(f, "db%d:keys=%lld,expires=%lld,avg_ttl=%lld\n", &db, &keys, &expires,
                  &ttl) == 4) {
        assert_true(db >= 0 && db < 16);
        k.db[db] = keys;
        k.keys += keys;
        k.expires += expires;
    }
    assert_true(feof(f));
    fclose(f);
    return k;
}

static void assert_counts_match_redis(const store_rdb_summary *s, const char *name)
{
    keyspace k = load_keyspace(name);
    assert_int_equal(s->keys, k.keys);
    assert_int_equal(s->expires, k.expires);
    for (int i = 0; i < 16; i++)
        assert_int_equal(s->db_keys[i], k.db[i]);
}

/* ---- real Redis 7.0.15 files ---- */

static void test_full(void **state)
{
    (void)state;
    store_rdb_summary s;
    mrd_error e;
    mrd_error_clear(&e);
    max_alloc = 0;
    assert_int_equal(store_rdb_scan_file(FIXTURES "full.rdb", &s, &e), MRD_OK);
    assert_true(max_alloc <= MAX_ALLOC_ALLOWED);
    assert_int_equal(s.rdb_version, 10);
    assert_int_equal(s.keys, 29);
    assert_int_equal(s.expires, 4);
    assert_int_equal(s.db_keys[0], 20);
    assert_int_equal(s.db_keys[3], 4);
    assert_int_equal(s.db_keys[15], 5);
    assert_string_equal(s.repl_id, "");
    assert_int_equal(s.repl_offset, -1);
    blob b = load("full.rdb");
    assert_int_equal(s.bytes, (long long)b.n);
    free(b.p);
    assert_counts_match_redis(&s, "full");
}

/* The replication form: repl-id and repl-offset aux fields, as
 * store_rdb_inspect() reads them from the head of the same file. */
static void test_sync(void **state)
{
    (void)state;
    store_rdb_summary s;
    mrd_error e;
    mrd_error_clear(&e);
    assert_int_equal(store_rdb_scan_file(FIXTURES "sync.rdb", &s, &e), MRD_OK);
    assert_int_equal(s.keys, 29);
    assert_int_equal(s.expires, 4);
    assert_counts_match_redis(&s, "sync");
    assert_int_equal(strlen(s.repl_id), 40);
    assert_true(s.repl_offset >= 0);
    blob b = load("sync.rdb");
    store_snapshot head;
    assert_int_equal(store_rdb_inspect(b.p, b.n < 4096 ? b.n : 4096, &head, &e), MRD_OK);
    assert_string_equal(s.repl_id, head.repl_id);
    assert_int_equal(s.repl_offset, head.repl_offset);
    free(b.p);
}

static void test_empty(void **state)
{
    (void)state;
    store_rdb_summary s;
    mrd_error e;
    mrd_error_clear(&e);
    assert_int_equal(store_rdb_scan_file(FIXTURES "empty.rdb", &s, &e), MRD_OK);
    assert_int_equal(s.keys, 0);
    assert_int_equal(s.expires, 0);
    assert_int_equal(s.bytes, 89);
    assert_counts_match_redis(&s, "empty");
}

/* rdbchecksum no: a zero CRC64, so a damaged value is not noticed (the
 * items still parse). */
static void test_no_checksum(void **state)
{
    (void)state;
    blob b = load("nochecksum.rdb");
    for (int i = 0; i < 8; i++)
        assert_int_equal(b.p[b.n - 1 - (size_t)i], 0);
    store_rdb_summary s;
    mrd_error e;
    assert_int_equal(scan_mem(b.p, b.n, &s, &e), MRD_OK);
    assert_int_equal(s.keys, 3);
    assert_int_equal(s.expires, 1);
    assert_int_equal(s.db_keys[0], 2);
    assert_int_equal(s.db_keys[1], 1);
    assert_counts_match_redis(&s, "nochecksum");
    b.p[b.n - 10] ^= 0x01; /* the last value's digit, before EOF */
    assert_int_equal(scan_mem(b.p, b.n, &s, &e), MRD_OK);
    free(b.p);
}

/* fmemopen() and a file give the same answer. */
static void test_memory_equals_file(void **state)
{
    (void)state;
    const char *names[] = {"full.rdb", "sync.rdb", "empty.rdb"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char path[512];
        snprintf(path, sizeof(path), "%s%s", FIXTURES, names[i]);
        store_rdb_summary a, m;
        mrd_error e;
        mrd_error_clear(&e);
        assert_int_equal(store_rdb_scan_file(path, &a, &e), MRD_OK);
        blob b = load(names[i]);
        assert_int_equal(scan_mem(b.p, b.n, &m, &e), MRD_OK);
        assert_memory_equal(&a, &m, sizeof(a));
        free(b.p);
    }
}

/* Every cut of a real file is refused as MRD_ERR_PARSE, never counted as
 * whole, with the byte offset in the sentence. */
static void test_truncated_everywhere(void **state)
{
    (void)state;
    blob b = load("full.rdb");
    for (size_t n = 0; n < b.n; n += (n < 2048 || n > b.n - 64) ? 1 : 37) {
        store_rdb_summary s;
        mrd_error e;
        unsigned char *copy = malloc(n ? n : 1); /* exact size: ASan sees overreads */
        assert_non_null(copy);
        memcpy(copy, b.p, n);
        mrd_rc rc = scan_mem(copy, n, &s, &e);
        free(copy);
        if (rc != MRD_ERR_PARSE)
            fail_msg("cut at %zu: rc %d (%s)", n, rc, e.msg);
        if (n >= 9 && !strstr(e.msg, "truncated"))
            fail_msg("cut at %zu: %s", n, e.msg);
        assert_true(s.bytes == (long long)n);
    }
    store_rdb_summary s;
    mrd_error e;
    assert_int_equal(scan_mem(b.p, 100, &s, &e), MRD_ERR_PARSE);
    assert_non_null(strstr(e.msg, "at byte"));
    free(b.p);
}

/* Any flipped byte is noticed: the CRC64 or the structure. */
static void test_flipped_bytes(void **state)
{
    (void)state;
    blob b = load("sync.rdb");
    for (size_t i = 0; i < b.n; i += 7) {
        for (int k = 0; k < 2; k++) {
            unsigned char mask = k ? 0xFF : 0x01;
            b.p[i] ^= mask;
            store_rdb_summary s;
            mrd_error e;
            mrd_rc rc = scan_mem(b.p, b.n, &s, &e);
            b.p[i] ^= mask;
            if (rc != MRD_ERR_PARSE)
                fail_msg("byte %zu ^ 0x%02x: rc %d", i, mask, rc);
        }
    }
    free(b.p);
}

/* A byte inside a value: only the CRC64 can tell. */
static void test_crc_mismatch(void **state)
{
    (void)state;
    blob b = load("full.rdb");
    size_t hit = 0;
    while (hit + 5 <= b.n && memcmp(b.p + hit, "hello", 5) != 0)
        hit++;
    assert_true(hit + 5 <= b.n); /* str:short's value */
    b.p[hit] = 'j';
    store_rdb_summary s;
    mrd_error e;
    assert_int_equal(scan_mem(b.p, b.n, &s, &e), MRD_ERR_PARSE);
    assert_non_null(strstr(e.msg, "CRC64 mismatch"));
    char want[64];
    snprintf(want, sizeof(want), "at byte %zu", b.n - 8);
    assert_non_null(strstr(e.msg, want));
    assert_int_equal(s.keys, 29); /* everything was walked */
    free(b.p);
}

static void test_trailing_bytes(void **state)
{
    (void)state;
    blob b = load("full.rdb");
    b.p = realloc(b.p, b.n + 1);
    assert_non_null(b.p);
    b.p[b.n] = 0;
    store_rdb_summary s;
    mrd_error e;
    assert_int_equal(scan_mem(b.p, b.n + 1, &s, &e), MRD_ERR_PARSE);
    assert_non_null(strstr(e.msg, "EOF opcode is not last"));
    free(b.p);
}

static void test_file_errors(void **state)
{
    (void)state;
    store_rdb_summary s;
    mrd_error e;
    mrd_error_clear(&e);
    assert_int_equal(store_rdb_scan_file(FIXTURES "no-such.rdb", &s, &e), MRD_ERR_IO);
    assert_non_null(strstr(e.msg, "no-such.rdb"));
    assert_int_equal(s.keys, 0);
    assert_int_equal(s.repl_offset, -1);
    /* a folder opens but cannot be read */
    assert_int_equal(store_rdb_scan_file(FIXTURES, &s, &e), MRD_ERR_IO);
    assert_int_equal(store_rdb_scan(NULL, &s, &e), MRD_ERR_INVALID);
    /* PATH in the error's file, the offset in the message */
    assert_int_equal(store_rdb_scan_file(FIXTURES "make.sh", &s, &e), MRD_ERR_PARSE);
    assert_non_null(strstr(e.file, "make.sh"));
    assert_non_null(strstr(e.msg, "not an RDB file"));
}

/* ---- hand-built RDBs ---- */

static void put_zeros(rdb *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        put_byte(r, 0);
}

static void start(rdb *r, const char *version)
{
    r->n = 0;
    put_header(r, version);
    put_byte(r, 0xFA);
    put_str(r, "redis-ver", 0);
    put_str(r, "7.0.15", 0);
    put_byte(r, 0xFE); /* SELECTDB 0 */
    put_len(r, 0, 0);
}

/* A string key "after" = "x": a value that follows the one under test, so
 * that a wrong skip shows in the count. */
static void put_canary(rdb *r)
{
    put_byte(r, 0);
    put_str(r, "after", 0);
    put_str(r, "x", 0);
}

/* EOF and the CRC64 (little endian) of everything before it. */
static void finish(rdb *r)
{
    put_byte(r, 0xFF);
    uint64_t crc = store_rdb_crc64(0, r->b, r->n);
    for (int i = 0; i < 8; i++)
        put_byte(r, (unsigned)((crc >> (8 * i)) & 0xFF));
}

static mrd_rc scan_rdb(rdb *r, store_rdb_summary *s, mrd_error *e)
{
    return scan_mem(r->b, r->n, s, e);
}

/* TYPE, key "k", then the value BUILD writes, then the canary. */
static void one_value(rdb *r, unsigned type, void (*build)(rdb *))
{
    start(r, "0010");
    put_byte(r, type);
    put_str(r, "k", 0);
    build(r);
    put_canary(r);
    finish(r);
}

static void v_list(rdb *r) /* types 1, 2, 14: N strings */
{
    put_len(r, 3, 0);
    put_str(r, "a", 0);
    put_byte(r, 0xC0); /* int8 */
    put_byte(r, 7);
    put_byte(r, 0xC2); /* int32 */
    put_zeros(r, 4);
}

static void v_zset_text(rdb *r) /* type 3: member, score as text */
{
    put_len(r, 5, 0);
    put_str(r, "a", 0);
    put_byte(r, 4);
    put(r, "1.25", 4);
    put_str(r, "long", 0); /* 252 characters: the longest that is not special */
    put_byte(r, 252);
    put(r, "1.", 2);
    for (int i = 0; i < 250; i++)
        put_byte(r, '0');
    put_str(r, "nan", 0);
    put_byte(r, 253);
    put_str(r, "inf", 0);
    put_byte(r, 254);
    put_str(r, "-inf", 0);
    put_byte(r, 255);
}

static void v_hash(rdb *r) /* type 4: field, value */
{
    put_len(r, 2, 0);
    put_str(r, "f1", 0);
    put_str(r, "v1", 0);
    put_str(r, "f2", 0);
    put_byte(r, 0xC1); /* int16 */
    put_zeros(r, 2);
}

static void v_zset2(rdb *r) /* type 5: member, binary double */
{
    put_len(r, 2, 0);
    put_str(r, "a", 0);
    put_zeros(r, 8);
    put_str(r, "b", 0);
    put_zeros(r, 8);
}

static void v_module2(rdb *r) /* type 7: module id, opcodes until EOF */
{
    put_len(r, 0x1234567890ULL, 0);
    put_byte(r, 1); /* SINT */
    put_len(r, 1ULL << 40, 0);
    put_byte(r, 2); /* UINT */
    put_len(r, 5, 0);
    put_byte(r, 3); /* FLOAT */
    put_zeros(r, 4);
    put_byte(r, 4); /* DOUBLE */
    put_zeros(r, 8);
    put_byte(r, 5); /* STRING */
    put_str(r, "module data", 0);
    put_byte(r, 0); /* EOF */
}

static void v_blob(rdb *r) /* types 9-13, 16, 17: one string (an LZF one) */
{
    /* LZF: a literal run of 3 bytes "abc" expanding to 3 bytes */
    put_byte(r, 0xC3);
    put_len(r, 4, 0);
    put_len(r, 3, 0);
    put_byte(r, 2);
    put(r, "abc", 3);
}

static void v_quicklist2(rdb *r) /* type 18: container, string */
{
    put_len(r, 2, 0);
    put_len(r, 2, 0); /* packed */
    put_str(r, "listpack bytes", 0);
    put_len(r, 1, 0); /* plain */
    put_str(r, "a plain element", 0);
}

/* type 15 or 19: listpacks, metadata, groups with PEL and consumers */
static void v_stream(rdb *r, bool v2)
{
    put_len(r, 1, 0);
    put_len(r, 16, 0);
    put_zeros(r, 16); /* node key: a raw ID */
    put_str(r, "listpack bytes", 0);
    put_len(r, 5, 0); /* length */
    put_len(r, 1700000000000ULL, 0);
    put_len(r, 3, 0); /* last ID */
    if (v2) {
        put_len(r, 1, 0); /* first ID */
        put_len(r, 0, 0);
        put_len(r, 0, 0); /* max deleted ID */
        put_len(r, 0, 0);
        put_len(r, 6, 0); /* entries added */
    }
    put_len(r, 2, 0); /* groups */
    for (int g = 0; g < 2; g++) {
        put_str(r, g ? "g2" : "g1", 0);
        put_len(r, 1700000000000ULL, 0); /* last delivered ID */
        put_len(r, 2, 0);
        if (v2)
            put_len(r, 4, 0); /* entries read */
        put_len(r, 2, 0);     /* PEL */
        for (int i = 0; i < 2; i++) {
            put_zeros(r, 16 + 8); /* ID, delivery time */
            put_len(r, 1, 0);     /* delivery count */
        }
        put_len(r, 2, 0); /* consumers */
        put_str(r, "alice", 0);
        put_zeros(r, 8); /* seen time */
        put_len(r, 1, 0);
        put_zeros(r, 16);
        put_str(r, "bob", 0);
        put_zeros(r, 8);
        put_len(r, 1, 0);
        put_zeros(r, 16);
    }
}

static void v_stream1(rdb *r)
{
    v_stream(r, false);
}

static void v_stream2(rdb *r)
{
    v_stream(r, true);
}

static void test_every_type(void **state)
{
    (void)state;
    struct {
        unsigned type;
        void (*build)(rdb *);
    } cases[] = {
        {1, v_list},        {2, v_list},     {3, v_zset_text}, {4, v_hash},  {5, v_zset2},
        {7, v_module2},     {9, v_blob},     {10, v_blob},     {11, v_blob}, {12, v_blob},
        {13, v_blob},       {14, v_list},    {15, v_stream1},  {16, v_blob}, {17, v_blob},
        {18, v_quicklist2}, {19, v_stream2},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rdb r;
        one_value(&r, cases[i].type, cases[i].build);
        store_rdb_summary s;
        mrd_error e;
        mrd_rc rc = scan_rdb(&r, &s, &e);
        if (rc != MRD_OK)
            fail_msg("type %u: %s", cases[i].type, e.msg);
        if (s.keys != 2)
            fail_msg("type %u: %lld keys", cases[i].type, s.keys);
        /* and every cut of it is refused */
        for (size_t n = 0; n < r.n; n++)
            if (scan_mem(r.b, n, &s, &e) != MRD_ERR_PARSE)
                fail_msg("type %u cut at %zu: %s", cases[i].type, n, e.msg);
    }
}

/* Opcodes around keys: EXPIRETIME (seconds), IDLE, FREQ, RESIZEDB,
 * MODULE_AUX, FUNCTION (7.0 rc form, with and without a description),
 * FUNCTION2, SELECTDB above 15, and an empty list (not a key for Redis). */
static void test_opcodes(void **state)
{
    (void)state;
    rdb r;
    start(&r, "0010");
    put_byte(&r, 0xF7); /* MODULE_AUX: id, when opcode (UINT), when, stream */
    put_len(&r, 99, 0);
    put_len(&r, 2, 0);
    put_len(&r, 1, 0);
    put_byte(&r, 5);
    put_str(&r, "aux", 0);
    put_byte(&r, 0);
    put_byte(&r, 0xF6); /* FUNCTION: name, engine, has_desc, desc, code */
    put_str(&r, "lib", 0);
    put_str(&r, "LUA", 0);
    put_len(&r, 1, 0);
    put_str(&r, "a description", 0);
    put_str(&r, "return 1", 0);
    put_byte(&r, 0xF6);
    put_str(&r, "lib2", 0);
    put_str(&r, "LUA", 0);
    put_len(&r, 0, 0);
    put_str(&r, "return 2", 0);
    put_byte(&r, 0xF5); /* FUNCTION2 */
    put_str(&r, "#!lua name=x\nreturn 3", 0);
    put_byte(&r, 0xFB); /* RESIZEDB */
    put_len(&r, 100000, 0);
    put_len(&r, 3, 0);
    put_byte(&r, 0xFD); /* EXPIRETIME, 4 bytes */
    put_zeros(&r, 4);
    put_byte(&r, 0xF8); /* IDLE */
    put_len(&r, 1000, 0);
    put_byte(&r, 0);
    put_str(&r, "ttl-seconds", 0);
    put_str(&r, "v", 0);
    put_byte(&r, 0xF9); /* FREQ */
    put_byte(&r, 5);
    put_byte(&r, 0xFC); /* EXPIRETIME_MS, 8 bytes */
    put_zeros(&r, 8);
    put_byte(&r, 1); /* an empty list: skipped by Redis, its expire too */
    put_str(&r, "empty", 0);
    put_len(&r, 0, 0);
    put_byte(&r, 0);
    put_str(&r, "no-ttl", 0);
    put_str(&r, "v", 0);
    put_byte(&r, 0xFE);
    put_len(&r, 20, 0); /* a database above 15 */
    put_canary(&r);
    finish(&r);
    store_rdb_summary s;
    mrd_error e;
    assert_int_equal(scan_rdb(&r, &s, &e), MRD_OK);
    assert_int_equal(s.keys, 3);
    assert_int_equal(s.expires, 1);
    assert_int_equal(s.db_keys[0], 2);
    long long sum = 0;
    for (int i = 0; i < 16; i++)
        sum += s.db_keys[i];
    assert_int_equal(sum, 2);
}

/* Version 4 has no checksum: EOF is the last byte; 11 is refused. */
static void test_versions(void **state)
{
    (void)state;
    rdb r;
    start(&r, "0004");
    put_canary(&r);
    put_byte(&r, 0xFF);
    store_rdb_summary s;
    mrd_error e;
    assert_int_equal(scan_rdb(&r, &s, &e), MRD_OK);
    assert_int_equal(s.rdb_version, 4);
    assert_int_equal(s.keys, 1);
    put_byte(&r, 0);
    assert_int_equal(scan_rdb(&r, &s, &e), MRD_ERR_PARSE);
    start(&r, "0011");
    finish(&r);
    assert_int_equal(scan_rdb(&r, &s, &e), MRD_ERR_PARSE);
    assert_non_null(strstr(e.msg, "version 11"));
    start(&r, "0009");
    put_canary(&r);
    finish(&r);
    assert_int_equal(scan_rdb(&r, &s, &e), MRD_OK);
    assert_int_equal(s.rdb_version, 9);
}

static void test_unknown_type(void **state)
{
    (void)state;
    rdb r;
    start(&r, "0010");
    size_t at = r.n;
    put_byte(&r, 0x42);
    put_str(&r, "k", 0);
    put_str(&r, "v", 0);
    finish(&r);
    store_rdb_summary s;
    mrd_error e;
    assert_int_equal(scan_rdb(&r, &s, &e), MRD_ERR_PARSE);
    char want[80];
    snprintf(want, sizeof(want), "RDB: unknown object type 0x42 at byte %zu", at);
    assert_string_equal(e.msg, want);
    unsigned refused[] = {6, 8, 20, 21, 0xF4};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        r.b[at] = (unsigned char)refused[i];
        r.n = at + 1 + 2 + 2;
        finish(&r);
        assert_int_equal(scan_rdb(&r, &s, &e), MRD_ERR_PARSE);
        r.n = at;
    }
}

/* Lengths from the file that would be huge allocations if trusted: each
 * is refused as truncated, quickly, with no allocation beyond the window. */
static void test_hostile_lengths(void **state)
{
    (void)state;
    static const unsigned char huge64[] = {0x81, 0x7F, 0xFF, 0xFF, 0xFF,
                                           0xFF, 0xFF, 0xFF, 0xFF};
    struct {
        const char *what;
        unsigned type;
    } cases[] = {{"string", 0}, {"list", 1},        {"hash", 4},
                 {"zset2", 5},  {"quicklist2", 18}, {"stream", 19}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rdb r;
        start(&r, "0010");
        put_byte(&r, cases[i].type);
        put_str(&r, "k", 0);
        put(&r, huge64, sizeof(huge64));
        for (int k = 0; k < 9; k++) /* what would be a few elements */
            put_byte(&r, 1);
        store_rdb_summary s;
        mrd_error e;
        max_alloc = 0;
        mrd_rc rc = scan_rdb(&r, &s, &e);
        if (rc != MRD_ERR_PARSE || !strstr(e.msg, "truncated"))
            fail_msg("%s: rc %d: %s", cases[i].what, rc, e.msg);
        assert_true(max_alloc <= MAX_ALLOC_ALLOWED);
    }
    /* LZF with a huge compressed and uncompressed length */
    rdb r;
    start(&r, "0010");
    put_byte(&r, 0);
    put_str(&r, "k", 0);
    put_byte(&r, 0xC3);
    put(&r, huge64, sizeof(huge64));
    put(&r, huge64, sizeof(huge64));
    finish(&r);
    store_rdb_summary s;
    mrd_error e;
    max_alloc = 0;
    assert_int_equal(scan_rdb(&r, &s, &e), MRD_ERR_PARSE);
    assert_true(max_alloc <= MAX_ALLOC_ALLOWED);
    /* an aux value announced huge */
    start(&r, "0010");
    put_byte(&r, 0xFA);
    put_str(&r, "repl-id", 0);
    put(&r, huge64, sizeof(huge64));
    finish(&r);
    assert_int_equal(scan_rdb(&r, &s, &e), MRD_ERR_PARSE);
    assert_true(max_alloc <= MAX_ALLOC_ALLOWED);
}

static void test_malformed(void **state)
{
    (void)state;
    rdb r;
    store_rdb_summary s;
    mrd_error e;
    /* an invalid length encoding (0x82) */
    start(&r, "0010");
    put_byte(&r, 1);
    put_str(&r, "k", 0);
    put_byte(&r, 0x82);
    finish(&r);
    assert_int_equal(scan_rdb(&r, &s, &e), MRD_ERR_PARSE);
    assert_non_null(strstr(e.msg, "invalid length encoding"));
    /* an unknown string encoding (0xC4) */
    start(&r, "0010");
    put_byte(&r, 0);
    put_str(&r, "k", 0);
    put_byte(&r, 0xC4);
    finish(&r);
    assert_int_equal(scan_rdb(&r, &s, &e), MRD_ERR_PARSE);
    assert_non_null(strstr(e.msg, "invalid string encoding"));
    /* a quicklist container that is neither plain nor packed */
    start(&r, "0010");
    put_byte(&r, 18);
    put_str(&r, "k", 0);
    put_len(&r, 1, 0);
    put_len(&r, 3, 0);
    put_str(&r, "x", 0);
    finish(&r);
    assert_int_equal(scan_rdb(&r, &s, &e), MRD_ERR_PARSE);
    assert_non_null(strstr(e.msg, "quicklist container 3"));
    /* an unknown module opcode */
    start(&r, "0010");
    put_byte(&r, 7);
    put_str(&r, "k", 0);
    put_len(&r, 1, 0);
    put_byte(&r, 6);
    finish(&r);
    assert_int_equal(scan_rdb(&r, &s, &e), MRD_ERR_PARSE);
    assert_non_null(strstr(e.msg, "module value opcode 6"));
    /* repl-id that is not 40 hex digits */
    start(&r, "0010");
    put_byte(&r, 0xFA);
    put_str(&r, "repl-id", 0);
    put_str(&r, "not-an-id", 0);
    finish(&r);
    assert_int_equal(scan_rdb(&r, &s, &e), MRD_ERR_PARSE);
    assert_non_null(strstr(e.msg, "repl-id"));
    /* no EOF opcode */
    start(&r, "0010");
    put_canary(&r);
    assert_int_equal(scan_rdb(&r, &s, &e), MRD_ERR_PARSE);
    assert_non_null(strstr(e.msg, "no EOF opcode"));
    assert_int_equal(s.keys, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_sync),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_no_checksum),
        cmocka_unit_test(test_memory_equals_file),
        cmocka_unit_test(test_truncated_everywhere),
        cmocka_unit_test(test_flipped_bytes),
        cmocka_unit_test(test_crc_mismatch),
        cmocka_unit_test(test_trailing_bytes),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_every_type),
        cmocka_unit_test(test_opcodes),
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_unknown_type),
        cmocka_unit_test(test_hostile_lengths),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
