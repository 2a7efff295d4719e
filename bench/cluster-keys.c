/* cluster-keys - slot-aware keys for the cluster benchmarks.
 *
 *   cluster-keys resp FIRST-LAST KEYS VALUE_BYTES
 *       Writes to stdout, as RESP for `redis-cli --pipe`, one SET per key
 *       "key:I" (I = 1..KEYS) whose hash slot is in FIRST..LAST, with a
 *       VALUE_BYTES-byte value that LZF cannot compress ("%010u:" then
 *       random characters, the same for the same I on every run), so a
 *       shard's RDB is about as big as its data.  Running it once per
 *       shard's slot range loads KEYS keys spread over every slot.
 *
 *   cluster-keys write RATE KEYS MAX_S FIRST-LAST=PATH ...
 *       RATE SETs per second in total, over existing keys (key:I, I =
 *       n x 7919 mod KEYS + 1 for the n-th write, so the key count stays
 *       KEYS), each written as an inline command "SET key:I VALUE" to the
 *       PATH (a fifo read by one redis-cli per shard master) of the range
 *       its slot falls in.  Paced every 20 ms; stops after MAX_S seconds,
 *       on SIGTERM/SIGINT, or when a reader goes away (EPIPE), closing
 *       every PATH so the readers end at EOF.  On exit prints to stderr
 *       how many SETs it wrote to each PATH.
 *
 *   cluster-keys slot KEY...
 *       Prints each KEY's hash slot (to check against CLUSTER KEYSLOT).
 *
 * The slot is Redis Cluster's: CRC16 (XMODEM) of the key, or of its hash
 * tag when the key has a non-empty {...}, modulo 16384. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SLOTS 16384
#define MAX_RANGES 16
#define VALUE_MAX 65536

static volatile sig_atomic_t stop_now;

static void on_signal(int sig)
{
    (void)sig;
    stop_now = 1;
}

static uint16_t crc16(const char *buf, size_t len)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)((unsigned char)buf[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (uint16_t)((crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1);
    }
    return crc;
}

static unsigned key_slot(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len);
    if (open) {
        size_t s = (size_t)(open - key);
        const char *close = memchr(open + 1, '}', len - s - 1);
        if (close && close > open + 1)
            return crc16(open + 1, (size_t)(close - open - 1)) & (SLOTS - 1);
    }
    return crc16(key, len) & (SLOTS - 1);
}

/* parse_ulong: a whole decimal number within [lo, hi]; false otherwise. */
static bool parse_ulong(const char *s, unsigned long lo, unsigned long hi, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* parse_range: "FIRST-LAST" (slots, FIRST <= LAST), the rest after it in
 * *rest (the '=' of write's arguments, or the end). */
static bool parse_range(const char *s, unsigned *first, unsigned *last, const char **rest)
{
    char *end;
    errno = 0;
    unsigned long a = strtoul(s, &end, 10);
    if (errno || end == s || *end != '-' || a >= SLOTS)
        return false;
    const char *b0 = end + 1;
    unsigned long b = strtoul(b0, &end, 10);
    if (errno || end == b0 || b >= SLOTS || b < a)
        return false;
    *first = (unsigned)a;
    *last = (unsigned)b;
    *rest = end;
    return true;
}

/* value_of: key I's value, VALUE_BYTES long (>= 12), in buf; the same for
 * the same I.  xorshift64* seeded by I, 6 random bits per character. */
static void value_of(unsigned long i, size_t value_bytes, char *buf)
{
    static const char cs[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint64_t x = (uint64_t)i * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
    int n = snprintf(buf, value_bytes + 1, "%010lu:", i % 10000000000ul);
    for (size_t j = (size_t)n; j < value_bytes; j++) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        buf[j] = cs[(x * 0x2545F4914F6CDD1Dull) >> 58];
    }
    buf[value_bytes] = '\0';
}

static int cmd_resp(int argc, char **argv)
{
    unsigned first, last;
    unsigned long keys, vb;
    const char *rest;
    if (argc != 5 || !parse_range(argv[2], &first, &last, &rest) || *rest ||
        !parse_ulong(argv[3], 1, 1000000000ul, &keys) || !parse_ulong(argv[4], 12, VALUE_MAX, &vb)) {
        fprintf(stderr, "usage: cluster-keys resp FIRST-LAST KEYS VALUE_BYTES (VALUE_BYTES 12..%d)\n",
                VALUE_MAX);
        return 2;
    }
    static char value[VALUE_MAX + 1];
    char key[32];
    for (unsigned long i = 1; i <= keys; i++) {
        int kl = snprintf(key, sizeof key, "key:%lu", i);
        unsigned s = key_slot(key, (size_t)kl);
        if (s < first || s > last)
            continue;
        value_of(i, vb, value);
        if (printf("*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%lu\r\n%s\r\n", kl, key, vb, value) < 0) {
            perror("cluster-keys: stdout");
            return 1;
        }
    }
    if (fflush(stdout) != 0) {
        perror("cluster-keys: stdout");
        return 1;
    }
    return 0;
}

typedef struct {
    unsigned first, last;
    const char *path;
    FILE *f;
    unsigned long sent;
} out_range;

static long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int cmd_write(int argc, char **argv)
{
    unsigned long rate, keys, max_s;
    out_range r[MAX_RANGES];
    int nr = argc - 5;
    if (argc < 6 || nr > MAX_RANGES || !parse_ulong(argv[2], 1, 1000000, &rate) ||
        !parse_ulong(argv[3], 1, 1000000000ul, &keys) || !parse_ulong(argv[4], 1, 86400, &max_s)) {
        fprintf(stderr, "usage: cluster-keys write RATE KEYS MAX_S FIRST-LAST=PATH ... (at most %d)\n",
                MAX_RANGES);
        return 2;
    }
    for (int k = 0; k < nr; k++) {
        const char *rest;
        if (!parse_range(argv[5 + k], &r[k].first, &r[k].last, &rest) || rest[0] != '=' || !rest[1]) {
            fprintf(stderr, "cluster-keys: '%s' is not FIRST-LAST=PATH\n", argv[5 + k]);
            return 2;
        }
        r[k].path = rest + 1;
        r[k].sent = 0;
        r[k].f = NULL;
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    int rc = 0;
    for (int k = 0; k < nr; k++) {
        /* opening a fifo blocks until its reader opens it */
        if (!(r[k].f = fopen(r[k].path, "w"))) {
            fprintf(stderr, "cluster-keys: %s: %s\n", r[k].path, strerror(errno));
            rc = 1;
            goto out;
        }
    }

    static char value[64];
    char key[32];
    unsigned long n = 0, unrouted = 0;
    long long t0 = now_us(), end = t0 + (long long)max_s * 1000000;
    while (!stop_now) {
        long long now = now_us();
        if (now >= end)
            break;
        unsigned long target = (unsigned long)((now - t0) * (long long)rate / 1000000);
        for (; n < target; n++) {
            unsigned long i = n * 7919ul % keys + 1;
            int kl = snprintf(key, sizeof key, "key:%lu", i);
            unsigned s = key_slot(key, (size_t)kl);
            int k = 0;
            while (k < nr && (s < r[k].first || s > r[k].last))
                k++;
            if (k == nr) {
                unrouted++;
                continue;
            }
            value_of(n + 1000000000ul, 40, value);
            if (fprintf(r[k].f, "SET %s w%s\n", key, value) < 0) {
                fprintf(stderr, "cluster-keys: %s: %s\n", r[k].path, strerror(errno));
                rc = 1;
                goto out;
            }
            r[k].sent++;
        }
        for (int k = 0; k < nr; k++) {
            if (fflush(r[k].f) != 0) {
                fprintf(stderr, "cluster-keys: %s: %s\n", r[k].path, strerror(errno));
                rc = 1;
                goto out;
            }
        }
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (unrouted)
        fprintf(stderr, "cluster-keys: %lu keys in no range given\n", unrouted);
out:
    for (int k = 0; k < nr; k++) {
        if (r[k].f) {
            fclose(r[k].f);
            fprintf(stderr, "cluster-keys: %s: %lu SETs\n", r[k].path, r[k].sent);
        }
    }
    return rc;
}

static int cmd_slot(int argc, char **argv)
{
    for (int k = 2; k < argc; k++)
        printf("%u\n", key_slot(argv[k], strlen(argv[k])));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "resp") == 0)
        return cmd_resp(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "write") == 0)
        return cmd_write(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "slot") == 0)
        return cmd_slot(argc, argv);
    fprintf(stderr, "usage: cluster-keys resp FIRST-LAST KEYS VALUE_BYTES\n"
                    "       cluster-keys write RATE KEYS MAX_S FIRST-LAST=PATH ...\n"
                    "       cluster-keys slot KEY...\n");
    return 2;
}
