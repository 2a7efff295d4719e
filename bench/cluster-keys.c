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
 *   cluster-keys count KEYS [FIRST-LAST ...]
 *       Prints how many of key:1..KEYS (the keys `resp` loads) have their
 *       slot in one of the ranges: the loaded keys a slot move carries.
 *
 *   cluster-keys acked RATE MAX_S LOG SEED_ADDR:PORT [USER PASSFILE]
 *       A cluster client that writes like an application: RATE SETs per
 *       second of new distinct keys "w:RUN:SEQ" = "SEQ" (RUN: the run's
 *       start in unix ms, so runs never write each other's keys; SEQ = 1,
 *       2, ...: over every slot), one at a time, each retried until the
 *       cluster acknowledges it (see "CLUSTER CLIENT" below), then appended
 *       to LOG as "SEQ UNIX_MS" (LOG's first line, "# keys w:RUN:", names
 *       the keys).  Paced every 20 ms (writes that waited are made up at
 *       once after), so ~20 ms between acknowledgements is the floor.  Stops after MAX_S seconds or on
 *       SIGTERM/SIGINT; on exit prints to stderr what it acknowledged and
 *       how often it was redirected or retried.  The password is read from
 *       PASSFILE (its first line), never from argv.
 *
 *   cluster-keys verify LOG SEED_ADDR:PORT [USER PASSFILE]
 *       Reads back every key LOG names (cluster-routed, pipelined per node)
 *       and prints "acked=N lost=M longest_gap_ms=G": M keys missing or
 *       holding another value, G the longest time between two consecutive
 *       acknowledged writes (how long the application could not write).
 *       Exits 0 when nothing was lost, 3 when something was, 1 when it
 *       could not read every key back.
 *
 * The slot is Redis Cluster's: CRC16 (XMODEM) of the key, or of its hash
 * tag when the key has a non-empty {...}, modulo 16384. */
#include <errno.h>
#include <hiredis/hiredis.h>
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

static int cmd_count(int argc, char **argv)
{
    unsigned long keys;
    static bool in[SLOTS];
    if (argc < 3 || !parse_ulong(argv[2], 1, 1000000000ul, &keys)) {
        fprintf(stderr, "usage: cluster-keys count KEYS [FIRST-LAST ...]\n");
        return 2;
    }
    for (int k = 3; k < argc; k++) {
        unsigned first, last;
        const char *rest;
        if (!parse_range(argv[k], &first, &last, &rest) || *rest) {
            fprintf(stderr, "cluster-keys: '%s' is not FIRST-LAST\n", argv[k]);
            return 2;
        }
        for (unsigned s = first; s <= last; s++)
            in[s] = true;
    }
    char key[32];
    unsigned long n = 0;
    for (unsigned long i = 1; i <= keys; i++) {
        int kl = snprintf(key, sizeof key, "key:%lu", i);
        n += in[key_slot(key, (size_t)kl)];
    }
    printf("%lu\n", n);
    return 0;
}

/* ==== CLUSTER CLIENT ====
 *
 * What a cluster client library does, reduced to what the benchmarks need
 * to count acknowledged writes honestly:
 *
 *   - a slot map (slot -> node), read with CLUSTER SLOTS from any node it
 *     knows (the seed first), and read again after every MOVED, after a
 *     connection error and while a slot has no owner;
 *   - MOVED: the slot goes to the node the error names, at the address it
 *     names (a node it did not know is added), and the command is sent
 *     there at once;
 *   - ASK: ASKING then the command, once, on the node the error names; the
 *     slot map is not changed (the slot is being migrated);
 *   - TRYAGAIN, CLUSTERDOWN, NOREPLICAS, LOADING, MASTERDOWN, READONLY
 *     and connection errors or timeouts: the command is sent again after
 *     RETRY_PAUSE_MS (the map read again first after a connection error
 *     or CLUSTERDOWN: a node whose view is behind says "Hash slot not
 *     served" for a slot that moved while it forgot a node);
 *   - any other error is returned to the caller.
 *
 * One connection per node, opened on first use, with AUTH USER PASS when
 * a password was given.  Every command waits for its reply (at most
 * CMD_TIMEOUT_MS), so a reply means the node acknowledged it. */

#define MAX_NODES 64
#define CONNECT_TIMEOUT_MS 1000
#define CMD_TIMEOUT_MS 2000
#define RETRY_PAUSE_MS 10
#define PASS_MAX 512

typedef struct {
    char addr[64];
    int port;
    redisContext *c; /* NULL until connected, and after an error */
} cnode;

typedef struct {
    cnode node[MAX_NODES];
    int nnodes;
    short slot[SLOTS]; /* index into node, -1: no owner known */
    const char *user;  /* NULL: no AUTH */
    char pass[PASS_MAX];
    long long retry_limit_us; /* cclient_run gives up after this long; 0: never */
    /* counters, for the summary on stderr */
    unsigned long moved, ask, tryagain, clusterdown, noreplicas, other_retry, conn_errors,
        refreshes;
    bool said[5]; /* the first of each kind of retried error was printed */
} cclient;

static long long unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* read_pass: the first line of PATH, without its line end; false (with a
 * message) when it cannot be read or is empty. */
static bool read_pass(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cluster-keys: %s: %s\n", path, strerror(errno));
        return false;
    }
    bool ok = fgets(out, (int)cap, f) != NULL;
    fclose(f);
    if (ok)
        out[strcspn(out, "\r\n")] = '\0';
    if (!ok || !out[0]) {
        fprintf(stderr, "cluster-keys: %s: no password on its first line\n", path);
        return false;
    }
    return true;
}

/* split_addr: "ADDR:PORT" (the last ':' separates them) into addr, port. */
static bool split_addr(const char *s, size_t len, char *addr, size_t cap, int *port)
{
    const char *colon = NULL;
    for (size_t i = 0; i < len; i++)
        if (s[i] == ':')
            colon = s + i;
    if (!colon || (size_t)(colon - s) >= cap)
        return false;
    char digits[8];
    size_t dl = len - (size_t)(colon + 1 - s);
    if (dl == 0 || dl >= sizeof digits)
        return false;
    memcpy(digits, colon + 1, dl);
    digits[dl] = '\0';
    unsigned long p;
    if (!parse_ulong(digits, 1, 65535, &p))
        return false;
    memcpy(addr, s, (size_t)(colon - s));
    addr[colon - s] = '\0';
    *port = (int)p;
    return true;
}

/* node_index: the node at ADDR:PORT, added when new; -1 when the table
 * is full. */
static int node_index(cclient *cl, const char *addr, int port)
{
    for (int i = 0; i < cl->nnodes; i++)
        if (cl->node[i].port == port && strcmp(cl->node[i].addr, addr) == 0)
            return i;
    if (cl->nnodes == MAX_NODES || strlen(addr) >= sizeof cl->node[0].addr)
        return -1;
    cnode *n = &cl->node[cl->nnodes];
    snprintf(n->addr, sizeof n->addr, "%s", addr);
    n->port = port;
    n->c = NULL;
    return cl->nnodes++;
}

static void node_drop(cclient *cl, int i)
{
    if (cl->node[i].c) {
        redisFree(cl->node[i].c);
        cl->node[i].c = NULL;
    }
}

/* node_conn: node i's connection, opened (and authenticated) when needed;
 * NULL when that fails. */
static redisContext *node_conn(cclient *cl, int i)
{
    cnode *n = &cl->node[i];
    if (n->c)
        return n->c;
    struct timeval ct = {CONNECT_TIMEOUT_MS / 1000, (CONNECT_TIMEOUT_MS % 1000) * 1000};
    struct timeval rt = {CMD_TIMEOUT_MS / 1000, (CMD_TIMEOUT_MS % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(n->addr, n->port, ct);
    if (!c || c->err || redisSetTimeout(c, rt) != REDIS_OK) {
        if (c)
            redisFree(c);
        return NULL;
    }
    if (cl->user) {
        redisReply *r = redisCommand(c, "AUTH %s %s", cl->user, cl->pass);
        bool ok = r && r->type == REDIS_REPLY_STATUS;
        if (r && r->type == REDIS_REPLY_ERROR)
            fprintf(stderr, "cluster-keys: AUTH on %s:%d: %s\n", n->addr, n->port, r->str);
        if (r)
            freeReplyObject(r);
        if (!ok) {
            redisFree(c);
            return NULL;
        }
    }
    n->c = c;
    return c;
}

/* map_from: the slot map as node i answers CLUSTER SLOTS; false (the map
 * unchanged) when it does not answer with one. */
static bool map_from(cclient *cl, int i)
{
    redisContext *c = node_conn(cl, i);
    if (!c)
        return false;
    redisReply *r = redisCommand(c, "CLUSTER SLOTS");
    if (!r) {
        node_drop(cl, i);
        return false;
    }
    bool ok = r->type == REDIS_REPLY_ARRAY;
    short map[SLOTS];
    for (int s = 0; s < SLOTS; s++)
        map[s] = -1;
    for (size_t k = 0; ok && k < r->elements; k++) {
        redisReply *e = r->element[k];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
            e->element[0]->type != REDIS_REPLY_INTEGER ||
            e->element[1]->type != REDIS_REPLY_INTEGER ||
            e->element[2]->type != REDIS_REPLY_ARRAY || e->element[2]->elements < 2 ||
            e->element[2]->element[0]->type != REDIS_REPLY_STRING ||
            e->element[2]->element[1]->type != REDIS_REPLY_INTEGER) {
            ok = false;
            break;
        }
        long long first = e->element[0]->integer, last = e->element[1]->integer;
        const char *ip = e->element[2]->element[0]->str;
        long long port = e->element[2]->element[1]->integer;
        if (first < 0 || last >= SLOTS || first > last || port < 1 || port > 65535) {
            ok = false;
            break;
        }
        if (strcmp(ip, "?") == 0) /* no known endpoint: leave those slots unowned */
            continue;
        /* "" is "the address you asked" (Redis 7) */
        int owner = node_index(cl, ip[0] ? ip : cl->node[i].addr, (int)port);
        if (owner < 0) {
            ok = false;
            break;
        }
        for (long long s = first; s <= last; s++)
            map[s] = (short)owner;
    }
    freeReplyObject(r);
    if (ok) {
        memcpy(cl->slot, map, sizeof map);
        cl->refreshes++;
    }
    return ok;
}

/* map_refresh: the slot map from node `first` when it answers, else from
 * the first other node that does. */
static bool map_refresh(cclient *cl, int first)
{
    if (first >= 0 && map_from(cl, first))
        return true;
    for (int i = 0; i < cl->nnodes; i++)
        if (i != first && map_from(cl, i))
            return true;
    return false;
}

/* cclient_open: a client knowing SEED ("ADDR:PORT"), with USER and the
 * password in PASSFILE when user is not NULL; its first slot map read.
 * False, with a message, when the arguments are wrong or no slot map can
 * be read. */
static bool cclient_open(cclient *cl, const char *seed, const char *user, const char *passfile)
{
    memset(cl, 0, sizeof *cl);
    for (int s = 0; s < SLOTS; s++)
        cl->slot[s] = -1;
    char addr[64];
    int port;
    if (!split_addr(seed, strlen(seed), addr, sizeof addr, &port)) {
        fprintf(stderr, "cluster-keys: '%s' is not ADDR:PORT\n", seed);
        return false;
    }
    if (user) {
        if (!read_pass(passfile, cl->pass, sizeof cl->pass))
            return false;
        cl->user = user;
    }
    node_index(cl, addr, port);
    if (!map_refresh(cl, 0)) {
        fprintf(stderr, "cluster-keys: no CLUSTER SLOTS from %s\n", seed);
        return false;
    }
    return true;
}

static void cclient_close(cclient *cl)
{
    for (int i = 0; i < cl->nnodes; i++)
        node_drop(cl, i);
}

static bool err_is(const redisReply *r, const char *word)
{
    size_t n = strlen(word);
    return strncmp(r->str, word, n) == 0 && (r->str[n] == ' ' || r->str[n] == '\0');
}

/* cclient_run: the command (argv, the key's slot) sent until a node
 * answers it with anything but a redirection or a transient error (see
 * the banner).  Returns that reply (the caller frees it), or NULL when
 * *stop was set first, retry_limit_us passed or the node table
 * overflowed. */
static redisReply *cclient_run(cclient *cl, int argc, const char **argv, const size_t *lens,
                               unsigned slot, volatile sig_atomic_t *stop)
{
    int ask_node = -1;
    long long deadline = cl->retry_limit_us ? now_us() + cl->retry_limit_us : 0;
    while (!*stop) {
        if (deadline && now_us() >= deadline) {
            fprintf(stderr, "cluster-keys: %s on slot %u: no answer for %lld s\n", argv[0], slot,
                    cl->retry_limit_us / 1000000);
            return NULL;
        }
        int target = ask_node >= 0 ? ask_node : cl->slot[slot];
        bool asking = ask_node >= 0;
        ask_node = -1;
        if (target < 0) {
            if (!map_refresh(cl, -1))
                cl->conn_errors++;
            if (cl->slot[slot] < 0)
                pause_ms(RETRY_PAUSE_MS);
            continue;
        }
        redisContext *c = node_conn(cl, target);
        redisReply *r = NULL;
        if (c && asking) {
            r = redisCommand(c, "ASKING");
            if (r) {
                freeReplyObject(r);
                r = NULL;
            } else {
                c = NULL;
            }
        }
        if (c)
            r = redisCommandArgv(c, argc, argv, lens);
        if (!r) { /* refused, reset or timed out: read the map again */
            if (!cl->said[4]) {
                cl->said[4] = true;
                fprintf(stderr, "cluster-keys: first connection error at unix ms %lld on %s:%d (slot %u): %s\n",
                        unix_ms(), cl->node[target].addr, cl->node[target].port, slot,
                        c ? c->errstr : "cannot connect");
            }
            cl->conn_errors++;
            node_drop(cl, target);
            map_refresh(cl, -1);
            pause_ms(RETRY_PAUSE_MS);
            continue;
        }
        if (r->type != REDIS_REPLY_ERROR)
            return r;
        if (err_is(r, "MOVED") || err_is(r, "ASK")) {
            /* "MOVED SLOT ADDR:PORT"; an empty ADDR is this node's */
            bool moved = err_is(r, "MOVED");
            const char *sp = strchr(r->str, ' ');
            const char *ep = sp ? strchr(sp + 1, ' ') : NULL;
            char addr[64];
            int port, to = -1;
            if (ep && split_addr(ep + 1, strlen(ep + 1), addr, sizeof addr, &port))
                to = node_index(cl, addr[0] ? addr : cl->node[target].addr, port);
            if (to < 0) {
                fprintf(stderr, "cluster-keys: cannot follow '%s'\n", r->str);
                freeReplyObject(r);
                return NULL;
            }
            freeReplyObject(r);
            if (moved) {
                cl->moved++;
                cl->slot[slot] = (short)to;
                map_refresh(cl, to);
                /* a map read from an older view must not undo the MOVED */
                cl->slot[slot] = (short)to;
            } else {
                cl->ask++;
                ask_node = to;
            }
            continue;
        }
        int kind;
        if (err_is(r, "TRYAGAIN"))
            kind = 0, cl->tryagain++;
        else if (err_is(r, "CLUSTERDOWN"))
            kind = 1, cl->clusterdown++;
        else if (err_is(r, "NOREPLICAS"))
            kind = 2, cl->noreplicas++;
        else if (err_is(r, "LOADING") || err_is(r, "MASTERDOWN") || err_is(r, "READONLY"))
            kind = 3, cl->other_retry++;
        else
            return r;
        if (!cl->said[kind]) { /* what it was, once: the counts say how often */
            cl->said[kind] = true;
            fprintf(stderr, "cluster-keys: first retried error at unix ms %lld from %s:%d (slot %u): %s\n",
                    unix_ms(), cl->node[target].addr, cl->node[target].port, slot, r->str);
        }
        freeReplyObject(r);
        pause_ms(RETRY_PAUSE_MS);
        if (kind == 1) /* that node's view may be behind: ask another */
            map_refresh(cl, -1);
    }
    return NULL;
}

/* client_args: the optional "USER PASSFILE" after the fixed arguments. */
static bool client_args(int argc, char **argv, int fixed, const char **user, const char **passfile)
{
    *user = *passfile = NULL;
    if (argc == fixed)
        return true;
    if (argc != fixed + 2)
        return false;
    *user = argv[fixed];
    *passfile = argv[fixed + 1];
    return true;
}

static int cmd_acked(int argc, char **argv)
{
    unsigned long rate, max_s;
    const char *user, *passfile;
    if (argc < 6 || !parse_ulong(argv[2], 1, 100000, &rate) ||
        !parse_ulong(argv[3], 1, 86400, &max_s) || !client_args(argc, argv, 6, &user, &passfile)) {
        fprintf(stderr, "usage: cluster-keys acked RATE MAX_S LOG SEED_ADDR:PORT [USER PASSFILE]\n");
        return 2;
    }
    const char *log_path = argv[4];
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    static cclient cl;
    if (!cclient_open(&cl, argv[5], user, passfile))
        return 1;
    FILE *log = fopen(log_path, "w");
    if (!log) {
        fprintf(stderr, "cluster-keys: %s: %s\n", log_path, strerror(errno));
        cclient_close(&cl);
        return 1;
    }

    int rc = 0;
    char prefix[32], key[64], val[24];
    snprintf(prefix, sizeof prefix, "w:%lld:", unix_ms());
    if (fprintf(log, "# keys %s\n", prefix) < 0 || fflush(log) != 0) {
        fprintf(stderr, "cluster-keys: %s: %s\n", log_path, strerror(errno));
        fclose(log);
        cclient_close(&cl);
        return 1;
    }
    unsigned long seq = 0;
    long long t0 = now_us(), end = t0 + (long long)max_s * 1000000;
    long long last_ack = 0, gap = 0;
    while (!stop_now && now_us() < end) {
        unsigned long target = (unsigned long)((now_us() - t0) * (long long)rate / 1000000) + 1;
        while (seq < target && !stop_now) {
            unsigned long next = seq + 1;
            int kl = snprintf(key, sizeof key, "%s%lu", prefix, next);
            int vl = snprintf(val, sizeof val, "%lu", next);
            const char *av[3] = {"SET", key, val};
            size_t al[3] = {3, (size_t)kl, (size_t)vl};
            redisReply *r = cclient_run(&cl, 3, av, al, key_slot(key, (size_t)kl), &stop_now);
            if (!r) {
                if (!stop_now)
                    rc = 1;
                break;
            }
            bool ok = r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0;
            if (!ok) {
                fprintf(stderr, "cluster-keys: SET %s: %s\n", key,
                        r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
                freeReplyObject(r);
                rc = 1;
                goto out;
            }
            freeReplyObject(r);
            long long t = unix_ms();
            if (last_ack && t - last_ack > gap)
                gap = t - last_ack;
            last_ack = t;
            seq = next;
            if (fprintf(log, "%lu %lld\n", seq, t) < 0) {
                fprintf(stderr, "cluster-keys: %s: %s\n", log_path, strerror(errno));
                rc = 1;
                goto out;
            }
        }
        if (rc)
            break;
        if (fflush(log) != 0) {
            fprintf(stderr, "cluster-keys: %s: %s\n", log_path, strerror(errno));
            rc = 1;
            break;
        }
        pause_ms(20);
    }
out:
    if (fclose(log) != 0 && !rc) {
        fprintf(stderr, "cluster-keys: %s: %s\n", log_path, strerror(errno));
        rc = 1;
    }
    fprintf(stderr,
            "cluster-keys acked: %lu writes acknowledged in %.1f s, longest gap %lld ms; "
            "%lu MOVED, %lu ASK, %lu TRYAGAIN, %lu CLUSTERDOWN, %lu NOREPLICAS, %lu other "
            "retries, %lu connection errors, %lu slot map reads, %d nodes seen\n",
            seq, (double)(now_us() - t0) / 1e6, gap, cl.moved, cl.ask, cl.tryagain,
            cl.clusterdown, cl.noreplicas, cl.other_retry, cl.conn_errors, cl.refreshes,
            cl.nnodes);
    cclient_close(&cl);
    return rc;
}

/* ---- verify ---- */

#define VERIFY_BATCH 1000
#define VERIFY_RETRY_S 30 /* a key whose slot no node serves for this long: give up */

typedef struct {
    unsigned long seq;
    int node; /* where its GET was pipelined (-1: not); then 0 once told */
} vitem;

/* verify_one: the key's value checked with a routed GET: 1 lost, 0 kept,
 * -1 could not tell. */
static int verify_one(cclient *cl, const char *prefix, unsigned long seq)
{
    static volatile sig_atomic_t never;
    char key[64], val[24];
    int kl = snprintf(key, sizeof key, "%s%lu", prefix, seq);
    snprintf(val, sizeof val, "%lu", seq);
    const char *av[2] = {"GET", key};
    size_t al[2] = {3, (size_t)kl};
    redisReply *r = cclient_run(cl, 2, av, al, key_slot(key, (size_t)kl), &never);
    if (!r)
        return -1;
    int res;
    if (r->type == REDIS_REPLY_NIL)
        res = 1;
    else if (r->type == REDIS_REPLY_STRING)
        res = strcmp(r->str, val) != 0;
    else {
        fprintf(stderr, "cluster-keys: GET %s: %s\n", key,
                r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        res = -1;
    }
    freeReplyObject(r);
    return res;
}

static void note_lost(const char *prefix, unsigned long seq, unsigned long *lost)
{
    if (++*lost <= 10)
        fprintf(stderr, "cluster-keys: lost %s%lu\n", prefix, seq);
}

/* verify_batch: the n items' keys read back, pipelined per node; what a
 * pipelined GET cannot tell (redirected, error, connection lost) is asked
 * again alone once every pipelined reply is read.  False at the first key
 * whose fate could not be told. */
static bool verify_batch(cclient *cl, const char *prefix, vitem *it, int n, unsigned long *lost)
{
    bool dead[MAX_NODES] = {false};
    char key[64], val[24];
    for (int k = 0; k < n; k++) {
        int kl = snprintf(key, sizeof key, "%s%lu", prefix, it[k].seq);
        int node = cl->slot[key_slot(key, (size_t)kl)];
        redisContext *c = node >= 0 ? node_conn(cl, node) : NULL;
        it[k].node = c && redisAppendCommand(c, "GET %s", key) == REDIS_OK ? node : -1;
    }
    /* every pipelined reply first: a connection is used for nothing else
     * while replies are pending on it */
    for (int k = 0; k < n; k++) {
        int node = it[k].node;
        redisReply *r = NULL;
        it[k].node = -1; /* from here: -1 ask alone, 0 kept */
        if (node < 0 || dead[node])
            continue;
        if (redisGetReply(cl->node[node].c, (void **)&r) != REDIS_OK) {
            dead[node] = true;
            continue;
        }
        snprintf(val, sizeof val, "%lu", it[k].seq);
        if (r->type == REDIS_REPLY_NIL) {
            note_lost(prefix, it[k].seq, lost);
            it[k].node = 0;
        } else if (r->type == REDIS_REPLY_STRING) {
            if (strcmp(r->str, val) != 0)
                note_lost(prefix, it[k].seq, lost);
            it[k].node = 0;
        }
        freeReplyObject(r);
    }
    for (int i = 0; i < cl->nnodes; i++)
        if (dead[i])
            node_drop(cl, i);
    for (int k = 0; k < n; k++) {
        if (it[k].node == 0)
            continue;
        int v = verify_one(cl, prefix, it[k].seq);
        if (v < 0)
            return false; /* no node serves it: the others would wait as long */
        if (v)
            note_lost(prefix, it[k].seq, lost);
    }
    return true;
}

static int cmd_verify(int argc, char **argv)
{
    const char *user, *passfile;
    if (argc < 4 || !client_args(argc, argv, 4, &user, &passfile)) {
        fprintf(stderr, "usage: cluster-keys verify LOG SEED_ADDR:PORT [USER PASSFILE]\n");
        return 2;
    }
    const char *log_path = argv[2];
    FILE *log = fopen(log_path, "r");
    if (!log) {
        fprintf(stderr, "cluster-keys: %s: %s\n", log_path, strerror(errno));
        return 1;
    }
    static cclient cl;
    if (!cclient_open(&cl, argv[3], user, passfile)) {
        fclose(log);
        return 1;
    }
    cl.retry_limit_us = VERIFY_RETRY_S * 1000000LL;
    static vitem it[VERIFY_BATCH];
    int n = 0;
    unsigned long acked = 0, lost = 0, line = 0, gap_seq = 0;
    long long prev = -1, gap = 0, gap_end = 0, t;
    unsigned long seq;
    bool ok = true;
    char buf[128], prefix[32] = "w:";
    while (fgets(buf, sizeof buf, log)) {
        line++;
        char extra;
        if (line == 1 && buf[0] == '#') { /* "# keys PREFIX" */
            if (sscanf(buf, "# keys %31s %c", prefix, &extra) != 1) {
                fprintf(stderr, "cluster-keys: %s:1: not '# keys PREFIX'\n", log_path);
                ok = false;
                break;
            }
            continue;
        }
        if (sscanf(buf, "%lu %lld %c", &seq, &t, &extra) != 2) {
            fprintf(stderr, "cluster-keys: %s:%lu: not 'SEQ UNIX_MS'\n", log_path, line);
            ok = false;
            break;
        }
        acked++;
        if (prev >= 0 && t - prev > gap) {
            gap = t - prev;
            gap_end = t;
            gap_seq = seq;
        }
        prev = t;
        it[n++].seq = seq;
        if (n == VERIFY_BATCH) {
            ok = verify_batch(&cl, prefix, it, n, &lost);
            n = 0;
            if (!ok)
                break;
        }
    }
    if (ok && n)
        ok = verify_batch(&cl, prefix, it, n, &lost);
    fclose(log);
    cclient_close(&cl);
    if (!ok) {
        fprintf(stderr, "cluster-keys: could not read back every key of %s\n", log_path);
        return 1;
    }
    if (gap_seq)
        fprintf(stderr, "cluster-keys: the longest gap ended with write %lu, at unix ms %lld\n",
                gap_seq, gap_end);
    printf("acked=%lu lost=%lu longest_gap_ms=%lld\n", acked, lost, gap);
    return lost ? 3 : 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "resp") == 0)
        return cmd_resp(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "write") == 0)
        return cmd_write(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "slot") == 0)
        return cmd_slot(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "count") == 0)
        return cmd_count(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "acked") == 0)
        return cmd_acked(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "verify") == 0)
        return cmd_verify(argc, argv);
    fprintf(stderr, "usage: cluster-keys resp FIRST-LAST KEYS VALUE_BYTES\n"
                    "       cluster-keys write RATE KEYS MAX_S FIRST-LAST=PATH ...\n"
                    "       cluster-keys slot KEY...\n"
                    "       cluster-keys count KEYS [FIRST-LAST ...]\n"
                    "       cluster-keys acked RATE MAX_S LOG SEED_ADDR:PORT [USER PASSFILE]\n"
                    "       cluster-keys verify LOG SEED_ADDR:PORT [USER PASSFILE]\n");
    return 2;
}
