/* local.c - the local transport: every host is a loopback address on
 * this machine: files are local files, commands are local processes.
 * No state. */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "fsutil.h"
#include "log.h"
#include "proc.h"
#include "transport.h"

static mrd_rc local_connect(mrd_tp *tp, const mrd_host *host, mrd_error *err)
{
    (void)tp;
    (void)host;
    (void)err;
    return MRD_OK;
}

static mrd_rc local_home(mrd_tp *tp, const mrd_host *host, char *buf, size_t n,
                         mrd_error *err)
{
    (void)tp;
    (void)host;
    const char *home = getenv("HOME");
    if (!home || home[0] != '/')
        return mrd_error_set(err, MRD_ERR_STATE, "HOME is not set");
    return mrd_path_fmt(buf, n, "%s", home) == MRD_OK
               ? MRD_OK
               : mrd_error_set(err, MRD_ERR_INVALID, "HOME is too long");
}

static mrd_rc local_mkdir_p(mrd_tp *tp, const mrd_host *host, const char *path, mode_t mode,
                            mrd_error *err)
{
    (void)tp;
    (void)host;
    return mrd_mkdir_p(path, mode, err);
}

static mrd_rc local_put_file(mrd_tp *tp, const mrd_host *host, const char *path,
                             const void *data, size_t len, mode_t mode, mrd_error *err)
{
    (void)tp;
    (void)host;
    return mrd_write_atomic(path, data, len, mode, err);
}

static mrd_rc local_get_file(mrd_tp *tp, const mrd_host *host, const char *path, char **out,
                             mrd_error *err)
{
    (void)tp;
    (void)host;
    return mrd_read_file(path, 16 << 20, out, NULL, err);
}

static mrd_rc local_stat(mrd_tp *tp, const mrd_host *host, const char *path, tp_filestat *st,
                         mrd_error *err)
{
    (void)tp;
    (void)host;
    struct stat sb;
    if (stat(path, &sb) != 0)
        return mrd_error_set(err, errno == ENOENT ? MRD_ERR_NOT_FOUND : MRD_ERR_IO,
                             "cannot stat %s: %s", path, strerror(errno));
    *st = (tp_filestat){.is_dir = S_ISDIR(sb.st_mode),
                    .size = (long long)sb.st_size,
                    .mode = sb.st_mode & 07777};
    return MRD_OK;
}

/* ==== exec: a child with its stdin, stdout and stderr on pipes ==== */

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static mrd_rc local_exec(mrd_tp *tp, const mrd_host *host, const char *const argv[],
                         const void *input, size_t len, int timeout_ms, tp_result *res,
                         mrd_error *err)
{
    (void)tp;
    (void)host;
    *res = (tp_result){0};
    /* p[0] stdin, p[1] stdout, p[2] stderr, p[3] exec errors */
    int p[4][2] = {{-1, -1}, {-1, -1}, {-1, -1}, {-1, -1}};
    for (int i = 0; i < 4; i++)
        if (pipe2(p[i], O_CLOEXEC) != 0) {
            mrd_error_set(err, MRD_ERR_PROCESS, "pipe: %s", strerror(errno));
            for (int j = 0; j < i; j++) {
                close_fd(&p[j][0]);
                close_fd(&p[j][1]);
            }
            return MRD_ERR_PROCESS;
        }
    pid_t pid = fork();
    if (pid == 0)
        mrd_exec_in_child(argv, p[0][0], p[1][1], p[2][1], p[3][1]);
    close_fd(&p[0][0]);
    close_fd(&p[1][1]);
    close_fd(&p[2][1]);
    close_fd(&p[3][1]);
    if (pid < 0) {
        for (int i = 0; i < 4; i++)
            close_fd(&p[i][i == 0 ? 1 : 0]);
        return mrd_error_set(err, MRD_ERR_PROCESS, "fork: %s", strerror(errno));
    }
    int child_errno = 0;
    ssize_t r;
    do {
        r = read(p[3][0], &child_errno, sizeof(child_errno));
    } while (r < 0 && errno == EINTR);
    close_fd(&p[3][0]);
    if (r == sizeof(child_errno)) {
        close_fd(&p[0][1]);
        close_fd(&p[1][0]);
        close_fd(&p[2][0]);
        waitpid(pid, NULL, 0);
        return mrd_error_set(err, MRD_ERR_PROCESS, "cannot run %s: %s", argv[0],
                             strerror(child_errno));
    }
    fcntl(p[0][1], F_SETFL, O_NONBLOCK);
    if (!input || len == 0)
        close_fd(&p[0][1]);

    mrd_buf out, errs; /* the child's stdout and stderr */
    mrd_buf_init(&out, TP_MAX_OUTPUT);
    mrd_buf_init(&errs, TP_MAX_OUTPUT);
    size_t sent = 0;
    long long deadline = mrd_now_ms() + (timeout_ms > 0 ? timeout_ms : TP_COMMAND_TIMEOUT_MS);
    mrd_rc rc = MRD_OK;
    while (p[1][0] >= 0 || p[2][0] >= 0) {
        struct pollfd pf[3] = {{.fd = p[0][1], .events = POLLOUT},
                               {.fd = p[1][0], .events = POLLIN},
                               {.fd = p[2][0], .events = POLLIN}};
        long long left = deadline - mrd_now_ms();
        if (left <= 0) {
            rc = mrd_error_set(err, MRD_ERR_TIMEOUT, "%s did not finish within %.1f s",
                               argv[0], (timeout_ms > 0 ? timeout_ms : TP_COMMAND_TIMEOUT_MS) /
                                            1000.0);
            kill(pid, SIGKILL);
            break;
        }
        if (poll(pf, 3, (int)left) < 0 && errno != EINTR) {
            rc = mrd_error_set(err, MRD_ERR_IO, "poll: %s", strerror(errno));
            kill(pid, SIGKILL);
            break;
        }
        if (pf[0].revents && p[0][1] >= 0) {
            ssize_t w = write(p[0][1], (const char *)input + sent, len - sent);
            if (w > 0)
                sent += (size_t)w;
            if ((w < 0 && errno != EAGAIN) || sent == len)
                close_fd(&p[0][1]);
        }
        for (int i = 1; i <= 2; i++) {
            if (!pf[i].revents || p[i][0] < 0)
                continue;
            char buf[8192];
            ssize_t n = read(p[i][0], buf, sizeof(buf));
            if (n > 0) {
                if (mrd_buf_add(i == 1 ? &out : &errs, buf, (size_t)n) != MRD_OK)
                    rc = mrd_error_set(err, MRD_ERR_NOMEM, "%s printed more than %d bytes",
                                       argv[0], TP_MAX_OUTPUT);
            } else if (n == 0 || errno != EAGAIN) {
                close_fd(&p[i][0]);
            }
        }
        if (rc != MRD_OK) {
            kill(pid, SIGKILL);
            break;
        }
    }
    close_fd(&p[0][1]);
    close_fd(&p[1][0]);
    close_fd(&p[2][0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (rc != MRD_OK) {
        mrd_buf_free(&out);
        mrd_buf_free(&errs);
        return rc;
    }
    res->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    res->out_len = mrd_buf_len(&out);
    res->out = mrd_buf_take(&out); /* NULL only when out of memory */
    res->err_len = mrd_buf_len(&errs);
    res->err = mrd_buf_take(&errs);
    if (!res->out || !res->err) {
        tp_result_free(res);
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    return MRD_OK;
}

static mrd_rc local_spawn_daemon(mrd_tp *tp, const mrd_host *host, const char *const argv[],
                                 const char *log_path, mrd_error *err)
{
    (void)tp;
    (void)host;
    pid_t pid;
    return mrd_spawn(argv, log_path, MRD_SPAWN_DAEMON, &pid, err);
}

static mrd_rc local_remove_tree(mrd_tp *tp, const mrd_host *host, const char *path,
                                mrd_error *err)
{
    (void)tp;
    (void)host;
    return mrd_rm_rf(path, err);
}

static void local_describe(mrd_tp *tp, const mrd_host *host, char *buf, size_t n)
{
    (void)tp;
    snprintf(buf, n, "%s on this machine", host->address);
}

static int local_connections(mrd_tp *tp, const mrd_host *host)
{
    (void)tp;
    (void)host;
    return 0;
}

static void local_close(mrd_tp *tp)
{
    (void)tp;
}

static const mrd_transport_ops local_ops = {
    .name = "local",
    .remote = false,
    .connect = local_connect,
    .home = local_home,
    .mkdir_p = local_mkdir_p,
    .put_file = local_put_file,
    .get_file = local_get_file,
    .stat = local_stat,
    .exec = local_exec,
    .spawn_daemon = local_spawn_daemon,
    .remove_tree = local_remove_tree,
    .describe = local_describe,
    .connections = local_connections,
    .close = local_close,
};

mrd_rc transport_local_open(mrd_tp **out, mrd_error *err)
{
    *out = calloc(1, sizeof(**out));
    if (!*out)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    (*out)->ops = &local_ops;
    return MRD_OK;
}
