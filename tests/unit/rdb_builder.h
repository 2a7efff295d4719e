/* rdb_builder.h - a tiny RDB writer for tests (unit.snapshot,
 * unit.rdb_scan): header, lengths in any of their encodings, strings, the
 * trailer.  Include after <cmocka.h>. */
#ifndef MRD_TEST_RDB_BUILDER_H
#define MRD_TEST_RDB_BUILDER_H

#include <stdint.h>
#include <string.h>

typedef struct rdb {
    unsigned char b[8192];
    size_t n;
} rdb;

static inline void put(rdb *r, const void *p, size_t n)
{
    assert_true(r->n + n <= sizeof(r->b));
    memcpy(r->b + r->n, p, n);
    r->n += n;
}

static inline void put_byte(rdb *r, unsigned v)
{
    unsigned char c = (unsigned char)v;
    put(r, &c, 1);
}

static inline void put_header(rdb *r, const char *version)
{
    put(r, "REDIS", 5);
    put(r, version, 4);
}

/* A length in BITS: 6, 14, 32, 64; 0: the smallest that holds it. */
static inline void put_len(rdb *r, uint64_t len, int bits)
{
    if (bits == 0)
        bits = len < 64 ? 6 : len < 16384 ? 14 : len <= UINT32_MAX ? 32 : 64;
    switch (bits) {
    case 6:
        assert_true(len < 64);
        put_byte(r, (unsigned)len);
        break;
    case 14:
        assert_true(len < 16384);
        put_byte(r, 0x40 | (unsigned)(len >> 8));
        put_byte(r, (unsigned)(len & 0xFF));
        break;
    case 32:
        put_byte(r, 0x80);
        for (int i = 3; i >= 0; i--)
            put_byte(r, (unsigned)((len >> (8 * i)) & 0xFF));
        break;
    default:
        put_byte(r, 0x81);
        for (int i = 7; i >= 0; i--)
            put_byte(r, (unsigned)((len >> (8 * i)) & 0xFF));
        break;
    }
}

/* A length-prefixed string, its length in BITS as put_len(). */
static inline void put_str(rdb *r, const char *s, int bits)
{
    put_len(r, strlen(s), bits);
    put(r, s, strlen(s));
}

#endif
