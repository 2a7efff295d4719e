/* test_store.c - the INFO parser (store/info.h): bytes in, struct out.
 *
 * leader.txt and replica.txt are real captures (Redis 7.0.15, CRLF);
 * leader_mixed_states.txt and replica_syncing.txt are hand-written, LF,
 * for the states a steady capture does not show (a full sync in progress,
 * replicas in wait_bgsave/send_bulk, 12-digit offsets, several dbs).
 * store/sentinel.h needs hiredis replies from a server and is covered by
 * the integration tests instead. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "info.h"

#ifndef MRD_SOURCE_DIR
#error "MRD_SOURCE_DIR must name the source tree (see tests/unit/store/store.cmake)"
#endif

#define FIXTURES MRD_SOURCE_DIR "/tests/fixtures/info/"

/* ==== HELPERS ========================================================== */

/* Read a fixture into a new buffer of exactly its size plus a NUL that
 * the parser must not need (callers pass the length). */
static char *load_fixture(const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s%s", FIXTURES, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open fixture %s", path);
    if (fseek(f, 0, SEEK_END) != 0)
        fail_msg("cannot seek %s", path);
    long size = ftell(f);
    assert_true(size > 0);
    rewind(f);
    char *buf = malloc((size_t)size + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    buf[size] = '\0';
    *len = (size_t)size;
    return buf;
}

/* Parse TEXT (NUL-terminated) expecting success. */
static void parse_ok(const char *text, store_info *out)
{
    mrd_error err;
    mrd_error_clear(&err);
    mrd_rc rc = store_info_parse(text, strlen(text), out, &err);
    if (rc != MRD_OK)
        fail_msg("parse failed (%d): %s", (int)rc, err.msg);
}

/* Parse TEXT expecting MRD_ERR_PARSE with exactly MSG. */
static void parse_fails(const char *text, const char *msg)
{
    store_info info;
    mrd_error err;
    mrd_error_clear(&err);
    assert_int_equal(store_info_parse(text, strlen(text), &info, &err), MRD_ERR_PARSE);
    assert_int_equal(err.code, MRD_ERR_PARSE);
    assert_string_equal(err.msg, msg);
}

static void assert_replica(const store_replica_info *r, const char *ip, int port,
                           const char *state, long long offset, long long lag)
{
    assert_string_equal(r->ip, ip);
    assert_int_equal(r->port, port);
    assert_string_equal(r->state, state);
    assert_int_equal(r->offset, offset);
    assert_int_equal(r->lag_s, lag);
}

/* Field by field, so a failure names the field (and padding is ignored). */
static void assert_info_equal(const store_info *a, const store_info *b)
{
    assert_string_equal(a->redis_version, b->redis_version);
    assert_int_equal(a->process_id, b->process_id);
    assert_int_equal(a->is_master, b->is_master);
    assert_int_equal(a->loading, b->loading);
    assert_string_equal(a->master_host, b->master_host);
    assert_int_equal(a->master_port, b->master_port);
    assert_int_equal(a->link_up, b->link_up);
    assert_int_equal(a->sync_in_progress, b->sync_in_progress);
    assert_int_equal(a->slave_repl_offset, b->slave_repl_offset);
    assert_int_equal(a->replica_priority, b->replica_priority);
    assert_int_equal(a->connected_slaves, b->connected_slaves);
    assert_int_equal(a->nslaves, b->nslaves);
    for (int i = 0; i < a->nslaves; i++)
        assert_replica(&b->slaves[i], a->slaves[i].ip, a->slaves[i].port,
                       a->slaves[i].state, a->slaves[i].offset, a->slaves[i].lag_s);
    assert_int_equal(a->master_repl_offset, b->master_repl_offset);
    assert_string_equal(a->master_replid, b->master_replid);
    assert_int_equal(a->sync_full, b->sync_full);
    assert_int_equal(a->sync_partial_ok, b->sync_partial_ok);
    assert_int_equal(a->sync_partial_err, b->sync_partial_err);
    assert_int_equal(a->total_net_repl_output_bytes, b->total_net_repl_output_bytes);
    assert_int_equal(a->total_net_repl_input_bytes, b->total_net_repl_input_bytes);
    assert_int_equal(a->keys, b->keys);
}

/* Copy of TEXT with every "\r\n" turned into "\n". */
static char *to_lf(const char *text, size_t len, size_t *out_len)
{
    char *out = malloc(len + 1);
    assert_non_null(out);
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (!(text[i] == '\r' && i + 1 < len && text[i + 1] == '\n'))
            out[n++] = text[i];
    out[n] = '\0';
    *out_len = n;
    return out;
}

/* ==== REAL CAPTURES ==================================================== */

static void check_leader(const store_info *in)
{
    assert_string_equal(in->redis_version, "7.0.15");
    assert_int_equal(in->process_id, 4812);
    assert_true(in->is_master);
    assert_false(in->loading);
    assert_int_equal(in->connected_slaves, 5);
    assert_int_equal(in->nslaves, 5);
    assert_replica(&in->slaves[0], "127.0.2.2", 16800, "online", 0, 0);
    assert_replica(&in->slaves[1], "127.0.1.2", 16800, "online", 0, 0);
    assert_replica(&in->slaves[2], "127.0.3.2", 16800, "online", 0, 0);
    assert_replica(&in->slaves[3], "127.0.3.1", 16800, "online", 0, 0);
    assert_replica(&in->slaves[4], "127.0.2.1", 16800, "online", 0, 0);
    /* Nothing beyond nslaves is filled in. */
    assert_string_equal(in->slaves[5].ip, "");
    assert_int_equal(in->master_repl_offset, 50);
    assert_string_equal(in->master_replid, "d4a2dcff2e589c50342de3644f3c7c4676be4575");
    assert_int_equal(strlen(in->master_replid), 40);
    assert_int_equal(in->keys, 1);
    assert_int_equal(in->sync_full, 5);
    assert_int_equal(in->sync_partial_ok, 0);
    assert_int_equal(in->sync_partial_err, 0);
    assert_int_equal(in->total_net_repl_output_bytes, 1545);
    assert_int_equal(in->total_net_repl_input_bytes, 0);
    /* Replica-side fields are absent from a leader's INFO. */
    assert_string_equal(in->master_host, "");
    assert_int_equal(in->master_port, 0);
    assert_false(in->link_up);
    assert_false(in->sync_in_progress);
    assert_int_equal(in->slave_repl_offset, 0);
    assert_int_equal(in->replica_priority, 0);
}

static void test_leader_capture(void **state)
{
    (void)state;
    size_t len;
    char *text = load_fixture("leader.txt", &len);
    /* The capture is CRLF: values must come out without the '\r'. */
    assert_non_null(strstr(text, "role:master\r\n"));

    store_info info;
    memset(&info, 0xA5, sizeof(info)); /* the parser must clear it */
    mrd_error err;
    mrd_error_clear(&err);
    assert_int_equal(store_info_parse(text, len, &info, &err), MRD_OK);
    check_leader(&info);
    free(text);
}

static void check_replica(const store_info *in)
{
    assert_string_equal(in->redis_version, "7.0.15");
    assert_int_equal(in->process_id, 4827);
    assert_false(in->is_master);
    assert_false(in->loading);
    assert_string_equal(in->master_host, "127.0.1.1");
    assert_int_equal(in->master_port, 16800);
    assert_true(in->link_up);
    assert_false(in->sync_in_progress);
    assert_int_equal(in->slave_repl_offset, 50);
    assert_int_equal(in->replica_priority, 110);
    assert_int_equal(in->connected_slaves, 0);
    assert_int_equal(in->nslaves, 0);
    assert_int_equal(in->master_repl_offset, 50);
    assert_string_equal(in->master_replid, "d4a2dcff2e589c50342de3644f3c7c4676be4575");
    assert_int_equal(in->sync_full, 0);
    assert_int_equal(in->total_net_repl_input_bytes, 309);
    assert_int_equal(in->total_net_repl_output_bytes, 0);
    assert_int_equal(in->keys, 1);
}

static void test_replica_capture(void **state)
{
    (void)state;
    size_t len;
    char *text = load_fixture("replica.txt", &len);
    store_info info;
    memset(&info, 0xA5, sizeof(info));
    mrd_error err;
    mrd_error_clear(&err);
    assert_int_equal(store_info_parse(text, len, &info, &err), MRD_OK);
    check_replica(&info);
    free(text);
}

/* The captures with bare "\n" line ends parse to the same struct. */
static void test_lf_only(void **state)
{
    (void)state;
    const char *names[] = {"leader.txt", "replica.txt"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t len, lf_len;
        char *crlf = load_fixture(names[i], &len);
        char *lf = to_lf(crlf, len, &lf_len);
        assert_null(strchr(lf, '\r'));
        assert_true(lf_len < len);

        store_info a, b;
        mrd_error err;
        assert_int_equal(store_info_parse(crlf, len, &a, &err), MRD_OK);
        assert_int_equal(store_info_parse(lf, lf_len, &b, &err), MRD_OK);
        if (i == 0)
            check_leader(&b);
        else
            check_replica(&b);
        assert_info_equal(&a, &b);
        free(lf);
        free(crlf);
    }
}

/* The parser reads LEN bytes, never up to a NUL: the fixture copied into a
 * buffer without a terminator (ASan catches a read past it), and a text
 * cut in the middle of a value. */
static void test_length_bounds_the_text(void **state)
{
    (void)state;
    size_t len;
    char *text = load_fixture("leader.txt", &len);
    char *exact = malloc(len);
    assert_non_null(exact);
    memcpy(exact, text, len);
    store_info info;
    assert_int_equal(store_info_parse(exact, len, &info, NULL), MRD_OK);
    check_leader(&info);
    free(exact);
    free(text);

    const char *cut = "role:master\nmaster_repl_offset:50\nsync_full:9\n";
    /* Stop after "master_repl_offset:5". */
    size_t at = (size_t)(strstr(cut, "0\n") - cut);
    assert_int_equal(store_info_parse(cut, at, &info, NULL), MRD_OK);
    assert_int_equal(info.master_repl_offset, 5);
    assert_int_equal(info.sync_full, 0);

    /* LEN ends right after a key: the ':' beyond it is not part of the
     * text, so there is no such field. */
    char buf[16];
    assert_false(store_info_field("role:master", 4, "role", buf, sizeof(buf)));
    assert_false(store_info_field("a:1\nrole:master", 8, "role", buf, sizeof(buf)));
    char *key_only = malloc(4); /* "role" and nothing after it (for ASan) */
    assert_non_null(key_only);
    memcpy(key_only, "role", 4);
    assert_false(store_info_field(key_only, 4, "role", buf, sizeof(buf)));
    free(key_only);
    assert_int_equal(store_info_parse("role:sentinel", 4, &info, NULL), MRD_OK);
    assert_false(info.is_master);

    /* Zero bytes: an empty INFO, every field zero. */
    assert_int_equal(store_info_parse(cut, 0, &info, NULL), MRD_OK);
    assert_false(info.is_master);
    assert_int_equal(info.master_repl_offset, 0);
}

/* ==== HAND-WRITTEN FIXTURES ============================================ */

static void test_replica_during_full_sync(void **state)
{
    (void)state;
    size_t len;
    char *text = load_fixture("replica_syncing.txt", &len);
    store_info in;
    mrd_error err;
    assert_int_equal(store_info_parse(text, len, &in, &err), MRD_OK);
    assert_string_equal(in.redis_version, "7.0.15");
    assert_int_equal(in.process_id, 5120);
    assert_false(in.is_master);
    assert_true(in.loading);
    assert_string_equal(in.master_host, "127.0.2.1");
    assert_int_equal(in.master_port, 16801);
    assert_false(in.link_up);
    assert_true(in.sync_in_progress);
    assert_int_equal(in.slave_repl_offset, 0);
    assert_int_equal(in.replica_priority, 0);
    assert_int_equal(in.nslaves, 0);
    assert_string_equal(in.master_replid, "3c0ffee000000000000000000000000000000001");
    assert_int_equal(in.total_net_repl_input_bytes, 1048576);
    /* "# Keyspace" with no db0 line: zero keys, not an error. */
    assert_int_equal(in.keys, 0);
    free(text);
}

static void test_leader_with_replicas_in_every_state(void **state)
{
    (void)state;
    size_t len;
    char *text = load_fixture("leader_mixed_states.txt", &len);
    store_info in;
    mrd_error err;
    assert_int_equal(store_info_parse(text, len, &in, &err), MRD_OK);
    assert_string_equal(in.redis_version, "7.2.4");
    assert_true(in.is_master);
    assert_int_equal(in.connected_slaves, 3);
    assert_int_equal(in.nslaves, 3);
    assert_replica(&in.slaves[0], "10.1.0.5", 6379, "wait_bgsave", 0, 0);
    assert_replica(&in.slaves[1], "10.2.0.5", 6380, "online", 123456789012LL, 1);
    /* A value holding ':' (IPv6) stays whole. */
    assert_replica(&in.slaves[2], "fe80::1", 6381, "send_bulk", 0, 12);
    assert_int_equal(in.master_repl_offset, 123456789100LL);
    assert_int_equal(in.total_net_repl_output_bytes, 9876543210LL);
    assert_int_equal(in.sync_full, 3);
    assert_int_equal(in.sync_partial_ok, 7);
    assert_int_equal(in.sync_partial_err, 2);
    /* Only db0 counts. */
    assert_int_equal(in.keys, 1234);
    free(text);
}

/* ==== LINE AND KEY MATCHING ============================================ */

static void test_last_field_without_newline(void **state)
{
    (void)state;
    store_info in;
    parse_ok("role:slave\r\nmaster_host:10.0.0.1\r\nmaster_port:6380", &in);
    assert_int_equal(in.master_port, 6380);
    assert_string_equal(in.master_host, "10.0.0.1");

    parse_ok("role:slave\nmaster_link_status:up", &in);
    assert_true(in.link_up);

    /* A final "\r" without its "\n" is still a line end. */
    parse_ok("role:slave\r\nmaster_port:6381\r", &in);
    assert_int_equal(in.master_port, 6381);

    parse_ok("db0:keys=17,expires=0,avg_ttl=0", &in);
    assert_int_equal(in.keys, 17);
    assert_int_equal(in.keys_total, 17);
    /* every database counts in keys_total, db0 alone in keys */
    parse_ok("db0:keys=3,expires=0\r\ndb3:keys=40,expires=1\r\ndb15:keys=2,expires=0\r\n", &in);
    assert_int_equal(in.keys, 3);
    assert_int_equal(in.keys_total, 45);
    parse_ok("db7:keys=5,expires=0", &in);
    assert_int_equal(in.keys, 0);
    assert_int_equal(in.keys_total, 5);

    char buf[32];
    const char *t = "a:1\nrole:master";
    assert_true(store_info_field(t, strlen(t), "role", buf, sizeof(buf)));
    assert_string_equal(buf, "master");
}

static void test_key_prefix_of_another(void **state)
{
    (void)state;
    /* Longer keys that start with the wanted key come first. */
    const char *t = "master_repl_offset_x:999\r\n"
                    "master_repl:7\r\n"
                    "xmaster_repl_offset:888\r\n"
                    "slave_read_repl_offset:111\r\n"
                    "master_repl_offset:50\r\n"
                    "slave_repl_offset:222\r\n"
                    "master_link_status_x:up\r\n"
                    "master_link_status:down\r\n";
    store_info in;
    parse_ok(t, &in);
    assert_int_equal(in.master_repl_offset, 50);
    assert_int_equal(in.slave_repl_offset, 222);
    assert_false(in.link_up);

    char buf[32];
    size_t len = strlen(t);
    assert_true(store_info_field(t, len, "master_repl", buf, sizeof(buf)));
    assert_string_equal(buf, "7");
    assert_true(store_info_field(t, len, "master_repl_offset", buf, sizeof(buf)));
    assert_string_equal(buf, "50");
    assert_true(store_info_field(t, len, "master_repl_offset_x", buf, sizeof(buf)));
    assert_string_equal(buf, "999");
    /* A prefix of a key is not the key. */
    assert_false(store_info_field(t, len, "master_repl_off", buf, sizeof(buf)));
    assert_false(store_info_field(t, len, "master", buf, sizeof(buf)));
    /* Keys match at the start of a line only. */
    assert_false(store_info_field(t, len, "aster_repl", buf, sizeof(buf)));

    /* slave1 is not slave10's prefix match, and the other way round. */
    const char *s = "slave10:ip=10.0.0.10,port=1,state=online,offset=0,lag=0\n"
                    "slave1:ip=10.0.0.1,port=2,state=online,offset=0,lag=0\n";
    char line[128];
    assert_true(store_info_field(s, strlen(s), "slave1", line, sizeof(line)));
    assert_string_equal(line, "ip=10.0.0.1,port=2,state=online,offset=0,lag=0");
    assert_true(store_info_field(s, strlen(s), "slave10", line, sizeof(line)));
    assert_string_equal(line, "ip=10.0.0.10,port=1,state=online,offset=0,lag=0");

    /* The value runs to the line end and may hold ':'. */
    const char *e = "executable:/opt/redis:7/bin/redis-server\r\n";
    char path[64];
    assert_true(store_info_field(e, strlen(e), "executable", path, sizeof(path)));
    assert_string_equal(path, "/opt/redis:7/bin/redis-server");

    /* An empty value is present and empty. */
    const char *c = "config_file:\r\nrole:master\r\n";
    snprintf(buf, sizeof(buf), "x");
    assert_true(store_info_field(c, strlen(c), "config_file", buf, sizeof(buf)));
    assert_string_equal(buf, "");
    /* A line that is just the key, without ':', is not the key. */
    const char *k = "role\nrole:slave\n";
    assert_true(store_info_field(k, strlen(k), "role", buf, sizeof(buf)));
    assert_string_equal(buf, "slave");
}

static void test_first_occurrence_wins(void **state)
{
    (void)state;
    const char *t = "role:master\nrole:slave\nmaster_repl_offset:1\nmaster_repl_offset:2\n";
    store_info in;
    parse_ok(t, &in);
    assert_true(in.is_master);
    assert_int_equal(in.master_repl_offset, 1);
}

static void test_missing_fields_are_zero(void **state)
{
    (void)state;
    store_info in;
    memset(&in, 0x5A, sizeof(in));
    parse_ok("# Server\r\nredis_version:7.2.4\r\n\r\n# Clients\r\nconnected_clients:3\r\n",
             &in);
    assert_string_equal(in.redis_version, "7.2.4");
    store_info zero;
    memset(&zero, 0, sizeof(zero));
    snprintf(zero.redis_version, sizeof(zero.redis_version), "7.2.4");
    assert_info_equal(&zero, &in);
    assert_string_equal(in.slaves[0].ip, "");
    assert_string_equal(in.slaves[STORE_MAX_REPLICAS - 1].state, "");

    /* A replication section without replica lines. */
    parse_ok("# Replication\nrole:master\nconnected_slaves:0\nmaster_repl_offset:0\n", &in);
    assert_true(in.is_master);
    assert_int_equal(in.nslaves, 0);
    assert_string_equal(in.master_replid, "");

    /* master_link_status other than "up" is down. */
    parse_ok("role:slave\nmaster_link_status:connecting\n", &in);
    assert_false(in.link_up);
}

/* ==== MALFORMED INPUT ================================================== */

static void test_malformed_numbers(void **state)
{
    (void)state;
    static const char *const keys[] = {
        "process_id",         "loading",
        "master_port",        "master_sync_in_progress",
        "slave_repl_offset",  "slave_priority",
        "connected_slaves",   "master_repl_offset",
        "sync_full",          "sync_partial_ok",
        "sync_partial_err",   "total_net_repl_output_bytes",
        "total_net_repl_input_bytes",
    };
    static const char *const bad[] = {
        "12x", "abc", "", "1.5", "0x10", "99999999999999999999", "5 ",
    };
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
            char text[256], msg[256];
            snprintf(text, sizeof(text), "role:master\r\n%s:%s\r\nsync_full:1\r\n",
                     keys[k], bad[b]);
            snprintf(msg, sizeof(msg), "INFO field %s is not a number: %s", keys[k],
                     bad[b]);
            parse_fails(text, msg);
        }
    }
    /* Negative numbers are numbers (second_repl_offset:-1 style). */
    store_info in;
    parse_ok("master_repl_offset:-1\n", &in);
    assert_int_equal(in.master_repl_offset, -1);
    /* NULL error struct is accepted. */
    const char *t = "sync_full:x\n";
    assert_int_equal(store_info_parse(t, strlen(t), &in, NULL), MRD_ERR_PARSE);
}

static void test_malformed_db0(void **state)
{
    (void)state;
    parse_fails("db0:expires=0,avg_ttl=0\r\n", "malformed db0 line: expires=0,avg_ttl=0");
    parse_fails("db0:keys=,expires=0\r\n", "malformed db0 line: keys=,expires=0");
    parse_fails("db2:expires=0\r\n", "malformed db2 line: expires=0");
    /* keys that cannot add up (a fuzzer's find) */
    parse_fails("db3:keys=1234,expires=5\r\ndb1:keys=9223372036854775807\r\n",
                "db3 counts 1234 keys: negative, or the sum of the databases' keys overflows");
    parse_fails("db0:keys=-4,expires=0\r\n",
                "db0 counts -4 keys: negative, or the sum of the databases' keys overflows");
    parse_fails("db0:\r\n", "malformed db0 line: ");
}

static void test_malformed_slave_line(void **state)
{
    (void)state;
    parse_fails("role:master\r\nslave0:garbage\r\n", "malformed replica entry: garbage");
    parse_fails("role:master\r\nslave0:ip=10.0.0.1,port=x,state=online,offset=0,lag=0\r\n",
                "malformed replica entry: ip=10.0.0.1,port=x,state=online,offset=0,lag=0");
    parse_fails("role:master\r\nslave0:ip=10.0.0.1,port=6379,state=online,offset=12a,lag=0\n",
                "malformed replica entry: ip=10.0.0.1,port=6379,state=online,offset=12a,lag=0");
    parse_fails("role:master\nslave0:ip=10.0.0.1,port=6379,state=online,offset=1,lag=\n",
                "malformed replica entry: ip=10.0.0.1,port=6379,state=online,offset=1,lag=");
    parse_fails("role:master\nslave0:ip=10.0.0.1,,port=6379\n",
                "malformed replica entry: ip=10.0.0.1,,port=6379");
    /* A bad second line fails the whole parse, not just that replica. */
    parse_fails("role:master\n"
                "slave0:ip=10.0.0.1,port=6379,state=online,offset=1,lag=0\n"
                "slave1:ip=10.0.0.2,port\n",
                "malformed replica entry: ip=10.0.0.2,port");

    /* Unknown keys are skipped and order does not matter. */
    store_info in;
    parse_ok("slave0:lag=3,offset=9,future=x,state=online,port=7000,ip=10.9.9.9\n", &in);
    assert_int_equal(in.nslaves, 1);
    assert_replica(&in.slaves[0], "10.9.9.9", 7000, "online", 9, 3);
}

static void test_unknown_role(void **state)
{
    (void)state;
    parse_fails("# Replication\r\nrole:sentinel\r\n", "unknown role in INFO: sentinel");
    parse_fails("role:Master\r\n", "unknown role in INFO: Master");
    parse_fails("role:replica\n", "unknown role in INFO: replica");
    parse_fails("role:\n", "unknown role in INFO: ");
    parse_fails("role:master \n", "unknown role in INFO: master ");
}

/* ==== LIMITS =========================================================== */

static void test_more_replicas_than_max(void **state)
{
    (void)state;
    enum { N = STORE_MAX_REPLICAS + 8 };
    size_t cap = 64 + (size_t)N * 96;
    char *text = malloc(cap);
    assert_non_null(text);
    size_t n = (size_t)snprintf(text, cap, "role:master\nconnected_slaves:%d\n", N);
    for (int i = 0; i < N; i++) {
        /* Lines past the maximum are malformed: reading them would fail. */
        if (i < STORE_MAX_REPLICAS)
            n += (size_t)snprintf(text + n, cap - n,
                                  "slave%d:ip=10.0.%d.1,port=%d,state=online,"
                                  "offset=%d,lag=0\n",
                                  i, i, 7000 + i, 100 * i);
        else
            n += (size_t)snprintf(text + n, cap - n, "slave%d:not a replica\n", i);
        assert_true(n < cap);
    }
    store_info in;
    parse_ok(text, &in);
    assert_int_equal(in.connected_slaves, N);
    assert_int_equal(in.nslaves, STORE_MAX_REPLICAS);
    assert_replica(&in.slaves[0], "10.0.0.1", 7000, "online", 0, 0);
    assert_replica(&in.slaves[STORE_MAX_REPLICAS - 1], "10.0.31.1",
                   7000 + STORE_MAX_REPLICAS - 1, "online",
                   100 * (STORE_MAX_REPLICAS - 1), 0);
    free(text);
}

static void test_replica_numbering_stops_at_gap(void **state)
{
    (void)state;
    store_info in;
    parse_ok("slave0:ip=10.0.0.1,port=1,state=online,offset=0,lag=0\n"
             "slave2:ip=10.0.0.3,port=3,state=online,offset=0,lag=0\n",
             &in);
    assert_int_equal(in.nslaves, 1);
    assert_string_equal(in.slaves[0].ip, "10.0.0.1");
}

static void test_field_buffer_too_small(void **state)
{
    (void)state;
    const char *t = "role:master\r\nrun_id:abc\r\n";
    size_t len = strlen(t);
    char buf[16];
    /* "master" needs 7 bytes with its NUL. */
    assert_false(store_info_field(t, len, "role", buf, 6));
    assert_true(store_info_field(t, len, "role", buf, 7));
    assert_string_equal(buf, "master");
    assert_false(store_info_field(t, len, "role", buf, 0));
    assert_false(store_info_field(t, len, "absent", buf, sizeof(buf)));
    /* An empty value fits in one byte. */
    const char *e = "config_file:\r\n";
    assert_true(store_info_field(e, strlen(e), "config_file", buf, 1));
    assert_string_equal(buf, "");
}

/* ==== REGRESSIONS =======================================================
 * A documented contract the parser once broke (fixed since). */

/* info.h: "MRD_ERR_PARSE when the text has no "role:" line in a
 * replication section that it claims to have" -- info.c never checks. */
static void test_bug_replication_section_without_role(void **state)
{
    (void)state;
    const char *t = "# Replication\r\nconnected_slaves:0\r\nmaster_repl_offset:7\r\n";
    store_info in;
    assert_int_equal(store_info_parse(t, strlen(t), &in, NULL), MRD_ERR_PARSE);
}


int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_leader_capture),
        cmocka_unit_test(test_replica_capture),
        cmocka_unit_test(test_lf_only),
        cmocka_unit_test(test_length_bounds_the_text),
        cmocka_unit_test(test_replica_during_full_sync),
        cmocka_unit_test(test_leader_with_replicas_in_every_state),
        cmocka_unit_test(test_last_field_without_newline),
        cmocka_unit_test(test_key_prefix_of_another),
        cmocka_unit_test(test_first_occurrence_wins),
        cmocka_unit_test(test_missing_fields_are_zero),
        cmocka_unit_test(test_malformed_numbers),
        cmocka_unit_test(test_malformed_db0),
        cmocka_unit_test(test_malformed_slave_line),
        cmocka_unit_test(test_unknown_role),
        cmocka_unit_test(test_more_replicas_than_max),
        cmocka_unit_test(test_replica_numbering_stops_at_gap),
        cmocka_unit_test(test_field_buffer_too_small),
        cmocka_unit_test(test_bug_replication_section_without_role),
    };
    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
