/* meridian-agent - supervises the Redis processes of one host.
 *
 *   meridian-agent run  --manifest FILE   start the host's nodes, supervise
 *   meridian-agent stop --manifest FILE   stop the agent and its nodes
 *   meridian-agent alive --manifest FILE  exit 0 when the agent runs
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "proc.h"
#include "supervise.h"

#define EXIT_USAGE 64
#define STOP_TIMEOUT_MS 5000
#define PEER_WAIT_MS 5000 /* before starting a sentinel, see sv_wait_peers() */

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
            "Supervises the redis-server and redis-sentinel of one host, as described\n"
            "by the manifest that `meridian deploy` wrote for it.\n"
            "\n"
            "commands:\n"
            "  run    render missing configs, start the host's nodes, then supervise\n"
            "         them until SIGTERM (the nodes keep running when the agent stops)\n"
            "  stop   stop the running agent and every node of the host, by pid\n"
            "         (--agent-only: stop the agent, leave the nodes running)\n"
            "  alive  exit 0 when an agent runs for this manifest, 1 when not\n"
            "\n"
            "options:\n"
            "  -m, --manifest FILE   the host's manifest (required)\n"
            "      --agent-only      with stop: leave the nodes running\n"
            "  -h, --help            this text\n");
}

static int fail(const mrd_error *err)
{
    char buf[1024];
    mrd_error_format(err, buf, sizeof(buf));
    mrd_errorlog("%s", buf);
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

static int cmd_run(const char *manifest)
{
    mrd_error err;
    sv_host *h = NULL;
    if (sv_open(manifest, &h, &err) != MRD_OK)
        return fail(&err);
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

    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    mrd_info("%s: agent started (manifest %s)", h->m->host, manifest);
    bool fresh[2] = {false, false};
    for (int i = 0; i < h->nprocs; i++)
        fresh[i] = !mrd_path_exists(h->procs[i].conf);
    int created;
    if (sv_render_missing(h, &created, &err) != MRD_OK) {
        unlink(pidpath);
        sv_close(&h);
        return fail(&err);
    }
    sv_refresh(h);
    for (int i = 0; i < h->nprocs; i++) {
        sv_proc *p = &h->procs[i];
        /* A fresh replica waits for its leader (see sv_wait_peers). */
        bool fresh_replica = fresh[i] && !manifest_self(h->m)->leader;
        if (!p->pid && p->kind == SV_REDIS && fresh_replica &&
            !sv_wait_peers(h, true, PEER_WAIT_MS))
            mrd_warn("%s/redis: the leader is not answering after %d ms; starting anyway",
                     h->m->host, PEER_WAIT_MS);
        if (p->pid)
            mrd_info("%s/%s: already running as pid %d; adopted", h->m->host, p->label,
                     (int)p->pid);
        else if (sv_start(h, p, fresh[i], &err) != MRD_OK)
            fail(&err);
    }
    /* Sentinels start with the nodes and converge fast (see supervise.h). */
    sv_proc *sentinel = sv_find(h, SV_SENTINEL);
    if (sentinel && sentinel->pid && sv_bootstrap_sentinel(h, sentinel, &err) != MRD_OK)
        fail(&err);

    while (!stop_requested) {
        for (int waited = 0; waited < h->m->agent.interval_ms && !stop_requested;
             waited += 50)
            mrd_sleep_ms(50);
        sv_reap(h);
        sv_refresh(h);
    }
    mrd_info("%s: agent stopping; its nodes keep running", h->m->host);
    unlink(pidpath);
    close(lockfd);
    sv_close(&h);
    return 0;
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

int main(int argc, char **argv)
{
    mrd_log_init("meridian-agent", NULL, MRD_LOG_INFO);
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    const char *cmd = argv[1];
    const char *manifest = NULL;
    bool agent_only = false;
    static const struct option opts[] = {
        {"manifest", required_argument, NULL, 'm'},
        {"agent-only", no_argument, NULL, 'A'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            manifest = optarg;
            break;
        case 'A':
            agent_only = true;
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
        return cmd_run(manifest);
    if (strcmp(cmd, "stop") == 0)
        return cmd_stop(manifest, agent_only);
    if (strcmp(cmd, "alive") == 0)
        return cmd_alive(manifest);
    fprintf(stderr, "meridian-agent: unknown command \"%s\" (try --help)\n", cmd);
    return EXIT_USAGE;
}
