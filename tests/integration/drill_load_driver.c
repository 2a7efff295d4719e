/* drill_load_driver - run the drill load (orchestrator/drill/drill_load.h)
 * against a real deployment, for integration.drill_load and by hand.
 *
 *   drill_load_driver run --master NAME --nodes A:P,... --sentinels A:P,...
 *       --app-pass-file F --admin-pass-file F [--duration-ms N] [--rate N]
 *       [--wait-replicas N] [--wait-timeout-ms N] [--prefix P]
 *       [--ready-file F] [--writes F] [--events F]
 *       [--source ADDR --fixed A:P]
 *
 *   drill_load_driver whoami --source ADDR --target A:P --user U --pass-file F
 *
 * run: starts the timeline (admin on every sentinel) and the writer (app),
 * creates READY-FILE once the first write is acknowledged, stops both
 * after DURATION-MS, asks the sentinels for the leader and reads every
 * written key back from it.  Host indices are positions in --nodes; a
 * sentinel's host is the node with its address.  With --source and
 * --fixed the writer is the isolated probe writer (no read-back).  Prints
 * one line of key=value facts on stdout (see the end of cmd_run); --writes
 * and --events get one record per line, tab-separated.
 *
 * whoami: connects from ADDR with store_conn_open_from() and prints the
 * server's CLIENT INFO line (its addr= is the source the server saw).
 *
 * Passwords come from files, never argv.  Exit 0 when it ran, 1 on an
 * error (sentence on stderr), 64 on bad usage. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "drill_load.h"
#include "fsutil.h"
#include "log.h"
#include "sentinel.h"

#define MAX_TARGETS 32

static int usage(void)
{
    fprintf(stderr, "usage: drill_load_driver run --master NAME --nodes A:P,... "
                    "--sentinels A:P,... --app-pass-file F --admin-pass-file F [...]\n"
                    "       drill_load_driver whoami --source ADDR --target A:P --user U "
                    "--pass-file F\n");
    return 64;
}

static long number(const char *s, long lo, long hi)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    return (end == s || *end != '\0' || errno != 0 || v < lo || v > hi) ? -1 : v;
}

/* "A:P,A:P" into T (addresses point into the strdup'ed BUF). */
static int parse_targets(const char *list, char **buf, drill_target *t, int max)
{
    *buf = strdup(list);
    if (!*buf)
        return -1;
    int n = 0;
    for (char *item = *buf; item && *item;) {
        char *comma = strchr(item, ',');
        if (comma)
            *comma = '\0';
        char *colon = strrchr(item, ':');
        if (!colon || n == max)
            return -1;
        *colon = '\0';
        long port = number(colon + 1, 1, 65535);
        if (port < 0)
            return -1;
        t[n] = (drill_target){.address = item, .port = (int)port, .index = n};
        n++;
        item = comma ? comma + 1 : NULL;
    }
    return n;
}

static char *read_secret(const char *path)
{
    char *s = NULL;
    size_t len = 0;
    mrd_error err;
    if (mrd_read_file(path, 4096, &s, &len, &err) != MRD_OK) {
        fprintf(stderr, "drill_load_driver: %s\n", err.msg);
        return NULL;
    }
    while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r'))
        s[--len] = '\0';
    return s;
}

static void free_secret(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

typedef struct run_args {
    const char *master, *nodes, *sentinels, *app_file, *admin_file, *prefix;
    const char *ready_file, *writes_file, *events_file, *source, *fixed;
    const char *target, *user, *pass_file; /* whoami */
    long duration_ms, rate, wait_replicas, wait_timeout_ms;
} run_args;

static const char *const STATE_NAMES[] = {"error", "written", "acked"};

/* Facts about the writes, for the summary line. */
typedef struct facts {
    int64_t max_ack_gap_ms;     /* longest gap between acknowledged writes */
    int64_t gap_start_ms;       /* where it began */
    int leaders[MAX_TARGETS];   /* distinct hosts of acked writes, in order */
    int nleaders;
    int64_t first_ack_on_last_leader_ms;
    int64_t isolated;
} facts;

static void write_facts(const drill_write *w, int64_t n, facts *f)
{
    memset(f, 0, sizeof(*f));
    f->first_ack_on_last_leader_ms = -1;
    int64_t last_ack = -1;
    for (int64_t i = 0; i < n; i++) {
        f->isolated += w[i].isolated;
        if (w[i].state != DRILL_W_ACKED)
            continue;
        if (last_ack >= 0 && w[i].t_ms - last_ack > f->max_ack_gap_ms) {
            f->max_ack_gap_ms = w[i].t_ms - last_ack;
            f->gap_start_ms = last_ack;
        }
        last_ack = w[i].t_ms;
        if (f->nleaders == 0 || f->leaders[f->nleaders - 1] != w[i].leader) {
            if (f->nleaders < MAX_TARGETS)
                f->leaders[f->nleaders++] = w[i].leader;
            f->first_ack_on_last_leader_ms = w[i].t_ms;
        }
    }
}

static void dump_writes(const char *path, const drill_write *w, int64_t n)
{
    FILE *f = path ? fopen(path, "w") : NULL;
    if (!f)
        return;
    for (int64_t i = 0; i < n; i++)
        fprintf(f, "%" PRId64 "\t%" PRId64 "\t%d\t%s\t%d\n", w[i].t_ms, w[i].seq, w[i].leader,
                STATE_NAMES[w[i].state < 3 ? w[i].state : 0], w[i].isolated);
    fclose(f);
}

static void dump_events(const char *path, const drill_event *e, int64_t n)
{
    FILE *f = path ? fopen(path, "w") : NULL;
    if (!f)
        return;
    for (int64_t i = 0; i < n; i++)
        fprintf(f, "%" PRId64 "\t%d\t%s\t%s\n", e[i].t_ms, e[i].sentinel, e[i].name,
                e[i].detail);
    fclose(f);
}

static int64_t first_event(const drill_event *e, int64_t n, const char *name,
                           const char *detail_prefix)
{
    for (int64_t i = 0; i < n; i++)
        if (strcmp(e[i].name, name) == 0 &&
            (!detail_prefix || strncmp(e[i].detail, detail_prefix, strlen(detail_prefix)) == 0))
            return e[i].t_ms;
    return -1;
}

/* The leader as a majority-free client sees it: the first sentinel that
 * answers. */
static int find_leader(const drill_target *s, int ns, const char *master, const char *pass,
                       char *ip, size_t n, int *port)
{
    for (int i = 0; i < ns; i++) {
        store_conn *c = NULL;
        mrd_error err;
        mrd_rc rc = store_conn_open(s[i].address, s[i].port, "admin", pass, 1000, &c, &err);
        if (rc == MRD_OK)
            rc = sentinel_master_addr(c, master, ip, n, port, &err);
        store_conn_close(&c);
        if (rc == MRD_OK)
            return 0;
    }
    return -1;
}

static int cmd_run(const run_args *a)
{
    drill_target nodes[MAX_TARGETS], sentinels[MAX_TARGETS];
    char *nbuf = NULL, *sbuf = NULL;
    int nn = parse_targets(a->nodes, &nbuf, nodes, MAX_TARGETS);
    int ns = parse_targets(a->sentinels, &sbuf, sentinels, MAX_TARGETS);
    if (nn < 1 || ns < 1) {
        free(nbuf);
        free(sbuf);
        return usage();
    }
    for (int i = 0; i < ns; i++)
        for (int k = 0; k < nn; k++)
            if (strcmp(sentinels[i].address, nodes[k].address) == 0)
                sentinels[i].index = nodes[k].index;
    char *app = read_secret(a->app_file), *admin = read_secret(a->admin_file);
    drill_target fixed = {0};
    char *fbuf = NULL;
    if (a->fixed && parse_targets(a->fixed, &fbuf, &fixed, 1) != 1) {
        free_secret(app);
        free_secret(admin);
        return usage();
    }
    int rc = 1;
    drill_timeline *tl = NULL;
    drill_load *w = NULL;
    drill_write *writes = NULL;
    drill_event *events = NULL;
    int64_t nw = 0, ne = 0;
    mrd_error err;
    mrd_error_clear(&err);
    if (!app || !admin)
        goto out;

    int64_t t0 = mrd_now_ms();
    long long t0_wall = mrd_wall_ms();
    drill_timeline_opts to = {.t0_ms = t0, .sentinels = sentinels, .nsentinels = ns,
                              .user = "admin", .pass = admin};
    if (drill_timeline_start(&to, &tl, &err) != MRD_OK) {
        fprintf(stderr, "drill_load_driver: %s\n", err.msg);
        goto out;
    }
    int subscribed = drill_timeline_subscribed(tl);
    drill_load_opts wo = {.t0_ms = t0,
                          .master = a->master,
                          .sentinels = sentinels,
                          .nsentinels = ns,
                          .nodes = nodes,
                          .nnodes = nn,
                          .user = "app",
                          .pass = app,
                          .prefix = a->prefix,
                          .rate = (int)a->rate,
                          .wait_replicas = (int)a->wait_replicas,
                          .wait_timeout_ms = (int)a->wait_timeout_ms,
                          .source_address = a->source,
                          .fixed_address = a->fixed ? fixed.address : NULL,
                          .fixed_port = fixed.port};
    if (drill_load_start(&wo, &w, &err) != MRD_OK) {
        fprintf(stderr, "drill_load_driver: %s\n", err.msg);
        goto out;
    }
    int64_t start_ms = mrd_now_ms() - t0;
    bool ready = false;
    while (mrd_now_ms() - t0 < a->duration_ms) {
        drill_load_progress p;
        drill_load_get_progress(w, &p);
        if (!ready && p.acked > 0 && a->ready_file) {
            FILE *f = fopen(a->ready_file, "w");
            if (f)
                fclose(f);
            ready = true;
        }
        mrd_sleep_ms(10);
    }
    int64_t stop_ms = mrd_now_ms() - t0;
    drill_load_stop(w);
    drill_timeline_stop(tl);
    int64_t joined_ms = mrd_now_ms() - t0 - stop_ms;
    if (drill_load_writes(w, &writes, &nw, &err) != MRD_OK ||
        drill_timeline_events(tl, &events, &ne, &err) != MRD_OK) {
        fprintf(stderr, "drill_load_driver: %s\n", err.msg);
        goto out;
    }
    dump_writes(a->writes_file, writes, nw);
    dump_events(a->events_file, events, ne);
    drill_load_progress p;
    drill_load_get_progress(w, &p);
    facts f;
    write_facts(writes, nw, &f);
    char leaders[256] = "";
    for (int i = 0, len = 0; i < f.nleaders; i++)
        len += snprintf(leaders + len, sizeof(leaders) - (size_t)len, "%s%d", i ? "," : "",
                        f.leaders[i]);
    double secs = (double)(stop_ms - start_ms) / 1000.0;
    char master_prefix[128];
    snprintf(master_prefix, sizeof(master_prefix), "master %s ", a->master);

    /* read back from the leader the sentinels name now */
    drill_verify_result v = {0};
    char ip[64] = "";
    int port = 0, vhost = -1;
    const char *verified = "skipped";
    if (!a->source) {
        if (find_leader(sentinels, ns, a->master, admin, ip, sizeof(ip), &port) != 0) {
            fprintf(stderr, "drill_load_driver: no sentinel names a leader\n");
            goto out;
        }
        vhost = drill_load_index_of(nodes, nn, ip, port);
        if (drill_load_verify(ip, port, "admin", admin, a->prefix, writes, nw, 2000, &v,
                              &err) != MRD_OK) {
            fprintf(stderr, "drill_load_driver: %s\n", err.msg);
            goto out;
        }
        verified = "yes";
    }
    printf("t0_wall_ms=%lld subscribed=%d attempted=%" PRId64 " acked=%" PRId64
           " written=%" PRId64 " errors=%" PRId64 " isolated=%" PRId64
           " rate=%.1f leaders=%s max_ack_gap_ms=%" PRId64 " gap_start_ms=%" PRId64
           " first_ack_on_last_leader_ms=%" PRId64 " sdown_ms=%" PRId64
           " odown_ms=%" PRId64 " switch_master_ms=%" PRId64 " events=%" PRId64
           " verified=%s verify_leader=%d checked=%" PRId64 " acked_lost=%" PRId64
           " unacked_lost=%" PRId64 " errors_present=%" PRId64 " start_ms=%" PRId64
           " stop_join_ms=%" PRId64 "\n",
           t0_wall, subscribed, p.attempted, p.acked, p.written, p.errors, f.isolated,
           secs > 0 ? (double)p.attempted / secs : 0.0, leaders[0] ? leaders : "-",
           f.max_ack_gap_ms, f.gap_start_ms, f.first_ack_on_last_leader_ms,
           first_event(events, ne, "+sdown", master_prefix),
           first_event(events, ne, "+odown", master_prefix),
           first_event(events, ne, "+switch-master", NULL), ne, verified, vhost, v.checked,
           v.acked_writes_lost, v.unacked_writes_lost, v.errors_present, start_ms, joined_ms);
    rc = 0;
out:
    drill_load_free(&w);
    drill_timeline_free(&tl);
    free(writes);
    free(events);
    free_secret(app);
    free_secret(admin);
    free(nbuf);
    free(sbuf);
    free(fbuf);
    return rc;
}

static int cmd_whoami(const char *source, const char *target, const char *user,
                      const char *pass_file)
{
    drill_target t;
    char *buf = NULL;
    if (parse_targets(target, &buf, &t, 1) != 1) {
        free(buf);
        return usage();
    }
    char *pass = read_secret(pass_file);
    int rc = 1;
    store_conn *c = NULL;
    char *info = NULL;
    mrd_error err;
    mrd_error_clear(&err);
    if (pass && store_conn_open_from(t.address, t.port, source, user, pass, 1000, &c, &err) ==
                    MRD_OK &&
        store_cmdl(c, &info, &err, "CLIENT", "INFO", NULL) == MRD_OK) {
        printf("%s", info ? info : "");
        rc = 0;
    } else if (pass) {
        fprintf(stderr, "drill_load_driver: %s\n", err.msg);
    }
    free(info);
    store_conn_close(&c);
    free_secret(pass);
    free(buf);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    mrd_log_init("drill_load_driver", NULL, MRD_LOG_INFO);
    run_args a = {.prefix = "drill", .duration_ms = 6000, .rate = 200, .wait_replicas = 1,
                  .wait_timeout_ms = 500};
    for (int i = 2; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return usage();
        i++;
        long *num = NULL;
        if (!strcmp(k, "--master"))
            a.master = v;
        else if (!strcmp(k, "--nodes"))
            a.nodes = v;
        else if (!strcmp(k, "--sentinels"))
            a.sentinels = v;
        else if (!strcmp(k, "--app-pass-file"))
            a.app_file = v;
        else if (!strcmp(k, "--admin-pass-file"))
            a.admin_file = v;
        else if (!strcmp(k, "--prefix"))
            a.prefix = v;
        else if (!strcmp(k, "--ready-file"))
            a.ready_file = v;
        else if (!strcmp(k, "--writes"))
            a.writes_file = v;
        else if (!strcmp(k, "--events"))
            a.events_file = v;
        else if (!strcmp(k, "--source"))
            a.source = v;
        else if (!strcmp(k, "--fixed"))
            a.fixed = v;
        else if (!strcmp(k, "--target"))
            a.target = v;
        else if (!strcmp(k, "--user"))
            a.user = v;
        else if (!strcmp(k, "--pass-file"))
            a.pass_file = v;
        else if (!strcmp(k, "--duration-ms"))
            num = &a.duration_ms;
        else if (!strcmp(k, "--rate"))
            num = &a.rate;
        else if (!strcmp(k, "--wait-replicas"))
            num = &a.wait_replicas;
        else if (!strcmp(k, "--wait-timeout-ms"))
            num = &a.wait_timeout_ms;
        else
            return usage();
        if (num && (*num = number(v, 0, 3600000)) < 0)
            return usage();
    }
    if (!strcmp(argv[1], "whoami")) {
        if (!a.source || !a.target || !a.user || !a.pass_file)
            return usage();
        return cmd_whoami(a.source, a.target, a.user, a.pass_file);
    }
    if (strcmp(argv[1], "run") != 0 || !a.master || !a.nodes || !a.sentinels ||
        !a.app_file || !a.admin_file || (a.source && !a.fixed) || a.rate < 1)
        return usage();
    return cmd_run(&a);
}
