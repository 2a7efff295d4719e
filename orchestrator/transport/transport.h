/* transport.h - how the orchestrator reaches a host.
 *
 * A small function table, in the style of curl's vssh/vtls backends, plus
 * per-transport state: an mrd_tp is one open transport for one topology.
 * The local transport runs things directly on this machine (every host is
 * a loopback address) and keeps no state; the ssh transport (libssh2)
 * keeps one connection per host, opened on first use and reused for every
 * step of a command, so a deploy costs one ssh connection per host.
 * Tests can swap the table freely.
 *
 * Every operation may be called from several threads at once for
 * different hosts; calls for the same host are serialised by the
 * transport.  HOST always points into the topology the transport was
 * opened for.  Paths are absolute paths on the host. */
#ifndef MRD_TRANSPORT_H
#define MRD_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "err.h"
#include "topology.h"

/* Defaults of the ssh transport's deadlines; transport_opts overrides
 * them (0 keeps the default). */
#define TP_CONNECT_TIMEOUT_MS 10000  /* TCP connect, handshake, host key, login */
#define TP_COMMAND_TIMEOUT_MS 120000 /* one remote command or file transfer */
#define TP_IDLE_TIMEOUT_MS 30000     /* the host sends nothing at all this long */
#define TP_KEEPALIVE_MS 10000        /* ssh keepalive while waiting on the host */
#define TP_MAX_OUTPUT (4 * 1024 * 1024) /* captured stdout or stderr, each */

typedef struct mrd_tp mrd_tp;

/* How a command ended and what it printed. */
typedef struct tp_result {
    int status; /* exit status, or 128 + signal number */
    char *out;  /* stdout, NUL-terminated (new; tp_result_free) */
    size_t out_len;
    char *err;  /* stderr, NUL-terminated (new; tp_result_free) */
    size_t err_len;
} tp_result;

/* What stat says about a path. */
typedef struct tp_filestat {
    bool is_dir;
    long long size;
    mode_t mode; /* permission bits */
} tp_filestat;

typedef struct mrd_transport_ops {
    const char *name;
    /* True when the hosts are other machines: deploy must put the agent
     * binary and the secrets on them. */
    bool remote;
    /* Reach HOST now (the other operations connect on demand): errors here
     * name the host and say what to fix (unreachable, host key, login). */
    mrd_rc (*connect)(mrd_tp *tp, const mrd_host *host, mrd_error *err);
    /* The home folder of the user the transport acts as on HOST. */
    mrd_rc (*home)(mrd_tp *tp, const mrd_host *host, char *buf, size_t n, mrd_error *err);
    /* Create PATH and its parents on HOST. */
    mrd_rc (*mkdir_p)(mrd_tp *tp, const mrd_host *host, const char *path, mode_t mode,
                      mrd_error *err);
    /* Replace PATH on HOST atomically (temporary name, then rename) with
     * LEN bytes of DATA, permissions exactly MODE. */
    mrd_rc (*put_file)(mrd_tp *tp, const mrd_host *host, const char *path, const void *data,
                       size_t len, mode_t mode, mrd_error *err);
    /* Read PATH on HOST into *out (new, NUL-terminated).  MRD_ERR_NOT_FOUND
     * when it does not exist. */
    mrd_rc (*get_file)(mrd_tp *tp, const mrd_host *host, const char *path, char **out,
                       mrd_error *err);
    /* Stat PATH on HOST (following symlinks); MRD_ERR_NOT_FOUND when absent. */
    mrd_rc (*stat)(mrd_tp *tp, const mrd_host *host, const char *path, tp_filestat *st,
                   mrd_error *err);
    /* Run ARGV on HOST and wait for it, at most TIMEOUT_MS (0: the
     * transport's default).  INPUT (LEN bytes, may be NULL) is its stdin.
     * *res gets its exit status and output; tp_result_free() it.  Fails
     * only when the command could not be run or waited for. */
    mrd_rc (*exec)(mrd_tp *tp, const mrd_host *host, const char *const argv[],
                   const void *input, size_t len, int timeout_ms, tp_result *res,
                   mrd_error *err);
    /* Start ARGV on HOST detached from this command, output appended to
     * LOG_PATH.  NULL when the transport cannot detach a program itself
     * (ssh): run one that detaches itself (meridian-agent run --daemon)
     * through exec instead. */
    mrd_rc (*spawn_daemon)(mrd_tp *tp, const mrd_host *host, const char *const argv[],
                           const char *log_path, mrd_error *err);
    /* Remove PATH on HOST recursively. */
    mrd_rc (*remove_tree)(mrd_tp *tp, const mrd_host *host, const char *path,
                          mrd_error *err);
    /* One line on how HOST is reached, for progress output:
     * "root@127.0.1.1:2222, host key ssh-ed25519 SHA256:... (known_hosts)". */
    void (*describe)(mrd_tp *tp, const mrd_host *host, char *buf, size_t n);
    /* Connections opened to HOST so far (0 for the local transport). */
    int (*connections)(mrd_tp *tp, const mrd_host *host);
    /* Close every connection and free the transport's state (not TP). */
    void (*close)(mrd_tp *tp);
} mrd_transport_ops;

/* One open transport: its table and its state. */
struct mrd_tp {
    const mrd_transport_ops *ops;
    void *impl; /* the backend's state, NULL for the local transport */
};

/* Options of transport_open(). */
typedef struct transport_opts {
    bool accept_new_host_keys; /* ssh: trust and record an unknown host key */
    int connect_timeout_ms;    /* 0: TP_CONNECT_TIMEOUT_MS */
    int command_timeout_ms;    /* 0: TP_COMMAND_TIMEOUT_MS */
    int idle_timeout_ms;       /* 0: TP_IDLE_TIMEOUT_MS */
    int keepalive_ms;          /* 0: TP_KEEPALIVE_MS */
} transport_opts;

/* Open the transport T's "transport" section names.  T is borrowed and
 * must outlive the transport; O may be NULL.  *out is new;
 * transport_close() it.  Nothing is connected yet. */
mrd_rc transport_open(const mrd_topology *t, const transport_opts *o, mrd_tp **out,
                      mrd_error *err);

/* The backends (used by transport_open; tests call them directly). */
mrd_rc transport_local_open(mrd_tp **out, mrd_error *err);
mrd_rc transport_ssh_open(const mrd_topology *t, const transport_opts *o, mrd_tp **out,
                          mrd_error *err);

/* Close every connection, free *tp, NULL it.  Accepts NULL. */
void transport_close(mrd_tp **tp);

/* Release a result's output and zero it.  Accepts NULL. */
void tp_result_free(tp_result *r);

/* ==== shorthands: tp_verb(tp, ...) is tp->ops->verb(tp, ...) ==== */

static inline mrd_rc tp_connect(mrd_tp *tp, const mrd_host *h, mrd_error *err)
{
    return tp->ops->connect(tp, h, err);
}

static inline mrd_rc tp_mkdir_p(mrd_tp *tp, const mrd_host *h, const char *path,
                                mode_t mode, mrd_error *err)
{
    return tp->ops->mkdir_p(tp, h, path, mode, err);
}

static inline mrd_rc tp_put_file(mrd_tp *tp, const mrd_host *h, const char *path,
                                 const void *data, size_t len, mode_t mode, mrd_error *err)
{
    return tp->ops->put_file(tp, h, path, data, len, mode, err);
}

static inline mrd_rc tp_get_file(mrd_tp *tp, const mrd_host *h, const char *path,
                                 char **out, mrd_error *err)
{
    return tp->ops->get_file(tp, h, path, out, err);
}

static inline mrd_rc tp_stat(mrd_tp *tp, const mrd_host *h, const char *path, tp_filestat *st,
                             mrd_error *err)
{
    return tp->ops->stat(tp, h, path, st, err);
}

static inline mrd_rc tp_exec(mrd_tp *tp, const mrd_host *h, const char *const argv[],
                             tp_result *res, mrd_error *err)
{
    return tp->ops->exec(tp, h, argv, NULL, 0, 0, res, err);
}

static inline mrd_rc tp_remove_tree(mrd_tp *tp, const mrd_host *h, const char *path,
                                    mrd_error *err)
{
    return tp->ops->remove_tree(tp, h, path, err);
}

#endif
