/* rdb_scan.c - walk an RDB and count its keys, skipping every value.
 *
 * The layout followed is Redis 7.0.15's loader (src/rdb.c, rdbLoadRio and
 * rdbLoadObject; src/rdb.h for the numbers):
 *
 *   "REDIS" + 4 digits
 *   { opcode | [EXPIRETIME* | FREQ | IDLE]* type key value }*
 *   EOF (0xFF) + CRC64 (8 bytes, little endian; version 5 and later)
 *
 * Lengths and strings are read with snapshot.c's readers
 * (snapshot_internal.h) over a window of the file held in a fixed buffer:
 * an item's header is always in the window when it is read (the window is
 * refilled to hold at least the longest header), and the bytes of a string
 * are then skipped through the window, so that a length field never sizes
 * an allocation and a value of any size costs only its reading.  The CRC64
 * is computed on the window's bytes as they leave it. */
#include "rdb_scan.h"

#include "snapshot.h"
#include "snapshot_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ==== RDB NUMBERS (src/rdb.h at 7.0.15) ==== */

#define RDB_VERSION_MAX 10 /* what Redis 7.0 writes and reads at most */

/* Object types: what the value after a key is. */
enum {
    RDB_TYPE_STRING = 0,
    RDB_TYPE_LIST = 1,
    RDB_TYPE_SET = 2,
    RDB_TYPE_ZSET = 3, /* scores as text */
    RDB_TYPE_HASH = 4,
    RDB_TYPE_ZSET_2 = 5, /* scores as binary doubles */
    RDB_TYPE_MODULE = 6, /* no annotations: cannot be skipped */
    RDB_TYPE_MODULE_2 = 7,
    RDB_TYPE_HASH_ZIPMAP = 9,
    RDB_TYPE_LIST_ZIPLIST = 10,
    RDB_TYPE_SET_INTSET = 11,
    RDB_TYPE_ZSET_ZIPLIST = 12,
    RDB_TYPE_HASH_ZIPLIST = 13,
    RDB_TYPE_LIST_QUICKLIST = 14,
    RDB_TYPE_STREAM_LISTPACKS = 15,
    RDB_TYPE_HASH_LISTPACK = 16,
    RDB_TYPE_ZSET_LISTPACK = 17,
    RDB_TYPE_LIST_QUICKLIST_2 = 18,
    RDB_TYPE_STREAM_LISTPACKS_2 = 19,
};

/* Opcodes: items that are not a key (RDB_OPCODE_AUX and _EOF are in
 * snapshot_internal.h). */
enum {
    RDB_OPCODE_FUNCTION2 = 0xF5,     /* a function library: its code */
    RDB_OPCODE_FUNCTION = 0xF6,      /* the same as 7.0 rc1/rc2 wrote it */
    RDB_OPCODE_MODULE_AUX = 0xF7,    /* module data outside the keyspace */
    RDB_OPCODE_IDLE = 0xF8,          /* LRU idle time of the next key */
    RDB_OPCODE_FREQ = 0xF9,          /* LFU frequency of the next key */
    RDB_OPCODE_RESIZEDB = 0xFB,      /* hash table size hints */
    RDB_OPCODE_EXPIRETIME_MS = 0xFC, /* expire of the next key, 8 bytes */
    RDB_OPCODE_EXPIRETIME = 0xFD,    /* the same in seconds, 4 bytes */
    RDB_OPCODE_SELECTDB = 0xFE,      /* the database of the next keys */
};

/* Module values: a stream of (opcode, datum) until MODULE_OPCODE_EOF. */
enum {
    RDB_MODULE_OPCODE_EOF = 0,
    RDB_MODULE_OPCODE_SINT = 1,   /* a length-encoded integer */
    RDB_MODULE_OPCODE_UINT = 2,   /* the same */
    RDB_MODULE_OPCODE_FLOAT = 3,  /* 4 bytes */
    RDB_MODULE_OPCODE_DOUBLE = 4, /* 8 bytes */
    RDB_MODULE_OPCODE_STRING = 5,
};

/* Quicklist 2 node containers. */
#define RDB_QUICKLIST_PLAIN 1
#define RDB_QUICKLIST_PACKED 2

#define RDB_STREAM_ID_LEN 16 /* a raw stream ID: two 64-bit numbers */
#define RDB_MS_TIME_LEN 8    /* rdbSaveMillisecondTime */
#define RDB_TIME_LEN 4       /* rdbSaveTime (seconds) */
#define RDB_BINARY_DOUBLE_LEN 8
#define RDB_BINARY_FLOAT_LEN 4
#define RDB_CRC_LEN 8

/* ==== THE WINDOW ==== */

#define SCAN_BUF_LEN (64 * 1024) /* the window: the only allocation */
#define SCAN_LEN_MAX 9           /* the longest length: 0x81 + 8 bytes */
#define SCAN_AUX_WINDOW 256      /* an aux string shorter than this is read whole */

typedef struct scan {
    FILE *f;
    unsigned char *buf; /* SCAN_BUF_LEN bytes */
    size_t len;         /* bytes held */
    size_t pos;         /* the next one to read */
    size_t crc_from;    /* buf[crc_from..pos) is not in CRC yet */
    long long base;     /* offset in the file of buf[0] */
    uint64_t crc;
    bool at_end;   /* fread found the end of the file */
    bool io_error; /* fread failed (errno in io_errno) */
    int io_errno;
    mrd_error *err;
} scan;

static long long at(const scan *s)
{
    return s->base + (long long)s->pos;
}

static size_t avail(const scan *s)
{
    return s->len - s->pos;
}

/* Make WANT (<= SCAN_BUF_LEN) bytes available from pos, or as many as the
 * file still has.  The bytes read so far go into the CRC before the window
 * moves. */
static void fill(scan *s, size_t want)
{
    if (avail(s) >= want || s->at_end || s->io_error)
        return;
    s->crc = store_rdb_crc64(s->crc, s->buf + s->crc_from, s->pos - s->crc_from);
    memmove(s->buf, s->buf + s->pos, avail(s));
    s->base += (long long)s->pos;
    s->len -= s->pos;
    s->pos = 0;
    s->crc_from = 0;
    while (s->len < want) {
        size_t n = fread(s->buf + s->len, 1, SCAN_BUF_LEN - s->len, s->f);
        s->len += n;
        if (n == 0) {
            if (ferror(s->f)) {
                s->io_error = true;
                s->io_errno = errno;
            } else {
                s->at_end = true;
            }
            return;
        }
    }
}

/* The error for an item that does not fit in what is left of the file. */
static mrd_rc short_read(const scan *s, const char *what, long long where)
{
    if (s->io_error)
        return mrd_error_set(s->err, MRD_ERR_IO, "RDB: cannot read %s at byte %lld: %s",
                             what, where, strerror(s->io_errno));
    return mrd_error_set(s->err, MRD_ERR_PARSE,
                         "RDB: the file ends inside %s at byte %lld (%lld bytes): it is "
                         "truncated",
                         what, where, s->base + (long long)s->len);
}

static mrd_rc need(scan *s, size_t n, const char *what)
{
    fill(s, n);
    return avail(s) >= n ? MRD_OK : short_read(s, what, at(s));
}

/* Skip N bytes (any number) through the window. */
static mrd_rc skip(scan *s, uint64_t n, const char *what)
{
    long long where = at(s);
    while (n > avail(s)) {
        n -= avail(s);
        s->pos = s->len;
        fill(s, 1);
        if (avail(s) == 0)
            return short_read(s, what, where);
    }
    s->pos += (size_t)n;
    return MRD_OK;
}

static mrd_rc read_byte(scan *s, unsigned *b, const char *what)
{
    MRD_TRY(need(s, 1, what));
    *b = s->buf[s->pos++];
    return MRD_OK;
}

/* A length (not an encoded string). */
static mrd_rc read_len(scan *s, uint64_t *v, const char *what)
{
    long long where = at(s);
    fill(s, SCAN_LEN_MAX);
    rdb_cursor c = {.p = s->buf, .len = s->len, .pos = s->pos};
    bool encoded;
    rdb_status st = store__rdb_read_len(&c, v, &encoded);
    if (st == RDB_READ_SHORT)
        return short_read(s, what, where);
    if (st == RDB_READ_BAD || encoded)
        return mrd_error_set(s->err, MRD_ERR_PARSE,
                             "RDB: %s at byte %lld has an invalid length encoding "
                             "(0x%02x)",
                             what, where, s->buf[s->pos]);
    s->pos = c.pos;
    return MRD_OK;
}

/* Skip a string: a length and its bytes, an integer, or LZF data. */
static mrd_rc skip_string(scan *s, const char *what)
{
    long long where = at(s);
    fill(s, 2 * SCAN_LEN_MAX + 1); /* the longest header: LZF's */
    rdb_cursor c = {.p = s->buf, .len = s->len, .pos = s->pos};
    uint64_t n, clen, ulen;
    bool encoded, e1 = false, e2 = false;
    rdb_status st = store__rdb_read_len(&c, &n, &encoded);
    if (st == RDB_READ_OK && encoded) {
        switch (n) {
        case RDB_ENC_INT8:
            n = 1;
            break;
        case RDB_ENC_INT16:
            n = 2;
            break;
        case RDB_ENC_INT32:
            n = 4;
            break;
        case RDB_ENC_LZF:
            st = store__rdb_read_len(&c, &clen, &e1);
            if (st == RDB_READ_OK)
                st = store__rdb_read_len(&c, &ulen, &e2);
            if (st == RDB_READ_OK && (e1 || e2 || clen == 0 || ulen == 0))
                st = RDB_READ_BAD;
            n = clen;
            break;
        default:
            st = RDB_READ_BAD;
            break;
        }
    }
    if (st == RDB_READ_SHORT)
        return short_read(s, what, where);
    if (st == RDB_READ_BAD)
        return mrd_error_set(s->err, MRD_ERR_PARSE,
                             "RDB: %s at byte %lld has an invalid string encoding "
                             "(0x%02x)",
                             what, where, s->buf[s->pos]);
    s->pos = c.pos;
    return skip(s, n, what);
}

/* Read a string into *STR when it is short (rdb_str), skip it otherwise. */
static mrd_rc read_string(scan *s, rdb_str *str, const char *what)
{
    long long where = at(s);
    fill(s, SCAN_AUX_WINDOW);
    rdb_cursor c = {.p = s->buf, .len = s->len, .pos = s->pos};
    rdb_status st = store__rdb_read_string(&c, str);
    if (st == RDB_READ_OK) {
        s->pos = c.pos;
        return MRD_OK;
    }
    if (st == RDB_READ_BAD)
        return mrd_error_set(s->err, MRD_ERR_PARSE,
                             "RDB: %s at byte %lld has an invalid string encoding", what,
                             where);
    if (avail(s) < SCAN_AUX_WINDOW)
        return short_read(s, what, where); /* the file ends inside it */
    memset(str, 0, sizeof(*str));          /* long: skipped, not kept */
    return skip_string(s, what);
}

/* ==== VALUES ==== */

/* A module value (type 7) or module aux data: (opcode, datum) pairs until
 * RDB_MODULE_OPCODE_EOF, as Redis' rdbLoadCheckModuleValue reads them. */
static mrd_rc skip_module_stream(scan *s)
{
    for (;;) {
        long long where = at(s);
        uint64_t op, v;
        MRD_TRY(read_len(s, &op, "a module value's opcode"));
        switch (op) {
        case RDB_MODULE_OPCODE_EOF:
            return MRD_OK;
        case RDB_MODULE_OPCODE_SINT:
        case RDB_MODULE_OPCODE_UINT:
            MRD_TRY(read_len(s, &v, "a module value's integer"));
            break;
        case RDB_MODULE_OPCODE_FLOAT:
            MRD_TRY(skip(s, RDB_BINARY_FLOAT_LEN, "a module value's float"));
            break;
        case RDB_MODULE_OPCODE_DOUBLE:
            MRD_TRY(skip(s, RDB_BINARY_DOUBLE_LEN, "a module value's double"));
            break;
        case RDB_MODULE_OPCODE_STRING:
            MRD_TRY(skip_string(s, "a module value's string"));
            break;
        default:
            return mrd_error_set(
                s->err, MRD_ERR_PARSE,
                "RDB: unknown module value opcode %" PRIu64 " at byte %lld", op, where);
        }
    }
}

/* N strings (N from the file: each costs at least a byte, so a huge N only
 * runs into the end of the file). */
static mrd_rc skip_strings(scan *s, uint64_t n, const char *what)
{
    for (uint64_t i = 0; i < n; i++)
        MRD_TRY(skip_string(s, what));
    return MRD_OK;
}

/* A sorted set's score as text (type 3): a length byte and that many
 * characters; 253, 254, 255 are NaN, +inf, -inf with no characters. */
static mrd_rc skip_text_double(scan *s)
{
    unsigned n;
    MRD_TRY(read_byte(s, &n, "a sorted set score"));
    return n >= 253 ? MRD_OK : skip(s, n, "a sorted set score");
}

static mrd_rc skip_stream(scan *s, int type)
{
    uint64_t n, v;
    MRD_TRY(read_len(s, &n, "a stream's listpack count"));
    for (uint64_t i = 0; i < n; i++) {
        MRD_TRY(skip_string(s, "a stream's node key"));
        MRD_TRY(skip_string(s, "a stream's listpack"));
    }
    /* length, last ID (ms, seq); version 2: first ID, max deleted ID,
     * entries added */
    int meta = type == RDB_TYPE_STREAM_LISTPACKS_2 ? 8 : 3;
    for (int i = 0; i < meta; i++)
        MRD_TRY(read_len(s, &v, "a stream's metadata"));
    uint64_t groups;
    MRD_TRY(read_len(s, &groups, "a stream's consumer group count"));
    for (uint64_t g = 0; g < groups; g++) {
        MRD_TRY(skip_string(s, "a consumer group's name"));
        /* last delivered ID (ms, seq); version 2: entries read */
        int fields = type == RDB_TYPE_STREAM_LISTPACKS_2 ? 3 : 2;
        for (int i = 0; i < fields; i++)
            MRD_TRY(read_len(s, &v, "a consumer group's last ID"));
        uint64_t pel;
        MRD_TRY(read_len(s, &pel, "a consumer group's PEL size"));
        for (uint64_t i = 0; i < pel; i++) {
            MRD_TRY(skip(s, RDB_STREAM_ID_LEN + RDB_MS_TIME_LEN,
                         "a consumer group's PEL entry"));
            MRD_TRY(read_len(s, &v, "a PEL entry's delivery count"));
        }
        uint64_t consumers;
        MRD_TRY(read_len(s, &consumers, "a consumer group's consumer count"));
        for (uint64_t c = 0; c < consumers; c++) {
            MRD_TRY(skip_string(s, "a consumer's name"));
            MRD_TRY(skip(s, RDB_MS_TIME_LEN, "a consumer's seen time"));
            MRD_TRY(read_len(s, &pel, "a consumer's PEL size"));
            for (uint64_t i = 0; i < pel; i++)
                MRD_TRY(skip(s, RDB_STREAM_ID_LEN, "a consumer's PEL entry"));
        }
    }
    return MRD_OK;
}

/* Skip the value of TYPE (its type byte was at TYPE_AT).  *EMPTY: a
 * collection of no elements, which Redis' loader skips as an empty key. */
static mrd_rc skip_value(scan *s, int type, long long type_at, bool *empty)
{
    uint64_t n, container;
    *empty = false;
    switch (type) {
    case RDB_TYPE_STRING:
    case RDB_TYPE_HASH_ZIPMAP:
    case RDB_TYPE_LIST_ZIPLIST:
    case RDB_TYPE_SET_INTSET:
    case RDB_TYPE_ZSET_ZIPLIST:
    case RDB_TYPE_HASH_ZIPLIST:
    case RDB_TYPE_HASH_LISTPACK:
    case RDB_TYPE_ZSET_LISTPACK:
        return skip_string(s, "a value");
    case RDB_TYPE_LIST:
    case RDB_TYPE_SET:
    case RDB_TYPE_LIST_QUICKLIST:
        MRD_TRY(read_len(s, &n, "a collection's length"));
        *empty = n == 0;
        return skip_strings(s, n, "a collection's element");
    case RDB_TYPE_HASH:
        MRD_TRY(read_len(s, &n, "a hash's length"));
        *empty = n == 0;
        for (uint64_t i = 0; i < n; i++) {
            MRD_TRY(skip_string(s, "a hash field"));
            MRD_TRY(skip_string(s, "a hash value"));
        }
        return MRD_OK;
    case RDB_TYPE_ZSET:
    case RDB_TYPE_ZSET_2:
        MRD_TRY(read_len(s, &n, "a sorted set's length"));
        *empty = n == 0;
        for (uint64_t i = 0; i < n; i++) {
            MRD_TRY(skip_string(s, "a sorted set member"));
            if (type == RDB_TYPE_ZSET)
                MRD_TRY(skip_text_double(s));
            else
                MRD_TRY(skip(s, RDB_BINARY_DOUBLE_LEN, "a sorted set score"));
        }
        return MRD_OK;
    case RDB_TYPE_LIST_QUICKLIST_2:
        MRD_TRY(read_len(s, &n, "a quicklist's node count"));
        *empty = n == 0;
        for (uint64_t i = 0; i < n; i++) {
            long long where = at(s);
            MRD_TRY(read_len(s, &container, "a quicklist node's container"));
            if (container != RDB_QUICKLIST_PLAIN && container != RDB_QUICKLIST_PACKED)
                return mrd_error_set(s->err, MRD_ERR_PARSE,
                                     "RDB: unknown quicklist container %" PRIu64
                                     " at byte %lld",
                                     container, where);
            MRD_TRY(skip_string(s, "a quicklist node"));
        }
        return MRD_OK;
    case RDB_TYPE_STREAM_LISTPACKS:
    case RDB_TYPE_STREAM_LISTPACKS_2:
        return skip_stream(s, type);
    case RDB_TYPE_MODULE_2:
        MRD_TRY(read_len(s, &n, "a module value's module id"));
        return skip_module_stream(s);
    case RDB_TYPE_MODULE:
        return mrd_error_set(s->err, MRD_ERR_PARSE,
                             "RDB: a module value of version 1 (type 6, written before "
                             "Redis 5) at byte %lld cannot be skipped",
                             type_at);
    default:
        return mrd_error_set(s->err, MRD_ERR_PARSE,
                             "RDB: unknown object type 0x%02x at byte %lld",
                             (unsigned)type, type_at);
    }
}

/* ==== THE WALK ==== */

static mrd_rc read_header(scan *s, store_rdb_summary *out)
{
    fill(s, RDB_HEADER_LEN);
    if (s->io_error)
        return short_read(s, "the header", 0);
    if (!store__rdb_header_ok(s->buf, s->len, &out->rdb_version))
        return mrd_error_set(s->err, MRD_ERR_PARSE,
                             "RDB: not an RDB file: it does not start with REDIS and a "
                             "4-digit version");
    if (out->rdb_version < 1 || out->rdb_version > RDB_VERSION_MAX)
        return mrd_error_set(s->err, MRD_ERR_PARSE,
                             "RDB: version %d is not one Redis 7.0 reads (1 to %d)",
                             out->rdb_version, RDB_VERSION_MAX);
    s->pos = RDB_HEADER_LEN;
    return MRD_OK;
}

static mrd_rc read_aux(scan *s, store_rdb_summary *out)
{
    long long where = at(s) - 1;
    rdb_str key, val;
    MRD_TRY(read_string(s, &key, "an aux field's name"));
    MRD_TRY(read_string(s, &val, "an aux field's value"));
    mrd_error e;
    if (store__rdb_aux_field(&key, &val, out->repl_id, &out->repl_offset, &e) != MRD_OK)
        return mrd_error_set(s->err, MRD_ERR_PARSE, "RDB: %s (at byte %lld)", e.msg,
                             where);
    return MRD_OK;
}

/* The FUNCTION opcode of 7.0 rc1/rc2: name, engine, a description flag
 * and the description, the code. */
static mrd_rc skip_function_rc(scan *s)
{
    uint64_t has_desc;
    MRD_TRY(skip_string(s, "a function library's name"));
    MRD_TRY(skip_string(s, "a function library's engine"));
    MRD_TRY(read_len(s, &has_desc, "a function library's description flag"));
    if (has_desc)
        MRD_TRY(skip_string(s, "a function library's description"));
    return skip_string(s, "a function library's code");
}

static mrd_rc skip_module_aux(scan *s)
{
    uint64_t id, when_op, when;
    MRD_TRY(read_len(s, &id, "module aux data's module id"));
    long long where = at(s);
    MRD_TRY(read_len(s, &when_op, "module aux data's opcode"));
    if (when_op != RDB_MODULE_OPCODE_UINT)
        return mrd_error_set(s->err, MRD_ERR_PARSE,
                             "RDB: module aux data at byte %lld has opcode %" PRIu64
                             " where %d belongs",
                             where, when_op, RDB_MODULE_OPCODE_UINT);
    MRD_TRY(read_len(s, &when, "module aux data's 'when'"));
    return skip_module_stream(s);
}

/* EOF was just read: the CRC64 of everything up to it, then nothing. */
static mrd_rc read_trailer(scan *s, int version)
{
    s->crc = store_rdb_crc64(s->crc, s->buf + s->crc_from, s->pos - s->crc_from);
    s->crc_from = s->pos;
    long long where = at(s);
    if (version >= RDB_CHECKSUM_SINCE) {
        MRD_TRY(need(s, RDB_CRC_LEN, "the checksum"));
        uint64_t stored = 0;
        for (int i = RDB_CRC_LEN - 1; i >= 0; i--) /* little endian */
            stored = (stored << 8) | s->buf[s->pos + (size_t)i];
        s->pos += RDB_CRC_LEN;
        s->crc_from = s->pos;
        if (stored != 0 && stored != s->crc)
            return mrd_error_set(s->err, MRD_ERR_PARSE,
                                 "RDB: CRC64 mismatch: the file says %016" PRIx64
                                 " at byte %lld, its bytes make %016" PRIx64
                                 ": it is damaged",
                                 stored, where, s->crc);
    }
    fill(s, 1);
    if (s->io_error)
        return short_read(s, "the end of the file", at(s));
    if (avail(s) > 0)
        return mrd_error_set(s->err, MRD_ERR_PARSE,
                             "RDB: bytes follow the end of the RDB at byte %lld: the EOF "
                             "opcode is not last",
                             at(s));
    return MRD_OK;
}

static mrd_rc walk(scan *s, store_rdb_summary *out)
{
    MRD_TRY(read_header(s, out));
    uint64_t db = 0;
    bool expire = false; /* an expire time for the next key */
    for (;;) {
        long long where = at(s);
        unsigned type;
        uint64_t v;
        MRD_TRY(read_byte(s, &type, "an item's type (no EOF opcode)"));
        switch (type) {
        case RDB_OPCODE_EOF:
            return read_trailer(s, out->rdb_version);
        case RDB_OPCODE_EXPIRETIME_MS:
            MRD_TRY(skip(s, RDB_MS_TIME_LEN, "an expire time"));
            expire = true;
            continue;
        case RDB_OPCODE_EXPIRETIME:
            MRD_TRY(skip(s, RDB_TIME_LEN, "an expire time"));
            expire = true;
            continue;
        case RDB_OPCODE_FREQ:
            MRD_TRY(skip(s, 1, "an LFU frequency"));
            continue;
        case RDB_OPCODE_IDLE:
            MRD_TRY(read_len(s, &v, "an LRU idle time"));
            continue;
        case RDB_OPCODE_SELECTDB:
            MRD_TRY(read_len(s, &db, "a database number"));
            continue;
        case RDB_OPCODE_RESIZEDB:
            MRD_TRY(read_len(s, &v, "a database size hint"));
            MRD_TRY(read_len(s, &v, "a database size hint"));
            continue;
        case RDB_OPCODE_AUX:
            MRD_TRY(read_aux(s, out));
            continue;
        case RDB_OPCODE_MODULE_AUX:
            MRD_TRY(skip_module_aux(s));
            continue;
        case RDB_OPCODE_FUNCTION2:
            MRD_TRY(skip_string(s, "a function library"));
            continue;
        case RDB_OPCODE_FUNCTION:
            MRD_TRY(skip_function_rc(s));
            continue;
        default:
            break;
        }
        /* A key and its value.  An unknown type is refused before its
         * "key" is read, so the error points at the type byte. */
        if (type > RDB_TYPE_STREAM_LISTPACKS_2 || type == 8)
            return mrd_error_set(s->err, MRD_ERR_PARSE,
                                 "RDB: unknown object type 0x%02x at byte %lld", type,
                                 where);
        bool empty;
        MRD_TRY(skip_string(s, "a key"));
        MRD_TRY(skip_value(s, (int)type, where, &empty));
        if (!empty) {
            out->keys++;
            if (expire)
                out->expires++;
            if (db < STORE_RDB_SCAN_DBS)
                out->db_keys[db]++;
        }
        expire = false;
    }
}

/* ==== PUBLIC ==== */

mrd_rc store_rdb_scan(FILE *f, store_rdb_summary *out, mrd_error *err)
{
    if (!out)
        return mrd_error_set(err, MRD_ERR_INVALID, "RDB: no summary to fill");
    memset(out, 0, sizeof(*out));
    out->repl_offset = -1;
    if (!f)
        return mrd_error_set(err, MRD_ERR_INVALID, "RDB: no file to read");
    scan s = {.f = f, .err = err};
    s.buf = malloc(SCAN_BUF_LEN);
    if (!s.buf)
        return mrd_error_set(err, MRD_ERR_NOMEM,
                             "RDB: out of memory for a %d-byte buffer", SCAN_BUF_LEN);
    mrd_rc rc = walk(&s, out);
    out->bytes = s.base + (long long)s.len;
    free(s.buf);
    return rc;
}

mrd_rc store_rdb_scan_file(const char *path, store_rdb_summary *out, mrd_error *err)
{
    if (!path)
        return mrd_error_set(err, MRD_ERR_INVALID, "RDB: no file to read");
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        if (out) {
            memset(out, 0, sizeof(*out));
            out->repl_offset = -1;
        }
        return mrd_error_set(err, MRD_ERR_IO, "RDB: cannot open %s: %s", path,
                             strerror(e));
    }
    mrd_rc rc = store_rdb_scan(f, out, err);
    if (rc != MRD_OK && err) /* the message keeps its byte offset */
        snprintf(err->file, sizeof(err->file), "%s", path);
    fclose(f);
    return rc;
}
