#define _GNU_SOURCE /* pipe2 */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"

void mrd_exec_in_child(const char *const argv[], int in, int out, int errout, int errfd)
{
    if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(errout, 2) < 0)
        goto fail;
    /* Every inherited descriptor closes at exec (ERRFD too, which is how
     * the parent learns that exec succeeded).  One syscall, not one per
     * possible descriptor. */
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
        long maxfd = sysconf(_SC_OPEN_MAX);
        for (int fd = 3; fd < (maxfd > 0 && maxfd < 65536 ? maxfd : 65536); fd++)
            if (fd != errfd)
                close(fd);
    }
    signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* execvp's argv is not const-qualified for historical reasons only. */
    union {
        const char *const *in;
        char *const *out;
    } args = {.in = argv};
    execvp(argv[0], args.out);
fail:;
    int e = errno;
    ssize_t w = write(errfd, &e, sizeof(e));
    (void)w;
    _exit(127);
}

/* In the child: stdin from /dev/null, stdout and stderr to LOG_PATH. */
static void exec_child(const char *const argv[], const char *log_path, int errfd)
{
    int in = open("/dev/null", O_RDONLY);
    int out = open(log_path ? log_path : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (in < 0 || out < 0) {
        int e = errno;
        ssize_t w = write(errfd, &e, sizeof(e));
        (void)w;
        _exit(127);
    }
    mrd_exec_in_child(argv, in, out, out, errfd);
}

mrd_rc mrd_spawn(const char *const argv[], const char *log_path,
                 mrd_spawn_mode mode, pid_t *pid, mrd_error *err)
{
    /* errpipe: exec errors; pidpipe: the grandchild's pid in daemon mode. */
    int errpipe[2], pidpipe[2] = {-1, -1};
    if (pipe2(errpipe, O_CLOEXEC) != 0 ||
        (mode == MRD_SPAWN_DAEMON && pipe2(pidpipe, O_CLOEXEC) != 0))
        return mrd_error_set(err, MRD_ERR_PROCESS, "pipe: %s", strerror(errno));

    pid_t child = fork();
    if (child < 0) {
        close(errpipe[0]);
        close(errpipe[1]);
        return mrd_error_set(err, MRD_ERR_PROCESS, "fork: %s", strerror(errno));
    }
    if (child == 0) {
        close(errpipe[0]);
        if (mode == MRD_SPAWN_DAEMON) {
            close(pidpipe[0]);
            setsid();
            pid_t grand = fork();
            if (grand < 0)
                _exit(127);
            if (grand > 0) {
                ssize_t w = write(pidpipe[1], &grand, sizeof(grand));
                _exit(w == sizeof(grand) ? 0 : 127);
            }
            close(pidpipe[1]);
            if (chdir("/") != 0)
                _exit(127);
        }
        exec_child(argv, log_path, errpipe[1]);
    }

    close(errpipe[1]);
    pid_t result = child;
    if (mode == MRD_SPAWN_DAEMON) {
        close(pidpipe[1]);
        ssize_t r = read(pidpipe[0], &result, sizeof(result));
        close(pidpipe[0]);
        int status;
        waitpid(child, &status, 0);
        if (r != sizeof(result)) {
            close(errpipe[0]);
            return mrd_error_set(err, MRD_ERR_PROCESS, "cannot start %s: fork failed",
                                 argv[0]);
        }
    }
    int child_errno = 0;
    ssize_t r;
    do {
        r = read(errpipe[0], &child_errno, sizeof(child_errno));
    } while (r < 0 && errno == EINTR);
    close(errpipe[0]);
    if (r == sizeof(child_errno)) {
        if (mode == MRD_SPAWN_CHILD)
            waitpid(child, NULL, 0);
        return mrd_error_set(err, MRD_ERR_PROCESS, "cannot start %s: %s", argv[0],
                             strerror(child_errno));
    }
    *pid = result;
    return MRD_OK;
}

mrd_rc mrd_pidfile_read(const char *path, pid_t *pid, mrd_error *err)
{
    char *text = NULL;
    mrd_rc rc = mrd_read_file(path, 64, &text, NULL, err);
    if (rc != MRD_OK)
        return rc;
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    bool ok = errno == 0 && end != text && (*end == '\0' || *end == '\n') && v > 0 &&
              v < 1L << 30;
    free(text);
    if (!ok)
        return mrd_error_set(err, MRD_ERR_INVALID, "%s does not hold a pid", path);
    *pid = (pid_t)v;
    return MRD_OK;
}

mrd_rc mrd_pidfile_write(const char *path, pid_t pid, mrd_error *err)
{
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%d\n", (int)pid);
    return mrd_write_atomic(path, buf, (size_t)n, 0644, err);
}

/* Process state letter from /proc/PID/stat, or 0. */
static char proc_state(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *rp = strrchr(buf, ')');
    return rp && rp[1] == ' ' ? rp[2] : 0;
}

bool mrd_pid_alive(pid_t pid)
{
    if (pid <= 0)
        return false;
    if (kill(pid, 0) != 0)
        return errno == EPERM;
    char st = proc_state(pid);
    return st != 0 && st != 'Z' && st != 'X';
}

bool mrd_pid_is(pid_t pid, const char *program)
{
    if (!mrd_pid_alive(pid))
        return false;
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    if (n == 0) {
        /* Just after exec the kernel may not have set argv yet; comm (at
         * most 15 characters of the program name) already names it. */
        snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
        if (!(f = fopen(path, "r")))
            return false;
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        size_t want = strlen(program) < 15 ? strlen(program) : 15;
        return n > 0 && strncmp(buf, program, want) == 0;
    }
    const char *base = strrchr(buf, '/');
    base = base ? base + 1 : buf;
    return strncmp(base, program, strlen(program)) == 0;
}

mrd_rc mrd_proc_stop(pid_t pid, int timeout_ms, mrd_error *err)
{
    if (pid <= 0)
        return MRD_OK;
    if (kill(pid, SIGTERM) != 0 && errno == ESRCH)
        return MRD_OK;
    for (int waited = 0;; waited += 20) {
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return MRD_OK;
        if (!mrd_pid_alive(pid)) {
            waitpid(pid, NULL, WNOHANG); /* it may have died since: reap it */
            return MRD_OK;
        }
        if (waited >= timeout_ms)
            break;
        mrd_sleep_ms(20);
    }
    kill(pid, SIGKILL);
    for (int waited = 0; waited < 2000; waited += 20) {
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return MRD_OK;
        if (!mrd_pid_alive(pid)) {
            waitpid(pid, NULL, WNOHANG);
            return MRD_OK;
        }
        mrd_sleep_ms(20);
    }
    return mrd_error_set(err, MRD_ERR_PROCESS, "pid %d did not exit", (int)pid);
}
