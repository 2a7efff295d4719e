/* agent_ctl.c - the agent of one host, for other commands (drills): run
 * meridian-agent there, stop it abruptly, start it again as deploy did. */
#include "deploy_int.h"

#include <stdio.h>
#include <string.h>

#include "fsutil.h"

mrd_rc deploy_agent_exec(orch_ctx *c, int host, const char *const *args, tp_result *res,
                         mrd_error *err)
{
    char root[MRD_PATH_MAX], bin[MRD_PATH_MAX], manifest[MRD_PATH_MAX];
    const char *argv[16];
    int n = 0;
    MRD_TRY(orch_host_root_ex(c, host, root, sizeof(root), err));
    if (host_agent_bin(c, root, bin, sizeof(bin)) != MRD_OK ||
        mrd_path_fmt(manifest, sizeof(manifest), "%s/manifest.json", root) != MRD_OK)
        return mrd_error_set(err, MRD_ERR_INVALID, "host root %s is too long", root);
    argv[n++] = bin;
    for (int i = 0; args[i] && n < 12; i++)
        argv[n++] = args[i];
    argv[n++] = "--manifest";
    argv[n++] = manifest;
    argv[n] = NULL;
    return tp_exec(c->tp, &c->topo->hosts[host], argv, res, err);
}

/* Does deploy run host H's agent under systemd?  It does for a root login
 * on a host that runs systemd, where it installed the unit. */
static bool agent_under_systemd(orch_ctx *c, int host, const remote_paths *p)
{
    tp_filestat st;
    const mrd_host *h = &c->topo->hosts[host];
    return orch_remote(c) && strcmp(c->topo->transport.user, "root") == 0 &&
           tp_stat(c->tp, h, "/run/systemd/system", &st, NULL) == MRD_OK && st.is_dir &&
           tp_stat(c->tp, h, p->unit, &st, NULL) == MRD_OK;
}

/* `systemctl VERB UNIT` on host H. */
static mrd_rc systemctl(orch_ctx *c, int host, const char *verb, const char *unit,
                        mrd_error *err)
{
    const char *argv[] = {"systemctl", verb, unit, NULL};
    tp_result res;
    MRD_TRY(tp_exec(c->tp, &c->topo->hosts[host], argv, &res, err));
    char what[200];
    snprintf(what, sizeof(what), "systemctl %s %s", verb, unit);
    mrd_rc rc = res.status == 0 ? MRD_OK : cmd_failed(err, what, &res);
    tp_result_free(&res);
    return rc;
}

mrd_rc deploy_agent_halt(orch_ctx *c, int host, char *how, size_t n, mrd_error *err)
{
    remote_paths p;
    MRD_TRY(remote_paths_get(c, host, &p, err));
    if (agent_under_systemd(c, host, &p)) {
        /* SIGKILL would have systemd start it again 2 s later */
        MRD_TRY(systemctl(c, host, "stop", p.unit_name, err));
        snprintf(how, n, "stopped %s (systemd)", p.unit_name);
        return MRD_OK;
    }
    const char *args[] = {"fault", "--kill", "agent", NULL};
    tp_result res;
    MRD_TRY(deploy_agent_exec(c, host, args, &res, err));
    mrd_rc rc = MRD_OK;
    if (res.status == 0)
        snprintf(how, n, "%.*s", (int)strcspn(res.out, "\n"), res.out);
    else
        rc = cmd_failed(err, "meridian-agent fault --kill agent", &res);
    tp_result_free(&res);
    return rc;
}

/* `meridian-agent run --daemon` on host H: the agent's own verdict. */
mrd_rc run_daemon(orch_ctx *c, int host, mrd_error *err)
{
    const char *args[] = {"run", "--daemon", NULL};
    tp_result res;
    MRD_TRY(deploy_agent_exec(c, host, args, &res, err));
    mrd_rc rc = res.status == 0 ? MRD_OK : cmd_failed(err, "meridian-agent run", &res);
    tp_result_free(&res);
    return rc;
}

mrd_rc deploy_agent_start(orch_ctx *c, int host, mrd_error *err)
{
    remote_paths p;
    MRD_TRY(remote_paths_get(c, host, &p, err));
    if (agent_under_systemd(c, host, &p))
        return systemctl(c, host, "start", p.unit_name, err);
    return run_daemon(c, host, err);
}
