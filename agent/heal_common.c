/* heal_common.c - what the heal pass's front end (heal.c) and its modes
 * (heal_sentinel.c, heal_cluster*.c, heal_restore.c) all call: recording
 * an action, reaching a node, setting its min-replicas-to-write, and the
 * pure fence and fast-path rules.  A leaf: it calls none of them, so no
 * two heal files call each other in a circle (ctest unit.layout). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/file.h>
#include <unistd.h>

#include "fsutil.h"
#include "heal.h"
#include "heal_int.h"
#include "log.h"

/* ==== shared with the modes ==== */

void heal_act(heal_step *ps, const char *event, const char *proc, const char *fmt, ...)
{
    char node[160], detail[512];
    snprintf(node, sizeof(node), "%s/%s", ps->hc->h->m->host, proc);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    events_emit(ps->hc->ev, event, node, "%s", detail);
    if (json_array_size(ps->actions) < HEAL_MAX_ACTIONS)
        json_array_append_new(ps->actions, json_pack("{s:s,s:s,s:s}", "event", event,
                                                     "node", node, "detail", detail));
}

const mrd_mf_host *heal_node_host(const mrd_manifest *m, int i)
{
    return &m->hosts[m->nodes[i].host];
}

mrd_rc heal_node_conn(const heal_ctx *hc, int i, store_conn **c, mrd_error *err)
{
    const mrd_manifest *m = hc->h->m;
    return store_conn_open(manifest_node_address(m, i), m->nodes[i].port, "admin",
                           hc->h->secrets.admin, HEAL_PROBE_TIMEOUT_MS, c, err);
}

mrd_rc heal_set_min_replicas(const heal_ctx *hc, const heal_node *hn, int n, mrd_error *err)
{
    char val[16];
    snprintf(val, sizeof(val), "%d", n);
    store_conn *c = NULL;
    mrd_rc rc = heal_node_conn(hc, hn->node, &c, err);
    if (rc == MRD_OK)
        rc = store_cmdl(c, NULL, err, "CONFIG", "SET", "min-replicas-to-write", val, NULL);
    store_conn_close(&c);
    return rc;
}

/* ==== the self-fence (pure) ==== */

heal_fence_move heal_fence_next(bool enabled, bool isolated, bool fenced, bool live_fenced)
{
    if (enabled && isolated)
        return !live_fenced ? HEAL_FENCE_SET : fenced ? HEAL_FENCE_KEEP : HEAL_FENCE_ADOPT;
    return fenced ? HEAL_FENCE_LIFT : HEAL_FENCE_KEEP;
}

bool heal_fence_drift(bool isolated, bool fenced, long live, int manifest)
{
    return !isolated && !fenced && live >= 0 && live != manifest;
}

/* ==== the crash fast path ==== */

bool heal_fast_path_due(long long asked_ms, long long now_ms, long long cooldown_ms)
{
    return asked_ms <= 0 || now_ms < asked_ms || now_ms - asked_ms >= cooldown_ms;
}

int heal_lock_take(const mrd_manifest *m, int wait_ms)
{
    char path[MRD_MF_PATH];
    if (mrd_path_fmt(path, sizeof(path), "%s/heal.lock", m->root) != MRD_OK)
        return -1;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    long long deadline = mrd_now_ms() + wait_ms;
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK || mrd_now_ms() >= deadline) {
            close(fd);
            return -1;
        }
        mrd_sleep_ms(20);
    }
    return fd;
}
