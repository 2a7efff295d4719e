/* proc.h - starting and stopping processes by pid.
 *
 * Processes are started with fork/exec and an argv array, never through a
 * shell, and never with a secret in argv.  They are stopped by the pid
 * they recorded, after checking that the pid still runs the program we
 * started (a pid can be reused), never by name. */
#ifndef MRD_PROC_H
#define MRD_PROC_H

#include <stdbool.h>
#include <sys/types.h>

#include "err.h"

typedef enum mrd_spawn_mode {
    MRD_SPAWN_CHILD = 0, /* a child of the caller, which reaps it */
    MRD_SPAWN_DAEMON,    /* double fork + setsid: adopted by init */
} mrd_spawn_mode;

/* Start ARGV[0] (searched in PATH) with ARGV.  stdin is /dev/null; stdout
 * and stderr append to LOG_PATH (or /dev/null when NULL).  Every other
 * file descriptor is closed.  *pid gets the new process's pid.  Fails
 * with the exec error if the program could not be started. */
mrd_rc mrd_spawn(const char *const argv[], const char *log_path,
                 mrd_spawn_mode mode, pid_t *pid, mrd_error *err);

/* For a forked child: make IN, OUT and ERROUT its stdin, stdout and
 * stderr, close every other descriptor at exec, reset signals, and exec
 * ARGV[0] (searched in PATH).  Never returns: on failure it writes errno
 * to ERRFD (a close-on-exec pipe the parent reads) and exits 127. */
void mrd_exec_in_child(const char *const argv[], int in, int out, int errout, int errfd)
    __attribute__((noreturn));

/* Read a pid file; MRD_ERR_NOT_FOUND when absent, MRD_ERR_INVALID when it
 * does not hold a positive number. */
mrd_rc mrd_pidfile_read(const char *path, pid_t *pid, mrd_error *err);

/* Write PID to PATH atomically (mode 0644). */
mrd_rc mrd_pidfile_write(const char *path, pid_t pid, mrd_error *err);

/* True when PID exists and is not a zombie. */
bool mrd_pid_alive(pid_t pid);

/* True when PID is alive and its executable's base name (from
 * /proc/PID/cmdline argv[0] or /proc/PID/comm) starts with PROGRAM. */
bool mrd_pid_is(pid_t pid, const char *program);

/* Send SIGTERM to PID, wait up to TIMEOUT_MS for it to exit, then SIGKILL.
 * Reaps it when it is our child.  MRD_OK when it is gone. */
mrd_rc mrd_proc_stop(pid_t pid, int timeout_ms, mrd_error *err);

#endif
