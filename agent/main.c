/* meridian-agent - supervises the Redis processes of one host.
 *
 *   meridian-agent run   --manifest FILE [--daemon]
 *                                         start the host's nodes, serve the
 *                                         API, heal in a loop
 *   meridian-agent check --manifest FILE [--heal] [--json]
 *                                         one pass (cron mode)
 *   meridian-agent stop  --manifest FILE  stop the agent and its nodes
 *   meridian-agent alive --manifest FILE  exit 0 when the agent runs
 *   meridian-agent fault --manifest FILE --kill LIST [--wipe-data]
 *                                         a drill's fault on this host
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api.h"
#include "certs.h"
#include "conn.h"
#include "events.h"
#include "fence.h"
#include "hold.h"
#include "fsutil.h"
#include "heal.h"
#include "log.h"
#include "proc.h"
#include "retire.h"
#include "supervise.h"

#define EXIT_USAGE 64
#define STOP_TIMEOUT_MS 5000
#define PEER_WAIT_MS 5000  /* before starting a fresh replica, see sv_wait_master() */
#define CLUSTER_PEEK_MS 1000 /* asking the shard's peers whether a cluster exists */
#define CHECK_LOCK_WAIT_MS 5000 /* check waits this long for a running pass */
#define API_LOCK_WAIT_MS 2000   /* POST /v1/heal waits this long, then 409 */
#define RESTART_LOCK_WAIT_MS 10000 /* POST /v1/restart waits this long, then 503 */
#define EVENTS_FLUSH_MS 1000
#define WATCH_PERIOD_MS 10 /* how often the loop looks for a dead child */
/* While the host is not ready (or the last pass acted), the next pass
 * comes after this instead of a whole interval, so /v1/health follows a
 * replica that finishes its sync within a fraction of a second. */
#define RECHECK_MS 200

/* ==== API handlers: thin adapters over the heal and fence states ==== */

typedef struct agent_api {
    const sv_host *h;
    const mrd_manifest *m;
    heal_ctx *hc;
    fence *fc;
} agent_api;

static json_t *api_health(void *ctx, bool *ready)
{
    agent_api *a = ctx;
    return fence_health(a->fc, heal_health(a->hc, ready), ready);
}

static json_t *api_nodes(void *ctx)
{
    return heal_nodes(((agent_api *)ctx)->hc);
}

static json_t *api_fence(void *ctx)
{
    return fence_view_json(((agent_api *)ctx)->m);
}

static json_t *api_heal(void *ctx, int *http_status)
{
    agent_api *a = ctx;
    json_t *report = NULL;
    mrd_health code;
    mrd_error err;
    /* a fenced host heals nothing: the pass is the fence check */
    if (fence_check(a->fc, true, true)) {
        *http_status = 200;
        return fence_report(a->fc);
    }
    if (heal_pass(a->hc, true, API_LOCK_WAIT_MS, &report, &code, &err) != MRD_OK) {
        *http_status = err.code == MRD_ERR_STATE ? 409 : 500;
        return json_pack("{s:s}", "error", err.msg);
    }
    *http_status = 200;
    return report;
}

static json_t *api_hold(void *ctx, const char *port, const char *ttl_ms, int *http_status)
{
    return hold_request(((agent_api *)ctx)->h, port, ttl_ms, http_status);
}

/* The HTTP status of a restart's or a seed's end. */
static const int restart_http_status[] = {
    [HEAL_RESTART_DONE] = 200,    [HEAL_RESTART_FAILED] = 500, [HEAL_RESTART_REFUSED] = 409,
    [HEAL_RESTART_LATER] = 503,   [HEAL_RESTART_UNKNOWN] = 404, [HEAL_RESTART_BUSY] = 503};

/* A restart's or seed's answer: its REPORT and the status of ST, or
 * ERR's sentence when it could build none (RC). */
static json_t *restart_answer(mrd_rc rc, json_t *report, heal_restart_status st,
                              const mrd_error *err, int *http_status)
{
    if (rc != MRD_OK) {
        *http_status = 500;
        return json_pack("{s:s}", "error", err->msg);
    }
    *http_status = restart_http_status[st];
    return report;
}

/* A host replaced on a spare restarts and seeds nothing: it runs nothing. */
static bool refuse_fenced(agent_api *a, json_t **answer, int *http_status)
{
    if (!fence_check(a->fc, false, true))
        return false;
    *http_status = 409;
    *answer = json_pack("{s:s}", "error", "this host is fenced (replaced on a spare)");
    return true;
}

static json_t *api_restart(void *ctx, int port, int *http_status)
{
    agent_api *a = ctx;
    json_t *report = NULL;
    heal_restart_status st = HEAL_RESTART_FAILED;
    mrd_error err;
    if (refuse_fenced(a, &report, http_status))
        return report;
    mrd_rc rc = heal_restart(a->hc, port, RESTART_LOCK_WAIT_MS, &report, &st, &err);
    return restart_answer(rc, report, st, &err, http_status);
}

static json_t *api_seed(void *ctx, int port, bool force, int *http_status)
{
    agent_api *a = ctx;
    json_t *report = NULL;
    heal_restart_status st = HEAL_RESTART_FAILED;
    mrd_error err;
    if (refuse_fenced(a, &report, http_status))
        return report;
    mrd_rc rc = heal_seed(a->hc, port, force, RESTART_LOCK_WAIT_MS, &report, &st, &err);
    return restart_answer(rc, report, st, &err, http_status);
}

static char *api_metrics(void *ctx)
{
    return heal_metrics(((agent_api *)ctx)->hc);
}

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: meridian-agent COMMAND --manifest FILE\n"
            "\n"
            "Supervises the store nodes (one redis-server per node the manifest puts\n"
            "on this host) and the redis-sentinel of one host, as described by the\n"
            "manifest that `meridian deploy` wrote for it.\n"
            "\n"
            "commands:\n"
            "  run    render missing configs, start the host's nodes, serve the HTTP API\n"
            "         and run a check-and-heal pass every interval until SIGTERM (the\n"
            "         nodes keep running when the agent stops); each pass retires the\n"
            "         node folders the manifest no longer lists that hold no slot and no\n"
            "         key (stopped, moved to ROOT/retired/), and names the others\n"
            "  check  run one pass and exit 0 OK, 1 WARNING (healed something, or\n"
            "         degraded but serving), 2 CRITICAL (could not heal, no writable\n"
            "         leader), 3 UNKNOWN (could not tell, or another pass is running);\n"
            "         only observes unless --heal is given (cron: check --heal)\n"
            "  stop   stop the running agent and every node of the host, by pid, those\n"
            "         the manifest no longer lists included\n"
            "         (--agent-only: stop the agent, leave the nodes running)\n"
            "  alive  exit 0 when an agent runs for this manifest, 1 when not\n"
            "  fault  for drills (meridian drill): SIGKILL this host's processes named\n"
            "         by --kill, in that order, found by pid file and checked by name;\n"
            "         one line per kill; exit 0 when each was running, 3 when one was not\n"
            "\n"
            "options:\n"
            "  -m, --manifest FILE   the host's manifest (required)\n"
            "      --daemon          with run: detach (double fork, setsid, output to\n"
            "                        ROOT/agent.log) and exit 0 once the agent holds\n"
            "                        its lock and pid file, 1 with the reason if not\n"
            "      --agent-only      with stop: leave the nodes running\n"
            "      --heal            with check: act, not only observe\n"
            "      --kill LIST       with fault: agent, redis (the node on store.port),\n"
            "                        redis-PORT (a node on another port), sentinel;\n"
            "                        comma-separated\n"
            "      --wipe-data       with fault: also remove the node's data folder\n"
            "      --json            with check: print the report as one JSON object\n"
            "  -h, --help            this text\n");
}

/* ==== run --daemon ====
 *
 * Over ssh the agent must leave the command that started it: the daemon
 * detaches the way mrd_spawn(MRD_SPAWN_DAEMON) does, and the process that
 * ran `run --daemon` waits on a pipe until the daemon has its lock and pid
 * file, so its exit status (and stderr) say whether the agent started. */

static int notify_fd = -1; /* the daemon's end of that pipe, until used */

/* Tell the waiting parent how the start went: MSG NULL means started. */
static void notify_parent(const char *msg)
{
    if (notify_fd < 0)
        return;
    const char *text = msg ? msg : "OK";
    ssize_t w = write(notify_fd, text, strlen(text));
    (void)w;
    close(notify_fd);
    notify_fd = -1;
}

/* Returns in the daemon only, its stdin /dev/null and its output appended
 * to LOG; the caller's process exits 0 when the daemon says it started,
 * else 1 with the daemon's reason on stderr. */
static void daemonize(const char *log)
{
    int p[2];
    if (pipe(p) != 0) {
        perror("meridian-agent: pipe");
        exit(1);
    }
    pid_t child = fork();
    if (child < 0) {
        perror("meridian-agent: fork");
        exit(1);
    }
    if (child > 0) {
        close(p[1]);
        char buf[1024];
        size_t len = 0;
        for (ssize_t r; len < sizeof(buf) - 1;) {
            r = read(p[0], buf + len, sizeof(buf) - 1 - len);
            if (r > 0)
                len += (size_t)r;
            else if (r == 0 || errno != EINTR)
                break;
        }
        buf[len] = '\0';
        waitpid(child, NULL, 0);
        if (strcmp(buf, "OK") == 0)
            exit(0);
        /* One line: deploy reports the last line of what we print. */
        fprintf(stderr, "meridian-agent: the agent did not start: %s (log: %s)\n",
                len ? buf : "it exited at once", log);
        exit(1);
    }
    close(p[0]);
    fcntl(p[1], F_SETFD, FD_CLOEXEC);
    if (setsid() < 0)
        _exit(1);
    pid_t grand = fork();
    if (grand != 0)
        _exit(grand < 0 ? 1 : 0);
    int in = open("/dev/null", O_RDONLY);
    int out = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (chdir("/") != 0 || in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 ||
        dup2(out, 2) < 0) {
        ssize_t w = write(p[1], "cannot open its log", 19);
        (void)w;
        _exit(1);
    }
    close(in);
    close(out);
    notify_fd = p[1];
}

static int fail(const mrd_error *err)
{
    char buf[1024];
    mrd_error_format(err, buf, sizeof(buf));
    mrd_errorlog("%s", buf);
    notify_parent(buf); /* run --daemon, before it started */
    return 1;
}

/* Hold ROOT/agent.lock for the life of the process: one agent per host. */
static int take_lock(const sv_host *h, mrd_error *err)
{
    char path[MRD_MF_PATH];
    manifest_path(h->m, "agent.lock", path, sizeof(path));
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        mrd_error_set(err, MRD_ERR_IO, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        mrd_error_set(err, MRD_ERR_STATE, "%s: another agent already runs for this host",
                      h->m->host);
        close(fd);
        return -1;
    }
    return fd;
}

static int cmd_run(const char *manifest, bool daemon)
{
    mrd_error err;
    sv_host *h = NULL;
    if (sv_open(manifest, &h, &err) != MRD_OK)
        return fail(&err);
    if (daemon) {
        char log[MRD_MF_PATH];
        manifest_path(h->m, "agent.log", log, sizeof(log));
        daemonize(log);
    }
    int lockfd = take_lock(h, &err);
    if (lockfd < 0) {
        sv_close(&h);
        return fail(&err);
    }
    char pidpath[MRD_MF_PATH];
    manifest_path(h->m, "agent.pid", pidpath, sizeof(pidpath));
    if (mrd_pidfile_write(pidpath, getpid(), &err) != MRD_OK) {
        sv_close(&h);
        return fail(&err);
    }
    notify_parent(NULL);

    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    mrd_info("%s: agent started (manifest %s)", h->m->host, manifest);
    store_set_source(manifest_self(h->m)->address); /* leave from our host's address */
    if (sv_tls_start(h, &err) != MRD_OK) {
        unlink(pidpath);
        sv_close(&h);
        return fail(&err);
    }
    /* Before anything starts: a host replaced by a spare starts nothing
     * (fence.h), it only serves its API. */
    fence *fc = fence_new(h, &err);
    if (!fc) {
        unlink(pidpath);
        sv_close(&h);
        return fail(&err);
    }
    if (fence_check(fc, true, true))
        goto serve;
    bool fresh[MRD_MF_MAX_HOST_NODES + 1] = {false};
    bool cluster = strcmp(h->m->mode, "cluster") == 0;
    for (int i = 0; i < h->nprocs; i++) {
        fresh[i] = !mrd_path_exists(h->procs[i].conf);
        /* Cluster mode: a node with a nodes.conf ran before, whatever
         * happened to its config; started as it is, a crashed master would
         * claim its slots again with an empty dataset.  And a node with
         * neither, whose shard already serves slots, was lost with its
         * folder: started blank, it would be an empty master that meets no
         * one.  Both are left to the heal pass, which restores them. */
        char nodes_conf[MRD_MF_PATH];
        /* A node that stands in for a lost one ("restore": true) and never
         * ran here is restored by the heal pass, never started blank. */
        if (fresh[i] && h->procs[i].kind == SV_REDIS && h->m->nodes[h->procs[i].node].restore) {
            mrd_info("%s/%s: stands in for a lost node; the heal pass restores it from a "
                     "peer's snapshot", h->m->host, h->procs[i].label);
            fresh[i] = false;
        }
        /* A node whose config is gone but whose AOF folder is not ran
         * before: started as it is, Redis would load that AOF (stale, and
         * as a master when it was the leader).  Restored instead. */
        char aof_dir[MRD_MF_PATH];
        if (fresh[i] && h->procs[i].kind == SV_REDIS &&
            mrd_path_fmt(aof_dir, sizeof(aof_dir), "%s/%s", h->procs[i].dir, SV_AOF_DIR) ==
                MRD_OK &&
            mrd_path_exists(aof_dir)) {
            mrd_info("%s/%s: no config but an AOF folder (%s): it ran before; the heal pass "
                     "restores it from a peer's snapshot and moves the folder aside",
                     h->m->host, h->procs[i].label, aof_dir);
            fresh[i] = false;
        }
        if (fresh[i] && cluster && h->procs[i].kind == SV_REDIS &&
            mrd_path_fmt(nodes_conf, sizeof(nodes_conf), "%s/nodes.conf",
                         h->procs[i].dir) == MRD_OK &&
            (mrd_path_exists(nodes_conf) ||
             !heal_cluster_may_start_blank(h, h->procs[i].node, CLUSTER_PEEK_MS)))
            fresh[i] = false;
    }
    int created;
    if (sv_render_missing(h, &created, &err) != MRD_OK) {
        unlink(pidpath);
        fence_free(&fc);
        sv_close(&h);
        return fail(&err);
    }
    sv_refresh(h);
    /* a sentinel that runs already (a restarted agent adopts it) has
     * converged long ago: only one started now is bootstrapped */
    sv_proc *sentinel = sv_find(h, SV_SENTINEL);
    bool sentinel_adopted = sentinel && sentinel->pid;
    /* Masters first, then replicas (each waits for its own master, see
     * sv_wait_master), then the sentinel. */
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < h->nprocs; i++) {
            sv_proc *p = &h->procs[i];
            bool master = p->kind == SV_REDIS && h->m->nodes[p->node].master;
            if ((round == 0) != master)
                continue;
            bool fresh_replica = fresh[i] && p->kind == SV_REDIS && !master;
            if (!p->pid && fresh_replica && !sv_wait_master(h, p->node, PEER_WAIT_MS))
                mrd_warn("%s/%s: the leader is not answering after %d ms; starting anyway",
                         h->m->host, p->label, PEER_WAIT_MS);
            if (p->pid)
                mrd_info("%s/%s: already running as pid %d; adopted", h->m->host, p->label,
                         (int)p->pid);
            else if (p->kind == SV_REDIS && !fresh[i])
                /* It ran before and is down: its data is gone (persistence
                 * off), or its AOF lacks up to a second of writes and the
                 * shard moved on (store.persistence "aof"), so the heal
                 * pass restores it from a peer's snapshot as a replica of
                 * the current leader, never as it was. */
                mrd_info("%s/%s: down; the heal pass will restore it", h->m->host, p->label);
            else if (sv_start(h, p, MRD_SPAWN_CHILD, &err) != MRD_OK)
                fail(&err);
        }
    /* Sentinels start with the nodes and converge fast (see supervise.h). */
    if (sentinel && sentinel->pid && !sentinel_adopted &&
        sv_bootstrap_sentinel(h, sentinel, &err) != MRD_OK)
        fail(&err);

serve:;
    events *ev = NULL;
    heal_ctx *hc = NULL;
    api_server *api = NULL;
    char token[MRD_SECRET_LEN], tokpath[MRD_MF_PATH];
    int rc = 0;
    if (events_start(h->m->topology, h->m->host, h->m->webhooks, h->m->nwebhooks, &ev,
                     &err) != MRD_OK ||
        !(hc = heal_new(h, ev, true)) ||
        manifest_secret_path(h->m->secrets_dir, "agent.token", tokpath, sizeof(tokpath)) !=
            MRD_OK ||
        mrd_secret_read(tokpath, token, sizeof(token), &err) != MRD_OK) {
        rc = fail(&err);
        goto out;
    }
    fence_attach_events(fc, ev); /* +replaced, when the start fenced the host */
    const mrd_mf_host *self = manifest_self(h->m);
    agent_api actx = {.h = h, .m = h->m, .hc = hc, .fc = fc};
    api_handlers handlers = {.ctx = &actx, .health = api_health, .nodes = api_nodes,
                             .heal = api_heal, .metrics = api_metrics, .fence = api_fence,
                             .hold = api_hold, .restart = api_restart,
                             .seed = api_seed};
    /* tls.enabled: HTTPS only, with the host's certificate (certs.h) */
    bool tls = h->m->settings.tls.enabled;
    char cert[MRD_MF_PATH], key[MRD_MF_PATH];
    api_tls files = {.cert_file = cert, .key_file = key};
    if (tls && (mrd_tls_host_file(h->m->secrets_dir, h->m->host, false, cert, sizeof(cert),
                                  &err) != MRD_OK ||
                mrd_tls_host_file(h->m->secrets_dir, h->m->host, true, key, sizeof(key),
                                  &err) != MRD_OK)) {
        rc = fail(&err);
        goto out;
    }
    mrd_rc started = api_start_tls(self->address, h->m->settings.agent.port, token,
                                   h->m->settings.agent.metrics_open, &handlers, NULL,
                                   tls ? &files : NULL, &api, &err);
    memset(token, 0, sizeof(token));
    if (started != MRD_OK) {
        rc = fail(&err);
        goto out;
    }
    mrd_info("%s: API on %s://%s:%d/v1/health; heal pass every %d ms", h->m->host,
             tls ? "https" : "http", self->address, h->m->settings.agent.port,
             h->m->settings.agent.interval_ms);

    /* The first pass follows at once.  It retires the node folders the
     * manifest no longer lists (retire.h) after the host's own nodes were
     * started and healed, not before: those serve clients, while retiring
     * a leftover is cleanup that may wait seconds for a process to exit
     * (and a leftover's client port is, by definition, none of theirs). */
    long long fence_asked = mrd_now_ms(); /* the start asked the peers */
    while (!stop_requested) {
        json_t *report = NULL;
        mrd_health code = MRD_HEALTH_OK;
        /* the peers are asked at most once an interval (passes come every
         * RECHECK_MS while the host is not ready) */
        bool ask = mrd_now_ms() - fence_asked >= h->m->settings.agent.interval_ms;
        if (ask)
            fence_asked = mrd_now_ms();
        bool fenced = fence_check(fc, ask, true);
        /* lock_wait 0: a cron check or an API call is already healing */
        if (!fenced && heal_pass(hc, true, 0, &report, &code, &err) == MRD_OK &&
            code != MRD_HEALTH_OK)
            mrd_debug("%s: pass %s", h->m->host, mrd_health_name(code));
        json_decref(report);
        int pause = h->m->settings.agent.interval_ms;
        if (code != MRD_HEALTH_OK && pause > RECHECK_MS)
            pause = RECHECK_MS;
        for (long long waited = 0; waited < pause && !stop_requested; waited += WATCH_PERIOD_MS) {
            mrd_sleep_ms(WATCH_PERIOD_MS);
            if (!fenced)
                heal_watch(hc); /* the crash fast path */
        }
    }
    mrd_info("%s: agent stopping; its nodes keep running", h->m->host);
out:
    api_stop(&api);
    heal_free(&hc);
    fence_attach_events(fc, NULL);
    events_stop(&ev, EVENTS_FLUSH_MS);
    fence_free(&fc);
    unlink(pidpath);
    close(lockfd);
    sv_close(&h);
    return rc;
}

/* Print a pass report as text: one line per action, then the verdict. */
static void print_report(const json_t *report)
{
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(report, "actions"), i, a)
        printf("%-16s %-20s %s\n", json_string_value(json_object_get(a, "node")),
               json_string_value(json_object_get(a, "event")),
               json_string_value(json_object_get(a, "detail")));
    printf("%s: %s - %s\n", json_string_value(json_object_get(report, "host")),
           json_string_value(json_object_get(report, "status")),
           json_string_value(json_object_get(report, "summary")));
}

static void print_json(const json_t *report)
{
    char *text = json_dumps(report, JSON_INDENT(2));
    if (text)
        printf("%s\n", text);
    free(text);
}

static int cmd_check(const char *manifest, bool heal, bool json)
{
    mrd_error err;
    sv_host *h = NULL;
    if (sv_open(manifest, &h, &err) != MRD_OK) {
        fail(&err);
        return MRD_HEALTH_UNKNOWN;
    }
    events *ev = NULL;
    heal_ctx *hc = NULL;
    fence *fc = NULL;
    json_t *report = NULL;
    mrd_health code = MRD_HEALTH_UNKNOWN;
    store_set_source(manifest_self(h->m)->address);
    if (sv_tls_start(h, &err) != MRD_OK) {
        fail(&err);
        sv_close(&h);
        return MRD_HEALTH_UNKNOWN;
    }
    if (events_start(h->m->topology, h->m->host, h->m->webhooks, h->m->nwebhooks, &ev,
                     &err) != MRD_OK ||
        !(hc = heal_new(h, ev, false)) || !(fc = fence_new(h, &err))) {
        fail(&err);
    } else if (fence_attach_events(fc, ev), fence_check(fc, true, heal)) {
        /* replaced by a spare: nothing to heal (with --heal, its processes
         * were stopped), and that is where it should be */
        report = fence_report(fc);
        code = MRD_HEALTH_OK;
        if (json)
            print_json(report);
        else
            printf("%s: retired - %s\n", h->m->host,
                   json_string_value(json_object_get(report, "summary")));
    } else if (heal_pass(hc, heal, CHECK_LOCK_WAIT_MS, &report, &code, &err) != MRD_OK) {
        fail(&err);
        if (json)
            printf("{\"host\": \"%s\", \"code\": 3, \"status\": \"unknown\", "
                   "\"error\": \"another heal pass is running\"}\n",
                   h->m->host);
        code = MRD_HEALTH_UNKNOWN;
    } else if (json) {
        print_json(report);
    } else {
        print_report(report);
    }
    json_decref(report);
    heal_free(&hc);
    fence_attach_events(fc, NULL);
    fence_free(&fc);
    events_stop(&ev, EVENTS_FLUSH_MS);
    sv_close(&h);
    return (int)code;
}

/* The pid of the running agent for H, or 0. */
static pid_t running_agent(const sv_host *h)
{
    char pidpath[MRD_MF_PATH];
    pid_t pid;
    manifest_path(h->m, "agent.pid", pidpath, sizeof(pidpath));
    if (mrd_pidfile_read(pidpath, &pid, NULL) == MRD_OK && pid != getpid() &&
        mrd_pid_is(pid, "meridian-agent"))
        return pid;
    return 0;
}

static int cmd_stop(const char *manifest, bool agent_only)
{
    mrd_error err;
    sv_host *h = NULL;
    if (sv_open(manifest, &h, &err) != MRD_OK)
        return fail(&err);
    int rc = 0;
    pid_t pid = running_agent(h);
    if (pid) {
        if (mrd_proc_stop(pid, STOP_TIMEOUT_MS, &err) != MRD_OK)
            rc = fail(&err);
        else
            mrd_info("%s/agent: stopped pid %d", h->m->host, (int)pid);
    }
    if (!agent_only && sv_stop_all(h, STOP_TIMEOUT_MS, &err) != MRD_OK)
        rc = fail(&err);
    /* and the nodes its manifest no longer lists (retire.h): they are this
     * host's processes too, whatever they hold */
    if (!agent_only && retire_stop_all(h, STOP_TIMEOUT_MS, &err) != MRD_OK)
        rc = fail(&err);
    sv_close(&h);
    return rc;
}

static int cmd_alive(const char *manifest)
{
    mrd_error err;
    sv_host *h = NULL;
    if (sv_open(manifest, &h, &err) != MRD_OK)
        return fail(&err);
    int rc = running_agent(h) ? 0 : 1;
    sv_close(&h);
    return rc;
}

/* The drill's fault: SIGKILL, never a graceful stop, so the host sees what
 * a crash or a power loss leaves behind. */
static int cmd_fault(const char *manifest, const char *list, bool wipe)
{
    mrd_error err;
    sv_host *h = NULL;
    if (!list) {
        fprintf(stderr, "meridian-agent: fault needs --kill agent,redis,sentinel\n");
        return EXIT_USAGE;
    }
    if (sv_open(manifest, &h, &err) != MRD_OK)
        return fail(&err);
    sv_refresh(h);
    int rc = 0;
    char names[128];
    snprintf(names, sizeof(names), "%s", list);
    for (char *save = NULL, *w = strtok_r(names, ",", &save); w;
         w = strtok_r(NULL, ",", &save)) {
        pid_t pid = 0;
        const char *program = w;
        sv_proc *p = NULL;
        if (strcmp(w, "agent") == 0) {
            pid = running_agent(h);
            program = "meridian-agent";
        } else if ((p = sv_label(h, w))) {
            pid = p->pid;
            program = p->program;
        } else {
            fprintf(stderr, "meridian-agent: fault: no process \"%s\" on this host (agent, "
                            "redis, redis-PORT for a node on another port, sentinel)\n", w);
            rc = EXIT_USAGE;
            break;
        }
        if (pid && kill(pid, SIGKILL) == 0) {
            printf("killed %s pid %d\n", program, (int)pid);
            mrd_warn("%s: drill fault: killed %s pid %d", h->m->host, program, (int)pid);
        } else {
            printf("not running: %s\n", program);
            rc = 3;
        }
        if (wipe && p && p->kind == SV_REDIS) {
            if (mrd_rm_rf(p->dir, &err) != MRD_OK) {
                fail(&err);
                rc = 1;
            } else {
                printf("wiped %s\n", p->dir);
            }
        }
    }
    fflush(stdout);
    sv_close(&h);
    return rc;
}

int main(int argc, char **argv)
{
    mrd_log_init("meridian-agent", NULL, MRD_LOG_INFO);
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    const char *cmd = argv[1];
    const char *manifest = NULL;
    const char *kill_list = NULL;
    bool agent_only = false, heal = false, json = false, daemon = false, wipe = false;
    static const struct option opts[] = {
        {"heal", no_argument, NULL, 'H'},
        {"json", no_argument, NULL, 'j'},
        {"manifest", required_argument, NULL, 'm'},
        {"agent-only", no_argument, NULL, 'A'},
        {"daemon", no_argument, NULL, 'D'},
        {"kill", required_argument, NULL, 'k'},
        {"wipe-data", no_argument, NULL, 'W'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 2;
    signal(SIGPIPE, SIG_IGN);
    while ((c = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            manifest = optarg;
            break;
        case 'A':
            agent_only = true;
            break;
        case 'D':
            daemon = true;
            break;
        case 'k':
            kill_list = optarg;
            break;
        case 'W':
            wipe = true;
            break;
        case 'H':
            heal = true;
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (!manifest || optind != argc) {
        fprintf(stderr, "meridian-agent: %s needs --manifest FILE and no other arguments\n",
                cmd);
        return EXIT_USAGE;
    }
    if (strcmp(cmd, "run") == 0)
        return cmd_run(manifest, daemon);
    if (strcmp(cmd, "stop") == 0)
        return cmd_stop(manifest, agent_only);
    if (strcmp(cmd, "alive") == 0)
        return cmd_alive(manifest);
    if (strcmp(cmd, "check") == 0)
        return cmd_check(manifest, heal, json);
    if (strcmp(cmd, "fault") == 0)
        return cmd_fault(manifest, kill_list, wipe);
    fprintf(stderr, "meridian-agent: unknown command \"%s\" (try --help)\n", cmd);
    return EXIT_USAGE;
}
