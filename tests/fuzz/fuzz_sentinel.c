/* fuzz_sentinel.c - the SENTINEL reply parsers (store/sentinel.c) on any
 * bytes, read as RESP.
 *
 * sentinel_get_view() pipelines GET-MASTER-ADDR-BY-NAME, REPLICAS,
 * SENTINELS and MASTER and hands the four replies to store__parse_view().
 * Here the bytes go through hiredis' own reader (redisReaderFeed, then
 * redisReaderGetReply: no I/O), exactly as a connection would deliver
 * them, and the four replies go to store__parse_view(); the seeds are
 * replies recorded from a real redis-sentinel (tests/fixtures/sentinel/).
 * Inputs that do not hold four complete replies are parsed as far as they
 * go by hiredis and dropped.  A view that parses must have its counts
 * within SENTINEL_VIEW_MAX, every string terminated, a port in range,
 * and its "down" and "failover in progress" bits must agree with a
 * plain split of the flags on ','.
 *
 * hiredis 0.14 allocates an array reply's element pointers as soon as it
 * reads the header: "*304184761\r\n" is a 2.4 GB calloc() before any
 * element arrived (lazily mapped, so harmless outside ASan, but beyond
 * libFuzzer's malloc limit).  Such an input cannot hold four complete
 * replies, so it never reaches meridian's parser: announced() skips
 * inputs with an array header larger than the bytes that follow could
 * fill (an element takes at least 3 bytes, e.g. "+\r\n"). */
#include "fuzz.h"

#include <stdbool.h>

#include <hiredis/hiredis.h>

#include "conn_internal.h"
#include "sentinel.h"

/* FLAG is one of the comma-separated words of FLAGS. */
static bool flag_in(const char *flags, const char *flag)
{
    size_t n = strlen(flag);
    for (const char *p = flags;;) {
        size_t w = strcspn(p, ",");
        if (w == n && memcmp(p, flag, n) == 0)
            return true;
        if (p[w] == '\0')
            return false;
        p += w + 1;
    }
}

static void check_entry(const sentinel_entry *e)
{
    FUZZ_CHECK(FUZZ_TERMINATED(e->name) && FUZZ_TERMINATED(e->ip) &&
               FUZZ_TERMINATED(e->runid) && FUZZ_TERMINATED(e->flags) &&
               FUZZ_TERMINATED(e->master_link_status));
    FUZZ_CHECK(e->down == (flag_in(e->flags, "s_down") || flag_in(e->flags, "o_down") ||
                           flag_in(e->flags, "disconnected")));
    FUZZ_CHECK(e->failover_in_progress == flag_in(e->flags, "failover_in_progress"));
}

static void check_view(const sentinel_view *v)
{
    FUZZ_CHECK(FUZZ_TERMINATED(v->leader_ip));
    FUZZ_CHECK(v->leader_port > 0 && v->leader_port < 65536);
    FUZZ_CHECK(v->nreplicas >= 0 && v->nreplicas <= SENTINEL_VIEW_MAX);
    FUZZ_CHECK(v->nsentinels >= 0 && v->nsentinels <= SENTINEL_VIEW_MAX);
    check_entry(&v->master);
    for (int i = 0; i < v->nreplicas; i++)
        check_entry(&v->replicas[i]);
    for (int i = 0; i < v->nsentinels; i++)
        check_entry(&v->sentinels[i]);
}

/* True when some "*<count>" in DATA announces more elements than the rest
 * of DATA could hold.  Looks at every '*', not only those that start a
 * reply, which may skip a few more inputs than needed (never one that
 * could complete). */
static bool announced(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < size; i++) {
        if (data[i] != '*')
            continue;
        unsigned long long n = 0;
        size_t j = i + 1;
        while (j < size && data[j] >= '0' && data[j] <= '9' && n < (1ULL << 40))
            n = n * 10 + (data[j++] - '0');
        if (n > (size - j) / 3)
            return true;
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (announced(data, size))
        return 0;
    redisReader *rd = redisReaderCreate();
    FUZZ_CHECK(rd != NULL);
    redisReply *r[STORE__VIEW_NCOMMANDS] = {NULL};
    int got = 0;
    if (redisReaderFeed(rd, (const char *)data, size) == REDIS_OK) {
        while (got < STORE__VIEW_NCOMMANDS) {
            void *reply = NULL;
            if (redisReaderGetReply(rd, &reply) != REDIS_OK || !reply)
                break;
            r[got++] = reply;
        }
    }
    redisReaderFree(rd);
    if (got < STORE__VIEW_NCOMMANDS) {
        for (int i = 0; i < got; i++)
            freeReplyObject(r[i]);
        return 0;
    }

    /* OUT is large (four times 64 entries): on the heap, as the header says. */
    sentinel_view *v = malloc(sizeof(*v));
    FUZZ_CHECK(v != NULL);
    memset(v, 0, sizeof(*v));
    mrd_error err;
    mrd_error_clear(&err);
    mrd_rc rc = store__parse_view("fuzz:26379", "mymaster", r, v, &err);
    for (int i = 0; i < STORE__VIEW_NCOMMANDS; i++)
        FUZZ_CHECK(r[i] == NULL); /* ownership taken */
    if (rc == MRD_OK)
        check_view(v);
    else
        FUZZ_CHECK_ERROR(&err, rc);
    free(v);
    return 0;
}
