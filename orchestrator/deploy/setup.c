/* setup.c - deploy one host: the local transport's (manifest, agent) and
 * a remote one's (Redis checked or installed, the agent binary, secrets,
 * manifest, systemd unit and cron entry). */
#define _GNU_SOURCE /* memmem */
#include "deploy_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certs.h"
#include "fsutil.h"
#include "manifest.h"
#include "render.h"

#define REDIS_MIN_MAJOR 7           /* Redis 7.0: REPLCONF rdb-only, ACL selectors */
#define INSTALL_TIMEOUT_MS 600000   /* apt-get update + install */

/* Start host H's agent detached (`BIN run --daemon`, whose exit status is
 * the agent's own verdict: 0 once it holds its lock and pid file) and say
 * what this run did.  RESTARTED (NULL for a first start) says why it
 * replaces an agent stopped just before, e.g. "with the new manifest";
 * HOW ends the progress line.  When the start is refused because an
 * agent is running (one agent per host: it holds the host's lock) that
 * deploy did not see (the host had no manifest, or something else started
 * it since deploy looked), that agent is left and reported as running,
 * never as started by us. */
static host_outcome start_agent(orch_ctx *c, int host, const char *bin, const char *manifest,
                                const char *restarted, const char *how, host_job *j)
{
    mrd_error err;
    mrd_error_clear(&err);
    if (run_daemon(c, host, &err) == MRD_OK) {
        if (restarted)
            progress(j, host, "agent restarted %s%s", restarted, how);
        else
            progress(j, host, "agent started%s", how);
        return restarted ? HOST_RESTARTED : HOST_STARTED;
    }
    if (agent_cmd(c, host, bin, "alive", NULL, manifest, NULL) == 0) {
        progress(j, host, "agent not started by this deploy: one was already running for "
                          "this host (it holds the host's lock); left as it is");
        return HOST_RUNNING;
    }
    j->err = err;
    return HOST_FAILED;
}

/* The local transport: this machine's meridian-agent, the state dir's
 * secrets, an agent started detached (run --daemon). */
static host_outcome deploy_host_local(orch_ctx *c, int host, host_job *j)
{
    const mrd_host *h = &c->topo->hosts[host];
    char root[MRD_PATH_MAX], mpath[MRD_PATH_MAX];
    char *want = NULL, *have = NULL;
    host_outcome out = HOST_FAILED;
    mrd_error *err = &j->err;

    if (orch_host_root_ex(c, host, root, sizeof(root), err) != MRD_OK)
        return HOST_FAILED;
    if (mrd_path_fmt(mpath, sizeof(mpath), "%s/manifest.json", root) != MRD_OK) {
        mrd_error_set(err, MRD_ERR_INVALID, "state path too long");
        return HOST_FAILED;
    }
    if (manifest_text(c, host, root, &want, err) != MRD_OK)
        return HOST_FAILED;
    mrd_rc got = tp_get_file(c->tp, h, mpath, &have, NULL);
    bool same = got == MRD_OK && strcmp(have, want) == 0;
    bool alive =
        got == MRD_OK && agent_cmd(c, host, c->agent_bin, "alive", NULL, mpath, NULL) == 0;
    if (same && alive) {
        progress(j, host, "agent running, manifest unchanged");
        out = HOST_UNCHANGED;
        goto done;
    }
    if (tp_mkdir_p(c->tp, h, root, 0700, err) != MRD_OK)
        goto done;
    if (!same) {
        if (tp_put_file(c->tp, h, mpath, want, strlen(want), 0600, err) != MRD_OK)
            goto done;
        progress(j, host, "manifest %s", got == MRD_OK ? "updated" : "written");
    }
    if (alive) {
        /* A changed manifest: restart the agent only; its nodes keep running. */
        if (agent_cmd(c, host, c->agent_bin, "stop", "--agent-only", mpath, err) != 0)
            goto done;
    }
    out = start_agent(c, host, c->agent_bin, mpath, alive ? "with the new manifest" : NULL,
                      "", j);
done:
    free(want);
    free(have);
    return out;
}

/* ==== remote hosts: preparation ==== */

/* One remote command answers for both programs: each must be on PATH
 * ("missing PROG" otherwise); redis-server prints its version, and so
 * does redis-sentinel unless both are the same binary (Debian links both
 * to redis-check-rdb), which saves starting Redis twice. */
static const char REDIS_PROBE[] =
    "for p in redis-server redis-sentinel; do "
    "command -v \"$p\" >/dev/null || { echo \"missing $p\"; exit 3; }; done; "
    "s=$(command -v redis-server); t=$(command -v redis-sentinel); "
    "\"$s\" --version || exit 4; "
    "if [ \"$(readlink -f \"$s\")\" = \"$(readlink -f \"$t\")\" ]; then echo same binary; "
    "else \"$t\" --version; fi";

/* "7.0.15" and the major version from the " v=" of TEXT; NULL when none. */
static const char *parse_redis_version(const char *text, char *ver, size_t n, int *major)
{
    const char *v = text ? strstr(text, " v=") : NULL;
    int minor = 0, patch = 0;
    if (!v || sscanf(v, " v=%d.%d.%d", major, &minor, &patch) < 2)
        return NULL;
    snprintf(ver, n, "%d.%d.%d", *major, minor, patch);
    return v + 3;
}

/* Versions of redis-server and redis-sentinel on the host; MRD_ERR_NOT_FOUND
 * when one is not installed (ERR says which). */
static mrd_rc redis_versions(orch_ctx *c, int host, char ver[2][32], int major[2],
                             mrd_error *err)
{
    const char *argv[] = {"sh", "-c", REDIS_PROBE, NULL};
    tp_result res;
    MRD_TRY(tp_exec(c->tp, &c->topo->hosts[host], argv, &res, err));
    mrd_rc rc = MRD_OK;
    const char *missing = strstr(res.out, "missing ");
    const char *rest = NULL;
    if (missing) {
        char prog[40];
        snprintf(prog, sizeof(prog), "%.*s", (int)strcspn(missing + 8, "\n"), missing + 8);
        rc = mrd_error_set(err, MRD_ERR_NOT_FOUND, "%s is not installed (not on PATH)", prog);
    } else if (!(rest = parse_redis_version(res.out, ver[0], sizeof(ver[0]), &major[0]))) {
        char line[200];
        last_line(res.err[0] ? res.err : res.out, line, sizeof(line));
        rc = mrd_error_set(err, MRD_ERR_NOT_FOUND, "redis-server does not run (%s)",
                           line[0] ? line : "no version");
    } else if (strstr(rest, "same binary")) {
        memcpy(ver[1], ver[0], sizeof(ver[1]));
        major[1] = major[0];
    } else if (!parse_redis_version(rest, ver[1], sizeof(ver[1]), &major[1])) {
        rc = mrd_error_set(err, MRD_ERR_NOT_FOUND, "redis-sentinel does not run");
    }
    tp_result_free(&res);
    return rc;
}

/* apt-get install the store's packages (and the agent's libraries). */
static mrd_rc install_packages(orch_ctx *c, int host, host_job *j)
{
    const mrd_host *h = &c->topo->hosts[host];
    bool root = strcmp(c->topo->transport.user, "root") == 0;
    /* Debian 12 names; the agent binary needs the three libraries. */
    const char *update[] = {"sudo", "-n", "env", "DEBIAN_FRONTEND=noninteractive",
                            "apt-get", "update", "-q", NULL};
    const char *install[] = {"sudo", "-n", "env", "DEBIAN_FRONTEND=noninteractive",
                             "apt-get", "install", "-y", "-q", "--no-install-recommends",
                             "redis-server", "redis-sentinel", "libhiredis0.14",
                             "libjansson4", "libmicrohttpd12", NULL};
    const char *const *steps[] = {update + (root ? 2 : 0), install + (root ? 2 : 0)};
    progress(j, host, "installing redis-server and redis-sentinel with apt-get%s",
             root ? "" : " (sudo -n)");
    for (int i = 0; i < 2; i++) {
        tp_result res;
        MRD_TRY(c->tp->ops->exec(c->tp, h, steps[i], NULL, 0, INSTALL_TIMEOUT_MS, &res,
                                 &j->err));
        if (res.status != 0) {
            cmd_failed(&j->err, i == 0 ? "apt-get update" : "apt-get install", &res);
            tp_result_free(&res);
            return j->err.code;
        }
        tp_result_free(&res);
    }
    return MRD_OK;
}

/* redis-server and redis-sentinel of a supported version, installed when
 * missing and the operator allowed it. */
static mrd_rc check_redis(orch_ctx *c, int host, host_job *j)
{
    static const char *const progs[] = {"redis-server", "redis-sentinel"};
    char ver[2][32];
    for (int attempt = 0;; attempt++) {
        int major[2] = {0, 0};
        mrd_rc rc = redis_versions(c, host, ver, major, &j->err);
        for (int i = 0; i < 2 && rc == MRD_OK; i++)
            if (major[i] < REDIS_MIN_MAJOR)
                rc = mrd_error_set(&j->err, MRD_ERR_NOT_FOUND, "%s %s is too old", progs[i],
                                   ver[i]);
        if (rc == MRD_OK) {
            progress(j, host, "redis-server %s, redis-sentinel %s", ver[0], ver[1]);
            return MRD_OK;
        }
        if (rc != MRD_ERR_NOT_FOUND)
            return rc;
        if (!j->sh->install_packages || attempt > 0) {
            char why[sizeof(j->err.msg)];
            snprintf(why, sizeof(why), "%s", j->err.msg);
            return mrd_error_set(&j->err, MRD_ERR_NOT_FOUND,
                                 "%s: install redis-server and redis-sentinel %d.0 or later "
                                 "(Debian 12: apt-get install redis-server redis-sentinel), "
                                 "or pass --install-packages",
                                 why, REDIS_MIN_MAJOR);
        }
        MRD_TRY(install_packages(c, host, j));
    }
}

/* Copy every secret the agent needs into the host's own secrets folder,
 * those that differ; *written says how many.  FRESH (the host has no
 * manifest yet): write them without reading first, which saves a round
 * trip per secret on a first deploy. */
static mrd_rc put_secrets(orch_ctx *c, int host, const remote_paths *p, bool fresh,
                          int *written, mrd_error *err)
{
    static const char *const names[] = {"admin", "replication", "sentinel", "app",
                                        "agent.token"};
    const size_t nnames = sizeof(names) / sizeof(names[0]);
    const mrd_host *h = &c->topo->hosts[host];
    bool tls = c->topo->settings.tls.enabled;
    if (tls) {
        char dir[MRD_PATH_MAX];
        if (mrd_path_fmt(dir, sizeof(dir), "%s/" MRD_TLS_HOSTS_DIR, p->secrets) != MRD_OK)
            return mrd_error_set(err, MRD_ERR_INVALID, "secrets path too long");
        MRD_TRY(tp_mkdir_p(c->tp, h, dir, 0700, err));
    }
    /* the secrets, then with TLS the CA certificate and the host's own pair
     * (common/certs.h), the key before the certificate */
    for (size_t i = 0; i < nnames + (tls ? 3 : 0); i++) {
        char src[MRD_PATH_MAX], dst[MRD_PATH_MAX], *text = NULL;
        size_t len = 0;
        mrd_rc prc = MRD_OK;
        if (i < nnames)
            prc = manifest_secret_path(c->secrets_dir, names[i], src, sizeof(src)) ||
                  manifest_secret_path(p->secrets, names[i], dst, sizeof(dst));
        else if (i == nnames)
            prc = mrd_tls_ca_file(c->secrets_dir, src, sizeof(src), NULL) ||
                  mrd_tls_ca_file(p->secrets, dst, sizeof(dst), NULL);
        else
            prc = mrd_tls_host_file(c->secrets_dir, h->name, i == nnames + 1, src,
                                    sizeof(src), NULL) ||
                  mrd_tls_host_file(p->secrets, h->name, i == nnames + 1, dst, sizeof(dst),
                                    NULL);
        if (prc != MRD_OK)
            return mrd_error_set(err, MRD_ERR_INVALID, "secrets path too long");
        MRD_TRY(mrd_read_file(src, 1u << 20, &text, &len, err));
        char *have = NULL;
        mrd_rc rc = MRD_OK;
        bool same = !fresh && tp_get_file(c->tp, h, dst, &have, NULL) == MRD_OK &&
                    strlen(have) == len && memcmp(have, text, len) == 0;
        if (!same) {
            rc = tp_put_file(c->tp, h, dst, text, len, 0600, err);
            *written += rc == MRD_OK;
        }
        if (have)
            memset(have, 0, strlen(have));
        free(have);
        memset(text, 0, len);
        free(text);
        MRD_TRY(rc);
    }
    return MRD_OK;
}

/* Lines of the user's crontab except meridian's entry for MANIFEST, plus
 * ENTRY when it is not NULL; run `crontab -` with the result. */
mrd_rc crontab_update(orch_ctx *c, int host, const char *manifest, const char *entry,
                      mrd_error *err)
{
    const mrd_host *h = &c->topo->hosts[host];
    const char *list[] = {"crontab", "-l", NULL};
    tp_result res;
    MRD_TRY(tp_exec(c->tp, h, list, &res, err));
    if (res.status == 127) {
        tp_result_free(&res);
        return mrd_error_set(err, MRD_ERR_NOT_FOUND, "crontab is not installed");
    }
    size_t cap = (res.status == 0 ? res.out_len : 0) + (entry ? strlen(entry) : 0) + 2;
    char *text = calloc(1, cap), *w = text;
    if (!text) {
        tp_result_free(&res);
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    /* "no crontab for USER" (status 1) is an empty crontab */
    for (char *line = res.status == 0 ? res.out : NULL, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        size_t len = next ? (size_t)(next - line) + 1 : strlen(line);
        next = next ? next + 1 : NULL;
        if (memmem(line, len, manifest, strlen(manifest)) == NULL) {
            memcpy(w, line, len);
            w += len;
            if (line[len - 1] != '\n')
                *w++ = '\n';
        }
    }
    tp_result_free(&res);
    if (entry)
        w += snprintf(w, cap - (size_t)(w - text), "%s", entry);
    const char *install[] = {"crontab", "-", NULL};
    mrd_rc rc = c->tp->ops->exec(c->tp, h, install, text, (size_t)(w - text), 0, &res, err);
    free(text);
    if (rc == MRD_OK && res.status != 0)
        rc = cmd_failed(err, "crontab -", &res);
    tp_result_free(&res);
    return rc;
}

/* The cron entry of the rendered template: its command lines, preceded
 * by one comment naming the manifest (so the next deploy finds it). */
static mrd_rc cron_entry(orch_ctx *c, int host, const remote_paths *p, char **out,
                         mrd_error *err)
{
    mrd_vars *v = vars_new();
    char *text = NULL;
    *out = NULL;
    if (!v)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    mrd_rc rc = vars_set(v, "agent_bin", p->bin);
    if (rc == MRD_OK)
        rc = vars_set(v, "manifest", p->manifest);
    if (rc == MRD_OK)
        rc = vars_set(v, "root", p->root);
    if (rc == MRD_OK)
        rc = tpl_render_builtin("meridian-agent.cron", v, &text, err);
    vars_free(&v);
    if (rc != MRD_OK)
        return err && err->code ? rc : mrd_error_set(err, rc, "cannot render the cron entry");
    size_t cap = strlen(text) + strlen(p->manifest) + 128;
    char *entry = malloc(cap);
    if (!entry) {
        free(text);
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    int w = snprintf(entry, cap, "# meridian %s/%s (managed by meridian deploy): %s\n",
                     c->topo->name, c->topo->hosts[host].name, p->manifest);
    /* keep the non-comment lines of the template */
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (line[0] && line[0] != '#')
            w += snprintf(entry + w, cap - (size_t)w, "%s\n", line);
    }
    free(text);
    *out = entry;
    return MRD_OK;
}

/* Install the systemd unit (as root) and the cron entry, then (re)start
 * the agent through systemd. */
static mrd_rc start_systemd(orch_ctx *c, int host, const remote_paths *p, host_job *j)
{
    const mrd_host *h = &c->topo->hosts[host];
    mrd_error *err = &j->err;
    mrd_vars *v = vars_new();
    char *unit = NULL;
    if (!v)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    mrd_rc rc = vars_set(v, "user", c->topo->transport.user);
    if (rc == MRD_OK)
        rc = vars_set(v, "agent_bin", p->bin);
    if (rc == MRD_OK)
        rc = vars_set(v, "manifest", p->manifest);
    if (rc == MRD_OK)
        rc = vars_set(v, "root", p->root);
    if (rc == MRD_OK)
        rc = vars_set(v, "secrets_dir", p->secrets);
    if (rc == MRD_OK)
        rc = tpl_render_builtin("meridian-agent.service", v, &unit, err);
    vars_free(&v);
    if (rc != MRD_OK)
        return err->code ? rc : mrd_error_set(err, rc, "cannot render the systemd unit");
    rc = tp_put_file(c->tp, h, p->unit, unit, strlen(unit), 0644, err);
    free(unit);
    MRD_TRY(rc);
    const char *reload[] = {"systemctl", "daemon-reload", NULL};
    const char *enable[] = {"systemctl", "enable", "--quiet", p->unit_name, NULL};
    const char *restart[] = {"systemctl", "restart", p->unit_name, NULL};
    const char *const *steps[] = {reload, enable, restart};
    for (int i = 0; i < 3; i++) {
        tp_result res;
        MRD_TRY(tp_exec(c->tp, h, steps[i], &res, err));
        if (res.status != 0) {
            char what[200];
            snprintf(what, sizeof(what), "systemctl %s", steps[i][1]);
            rc = cmd_failed(err, what, &res);
        }
        tp_result_free(&res);
        MRD_TRY(rc);
    }
    progress(j, host, "systemd unit %s installed and started", p->unit_name);
    return MRD_OK;
}

/* A remote host: connect, check Redis, put the agent, its secrets and
 * its manifest on the host, start the agent, see it answer. */
static host_outcome deploy_host_remote(orch_ctx *c, int host, host_job *j)
{
    const mrd_host *h = &c->topo->hosts[host];
    mrd_error *err = &j->err;
    remote_paths p;
    char *want = NULL, *have = NULL, *stamp = NULL;
    host_outcome out = HOST_FAILED;
    char desc[400];

    if (tp_connect(c->tp, h, err) != MRD_OK)
        return HOST_FAILED;
    c->tp->ops->describe(c->tp, h, desc, sizeof(desc));
    progress(j, host, "connected: %s", desc);
    if (remote_paths_get(c, host, &p, err) != MRD_OK ||
        manifest_text(c, host, p.root, &want, err) != MRD_OK)
        return HOST_FAILED;
    mrd_rc got = tp_get_file(c->tp, h, p.manifest, &have, NULL);
    bool same = got == MRD_OK && strcmp(have, want) == 0;
    bool bin_same = tp_get_file(c->tp, h, p.stamp, &stamp, NULL) == MRD_OK &&
                    strcmp(stamp, j->sh->agent_stamp) == 0;
    bool alive = got == MRD_OK && agent_cmd(c, host, p.bin, "alive", NULL, p.manifest, NULL) == 0;
    if (same && bin_same && alive) {
        progress(j, host, "agent running, manifest and agent unchanged");
        out = HOST_UNCHANGED;
        goto done;
    }
    if (check_redis(c, host, j) != MRD_OK)
        goto done;
    if (tp_mkdir_p(c->tp, h, p.root, 0700, err) != MRD_OK ||
        tp_mkdir_p(c->tp, h, p.bin_dir, 0700, err) != MRD_OK ||
        tp_mkdir_p(c->tp, h, p.secrets, 0700, err) != MRD_OK)
        goto done;
    if (!bin_same) {
        if (tp_put_file(c->tp, h, p.bin, j->sh->agent, j->sh->agent_len, 0755, err) != MRD_OK ||
            tp_put_file(c->tp, h, p.stamp, j->sh->agent_stamp, strlen(j->sh->agent_stamp),
                        0644, err) != MRD_OK)
            goto done;
        progress(j, host, "meridian-agent uploaded to %s (%zu kB, mode 0755)", p.bin,
                 j->sh->agent_len / 1024);
    }
    int written = 0;
    if (put_secrets(c, host, &p, got == MRD_ERR_NOT_FOUND, &written, err) != MRD_OK)
        goto done;
    if (written)
        progress(j, host, "secrets copied to %s (%d files, mode 0600)", p.secrets, written);
    if (!same) {
        if (tp_put_file(c->tp, h, p.manifest, want, strlen(want), 0600, err) != MRD_OK)
            goto done;
        progress(j, host, "manifest %s (mode 0600)", got == MRD_OK ? "updated" : "written");
    }
    if (alive && agent_cmd(c, host, p.bin, "stop", "--agent-only", p.manifest, err) != 0)
        goto done;
    tp_filestat st;
    bool systemd = tp_stat(c->tp, h, "/run/systemd/system", &st, NULL) == MRD_OK && st.is_dir;
    /* systemctl restart always (re)starts it */
    host_outcome started = alive ? HOST_RESTARTED : HOST_STARTED;
    if (systemd && strcmp(c->topo->transport.user, "root") == 0) {
        if (start_systemd(c, host, &p, j) != MRD_OK)
            goto done;
    } else {
        started = start_agent(c, host, p.bin, p.manifest,
                              !alive ? NULL
                              : !same ? "with the new manifest"
                                      : "with the new meridian-agent",
                              systemd ? " (not root: no systemd unit, started directly)"
                                      : " (no systemd on the host: started directly, detached)",
                              j);
        if (started == HOST_FAILED)
            goto done;
    }
    if (systemd) {
        char *entry = NULL;
        mrd_error cerr;
        if (cron_entry(c, host, &p, &entry, &cerr) != MRD_OK ||
            crontab_update(c, host, p.manifest, entry, &cerr) != MRD_OK)
            progress(j, host, "warning: cron entry not installed: %s", cerr.msg);
        else
            progress(j, host, "cron entry installed: meridian-agent check --heal every minute");
        free(entry);
    }
    out = started; /* answers: wait_agents_answer() */
done:
    free(want);
    free(have);
    free(stamp);
    return out;
}

host_outcome deploy_host(orch_ctx *c, int host, host_job *j)
{
    const mrd_plan_host *ph = &c->plan->hosts[host];
    if (!orch_host_used(c, host)) {
        if (ph->replaced_by >= 0)
            progress(j, host, "replaced by %s (generation %d): left alone; its agent stays "
                              "fenced", c->topo->hosts[ph->replaced_by].name, ph->generation);
        else
            progress(j, host, "spare: nothing placed here");
        return HOST_SKIPPED;
    }
    host_outcome out = orch_remote(c) ? deploy_host_remote(c, host, j) : deploy_host_local(c, host, j);
    if (out == HOST_FAILED) {
        char buf[600];
        if (j->err.code == MRD_OK)
            mrd_error_set(&j->err, MRD_ERR_STATE, "failed (no detail)");
        mrd_error_format(&j->err, buf, sizeof(buf));
        progress(j, host, "FAILED: %s", buf);
    }
    return out;
}
