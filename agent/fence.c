/* fence.c - a host replaced by a spare never starts its nodes again (see
 * fence.h): the decision (pure), the peers' /v1/fence answers (libcurl's
 * multi interface, every peer at once), the marker and the stop. */
#include "fence.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <curl/curl.h>

#include "certs.h"
#include "fsutil.h"
#include "heal.h"
#include "log.h"
#include "retire.h"
#include "secret.h"

/* ==== the decision (pure) ==== */

/* Take the replacement of GENERATION by BY from SOURCE when it is newer
 * than what OUT holds. */
static void consider(fence_verdict *out, const char *by, int generation, const char *source)
{
    if (out->fenced && generation <= out->generation)
        return;
    out->fenced = true;
    out->generation = generation;
    snprintf(out->by, sizeof(out->by), "%s", by);
    snprintf(out->source, sizeof(out->source), "%s", source);
}

static const mrd_mf_replaced *view_replaced(const fence_view *v, const char *host)
{
    for (int i = 0; i < v->nreplaced; i++)
        if (strcmp(v->replaced[i].host, host) == 0)
            return &v->replaced[i];
    return NULL;
}

bool fence_decide(const char *self, const fence_view *own, const fence_marker *marker,
                  const fence_view *peers, int n, fence_verdict *out)
{
    memset(out, 0, sizeof(*out));
    const mrd_mf_replaced *r = view_replaced(own, self);
    if (r)
        consider(out, r->by, r->generation, "manifest");
    if (marker) {
        if (marker->generation >= own->generation || r)
            consider(out, marker->by, marker->generation, "marker");
        else
            out->drop_marker = true; /* a newer manifest uses this host again */
    }
    for (int i = 0; i < n; i++) {
        if (peers[i].generation <= own->generation)
            continue; /* it knows no more than we do */
        const mrd_mf_replaced *p = view_replaced(&peers[i], self);
        if (p)
            consider(out, p->by, p->generation, peers[i].host);
    }
    return out->fenced;
}

void fence_view_of(const mrd_manifest *m, fence_view *out)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->host, sizeof(out->host), "%s", m->host);
    out->generation = m->generation >= 1 ? m->generation : 1;
    out->nreplaced = m->nreplaced;
    memcpy(out->replaced, m->replaced, sizeof(m->replaced[0]) * (size_t)m->nreplaced);
}

json_t *fence_view_json(const mrd_manifest *m)
{
    json_t *list = json_array();
    for (int i = 0; i < m->nreplaced; i++)
        json_array_append_new(list, json_pack("{s:s,s:s,s:i}", "host", m->replaced[i].host,
                                              "by", m->replaced[i].by, "generation",
                                              m->replaced[i].generation));
    return json_pack("{s:s,s:s,s:i,s:o}", "topology", m->topology, "host", m->host,
                     "generation", m->generation >= 1 ? m->generation : 1, "replaced", list);
}

static mrd_rc get_name(json_t *o, const char *key, char *buf, size_t n, mrd_error *err)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v) || strlen(json_string_value(v)) >= n)
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "fence: \"%s\" must be a string of fewer than %zu bytes", key, n);
    snprintf(buf, n, "%s", json_string_value(v));
    return MRD_OK;
}

static mrd_rc get_generation(json_t *o, int *out, mrd_error *err)
{
    json_t *v = json_object_get(o, "generation");
    if (!json_is_integer(v) || json_integer_value(v) < 1 ||
        json_integer_value(v) > 1000000000)
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "fence: \"generation\" must be an integer of 1 or more");
    *out = (int)json_integer_value(v);
    return MRD_OK;
}

static mrd_rc parse_view(json_t *root, const char *topology, fence_view *out, mrd_error *err)
{
    char topo[MRD_MF_NAME];
    if (!json_is_object(root))
        return mrd_error_set(err, MRD_ERR_INVALID, "fence: not a JSON object");
    MRD_TRY(get_name(root, "topology", topo, sizeof(topo), err));
    if (strcmp(topo, topology) != 0)
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "fence: the answer is of deployment \"%s\", not \"%s\"", topo,
                             topology);
    MRD_TRY(get_name(root, "host", out->host, sizeof(out->host), err));
    MRD_TRY(get_generation(root, &out->generation, err));
    json_t *list = json_object_get(root, "replaced");
    if (!json_is_array(list) || json_array_size(list) > MRD_MF_MAX_HOSTS)
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "fence: \"replaced\" must be an array of at most %d replacements",
                             MRD_MF_MAX_HOSTS);
    size_t i;
    json_t *o;
    json_array_foreach(list, i, o) {
        mrd_mf_replaced *r = &out->replaced[i];
        if (!json_is_object(o))
            return mrd_error_set(err, MRD_ERR_INVALID, "fence: a replacement must be an object");
        MRD_TRY(get_name(o, "host", r->host, sizeof(r->host), err));
        MRD_TRY(get_name(o, "by", r->by, sizeof(r->by), err));
        MRD_TRY(get_generation(o, &r->generation, err));
        out->nreplaced++;
    }
    return MRD_OK;
}

mrd_rc fence_view_parse(const char *text, size_t len, const char *topology,
                        fence_view *out, mrd_error *err)
{
    memset(out, 0, sizeof(*out));
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return mrd_error_at(err, MRD_ERR_PARSE, "fence", jerr.line, jerr.column, "%s",
                            jerr.text);
    mrd_rc rc = parse_view(root, topology, out, err);
    json_decref(root);
    if (rc != MRD_OK)
        memset(out, 0, sizeof(*out));
    return rc;
}

mrd_rc fence_marker_parse(const char *text, size_t len, fence_marker *out, mrd_error *err)
{
    memset(out, 0, sizeof(*out));
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return mrd_error_at(err, MRD_ERR_PARSE, FENCE_MARKER, jerr.line, jerr.column, "%s",
                            jerr.text);
    mrd_rc rc = json_is_object(root)
                    ? get_generation(root, &out->generation, err)
                    : mrd_error_set(err, MRD_ERR_INVALID, "fence: not a JSON object");
    if (rc == MRD_OK)
        rc = get_name(root, "by", out->by, sizeof(out->by), err);
    json_decref(root);
    return rc;
}

void fence_sentence(const fence_verdict *v, char *buf, size_t n)
{
    snprintf(buf, n, "this host was replaced by %s at generation %d: its nodes stay stopped",
             v->by, v->generation);
}

/* ==== the peers ==== */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

typedef struct peer_req {
    CURL *easy;
    const mrd_mf_host *host;
    char body[FENCE_MAX_ANSWER];
    size_t len;
    bool too_long;
    char why[CURL_ERROR_SIZE]; /* libcurl's words for a failure */
} peer_req;

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    peer_req *p = userp;
    size_t n = size * nmemb;
    if (n > sizeof(p->body) - 1 - p->len) {
        p->too_long = true;
        return 0; /* aborts the transfer */
    }
    memcpy(p->body + p->len, data, n);
    p->len += n;
    return n;
}

/* Does host H of M run something (a node or a sentinel)? */
static bool runs_something(const mrd_manifest *m, int h)
{
    return m->hosts[h].sentinel_port != 0 || manifest_host_nodes(m, h, NULL, 0) > 0;
}

int fence_ask_peers(const mrd_manifest *m, const char *token, int timeout_ms,
                    fence_view *out, int max)
{
    pthread_once(&curl_once, curl_init_once);
    peer_req *reqs = calloc((size_t)m->nhosts, sizeof(*reqs));
    CURLM *multi = curl_multi_init();
    struct curl_slist *headers = NULL;
    char auth[MRD_SECRET_LEN + 32], source[MRD_MF_NAME + 8];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
    headers = curl_slist_append(headers, auth);
    memset(auth, 0, sizeof(auth));
    snprintf(source, sizeof(source), "host!%s", manifest_self(m)->address);
    /* tls.enabled: https:// only, the peer's certificate verified against
     * the deployment's CA alone and the peer's address (certs.h) */
    bool tls = m->settings.tls.enabled;
    char ca[MRD_MF_PATH];
    int nreq = 0, answered = 0;
    if (!reqs || !multi || !headers)
        goto done;
    if (tls && mrd_tls_ca_file(m->secrets_dir, ca, sizeof(ca), NULL) != MRD_OK)
        goto done;
    for (int h = 0; h < m->nhosts; h++) {
        const mrd_mf_host *host = &m->hosts[h];
        if (h == m->self || !runs_something(m, h) || manifest_replaced(m, host->host))
            continue;
        peer_req *p = &reqs[nreq];
        char url[MRD_MF_NAME + 64];
        snprintf(url, sizeof(url), "%s://%s:%d/v1/fence", tls ? "https" : "http", host->address,
                 host->agent_port);
        if (!(p->easy = curl_easy_init()))
            continue;
        p->host = host;
        curl_easy_setopt(p->easy, CURLOPT_URL, url);
        curl_easy_setopt(p->easy, CURLOPT_PROTOCOLS_STR, tls ? "https" : "http");
        curl_easy_setopt(p->easy, CURLOPT_ERRORBUFFER, p->why);
        if (tls) {
            curl_easy_setopt(p->easy, CURLOPT_CAINFO, ca);
            curl_easy_setopt(p->easy, CURLOPT_CAPATH, (char *)NULL);
            curl_easy_setopt(p->easy, CURLOPT_SSL_VERIFYPEER, 1L);
            curl_easy_setopt(p->easy, CURLOPT_SSL_VERIFYHOST, 2L);
            curl_easy_setopt(p->easy, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
        }
        curl_easy_setopt(p->easy, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(p->easy, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
        curl_easy_setopt(p->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
        curl_easy_setopt(p->easy, CURLOPT_NOPROXY, "*");
        curl_easy_setopt(p->easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(p->easy, CURLOPT_INTERFACE, source);
        curl_easy_setopt(p->easy, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(p->easy, CURLOPT_WRITEDATA, p);
        curl_easy_setopt(p->easy, CURLOPT_PRIVATE, p);
        curl_multi_add_handle(multi, p->easy);
        nreq++;
    }
    long long deadline = mrd_now_ms() + timeout_ms + 100;
    for (int running = nreq; running > 0 && mrd_now_ms() < deadline;) {
        if (curl_multi_perform(multi, &running) != CURLM_OK)
            break;
        if (running > 0)
            curl_multi_poll(multi, NULL, 0, 50, NULL);
    }
    for (int i = 0; i < nreq; i++) {
        peer_req *p = &reqs[i];
        long status = 0;
        mrd_error err;
        mrd_error_clear(&err);
        curl_easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE, &status);
        if (status != 200 || p->too_long) {
            mrd_debug("%s: fence: %s did not answer /v1/fence (status %ld%s%s)", m->host,
                      p->host->host, status, p->why[0] ? ": " : "", p->why);
        } else if (answered < max) {
            if (fence_view_parse(p->body, p->len, m->topology, &out[answered], &err) == MRD_OK)
                answered++;
            else
                mrd_warn("%s: fence: %s's /v1/fence answer is ignored: %s", m->host,
                         p->host->host, err.msg);
        }
        curl_multi_remove_handle(multi, p->easy);
        curl_easy_cleanup(p->easy);
    }
done:
    curl_slist_free_all(headers);
    if (multi)
        curl_multi_cleanup(multi);
    free(reqs);
    return answered;
}

/* ==== the agent's state ==== */

struct fence {
    sv_host *h;
    char token[MRD_SECRET_LEN];
    pthread_mutex_t check_mu; /* one check at a time */
    pthread_mutex_t mu;       /* the fields below */
    bool fenced;
    fence_verdict v;
    bool pending_event;       /* +replaced not emitted yet: no sink */
    events *ev;
};

fence *fence_new(sv_host *h, mrd_error *err)
{
    fence *f = calloc(1, sizeof(*f));
    if (!f) {
        mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
        return NULL;
    }
    f->h = h;
    char path[MRD_MF_PATH];
    mrd_error e;
    /* No token: the peers answer 401, and only the marker and the own
     * manifest count (fail open). */
    if (manifest_secret_path(h->m->secrets_dir, "agent.token", path, sizeof(path)) != MRD_OK ||
        mrd_secret_read(path, f->token, sizeof(f->token), &e) != MRD_OK)
        f->token[0] = '\0';
    pthread_mutex_init(&f->check_mu, NULL);
    pthread_mutex_init(&f->mu, NULL);
    return f;
}

void fence_free(fence **f)
{
    if (!f || !*f)
        return;
    memset((*f)->token, 0, sizeof((*f)->token));
    pthread_mutex_destroy(&(*f)->check_mu);
    pthread_mutex_destroy(&(*f)->mu);
    free(*f);
    *f = NULL;
}

static void marker_path(const mrd_manifest *m, char *buf, size_t n)
{
    mrd_path_fmt(buf, n, "%s/%s", m->root, FENCE_MARKER);
}

/* The marker into *OUT: true when there is one. */
static bool marker_load(const mrd_manifest *m, fence_marker *out)
{
    char path[MRD_MF_PATH], *text = NULL;
    size_t len = 0;
    mrd_error err;
    marker_path(m, path, sizeof(path));
    if (!mrd_path_exists(path))
        return false;
    if (mrd_read_file(path, 1 << 16, &text, &len, &err) != MRD_OK ||
        fence_marker_parse(text, len, out, &err) != MRD_OK) {
        /* Kept fenced rather than started: a marker is only ever written
         * by a fenced agent, whatever damaged it since.  At the manifest's
         * own generation, so a newer manifest that uses the host again
         * still drops it. */
        mrd_errorlog("%s: %s is unreadable (%s); the host stays fenced", m->host, path,
                     err.msg);
        out->generation = m->generation >= 1 ? m->generation : 1;
        snprintf(out->by, sizeof(out->by), "(unknown: %s unreadable)", FENCE_MARKER);
        free(text);
        return true;
    }
    free(text);
    return true;
}

static mrd_rc marker_write(const mrd_manifest *m, const fence_verdict *v, mrd_error *err)
{
    char path[MRD_MF_PATH];
    marker_path(m, path, sizeof(path));
    json_t *j = json_pack("{s:s,s:s,s:i,s:s,s:I}", "host", m->host, "by", v->by, "generation",
                          v->generation, "source", v->source, "at_ms",
                          (json_int_t)mrd_wall_ms());
    return mrd_write_json_atomic(path, j, JSON_INDENT(2), 0600, err);
}

static void emit_replaced(events *ev, const mrd_manifest *m, const fence_verdict *v)
{
    char text[256];
    fence_sentence(v, text, sizeof(text));
    events_emit(ev, "+replaced", m->host, "%s (learned from %s)", text, v->source);
}

/* Fence the host: marker first (a cron check or a restart that runs
 * meanwhile stays fenced), then every process stopped by pid. */
static void fence_act(fence *f, const fence_verdict *v)
{
    sv_host *h = f->h;
    mrd_error err;
    if (marker_write(h->m, v, &err) != MRD_OK)
        mrd_errorlog("%s: cannot write %s/%s: %s", h->m->host, h->m->root, FENCE_MARKER,
                     err.msg);
    /* a pass that started before the fence must not restart what it stops */
    int lock = heal_lock_take(h->m, FENCE_LOCK_WAIT_MS);
    if (lock < 0)
        mrd_warn("%s: a heal pass holds %s/heal.lock; stopping the nodes anyway", h->m->host,
                 h->m->root);
    if (sv_stop_all(h, FENCE_STOP_GRACE_MS, &err) != MRD_OK)
        mrd_errorlog("%s: fenced, but a process did not stop: %s", h->m->host, err.msg);
    if (retire_stop_all(h, FENCE_STOP_GRACE_MS, &err) != MRD_OK)
        mrd_errorlog("%s: fenced, but a leftover process did not stop: %s", h->m->host,
                     err.msg);
    if (lock >= 0)
        close(lock);
}

bool fence_check(fence *f, bool ask_peers, bool act)
{
    pthread_mutex_lock(&f->check_mu);
    const mrd_manifest *m = f->h->m;
    fence_view own;
    fence_view_of(m, &own);
    fence_marker marker;
    bool have_marker = marker_load(m, &marker);
    fence_view *peers = NULL;
    int npeers = 0;
    pthread_mutex_lock(&f->mu);
    bool was = f->fenced;
    pthread_mutex_unlock(&f->mu);
    /* Fenced is final for the process: no need to ask again. */
    if (!was && ask_peers && (peers = calloc(MRD_MF_MAX_HOSTS, sizeof(*peers))))
        npeers = fence_ask_peers(m, f->token, FENCE_PEER_TIMEOUT_MS, peers, MRD_MF_MAX_HOSTS);
    fence_verdict v;
    fence_decide(m->host, &own, have_marker ? &marker : NULL, peers, npeers, &v);
    free(peers);
    if (v.drop_marker && act) {
        char path[MRD_MF_PATH];
        marker_path(m, path, sizeof(path));
        if (unlink(path) == 0)
            mrd_info("%s: %s dropped: manifest generation %d uses this host again",
                     m->host, path, m->generation);
    }
    if (v.fenced && !was && act) {
        char text[256];
        fence_sentence(&v, text, sizeof(text));
        mrd_warn("%s: fenced (%s, learned from %s)", m->host, text, v.source);
        fence_act(f, &v);
        pthread_mutex_lock(&f->mu);
        f->fenced = true;
        f->v = v;
        if (f->ev)
            emit_replaced(f->ev, m, &v);
        else
            f->pending_event = true;
        pthread_mutex_unlock(&f->mu);
    } else if (v.fenced && !was) { /* observe only (check without --heal) */
        pthread_mutex_lock(&f->mu);
        f->fenced = true;
        f->v = v;
        pthread_mutex_unlock(&f->mu);
    }
    pthread_mutex_unlock(&f->check_mu);
    return v.fenced || was;
}

void fence_attach_events(fence *f, events *ev)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    f->ev = ev;
    if (ev && f->pending_event) {
        emit_replaced(ev, f->h->m, &f->v);
        f->pending_event = false;
    }
    pthread_mutex_unlock(&f->mu);
}

bool fence_is(fence *f, fence_verdict *out)
{
    pthread_mutex_lock(&f->mu);
    bool fenced = f->fenced;
    if (out)
        *out = f->v;
    pthread_mutex_unlock(&f->mu);
    return fenced;
}

json_t *fence_health(fence *f, json_t *health, bool *ready)
{
    fence_verdict v;
    if (!health || !fence_is(f, &v))
        return health;
    char text[256];
    fence_sentence(&v, text, sizeof(text));
    *ready = false;
    json_object_set_new(health, "ready", json_false());
    json_object_set_new(health, "status", json_string("retired"));
    json_object_set_new(health, "replaced_by", json_string(v.by));
    json_object_set_new(health, "generation", json_integer(v.generation));
    json_object_set_new(health, "detail", json_string(text));
    size_t i;
    json_t *node;
    json_array_foreach(json_object_get(health, "nodes"), i, node) {
        json_object_set_new(node, "ready", json_false());
        json_object_set_new(node, "reason", json_string(text));
    }
    return health;
}

json_t *fence_report(fence *f)
{
    fence_verdict v;
    if (!fence_is(f, &v))
        return NULL;
    char text[256];
    fence_sentence(&v, text, sizeof(text));
    return json_pack("{s:s,s:i,s:s,s:s,s:s,s:i,s:s,s:[],s:[],s:[]}", "host", f->h->m->host,
                     "code", 0, "status", "retired", "summary", text, "replaced_by", v.by,
                     "generation", v.generation, "source", v.source, "actions", "nodes",
                     "leftovers");
}
