/* unit.snapshot: the RDB header reader (store_rdb_inspect) and the CRC64
 * used for RDB checksums, on hand-built byte arrays; and the fetch's wire
 * and file handling against a scripted fake server on 127.0.0.1 (keepalives,
 * both payload forms, early close, timeout, damage, refusals).  The fetch
 * against a real redis-server: tests/integration/snapshot.sh. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rdb_builder.h"
#include "snapshot.h"

#define REPL_ID "8a1f4c3b2e9d7f6a5b4c3d2e1f0a9b8c7d6e5f4a"

/* ---- a tiny RDB builder (rdb_builder.h) and what Redis writes ---- */

static void put_aux(rdb *r, const char *key, const char *val)
{
    put_byte(r, 0xFA);
    put_str(r, key, 6);
    put_str(r, val, strlen(val) < 64 ? 6 : 14);
}

/* aux KEY = an integer-encoded string: 0xC0 int8, 0xC1 int16, 0xC2 int32,
 * little endian. */
static void put_aux_int(rdb *r, const char *key, long long v, int bytes)
{
    put_byte(r, 0xFA);
    put_str(r, key, 6);
    put_byte(r, bytes == 1 ? 0xC0 : bytes == 2 ? 0xC1 : 0xC2);
    for (int i = 0; i < bytes; i++)
        put_byte(r, (unsigned)(((unsigned long long)v >> (8 * i)) & 0xFF));
}

/* What Redis 7.0 writes at the start of an RDB with replication info. */
static void put_redis7_start(rdb *r, const char *replid, long long offset, int off_bytes)
{
    put_header(r, "0010");
    put_aux(r, "redis-ver", "7.0.15");
    put_aux_int(r, "redis-bits", 64, 1);
    put_aux_int(r, "ctime", 1727200000, 4);
    put_aux_int(r, "used-mem", 1056784, 4);
    put_aux_int(r, "repl-stream-db", 0, 1);
    put_aux(r, "repl-id", replid);
    if (off_bytes > 0)
        put_aux_int(r, "repl-offset", offset, off_bytes);
    else {
        char num[32];
        snprintf(num, sizeof(num), "%lld", offset);
        put_aux(r, "repl-offset", num);
    }
    put_aux_int(r, "aof-base", 0, 1);
}

static void put_end(rdb *r)
{
    put_byte(r, 0xFE); /* SELECTDB 0 */
    put_byte(r, 0x00);
    put_byte(r, 0xFB); /* RESIZEDB 1 0 */
    put_byte(r, 0x01);
    put_byte(r, 0x00);
    put_byte(r, 0x00); /* string "k" = "v" */
    put_str(r, "k", 6);
    put_str(r, "v", 6);
    put_byte(r, 0xFF);
    for (int i = 0; i < 8; i++)
        put_byte(r, 0);
}

static mrd_rc inspect(const rdb *r, store_snapshot *s, mrd_error *e)
{
    mrd_error_clear(e);
    return store_rdb_inspect(r->b, r->n, s, e);
}

/* ---- tests ---- */

static void test_redis7_int16_offset(void **state)
{
    (void)state;
    rdb r = {0};
    put_redis7_start(&r, REPL_ID, 12345, 2);
    put_end(&r);
    store_snapshot s;
    mrd_error e;
    assert_int_equal(inspect(&r, &s, &e), MRD_OK);
    assert_int_equal(s.rdb_version, 10);
    assert_string_equal(s.repl_id, REPL_ID);
    assert_int_equal(s.repl_offset, 12345);
    assert_int_equal(s.bytes, 0);
}

static void test_offset_each_int_encoding(void **state)
{
    (void)state;
    const struct {
        long long v;
        int bytes;
    } cases[] = {{0, 1}, {127, 1}, {100, 1}, {300, 2}, {32767, 2},
                 {70000, 4}, {2147483647, 4}, {1, 4}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rdb r = {0};
        put_redis7_start(&r, REPL_ID, cases[i].v, cases[i].bytes);
        store_snapshot s;
        mrd_error e;
        assert_int_equal(inspect(&r, &s, &e), MRD_OK);
        assert_int_equal(s.repl_offset, cases[i].v);
    }
}

static void test_offset_plain_string(void **state)
{
    (void)state;
    /* beyond 32 bits Redis cannot int-encode: it writes the digits */
    rdb r = {0};
    put_redis7_start(&r, REPL_ID, 12345678901LL, 0);
    put_end(&r);
    store_snapshot s;
    mrd_error e;
    assert_int_equal(inspect(&r, &s, &e), MRD_OK);
    assert_int_equal(s.repl_offset, 12345678901LL);
    assert_string_equal(s.repl_id, REPL_ID);
}

static void test_negative_int_values_elsewhere(void **state)
{
    (void)state;
    rdb r = {0};
    put_header(&r, "0009");
    put_aux_int(&r, "i8", -5, 1);
    put_aux_int(&r, "i16", -300, 2);
    put_aux_int(&r, "i32", -70000, 4);
    put_aux(&r, "repl-id", REPL_ID);
    put_aux_int(&r, "repl-offset", 99, 1);
    store_snapshot s;
    mrd_error e;
    assert_int_equal(inspect(&r, &s, &e), MRD_OK);
    assert_int_equal(s.rdb_version, 9);
    assert_string_equal(s.repl_id, REPL_ID);
    assert_int_equal(s.repl_offset, 99);
}

static void test_length_encodings(void **state)
{
    (void)state;
    /* other aux fields with 14-, 32- and 64-bit lengths, long enough not
     * to be kept, before the ones we want; keys in 14/32-bit too */
    char big[300];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    rdb r = {0};
    put_header(&r, "0010");
    put_byte(&r, 0xFA);
    put_str(&r, "a14", 14);
    put_str(&r, big, 14);
    put_byte(&r, 0xFA);
    put_str(&r, "a32", 32);
    put_str(&r, big, 32);
    put_byte(&r, 0xFA);
    put_str(&r, "a64", 64);
    put_str(&r, big, 64);
    put_byte(&r, 0xFA);
    put_str(&r, "repl-id", 32);
    put_str(&r, REPL_ID, 14);
    put_byte(&r, 0xFA);
    put_str(&r, "repl-offset", 64);
    put_str(&r, "4242", 32);
    put_end(&r);
    store_snapshot s;
    mrd_error e;
    assert_int_equal(inspect(&r, &s, &e), MRD_OK);
    assert_string_equal(s.repl_id, REPL_ID);
    assert_int_equal(s.repl_offset, 4242);
}

static void test_lzf_value(void **state)
{
    (void)state;
    /* repl-id "0123456789abcdef" x 2.5 as LZF: a 16-byte literal run, then
     * a back reference of 24 bytes at distance 16 (len 24-2=22: 7 in the
     * control byte + 15 in the next; distance-1 = 15). */
    const char *want = "0123456789abcdef0123456789abcdef01234567";
    rdb r = {0};
    put_header(&r, "0010");
    put_byte(&r, 0xFA);
    put_str(&r, "repl-id", 6);
    put_byte(&r, 0xC3);
    put_len(&r, 20, 6); /* compressed length */
    put_len(&r, 40, 6); /* uncompressed length */
    put_byte(&r, 15);
    put(&r, "0123456789abcdef", 16);
    put_byte(&r, 0xE0);
    put_byte(&r, 15);
    put_byte(&r, 15);
    put_aux_int(&r, "repl-offset", 7, 1);
    store_snapshot s;
    mrd_error e;
    assert_int_equal(inspect(&r, &s, &e), MRD_OK);
    assert_string_equal(s.repl_id, want);
    assert_int_equal(s.repl_offset, 7);
}

static void test_lzf_corrupt(void **state)
{
    (void)state;
    rdb r = {0};
    put_header(&r, "0010");
    put_byte(&r, 0xFA);
    put_str(&r, "repl-id", 6);
    put_byte(&r, 0xC3);
    put_len(&r, 3, 6);
    put_len(&r, 40, 6);
    put_byte(&r, 0xE0); /* a back reference before any output */
    put_byte(&r, 15);
    put_byte(&r, 15);
    store_snapshot s;
    mrd_error e;
    assert_int_equal(inspect(&r, &s, &e), MRD_ERR_PARSE);
}

static void test_absent_fields(void **state)
{
    (void)state;
    rdb r = {0};
    put_header(&r, "0010");
    put_aux(&r, "redis-ver", "7.0.15");
    put_end(&r);
    store_snapshot s;
    mrd_error e;
    assert_int_equal(inspect(&r, &s, &e), MRD_OK);
    assert_string_equal(s.repl_id, "");
    assert_int_equal(s.repl_offset, -1);
    assert_int_equal(s.rdb_version, 10);

    /* the header alone */
    rdb h = {0};
    put_header(&h, "0007");
    assert_int_equal(inspect(&h, &s, &e), MRD_OK);
    assert_int_equal(s.rdb_version, 7);
    assert_int_equal(s.repl_offset, -1);
}

static void test_stops_at_first_other_opcode(void **state)
{
    (void)state;
    rdb r = {0};
    put_header(&r, "0010");
    put_aux(&r, "redis-ver", "7.0.15");
    put_byte(&r, 0xFE); /* SELECTDB: aux fields are over */
    put_byte(&r, 0x00);
    put_aux(&r, "repl-id", REPL_ID);
    store_snapshot s;
    mrd_error e;
    assert_int_equal(inspect(&r, &s, &e), MRD_OK);
    assert_string_equal(s.repl_id, "");
}

/* Every prefix of a real-looking header: below 9 bytes it is not an RDB;
 * from there on it parses, and each field is either whole or absent. */
static void test_truncated_prefixes(void **state)
{
    (void)state;
    rdb r = {0};
    put_redis7_start(&r, REPL_ID, 1234567, 4);
    put_end(&r);
    for (size_t len = 0; len <= r.n; len++) {
        /* a heap copy of exactly LEN bytes, so ASan sees any over-read */
        unsigned char *copy = malloc(len ? len : 1);
        assert_non_null(copy);
        memcpy(copy, r.b, len);
        store_snapshot s;
        mrd_error e;
        mrd_rc rc = store_rdb_inspect(copy, len, &s, &e);
        if (len < 9) {
            assert_int_equal(rc, MRD_ERR_PARSE);
        } else {
            assert_int_equal(rc, MRD_OK);
            assert_int_equal(s.rdb_version, 10);
            assert_true(s.repl_id[0] == '\0' || strcmp(s.repl_id, REPL_ID) == 0);
            assert_true(s.repl_offset == -1 || s.repl_offset == 1234567);
        }
        free(copy);
    }
    store_snapshot s;
    mrd_error e;
    assert_int_equal(store_rdb_inspect(r.b, r.n, &s, &e), MRD_OK);
    assert_int_equal(s.repl_offset, 1234567);
}

static void test_not_rdb(void **state)
{
    (void)state;
    const char *bad[] = {"", "REDIS", "REDIS001", "+OK\r\n12345", "redis0010xxxx",
                         "REDIS00a9\xFA", "-ERR no\r\n", "RDB0010\xFF\0\0\0"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        store_snapshot s;
        mrd_error e;
        mrd_error_clear(&e);
        assert_int_equal(store_rdb_inspect((const unsigned char *)bad[i], strlen(bad[i]),
                                           &s, &e),
                         MRD_ERR_PARSE);
        assert_int_equal(e.code, MRD_ERR_PARSE);
        assert_non_null(strstr(e.msg, "not an RDB file"));
        assert_int_equal(s.repl_offset, -1);
    }
    store_snapshot s;
    assert_int_equal(store_rdb_inspect(NULL, 0, &s, NULL), MRD_ERR_PARSE);
}

static void test_malformed(void **state)
{
    (void)state;
    store_snapshot s;
    mrd_error e;

    rdb r1 = {0}; /* 0x82: not a length */
    put_header(&r1, "0010");
    put_byte(&r1, 0xFA);
    put_byte(&r1, 0x82);
    put(&r1, "\0\0\0\0\0\0\0\0", 8);
    assert_int_equal(inspect(&r1, &s, &e), MRD_ERR_PARSE);

    rdb r2 = {0}; /* encoding 0xC4: unknown */
    put_header(&r2, "0010");
    put_byte(&r2, 0xFA);
    put_str(&r2, "k", 6);
    put_byte(&r2, 0xC4);
    put(&r2, "\0\0\0\0", 4);
    assert_int_equal(inspect(&r2, &s, &e), MRD_ERR_PARSE);

    rdb r3 = {0}; /* a repl-id of the wrong size */
    put_header(&r3, "0010");
    put_aux(&r3, "repl-id", "abc");
    assert_int_equal(inspect(&r3, &s, &e), MRD_ERR_PARSE);
    assert_non_null(strstr(e.msg, "repl-id"));

    rdb r4 = {0}; /* a repl-offset that is not a number */
    put_header(&r4, "0010");
    put_aux(&r4, "repl-offset", "12x");
    assert_int_equal(inspect(&r4, &s, &e), MRD_ERR_PARSE);
    assert_non_null(strstr(e.msg, "repl-offset"));

    rdb r5 = {0}; /* negative */
    put_header(&r5, "0010");
    put_aux_int(&r5, "repl-offset", -3, 1);
    assert_int_equal(inspect(&r5, &s, &e), MRD_ERR_PARSE);
}

/* Found by tests/fuzz/fuzz_rdb.c: a repl-id of 40 bytes that are not 40
 * hex digits (here a NUL inside) was accepted, leaving OUT->repl_id a
 * 12-character string. */
static void test_repl_id_not_hex(void **state)
{
    (void)state;
    store_snapshot s;
    mrd_error e;
    static const char with_nul[40] = "eb4ae9794544\001\000a0\000\003@\336e7dcd52a63db597d5a38";

    rdb r1 = {0};
    put_header(&r1, "0010");
    put_byte(&r1, 0xFA);
    put_str(&r1, "repl-id", 6);
    put_len(&r1, sizeof(with_nul), 6);
    put(&r1, with_nul, sizeof(with_nul));
    assert_int_equal(inspect(&r1, &s, &e), MRD_ERR_PARSE);
    assert_non_null(strstr(e.msg, "repl-id"));

    rdb r2 = {0}; /* 40 characters, but not hex digits */
    put_header(&r2, "0010");
    put_aux(&r2, "repl-id", "8a1f4c3b2e9d7f6a5b4c3d2e1f0a9b8c7d6e5f4z");
    assert_int_equal(inspect(&r2, &s, &e), MRD_ERR_PARSE);

    rdb r3 = {0}; /* upper case is hex too */
    put_header(&r3, "0010");
    put_aux(&r3, "repl-id", "8A1F4C3B2E9D7F6A5B4C3D2E1F0A9B8C7D6E5F4A");
    assert_int_equal(inspect(&r3, &s, &e), MRD_OK);
    assert_string_equal(s.repl_id, "8A1F4C3B2E9D7F6A5B4C3D2E1F0A9B8C7D6E5F4A");
}

/* Found by tests/fuzz/fuzz_snapshot.c: a repl-offset whose first byte
 * is a NUL was read as 0 (strtoll stopped at the NUL). */
static void test_repl_offset_with_nul(void **state)
{
    (void)state;
    store_snapshot s;
    mrd_error e;
    rdb r = {0};
    put_header(&r, "0010");
    put_byte(&r, 0xFA);
    put_str(&r, "repl-offset", 6);
    put_len(&r, 3, 6);
    put(&r, "\00012", 3);
    assert_int_equal(inspect(&r, &s, &e), MRD_ERR_PARSE);
    assert_non_null(strstr(e.msg, "repl-offset"));
}

static void test_crc64(void **state)
{
    (void)state;
    assert_true(store_rdb_crc64(0, "123456789", 9) == UINT64_C(0xe9c6d914c4b8d9ca));
    /* chunked feeding gives the same result */
    uint64_t c = store_rdb_crc64(0, "1234", 4);
    c = store_rdb_crc64(c, "", 0);
    c = store_rdb_crc64(c, "56789", 5);
    assert_true(c == UINT64_C(0xe9c6d914c4b8d9ca));
    /* eight bytes at a time: the same as a bit at a time, for every length
     * and alignment and cut into chunks of every size */
    unsigned char buf[300];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof(buf); i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (unsigned char)(x >> 16);
    }
    for (size_t off = 0; off < 8; off++)
        for (size_t len = 0; len + off <= sizeof(buf); len += 7) {
            uint64_t ref = 0;
            for (size_t i = 0; i < len; i++) {
                ref ^= buf[off + i];
                for (int b = 0; b < 8; b++)
                    ref = (ref & 1) ? (ref >> 1) ^ UINT64_C(0x95AC9329AC4BC9B5) : ref >> 1;
            }
            assert_true(store_rdb_crc64(0, buf + off, len) == ref);
            for (size_t cut = 1; cut < 20 && cut < len; cut += 3) {
                uint64_t part = 0;
                for (size_t at = 0; at < len; at += cut)
                    part = store_rdb_crc64(part, buf + off + at, len - at < cut ? len - at : cut);
                assert_true(part == ref);
            }
        }
}

static void test_fetch_refuses_bad_arguments(void **state)
{
    (void)state;
    store_snapshot s;
    mrd_error e;
    assert_int_equal(store_snapshot_fetch("127.0.0.1", 0, NULL, NULL, "/tmp/x", 1000,
                                          &s, &e),
                     MRD_ERR_INVALID);
    assert_int_equal(store_snapshot_fetch("127.0.0.1", 6379, "u", NULL, "/tmp/x", 1000,
                                          &s, &e),
                     MRD_ERR_INVALID);
    assert_int_equal(store_snapshot_fetch("127.0.0.1", 6379, NULL, NULL, "/tmp/x", 0,
                                          &s, &e),
                     MRD_ERR_INVALID);
}

/* ---- store_snapshot_fetch against a scripted fake server ----
 *
 * A thread on 127.0.0.1 (an ephemeral port) answers AUTH and REPLCONF, and
 * SYNC with whatever the test scripted: keepalives, a bulk header, the
 * payload in small chunks (so the EOF mark straddles reads), a stall, an
 * early close.  Real servers are exercised by tests/integration/snapshot.sh. */

typedef struct fake {
    int lfd;
    int port;
    pthread_t thread;
    const char *auth_reply;      /* NULL: +OK */
    const char *sync_reply;      /* bulk header or error line, with \r\n */
    const unsigned char *payload;
    size_t payload_len;
    size_t chunk;                /* payload write size, 0: all at once */
    int keepalives;              /* "\n" before the SYNC reply */
    int keepalive_ms;            /* pause before each keepalive */
    int stall_ms;                /* pause before closing */
    int commands;                /* commands seen */
    long long sent_at;           /* ms, monotonic: the payload was sent */
    long long returned_at;       /* ms, monotonic: the fetch returned */
    char last_command[32];
} fake;

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static bool send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w <= 0)
            return false;
        c += w;
        n -= (size_t)w;
    }
    return true;
}

/* Read one RESP array command; its first word into NAME. */
static bool read_command(FILE *in, char *name, size_t n)
{
    char line[256];
    if (!fgets(line, sizeof(line), in) || line[0] != '*')
        return false;
    long argc = strtol(line + 1, NULL, 10);
    for (long i = 0; i < argc; i++) {
        if (!fgets(line, sizeof(line), in) || line[0] != '$')
            return false;
        long len = strtol(line + 1, NULL, 10);
        char word[256];
        if (len < 0 || len > 200 || fread(word, 1, (size_t)len + 2, in) != (size_t)len + 2)
            return false;
        word[len] = '\0';
        if (i == 0)
            snprintf(name, n, "%s", word);
    }
    return true;
}

static void *fake_serve(void *arg)
{
    fake *f = arg;
    int fd = accept(f->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    FILE *in = fdopen(dup(fd), "r");
    char name[32];
    while (in && read_command(in, name, sizeof(name))) {
        f->commands++;
        snprintf(f->last_command, sizeof(f->last_command), "%s", name);
        if (strcmp(name, "AUTH") == 0) {
            const char *r = f->auth_reply ? f->auth_reply : "+OK\r\n";
            send_all(fd, r, strlen(r));
            if (r[0] == '-')
                break;
        } else if (strcmp(name, "REPLCONF") == 0) {
            send_all(fd, "+OK\r\n", 5);
        } else if (strcmp(name, "SYNC") == 0) {
            for (int i = 0; i < f->keepalives; i++) {
                sleep_ms(f->keepalive_ms);
                send_all(fd, "\n", 1);
            }
            send_all(fd, f->sync_reply, strlen(f->sync_reply));
            size_t step = f->chunk ? f->chunk : f->payload_len;
            for (size_t off = 0; off < f->payload_len; off += step) {
                size_t k = f->payload_len - off < step ? f->payload_len - off : step;
                if (!send_all(fd, f->payload + off, k))
                    break;
                if (f->chunk)
                    sleep_ms(1);
            }
            f->sent_at = mono_ms();
            sleep_ms(f->stall_ms);
            break;
        } else {
            send_all(fd, "-ERR unknown\r\n", 14);
        }
    }
    if (in)
        fclose(in);
    close(fd);
    return NULL;
}

static void fake_start(fake *f)
{
    f->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(f->lfd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(f->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(f->lfd, 1), 0);
    socklen_t sl = sizeof(a);
    assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&a, &sl), 0);
    f->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&f->thread, NULL, fake_serve, f), 0);
}

static void fake_join(fake *f)
{
    pthread_join(f->thread, NULL);
    close(f->lfd);
}

/* A complete small RDB with a correct CRC64 (or a zero one). */
static void build_payload(rdb *r, bool checksum)
{
    memset(r, 0, sizeof(*r));
    put_redis7_start(r, REPL_ID, 777, 2);
    put_aux(r, "pad", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"); /* 39 x A */
    put_end(r);
    if (checksum) {
        uint64_t crc = store_rdb_crc64(0, r->b, r->n - 8);
        for (int i = 0; i < 8; i++)
            r->b[r->n - 8 + (size_t)i] = (unsigned char)(crc >> (8 * i));
    }
}

typedef struct fetch_env {
    char dir[64];
    char dest[128];
} fetch_env;

static void env_setup(fetch_env *e)
{
    snprintf(e->dir, sizeof(e->dir), "/tmp/mrd-test-snapshot.XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    snprintf(e->dest, sizeof(e->dest), "%s/dump.rdb", e->dir);
    FILE *f = fopen(e->dest, "w");
    assert_non_null(f);
    fputs("old content\n", f);
    fclose(f);
}

/* The files in the folder: only dump.rdb, whose content is WANT (LEN). */
static void env_check(const fetch_env *e, const void *want, size_t len)
{
    DIR *d = opendir(e->dir);
    assert_non_null(d);
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        assert_string_equal(de->d_name, "dump.rdb");
        n++;
    }
    closedir(d);
    assert_int_equal(n, 1);
    unsigned char buf[8192];
    FILE *f = fopen(e->dest, "rb");
    assert_non_null(f);
    size_t got = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    assert_int_equal(got, len);
    assert_memory_equal(buf, want, len);
}

static void env_untouched(const fetch_env *e)
{
    env_check(e, "old content\n", 12);
}

static void env_teardown(fetch_env *e)
{
    unlink(e->dest);
    rmdir(e->dir);
}

static mrd_rc run_fetch(fake *f, fetch_env *e, int timeout_ms, store_snapshot *s,
                        mrd_error *err)
{
    fake_start(f);
    mrd_error_clear(err);
    mrd_rc rc = store_snapshot_fetch("127.0.0.1", f->port, "replication", "s3cret-pass",
                                     e->dest, timeout_ms, s, err);
    f->returned_at = mono_ms();
    fake_join(f);
    assert_null(strstr(err->msg, "s3cret-pass"));
    return rc;
}

static void test_fetch_len_form(void **state)
{
    (void)state;
    rdb p;
    build_payload(&p, true);
    char hdr[32];
    snprintf(hdr, sizeof(hdr), "$%zu\r\n", p.n);
    fake f = {.sync_reply = hdr, .payload = p.b, .payload_len = p.n, .keepalives = 2,
              .keepalive_ms = 20};
    fetch_env e;
    env_setup(&e);
    store_snapshot s;
    mrd_error err;
    assert_int_equal(run_fetch(&f, &e, 2000, &s, &err), MRD_OK);
    assert_int_equal(f.commands, 4); /* AUTH, REPLCONF x2, SYNC */
    assert_string_equal(f.last_command, "SYNC");
    assert_int_equal(s.bytes, (long long)p.n);
    assert_string_equal(s.repl_id, REPL_ID);
    assert_int_equal(s.repl_offset, 777);
    assert_int_equal(s.rdb_version, 10);
    env_check(&e, p.b, p.n);
    struct stat st;
    assert_int_equal(stat(e.dest, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    env_teardown(&e);
}

static void test_fetch_eof_form_in_small_chunks(void **state)
{
    (void)state;
    const char *mark = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"; /* 40 x A */
    for (size_t chunk = 1; chunk <= 41; chunk += 8) {
        rdb p, wire;
        build_payload(&p, true);
        memset(&wire, 0, sizeof(wire));
        put(&wire, p.b, p.n);
        put(&wire, mark, 40);
        char hdr[64];
        snprintf(hdr, sizeof(hdr), "$EOF:%s\r\n", mark);
        fake f = {.sync_reply = hdr, .payload = wire.b, .payload_len = wire.n,
                  .chunk = chunk, .stall_ms = 500};
        fetch_env e;
        env_setup(&e);
        store_snapshot s;
        mrd_error err;
        /* the server stalls after the mark: the fetch ends at the mark */
        assert_int_equal(run_fetch(&f, &e, 2000, &s, &err), MRD_OK);
        assert_int_equal(s.bytes, (long long)p.n);
        assert_true(f.returned_at - f.sent_at < 250);
        env_check(&e, p.b, p.n);
        env_teardown(&e);
    }
}

/* Found by tests/fuzz/fuzz_snapshot.c: in the EOF form the fetch
 * inspected its first bytes together with the EOF mark that follows the
 * payload, so an aux field cut short by the payload's end was read on into
 * the mark.  Here the repl-offset claims 12 bytes where the payload has only
 * its 9-byte trailer left: the installed file has no repl-offset, and the
 * fetch must say the same (before the fix it failed with "repl-offset is
 * not a non-negative number"). */
static void test_fetch_eof_form_inspects_the_payload_only(void **state)
{
    (void)state;
    const char *mark = "0123456789abcdef0123456789abcdef01234567";
    rdb p = {0}, wire = {0};
    put_header(&p, "0010");
    put_byte(&p, 0xFA);
    put_str(&p, "repl-offset", 6);
    put_len(&p, 12, 6);
    put_byte(&p, 0xFF); /* the trailer: EOF opcode, zero CRC64 */
    for (int i = 0; i < 8; i++)
        put_byte(&p, 0);
    put(&wire, p.b, p.n);
    put(&wire, mark, 40);
    char hdr[64];
    snprintf(hdr, sizeof(hdr), "$EOF:%s\r\n", mark);
    fake f = {.sync_reply = hdr, .payload = wire.b, .payload_len = wire.n};
    fetch_env e;
    env_setup(&e);
    store_snapshot s;
    mrd_error err;
    assert_int_equal(run_fetch(&f, &e, 2000, &s, &err), MRD_OK);
    assert_int_equal(s.bytes, (long long)p.n);
    assert_int_equal(s.repl_offset, -1);
    env_check(&e, p.b, p.n);
    env_teardown(&e);
}

static void test_fetch_zero_checksum(void **state)
{
    (void)state;
    rdb p;
    build_payload(&p, false); /* rdbchecksum no */
    char hdr[32];
    snprintf(hdr, sizeof(hdr), "$%zu\r\n", p.n);
    fake f = {.sync_reply = hdr, .payload = p.b, .payload_len = p.n};
    fetch_env e;
    env_setup(&e);
    store_snapshot s;
    mrd_error err;
    assert_int_equal(run_fetch(&f, &e, 2000, &s, &err), MRD_OK);
    env_check(&e, p.b, p.n);
    env_teardown(&e);
}

static void test_fetch_keepalives_reset_the_idle_timeout(void **state)
{
    (void)state;
    rdb p;
    build_payload(&p, true);
    char hdr[32];
    snprintf(hdr, sizeof(hdr), "$%zu\r\n", p.n);
    /* 6 x 100 ms of preparation under a 300 ms idle timeout */
    fake f = {.sync_reply = hdr, .payload = p.b, .payload_len = p.n, .keepalives = 6,
              .keepalive_ms = 100};
    fetch_env e;
    env_setup(&e);
    store_snapshot s;
    mrd_error err;
    assert_int_equal(run_fetch(&f, &e, 300, &s, &err), MRD_OK);
    assert_true(s.duration_ms >= 500);
    env_teardown(&e);
}

static void test_fetch_idle_timeout(void **state)
{
    (void)state;
    rdb p;
    build_payload(&p, true);
    char hdr[32];
    snprintf(hdr, sizeof(hdr), "$%zu\r\n", p.n + 100); /* 100 bytes never come */
    fake f = {.sync_reply = hdr, .payload = p.b, .payload_len = p.n, .stall_ms = 600};
    fetch_env e;
    env_setup(&e);
    store_snapshot s;
    mrd_error err;
    assert_int_equal(run_fetch(&f, &e, 200, &s, &err), MRD_ERR_TIMEOUT);
    assert_non_null(strstr(err.msg, "no data for 200 ms"));
    env_untouched(&e);
    env_teardown(&e);
}

static void test_fetch_partial(void **state)
{
    (void)state;
    rdb p;
    build_payload(&p, true);
    char hdr[32];
    snprintf(hdr, sizeof(hdr), "$%zu\r\n", p.n);
    fake f = {.sync_reply = hdr, .payload = p.b, .payload_len = p.n - 10};
    fetch_env e;
    env_setup(&e);
    store_snapshot s;
    mrd_error err;
    assert_int_equal(run_fetch(&f, &e, 2000, &s, &err), MRD_ERR_IO);
    assert_non_null(strstr(err.msg, "cannot fetch a snapshot from 127.0.0.1:"));
    assert_non_null(strstr(err.msg, "the connection closed after"));
    assert_int_equal(s.repl_offset, -1);
    env_untouched(&e);
    env_teardown(&e);

    /* the EOF form without its mark */
    char mhdr[64];
    snprintf(mhdr, sizeof(mhdr), "$EOF:%040d\r\n", 7);
    fake g = {.sync_reply = mhdr, .payload = p.b, .payload_len = p.n};
    env_setup(&e);
    assert_int_equal(run_fetch(&g, &e, 2000, &s, &err), MRD_ERR_IO);
    assert_non_null(strstr(err.msg, "before the end of the payload"));
    env_untouched(&e);
    env_teardown(&e);
}

static void test_fetch_damaged(void **state)
{
    (void)state;
    rdb p;
    build_payload(&p, true);
    p.b[40] ^= 0x01; /* inside an aux value: still parses, CRC differs */
    char hdr[32];
    snprintf(hdr, sizeof(hdr), "$%zu\r\n", p.n);
    fake f = {.sync_reply = hdr, .payload = p.b, .payload_len = p.n};
    fetch_env e;
    env_setup(&e);
    store_snapshot s;
    mrd_error err;
    assert_int_equal(run_fetch(&f, &e, 2000, &s, &err), MRD_ERR_PARSE);
    assert_non_null(strstr(err.msg, "damaged"));
    env_untouched(&e);
    env_teardown(&e);

    /* no EOF opcode where it belongs */
    build_payload(&p, true);
    p.b[p.n - 9] = 0x00;
    fake g = {.sync_reply = hdr, .payload = p.b, .payload_len = p.n};
    env_setup(&e);
    assert_int_equal(run_fetch(&g, &e, 2000, &s, &err), MRD_ERR_PARSE);
    assert_non_null(strstr(err.msg, "EOF opcode"));
    env_untouched(&e);
    env_teardown(&e);
}

static void test_fetch_not_rdb(void **state)
{
    (void)state;
    const char *junk = "HELLO WORLD, THIS IS NOT AN RDB";
    char hdr[32];
    snprintf(hdr, sizeof(hdr), "$%zu\r\n", strlen(junk));
    fake f = {.sync_reply = hdr, .payload = (const unsigned char *)junk,
              .payload_len = strlen(junk)};
    fetch_env e;
    env_setup(&e);
    store_snapshot s;
    mrd_error err;
    assert_int_equal(run_fetch(&f, &e, 2000, &s, &err), MRD_ERR_PARSE);
    assert_non_null(strstr(err.msg, "not an RDB file"));
    env_untouched(&e);
    env_teardown(&e);

    /* too short to hold a trailer */
    fake g = {.sync_reply = "$9\r\n", .payload = (const unsigned char *)"REDIS0010",
              .payload_len = 9};
    env_setup(&e);
    assert_int_equal(run_fetch(&g, &e, 2000, &s, &err), MRD_ERR_PARSE);
    assert_non_null(strstr(err.msg, "too few"));
    env_untouched(&e);
    env_teardown(&e);
}

static void test_fetch_refusals(void **state)
{
    (void)state;
    fetch_env e;
    store_snapshot s;
    mrd_error err;

    fake f = {.auth_reply = "-WRONGPASS invalid username-password pair or user is "
                            "disabled.\r\n"};
    env_setup(&e);
    assert_int_equal(run_fetch(&f, &e, 2000, &s, &err), MRD_ERR_AUTH);
    assert_non_null(strstr(err.msg, "AUTH as replication refused: WRONGPASS"));
    assert_string_equal(f.last_command, "AUTH");
    env_untouched(&e);
    env_teardown(&e);

    fake g = {.sync_reply = "-NOPERM this user has no permissions to run the 'sync' "
                            "command\r\n"};
    env_setup(&e);
    assert_int_equal(run_fetch(&g, &e, 2000, &s, &err), MRD_ERR_AUTH);
    assert_non_null(strstr(err.msg, "SYNC refused: NOPERM"));
    assert_non_null(strstr(err.msg, "+sync"));
    env_untouched(&e);
    env_teardown(&e);

    fake h = {.sync_reply = "-NOMASTERLINK Can't SYNC while not connected with my "
                            "master\r\n"};
    env_setup(&e);
    assert_int_equal(run_fetch(&h, &e, 2000, &s, &err), MRD_ERR_PROTOCOL);
    assert_non_null(strstr(err.msg, "NOMASTERLINK"));
    env_untouched(&e);
    env_teardown(&e);

    fake i = {.sync_reply = "+FULLRESYNC 0 0\r\n"};
    env_setup(&e);
    assert_int_equal(run_fetch(&i, &e, 2000, &s, &err), MRD_ERR_PROTOCOL);
    env_untouched(&e);
    env_teardown(&e);
}

static void test_fetch_connect_refused(void **state)
{
    (void)state;
    /* a port that was just free */
    fake f = {0};
    f.lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(f.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t sl = sizeof(a);
    assert_int_equal(getsockname(f.lfd, (struct sockaddr *)&a, &sl), 0);
    close(f.lfd);
    fetch_env e;
    env_setup(&e);
    mrd_error err;
    assert_int_equal(store_snapshot_fetch("127.0.0.1", ntohs(a.sin_port), NULL, NULL,
                                          e.dest, 1000, NULL, &err),
                     MRD_ERR_CONNECT);
    assert_non_null(strstr(err.msg, "cannot connect"));
    env_untouched(&e);
    env_teardown(&e);

    /* DEST's folder does not exist: found before the source is asked (the
     * port is closed, yet the error is about the file) */
    assert_int_equal(store_snapshot_fetch("127.0.0.1", ntohs(a.sin_port), NULL, NULL,
                                          "/nonexistent-mrd/dump.rdb", 1000, NULL, &err),
                     MRD_ERR_IO);
    assert_non_null(strstr(err.msg, "cannot create /nonexistent-mrd/dump.rdb.tmp."));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redis7_int16_offset),
        cmocka_unit_test(test_offset_each_int_encoding),
        cmocka_unit_test(test_offset_plain_string),
        cmocka_unit_test(test_negative_int_values_elsewhere),
        cmocka_unit_test(test_length_encodings),
        cmocka_unit_test(test_lzf_value),
        cmocka_unit_test(test_lzf_corrupt),
        cmocka_unit_test(test_absent_fields),
        cmocka_unit_test(test_stops_at_first_other_opcode),
        cmocka_unit_test(test_truncated_prefixes),
        cmocka_unit_test(test_not_rdb),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_repl_id_not_hex),
        cmocka_unit_test(test_repl_offset_with_nul),
        cmocka_unit_test(test_crc64),
        cmocka_unit_test(test_fetch_refuses_bad_arguments),
        cmocka_unit_test(test_fetch_len_form),
        cmocka_unit_test(test_fetch_eof_form_in_small_chunks),
        cmocka_unit_test(test_fetch_eof_form_inspects_the_payload_only),
        cmocka_unit_test(test_fetch_zero_checksum),
        cmocka_unit_test(test_fetch_keepalives_reset_the_idle_timeout),
        cmocka_unit_test(test_fetch_idle_timeout),
        cmocka_unit_test(test_fetch_partial),
        cmocka_unit_test(test_fetch_damaged),
        cmocka_unit_test(test_fetch_not_rdb),
        cmocka_unit_test(test_fetch_refusals),
        cmocka_unit_test(test_fetch_connect_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
