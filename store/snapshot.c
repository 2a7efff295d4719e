/* snapshot.c - RDB snapshots over the replication protocol.
 *
 * Two halves: a pure reader of the RDB header and its leading aux fields
 * (store_rdb_inspect, unit-tested on byte arrays), and the fetch, which
 * speaks just enough of the replication protocol over a wire (wire.h: a
 * socket, TLS when store_set_tls() is on):
 *
 *   -> AUTH user pass            <- +OK
 *   -> REPLCONF capa eof         <- +OK      (we take the diskless form)
 *   -> REPLCONF rdb-only 1       <- +OK      (7.0+: send the RDB, then close)
 *   -> SYNC                      <- "\n"...  (keepalives while it prepares)
 *                                <- $<len>\r\n + len bytes             (disk)
 *                                or $EOF:<mark>\r\n + bytes + <mark>   (diskless)
 *
 * hiredis' reader is not used here: it does not understand the payload,
 * and the payload must stream to disk rather than sit in a reply object.
 * Only its formatter encodes the commands. */
#include "snapshot.h"
#include "snapshot_internal.h"

#include "conn.h"
#include "fsutil.h"
#include "wire.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

/* ==== RDB FORMAT ==== */

/* RDB_HEADER_LEN, the cursor, the string reader and the aux fields are
 * shared with rdb_scan.c through snapshot_internal.h. */
#define RDB_TRAILER_LEN 9            /* EOF opcode + 8-byte CRC64 */
#define RDB_MIN_LEN (RDB_HEADER_LEN + RDB_TRAILER_LEN)
#define RDB_INSPECT_LEN 4096         /* how much of the payload the fetch inspects */

bool store__rdb_header_ok(const unsigned char *p, size_t len, int *version)
{
    if (len < RDB_HEADER_LEN || memcmp(p, "REDIS", 5) != 0)
        return false;
    int v = 0;
    for (size_t i = 5; i < RDB_HEADER_LEN; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (p[i] - '0');
    }
    if (version)
        *version = v;
    return true;
}

static uint64_t be_bytes(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* An RDB length: 00xxxxxx (6 bits), 01xxxxxx xxxxxxxx (14 bits, big
 * endian), 0x80 + 32 bits or 0x81 + 64 bits (big endian), or 11xxxxxx: an
 * encoded string whose kind is the low 6 bits (*ENCODED set). */
rdb_status store__rdb_read_len(rdb_cursor *c, uint64_t *v, bool *encoded)
{
    *encoded = false;
    if (c->pos >= c->len)
        return RDB_READ_SHORT;
    unsigned char b = c->p[c->pos++];
    size_t more;
    switch (b >> 6) {
    case 0:
        *v = b & 0x3F;
        return RDB_READ_OK;
    case 1:
        if (c->pos >= c->len)
            return RDB_READ_SHORT;
        *v = ((uint64_t)(b & 0x3F) << 8) | c->p[c->pos++];
        return RDB_READ_OK;
    case 2:
        if (b == 0x80)
            more = 4;
        else if (b == 0x81)
            more = 8;
        else
            return RDB_READ_BAD;
        if (c->len - c->pos < more)
            return RDB_READ_SHORT;
        *v = be_bytes(c->p + c->pos, more);
        c->pos += more;
        return RDB_READ_OK;
    default:
        *encoded = true;
        *v = b & 0x3F;
        return RDB_READ_OK;
    }
}

/* LZF as liblzf writes it: a control byte below 32 starts a literal run of
 * ctrl+1 bytes; otherwise the top 3 bits are a length (7: plus the next
 * byte), plus 2, and the rest with the next byte is a distance back, minus
 * 1, into the output.  True when IN expands to exactly OUT_LEN bytes. */
static bool lzf_expand(const unsigned char *in, size_t in_len, unsigned char *out,
                       size_t out_len)
{
    size_t ip = 0, op = 0;
    while (ip < in_len) {
        unsigned ctrl = in[ip++];
        if (ctrl < 32) {
            size_t n = ctrl + 1;
            if (n > in_len - ip || n > out_len - op)
                return false;
            memcpy(out + op, in + ip, n);
            ip += n;
            op += n;
            continue;
        }
        size_t n = ctrl >> 5;
        if (n == 7) {
            if (ip >= in_len)
                return false;
            n += in[ip++];
        }
        if (ip >= in_len)
            return false;
        size_t back = ((size_t)(ctrl & 0x1F) << 8) + in[ip++] + 1;
        n += 2;
        if (back > op || n > out_len - op)
            return false;
        for (size_t i = 0; i < n; i++, op++) /* may overlap: byte by byte */
            out[op] = out[op - back];
    }
    return op == out_len;
}

/* Skip N bytes, or report that the buffer ends first. */
static rdb_status rdb_skip(rdb_cursor *c, uint64_t n)
{
    if (n > c->len - c->pos)
        return RDB_READ_SHORT;
    c->pos += (size_t)n;
    return RDB_READ_OK;
}

rdb_status store__rdb_read_string(rdb_cursor *c, rdb_str *s)
{
    memset(s, 0, sizeof(*s));
    uint64_t n;
    bool encoded;
    rdb_status st = store__rdb_read_len(c, &n, &encoded);
    if (st != RDB_READ_OK)
        return st;
    if (!encoded) {
        s->len = n > SIZE_MAX ? SIZE_MAX : (size_t)n;
        if (n < sizeof(s->text) && n <= c->len - c->pos) {
            memcpy(s->text, c->p + c->pos, (size_t)n);
            s->kept = true;
        }
        return rdb_skip(c, n);
    }
    long long iv;
    switch (n) {
    case RDB_ENC_INT8:
        if (c->len - c->pos < 1)
            return RDB_READ_SHORT;
        iv = (int8_t)c->p[c->pos];
        c->pos += 1;
        break;
    case RDB_ENC_INT16:
        if (c->len - c->pos < 2)
            return RDB_READ_SHORT;
        iv = (int16_t)(uint16_t)(c->p[c->pos] | (c->p[c->pos + 1] << 8));
        c->pos += 2;
        break;
    case RDB_ENC_INT32:
        if (c->len - c->pos < 4)
            return RDB_READ_SHORT;
        iv = (int32_t)((uint32_t)c->p[c->pos] | ((uint32_t)c->p[c->pos + 1] << 8) |
                       ((uint32_t)c->p[c->pos + 2] << 16) |
                       ((uint32_t)c->p[c->pos + 3] << 24));
        c->pos += 4;
        break;
    case RDB_ENC_LZF: {
        uint64_t clen, ulen;
        bool enc2;
        if ((st = store__rdb_read_len(c, &clen, &enc2)) != RDB_READ_OK)
            return st;
        if (enc2)
            return RDB_READ_BAD;
        if ((st = store__rdb_read_len(c, &ulen, &enc2)) != RDB_READ_OK)
            return st;
        if (enc2)
            return RDB_READ_BAD;
        if (clen > c->len - c->pos)
            return RDB_READ_SHORT;
        s->len = ulen > SIZE_MAX ? SIZE_MAX : (size_t)ulen;
        if (ulen < sizeof(s->text)) {
            if (!lzf_expand(c->p + c->pos, (size_t)clen, (unsigned char *)s->text,
                            (size_t)ulen))
                return RDB_READ_BAD;
            s->kept = true;
        }
        c->pos += (size_t)clen;
        return RDB_READ_OK;
    }
    default:
        return RDB_READ_BAD;
    }
    int w = snprintf(s->text, sizeof(s->text), "%lld", iv);
    s->len = (size_t)w;
    s->kept = true;
    return RDB_READ_OK;
}

static bool str_is(const rdb_str *s, const char *lit)
{
    return s->kept && s->len == strlen(lit) && memcmp(s->text, lit, s->len) == 0;
}

mrd_rc store__rdb_aux_field(const rdb_str *key, const rdb_str *val,
                            char repl_id[RDB_REPL_ID_LEN + 1], long long *repl_offset,
                            mrd_error *err)
{
    if (str_is(key, "repl-id")) {
        if (!val->kept || val->len != RDB_REPL_ID_LEN)
            return mrd_error_set(err, MRD_ERR_PARSE,
                                 "the RDB aux field repl-id is %zu bytes long, "
                                 "expected %d",
                                 val->len, RDB_REPL_ID_LEN);
        /* Redis writes 40 hex digits; anything else (a NUL would cut
         * the id short) is not a replication id. */
        if (strspn(val->text, "0123456789abcdefABCDEF") != RDB_REPL_ID_LEN)
            return mrd_error_set(err, MRD_ERR_PARSE,
                                 "the RDB aux field repl-id is not %d hexadecimal "
                                 "digits",
                                 RDB_REPL_ID_LEN);
        memcpy(repl_id, val->text, RDB_REPL_ID_LEN);
        repl_id[RDB_REPL_ID_LEN] = '\0';
    } else if (str_is(key, "repl-offset")) {
        /* digits only, all VAL.len of them (a NUL would cut it short) */
        bool digits = val->kept && val->len > 0 &&
                      strspn(val->text, "0123456789") == val->len;
        char *end = NULL;
        errno = 0;
        long long v = digits ? strtoll(val->text, &end, 10) : -1;
        if (!digits || !end || *end != '\0' || errno != 0 || v < 0)
            return mrd_error_set(err, MRD_ERR_PARSE,
                                 "the RDB aux field repl-offset is not a "
                                 "non-negative number");
        *repl_offset = v;
    }
    return MRD_OK;
}

mrd_rc store_rdb_inspect(const unsigned char *buf, size_t len, store_snapshot *out,
                         mrd_error *err)
{
    memset(out, 0, sizeof(*out));
    out->repl_offset = -1;
    if (!buf || !store__rdb_header_ok(buf, len, &out->rdb_version))
        return mrd_error_set(err, MRD_ERR_PARSE,
                             "not an RDB file: it does not start with REDIS and a "
                             "4-digit version");
    rdb_cursor c = {.p = buf, .len = len, .pos = RDB_HEADER_LEN};
    while (c.pos < c.len && c.p[c.pos] == RDB_OPCODE_AUX) {
        size_t at = c.pos++;
        rdb_str key, val;
        rdb_status st = store__rdb_read_string(&c, &key);
        if (st == RDB_READ_OK)
            st = store__rdb_read_string(&c, &val);
        if (st == RDB_READ_SHORT)
            break; /* BUF ends inside this field: it stays absent */
        if (st == RDB_READ_BAD)
            return mrd_error_set(err, MRD_ERR_PARSE,
                                 "the RDB aux field at byte %zu has an invalid "
                                 "string encoding",
                                 at);
        MRD_TRY(store__rdb_aux_field(&key, &val, out->repl_id, &out->repl_offset, err));
    }
    return MRD_OK;
}

/* ==== CRC64 ==== */

#define CRC64_POLY_REFLECTED UINT64_C(0x95AC9329AC4BC9B5) /* Jones, bit-reversed */

/* Slice-by-8 (as Redis' own crcspeed): table[0] is the byte-at-a-time
 * table, table[k][b] the CRC of byte b followed by k zero bytes, so eight
 * input bytes cost eight lookups and no dependency chain between them.
 * About 5x faster than a byte at a time: it runs over every fetched
 * snapshot, and over a backup's again when its keys are counted. */
static uint64_t crc64_table[8][256];
static pthread_once_t crc64_once = PTHREAD_ONCE_INIT;

static void crc64_init(void)
{
    for (unsigned i = 0; i < 256; i++) {
        uint64_t c = i;
        for (int j = 0; j < 8; j++)
            c = (c & 1) ? (c >> 1) ^ CRC64_POLY_REFLECTED : c >> 1;
        crc64_table[0][i] = c;
    }
    for (unsigned i = 0; i < 256; i++)
        for (int k = 1; k < 8; k++)
            crc64_table[k][i] = (crc64_table[k - 1][i] >> 8) ^
                                crc64_table[0][crc64_table[k - 1][i] & 0xFF];
}

uint64_t store_rdb_crc64(uint64_t crc, const void *buf, size_t len)
{
    pthread_once(&crc64_once, crc64_init);
    const unsigned char *p = buf;
    const uint64_t(*t)[256] = crc64_table;
    for (; len >= 8; p += 8, len -= 8) {
        /* the reflected CRC takes the bytes least significant first,
         * whatever the machine's byte order */
        crc ^= (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
               (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 |
               (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
        crc = t[7][crc & 0xFF] ^ t[6][(crc >> 8) & 0xFF] ^ t[5][(crc >> 16) & 0xFF] ^
              t[4][(crc >> 24) & 0xFF] ^ t[3][(crc >> 32) & 0xFF] ^ t[2][(crc >> 40) & 0xFF] ^
              t[1][(crc >> 48) & 0xFF] ^ t[0][crc >> 56];
    }
    for (; len > 0; p++, len--)
        crc = t[0][(crc ^ *p) & 0xFF] ^ (crc >> 8);
    return crc;
}

/* ==== FETCH ==== */

#define EOF_MARK_LEN 40        /* CONFIG_RUN_ID_SIZE in Redis */
#define TAIL_LEN (EOF_MARK_LEN + RDB_TRAILER_LEN)
#define LINE_MAX_LEN 512       /* longest reply line we accept */
#define NET_BUF_LEN 65536

typedef struct fetch {
    char name[300];            /* "ADDRESS:PORT", for errors */
    const char *dest;
    int timeout_ms;
    wire *w;                   /* the connection, NULL before it */
    unsigned char in[NET_BUF_LEN];
    size_t in_pos, in_len;     /* unread bytes: in[in_pos..in_len) */

    char tmp[4096];            /* temporary file next to DEST */
    int tfd;

    bool eof_form;             /* "$EOF:<mark>" rather than "$<len>" */
    unsigned char mark[EOF_MARK_LEN];
    long long expect;          /* announced payload size ($<len> form) */
    long long received;        /* stream bytes written, mark included */
    unsigned char head[RDB_INSPECT_LEN];
    size_t head_len;
    bool header_checked;
    /* The last TAIL_LEN bytes of the stream: the trailer (and the mark) are
     * only known once the stream ends, so the CRC runs behind by TAIL_LEN. */
    unsigned char tail[TAIL_LEN];
    size_t tail_len;
    uint64_t crc;
} fetch;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static mrd_rc fail(const fetch *f, mrd_error *err, mrd_rc code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static mrd_rc fail(const fetch *f, mrd_error *err, mrd_rc code, const char *fmt, ...)
{
    char why[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    return mrd_error_set(err, code, "cannot fetch a snapshot from %s: %s", f->name, why);
}

/* A server's reply line, made safe to print. */
static void printable(const char *in, char *out, size_t n)
{
    size_t i = 0;
    for (; in[i] && i + 1 < n; i++)
        out[i] = (in[i] >= 0x20 && in[i] < 0x7F) ? in[i] : '?';
    out[i] = '\0';
}

static mrd_rc repl_connect(fetch *f, const char *address, int port, mrd_error *err)
{
    f->w = wire_new(address, port, store_source()); /* see store_set_source() */
    if (!f->w)
        return fail(f, err, MRD_ERR_NOMEM, "out of memory");
    if (wire_connect(f->w, f->timeout_ms) != WIRE_OK)
        return fail(f, err, MRD_ERR_CONNECT, "cannot connect: %s", wire_error(f->w));
    return MRD_OK;
}

/* Send ARGV as a RESP array, formatted by hiredis.  The command may hold
 * a password: it is wiped. */
static mrd_rc repl_command(fetch *f, int argc, const char *const argv[], mrd_error *err)
{
    /* hiredis takes char ** for historical reasons; it does not write. */
    union {
        const char *const *in;
        const char **out;
    } args = {.in = argv};
    char *cmd = NULL;
    int n = redisFormatCommandArgv(&cmd, argc, args.out, NULL);
    if (n < 0)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    wire_status st = wire_write_all(f->w, cmd, (size_t)n, f->timeout_ms);
    explicit_bzero(cmd, (size_t)n);
    redisFreeCommand(cmd);
    if (st == WIRE_TIMEOUT)
        return fail(f, err, MRD_ERR_TIMEOUT, "cannot send %s within %d ms", argv[0],
                    f->timeout_ms);
    if (st != WIRE_OK)
        return fail(f, err, MRD_ERR_IO, "cannot send %s: %s", argv[0], wire_error(f->w));
    return MRD_OK;
}

/* Refill the input buffer (it must be empty): what one read brings, after
 * at most one idle timeout. */
static wire_status repl_fill(fetch *f)
{
    f->in_pos = f->in_len = 0;
    return wire_read_some(f->w, f->in, sizeof(f->in), &f->in_len, f->timeout_ms);
}

static mrd_rc repl_fail(const fetch *f, wire_status st, const char *what, mrd_error *err)
{
    switch (st) {
    case WIRE_CLOSED:
        return fail(f, err, MRD_ERR_IO, "the connection closed while waiting for %s%s", what,
                    wire_close_hint(f->w));
    case WIRE_TIMEOUT:
        return fail(f, err, MRD_ERR_TIMEOUT, "no data for %d ms while waiting for %s",
                    f->timeout_ms, what);
    default:
        return fail(f, err, MRD_ERR_IO, "cannot read %s: %s", what, wire_error(f->w));
    }
}

/* One reply line without its "\r\n" ("" for a "\n" keepalive). */
static mrd_rc repl_line(fetch *f, char *line, size_t cap, const char *what,
                        mrd_error *err)
{
    size_t n = 0;
    for (;;) {
        if (f->in_pos == f->in_len) {
            wire_status st = repl_fill(f);
            if (st != WIRE_OK)
                return repl_fail(f, st, what, err);
        }
        unsigned char ch = f->in[f->in_pos++];
        if (ch == '\n')
            break;
        if (n + 1 >= cap)
            return fail(f, err, MRD_ERR_PROTOCOL,
                        "the answer to %s has a line longer than %zu bytes", what,
                        cap - 1);
        line[n++] = (char)ch;
    }
    if (n > 0 && line[n - 1] == '\r')
        n--;
    line[n] = '\0';
    return MRD_OK;
}

static bool auth_error(const char *line)
{
    return strncmp(line, "-NOAUTH", 7) == 0 || strncmp(line, "-WRONGPASS", 10) == 0 ||
           strncmp(line, "-NOPERM", 7) == 0;
}

/* What to do about an auth error line. */
static const char *auth_hint(const char *line)
{
    return strncmp(line, "-NOPERM", 7) == 0
               ? " (the replication user needs +replconf +sync)"
               : " (the server wants a user and password that it accepts)";
}

/* AUTH, then REPLCONF capa eof and rdb-only 1, each answered with one
 * status line. */
static mrd_rc repl_handshake(fetch *f, const char *user, const char *pass,
                             mrd_error *err)
{
    char line[LINE_MAX_LEN], shown[LINE_MAX_LEN];
    mrd_rc rc;
    if (user) {
        const char *argv[] = {"AUTH", user, pass};
        if ((rc = repl_command(f, 3, argv, err)) != MRD_OK)
            return rc;
        if ((rc = repl_line(f, line, sizeof(line), "the answer to AUTH", err)) != MRD_OK)
            return rc;
        printable(line, shown, sizeof(shown));
        if (line[0] == '-')
            return fail(f, err, MRD_ERR_AUTH, "AUTH as %s refused: %s", user, shown + 1);
        if (line[0] != '+')
            return fail(f, err, MRD_ERR_PROTOCOL, "unexpected answer to AUTH: %s", shown);
    }
    /* "capa eof": we read the diskless form, so a source with
     * repl-diskless-sync yes streams from its fork instead of writing an
     * RDB to its own disk first.  "rdb-only 1": send the RDB, then close,
     * rather than keep us as a replica (7.0+). */
    static const char *const replconf[][3] = {{"REPLCONF", "capa", "eof"},
                                              {"REPLCONF", "rdb-only", "1"}};
    for (size_t i = 0; i < sizeof(replconf) / sizeof(replconf[0]); i++) {
        if ((rc = repl_command(f, 3, replconf[i], err)) != MRD_OK)
            return rc;
        if ((rc = repl_line(f, line, sizeof(line), "the answer to REPLCONF", err)) !=
            MRD_OK)
            return rc;
        printable(line, shown, sizeof(shown));
        if (auth_error(line))
            return fail(f, err, MRD_ERR_AUTH, "REPLCONF refused: %s%s", shown + 1,
                        auth_hint(line));
        /* Other errors: an older server does not know the option.  SYNC
         * still works, in the other form; we stop reading at the end of
         * the payload. */
        if (line[0] != '+' && line[0] != '-')
            return fail(f, err, MRD_ERR_PROTOCOL, "unexpected answer to REPLCONF: %s",
                        shown);
    }
    return MRD_OK;
}

/* SYNC, then the bulk header, skipping keepalives. */
static mrd_rc repl_sync(fetch *f, mrd_error *err)
{
    const char *argv[] = {"SYNC"};
    mrd_rc rc = repl_command(f, 1, argv, err);
    if (rc != MRD_OK)
        return rc;
    char line[LINE_MAX_LEN], shown[LINE_MAX_LEN];
    do {
        rc = repl_line(f, line, sizeof(line), "the answer to SYNC", err);
        if (rc != MRD_OK)
            return rc;
    } while (line[0] == '\0'); /* "\n": the server is still preparing */
    printable(line, shown, sizeof(shown));
    if (auth_error(line))
        return fail(f, err, MRD_ERR_AUTH, "SYNC refused: %s%s", shown + 1,
                    auth_hint(line));
    if (line[0] == '-')
        return fail(f, err, MRD_ERR_PROTOCOL, "SYNC refused: %s", shown + 1);
    if (line[0] != '$')
        return fail(f, err, MRD_ERR_PROTOCOL, "unexpected answer to SYNC: %s", shown);
    if (strncmp(line + 1, "EOF:", 4) == 0) {
        if (strlen(line + 5) < EOF_MARK_LEN)
            return fail(f, err, MRD_ERR_PROTOCOL, "SYNC announced a short EOF mark: %s",
                        shown);
        f->eof_form = true;
        memcpy(f->mark, line + 5, EOF_MARK_LEN);
        return MRD_OK;
    }
    char *end = NULL;
    errno = 0;
    long long n = strtoll(line + 1, &end, 10);
    if (end == line + 1 || *end != '\0' || errno != 0 || n < 0)
        return fail(f, err, MRD_ERR_PROTOCOL, "SYNC announced a bad payload size: %s",
                    shown);
    f->expect = n;
    return MRD_OK;
}

/* Push N stream bytes through the tail window; bytes leaving it are
 * payload (neither trailer nor mark) and go into the CRC. */
static void tail_push(fetch *f, const unsigned char *d, size_t n)
{
    size_t total = f->tail_len + n;
    if (total <= TAIL_LEN) {
        memcpy(f->tail + f->tail_len, d, n);
        f->tail_len = total;
        return;
    }
    size_t leave = total - TAIL_LEN;
    size_t from_tail = leave < f->tail_len ? leave : f->tail_len;
    size_t from_d = leave - from_tail;
    f->crc = store_rdb_crc64(f->crc, f->tail, from_tail);
    f->crc = store_rdb_crc64(f->crc, d, from_d);
    memmove(f->tail, f->tail + from_tail, f->tail_len - from_tail);
    f->tail_len -= from_tail;
    memcpy(f->tail + f->tail_len, d + from_d, n - from_d);
    f->tail_len = TAIL_LEN;
}

/* True when the stream followed by D[0..K) ends with the EOF mark. */
static bool ends_with_mark(const fetch *f, const unsigned char *d, size_t k)
{
    size_t from_d = k < EOF_MARK_LEN ? k : EOF_MARK_LEN;
    if (memcmp(d + k - from_d, f->mark + EOF_MARK_LEN - from_d, from_d) != 0)
        return false;
    size_t from_tail = EOF_MARK_LEN - from_d;
    if (from_tail > f->tail_len)
        return false;
    return memcmp(f->tail + f->tail_len - from_tail, f->mark, from_tail) == 0;
}

/* Write N stream bytes to the temporary file and account for them. */
static mrd_rc sink(fetch *f, const unsigned char *d, size_t n, mrd_error *err)
{
    for (size_t off = 0; off < n;) {
        ssize_t w = write(f->tfd, d + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return fail(f, err, MRD_ERR_IO, "cannot write %s: %s", f->tmp,
                        strerror(errno));
        off += (size_t)w;
    }
    if (f->head_len < sizeof(f->head)) {
        size_t k = sizeof(f->head) - f->head_len;
        if (k > n)
            k = n;
        memcpy(f->head + f->head_len, d, k);
        f->head_len += k;
    }
    tail_push(f, d, n);
    f->received += (long long)n;
    if (!f->header_checked && f->head_len >= RDB_HEADER_LEN) {
        f->header_checked = true;
        if (!store__rdb_header_ok(f->head, f->head_len, NULL)) /* fail early */
            return fail(f, err, MRD_ERR_PARSE,
                        "the payload is not an RDB file (it does not start with "
                        "REDIS and a 4-digit version)");
    }
    return MRD_OK;
}

static mrd_rc stream_payload(fetch *f, mrd_error *err)
{
    for (;;) {
        if (!f->eof_form && f->received == f->expect)
            return MRD_OK;
        if (f->in_pos == f->in_len) {
            wire_status st = repl_fill(f);
            if (st == WIRE_CLOSED && f->eof_form)
                return fail(f, err, MRD_ERR_IO,
                            "the connection closed after %lld bytes, before the end "
                            "of the payload",
                            f->received);
            if (st == WIRE_CLOSED)
                return fail(f, err, MRD_ERR_IO,
                            "the connection closed after %lld of %lld bytes",
                            f->received, f->expect);
            if (st != WIRE_OK)
                return repl_fail(f, st, "the payload", err);
        }
        const unsigned char *d = f->in + f->in_pos;
        size_t n = f->in_len - f->in_pos;
        bool done = false;
        if (!f->eof_form) {
            if ((long long)n > f->expect - f->received)
                n = (size_t)(f->expect - f->received);
        } else {
            /* the mark can only end where its last byte is */
            const unsigned char *s = d;
            while ((s = memchr(s, f->mark[EOF_MARK_LEN - 1], (size_t)(d + n - s)))) {
                size_t k = (size_t)(s - d) + 1;
                if (ends_with_mark(f, d, k)) {
                    n = k;
                    done = true;
                    break;
                }
                s++;
            }
        }
        mrd_rc rc = sink(f, d, n, err);
        if (rc != MRD_OK)
            return rc;
        f->in_pos += n;
        if (done)
            return MRD_OK;
    }
}

/* The stream is complete: check the payload's trailer and checksum, and
 * read its header into OUT. */
static mrd_rc check_payload(fetch *f, store_snapshot *out, mrd_error *err)
{
    size_t mark_len = f->eof_form ? EOF_MARK_LEN : 0;
    long long payload = f->received - (long long)mark_len;
    if (payload < RDB_MIN_LEN)
        return fail(f, err, MRD_ERR_PARSE,
                    "the payload has %lld bytes, too few for an RDB file", payload);
    /* payload >= RDB_MIN_LEN, so the tail holds the whole trailer */
    size_t u = f->tail_len - mark_len;
    const unsigned char *trailer = f->tail + u - RDB_TRAILER_LEN;
    if (trailer[0] != RDB_OPCODE_EOF)
        return fail(f, err, MRD_ERR_PARSE,
                    "the payload does not end with the RDB EOF opcode: it is "
                    "truncated or not an RDB file");
    uint64_t crc = store_rdb_crc64(f->crc, f->tail, u - (RDB_TRAILER_LEN - 1));
    uint64_t stored = 0;
    for (int i = RDB_TRAILER_LEN - 1; i >= 1; i--) /* little endian */
        stored = (stored << 8) | trailer[i];
    /* the head may end with (part of) the EOF mark: inspect the payload's
     * bytes only, as the installed file will hold them */
    size_t head_len = (long long)f->head_len > payload ? (size_t)payload : f->head_len;
    mrd_error ierr;
    if (store_rdb_inspect(f->head, head_len, out, &ierr) != MRD_OK)
        return fail(f, err, MRD_ERR_PARSE, "%s", ierr.msg);
    if (out->rdb_version >= RDB_CHECKSUM_SINCE && stored != 0 && stored != crc)
        return fail(f, err, MRD_ERR_PARSE,
                    "the payload is damaged: its CRC64 is %016" PRIx64
                    ", its trailer says %016" PRIx64,
                    crc, stored);
    out->bytes = payload;
    return MRD_OK;
}

static mrd_rc open_tmp(fetch *f, mrd_error *err)
{
    int w = snprintf(f->tmp, sizeof(f->tmp), "%s.tmp.XXXXXX", f->dest);
    if (w < 0 || (size_t)w >= sizeof(f->tmp)) {
        f->tmp[0] = '\0';
        return fail(f, err, MRD_ERR_INVALID, "the path %s is too long", f->dest);
    }
    f->tfd = mkstemp(f->tmp);
    if (f->tfd < 0) {
        int e = errno;
        mrd_rc rc = fail(f, err, MRD_ERR_IO, "cannot create %s: %s", f->tmp, strerror(e));
        f->tmp[0] = '\0';
        return rc;
    }
    if (fcntl(f->tfd, F_SETFD, FD_CLOEXEC) != 0 || fchmod(f->tfd, 0600) != 0)
        return fail(f, err, MRD_ERR_IO, "cannot set up %s: %s", f->tmp, strerror(errno));
    return MRD_OK;
}

static mrd_rc install(fetch *f, mrd_error *err)
{
    if (f->eof_form && ftruncate(f->tfd, (off_t)(f->received - EOF_MARK_LEN)) != 0)
        return fail(f, err, MRD_ERR_IO, "cannot truncate %s: %s", f->tmp,
                    strerror(errno));
    if (fsync(f->tfd) != 0)
        return fail(f, err, MRD_ERR_IO, "cannot fsync %s: %s", f->tmp, strerror(errno));
    int rc = close(f->tfd);
    f->tfd = -1;
    if (rc != 0)
        return fail(f, err, MRD_ERR_IO, "cannot close %s: %s", f->tmp, strerror(errno));
    if (rename(f->tmp, f->dest) != 0)
        return fail(f, err, MRD_ERR_IO, "cannot rename %s to %s: %s", f->tmp, f->dest,
                    strerror(errno));
    f->tmp[0] = '\0'; /* nothing left to remove */
    mrd_fsync_dir_of(f->dest);
    return MRD_OK;
}

/* The fetch, from ADDRESS:PORT or, when FD >= 0, over that connected
 * socket (taken: closed before returning).  NAME names the source in
 * errors. */
static mrd_rc fetch_from(const char *name, const char *address, int port, int fd,
                         const char *user, const char *pass, const char *dest,
                         int timeout_ms, store_snapshot *out, mrd_error *err)
{
    long long start = now_ms();
    fetch *f = calloc(1, sizeof(*f));
    if (!f) {
        if (fd >= 0)
            close(fd);
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    if (fd >= 0 && !(f->w = wire_from_fd(fd, name))) {
        free(f);
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    snprintf(f->name, sizeof(f->name), "%s", name);
    f->dest = dest;
    f->timeout_ms = timeout_ms;
    f->tfd = -1;

    store_snapshot got = {.repl_offset = -1};
    /* The temporary file first: a DEST that cannot be written must not
     * cost the source a fork and a dump. */
    mrd_rc rc = open_tmp(f, err);
    if (rc == MRD_OK && !f->w)
        rc = repl_connect(f, address, port, err);
    if (rc == MRD_OK)
        rc = repl_handshake(f, user, pass, err);
    if (rc == MRD_OK)
        rc = repl_sync(f, err);
    if (rc == MRD_OK)
        rc = stream_payload(f, err);
    if (rc == MRD_OK)
        rc = check_payload(f, &got, err);
    wire_free(&f->w);
    if (rc == MRD_OK)
        rc = install(f, err);
    if (f->tfd >= 0)
        close(f->tfd);
    if (f->tmp[0] != '\0')
        unlink(f->tmp);
    free(f);
    if (rc != MRD_OK)
        return rc;
    *out = got;
    out->duration_ms = now_ms() - start;
    return MRD_OK;
}

mrd_rc store_snapshot_fetch(const char *address, int port, const char *user,
                            const char *pass, const char *dest, int timeout_ms,
                            store_snapshot *out, mrd_error *err)
{
    store_snapshot local;
    if (!out)
        out = &local;
    memset(out, 0, sizeof(*out));
    out->repl_offset = -1;
    if (!address || !dest || port <= 0 || port > 65535 || timeout_ms <= 0 ||
        (user && !pass))
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "cannot fetch a snapshot: invalid arguments (address, "
                             "port, password, destination or timeout)");
    char name[300];
    snprintf(name, sizeof(name), "%s:%d", address, port);
    return fetch_from(name, address, port, -1, user, pass, dest, timeout_ms, out, err);
}

mrd_rc store__snapshot_fetch_fd(int fd, const char *name, const char *user,
                                const char *pass, const char *dest, int timeout_ms,
                                store_snapshot *out, mrd_error *err)
{
    store_snapshot local;
    if (!out)
        out = &local;
    memset(out, 0, sizeof(*out));
    out->repl_offset = -1;
    if (fd < 0 || !name || !dest || timeout_ms <= 0 || (user && !pass)) {
        if (fd >= 0)
            close(fd);
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "cannot fetch a snapshot: invalid arguments (socket, "
                             "name, password, destination or timeout)");
    }
    return fetch_from(name, NULL, 0, fd, user, pass, dest, timeout_ms, out, err);
}
