/* tls.c - the deployment's certificates on the operator's side (see
 * deploy_int.h): meridian's own CA and host certificates made, checked
 * and renewed, or the operator's checked and copied in; then a renewed
 * certificate reloaded on its host without a restart of any node. */
#include "deploy_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent_client.h"
#include "certs.h"
#include "conn.h"
#include "fsutil.h"
#include "plan.h"

/* Meridian's own CA is valid this long; host certificates are renewed
 * well within it, and the CA itself is never replaced by deploy. */
#define TLS_CA_DAYS 3650

/* "meridian-NAME-ca": a common name mrd_ca_create() takes (letters,
 * digits, '-', '.'; at most 64). */
static void ca_name(const char *topology, char *buf, size_t n)
{
    snprintf(buf, n, "meridian-%.40s-ca", topology);
    for (char *p = buf; *p; p++)
        if (*p == '_')
            *p = '-';
}

/* Whether the files A and B hold the same bytes (false when either is
 * unreadable). */
static bool same_file(const char *a, const char *b)
{
    char *x = NULL, *y = NULL;
    size_t xl = 0, yl = 0;
    bool same = mrd_read_file(a, 1u << 20, &x, &xl, NULL) == MRD_OK &&
                mrd_read_file(b, 1u << 20, &y, &yl, NULL) == MRD_OK && xl == yl &&
                memcmp(x, y, xl) == 0;
    if (x)
        memset(x, 0, xl);
    if (y)
        memset(y, 0, yl);
    free(x);
    free(y);
    return same;
}

/* Copy SRC to DST (MODE) unless it holds the same bytes; *copied says
 * whether it did. */
static mrd_rc copy_in(const char *src, const char *dst, mode_t mode, bool *copied,
                      mrd_error *err)
{
    *copied = false;
    if (same_file(src, dst))
        return MRD_OK;
    char *text = NULL;
    size_t len = 0;
    MRD_TRY(mrd_read_file(src, 1u << 20, &text, &len, err));
    mrd_rc rc = mrd_write_atomic(dst, text, len, mode, err);
    memset(text, 0, len);
    free(text);
    *copied = rc == MRD_OK;
    return rc;
}

/* One host's certificate, meridian's own CA: issued when missing, unusable
 * (another address, a key that does not match, a CA replaced) or within
 * renew_days of its end.  WHY gets the reason it was issued ("" when it
 * was kept). */
static mrd_rc managed_host(orch_ctx *c, const mrd_host *h, const char *ca_dir,
                           const char *ca, time_t now, char *why, size_t n,
                           mrd_error *err)
{
    const mrd_settings *s = &c->topo->settings;
    char crt[MRD_PATH_MAX], key[MRD_PATH_MAX];
    MRD_TRY(mrd_tls_host_file(c->secrets_dir, h->name, false, crt, sizeof(crt), err));
    MRD_TRY(mrd_tls_host_file(c->secrets_dir, h->name, true, key, sizeof(key), err));
    why[0] = '\0';
    mrd_cert_verdict v;
    char bad[512];
    mrd_cert_info info;
    if (!mrd_path_exists(crt))
        snprintf(why, n, "new");
    else if (mrd_cert_check(ca, crt, key, h->name, h->address, now, &v, bad, sizeof(bad)) !=
             MRD_OK)
        snprintf(why, n, "replaced: %s", bad);
    else if (mrd_cert_info_read(crt, &info, NULL) == MRD_OK &&
             mrd_cert_needs_renewal(&info, now, s->tls.renew_days))
        snprintf(why, n, "renewed: it expires in %ld days (tls.renew_days %d)",
                 mrd_cert_days_left(&info, now), s->tls.renew_days);
    if (!why[0])
        return MRD_OK;
    return mrd_cert_issue(ca_dir, crt, key, h->name, h->address, s->tls.cert_days, err);
}

/* One host's certificate from the operator's cert_dir: checked against the
 * operator's CA, then copied in.  Refused, naming the file, when unusable;
 * WHY says "new" or "replaced" when the copy changed. */
static mrd_rc supplied_host(orch_ctx *c, const mrd_host *h, const char *ca,
                            const char *dir, time_t now, FILE *out, char *why, size_t n,
                            mrd_error *err)
{
    char src_crt[MRD_PATH_MAX], src_key[MRD_PATH_MAX], crt[MRD_PATH_MAX], key[MRD_PATH_MAX];
    if (mrd_path_fmt(src_crt, sizeof(src_crt), "%s/%s.crt", dir, h->name) != MRD_OK ||
        mrd_path_fmt(src_key, sizeof(src_key), "%s/%s.key", dir, h->name) != MRD_OK)
        return mrd_error_set(err, MRD_ERR_INVALID, "tls.cert_dir is too long");
    MRD_TRY(mrd_tls_host_file(c->secrets_dir, h->name, false, crt, sizeof(crt), err));
    MRD_TRY(mrd_tls_host_file(c->secrets_dir, h->name, true, key, sizeof(key), err));
    char bad[512];
    mrd_cert_verdict v;
    mrd_rc rc = mrd_cert_check(ca, src_crt, src_key, h->name, h->address, now, &v, bad,
                               sizeof(bad));
    if (rc != MRD_OK)
        return mrd_error_set(err, rc, "tls: %s%s; nothing was changed", bad,
                             v == MRD_CERT_UNREADABLE ? " (tls.cert_dir must hold HOST.crt "
                                                        "and HOST.key for every host)"
                                                      : "");
    mrd_cert_info info;
    if (out && mrd_cert_info_read(src_crt, &info, NULL) == MRD_OK &&
        mrd_cert_needs_renewal(&info, now, c->topo->settings.tls.renew_days))
        fprintf(out, "  %-12s WARNING: %s expires in %ld days: put a new one in "
                     "tls.cert_dir and deploy (meridian renews only certificates it "
                     "issued)\n",
                "tls", src_crt, mrd_cert_days_left(&info, now));
    bool existed = mrd_path_exists(crt), k = false, x = false;
    /* the key first: a kill in between leaves a pair the check calls a
     * mismatch, which the next deploy copies again */
    MRD_TRY(copy_in(src_key, key, 0600, &k, err));
    MRD_TRY(copy_in(src_crt, crt, 0644, &x, err));
    why[0] = '\0';
    if (k || x)
        snprintf(why, n, "%s", existed ? "replaced from tls.cert_dir" : "new");
    return MRD_OK;
}

/* The CA certificate everything is verified with: meridian's own (made at
 * the first deploy) or the operator's, copied in. */
static mrd_rc ensure_ca(orch_ctx *c, const char *ca_dir, const char *ca, FILE *out,
                        mrd_error *err)
{
    const mrd_settings *s = &c->topo->settings;
    if (s->tls.ca_file[0]) {
        char src[MRD_PATH_MAX];
        MRD_TRY(mrd_expand_home(s->tls.ca_file, src, sizeof(src), err));
        mrd_cert_info info;
        mrd_rc rc = mrd_cert_info_read(src, &info, err);
        if (rc != MRD_OK)
            return mrd_error_set(err, rc, "tls.ca_file %s: %s", src, err->msg);
        if (!info.is_ca)
            return mrd_error_set(err, MRD_ERR_INVALID,
                                 "tls.ca_file %s is not a CA certificate (basicConstraints "
                                 "CA:TRUE): give the certificate that signed the hosts'",
                                 src);
        bool copied;
        MRD_TRY(copy_in(src, ca, 0644, &copied, err));
        if (copied && out)
            fprintf(out, "  %-12s CA certificate copied from %s\n", "tls", src);
        return MRD_OK;
    }
    if (mrd_path_exists(ca))
        return MRD_OK;
    char cn[80];
    ca_name(c->topo->name, cn, sizeof(cn));
    MRD_TRY(mrd_ca_create(ca_dir, cn, TLS_CA_DAYS, err));
    if (out)
        fprintf(out, "  %-12s made a CA: %s (key mode 0600 next to it, valid %d days)\n",
                "tls", ca, TLS_CA_DAYS);
    return MRD_OK;
}

mrd_rc deploy_tls_prepare(orch_ctx *c, FILE *out, deploy_tls *t, mrd_error *err)
{
    memset(t, 0, sizeof(*t));
    const mrd_settings *s = &c->topo->settings;
    if (!s->tls.enabled)
        return MRD_OK;
    char ca_dir[MRD_PATH_MAX], hosts[MRD_PATH_MAX], ca[MRD_PATH_MAX], dir[MRD_PATH_MAX] = "";
    if (mrd_path_fmt(ca_dir, sizeof(ca_dir), "%s/" MRD_TLS_DIR, c->secrets_dir) != MRD_OK ||
        mrd_path_fmt(hosts, sizeof(hosts), "%s/" MRD_TLS_HOSTS_DIR, c->secrets_dir) !=
            MRD_OK)
        return mrd_error_set(err, MRD_ERR_INVALID, "the state dir's path is too long");
    MRD_TRY(mrd_tls_ca_file(c->secrets_dir, ca, sizeof(ca), err));
    if (s->tls.cert_dir[0])
        MRD_TRY(mrd_expand_home(s->tls.cert_dir, dir, sizeof(dir), err));
    MRD_TRY(mrd_mkdir_p(hosts, 0700, err));
    MRD_TRY(ensure_ca(c, ca_dir, ca, out, err));
    time_t now = time(NULL);
    int fresh = 0;
    for (int i = 0; i < c->topo->nhosts; i++) {
        const mrd_host *h = &c->topo->hosts[i];
        char why[600], crt[MRD_PATH_MAX];
        MRD_TRY(mrd_tls_host_file(c->secrets_dir, h->name, false, crt, sizeof(crt), err));
        bool existed = mrd_path_exists(crt);
        MRD_TRY(dir[0] ? supplied_host(c, h, ca, dir, now, out, why, sizeof(why), err)
                       : managed_host(c, h, ca_dir, ca, now, why, sizeof(why), err));
        if (!why[0])
            continue;
        if (!existed) {
            fresh++;
            continue;
        }
        if (out)
            fprintf(out, "  %-12s %s: certificate %s\n", "tls", h->name, why);
        /* a running host must load the new one: deploy_tls_reload() */
        if (orch_host_used(c, i) && i < MRD_MF_MAX_HOSTS) {
            t->renewed[i] = true;
            t->nrenewed++;
        }
    }
    if (out && fresh)
        fprintf(out, "  %-12s %s %d host certificate%s (CA %s)\n", "tls",
                dir[0] ? "copied from tls.cert_dir" : "issued", fresh, fresh == 1 ? "" : "s",
                ca);
    return MRD_OK;
}

/* Node N (on a renewed host) loads its host's new certificate: Redis 7
 * reads the files again on CONFIG SET tls-cert-file, even with the same
 * path, and keeps its connections. */
static mrd_rc reload_node(orch_ctx *c, int n, const char *crt, const char *key,
                          const char *admin, mrd_error *err)
{
    const mrd_plan_node *pn = &c->plan->nodes[n];
    const mrd_host *h = &c->topo->hosts[pn->host];
    store_conn *k = NULL;
    MRD_TRY(store_conn_open(h->address, pn->port, "admin", admin, DEPLOY_TLS_CALL_MS, &k, err));
    mrd_rc rc = store_cmdl(k, NULL, err, "CONFIG", "SET", "tls-cert-file", crt, "tls-key-file",
                           key, NULL);
    store_conn_close(&k);
    return rc;
}

mrd_rc deploy_tls_reload(orch_ctx *c, const deploy_tls *t, FILE *out, mrd_error *err)
{
    if (t->nrenewed == 0)
        return MRD_OK;
    char admin[MRD_SECRET_LEN];
    MRD_TRY(orch_secret(c, "admin", admin, sizeof(admin), err));
    mrd_rc rc = MRD_OK;
    for (int i = 0; rc == MRD_OK && i < c->topo->nhosts && i < MRD_MF_MAX_HOSTS; i++) {
        if (!t->renewed[i])
            continue;
        const mrd_host *h = &c->topo->hosts[i];
        char root[MRD_PATH_MAX], secrets[MRD_PATH_MAX], crt[MRD_PATH_MAX], key[MRD_PATH_MAX];
        rc = orch_host_root_ex(c, i, root, sizeof(root), err);
        if (rc == MRD_OK && host_secrets_dir(c, root, secrets, sizeof(secrets)) != MRD_OK)
            rc = mrd_error_set(err, MRD_ERR_INVALID, "%s: secrets path too long", h->name);
        if (rc == MRD_OK)
            rc = mrd_tls_host_file(secrets, h->name, false, crt, sizeof(crt), err);
        if (rc == MRD_OK)
            rc = mrd_tls_host_file(secrets, h->name, true, key, sizeof(key), err);
        int nodes = 0;
        for (int n = 0; rc == MRD_OK && n < c->plan->nnodes; n++)
            if (c->plan->nodes[n].host == i) {
                rc = reload_node(c, n, crt, key, admin, err);
                nodes++;
            }
        /* a sentinel reads its certificate at start only (it has no CONFIG
         * SET), and so does the agent's HTTPS server: both restart, which
         * leaves every node serving */
        bool sentinel = c->plan->hosts[i].sentinel;
        agent_result res = {0};
        if (rc == MRD_OK && sentinel) {
            rc = agent_restart_proc(c, NULL, i, 0, &res, err);
            if (rc == MRD_OK && res.http_status != 200)
                rc = mrd_error_set(err, MRD_ERR_IO, "%s: the sentinel's restart failed: %s",
                                   h->name, res.error[0] ? res.error : "see its agent's log");
            agent_result_clear(&res);
        }
        char how[160];
        if (rc == MRD_OK)
            rc = deploy_agent_halt(c, i, how, sizeof(how), err);
        if (rc == MRD_OK)
            rc = deploy_agent_start(c, i, err);
        if (rc == MRD_OK && out)
            fprintf(out, "  %-12s %s: new certificate loaded by %d node%s%s and its agent\n",
                    "tls", h->name, nodes, nodes == 1 ? "" : "s",
                    sentinel ? ", its sentinel" : "");
    }
    memset(admin, 0, sizeof(admin));
    return rc;
}
