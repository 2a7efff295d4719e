/* drill_report.c - the result of a drill computed from its record, and its
 * three reports (JSON, text, SVG).  See drill_report.h.
 *
 * Everything but drill_report_write() is pure: records in, strings out. */
#include "drill_report.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fsutil.h"

/* The bucket of the SVG bar chart, in ms. */
#define BUCKET_MS 100

/* Longest fixed-size string of a record (verdict_reason), plus its NUL. */
#define FIELD_MAX 257

/* ==== STRING BUILDER ==================================================== */

/* common/buf.h's buffer, uncapped (a report is as long as its record),
 * with a sticky failure: after an allocation failure every append is a
 * no-op and sb_finish() returns NULL, so callers build the whole report
 * and check once. */
typedef struct sbuf {
    mrd_buf b;
    bool oom;
} sbuf;

static void sb_init(sbuf *b)
{
    mrd_buf_init(&b->b, SIZE_MAX);
    b->oom = false;
}

static void sb_putn(sbuf *b, const char *s, size_t n)
{
    if (!b->oom && mrd_buf_add(&b->b, s, n) != MRD_OK)
        b->oom = true;
}

static void sb_puts(sbuf *b, const char *s)
{
    sb_putn(b, s, strlen(s));
}

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    va_list ap;
    va_start(ap, fmt);
    if (mrd_buf_vaddf(&b->b, fmt, ap) != MRD_OK)
        b->oom = true;
    va_end(ap);
}

/* The string (caller frees), or NULL after an allocation failure. */
static char *sb_finish(sbuf *b)
{
    char *s = b->oom ? NULL : mrd_buf_take(&b->b);
    mrd_buf_free(&b->b);
    return s;
}

/* ==== TEXT HELPERS ====================================================== */

/* Copy the fixed-size field SRC (CAP bytes, maybe not NUL-terminated) into
 * DST (FIELD_MAX bytes) as valid UTF-8: a byte that does not start a
 * well-formed sequence becomes '?', and so do control characters unless
 * KEEP_CTRL (JSON escapes them; terminals and XML must not see them). */
static const char *clean(char *dst, const char *src, size_t cap, bool keep_ctrl)
{
    size_t n = strnlen(src, cap), o = 0;
    const unsigned char *s = (const unsigned char *)src;
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t len = 0;
        unsigned lo = 0x80, hi = 0xBF; /* range of the second byte */
        if (c < 0x80)
            len = 1;
        else if (c >= 0xC2 && c <= 0xDF)
            len = 2;
        else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            if (c == 0xE0)
                lo = 0xA0; /* no overlong forms */
            if (c == 0xED)
                hi = 0x9F; /* no surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            if (c == 0xF0)
                lo = 0x90;
            if (c == 0xF4)
                hi = 0x8F;
        }
        bool ok = len > 0 && i + len <= n;
        for (size_t k = 1; ok && k < len; k++) {
            unsigned d = s[i + k];
            ok = k == 1 ? d >= lo && d <= hi : d >= 0x80 && d <= 0xBF;
        }
        if (!ok || (len == 1 && !keep_ctrl && (c < 0x20 || c == 0x7F))) {
            if (o + 1 >= FIELD_MAX)
                break;
            dst[o++] = '?';
            i++;
            continue;
        }
        if (o + len >= FIELD_MAX)
            break;
        memcpy(dst + o, s + i, len);
        o += len;
        i += len;
    }
    dst[o] = '\0';
    return dst;
}

/* clean() on an array member, for terminals and XML. */
#define CLEAN(buf, arr) clean((buf), (arr), sizeof(arr), false)

/* Append S (already clean) with XML's five special characters escaped. */
static void sb_xml(sbuf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': sb_puts(b, "&amp;"); break;
        case '<': sb_puts(b, "&lt;"); break;
        case '>': sb_puts(b, "&gt;"); break;
        case '"': sb_puts(b, "&quot;"); break;
        case '\'': sb_puts(b, "&apos;"); break;
        default: sb_putn(b, s, 1); break;
        }
    }
}

/* LIST[IDX] (N entries), else "KIND#IDX", cleaned into DST: the names
 * come from the topology, but go through clean() all the same. */
static const char *name_clean(const char *const *list, int n, const char *kind, int idx,
                              char *dst)
{
    char tmp[32];
    const char *name = tmp;
    if (list && idx >= 0 && idx < n && list[idx])
        name = list[idx];
    else
        snprintf(tmp, sizeof(tmp), "%s#%d", kind, idx);
    return clean(dst, name, FIELD_MAX - 1, false);
}

/* The source of an event: its sentinel's host, or "drill". */
static const char *source_name(const drill_names *names, int sentinel, char *dst)
{
    if (sentinel < 0)
        return "drill";
    return name_clean(names ? names->hosts : NULL, names ? names->nhosts : 0, "host", sentinel,
                      dst);
}

/* The node a write was sent to. */
static const char *node_name(const drill_names *names, int node, char *dst)
{
    return name_clean(names ? names->nodes : NULL, names ? names->nnodes : 0, "node", node,
                      dst);
}

/* "+1.024 s" for T relative to REF. */
static const char *rel_s(char *buf, size_t n, int64_t t, int64_t ref)
{
    int64_t d = t - ref;
    char sign = d < 0 ? '-' : '+';
    int64_t a = d < 0 ? -d : d;
    snprintf(buf, n, "%c%" PRId64 ".%03" PRId64 " s", sign, a / 1000, a % 1000);
    return buf;
}

/* "1.024 s" for a duration in ms, "-" for -1. */
static const char *dur_s(char *buf, size_t n, int64_t ms)
{
    if (ms < 0)
        snprintf(buf, n, "-");
    else
        snprintf(buf, n, "%" PRId64 ".%03" PRId64 " s", ms / 1000, ms % 1000);
    return buf;
}

/* The time reports measure from: the fault, or the drill's start. */
static int64_t ref_ms(const drill_record *r)
{
    return r->fault_ms >= 0 ? r->fault_ms : 0;
}

/* What ref_ms() is, for "seconds from the ...": a scale drill's fault_ms
 * is the deploy's start. */
static const char *ref_name(const drill_record *r)
{
    if (r->fault_ms < 0)
        return "start";
    return r->scale.present ? "scale's start" : "fault";
}

static int64_t n_writes(const drill_record *r)
{
    return r->writes && r->nwrites > 0 ? r->nwrites : 0;
}

static int64_t n_events(const drill_record *r)
{
    return r->events && r->nevents > 0 ? r->nevents : 0;
}

/* ==== RECORD QUERIES ==================================================== */

/* The index of the first event named NAME at or after FROM_MS (any time
 * when FROM_MS < 0), earliest time first, or -1.  Events need not be in
 * order: they come from one connection per sentinel. */
static int64_t first_event(const drill_record *r, const char *name, int64_t from_ms)
{
    int64_t best = -1;
    for (int64_t i = 0; i < n_events(r); i++) {
        const drill_event *e = &r->events[i];
        if (strncmp(e->name, name, sizeof(e->name)) != 0)
            continue;
        if (from_ms >= 0 && e->t_ms < from_ms)
            continue;
        if (best < 0 || e->t_ms < r->events[best].t_ms)
            best = i;
    }
    return best;
}

typedef struct ev_key {
    int64_t t;
    int64_t i;
} ev_key;

static int ev_key_cmp(const void *a, const void *b)
{
    const ev_key *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* The events' indexes ordered by time (stable), new array of n_events(r)
 * entries (at least one allocated), NULL on OOM. */
static ev_key *event_order(const drill_record *r)
{
    int64_t n = n_events(r);
    ev_key *k = malloc(sizeof(*k) * (size_t)(n > 0 ? n : 1));
    if (!k)
        return NULL;
    for (int64_t i = 0; i < n; i++)
        k[i] = (ev_key){r->events[i].t_ms, i};
    qsort(k, (size_t)n, sizeof(*k), ev_key_cmp);
    return k;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* An acknowledged write of the main writer, of SHARD's keys (any shard
 * when SHARD < 0). */
static bool main_acked(const drill_write *w, int shard)
{
    return !w->isolated && w->state == DRILL_W_ACKED && (shard < 0 || w->shard == shard);
}

/* Last acknowledged main write (of SHARD, see main_acked) at or before
 * the fault, -1 none. */
static int64_t last_ack_before(const drill_record *r, int shard)
{
    int64_t t = -1;
    for (int64_t i = 0; i < n_writes(r); i++) {
        const drill_write *w = &r->writes[i];
        if (main_acked(w, shard) && w->t_ms <= r->fault_ms && w->t_ms > t)
            t = w->t_ms;
    }
    return t;
}

/* First acknowledged main write after the fault, -1 none. */
static int64_t first_ack_after(const drill_record *r, int shard)
{
    int64_t t = -1;
    for (int64_t i = 0; i < n_writes(r); i++) {
        const drill_write *w = &r->writes[i];
        if (main_acked(w, shard) && w->t_ms > r->fault_ms && (t < 0 || w->t_ms < t))
            t = w->t_ms;
    }
    return t;
}

/* write_unavailable_ms of SHARD's keys (every key when SHARD < 0); see
 * drill_report.h.  The main writer's writes are normally in time order,
 * but the record does not promise it, so the acknowledged times after the
 * fault are sorted first. */
static int64_t longest_ack_gap(const drill_record *r, int shard)
{
    int64_t anchor = last_ack_before(r, shard);
    if (anchor < 0)
        anchor = r->fault_ms;
    int64_t n = 0;
    for (int64_t i = 0; i < n_writes(r); i++)
        if (main_acked(&r->writes[i], shard) && r->writes[i].t_ms > r->fault_ms)
            n++;
    if (n == 0)
        return r->end_ms > anchor ? r->end_ms - anchor : 0;

    int64_t gap = 0, prev = anchor;
    int64_t *t = malloc(sizeof(*t) * (size_t)n);
    if (t) {
        int64_t k = 0;
        for (int64_t i = 0; i < n_writes(r); i++)
            if (main_acked(&r->writes[i], shard) && r->writes[i].t_ms > r->fault_ms)
                t[k++] = r->writes[i].t_ms;
        qsort(t, (size_t)n, sizeof(*t), cmp_i64);
        for (int64_t i = 0; i < n; i++) {
            if (t[i] - prev > gap)
                gap = t[i] - prev;
            prev = t[i];
        }
        free(t);
        return gap;
    }
    /* Out of memory: trust the record's order. */
    for (int64_t i = 0; i < n_writes(r); i++) {
        const drill_write *w = &r->writes[i];
        if (!main_acked(w, shard) || w->t_ms <= r->fault_ms)
            continue;
        if (w->t_ms - prev > gap)
            gap = w->t_ms - prev;
        if (w->t_ms > prev)
            prev = w->t_ms;
    }
    return gap;
}

/* The event that marks detection / failover in this record's mode. */
static const char *detect_name(const drill_record *r)
{
    return r->detect_event[0] ? r->detect_event : "+odown";
}

static const char *failover_name(const drill_record *r)
{
    return r->failover_event[0] ? r->failover_event : "+switch-master";
}

/* ==== CLUSTER MODE ====================================================== */

static bool faulted_node(const drill_record *r, int node)
{
    return r->node_faulted && node >= 0 && node < r->nnodes_faulted && r->node_faulted[node];
}

/* cluster_fail_ms and cluster_ok_ms from the +cluster-fail / +cluster-ok
 * events of the nodes the fault did not hit: a sweep in time order over
 * how many of them report fail, starting from what each reported before
 * the fault. */
static void cluster_state_times(drill_record *r, const ev_key *order)
{
    drill_result *o = &r->r;
    o->cluster_fail_ms = 0;
    o->cluster_ok_ms = -1;
    int n = r->nnodes_faulted > 0 ? r->nnodes_faulted : 0;
    int maxnode = n;
    for (int64_t i = 0; i < n_events(r); i++)
        if (r->events[i].node >= maxnode)
            maxnode = r->events[i].node + 1;
    uint8_t *failing = calloc((size_t)(maxnode > 0 ? maxnode : 1), 1);
    if (!failing)
        return;
    int nfail = 0;
    int64_t since = -1; /* when the current stretch of fail began */
    bool failed_once = false;
    for (int64_t k = 0; k < n_events(r); k++) {
        const drill_event *e = &r->events[order[k].i];
        bool f = strcmp(e->name, "+cluster-fail") == 0;
        if ((!f && strcmp(e->name, "+cluster-ok") != 0) || e->node < 0 ||
            faulted_node(r, e->node) || failing[e->node] == f)
            continue;
        failing[e->node] = f;
        int64_t t = e->t_ms > r->fault_ms ? e->t_ms : r->fault_ms;
        if (f && nfail++ == 0) {
            since = t;
        } else if (!f && --nfail == 0) {
            if (since >= 0 && e->t_ms >= r->fault_ms) {
                o->cluster_fail_ms += t - since;
                o->cluster_ok_ms = t - r->fault_ms;
                failed_once = true;
            }
            since = -1;
        }
    }
    if (nfail > 0 && since >= 0) {
        o->cluster_fail_ms += (r->end_ms > since ? r->end_ms - since : 0);
        o->cluster_ok_ms = -1;
    } else if (!failed_once) {
        o->cluster_ok_ms = -1;
    }
    free(failing);
}

/* The per-shard figures and the cluster-wide ones that follow from them. */
static void compute_shards(drill_record *r)
{
    drill_result *o = &r->r;
    const int64_t fault = r->fault_ms;
    int64_t last_failover = -1, longest = -1;
    o->longest_gap_shard = -1;
    for (int s = 0; s < r->nshards; s++) {
        drill_shard *x = &r->shards[s];
        x->writes_attempted = x->writes_acked = 0;
        for (int64_t i = 0; i < n_writes(r); i++) {
            const drill_write *w = &r->writes[i];
            if (w->isolated || w->shard != s)
                continue;
            x->writes_attempted++;
            x->writes_acked += w->state == DRILL_W_ACKED;
        }
        x->write_unavailable_ms = fault >= 0 ? longest_ack_gap(r, s) : -1;
        x->failover_ms = -1;
        for (int64_t i = 0; fault >= 0 && i < n_events(r); i++) {
            const drill_event *e = &r->events[i];
            if (e->shard == s && e->t_ms >= fault && strcmp(e->name, failover_name(r)) == 0 &&
                (x->failover_ms < 0 || e->t_ms - fault < x->failover_ms))
                x->failover_ms = e->t_ms - fault;
        }
        if (x->failover_ms > last_failover)
            last_failover = x->failover_ms;
        if (x->write_unavailable_ms > longest) {
            longest = x->write_unavailable_ms;
            o->longest_gap_shard = s;
        }
    }
    o->failover_ms = last_failover;
    o->write_unavailable_ms = longest;
    ev_key *order = fault >= 0 ? event_order(r) : NULL;
    if (order)
        cluster_state_times(r, order);
    else
        o->cluster_fail_ms = o->cluster_ok_ms = -1;
    free(order);
}

/* ==== THE SCALE DRILL =================================================== */

/* Acknowledged main writes per second in [FROM, TO); 0 for an empty or
 * unknown window. */
static double acked_rate(const drill_record *r, int64_t from, int64_t to)
{
    if (from < 0 || to <= from)
        return 0;
    int64_t n = 0;
    for (int64_t i = 0; i < n_writes(r); i++) {
        const drill_write *w = &r->writes[i];
        n += main_acked(w, -1) && w->t_ms >= from && w->t_ms < to;
    }
    return (double)n * 1000.0 / (double)(to - from);
}

/* The scale's figures: its duration, the throughput before, during and
 * after the deploy, and the longest gap of any one writer thread (a
 * writer's keys are drill_write.shard's), which becomes the record-wide
 * write_unavailable_ms. */
static void compute_scale(drill_record *r)
{
    drill_scale *x = &r->scale;
    drill_result *o = &r->r;
    x->scale_ms = r->fault_ms >= 0 && r->restore_ms >= r->fault_ms ? r->restore_ms - r->fault_ms
                                                                   : -1;
    x->acked_per_s_before = acked_rate(r, x->load_ready_ms, r->fault_ms);
    x->acked_per_s_during = acked_rate(r, r->fault_ms, r->restore_ms);
    x->acked_per_s_after = acked_rate(r, r->restore_ms, r->end_ms);
    x->longest_gap_writer = -1;
    o->write_unavailable_ms = -1;
    for (int k = 0; r->fault_ms >= 0 && k < x->writers; k++) {
        int64_t gap = longest_ack_gap(r, k);
        if (gap > o->write_unavailable_ms) {
            o->write_unavailable_ms = gap;
            x->longest_gap_writer = k;
        }
    }
}

/* ==== THE RESULT ======================================================== */

/* Append sentence S to BUF (size N) when it fits whole. */
static void add_sentence(char *buf, size_t n, const char *s)
{
    size_t len = strlen(buf), sl = strlen(s);
    size_t sep = len ? 1 : 0;
    if (len + sep + sl + 1 > n)
        return;
    if (sep)
        buf[len++] = ' ';
    memcpy(buf + len, s, sl + 1);
}

/* The sentences about acknowledged writes lost, when some were. */
static void lost_sentences(drill_record *r, int wait_replicas)
{
    drill_result *o = &r->r;
    char s[200];
    if (o->acked_writes_lost == 0)
        return;
    snprintf(s, sizeof(s),
             "%" PRId64 " acknowledged write%s lost (WAIT had confirmed each on %d "
             "replica%s).",
             o->acked_writes_lost, o->acked_writes_lost == 1 ? " was" : "s were", wait_replicas,
             wait_replicas == 1 ? "" : "s");
    add_sentence(o->verdict_reason, sizeof(o->verdict_reason), s);
    if (wait_replicas <= 0)
        add_sentence(o->verdict_reason, sizeof(o->verdict_reason),
                     "With wait_replicas 0 no replica confirms a write: set it to 1.");
}

/* What deploy's exit code CODE means, for a sentence. */
static const char *deploy_meaning(int code)
{
    switch (code) {
    case 0: return "deployed and verified";
    case 1: return "deployed, but not verified healthy in time";
    case 2: return "refused, or a host or a step failed";
    case 75: return "another deploy or destroy of the state dir was running";
    default: return "failed";
    }
}

/* The scale drill's verdict: the deploy exited 0, every write was read
 * back and none acknowledged was lost. */
static void scale_verdict(drill_record *r, int wait_replicas)
{
    drill_result *o = &r->r;
    const drill_scale *x = &r->scale;
    char *buf = o->verdict_reason;
    size_t n = sizeof(o->verdict_reason);
    char s[256], d[32], g[32];
    buf[0] = '\0';
    o->pass = x->deploy_exit == 0 && x->readback_complete && o->acked_writes_lost == 0;
    if (x->deploy_exit != 0) {
        snprintf(s, sizeof(s), "The deploy exited %d (%s): see its output.", x->deploy_exit,
                 deploy_meaning(x->deploy_exit));
        add_sentence(buf, n, s);
    }
    lost_sentences(r, wait_replicas);
    if (!x->readback_complete)
        add_sentence(buf, n, "Not every write could be read back: see the drill's messages.");
    if (o->pass) {
        snprintf(s, sizeof(s),
                 "No acknowledged write was lost while the cluster went from %d to %d shards "
                 "in %s; the longest write gap was %s.",
                 x->shards_before, x->shards_after, dur_s(d, sizeof(d), x->scale_ms),
                 dur_s(g, sizeof(g), o->write_unavailable_ms));
        add_sentence(buf, n, s);
    }
}

/* host-loss: replaced, the layout within the plan's rules, the old host
 * fenced; else a sentence each (into the verdict) and PASS cleared. */
static void host_loss_verdict(drill_record *r)
{
    const drill_host_loss *x = &r->host_loss;
    drill_result *o = &r->r;
    char s[256];
    if (!x->replaced) {
        snprintf(s, sizeof(s), "The host was not replaced on a spare: see the drill's "
                 "messages and meridian status.");
        if (x->spare[0])
            snprintf(s, sizeof(s), "The host was not replaced on its spare %s: see the "
                     "drill's messages and meridian status.", x->spare);
        add_sentence(o->verdict_reason, sizeof(o->verdict_reason), s);
        o->pass = false;
        return;
    }
    if (!x->layout_ok) {
        add_sentence(o->verdict_reason, sizeof(o->verdict_reason),
                     "The layout after the replacement does not keep the plan's rules.");
        o->pass = false;
    }
    if (!x->old_host_fenced) {
        snprintf(s, sizeof(s), "The old host was not fenced when it came back (%s).",
                 x->old_host[0] ? x->old_host : "not seen");
        add_sentence(o->verdict_reason, sizeof(o->verdict_reason), s);
        o->pass = false;
    }
}

/* switchover, sentinel-failover: the operation was done; else a sentence
 * (into the verdict) and PASS cleared. */
static void planned_verdict(drill_record *r)
{
    const drill_planned *x = &r->planned;
    if (strcmp(x->outcome, "done") == 0)
        return;
    char s[400];
    snprintf(s, sizeof(s), "The %s was not done (%s): %s", x->operation,
             x->outcome[0] ? x->outcome : "not run", x->reason[0] ? x->reason : "see above");
    add_sentence(r->r.verdict_reason, sizeof(r->r.verdict_reason), s);
    r->r.pass = false;
}

/* ==== TOTAL LOSS ========================================================= */

drill_tl_class drill_total_loss_classify(const drill_total_loss *x, const drill_write *w,
                                         int64_t kill_end_ms)
{
    if (w->isolated || w->state != DRILL_W_ACKED)
        return DRILL_TL_NONE;
    if (kill_end_ms >= 0 && w->t_ms >= kill_end_ms)
        return DRILL_TL_RESTORED;
    /* an acknowledgement before the backup was called: the cut (the
     * source replica's fork) comes later */
    if (w->done_ms < x->backup_start_ms)
        return DRILL_TL_BEFORE;
    /* sent once the backup had returned: its RDB was made before */
    if (x->backup_end_ms >= 0 && w->t_ms >= x->backup_end_ms)
        return DRILL_TL_AFTER;
    return DRILL_TL_DURING;
}

/* The total-loss part of R->r's inputs: classes, losses, RTO and RPO. */
static void compute_total_loss(drill_record *r)
{
    drill_total_loss *x = &r->total_loss;
    x->acked_before = x->lost_before = x->acked_during = x->kept_during = x->lost_during = 0;
    x->acked_after = x->lost_after = x->acked_restored = x->lost_restored = 0;
    x->rto_writable_ms = x->rto_healthy_ms = x->rpo_window_ms = -1;
    int64_t first_lost = -1;
    for (int64_t i = 0; i < n_writes(r); i++) {
        const drill_write *w = &r->writes[i];
        drill_tl_class k = drill_total_loss_classify(x, w, x->kill_end_ms);
        bool lost = x->write_present && !x->write_present[i];
        switch (k) {
        case DRILL_TL_NONE:
            continue;
        case DRILL_TL_BEFORE:
            x->acked_before++;
            x->lost_before += lost;
            break;
        case DRILL_TL_DURING:
            x->acked_during++;
            x->lost_during += lost;
            x->kept_during += x->write_present && !lost;
            break;
        case DRILL_TL_AFTER:
            x->acked_after++;
            x->lost_after += lost;
            break;
        case DRILL_TL_RESTORED:
            x->acked_restored++;
            x->lost_restored += lost;
            if (r->fault_ms >= 0 && (x->rto_writable_ms < 0 ||
                                     w->done_ms - r->fault_ms < x->rto_writable_ms))
                x->rto_writable_ms = w->done_ms - r->fault_ms;
            break;
        }
        if (lost && k != DRILL_TL_RESTORED && (first_lost < 0 || w->t_ms < first_lost))
            first_lost = w->t_ms;
    }
    x->rpo_writes = x->lost_during + x->lost_after;
    if (first_lost >= 0 && r->fault_ms >= first_lost)
        x->rpo_window_ms = r->fault_ms - first_lost;
    if (r->fault_ms >= 0 && r->ready_ms >= r->fault_ms)
        x->rto_healthy_ms = r->ready_ms - r->fault_ms;
}

/* total-loss: backed up, restored, writable and healthy again, nothing
 * acknowledged before the backup or after the restore lost.  Writes lost
 * between the two are its RPO, not a failure. */
static void total_loss_verdict(drill_record *r)
{
    const drill_total_loss *x = &r->total_loss;
    drill_result *o = &r->r;
    char *buf = o->verdict_reason;
    size_t n = sizeof(o->verdict_reason);
    char s[400], a[32], b[32];
    buf[0] = '\0';
    o->pass = x->backup_id[0] && x->restored && o->healed && x->write_present &&
              x->lost_before == 0 && x->lost_restored == 0 && x->rto_writable_ms >= 0;
    if (!x->backup_id[0]) {
        snprintf(s, sizeof(s), "The backup failed: %s", x->error[0] ? x->error : "see above.");
        add_sentence(buf, n, s);
    } else if (!x->restored) {
        snprintf(s, sizeof(s), "The restore failed: %s",
                 x->error[0] ? x->error : "see the drill's messages.");
        add_sentence(buf, n, s);
    }
    if (x->backup_id[0] && !x->write_present)
        add_sentence(buf, n, "The writes could not be read back: see the drill's messages.");
    if (x->lost_before > 0) {
        snprintf(s, sizeof(s),
                 "%" PRId64 " write%s acknowledged before the backup started %s missing after "
                 "the restore.",
                 x->lost_before, x->lost_before == 1 ? "" : "s",
                 x->lost_before == 1 ? "is" : "are");
        add_sentence(buf, n, s);
    }
    if (x->lost_restored > 0) {
        snprintf(s, sizeof(s),
                 "%" PRId64 " write%s acknowledged by the restored leader %s lost.",
                 x->lost_restored, x->lost_restored == 1 ? "" : "s",
                 x->lost_restored == 1 ? "was" : "were");
        add_sentence(buf, n, s);
    }
    if (x->restored && x->rto_writable_ms < 0)
        add_sentence(buf, n, "No write was acknowledged after the restore.");
    if (x->restored && !o->healed)
        add_sentence(buf, n, "The topology was not healthy at the end: see meridian status.");
    if (o->pass) {
        snprintf(s, sizeof(s),
                 "Backup %s restored after every node was killed: writable again %s and "
                 "healthy %s after the kill; %" PRId64 " acknowledged write%s made after the "
                 "backup %s lost (the RPO), none made before it.",
                 x->backup_id, dur_s(a, sizeof(a), x->rto_writable_ms),
                 dur_s(b, sizeof(b), x->rto_healthy_ms), x->rpo_writes,
                 x->rpo_writes == 1 ? "" : "s", x->rpo_writes == 1 ? "was" : "were");
        add_sentence(buf, n, s);
    }
}

static void verdict(drill_record *r, int wait_replicas)
{
    drill_result *o = &r->r;
    char *buf = o->verdict_reason;
    size_t n = sizeof(o->verdict_reason);
    char s[200], d[32];
    buf[0] = '\0';
    o->pass = o->acked_writes_lost == 0 && o->healed;
    if (r->host_loss.present)
        host_loss_verdict(r);
    if (r->planned.present)
        planned_verdict(r);

    lost_sentences(r, wait_replicas);
    if (!o->healed)
        add_sentence(buf, n,
                     r->ready_ms < 0
                         ? "The topology did not heal back to its plan: see meridian status."
                         : "The topology was not healthy at the end: see meridian status.");
    if (o->pass) {
        if (o->heal_ms >= 0)
            snprintf(s, sizeof(s),
                     "No acknowledged write was lost and the topology healed back to its "
                     "plan in %s.",
                     dur_s(d, sizeof(d), o->heal_ms));
        else
            snprintf(s, sizeof(s),
                     "No acknowledged write was lost and the topology is back to its plan.");
        add_sentence(buf, n, s);
    }
    if (o->split_brain)
        add_sentence(buf, n, "Split brain: two leaders accepted writes at once.");
}

void drill_result_compute(drill_record *r, int wait_replicas)
{
    if (!r)
        return;
    drill_result *o = &r->r;
    const int64_t fault = r->fault_ms;

    int64_t attempted = 0, acked = 0, iso_accepted = 0, iso_refused = -1;
    for (int64_t i = 0; i < n_writes(r); i++) {
        const drill_write *w = &r->writes[i];
        if (w->isolated) {
            if (w->state == DRILL_W_WRITTEN || w->state == DRILL_W_ACKED)
                iso_accepted++;
            else if (w->state == DRILL_W_ERROR && fault >= 0 && w->t_ms >= fault &&
                     (iso_refused < 0 || w->t_ms < iso_refused))
                iso_refused = w->t_ms;
            continue;
        }
        attempted++;
        if (w->state == DRILL_W_ACKED)
            acked++;
    }
    o->writes_attempted = attempted;
    o->writes_acked = acked;
    o->isolated_accepted = iso_accepted;
    o->isolated_refused_ms = iso_refused >= 0 ? iso_refused - fault : -1;

    int64_t odown = fault >= 0 ? first_event(r, detect_name(r), fault) : -1;
    int64_t sw = fault >= 0 ? first_event(r, failover_name(r), fault) : -1;
    o->detect_ms = odown >= 0 ? r->events[odown].t_ms - fault : -1;
    o->failover_ms = sw >= 0 ? r->events[sw].t_ms - fault : -1;
    o->write_unavailable_ms = fault >= 0 ? longest_ack_gap(r, -1) : -1;
    o->cluster_fail_ms = o->cluster_ok_ms = -1;
    o->longest_gap_shard = -1;
    if (r->nshards > 0 && r->shards)
        compute_shards(r);
    o->heal_ms = r->restore_ms >= 0 && r->ready_ms >= r->restore_ms
                     ? r->ready_ms - r->restore_ms
                     : -1;
    if (r->scale.present) {
        compute_scale(r);
        scale_verdict(r, wait_replicas);
    } else if (r->total_loss.present) {
        compute_total_loss(r);
        total_loss_verdict(r);
    } else {
        verdict(r, wait_replicas);
    }
}

/* ==== report.json ======================================================= */

/* Set KEY of OBJ to V (stolen); a NULL V (allocation failed) clears *OK. */
static void put(json_t *obj, const char *key, json_t *v, bool *ok)
{
    if (!v || json_object_set_new(obj, key, v) != 0)
        *ok = false;
}

static json_t *ms_or_null(int64_t v)
{
    return v < 0 ? json_null() : json_integer((json_int_t)v);
}

/* A fixed-size field as a JSON string (valid UTF-8); NULL_IF_EMPTY turns
 * "" into null. */
static json_t *field_json(const char *arr, size_t cap, bool null_if_empty)
{
    char buf[FIELD_MAX];
    clean(buf, arr, cap < FIELD_MAX - 1 ? cap : FIELD_MAX - 1, true);
    if (null_if_empty && !buf[0])
        return json_null();
    return json_string(buf);
}
#define FIELD_JSON(arr, nul) field_json((arr), sizeof(arr), (nul))

/* The cluster-wide figures (cluster mode). */
static json_t *cluster_json(const drill_record *r, bool *ok)
{
    const drill_result *o = &r->r;
    json_t *c = json_object();
    if (!c)
        return NULL;
    put(c, "cluster_state_fail_ms", ms_or_null(o->cluster_fail_ms), ok);
    put(c, "cluster_ok_ms", ms_or_null(o->cluster_ok_ms), ok);
    put(c, "longest_gap_ms", ms_or_null(o->write_unavailable_ms), ok);
    put(c, "longest_gap_shard",
        o->longest_gap_shard >= 0 ? json_integer(o->longest_gap_shard + 1) : json_null(), ok);
    put(c, "last_failover_ms", ms_or_null(o->failover_ms), ok);
    return c;
}

/* A rate with one decimal, as the text shows it. */
static json_t *rate_json(double v)
{
    return json_real((double)(long long)(v * 10.0 + 0.5) / 10.0);
}

/* The host-loss drill's figures. */
static json_t *host_loss_json(const drill_record *r, bool *ok)
{
    const drill_host_loss *x = &r->host_loss;
    json_t *c = json_object();
    if (!c)
        return NULL;
    put(c, "spare", FIELD_JSON(x->spare, true), ok);
    put(c, "replace_after_s", json_integer(x->replace_after_s), ok);
    put(c, "generation", x->generation ? json_integer(x->generation) : json_null(), ok);
    put(c, "replaced", json_boolean(x->replaced), ok);
    put(c, "detect_ms", ms_or_null(x->detect_ms), ok);
    put(c, "ready_ms", ms_or_null(x->ready_ms), ok);
    put(c, "leader_bytes", ms_or_null(x->leader_bytes), ok);
    put(c, "full_sync_bytes", ms_or_null(x->full_sync_bytes), ok);
    put(c, "leader_bytes_pct",
        x->leader_bytes >= 0 && x->full_sync_bytes > 0
            ? json_real((double)x->leader_bytes * 100.0 / (double)x->full_sync_bytes)
            : json_null(),
        ok);
    put(c, "layout_ok", json_boolean(x->layout_ok), ok);
    put(c, "old_host_fenced", json_boolean(x->old_host_fenced), ok);
    put(c, "old_host", FIELD_JSON(x->old_host, true), ok);
    return c;
}

/* The seqs of R's writes for which KEEP(class, lost) holds, as ranges
 * [[first, last], ...] of consecutive seqs (a write that does not match
 * ends a range). */
static json_t *seq_ranges(const drill_record *r, bool (*keep)(drill_tl_class k, bool lost),
                          bool *ok)
{
    const drill_total_loss *x = &r->total_loss;
    json_t *a = json_array();
    int64_t first = -1, last = -1;
    for (int64_t i = 0; a && i <= n_writes(r); i++) {
        bool in = false;
        int64_t seq = -1;
        if (i < n_writes(r)) {
            const drill_write *w = &r->writes[i];
            drill_tl_class k = drill_total_loss_classify(x, w, x->kill_end_ms);
            in = k != DRILL_TL_NONE && keep(k, x->write_present && !x->write_present[i]);
            seq = w->seq;
        }
        if (in && first >= 0 && seq == last + 1) {
            last = seq;
            continue;
        }
        if (first >= 0 && json_array_append_new(a, json_pack("[II]", (json_int_t)first,
                                                             (json_int_t)last)) != 0)
            *ok = false;
        first = in ? seq : -1;
        last = in ? seq : -1;
    }
    if (!a)
        *ok = false;
    return a;
}

/* Acknowledged before the kill, not before the backup: what the RPO is
 * counted over. */
static bool since_backup(drill_tl_class k, bool lost)
{
    (void)lost;
    return k == DRILL_TL_DURING || k == DRILL_TL_AFTER;
}

static bool lost_any(drill_tl_class k, bool lost)
{
    (void)k;
    return lost;
}

/* The total-loss drill's figures. */
static json_t *total_loss_json(const drill_record *r, bool *ok)
{
    const drill_total_loss *x = &r->total_loss;
    json_t *c = json_object();
    if (!c)
        return NULL;
    bool read = x->write_present != NULL;
    put(c, "backup_id", FIELD_JSON(x->backup_id, true), ok);
    put(c, "backup_keys", ms_or_null(x->backup_keys), ok);
    put(c, "backup_ms", ms_or_null(x->backup_ms), ok);
    put(c, "nodes_killed", json_integer(x->nodes_killed), ok);
    put(c, "nodes_total", json_integer(x->nodes_total), ok);
    put(c, "kept_running", json_pack("[ss]", "sentinels", "agents"), ok);
    put(c, "restored", json_boolean(x->restored), ok);
    put(c, "restore_ms", ms_or_null(x->restore_ms), ok);
    put(c, "restore_writable_ms", ms_or_null(x->restore_writable_ms), ok);
    put(c, "keys_restored", ms_or_null(x->keys_restored), ok);
    put(c, "rto_writable_ms", ms_or_null(x->rto_writable_ms), ok);
    put(c, "rto_healthy_ms", ms_or_null(x->rto_healthy_ms), ok);
    put(c, "rpo_writes", read ? json_integer((json_int_t)x->rpo_writes) : json_null(), ok);
    put(c, "rpo_window_ms", ms_or_null(x->rpo_window_ms), ok);
    put(c, "acked_before_backup", json_integer((json_int_t)x->acked_before), ok);
    put(c, "lost_before_backup", read ? json_integer((json_int_t)x->lost_before) : json_null(),
        ok);
    put(c, "acked_during_backup", json_integer((json_int_t)x->acked_during), ok);
    put(c, "kept_during_backup", read ? json_integer((json_int_t)x->kept_during) : json_null(),
        ok);
    put(c, "lost_during_backup", read ? json_integer((json_int_t)x->lost_during) : json_null(),
        ok);
    put(c, "acked_after_backup", json_integer((json_int_t)x->acked_after), ok);
    put(c, "lost_after_backup", read ? json_integer((json_int_t)x->lost_after) : json_null(),
        ok);
    put(c, "acked_after_restore", json_integer((json_int_t)x->acked_restored), ok);
    put(c, "lost_after_restore",
        read ? json_integer((json_int_t)x->lost_restored) : json_null(), ok);
    put(c, "key_prefix", FIELD_JSON(x->key_prefix, true), ok);
    put(c, "acked_since_backup_seqs", seq_ranges(r, since_backup, ok), ok);
    put(c, "lost_seqs", read ? seq_ranges(r, lost_any, ok) : json_null(), ok);
    put(c, "backup_start_ms", ms_or_null(x->backup_start_ms), ok);
    put(c, "backup_end_ms", ms_or_null(x->backup_end_ms), ok);
    put(c, "kill_end_ms", ms_or_null(x->kill_end_ms), ok);
    put(c, "error", FIELD_JSON(x->error, true), ok);
    return c;
}

/* The planned operation's figures. */
static json_t *planned_json(const drill_record *r, bool *ok)
{
    const drill_planned *x = &r->planned;
    json_t *c = json_object();
    if (!c)
        return NULL;
    put(c, "operation", json_string(x->operation), ok);
    put(c, "outcome", FIELD_JSON(x->outcome, true), ok);
    put(c, "from", FIELD_JSON(x->from, true), ok);
    put(c, "to", FIELD_JSON(x->to, true), ok);
    put(c, "pause_ms", ms_or_null(x->pause_ms), ok);
    put(c, "operation_ms", ms_or_null(x->op_ms), ok);
    put(c, "reason", FIELD_JSON(x->reason, true), ok);
    put(c, "steps", x->steps[0] ? json_string(x->steps) : json_null(), ok);
    return c;
}

/* The scale drill's figures; writers numbered from 1. */
static json_t *scale_json(const drill_record *r, bool *ok)
{
    const drill_scale *x = &r->scale;
    json_t *c = json_object();
    if (!c)
        return NULL;
    put(c, "shards_before", json_integer(x->shards_before), ok);
    put(c, "shards_after", json_integer(x->shards_after), ok);
    put(c, "shards_added", json_integer(x->added), ok);
    put(c, "shards_retiring", json_integer(x->retiring), ok);
    put(c, "slots_to_move", json_integer(x->slots_to_move), ok);
    put(c, "deploy_exit", json_integer(x->deploy_exit), ok);
    put(c, "scale_ms", ms_or_null(x->scale_ms), ok);
    put(c, "writers", json_integer(x->writers), ok);
    put(c, "rate", json_integer(x->rate), ok);
    put(c, "acked_per_s_before", rate_json(x->acked_per_s_before), ok);
    put(c, "acked_per_s_during", rate_json(x->acked_per_s_during), ok);
    put(c, "acked_per_s_after", rate_json(x->acked_per_s_after), ok);
    put(c, "longest_gap_ms", ms_or_null(r->r.write_unavailable_ms), ok);
    put(c, "longest_gap_writer",
        x->longest_gap_writer >= 0 ? json_integer(x->longest_gap_writer + 1) : json_null(), ok);
    put(c, "masters_after", x->masters_after >= 0 ? json_integer(x->masters_after) : json_null(),
        ok);
    put(c, "readback_complete", json_boolean(x->readback_complete), ok);
    return c;
}

/* One object per shard, numbered from 1 as people count them. */
static json_t *shards_json(const drill_record *r, bool *ok)
{
    json_t *a = json_array();
    for (int s = 0; a && s < r->nshards; s++) {
        const drill_shard *x = &r->shards[s];
        json_t *o = json_object();
        if (!o || json_array_append_new(a, o) != 0) {
            *ok = false;
            break;
        }
        put(o, "shard", json_integer(s + 1), ok);
        put(o, "name", FIELD_JSON(x->name, false), ok);
        put(o, "faulted", json_boolean(x->faulted), ok);
        put(o, "master_before", FIELD_JSON(x->master_before, true), ok);
        put(o, "master_after", FIELD_JSON(x->master_after, true), ok);
        put(o, "region_before", FIELD_JSON(x->region_before, true), ok);
        put(o, "region_after", FIELD_JSON(x->region_after, true), ok);
        put(o, "region_planned", FIELD_JSON(x->region_planned, true), ok);
        put(o, "failover_ms", ms_or_null(x->failover_ms), ok);
        put(o, "write_unavailable_ms", ms_or_null(x->write_unavailable_ms), ok);
        put(o, "writes_attempted", json_integer((json_int_t)x->writes_attempted), ok);
        put(o, "writes_acked", json_integer((json_int_t)x->writes_acked), ok);
        put(o, "acked_writes_lost", json_integer((json_int_t)x->acked_writes_lost), ok);
        put(o, "unacked_writes_lost", json_integer((json_int_t)x->unacked_writes_lost), ok);
    }
    if (!a)
        *ok = false;
    return a;
}

json_t *drill_report_json(const drill_record *r)
{
    const drill_result *o = &r->r;
    bool ok = true;
    json_t *j = json_object();
    if (!j)
        return NULL;

    int64_t written = 0, failed = 0, iso_attempted = 0;
    for (int64_t i = 0; i < n_writes(r); i++) {
        const drill_write *w = &r->writes[i];
        if (w->isolated)
            iso_attempted++;
        else if (w->state == DRILL_W_WRITTEN)
            written++;
        else if (w->state == DRILL_W_ERROR)
            failed++;
    }

    put(j, "topology", FIELD_JSON(r->topology, false), &ok);
    put(j, "scenario", FIELD_JSON(r->scenario, false), &ok);
    put(j, "target", FIELD_JSON(r->target, false), &ok);
    put(j, "verdict", json_string(o->pass ? "pass" : "fail"), &ok);
    put(j, "verdict_reason", FIELD_JSON(o->verdict_reason, false), &ok);
    put(j, "leader_before", FIELD_JSON(r->leader_before, true), &ok);
    put(j, "leader_after", FIELD_JSON(r->leader_after, true), &ok);
    put(j, "detect_ms", ms_or_null(o->detect_ms), &ok);
    put(j, "failover_ms", ms_or_null(o->failover_ms), &ok);
    put(j, "write_unavailable_ms", ms_or_null(o->write_unavailable_ms), &ok);
    put(j, "heal_ms", ms_or_null(o->heal_ms), &ok);
    put(j, "writes_attempted", json_integer((json_int_t)o->writes_attempted), &ok);
    put(j, "writes_acked", json_integer((json_int_t)o->writes_acked), &ok);
    put(j, "writes_written", json_integer((json_int_t)written), &ok);
    put(j, "writes_failed", json_integer((json_int_t)failed), &ok);
    put(j, "acked_writes_lost", json_integer((json_int_t)o->acked_writes_lost), &ok);
    put(j, "unacked_writes_lost", json_integer((json_int_t)o->unacked_writes_lost), &ok);
    /* a scale drill does not count resyncs (its new replicas' are the
     * scale's own) */
    put(j, "full_syncs", r->scale.present ? json_null() : json_integer((json_int_t)o->full_syncs),
        &ok);
    put(j, "partial_syncs",
        r->scale.present ? json_null() : json_integer((json_int_t)o->partial_syncs), &ok);
    put(j, "split_brain", json_boolean(o->split_brain), &ok);
    put(j, "healed", json_boolean(o->healed), &ok);
    put(j, "isolated_attempted", json_integer((json_int_t)iso_attempted), &ok);
    put(j, "isolated_accepted", json_integer((json_int_t)o->isolated_accepted), &ok);
    put(j, "isolated_refused_ms", ms_or_null(o->isolated_refused_ms), &ok);

    if (r->nshards > 0 && r->shards)
        put(j, "cluster", cluster_json(r, &ok), &ok);
    if (r->nshards > 0 && r->shards)
        put(j, "shards", shards_json(r, &ok), &ok);
    if (r->scale.present)
        put(j, "scale", scale_json(r, &ok), &ok);
    if (r->host_loss.present)
        put(j, "host_loss", host_loss_json(r, &ok), &ok);
    if (r->planned.present)
        put(j, "planned", planned_json(r, &ok), &ok);
    if (r->total_loss.present)
        put(j, "total_loss", total_loss_json(r, &ok), &ok);

    json_t *marks = json_object();
    if (marks) {
        put(marks, "fault_ms", ms_or_null(r->fault_ms), &ok);
        put(marks, "failover_seen_ms", ms_or_null(r->failover_seen_ms), &ok);
        put(marks, "restore_ms", ms_or_null(r->restore_ms), &ok);
        put(marks, "ready_ms", ms_or_null(r->ready_ms), &ok);
        put(marks, "end_ms", ms_or_null(r->end_ms), &ok);
    }
    put(j, "marks", marks, &ok);

    json_t *tl = json_array();
    ev_key *order = event_order(r);
    if (!order)
        ok = false;
    for (int64_t k = 0; tl && order && k < n_events(r); k++) {
        const drill_event *e = &r->events[order[k].i];
        json_t *ev = json_object();
        if (!ev) {
            ok = false;
            break;
        }
        put(ev, "t_ms", json_integer((json_int_t)e->t_ms), &ok);
        put(ev, "source", e->sentinel >= 0 ? json_integer(e->sentinel) : json_string("drill"),
            &ok);
        put(ev, "event", FIELD_JSON(e->name, false), &ok);
        put(ev, "detail", FIELD_JSON(e->detail, false), &ok);
        if (json_array_append_new(tl, ev) != 0)
            ok = false;
    }
    free(order);
    put(j, "timeline", tl, &ok);

    if (!ok) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* ==== report.txt ======================================================== */

/* One row of the measurement table. */
static void row(sbuf *b, const char *label, const char *value)
{
    sb_printf(b, "  %-50s %s\n", label, value);
}

static void row_count(sbuf *b, const char *label, int64_t v, const char *unit)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "%" PRId64 "%s%s", v, unit[0] ? " " : "", unit);
    row(b, label, buf);
}

static void row_dur(sbuf *b, const char *label, int64_t ms)
{
    char buf[32];
    row(b, label, dur_s(buf, sizeof(buf), ms));
}

/* A mark relative to the fault, "-" when it did not happen. */
static void row_mark(sbuf *b, const char *label, int64_t t, int64_t ref)
{
    char buf[32];
    row(b, label, t < 0 ? "-" : rel_s(buf, sizeof(buf), t, ref));
}

static void text_header(sbuf *b, const drill_record *r)
{
    char f[FIELD_MAX], g[FIELD_MAX], h[FIELD_MAX];
    const drill_result *o = &r->r;
    sb_printf(b, "meridian drill %s on %s (topology %s)\n", CLEAN(f, r->scenario),
              CLEAN(g, r->target), CLEAN(h, r->topology));
    sb_printf(b, "verdict: %s - %s\n", o->pass ? "PASS" : "FAIL",
              o->verdict_reason[0] ? CLEAN(f, o->verdict_reason) : "(no reason given)");
    if (r->leader_before[0] || r->leader_after[0])
        sb_printf(b, "leader:  %s -> %s\n",
                  r->leader_before[0] ? CLEAN(f, r->leader_before) : "?",
                  r->leader_after[0] ? CLEAN(g, r->leader_after) : "?");
}

static void text_measurements(sbuf *b, const drill_record *r)
{
    const drill_result *o = &r->r;
    const int64_t ref = ref_ms(r);
    char buf[64], d[32];

    char label[96];
    sb_puts(b, "\nMEASUREMENTS\n");
    snprintf(label, sizeof(label), "detect        (fault -> first %s)", detect_name(r));
    row_dur(b, label, o->detect_ms);
    snprintf(label, sizeof(label), r->nshards > 0 ? "failover      (fault -> last shard's %s)"
                                                  : "failover      (fault -> first %s)",
             failover_name(r));
    row_dur(b, label, o->failover_ms);
    row_dur(b, r->nshards > 0 ? "unavailable   (longest acked-write gap of a shard)"
                              : "unavailable   (longest gap between acked writes)",
            o->write_unavailable_ms);
    if (r->nshards > 0) {
        row_dur(b, "cluster_state fail (nodes the fault did not hit)", o->cluster_fail_ms);
        row_dur(b, "cluster ok again   (fault -> last fail cleared)", o->cluster_ok_ms);
    }
    row_dur(b, "heal          (restore -> topology back to plan)", o->heal_ms);
    row_count(b, "writes attempted", o->writes_attempted, "writes");
    if (o->writes_attempted > 0) {
        snprintf(buf, sizeof(buf), "%" PRId64 " writes (%.1f %%)", o->writes_acked,
                 100.0 * (double)o->writes_acked / (double)o->writes_attempted);
        row(b, "writes acknowledged (WAIT confirmed)", buf);
    } else {
        row_count(b, "writes acknowledged (WAIT confirmed)", o->writes_acked, "writes");
    }
    row_count(b, "acknowledged writes lost", o->acked_writes_lost, "writes");
    row_count(b, "unacknowledged writes lost", o->unacked_writes_lost, "writes");
    row_count(b, "full syncs", o->full_syncs, "");
    row_count(b, "partial syncs", o->partial_syncs, "");
    row(b, "split brain", o->split_brain ? "YES" : "no");
    row(b, "healed", o->healed ? "yes" : "NO");

    bool isolated = false;
    for (int64_t i = 0; i < n_writes(r) && !isolated; i++)
        isolated = r->writes[i].isolated;
    if (isolated || o->isolated_accepted > 0 || o->isolated_refused_ms >= 0) {
        row_count(b, "isolated leader: writes accepted", o->isolated_accepted, "writes");
        row_dur(b, "isolated leader: fault -> first refusal", o->isolated_refused_ms);
    }

    sb_puts(b, "\nMARKS (seconds from the fault)\n");
    if (r->fault_ms >= 0) {
        snprintf(buf, sizeof(buf), "+0.000 s (%s after the start)",
                 dur_s(d, sizeof(d), r->fault_ms));
        row(b, "fault applied", buf);
    } else {
        row(b, "fault applied", "- (times are from the drill's start)");
    }
    snprintf(label, sizeof(label), "%s seen", failover_name(r));
    row_mark(b, label, r->failover_seen_ms, ref);
    row_mark(b, "fault undone (restore)", r->restore_ms, ref);
    row_mark(b, "topology back to plan (ready)", r->ready_ms, ref);
    row_mark(b, "drill ended", r->end_ms, ref);
}

/* The host-loss drill's replacement, after the usual measurements. */
static void text_host_loss(sbuf *b, const drill_record *r)
{
    const drill_host_loss *x = &r->host_loss;
    char buf[192];
    sb_puts(b, "\nREPLACEMENT (times from the fault)\n");
    snprintf(buf, sizeof(buf), "%s%s (generation %d; agent.replace_after_s %d)",
             x->replaced ? "replaced by " : "NOT replaced",
             x->replaced ? x->spare : "", x->generation, x->replace_after_s);
    row(b, "host", buf);
    row_dur(b, "detect        (fault -> host fenced, +host-lost)", x->detect_ms);
    row_dur(b, "ready         (fault -> spare's nodes restored)", x->ready_ms);
    if (x->leader_bytes >= 0 && x->full_sync_bytes > 0)
        snprintf(buf, sizeof(buf), "%" PRId64 " bytes, %.3f %% of a full sync (%" PRId64
                 " bytes)", x->leader_bytes,
                 (double)x->leader_bytes * 100.0 / (double)x->full_sync_bytes,
                 x->full_sync_bytes);
    else if (x->leader_bytes >= 0)
        snprintf(buf, sizeof(buf), "%" PRId64 " bytes (full sync size unknown)",
                 x->leader_bytes);
    else
        snprintf(buf, sizeof(buf), "-");
    row(b, "sent by the leader to the spare", buf);
    row(b, "layout within the plan's rules", x->layout_ok ? "yes" : "NO");
    snprintf(buf, sizeof(buf), "%s: %s", x->old_host_fenced ? "fenced" : "NOT FENCED",
             x->old_host[0] ? x->old_host : "not seen");
    row(b, "old host back", buf);
}

/* The planned operation, after the usual measurements. */
static void text_planned(sbuf *b, const drill_record *r)
{
    const drill_planned *x = &r->planned;
    char buf[320];
    sb_puts(b, "\nPLANNED OPERATION\n");
    snprintf(buf, sizeof(buf), "%s: %s%s%s", x->operation, x->outcome,
             x->reason[0] ? " - " : "", x->reason);
    row(b, "operation", buf);
    snprintf(buf, sizeof(buf), "%s -> %s", x->from[0] ? x->from : "?", x->to[0] ? x->to : "?");
    row(b, "leader", buf);
    row_dur(b, "writes paused on the old leader", x->pause_ms);
    row_dur(b, "operation took", x->op_ms);
    if (x->steps[0])
        row(b, "steps", x->steps);
}

/* The total-loss drill's backup, kill, restore, RTO and RPO, after the
 * usual measurements. */
static void text_total_loss(sbuf *b, const drill_record *r)
{
    const drill_total_loss *x = &r->total_loss;
    const int64_t ref = ref_ms(r);
    char buf[320], a[32], c[32], e[32];
    bool read = x->write_present != NULL;
    sb_puts(b, "\nTOTAL LOSS (times from the kill)\n");
    if (x->backup_id[0])
        snprintf(buf, sizeof(buf), "%s: %" PRId64 " keys in %s (from %s to %s)", x->backup_id,
                 x->backup_keys, dur_s(a, sizeof(a), x->backup_ms),
                 rel_s(c, sizeof(c), x->backup_start_ms, ref),
                 rel_s(e, sizeof(e), x->backup_end_ms, ref));
    else
        snprintf(buf, sizeof(buf), "FAILED: %s", x->error[0] ? x->error : "-");
    row(b, "backup", buf);
    snprintf(buf, sizeof(buf), "%d of %d redis-server (SIGKILL); sentinels and agents kept "
             "running", x->nodes_killed, x->nodes_total);
    row(b, "nodes killed", buf);
    if (x->restored)
        snprintf(buf, sizeof(buf), "%" PRId64 " keys loaded; writable (a replica linked) after %s, "
                 "done in %s", x->keys_restored, dur_s(a, sizeof(a), x->restore_writable_ms),
                 dur_s(c, sizeof(c), x->restore_ms));
    else
        snprintf(buf, sizeof(buf), "%s%s", x->backup_id[0] ? "FAILED: " : "not run",
                 x->backup_id[0] ? (x->error[0] ? x->error : "-") : "");
    row(b, "restore", buf);
    row_dur(b, "RTO writable  (kill -> first acknowledged write)", x->rto_writable_ms);
    row_dur(b, "RTO healthy   (kill -> status OK)", x->rto_healthy_ms);
    if (read)
        snprintf(buf, sizeof(buf), "%" PRId64 " acknowledged writes lost%s%s", x->rpo_writes,
                 x->rpo_window_ms >= 0 ? ", the first sent " : "",
                 x->rpo_window_ms >= 0 ? dur_s(a, sizeof(a), x->rpo_window_ms) : "");
    else
        snprintf(buf, sizeof(buf), "- (not read back)");
    if (read && x->rpo_window_ms >= 0)
        snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), " before the kill");
    row(b, "RPO           (counted, every write read back)", buf);
#define TL_ROW(label, acked, lost)                                                           \
    do {                                                                                     \
        if (read)                                                                            \
            snprintf(buf, sizeof(buf), "%" PRId64 " acknowledged, %" PRId64 " lost", (acked), \
                     (lost));                                                                \
        else                                                                                 \
            snprintf(buf, sizeof(buf), "%" PRId64 " acknowledged", (acked));                 \
        row(b, label, buf);                                                                  \
    } while (0)
    TL_ROW("writes acknowledged before the backup started", x->acked_before, x->lost_before);
    if (read)
        snprintf(buf, sizeof(buf), "%" PRId64 " acknowledged: %" PRId64 " in the backup, %"
                 PRId64 " lost", x->acked_during, x->kept_during, x->lost_during);
    else
        snprintf(buf, sizeof(buf), "%" PRId64 " acknowledged", x->acked_during);
    row(b, "writes during the backup (either side of its cut)", buf);
    TL_ROW("writes sent after the backup, before the kill", x->acked_after, x->lost_after);
    TL_ROW("writes sent after the kill (restored leader)", x->acked_restored, x->lost_restored);
#undef TL_ROW
    sb_puts(b, "  note: a real total power loss also stops the sentinels and agents; they\n"
               "  start again from their own files (sentinel.conf still names the dead\n"
               "  leader, the agent its manifest) before `meridian restore` can run.\n");
}

/* The scale drill's measurements and marks, in place of the fault's. */
static void text_scale(sbuf *b, const drill_record *r)
{
    const drill_result *o = &r->r;
    const drill_scale *x = &r->scale;
    char buf[96], d[32];
    sb_puts(b, "\nMEASUREMENTS\n");
    snprintf(buf, sizeof(buf), "%d -> %d (%d added, %d retired)", x->shards_before,
             x->shards_after, x->added, x->retiring);
    row(b, "shards", buf);
    row_count(b, "slots to move (the plan diff, before the deploy)", x->slots_to_move, "slots");
    row_dur(b, "scale         (the deploy: start -> exit)", x->scale_ms);
    snprintf(buf, sizeof(buf), "%d (%s)", x->deploy_exit, deploy_meaning(x->deploy_exit));
    row(b, "deploy exit code", buf);
    snprintf(buf, sizeof(buf), "%.1f writes/s (%d asked of %d writers)", x->acked_per_s_before,
             x->rate, x->writers);
    row(b, "acknowledged before the scale", buf);
    snprintf(buf, sizeof(buf), "%.1f writes/s", x->acked_per_s_during);
    row(b, "acknowledged during the scale", buf);
    snprintf(buf, sizeof(buf), "%.1f writes/s", x->acked_per_s_after);
    row(b, "acknowledged after the scale", buf);
    if (x->longest_gap_writer >= 0)
        snprintf(buf, sizeof(buf), "%s (writer %d)", dur_s(d, sizeof(d), o->write_unavailable_ms),
                 x->longest_gap_writer + 1);
    else
        snprintf(buf, sizeof(buf), "-");
    row(b, "unavailable   (longest acked gap of one writer)", buf);
    row_count(b, "writes attempted", o->writes_attempted, "writes");
    row_count(b, "writes acknowledged (WAIT confirmed)", o->writes_acked, "writes");
    row_count(b, "acknowledged writes lost", o->acked_writes_lost, "writes");
    row_count(b, "unacknowledged writes lost", o->unacked_writes_lost, "writes");
    row(b, "every write read back", x->readback_complete ? "yes" : "NO");
    if (x->masters_after >= 0)
        row_count(b, "masters owning slots afterwards", x->masters_after, "");

    sb_puts(b, "\nMARKS (seconds from the scale's start)\n");
    row_mark(b, "every writer acknowledged", x->load_ready_ms, ref_ms(r));
    row_mark(b, "deploy started", r->fault_ms, ref_ms(r));
    row_mark(b, "deploy returned", r->restore_ms, ref_ms(r));
    row_mark(b, "drill ended", r->end_ms, ref_ms(r));
}

/* Cluster mode: one line per shard. */
static void text_shards(sbuf *b, const drill_record *r)
{
    if (r->nshards <= 0 || !r->shards)
        return;
    char f[FIELD_MAX], g[FIELD_MAX], h[FIELD_MAX], k[FIELD_MAX], d1[32], d2[32];
    sb_puts(b, "\nSHARDS\n");
    sb_printf(b, "  %-5s %-24s %-9s %-12s %-34s %s\n", "shard", "master before -> after",
              "failover", "unavailable", "region before -> after (plan)", "acked / lost");
    for (int s = 0; s < r->nshards; s++) {
        const drill_shard *x = &r->shards[s];
        char who[160], where[160];
        snprintf(who, sizeof(who), "%s -> %s", x->master_before[0] ? CLEAN(f, x->master_before) : "?",
                 x->master_after[0] ? CLEAN(g, x->master_after) : "?");
        snprintf(where, sizeof(where), "%s -> %s (%s)",
                 x->region_before[0] ? CLEAN(h, x->region_before) : "?",
                 x->region_after[0] ? CLEAN(k, x->region_after) : "?",
                 x->region_planned[0] ? CLEAN(f, x->region_planned) : "?");
        sb_printf(b, "  %-5d %-24s %-9s %-12s %-34s %" PRId64 " / %" PRId64 "%s\n", s + 1, who,
                  dur_s(d1, sizeof(d1), x->failover_ms),
                  dur_s(d2, sizeof(d2), x->write_unavailable_ms), where, x->writes_acked,
                  x->acked_writes_lost, x->faulted ? "   (faulted)" : "");
    }
}

static void text_timeline(sbuf *b, const drill_record *r, const drill_names *names)
{
    const int64_t ref = ref_ms(r);
    char src[FIELD_MAX], name[FIELD_MAX], detail[FIELD_MAX], t[32];

    sb_printf(b, "\nTIMELINE (seconds from the %s)\n", ref_name(r));
    if (n_events(r) == 0) {
        sb_puts(b, "  (no events recorded)\n");
        return;
    }
    /* Column widths: the longest source and event name. */
    int wsrc = 5, wname = 6;
    for (int64_t i = 0; i < n_events(r); i++) {
        int ls = (int)strlen(source_name(names, r->events[i].sentinel, src));
        int ln = (int)strlen(CLEAN(name, r->events[i].name));
        wsrc = ls > wsrc ? ls : wsrc;
        wname = ln > wname ? ln : wname;
    }
    ev_key *order = event_order(r);
    if (!order) {
        b->oom = true;
        return;
    }
    for (int64_t k = 0; k < n_events(r); k++) {
        const drill_event *e = &r->events[order[k].i];
        sb_printf(b, "  %9s  %-*s  %-*s  %s\n", rel_s(t, sizeof(t), e->t_ms, ref), wsrc,
                  source_name(names, e->sentinel, src), wname, CLEAN(name, e->name),
                  CLEAN(detail, e->detail));
    }
    free(order);
}

static void text_writer(sbuf *b, const drill_record *r, const drill_names *names)
{
    const int64_t ref = ref_ms(r);
    int64_t sent = 0, acked = 0, written = 0, failed = 0;
    int64_t iso = 0, iso_ok = 0;
    int64_t first_t = -1, last_t = -1;
    int maxleader = -1;
    for (int64_t i = 0; i < n_writes(r); i++) {
        const drill_write *w = &r->writes[i];
        if (w->isolated) {
            iso++;
            iso_ok += w->state != DRILL_W_ERROR;
            continue;
        }
        sent++;
        acked += w->state == DRILL_W_ACKED;
        written += w->state == DRILL_W_WRITTEN;
        failed += w->state == DRILL_W_ERROR;
        if (first_t < 0 || w->t_ms < first_t)
            first_t = w->t_ms;
        if (w->t_ms > last_t)
            last_t = w->t_ms;
        if (w->leader > maxleader)
            maxleader = w->leader;
    }
    char a[32], c[32], h[FIELD_MAX];

    sb_puts(b, "\nWRITER\n");
    if (sent == 0) {
        sb_puts(b, "  the main writer sent no write\n");
    } else {
        sb_printf(b,
                  "  main writer: %" PRId64 " writes from %s to %s; %" PRId64
                  " acknowledged, %" PRId64 " written but not confirmed by WAIT, %" PRId64
                  " failed\n",
                  sent, rel_s(a, sizeof(a), first_t, ref), rel_s(c, sizeof(c), last_t, ref),
                  acked, written, failed);
        if (r->fault_ms >= 0) {
            int64_t before = last_ack_before(r, -1), after = first_ack_after(r, -1);
            sb_printf(b, "  last acknowledged write before the %s: %s; first after: %s\n",
                      r->scale.present ? "scale" : "fault",
                      before < 0 ? "none" : rel_s(a, sizeof(a), before, ref),
                      after < 0 ? "none (acknowledgements never resumed)"
                                : rel_s(c, sizeof(c), after, ref));
        }
        /* Writes per leader they were sent to, "none" last. */
        sb_puts(b, "  sent to:");
        const char *sep = " ";
        for (int l = 0; l <= maxleader; l++) {
            int64_t n = 0, nack = 0;
            for (int64_t i = 0; i < n_writes(r); i++) {
                const drill_write *w = &r->writes[i];
                if (!w->isolated && w->leader == l) {
                    n++;
                    nack += w->state == DRILL_W_ACKED;
                }
            }
            if (n == 0)
                continue;
            sb_printf(b, "%s%s %" PRId64 " (%" PRId64 " acknowledged)", sep,
                      node_name(names, l, h), n, nack);
            sep = ", ";
        }
        int64_t none = 0;
        for (int64_t i = 0; i < n_writes(r); i++)
            none += !r->writes[i].isolated && r->writes[i].leader < 0;
        if (none)
            sb_printf(b, "%sno leader known %" PRId64, sep, none);
        sb_puts(b, "\n");
    }
    if (iso > 0) {
        sb_printf(b,
                  "  isolated writer (inside the partition): %" PRId64 " writes, %" PRId64
                  " accepted by the isolated leader; first refusal %s%s\n",
                  iso, iso_ok,
                  r->r.isolated_refused_ms < 0
                      ? "never"
                      : dur_s(a, sizeof(a), r->r.isolated_refused_ms),
                  r->r.isolated_refused_ms < 0 ? "" : " after the fault");
    }
    sb_printf(b, "  lost: %" PRId64 " acknowledged, %" PRId64 " unacknowledged\n",
              r->r.acked_writes_lost, r->r.unacked_writes_lost);
}

char *drill_report_text(const drill_record *r, const drill_names *names)
{
    sbuf b;
    sb_init(&b);
    text_header(&b, r);
    if (r->scale.present)
        text_scale(&b, r);
    else
        text_measurements(&b, r);
    if (r->host_loss.present)
        text_host_loss(&b, r);
    if (r->planned.present)
        text_planned(&b, r);
    if (r->total_loss.present)
        text_total_loss(&b, r);
    text_shards(&b, r);
    text_timeline(&b, r, names);
    text_writer(&b, r, names);
    return sb_finish(&b);
}

/* ==== timeline.svg ====================================================== */

/* Geometry, in SVG user units (px). */
#define SVG_W 960
#define SVG_H 360
#define PX0 64.0  /* plot left */
#define PX1 936.0 /* plot right */
#define PY0 62.0  /* plot top */
#define PY1 278.0 /* plot baseline */
#define LABEL_ROW_H 14.0
#define LABEL_ROWS 5
#define CHAR_W 6.9 /* average width of an 11 px bold sans-serif character */
#define STRIP_H 5.0 /* the failed and isolated strips under the baseline */
#define STRIP_GAP 10.0

/* Colours.  The bars are pale, the markers saturated, so a marker line is
 * never mistaken for a bar. */
#define C_ACKED "#7aa6dc"
#define C_WRITTEN "#f2c14e"
#define C_FAILED "#d62728"
#define C_ISOLATED "#9b59b6"
#define C_FAULT_BG "#fbefef"

typedef struct svg_scale {
    int64_t t_lo, t_hi; /* time domain, ms since the start */
    int64_t ref;        /* 0 on the axis: the fault, else the start */
    bool from_fault;    /* ref is the fault */
    const char *ref_name; /* ref_name() */
    double ymax;        /* writes per bucket at the top of the plot */
} svg_scale;

static double sx(const svg_scale *s, int64_t t)
{
    return PX0 + (PX1 - PX0) * (double)(t - s->t_lo) / (double)(s->t_hi - s->t_lo);
}

static double sy(const svg_scale *s, double v)
{
    return PY1 - (PY1 - PY0) * v / s->ymax;
}

/* The smallest "nice" step (1, 2, 5 x 10^k) with SPAN / step <= MAXN. */
static double nice_step(double span, int maxn)
{
    double step = 1;
    while (span / step > maxn)
        step = step * 10;
    while (step > 1 && span / (step / 10) <= maxn)
        step /= 10;
    if (span / (step / 5) <= maxn && step >= 5)
        return step / 5;
    if (span / (step / 2) <= maxn && step >= 2)
        return step / 2;
    return step;
}

/* One vertical marker. */
typedef struct svg_marker {
    const char *label; /* "fault", "+odown", ... */
    const char *color;
    const char *dash;  /* stroke-dasharray, NULL solid */
    int64_t t;         /* -1: not drawn */
    int64_t event;     /* the event it stands for, -1 none */
    double x;
    int row;           /* label row */
    bool left;         /* label on the line's left */
    char text[64];     /* label text */
} svg_marker;

/* Place each marker's label on the first row where it does not overlap the
 * labels already there, on the right of its line, else on its left. */
static void place_labels(svg_marker *m, int n)
{
    /* The right end of the labels placed on each row so far. */
    double right_end[LABEL_ROWS];
    for (int r = 0; r < LABEL_ROWS; r++)
        right_end[r] = -1e9;
    /* By x, so rows fill from left to right. */
    int idx[8];
    int k = 0;
    for (int i = 0; i < n; i++)
        if (m[i].t >= 0)
            idx[k++] = i;
    for (int a = 1; a < k; a++)
        for (int b2 = a; b2 > 0 && m[idx[b2]].x < m[idx[b2 - 1]].x; b2--) {
            int tmp = idx[b2];
            idx[b2] = idx[b2 - 1];
            idx[b2 - 1] = tmp;
        }
    for (int a = 0; a < k; a++) {
        svg_marker *mk = &m[idx[a]];
        double w = (double)strlen(mk->text) * CHAR_W + 8;
        bool fits_right = mk->x + 2 + w <= PX1;
        mk->row = LABEL_ROWS - 1;
        mk->left = !fits_right;
        for (int r = 0; r < LABEL_ROWS; r++) {
            double from = fits_right ? mk->x + 2 : mk->x - 2 - w;
            if (from > right_end[r]) {
                mk->row = r;
                break;
            }
            /* Right side taken: the left side may still be free. */
            if (fits_right && mk->x - 2 - w > right_end[r] && mk->x - 2 - w >= PX0) {
                mk->row = r;
                mk->left = true;
                break;
            }
        }
        double end = mk->left ? mk->x - 2 : mk->x + 2 + w;
        if (end > right_end[mk->row])
            right_end[mk->row] = end;
    }
}

static void svg_text_event(sbuf *b, const drill_record *r, const drill_event *e,
                           const drill_names *names)
{
    char t[32], src[FIELD_MAX], name[FIELD_MAX], detail[FIELD_MAX];
    sb_puts(b, rel_s(t, sizeof(t), e->t_ms, ref_ms(r)));
    sb_puts(b, "  ");
    sb_xml(b, source_name(names, e->sentinel, src));
    sb_puts(b, "  ");
    sb_xml(b, CLEAN(name, e->name));
    sb_puts(b, "  ");
    sb_xml(b, CLEAN(detail, e->detail));
}

/* "<g><title>" with the marker's name and the event it stands for. */
static void svg_marker_open(sbuf *b, const drill_record *r, const svg_marker *mk,
                            const drill_names *names)
{
    sb_printf(b, "<g><title>%s", mk->label);
    if (mk->event >= 0) {
        sb_puts(b, ": ");
        svg_text_event(b, r, &r->events[mk->event], names);
    }
    sb_puts(b, "</title>\n");
}

static void svg_title(sbuf *b, const drill_record *r)
{
    const drill_result *o = &r->r;
    char f[FIELD_MAX], d[32];
    sb_puts(b, "<text x=\"16\" y=\"24\" font-size=\"15\" font-weight=\"bold\" fill=\"#222\">");
    sb_xml(b, CLEAN(f, r->scenario));
    if (r->target[0]) {
        sb_puts(b, " ");
        sb_xml(b, CLEAN(f, r->target));
    }
    sb_printf(b, "  \xc2\xb7  <tspan fill=\"%s\">%s</tspan>  \xc2\xb7  writes unavailable ",
              o->pass ? "#1a7f37" : "#c62828", o->pass ? "PASS" : "FAIL");
    if (o->write_unavailable_ms >= 0)
        sb_printf(b, "%" PRId64 " ms", o->write_unavailable_ms);
    else
        sb_puts(b, "-");
    sb_puts(b, "</text>\n");

    sb_puts(b, "<text x=\"16\" y=\"42\" font-size=\"11\" fill=\"#555\">topology ");
    sb_xml(b, CLEAN(f, r->topology));
    if (r->scale.present) {
        sb_printf(b, "  \xc2\xb7  %d -> %d shards", r->scale.shards_before,
                  r->scale.shards_after);
        sb_printf(b, "  \xc2\xb7  scale %s", dur_s(d, sizeof(d), r->scale.scale_ms));
        sb_printf(b, "  \xc2\xb7  deploy exit %d", r->scale.deploy_exit);
    } else {
        sb_printf(b, "  \xc2\xb7  detect %s", dur_s(d, sizeof(d), o->detect_ms));
        sb_printf(b, "  \xc2\xb7  failover %s", dur_s(d, sizeof(d), o->failover_ms));
        sb_printf(b, "  \xc2\xb7  heal %s", dur_s(d, sizeof(d), o->heal_ms));
    }
    sb_printf(b, "  \xc2\xb7  %" PRId64 " of %" PRId64 " writes acknowledged", o->writes_acked,
              o->writes_attempted);
    sb_printf(b, "  \xc2\xb7  %" PRId64 " acknowledged lost", o->acked_writes_lost);
    if (o->split_brain)
        sb_puts(b, "  \xc2\xb7  SPLIT BRAIN");
    sb_puts(b, "</text>\n");
}

/* Stacked bars, failed-write and isolated strips, from per-bucket counts. */
static void svg_bars(sbuf *b, const svg_scale *s, const int64_t *acked, const int64_t *written,
                     const int64_t *failed, const int64_t *isolated, int64_t nb)
{
    const double bw = (PX1 - PX0) * BUCKET_MS / (double)(s->t_hi - s->t_lo);
    const double pad = bw > 3 ? 0.6 : 0;
    for (int64_t i = 0; i < nb; i++) {
        double x = sx(s, s->t_lo + i * BUCKET_MS);
        double ya = sy(s, (double)acked[i]);
        double yw = sy(s, (double)(acked[i] + written[i]));
        if (acked[i] > 0)
            sb_printf(b,
                      "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" "
                      "fill=\"" C_ACKED "\"/>\n",
                      x, ya, bw - pad, PY1 - ya);
        if (written[i] > 0)
            sb_printf(b,
                      "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" "
                      "fill=\"" C_WRITTEN "\"/>\n",
                      x, yw, bw - pad, ya - yw);
        if (failed[i] > 0)
            sb_printf(b,
                      "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.2f\" height=\"%.0f\" "
                      "fill=\"" C_FAILED "\"/>\n",
                      x, PY1 + 3, bw, STRIP_H);
        if (isolated && isolated[i] > 0)
            sb_printf(b,
                      "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.2f\" height=\"%.0f\" "
                      "fill=\"" C_ISOLATED "\"/>\n",
                      x, PY1 + 3 + STRIP_GAP, bw, STRIP_H);
    }
}

static void svg_axes(sbuf *b, const svg_scale *s, bool has_isolated)
{
    /* y: grid lines and labels. */
    double ystep = nice_step(s->ymax, 5);
    for (double v = 0; v <= s->ymax + 1e-9; v += ystep) {
        double y = sy(s, v);
        sb_printf(b,
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                  "stroke-width=\"1\"/>\n",
                  PX0, y, PX1, y, v == 0 ? "#888" : "#e4e4e4");
        sb_printf(b,
                  "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" fill=\"#555\" "
                  "text-anchor=\"end\">%g</text>\n",
                  PX0 - 6, y + 3.5, v);
    }
    sb_printf(b,
              "<text transform=\"translate(18 %.1f) rotate(-90)\" font-size=\"11\" "
              "fill=\"#555\" text-anchor=\"middle\">writes / 100 ms</text>\n",
              (PY0 + PY1) / 2);

    /* The strips' names, left of them. */
    sb_printf(b,
              "<text x=\"%.1f\" y=\"%.1f\" font-size=\"9\" fill=\"" C_FAILED
              "\" text-anchor=\"end\">failed</text>\n",
              PX0 - 4, PY1 + 3 + STRIP_H + 0.5);
    if (has_isolated)
        sb_printf(b,
                  "<text x=\"%.1f\" y=\"%.1f\" font-size=\"9\" fill=\"" C_ISOLATED
                  "\" text-anchor=\"end\">isolated</text>\n",
                  PX0 - 4, PY1 + 3 + STRIP_GAP + STRIP_H + 0.5);

    /* x: ticks every nice number of seconds from the fault. */
    double span_s = (double)(s->t_hi - s->t_lo) / 1000.0;
    double step_s = nice_step(span_s, 16);
    if (step_s < 0.1)
        step_s = 0.1;
    int64_t step = (int64_t)(step_s * 1000 + 0.5);
    int64_t first = s->ref - ((s->ref - s->t_lo) / step) * step;
    const double ty = PY1 + 6 + STRIP_H + (has_isolated ? STRIP_GAP : 0);
    for (int64_t t = first; t <= s->t_hi; t += step) {
        double x = sx(s, t);
        int64_t rel = t - s->ref;
        char lab[32];
        if (step < 1000)
            snprintf(lab, sizeof(lab), "%s%.1f", rel > 0 ? "+" : "", (double)rel / 1000.0);
        else
            snprintf(lab, sizeof(lab), "%s%" PRId64, rel > 0 ? "+" : "", rel / 1000);
        sb_printf(b,
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888\"/>\n",
                  x, ty, x, ty + 4);
        sb_printf(b,
                  "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" fill=\"#555\" "
                  "text-anchor=\"middle\">%s</text>\n",
                  x, ty + 15, lab);
    }
    sb_printf(b,
              "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" fill=\"#555\" "
              "text-anchor=\"middle\">seconds from the %s</text>\n",
              (PX0 + PX1) / 2, ty + 30, s->ref_name);
}

static void svg_legend(sbuf *b, bool has_isolated)
{
    struct {
        const char *color, *text;
    } items[] = {
        {C_ACKED, "acknowledged (WAIT confirmed)"},
        {C_WRITTEN, "written, not acknowledged"},
        {C_FAILED, "failed"},
        {C_ISOLATED, "accepted by the isolated leader"},
        {"#888", "timeline event (hover for detail)"},
    };
    double x = PX0;
    const double y = SVG_H - 10;
    for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
        if (i == 3 && !has_isolated)
            continue;
        if (i == 4)
            sb_printf(b,
                      "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                      "stroke-width=\"1.5\"/>\n",
                      x + 5, y - 9, x + 5, y + 1, items[i].color);
        else
            sb_printf(b,
                      "<rect x=\"%.1f\" y=\"%.1f\" width=\"10\" height=\"10\" "
                      "fill=\"%s\"/>\n",
                      x, y - 9, items[i].color);
        sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" fill=\"#444\">%s</text>\n",
                  x + 14, y, items[i].text);
        x += 14 + (double)strlen(items[i].text) * 5.6 + 18;
    }
}

char *drill_report_svg(const drill_record *r, const drill_names *names)
{
    const drill_result *o = &r->r;
    sbuf b;
    sb_init(&b);
    char f[FIELD_MAX];

    /* The time domain: from the start to the end, whichever is later of
     * end_ms, the last write, the last event and the marks. */
    svg_scale s = {.t_lo = 0, .t_hi = r->end_ms, .ref = ref_ms(r),
                   .from_fault = r->fault_ms >= 0, .ref_name = ref_name(r), .ymax = 1};
    for (int64_t i = 0; i < n_writes(r); i++)
        if (r->writes[i].t_ms + BUCKET_MS > s.t_hi)
            s.t_hi = r->writes[i].t_ms + BUCKET_MS;
    for (int64_t i = 0; i < n_events(r); i++)
        if (r->events[i].t_ms > s.t_hi)
            s.t_hi = r->events[i].t_ms;
    const int64_t marks[] = {r->fault_ms, r->failover_seen_ms, r->restore_ms, r->ready_ms};
    for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
        if (marks[i] > s.t_hi)
            s.t_hi = marks[i];
    if (s.t_hi <= s.t_lo)
        s.t_hi = s.t_lo + 1000;

    /* Writes per bucket. */
    int64_t nb = (s.t_hi - s.t_lo + BUCKET_MS - 1) / BUCKET_MS;
    int64_t *cnt = calloc((size_t)nb * 4, sizeof(*cnt));
    if (!cnt)
        return NULL;
    int64_t *acked = cnt, *written = cnt + nb, *failed = cnt + 2 * nb, *isolated = cnt + 3 * nb;
    bool has_isolated = false;
    for (int64_t i = 0; i < n_writes(r); i++) {
        const drill_write *w = &r->writes[i];
        if (w->t_ms < s.t_lo)
            continue;
        int64_t k = (w->t_ms - s.t_lo) / BUCKET_MS;
        if (k >= nb)
            continue;
        if (w->isolated) {
            has_isolated = true;
            isolated[k] += w->state != DRILL_W_ERROR;
        } else if (w->state == DRILL_W_ACKED) {
            acked[k]++;
        } else if (w->state == DRILL_W_WRITTEN) {
            written[k]++;
        } else {
            failed[k]++;
        }
    }
    double top = 0;
    for (int64_t i = 0; i < nb; i++)
        if ((double)(acked[i] + written[i]) > top)
            top = (double)(acked[i] + written[i]);
    /* Headroom: the marker labels sit in the top third. */
    double want = top * 1.5 > 1 ? top * 1.5 : 1;
    double ystep = nice_step(want, 5);
    s.ymax = ystep;
    while (s.ymax < want)
        s.ymax += ystep;

    /* The markers. */
    int64_t from = r->fault_ms;
    svg_marker m[5] = {
        {.label = r->scale.present ? "scale" : "fault", .color = "#111111", .t = r->fault_ms,
         .event = -1},
        {.label = detect_name(r), .color = "#e4572e", .dash = "5 3",
         .event = first_event(r, detect_name(r), from)},
        {.label = failover_name(r), .color = "#6a3d9a",
         .event = first_event(r, failover_name(r), from)},
        {.label = r->scale.present ? "deployed" : "restore", .color = "#0e8a7e", .dash = "2 2",
         .t = r->restore_ms,
         .event = -1},
        {.label = "ready", .color = "#2e7d32", .t = r->ready_ms, .event = -1},
    };
    m[1].t = m[1].event >= 0 ? r->events[m[1].event].t_ms : -1;
    m[2].t = m[2].event >= 0 ? r->events[m[2].event].t_ms : r->failover_seen_ms;
    if (r->total_loss.present) { /* no failover: the first write acknowledged again */
        m[2] = (svg_marker){.label = "writable", .color = "#6a3d9a", .event = -1,
                            .t = r->total_loss.rto_writable_ms >= 0
                                     ? r->fault_ms + r->total_loss.rto_writable_ms
                                     : -1};
    }
    for (int i = 0; i < 5; i++) {
        char rel[32];
        if (m[i].t < 0)
            continue;
        m[i].x = sx(&s, m[i].t);
        if (i == 0) /* the fault is +0.000 s by definition */
            snprintf(m[i].text, sizeof(m[i].text), "%s", m[i].label);
        else
            snprintf(m[i].text, sizeof(m[i].text), "%s %s", m[i].label,
                     rel_s(rel, sizeof(rel), m[i].t, s.ref));
    }
    place_labels(m, 5);

    sb_printf(&b,
              "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
              "viewBox=\"0 0 %d %d\" font-family=\"DejaVu Sans, Helvetica, Arial, "
              "sans-serif\">\n",
              SVG_W, SVG_H, SVG_W, SVG_H);
    sb_puts(&b, "<title>meridian drill ");
    sb_xml(&b, CLEAN(f, r->scenario));
    sb_puts(&b, " ");
    sb_xml(&b, CLEAN(f, r->target));
    sb_printf(&b, ": %s</title>\n", o->pass ? "pass" : "fail");
    sb_printf(&b, "<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", SVG_W, SVG_H);
    svg_title(&b, r);

    /* The fault window, shaded behind the bars. */
    if (r->fault_ms >= 0) {
        int64_t until = r->restore_ms >= r->fault_ms ? r->restore_ms : s.t_hi;
        sb_printf(&b,
                  "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                  "fill=\"" C_FAULT_BG "\"/>\n",
                  sx(&s, r->fault_ms), PY0, sx(&s, until) - sx(&s, r->fault_ms), PY1 - PY0);
    }
    svg_axes(&b, &s, has_isolated);
    svg_bars(&b, &s, acked, written, failed, has_isolated ? isolated : NULL, nb);
    free(cnt);

    /* Timeline events: ticks above the plot, the event as tooltip. */
    for (int64_t i = 0; i < n_events(r); i++) {
        const drill_event *e = &r->events[i];
        if (e->t_ms < s.t_lo || e->t_ms > s.t_hi)
            continue;
        double x = sx(&s, e->t_ms);
        sb_printf(&b,
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888\" "
                  "stroke-width=\"1.5\"><title>",
                  x, PY0 - 8, x, PY0 - 1);
        svg_text_event(&b, r, e, names);
        sb_puts(&b, "</title></line>\n");
    }

    /* Markers: every line first, then every label beside its line on a
     * white background, so no line ever crosses a label. */
    for (int i = 0; i < 5; i++) {
        const svg_marker *mk = &m[i];
        if (mk->t < 0)
            continue;
        svg_marker_open(&b, r, mk, names);
        sb_printf(&b,
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                  "stroke-width=\"%s\"%s%s%s/>\n</g>\n",
                  mk->x, PY0, mk->x, PY1, mk->color, i == 0 ? "2.5" : "1.8",
                  mk->dash ? " stroke-dasharray=\"" : "", mk->dash ? mk->dash : "",
                  mk->dash ? "\"" : "");
    }
    for (int i = 0; i < 5; i++) {
        const svg_marker *mk = &m[i];
        if (mk->t < 0)
            continue;
        double w = (double)strlen(mk->text) * CHAR_W + 6;
        double ly = PY0 + 4 + LABEL_ROW_H * mk->row;
        double lx = mk->left ? mk->x - 2 - w : mk->x + 2;
        svg_marker_open(&b, r, mk, names);
        sb_printf(&b,
                  "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" rx=\"2\" "
                  "fill=\"#ffffff\" fill-opacity=\"0.9\"/>\n",
                  lx, ly, w, LABEL_ROW_H - 2);
        sb_printf(&b,
                  "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" font-weight=\"bold\" "
                  "fill=\"%s\">",
                  lx + 3, ly + LABEL_ROW_H - 5, mk->color);
        sb_xml(&b, mk->text);
        sb_puts(&b, "</text>\n</g>\n");
    }
    svg_legend(&b, has_isolated);
    sb_puts(&b, "</svg>\n");
    return sb_finish(&b);
}

/* ==== writing ========================================================== */

static mrd_rc write_one(const char *dir, const char *file, const char *data, mrd_error *err)
{
    char path[4096];
    if (mrd_path_fmt(path, sizeof(path), "%s/%s", dir, file) != MRD_OK)
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "the report folder's path is too long: %s", dir);
    return mrd_write_atomic(path, data, strlen(data), 0644, err);
}

mrd_rc drill_report_write(const char *dir, const drill_record *r, const drill_names *names,
                          mrd_error *err)
{
    MRD_TRY(mrd_mkdir_p(dir, 0755, err));

    json_t *j = drill_report_json(r);
    char *dumped = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(j);
    sbuf b;
    sb_init(&b);
    if (dumped) {
        sb_puts(&b, dumped);
        sb_puts(&b, "\n");
        free(dumped);
    }
    char *json = dumped ? sb_finish(&b) : NULL;
    if (!json)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory building report.json");
    mrd_rc rc = write_one(dir, "report.json", json, err);
    free(json);
    if (rc != MRD_OK)
        return rc;

    char *txt = drill_report_text(r, names);
    if (!txt)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory building report.txt");
    rc = write_one(dir, "report.txt", txt, err);
    free(txt);
    if (rc != MRD_OK)
        return rc;

    char *svg = drill_report_svg(r, names);
    if (!svg)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory building timeline.svg");
    rc = write_one(dir, "timeline.svg", svg, err);
    free(svg);
    return rc;
}

mrd_rc drill_report_publish(drill_record *r, int wait_replicas, const drill_names *names,
                            const char *out_dir, bool json, mrd_error *err)
{
    drill_result_compute(r, wait_replicas);
    mrd_rc rc = out_dir ? drill_report_write(out_dir, r, names, err) : MRD_OK;
    if (json) {
        json_t *j = drill_report_json(r);
        char *s = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
        if (s)
            printf("%s\n", s);
        free(s);
        json_decref(j);
    } else {
        char *text = drill_report_text(r, names);
        if (text)
            fputs(text, stdout);
        free(text);
    }
    return rc;
}
