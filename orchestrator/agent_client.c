#include "agent_client.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

/* ==== one request ==== */

typedef struct call {
    CURL *easy;
    const agent_target *t;
    agent_result *res;
    char *buf; /* body received so far */
    size_t len, cap;
    bool too_big;
    bool done;
} call;

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    call *k = ud;
    size_t n = size * nmemb;
    if (n > AGENT_MAX_BODY - k->len) {
        k->too_big = true;
        return 0; /* CURLE_WRITE_ERROR ends this transfer only */
    }
    if (k->len + n + 1 > k->cap) {
        size_t cap = k->cap ? k->cap : 4096;
        while (cap < k->len + n + 1)
            cap *= 2;
        char *b = realloc(k->buf, cap);
        if (!b)
            return 0;
        k->buf = b;
        k->cap = cap;
    }
    memcpy(k->buf + k->len, data, n);
    k->len += n;
    k->buf[k->len] = '\0';
    return n;
}

/* "euw-b1 (127.0.2.2:17379)", the way every message names an agent. */
static void agent_name(const agent_target *t, char *buf, size_t n)
{
    bool v6 = strchr(t->address, ':') != NULL;
    snprintf(buf, n, "%s (%s%s%s:%d)", t->host, v6 ? "[" : "", t->address, v6 ? "]" : "",
             t->port);
}

/* Turn a finished transfer into K->res. */
static void finish(call *k, CURLcode cc, const agent_timeouts *to)
{
    agent_result *r = k->res;
    char who[192];
    agent_name(k->t, who, sizeof(who));
    k->done = true;
    if (cc != CURLE_OK) {
        long oserr = 0;
        curl_off_t connect_us = 0;
        curl_easy_getinfo(k->easy, CURLINFO_OS_ERRNO, &oserr);
        curl_easy_getinfo(k->easy, CURLINFO_CONNECT_TIME_T, &connect_us);
        if (k->too_big)
            snprintf(r->error, sizeof(r->error),
                     "agent on %s answered more than %d bytes: not an agent report", who,
                     AGENT_MAX_BODY);
        else if (cc == CURLE_OPERATION_TIMEDOUT && connect_us > 0)
            snprintf(r->error, sizeof(r->error),
                     "agent on %s accepted the connection but did not answer within %.1f s",
                     who, to->request_ms / 1000.0);
        else if (cc == CURLE_OPERATION_TIMEDOUT)
            snprintf(r->error, sizeof(r->error),
                     "agent on %s is not answering: no connection within %.1f s", who,
                     (to->connect_ms < to->request_ms ? to->connect_ms : to->request_ms) /
                         1000.0);
        else if (cc == CURLE_COULDNT_CONNECT && oserr > 0)
            snprintf(r->error, sizeof(r->error), "agent on %s is not answering: %s", who,
                     strerror((int)oserr));
        else
            snprintf(r->error, sizeof(r->error), "agent on %s is not answering: %s", who,
                     curl_easy_strerror(cc));
        return;
    }
    long status = 0;
    curl_easy_getinfo(k->easy, CURLINFO_RESPONSE_CODE, &status);
    r->http_status = (int)status;
    if (k->len == 0) {
        snprintf(r->error, sizeof(r->error), "agent on %s answered HTTP %ld with no body", who,
                 status);
        return;
    }
    json_error_t jerr;
    r->body = json_loadb(k->buf, k->len, 0, &jerr);
    if (!r->body)
        snprintf(r->error, sizeof(r->error),
                 "agent on %s answered HTTP %ld with a body that is not JSON (%d:%d: %s)",
                 who, status, jerr.line, jerr.column, jerr.text);
}

/* ==== many requests, one thread ==== */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init(void)
{
    /* Plain HTTP only today: no TLS backend to initialise, which keeps
     * `meridian status` fast.  When the agent API gets TLS, this becomes
     * CURL_GLOBAL_DEFAULT. */
    curl_init_rc = curl_global_init(CURL_GLOBAL_NOTHING);
}

static mrd_rc setup(call *k, const char *method, const char *path, struct curl_slist *headers,
                    const agent_timeouts *to)
{
    bool v6 = strchr(k->t->address, ':') != NULL;
    char url[320];
    snprintf(url, sizeof(url), "http://%s%s%s:%d%s", v6 ? "[" : "", k->t->address,
             v6 ? "]" : "", k->t->port, path);
    CURL *e = k->easy;
    bool post = strcmp(method, "POST") == 0;
    CURLcode cc = CURLE_OK;
#define SET(opt, val) (cc = cc != CURLE_OK ? cc : curl_easy_setopt(e, opt, val))
    SET(CURLOPT_URL, url);
    SET(CURLOPT_PROTOCOLS_STR, "http");
    /* Only the host's own address: never a proxy from the environment,
     * never a redirect. */
    SET(CURLOPT_PROXY, "");
    SET(CURLOPT_NOPROXY, "*");
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_TIMEOUT_MS, (long)to->request_ms);
    SET(CURLOPT_CONNECTTIMEOUT_MS, (long)to->connect_ms);
    SET(CURLOPT_USERAGENT, "meridian");
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, k);
    SET(CURLOPT_PRIVATE, k);
    if (headers)
        SET(CURLOPT_HTTPHEADER, headers);
    if (post) {
        SET(CURLOPT_POSTFIELDS, "{}");
        SET(CURLOPT_POSTFIELDSIZE, 2L);
    }
#undef SET
    return cc == CURLE_OK ? MRD_OK : MRD_ERR_INVALID;
}

/* Send METHOD PATH to every target at once and wait for all of them. */
static mrd_rc call_all(const agent_target *targets, int n, const char *method,
                       const char *path, struct curl_slist *headers, const agent_timeouts *to,
                       agent_result *out, mrd_error *err)
{
    for (int i = 0; i < n; i++)
        out[i] = (agent_result){0};
    if (n <= 0)
        return MRD_OK;
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return mrd_error_set(err, MRD_ERR_STATE, "cannot initialise libcurl: %s",
                             curl_easy_strerror(curl_init_rc));
    call *calls = calloc((size_t)n, sizeof(*calls));
    CURLM *m = curl_multi_init();
    mrd_rc rc = calls && m ? MRD_OK : MRD_ERR_NOMEM;
    for (int i = 0; rc == MRD_OK && i < n; i++) {
        calls[i].t = &targets[i];
        calls[i].res = &out[i];
        calls[i].easy = curl_easy_init();
        if (!calls[i].easy)
            rc = MRD_ERR_NOMEM;
        else if ((rc = setup(&calls[i], method, path, headers, to)) == MRD_OK &&
                 curl_multi_add_handle(m, calls[i].easy) != CURLM_OK)
            rc = MRD_ERR_NOMEM;
    }
    int running = rc == MRD_OK;
    while (running) {
        CURLMcode mc = curl_multi_perform(m, &running);
        if (mc == CURLM_OK && running)
            mc = curl_multi_poll(m, NULL, 0, 1000, NULL);
        if (mc != CURLM_OK) {
            rc = mrd_error_set(err, MRD_ERR_IO, "libcurl: %s", curl_multi_strerror(mc));
            break;
        }
    }
    CURLMsg *msg;
    int left;
    while (rc == MRD_OK && (msg = curl_multi_info_read(m, &left)) != NULL) {
        char *priv = NULL;
        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
        if (priv)
            finish((call *)(void *)priv, msg->data.result, to);
    }
    for (int i = 0; calls && i < n; i++) {
        if (rc == MRD_OK && !calls[i].done)
            snprintf(out[i].error, sizeof(out[i].error), "agent on %s did not answer",
                     targets[i].host);
        if (calls[i].easy) {
            if (m)
                curl_multi_remove_handle(m, calls[i].easy);
            curl_easy_cleanup(calls[i].easy);
        }
        free(calls[i].buf);
    }
    free(calls);
    if (m)
        curl_multi_cleanup(m);
    if (rc != MRD_OK) {
        for (int i = 0; i < n; i++) {
            json_decref(out[i].body);
            out[i] = (agent_result){0};
        }
        if (err && err->code == MRD_OK)
            mrd_error_set(err, rc, rc == MRD_ERR_NOMEM ? "out of memory"
                                                       : "cannot set up an HTTP request");
    }
    return rc;
}

/* Wipe every header (the token is in one of them), then free the list. */
static void headers_free(struct curl_slist *h)
{
    for (struct curl_slist *p = h; p; p = p->next)
        if (p->data)
            memset(p->data, 0, strlen(p->data));
    curl_slist_free_all(h);
}

static mrd_rc curl_heal_all(const agent_target *targets, int n, const char *token,
                            const agent_timeouts *to, agent_result *out, mrd_error *err)
{
    char auth[32 + MRD_SECRET_LEN];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
    struct curl_slist *h = NULL, *tmp;
    const char *const lines[] = {auth, "Content-Type: application/json",
                                 "Accept: application/json", "Expect:"};
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        tmp = curl_slist_append(h, lines[i]);
        if (!tmp) {
            headers_free(h);
            memset(auth, 0, sizeof(auth));
            for (int j = 0; j < n; j++)
                out[j] = (agent_result){0};
            return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
        }
        h = tmp;
    }
    memset(auth, 0, sizeof(auth));
    mrd_rc rc = call_all(targets, n, "POST", "/v1/heal", h, to, out, err);
    headers_free(h);
    return rc;
}

static mrd_rc curl_health_all(const agent_target *targets, int n, const agent_timeouts *to,
                              agent_result *out, mrd_error *err)
{
    return call_all(targets, n, "GET", "/v1/health", NULL, to, out, err);
}

const agent_client_ops *agent_client_curl(void)
{
    static const agent_client_ops ops = {
        .name = "curl",
        .heal_all = curl_heal_all,
        .health_all = curl_health_all,
    };
    return &ops;
}

/* ==== every host of a topology ==== */

static mrd_rc new_batch(const orch_ctx *c, agent_target **targets, agent_result **results,
                        mrd_error *err)
{
    const mrd_topology *t = c->topo;
    int n = t->nhosts;
    *targets = calloc((size_t)(n ? n : 1), sizeof(**targets));
    *results = calloc((size_t)(n ? n : 1), sizeof(**results));
    if (!*targets || !*results) {
        free(*targets);
        free(*results);
        *targets = NULL;
        *results = NULL;
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++)
        (*targets)[i] = (agent_target){.host = t->hosts[i].name,
                                       .address = t->hosts[i].address,
                                       .port = t->agent.port};
    return MRD_OK;
}

mrd_rc agent_heal_all(const orch_ctx *c, const agent_client_ops *ops, agent_result **out,
                      mrd_error *err)
{
    *out = NULL;
    if (!ops)
        ops = agent_client_curl();
    char token[MRD_SECRET_LEN];
    mrd_rc rc = orch_secret(c, "agent.token", token, sizeof(token), err);
    if (rc != MRD_OK)
        return rc;
    agent_target *targets;
    agent_result *results;
    rc = new_batch(c, &targets, &results, err);
    if (rc == MRD_OK) {
        agent_timeouts to = {.request_ms = AGENT_HEAL_TIMEOUT_MS,
                             .connect_ms = AGENT_CONNECT_TIMEOUT_MS};
        rc = ops->heal_all(targets, c->topo->nhosts, token, &to, results, err);
        free(targets);
        if (rc != MRD_OK)
            agent_results_free(&results, c->topo->nhosts);
        *out = results;
    }
    memset(token, 0, sizeof(token));
    return rc;
}

mrd_rc agent_health_all(const orch_ctx *c, const agent_client_ops *ops, agent_result **out,
                        mrd_error *err)
{
    *out = NULL;
    if (!ops)
        ops = agent_client_curl();
    agent_target *targets;
    agent_result *results;
    mrd_rc rc = new_batch(c, &targets, &results, err);
    if (rc != MRD_OK)
        return rc;
    agent_timeouts to = {.request_ms = AGENT_HEALTH_TIMEOUT_MS,
                         .connect_ms = AGENT_CONNECT_TIMEOUT_MS};
    rc = ops->health_all(targets, c->topo->nhosts, &to, results, err);
    free(targets);
    if (rc != MRD_OK)
        agent_results_free(&results, c->topo->nhosts);
    *out = results;
    return rc;
}

void agent_results_free(agent_result **r, int n)
{
    if (!r || !*r)
        return;
    for (int i = 0; i < n; i++)
        json_decref((*r)[i].body);
    free(*r);
    *r = NULL;
}
