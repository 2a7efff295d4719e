/* cluster.c - Redis Cluster's views: the CLUSTER NODES / nodes.conf parser,
 * the questions callers ask of a view, the CLUSTER INFO parser and the
 * nodes.conf of a restored replica.  See cluster.h for the format. */
#include "cluster.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "info.h"
#include "secret.h"

store_cluster_view *store_cluster_view_new(void)
{
    return calloc(1, sizeof(store_cluster_view));
}

void store_cluster_view_free(store_cluster_view **v)
{
    if (!v)
        return;
    free(*v);
    *v = NULL;
}

/* ==== TEXT ============================================================= */

/* A piece of the input: never NUL-terminated, never read past n. */
typedef struct span {
    const char *p;
    size_t n;
} span;

/* Lines of the input, numbered from 1 for messages. */
typedef struct line_reader {
    const char *p, *end;
    int lineno;
} line_reader;

/* The next line without its "\n" or "\r\n"; false at the end. */
static bool next_line(line_reader *r, span *line)
{
    if (r->p >= r->end)
        return false;
    const char *nl = memchr(r->p, '\n', (size_t)(r->end - r->p));
    const char *eol = nl ? nl : r->end;
    line->p = r->p;
    line->n = (size_t)(eol - r->p);
    if (line->n > 0 && line->p[line->n - 1] == '\r')
        line->n--;
    r->p = nl ? nl + 1 : r->end;
    r->lineno++;
    return true;
}

/* The next space-separated field of *REST into *F; false when none is
 * left.  Redis writes single spaces; runs of them are tolerated. */
static bool next_field(span *rest, span *f)
{
    while (rest->n > 0 && rest->p[0] == ' ') {
        rest->p++;
        rest->n--;
    }
    if (rest->n == 0)
        return false;
    const char *sp = memchr(rest->p, ' ', rest->n);
    f->p = rest->p;
    f->n = sp ? (size_t)(sp - rest->p) : rest->n;
    rest->p += f->n;
    rest->n -= f->n;
    return true;
}

static bool span_is(span s, const char *word)
{
    return s.n == strlen(word) && memcmp(s.p, word, s.n) == 0;
}

/* A decimal number of digits only (no sign, no spaces), at most MAX. */
static bool span_u64(span s, unsigned long long max, unsigned long long *out)
{
    if (s.n == 0 || s.n > 20)
        return false;
    unsigned long long v = 0;
    for (size_t i = 0; i < s.n; i++) {
        if (s.p[i] < '0' || s.p[i] > '9')
            return false;
        unsigned d = (unsigned)(s.p[i] - '0');
        if (v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

static bool span_int(span s, int max, int *out)
{
    unsigned long long v;
    if (!span_u64(s, (unsigned long long)max, &v))
        return false;
    *out = (int)v;
    return true;
}

static bool is_node_id(const char *p, size_t n)
{
    if (n != STORE_CLUSTER_ID_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
            return false;
    return true;
}

/* Copy S into the string BUF of size N; false when it does not fit. */
static bool span_copy(span s, char *buf, size_t n)
{
    if (s.n >= n)
        return false;
    memcpy(buf, s.p, s.n);
    buf[s.n] = '\0';
    return true;
}

/* Split S at the first C: *BEFORE and *AFTER; false when S has no C. */
static bool span_cut(span s, char c, span *before, span *after)
{
    const char *at = memchr(s.p, c, s.n);
    if (!at)
        return false;
    *before = (span){s.p, (size_t)(at - s.p)};
    *after = (span){at + 1, s.n - (size_t)(at - s.p) - 1};
    return true;
}

/* The same at the last C (an IPv6 address holds colons before the port). */
static bool span_cut_last(span s, char c, span *before, span *after)
{
    for (size_t i = s.n; i > 0; i--)
        if (s.p[i - 1] == c) {
            *before = (span){s.p, i - 1};
            *after = (span){s.p + i, s.n - i};
            return true;
        }
    return false;
}

/* ==== FLAGS ============================================================ */

/* In representClusterNodeFlags()' order, which is how they are printed. */
static const struct {
    unsigned flag;
    const char *name;
} flag_names[] = {
    {STORE_CLUSTER_MYSELF, "myself"},       {STORE_CLUSTER_MASTER, "master"},
    {STORE_CLUSTER_SLAVE, "slave"},         {STORE_CLUSTER_PFAIL, "fail?"},
    {STORE_CLUSTER_FAIL, "fail"},           {STORE_CLUSTER_HANDSHAKE, "handshake"},
    {STORE_CLUSTER_NOADDR, "noaddr"},       {STORE_CLUSTER_NOFAILOVER, "nofailover"},
};
#define NFLAGS (sizeof(flag_names) / sizeof(flag_names[0]))

static bool parse_flags(span s, unsigned *out)
{
    *out = 0;
    span word, rest = s;
    for (;;) {
        bool last = !span_cut(rest, ',', &word, &rest);
        if (last)
            word = rest;
        bool known = span_is(word, "noflags");
        for (size_t i = 0; i < NFLAGS && !known; i++)
            if (span_is(word, flag_names[i].name)) {
                *out |= flag_names[i].flag;
                known = true;
            }
        if (!known)
            return false;
        if (last)
            return true;
    }
}

static mrd_rc add_flags(mrd_buf *b, unsigned flags)
{
    if (flags == 0)
        return mrd_buf_adds(b, "noflags");
    const char *sep = "";
    for (size_t i = 0; i < NFLAGS; i++)
        if (flags & flag_names[i].flag) {
            MRD_TRY(mrd_buf_addf(b, "%s%s", sep, flag_names[i].name));
            sep = ",";
        }
    return MRD_OK;
}

/* ==== CLUSTER NODES: ONE LINE ========================================== */

/* An MRD_ERR_PARSE about line LINENO of the text. */
static mrd_rc line_error(mrd_error *err, int lineno, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static mrd_rc line_error(mrd_error *err, int lineno, const char *fmt, ...)
{
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return mrd_error_set(err, MRD_ERR_PARSE, "cluster nodes line %d: %s", lineno, what);
}

/* A field shown in a message: at most 60 bytes of it. */
#define SHOW(s) (int)((s).n > 60 ? 60 : (s).n), (s).p

/* "ip:port@bus-port[,hostname]" */
static mrd_rc parse_address(span a, store_cluster_node *n, int lineno, mrd_error *err)
{
    span addr = a, host = {"", 0}, hostport, bus, ip, port;
    span_cut(a, ',', &addr, &host);
    if (!span_cut(addr, '@', &hostport, &bus) || !span_cut_last(hostport, ':', &ip, &port))
        return line_error(err, lineno, "the address \"%.*s\" is not ip:port@bus-port",
                        SHOW(a));
    if (!span_copy(ip, n->ip, sizeof(n->ip)) ||
        !span_copy(host, n->hostname, sizeof(n->hostname)))
        return line_error(err, lineno, "the address \"%.*s\" is too long", SHOW(a));
    if (!span_int(port, 65535, &n->port) || !span_int(bus, 65535, &n->bus_port))
        return line_error(err, lineno, "the ports of \"%.*s\" are not numbers in 0..65535",
                        SHOW(a));
    return MRD_OK;
}

static mrd_rc parse_ms(span s, long long *out, const char *what, int lineno,
                       mrd_error *err)
{
    unsigned long long v;
    if (!span_u64(s, (unsigned long long)LLONG_MAX, &v))
        return line_error(err, lineno, "the %s \"%.*s\" is not a number", what, SHOW(s));
    *out = (long long)v;
    return MRD_OK;
}

/* Fields 0-7 of a node line: everything but the slots. */
static mrd_rc parse_node(span line, store_cluster_node *n, int lineno, mrd_error *err)
{
    span f[8];
    for (int i = 0; i < 8; i++)
        if (!next_field(&line, &f[i]))
            return line_error(err, lineno, "a node line has at least 8 fields, this one %d",
                            i);
    if (!is_node_id(f[0].p, f[0].n))
        return line_error(err, lineno, "the node id \"%.*s\" is not 40 hex digits",
                        SHOW(f[0]));
    span_copy(f[0], n->id, sizeof(n->id));
    MRD_TRY(parse_address(f[1], n, lineno, err));
    if (!parse_flags(f[2], &n->flags))
        return line_error(err, lineno, "unknown flag in \"%.*s\"", SHOW(f[2]));
    if (!span_is(f[3], "-") && !is_node_id(f[3].p, f[3].n))
        return line_error(err, lineno, "the master id \"%.*s\" is neither - nor 40 hex digits",
                        SHOW(f[3]));
    if (!span_is(f[3], "-"))
        span_copy(f[3], n->master_id, sizeof(n->master_id));
    MRD_TRY(parse_ms(f[4], &n->ping_sent_ms, "ping-sent time", lineno, err));
    MRD_TRY(parse_ms(f[5], &n->pong_recv_ms, "pong-received time", lineno, err));
    if (!span_u64(f[6], ~0ULL, &n->config_epoch))
        return line_error(err, lineno, "the config epoch \"%.*s\" is not a number",
                        SHOW(f[6]));
    if (!span_is(f[7], "connected") && !span_is(f[7], "disconnected"))
        return line_error(err, lineno,
                        "the link state \"%.*s\" is neither connected nor disconnected",
                        SHOW(f[7]));
    n->connected = span_is(f[7], "connected");
    return MRD_OK;
}

/* "vars currentEpoch N lastVoteEpoch M" (nodes.conf only).  Unknown
 * variables are skipped, as Redis does. */
static mrd_rc parse_vars(span rest, store_cluster_view *v, int lineno, mrd_error *err)
{
    span key, val;
    while (next_field(&rest, &key)) {
        if (!next_field(&rest, &val))
            return line_error(err, lineno, "vars \"%.*s\" has no value", SHOW(key));
        unsigned long long *dst = span_is(key, "currentEpoch")    ? &v->current_epoch
                                  : span_is(key, "lastVoteEpoch") ? &v->last_vote_epoch
                                                                  : NULL;
        if (dst && !span_u64(val, ~0ULL, dst))
            return line_error(err, lineno, "vars %.*s \"%.*s\" is not a number", SHOW(key),
                            SHOW(val));
    }
    v->has_vars = true;
    return MRD_OK;
}

/* ==== CLUSTER NODES: SLOTS ============================================= */

/* "[N->-id]" or "[N-<-id]": myself migrates slot N to, or imports it from,
 * node id (which must be in the view). */
static mrd_rc parse_migration(span s, store_cluster_view *v, int lineno, mrd_error *err)
{
    span num, rest;
    int slot;
    if (s.n < 2 || s.p[s.n - 1] != ']' || !span_cut((span){s.p + 1, s.n - 2}, '-', &num, &rest) ||
        !span_int(num, STORE_CLUSTER_SLOTS - 1, &slot) || rest.n < 2 ||
        (rest.p[0] != '>' && rest.p[0] != '<') || rest.p[1] != '-')
        return line_error(err, lineno, "\"%.*s\" is not [slot->-id] nor [slot-<-id]", SHOW(s));
    span id = {rest.p + 2, rest.n - 2};
    char idz[STORE_CLUSTER_ID_LEN + 1];
    const store_cluster_node *peer = NULL;
    if (is_node_id(id.p, id.n) && span_copy(id, idz, sizeof(idz)))
        peer = store_cluster_find(v, idz);
    if (!peer)
        return line_error(err, lineno, "\"%.*s\" names a node that is not listed", SHOW(s));
    uint16_t *map = rest.p[0] == '>' ? v->migrating_to : v->importing_from;
    map[slot] = (uint16_t)(peer - v->nodes);
    return MRD_OK;
}

/* "N" or "A-B", owned by node IDX. */
static mrd_rc parse_range(span s, store_cluster_view *v, int idx, int lineno,
                          mrd_error *err)
{
    span a = s, b = s;
    int first, last;
    span_cut(s, '-', &a, &b);
    if (!span_int(a, STORE_CLUSTER_SLOTS - 1, &first) ||
        !span_int(b, STORE_CLUSTER_SLOTS - 1, &last) || first > last)
        return line_error(err, lineno, "\"%.*s\" is not a slot or a range of slots in 0..16383",
                        SHOW(s));
    store_cluster_node *n = &v->nodes[idx];
    if (!(n->flags & STORE_CLUSTER_MASTER))
        return line_error(err, lineno, "node %s owns slots but is not a master", n->id);
    for (int slot = first; slot <= last; slot++) {
        if (v->owner[slot] != STORE_CLUSTER_NONE)
            return line_error(err, lineno, "slot %d is owned by both %s and %s", slot,
                            v->nodes[v->owner[slot]].id, n->id);
        v->owner[slot] = (uint16_t)idx;
        n->nslots++;
    }
    return MRD_OK;
}

/* The slot items after field 8 of node IDX's line. */
static mrd_rc parse_slots(span line, store_cluster_view *v, int idx, int lineno,
                          mrd_error *err)
{
    span f;
    for (int i = 0; i < 8; i++)
        next_field(&line, &f);
    while (next_field(&line, &f))
        MRD_TRY(f.p[0] == '[' ? parse_migration(f, v, lineno, err)
                              : parse_range(f, v, idx, lineno, err));
    return MRD_OK;
}

/* ==== CLUSTER NODES: THE WHOLE TEXT ==================================== */

static bool has_control_char(span line)
{
    for (size_t i = 0; i < line.n; i++)
        if ((unsigned char)line.p[i] < 0x20 || line.p[i] == 0x7f)
            return true;
    return false;
}

/* What a line is: blank, the "vars" line, or a node. */
typedef enum line_kind { LINE_BLANK, LINE_VARS, LINE_NODE } line_kind;

static line_kind kind_of(span line, span *after_first)
{
    span rest = line, first;
    if (!next_field(&rest, &first))
        return LINE_BLANK;
    *after_first = rest;
    return span_is(first, "vars") ? LINE_VARS : LINE_NODE;
}

/* Pass 1: every node's own fields, the vars line, and "myself". */
static mrd_rc read_nodes(const char *text, size_t len, store_cluster_view *v,
                         mrd_error *err)
{
    line_reader r = {text, text + len, 0};
    span line, rest;
    while (next_line(&r, &line)) {
        if (has_control_char(line))
            return line_error(err, r.lineno, "it holds a control character");
        line_kind kind = kind_of(line, &rest);
        if (kind == LINE_VARS)
            MRD_TRY(parse_vars(rest, v, r.lineno, err));
        if (kind != LINE_NODE)
            continue;
        if (v->nnodes == STORE_CLUSTER_MAX_NODES)
            return line_error(err, r.lineno, "more than %d nodes", STORE_CLUSTER_MAX_NODES);
        store_cluster_node *n = &v->nodes[v->nnodes];
        MRD_TRY(parse_node(line, n, r.lineno, err));
        if (store_cluster_find(v, n->id)) /* looks at the nodes before n */
            return line_error(err, r.lineno, "node %s is listed twice", n->id);
        if ((n->flags & STORE_CLUSTER_MYSELF) && v->myself >= 0)
            return line_error(err, r.lineno, "a second node is flagged myself");
        if (n->flags & STORE_CLUSTER_MYSELF)
            v->myself = v->nnodes;
        v->nnodes++;
    }
    if (v->myself < 0)
        return mrd_error_set(err, MRD_ERR_PARSE,
                             "cluster nodes: no node is flagged myself (%d nodes listed)",
                             v->nnodes);
    return MRD_OK;
}

/* Pass 2: the slots, once every node a migration may name is known. */
static mrd_rc read_slots(const char *text, size_t len, store_cluster_view *v,
                         mrd_error *err)
{
    line_reader r = {text, text + len, 0};
    span line, rest;
    int idx = 0;
    while (next_line(&r, &line))
        if (kind_of(line, &rest) == LINE_NODE)
            MRD_TRY(parse_slots(line, v, idx++, r.lineno, err));
    return MRD_OK;
}

mrd_rc store_cluster_nodes_parse(const char *text, size_t len, store_cluster_view *out,
                                 mrd_error *err)
{
    memset(out, 0, sizeof(*out));
    out->myself = -1;
    memset(out->owner, 0xFF, sizeof(out->owner)); /* STORE_CLUSTER_NONE */
    memset(out->migrating_to, 0xFF, sizeof(out->migrating_to));
    memset(out->importing_from, 0xFF, sizeof(out->importing_from));
    MRD_TRY(read_nodes(text, len, out, err));
    return read_slots(text, len, out, err);
}

/* ==== QUESTIONS ======================================================== */

const store_cluster_node *store_cluster_myself(const store_cluster_view *v)
{
    return v->myself >= 0 && v->myself < v->nnodes ? &v->nodes[v->myself] : NULL;
}

const store_cluster_node *store_cluster_slot_owner(const store_cluster_view *v, int slot)
{
    if (slot < 0 || slot >= STORE_CLUSTER_SLOTS || v->owner[slot] >= v->nnodes)
        return NULL;
    return &v->nodes[v->owner[slot]];
}

int store_cluster_slots_covered(const store_cluster_view *v, unsigned exclude)
{
    int n = 0;
    for (int s = 0; s < STORE_CLUSTER_SLOTS; s++) {
        const store_cluster_node *o = store_cluster_slot_owner(v, s);
        n += o && !(o->flags & exclude);
    }
    return n;
}

bool store_cluster_slots_agree(const store_cluster_view *a, const store_cluster_view *b,
                               int *first)
{
    for (int s = 0; s < STORE_CLUSTER_SLOTS; s++) {
        const store_cluster_node *x = store_cluster_slot_owner(a, s);
        const store_cluster_node *y = store_cluster_slot_owner(b, s);
        if ((x == NULL) != (y == NULL) || (x && strcmp(x->id, y->id) != 0)) {
            if (first)
                *first = s;
            return false;
        }
    }
    return true;
}

const store_cluster_node *store_cluster_find(const store_cluster_view *v, const char *id)
{
    for (int i = 0; i < v->nnodes; i++)
        if (strcmp(v->nodes[i].id, id) == 0)
            return &v->nodes[i];
    return NULL;
}

const store_cluster_node *store_cluster_find_addr(const store_cluster_view *v,
                                                  const char *ip, int port)
{
    for (int i = 0; i < v->nnodes; i++)
        if (v->nodes[i].port == port && strcmp(v->nodes[i].ip, ip) == 0)
            return &v->nodes[i];
    return NULL;
}

const store_cluster_node *store_cluster_master_of(const store_cluster_view *v,
                                                  const store_cluster_node *node)
{
    if (node->flags & STORE_CLUSTER_MASTER)
        return node;
    if (!(node->flags & STORE_CLUSTER_SLAVE) || !node->master_id[0])
        return NULL;
    return store_cluster_find(v, node->master_id);
}

int store_cluster_replicas(const store_cluster_view *v, const store_cluster_node *master,
                           const store_cluster_node **out, int max)
{
    int n = 0;
    for (int i = 0; i < v->nnodes; i++) {
        const store_cluster_node *r = &v->nodes[i];
        if (!(r->flags & STORE_CLUSTER_SLAVE) || strcmp(r->master_id, master->id) != 0)
            continue;
        if (n < max)
            out[n] = r;
        n++;
    }
    return n;
}

/* ==== KEYS AND REDIRECTIONS ============================================ */

/* CRC16-CCITT (XMODEM: polynomial 0x1021, initial 0), bit by bit: a
 * drill hashes a few hundred keys a second, no table needed. */
static uint16_t crc16(const unsigned char *p, size_t n)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint16_t)(p[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (uint16_t)(crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1);
    }
    return crc;
}

int store_cluster_keyslot(const char *key, size_t len)
{
    const unsigned char *k = (const unsigned char *)key;
    size_t open = 0;
    while (open < len && k[open] != '{')
        open++;
    if (open < len) {
        size_t close = open + 1;
        while (close < len && k[close] != '}')
            close++;
        /* "{}" or no "}": the whole key, as Redis does */
        if (close < len && close > open + 1)
            return crc16(k + open + 1, close - open - 1) & (STORE_CLUSTER_SLOTS - 1);
    }
    return crc16(k, len) & (STORE_CLUSTER_SLOTS - 1);
}

bool store_cluster_redirect_parse(const char *msg, store_cluster_redirect *out)
{
    if (!msg)
        return false;
    if (*msg == '-')
        msg++;
    if (strncmp(msg, "MOVED ", 6) == 0) {
        out->ask = false;
        msg += 6;
    } else if (strncmp(msg, "ASK ", 4) == 0) {
        out->ask = true;
        msg += 4;
    } else {
        return false;
    }
    char *end;
    errno = 0;
    long slot = strtol(msg, &end, 10);
    if (errno || end == msg || *end != ' ' || slot < 0 || slot >= STORE_CLUSTER_SLOTS)
        return false;
    const char *addr = end + 1;
    size_t alen = strcspn(addr, " \r\n");
    if (addr[alen] != '\0' && addr[alen] != '\r' && addr[alen] != '\n')
        return false;
    const char *colon = NULL;
    for (const char *c = addr; c < addr + alen; c++)
        if (*c == ':')
            colon = c;
    if (!colon || colon == addr || (size_t)(colon - addr) >= sizeof(out->ip))
        return false;
    long port = strtol(colon + 1, &end, 10);
    if (end != addr + alen || end == colon + 1 || port < 1 || port > 65535)
        return false;
    memcpy(out->ip, addr, (size_t)(colon - addr));
    out->ip[colon - addr] = '\0';
    out->slot = (int)slot;
    out->port = (int)port;
    return true;
}

/* ==== CLUSTER INFO ===================================================== */

mrd_rc store_cluster_info_parse(const char *text, size_t len, store_cluster_info *out,
                                mrd_error *err)
{
    memset(out, 0, sizeof(*out));
    if (!store_info_field(text, len, "cluster_state", out->state, sizeof(out->state)) ||
        (strcmp(out->state, "ok") != 0 && strcmp(out->state, "fail") != 0))
        return mrd_error_set(err, MRD_ERR_PARSE,
                             "CLUSTER INFO has no cluster_state:ok or cluster_state:fail line");
    out->ok = strcmp(out->state, "ok") == 0;
    static const struct {
        const char *key;
        size_t off;
    } fields[] = {
        {"cluster_slots_assigned", offsetof(store_cluster_info, slots_assigned)},
        {"cluster_slots_ok", offsetof(store_cluster_info, slots_ok)},
        {"cluster_slots_pfail", offsetof(store_cluster_info, slots_pfail)},
        {"cluster_slots_fail", offsetof(store_cluster_info, slots_fail)},
        {"cluster_known_nodes", offsetof(store_cluster_info, known_nodes)},
        {"cluster_size", offsetof(store_cluster_info, size)},
        {"cluster_current_epoch", offsetof(store_cluster_info, current_epoch)},
        {"cluster_my_epoch", offsetof(store_cluster_info, my_epoch)},
    };
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        long long *dst = (long long *)((char *)out + fields[i].off);
        bool found;
        MRD_TRY(store_info_number(text, len, fields[i].key, dst, &found, err));
        if (!found || *dst < 0)
            return mrd_error_set(err, MRD_ERR_PARSE,
                                 "CLUSTER INFO has no %s line with a number of 0 or more",
                                 fields[i].key);
    }
    return MRD_OK;
}

/* ==== NODES.CONF FOR A RESTORED REPLICA ================================ */

/* " A-B C" for the slots node IDX owns, in slot order. */
static mrd_rc add_slots(mrd_buf *b, const store_cluster_view *v, int idx)
{
    for (int s = 0; s < STORE_CLUSTER_SLOTS; s++) {
        if (v->owner[s] != idx)
            continue;
        int e = s;
        while (e + 1 < STORE_CLUSTER_SLOTS && v->owner[e + 1] == idx)
            e++;
        MRD_TRY(e == s ? mrd_buf_addf(b, " %d", s) : mrd_buf_addf(b, " %d-%d", s, e));
        s = e;
    }
    return MRD_OK;
}

/* One node line as clusterGenNodeDescription() writes it, with FLAGS,
 * no ping/pong times, and the slots of node IDX of V (none when V is
 * NULL). */
static mrd_rc add_node_line(mrd_buf *b, const store_cluster_node *n, unsigned flags,
                            const store_cluster_view *v, int idx)
{
    MRD_TRY(mrd_buf_addf(b, "%s %s:%d@%d%s%s ", n->id, n->ip, n->port, n->bus_port,
                         n->hostname[0] ? "," : "", n->hostname));
    MRD_TRY(add_flags(b, flags));
    MRD_TRY(mrd_buf_addf(b, " %s 0 0 %llu %s", n->master_id[0] ? n->master_id : "-",
                         n->config_epoch, n->connected ? "connected" : "disconnected"));
    if (v)
        MRD_TRY(add_slots(b, v, idx));
    return mrd_buf_adds(b, "\n");
}

/* A node of PEER that the new node replaces: the lost node itself. */
static bool replaced(const store_cluster_node *n, const store_cluster_replica_spec *spec)
{
    return strcmp(n->id, spec->id) == 0 ||
           (n->port == spec->port && strcmp(n->ip, spec->ip) == 0);
}

static mrd_rc check_address(const store_cluster_replica_spec *spec, mrd_error *err)
{
    size_t n = strlen(spec->ip);
    store_cluster_node probe;
    /* What the parser could not read back: a space ends the field, a comma
     * starts a hostname, '@' the bus port. */
    if (n == 0 || n >= sizeof(probe.ip) || has_control_char((span){spec->ip, n}) ||
        strpbrk(spec->ip, " ,@"))
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "the restored replica's address \"%s\" is not an IP address",
                             spec->ip);
    if (spec->port < 1 || spec->port > 65535 || spec->bus_port < 1 || spec->bus_port > 65535)
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "the restored replica's ports %d and %d are not both in 1..65535",
                             spec->port, spec->bus_port);
    return MRD_OK;
}

/* Refuse a spec that would copy or replace a live node, or follow a
 * master the cluster does not have. */
static mrd_rc check_spec(const store_cluster_view *peer,
                         const store_cluster_replica_spec *spec, mrd_error *err)
{
    if (!is_node_id(spec->id, strlen(spec->id)) ||
        !is_node_id(spec->master_id, strlen(spec->master_id)))
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "node ids are 40 lowercase hex digits: \"%s\", master \"%s\"",
                             spec->id, spec->master_id);
    MRD_TRY(check_address(spec, err));
    const store_cluster_node *m = store_cluster_find(peer, spec->master_id);
    /* A master in handshake is not written to the file, one without an
     * address cannot be reached, a failed one is being replaced. */
    unsigned unusable = STORE_CLUSTER_FAIL | STORE_CLUSTER_HANDSHAKE | STORE_CLUSTER_NOADDR;
    if (!m || !(m->flags & STORE_CLUSTER_MASTER) || (m->flags & unusable))
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "%s is not a healthy master in the peer's view: ask a peer "
                             "for the shard's current master",
                             spec->master_id);
    for (int i = 0; i < peer->nnodes; i++) {
        const store_cluster_node *n = &peer->nodes[i];
        if (!replaced(n, spec))
            continue;
        if (n == m || i == peer->myself || n->nslots > 0)
            return mrd_error_set(err, MRD_ERR_INVALID,
                                 "the restored replica %s at %s:%d would replace node %s "
                                 "at %s:%d, which is %s: give it the lost node's id or "
                                 "a new one, and its own address",
                                 spec->id, spec->ip, spec->port, n->id, n->ip, n->port,
                                 n == m                ? "its master"
                                 : i == peer->myself ? "the peer itself"
                                                     : "a master owning slots");
    }
    return MRD_OK;
}

static mrd_rc render_conf(const store_cluster_view *peer,
                          const store_cluster_replica_spec *spec, mrd_buf *b)
{
    const store_cluster_node *m = store_cluster_find(peer, spec->master_id);
    store_cluster_node me = {.port = spec->port, .bus_port = spec->bus_port,
                             .config_epoch = m->config_epoch, .connected = true};
    snprintf(me.id, sizeof(me.id), "%s", spec->id);
    snprintf(me.ip, sizeof(me.ip), "%s", spec->ip);
    snprintf(me.master_id, sizeof(me.master_id), "%s", spec->master_id);
    MRD_TRY(add_node_line(b, &me, STORE_CLUSTER_MYSELF | STORE_CLUSTER_SLAVE, NULL, 0));
    for (int i = 0; i < peer->nnodes; i++) {
        const store_cluster_node *n = &peer->nodes[i];
        if (replaced(n, spec) || (n->flags & STORE_CLUSTER_HANDSHAKE))
            continue;
        unsigned flags = n->flags & ~(unsigned)(STORE_CLUSTER_MYSELF | STORE_CLUSTER_PFAIL);
        MRD_TRY(add_node_line(b, n, flags, peer, i));
    }
    return mrd_buf_addf(b, "vars currentEpoch %llu lastVoteEpoch 0\n", spec->current_epoch);
}

mrd_rc store_cluster_replica_conf(const store_cluster_view *peer,
                                  const store_cluster_replica_spec *spec, mrd_buf *out,
                                  mrd_error *err)
{
    MRD_TRY(check_spec(peer, spec, err));
    /* Rendered aside, so that OUT is unchanged on an error. */
    mrd_buf b;
    mrd_buf_init(&b, out->max - out->len);
    mrd_rc rc = render_conf(peer, spec, &b);
    if (rc == MRD_OK)
        rc = mrd_buf_add(out, mrd_buf_str(&b), mrd_buf_len(&b));
    mrd_buf_free(&b);
    if (rc != MRD_OK)
        return mrd_error_set(err, rc, "the nodes.conf of replica %s does not fit: %s",
                             spec->id, mrd_strerror(rc));
    return MRD_OK;
}

mrd_rc store_cluster_new_id(char out[STORE_CLUSTER_ID_LEN + 1], mrd_error *err)
{
    /* A secret is 64 random hex digits: its first 40 are an id as random
     * as Redis' own (getRandomHexChars()). */
    char secret[MRD_SECRET_LEN];
    MRD_TRY(mrd_secret_generate(secret, sizeof(secret), err));
    memcpy(out, secret, STORE_CLUSTER_ID_LEN);
    out[STORE_CLUSTER_ID_LEN] = '\0';
    return MRD_OK;
}
